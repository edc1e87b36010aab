#!/usr/bin/env bash
# ts-perf against the Linux kernel, speaking its documented wire protocol:
# 'ts-perf -s' counts exactly the 20 MB a kernel python3 client sends
# ("SEND\n"); 'ts-perf -c' sends to and (-R, "RECV N\n") receives from a kernel
# python3 server, both sides agreeing on the exact byte count; -t ends a
# timed run; --stats prints TCP_INFO.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

it_require_tools python3
it_setup
TS_PERF="$TS_APPS_DIR/ts-perf"
[[ -x "$TS_PERF" ]] || it_fail "$TS_PERF is missing: build the apps first"
stack=(--dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX")
summary='in [0-9]+\.[0-9]{3} s: [0-9]+\.[0-9]{3} Gbit/s$'

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

# start_kernel_server PORT: the python3 ts-perf server on the kernel side, for one client.
start_kernel_server() {
  it_start_bg kserver 30 python3 "$here/tcp_peer.py" perf-server "$IT_KERNEL_ADDR" "$1"
  KSERVER=$IT_LAST_PID
  it_wait_for_line kserver "$KSERVER" ready 10
}

it_log "check: 'ts-perf -s' counts the exact 20 MB a kernel client sends"
it_start_bg server 60 "$TS_PERF" "${stack[@]}" -s --stats
server=$IT_LAST_PID
it_wait_for_line server "$server" "listening on tcp $IT_STACK_ADDR:5201" 10
it_ns timeout 30 python3 "$here/tcp_peer.py" perf-send "$IT_STACK_ADDR" 5201 20971520 \
  || it_fail "the kernel client could not send its 20 MB"
it_wait_for_line server "$server" "received 20971520 bytes" 10
it_expect_in "$IT_TMP/server.out" "^ts-perf: $IT_KERNEL_ADDR:[0-9]+: received 20971520 bytes $summary" "the server's summary"
it_expect_in "$IT_TMP/server.out" "tcp_info: state [A-Z_-]+, retransmits [0-9]+, rtt [0-9.]+ ms" "the server's --stats"
it_expect_in "$IT_TMP/server.out" "tcp_info: cwnd [0-9]+ bytes" "the server's --stats"
it_log "$(grep ': received [0-9]' "$IT_TMP/server.out")"
it_pass "20 MB counted exactly"

it_log "check: the server serves the next client, a reverse one (RECV), then stops on SIGTERM"
# The kernel client sends "RECV 3000000" by hand: the wire protocol is all it needs.
it_ns timeout 20 python3 - "$IT_STACK_ADDR" >"$IT_TMP/krecv.out" <<'EOF' || it_fail "the kernel RECV client failed"
import socket, sys
s = socket.create_connection((sys.argv[1], 5201), timeout=20)
s.sendall(b"RECV 3000000\n")
total = 0
while True:
    data = s.recv(262144)
    if not data:
        break
    total += len(data)
s.close()
print("received %d" % total)
EOF
it_expect_in "$IT_TMP/krecv.out" '^received 3000000$' "the kernel client's count"
it_wait_for_line server "$server" "sent 3000000 bytes" 10
it_stop server "$server"
it_no_sanitizer_report "$IT_TMP/server.err"
((IT_STATUS == 0)) || { it_show server; it_fail "ts-perf -s exited with status $IT_STATUS after SIGTERM"; }
it_expect_in "$IT_TMP/server.out" 'stopped after 2 clients' "the server's last line"
it_pass "two clients in a row, then a clean stop"

it_log "check: 'ts-perf -c -n 5M' to a kernel server: both count 5242880 bytes"
start_kernel_server 5301
it_start_bg client 30 "$TS_PERF" "${stack[@]}" -c "$IT_KERNEL_ADDR" --port 5301 -n 5M --stats
expect_exit client "$IT_LAST_PID" 30 0
expect_exit kserver "$KSERVER" 10 0
it_expect_in "$IT_TMP/kserver.out" '^received 5242880$' "the kernel server's count"
it_expect_in "$IT_TMP/client.out" "^ts-perf: sent 5242880 bytes $summary" "the client's summary"
it_expect_in "$IT_TMP/client.out" "tcp_info: bytes sent [0-9]+, acked [0-9]+" "the client's --stats"
it_log "$(grep ': sent [0-9]' "$IT_TMP/client.out")"
it_pass "client -> kernel, exact"

it_log "check: 'ts-perf -c -R -n 5M' from a kernel server: both count 5242880 bytes"
start_kernel_server 5302
it_start_bg client 30 "$TS_PERF" "${stack[@]}" -c "$IT_KERNEL_ADDR" --port 5302 -R -n 5M
expect_exit client "$IT_LAST_PID" 30 0
expect_exit kserver "$KSERVER" 10 0
it_expect_in "$IT_TMP/kserver.out" '^sent 5242880$' "the kernel server's count"
it_expect_in "$IT_TMP/client.out" "^ts-perf: received 5242880 bytes $summary" "the client's summary"
it_log "$(cat "$IT_TMP/client.out")"
it_pass "kernel -> client, exact"

it_log "check: 'ts-perf -c -t 1' sends for about a second, and the kernel counts what it says"
start_kernel_server 5303
start=$(date +%s%N)
it_start_bg client 30 "$TS_PERF" "${stack[@]}" -c "$IT_KERNEL_ADDR" --port 5303 -t 1
expect_exit client "$IT_LAST_PID" 30 0
expect_exit kserver "$KSERVER" 10 0
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
sent=$(sed -nE 's/^ts-perf: sent ([0-9]+) bytes.*/\1/p' "$IT_TMP/client.out")
if [[ -z "$sent" ]] || ((sent == 0)); then
  it_fail "no byte count in '$(cat "$IT_TMP/client.out")'"
fi
it_expect_in "$IT_TMP/kserver.out" "^received $sent\$" "the kernel server's count"
((elapsed_ms < 8000)) || it_fail "a 1 s run took ${elapsed_ms} ms"
it_pass "timed run: $sent bytes, agreed"

it_log "check: usage errors exit 2, connection refused exits 1"
for bad in "" "-s -c 10.0.0.1" "-s -R" "-c 10.0.0.1 -t 1 -n 1M" "-c 10.0.0.1 -n 0" "-c x" "-c 10.0.0.1 -t -1"; do
  status=0
  # shellcheck disable=SC2086 # the words are the arguments
  timeout 10 "$TS_PERF" $bad >/dev/null 2>"$IT_TMP/usage.err" || status=$?
  ((status == 2)) || it_fail "'ts-perf $bad' exited with status $status, expected 2"
done
status=0
ip netns exec "$IT_NS" timeout 20 "$TS_PERF" "${stack[@]}" -c "$IT_KERNEL_ADDR" --port 5399 -n 1K \
  >"$IT_TMP/refused.out" 2>"$IT_TMP/refused.err" || status=$?
it_no_sanitizer_report "$IT_TMP/refused.err"
((status == 1)) || it_fail "ts-perf to a closed port exited with status $status, expected 1"
it_expect_in "$IT_TMP/refused.err" "connect to $IT_KERNEL_ADDR port 5399: Connection refused" "the error line"
it_pass "usage and connection errors"
