#!/usr/bin/env bash
# The whole test suite, as the README promises and CI runs it:
# installs what is missing, builds tapstack twice (plain, then with
# AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer) and runs every
# test (unit, replay, integration in private network namespaces) in each build.
#
#   scripts/test.sh            both builds
#   TS_TEST_BUILDS=plain scripts/test.sh   one of them (plain or asan)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
builds=${TS_TEST_BUILDS:-"plain asan"}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0
failed_builds=()
for variant in $builds; do
  case "$variant" in
    plain) dir=build; flags=(-DTS_SANITIZE=OFF) ;;
    asan)  dir=build-asan; flags=(-DTS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug) ;;
    *) echo "test.sh: unknown build '$variant' (plain or asan)" >&2; exit 2 ;;
  esac
  echo "==> $variant build in $dir/"
  cmake -S . -B "$dir" "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs" >"$dir/build.log" 2>&1 || { cat "$dir/build.log" >&2; exit 1; }
  echo "==> $variant tests"
  log="$dir/ctest.log"
  if ctest --test-dir "$dir" -j "$jobs" --output-on-failure --timeout 300 2>&1 | tee "$log"; then :; else :; fi
  total=$(sed -nE 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\2/p' "$log" | tail -n1)
  bad=$(sed -nE 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\1/p' "$log" | tail -n1)
  if [[ -z "$total" ]]; then
    echo "test.sh: ctest printed no summary for the $variant build" >&2
    failed_builds+=("$variant"); failed=$((failed + 1)); continue
  fi
  passed=$((passed + total - bad))
  failed=$((failed + bad))
  ((bad == 0)) || failed_builds+=("$variant")
done

# Fuzzing: each libFuzzer target for a bounded time under ASan + UBSan (counted as one test).
fuzz_seconds=${TS_FUZZ_SECONDS:-30}
if [[ "$fuzz_seconds" != 0 ]]; then
  if scripts/fuzz.sh "$fuzz_seconds"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failed_builds+=("fuzz")
  fi
fi

echo
echo "suite: $passed passed, $failed failed"
if ((failed > 0)); then
  echo "failing builds: ${failed_builds[*]}" >&2
  exit 1
fi
