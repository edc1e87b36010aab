#!/usr/bin/env bash
# ts-httpd serves a temporary directory to kernel HTTP clients (python3's
# http.client): a small file with the right headers, 404, HEAD, 405 and 501,
# directory listings and index.html, a 5 MB file byte for byte, 20 requests on
# one connection and 20 pipelined, 10 clients at once, and requests that try
# to leave the root, all refused. Every request is logged in one line.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
it_require_tools python3 sha256sum
it_setup
TS_HTTPD="$TS_APPS_DIR/ts-httpd"
[[ -x "$TS_HTTPD" ]] || it_fail "$TS_HTTPD is missing: build the apps first (or set TS_APPS_DIR)"
port=8080

# The served tree, and a file just above it that no request may reach.
www="$IT_TMP/www"
mkdir -p "$www/docs/inner" "$www/withindex"
echo "TOP-SECRET-$$" >"$IT_TMP/secret.txt"
printf 'hello from ts-httpd\n' >"$www/small.txt"
echo '<p>page</p>' >"$www/page.html"
echo '{"a": 1}' >"$www/data.json"
printf '\x89PNG\r\n\x1a\n' >"$www/pic.png"
echo blob >"$www/blob.xyz"
echo a >"$www/docs/a.txt"
echo "b c" >"$www/docs/b c.txt"
echo tag >"$www/docs/<tag>.txt"
echo '<html>the index page</html>' >"$www/withindex/index.html"
ln -s ../secret.txt "$www/escape.txt"
head -c 5000000 /dev/urandom >"$www/big.bin"
head -c 300000 /dev/urandom >"$www/medium.bin"

it_start_bg httpd 100 "$TS_HTTPD" --dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX" --root "$www" --port "$port" --stats
HTTPD_PID=$IT_LAST_PID
it_wait_for_line httpd "$HTTPD_PID" "serving $www on http://$IT_STACK_ADDR:$port/" 10
it_log "ts-httpd is up: $(head -n 1 "$IT_TMP/httpd.out")"

# run_check WHAT SECONDS ARGS...: one http_check.py mode in the namespace, bounded.
run_check() {
  local what=$1 limit=$2
  shift 2
  it_log "check: $what"
  if ! it_ns timeout "$limit" python3 "$here/http_check.py" "$@"; then
    it_show httpd
    it_fail "$what"
  fi
}

run_check "statuses, headers, HEAD, 405/501, listings, '..' refused, malformed requests" 30 \
  basic "$IT_STACK_ADDR" "$port" "$www"
run_check "a 5 MB file arrives identical" 30 big "$IT_STACK_ADDR" "$port" /big.bin "$www/big.bin"
run_check "keep-alive: 20 requests on one connection, then 20 pipelined" 30 \
  keepalive "$IT_STACK_ADDR" "$port" 20 /small.txt
run_check "10 concurrent clients" 30 concurrent "$IT_STACK_ADDR" "$port" 10 /medium.bin "$www/medium.bin"

it_log "check: one log line per request, CLIENT \"REQUEST LINE\" STATUS BYTES"
it_expect_in "$IT_TMP/httpd.out" "^$IT_KERNEL_ADDR \"GET /small.txt HTTP/1.1\" 200 20\$" "log of a GET"
it_expect_in "$IT_TMP/httpd.out" "^$IT_KERNEL_ADDR \"HEAD /small.txt HTTP/1.1\" 200 0\$" "log of a HEAD"
it_expect_in "$IT_TMP/httpd.out" "^$IT_KERNEL_ADDR \"GET /no/such/file HTTP/1.1\" 404 [0-9]+\$" "log of a 404"
it_expect_in "$IT_TMP/httpd.out" "^$IT_KERNEL_ADDR \"GET /big.bin HTTP/1.1\" 200 5000000\$" "log of the 5 MB GET"
it_expect_in "$IT_TMP/httpd.out" "^$IT_KERNEL_ADDR \"POST /small.txt HTTP/1.1\" 405 [0-9]+\$" "log of a 405"
it_pass "requests logged"

it_stop httpd "$HTTPD_PID"
it_no_sanitizer_report "$IT_TMP/httpd.err"
((IT_STATUS == 0)) || { it_show httpd; it_fail "ts-httpd exited with $IT_STATUS after SIGTERM (expected 0)"; }
it_expect_in "$IT_TMP/httpd.out" '^ts-httpd: stopped: [0-9]+ requests on [0-9]+ connections$' "ts-httpd summary"
it_expect_in "$IT_TMP/httpd.err" 'statistics' "ts-httpd --stats"
requests=$(sed -nE 's/^ts-httpd: stopped: ([0-9]+) requests.*/\1/p' "$IT_TMP/httpd.out")
logged=$(grep -Ec "^$IT_KERNEL_ADDR \"" "$IT_TMP/httpd.out" || true)
((logged == requests)) || it_fail "$requests requests but $logged log lines"
it_pass "ts-httpd stopped cleanly after $requests requests, each logged"

it_log "check: --max-conns and --idle-timeout bound what clients can hold"
it_start_bg httpd2 60 "$TS_HTTPD" --dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX" --root "$www" --port "$port" \
  --max-conns 2 --idle-timeout 1
HTTPD_PID=$IT_LAST_PID
it_wait_for_line httpd2 "$HTTPD_PID" "serving $www" 10
if ! it_ns timeout 30 python3 "$here/http_check.py" limits "$IT_STACK_ADDR" "$port" 1; then
  it_show httpd2
  it_fail "--max-conns 2 --idle-timeout 1"
fi
it_stop httpd2 "$HTTPD_PID"
it_no_sanitizer_report "$IT_TMP/httpd2.err"
((IT_STATUS == 0)) || { it_show httpd2; it_fail "ts-httpd exited with $IT_STATUS after SIGTERM (expected 0)"; }
it_pass "a waiting client is served once a slot frees; idle and trickling clients are dropped"

it_log "check: a missing --root is refused before the device is touched"
status=0
it_ns timeout 10 "$TS_HTTPD" --dev tap0 --root "$IT_TMP/does-not-exist" >"$IT_TMP/noroot.out" 2>&1 || status=$?
((status == 1)) || it_fail "ts-httpd with a missing root exited with $status (expected 1)"
it_expect_in "$IT_TMP/noroot.out" '^ts-httpd: --root .*does-not-exist: No such file or directory$' "missing-root message"
it_pass "missing root: exit 1 with a message"
