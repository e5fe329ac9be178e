#!/usr/bin/env python3
"""What an IMAP client sees, as JSON, for the tests' real Dovecot.

  imap_probe.py dump PORT USER PASSWORD
      every folder LIST shows, opened with EXAMINE: {"folders": {name: {"error": ..., "messages": [...]}}}
  imap_probe.py session PORT USER PASSWORD FOLDER
      one session kept open on FOLDER: prints the folder's messages, then again after NOOP for each
      "check" line read on stdin, until "quit" (an open client following the mirror's changes).

A message is {"uid", "sha256" (of BODY[]), "flags" (as the server says them), "internaldate" (Unix time)}.
Folder names are decoded from modified UTF-7.
"""
import base64, hashlib, imaplib, json, re, sys, time


def decode_mutf7(name):
    out, i = "", 0
    while i < len(name):
        if name[i] == "&":
            j = name.index("-", i)
            if j == i + 1:
                out += "&"
            else:
                b64 = name[i + 1:j].replace(",", "/")
                out += base64.b64decode(b64 + "=" * (-len(b64) % 4)).decode("utf-16-be")
            i = j + 1
        else:
            out += name[i]
            i += 1
    return out


def quote(raw):
    return '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'


def messages(m, count):
    if count == 0:
        return []
    typ, data = m.fetch("1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
    if typ != "OK":
        raise RuntimeError(f"FETCH: {data}")
    out = []
    for item in data:
        if not isinstance(item, tuple):
            continue
        head = item[0].decode()
        flags = re.search(r"FLAGS \(([^)]*)\)", head).group(1).split()
        when = imaplib.Internaldate2tuple(item[0])
        out.append({"uid": int(re.search(r"UID (\d+)", head).group(1)), "sha256": hashlib.sha256(item[1]).hexdigest(),
                    "flags": flags, "internaldate": int(time.mktime(when))})
    return out


def login(port, user, password):
    m = imaplib.IMAP4("127.0.0.1", int(port))
    m.login(user, password)
    return m


def dump(m):
    typ, lines = m.list('""', "*")
    folders = {}
    for line in lines:
        match = re.match(rb'\((.*?)\) (?:"(.)"|NIL) (.*)$', line)
        raw = match.group(3).decode()
        if raw.startswith('"'):
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        entry = {"raw": raw}
        if b"\\Noselect" in match.group(1) or b"\\NonExistent" in match.group(1):
            entry["error"] = "noselect"
        else:
            typ, data = m.select(quote(raw), readonly=True)
            if typ != "OK":
                entry["error"] = data[0].decode(errors="replace")
            else:
                entry["messages"] = messages(m, int(data[0]))
        folders[decode_mutf7(raw)] = entry
    return {"folders": folders}


def main():
    cmd, port, user, password = sys.argv[1:5]
    m = login(port, user, password)
    if cmd == "dump":
        print(json.dumps(dump(m)))
    elif cmd == "session":
        typ, data = m.select(quote(sys.argv[5]), readonly=True)
        if typ != "OK":
            raise SystemExit(f"SELECT {sys.argv[5]}: {data}")
        print(json.dumps({"messages": messages(m, int(data[0]))}), flush=True)
        for line in sys.stdin:
            if line.strip() != "check":
                break
            m.noop()  # where the server tells an open session what changed
            typ, data = m.search(None, "ALL")
            print(json.dumps({"messages": messages(m, len(data[0].split()))}), flush=True)
    m.logout()


if __name__ == "__main__":
    main()
