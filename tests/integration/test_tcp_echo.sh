#!/usr/bin/env bash
# Kernel TCP clients talk to ts-echo's TCP echo (the default without --udp):
# lines and a 1 MB file sent by OpenBSD nc (-N: FIN at EOF) come back identical,
# 20 kernel sockets at once each get their 100 KB back identical, and
# 'ts-echo --udp --tcp' serves both protocols on one port.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

it_require_tools python3 nc cmp head
nc -h 2>&1 | grep -q -- '-N' || it_fail "the kernel-side nc must be OpenBSD netcat (netcat-openbsd), for -N"
it_setup

start_tcp_echo() {
  it_start_bg echo 60 "$TS_ECHO" --dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX" --stats "$@"
  ECHO_PID=$IT_LAST_PID
  it_wait_for_line echo "$ECHO_PID" "listening on tcp" 10
  it_log "ts-echo is up: $(head -n 1 "$IT_TMP/echo.out")"
}

# nc_echo NAME: sends $IT_TMP/NAME through ts-echo on port 7 and expects it back identical.
nc_echo() {
  local name=$1
  it_ns timeout 15 nc -N "$IT_STACK_ADDR" 7 <"$IT_TMP/$name" >"$IT_TMP/$name.back" \
    || it_fail "nc -N to ts-echo for $name exited with status $?"
  cmp "$IT_TMP/$name" "$IT_TMP/$name.back" \
    || it_fail "$name came back different ($(wc -c <"$IT_TMP/$name.back") of $(wc -c <"$IT_TMP/$name") bytes)"
}

start_tcp_echo --port 7

it_log "check: lines sent by a kernel nc come back identical, then nc sees the server's FIN"
printf 'first line\nsecond line\n\nlast line, no newline' >"$IT_TMP/lines"
nc_echo lines
it_pass "lines echoed"

it_log "check: a 1 MB file comes back identical"
head -c 1048576 /dev/urandom >"$IT_TMP/big"
nc_echo big
it_pass "1 MB echoed identically"

it_log "check: 20 kernel clients at once, 100 KB each, all while reading their echoes"
it_ns timeout 60 python3 "$here/tcp_peer.py" echo-clients "$IT_STACK_ADDR" 7 20 102400 \
  || it_fail "the concurrent clients did not all get their data back (see above)"
it_pass "20 concurrent clients echoed"

it_stop_echo
cat "$IT_TMP/echo.out"
it_expect_in "$IT_TMP/echo.out" 'tcp: 22 connections \(22 closed by the client, 0 failed\)' "ts-echo's totals"
it_pass "ts-echo counted 22 connections, all closed by their clients"

it_log "check: --udp --tcp serves both protocols on port 7007"
it_start_bg echo 60 "$TS_ECHO" --udp --tcp --dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX" --port 7007
ECHO_PID=$IT_LAST_PID
it_wait_for_line echo "$ECHO_PID" "listening on udp $IT_STACK_ADDR:7007" 10
it_expect_in "$IT_TMP/echo.out" "listening on tcp $IT_STACK_ADDR:7007" "ts-echo's TCP ready line"
it_ns timeout 30 python3 "$here/udp_client.py" echo "$IT_STACK_ADDR" 7007 100 1472 \
  || it_fail "ts-echo --udp --tcp does not echo UDP"
printf 'over tcp\n' | it_ns timeout 10 nc -N "$IT_STACK_ADDR" 7007 >"$IT_TMP/both.back" \
  || it_fail "nc to ts-echo --udp --tcp failed"
[[ "$(cat "$IT_TMP/both.back")" == "over tcp" ]] || it_fail "TCP echo on 7007 returned '$(cat "$IT_TMP/both.back")'"
it_stop_echo
it_pass "UDP and TCP served together"
