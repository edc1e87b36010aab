#!/usr/bin/env python3
"""Kernel-side TCP and UDP peers for tapstack's TCP integration tests.

  tcp_peer.py echo-clients HOST PORT CLIENTS SIZE
        CLIENTS sockets connected at once, each sending SIZE random bytes while
        reading its echo, then shutting down its write side; every echo must be
        identical and end with the server's FIN.
  tcp_peer.py perf-send HOST PORT SIZE
        ts-perf's protocol as a client: "SEND\\n", SIZE bytes, FIN, wait for the close.
  tcp_peer.py perf-server ADDR PORT
        ts-perf's protocol as a server, for one client: after "SEND\\n" count to EOF;
        after "RECV N\\n" send N bytes (the test always gives a count), FIN, wait for
        the close. Prints "ready" once listening, then "received N" or "sent N".
  tcp_peer.py half-close-server ADDR PORT
        Reads until the client's FIN, then answers "got N bytes\\n" and closes:
        the client must still receive after shutting down its write side.
  tcp_peer.py early-fin-server ADDR PORT GREETING
        Sends GREETING and its FIN at once, then counts what the client still
        sends until the client's FIN; prints "received N".
  tcp_peer.py udp-echo-server ADDR PORT SECONDS
        Echoes datagrams for SECONDS.
  tcp_peer.py udp-exchange HOST PORT TEXT
        Sends TEXT as one datagram (retried), prints the first reply.

Every socket has a timeout, so each mode ends in bounded time. Exit status 0
when every check holds, 1 otherwise.
"""
import os
import socket
import sys
import threading
import time

TIMEOUT = 20.0


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def recv_to_eof(sock, keep=True):
    chunks = []
    total = 0
    while True:
        data = sock.recv(262144)
        if not data:
            return b"".join(chunks), total
        total += len(data)
        if keep:
            chunks.append(data)


def echo_clients(host, port, clients, size):
    socks = []
    for _ in range(clients):
        s = socket.create_connection((host, port), timeout=TIMEOUT)
        s.settimeout(TIMEOUT)
        socks.append(s)
    results = [None] * clients
    payloads = [os.urandom(size) for _ in range(clients)]

    def sender(i):
        try:
            socks[i].sendall(payloads[i])
            socks[i].shutdown(socket.SHUT_WR)
        except OSError as e:
            results[i] = "send failed: %s" % e

    def receiver(i):
        try:
            data, _ = recv_to_eof(socks[i])
            if results[i] is None:
                results[i] = "ok" if data == payloads[i] else "echo differs (%d of %d bytes back)" % (len(data), size)
        except OSError as e:
            results[i] = "receive failed: %s" % e

    threads = []
    for i in range(clients):
        threads.append(threading.Thread(target=sender, args=(i,)))
        threads.append(threading.Thread(target=receiver, args=(i,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    ok = True
    for i, r in enumerate(results):
        if r != "ok":
            print("client %d: %s" % (i, r))
            ok = False
        socks[i].close()
    print("%d clients, %d bytes each: %s" % (clients, size, "all echoed identically" if ok else "FAILED"), flush=True)
    return 0 if ok else 1


def perf_send(host, port, size):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    block = b"x" * 65536
    start = time.monotonic()
    s.sendall(b"SEND\n")
    left = size
    while left > 0:
        n = min(left, len(block))
        s.sendall(block[:n])
        left -= n
    s.shutdown(socket.SHUT_WR)
    _, back = recv_to_eof(s, keep=False)
    s.close()
    print("sent %d in %.3f s (server sent back %d)" % (size, time.monotonic() - start, back), flush=True)
    return 0


def listen(addr, port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(1)
    srv.settimeout(TIMEOUT)
    print("ready", flush=True)
    conn, _ = srv.accept()
    srv.close()
    conn.settimeout(TIMEOUT)
    return conn


def read_line(conn):
    line = b""
    while not line.endswith(b"\n"):
        c = conn.recv(1)
        if not c:
            fail("EOF before the command line ended: %r" % line)
        line += c
        if len(line) > 64:
            fail("command line too long: %r" % line)
    return line.decode().strip()


def perf_server(addr, port):
    conn = listen(addr, port)
    line = read_line(conn)
    if line == "SEND":
        _, total = recv_to_eof(conn, keep=False)
        conn.close()
        print("received %d" % total, flush=True)
        return 0
    words = line.split()
    if len(words) != 2 or words[0] != "RECV" or not words[1].isdigit():
        fail("unexpected command line %r" % line)
    size = int(words[1])
    block = b"y" * 65536
    left = size
    while left > 0:
        n = min(left, len(block))
        conn.sendall(block[:n])
        left -= n
    conn.shutdown(socket.SHUT_WR)
    recv_to_eof(conn, keep=False)
    conn.close()
    print("sent %d" % size, flush=True)
    return 0


def half_close_server(addr, port):
    conn = listen(addr, port)
    _, total = recv_to_eof(conn, keep=False)
    conn.sendall(b"got %d bytes\n" % total)
    conn.close()
    print("received %d" % total, flush=True)
    return 0


def early_fin_server(addr, port, greeting):
    conn = listen(addr, port)
    conn.sendall(greeting.encode() + b"\n")
    conn.shutdown(socket.SHUT_WR)
    _, total = recv_to_eof(conn, keep=False)
    conn.close()
    print("received %d" % total, flush=True)
    return 0


def udp_echo_server(addr, port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    s.settimeout(0.2)
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, peer = s.recvfrom(65536)
        except socket.timeout:
            continue
        s.sendto(data, peer)
    return 0


def udp_exchange(host, port, text):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    for _ in range(5):
        s.sendto(text.encode() + b"\n", (host, port))
        try:
            data, _ = s.recvfrom(65536)
        except socket.timeout:
            continue
        sys.stdout.write(data.decode())
        sys.stdout.flush()
        return 0
    fail("no reply from %s:%d" % (host, port))
    return 1


def main(argv):
    if len(argv) < 2:
        fail("usage: see the docstring")
    mode, args = argv[1], argv[2:]
    if mode == "echo-clients":
        return echo_clients(args[0], int(args[1]), int(args[2]), int(args[3]))
    if mode == "perf-send":
        return perf_send(args[0], int(args[1]), int(args[2]))
    if mode == "perf-server":
        return perf_server(args[0], int(args[1]))
    if mode == "half-close-server":
        return half_close_server(args[0], int(args[1]))
    if mode == "early-fin-server":
        return early_fin_server(args[0], int(args[1]), args[2])
    if mode == "udp-echo-server":
        return udp_echo_server(args[0], int(args[1]), float(args[2]))
    if mode == "udp-exchange":
        return udp_exchange(args[0], int(args[1]), args[2])
    fail("unknown mode %r" % mode)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except OSError as e:
        fail("%s: %s" % (sys.argv[1] if len(sys.argv) > 1 else "?", e))
