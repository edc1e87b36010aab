#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, checksums skipped) and runs
# each for a bounded time, seeded from the frames in captures/.
#
#   scripts/fuzz.sh            30 s per target (what the test suite runs)
#   scripts/fuzz.sh 3600       an hour per target
#
# A crash, a leak or a sanitizer report fails the run and leaves the input that
# caused it in build-fuzz/artifacts/; turn it into a regression case.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
dir=build-fuzz

CC=clang cmake -S . -B "$dir" -DTS_FUZZ=ON >/dev/null
cmake --build "$dir" -j "$(nproc 2>/dev/null || echo 2)" >"$dir/build.log" 2>&1 || { cat "$dir/build.log" >&2; exit 1; }

mkdir -p "$dir/corpus/frame" "$dir/corpus/sequence" "$dir/artifacts"
shopt -s nullglob
captures=(captures/*.pcap)
if ((${#captures[@]} > 0)); then
  "$dir/tests/fuzz/pcap2corpus" "$dir/corpus/frame" "$dir/corpus/sequence" "${captures[@]}"
fi

status=0
for target in frame sequence; do
  max_len=2000
  [[ $target == sequence ]] && max_len=16000
  echo "==> fuzz_$target for ${seconds}s"
  if ! ASAN_OPTIONS=detect_leaks=1 "$dir/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -max_len=$max_len \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/artifacts/$target-" \
      "$dir/corpus/$target" >"$dir/fuzz_$target.log" 2>&1; then
    echo "fuzz_$target FAILED; the tail of its log:" >&2
    tail -n 40 "$dir/fuzz_$target.log" >&2
    status=1
  else
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$dir/fuzz_$target.log" || true
  fi
done
exit $status
