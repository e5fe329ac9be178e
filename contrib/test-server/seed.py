#!/usr/bin/env python3
"""Seeds a test account with mail over IMAP (MULTIAPPEND, one connection per folder): realistic sizes (mostly 2-50 KB text, some
1-10 MB attachments), spread over INBOX and a few folders, with flags.

  seed.py --env /tmp/jmirror-test-server/server.env --user alice --count 200 [--big-share 0.01] [--seed 1]
"""
import argparse, base64, imaplib, queue, random, socket, threading, time
from email.utils import formatdate

def env(path):
    out = {}
    for line in open(path):
        if "=" in line:
            k, v = line.strip().split("=", 1)
            out[k] = v.strip('"')
    return out

WORDS = ("backup mirror mailbox account message server sync state change folder archive restore "
         "invoice meeting project report draft family holiday photo weekend update notes").split()

def message(rng, i, size, big):
    subject = "Message %d: %s" % (i, " ".join(rng.choice(WORDS) for _ in range(4)))
    date = formatdate(time.time() - rng.randint(0, 3 * 365 * 86400))
    head = ("From: Sender %d <sender%d@example.org>\r\nTo: alice@example.com\r\nSubject: %s\r\nDate: %s\r\n"
            "Message-ID: <seed-%d-%d@example.org>\r\nMIME-Version: 1.0\r\n" % (i % 50, i % 50, subject, date, i, rng.randint(0, 1 << 30)))
    text = []
    n = 0
    while n < min(size, 60000):
        line = " ".join(rng.choice(WORDS) for _ in range(12))
        text.append(line); n += len(line) + 2
    body_text = "\r\n".join(text) + "\r\n"
    if not big:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body_text).encode()
    blob = base64.encodebytes(rng.randbytes(size)).replace(b"\n", b"\r\n").decode()
    return (head + 'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\nContent-Type: text/plain\r\n\r\n%s\r\n'
            '--b%d\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n'
            'Content-Disposition: attachment; filename="file%d.bin"\r\n\r\n%s--b%d--\r\n'
            % (i, i, body_text, i, i, blob, i)).encode()

class Appender(threading.Thread):
    """One IMAP connection per folder, appending whole batches with one MULTIAPPEND (RFC 3502)
    command each, literals sent without waiting (LITERAL+, RFC 7888): Cyrus then commits a batch
    as one transaction instead of one per message, which is what made seeding 100k take 43 minutes."""

    def __init__(self, e, user, folder):
        super().__init__(daemon=True)
        self.folder, self.queue, self.error = folder, queue.Queue(maxsize=4), None
        self.e, self.user = e, user
        self.connect()

    def connect(self):
        self.c = imaplib.IMAP4("127.0.0.1", int(self.e["JMIRROR_TEST_IMAP_PORT"]))
        self.c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.c.login(self.user, self.e.get("JMIRROR_TEST_PASSWORD_PREFIX", "secret-") + self.user)

    def append(self, tag, batch):
        parts = [tag + b" APPEND " + imap_quote(self.folder)]
        for flags, data in batch:
            parts.append(b" (%s) {%d+}\r\n" % (flags.encode(), len(data)))
            parts.append(data)
        parts.append(b"\r\n")
        self.c.send(b"".join(parts))
        while True:
            line = self.c.readline()
            if not line:
                return "connection closed"
            if line.startswith(tag + b" "):
                return None if line.startswith(tag + b" OK") else line.decode(errors="replace").strip()

    def run(self):
        n = 0
        while (batch := self.queue.get()) is not None:
            if self.error:
                continue
            # Cyrus 3.10 sometimes answers "NO System I/O error" when several connections append
            # for one user at once. A MULTIAPPEND is all or nothing (RFC 3502), so it is sent again,
            # on a new connection: after a refusal the server reads the rest of the literals as commands.
            for attempt in range(5):
                n += 1
                self.error = self.append(b"S%d" % n, batch)
                if not self.error:
                    break
                self.c.shutdown()
                time.sleep(0.2 * (attempt + 1))
                self.connect()
        try:
            self.c.logout()
        except imaplib.IMAP4.error:
            pass


def imap_quote(name):
    return b'"' + name.replace("\\", "\\\\").replace('"', '\\"').encode() + b'"'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", default="/tmp/jmirror-test-server/server.env")
    ap.add_argument("--user", default="alice")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--big-share", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--folders", default="INBOX,Archive,Projects,Projects/2024")
    ap.add_argument("--batch", type=int, default=200, help="messages per MULTIAPPEND (at most ~16 MB)")
    a = ap.parse_args()
    e = env(a.env)
    rng = random.Random(a.seed)
    folders = a.folders.split(",")
    folders += [] if "INBOX" in folders else ["INBOX"]
    c = imaplib.IMAP4("127.0.0.1", int(e["JMIRROR_TEST_IMAP_PORT"]))
    c.login(a.user, e.get("JMIRROR_TEST_PASSWORD_PREFIX", "secret-") + a.user)
    for f in folders:
        if f != "INBOX":
            c.create(f)
    c.logout()
    appenders = {f: Appender(e, a.user, f) for f in folders}
    for t in appenders.values():
        t.start()
    pending = {f: [] for f in folders}
    pending_bytes = dict.fromkeys(folders, 0)
    total = 0
    # The same random sequence as one APPEND per message always drew: the same account.
    for i in range(a.count):
        big = rng.random() < a.big_share
        size = rng.randint(1 << 20, 10 << 20) if big else int(rng.lognormvariate(9.3, 0.8)) + 1500
        size = size if big else max(2000, min(size, 50000))
        data = message(rng, i, size, big)
        flags = " ".join(f for f, p in (("\\Seen", 0.7), ("\\Flagged", 0.05), ("\\Answered", 0.1)) if rng.random() < p)
        folder = folders[i % len(folders)] if rng.random() < 0.5 else "INBOX"
        pending[folder].append((flags, data))
        pending_bytes[folder] += len(data)
        total += len(data)
        if len(pending[folder]) >= a.batch or pending_bytes[folder] >= 16 << 20:
            appenders[folder].queue.put(pending[folder])
            pending[folder], pending_bytes[folder] = [], 0
    for f, t in appenders.items():
        if pending[f]:
            t.queue.put(pending[f])
        t.queue.put(None)
    for t in appenders.values():
        t.join()
    errors = ["%s: %s" % (f, t.error) for f, t in appenders.items() if t.error]
    if errors:
        raise SystemExit("APPEND failed: " + "; ".join(errors))
    print("seeded %d messages (%.1f MB) into %s" % (a.count, total / 1e6, a.user))

if __name__ == "__main__":
    main()
