#!/usr/bin/env bash
# Remote write end to end, against real receivers: Debian's Prometheus 2.42
# (`--web.enable-remote-write-receiver`) and VictoriaMetrics 1.79.5 (`-search.latencyOffset=0s`,
# read after `/internal/force_flush`), both installed with apt when missing, as is HAProxy.
#   1. One release pushgate remote-writes to both every second. A text group (gauge, counter,
#      summary, histogram; job + instance + a pushed label) and a protobuf group (the same
#      kinds, job only: its empty `instance` is not sent) arrive with the right labels and
#      values, `push_time_seconds` too.
#   2. After a DELETE the text group's series are gone from instant queries within one
#      interval (stale markers), while the protobuf group stays.
#   3. Prometheus is down for 30 s: pushgate keeps answering pushes and scrapes, counts the
#      failed requests, keeps feeding VictoriaMetrics, and delivers the newest values once
#      Prometheus is back.
#   4. Three pushgates behind HAProxy with deploy/sharded/haproxy.cfg (servers moved to loopback
#      ports) hashing by job: 30 jobs pushed in one spelling, then re-pushed in the other (plain
#      <-> @base64) with new values. Every job lives on exactly one pushgate, and
#      VictoriaMetrics holds every series once with its newest value (no stale copy
#      interleaving).
# Bounded waits only; free loopback ports; everything stopped on exit (lib.sh).
# Prints "remote-write: N passed, M failed" last. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh

need_prometheus
if ! command -v victoria-metrics >/dev/null || ! command -v haproxy >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq victoria-metrics haproxy >/dev/null
fi
BIN=${PUSHGATE_BIN:-./target/release/pushgate}
[ -n "${PUSHGATE_BIN:-}" ] || cargo build --release --quiet --bin pushgate

passed=0 failed=0
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
# eventually SECONDS COMMAND...: COMMAND succeeds within SECONDS; shows its last output if not.
eventually() {
  local end=$((SECONDS + $1)) out
  shift
  while :; do
    out=$("$@" 2>&1) && return 0
    [ "$SECONDS" -ge "$end" ] && break
    sleep 0.2
  done
  echo "$out"
  return 1
}

# --- receivers
PROM_DIR=$E2E_WORK/prom
mkdir -p "$PROM_DIR"
printf 'global:\n  scrape_interval: 15s\n' >"$PROM_DIR/prometheus.yml"
PROM_PORT=$(free_port)
PROM=http://127.0.0.1:$PROM_PORT
start_prom() {
  prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver \
    >>"$PROM_DIR/prometheus.log" 2>&1 &
  PROM_PID=$!
  E2E_PIDS+=("$PROM_PID")
  wait_for "$PROM/-/ready" || { tail -n 20 "$PROM_DIR/prometheus.log"; return 1; }
}
start_prom
VM_PORT=$(free_port)
VM=http://127.0.0.1:$VM_PORT
victoria-metrics -storageDataPath="$E2E_WORK/vm" -httpListenAddr="127.0.0.1:$VM_PORT" \
  -retentionPeriod=1d -search.latencyOffset=0s >"$E2E_WORK/vm.log" 2>&1 &
E2E_PIDS+=($!)
wait_for "$VM/health" || { tail -n 20 "$E2E_WORK/vm.log"; exit 1; }
pq() { python3 tests/e2e/promapi.py "$PROM" "$@"; }
vmq() {
  curl -sf -o /dev/null "$VM/internal/force_flush"
  python3 tests/e2e/promapi.py "$VM" "$@"
}

# start_pg VAR FLAG...: a release pushgate on a free port; VAR holds its base URL.
start_pg() {
  local var=$1 port
  shift
  port=$(free_port)
  "$BIN" --web.listen-address="127.0.0.1:$port" --log.level=warn "$@" \
    >>"$E2E_WORK/pushgate-$var.log" 2>&1 &
  E2E_PIDS+=($!)
  printf -v "$var" 'http://127.0.0.1:%s' "$port"
  wait_for "http://127.0.0.1:$port/-/ready"
}
start_pg PG --remote-write.url="$PROM/api/v1/write" --remote-write.url="$VM/api/v1/write" \
  --remote-write.interval=1s
