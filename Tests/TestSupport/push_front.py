#!/usr/bin/env python3
"""An RFC 8620 §7.3 EventSource front for jmirror's tests, in front of the real Cyrus.

  push_front.py --upstream http://127.0.0.1:PORT [--port N] [--no-push] [--no-ids] [--ping-ms]

Debian's Cyrus 3.10 answers 204 to every EventSource request (see docs/test-server.md), so this
front does what Cyrus's own jmap_push.c does when it can: it forwards every request to Cyrus,
adds `eventSourceUrl` to the Session, and for each EventSource connection watches the account's
modseq counters (UserCounters/get, with the client's own credentials) every 0.2 s, sending
`event: state` with an `id:` (the modseq) and a StateChange when they move, and `event: ping`
every `ping` seconds. `Last-Event-ID` on a reconnect sends a state event at once when anything
changed since that id.

--slow-downloads S delays every blob download (and Blob/get request) by S seconds (a slow server, for long syncs).

Variants, as servers differ: --no-ids sends no event ids (Stalwart); --ping-ms reports the ping
interval in milliseconds (Stalwart; RFC 8620 says seconds); --no-push leaves the Session without
`eventSourceUrl` (a plain proxy, for outage tests: restart it with --port on the same port).

Control (not counted as requests):
  GET /__stats    {"requests": n, "pushConnections": n, "open": n}
  GET /__drop     closes every open EventSource connection
  GET /__silence  open connections stay open but send nothing more (a connection that died
                  silently, e.g. after a suspend); new ones behave normally
  GET /__refuse?seconds=S   new EventSource requests get 503 for S seconds
Prints "PORT <n>" once listening.
"""
import argparse, base64, http.client, json, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

HOP = {"connection", "keep-alive", "upgrade", "http2-settings", "transfer-encoding", "proxy-connection", "te", "trailer"}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-push", action="store_true")
    ap.add_argument("--no-ids", action="store_true")
    ap.add_argument("--ping-ms", action="store_true")
    ap.add_argument("--slow-downloads", type=float, default=0)
    args = ap.parse_args()
    up = urlsplit(args.upstream)
    lock = threading.Lock()
    state = {"requests": 0, "pushConnections": 0, "open": 0, "generation": 0, "silenced": 0, "refuseUntil": 0.0}

    def upstream(method, path, body=b"", headers=None):
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp, data

    def counters(auth, account):
        body = json.dumps({"using": ["urn:ietf:params:jmap:core", "https://cyrusimap.org/ns/jmap/usercounters"],
                           "methodCalls": [["UserCounters/get", {"accountId": account}, "0"]]}).encode()
        resp, data = upstream("POST", "/jmap/", body, {"Authorization": auth, "Content-Type": "application/json"})
        if resp.status != 200:
            return None
        got = json.loads(data)["methodResponses"][0][1].get("list", [{}])[0]
        return got

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, status, payload, ctype="application/json", extra=()):
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def handle_any(self):
            path = urlsplit(self.path)
            if path.path == "/__stats":
                with lock:
                    return self.reply(200, {k: state[k] for k in ("requests", "pushConnections", "open")})
            if path.path == "/__drop":
                with lock:
                    state["generation"] += 1
                return self.reply(200, {"ok": True})
            if path.path == "/__silence":
                with lock:
                    state["silenced"] = state["generation"] + 1
                    state["generation"] += 1
                return self.reply(200, {"ok": True})
            if path.path == "/__refuse":
                seconds = float(parse_qs(path.query).get("seconds", ["5"])[0])
                with lock:
                    state["refuseUntil"] = time.time() + seconds
                    state["generation"] += 1
                return self.reply(200, {"ok": True})
            with lock:
                state["requests"] += 1
            if path.path == "/__push":
                return self.push(parse_qs(path.query))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if args.slow_downloads and ("/download/" in path.path or b'"Blob/get"' in body):
                time.sleep(args.slow_downloads)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "accept-encoding"}
            resp, data = upstream(self.command, self.path, body, headers)
            if not args.no_push and data[:1] == b"{":
                try:
                    doc = json.loads(data)
                    if isinstance(doc, dict) and "capabilities" in doc and "accounts" in doc:
                        port = self.server.server_address[1]
                        doc["eventSourceUrl"] = "http://127.0.0.1:%d/__push?types={types}&closeafter={closeafter}&ping={ping}" % port
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

        def push(self, query):
            if time.time() < state["refuseUntil"]:
                return self.reply(503, {"type": "about:blank", "status": 503, "detail": "refused by the test"})
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Basic "):
                return self.reply(401, {"type": "about:blank", "status": 401}, extra=[("WWW-Authenticate", 'Basic realm="jmap"')])
            user = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
            now = counters(auth, user)
            if now is None:
                return self.reply(401, {"type": "about:blank", "status": 401}, extra=[("WWW-Authenticate", 'Basic realm="jmap"')])
            ping = int(query.get("ping", ["0"])[0] or 0)
            with lock:
                generation = state["generation"]
                state["pushConnections"] += 1
                state["open"] += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            last = self.headers.get("Last-Event-ID")
            seen = now.get("highestModSeq")
            try:
                if last is not None and not args.no_ids and str(seen) != last:
                    self.event("state", seen, user)
                next_ping = time.time() + ping if ping > 0 else None
                while True:
                    time.sleep(0.2)
                    with lock:
                        if state["silenced"] == generation + 1:
                            silent = True
                        else:
                            silent = False
                            if state["generation"] != generation:
                                return
                    if silent:
                        continue  # stays open, says nothing: the connection a suspend killed
                    now = counters(auth, user)
                    if now is None:
                        return
                    if now.get("highestModSeq") != seen:
                        seen = now.get("highestModSeq")
                        self.event("state", seen, user)
                    if next_ping and time.time() >= next_ping:
                        interval = ping * 1000 if args.ping_ms else ping
                        self.send_event("ping", None, {"@type": "Ping", "interval": interval})
                        next_ping = time.time() + ping
            except (BrokenPipeError, ConnectionResetError):
                return
            finally:
                with lock:
                    state["open"] -= 1

        def event(self, name, modseq, account):
            change = {"@type": "StateChange", "changed": {account: {"Email": str(modseq), "Mailbox": str(modseq)}}}
            self.send_event(name, None if args.no_ids else str(modseq), change)

        def send_event(self, name, ident, data):
            text = "event: %s\n" % name
            if ident is not None:
                text += "id: %s\n" % ident
            text += "data: %s\n\n" % json.dumps(data)
            self.wfile.write(text.encode())
            self.wfile.flush()

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()

if __name__ == "__main__":
    main()
