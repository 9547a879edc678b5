#!/usr/bin/env bash
# pushgate vs the Go Pushgateway 1.5.1 on Flink-shaped workloads, side by side.
#
#   bash benches/compare.sh            # about 8-10 minutes on 2 cores
#
# Builds pushgate and pushgate-loadgen (release), installs the Debian prometheus-pushgateway if
# missing, then for each server (fresh process per scenario, loopback only):
#   (a) PUT of a ~5,400-series TaskManager body, 4 connections as fast as possible, rotating
#       over 100 preloaded groups
#   (b) PUT of a ~500-series body, 4 connections, rotating over 100 groups
#   (c) back-to-back scrapes of 100 TaskManagers (~540k series), identity and gzip
#   (d) server RSS after loading those 540k series
#   (e) pushgate alone: push latency with 1M series stored (186 TaskManagers pushing every
#       10 s) while scraping once per second, gzipped as Prometheus asks, then uncompressed
#   (f) steady state, both servers: STEADY_GROUPS TaskManagers of STEADY_PRESET preloaded, each
#       re-pushed every STEADY_INTERVAL, a gzip scrape every STEADY_SCRAPE_INTERVAL
#       (loadgen --scenario steady); says when a server could not keep up (pushes timing out or
#       falling behind, scrapes longer than the interval) instead of failing
# and prints one table with both results and the ratio pushgate/Go.
#
# Environment: PG_PORT (29091), GO_PORT (29092), DURATION (20s per workload), E_DURATION (30s),
# OUT (target/compare/<time>), SKIP_GO=1 (pushgate only), RUNS (1: repeat the whole comparison).
# Steady state (f): STEADY_GROUPS (10), STEADY_PRESET (medium: ~5k series per TaskManager),
# STEADY_INTERVAL (10s), STEADY_SCRAPE_INTERVAL (5s), STEADY_DURATION (60s), STEADY_ACCEPT
# (text | openmetrics | protobuf), STEADY_TIMEOUT (30s per request), STEADY=0 (skip it),
# STEADY_ONLY=1 (only it). The issue #13 table, 100 x 50k series:
#   STEADY_ONLY=1 STEADY_GROUPS=100 STEADY_PRESET=large STEADY_DURATION=120s bash benches/compare.sh
# Raw results: $OUT/<scenario>-<server>.json (loadgen --json), logs beside them.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_PORT=${PG_PORT:-29091}
GO_PORT=${GO_PORT:-29092}
DURATION=${DURATION:-20s}
E_DURATION=${E_DURATION:-30s}
RUNS=${RUNS:-1}
STEADY=${STEADY:-1}
STEADY_ONLY=${STEADY_ONLY:-0}
STEADY_GROUPS=${STEADY_GROUPS:-10}
STEADY_PRESET=${STEADY_PRESET:-medium}
STEADY_INTERVAL=${STEADY_INTERVAL:-10s}
STEADY_SCRAPE_INTERVAL=${STEADY_SCRAPE_INTERVAL:-5s}
STEADY_DURATION=${STEADY_DURATION:-60s}
STEADY_ACCEPT=${STEADY_ACCEPT:-text}
STEADY_TIMEOUT=${STEADY_TIMEOUT:-30s}
OUT=${OUT:-target/compare/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
LOADGEN=target/release/pushgate-loadgen
PUSHGATE=target/release/pushgate
SERVER_PID=""

log() { printf '== %s\n' "$*" >&2; }

cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOAD_BEFORE%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  log "warning: load average $LOAD_BEFORE on $(nproc) cores; other work will skew the numbers"
fi

log "building pushgate and pushgate-loadgen (release)"
cargo build --release -q -p pushgate -p pushgate-loadgen

if [[ "${SKIP_GO:-0}" != 1 ]] && ! command -v prometheus-pushgateway >/dev/null; then
  log "installing the Go Pushgateway (Debian prometheus-pushgateway)"
  apt-get update -qq && apt-get install -y -qq prometheus-pushgateway >/dev/null
fi
command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 >/dev/null; }

for port in "$PG_PORT" "$GO_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use; set PG_PORT/GO_PORT" >&2
    exit 1
  fi
done

# start_server pg|go LOGFILE: starts a fresh server on loopback and waits until it is ready;
# sets SERVER_PID and SERVER_URL.
SERVER_URL=""
start_server() {
  local which=$1 logfile=$2 port
  if [[ $which == pg ]]; then
    port=$PG_PORT
    "$PUSHGATE" --web.listen-address="127.0.0.1:$port" >"$logfile" 2>&1 &
  else
    port=$GO_PORT
    # Debian's defaults file turns persistence on; the comparison runs both in memory.
    prometheus-pushgateway --persistence.file= --web.listen-address="127.0.0.1:$port" \
      >"$logfile" 2>&1 &
  fi
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
      SERVER_URL="http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  echo "$which did not become ready; see $logfile" >&2
  cat "$logfile" >&2
  exit 1
}

