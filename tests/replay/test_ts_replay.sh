#!/bin/sh
# ts-replay on captures of captures/: what a learner reads must be there, the same every run.
#   test_ts_replay.sh TS_REPLAY CAPTURES_DIR
# Each check prints its name; the first failure stops the script (exit 1). No network, no root.
set -u
REPLAY=$1
CAPS=$2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM

fail() {
    echo "FAIL: $*"
    exit 1
}

# has FILE TEXT: the output holds the text (fixed string)
has() {
    grep -qF -- "$2" "$1" || fail "$(basename "$1") lacks: $2"
}

hasnt() {
    if grep -qF -- "$2" "$1"; then fail "$(basename "$1") should not hold: $2"; fi
}

run() { # run NAME ARGS...: output in $WORK/NAME, exit status checked to be 0
    name=$1
    shift
    "$REPLAY" "$@" >"$WORK/$name" 2>"$WORK/$name.err" </dev/null || fail "ts-replay $* exited $? ($(cat "$WORK/$name.err"))"
}

echo "handshake_shows_state_transitions_and_matches_the_case"
run echo "$CAPS/tcp_server_echo.pcap"
has "$WORK/echo" "setup: from $CAPS/tcp_server_echo.case"
has "$WORK/echo" "#4  +0.010000s  10.0.0.1 --> tapstack"
has "$WORK/echo" "TCP 40000 > 7 [S] seq 0 win 64240"
has "$WORK/echo" "CLOSED -> SYN-RECEIVED" # the core's trace line (its wording is the core's)
has "$WORK/echo" "SYN-RECEIVED -> ESTABLISHED"
has "$WORK/echo" "<-- +0.010000s tapstack sent (its frame 3)"
has "$WORK/echo" "capture frame 5 +0.010000s: same as tapstack's"
has "$WORK/echo" "=> accepted"
has "$WORK/echo" "every answer is the same as the original's"
hasnt "$WORK/echo" "DIFFERS"

echo "tcb_shows_rfc9293_variables_before_and_after"
run tcb "$CAPS/tcp_server_echo.pcap" --tcb
has "$WORK/tcb" "control blocks (before -> after):"
has "$WORK/tcb" "tcb 0.0.0.0:7 listener: LISTEN"
has "$WORK/tcb" "tcb 10.0.0.2:7 > 10.0.0.1:40000 (new): SYN-RECEIVED"
has "$WORK/tcb" "tcb 10.0.0.2:7 > 10.0.0.1:40000: SYN-RECEIVED -> ESTABLISHED"
for field in "SND.UNA" "SND.NXT" "SND.WND" "RCV.NXT" "RCV.WND" "cwnd" "ssthresh" "SRTT" "RTTVAR" "RTO" \
    "timer.rto" "out-of-order" "sndbuf" "rcvbuf"; do
    has "$WORK/tcb" " $field "
done
has "$WORK/tcb" "SND.UNA 0 -> 1"
has "$WORK/tcb" "SRTT - -> 1ms"

echo "runs_are_identical"
run a "$CAPS/live_tcp_nc_client.pcap" --stack-addr 10.0.0.1 --tcb
run b "$CAPS/live_tcp_nc_client.pcap" --stack-addr 10.0.0.1 --tcb
cmp -s "$WORK/a" "$WORK/b" || fail "two runs differ: $(diff "$WORK/a" "$WORK/b" | head -5)"

echo "compare_marks_where_tapstack_answers_linux_differently"
has "$WORK/a" "setup: tapstack plays 10.0.0.1 (--stack-addr)"
has "$WORK/a" "at 0 tcp-listen 5000"
has "$WORK/a" "DIFFERS: tcp.window: original 65160, tapstack 65535; tcp.opt.wscale: original 10, tapstack 2"
has "$WORK/a" "window in bytes, after scaling (RFC 7323 2.2): original 65536, tapstack 131072"
has "$WORK/a" "note: tapstack's numbers are not the original host's"
has "$WORK/a" "time: original +0.194134s, tapstack +0.393985s (199.851 ms later)" # tapstack's delayed ACK
hasnt "$WORK/a" " [R] " # the peer's ACKs, moved into tapstack's numbers, are acceptable: no reset
has "$WORK/a" "the original sent nothing more here (DIFFERS)"
has "$WORK/a" "frames differ from the original's"

