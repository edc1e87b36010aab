#!/usr/bin/env bash
# measure.sh [SECONDS]: the raw TAP ceiling on this machine, without and with --vnet:
# kernel-to-probe and probe-to-kernel Gbit/s (SECONDS per run, default 3) and the
# request/response latency of 1-byte TCP round trips (and of ICMP echo). The probe
# runs on CPU 1 (taskset -c 1), the kernel-side python3 peer on CPU 0; TS_NO_PIN=1
# leaves both to the scheduler (on a busy machine pinning can cost more than it saves).
# Everything happens in a private network namespace this script creates and
# deletes (also on failure); needs root. Prints one line per measurement.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
seconds=${1:-3}
probe_bin=${TS_TAPPROBE:-$here/../../build/bench/tapprobe/ts-tapprobe}
peer=$here/kernel_peer.py
[[ -x "$probe_bin" ]] || { echo "measure.sh: $probe_bin is missing: build it first" >&2; exit 1; }
((EUID == 0)) || { echo "measure.sh: needs root to create a network namespace" >&2; exit 1; }
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1 || seconds > 60)); then
  echo "measure.sh: SECONDS must be 1-60" >&2
  exit 2
fi

ns=tsbench-tapprobe-$$
tmp=$(mktemp -d /tmp/tapprobe-measure.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
inns() { ip netns exec "$ns" "$@"; }

ip netns add "$ns"
inns ip link set lo up
inns ip tuntap add dev tap0 mode tap
inns sysctl -q -w net.ipv6.conf.tap0.disable_ipv6=1 || true
inns ip addr add 10.0.0.1/24 dev tap0
inns ip link set tap0 up
pin_probe=(taskset -c 1)
pin_peer=(taskset -c 0)
if [[ -n "${TS_NO_PIN:-}" ]]; then
  pin_probe=()
  pin_peer=()
fi
probe=("${pin_probe[@]}" "$probe_bin" --dev tap0 --addr 10.0.0.2)
client=("${pin_peer[@]}" timeout $((seconds + 30)) python3 "$peer")

start_probe() {
  # Not through inns: a backgrounded function is a subshell, and $! would name it, not the probe.
  ip netns exec "$ns" timeout $((seconds + 40)) "${probe[@]}" "$@" >"$tmp/probe.out" 2>"$tmp/probe.err" &
  probe_pid=$!
  pids+=("$probe_pid")
  for _ in $(seq 1 50); do
    grep -q ': ready$' "$tmp/probe.err" 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$tmp/probe.err" >&2
  exit 1
}

stop_probe() {
  kill -TERM "$probe_pid" 2>/dev/null || true
  wait "$probe_pid" || echo "measure.sh: the probe exited with status $?: $(cat "$tmp/probe.err")" >&2
}

gbits() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); s=j["seconds"]
print("%.2f Gbit/s (%d bytes in %.2f s, %d frames in, %d out)" % (j["bytes"]*8/s/1e9 if s else 0, j["bytes"], s, j["frames_rx"], j["frames_tx"]))' "$1"
}

for vnet in "" --vnet; do
  tag=${vnet:-plain}
  start_probe $vnet --mode sink --port 5201
  inns "${client[@]}" send-for 10.0.0.2 5201 "$seconds" >/dev/null
  stop_probe
  echo "$tag kernel->probe: $(gbits "$tmp/probe.out")"

  ip netns exec "$ns" "${pin_peer[@]}" timeout $((seconds + 30)) python3 "$peer" listen 10.0.0.1 5301 >"$tmp/listen.out" &
  pids+=($!)
  for _ in $(seq 1 50); do grep -q ready "$tmp/listen.out" && break; sleep 0.1; done
  inns timeout $((seconds + 30)) "${probe[@]}" $vnet --mode source --peer 10.0.0.1 --port 5301 --duration "$seconds" \
    >"$tmp/probe.out" 2>"$tmp/probe.err"
  wait
  echo "$tag probe->kernel: $(gbits "$tmp/probe.out")"

  start_probe $vnet --mode echo --port 7
  rr=$(inns "${client[@]}" echo 10.0.0.2 7 5000)
  ping=$(inns "${pin_peer[@]}" timeout 30 ping -q -f -c 5000 10.0.0.2 | sed -n 's/^rtt.* = \([0-9.]*\)\/\([0-9.]*\)\/.*/\2 ms avg/p')
  stop_probe
  echo "$tag request/response: TCP $rr (python3 client); ICMP echo ping -f: $ping"
done
