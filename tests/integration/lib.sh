# shellcheck shell=bash
# Shared helpers for tapstack's integration tests; sourced, not run.
#
# Every test builds its own private network namespace (named after the test and
# its PID), puts a TAP interface tap0 with 10.0.0.1/24 in it for the kernel side,
# runs the apps inside it and deletes it on every exit path. Nothing here touches
# the host's interfaces, routes or firewall.

IT_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
IT_NS=""
IT_TMP=""
IT_PIDS=()
IT_KERNEL_ADDR=10.0.0.1
IT_STACK_ADDR=10.0.0.2
IT_PREFIX=24

it_log() {
  echo "[$IT_NAME] $*"
}

it_fail() {
  echo "[$IT_NAME] FAIL: $*" >&2
  exit 1
}

it_pass() {
  echo "[$IT_NAME] PASS: $*"
}

# Where the apps are: $TS_APPS_DIR (set by CTest), else build/apps next to the sources.
it_find_apps() {
  local here app
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  TS_APPS_DIR=${TS_APPS_DIR:-$here/../../build/apps}
  for app in ts-ping ts-echo; do
    [[ -x "$TS_APPS_DIR/$app" ]] || it_fail "$TS_APPS_DIR/$app is missing: build the apps first (or set TS_APPS_DIR)"
  done
  # shellcheck disable=SC2034 # used by the tests that source this file
  TS_PING="$TS_APPS_DIR/ts-ping"
  TS_ECHO="$TS_APPS_DIR/ts-echo"
}

it_require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || it_fail "'$tool' is not installed (scripts/install-deps.sh installs it)"
  done
}

it_cleanup() {
  local status=$?
  local pid
  for pid in "${IT_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${IT_PIDS[@]}"; do
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ -n "$IT_NS" ]]; then
    ip netns del "$IT_NS" 2>/dev/null || true
  fi
  if [[ -n "$IT_TMP" && -d "$IT_TMP" ]]; then
    if ((status != 0)) && [[ -n "${IT_KEEP_ON_FAILURE:-}" ]]; then
      echo "[$IT_NAME] kept $IT_TMP for inspection" >&2
    else
      rm -rf "$IT_TMP"
    fi
  fi
  exit "$status"
}

# Deletes namespaces an earlier run of this same test left behind when it was killed
# (their PID suffix names a process that no longer exists). Only our own names.
it_remove_stale_namespaces() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ "$ns" == "tsit-$IT_NAME-"* ]] || continue
    pid=${ns##*-}
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    if ! kill -0 "$pid" 2>/dev/null; then
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}

# Creates the namespace with tap0 (10.0.0.1/24, kernel side) and a temp directory.
it_setup() {
  it_find_apps
  it_require_tools ip timeout
  if ((EUID != 0)); then
    it_fail "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create a private network namespace; run the integration tests as root"
  fi
  trap it_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  IT_TMP=$(mktemp -d "/tmp/tsit-$IT_NAME.XXXXXX")
  it_remove_stale_namespaces
  local ns="tsit-$IT_NAME-$$"
  if ! ip netns add "$ns" 2>"$IT_TMP/netns.err"; then
    it_fail "'ip netns add $ns' failed: $(cat "$IT_TMP/netns.err"); these tests need a private network namespace"
  fi
  IT_NS=$ns
  it_ns ip link set lo up
  it_ns ip tuntap add dev tap0 mode tap || it_fail "cannot create tap0 in $IT_NS (is the tun module available?)"
  # No IPv6 on tap0: router solicitations and MLD reports would only add noise to the captures.
  it_ns sysctl -q -w net.ipv6.conf.tap0.disable_ipv6=1 || true
  it_ns ip addr add "$IT_KERNEL_ADDR/$IT_PREFIX" dev tap0
  it_ns ip link set tap0 up
  it_log "namespace $IT_NS: tap0 is $IT_KERNEL_ADDR/$IT_PREFIX (kernel side); the stack will be $IT_STACK_ADDR"
}

# Runs a command inside the test's namespace.
it_ns() {
  ip netns exec "$IT_NS" "$@"
}

# A background job opens its output files only once it runs: emptied here first, so a wait for a
# line never finds the one an earlier job of the same NAME left (a server's "ready").
it_truncate_output() {
  : >"$IT_TMP/$1.out"
  : >"$IT_TMP/$1.err"
}

