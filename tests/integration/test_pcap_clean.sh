#!/usr/bin/env bash
# The --pcap capture of a run (pings, fragmented pings, UDP echo, a closed port)
# is well formed: tshark, with checksum validation on, finds no malformed packet,
# no bad checksum and no expert warning or error; and it holds what happened.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

it_require_tools python3 ping tshark
it_setup
pcap="$IT_TMP/run.pcap"
it_start_echo --port 7 --pcap "$pcap"

here="$(dirname "${BASH_SOURCE[0]}")"
it_log "traffic: ping -c 3, ping -s 4000 -c 2, UDP echo (64, 1500, 3000 bytes), a closed port"
it_ns timeout 30 ping -n -q -c 3 -i 0.2 -W 5 "$IT_STACK_ADDR" >/dev/null || it_fail "ping failed"
it_ns timeout 30 ping -n -q -c 2 -i 0.2 -W 5 -s 4000 "$IT_STACK_ADDR" >/dev/null || it_fail "ping -s 4000 failed"
it_ns timeout 60 python3 "$here/udp_client.py" echo "$IT_STACK_ADDR" 7 64 1500 3000 >/dev/null || it_fail "UDP echo failed"
it_ns timeout 30 python3 "$here/udp_client.py" refused "$IT_STACK_ADDR" 9 >/dev/null || it_fail "closed port not refused"
it_stop_echo
[[ -s "$pcap" ]] || it_fail "ts-echo wrote no capture at $pcap"

checks=(-o ip.check_checksum:TRUE -o udp.check_checksum:TRUE)
tshark_q() { tshark -r "$pcap" "${checks[@]}" "$@" 2>/dev/null; }

total=$(tshark_q | wc -l)
it_log "capture: $total frames"

it_log "check: no malformed frame and no expert warning or error (checksums validated)"
tshark_q -Y '_ws.malformed || _ws.expert.severity >= warning' >"$IT_TMP/bad.txt"
if [[ -s "$IT_TMP/bad.txt" ]]; then
  cat "$IT_TMP/bad.txt" >&2
  tshark -r "$pcap" "${checks[@]}" -q -z expert 2>/dev/null >&2 || true
  it_fail "tshark flags the frames above"
fi
tshark -r "$pcap" "${checks[@]}" -q -z expert,warn 2>/dev/null >"$IT_TMP/expert.txt" || it_fail "tshark -z expert failed"
if grep -Eq '^(Errors|Warns|Warnings) \([1-9]' "$IT_TMP/expert.txt"; then
  cat "$IT_TMP/expert.txt" >&2
  it_fail "tshark's expert summary lists errors or warnings"
fi
it_pass "no malformed frames, no bad checksums, no expert warnings"

it_log "check: no bad checksum in any layer"
bad_sums=$(tshark_q -Y 'ip.checksum.status == 0 || udp.checksum.status == 0 || icmp.checksum.status == 0' | wc -l)
((bad_sums == 0)) || it_fail "$bad_sums frames carry a bad checksum"
it_pass "every checksum is good"

count() { tshark_q -Y "$1" | wc -l; }
it_log "check: the capture holds what happened"
garp=$(count "arp.src.proto_ipv4 == $IT_STACK_ADDR && arp.dst.proto_ipv4 == $IT_STACK_ADDR")
replies=$(count "icmp.type == 0 && ip.src == $IT_STACK_ADDR")
udp_back=$(count "udp.srcport == 7 && ip.src == $IT_STACK_ADDR")
unreach=$(count "icmp.type == 3 && icmp.code == 3 && ip.src == $IT_STACK_ADDR")
frag=$(count "ip.src == $IT_STACK_ADDR && ip.flags.mf == 1")
it_log "gratuitous ARP: $garp, echo replies: $replies, UDP echoes: $udp_back, port unreachable: $unreach, stack fragments: $frag"
((garp >= 1)) || it_fail "no gratuitous ARP from the stack"
((replies >= 5)) || it_fail "expected at least 5 echo replies from the stack, saw $replies"
((udp_back >= 3)) || it_fail "expected at least 3 UDP echoes from the stack, saw $udp_back"
((unreach >= 1)) || it_fail "expected an ICMP port unreachable from the stack, saw $unreach"
((frag >= 4)) || it_fail "expected fragments from the stack (ping -s 4000 and 3000-byte UDP), saw $frag"
it_pass "the capture is complete and clean"
