#!/usr/bin/env bash
# ts-tapprobe (bench/tapprobe), the raw TAP ceiling, against the Linux kernel in
# every mode, without and with --vnet (IFF_VNET_HDR, partial checksums, GSO):
# ping gets replies; sink counts exactly the bytes a kernel client sends; source
# delivers exactly --bytes to a kernel listener (and, timed, what it says it
# delivered); echo returns every request byte for byte; udp-sink counts every
# datagram the kernel did not drop itself; bad usage exits 2, failures exit 1.
# The probe's one JSON line is checked field by field. No timed assertions.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
peer=$here/../../bench/tapprobe/kernel_peer.py

it_require_tools python3 ping setpriv nft tshark
it_setup
PROBE=${TS_TAPPROBE:-$TS_APPS_DIR/../bench/tapprobe/ts-tapprobe}
[[ -x "$PROBE" ]] || it_fail "$PROBE is missing: build it first (cmake --build build)"
[[ -f "$peer" ]] || it_fail "$peer is missing"
probe=("$PROBE" --dev tap0 --addr "$IT_STACK_ADDR")
mb20=20971520

# start_probe NAME ARGS...: the probe in the namespace (killed after 40 s at the latest),
# waiting for its ready line on stderr. Sets PROBE_PID.
start_probe() {
  local name=$1
  shift
  rm -f "$IT_TMP/$name.err" # an earlier probe's ready line must not count
  # No kill-after: on a loaded machine a probe that has printed its JSON can take more than
  # it_start_bg's 5 s to finish exiting (closing the TAP, LeakSanitizer's exit scan).
  it_start_bg_direct "$name" timeout -s TERM 40 "${probe[@]}" "$@"
  PROBE_PID=$IT_LAST_PID
  for _ in $(seq 1 50); do
    grep -q ': ready$' "$IT_TMP/$name.err" 2>/dev/null && return 0
    kill -0 "$PROBE_PID" 2>/dev/null || break
    sleep 0.1
  done
  it_show "$name"
  it_fail "$name did not get ready within 5 s"
}

# stop_probe NAME: SIGTERM; the probe must exit 0.
stop_probe() {
  it_stop "$1" "$PROBE_PID"
  it_no_sanitizer_report "$IT_TMP/$1.err"
  ((IT_STATUS == 0)) || { it_show "$1"; it_fail "$1 exited with status $IT_STATUS after SIGTERM"; }
}

# await_probe NAME SECONDS: the probe must end by itself with status 0.
await_probe() {
  it_wait_exit "$1" "$PROBE_PID" "$2"
  it_no_sanitizer_report "$IT_TMP/$1.err"
  ((IT_STATUS == 0)) || { it_show "$1"; it_fail "$1 exited with status $IT_STATUS"; }
}

# field NAME KEY: a field of the probe's JSON line (which must be the only line on stdout).
field() {
  local out=$IT_TMP/$1.out
  [[ $(wc -l <"$out") -eq 1 ]] || { it_show "$1"; it_fail "$1 printed $(wc -l <"$out") lines on stdout, expected one JSON line"; }
  sed -nE "s/.*\"$2\":(\"[^\"]*\"|[^,}]*).*/\\1/p" "$out"
}

# expect_field NAME KEY VALUE
expect_field() {
  local got
  got=$(field "$1" "$2")
  [[ "$got" == "$3" ]] || { it_show "$1"; it_fail "$1: \"$2\" is '$got', expected '$3'"; }
}

# start_listener PORT: the kernel's counting listener; sets KLISTEN.
start_listener() {
  rm -f "$IT_TMP/klisten.out" # an earlier listener's "ready" must not count
  it_start_bg klisten 30 python3 "$peer" listen "$IT_KERNEL_ADDR" "$1"
  KLISTEN=$IT_LAST_PID
  it_wait_for_line klisten "$KLISTEN" ready 10
}

tx_dropped() {
  it_ns cat /sys/class/net/tap0/statistics/tx_dropped
}

