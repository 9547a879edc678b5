#!/usr/bin/env bash
# Real-Flink end-to-end test of pushgate's derived Flink health signals: a standalone Flink
# cluster (from PyPI, see tests/e2e/flink/common.sh) runs two jobs reporting to pushgate through
# Flink's stock PrometheusPushGatewayReporter:
#   - "signals_slow" (parallelism 2): an unthrottled source, keyBy, a map sleeping 2 ms per
#     record (tests/e2e/flink/SignalsE2eJob.java);
#   - "signals_idle" (parallelism 1): one record per second through keyBy and a map.
# Asserted through GET /api/v1/flink/jobs (tests/e2e/flink/signals_check.py):
#   - the slow map is the slow job's bottleneck, every vertex upstream of it (the source) is
#     back-pressured HIGH, and its suggested parallelism is above its current one;
#   - the idle job has no bottleneck and every vertex is OK;
# and through a real Prometheus (Debian's, installed when missing) that scrapes
# /metrics/aggregated and evaluates deploy/prometheus/flink-alerts.yml (a copy with every `for:`
# shortened to 10s): FlinkBackpressureHigh fires for the slow job, naming the slow map as its
# bottleneck, and not for the idle job.
#
# Needs what tests/e2e/flink.sh needs (Java 11+, python3 with pip, curl, tar, cargo) plus
# prometheus. Everything listens on 127.0.0.1, on free ports; every wait is bounded; every
# process started here is stopped on exit (the cluster only through its own pid files).
# Environment: FLINK_VERSION, PUSHGATE_E2E_CACHE, PUSHGATE_BIN, PUSHGATE_E2E_KEEP as for flink.sh.
# Prints `flink-signals: N passed, M failed` last and exits non-zero when M > 0. About 2-3
# minutes once Flink is cached and pushgate is built.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/tests/e2e/flink

VER=${FLINK_VERSION:-2.3.0}
CACHE=${PUSHGATE_E2E_CACHE:-$HOME/.cache/pushgate-e2e}
INTERVAL=2                     # the reporter's push interval, seconds
REPORTER_JOB=signals           # metrics.reporter.pgw.jobName
GROUPING='cluster=signals'
HEX32='[0-9a-f]{32}'

passed=0 failed=0 skipped=0
T0=$SECONDS
WORK=
PG_PID=
PROM_PID=
FH=
E2E_NAME=flink-signals
# shellcheck source=tests/e2e/flink/common.sh
. "$HERE/common.sh"

cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  set +e
  flink_stop_cluster
  for p in "$PROM_PID" "$PG_PID"; do
    [ -n "$p" ] || continue
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [ "$failed" -gt 0 ] && [ -n "$WORK" ]; then
    echo "---- last /api/v1/flink/jobs"
    cat "$WORK/jobs.json" 2>/dev/null | head -c 4000
    echo
    echo "---- pushgate log (last 20 lines)"
    tail -n 20 "$WORK/pushgate.log" 2>/dev/null
    echo "---- Prometheus log (last 10 lines)"
    tail -n 10 "$WORK/prom/prometheus.log" 2>/dev/null
    echo "---- Flink logs: first errors"
    grep -h -m 5 -E ' ERROR |Exception' "$WORK"/log/*.log "$WORK"/log/*.out 2>/dev/null | cut -c1-300 | head -n 20
    echo "----"
  fi
  if [ -n "$WORK" ]; then
    if [ "${PUSHGATE_E2E_KEEP:-0}" = 1 ]; then say "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  fi
  say "Flink $VER, run time $((SECONDS - T0)) s"
  echo "flink-signals: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$rc" -eq 0 ] && exit 0
  exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

flink_need_tools
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  fi
  command -v prometheus >/dev/null || die "setup: prometheus is not installed"
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pushgate-flink-signals.XXXXXX")
mkdir -p "$WORK/log" "$WORK/pid" "$WORK/prom"
flink_home

# --- pushgate: signals every 2 s, a new bottleneck shown after 2 agreeing evaluations
flink_start_pushgate --flink.signals.interval=2s \
  --flink.signals.hysteresis=2

# --- Prometheus: scrapes /metrics/aggregated every second, evaluates the shipped alert rules
# with every `for:` shortened to 10s
sed -E 's/^( +for: ).*/\110s/' deploy/prometheus/flink-alerts.yml >"$WORK/prom/flink-alerts.yml"
cat >"$WORK/prom/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - flink-alerts.yml
scrape_configs:
  - job_name: pushgate-aggregated
    honor_labels: true
    metrics_path: /metrics/aggregated
    static_configs:
      - targets: ['127.0.0.1:$PG_PORT']
