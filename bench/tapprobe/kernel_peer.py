#!/usr/bin/env python3
"""Kernel-side peers for ts-tapprobe (its integration test and measure.sh).

  kernel_peer.py send HOST PORT BYTES
        Connects, sends BYTES, shuts down its write side, waits for the close.
        Prints "sent N in S s: G Gbit/s".
  kernel_peer.py send-parallel HOST PORT CLIENTS BYTES
        CLIENTS connections at once, each sending BYTES as "send" does.
  kernel_peer.py send-for HOST PORT SECONDS
        The same, for SECONDS instead of a byte count.
  kernel_peer.py listen ADDR PORT
        Accepts one connection and counts to EOF. Prints "ready" once listening,
        then "received N in S s: G Gbit/s".
  kernel_peer.py echo HOST PORT REQUESTS
        REQUESTS requests of 1..1400 random bytes, each echoed back byte for byte,
        then as many 1-byte round trips; prints "rr N requests: U us". Ends with
        a half-close that the echo must answer with its FIN.
  kernel_peer.py udp HOST PORT COUNT SIZE
        Sends COUNT datagrams of SIZE bytes in small paced bursts; prints "sent N".

Every socket has a timeout, so each mode ends in bounded time; exit status 0
when every check holds, 1 otherwise.
"""
import os
import socket
import sys
import threading
import time

TIMEOUT = 15.0
CHUNK = 1 << 20


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def rate(n, seconds):
    return "%d in %.3f s: %.3f Gbit/s" % (n, seconds, n * 8 / seconds / 1e9 if seconds > 0 else 0.0)


def wait_close(sock):
    if sock.recv(16) != b"":
        fail("the peer sent data where its FIN was expected")


def send(host, port, total=None, seconds=None):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    block = b"\x5a" * CHUNK
    sent = 0
    start = time.monotonic()
    if total is not None:
        view = memoryview(block)
        while sent < total:
            n = min(CHUNK, total - sent)
            s.sendall(view[:n])
            sent += n
    else:
        while time.monotonic() - start < seconds:
            s.sendall(block)
            sent += CHUNK
    s.shutdown(socket.SHUT_WR)
    wait_close(s)
    elapsed = time.monotonic() - start
    s.close()
    print("sent " + rate(sent, elapsed), flush=True)


def send_parallel(host, port, clients, total):
    errors = []

    def one():
        try:
            send(host, port, total=total)
        except (OSError, SystemExit) as e:
            errors.append(str(e))

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    if errors or any(t.is_alive() for t in threads):
        fail("parallel senders failed: %s" % (errors or "a sender hung"))


def listen(addr, port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    ls.settimeout(TIMEOUT)
    print("ready", flush=True)
    c, _ = ls.accept()
    c.settimeout(TIMEOUT)
    total = 0
    start = None
    buf = bytearray(CHUNK)
    while True:
        n = c.recv_into(buf)
        if n == 0:
            break
        if start is None:
            start = time.monotonic()
        total += n
    elapsed = time.monotonic() - start if start else 0.0
    c.close()
    ls.close()
    print("received " + rate(total, elapsed), flush=True)


def recv_exact(sock, n):
    got = bytearray()
    while len(got) < n:
        data = sock.recv(n - len(got))
        if not data:
            fail("EOF after %d of %d echoed bytes" % (len(got), n))
        got += data
    return bytes(got)


def echo(host, port, requests):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(requests):
        msg = os.urandom(1 + (i * 7919) % 1400)
        s.sendall(msg)
        if recv_exact(s, len(msg)) != msg:
            fail("request %d came back different" % i)
    one = b"r"
    start = time.monotonic()
    for _ in range(requests):
        s.sendall(one)
        if recv_exact(s, 1) != one:
            fail("a 1-byte request came back different")
    elapsed = time.monotonic() - start
    s.shutdown(socket.SHUT_WR)
    wait_close(s)
    s.close()
    print("rr %d requests: %.1f us" % (requests, elapsed / requests * 1e6), flush=True)


def udp(host, port, count, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"u" * size
    for i in range(count):
        s.sendto(payload, (host, port))
        # Bursts of 50 stay well inside the TAP's transmit queue (txqueuelen 1000).
        if i % 50 == 49:
            time.sleep(0.002)
    s.close()
    print("sent %d" % count, flush=True)


def main(argv):
    if len(argv) < 4:
        fail(__doc__)
    mode, host, port = argv[1], argv[2], int(argv[3])
    if mode == "send" and len(argv) == 5:
        send(host, port, total=int(argv[4]))
    elif mode == "send-parallel" and len(argv) == 6:
        send_parallel(host, port, int(argv[4]), int(argv[5]))
    elif mode == "send-for" and len(argv) == 5:
        send(host, port, seconds=float(argv[4]))
    elif mode == "listen" and len(argv) == 4:
        listen(host, port)
    elif mode == "echo" and len(argv) == 5:
        echo(host, port, int(argv[4]))
    elif mode == "udp" and len(argv) == 6:
        udp(host, port, int(argv[4]), int(argv[5]))
    else:
        fail("bad arguments: " + " ".join(argv[1:]))


if __name__ == "__main__":
    try:
        main(sys.argv)
    except (OSError, socket.timeout) as e:
        fail(str(e))
