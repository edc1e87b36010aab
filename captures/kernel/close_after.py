"""Kernel side of live_tcp_simultaneous_close: a server on 10.0.0.1:5000 that
shuts its side down 0.7 s after the client's first bytes arrive, about when
the client (ts-nc, whose stdin ends 1 s after it starts) sends its own FIN.
With 100 ms of delay each way on the link the two FINs cross.
"""
import socket
import time

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("10.0.0.1", 5000))
server.listen(1)
conn, _ = server.accept()
conn.settimeout(5)
conn.recv(100)
time.sleep(0.7)
conn.shutdown(socket.SHUT_WR)
while conn.recv(100):
    pass
conn.close()
