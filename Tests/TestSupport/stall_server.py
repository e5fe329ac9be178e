#!/usr/bin/env python3
"""A misbehaving HTTP server on 127.0.0.1 for timeout tests; prints its port, exits after 90 s.

  stall_server.py silent    accepts connections, reads the request, never answers
  stall_server.py trickle   answers 200 with a large body, two bytes a second
  stall_server.py stream    answers 200 with an endless body, 4 KB a second (above any low-speed limit)
  stall_server.py html      answers every request at once with a web page (a portal, a website)
  stall_server.py tls CERT KEY   a TLS server with that (self-signed) certificate, answering a web page
"""
import socket, ssl, sys, threading, time

mode = sys.argv[1]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(16)
if mode == "tls":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    server = context.wrap_socket(server, server_side=True, do_handshake_on_connect=False)
print(server.getsockname()[1], flush=True)
deadline = time.time() + 90

def serve(conn):
    try:
        if mode == "tls":
            conn.do_handshake()
        conn.recv(65536)
        if mode in ("html", "tls"):
            page = b"<html><body>Welcome</body></html>"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(page) + page)
        elif mode == "stream":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n")
            while time.time() < deadline:
                conn.sendall(b" " * 1024)
                time.sleep(0.25)
        elif mode == "trickle":
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
    except (socket.timeout, ssl.SSLError, OSError):
        continue
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
