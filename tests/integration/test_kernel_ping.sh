#!/usr/bin/env bash
# The kernel pings the stack (which answers by itself while ts-echo runs):
# a few ordinary pings, 4000-byte pings fragmented in both directions, and a
# burst of 1000 pings 1 ms apart with no loss.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

it_require_tools ping tshark
it_setup
it_start_echo --pcap "$IT_TMP/ping.pcap"

it_log "check: kernel 'ping -c 5 $IT_STACK_ADDR' gets 5 replies"
it_ns timeout 30 ping -n -c 5 -i 0.2 -W 5 "$IT_STACK_ADDR" >"$IT_TMP/ping5.txt" 2>&1 || { cat "$IT_TMP/ping5.txt" >&2; it_fail "ping -c 5 failed"; }
it_expect_in "$IT_TMP/ping5.txt" '5 packets transmitted, 5 received, 0% packet loss' "ping -c 5"
it_pass "5/5 replies"

it_log "check: kernel 'ping -s 4000' (fragmented both ways) gets every reply"
it_ns timeout 30 ping -n -c 3 -i 0.2 -W 5 -s 4000 "$IT_STACK_ADDR" >"$IT_TMP/ping4000.txt" 2>&1 || { cat "$IT_TMP/ping4000.txt" >&2; it_fail "ping -s 4000 failed"; }
it_expect_in "$IT_TMP/ping4000.txt" '3 packets transmitted, 3 received, 0% packet loss' "ping -s 4000"
it_expect_in "$IT_TMP/ping4000.txt" '^4008 bytes from' "ping -s 4000 reply size"
it_pass "3/3 replies of 4008 bytes"

it_log "check: a burst of 1000 pings 1 ms apart loses nothing"
it_ns timeout 60 ping -n -q -c 1000 -i 0.001 -W 5 "$IT_STACK_ADDR" >"$IT_TMP/burst.txt" 2>&1 || { cat "$IT_TMP/burst.txt" >&2; it_fail "the burst failed"; }
cat "$IT_TMP/burst.txt"
it_expect_in "$IT_TMP/burst.txt" '1000 packets transmitted, 1000 received, 0% packet loss' "ping burst"
it_pass "1000/1000 replies"

it_stop_echo
it_log "ts-echo's counters:"
cat "$IT_TMP/echo.err"

it_log "check: the capture shows fragments in both directions"
from_kernel=$(tshark -r "$IT_TMP/ping.pcap" -Y "ip.src==$IT_KERNEL_ADDR && ip.flags.mf==1" 2>/dev/null | wc -l)
from_stack=$(tshark -r "$IT_TMP/ping.pcap" -Y "ip.src==$IT_STACK_ADDR && ip.flags.mf==1" 2>/dev/null | wc -l)
it_log "non-final fragments: $from_kernel from the kernel, $from_stack from the stack"
((from_kernel >= 6)) || it_fail "expected at least 6 non-final fragments from the kernel (3 requests x 2), saw $from_kernel"
((from_stack >= 6)) || it_fail "expected at least 6 non-final fragments from the stack (3 replies x 2), saw $from_stack"
it_pass "fragmented both ways"
