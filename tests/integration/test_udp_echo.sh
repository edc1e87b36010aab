#!/usr/bin/env bash
# A kernel UDP client talks to 'ts-echo --udp': datagrams of many sizes, from
# two client sockets in turn, come back identical, including ones large enough
# to be fragmented in both directions.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

it_require_tools python3
it_setup
it_start_echo --port 7

sizes=(0 1 18 100 512 1472 1473 3000 8000 20000)
it_log "check: datagrams of ${sizes[*]} bytes from two kernel sockets are echoed identically"
it_ns timeout 90 python3 "$(dirname "${BASH_SOURCE[0]}")/udp_client.py" echo "$IT_STACK_ADDR" 7 "${sizes[@]}" \
  || it_fail "some datagrams were not echoed identically (see above)"
it_stop_echo
cat "$IT_TMP/echo.out"
expected=$((${#sizes[@]} * 2))
echoed=$(sed -nE 's/.*echoed ([0-9]+) datagrams.*/\1/p' "$IT_TMP/echo.out")
# Retries after a lost datagram may add a few; fewer would mean echoes went missing.
((${echoed:-0} >= expected)) || it_fail "ts-echo reports ${echoed:-no} datagrams echoed, expected at least $expected"
it_pass "every datagram came back identical"

it_log "check: without --udp, ts-echo serves TCP only: the UDP port is closed"
it_start_bg echo 100 "$TS_ECHO" --dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX" --port 7007
ECHO_PID=$IT_LAST_PID
it_wait_for_line echo "$ECHO_PID" "listening on tcp $IT_STACK_ADDR:7007" 10
if grep -q "listening on udp" "$IT_TMP/echo.out"; then
  it_fail "ts-echo without --udp also listens on UDP"
fi
it_ns timeout 30 python3 "$(dirname "${BASH_SOURCE[0]}")/udp_client.py" refused "$IT_STACK_ADDR" 7007 \
  || it_fail "ts-echo without --udp should leave UDP port 7007 closed (port unreachable)"
it_stop_echo
it_pass "TCP served, UDP left closed"
