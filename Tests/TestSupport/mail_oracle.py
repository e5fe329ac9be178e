#!/usr/bin/env python3
"""What Python's email package reads in each message: a second, independent decoder for the
search tests. One JSON line per file: subject, addresses, attachment names, the plain (or HTML) body.

  mail_oracle.py FILE...
"""
import email, json, sys
from email import policy

for path in sys.argv[1:]:
    out = {"file": path}
    try:
        with open(path, "rb") as f:
            m = email.message_from_binary_file(f, policy=policy.default)
        out["subject"] = str(m.get("subject", "") or "")
        out["from"] = str(m.get("from", "") or "")
        names = []
        for part in m.walk():
            try:
                n = part.get_filename()
            except Exception:
                n = None
            if n:
                names.append(n)
        out["attachments"] = names
        try:
            body = m.get_body(("plain", "html"))
            out["body"] = body.get_content() if body is not None else ""
            out["bodyType"] = body.get_content_type() if body is not None else None
        except Exception as e:
            out["body"] = None
            out["error"] = "body: %s" % e
    except Exception as e:
        out["error"] = str(e)
    print(json.dumps(out, ensure_ascii=False))
