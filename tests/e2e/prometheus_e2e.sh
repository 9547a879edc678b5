#!/usr/bin/env bash
# Real Prometheus end to end: Debian's Prometheus (2.42 on bookworm; installed with apt when
# missing) scrapes a release pushgate every second with `honor_labels: true`, as two jobs:
# `pushgate` (/metrics) and `pushgate-aggregated` (/metrics/aggregated, the Flink rollups).
# pushgate holds the Flink fixtures PUT at the paths Flink uses (JobManager and TaskManager of
# Flink 2.3.0 and 1.20.3, jobName "flinkpgw" + 32-hex suffix, groupingKey k1=v1;k2=v2) and two
# plain pushes with extra grouping labels (job "batch", instance i1/i2, team "data").
# Checked through Prometheus' HTTP API (/api/v1/query, /api/v1/series, /api/v1/targets) and
# Prometheus' own /metrics:
#   - both targets are up (`up == 1`, health "up", lastError "");
#   - the Flink series carry job="flinkpgw" (suffix split off), the reporter id in
#     flink_prometheus_push_gateway_reporter_id, the grouping labels and Flink's own labels,
#     with the pushed values; the plain push keeps job, instance and its grouping label;
#   - the rollups arrive from the second job and agree with the raw series summed in PromQL;
#   - Prometheus counted no out-of-order, duplicate-timestamp or over-limit samples;
#   - a DELETE of a group (a plain one, and a Flink TaskManager's at its Flink path) makes its
#     series stale within a few scrapes, while every other group's series stay.
# Every wait is bounded and counted in Prometheus scrapes where it can be. Ports are free
# loopback ports; everything lives in a temp dir; processes are stopped on exit (lib.sh).
# Prints "prometheus-e2e: N passed, M failed" last. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh

need_prometheus
start_pushgate

ID=flink_prometheus_push_gateway_reporter_id
JM230=1aad809d7e0ec3094164704a63618361 TM230=f451c26a333bf1ebebb2cf061f1cfd74
JM1203=be28a1692412e06eb1127c490986a112 TM1203=5738eb88e44fccf530d4e63167c5c0cb
push_flink_fixtures
push api/mixed.txt batch/instance/i1/team/data
push api/second.txt batch/instance/i2/team/data

dir=$E2E_WORK/prom
write_prometheus_config "$dir" aggregated
start_prometheus "$dir"
echo "pushgate $PG, Prometheus $PROM ($(prometheus --version 2>&1 | head -n 1))"

passed=0 failed=0
api() { python3 tests/e2e/promapi.py "$PROM" "$@"; }
check() { # DESCRIPTION COMMAND...: one assertion; the command prints why it failed
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "PASS $what"
  else
    failed=$((failed + 1))
    echo "FAIL $what"
  fi
}
finish() {
  echo "prometheus-e2e: $passed passed, $failed failed"
  [ "$failed" = 0 ]
}
# scrapes JOB: how many scrapes of JOB Prometheus has stored in the last 10 minutes.
scrapes() {
  local n
  n=$(api scalar "count_over_time(up{job=\"$1\"}[10m])")
  echo "${n:-0}"
}
# within_scrapes N JOB COMMAND...: COMMAND succeeds before Prometheus has made N more scrapes of
# JOB (at most 60 s). The last failing COMMAND's output is shown.
within_scrapes() {
  local n=$1 job=$2 start end out
  shift 2
  start=$(scrapes "$job")
  end=$((SECONDS + 60))
  while :; do
    out=$("$@") && return 0
    [ "$(scrapes "$job")" -ge $((start + n)) ] && break
    [ "$SECONDS" -ge "$end" ] && break
    sleep 0.2
  done
  echo "$out"
  echo "(still failing after $(($(scrapes "$job") - start)) more scrapes of $job)"
  return 1
}

# Three scrapes of each job, so every pushed series has been ingested.
if ! { wait_scrapes pushgate 3 && wait_scrapes pushgate-aggregated 3; }; then
  tail -n 20 "$dir/prometheus.log"
  finish
  exit 1