YML
promtool check config "$WORK/prom/prometheus.yml" >"$WORK/prom/check.log" 2>&1 ||
  { cat "$WORK/prom/check.log"; die "setup: promtool check config"; }
PROM=http://127.0.0.1:$(free_port)
prometheus --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" \
  --web.listen-address="${PROM#http://}" >"$WORK/prom/prometheus.log" 2>&1 &
PROM_PID=$!
poll 30 curl -sf --max-time 2 -o /dev/null "$PROM/-/ready" || die "setup: Prometheus did not become ready"
say "pushgate on $PG, Prometheus on $PROM"

# --- Flink: one TaskManager with 3 slots (2 for the slow job, 1 for the idle one)
flink_configure "$PG" "$REPORTER_JOB" "$GROUPING" "$INTERVAL" 3 <<CFG
restart-strategy.type: none
CFG
flink_build_jar "$HERE/SignalsE2eJob.java"
flink_start_cluster 3
submit() { # submit KIND NAME: prints the job id
  timeout 180 "$FH/bin/flink" run -d -c SignalsE2eJob "$JAR" "$1" "$2" >"$WORK/submit-$1.log" 2>&1 ||
    { tail -n 20 "$WORK/submit-$1.log"; die "setup: bin/flink run $1"; }
  grep -oE "$HEX32" "$WORK/submit-$1.log" | tail -n 1
}
SLOW=$(submit slow signals_slow)
IDLE=$(submit idle signals_idle)
[ -n "$SLOW" ] && [ -n "$IDLE" ] || die "setup: no job ids in the output of bin/flink run"
say "jobs: signals_slow $SLOW, signals_idle $IDLE"

# --- the signals, as /api/v1/flink/jobs shows them
jobs() { curl -sf --max-time 5 -o "$WORK/jobs.json" "$PG/api/v1/flink/jobs"; }
sig() { jobs && python3 "$HERE/signals_check.py" "$WORK/jobs.json" "$@" 2>"$WORK/check.err"; }
checked() { # checked SECONDS DESCRIPTION ARGS...: polls signals_check.py
  local bound=$1 what=$2
  shift 2
  if poll "$bound" sig "$@"; then pass "$what"; else fail "$what: $(cat "$WORK/check.err")"; fi
}
checked 150 "signals_slow: the slow map is the bottleneck" "$SLOW" bottleneck Slow_Map
checked 30 "signals_slow: every vertex upstream of it (the source) is back-pressured HIGH" \
  "$SLOW" upstream Slow_Map
checked 30 "signals_slow: the slow map's suggested parallelism is above its current one" \
  "$SLOW" suggested Slow_Map
checked 30 "signals_idle: no bottleneck, every vertex OK" "$IDLE" calm
cp "$WORK/jobs.json" "$WORK/jobs-running.json"

# --- the alert, in a real Prometheus
alerts() { curl -sf --max-time 5 -o "$WORK/alerts.json" "$PROM/api/v1/alerts"; }
alert() { alerts && python3 "$HERE/signals_check.py" "$WORK/alerts.json" "$@" 2>"$WORK/check.err"; }
if poll 90 alert "$SLOW" alert Slow_Map; then
  pass "Prometheus: FlinkBackpressureHigh fires for signals_slow, bottleneck annotation names the slow map"
else
  fail "Prometheus: FlinkBackpressureHigh does not fire for signals_slow: $(cat "$WORK/check.err")"
fi
check "Prometheus: no FlinkBackpressureHigh for signals_idle" alert "$IDLE" no-alert
check "signals_idle: still no bottleneck and every vertex OK at the end" sig "$IDLE" calm
