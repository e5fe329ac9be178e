#!/usr/bin/env bash
# Replay: jmirror replaying a mirrored account into an empty one, beside mbsync copying IMAP → IMAP
# between the same kind of accounts, on the same Cyrus, in the same run. Seeds N messages per size
# given (mostly 2-50 KB, ~0.5% 1-10 MB) into a source account, mirrors it once with jmirror, then
# for each tool copies it into fresh empty accounts twice (order jmirror mbsync mbsync jmirror),
# and times a jmirror rerun that finds everything present (median of 3). Peak RSS per run.
# jmirror reads the source from its mirror; mbsync reads it from the server (COMPRESS off).
# Usage: contrib/bench/replay.sh [N…]   (default: 1000 10000)
set -euo pipefail
cd "$(dirname "$0")/../.."
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(1000 10000)
. contrib/bench/lib.sh
base=${JMIRROR_BENCH_BASE:-/tmp/jmirror-bench-replay}
bench_setup "$base" none
trap 'bash contrib/test-server/stop.sh "$base/server" >/dev/null' EXIT
umask 077

account() {  # account NAME USER : a [account.NAME] block
  printf '[account.%s]\nurl = "%s/jmap"\nusername = "%s"\npassword_command = "echo %s%s"\nallow_insecure_http = true\n' \
    "$1" "$JMIRROR_TEST_HTTP" "$2" "$JMIRROR_TEST_PASSWORD_PREFIX" "$2"
}

printf '%-7s %-8s %-18s %10s %10s %10s\n' msgs tool phase seconds "msgs/s" "RSS MB"
for n in "${counts[@]}"; do
  src="rsrc$n"; work="$base/$n"; mkdir -p "$work"
  users=("$src" "rjm1$n" "rjm2$n" "rmb1$n" "rmb2$n")
  for u in "${users[@]}"; do bash contrib/test-server/add-user.sh "$base/server" "$u" >/dev/null; done
  python3 contrib/test-server/seed.py --env "$base/server/server.env" --user "$src" --count "$n" --big-share 0.005 \
    --folders "INBOX,Projects,Projects/2024,Lists" > "$work/seed.txt"
  { printf '[mirror]\npath = "%s/mirror"\n' "$work"
    for a in src:"$src" jm1:"rjm1$n" jm2:"rjm2$n"; do account "${a%%:*}" "${a#*:}"; done; } > "$work/config.toml"
  "$bin" --config "$work/config.toml" sync src >/dev/null
  for k in 1 2; do
    cat > "$work/mbsyncrc$k" <<RC
IMAPAccount src
Host 127.0.0.1
Port $JMIRROR_TEST_IMAP_PORT
User $src
Pass $JMIRROR_TEST_PASSWORD_PREFIX$src
SSLType None
AuthMechs LOGIN
DisableExtension COMPRESS=DEFLATE

IMAPAccount dst
Host 127.0.0.1
Port $JMIRROR_TEST_IMAP_PORT
User rmb$k$n
Pass ${JMIRROR_TEST_PASSWORD_PREFIX}rmb$k$n
SSLType None
AuthMechs LOGIN
DisableExtension COMPRESS=DEFLATE

IMAPStore far
Account src

IMAPStore near
Account dst

Channel copy
Far :far:
Near :near:
Patterns *
Create Near
Sync Pull
SyncState $work/mbsync-state$k/
RC
    mkdir -p "$work/mbsync-state$k"
  done
  for run_ in "jmirror 1" "mbsync 1" "mbsync 2" "jmirror 2"; do
    set -- $run_
    if [ "$1" = jmirror ]; then cmd=("$bin" --config "$work/config.toml" replay src --to "jm$2" --only mail)
    else cmd=(mbsync -q -c "$work/mbsyncrc$2" -a); fi
    read -r t rss < <(run "${cmd[@]}")
    printf '%-7s %-8s %-18s %10.3f %10.0f %10.1f\n' "$n" "$1" "copy (run $2)" "$t" "$(echo "$n / $t" | bc -l)" "$rss"
  done
  ts=(); rs=()
  for _ in 1 2 3; do read -r t rss < <(run "$bin" --config "$work/config.toml" replay src --to jm1 --only mail); ts+=("$t"); rs+=("$rss"); done
  printf '%-7s %-8s %-18s %10.3f %10s %10.1f\n' "$n" jmirror "rerun (med 3)" "$(printf '%s\n' "${ts[@]}" | median)" - \
    "$(printf '%s\n' "${rs[@]}" | median)"
done