fi

# --- targets and up
check "up{job=\"pushgate\"} == 1" api query 'up{job="pushgate"} == 1' "instance=127.0.0.1:$PG_PORT"
check "up{job=\"pushgate-aggregated\"} == 1" api query 'up{job="pushgate-aggregated"} == 1' "instance=127.0.0.1:$PG_PORT"
check "/api/v1/targets: both pools healthy, lastError empty" api targets pushgate pushgate-aggregated

# --- Flink series: stable job, reporter id label, grouping labels, Flink labels, values
check "JobManager 2.3.0: numRunningJobs 1 with job=flinkpgw, $ID=$JM230, k1, k2, no instance" \
  api query flink_jobmanager_numRunningJobs job=flinkpgw "$ID=$JM230" k1=v1 k2=v2 host=localhost instance! value=1
check "JobManager 1.20.3: taskSlotsTotal 2 with $ID=$JM1203" \
  api query flink_jobmanager_taskSlotsTotal job=flinkpgw "$ID=$JM1203" k1=v1 k2=v2 value=2
check "TaskManager 2.3.0: numRecordsOut of the source subtask 0 is 938, with its task labels" \
  api query 'flink_taskmanager_job_task_numRecordsOut{subtask_index="0"}' job=flinkpgw "$ID=$TM230" \
  k1=v1 k2=v2 job_name=pgw_capture_job task_name=Source:_Seq_Source____Instrumented_Map \
  tm_id=localhost:35339_ccf434 value=938
check "TaskManager 1.20.3: operator numRecordsIn per operator and subtask, $ID=$TM1203" \
  api query flink_taskmanager_job_task_operator_numRecordsIn job=flinkpgw "$ID=$TM1203" \
  job_name=pgw_capture_job operator_name=Keyed_Reduce 'subtask_index~[01]'
check "TaskManager: latency-marker summary with quantile labels" \
  api query 'flink_taskmanager_job_task_latency_source_id_operator_id_operator_subtask_index_latency{quantile="0.99"}' \
  job=flinkpgw "$ID~[0-9a-f]{32}"
check "/api/v1/series: every pushed job=flinkpgw series has a 32-hex reporter id and the grouping labels" \
  api series '{job="flinkpgw", __name__=~"flink_(jobmanager|taskmanager)_.+|push_(failure_)?time_seconds"}' \
  "$ID~[0-9a-f]{32}" k1=v1 k2=v2 instance!
check "/api/v1/series: the rollups (job=flinkpgw too) have neither reporter id nor subtask" \
  api series '{job="flinkpgw", __name__=~"flink_job_.+"}' "$ID!" subtask_index! "instance=127.0.0.1:$PG_PORT"
check "/api/v1/series: no job label keeps the 32-hex suffix" \
  api empty '{job=~"flinkpgw[0-9a-f]{32}"}'
ids=$(api label_values "$ID" '{job="flinkpgw"}' | tr '\n' ' ')
check "the four reporter ids are exactly the fixtures' suffixes ($ids)" \
  test "$ids" = "$(printf '%s\n' $JM1203 $JM230 $TM1203 $TM230 | sort | tr '\n' ' ')"
check "push_time_seconds for each of the four Flink groups" \
  test "$(api count 'push_time_seconds{job="flinkpgw"}')" = 4

# --- the plain pushes: job, instance and the extra grouping label
check "plain push: api_requests_total{code=\"200\"} 1027 with job=batch, instance=i1, team=data" \
  api query 'api_requests_total{code="200"}' job=batch instance=i1 team=data value=1027
check "plain push: histogram buckets keep le and the grouping labels" \
  api query 'api_size_bytes_bucket{le="+Inf"}' job=batch instance=i1 team=data value=10
check "second plain group: api_second 42 with instance=i2" api query api_second job=batch instance=i2 team=data value=42
check "/api/v1/series: the batch groups' series carry team=data and an instance" \
  api series '{job="batch"}' team=data 'instance~i[12]' "$ID!"

