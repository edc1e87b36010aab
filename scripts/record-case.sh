#!/usr/bin/env bash
# Records a replay case live against the Linux kernel (captures/README.md).
#
#   scripts/record-case.sh [OPTIONS] NAME APP [APP-ARGS...] [-- KERNEL-COMMAND...]
#
#   APP             ts-echo, ts-ping or ts-nc (from BUILD/apps); the script adds --dev,
#                   --addr, --mac, --seed and --pcap, so APP-ARGS are only the app's own
#                   options (e.g. `ts-echo --port 7`, `ts-ping -c 3 -i 0.2 10.0.0.1`,
#                   `ts-nc 10.0.0.1 5000`, `ts-nc --impair loss=2% -l 5000`).
#   KERNEL-COMMAND  run by the kernel side (10.0.0.1) once the stack is up, e.g.
#                   `ping -c 3 -i 0.2 10.0.0.2`; the app is stopped (SIGINT) after it.
#                   Without one, the script waits for the app to finish by itself (ts-ping).
#                   With --kernel-first it starts before the app (a server the app
#                   connects to: `nc -l 10.0.0.1 5000`) and the app is waited for instead.
#
# Options:
#   --build DIR     the build directory holding apps/ and tests/replay/ (default: build)
#   --out DIR       where NAME.pcap and NAME.case go (default: captures)
#   --seed N        the stack's seed (default 7)
#   --timeout S     longest the app or the kernel command may run (default 30)
#   --app-input CMD the app's stdin is what the shell command CMD writes (ts-nc's data),
#                   e.g. 'printf "hello\n"; sleep 0.5; printf "bye\n"'; default: empty
#   --kernel-first  start the kernel command first, wait 0.5 s, then run the app to its end
#   --pattern N     instead of --app-input, feed the app N bytes of the stream pattern
#                   (captures/README.md); the case then says tcp-send-pattern
#
# Everything happens in a private network namespace made for the run and deleted
# afterwards: a TAP device whose kernel side is 10.0.0.1/24 (IPv6 off so the
# kernel adds no chatter), the stack at 10.0.0.2 with MAC 02:00:00:00:00:02.
# The host's interfaces, routes and firewall are never touched. Needs root
# (CAP_NET_ADMIN and CAP_SYS_ADMIN for `ip netns`).
#
# The result is a capture of both directions and a .case skeleton to review:
# describe what the case shows, check the action lines, then run
# `ts-replay-case NAME.case`. The script runs it once and prints the outcome.
# When the stack spoke TCP, the case also gets its clock-offset line (the
# capture's timestamps minus the live stack's clock, which the stack's ISNs
# and timestamps depend on), found by `ts-replay-case --find-clock-offset`
# from the capture, with this script's own measurement of
# CLOCK_REALTIME - CLOCK_MONOTONIC as the hint (or the offset the app printed,
# "clock offset: N us", if it prints one).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
OUT=$ROOT/captures
SEED=7
TIMEOUT=30
STACK_ADDR=10.0.0.2/24
STACK_MAC=02:00:00:00:00:02
PEER_ADDR=10.0.0.1/24
TAP=tsrec0
APP_INPUT=
KERNEL_FIRST=0
PATTERN=

die() { echo "record-case: $*" >&2; exit 2; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

while [[ $# -gt 0 && $1 == --* ]]; do
    case $1 in
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --app-input) APP_INPUT=$2; shift 2 ;;
    --kernel-first) KERNEL_FIRST=1; shift ;;
    --pattern) PATTERN=$2; shift 2 ;;
    --help) usage 0 ;;
    *) die "unknown option $1 (try --help)" ;;
    esac
done
[[ $# -ge 2 ]] || usage
NAME=$1
APP=$2
shift 2
[[ $NAME =~ ^[A-Za-z0-9_-]+$ ]] || die "NAME '$NAME': use letters, digits, _ and - only"
[[ $SEED =~ ^[0-9]+$ ]] || die "--seed '$SEED' is not a number"
[[ $TIMEOUT =~ ^[0-9]+$ && $TIMEOUT -gt 0 ]] || die "--timeout '$TIMEOUT' is not a number of seconds"
[[ -z $PATTERN || $PATTERN =~ ^[0-9]+$ ]] || die "--pattern '$PATTERN' is not a byte count"
case $APP in
ts-echo | ts-ping | ts-nc) ;;
*) die "APP must be ts-echo, ts-ping or ts-nc, not '$APP'" ;;
esac