# it_start_bg NAME SECONDS CMD...: starts CMD in the namespace in the background,
# killed after SECONDS at the latest; stdout in $IT_TMP/NAME.out, stderr in NAME.err.
# Sets IT_LAST_PID.
it_start_bg() {
  local name=$1 limit=$2
  shift 2
  it_truncate_output "$name"
  ip netns exec "$IT_NS" timeout -s TERM -k 5 "$limit" "$@" >"$IT_TMP/$name.out" 2>"$IT_TMP/$name.err" &
  IT_LAST_PID=$!
  IT_PIDS+=("$IT_LAST_PID")
}

# it_start_bg_direct NAME CMD...: as it_start_bg but without the timeout wrapper, so the PID is
# the command's own (for tests that signal it); CMD must end by itself in bounded time.
it_start_bg_direct() {
  local name=$1
  shift
  it_truncate_output "$name"
  ip netns exec "$IT_NS" "$@" >"$IT_TMP/$name.out" 2>"$IT_TMP/$name.err" &
  IT_LAST_PID=$!
  IT_PIDS+=("$IT_LAST_PID")
}

# it_wait_exit NAME PID SECONDS: waits for PID to end by itself; sets IT_STATUS.
it_wait_exit() {
  local name=$1 pid=$2 limit=$3
  for _ in $(seq 1 $((limit * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    it_show "$name"
    it_fail "$name did not end within ${limit}s"
  fi
  IT_STATUS=0
  wait "$pid" || IT_STATUS=$?
  it_forget "$pid"
}

# it_wait_for_line NAME PID PATTERN SECONDS: waits until NAME.out holds PATTERN.
it_wait_for_line() {
  local name=$1 pid=$2 pattern=$3 limit=$4
  local tries=$((limit * 10))
  for _ in $(seq 1 "$tries"); do
    if grep -q -- "$pattern" "$IT_TMP/$name.out" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      it_show "$name"
      it_fail "$name exited before printing '$pattern'"
    fi
    sleep 0.1
  done
  it_show "$name"
  it_fail "$name did not print '$pattern' within ${limit}s"
}

# it_stop NAME PID: SIGTERM, then waits (bounded) and sets IT_STATUS to the exit status.
it_stop() {
  local name=$1 pid=$2
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    it_show "$name"
    it_fail "$name did not stop within 10s of SIGTERM"
  fi
  IT_STATUS=0
  wait "$pid" || IT_STATUS=$?
  it_forget "$pid"
}

# Once waited for, a PID may be reused: cleanup must no longer signal it.
it_forget() {
  local gone=$1 pid kept=()
  for pid in "${IT_PIDS[@]}"; do
    [[ "$pid" == "$gone" ]] || kept+=("$pid")
  done
  IT_PIDS=("${kept[@]}")
}

# Prints an app's captured output, for the log of a failing test.
it_show() {
  local name=$1
  echo "----- $name stdout -----" >&2
  cat "$IT_TMP/$name.out" >&2 2>/dev/null || true
  echo "----- $name stderr -----" >&2
  cat "$IT_TMP/$name.err" >&2 2>/dev/null || true
  echo "------------------------" >&2
}

# Starts ts-echo in the namespace and waits for its ready line. Extra args are passed on.
it_start_echo() {
  it_start_bg echo 100 "$TS_ECHO" --udp --dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX" --stats "$@"
  ECHO_PID=$IT_LAST_PID
  it_wait_for_line echo "$ECHO_PID" "listening on udp" 10
  it_log "ts-echo is up: $(head -n 1 "$IT_TMP/echo.out")"
}

it_stop_echo() {
  it_stop echo "$ECHO_PID"
  it_no_sanitizer_report "$IT_TMP/echo.err"
  if ((IT_STATUS != 0)); then
    it_show echo
    it_fail "ts-echo exited with status $IT_STATUS after SIGTERM (expected 0)"
  fi
}

# In a -DTS_SANITIZE=ON build a report may come with an exit status a test expects
# anyway (ts-ping's 1): look for the reports themselves.
it_no_sanitizer_report() {
  local file
  for file in "$@"; do
    if grep -Eq 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$file" 2>/dev/null; then
      cat "$file" >&2
      it_fail "a sanitizer reported an error in $file"
    fi
  done
}

# it_expect_in FILE PATTERN WHAT: fails unless FILE holds PATTERN (an extended regex).
it_expect_in() {
  local file=$1 pattern=$2 what=$3
  if ! grep -Eq -- "$pattern" "$file"; then
    echo "----- $file -----" >&2
    cat "$file" >&2
    it_fail "$what: expected /$pattern/"
  fi
}