# --- pushgate's own metrics, under the scrape job's labels
check "pushgate_groups counts the 6 groups (job=pushgate, instance of the target)" \
  api query pushgate_groups job=pushgate "instance=127.0.0.1:$PG_PORT" value=6

# --- the aggregated job
check "rollup records_in_per_second for Keyed_Reduce, from the aggregated job, no subtask_index" \
  api query flink_job_operator_records_in_per_second job=flinkpgw job_name=pgw_capture_job \
  operator_name=Keyed_Reduce subtask_index! "$ID!" "instance=127.0.0.1:$PG_PORT"
ROLLUP_AGREES='abs(sum(flink_job_operator_records_in_per_second{operator_name="Keyed_Reduce"})
  - sum(flink_taskmanager_job_task_operator_numRecordsInPerSecond{operator_name="Keyed_Reduce"})) < 1e-9'
check "the rollup equals the raw per-subtask series summed in PromQL" api query "$ROLLUP_AGREES"
check "rollup: worst latency-marker p99 per job" api query 'flink_job_latency_max{quantile="0.99"}' job=flinkpgw job_name=pgw_capture_job
check "every rollup keeps its own job label (honor_labels): none is labelled job=pushgate-aggregated" \
  api empty '{job="pushgate-aggregated", __name__!~"up|scrape_.*"}'

# --- Prometheus saw no scrape problem
COUNTERS=(prometheus_target_scrapes_sample_out_of_order_total prometheus_target_scrapes_sample_duplicate_timestamp_total
  prometheus_target_scrapes_sample_out_of_bounds_total prometheus_target_scrapes_exceeded_
  prometheus_target_scrape_pool_exceeded_)
check "Prometheus' out-of-order / duplicate-timestamp / out-of-bounds / exceeded-limit counters are 0" \
  api self_counters "${COUNTERS[@]}"

# --- DELETE: the group's series go stale, every other group's stay
code=$(curl -s -o "$E2E_WORK/del" -w '%{http_code}' -X DELETE "$PG/metrics/job/batch/instance/i1/team/data")
check "DELETE /metrics/job/batch/instance/i1/team/data answers 202" test "$code" = 202
check "the deleted plain group's series are gone from an instant query within 5 scrapes" \
  within_scrapes 5 pushgate api empty '{job="batch", instance="i1"}'
code=$(curl -s -o "$E2E_WORK/del" -w '%{http_code}' -X DELETE "$PG/metrics/job/flinkpgw$TM230/k1/v1/k2/v2")
check "DELETE of the 2.3.0 TaskManager at its Flink path answers 202" test "$code" = 202
check "the deleted TaskManager's series ($ID=$TM230) go stale within 5 scrapes" \
  within_scrapes 5 pushgate api empty "{$ID=\"$TM230\"}"
check "the other plain group stays" api query api_second job=batch instance=i2 team=data value=42
check "the 1.20.3 TaskManager's series stay" \
  api query flink_taskmanager_job_task_operator_numRecordsIn "$ID=$TM1203" operator_name=Keyed_Reduce
check "both JobManagers' series stay" \
  test "$(api count 'flink_jobmanager_numRunningJobs{job="flinkpgw"}')" = 2
check "pushgate_groups is 4 after the two DELETEs" within_scrapes 5 pushgate api query pushgate_groups job=pushgate value=4
check "the rollup follows (equals the remaining TaskManager's sum) within 5 scrapes" \
  within_scrapes 5 pushgate-aggregated api query "$ROLLUP_AGREES"
check "after the DELETEs: both targets still healthy" api targets pushgate pushgate-aggregated
check "after the DELETEs: still no out-of-order / duplicate / over-limit samples" api self_counters "${COUNTERS[@]}"

if [ "$failed" -gt 0 ]; then
  echo "---- pushgate log"
  tail -n 20 "$E2E_WORK/pushgate.log"
  echo "---- Prometheus log (warnings and errors)"
  grep -E 'level=(warn|error)' "$dir/prometheus.log" | tail -n 20 || true
fi
finish
