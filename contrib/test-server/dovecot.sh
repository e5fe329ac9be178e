#!/usr/bin/env bash
# A private Dovecot serving one Maildir over IMAP on 127.0.0.1, for the tests.
#   dovecot.sh start DIR MAILDIR [listescape]   prints "PORT USER PASSWORD"
#   dovecot.sh stop DIR
# Its own config, state and log under DIR, a free port, a passwd-file user; mail processes run
# as nobody (Dovecot refuses root), so MAILDIR must belong to nobody. With "listescape",
# contrib/dovecot/jmirror.conf is included, as the README tells users to.
# The IMAP binaries come from $JMIRROR_DOVECOT_IMAP (contrib/install-deps.sh extracts them).
set -euo pipefail
cmd=$1 dir=$2
here=$(cd "$(dirname "$0")" && pwd)
imap=${JMIRROR_DOVECOT_IMAP:-/opt/jmirror-test/dovecot}

if [ "$cmd" = stop ]; then
  [ -f "$dir/run/master.pid" ] && kill "$(cat "$dir/run/master.pid")" 2>/dev/null || true
  exit 0
fi

maildir=$3 mode=${4:-default}
[ -x /usr/sbin/dovecot ] && [ -x "$imap/imap" ] || { echo "dovecot.sh: Dovecot is not installed (run contrib/install-deps.sh)" >&2; exit 1; }
mkdir -p "$dir/run" "$dir/state" "$dir/home"
chown 65534:65534 "$dir/home"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "jmirror:{PLAIN}dovecot-test::::::" >"$dir/passwd"
{
  cat <<CONF
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:$maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN $dir/passwd
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$dir/home
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
  for s in imap imap-login imap-urlauth imap-urlauth-login imap-urlauth-worker imap-hibernate; do
    printf 'service %s {\n  executable = %s/%s\n}\n' "$s" "$imap" "$s"
  done
  [ "$mode" = listescape ] && echo "!include $here/../dovecot/jmirror.conf"
} >"$dir/dovecot.conf"
# The daemon must hold none of the caller's descriptors: a caller that reads our output until
# it closes, or (Foundation's Process) watches an inherited socket to learn that we exited,
# would wait for Dovecot to stop.
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
/usr/sbin/dovecot -c "$dir/dovecot.conf" </dev/null >"$dir/dovecot.out" 2>&1 || { cat "$dir/dovecot.out" >&2; exit 1; }
for _ in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && { echo "$port jmirror dovecot-test"; exit 0; }
  sleep 0.1
done
echo "dovecot.sh: Dovecot did not start; its log:" >&2
cat "$dir/dovecot.log" >&2 || true
exit 1
