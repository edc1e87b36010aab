"""Kernel side of live_tcp_interactive: a TCP echo server on 10.0.0.1:5000.

Echoes whatever arrives as it arrives (the kernel's Nagle and delayed ACK
apply), shuts its side down once the stream so far ends with "bye\n", and
closes when the client's FIN comes. One connection, then exits.
"""
import socket

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("10.0.0.1", 5000))
server.listen(1)
conn, _ = server.accept()
conn.settimeout(10)
seen = b""
while True:
    data = conn.recv(4096)
    if not data:
        break
    conn.sendall(data)
    seen += data
    if seen.endswith(b"bye\n"):
        conn.shutdown(socket.SHUT_WR)
conn.close()
