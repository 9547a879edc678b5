#!/usr/bin/env bash
# Runs one fuzz target (or all) on stable Rust: `fuzz/run.sh [TARGET|all] [SECONDS]`.
#
# Seeds come from fuzz/seeds/<target> and, for the text targets, from fixtures/; new inputs go
# to fuzz/corpus/<target> (not committed). Extra arguments after SECONDS go to libFuzzer.
# Crashes land in fuzz/artifacts/<target>/ and make this script fail.
set -euo pipefail
cd "$(dirname "$0")"

target=${1:-all}
secs=${2:-30}
shift $(( $# > 2 ? 2 : $# ))

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

# `-s none`: no sanitizer, so no nightly-only `-Zsanitizer`; cargo-fuzz's coverage flags
# (`-Cpasses=sancov-module`, `-Cllvm-args=...`) are stable. Safe Rust needs no ASan.
fuzz=(cargo fuzz run -s none)

targets=(parse_text parse_text_utf8 text_roundtrip grouping_key persist_decode protobuf_decode)
[[ $target == all ]] || targets=("$target")

for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  dirs=("corpus/$t" "seeds/$t")
  opts=(-max_total_time="$secs" -timeout=10 -print_final_stats=1)
  case $t in
    parse_text | parse_text_utf8)
      for d in ../fixtures/*/; do [[ -n $(find "$d" -maxdepth 1 -name '*.txt') ]] && dirs+=("$d"); done
      [[ $t == parse_text_utf8 ]] && dirs+=(seeds/parse_text)
      opts+=(-dict=dict/text.dict -max_len=65536) ;;
    grouping_key) opts+=(-max_len=512) ;;
  esac
  echo "== fuzz $t for ${secs}s"
  "${fuzz[@]}" "$t" "${dirs[@]}" -- "${opts[@]}" "$@"
done
