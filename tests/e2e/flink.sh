#!/usr/bin/env bash
# Real-Flink end-to-end test: a standalone Flink cluster (from PyPI) reports to a freshly built
# pushgate through Flink's stock PrometheusPushGatewayReporter, and pushgate must
#   - show the JobManager's and the TaskManager's groups under the stable job "e2ejob" with the
#     32-hex reporter id in flink_prometheus_push_gateway_reporter_id (two distinct ids), the
#     groupingKey labels (a value with a space arrives form-encoded and must be decoded), and the
#     running job's task, operator and latency metrics;
#   - serve the job's summed record rates at /metrics/aggregated (skipped if that answers 404);
#   - after `kill -9` of the TaskManager, remove its group within a bounded wait (it missed
#     --flink.missed-pushes intervals) while the JobManager's group stays and keeps being pushed;
#   - after bin/stop-cluster.sh, keep nothing of the cluster (the JobManager's DELETE removes its
#     group, and nothing comes back).
#
# Needs Java 11+ (javac, jar; installed from Debian when missing and root), python3 with pip,
# curl, tar, cargo. Flink is downloaded from PyPI (apache-flink-libraries + apache-flink) into
# the cache directory once and reused; FLINK_HOME is assembled in a temporary work directory.
# Everything listens on 127.0.0.1, on free ports; every wait is bounded; every process started
# here is stopped on exit (the cluster only through its own pid files).
#
# Usage: tests/e2e/flink.sh
# Environment:
#   FLINK_VERSION       Flink version (default 2.3.0; 1.20.3 works too)
#   PUSHGATE_E2E_CACHE  download cache (default $HOME/.cache/pushgate-e2e)
#   PUSHGATE_BIN        use this pushgate binary instead of `cargo build --release`
#   PUSHGATE_E2E_KEEP   1 keeps the work directory (logs, scrapes, FLINK_HOME) after the run
# Prints `flink-e2e: N passed, M failed` last (`, K skipped` when /metrics/aggregated is absent)
# and exits non-zero when M > 0. Takes about 1.5 minutes once Flink is cached and pushgate is
# built (mostly JVM start-up); the first download is about 330 MB.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/tests/e2e/flink

VER=${FLINK_VERSION:-2.3.0}
CACHE=${PUSHGATE_E2E_CACHE:-$HOME/.cache/pushgate-e2e}
INTERVAL=2                     # the reporter's push interval, seconds
MISSED=3                       # pushgate's --flink.missed-pushes (its default)
REPORTER_JOB=e2ejob            # metrics.reporter.pgw.jobName
GROUPING='cluster=e2e;dc=local east'
FLINK_JOB=pushgate_e2e         # the streaming job's name: the job_name label (Flink's reporter
                               # turns characters outside [a-zA-Z0-9_:] into _; none here)
ID_LABEL=flink_prometheus_push_gateway_reporter_id
HEX32='[0-9a-f]{32}'

passed=0 failed=0 skipped=0
T0=$SECONDS
WORK=
PG_PID=
FH=
E2E_NAME=flink-e2e
# shellcheck source=tests/e2e/flink/common.sh
. "$HERE/common.sh"

