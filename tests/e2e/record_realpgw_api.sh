#!/usr/bin/env bash
# Records what the Go Pushgateway 1.5.1 (Debian `prometheus-pushgateway`) answers on its JSON
# API for the pushes that tests/integration/api.rs makes, into fixtures/realpgw-1.5.1/.
# Run by hand (not by CI): bash tests/e2e/record_realpgw_api.sh
# The empty --persistence.file matters: the Debian default persists to /var/lib.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=19391
base="http://127.0.0.1:$port"
out=fixtures/realpgw-1.5.1
prometheus-pushgateway --persistence.file= --web.listen-address=127.0.0.1:$port \
  >/tmp/record-realpgw.log 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "$base/-/ready" >/dev/null && break; sleep 0.1; done

curl -sf -X PUT --data-binary @fixtures/flink-2.3.0/jm.txt \
  "$base/metrics/job/flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1/k2/v2"
curl -sf -X PUT --data-binary @fixtures/api/mixed.txt "$base/metrics/job/api/instance/i1"
curl -sf -X POST --data-binary @fixtures/api/second.txt "$base/metrics/job/api2"
# Refused (api_temperature is a gauge elsewhere): api2 gets last_push_successful=false.
test "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @fixtures/api/clash.txt \
  "$base/metrics/job/api2")" = 400

curl -sf "$base/api/v1/metrics" >"$out/api-v1-metrics.json"
curl -sf "$base/api/v1/status" >"$out/api-v1-status.json"
curl -sf -D - -o /dev/null "$base/api/v1/metrics" | tr -d '\r' | grep -v '^Date:' \
  >"$out/api-v1-metrics.headers"
echo "recorded into $out"
