# Shared by the benchmark scripts (sourced, not run): build the release binary, start a private
# test server in BASE for the given users, and small helpers. Sets $bin and loads server.env.
# Usage: bench_setup BASE "USERS"
bench_setup() {
  local base=$1 users=$2
  bash contrib/install-deps.sh >/dev/null
  { [ -x /usr/bin/time ] && command -v bc >/dev/null; } || apt-get install -y -q time bc >/dev/null
  swift build -c release --static-swift-stdlib >/dev/null
  bin=$(swift build -c release --static-swift-stdlib --show-bin-path)/jmirror
  bash contrib/test-server/stop.sh "$base/server" >/dev/null
  rm -rf "$base"; mkdir -p "$base"
  JMIRROR_TEST_USERS="$users" bash contrib/test-server/start.sh "$base/server" >/dev/null
  # shellcheck disable=SC1091
  . "$base/server/server.env"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# run CMD… : wall seconds and peak RSS (MB) of one command (output in $base/out.txt)
run() {
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -v -o "$base/time.txt" "$@" >"$base/out.txt" 2>&1 || { cat "$base/out.txt" >&2; return 1; }
  end=$(date +%s.%N)
  printf '%.3f %s\n' "$(echo "$end - $start" | bc -l)" "$(awk '/Maximum resident set size/ {printf "%.1f", $NF/1024}' "$base/time.txt")"
}

# flip100 USER : sets \Flagged on 100 INBOX messages of USER over IMAP (a fixed random choice)
flip100() {
  python3 - "$JMIRROR_TEST_IMAP_PORT" "$1" "$JMIRROR_TEST_PASSWORD_PREFIX$1" <<'PY'
import imaplib, random, socket, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1])); c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c.login(sys.argv[2], sys.argv[3]); c.select("INBOX")
uids = c.uid("SEARCH", None, "ALL")[1][0].split()
for u in random.Random(7).sample(uids, min(100, len(uids))):
    c.uid("STORE", u, "+FLAGS", "(\\Flagged)")
c.logout()
PY
}
