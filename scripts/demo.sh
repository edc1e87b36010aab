#!/usr/bin/env bash
# tapstack end to end, in a private network namespace that is deleted afterwards:
#   1. installs missing packages and builds into build/
#   2. creates namespace tsdemo-PID with TAP tap0 = 10.0.0.1/24 (the kernel's side)
#   3. runs ts-echo (the stack, 10.0.0.2) with a capture; the kernel pings it,
#      exchanges UDP datagrams with it and echoes a TCP stream through it (nc)
#   4. stops ts-echo and runs ts-ping from the stack to the kernel
#   5. serves a page with ts-httpd and fetches it from the kernel side
#   6. prints what happened, the stack's counters and the capture's summary
# Needs root. Nothing outside the namespace is touched. Exits non-zero if a step fails.
# TS_DEMO_KEEP=1 keeps the temporary directory with the capture and the logs.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build"
apps="$build/apps"
ns="tsdemo-$$"
kernel_addr=10.0.0.1
stack_addr=10.0.0.2
tmp=""
pids=()
ns_created=false
failed_steps=()

say() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
  echo "demo.sh: $*" >&2
  exit 1
}

cleanup() {
  local status=$?
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if $ns_created; then
    ip netns del "$ns" 2>/dev/null || true
  fi
  if [[ -n "$tmp" && -d "$tmp" ]]; then
    if [[ -n "${TS_DEMO_KEEP:-}" ]]; then
      echo "demo.sh: kept the capture and logs in $tmp"
    else
      rm -rf "$tmp"
    fi
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step_failed() {
  failed_steps+=("$1")
  echo "demo.sh: step failed: $1" >&2
}

# Forgets a PID once waited for: it may be reused, and cleanup must not signal it.
forget() {
  local gone=$1 pid kept=()
  for pid in "${pids[@]}"; do
    [[ "$pid" == "$gone" ]] || kept+=("$pid")
  done
  pids=("${kept[@]}")
}

((EUID == 0)) || die "needs root: it creates a network namespace and a TAP device inside it"

say "dependencies and build"
"$root/scripts/install-deps.sh"
timeout 120 cmake -S "$root" -B "$build" >/dev/null || die "cmake configure failed"
timeout 600 cmake --build "$build" -j"$(nproc)" --target ts-echo ts-ping ts-httpd >"$build/demo-build.log" 2>&1 \
  || { tail -n 40 "$build/demo-build.log" >&2; die "the build failed (log: $build/demo-build.log)"; }
note "built $apps/ts-echo, $apps/ts-ping and $apps/ts-httpd"

tmp=$(mktemp -d /tmp/tsdemo.XXXXXX)
pcap="$tmp/demo.pcap"

say "private network namespace $ns with tap0 = $kernel_addr/24 (the kernel's side)"
ip netns add "$ns" || die "'ip netns add $ns' failed"
ns_created=true
nsx() { ip netns exec "$ns" "$@"; }
nsx ip link set lo up
nsx ip tuntap add dev tap0 mode tap
nsx sysctl -q -w net.ipv6.conf.tap0.disable_ipv6=1 || true # keep IPv6 chatter out of the capture
nsx ip addr add "$kernel_addr/24" dev tap0
nsx ip link set tap0 up

say "ts-echo: the stack at $stack_addr, UDP and TCP echo on port 7, capturing to demo.pcap"
# Not through nsx: backgrounding a function would fork a subshell, and $! would not be ts-echo's timeout.
ip netns exec "$ns" timeout -s TERM -k 5 120 "$apps/ts-echo" --udp --tcp --dev tap0 --addr "$stack_addr/24" --pcap "$pcap" --stats \
  >"$tmp/echo.out" 2>"$tmp/echo.err" &
echo_pid=$!
pids+=("$echo_pid")
ready=false
for _ in $(seq 1 100); do
  if grep -q "listening on" "$tmp/echo.out" 2>/dev/null; then
    ready=true
    break
  fi
  kill -0 "$echo_pid" 2>/dev/null || break
  sleep 0.1
done
if ! $ready; then
  cat "$tmp/echo.out" "$tmp/echo.err" >&2
  die "ts-echo did not get ready within 10 s"
fi
note "$(head -n 1 "$tmp/echo.out")"

say "kernel -> stack: ping -c 3 $stack_addr"
if nsx timeout 20 ping -n -c 3 -i 0.5 -W 5 "$stack_addr" >"$tmp/ping.out" 2>&1; then
  sed 's/^/    /' "$tmp/ping.out"
else
  sed 's/^/    /' "$tmp/ping.out"
  step_failed "kernel ping to the stack"
fi

say "kernel -> stack: UDP echo (python3 client, 3 datagrams of 5, 1000 and 3000 bytes)"
if nsx timeout 20 python3 - "$stack_addr" >"$tmp/udp.out" 2>&1 <<'PY'; then
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(3)
dest = (sys.argv[1], 7)
ok = True
for size in (5, 1000, 3000):
    data = (b"hello" * (size // 5 + 1))[:size]
    sock.sendto(data, dest)
    try:
        reply, src = sock.recvfrom(65536)
    except socket.timeout:
        print(f"{size} bytes: no echo within 3 s")
        ok = False
        continue
    same = "identical" if reply == data else "DIFFERENT"
    print(f"{size} bytes sent, {len(reply)} bytes echoed back from {src[0]}:{src[1]}: {same}")
    ok = ok and reply == data
sys.exit(0 if ok else 1)
PY
  sed 's/^/    /' "$tmp/udp.out"
else
  sed 's/^/    /' "$tmp/udp.out"
  step_failed "UDP echo"
fi

say "kernel -> stack: TCP echo (nc): a line, then 200 KB, each echoed back through the stack's TCP"
head -c 200000 /dev/urandom >"$tmp/blob"
if echo "hello over TCP" | nsx timeout 20 nc -N "$stack_addr" 7 >"$tmp/tcp_line.out" 2>&1 &&
   nsx timeout 20 nc -N "$stack_addr" 7 <"$tmp/blob" >"$tmp/blob.back" 2>"$tmp/tcp_blob.err" &&
   cmp -s "$tmp/blob" "$tmp/blob.back"; then
  note "line echoed: $(cat "$tmp/tcp_line.out")"
  note "200000 bytes sent, $(stat -c %s "$tmp/blob.back") bytes echoed back: identical"
else
  note "line: $(cat "$tmp/tcp_line.out" 2>/dev/null)"
  step_failed "TCP echo"
fi

say "stopping ts-echo (SIGTERM)"
kill -TERM "$echo_pid"
echo_status=0
for _ in $(seq 1 100); do
  kill -0 "$echo_pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$echo_pid" 2>/dev/null && { step_failed "ts-echo did not stop within 10 s"; kill -KILL "$echo_pid"; }
wait "$echo_pid" || echo_status=$?
forget "$echo_pid"
((echo_status == 0)) || step_failed "ts-echo exited with status $echo_status"
sed -n '2,$p' "$tmp/echo.out" | sed 's/^/    /'

say "stack -> kernel: ts-ping -c 3 $kernel_addr"
ping_status=0
nsx timeout 30 "$apps/ts-ping" --dev tap0 --addr "$stack_addr/24" --stats -c 3 -i 0.5 "$kernel_addr" \
  >"$tmp/tsping.out" 2>"$tmp/tsping.err" || ping_status=$?
sed 's/^/    /' "$tmp/tsping.out"
((ping_status == 0)) || step_failed "ts-ping exited with status $ping_status"

say "ts-httpd: the stack serves a page on port 80; the kernel fetches it (python3 urllib)"
mkdir -p "$tmp/www"
printf '<!doctype html><title>tapstack</title><p>Served by a userspace TCP/IP stack.\n' >"$tmp/www/index.html"
ip netns exec "$ns" timeout -s TERM -k 5 60 "$apps/ts-httpd" --dev tap0 --addr "$stack_addr/24" --root "$tmp/www" \
  >"$tmp/httpd.out" 2>"$tmp/httpd.err" &
httpd_pid=$!
pids+=("$httpd_pid")
for _ in $(seq 1 100); do
  grep -q "listening" "$tmp/httpd.out" 2>/dev/null && break
  sleep 0.1
done
if nsx timeout 20 python3 -c '
import sys, urllib.request
r = urllib.request.urlopen("http://" + sys.argv[1] + "/", timeout=10)
body = r.read()
print(r.status, r.reason, len(body), "bytes:", body.decode().strip())
' "$stack_addr" >"$tmp/http.out" 2>&1; then
  note "$(cat "$tmp/http.out")"
  note "server log: $(grep -m1 'GET' "$tmp/httpd.out" || true)"
else
  sed 's/^/    /' "$tmp/http.out"
  step_failed "HTTP fetch from ts-httpd"
fi
kill -TERM "$httpd_pid" 2>/dev/null || true
wait "$httpd_pid" 2>/dev/null || true
forget "$httpd_pid"

say "summary"
kping=$(grep -Eo '[0-9]+ received' "$tmp/ping.out" | head -n 1 || true)
udp_ok=$(grep -c 'identical' "$tmp/udp.out" || true)
tping=$(grep -Eo '[0-9]+ received' "$tmp/tsping.out" | head -n 1 || true)
note "kernel pinged the stack:        3 sent, ${kping:-0 received}"
note "UDP datagrams echoed intact:    ${udp_ok:-0} of 3"
note "TCP stream echoed intact:       $(cmp -s "$tmp/blob" "$tmp/blob.back" 2>/dev/null && echo yes || echo no)"
note "HTTP page fetched from ts-httpd: $(head -c 60 "$tmp/http.out" 2>/dev/null)"
note "ts-ping from the stack:         3 sent, ${tping:-0 received} (exit status $ping_status)"
note "ts-echo's counters (the stack while the kernel talked to it):"
sed 's/^/      /' "$tmp/echo.err"
note "ts-ping's counters:"
sed 's/^/      /' "$tmp/tsping.err"

if command -v tshark >/dev/null 2>&1 && [[ -s "$pcap" ]]; then
  say "the capture ($(tshark -r "$pcap" 2>/dev/null | wc -l) frames): what ts-echo's stack sent and received"
  tshark -r "$pcap" 2>/dev/null | sed -n 's/^/    /; 1,30p'
  note "... (first 30 frames)"
  note "protocol hierarchy:"
  tshark -r "$pcap" -q -z io,phs 2>/dev/null | sed -n '/^eth/,/^=/p' | sed 's/^/      /'
elif [[ ! -s "$pcap" ]]; then
  step_failed "no capture was written"
fi

if ((${#failed_steps[@]} > 0)); then
  echo
  echo "demo.sh: FAILED: ${failed_steps[*]}" >&2
  exit 1
fi
echo
echo "demo.sh: every step succeeded"
