# shellcheck shell=bash
# Helpers the flood tests share on top of lib.sh; sourced after it, not run.
#
# The app under attack runs without a timeout wrapper (it_start_bg_direct) so that
# SIGUSR1 reaches it: each SIGUSR1 makes a tapstack app print its memory and limit
# usage ("syn queue 12/128, high water 128") on stderr.

# Finds ts-flood (set by CTest, else next to the build's apps) and the python peer.
fl_setup() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  TS_FLOOD=${TS_FLOOD:-$here/../../build/tests/integration/tools/ts-flood}
  [[ -x "$TS_FLOOD" ]] || it_fail "$TS_FLOOD is missing: build the tests first (or set TS_FLOOD)"
  # shellcheck disable=SC2034 # used by the tests that source this file
  FL_PEER="$here/flood_peer.py"
}

# fl_start_echo ARGS...: ts-echo in the namespace with --stats, routed through the kernel (so its
# answers to spoofed off-link sources go to the kernel, which does not forward them), ready.
fl_start_echo() {
  it_start_bg_direct echo "$TS_ECHO" --dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX" --gw "$IT_KERNEL_ADDR" --stats "$@"
  ECHO_PID=$IT_LAST_PID
  it_wait_for_line echo "$ECHO_PID" "listening on" 10
  # The kernel learns the stack's MAC: ts-flood reads it from the kernel's ARP table.
  it_ns ping -c 1 -W 2 "$IT_STACK_ADDR" >/dev/null || it_fail "the stack does not answer a ping"
}

# fl_usage LABEL: SIGUSR1 to ts-echo; its usage report goes to $IT_TMP/usage-LABEL.txt.
fl_usage() {
  local label=$1 before
  before=$(grep -c 'usage (now/limit)' "$IT_TMP/echo.err" || true)
  kill -USR1 "$ECHO_PID"
  for _ in $(seq 1 50); do
    (($(grep -c 'usage (now/limit)' "$IT_TMP/echo.err" || true) > before)) && break
    sleep 0.1
  done
  sleep 0.1
  awk -v n=$((before + 1)) '/usage \(now\/limit\)/ {k++} k == n' "$IT_TMP/echo.err" \
    | grep -v '^ *[0-9]*\.[0-9]* ' | head -n 11 >"$IT_TMP/usage-$label.txt"
  grep -q 'memory' "$IT_TMP/usage-$label.txt" || it_fail "no usage report after SIGUSR1 ($label)"
}

# fl_num FILE REGEX: the first number after REGEX in FILE (REGEX ends where the number starts).
fl_num() {
  local v
  v=$(grep -oE -- "$2[0-9]+" "$1" | head -n 1 | grep -oE '[0-9]+$' || true)
  echo "${v:-0}"
}

# fl_counter NAME: a counter from ts-echo's --stats (0 when absent: only non-zero ones are printed).
fl_counter() {
  fl_num "$IT_TMP/echo.err" " $1="
}

# fl_stop_echo: SIGTERM, exit status 0, no sanitizer report; the last usage block in usage-final.txt.
fl_stop_echo() {
  it_stop echo "$ECHO_PID"
  it_no_sanitizer_report "$IT_TMP/echo.err"
  ((IT_STATUS == 0)) || { it_show echo; it_fail "ts-echo exited with status $IT_STATUS after SIGTERM"; }
  awk '/usage \(now\/limit\)/ {buf = ""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$IT_TMP/echo.err" \
    >"$IT_TMP/usage-final.txt"
}

# fl_flood SECONDS ARGS...: ts-flood in the namespace against the stack, bounded; its summary line logged.
fl_flood() {
  local limit=$1
  shift
  it_ns timeout -k 2 "$((limit + 10))" "$TS_FLOOD" --dev tap0 --dst "$IT_STACK_ADDR" --duration "$limit" "$@" \
    >"$IT_TMP/flood.out" 2>"$IT_TMP/flood.err" || { cat "$IT_TMP/flood.err" >&2; it_fail "ts-flood $* failed"; }
  it_log "$(cat "$IT_TMP/flood.out")"
}

# fl_expect_le WHAT VALUE MAX
fl_expect_le() {
  (($2 <= $3)) || it_fail "$1: $2, expected at most $3"
}

# fl_expect_gt WHAT VALUE MIN
fl_expect_gt() {
  (($2 > $3)) || it_fail "$1: $2, expected more than $3"
}