APP_ARGS=()
KERNEL_CMD=()
while [[ $# -gt 0 ]]; do
    if [[ $1 == -- ]]; then
        shift
        KERNEL_CMD=("$@")
        break
    fi
    APP_ARGS+=("$1")
    shift
done

APP_BIN=$BUILD/apps/$APP
REPLAY_BIN=$BUILD/tests/replay/ts-replay-case
[[ -x $APP_BIN ]] || die "$APP_BIN not built (cmake --build $BUILD)"
[[ -x $REPLAY_BIN ]] || die "$REPLAY_BIN not built (cmake --build $BUILD)"
[[ $(id -u) -eq 0 ]] || die "needs root for the network namespace and the TAP device"
command -v ip >/dev/null || die "needs iproute2 (ip)"
mkdir -p "$OUT"
[[ ! -e $OUT/$NAME.case ]] || die "$OUT/$NAME.case exists; remove it first to record again"

NS=tsrec-$$
WORK=$(mktemp -d /tmp/record-case.XXXXXX)
APP_PID=
KERNEL_PID=

cleanup() {
    for pid in $APP_PID $KERNEL_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

in_ns() { ip netns exec "$NS" "$@"; }

# The namespace and the kernel side of the link, before the app starts: ts-ping sends at once.
ip netns add "$NS"
in_ns ip link set lo up
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1
in_ns sysctl -qw net.ipv6.conf.default.disable_ipv6=1
in_ns ip tuntap add dev "$TAP" mode tap
in_ns ip addr add "$PEER_ADDR" dev "$TAP"
in_ns ip link set "$TAP" up

# The app's stdin: nothing, a command's output, or N bytes of the stream pattern (byte k is
# the (k mod 61)-th of 0-9A-Za-z, as tcp-send-pattern makes them).
if [[ -n $PATTERN ]]; then
    python3 -c 'import sys
a = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
n = int(sys.argv[1])
sys.stdout.buffer.write(bytes(a[k % 61] for k in range(n)))' "$PATTERN" >"$WORK/app.in"
    APP_INPUT="cat '$WORK/app.in'"
fi
[[ -n $APP_INPUT ]] || APP_INPUT=true

# CLOCK_REALTIME - CLOCK_MONOTONIC now: within a few microseconds of the offset the capture tee
# takes (it is fixed but for clock steps); --find-clock-offset uses it only as a hint.
clock_offset_now() {
    python3 -c 'import time
print(time.clock_gettime_ns(time.CLOCK_REALTIME) // 1000 - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)'
}

if [[ $KERNEL_FIRST -eq 1 && ${#KERNEL_CMD[@]} -gt 0 ]]; then
    echo "record-case: kernel side starts first: $(printf '%q ' "${KERNEL_CMD[@]}")"
    in_ns timeout "$TIMEOUT" "${KERNEL_CMD[@]}" >"$WORK/kernel.out" 2>&1 &
    KERNEL_PID=$!
    sleep 0.5
fi

CLOCK_HINT=$(clock_offset_now)
PCAP=$WORK/$NAME.pcap
# The app's stdin comes through a pipe, so ts-nc sees its input arrive over time, then EOF.
(eval "$APP_INPUT") | ip netns exec "$NS" "$APP_BIN" --dev "$TAP" --addr "$STACK_ADDR" --mac "$STACK_MAC" \
    --seed "$SEED" --pcap "$PCAP" --trace=all "${APP_ARGS[@]}" >"$WORK/app.out" 2>"$WORK/app.trace" &
APP_PID=$!

# Wait (bounded) until the stack is up: the capture exists and the carrier is on.
for _ in $(seq 1 50); do
    if [[ -s $PCAP ]] && in_ns ip link show "$TAP" | grep -q LOWER_UP; then
        break
    fi
    kill -0 "$APP_PID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$APP_PID" 2>/dev/null || [[ ${#KERNEL_CMD[@]} -eq 0 || $KERNEL_FIRST -eq 1 ]] || {
    cat "$WORK/app.out" "$WORK/app.trace" >&2
    die "$APP exited before the kernel command could run"
}

KERNEL_STATUS=0
if [[ ${#KERNEL_CMD[@]} -gt 0 && $KERNEL_FIRST -eq 0 ]]; then
    sleep 0.2 # let the stack's gratuitous ARP go out first, so every recording starts alike
    echo "record-case: kernel side runs: $(printf '%q ' "${KERNEL_CMD[@]}")"
    in_ns timeout "$TIMEOUT" "${KERNEL_CMD[@]}" || KERNEL_STATUS=$?
    sleep 0.2 # the last answers
    kill -INT "$APP_PID" 2>/dev/null || true
fi
# Bounded: an app that does not finish within the timeout is asked to stop.
for _ in $(seq 1 $((TIMEOUT * 10))); do
    kill -0 "$APP_PID" 2>/dev/null || break
    sleep 0.1
done
kill -INT "$APP_PID" 2>/dev/null || true
APP_STATUS=0
wait "$APP_PID" || APP_STATUS=$?
APP_PID=
if [[ -n $KERNEL_PID ]]; then
    wait "$KERNEL_PID" || KERNEL_STATUS=$?
    KERNEL_PID=
    sed 's/^/  kernel: /' "$WORK/kernel.out" | head -n 20
fi
echo "record-case: $APP exited with $APP_STATUS; kernel command with $KERNEL_STATUS"
sed 's/^/  app: /' "$WORK/app.out" | head -n 20

[[ -s $PCAP ]] || die "no capture was written"
cp "$PCAP" "$OUT/$NAME.pcap"
cp "$WORK/app.trace" "$WORK/trace.txt"

# The case skeleton: what the capture cannot say.
CASE=$OUT/$NAME.case
{
    echo "# $NAME: describe what this case shows and which RFC rules it exercises."
    echo "# Recorded live by scripts/record-case.sh on $(date -u +%Y-%m-%d) against Linux $(uname -r):"
    echo "#   app:         $APP ${APP_ARGS[*]} (stack $STACK_ADDR, $STACK_MAC, seed $SEED)"
    if [[ ${#KERNEL_CMD[@]} -gt 0 ]]; then
        # %q keeps a multi-line command (python3 -c $'...') on one comment line.
        echo "#   kernel side: $(printf '%q ' "${KERNEL_CMD[@]}")(from ${PEER_ADDR%/*})"
    fi
    if [[ -n $PATTERN ]]; then
        echo "#   app input:   $PATTERN bytes of the stream pattern"
    elif [[ $APP_INPUT != true ]]; then
        echo "#   app input:   $APP_INPUT"
    fi
    echo "stack addr $STACK_ADDR mac $STACK_MAC seed $SEED"
    echo "origin recorded"
    echo "tolerance 20ms"
} >"$CASE"

if [[ $APP == ts-echo ]]; then
    PORT=7
    UDP=0
    TCP=0
    for ((i = 0; i < ${#APP_ARGS[@]}; i++)); do
        case ${APP_ARGS[i]} in
        -p | --port) PORT=${APP_ARGS[i + 1]:-7} ;;
        --port=*) PORT=${APP_ARGS[i]#--port=} ;;
        -u | --udp) UDP=1 ;;
        -t | --tcp) TCP=1 ;;
        esac
    done
    [[ $UDP -eq 0 || $TCP -eq 1 ]] && echo "app tcp-echo $PORT" >>"$CASE"
    [[ $UDP -eq 1 ]] && echo "app udp-echo $PORT" >>"$CASE"
fi
if [[ $APP == ts-nc ]]; then
    # ts-nc -l PORT: SO_REUSEADDR, listen(1), one accept, then the listener is closed.
    for ((i = 0; i < ${#APP_ARGS[@]}; i++)); do
        if [[ ${APP_ARGS[i]} == -l ]]; then
            last=${APP_ARGS[${#APP_ARGS[@]} - 1]}
            echo "at 0 tcp-listen $last backlog 1 once" >>"$CASE"
        fi
    done
fi
# When the runtime first polled, (ts-ping) when each request was sent and (ts-nc) what the
# stack's TCP sent when, from the capture.
"$REPLAY_BIN" --suggest-actions "$CASE" >"$WORK/actions"
cat "$WORK/actions" >>"$CASE"
# The clock offset, when the stack spoke TCP (a comment says how it was found). An app that
# prints the offset its capture tee used ("clock offset: N us") gives the exact hint.
PRINTED=$(sed -n 's/.*clock offset:* \(-\{0,1\}[0-9][0-9]*\) us.*/\1/p' "$WORK/app.out" "$WORK/app.trace" | head -n 1)
[[ -z $PRINTED ]] || CLOCK_HINT=$PRINTED
OFFSET_RC=0
"$REPLAY_BIN" --find-clock-offset --clock-hint "$CLOCK_HINT" "$CASE" >"$WORK/offset" 2>"$WORK/offset.why" ||
    OFFSET_RC=$?
if [[ $OFFSET_RC -ne 3 ]]; then
    echo "# clock: hint $CLOCK_HINT us (CLOCK_REALTIME - CLOCK_MONOTONIC, measured by record-case.sh)" >>"$CASE"
    sed 's/^/# clock: /' "$WORK/offset.why" >>"$CASE"
    cat "$WORK/offset" >>"$CASE"
fi

echo "record-case: wrote $OUT/$NAME.pcap ($(stat -c %s "$OUT/$NAME.pcap") bytes) and $CASE:"
sed 's/^/  | /' "$CASE"
echo "record-case: replaying it once:"
if "$REPLAY_BIN" "$CASE"; then
    echo "record-case: the case replays. Review $CASE (describe it) before committing."
else
    echo "record-case: the case does NOT replay yet; the stack's trace from the live run:" >&2
    sed 's/^/  trace: /' "$WORK/trace.txt" | tail -n 40 >&2
    exit 1
fi
