#!/usr/bin/env bash
# Smoke test for the bundled load generator (no timing assertions): builds pushgate and
# pushgate-loadgen in release mode, runs a few seconds of Flink-shaped pushes and scrapes
# against a local pushgate, then a short --scenario steady run scraping OpenMetrics, and fails
# on any push or scrape error or a missing steady-state figure.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet -p pushgate -p pushgate-loadgen
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./target/release/pushgate --web.listen-address="127.0.0.1:$port" --log.level=warn &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.1; done
out=$(./target/release/pushgate-loadgen --target "http://127.0.0.1:$port" --preset small --groups 5 \
  --interval 1s --scrapers 1 --scrape-interval 1s --duration 3s --server-pid "$pid" --json)
echo "$out" | tail -c 2000
errors=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); e=d.get("errors",{}); print(sum(v for k,v in d.items() if "error" in k and isinstance(v,(int,float))) + (sum(e.values()) if isinstance(e,dict) else 0))' 2>/dev/null || echo parse-failed)
pushes=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("pushes", d.get("pushes_ok", 0)))' 2>/dev/null || echo 0)
# The steady-state scenario: preload, interval pushes, gzip OpenMetrics scrapes, every figure.
steady=$(./target/release/pushgate-loadgen --target "http://127.0.0.1:$port" --scenario steady \
  --preset small --groups 3 --interval 1s --scrape-interval 500ms --accept openmetrics \
  --duration 2s --server-pid "$pid" --json --quiet)
steady_ok=$(echo "$steady" | python3 -c '
import json, sys
d = json.load(sys.stdin)
need = [d["preload_groups"] == 4, d["scrapes"] > 0, d["pushes"] > 0, not d["errors"],
        d["scrape_encoding"] == "gzip", "openmetrics" in d["scrape_content_type"],
        d["scrape_first"]["ttfb_ms"] > 0, d["scrape_ttfb_ms"]["p99"] > 0,
        d["scrape_bytes"]["p50"] > 0, d["push_latency_ms"]["max"] > 0,
        d["samples_per_s"] > 0, d["server_cpu"]["cores_avg"] is not None,
        d["server_rss_mib"]["max"] > 0]
print("ok" if all(need) else f"missing: {need}")' 2>&1 || true)
echo "steady: $steady_ok"
if [ "$errors" = "0" ] && [ "$pushes" != "0" ] && [ "$steady_ok" = "ok" ]; then
  echo "loadgen-smoke: 1 passed, 0 failed"
else
  echo "loadgen-smoke: errors=$errors pushes=$pushes steady=$steady_ok"
  echo "loadgen-smoke: 0 passed, 1 failed"
  exit 1
fi