echo "until_stops_after_the_frame"
run until "$CAPS/tcp_server_echo.pcap" --until 6
has "$WORK/until" "#6  +0.011000s"
hasnt "$WORK/until" "#7 "
has "$WORK/until" "stopped before capture frame 7 (--until)"
has "$WORK/until" "summary: 3 frames fed"

echo "step_waits_for_a_line_per_frame_and_q_quits"
printf '\n\n\n' | "$REPLAY" "$CAPS/tcp_server_echo.pcap" --step >"$WORK/step" 2>"$WORK/step.err" || fail "--step exited $?"
cmp -s "$WORK/step" "$WORK/echo" || fail "--step changed the output"
[ "$(grep -o 'Enter: frame' "$WORK/step.err" | wc -l)" -eq 4 ] || fail "--step should prompt 4 times: $(cat "$WORK/step.err")"
has "$WORK/step.err" "[ts-replay] Enter: frame 2; q: quit"
has "$WORK/step.err" "(end of input: running to the end)"
printf '\nq\n' | "$REPLAY" "$CAPS/tcp_server_echo.pcap" --step >"$WORK/stepq" 2>/dev/null || fail "--step q exited $?"
has "$WORK/stepq" "stopped before capture frame 4"
hasnt "$WORK/stepq" "#4 "

echo "a_dropped_frame_names_its_counter"
run drop "$CAPS/malformed_ipv4_header.pcap"
has "$WORK/drop" "=> dropped (ip.drop_"
has "$WORK/drop" "the reason is traced above"

echo "out_of_order_data_is_reported_as_queued"
run ooo "$CAPS/tcp_out_of_order_sack.pcap"
has "$WORK/ooo" "=> queued out of order (1000 bytes held beyond RCV.NXT"

echo "a_capture_without_case_file_gets_a_guessed_setup"
cp "$CAPS/live_tcp_echo_server.pcap" "$WORK/conversation.pcap"
run guess "$WORK/conversation.pcap"
has "$WORK/guess" "setup: tapstack plays 10.0.0.2 (it received the first SYN (frame 4, 10.0.0.1:39248 > 10.0.0.2:7): tapstack is the server)"
has "$WORK/guess" "    at 0 tcp-listen 7"
has "$WORK/guess" "    at 0.318492 tcp-send \"hello tapstack\\n\""
has "$WORK/guess" "every answer is the same as the original's"
cp "$CAPS/live_tcp_nc_client.pcap" "$WORK/client.pcap"
run client "$WORK/client.pcap" --stack-addr 10.0.0.2 --setup
has "$WORK/client" "tcp-connect 10.0.0.1:5000"
hasnt "$WORK/client" "replaying"

echo "bad_arguments_exit_2"
"$REPLAY" "$WORK/missing.pcap" >/dev/null 2>&1
[ $? -eq 2 ] || fail "a missing capture should exit 2"
"$REPLAY" "$CAPS/tcp_server_echo.pcap" --until 0 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--until 0 should exit 2"
"$REPLAY" >/dev/null 2>&1
[ $? -eq 2 ] || fail "no capture should exit 2"

echo "break_at_stops_in_gdb_before_ts_stack_input"
if command -v gdb >/dev/null 2>&1; then
    # the commands docs/stepping-through.md gives
    gdb -q -batch -ex 'set pagination off' -ex 'break ts_replay_break' -ex run -ex 'print frame_no' \
        -ex 'tbreak ts_stack_input' -ex continue -ex 'bt 2' \
        --args "$REPLAY" "$CAPS/tcp_server_echo.pcap" --break-at 4 >"$WORK/gdb" 2>&1
    has "$WORK/gdb" "Breakpoint 1, ts_replay_break (frame_no="
    has "$WORK/gdb" "\$1 = 4"
    grep -q "^#0  ts_stack_input (" "$WORK/gdb" || fail "did not stop in ts_stack_input: $(tail -5 "$WORK/gdb")"
    grep -q "^#1 .* feed_inputs (" "$WORK/gdb" || fail "ts_stack_input not called from feed_inputs: $(tail -5 "$WORK/gdb")"
    has "$WORK/gdb" "#4  +0.010000s  10.0.0.1 --> tapstack"
    hasnt "$WORK/gdb" "#6  +0.011000s"
else
    echo "  (gdb not installed: skipped)"
fi
echo "all passed"
