#!/usr/bin/env bash
# Push latency while remote write sends (benchmark, not a test; not run by CI): the load
# generator's 100 `medium` TaskManagers (~540,000 series) push every 10 s into a release
# pushgate for RW_DURATION (default 60s), once without remote write and once with
# `--remote-write.interval=RW_INTERVAL` (default 5s, so a tick of the whole store is encoded
# and sent every 5 s) to a local sink that reads and discards each request (Python, so the
# receiver's own CPU use stays small; a real TSDB on the same 2 cores would add its own).
# Prints loadgen's push latency percentiles for both runs, and the sender's counters; with
# RW_RUNS=N (default 1) N alternating pairs of runs, then the median p50/p99 of each kind.
#
# Usage: benches/remote_write_load.sh     RW_RUNS=3 RW_DURATION=2m RW_INTERVAL=15s benches/remote_write_load.sh
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${RW_DURATION:-60s}
runs=${RW_RUNS:-1}
interval=${RW_INTERVAL:-5s}
cargo build --release --quiet --bin pushgate
cargo build --release --quiet -p pushgate-loadgen
bin=target/release/pushgate
loadgen=target/release/pushgate-loadgen
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

sink_port=$(free_port)
python3 - "$sink_port" >"$work/sink.log" 2>&1 <<'PY' &
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
pids+=($!)

run() { # LABEL FLAG...: one loadgen run against a fresh pushgate
  local label=$1 port
  shift
  port=$(free_port)
  "$bin" --web.listen-address="127.0.0.1:$port" --log.level=warn "$@" >"$work/$label.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/-/ready" && break; sleep 0.1; done
  "$loadgen" --target "http://127.0.0.1:$port" --groups 100 --preset medium --interval 10s \
    --preload 100 --duration "$duration" --server-pid "$pid" --json --quiet >"$work/$label.json"
  python3 - "$label" "$work/$label.json" <<'PY' | tee -a "$work/latencies"
import json, sys
s = json.load(open(sys.argv[2]))
print(sys.argv[1], "push latency ms:", json.dumps(s.get("push_latency_ms")), "errors:", s.get("errors", s.get("push_errors")), "rss MiB:", json.dumps(s.get("server_rss_mib")))
PY
  curl -s "http://127.0.0.1:$port/metrics" | grep -E '^pushgate_remote_write_(samples_total|sent_bytes_total|requests_total|ticks_dropped_total|request_duration_seconds_(sum|count))' || true
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}
for _ in $(seq "$runs"); do
  run without
  run with --remote-write.url="http://127.0.0.1:$sink_port/api/v1/write" --remote-write.interval="$interval"
done
python3 - "$work/latencies" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    label, rest = line.split(" push latency ms: ")
    runs.setdefault(label, []).append(json.loads(rest.split(" errors: ")[0]))
    rss = json.loads(rest.split(" rss MiB: ")[1])
    runs.setdefault(label + " rss", []).append(rss)
for label, rs in runs.items():
    if label.endswith(" rss"):
        print(f"{label}: {rs}")
        continue
    print(f"{label}: {len(rs)} runs, median p50 {statistics.median(r['p50'] for r in rs)} ms, "
          f"median p99 {statistics.median(r['p99'] for r in rs)} ms")
PY
