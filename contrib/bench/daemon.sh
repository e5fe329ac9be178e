#!/usr/bin/env bash
# The daemon: N accounts (default 50) on one `jmirror daemon`, each with a few messages.
# Prints, with how each figure was taken:
#  - idle RSS (VmRSS) and CPU seconds (utime+stime from /proc) over an idle window (default 600 s);
#  - latency from LMTP delivery to the message file in the Maildir, with push (p50, p95 over
#    DELIVERIES, default 100) and with polling (poll_interval 10 s, 20 deliveries);
#  - beside it, the peer way to keep 50 accounts fresh without a daemon: mbsync (isync) over all
#    accounts once a minute, its CPU per run measured and scaled to the same window.
# Debian's Cyrus cannot push (docs/DESIGN.md), so push goes through Tests/TestSupport/push_front.py,
# an RFC 8620 EventSource in front of it that checks each connection's account every 0.2 s.
# Usage: contrib/bench/daemon.sh [ACCOUNTS] [IDLE_SECONDS] [DELIVERIES]
set -euo pipefail
cd "$(dirname "$0")/../.."
accounts=${1:-50}; idle=${2:-600}; deliveries=${3:-100}
. contrib/bench/lib.sh
base=${JMIRROR_BENCH_BASE:-/tmp/jmirror-bench-daemon}
bench_setup "$base" none
front_pid=
daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  [ -n "$front_pid" ] && kill "$front_pid" 2>/dev/null || true
  bash contrib/test-server/stop.sh "$base/server" >/dev/null
}
trap cleanup EXIT
umask 077

echo "setting up $accounts accounts with 20 messages each" >&2
users=()
for i in $(seq 1 "$accounts"); do
  u=$(printf 'd%03d' "$i"); users+=("$u")
  bash contrib/test-server/add-user.sh "$base/server" "$u" >/dev/null
  python3 contrib/test-server/seed.py --env "$base/server/server.env" --user "$u" --count 20 --big-share 0 --folders INBOX >/dev/null
  printf '%s' "$JMIRROR_TEST_PASSWORD_PREFIX$u" > "$base/pw-$u"
done

python3 Tests/TestSupport/push_front.py --upstream "$JMIRROR_TEST_HTTP" > "$base/front.txt" 2>/dev/null &
front_pid=$!
for _ in $(seq 50); do grep -q PORT "$base/front.txt" && break; sleep 0.1; done
front="http://127.0.0.1:$(sed -n 's/PORT //p' "$base/front.txt")"

config() { # config FILE MIRROR URL DAEMON-SETTINGS
  { printf '[mirror]\npath = "%s"\n[daemon]\n%b\n' "$2" "$4"
    for u in "${users[@]}"; do
      printf '[account.%s]\nurl = "%s/jmap"\nusername = "%s"\npassword_file = "%s"\nallow_insecure_http = true\n' "$u" "$3" "$u" "$base/pw-$u"
    done; } > "$1"
}

# wait_all CONFIG CONDITION: until `status --json` says CONDITION of every account (python expr on `a`)
wait_all() {
  for _ in $(seq 600); do
    if "$bin" --config "$1" status --json 2>/dev/null | python3 -c "
import json, sys
try:
    d = json.load(sys.stdin); accts = [x['daemon'] for x in d['accounts'] if x.get('daemon')]
except (ValueError, KeyError):
    sys.exit(1)  # not up yet
sys.exit(0 if len(accts) == $accounts and all($2 for a in accts) else 1)"; then return 0; fi
    sleep 0.5
  done
  echo "timed out waiting for: $2" >&2; return 1
}

