#!/usr/bin/env bash
# Adds a user (password <prefix><user>) with the special-use folders to a running test server.
# Usage: add-user.sh BASE USER
set -euo pipefail
base=$1; user=$2
. "$base/server.env"
echo -n "$JMIRROR_TEST_PASSWORD_PREFIX$user" | saslpasswd2 -p -c -f "$base/sasldb2" -u localhost "$user"
python3 - "$JMIRROR_TEST_IMAP_PORT" "$JMIRROR_TEST_ADMIN_SECRET" "$JMIRROR_TEST_PASSWORD_PREFIX" "$user" <<'PY'
import imaplib, sys
port, admin_secret, prefix, user = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
a = imaplib.IMAP4("127.0.0.1", port); a.login("admin", admin_secret)
typ, data = a.create("user/%s" % user); assert typ == "OK", data
a.logout()
c = imaplib.IMAP4("127.0.0.1", port); c.login(user, prefix + user)
for name, use in (("Drafts", "\\Drafts"), ("Sent", "\\Sent"), ("Trash", "\\Trash"), ("Junk", "\\Junk"), ("Archive", "\\Archive")):
    typ, data = c._simple_command("CREATE", name, "(USE (%s))" % use); assert typ == "OK", (name, data)
c.logout()
PY
