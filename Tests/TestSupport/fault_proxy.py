#!/usr/bin/env python3
"""A tiny fault-injecting HTTP/1.1 proxy for jmirror's tests, put in front of the real test server.

  fault_proxy.py --upstream http://127.0.0.1:PORT [--fail N --status S [--retry-after V]] [--record FILE]
                 [--hide-capability URN] [--max-objects-in-get N]

The first N requests get status S (with Retry-After: V when given); every later one is forwarded.
Prints "PORT <n>" once listening. GET /__stats answers {"requests": count} and is not counted;
--record appends, for every JMAP method call forwarded, one JSON line [name, sendSchedulingMessages].
GET /__echo answers {"authorization": …, "acceptEncoding": …} (the request's headers), for checking what a client sends.
--hide-capability removes URN from the Session's capabilities and every account's (a server
without that extension, e.g. without blob digests). --max-objects-in-get sets the Session's core
limit to N (a server that pages in small steps).
"""
import argparse, http.client, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "upgrade", "http2-settings", "transfer-encoding", "proxy-connection", "te", "trailer"}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--fail", type=int, default=0)
    ap.add_argument("--status", type=int, default=503)
    ap.add_argument("--retry-after")
    ap.add_argument("--record")
    ap.add_argument("--hide-capability")
    ap.add_argument("--max-objects-in-get", type=int)
    args = ap.parse_args()
    up = urlsplit(args.upstream)
    lock = threading.Lock()
    state = {"requests": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def handle_any(self):
            if self.path in ("/__stats", "/__echo"):
                payload = state if self.path == "/__stats" else {"authorization": self.headers.get("Authorization"),
                                                                     "acceptEncoding": self.headers.get("Accept-Encoding")}
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                state["requests"] += 1
                n = state["requests"]
            if n <= args.fail:
                payload = json.dumps({"type": "about:blank", "status": args.status, "detail": "injected fault"}).encode()
                self.send_response(args.status)
                if args.retry_after is not None:
                    self.send_header("Retry-After", args.retry_after)
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if args.record and self.command == "POST" and body[:1] == b"{":
                try:
                    calls = json.loads(body).get("methodCalls", [])
                except ValueError:
                    calls = []
                with lock, open(args.record, "a") as f:
                    for c in calls:
                        f.write(json.dumps([c[0], c[1].get("sendSchedulingMessages")]) + "\n")
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            if args.hide_capability:
                headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if (args.hide_capability or args.max_objects_in_get) and data[:1] == b"{":
                try:
                    doc = json.loads(data)
                    if isinstance(doc, dict) and "capabilities" in doc and "accounts" in doc:
                        if args.hide_capability:
                            doc["capabilities"].pop(args.hide_capability, None)
                            for acct in doc["accounts"].values():
                                acct.get("accountCapabilities", {}).pop(args.hide_capability, None)
                        if args.max_objects_in_get:
                            doc["capabilities"]["urn:ietf:params:jmap:core"]["maxObjectsInGet"] = args.max_objects_in_get
                        data = json.dumps(doc).encode()
                except ValueError:
                    pass
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()

if __name__ == "__main__":
    main()
