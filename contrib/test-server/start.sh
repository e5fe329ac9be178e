#!/usr/bin/env bash
# Starts a private Cyrus IMAP 3.10 on 127.0.0.1 with its own config and data under one directory,
# random free ports and test users. Writes <base>/server.env for the tests and jmirror to read.
# Usage: start.sh [BASE]   (default $JMIRROR_TEST_BASE or /tmp/jmirror-test-server)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=${1:-${JMIRROR_TEST_BASE:-/tmp/jmirror-test-server}}
users=${JMIRROR_TEST_USERS:-"alice bob carol"}
master=/usr/lib/cyrus/bin/master
[ -x "$master" ] || { echo "start.sh: Cyrus is not installed; run contrib/install-deps.sh" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "start.sh: must run as root (Cyrus's master drops to the cyrus user)" >&2; exit 2; }

if [ -f "$base/master.pid" ] && kill -0 "$(cat "$base/master.pid")" 2>/dev/null; then
  echo "start.sh: already running at $base"; cat "$base/server.env"; exit 0
fi
rm -rf "$base"
mkdir -p "$base"/{conf,spool,sieve,search,outbox}
for d in db proc socket log msg user quota lock; do mkdir -p "$base/conf/$d"; done
cp "$here/sendmail-stub" "$base/sendmail-stub"

# Cyrus logs only through syslog(3). Where no syslog daemon listens on /dev/log (a container),
# listen there ourselves, so that tests can read what Cyrus did (the iTIP scheduling it attempted,
# for one). One listener serves every test server on the machine.
syslog_file=${JMIRROR_TEST_SYSLOG:-/tmp/jmirror-test-syslog.log}
syslog_pid=/tmp/jmirror-test-syslog.pid
if ! { [ -f "$syslog_pid" ] && kill -0 "$(cat "$syslog_pid")" 2>/dev/null; }; then
  if python3 -c 'import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).connect("/dev/log")' 2>/dev/null; then
    syslog_file=""   # a syslog daemon has it: Cyrus's lines go to the system log
  else
    nohup python3 "$here/syslog-listener" /dev/log "$syslog_file" >/dev/null 2>&1 &
    echo $! > "$syslog_pid"
  fi
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
imap_port=$(free_port); http_port=$(free_port); lmtp_port=$(free_port)
# Test-only credentials: a private server on loopback, regenerated on every start.
admin_secret="admin-$(head -c6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
user_secret_prefix="secret-"

cat >"$base/imapd.conf" <<CONF
configdirectory: $base/conf
partition-default: $base/spool
sievedir: $base/sieve
lmtpsocket: $base/conf/socket/lmtp
idlesocket: $base/conf/socket/idle
notifysocket: $base/conf/socket/notify
servername: localhost
admins: admin
altnamespace: yes
unixhierarchysep: yes
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $base/sasldb2
sasl_mech_list: PLAIN LOGIN
httpmodules: jmap caldav carddav
conversations: yes
conversations_db: twoskip
jmap_nonstandard_extensions: yes
jmap_vacation: yes
search_engine: xapian
defaultsearchtier: t1
t1searchpartition-default: $base/search
sync_log: yes
sync_log_channels: squatter
sendmail: $base/sendmail-stub
# Keep 8-bit header bytes as delivered (the default rewrites them to 'X'): tests check byte for byte.
munge8bit: no
reject8bit: no
CONF

# master does not pass its -C to the services it spawns: every command names the config itself.
cat >"$base/cyrus.conf" <<CONF
START {
  recover cmd="ctl_cyrusdb -C $base/imapd.conf -r"
}
SERVICES {
  imap cmd="imapd -C $base/imapd.conf" listen="127.0.0.1:$imap_port" prefork=0
  http cmd="httpd -C $base/imapd.conf" listen="127.0.0.1:$http_port" prefork=0
  lmtp cmd="lmtpd -C $base/imapd.conf -a" listen="127.0.0.1:$lmtp_port" prefork=0
}
EVENTS {
  checkpoint cmd="ctl_cyrusdb -C $base/imapd.conf -c" period=30
}
DAEMON {
  idled cmd="idled -C $base/imapd.conf"
  squatter cmd="squatter -C $base/imapd.conf -R"
}
CONF

echo -n "$admin_secret" | saslpasswd2 -p -c -f "$base/sasldb2" -u localhost admin
for u in $users; do echo -n "$user_secret_prefix$u" | saslpasswd2 -p -c -f "$base/sasldb2" -u localhost "$u"; done
chown -R cyrus:mail "$base"
chmod 640 "$base/sasldb2"

"$master" -C "$base/imapd.conf" -M "$base/cyrus.conf" -p "$base/master.pid" -d
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$http_port/" && break
  sleep 0.1
done

# Mailboxes: the admin creates each user; the user creates special-use folders (RFC 6154) so
# JMAP roles appear.
python3 - "$imap_port" "$admin_secret" "$user_secret_prefix" $users <<'PY'
import imaplib, sys, time
port, admin_secret, prefix, users = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
for attempt in range(50):
    try:
        a = imaplib.IMAP4("127.0.0.1", port); break
    except OSError:
        time.sleep(0.1)
a.login("admin", admin_secret)
for u in users:
    typ, data = a.create("user/%s" % u)
    assert typ == "OK", (u, data)
a.logout()
for u in users:
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login(u, prefix + u)
    for name, use in (("Drafts", "\\Drafts"), ("Sent", "\\Sent"), ("Trash", "\\Trash"),
                      ("Junk", "\\Junk"), ("Archive", "\\Archive")):
        typ, data = c._simple_command("CREATE", name, "(USE (%s))" % use)
        assert typ == "OK", (u, name, data)
    c.logout()
PY

cat >"$base/server.env" <<ENV
JMIRROR_TEST_BASE=$base
JMIRROR_TEST_HTTP=http://127.0.0.1:$http_port
JMIRROR_TEST_IMAP_PORT=$imap_port
JMIRROR_TEST_LMTP_PORT=$lmtp_port
JMIRROR_TEST_USERS="$users"
JMIRROR_TEST_PASSWORD_PREFIX=$user_secret_prefix
JMIRROR_TEST_ADMIN_SECRET=$admin_secret
JMIRROR_TEST_SYSLOG=$syslog_file
ENV
chmod 644 "$base/server.env"
echo "start.sh: Cyrus $(dpkg-query -W -f='${Version}' cyrus-common) running at http://127.0.0.1:$http_port (imap $imap_port, lmtp $lmtp_port), base $base"
