#!/usr/bin/env bash
# ts-get fetches from kernel HTTP servers: python3 -m http.server (a 5 MB file
# identical, to a file and to stdout, 404 -> exit 1) and http_test_server.py
# (chunked bodies with extensions and trailers, a body delimited by the close,
# a 100 Continue before the answer; truncated, malformed and redirected
# responses, and a server that never answers -> exit 1 with a message). A refused connection and bad URLs fail
# too, and the progress bar appears only when stderr is a terminal.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
it_require_tools python3 sha256sum cmp
it_setup
TS_GET="$TS_APPS_DIR/ts-get"
[[ -x "$TS_GET" ]] || it_fail "$TS_GET is missing: build the apps first (or set TS_APPS_DIR)"
get_args=(--dev tap0 --addr "$IT_STACK_ADDR/$IT_PREFIX" --timeout 10)
files_url="http://$IT_KERNEL_ADDR:8000"
test_url="http://$IT_KERNEL_ADDR:8001"

srv="$IT_TMP/srv"
mkdir -p "$srv"
head -c 5000000 /dev/urandom >"$srv/big.bin"
printf 'small file for ts-get\n' >"$srv/small.txt"

# -u: the ready line must not sit in a pipe buffer.
it_start_bg files 100 python3 -u -m http.server --bind "$IT_KERNEL_ADDR" --directory "$srv" 8000
FILES_PID=$IT_LAST_PID
it_start_bg testsrv 100 python3 -u "$here/http_test_server.py" serve "$IT_KERNEL_ADDR" 8001 90
TESTSRV_PID=$IT_LAST_PID
it_wait_for_line files "$FILES_PID" "Serving HTTP on $IT_KERNEL_ADDR port 8000" 10
it_wait_for_line testsrv "$TESTSRV_PID" "listening on $IT_KERNEL_ADDR:8001" 10
it_log "kernel servers up: python3 -m http.server on :8000, http_test_server.py on :8001"

# run_get NAME ARGS...: ts-get in the namespace, bounded; stdout in NAME.out, stderr in NAME.err; sets STATUS.
run_get() {
  local name=$1
  shift
  STATUS=0
  it_ns timeout 30 "$TS_GET" "${get_args[@]}" "$@" >"$IT_TMP/$name.out" 2>"$IT_TMP/$name.err" || STATUS=$?
  it_no_sanitizer_report "$IT_TMP/$name.err"
}

expect_status() {
  local name=$1 want=$2
  if ((STATUS != want)); then
    it_show "$name"
    it_fail "ts-get ($name) exited with $STATUS, expected $want"
  fi
}

# expect_failure NAME PATTERN ARGS...: exit status 1 and the message PATTERN on stderr.
expect_failure() {
  local name=$1 pattern=$2
  shift 2
  run_get "$name" "$@"
  expect_status "$name" 1
  it_expect_in "$IT_TMP/$name.err" "$pattern" "ts-get's message for $name"
}

expect_same_file() {
  local got=$1 want=$2 what=$3
  cmp -s "$got" "$want" || it_fail "$what: $(wc -c <"$got") bytes, sha256 $(sha256sum <"$got" | cut -c1-16)..., expected $(wc -c <"$want") bytes, $(sha256sum <"$want" | cut -c1-16)..."
}

it_log "check: a 5 MB file from python3 -m http.server, with -o, arrives identical"
start=$(date +%s.%N)
run_get big -o "$IT_TMP/big.got" "$files_url/big.bin"
expect_status big 0
expect_same_file "$IT_TMP/big.got" "$srv/big.bin" "the 5 MB file"
[[ ! -s "$IT_TMP/big.err" ]] || { it_show big; it_fail "ts-get wrote to stderr (a progress bar?) with stderr not a terminal"; }
it_pass "5 MB identical (sha256 $(sha256sum <"$srv/big.bin" | cut -c1-16)...) in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s, silent stderr"

it_log "check: without -o the body goes to stdout"
run_get small "$files_url/small.txt"
expect_status small 0
expect_same_file "$IT_TMP/small.out" "$srv/small.txt" "small.txt on stdout"
it_pass "stdout holds the body"

