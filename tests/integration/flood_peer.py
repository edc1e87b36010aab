#!/usr/bin/env python3
"""Kernel-side TCP peers for the flood tests: the legitimate traffic a flood must not break.

  flood_peer.py echo-transfer HOST PORT SIZE SECONDS
        One connection to an echo server: SIZE random bytes sent, paced over
        about SECONDS so the transfer lasts through a flood, while the echo is
        read back; then FIN, read to EOF. Prints "local port N" once connected
        and, at the end, "echo-transfer: N bytes identical in T s" if the echo
        equals what was sent (same SHA-256), else fails.
  flood_peer.py connect-loop HOST PORT SECONDS
        New connections one after another for SECONDS: each sends a line and
        must get it echoed back. Prints "connect-loop: ok=N failed=M".

Every socket has a timeout, so each mode ends in bounded time. Exit status 0
when every check holds, 1 otherwise.
"""
import hashlib
import os
import socket
import sys
import threading
import time

TIMEOUT = 30.0


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def echo_transfer(host, port, size, seconds):
    data = os.urandom(size)
    sock = socket.create_connection((host, port), timeout=TIMEOUT)
    print("local port %d" % sock.getsockname()[1], flush=True)
    received = bytearray()
    errors = []

    def reader():
        try:
            while True:
                chunk = sock.recv(262144)
                if not chunk:
                    return
                received.extend(chunk)
        except OSError as e:
            errors.append("recv: %s" % e)

    t = threading.Thread(target=reader)
    t.start()
    start = time.monotonic()
    chunk = 16384
    try:
        for off in range(0, size, chunk):
            sock.sendall(data[off:off + chunk])
            # Paced: ahead of the schedule, wait, so the transfer spans the flood.
            due = start + seconds * (off + chunk) / size
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        sock.shutdown(socket.SHUT_WR)
    except OSError as e:
        errors.append("send: %s" % e)
    t.join(TIMEOUT + seconds)
    sock.close()
    elapsed = time.monotonic() - start
    if errors:
        fail("; ".join(errors) + " after %d of %d bytes echoed" % (len(received), size))
    if hashlib.sha256(received).digest() != hashlib.sha256(data).digest():
        fail("the echo differs: %d bytes back of %d" % (len(received), size))
    print("echo-transfer: %d bytes identical in %.1f s" % (size, elapsed), flush=True)
    return 0


def connect_loop(host, port, seconds):
    ok = failed = 0
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
        line = ("hello %d\n" % n).encode()
        try:
            with socket.create_connection((host, port), timeout=10) as s:
                s.sendall(line)
                s.shutdown(socket.SHUT_WR)
                back = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    back += chunk
            if back == line:
                ok += 1
            else:
                failed += 1
        except OSError:
            failed += 1
        time.sleep(0.2)
    print("connect-loop: ok=%d failed=%d" % (ok, failed), flush=True)
    return 0 if ok > 0 else 1


def main(argv):
    if len(argv) < 2:
        fail(__doc__)
    mode, args = argv[1], argv[2:]
    if mode == "echo-transfer" and len(args) == 4:
        return echo_transfer(args[0], int(args[1]), int(args[2]), float(args[3]))
    if mode == "connect-loop" and len(args) == 3:
        return connect_loop(args[0], int(args[1]), float(args[2]))
    fail("usage: " + __doc__)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except OSError as e:
        fail("%s: %s" % (sys.argv[1] if len(sys.argv) > 1 else "?", e))
