#!/usr/bin/env bash
# Fragment flood (RFC 791 reassembly under attack): ts-flood sends, for 8 s at full
# rate, overlapping fragments of datagrams that never complete, with ever new IDs and
# spoofed sources. The stack must stay responsive (a kernel TCP echo transfer comes
# back identical, fragmented pings are answered during and after), its reassembly
# memory must stay under its limit, and the drops must be counted. Then a junk flood
# (UDP to random ports, ICMP of random types) must leave ICMP errors rate limited.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/integration/flood_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/flood_lib.sh"

it_require_tools python3 ping
it_setup
fl_setup
fl_start_echo --udp --tcp

it_log "check: 8 s of never-completed fragments; a 4 MB transfer and fragmented pings go on"
it_start_bg transfer 60 python3 "$FL_PEER" echo-transfer "$IT_STACK_ADDR" 7 4000000 8
transfer=$IT_LAST_PID
it_wait_for_line transfer "$transfer" "local port" 10
it_start_bg pings 30 ping -c 20 -i 0.3 -W 2 -s 3000 "$IT_STACK_ADDR"
pings=$IT_LAST_PID
( sleep 4; fl_usage during ) &
sampler=$!
fl_flood 8 --mode frag --count 4000000
wait "$sampler" || it_fail "no usage report during the flood"
it_wait_exit transfer "$transfer" 50
((IT_STATUS == 0)) || { it_show transfer; it_fail "the transfer did not survive the fragment flood"; }
it_wait_exit pings "$pings" 30
replies=$(fl_num "$IT_TMP/pings.out" "transmitted, ")
fl_expect_gt "3000-byte pings answered during the flood" "$replies" 0
it_log "$(tail -n 1 "$IT_TMP/transfer.out"); $replies of 20 fragmented pings answered during the flood"
it_ns ping -c 3 -i 0.3 -W 2 -s 3000 "$IT_STACK_ADDR" >"$IT_TMP/after.out" \
  || { cat "$IT_TMP/after.out" >&2; it_fail "fragmented pings fail after the flood"; }
it_pass "responsive during and after the fragment flood"

it_log "check: 4 s of junk (UDP to random ports, ICMP of random types)"
fl_flood 4 --mode junk --count 1000000
it_ns ping -c 2 -i 0.3 -W 2 "$IT_STACK_ADDR" >/dev/null || it_fail "pings fail after the junk flood"
fl_usage after
fl_stop_echo

limit=$(grep -oE 'reassembly [0-9]+/[0-9]+ datagrams, [0-9]+/[0-9]+' "$IT_TMP/usage-final.txt" | cut -d/ -f3)
high=$(fl_num "$IT_TMP/usage-final.txt" "datagrams, [0-9]+/[0-9]+ bytes, high water ")
it_log "reassembly: $(grep reassembly "$IT_TMP/usage-during.txt" | tr -s ' ') during; high water $high of $limit bytes"
fl_expect_le "reassembly bytes high water" "$high" "$limit"
fl_expect_gt "reassembly bytes high water" "$high" 0
dropped=0
for c in drop_frag_overlap drop_frag_timeout drop_frag_table_full drop_frag_no_memory drop_frag_too_many; do
  dropped=$((dropped + $(fl_counter "$c")))
done
fl_expect_gt "fragments dropped under a counter" "$dropped" 1000
mem_high=$(fl_num "$IT_TMP/usage-final.txt" "memory [0-9]+ bytes, high water ")
fl_expect_le "memory high water (bytes)" "$mem_high" $((8 * 1024 * 1024))
it_log "fragment drops $dropped ($(grep -oE 'drop_frag_[a-z_]+=[0-9]+' "$IT_TMP/echo.err" | tr '\n' ' ')), memory high water $mem_high"
fl_expect_gt "ICMP errors held back by the rate limit" "$(fl_counter tx_errors_rate_limited)" 0
it_log "ICMP errors sent $(fl_counter tx_errors), rate limited $(fl_counter tx_errors_rate_limited)"
it_pass "reassembly bounded, drops counted, ICMP errors rate limited"