# --- cleanup: the cluster (only the pids in our own pid files), pushgate, the work directory
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  set +e
  flink_stop_cluster
  if [ -n "$PG_PID" ]; then
    kill "$PG_PID" 2>/dev/null
    wait "$PG_PID" 2>/dev/null
  fi
  if [ "$failed" -gt 0 ] && [ -n "$WORK" ]; then
    echo "---- pushgate log (last 40 lines of $WORK/pushgate.log)"
    tail -n 40 "$WORK/pushgate.log" 2>/dev/null
    echo "---- Flink logs: first errors"
    grep -h -m 5 -E ' ERROR |Exception' "$WORK"/log/*.log "$WORK"/log/*.out 2>/dev/null | cut -c1-300 | head -n 20
    echo "----"
  fi
  if [ -n "$WORK" ]; then
    if [ "${PUSHGATE_E2E_KEEP:-0}" = 1 ]; then say "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  fi
  say "Flink $VER, run time $((SECONDS - T0)) s"
  if [ "$skipped" -gt 0 ]; then
    echo "flink-e2e: $passed passed, $failed failed, $skipped skipped"
  else
    echo "flink-e2e: $passed passed, $failed failed"
  fi
  [ "$failed" -eq 0 ] && [ "$rc" -eq 0 ] && exit 0
  exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

flink_need_tools
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pushgate-flink-e2e.XXXXXX")
mkdir -p "$WORK/log" "$WORK/pid"

# --- 1. Flink from PyPI (cached), assembled into $WORK/flink
flink_home

# --- 2. pushgate, release build, on a free loopback port
flink_start_pushgate --log.level=debug
say "pushgate $("$BIN" --version 2>/dev/null | head -n 1) on $PG (pid $PG_PID)"

# --- 3. Flink configuration: loopback only, free ports, the pushgate reporter
flink_configure "$PG" "$REPORTER_JOB" "$GROUPING" "$INTERVAL" 2 <<CFG
restart-strategy.type: none
metrics.latency.interval: 1000
CFG

# --- 4. the job jar, the cluster
flink_build_jar "$HERE/PushgateE2eJob.java"
flink_start_cluster 2

timeout 180 "$FH/bin/flink" run -d -c PushgateE2eJob "$WORK/job.jar" "$FLINK_JOB" >"$WORK/submit.log" 2>&1 ||
  { tail -n 20 "$WORK/submit.log"; die "setup: bin/flink run"; }
JOB_ID=$(grep -oE "$HEX32" "$WORK/submit.log" | tail -n 1)
[ -n "$JOB_ID" ] || die "setup: no job id in the output of bin/flink run"
job_running() { curl -sf --max-time 3 "$REST/jobs/$JOB_ID" | grep -q '"state":"RUNNING"'; }
check "job '$FLINK_JOB' ($JOB_ID) is RUNNING" poll 120 job_running

# --- 5. what pushgate shows
S=$WORK/scrape A=$WORK/aggregated
scrape() { curl -sf --max-time 5 -o "$S" "$PG/metrics"; }
count() { promq select "$S" "$@" | cut -d' ' -f1; }
maxv() { promq select "$S" "$@" | cut -d' ' -f3; }
# Sets JM_ID, TM_ID (and their rows) from the scrape; succeeds when both groups are there.
find_groups() {
  scrape || return 1
  JM_ROW=$(promq groups "$S" "$REPORTER_JOB" "$ID_LABEL" | awk -F'\t' '$2 == "jm"' | head -n 1)
  TM_ROW=$(promq groups "$S" "$REPORTER_JOB" "$ID_LABEL" | awk -F'\t' '$2 == "tm"' | head -n 1)
  JM_ID=$(cut -f1 <<<"$JM_ROW")
  TM_ID=$(cut -f1 <<<"$TM_ROW")
  [ -n "$JM_ID" ] && [ -n "$TM_ID" ]
}
if ! poll 90 find_groups; then
  say "groups seen for job=$REPORTER_JOB:"
  promq groups "$S" "$REPORTER_JOB" "$ID_LABEL"
  die "the JobManager and TaskManager groups did not both appear within 90 s"
fi
say "groups: JobManager $JM_ID, TaskManager $TM_ID"
row_ok() { # ROW: id is 32 hex, cluster="e2e", dc="local east"
  local id role push n cluster dc
  IFS=$'\t' read -r id role push n cluster dc <<<"$1"
  [[ $id =~ ^$HEX32$ ]] && [ "$cluster" = e2e ] && [ "$dc" = "local east" ]
}
check "JobManager group: job=\"$REPORTER_JOB\", 32-hex $ID_LABEL, cluster=\"e2e\", dc=\"local east\" (form-decoded)" row_ok "$JM_ROW"
check "TaskManager group: job=\"$REPORTER_JOB\", 32-hex $ID_LABEL, cluster=\"e2e\", dc=\"local east\" (form-decoded)" row_ok "$TM_ROW"
check "the two reporter ids are distinct" test "$JM_ID" != "$TM_ID"
check "no job label keeps the random suffix (job=~\"$REPORTER_JOB<32 hex>\")" \
  test "$(count "job~$REPORTER_JOB$HEX32")" = 0
# (pushgate's derived pushgate_flink_* signal series describe the cluster, not one reporter.)
check "every pushed job=\"$REPORTER_JOB\" series carries $ID_LABEL" \
  test "$(count "job=$REPORTER_JOB" "!$ID_LABEL" '__name__~(?!pushgate_flink_).*')" = 0
check "no cluster=\"e2e\" series outside job=\"$REPORTER_JOB\"" test "$(count cluster=e2e "job!=$REPORTER_JOB")" = 0

# Operator metrics of both subtasks, counting records, in the TaskManager's group.
task_metrics() {
  local i
  scrape || return 1
  for i in 0 1; do
    [ "$(count __name__=flink_taskmanager_job_task_operator_numRecordsOut "job=$REPORTER_JOB" \
      "$ID_LABEL=$TM_ID" "job_name=$FLINK_JOB" "subtask_index=$i" 'v>0')" -gt 0 ] || return 1
  done
}
check "task-level metrics: numRecordsOut > 0 for subtasks 0 and 1 of '$FLINK_JOB' in the TaskManager group" \
  poll 90 task_metrics
latency_metrics() {
  scrape && [ "$(count '__name__~flink_taskmanager_job_(task_)?latency_.*_latency' "$ID_LABEL=$TM_ID" +quantile)" -gt 0 ]
}
check "latency-marker summaries (metrics.latency.interval) appear" poll 60 latency_metrics

# The aggregated view: the job's record rates summed over subtasks.
agg_code() { curl -s --max-time 5 -o "$A" -w '%{http_code}' "$PG/metrics/aggregated"; }
# The rollup's name is pushgate's choice: numRecordsOutPerSecond or records_out_per_second etc.
AGG_NAME='__name__~(?i).*records_?(out|in)_?per_?second.*'
agg_ok() {
  [ "$(agg_code)" = 200 ] &&
    [ "$(promq select "$A" "$AGG_NAME" "job_name=$FLINK_JOB" '!subtask_index' 'v>0' | cut -d' ' -f1)" -gt 0 ]
}
code=$(agg_code)
if [ "$code" = 404 ]; then
  skip "aggregated (endpoint missing): GET /metrics/aggregated answered 404"
else
  if poll 60 agg_ok; then
    pass "/metrics/aggregated has a records in/out per second rollup > 0 for job_name=\"$FLINK_JOB\" without subtask_index"
  else
    fail "/metrics/aggregated (status $(agg_code)) has no records in/out per second rollup > 0 for job_name=\"$FLINK_JOB\" without subtask_index"
    grep -iE 'records_?(in|out)_?per_?second' "$A" | head -n 10
  fi
fi
scrape && cp "$S" "$WORK/scrape-running"
n_job=$(count "job=$REPORTER_JOB")
n_task=$(count "job_name=$FLINK_JOB")
if [ "$code" = 404 ]; then
  say "series: /metrics has $n_job with job=\"$REPORTER_JOB\" ($n_task with job_name=\"$FLINK_JOB\"); /metrics/aggregated missing"
else
  agg_code >/dev/null && cp "$A" "$WORK/aggregated-running"
  say "series: /metrics has $n_job with job=\"$REPORTER_JOB\" ($n_task with job_name=\"$FLINK_JOB\"); /metrics/aggregated has $(promq select "$A" | cut -d' ' -f1) ($(promq select "$A" "job_name=$FLINK_JOB" | cut -d' ' -f1) with job_name=\"$FLINK_JOB\")"
fi

# --- 6. kill -9 the TaskManager: its group expires, the JobManager's stays
expired() { scrape >/dev/null && maxv __name__=pushgate_groups_expired_total reason=missed_pushes; }
expired_before=$(expired)
jm_push_before=$(maxv __name__=push_time_seconds "$ID_LABEL=$JM_ID")
say "kill -9 TaskManager pid $TM_PID"
kill -9 "$TM_PID"
tm_gone() { scrape && [ "$(count "$ID_LABEL=$TM_ID")" = 0 ]; }
bound=$(((MISSED + 2) * INTERVAL + 10))
check "the TaskManager's group ($TM_ID) disappears within $bound s" poll "$bound" tm_gone
check "the JobManager's group is still there" test "$(count "$ID_LABEL=$JM_ID" "job=$REPORTER_JOB")" -gt 0
jm_pushing() {
  scrape && python3 -c 'import sys; sys.exit(not float(sys.argv[1]) > float(sys.argv[2]))' \
    "$(maxv __name__=push_time_seconds "$ID_LABEL=$JM_ID")" "$jm_push_before"
}
check "the JobManager's push_time_seconds keeps advancing" poll $((MISSED * INTERVAL + 5)) jm_pushing
expired_after=$(expired)
check "pushgate_groups_expired_total{reason=\"missed_pushes\"} >= 1 (was ${expired_before}, now ${expired_after})" \
  python3 -c 'import sys; sys.exit(not float(sys.argv[1]) >= 1)' "$expired_after"
grep -F 'group expired' "$WORK/pushgate.log" | grep -F "$TM_ID" | head -n 1 | cut -c1-400

# --- 7. bin/stop-cluster.sh: the JobManager's DELETE removes its group; nothing comes back
say "bin/stop-cluster.sh"
timeout 90 "$FH/bin/stop-cluster.sh" >"$WORK/stop-cluster.log" 2>&1
jm_dead() { ! kill -0 "$JM_PID" 2>/dev/null; }
check "the JobManager process exits" poll 30 jm_dead
cluster_gone() { scrape && [ "$(count cluster=e2e)" = 0 ] && [ "$(count "job=$REPORTER_JOB")" = 0 ]; }
check "no series of the cluster remains (cluster=\"e2e\" / job=\"$REPORTER_JOB\")" poll 30 cluster_gone
sleep $((2 * INTERVAL + 1))
check "... and none comes back $((2 * INTERVAL + 1)) s later" cluster_gone
check "the JobManager's group went by its DELETE, not by expiry (missed_pushes count unchanged)" \
  test "$(expired)" = "$expired_after"
