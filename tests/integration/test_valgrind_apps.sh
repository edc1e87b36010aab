#!/usr/bin/env bash
# Every sample app under valgrind (memcheck) with real traffic from the kernel:
# ts-ping pings the kernel; ts-echo echoes UDP datagrams (one fragmented) and a
# TCP file; ts-nc sends a file to a kernel nc server; ts-httpd serves a file to
# a kernel HTTP client; ts-get fetches one from a kernel HTTP server. Each run
# must end with no invalid access and no definite or indirect leak
# (valgrind --error-exitcode, checked again in its log). Registered only in a
# build without -DTS_SANITIZE (valgrind cannot run ASan binaries).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

it_require_tools valgrind python3 nc cmp head
it_setup
stack=(--dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX")
# --fair-sched: the runtime thread and the app's thread take turns, so timers are not starved.
# shellcheck disable=SC2054 # the commas belong to valgrind's option
vg=(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --fair-sched=yes)

# vg_check NAME STATUS: the app's exit status and valgrind's log for NAME.
vg_check() {
  local name=$1 status=$2 log="$IT_TMP/vg-$1.log"
  if ((status == 99)) || ! grep -q 'ERROR SUMMARY: 0 errors' "$log" \
    || grep -Eq '(definitely|indirectly) lost: [1-9]' "$log"; then
    cat "$log" >&2
    it_fail "valgrind found errors or leaks in $name (status $status)"
  fi
  it_log "$name: $(grep -oE '(All heap blocks were freed.*|definitely lost: [0-9,]+ bytes)' "$log" | head -n 1); $(grep -oE 'ERROR SUMMARY: [0-9]+ errors' "$log")"
}

# vg_start NAME APP ARGS...: the app under valgrind in the namespace, ready when its line shows.
vg_start() {
  local name=$1
  shift
  it_start_bg_direct "$name" "${vg[@]}" --log-file="$IT_TMP/vg-$name.log" "$@"
  VG_PID=$IT_LAST_PID
}

vg_stop() {
  local name=$1
  it_stop "$name" "$VG_PID"
  vg_check "$name" "$IT_STATUS"
  ((IT_STATUS == 0)) || { it_show "$name"; it_fail "$name exited with status $IT_STATUS after SIGTERM"; }
}

head -c 200000 /dev/urandom >"$IT_TMP/file.bin"

it_log "check: ts-ping"
status=0
it_ns timeout 60 "${vg[@]}" --log-file="$IT_TMP/vg-ts-ping.log" "$TS_APPS_DIR/ts-ping" "${stack[@]}" -c 3 -i 0.2 \
  "$IT_KERNEL_ADDR" >"$IT_TMP/ping.out" 2>&1 || status=$?
it_expect_in "$IT_TMP/ping.out" '3 packets transmitted, 3 received' "ts-ping's summary"
vg_check ts-ping "$status"

it_log "check: ts-echo, UDP and TCP"
vg_start ts-echo "$TS_APPS_DIR/ts-echo" "${stack[@]}" --udp --tcp --stats
it_wait_for_line ts-echo "$VG_PID" "listening on tcp" 30
it_ns timeout 30 python3 "$here/udp_client.py" echo "$IT_STACK_ADDR" 7 10 3000 >"$IT_TMP/udp.out" \
  || { cat "$IT_TMP/udp.out" >&2; it_fail "UDP echo under valgrind"; }
it_ns timeout 30 nc -N "$IT_STACK_ADDR" 7 <"$IT_TMP/file.bin" >"$IT_TMP/echo.back" || it_fail "nc to ts-echo"
cmp -s "$IT_TMP/file.bin" "$IT_TMP/echo.back" || it_fail "the TCP echo under valgrind differs"
vg_stop ts-echo

it_log "check: ts-nc to a kernel nc server"
it_start_bg knc 40 nc -l "$IT_KERNEL_ADDR" 9000
knc=$IT_LAST_PID
sleep 0.5
status=0
it_ns timeout 40 "${vg[@]}" --log-file="$IT_TMP/vg-ts-nc.log" "$TS_APPS_DIR/ts-nc" "${stack[@]}" "$IT_KERNEL_ADDR" 9000 \
  <"$IT_TMP/file.bin" >/dev/null 2>"$IT_TMP/nc.err" || status=$?
it_wait_exit knc "$knc" 20
cmp -s "$IT_TMP/file.bin" "$IT_TMP/knc.out" || it_fail "the file ts-nc sent arrived different"
vg_check ts-nc "$status"

it_log "check: ts-httpd serving a kernel HTTP client"
mkdir -p "$IT_TMP/www"
cp "$IT_TMP/file.bin" "$IT_TMP/www/file.bin"
vg_start ts-httpd "$TS_APPS_DIR/ts-httpd" "${stack[@]}" --root "$IT_TMP/www" --port 8080
it_wait_for_line ts-httpd "$VG_PID" "serving" 30
it_ns timeout 30 python3 - "$IT_STACK_ADDR" "$IT_TMP/file.bin" <<'PY' || it_fail "HTTP fetch from ts-httpd under valgrind"
import sys, urllib.request
want = open(sys.argv[2], "rb").read()
for path in ("/file.bin", "/file.bin", "/"):
    body = urllib.request.urlopen("http://%s:8080%s" % (sys.argv[1], path), timeout=20).read()
    assert path == "/" or body == want, "body differs"
PY
vg_stop ts-httpd

it_log "check: ts-get from a kernel HTTP server"
mkdir -p "$IT_TMP/srv"
cp "$IT_TMP/file.bin" "$IT_TMP/srv/file.bin"
it_start_bg files 60 python3 -u -m http.server --bind "$IT_KERNEL_ADDR" --directory "$IT_TMP/srv" 8000
it_wait_for_line files "$IT_LAST_PID" "Serving HTTP" 10
status=0
it_ns timeout 40 "${vg[@]}" --log-file="$IT_TMP/vg-ts-get.log" "$TS_APPS_DIR/ts-get" "${stack[@]}" \
  "http://$IT_KERNEL_ADDR:8000/file.bin" -o "$IT_TMP/got.bin" >/dev/null 2>"$IT_TMP/get.err" || status=$?
cmp -s "$IT_TMP/file.bin" "$IT_TMP/got.bin" || it_fail "ts-get under valgrind fetched a different file"
vg_check ts-get "$status"
it_pass "no invalid access and no definite or indirect leak in any app"
