#!/usr/bin/env python3
"""Kernel-side UDP client for tapstack's integration tests.

  udp_client.py echo HOST PORT SIZE...   send each size from two sockets, expect identical echoes
  udp_client.py refused HOST PORT        expect ECONNREFUSED on a connected socket (ICMP port unreachable)

Exit status 0 when every check holds, 1 otherwise; each check prints one line.
"""
import os
import socket
import sys

TIMEOUT = 3.0
ATTEMPTS = 3  # the first datagram may wait for ARP; a lost one is retried, not forgiven silently


def payload(size, tag):
    """Bytes that differ per size and per client, so a mixed-up echo shows."""
    seed = os.urandom(8) + bytes([tag])
    out = bytearray()
    while len(out) < size:
        out += seed + len(out).to_bytes(4, "big")
    return bytes(out[:size])


def exchange(sock, dest, data):
    for attempt in range(1, ATTEMPTS + 1):
        sock.sendto(data, dest)
        try:
            while True:
                reply, src = sock.recvfrom(70000)
                if src == dest:
                    return reply, attempt
        except socket.timeout:
            continue
    return None, ATTEMPTS


def check_echo(host, port, sizes):
    dest = (host, port)
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    ok = True
    for sock in clients:
        sock.settimeout(TIMEOUT)
    for size in sizes:
        for tag, sock in enumerate(clients):
            data = payload(size, tag)
            reply, attempts = exchange(sock, dest, data)
            port_used = sock.getsockname()[1]
            if reply is None:
                print(f"FAIL {size:6d} bytes from port {port_used}: no echo after {attempts} attempts")
                ok = False
            elif reply != data:
                print(f"FAIL {size:6d} bytes from port {port_used}: echo differs ({len(reply)} bytes back)")
                ok = False
            else:
                note = "" if attempts == 1 else f" (after {attempts} attempts)"
                print(f"ok   {size:6d} bytes from port {port_used}: echoed identically{note}")
    for sock in clients:
        sock.close()
    return ok


def check_refused(host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(TIMEOUT)
    sock.connect((host, port))
    for attempt in range(1, ATTEMPTS + 1):
        try:
            sock.send(b"is anybody there?")
            sock.recv(2048)
            print(f"FAIL port {port}: got a reply from a port that should be closed")
            return False
        except ConnectionRefusedError:
            print(f"ok   port {port}: ECONNREFUSED (ICMP port unreachable) on attempt {attempt}")
            return True
        except socket.timeout:
            continue
    print(f"FAIL port {port}: no ICMP port unreachable after {ATTEMPTS} attempts")
    return False


def main(argv):
    if len(argv) >= 4 and argv[1] == "echo":
        ok = check_echo(argv[2], int(argv[3]), [int(s) for s in argv[4:]])
    elif len(argv) == 4 and argv[1] == "refused":
        ok = check_refused(argv[2], int(argv[3]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