stop_server() {
  cleanup
  SERVER_PID=""
}

# loadgen NAME URL ARGS...: one loadgen run, JSON to $OUT/NAME.json, progress to $OUT/NAME.log.
loadgen() {
  local name=$1 url=$2
  shift 2
  log "$name: pushgate-loadgen $*"
  if ! "$LOADGEN" --target "$url" --server-pid "$SERVER_PID" --json "$@" \
    >"$OUT/$name.json" 2>"$OUT/$name.log"; then
    echo "loadgen $name failed; tail of $OUT/$name.log:" >&2
    tail -5 "$OUT/$name.log" >&2
    echo '{}' >"$OUT/$name.json"
  fi
  tail -1 "$OUT/$name.log" >&2
}

# One server through (c), (d), (a) on a single preload of 100 x 5,380 series, then (b) fresh.
# Stable group URLs (--path-style instance) let later runs replace the preloaded groups.
big=(--preset medium --ops-per-task 4 --groups 100 --no-jobmanager --path-style instance)
scenarios() {
  local s=$1 run=$2 url
  start_server "$s" "$OUT/server-$s-cad$run.log"
  url=$SERVER_URL
  loadgen "c-identity-$s$run" "$url" "${big[@]}" --preload 100 --rate 0 --scrapers 1 \
    --scrape-interval 0 --duration "$DURATION" --no-delete
  loadgen "c-gzip-$s$run" "$url" "${big[@]}" --rate 0 --scrapers 1 --scrape-interval 0 --gzip \
    --duration "$DURATION" --no-delete
  loadgen "a-$s$run" "$url" "${big[@]}" --rate max --connections 4 --duration "$DURATION" \
    --no-delete
  stop_server

  start_server "$s" "$OUT/server-$s-b$run.log"
  url=$SERVER_URL
  loadgen "b-$s$run" "$url" --preset small --groups 100 --no-jobmanager --preload 100 \
    --rate max --connections 4 --duration "$DURATION"
  stop_server
}

# (f) steady state on a fresh server: preload, then every group on its interval while a gzip
# scraper pulls /metrics. A server that cannot keep up still yields a result; the summary
# says what fell behind.
steady() {
  local s=$1 run=$2
  start_server "$s" "$OUT/server-$s-f$run.log"
  loadgen "f-steady-$s$run" "$SERVER_URL" --scenario steady --groups "$STEADY_GROUPS" \
    --preset "$STEADY_PRESET" --interval "$STEADY_INTERVAL" \
    --scrape-interval "$STEADY_SCRAPE_INTERVAL" --accept "$STEADY_ACCEPT" \
    --timeout "$STEADY_TIMEOUT" --duration "$STEADY_DURATION"
  stop_server
}

for run in $(seq 1 "$RUNS"); do
  if [[ $STEADY_ONLY != 1 ]]; then
    scenarios pg "$run"
    if [[ "${SKIP_GO:-0}" != 1 ]]; then
      scenarios go "$run"
    fi
    # (e) scrapes as Prometheus does (Accept-Encoding: gzip), then once more uncompressed.
    start_server pg "$OUT/server-pg-e$run.log"
    loadgen "e-pg$run" "$SERVER_URL" --preset medium --ops-per-task 4 --groups 186 --preload 186 \
      --interval 10s --scrapers 1 --scrape-interval 1s --gzip --duration "$E_DURATION"
    stop_server
    start_server pg "$OUT/server-pg-e-identity$run.log"
    loadgen "e-identity-pg$run" "$SERVER_URL" --preset medium --ops-per-task 4 --groups 186 \
      --preload 186 --interval 10s --scrapers 1 --scrape-interval 1s --duration "$E_DURATION"
    stop_server
  fi
  if [[ $STEADY != 0 || $STEADY_ONLY == 1 ]]; then
    steady pg "$run"
    if [[ "${SKIP_GO:-0}" != 1 ]]; then
      steady go "$run"
    fi
  fi
done

{
  echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo ' (+ uncommitted changes)')"
  echo "go:      $(prometheus-pushgateway --version 2>&1 | head -1 || echo n/a)"
  echo "load:    $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after (1/5/15 min)"
  echo
  python3 - "$OUT" "$RUNS" "${SKIP_GO:-0}" "$STEADY_ONLY" <<'PY'
import json, os, statistics, sys
out, runs, skip_go = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
steady_only = sys.argv[4] == "1"

