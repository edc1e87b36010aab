#!/usr/bin/env python3
"""Kernel-side HTTP client checks against ts-httpd (run inside the test's namespace).

    http_check.py basic HOST PORT ROOT        statuses, headers, HEAD, 405/501, listings, refused '..', 400s
    http_check.py big HOST PORT PATH FILE     one GET of PATH, body identical to FILE (sha256)
    http_check.py keepalive HOST PORT N PATH  N requests on one connection, then N pipelined in one write
    http_check.py concurrent HOST PORT N PATH FILE
                                              N clients at once, each GETs PATH three times on its connection
    http_check.py limits HOST PORT IDLE       against --max-conns 2 --idle-timeout IDLE: a third client waits
                                              for a slot, idle and trickling clients are dropped

Each check prints one 'ok:' line; the first failure raises and the exit status is 1.
"""
import hashlib
import http.client
import os
import socket
import sys
import threading
import time

TIMEOUT = 10


class CheckFailed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CheckFailed(what)


def ok(what):
    print("ok: " + what, flush=True)


def get(conn, method, path, headers=None, body=None):
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    return resp, resp.read()


def raw_exchange(host, port, data):
    """Sends raw bytes, returns everything the server sends until it closes (bounded by TIMEOUT)."""
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.sendall(data)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)


def status_of(raw):
    line = raw.split(b"\r\n", 1)[0]
    parts = line.split(b" ", 2)
    expect(len(parts) >= 2 and parts[0] == b"HTTP/1.1", "not an HTTP/1.1 status line: %r" % line)
    return int(parts[1])


def head_of(raw):
    return raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")


