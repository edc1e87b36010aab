#!/usr/bin/env bash
# Records a replay case live against the Linux kernel (captures/README.md).
#
#   scripts/record-case.sh [OPTIONS] NAME APP [APP-ARGS...] [-- KERNEL-COMMAND...]
#
#   APP             ts-echo or ts-ping (from BUILD/apps); the script adds --dev, --addr,
#                   --mac, --seed and --pcap, so APP-ARGS are only the app's own options
#                   (e.g. `ts-echo --udp --port 7`, `ts-ping -c 3 -i 0.2 10.0.0.1`).
#   KERNEL-COMMAND  run by the kernel side (10.0.0.1) once the stack is up, e.g.
#                   `ping -c 3 -i 0.2 10.0.0.2`; the app is stopped (SIGINT) after it.
#                   Without one, the script waits for the app to finish by itself (ts-ping).
#
# Options:
#   --build DIR     the build directory holding apps/ and tests/replay/ (default: build)
#   --out DIR       where NAME.pcap and NAME.case go (default: captures)
#   --seed N        the stack's seed (default 7)
#   --timeout S     longest the app or the kernel command may run (default 30)
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
case $APP in
ts-echo | ts-ping) ;;
*) die "APP must be ts-echo or ts-ping, not '$APP'" ;;
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

cleanup() {
    if [[ -n $APP_PID ]] && kill -0 "$APP_PID" 2>/dev/null; then
        kill -TERM "$APP_PID" 2>/dev/null || true
        wait "$APP_PID" 2>/dev/null || true
    fi
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

PCAP=$WORK/$NAME.pcap
ip netns exec "$NS" "$APP_BIN" --dev "$TAP" --addr "$STACK_ADDR" --mac "$STACK_MAC" \
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
kill -0 "$APP_PID" 2>/dev/null || [[ ${#KERNEL_CMD[@]} -eq 0 ]] || {
    cat "$WORK/app.out" "$WORK/app.trace" >&2
    die "$APP exited before the kernel command could run"
}

KERNEL_STATUS=0
if [[ ${#KERNEL_CMD[@]} -gt 0 ]]; then
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
echo "record-case: $APP exited with $APP_STATUS; kernel command with $KERNEL_STATUS"
sed 's/^/  app: /' "$WORK/app.out"

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
    echo "stack addr $STACK_ADDR mac $STACK_MAC seed $SEED"
    echo "origin recorded"
    echo "tolerance 20ms"
} >"$CASE"

if [[ $APP == ts-echo ]]; then
    PORT=7
    for ((i = 0; i < ${#APP_ARGS[@]}; i++)); do
        case ${APP_ARGS[i]} in
        -p | --port) PORT=${APP_ARGS[i + 1]:-7} ;;
        --port=*) PORT=${APP_ARGS[i]#--port=} ;;
        esac
    done
    echo "app udp-echo $PORT" >>"$CASE"
fi
# When the runtime first polled, and (ts-ping) when each request was sent, from the capture.
"$REPLAY_BIN" --suggest-actions "$CASE" >"$WORK/actions"
cat "$WORK/actions" >>"$CASE"

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