def load(name):
    try:
        with open(f"{out}/{name}.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}

def get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d

def median(name, *path, need=None):
    vals = []
    for r in range(1, runs + 1):
        d = load(f"{name}{r}")
        if need and not need(d):
            continue
        v = get(d, *path)
        if isinstance(v, (int, float)):
            vals.append(v)
    return statistics.median(vals) if vals else None

gz = lambda d: d.get("scrape_encoding") == "gzip"
rows = [
    # label, metric, scenario, path, better, target ratio (pg/go), need
    ("(a) PUT 5.4k series, 100 groups, 4 conn", "samples/s", "a", ("samples_per_s",), "high", 100, None),
    ("", "push p99 ms", "a", ("push_latency_ms", "p99"), "low", None, None),
    ("(b) PUT 514 series, 100 groups, 4 conn", "samples/s", "b", ("samples_per_s",), "high", 100, None),
    ("", "push p99 ms", "b", ("push_latency_ms", "p99"), "low", None, None),
    ("(c) scrape 538k series, identity", "scrape p50 ms", "c-identity", ("scrape_latency_ms", "p50"), "low", 1 / 20, None),
    ("", "scrape MB", "c-identity", ("scrape_bytes_avg",), None, None, None),
    ("(c) scrape 538k series, gzip", "scrape p50 ms", "c-gzip", ("scrape_latency_ms", "p50"), "low", 1 / 20, gz),
    ("", "scrape MB", "c-gzip", ("scrape_bytes_avg",), None, None, gz),
    ("(d) RSS after 538k series", "MiB", "c-identity", ("server_rss_mib", "after_preload"), "low", 1 / 8, None),
    ("", "MiB max while scraping", "c-identity", ("server_rss_mib", "max"), "low", None, None),
]

def fmt(v, metric):
    if v is None:
        return "n/a"
    if "MB" in metric:
        return f"{v / 1e6:,.1f}"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.2f}"

def ran(name):
    return any(os.path.exists(f"{out}/{name}-{s}{r}.json") for s in ("pg", "go") for r in range(1, runs + 1))

if not steady_only:
    print(f"{'workload':42} {'metric':24} {'pushgate':>12} {'go 1.5.1':>12} {'pg/go':>9}  target")
for label, metric, name, path, better, target, need in rows:
    if not ran(name):
        continue
    pg = median(f"{name}-pg", *path, need=need)
    go = median(f"{name}-go", *path, need=need)
    ratio = pg / go if pg is not None and go not in (None, 0) else None
    verdict = ""
    if target is not None and ratio is not None:
        ok = ratio >= target if better == "high" else ratio <= target
        t = f">= {target:g}x" if better == "high" else f"<= 1/{1 / target:g}"
        verdict = f"{t} {'ok' if ok else 'MISSED'}"
    elif target is not None:
        verdict = "n/a"
    r = f"{ratio:,.3g}x" if ratio is not None else "n/a"
    print(f"{label:42} {metric:24} {fmt(pg, metric):>12} {fmt(go, metric):>12} {r:>9}  {verdict}")

for name, title in (("e-pg", "+ 1 gzip scrape/s (as Prometheus)"), ("e-identity-pg", "+ 1 identity scrape/s")):
    if steady_only:
        break
    e99 = median(name, "push_latency_ms", "p99")
    e50 = median(name, "push_latency_ms", "p50")
    escr = median(name, "scrape_latency_ms", "p50")
    rss_end = median(name, "server_rss_mib", "end")
    verdict = "n/a" if e99 is None else ("< 50 ok" if e99 < 50 else "< 50 MISSED")
    print(f"{'(e) 1M series, 186 TMs every 10 s':42} {'push p99 ms':24} {fmt(e99, 'ms'):>12} {'-':>12} {'-':>9}  {verdict}")
    print(f"{'    ' + title:42} {'push p50 / scrape p50 ms':24} {fmt(e50, 'ms') + ' / ' + fmt(escr, 'ms'):>12}")
    print(f"{'':42} {'RSS MiB at the end':24} {fmt(rss_end, 'MiB'):>12}")

