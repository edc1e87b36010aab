#!/usr/bin/env bash
# ts-nc against the Linux kernel: a 1 MB file each way at once with a kernel
# 'nc -l' server (also over a seeded lossy link), the same with 'ts-nc -l' and
# a kernel nc client, half-close in both orders (ts-nc still receives after
# its FIN; still sends after the peer's FIN), "Connection refused" with exit
# status 1, and UDP both ways.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

it_require_tools python3 nc cmp head
nc -h 2>&1 | grep -q -- '-N' || it_fail "the kernel-side nc must be OpenBSD netcat (netcat-openbsd), for -N"
it_setup
TS_NC="$TS_APPS_DIR/ts-nc"
[[ -x "$TS_NC" ]] || it_fail "$TS_NC is missing: build the apps first"
stack=(--dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX")

# start_bg_from NAME INPUT SECONDS CMD...: as it_start_bg_direct, with stdin from INPUT (a background
# command's stdin is /dev/null unless the command itself redirects it), killed after SECONDS.
start_bg_from() {
  local name=$1 input=$2 limit=$3
  shift 3
  ip netns exec "$IT_NS" timeout -s TERM -k 5 "$limit" "$@" <"$input" >"$IT_TMP/$name.out" 2>"$IT_TMP/$name.err" &
  IT_LAST_PID=$!
  IT_PIDS+=("$IT_LAST_PID")
}

# stdin_until_received NAME INPUT OUTPUT SIZE: makes the fifo $IT_TMP/NAME.fifo that gives INPUT, then stays
# open (no end of file) until OUTPUT holds SIZE bytes or 20 s pass. A kernel 'nc -l' stops sending the moment
# the network side reaches end of file (OpenBSD netcat's readwrite: "listen and net in gone, queues empty,
# done"), so ts-nc must not send its FIN before all of the listener's input has arrived, or the listener
# quits with part of its stdin unsent and the check sees a short, yet correctly ended, stream.
stdin_until_received() {
  local name=$1 input=$2 output=$3 size=$4
  rm -f "$IT_TMP/$name.fifo" "$output"
  mkfifo "$IT_TMP/$name.fifo"
  {
    cat "$input"
    for _ in $(seq 400); do
      [[ -f "$output" ]] && (($(wc -c <"$output") >= size)) && break
      sleep 0.05
    done
  } >"$IT_TMP/$name.fifo" &
  IT_PIDS+=("$!")
}

# expect_exit NAME PID SECONDS STATUS: NAME must end by itself with STATUS.
expect_exit() {
  local name=$1 pid=$2 limit=$3 want=$4
  it_wait_exit "$name" "$pid" "$limit"
  it_no_sanitizer_report "$IT_TMP/$name.err"
  if ((IT_STATUS != want)); then
    it_show "$name"
    it_fail "$name exited with status $IT_STATUS, expected $want"
  fi
}

# same FILE_A FILE_B WHAT
same() {
  cmp "$1" "$2" >/dev/null || it_fail "$3: $(wc -c <"$2") bytes arrived, not the $(wc -c <"$1") sent (or they differ)"
}

head -c 1048576 /dev/urandom >"$IT_TMP/a"
head -c 1048576 /dev/urandom >"$IT_TMP/b"

it_log "check: ts-nc to a kernel 'nc -l': 1 MB each way at once, identical, both exit 0"
start_bg_from knc "$IT_TMP/b" 20 nc -N -l "$IT_KERNEL_ADDR" 5000
knc=$IT_LAST_PID
sleep 0.3
stdin_until_received tsnc "$IT_TMP/a" "$IT_TMP/tsnc.out" 1048576
start_bg_from tsnc "$IT_TMP/tsnc.fifo" 20 "$TS_NC" "${stack[@]}" "$IT_KERNEL_ADDR" 5000
tsnc=$IT_LAST_PID
expect_exit tsnc "$tsnc" 20 0
expect_exit knc "$knc" 10 0
same "$IT_TMP/a" "$IT_TMP/knc.out" "ts-nc -> kernel"
same "$IT_TMP/b" "$IT_TMP/tsnc.out" "kernel -> ts-nc"
it_pass "1 MB both ways through a kernel nc -l"

it_log "check: the same over an impaired link (seeded loss, reordering, duplicates): still identical"
start_bg_from knc "$IT_TMP/b" 30 nc -N -l "$IT_KERNEL_ADDR" 5010
knc=$IT_LAST_PID
sleep 0.3
stdin_until_received tsnc "$IT_TMP/a" "$IT_TMP/tsnc.out" 1048576
start_bg_from tsnc "$IT_TMP/tsnc.fifo" 30 "$TS_NC" "${stack[@]}" --impair loss=2%,reorder=5%,dup=1% --seed 7 --stats \
  "$IT_KERNEL_ADDR" 5010
tsnc=$IT_LAST_PID
expect_exit tsnc "$tsnc" 30 0
expect_exit knc "$knc" 10 0
same "$IT_TMP/a" "$IT_TMP/knc.out" "ts-nc -> kernel, impaired"
same "$IT_TMP/b" "$IT_TMP/tsnc.out" "kernel -> ts-nc, impaired"
it_expect_in "$IT_TMP/tsnc.err" 'impair dropped=[1-9]' "the impairment's report"
it_log "$(grep -E '^  (tcp|impair) ' "$IT_TMP/tsnc.err" | tr -s ' ')"
it_pass "1 MB both ways over an impaired link"

it_log "check: 'ts-nc -l' with a kernel nc client: 1 MB each way at once, identical, both exit 0"
start_bg_from tsnc "$IT_TMP/a" 20 "$TS_NC" "${stack[@]}" -v -l 5001
tsnc=$IT_LAST_PID
sleep 0.5 # the stack announces itself before ts-nc listens; the kernel's first SYN finds it
start_bg_from knc "$IT_TMP/b" 20 nc -N "$IT_STACK_ADDR" 5001
knc=$IT_LAST_PID
expect_exit knc "$knc" 20 0
expect_exit tsnc "$tsnc" 10 0
same "$IT_TMP/a" "$IT_TMP/knc.out" "ts-nc -l -> kernel"
same "$IT_TMP/b" "$IT_TMP/tsnc.out" "kernel -> ts-nc -l"
it_expect_in "$IT_TMP/tsnc.err" "connection received on tcp $IT_KERNEL_ADDR port [0-9]+" "ts-nc -v's line"
it_pass "1 MB both ways through ts-nc -l"

it_log "check: half-close: after its FIN, ts-nc still receives the peer's answer"
it_start_bg peer 20 python3 "$here/tcp_peer.py" half-close-server "$IT_KERNEL_ADDR" 5002
peer=$IT_LAST_PID
it_wait_for_line peer "$peer" ready 10
start_bg_from tsnc "$IT_TMP/a" 20 "$TS_NC" "${stack[@]}" "$IT_KERNEL_ADDR" 5002
expect_exit tsnc "$IT_LAST_PID" 20 0
expect_exit peer "$peer" 10 0
[[ "$(cat "$IT_TMP/tsnc.out")" == "got 1048576 bytes" ]] \
  || it_fail "ts-nc printed '$(head -c 200 "$IT_TMP/tsnc.out")', expected the answer sent after its FIN"
it_pass "the answer to our FIN arrived"

it_log "check: half-close: after the peer's FIN, ts-nc still sends all of stdin"
it_start_bg peer 20 python3 "$here/tcp_peer.py" early-fin-server "$IT_KERNEL_ADDR" 5003 hello
peer=$IT_LAST_PID
it_wait_for_line peer "$peer" ready 10
# stdin starts after a pause, so the peer's FIN is surely in before our first byte.
ip netns exec "$IT_NS" timeout 20 bash -c "sleep 0.5; cat '$IT_TMP/a'" \
  | ip netns exec "$IT_NS" timeout 20 "$TS_NC" "${stack[@]}" "$IT_KERNEL_ADDR" 5003 >"$IT_TMP/tsnc.out" \
    2>"$IT_TMP/tsnc.err" || it_fail "ts-nc exited with status $? after the peer's early FIN"
expect_exit peer "$peer" 10 0
it_no_sanitizer_report "$IT_TMP/tsnc.err"
[[ "$(cat "$IT_TMP/tsnc.out")" == "hello" ]] || it_fail "ts-nc printed '$(cat "$IT_TMP/tsnc.out")', expected hello"
it_expect_in "$IT_TMP/peer.out" '^received 1048576$' "bytes the peer got after its own FIN"
it_pass "1 MB sent after the peer's FIN"

it_log "check: nobody listening: exit status 1 and the connect error"
status=0
ip netns exec "$IT_NS" timeout 20 "$TS_NC" "${stack[@]}" "$IT_KERNEL_ADDR" 5999 </dev/null >"$IT_TMP/refused.out" \
  2>"$IT_TMP/refused.err" || status=$?
it_no_sanitizer_report "$IT_TMP/refused.err"
((status == 1)) || { cat "$IT_TMP/refused.err"; it_fail "ts-nc exited with status $status, expected 1"; }
it_expect_in "$IT_TMP/refused.err" "^ts-nc: connect to $IT_KERNEL_ADDR port 5999: Connection refused$" "the error line"
it_pass "refused: $(cat "$IT_TMP/refused.err")"

it_log "check: UDP: ts-nc -u to a kernel echo server, then ts-nc -u -l answering a kernel client"
it_start_bg peer 20 python3 "$here/tcp_peer.py" udp-echo-server "$IT_KERNEL_ADDR" 5004 8
peer=$IT_LAST_PID
it_wait_for_line peer "$peer" ready 10
printf 'datagram one\n' >"$IT_TMP/udp.in"
start_bg_from tsnc "$IT_TMP/udp.in" 20 "$TS_NC" "${stack[@]}" -u -w 1 "$IT_KERNEL_ADDR" 5004
expect_exit tsnc "$IT_LAST_PID" 15 0
[[ "$(cat "$IT_TMP/tsnc.out")" == "datagram one" ]] || it_fail "ts-nc -u printed '$(cat "$IT_TMP/tsnc.out")'"
printf 'the answer\n' >"$IT_TMP/udp.answer"
start_bg_from tsnc "$IT_TMP/udp.answer" 20 "$TS_NC" "${stack[@]}" -u -l -w 2 5005
tsnc=$IT_LAST_PID
sleep 0.5
it_ns timeout 10 python3 "$here/tcp_peer.py" udp-exchange "$IT_STACK_ADDR" 5005 question >"$IT_TMP/kudp.out" \
  || it_fail "the kernel UDP client got no answer from ts-nc -u -l"
expect_exit tsnc "$tsnc" 15 0
[[ "$(cat "$IT_TMP/kudp.out")" == "the answer" ]] || it_fail "the kernel client got '$(cat "$IT_TMP/kudp.out")'"
[[ "$(cat "$IT_TMP/tsnc.out")" == "question" ]] || it_fail "ts-nc -u -l printed '$(cat "$IT_TMP/tsnc.out")'"
it_pass "UDP both ways"

it_log "check: usage errors exit 2"
for bad in "" "-l" "10.0.0.1" "-l 10.0.0.1 80" "10.0.0.1 0" "nohost 80" "-w x 10.0.0.1 80"; do
  status=0
  # shellcheck disable=SC2086 # the words are the arguments
  timeout 10 "$TS_NC" $bad </dev/null >/dev/null 2>"$IT_TMP/usage.err" || status=$?
  ((status == 2)) || it_fail "'ts-nc $bad' exited with status $status, expected 2"
  [[ $(wc -l <"$IT_TMP/usage.err") -eq 1 ]] || it_fail "'ts-nc $bad' printed more than one line: $(cat "$IT_TMP/usage.err")"
done
it_pass "usage errors"