it_log "check: 404 -> exit 1, 'ts-get: HTTP 404 ...', nothing on stdout"
expect_failure notfound '^ts-get: HTTP 404 ' "$files_url/no-such-file"
[[ ! -s "$IT_TMP/notfound.out" ]] || it_fail "ts-get wrote the 404 page to stdout"
it_pass "404: $(cat "$IT_TMP/notfound.err")"

it_log "check: a refused connection -> exit 1"
expect_failure refused "^ts-get: cannot connect to $IT_KERNEL_ADDR:8009: Connection refused\$" "http://$IT_KERNEL_ADDR:8009/"
it_pass "refused: $(cat "$IT_TMP/refused.err")"

it_log "check: chunked bodies (sizes across hex boundaries, extensions, trailers) arrive identical"
for name in chunked chunked-big until-close interim; do
  python3 "$here/http_test_server.py" expect "$name" "$IT_TMP/$name.want"
  run_get "$name" -o "$IT_TMP/$name.got" "$test_url/$name"
  expect_status "$name" 0
  expect_same_file "$IT_TMP/$name.got" "$IT_TMP/$name.want" "/$name"
done
it_pass "chunked, 2 MB chunked, read-until-close and after-100-Continue bodies identical"

it_log "check: truncated, malformed and redirected responses -> exit 1 with a message"
expect_failure trunclen '^ts-get: truncated body: got 40000 of 100000 bytes' "$test_url/truncated-length"
expect_failure truncchunk '^ts-get: truncated body: the connection ended inside the chunked coding' \
  "$test_url/truncated-chunked"
expect_failure badchunk '^ts-get: malformed chunked body: ' "$test_url/bad-chunk"
expect_failure garbage '^ts-get: malformed response: ' "$test_url/garbage"
expect_failure redirect "^ts-get: HTTP 302 Found: redirected to http://10.0.0.1:8000/elsewhere \\(ts-get does not follow redirects\\)\$" \
  "$test_url/redirect"
run_get silent --timeout 1 "$test_url/silent"
expect_status silent 1
it_expect_in "$IT_TMP/silent.err" '^ts-get: timed out after 1.0 s waiting for the server$' "ts-get's message for a silent server"
it_pass "each failure has its message and exit status 1"

it_log "check: bad URLs are usage errors (exit 2)"
for url in "https://$IT_KERNEL_ADDR/" "http://example.com/" "ftp://x/" "http://$IT_KERNEL_ADDR:99999/" "http://[::1]/" "http://u@$IT_KERNEL_ADDR/"; do
  run_get badurl "$url"
  expect_status badurl 2
done
it_expect_in "$IT_TMP/badurl.err" 'user information' "message for a URL with user information"
run_get nodns "http://example.com/"
it_expect_in "$IT_TMP/nodns.err" 'not an IPv4 address \(ts-get has no DNS\)' "message for a host name"
it_pass "https, host names, other schemes, bad ports, IPv6 literals and user@ refused"

it_log "check: with stderr on a terminal, a progress bar shows bytes, total and rate"
status=0
it_ns timeout 30 python3 - "$TS_GET" "${get_args[@]}" -o "$IT_TMP/tty.got" "$files_url/big.bin" >"$IT_TMP/tty.out" 2>&1 <<'EOF' || status=$?
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(st))
EOF
((status == 0)) || { cat "$IT_TMP/tty.out" >&2; it_fail "ts-get on a terminal exited with $status"; }
it_no_sanitizer_report "$IT_TMP/tty.out"
expect_same_file "$IT_TMP/tty.got" "$srv/big.bin" "the 5 MB file fetched on a terminal"
it_expect_in "$IT_TMP/tty.out" '4\.8 MiB / 4\.8 MiB +100% +[0-9.]+ [KMG]?i?B/s' "the final progress bar"
it_pass "progress bar: $(tr '\r' '\n' <"$IT_TMP/tty.out" | grep -a '100%' | tail -n 1 | sed 's/ *$//')"