for vnet in "" --vnet; do
  tag=${vnet:-plain}
  json_vnet=false
  [[ -n "$vnet" ]] && json_vnet=true

  it_log "check ($tag): ARP and ICMP echo answered; sink counts the exact 20 MB a kernel client sends"
  start_probe sink $vnet --mode sink --port 5201
  it_ns timeout 10 ping -c 3 -i 0.2 -W 2 "$IT_STACK_ADDR" >"$IT_TMP/ping.out" \
    || { cat "$IT_TMP/ping.out" >&2; it_fail "ping got no replies"; }
  it_expect_in "$IT_TMP/ping.out" '3 received' "ping's summary"
  it_ns timeout 30 python3 "$peer" send "$IT_STACK_ADDR" 5201 "$mb20" >"$IT_TMP/ksend.out" \
    || { cat "$IT_TMP/ksend.out" >&2; it_fail "the kernel client could not send 20 MB"; }
  stop_probe sink
  expect_field sink mode '"sink"'
  expect_field sink vnet "$json_vnet"
  expect_field sink bytes "$mb20"
  expect_field sink connections 1
  it_log "kernel client: $(cat "$IT_TMP/ksend.out"); probe: $(cat "$IT_TMP/sink.out")"
  it_pass "$tag sink: ping, 20 MB exact"

  it_log "check ($tag): sink on any port, 4 clients at once; with --bytes it ends by itself once all closed"
  start_probe sinkn $vnet --mode sink --bytes 20M --duration 30
  it_ns timeout 40 python3 "$peer" send-parallel "$IT_STACK_ADDR" 6123 4 $((mb20 / 4)) >"$IT_TMP/ksend.out" \
    || { cat "$IT_TMP/ksend.out" >&2; it_fail "4 kernel clients could not send 5 MB each to port 6123"; }
  await_probe sinkn 10
  expect_field sinkn bytes "$mb20"
  expect_field sinkn connections 4
  if [[ -n "$vnet" ]]; then
    # With the offloads on, the kernel hands over GSO frames: fewer frames than MSS segments.
    frames=$(field sinkn frames_rx)
    ((frames < mb20 / 1460)) || it_fail "--vnet sink read $frames frames for 20 MB: no GSO frames arrived"
  fi
  it_pass "$tag sink, 4 clients, --bytes: exact, clean exit"

  it_log "check ($tag): source --bytes delivers exactly that to a kernel listener"
  start_listener 5301
  it_start_bg source 30 "${probe[@]}" $vnet --mode source --peer "$IT_KERNEL_ADDR" --port 5301 --bytes "$mb20"
  PROBE_PID=$IT_LAST_PID
  await_probe source 30
  it_wait_exit klisten "$KLISTEN" 10
  ((IT_STATUS == 0)) || { it_show klisten; it_fail "the kernel listener failed"; }
  it_expect_in "$IT_TMP/klisten.out" "^received $mb20 in" "the kernel listener's count"
  expect_field source mode '"source"'
  expect_field source bytes "$mb20"
  expect_field source connections 1
  if [[ -n "$vnet" ]]; then
    frames=$(field source frames_tx)
    ((frames < mb20 / 1460)) || it_fail "--vnet source wrote $frames frames for 20 MB: no GSO frames sent"
  fi
  it_log "kernel listener: $(grep received "$IT_TMP/klisten.out"); probe: $(cat "$IT_TMP/source.out")"
  it_pass "$tag source: 20 MB exact"

  it_log "check ($tag): source --duration 0.5: the kernel counts what the probe says it delivered"
  start_listener 5302
  it_start_bg sourcet 30 "${probe[@]}" $vnet --mode source --peer "$IT_KERNEL_ADDR" --port 5302 --duration 0.5
  PROBE_PID=$IT_LAST_PID
  await_probe sourcet 15
  it_wait_exit klisten "$KLISTEN" 10
  sent=$(field sourcet bytes)
  ((sent > 0)) || it_fail "a 0.5 s source run delivered nothing"
  it_expect_in "$IT_TMP/klisten.out" "^received $sent in" "the kernel listener's count"
  it_pass "$tag timed source: $sent bytes, agreed"

  it_log "check ($tag): echo returns 300 requests of 1..1400 bytes byte for byte, then 1-byte round trips"
  start_probe echo $vnet --mode echo --port 7
  it_ns timeout 30 python3 "$peer" echo "$IT_STACK_ADDR" 7 300 >"$IT_TMP/kecho.out" \
    || { cat "$IT_TMP/kecho.out" >&2; it_show echo; it_fail "the kernel echo client failed"; }
  stop_probe echo
  want=$(python3 -c 'print(sum(1 + (i * 7919) % 1400 for i in range(300)) + 300)')
  expect_field echo bytes "$want"
  expect_field echo connections 1
  it_pass "$tag echo: every byte back; $(cat "$IT_TMP/kecho.out")"

  it_log "check ($tag): udp-sink counts every datagram the kernel sent"
  dropped_before=$(tx_dropped)
  start_probe udp $vnet --mode udp-sink --port 9000 --bytes 200000 --duration 20
  it_ns timeout 5 python3 "$peer" udp "$IT_STACK_ADDR" 9001 10 100 >/dev/null || true # another port: not counted
  it_ns timeout 30 python3 "$peer" udp "$IT_STACK_ADDR" 9000 2000 100 >"$IT_TMP/kudp.out" \
    || { cat "$IT_TMP/kudp.out" >&2; it_fail "the kernel UDP sender failed"; }
  dropped=$(($(tx_dropped) - dropped_before))
  if ((dropped == 0)); then
    await_probe udp 15 # --bytes reached: it ends by itself
  else
    stop_probe udp
  fi
  expect_field udp datagrams $((2000 - dropped))
  expect_field udp bytes $(((2000 - dropped) * 100))
  it_pass "$tag udp-sink: $((2000 - dropped)) datagrams counted (the kernel dropped $dropped)"