syncs() { "$bin" --config "$1" status --json | python3 -c "
import json, sys
print(sum(x['daemon']['syncs'] for x in json.load(sys.stdin)['accounts']))"; }
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }   # utime + stime, in seconds (USER_HZ 100)
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
hwm() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# latency CONFIG COUNT: deliveries to random accounts, seconds until each file is in the Maildir
latency() {
  python3 - "$base/mirror-$2" "$JMIRROR_TEST_LMTP_PORT" "$3" "${users[@]}" <<'PY'
import os, random, smtplib, sys, time
mirror, port, count, users = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rng = random.Random(11); out = []
def present(u, subject):
    for sub in ("new", "cur"):
        d = os.path.join(mirror, u, "mail", sub)
        for n in os.listdir(d) if os.path.isdir(d) else []:
            with open(os.path.join(d, n), "rb") as f:
                if subject.encode() in f.read(4096): return True
    return False
for i in range(count):
    u = rng.choice(users); subject = "latency-%d-%f" % (i, time.time())
    c = smtplib.LMTP("127.0.0.1", port)
    c.sendmail("bench@example.com", [u], ("From: bench@example.com\r\nSubject: %s\r\n\r\nhi\r\n" % subject).encode()); c.quit()
    t0 = time.time()
    while not present(u, subject):
        if time.time() - t0 > 60: print("timeout", file=sys.stderr); break
        time.sleep(0.01)
    out.append(time.time() - t0)
    time.sleep(rng.uniform(0, 0.3))
out.sort()
print("%.3f %.3f %.3f" % (out[len(out) // 2], out[int(len(out) * 0.95) - 1], out[-1]))
PY
}

printf '%-34s %s\n' "what" "figure"
# Push.
config "$base/push.toml" "$base/mirror-push" "$front" 'poll_interval = "1h"'
"$bin" --config "$base/push.toml" daemon 2> "$base/daemon-push.log" & daemon_pid=$!
wait_all "$base/push.toml" "a['push'] == 'connected' and a['state'] == 'idle' and a.get('lastSuccess')"
printf '%-34s %s MB\n' "RSS after first sync, push" "$(rss $daemon_pid) (peak $(hwm $daemon_pid))"
c0=$(cpu $daemon_pid); sleep "$idle"; c1=$(cpu $daemon_pid)
printf '%-34s %s MB\n' "idle RSS, $accounts accounts, push" "$(rss $daemon_pid)"
printf '%-34s %s s over %s s idle\n' "idle CPU, push" "$(echo "$c1 - $c0" | bc -l)" "$idle"
s0=$(syncs "$base/push.toml")
read -r p50 p95 pmax < <(latency "$base/push.toml" push "$deliveries")
printf '%-34s p50 %s s, p95 %s s, max %s s (%s deliveries)\n' "delivery → file, push" "$p50" "$p95" "$pmax" "$deliveries"
sleep 2
printf '%-34s %s syncs for %s deliveries\n' "syncs per change, push" "$(( $(syncs "$base/push.toml") - s0 ))" "$deliveries"
printf '%-34s %s MB\n' "peak RSS over the whole push run" "$(hwm $daemon_pid)"
kill -TERM $daemon_pid; wait $daemon_pid || true; daemon_pid=

# Polling every 10 s.
config "$base/poll.toml" "$base/mirror-poll" "$JMIRROR_TEST_HTTP" 'poll_interval = "10s"\npush = false'
"$bin" --config "$base/poll.toml" daemon 2> "$base/daemon-poll.log" & daemon_pid=$!
wait_all "$base/poll.toml" "a['state'] == 'idle' and a.get('lastSuccess')"
c0=$(cpu $daemon_pid); sleep 60; c1=$(cpu $daemon_pid)
printf '%-34s %s s over 60 s\n' "CPU, polling 50 accounts / 10 s" "$(echo "$c1 - $c0" | bc -l)"
read -r p50 p95 pmax < <(latency "$base/poll.toml" poll 20)
printf '%-34s p50 %s s, p95 %s s, max %s s (20 deliveries)\n' "delivery → file, poll 10 s" "$p50" "$p95" "$pmax"
kill -TERM $daemon_pid; wait $daemon_pid || true; daemon_pid=

# The peer: mbsync over the same accounts, once (after a first run), CPU scaled to the window.
{ for u in "${users[@]}"; do cat <<RC
IMAPAccount $u
Host 127.0.0.1
Port $JMIRROR_TEST_IMAP_PORT
User $u
PassCmd "cat $base/pw-$u"
SSLType None
AuthMechs LOGIN
DisableExtension COMPRESS=DEFLATE

IMAPStore $u-remote
Account $u

MaildirStore $u-local
Path $base/mbsync/$u/
Inbox $base/mbsync/$u/INBOX
SubFolders Verbatim

Channel $u
Far :$u-remote:
Near :$u-local:
Patterns *
Create Near
Sync Pull
SyncState *

RC
done; } > "$base/mbsyncrc"
for u in "${users[@]}"; do mkdir -p "$base/mbsync/$u"; done
mbsync -q -c "$base/mbsyncrc" -a
/usr/bin/time -f '%U %S %e' -o "$base/mbsync-time.txt" mbsync -q -c "$base/mbsyncrc" -a
read -r mu ms me < "$base/mbsync-time.txt"
printf '%-34s %s s CPU, %s s wall per run; %s s CPU per %s s at one run a minute\n' "mbsync -a, $accounts accounts" \
  "$(echo "$mu + $ms" | bc -l)" "$me" "$(echo "($mu + $ms) * $idle / 60" | bc -l)" "$idle"
/usr/bin/time -f '%U %S %e' -o "$base/jm-time.txt" "$bin" --config "$base/poll.toml" sync --quiet
read -r ju js je < "$base/jm-time.txt"
printf '%-34s %s s CPU, %s s wall per run\n' "jmirror sync (quiet), $accounts acc." "$(echo "$ju + $js" | bc -l)" "$je"