echo "pushgate $PG -> Prometheus $PROM ($(prometheus --version 2>&1 | head -n 1)), VictoriaMetrics $VM"

# put PATH [CONTENT-TYPE]: PUTs stdin; fails with the answer unless 200.
put() {
  local code
  code=$(curl -s -o "$E2E_WORK/answer" -w '%{http_code}' -X PUT \
    -H "Content-Type: ${2:-text/plain; version=0.0.4}" --data-binary @- "$1")
  [ "$code" = 200 ] || { echo "PUT $1 answered $code: $(cat "$E2E_WORK/answer")"; return 1; }
}

# --- 1. values and labels
put "$PG/metrics/job/rw_text/instance/i1" <<'EOF'
# TYPE rwt_g gauge
rwt_g{a="x"} 1.5
# TYPE rwt_c_total counter
rwt_c_total{a="x"} 42
# TYPE rwt_s summary
rwt_s{a="x",quantile="0.5"} 3
rwt_s_sum{a="x"} 10
rwt_s_count{a="x"} 4
# TYPE rwt_h histogram
rwt_h_bucket{a="x",le="0.5"} 1
rwt_h_bucket{a="x",le="+Inf"} 3
rwt_h_sum{a="x"} 2.5
rwt_h_count{a="x"} 3
EOF
python3 tests/e2e/pbpush.py rwp | put "$PG/metrics/job/rw_pb" \
  'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited'

