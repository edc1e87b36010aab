#!/usr/bin/env bash
# A kernel UDP socket connected to a port nobody listens on gets ECONNREFUSED:
# the stack answers with ICMP port unreachable (RFC 1122 4.1.3.1).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

it_require_tools python3
it_setup
it_start_echo --port 7

it_log "check: send to closed port 9 on the stack -> ECONNREFUSED on the kernel socket"
it_ns timeout 30 python3 "$(dirname "${BASH_SOURCE[0]}")/udp_client.py" refused "$IT_STACK_ADDR" 9 \
  || it_fail "no ECONNREFUSED for a closed port (see above)"
it_log "check: the open port 7 still echoes afterwards"
it_ns timeout 30 python3 "$(dirname "${BASH_SOURCE[0]}")/udp_client.py" echo "$IT_STACK_ADDR" 7 64 \
  || it_fail "port 7 stopped echoing"
it_stop_echo
it_log "ts-echo's counters:"
cat "$IT_TMP/echo.err"
it_pass "closed port refused, open port served"
