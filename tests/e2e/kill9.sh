#!/usr/bin/env bash
# kill -9 during a push storm, then restart: the persistence file is never corrupt, and the
# restarted store equals the last persisted snapshot.
#
# Builds release pushgate and examples/persist_check, starts pushgate on loopback with a
# persistence file written every 200ms, runs a bounded push storm (curl loops), kill -9s the
# server mid-storm ROUNDS times, and after each kill checks that
#   1. the file decodes (persist_check FILE), and
#   2. a restarted server's scrape, taken before anything new is pushed, equals the store that
#      the file restores to (persist_check --render FILE), byte for byte, push times included.
# A last round stops the server with SIGTERM instead: it must exit 0 and the file must hold
# exactly what the server showed just before.
#
# Loopback only; every loop is bounded; takes about 30 s after the build.
# Usage: tests/e2e/kill9.sh [ROUNDS]   (default 6)
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=${1:-6}
cargo build --release --quiet --bin pushgate --example persist_check
bin=target/release/pushgate
check=target/release/examples/persist_check

work=$(mktemp -d)
file=$work/pushgate.data
server_pid=
storm_pids=()
cleanup() {
  for p in "${storm_pids[@]}" $server_pid; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port

fail() { echo "kill9: FAIL: $*" >&2; exit 1; }

start_server() {
  "$bin" --web.listen-address="127.0.0.1:$port" --persistence.file="$file" \
    --persistence.interval=200ms --log.level=warn >>"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    if curl -sf -o /dev/null "$url/-/ready"; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || { tail -5 "$work/server.log" >&2; fail "pushgate did not start"; }
    sleep 0.1
  done
  fail "pushgate not ready after 10 s"
}

# The scrape without the gateway's own families: what a persistence file holds.
scrape_store() {
  curl -sf "$url/metrics" | grep -Ev '^(# (HELP|TYPE) )?(pushgateway_|pushgate_|process_)' || true
}

# One pusher: PUTs a Flink TaskManager body and POSTs a sequence number, at most 400 times.
pusher() {
  local id=$1 i
  for ((i = 1; i <= 400; i++)); do
    curl -s -o /dev/null --max-time 5 -X PUT --data-binary @fixtures/flink-2.3.0/tm.txt \
      "$url/metrics/job/storm$id/instance/tm$((i % 5))" || true
    printf 'storm_seq{pusher="%s"} %d\n' "$id" "$i" |
      curl -s -o /dev/null --max-time 5 -X POST --data-binary @- "$url/metrics/job/seq$id" || true
  done
}

start_storm() {
  storm_pids=()
  for id in 1 2 3 4; do
    pusher "$id" &
    storm_pids+=($!)
  done
}

stop_storm() {
  for p in "${storm_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${storm_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  storm_pids=()
  # A killed pusher's curl lives on and finishes its request; wait for those (at most their
  # --max-time), or a push may land after the scrape the graceful check compares with.
  local i
  for ((i = 0; i < 60; i++)); do
    pgrep -f -- "$url/metrics/job/(storm|seq)" >/dev/null || return 0
    sleep 0.1
  done
}

# Restarts the server and compares its first scrape with what the file restores to.
restart_and_compare() {
  local round=$1
  "$check" "$file" >"$work/counts" || fail "round $round: the file does not decode"
  "$check" --render "$file" >"$work/want" || fail "round $round: the file does not restore"
  start_server
  scrape_store >"$work/got"
  if ! cmp -s "$work/want" "$work/got"; then
    diff "$work/want" "$work/got" | head -20 >&2
    fail "round $round: the restarted store differs from the persisted snapshot"
  fi
  echo "kill9: round $round: file ok ($(cat "$work/counts")), restarted store equals it ($(wc -l <"$work/got") lines)"
}

start_server
for ((round = 1; round <= rounds; round++)); do
  start_storm
  sleep "$((RANDOM % 2)).$((RANDOM % 10))"
  sleep 0.4
  kill -9 "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  stop_storm
  [[ -f $file ]] || fail "round $round: no persistence file after the storm"
  restart_and_compare "$round"
done

# Graceful: SIGTERM persists what the server shows, and exits 0.
start_storm
sleep 1
stop_storm
scrape_store >"$work/before"
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
[[ $status == 0 ]] || fail "SIGTERM: exit status $status"
"$check" --render "$file" >"$work/after" || fail "SIGTERM: the file does not restore"
cmp -s "$work/before" "$work/after" || { diff "$work/before" "$work/after" | head >&2; fail "SIGTERM: the file differs from the last scrape"; }
leftover=$(find "$work" -name 'pushgate.data.tmp*' | wc -l)
[[ $leftover == 0 ]] || fail "SIGTERM: $leftover temp file(s) left after a clean write"
echo "kill9: SIGTERM: exit 0, file equals the last scrape; no temp file left"
echo "kill9: $rounds rounds passed"
