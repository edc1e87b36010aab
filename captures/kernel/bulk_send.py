"""Kernel side of live_tcp_bulk_from_linux: connects to 10.0.0.2:5000 and
sends N bytes of the stream pattern (byte k is the (k mod 61)-th of
0-9A-Za-z, captures/README.md), shuts its side down and waits for the
stack's FIN.

    python3 captures/kernel/bulk_send.py N
"""
import socket
import sys

ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
count = int(sys.argv[1])
data = bytes(ALPHABET[k % 61] for k in range(count))
conn = socket.create_connection(("10.0.0.2", 5000), timeout=20)
conn.sendall(data)
conn.shutdown(socket.SHUT_WR)
while conn.recv(65536):
    pass
conn.close()