# (f) steady state, both servers, with a verdict on whether each kept up.
def keep_up(d):
    """What fell behind in one steady run, as a list of reasons (empty: it kept up)."""
    if not d:
        return ["no result (loadgen failed; see its log)"]
    why = []
    errs = d.get("errors") or {}
    push_timeouts = errs.get("timeout", 0)
    scrape_timeouts = errs.get("scrape timeout", 0)
    if d.get("preload_errors"):
        why.append(f"{d['preload_errors']} preload pushes failed")
    if push_timeouts:
        why.append(f"{push_timeouts} pushes timed out")
    expected, got = d.get("pushes_expected_per_s"), d.get("pushes_per_s")
    if expected and got is not None and got < 0.9 * expected:
        why.append(f"{got:.2f} pushes/s of {expected:.2f} expected")
    late, pushes = d.get("pushes_late") or 0, d.get("pushes") or 0
    if late > 0.05 * max(pushes, 1):
        why.append(f"{late} of {pushes} pushes started late")
    if scrape_timeouts:
        why.append(f"{scrape_timeouts} scrapes timed out")
    over, scrapes = d.get("scrapes_over_interval") or 0, d.get("scrapes") or 0
    if over:
        why.append(f"{over} of {scrapes} scrapes longer than the {d.get('scrape_interval_s')} s interval")
    if not scrapes:
        why.append("no scrape finished")
    return why

if ran("f-steady"):
    d0 = load("f-steady-pg1") or load("f-steady-go1")
    title = (f"(f) steady {d0.get('groups', '?')} groups x {d0.get('series_per_tm', '?')} series, "
             f"push /{d0.get('interval_s', '?')} s, scrape /{d0.get('scrape_interval_s', '?')} s "
             f"({d0.get('scrape_accept', '?')}{', gzip' if d0.get('gzip_requested') else ''})")
    if not steady_only:
        print()
    print(title)
    print(f"{'':42} {'metric':28} {'pushgate':>12} {'go 1.5.1':>12} {'pg/go':>9}")
    steady_rows = [
        ("samples/s ingested", ("samples_per_s",), "high"),
        ("pushes/s (expected)", ("pushes_per_s",), "high"),
        ("push p50 ms", ("push_latency_ms", "p50"), "low"),
        ("push p99 ms", ("push_latency_ms", "p99"), "low"),
        ("push max ms", ("push_latency_ms", "max"), "low"),
        ("scrape p50 ms", ("scrape_latency_ms", "p50"), "low"),
        ("scrape p99 ms", ("scrape_latency_ms", "p99"), "low"),
        ("scrape first byte p50 ms", ("scrape_ttfb_ms", "p50"), "low"),
        ("first scrape: first byte ms", ("scrape_first", "ttfb_ms"), "low"),
        ("first scrape: total ms", ("scrape_first", "total_ms"), "low"),
        ("scrape MB p50", ("scrape_bytes", "p50"), None),
        ("RSS MiB after preload", ("server_rss_mib", "after_preload"), "low"),
        ("RSS MiB max", ("server_rss_mib", "max"), "low"),
        ("server CPU cores (avg)", ("server_cpu", "cores_avg"), "low"),
        ("loadgen CPU cores (avg)", ("loadgen_cpu_cores",), None),
    ]
    for metric, path in ((m, p) for m, p, _ in steady_rows):
        pg = median("f-steady-pg", *path)
        go = median("f-steady-go", *path)
        ratio = pg / go if pg is not None and go not in (None, 0) else None
        r = f"{ratio:,.3g}x" if ratio is not None else "n/a"
        note = ""
        if metric.startswith("pushes/s"):
            note = f"expected {d0.get('pushes_expected_per_s')}"
        print(f"{'':42} {metric:28} {fmt(pg, metric):>12} {fmt(go, metric):>12} {r:>9}  {note}")
    for s, name in (("pg", "pushgate"), ("go", "go 1.5.1")):
        if s == "go" and skip_go:
            continue
        for r in range(1, runs + 1):
            if not os.path.exists(f"{out}/f-steady-{s}{r}.json"):
                continue
            why = keep_up(load(f"f-steady-{s}{r}"))
            verdict = "kept up" if not why else "DID NOT KEEP UP: " + "; ".join(why)
            print(f"    {name} run {r}: {verdict}")
            cores = get(load(f"f-steady-{s}{r}"), "loadgen_cpu_cores")
            if isinstance(cores, (int, float)) and cores > 0.8:
                print(f"    {name} run {r}: the load generator itself used {cores:.2f} cores; "
                      "on a small machine it may be the limit")

print()
print(f"medians of {runs} run(s); raw JSON in {out}")
for name in sorted({n for _, _, n, *_ in rows} | {"e", "e-identity"}):
    if not ran(name):
        continue
    for s in ("pg", "go"):
        for r in range(1, runs + 1):
            d = load(f"{name}-{s}{r}")
            errs = {k: v for k, v in (d.get("errors") or {}).items()}
            if d.get("preload_errors"):
                errs["preload"] = d["preload_errors"]
            expected = not (s == "go" and (name in ("e", "e-identity") or skip_go))
            if errs or (d == {} and expected):
                print(f"errors in {name}-{s}{r}: {errs or 'no result'} {d.get('error_samples', '')}")
PY
} | tee "$OUT/summary.txt"
