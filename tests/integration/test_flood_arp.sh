#!/usr/bin/env bash
# ARP flood: ts-flood sends, for 8 s at full rate, ARP requests (most asking for the
# stack, so RFC 826 lets it learn the sender) and unsolicited replies from random MACs
# and addresses of the stack's own subnet, never the kernel's address. The ARP table
# must stay at its size, the flood must be counted (evictions or table-full drops),
# and a kernel TCP echo transfer running through it must come back identical: the
# legitimate peer's entry keeps working, or is learnt again when evicted.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/integration/flood_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/flood_lib.sh"

it_require_tools python3 ping
it_setup
fl_setup
fl_start_echo --tcp

it_log "check: 8 s of ARP from random neighbours; a 6 MB transfer goes on"
it_start_bg transfer 60 python3 "$FL_PEER" echo-transfer "$IT_STACK_ADDR" 7 6000000 8
transfer=$IT_LAST_PID
it_wait_for_line transfer "$transfer" "local port" 10
( sleep 4; fl_usage during ) &
sampler=$!
fl_flood 8 --mode arp --src-net 10.0.0.0/24 --protect "$IT_KERNEL_ADDR" --count 4000000
wait "$sampler" || it_fail "no usage report during the flood"
it_wait_exit transfer "$transfer" 50
((IT_STATUS == 0)) || { it_show transfer; it_fail "the transfer did not survive the ARP flood"; }
it_log "$(tail -n 1 "$IT_TMP/transfer.out")"
it_ns ping -c 2 -i 0.3 -W 2 "$IT_STACK_ADDR" >/dev/null || it_fail "pings fail after the ARP flood"
it_pass "the legitimate peer still reaches the stack"

fl_usage after
fl_stop_echo
table=$(grep -oE 'arp table [0-9]+/[0-9]+' "$IT_TMP/usage-during.txt")
used=$(fl_num "$IT_TMP/usage-during.txt" "arp table ")
size=${table##*/}
it_log "during the flood: $table; $(grep -oE ' (rx_requests|rx_replies|evicted|updated|drop_table_full|drop_not_for_us)=[0-9]+' "$IT_TMP/echo.err" | tr '\n' ' ')"
fl_expect_le "ARP entries during the flood" "$used" "$size"
fl_expect_gt "ARP requests received" "$(fl_counter rx_requests)" 1000
fl_expect_gt "ARP entries evicted or refused (table full)" $(($(fl_counter evicted) + $(fl_counter drop_table_full))) 0
mem_high=$(fl_num "$IT_TMP/usage-final.txt" "memory [0-9]+ bytes, high water ")
fl_expect_le "memory high water (bytes)" "$mem_high" $((8 * 1024 * 1024))
it_log "memory high water $mem_high bytes"
it_pass "ARP table bounded at $size entries, the flood counted"
