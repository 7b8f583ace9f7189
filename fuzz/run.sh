#!/usr/bin/env bash
# Fuzz every target with cargo-fuzz (libFuzzer, nightly, release build with debug assertions
# and overflow checks) for a bounded time each, from the committed seeds, saved regressions
# and the JSONTestSuite files; print executions and coverage per target. A crash stops
# nothing else: its input is under fuzz/artifacts/<target>/, and the script exits non-zero.
# Fixed crashes go to fuzz/regressions/<target>/, which tests/fuzz_regressions.rs replays in CI.
#   bash fuzz/run.sh [seconds per target] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
rustup toolchain list | grep -q '^nightly' || { echo "fuzzing needs a nightly toolchain: rustup toolchain install nightly" >&2; exit 1; }
command -v cargo-fuzz > /dev/null || cargo +nightly install cargo-fuzz --locked
FLAGS=(-O --debug-assertions)
cargo +nightly fuzz build "${FLAGS[@]}" > /dev/null 2>&1
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || mapfile -t TARGETS < <(cargo +nightly fuzz list)
LOGS=$(mktemp -d)
failed=0
echo "| target | seconds | executions | exec/s | coverage (cov) | features (ft) | corpus | crashes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  extra=(tests/fixtures/JSONTestSuite/test_parsing)
  for d in "fuzz/seeds/$t" "fuzz/regressions/$t"; do [ -d "$d" ] && extra+=("$d"); done
  crashes=0
  cargo +nightly fuzz run "${FLAGS[@]}" "$t" "fuzz/corpus/$t" "${extra[@]}" -- \
    -max_total_time="$SECS" -print_final_stats=1 -rss_limit_mb=4096 -timeout=10 > "$LOGS/$t.log" 2>&1 || { crashes=1; failed=1; }
  execs=$(sed -nE "s/^stat::number_of_executed_units: *([0-9]+).*/\1/p" "$LOGS/$t.log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$LOGS/$t.log" | tail -1)
  cov=$(echo "$last" | sed -nE 's/.*cov: ([0-9]+).*/\1/p')
  ft=$(echo "$last" | sed -nE 's/.*ft: ([0-9]+).*/\1/p')
  corp=$(echo "$last" | sed -nE 's/.*corp: ([0-9]+).*/\1/p')
  rate=$(awk -v e="${execs:-0}" -v s="$SECS" 'BEGIN { printf "%.0f", e / s }')
  echo "| $t | $SECS | ${execs:-?} | $rate | ${cov:-?} | ${ft:-?} | ${corp:-?} | $crashes |"
  if [ "$crashes" -ne 0 ]; then
    grep -E "panicked|ERROR|SUMMARY" "$LOGS/$t.log" | head -5 >&2
  fi
done
exit $failed