TEXT_SERIES=(
  "rwt_g value=1.5" "rwt_c_total value=42" "rwt_s quantile=0.5 value=3" "rwt_s_sum value=10"
  "rwt_s_count value=4" "rwt_h_bucket le=0.5 value=1" "rwt_h_bucket le=+Inf value=3"
  "rwt_h_sum value=2.5" "rwt_h_count value=3"
)
PB_SERIES=(
  "rwp_g value=7" "rwp_c_total value=8" "rwp_s quantile=0.9 value=5" "rwp_s_sum value=6.5"
  "rwp_s_count value=2" "rwp_h_bucket le=1 value=1" "rwp_h_bucket le=+Inf value=2"
  "rwp_h_sum value=1.25" "rwp_h_count value=2"
)
# has RECEIVER: every pushed series is there with its labels and value.
has_all() {
  local q=$1 s
  for s in "${TEXT_SERIES[@]}"; do
    # shellcheck disable=SC2086
    $q query ${s%% *} job=rw_text instance=i1 a=x ${s#* } || return 1
  done
  for s in "${PB_SERIES[@]}"; do
    # shellcheck disable=SC2086
    $q query ${s%% *} job=rw_pb 'instance!' a=x ${s#* } || return 1
  done
  $q query push_time_seconds job=rw_text instance=i1 'a!' || return 1
  $q query push_time_seconds job=rw_pb 'instance!' || return 1
}
check "Prometheus 2.42: text and protobuf groups (gauge, counter, summary, histogram) with labels and values" \
  eventually 20 has_all pq
check "VictoriaMetrics: text and protobuf groups (gauge, counter, summary, histogram) with labels and values" \
  eventually 20 has_all vmq

# --- 2. DELETE -> stale markers
curl -sf -o /dev/null -X DELETE "$PG/metrics/job/rw_text/instance/i1"
deleted_at=$SECONDS
gone() { $1 empty '{job="rw_text"}' && $1 query rwp_g job=rw_pb value=7; }
check "Prometheus: the deleted group's series are gone from instant queries within one interval (+1 s slack), the other group stays" \
  eventually 2 gone pq
check "VictoriaMetrics: the same" eventually 2 gone vmq
echo "(series gone $((SECONDS - deleted_at)) s after the DELETE; interval 1 s)"

# --- 3. Prometheus down for 30 s
kill "$PROM_PID"
wait "$PROM_PID" 2>/dev/null || true
pushes=0 scrapes=0
for i in $(seq 1 30); do
  echo "rw_outage $i" | put "$PG/metrics/job/rw_outage" >/dev/null && pushes=$((pushes + 1))
  curl -sf -o /dev/null "$PG/metrics" && scrapes=$((scrapes + 1))
  sleep 1
done
check "while Prometheus is down: 30 of 30 pushes and scrapes answered" test "$pushes.$scrapes" = 30.30
self() { curl -s "$PG/metrics" | awk -v s="$1" 'index($0, s " ") == 1 { print $NF }'; }
errors=$(self "pushgate_remote_write_requests_total{code=\"error\",url=\"$PROM/api/v1/write\"}")
check "while Prometheus is down: failed requests counted ($errors)" test "${errors:-0}" != 0
check "while Prometheus is down: VictoriaMetrics keeps receiving (rw_outage 30)" \
  eventually 5 vmq query rw_outage job=rw_outage value=30
start_prom
check "Prometheus back: the newest values arrive (rw_outage 30)" \
  eventually 30 pq query rw_outage job=rw_outage value=30
dropped=$(self "pushgate_remote_write_ticks_dropped_total{url=\"$PROM/api/v1/write\"}")
echo "(ticks dropped during the outage: ${dropped:-0}; queue holds 2)"

# --- 4. three pushgates behind HAProxy, sharded by job
for n in 1 2 3; do
  start_pg "S$n" --remote-write.url="$VM/api/v1/write" --remote-write.interval=1s
done
LB_PORT=$(free_port)
LB=http://127.0.0.1:$LB_PORT
sed -e "s|bind \*:9091|bind 127.0.0.1:$LB_PORT|" -e "s|server pg1 pg1:9091|server pg1 ${S1#http://}|" \
  -e "s|server pg2 pg2:9091|server pg2 ${S2#http://}|" -e "s|server pg3 pg3:9091|server pg3 ${S3#http://}|" \
  deploy/sharded/haproxy.cfg >"$E2E_WORK/haproxy.cfg"
check "haproxy -c accepts deploy/sharded/haproxy.cfg" haproxy -q -c -f deploy/sharded/haproxy.cfg
haproxy -f "$E2E_WORK/haproxy.cfg" -db >"$E2E_WORK/haproxy.log" 2>&1 &
E2E_PIDS+=($!)
wait_for "$LB/-/healthy"
b64() { printf %s "$1" | base64 | tr '+/' '-_' | tr -d '='; }
shard_push() { # N VALUE SPELLING
  local path=/metrics/job/shard$1/instance/x
  [ "$3" = base64 ] && path=/metrics/job@base64/$(b64 "shard$1")/instance/x
  echo "shard_m $2" | put "$LB$path"
}
pushed=0
for i in $(seq 1 30); do
  if [ $((i % 2)) = 0 ]; then first=plain second=base64; else first=base64 second=plain; fi
  shard_push "$i" "$i.5" "$first" && shard_push "$i" "$((i * 10))" "$second" && pushed=$((pushed + 1))
done
check "30 jobs pushed through HAProxy, each in both spellings" test "$pushed" = 30
owners() { # prints, per job, how many pushgates hold it
  for s in "$S1" "$S2" "$S3"; do
    curl -s "$s/metrics" | grep -o '^push_time_seconds{instance="x",job="shard[0-9]*"}' || true
  done | sort | uniq -c | awk '{ print $1 }' | sort | uniq -c
}
echo "jobs per pushgate: $(for s in "$S1" "$S2" "$S3"; do curl -s "$s/metrics" | grep -c '^push_time_seconds{instance="x",job="shard' || true; done | tr '\n' ' ')"
check "every job lives on exactly one pushgate (plain and base64 spellings hash alike)" \
  test "$(owners | xargs)" = "30 1"
sharded() {
  [ "$(vmq scalar 'count(shard_m)')" = 30 ] || { echo "count(shard_m) = $(vmq scalar 'count(shard_m)')"; return 1; }
  [ "$(vmq scalar 'sum(shard_m)')" = 4650 ] || { echo "sum(shard_m) = $(vmq scalar 'sum(shard_m)')"; return 1; }
}
check "VictoriaMetrics holds all 30 series with their newest values" eventually 20 sharded
sleep 3
check "VictoriaMetrics: no series got values from two pushgates in the last 3 s" \
  vmq empty 'max_over_time(shard_m[3s]) != min_over_time(shard_m[3s])'

echo "remote-write: $passed passed, $failed failed"
[ "$failed" = 0 ]