def check_basic(host, port, root):
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    small = open(os.path.join(root, "small.txt"), "rb").read()

    resp, body = get(conn, "GET", "/small.txt")
    expect(resp.status == 200, "GET /small.txt: status %d" % resp.status)
    expect(body == small, "GET /small.txt: body differs")
    expect(resp.getheader("Content-Length") == str(len(small)), "Content-Length %r" % resp.getheader("Content-Length"))
    expect(resp.getheader("Content-Type", "").startswith("text/plain"), "Content-Type %r" % resp.getheader("Content-Type"))
    expect(resp.getheader("Date", "").endswith(" GMT"), "Date %r" % resp.getheader("Date"))
    expect(resp.getheader("Server", "").startswith("ts-httpd"), "Server %r" % resp.getheader("Server"))
    ok("GET /small.txt: 200, same %d bytes, Content-Type, Content-Length, Date, Server" % len(small))

    for name, ctype in (("page.html", "text/html"), ("data.json", "application/json"), ("pic.png", "image/png"),
                        ("blob.xyz", "application/octet-stream")):
        resp, _ = get(conn, "GET", "/" + name)
        expect(resp.status == 200 and resp.getheader("Content-Type", "").startswith(ctype),
               "/%s: %d %r" % (name, resp.status, resp.getheader("Content-Type")))
    ok("Content-Type follows the extension (html, json, png, octet-stream otherwise)")

    resp, body = get(conn, "GET", "/no/such/file")
    expect(resp.status == 404, "GET of a missing file: status %d" % resp.status)
    ok("missing file: 404")

    # HEAD then GET on the same connection: a body after HEAD would corrupt the second response.
    resp, body = get(conn, "HEAD", "/small.txt")
    expect(resp.status == 200 and body == b"", "HEAD: status %d, %d body bytes" % (resp.status, len(body)))
    expect(resp.getheader("Content-Length") == str(len(small)), "HEAD Content-Length %r" % resp.getheader("Content-Length"))
    resp, body = get(conn, "GET", "/small.txt")
    expect(resp.status == 200 and body == small, "GET after HEAD on the same connection failed")
    ok("HEAD: 200, no body, Content-Length of the GET; the connection goes on cleanly")

    resp, body = get(conn, "POST", "/small.txt", body=b"x=1", headers={"Content-Type": "text/plain"})
    expect(resp.status == 405, "POST: status %d" % resp.status)
    allow = resp.getheader("Allow", "")
    expect("GET" in allow and "HEAD" in allow, "405 without Allow: GET, HEAD (%r)" % allow)
    conn.close()
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    for method in ("PUT", "DELETE"):
        resp, _ = get(conn, method, "/small.txt")
        expect(resp.status == 405, "%s: status %d" % (method, resp.status))
    resp, _ = get(conn, "BREW", "/pot")
    expect(resp.status == 501, "unknown method: status %d" % resp.status)
    ok("POST/PUT/DELETE: 405 with Allow: %s; an unknown method: 501" % allow)

    resp, body = get(conn, "GET", "/docs/")
    text = body.decode("utf-8")
    expect(resp.status == 200 and resp.getheader("Content-Type", "").startswith("text/html"), "listing: %d" % resp.status)
    for link in ('href="a.txt"', 'href="b%20c.txt"', 'href="inner/"', 'href="../"'):
        expect(link in text, "listing lacks %s:\n%s" % (link, text))
    expect("&lt;tag&gt;.txt" in text, "a name with < > is not escaped in the listing")
    ok("directory without index.html: an HTML listing with encoded, escaped links")

    resp, body = get(conn, "GET", "/docs/b%20c.txt")
    expect(resp.status == 200 and body == b"b c\n", "percent-decoded name: %d %r" % (resp.status, body))
    ok("percent-encoded names are decoded")

    resp, body = get(conn, "GET", "/withindex/")
    expect(resp.status == 200 and b"the index page" in body, "index.html not served for its directory")
    resp, body = get(conn, "GET", "/withindex")
    expect(resp.status == 301 and resp.getheader("Location") == "/withindex/", "directory without '/': %d %r"
           % (resp.status, resp.getheader("Location")))
    ok("index.html stands for its directory; a directory without '/' is redirected (301)")
    conn.close()

    secret = open(os.path.join(root, "..", "secret.txt"), "rb").read().strip()
    for target in ("/../secret.txt", "/%2e%2e/secret.txt", "/docs/../../secret.txt", "/docs/..%2f..%2fsecret.txt"):
        raw = raw_exchange(host, port, b"GET " + target.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        expect(status_of(raw) in (400, 404), "%s: status %d" % (target, status_of(raw)))
        expect(secret not in raw, "%s leaked the file above the root" % target)
    raw = raw_exchange(host, port, b"GET /escape.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    expect(status_of(raw) in (403, 404) and secret not in raw, "a symlink out of the root was followed")
    ok("'..' (plain, encoded, in the middle) and a symlink out of the root are refused")

    cases = (
        (b"GARBAGE\r\n\r\n", "a request line without target and version"),
        (b"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 without Host"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", "a 9 KB head"),
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "whitespace before a colon"),
    )
    for data, what in cases:
        raw = raw_exchange(host, port, data)
        expect(status_of(raw) == 400, "%s: status %d" % (what, status_of(raw)))
        expect("connection: close" in head_of(raw).lower(), "%s: the 400 does not close" % what)
    ok("400 and a close for: " + "; ".join(w for _, w in cases))

    raw = raw_exchange(host, port, b"GET /small.txt HTTP/1.0\r\n\r\n")
    expect(status_of(raw) == 200 and raw.endswith(small), "HTTP/1.0 GET failed")
    ok("HTTP/1.0 without keep-alive: answered, then the server closes")

    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    resp, body = get(conn, "GET", "/small.txt", headers={"Connection": "close"})
    expect(resp.status == 200 and body == small and resp.will_close, "Connection: close was not honoured")
    conn.close()
    ok("Connection: close is honoured")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_big(host, port, path, local):
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    resp = None
    conn.request("GET", path)
    resp = conn.getresponse()
    h = hashlib.sha256()
    n = 0
    while True:
        block = resp.read(1 << 16)
        if not block:
            break
        h.update(block)
        n += len(block)
    size = os.path.getsize(local)
    expect(resp.status == 200, "GET %s: status %d" % (path, resp.status))
    expect(n == size, "GET %s: %d bytes, expected %d" % (path, n, size))
    expect(h.hexdigest() == sha256_file(local), "GET %s: sha256 differs" % path)
    conn.close()
    ok("GET %s: %d bytes, sha256 identical" % (path, n))


def check_keepalive(host, port, count, path):
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    conn.connect()
    sock = conn.sock
    for i in range(count):
        resp, body = get(conn, "GET", path)
        expect(resp.status == 200 and not resp.will_close, "request %d: status %d, will_close %s"
               % (i + 1, resp.status, resp.will_close))
        expect(conn.sock is sock, "request %d went over a new connection" % (i + 1))
    conn.close()
    ok("%d requests answered on one connection" % count)

    # Pipelining: all requests in one write, the answers in order on the same connection.
    one = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()
    last = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode()
    raw = raw_exchange(host, port, one * (count - 1) + last)
    statuses = raw.count(b"HTTP/1.1 200 OK\r\n")
    expect(statuses == count, "pipelined: %d responses of %d" % (statuses, count))
    ok("%d pipelined requests in one write: %d responses in order" % (count, statuses))


def check_concurrent(host, port, count, path, local):
    want = sha256_file(local)
    barrier = threading.Barrier(count)
    errors = []

    def client(index):
        try:
            conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
            conn.connect()
            barrier.wait(timeout=TIMEOUT)
            for _ in range(3):
                resp, body = get(conn, "GET", path)
                if resp.status != 200 or hashlib.sha256(body).hexdigest() != want:
                    errors.append("client %d: status %d, %d bytes" % (index, resp.status, len(body)))
                    return
            conn.close()
        except Exception as e:  # a thread's failure is reported by the main thread
            errors.append("client %d: %r" % (index, e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=3 * TIMEOUT)
    expect(not any(t.is_alive() for t in threads), "some clients did not finish")
    expect(not errors, "; ".join(errors))
    ok("%d clients at once, 3 requests each: every body identical" % count)


def wait_for_close(sock, limit):
    """Seconds until the server ended the connection (EOF or reset), or None if it did not within limit."""
    start = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except socket.timeout:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def check_limits(host, port, idle):
    # Two silent clients take both slots; a third is only served once the idle timeout frees one.
    idle_a = socket.create_connection((host, port), timeout=TIMEOUT)
    idle_b = socket.create_connection((host, port), timeout=TIMEOUT)
    time.sleep(0.1)
    start = time.monotonic()
    raw = raw_exchange(host, port, b"GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    waited = time.monotonic() - start
    expect(status_of(raw) == 200, "the third client: status %d" % status_of(raw))
    expect(waited >= idle * 0.5, "the third client was served after %.2f s, before a slot could free up" % waited)
    for name, sock in (("first", idle_a), ("second", idle_b)):
        closed = wait_for_close(sock, 2 * idle + 2)
        expect(closed is not None, "the %s idle client was never dropped" % name)
        sock.close()
    ok("with both slots held by silent clients, a third waited %.2f s, then was served" % waited)

    # A client that trickles its head one byte at a time still has to finish it within the timeout.
    trickle = socket.create_connection((host, port), timeout=TIMEOUT)
    head = b"GET /small.txt HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 200
    start = time.monotonic()
    dropped = None
    trickle.settimeout(0.2)
    for byte in head:
        try:
            trickle.send(bytes([byte]))
            data = trickle.recv(4096)
            if not data:
                dropped = time.monotonic() - start
                break
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            dropped = time.monotonic() - start
            break
        if time.monotonic() - start > 3 * idle + 2:
            break
    trickle.close()
    expect(dropped is not None, "a client trickling its head was never dropped")
    ok("a client trickling its head was dropped after %.2f s" % dropped)


def main(argv):
    try:
        mode = argv[1]
        if mode == "basic":
            check_basic(argv[2], int(argv[3]), argv[4])
        elif mode == "big":
            check_big(argv[2], int(argv[3]), argv[4], argv[5])
        elif mode == "keepalive":
            check_keepalive(argv[2], int(argv[3]), int(argv[4]), argv[5])
        elif mode == "limits":
            check_limits(argv[2], int(argv[3]), float(argv[4]))
        elif mode == "concurrent":
            check_concurrent(argv[2], int(argv[3]), int(argv[4]), argv[5], argv[6])
        else:
            raise CheckFailed("unknown mode %r" % mode)
    except (CheckFailed, OSError, http.client.HTTPException) as e:
        print("FAIL: %s" % e, file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