done

it_log "check: with 1 in 300 data segments dropped each way (nftables), sink and source still count exactly"
# Drops the kernel's data to the probe (sink: the probe re-ACKs its point, the kernel
# retransmits) and the probe's data to the kernel (source: the probe goes back N after 200 ms).
it_ns nft -f - <<'EOF2' || it_fail "cannot load the nftables loss rules"
table ip tsprobe_loss {
  chain in { type filter hook input priority 0; policy accept; ip saddr 10.0.0.2 tcp flags & (syn|fin) == 0 numgen inc mod 300 == 7 counter drop; }
  chain out { type filter hook output priority 0; policy accept; ip daddr 10.0.0.2 tcp flags & (syn|fin) == 0 numgen inc mod 300 == 7 counter drop; }
}
EOF2
start_probe lossy_sink --mode sink --port 5201
it_ns timeout 30 python3 "$peer" send "$IT_STACK_ADDR" 5201 5242880 >"$IT_TMP/ksend.out" \
  || { cat "$IT_TMP/ksend.out" >&2; it_fail "the kernel client could not send 5 MB through the losses"; }
stop_probe lossy_sink
expect_field lossy_sink bytes 5242880
start_listener 5304
it_start_bg lossy_source 30 "${probe[@]}" --mode source --peer "$IT_KERNEL_ADDR" --port 5304 --bytes 2M
PROBE_PID=$IT_LAST_PID
await_probe lossy_source 30
it_wait_exit klisten "$KLISTEN" 10
it_expect_in "$IT_TMP/klisten.out" "^received 2097152 in" "the kernel listener's count through the losses"
expect_field lossy_source bytes 2097152
# The check proves something only if segments were really dropped in both directions.
drops_in=$(it_ns nft list chain ip tsprobe_loss in | sed -nE 's/.*counter packets ([0-9]+).*/\1/p')
drops_out=$(it_ns nft list chain ip tsprobe_loss out | sed -nE 's/.*counter packets ([0-9]+).*/\1/p')
it_ns nft delete table ip tsprobe_loss
((drops_in > 0 && drops_out > 0)) || it_fail "the loss rules dropped $drops_in probe and $drops_out kernel segments: expected some of each"
it_pass "losses: 5 MB sunk and 2 MB sourced exactly ($drops_out kernel and $drops_in probe segments dropped)"

