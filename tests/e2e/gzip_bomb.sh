#!/usr/bin/env bash
# A 1 GiB-when-inflated gzip push must be refused (413) while pushgate's peak RSS (VmHWM) stays
# under 200 MiB: inflating stops at --push.max-decompressed-bytes (64 MiB by default) and the
# buffer never grows past it. The bomb is made on the fly (zeros through gzip, about 1 MiB),
# not committed. Run by .ci/run; needs only bash, curl, gzip and cargo.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --release --quiet --bin pushgate
work=$(mktemp -d)
port=19481
./target/release/pushgate --web.listen-address=127.0.0.1:$port --log.level=warn \
  >"$work/pushgate.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$base/-/ready" >/dev/null && break; sleep 0.05; done

curl -sf -X PUT --data-binary $'keep 1\n' "$base/metrics/job/keep" >/dev/null
head -c $((1024 * 1024 * 1024)) /dev/zero | gzip -1 >"$work/bomb.gz"
echo "bomb: $(stat -c %s "$work/bomb.gz") bytes compressed, 1073741824 inflated"

code=$(curl -s -o "$work/answer" -w '%{http_code}' -X PUT -H 'Content-Encoding: gzip' \
  --data-binary @"$work/bomb.gz" "$base/metrics/job/bomb")
hwm_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
echo "status $code: $(cat "$work/answer")"
echo "pushgate peak RSS (VmHWM): $((hwm_kib / 1024)) MiB"

fail=0
[ "$code" = 413 ] || { echo "FAIL: expected 413, got $code"; fail=1; }
grep -q -- '--push.max-decompressed-bytes' "$work/answer" || { echo "FAIL: the answer must name the flag"; fail=1; }
[ "$hwm_kib" -lt $((200 * 1024)) ] || { echo "FAIL: peak RSS $hwm_kib KiB is not under 200 MiB"; fail=1; }
scrape=$(curl -sf "$base/metrics")
grep -q '^keep{instance="",job="keep"} 1$' <<<"$scrape" || { echo "FAIL: the store lost a group"; fail=1; }
if grep -q 'job="bomb"' <<<"$scrape"; then echo "FAIL: the bomb left a group"; fail=1; fi
[ "$fail" = 0 ] && echo "gzip-bomb: 1 passed, 0 failed" || { echo "gzip-bomb: 0 passed, 1 failed"; exit 1; }
