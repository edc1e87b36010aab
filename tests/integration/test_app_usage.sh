#!/usr/bin/env bash
# Command-line errors: every wrong flag or malformed value makes an app exit
# with status 2 and exactly one line "ts-xxx: <what is wrong>" on stderr,
# before it touches any device. --help exits 0. No namespace needed.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

it_find_apps
tmp=$(mktemp -d /tmp/tsit-usage.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

failures=0
expect_usage_error() {
  local app=$1
  shift
  local status=0
  timeout 10 "$TS_APPS_DIR/$app" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
  local lines
  lines=$(wc -l <"$tmp/err")
  if ((status == 2)) && ((lines == 1)) && grep -q "^$app: " "$tmp/err" && [[ ! -s "$tmp/out" ]]; then
    echo "ok   $app $*  ->  $(cat "$tmp/err")"
  else
    echo "FAIL $app $*  ->  status $status, $lines stderr line(s):" >&2
    cat "$tmp/err" "$tmp/out" >&2
    failures=$((failures + 1))
  fi
}

it_log "check: wrong flags and malformed values exit 2 with one line"
for app in ts-echo ts-ping; do
  host=()
  [[ $app == ts-ping ]] && host=(10.0.0.1)
  expect_usage_error "$app" --bogus "${host[@]}"
  expect_usage_error "$app" -Z "${host[@]}"
  expect_usage_error "$app" --addr 10.0.0.300/24 "${host[@]}"
  expect_usage_error "$app" --addr 10.0.0.2 "${host[@]}"
  expect_usage_error "$app" --addr 10.0.0.2/33 "${host[@]}"
  expect_usage_error "$app" --addr 10.0.0.0/24 "${host[@]}"
  expect_usage_error "$app" --addr 10.0.0.2/24 --gw 192.168.1.1 "${host[@]}"
  expect_usage_error "$app" --gw nope "${host[@]}"
  expect_usage_error "$app" --mac 02:00:00:00:00 "${host[@]}"
  expect_usage_error "$app" --mac 01:00:5e:00:00:01 "${host[@]}"
  expect_usage_error "$app" --seed -1 "${host[@]}"
  expect_usage_error "$app" --seed 18446744073709551616 "${host[@]}"
  expect_usage_error "$app" --trace=bogus "${host[@]}"
  expect_usage_error "$app" --impair loss=200% "${host[@]}"
  expect_usage_error "$app" --impair nonsense "${host[@]}"
  expect_usage_error "$app" --dev "" "${host[@]}"
  expect_usage_error "$app" --stats=yes "${host[@]}"
  expect_usage_error "$app" "${host[@]}" --addr
done
expect_usage_error ts-echo --port 0
expect_usage_error ts-echo --port 70000
expect_usage_error ts-echo stray-argument
expect_usage_error ts-ping
expect_usage_error ts-ping example.org
expect_usage_error ts-ping 10.0.0.1 10.0.0.3
expect_usage_error ts-ping -c 0 10.0.0.1
expect_usage_error ts-ping -c x 10.0.0.1
expect_usage_error ts-ping -s 65508 10.0.0.1
expect_usage_error ts-ping -i -1 10.0.0.1
expect_usage_error ts-ping -W 0 10.0.0.1
expect_usage_error ts-ping 10.0.0.1 -c
((failures == 0)) || it_fail "$failures invocation(s) did not fail cleanly with status 2 and one line"
it_pass "every bad invocation exits 2 with one line"

it_log "check: --help exits 0 and prints the usage"
for app in ts-echo ts-ping; do
  status=0
  "$TS_APPS_DIR/$app" --help >"$tmp/help" 2>&1 || status=$?
  ((status == 0)) || it_fail "$app --help exited with $status"
  grep -q "^Usage: $app " "$tmp/help" || it_fail "$app --help prints no Usage line"
  grep -q -- "--impair SPEC" "$tmp/help" || it_fail "$app --help does not list the common options"
done
it_pass "--help works"
