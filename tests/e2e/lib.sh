# shellcheck shell=bash
# Helpers for the end-to-end scripts that run a release pushgate next to Debian's Prometheus
# (prometheus_protobuf.sh, prometheus_e2e.sh, grafana_dashboard.sh). Source it from the repo root:
#   cd "$(dirname "$0")/../.." && . tests/e2e/lib.sh
# It owns: the work directory and the processes started through it (stopped on exit), free
# loopback ports, bounded waits, installing Prometheus when missing, building and starting
# pushgate, PUTting the Flink fixtures at the paths Flink uses, and configuring, starting and
# waiting for Prometheus.
# It does not own any assertion: each script checks its own things and prints its own
# "NAME: N passed, M failed" line.

E2E_PIDS=()
E2E_WORK=$(mktemp -d "${TMPDIR:-/tmp}/pushgate-e2e.XXXXXX")

e2e_cleanup() {
  local p
  for p in "${E2E_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${E2E_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${PUSHGATE_E2E_KEEP:-0}" = 1 ]; then echo "work directory kept: $E2E_WORK"; else rm -rf "$E2E_WORK"; fi
}
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

# free_port: prints a loopback TCP port that nothing listens on right now.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for URL: until URL answers 2xx, at most 30 s.
wait_for() {
  local _
  for _ in $(seq 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "FAIL: $1 never answered"
  return 1
}

# need_prometheus: installs Debian's prometheus package (prometheus, promtool) unless present.
need_prometheus() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null && return 0
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
}

# start_pushgate [FLAG...]: builds (release) and starts pushgate on a free loopback port with the
# given extra flags; sets PG (base URL), PG_PORT and PG_PID; waits until it is ready.
# PUSHGATE_BIN=path uses that binary instead of building one.
start_pushgate() {
  local bin=${PUSHGATE_BIN:-./target/release/pushgate}
  [ -n "${PUSHGATE_BIN:-}" ] || cargo build --release --quiet --bin pushgate
  PG_PORT=$(free_port)
  PG=http://127.0.0.1:$PG_PORT
  "$bin" --web.listen-address="127.0.0.1:$PG_PORT" --log.level=warn "$@" \
    >>"$E2E_WORK/pushgate.log" 2>&1 &
  PG_PID=$!
  E2E_PIDS+=("$PG_PID")
  wait_for "$PG/-/ready"
}

# The Flink fixtures and the paths Flink PUT them to (fixtures/README.md): JobManager and
# TaskManager of Flink 2.3.0 and 1.20.3, jobName "flinkpgw" + the process's 32-hex suffix,
# groupingKey k1=v1;k2=v2.
FLINK_FIXTURE_PUSHES=(
  "flink-2.3.0/jm.txt flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1/k2/v2"
  "flink-2.3.0/tm.txt flinkpgwf451c26a333bf1ebebb2cf061f1cfd74/k1/v1/k2/v2"
  "flink-1.20.3/jm.txt flinkpgwbe28a1692412e06eb1127c490986a112/k1/v1/k2/v2"
  "flink-1.20.3/tm.txt flinkpgw5738eb88e44fccf530d4e63167c5c0cb/k1/v1/k2/v2"
)

# push FIXTURE JOB_PATH: PUTs fixtures/FIXTURE to $PG/metrics/job/JOB_PATH as Flink does
# (its Content-Type); fails with pushgate's answer on anything but 200.
push() {
  local code
  code=$(curl -s -o "$E2E_WORK/push-answer" -w '%{http_code}' -X PUT \
    -H 'Content-Type: text/plain; version=0.0.4; charset=utf-8' \
    --data-binary @"fixtures/$1" "$PG/metrics/job/$2")
  [ "$code" = 200 ] && return 0
  echo "FAIL: PUT fixtures/$1 to /metrics/job/$2 answered $code: $(cat "$E2E_WORK/push-answer")"
  return 1
}

# push_flink_fixtures: PUTs every entry of FLINK_FIXTURE_PUSHES.
push_flink_fixtures() {
  local entry
  for entry in "${FLINK_FIXTURE_PUSHES[@]}"; do
    # shellcheck disable=SC2086 # two words: fixture, path
    push $entry || return 1
  done
}

# start_prometheus DIR [FLAG...]: starts Prometheus with DIR/prometheus.yml (written by the
# caller), its data in DIR/data, on a free loopback port; sets PROM (base URL) and PROM_PID;
# waits until it is ready.
start_prometheus() {
  local dir=$1 port
  shift
  port=$(free_port)
  PROM=http://127.0.0.1:$port
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$port" "$@" >"$dir/prometheus.log" 2>&1 &
  PROM_PID=$!
  E2E_PIDS+=("$PROM_PID")
  wait_for "$PROM/-/ready" || { tail -n 20 "$dir/prometheus.log"; return 1; }
}

# write_prometheus_config DIR [aggregated]: writes DIR/prometheus.yml, in which Prometheus scrapes
# the pushgate of start_pushgate every second with honor_labels (as the Pushgateway needs) as job
# "pushgate" (/metrics) and, with "aggregated", also as job "pushgate-aggregated"
# (/metrics/aggregated, the Flink rollups and signals; the /metrics job then drops the
# pushgate_flink_* signal series, which both endpoints serve).
write_prometheus_config() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pushgate
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:$PG_PORT']
YML
  [ "${2:-}" = aggregated ] || return 0
  # The Flink signal series are on both endpoints: take them from one job only, or Prometheus
  # would ingest every one of them twice (deploy/compose/prometheus.yml does the same).
  cat >>"$dir/prometheus.yml" <<YML
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'pushgate_flink_.*'
        action: drop
  - job_name: pushgate-aggregated
    honor_labels: true
    metrics_path: /metrics/aggregated
    static_configs:
      - targets: ['127.0.0.1:$PG_PORT']
YML
}

# wait_scrapes JOB N: until the Prometheus of start_prometheus holds N scrapes of JOB from the last
# minute (rate() and increase() need two samples in their window), at most 60 s.
wait_scrapes() {
  local n _
  for _ in $(seq 300); do
    n=$(curl -sf "$PROM/api/v1/query" --data-urlencode "query=count_over_time(up{job=\"$1\"}[1m])" |
      python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)') ||
      n=0
    [ "$n" -ge "$2" ] && return 0
    sleep 0.2
  done
  echo "FAIL: Prometheus did not scrape $1 $2 times within 60 s"
  return 1
}

# stop_pid PID: stops one process started here and waits for it.
stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