it_log "check: the kernel counted no checksum or header error in anything the probe sent"
# /proc/net/snmp: a header line of names, then a line of values, per protocol.
it_ns cat /proc/net/snmp >"$IT_TMP/snmp"
for counter in Ip:InHdrErrors Icmp:InCsumErrors Tcp:InCsumErrors Tcp:InErrs Udp:InCsumErrors; do
  value=$(awk -v proto="${counter%%:*}:" -v name="${counter#*:}" '
    $1 == proto && !seen { for (i = 2; i <= NF; i++) col[$i] = i; seen = 1; next }
    $1 == proto && seen { print $col[name]; exit }' "$IT_TMP/snmp")
  [[ "$value" == 0 ]] || { cat "$IT_TMP/snmp" >&2; it_fail "the kernel's $counter is '$value', expected 0"; }
done
it_pass "no checksum errors in the kernel's counters"

it_log "check: in a capture, plain TCP checksums are whole and --vnet ones hold the pseudo-header sum"
# With --vnet the kernel trusts a partial checksum on local delivery, so it cannot catch a wrong one:
# the capture on tap0 shows the frames as written, and the field must be exactly what the kernel
# completes from (RFC 9293 3.1's pseudo-header sum over the whole GSO frame's TCP length, folded).
it_start_bg capture 30 tshark -n -i tap0 -w "$IT_TMP/probe.pcap" -f "tcp and src host $IT_STACK_ADDR"
capture=$IT_LAST_PID
for _ in $(seq 1 100); do
  grep -q 'Capturing on' "$IT_TMP/capture.err" 2>/dev/null && break
  sleep 0.1
done
for port in 5305 5306; do
  flag=--vnet
  ((port == 5305)) || flag=
  start_listener "$port"
  it_start_bg csum 30 "${probe[@]}" $flag --mode source --peer "$IT_KERNEL_ADDR" --port "$port" --bytes 300K
  PROBE_PID=$IT_LAST_PID
  await_probe csum 20
  it_wait_exit klisten "$KLISTEN" 10
  it_expect_in "$IT_TMP/klisten.out" "^received 307200 in" "the kernel listener's count"
done
sleep 0.5
it_stop capture "$capture"
tshark -n -r "$IT_TMP/probe.pcap" -o tcp.check_checksum:TRUE -T fields -E separator=' ' \
  -e tcp.srcport -e tcp.dstport -e ip.src -e ip.dst -e ip.len -e ip.hdr_len -e tcp.checksum -e tcp.checksum.status \
  >"$IT_TMP/csums.txt" 2>/dev/null || it_fail "tshark could not read the capture"
python3 - "$IT_TMP/csums.txt" >"$IT_TMP/csums.out" <<'EOF2' || { cat "$IT_TMP/csums.out" >&2; it_fail "a checksum field is wrong"; }
import ipaddress, sys
counts = {"5305": 0, "5306": 0}
for line in open(sys.argv[1]):
    sport, dport, src, dst, ip_len, hdr_len, check, status = line.split()
    if dport not in counts:
        continue
    counts[dport] += 1
    if dport == "5306":  # plain: the whole checksum, verified by tshark
        if status != "1":
            sys.exit("plain frame %s: checksum status %s" % (line.strip(), status))
        continue
    words = ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed
    words += bytes([0, 6]) + (int(ip_len) - int(hdr_len)).to_bytes(2, "big")
    total = sum(int.from_bytes(words[i:i + 2], "big") for i in range(0, 12, 2))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    if int(check, 16) != total:
        sys.exit("vnet frame %s: field %s, pseudo-header sum 0x%04x" % (line.strip(), check, total))
if min(counts.values()) < 3:
    sys.exit("too few frames captured: %s" % counts)
print("frames checked: %d --vnet, %d plain" % (counts["5305"], counts["5306"]))
EOF2
it_pass "checksum fields: $(cat "$IT_TMP/csums.out")"

it_log "check: usage errors exit 2; no privileges, a closed port, a silent peer exit 1 with a message"
for bad in "" "--dev tap0 --addr 10.0.0.2" "--dev tap0 --addr 10.0.0.2 --mode bogus" \
  "--dev tap0 --addr 10.0.0.2 --mode source" "--dev tap0 --addr x --mode sink" \
  "--dev tap0 --addr 10.0.0.2 --mode sink --port 0" "--dev tap0 --addr 10.0.0.2 --mode sink --mss 10"; do
  status=0
  # shellcheck disable=SC2086 # the words are the arguments
  timeout 10 "$PROBE" $bad >/dev/null 2>"$IT_TMP/usage.err" || status=$?
  ((status == 2)) || it_fail "'ts-tapprobe $bad' exited with status $status, expected 2"
done
status=0
it_ns timeout 10 setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all \
  "${probe[@]}" --mode sink >/dev/null 2>"$IT_TMP/noperm.err" || status=$?
((status == 1)) || it_fail "an unprivileged probe exited with status $status, expected 1"
it_expect_in "$IT_TMP/noperm.err" '/dev/net/tun|CAP_NET_ADMIN' "the unprivileged probe's message"
status=0
it_ns timeout 20 "${probe[@]}" --mode source --peer "$IT_KERNEL_ADDR" --port 5399 --bytes 1K \
  >/dev/null 2>"$IT_TMP/refused.err" || status=$?
((status == 1)) || it_fail "a source to a closed port exited with status $status, expected 1"
it_expect_in "$IT_TMP/refused.err" 'port 5399: Connection refused' "the refused source's message"
status=0
it_ns timeout 20 "${probe[@]}" --mode source --peer 10.0.0.77 --bytes 1K \
  >/dev/null 2>"$IT_TMP/noarp.err" || status=$?
((status == 1)) || it_fail "a source to an absent peer exited with status $status, expected 1"
it_expect_in "$IT_TMP/noarp.err" 'no ARP reply from 10.0.0.77' "the absent peer's message"
it_pass "errors"
