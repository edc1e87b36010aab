#!/usr/bin/env bash
# TAP offloads (virtio-net header, checksum offload, TSO) against the kernel:
# with --offload on, 8 MB sent by a kernel client come back through ts-echo
# identical, the kernel's 64 KB super-segments taken on its word (rx_csum_trusted)
# and ours cut by the kernel (tx_tso_segments); with --offload off the same
# transfer uses neither; a --pcap capture taken with offloads on holds valid
# TCP checksums; ts-perf moves exact byte counts both ways with offloads on.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

it_require_tools python3 tshark
it_setup
stack=(--dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX")

start_tcp_echo() {
  it_start_bg echo 60 "$TS_ECHO" "${stack[@]}" --stats --port 7 "$@"
  ECHO_PID=$IT_LAST_PID
  it_wait_for_line echo "$ECHO_PID" "listening on tcp" 10
}

stop_tcp_echo() {
  it_stop echo "$ECHO_PID"
  it_no_sanitizer_report "$IT_TMP/echo.err"
  ((IT_STATUS == 0)) || { it_show echo; it_fail "ts-echo exited with status $IT_STATUS after SIGTERM"; }
}

# counter NAME: the value ts-echo's --stats printed for NAME, 0 if absent (only non-zero ones are printed).
counter() {
  local v
  v=$(grep -oE "(^| )$1=[0-9]+" "$IT_TMP/echo.err" | head -n 1 | cut -d= -f2)
  echo "${v:-0}"
}

for mode in on off; do
  it_log "check: --offload $mode: 8 MB from a kernel client come back identical"
  start_tcp_echo --offload "$mode"
  it_ns timeout 60 python3 "$here/tcp_peer.py" echo-clients "$IT_STACK_ADDR" 7 1 8388608 \
    || it_fail "--offload $mode: the echo differs or did not complete"
  stop_tcp_echo
  trusted=$(counter rx_csum_trusted)
  tso=$(counter tx_tso_segments)
  bad=$(counter drop_bad_checksum)
  it_log "--offload $mode: rx_csum_trusted $trusted, tx_tso_segments $tso, drop_bad_checksum $bad"
  ((bad == 0)) || it_fail "--offload $mode: the stack dropped segments with bad checksums"
  if [[ $mode == on ]]; then
    ((trusted > 0)) || it_fail "--offload on: no segment came with the kernel's checksum promise"
    ((tso > 0)) || it_fail "--offload on: no TSO super-segment was sent"
  else
    ((trusted == 0 && tso == 0)) || it_fail "--offload off: offloads were used anyway"
  fi
  it_pass "--offload $mode: 8 MB echoed identically"
done

it_log "check: a capture taken with offloads on holds valid TCP checksums"
pcap="$IT_TMP/offload.pcap"
start_tcp_echo --offload on --pcap "$pcap"
it_ns timeout 60 python3 "$here/tcp_peer.py" echo-clients "$IT_STACK_ADDR" 7 1 1048576 \
  || it_fail "the echo with --pcap differs or did not complete"
stop_tcp_echo
((tso = $(counter tx_tso_segments))) || it_fail "no TSO super-segment was sent under --pcap"
checks=(-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE)
bad_sums=$(tshark -r "$pcap" "${checks[@]}" -Y 'ip.checksum.status == 0 || tcp.checksum.status == 0' 2>/dev/null | wc -l)
((bad_sums == 0)) || it_fail "$bad_sums captured frames carry a bad checksum"
big=$(tshark -r "$pcap" -Y 'frame.len > 1514' 2>/dev/null | wc -l)
it_log "capture: $(tshark -r "$pcap" 2>/dev/null | wc -l) frames, $big of them super-segments"
it_pass "captured checksums are valid"

it_log "check: ts-perf with offloads on moves exact byte counts both ways"
TS_PERF="$TS_APPS_DIR/ts-perf"
it_start_bg kserver 30 python3 "$here/tcp_peer.py" perf-server "$IT_KERNEL_ADDR" 5311
kserver=$IT_LAST_PID
it_wait_for_line kserver "$kserver" ready 10
it_ns timeout 30 "$TS_PERF" "${stack[@]}" --offload on -c "$IT_KERNEL_ADDR" --port 5311 -n 32M >"$IT_TMP/c1.out" \
  || it_fail "ts-perf -c failed"
it_wait_exit kserver "$kserver" 10
it_expect_in "$IT_TMP/kserver.out" '^received 33554432$' "the kernel server's count"
it_start_bg kserver 30 python3 "$here/tcp_peer.py" perf-server "$IT_KERNEL_ADDR" 5312
kserver=$IT_LAST_PID
it_wait_for_line kserver "$kserver" ready 10
it_ns timeout 30 "$TS_PERF" "${stack[@]}" --offload on -c "$IT_KERNEL_ADDR" --port 5312 -R -n 32M >"$IT_TMP/c2.out" \
  || it_fail "ts-perf -c -R failed"
it_wait_exit kserver "$kserver" 10
it_expect_in "$IT_TMP/kserver.out" '^sent 33554432$' "the kernel server's count"
it_expect_in "$IT_TMP/c2.out" '^ts-perf: received 33554432 bytes' "the client's count"
it_log "$(cat "$IT_TMP/c1.out") / $(cat "$IT_TMP/c2.out")"
it_pass "ts-perf both ways, exact"
