#!/usr/bin/env bash
# ts-ping, run on the stack, pings the kernel: replies, the iputils-style summary,
# exit status 0; each reply's ttl= (read with recvmsg and IP_RECVTTL) is the TTL
# the kernel sent, in the place iputils prints it; fragmented requests; exit
# status 1 for a host that never answers; and a clean summary when interrupted
# with SIGINT.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

it_setup
ping_args=(--dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX")

# reply_re SEQ TTL: iputils' reply line for a 56-byte ping of the kernel, as an extended regex.
reply_re() {
  echo "^64 bytes from $IT_KERNEL_ADDR: icmp_seq=$1 ttl=$2 time=[0-9.]+ ms\$"
}

it_log "check: 'ts-ping -c 3 $IT_KERNEL_ADDR' gets 3 replies, prints the summary, exits 0"
status=0
it_ns timeout 30 "$TS_PING" "${ping_args[@]}" --stats -c 3 -i 0.2 "$IT_KERNEL_ADDR" >"$IT_TMP/p3.out" 2>"$IT_TMP/p3.err" || status=$?
cat "$IT_TMP/p3.out"
it_no_sanitizer_report "$IT_TMP/p3.err"
((status == 0)) || { cat "$IT_TMP/p3.err" >&2; it_fail "ts-ping exited with $status, expected 0"; }
it_expect_in "$IT_TMP/p3.out" "^PING $IT_KERNEL_ADDR \\($IT_KERNEL_ADDR\\) 56\\(84\\) bytes of data\\.$" "ts-ping header"
# The kernel answers an echo request with its default TTL, 64 unless the namespace says otherwise.
kernel_ttl=$(it_ns sysctl -n net.ipv4.ip_default_ttl)
it_expect_in "$IT_TMP/p3.out" "$(reply_re 3 "$kernel_ttl")" "ts-ping reply line"
replies=$(grep -Ec "$(reply_re '[123]' "$kernel_ttl")" "$IT_TMP/p3.out" || true)
((replies == 3)) || it_fail "expected 3 reply lines with ttl=$kernel_ttl, found $replies"
it_expect_in "$IT_TMP/p3.out" "^--- $IT_KERNEL_ADDR ping statistics ---$" "ts-ping summary header"
it_expect_in "$IT_TMP/p3.out" '^3 packets transmitted, 3 received, 0% packet loss, time [0-9]+ms$' "ts-ping summary"
it_expect_in "$IT_TMP/p3.out" '^rtt min/avg/max/mdev = [0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+ ms$' "ts-ping rtt line"
it_expect_in "$IT_TMP/p3.err" 'statistics' "ts-ping --stats"
it_pass "3/3 replies with ttl=$kernel_ttl, summary printed, exit 0"

it_log "check: ttl= is the TTL the reply arrived with (kernel default TTL set to 42 in the namespace)"
it_ns sysctl -q -w net.ipv4.ip_default_ttl=42
status=0
it_ns timeout 30 "$TS_PING" "${ping_args[@]}" -c 1 "$IT_KERNEL_ADDR" >"$IT_TMP/pttl.out" 2>&1 || status=$?
it_ns sysctl -q -w net.ipv4.ip_default_ttl="$kernel_ttl"
cat "$IT_TMP/pttl.out"
it_no_sanitizer_report "$IT_TMP/pttl.out"
((status == 0)) || it_fail "ts-ping -c 1 exited with $status"
it_expect_in "$IT_TMP/pttl.out" "$(reply_re 1 42)" "ts-ping ttl= follows the kernel"
it_pass "ttl=42 reported"

if command -v ping >/dev/null 2>&1; then
  it_log "check: a ts-ping reply line has the shape of iputils ping's own (the kernel pinging itself)"
  status=0
  it_ns timeout 10 ping -n -c 1 "$IT_KERNEL_ADDR" >"$IT_TMP/iputils.out" 2>&1 || status=$?
  ((status == 0)) || { cat "$IT_TMP/iputils.out" >&2; it_fail "iputils ping to $IT_KERNEL_ADDR exited with $status"; }
  # Only the times differ: mask them and compare the first reply lines byte for byte.
  mask_time='s/time=[0-9.]+ ms/time=T ms/'
  ours=$(grep -E '^64 bytes from' "$IT_TMP/p3.out" | head -n 1 | sed -E "$mask_time")
  theirs=$(grep -E '^64 bytes from' "$IT_TMP/iputils.out" | head -n 1 | sed -E "$mask_time")
  [[ "$ours" == "$theirs" ]] || it_fail "reply lines differ: ts-ping '$ours', iputils '$theirs'"
  it_pass "same reply line as iputils: '$ours'"
else
  it_log "skip: iputils ping is not installed, no line-by-line comparison"
fi

it_log "check: 'ts-ping -s 3000' (fragmented both ways) gets its replies"
status=0
it_ns timeout 30 "$TS_PING" "${ping_args[@]}" -c 2 -i 0.2 -s 3000 "$IT_KERNEL_ADDR" >"$IT_TMP/p3000.out" 2>&1 || status=$?
cat "$IT_TMP/p3000.out"
it_no_sanitizer_report "$IT_TMP/p3000.out"
((status == 0)) || it_fail "ts-ping -s 3000 exited with $status"
it_expect_in "$IT_TMP/p3000.out" '^3008 bytes from' "ts-ping -s 3000 reply size"
it_expect_in "$IT_TMP/p3000.out" '^2 packets transmitted, 2 received' "ts-ping -s 3000 summary"
it_pass "fragmented replies reassembled"

it_log "check: pinging a host that does not exist: ARP gives up, 'Destination Host Unreachable', exit 1"
status=0
it_ns timeout 60 "$TS_PING" "${ping_args[@]}" -c 1 -W 10 10.0.0.99 >"$IT_TMP/absent.out" 2>&1 || status=$?
cat "$IT_TMP/absent.out"
it_no_sanitizer_report "$IT_TMP/absent.out"
((status == 1)) || it_fail "ts-ping to an absent host exited with $status, expected 1"
it_expect_in "$IT_TMP/absent.out" '^From 10.0.0.2 icmp_seq=1 Destination Host Unreachable$' "ts-ping to an absent host"
it_expect_in "$IT_TMP/absent.out" '^1 packets transmitted, 0 received, \+1 errors, 100% packet loss' "ts-ping to an absent host"
it_pass "no reply, host unreachable reported, exit 1"

it_log "check: with no reply at all, -W bounds the wait after the last request"
status=0
start=$(date +%s%N)
it_ns timeout 60 "$TS_PING" "${ping_args[@]}" -c 2 -i 0.2 -W 1 10.0.0.98 >"$IT_TMP/absent2.out" 2>&1 || status=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
it_no_sanitizer_report "$IT_TMP/absent2.out"
((status == 1)) || it_fail "ts-ping -W 1 to an absent host exited with $status, expected 1"
it_expect_in "$IT_TMP/absent2.out" '^2 packets transmitted, 0 received' "ts-ping -W 1 summary"
((elapsed_ms < 5000)) || it_fail "ts-ping -c 2 -i 0.2 -W 1 took ${elapsed_ms} ms"
it_pass "gave up after ${elapsed_ms} ms, exit 1"

it_log "check: SIGINT ends ts-ping with its summary and exit status 0"
# Without the timeout wrapper, so the signal goes to ts-ping itself; -c 200 bounds its run.
it_start_bg_direct pint "$TS_PING" "${ping_args[@]}" -c 200 -i 0.2 "$IT_KERNEL_ADDR"
pid=$IT_LAST_PID
it_wait_for_line pint "$pid" 'icmp_seq=2 ' 15
kill -INT "$pid"
it_wait_exit pint "$pid" 10
cat "$IT_TMP/pint.out"
it_no_sanitizer_report "$IT_TMP/pint.err"
((IT_STATUS == 0)) || { it_show pint; it_fail "ts-ping exited with $IT_STATUS after SIGINT, expected 0"; }
it_expect_in "$IT_TMP/pint.out" '^--- 10.0.0.1 ping statistics ---$' "summary after SIGINT"
it_expect_in "$IT_TMP/pint.out" '^[0-9]+ packets transmitted, [0-9]+ received' "summary after SIGINT"
it_pass "clean stop on SIGINT"
