#!/usr/bin/env python3
"""A small kernel-side HTTP server with responses python3 -m http.server cannot give, for ts-get's tests.

    http_test_server.py serve ADDR PORT SECONDS   answer requests for SECONDS, then exit
    http_test_server.py expect NAME FILE          write the body /NAME serves to FILE

Paths:
    /chunked           200, Transfer-Encoding: chunked: chunks of many sizes, some with extensions, and trailers
    /chunked-big       200, chunked, 2 MB in chunks of up to 64 KB
    /until-close       200 from an HTTP/1.0 server, no Content-Length: the body ends with the connection
    /truncated-length  200, Content-Length: 100000, only 40000 bytes, then the close
    /truncated-chunked 200, chunked, the connection ends inside a chunk
    /bad-chunk         200, chunked, a chunk size that is not hexadecimal
    /redirect          302 with a Location
    /garbage           not an HTTP response at all
    /interim           a 100 Continue, then 200 with a Content-Length body
    /silent            nothing at all for 5 s, then the close
Every response but /until-close and the broken ones is HTTP/1.1; the server closes after each.
"""
import hashlib
import socket
import socketserver
import sys
import threading
import time


def pattern(n, seed):
    """n deterministic bytes, different for each seed (so bodies can be checked byte for byte)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, counter)).digest()
        counter += 1
    return bytes(out[:n])


BODIES = {
    "chunked": pattern(150000, 1),
    "chunked-big": pattern(2000000, 2),
    "until-close": pattern(70000, 3),
    "interim": pattern(5000, 4),
}

# The sizes /chunked cuts its body into: 1 byte, around the 16/256/4096 hex boundaries, and larger.
CHUNK_SIZES = [1, 2, 15, 16, 17, 255, 256, 257, 4095, 4096, 4097, 10000, 65535, 65536]


def chunk_frames(body, sizes, extensions):
    pos, i = 0, 0
    while pos < len(body):
        size = min(sizes[i % len(sizes)], len(body) - pos)
        ext = b""
        if extensions and i % 3 == 1:
            ext = b";name=value"
        elif extensions and i % 3 == 2:
            ext = b' ; quoted="a;b" ;flag'
        yield b"%x%s\r\n" % (size, ext) + body[pos:pos + size] + b"\r\n"
        pos += size
        i += 1


def respond(path):
    """The bytes sent for a path (the server closes after them)."""
    h11 = b"HTTP/1.1 200 OK\r\nServer: http_test_server\r\nConnection: close\r\n"
    if path == "/chunked":
        frames = b"".join(chunk_frames(BODIES["chunked"], CHUNK_SIZES, True))
        return h11 + b"Transfer-Encoding: chunked\r\n\r\n" + frames + b"0;end=1\r\nX-Trailer: yes\r\nX-Sum: 1\r\n\r\n"
    if path == "/chunked-big":
        frames = b"".join(chunk_frames(BODIES["chunked-big"], [65536, 1000, 40000], False))
        return h11 + b"Transfer-Encoding: chunked\r\n\r\n" + frames + b"0\r\n\r\n"
    if path == "/until-close":
        return b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\n" + BODIES["until-close"]
    if path == "/truncated-length":
        return h11 + b"Content-Length: 100000\r\n\r\n" + pattern(40000, 5)
    if path == "/truncated-chunked":
        return h11 + b"Transfer-Encoding: chunked\r\n\r\n" + b"3e8\r\n" + pattern(500, 6)
    if path == "/bad-chunk":
        return h11 + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"
    if path == "/redirect":
        return (b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1:8000/elsewhere\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n")
    if path == "/garbage":
        return b"SSH-2.0-OpenSSH_9.6\r\n\r\n"
    if path == "/interim":
        body = BODIES["interim"]
        return b"HTTP/1.1 100 Continue\r\n\r\n" + h11 + b"Content-Length: %d\r\n\r\n" % len(body) + body
    return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            data = self.request.recv(4096)
            if not data:
                return
            head += data
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        path = parts[1] if len(parts) == 3 else "/"
        print("request: %s" % request_line, flush=True)
        if path == "/silent":
            time.sleep(5)
            return
        self.request.sendall(respond(path))
        self.request.shutdown(socket.SHUT_WR)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve(addr, port, seconds):
    with Server((addr, port), Handler) as server:
        print("listening on %s:%d" % (addr, port), flush=True)
        threading.Timer(seconds, server.shutdown).start()
        server.serve_forever(poll_interval=0.1)


def main(argv):
    if argv[1] == "serve":
        serve(argv[2], int(argv[3]), float(argv[4]))
    elif argv[1] == "expect":
        with open(argv[3], "wb") as f:
            f.write(BODIES[argv[2]])
    else:
        print("usage: see the docstring", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
