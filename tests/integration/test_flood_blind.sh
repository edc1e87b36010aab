#!/usr/bin/env bash
# Blind in-window attacks (RFC 5961) against a live connection: while a kernel client's
# 8 MB echo transfer runs, ts-flood spoofs the kernel's address and port and sends RSTs
# whose sequence numbers sweep the whole space (many land in the window), then pure
# ACKs with random acknowledgment numbers. Only a RST at exactly RCV.NXT may reset the
# connection; the others must be dropped or answered with rate-limited challenge ACKs, and
# the ACKs that answer out-of-window segments must be rate limited too.
# The transfer must come back identical.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/integration/flood_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/flood_lib.sh"

it_require_tools python3 ping
it_setup
fl_setup
fl_start_echo --tcp

it_log "check: blind RSTs then blind ACKs against a live 8 MB transfer"
it_start_bg transfer 60 python3 "$FL_PEER" echo-transfer "$IT_STACK_ADDR" 7 8000000 20
transfer=$IT_LAST_PID
it_wait_for_line transfer "$transfer" "local port" 10
port=$(fl_num "$IT_TMP/transfer.out" "local port ")
it_log "the live connection: $IT_KERNEL_ADDR:$port -> $IT_STACK_ADDR:7"
# 200000 guesses sweep the space once (a step of 21475: a few inside any window), paced so that the
# TAP queue drops none of them, even to a slow sanitizer build.
fl_flood 10 --mode blind-rst --peer "$IT_KERNEL_ADDR:$port" --dport 7 --count 200000 --rate 25000
rst_flood=$(cat "$IT_TMP/flood.out")
fl_flood 6 --mode blind-ack --peer "$IT_KERNEL_ADDR:$port" --dport 7 --count 200000 --rate 40000
it_wait_exit transfer "$transfer" 50
((IT_STATUS == 0)) || { it_show transfer; it_fail "the transfer did not survive the blind attacks"; }
it_log "$(tail -n 1 "$IT_TMP/transfer.out")"
it_pass "the live connection was neither reset nor corrupted"

fl_stop_echo
counts=$(grep -oE ' (challenge_acks|challenge_acks_limited|drop_rst_out_of_window|drop_out_of_window|drop_bad_ack|resets_received|tx_segments|oow_acks_limited)=[0-9]+' "$IT_TMP/echo.err" | tr '\n' ' ')
it_log "after $rst_flood and $(cat "$IT_TMP/flood.out"): $counts"
# Guesses outside the window are dropped (RFC 9293 3.10.7.4 first check); those inside it but not
# at RCV.NXT get a challenge ACK instead of a reset (RFC 5961 3.2, 5.2).
fl_expect_gt "blind segments dropped as out of the window" "$(fl_counter drop_out_of_window)" 1000
fl_expect_gt "challenge ACKs sent (in-window RSTs and unacceptable ACKs)" "$(fl_counter challenge_acks)" 0
# Each blind ACK outside the window would be answered with an ACK: one per 500 ms is.
fl_expect_gt "answers to out-of-window ACKs held back" "$(fl_counter oow_acks_limited)" 1000
fl_expect_le "resets taken from the wire" "$(fl_counter resets_received)" 0
it_pass "blind RSTs and ACKs dropped or challenged, every one counted"
