#!/usr/bin/env python3
"""A misbehaving HTTP server on 127.0.0.1 for timeout tests; prints its port, exits after 90 s.

  stall_server.py silent    accepts connections, reads the request, never answers
  stall_server.py trickle   answers 200 with a large body, two bytes a second
"""
import socket, sys, threading, time

mode = sys.argv[1]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(16)
print(server.getsockname()[1], flush=True)
deadline = time.time() + 90

def serve(conn):
    try:
        conn.recv(65536)
        if mode == "trickle":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            while time.time() < deadline:
                conn.sendall(b"  ")
                time.sleep(1)
        else:
            while time.time() < deadline:
                time.sleep(1)
    except OSError:
        pass
    finally:
        conn.close()

server.settimeout(1)
while time.time() < deadline:
    try:
        conn, _ = server.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
