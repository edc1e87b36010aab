#!/usr/bin/env bash
# ts-plot on a live run: ts-nc sends 300 KB to a kernel 'nc -l' over a seeded
# lossy link with --pcap and --trace=tcp; ts-plot draws the capture, and the
# time-sequence graph must hold one bar per data segment the stack sent and one
# ACK point per ACK from Linux (both counted again with tshark). When the trace
# carries congestion-control lines ("tcp  cc ..."), their graph is drawn and
# checked too.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

it_require_tools nc head tshark
nc -h 2>&1 | grep -q -- '-N' || it_fail "the kernel-side nc must be OpenBSD netcat (netcat-openbsd), for -N"
it_setup
TS_NC="$TS_APPS_DIR/ts-nc"
TS_PLOT="$TS_APPS_DIR/ts-plot"
[[ -x "$TS_NC" && -x "$TS_PLOT" ]] || it_fail "ts-nc or ts-plot is missing: build the apps first"

head -c 307200 /dev/urandom >"$IT_TMP/data"
it_log "run: ts-nc -> kernel nc -l, 300 KB, loss=2% (seed 7), --pcap and --trace=tcp"
it_start_bg knc 20 sh -c "nc -l $IT_KERNEL_ADDR 5000 >/dev/null"
knc=$IT_LAST_PID
sleep 0.3
ip netns exec "$IT_NS" timeout -s TERM -k 5 20 "$TS_NC" --dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX" \
  --impair loss=2% --seed 7 --pcap "$IT_TMP/run.pcap" --trace=tcp "$IT_KERNEL_ADDR" 5000 \
  <"$IT_TMP/data" >/dev/null 2>"$IT_TMP/trace.txt" || it_fail "ts-nc failed: $(tail -3 "$IT_TMP/trace.txt")"
it_wait_exit knc "$knc" 10

it_log "check: the time-sequence graph has a bar per data segment and a point per ACK"
(cd "$IT_TMP" && "$TS_PLOT" run.pcap >plot.out 2>plot.err) || it_fail "ts-plot run.pcap: $(cat "$IT_TMP/plot.err")"
it_no_sanitizer_report "$IT_TMP/plot.err"
[[ -s "$IT_TMP/run.svg" ]] || it_fail "ts-plot wrote no run.svg"
segs=$(grep -c '<path class="seg' "$IT_TMP/run.svg" || true)
want_segs=$(tshark -r "$IT_TMP/run.pcap" -Y "ip.src==$IT_STACK_ADDR && tcp.len>0" 2>/dev/null | wc -l)
((segs == want_segs && segs > 100)) || it_fail "$segs segment bars drawn, tshark counts $want_segs data segments"
acks=$(grep -o '<polyline class="ack"[^>]*data-v="[^"]*"' "$IT_TMP/run.svg" | sed 's/.*data-v="//; s/"$//' | wc -w)
want_acks=$(tshark -r "$IT_TMP/run.pcap" -Y "ip.src==$IT_KERNEL_ADDR && tcp.flags.ack==1" 2>/dev/null | wc -l)
((acks == want_acks)) || it_fail "$acks ACK points drawn, tshark counts $want_acks ACKs from Linux"
retrans=$(grep -c '<path class="seg retrans' "$IT_TMP/run.svg" || true)
it_pass "$segs data segments ($retrans retransmitted), $acks ACKs drawn"

if grep -Eq '^ *[0-9.]+ tcp +cc ' "$IT_TMP/trace.txt"; then
  it_log "check: the trace's cc lines become the congestion-control graph"
  cc_lines=$(grep -Ec "^ *[0-9.]+ tcp +cc $IT_STACK_ADDR:[0-9]+ > $IT_KERNEL_ADDR:5000 .*cwnd=[0-9]" "$IT_TMP/trace.txt")
  (cd "$IT_TMP" && "$TS_PLOT" -o cc.svg trace.txt >plot.out 2>plot.err) || it_fail "ts-plot trace.txt: $(cat "$IT_TMP/plot.err")"
  cwnd=$(grep -o '<polyline class="cwnd"[^>]*data-v="[^"]*"' "$IT_TMP/cc.svg" | sed 's/.*data-v="//; s/"$//' | wc -w)
  ((cwnd == cc_lines)) || it_fail "$cwnd cwnd points drawn for $cc_lines cc lines"
  it_pass "$cwnd cwnd points from $cc_lines cc lines"
else
  it_log "the trace has no cc lines (this build's stack does not print them): the cc graph is not checked"
fi
