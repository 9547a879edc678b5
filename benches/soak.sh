#!/usr/bin/env bash
# Soak benchmark (not a test; not run by CI): 200 simulated Flink TaskManagers, each pushing a
# ~5,000-series body (loadgen's `medium` preset, ~2.4 MB) every 10 s, plus one JobManager,
# while one scraper reads /metrics once per second (back to back when a scrape takes longer),
# for 10 minutes. Reports errors, pushgate's RSS over time and the push latency percentiles.
#
# Usage: benches/soak.sh            (defaults: 200 TMs, 10m)
#        SOAK_TMS=50 SOAK_DURATION=2m benches/soak.sh
# Loopback only. Needs about 2 GiB of memory and both cores for the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."

tms=${SOAK_TMS:-200}
duration=${SOAK_DURATION:-10m}

cargo build --release --quiet --bin pushgate
cargo build --release --quiet -p pushgate-loadgen
bin=target/release/pushgate
loadgen=target/release/pushgate-loadgen

work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port

"$bin" --web.listen-address="127.0.0.1:$port" --log.level=warn >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -sf -o /dev/null "$url/-/ready" && break
  sleep 0.1
done
idle_kib=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")

echo "soak: $tms TaskManagers (+1 JobManager), medium preset, every 10 s, 1 scrape/s, $duration; log in $work"
status=0
"$loadgen" --target "$url" --groups "$tms" --preset medium --interval 10s \
  --scrapers 1 --scrape-interval 1s --duration "$duration" --timeout 60s \
  --server-pid "$server_pid" --json >"$work/summary.json" 2>"$work/progress.log" || status=$?
end_kib=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=

# RSS (MiB) from loadgen's per-second progress line at second N (`[  300s] ... rss 123 MiB`).
rss_at() { awk -v t="$1" '$1 == "[" && $2 == t"s]" || $1 == "["t"s]" { for (i = 1; i <= NF; i++) if ($i == "rss") print $(i + 1) }' "$work/progress.log" | head -1; }

python3 - "$work/summary.json" "$idle_kib" "$end_kib" "$(rss_at 10)" "$(rss_at 60)" "$(rss_at 300)" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
idle, end = int(sys.argv[2]) / 1024, int(sys.argv[3]) / 1024
at10, at60, at300 = sys.argv[4:7]
p, q = s["push_latency_ms"], s["scrape_latency_ms"]
errors = sum(s["errors"].values()) if isinstance(s["errors"], dict) else s["errors"]
print(f"soak: {s['seconds']:.0f} s, {s['pushes']} pushes ({s['pushes_per_s']:.1f}/s, {s['push_mb_per_s']:.1f} MB/s, "
      f"{s['samples_per_s']:.0f} samples/s), {s['scrapes']} scrapes of {s['scrape_bytes_avg'] / 1e6:.0f} MB avg, "
      f"{s['stored_series']} stored series")
print(f"soak: errors {errors} {s['errors']} (preload {s['preload_errors']}, delete {s['delete_errors']}) {s['error_samples'][:3]}")
print(f"soak: push latency ms p50 {p['p50']} p90 {p['p90']} p99 {p['p99']} p999 {p['p999']} max {p['max']}")
print(f"soak: scrape latency ms p50 {q['p50']} p99 {q['p99']} max {q['max']}")
r = s["server_rss_mib"]
print(f"soak: RSS MiB idle {idle:.0f}, 10 s {at10}, 1 min {at60}, 5 min {at300}, end {end:.0f} (loadgen: max {r['max']}, end {r['end']})")
EOF
exit "$status"
