#!/usr/bin/env bash
# Mail sync: jmirror beside mbsync (Debian isync) pulling the same account, same server, same run.
# Seeds N messages (mostly 2-50 KB, ~0.5% 1-10 MB) per size given, then measures for each tool:
# the initial sync, a sync with no changes (median of 5) beside a bare curl sending the same request,
# a sync after 100 flag changes, peak RSS;
# and jmirror's download-only floor (`jmirror debug download-floor`: the first sync's requests, data dropped).
# mbsync runs in its fastest loopback configuration: IMAP COMPRESS disabled.
# Usage: contrib/bench/mail-sync.sh [N…]   (default: 1000 10000)
set -euo pipefail
cd "$(dirname "$0")/../.."
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(1000 10000)
. contrib/bench/lib.sh
base=${JMIRROR_BENCH_BASE:-/tmp/jmirror-bench-mail}
bench_setup "$base" none
trap 'bash contrib/test-server/stop.sh "$base/server" >/dev/null' EXIT
umask 077


printf '%-7s %-8s %-18s %10s %10s %10s %10s\n' msgs tool phase seconds "msgs/s" "MB/s" "RSS MB"
for n in "${counts[@]}"; do
  user="bench$n"
  bash contrib/test-server/add-user.sh "$base/server" "$user" >/dev/null
  python3 contrib/test-server/seed.py --env "$base/server/server.env" --user "$user" --count "$n" --big-share 0.005 \
    --folders "INBOX,Projects,Projects/2024,Lists" > "$base/seed.txt"
  mb=$(awk '{print $4}' "$base/seed.txt" | tr -d '(')
  work="$base/$user"; mkdir -p "$work"
  printf '%s' "$JMIRROR_TEST_PASSWORD_PREFIX$user" > "$work/pw"
  cat > "$work/config.toml" <<TOML
[mirror]
path = "$work/jmirror"
[account.bench]
url = "$JMIRROR_TEST_HTTP/jmap"
username = "$user"
password_file = "$work/pw"
allow_insecure_http = true
TOML
  mkdir -p "$work/mbsync"
  cat > "$work/mbsyncrc" <<RC
IMAPAccount bench
Host 127.0.0.1
Port $JMIRROR_TEST_IMAP_PORT
User $user
PassCmd "cat $work/pw"
SSLType None
AuthMechs LOGIN
DisableExtension COMPRESS=DEFLATE

IMAPStore remote
Account bench

MaildirStore local
Path $work/mbsync/
Inbox $work/mbsync/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *
RC
  # Initial sync twice per tool, in the order jmirror mbsync mbsync jmirror, each into a fresh
  # target: ext4 is slower to create files right after many were deleted (the server's start-up
  # wiped the previous run), and that would otherwise penalise whichever tool ran first.
  sed "s|$work/jmirror|$work/jmirror2|" "$work/config.toml" > "$work/config2.toml"
  sed "s|$work/mbsync/|$work/mbsync2/|g" "$work/mbsyncrc" > "$work/mbsyncrc2"; mkdir -p "$work/mbsync2"
  jm=("$bin" --config "$work/config.toml" sync)
  mbs=(mbsync -q -c "$work/mbsyncrc" -a)
  for run_ in "jmirror 1" "mbsync 1" "mbsync 2" "jmirror 2"; do
    set -- $run_; tool=$1
    if [ $tool = jmirror ]; then cmd=("${jm[@]}"); [ $2 = 2 ] && cmd=("$bin" --config "$work/config2.toml" sync)
    else cmd=("${mbs[@]}"); [ $2 = 2 ] && cmd=(mbsync -q -c "$work/mbsyncrc2" -a); fi
    read -r t rss < <(run "${cmd[@]}")
    printf '%-7s %-8s %-18s %10.3f %10.0f %10.1f %10.1f\n' "$n" $tool "initial (run $2)" "$t" "$(echo "$n / $t" | bc -l)" "$(echo "$mb / $t" | bc -l)" "$rss"
  done
  # The floor: the same Blob/get batches at the same concurrency, decoded and dropped (twice).
  for r in 1 2; do
    read -r t rss < <(run "$bin" --config "$work/config.toml" debug download-floor bench)
    printf '%-7s %-8s %-18s %10.3f %10.0f %10.1f %10.1f\n' "$n" floor "download only ($r)" "$t" "$(echo "$n / $t" | bc -l)" "$(echo "$mb / $t" | bc -l)" "$rss"
  done
  for tool in jmirror mbsync; do
    if [ $tool = jmirror ]; then cmd=("${jm[@]}"); else cmd=("${mbs[@]}"); fi
    ts=(); rs=()
    for _ in 1 2 3 4 5; do read -r t rss < <(run "${cmd[@]}"); ts+=("$t"); rs+=("$rss"); done
    printf '%-7s %-8s %-18s %10.3f %10s %10s %10.1f\n' "$n" $tool "no change (med 5)" "$(printf '%s\n' "${ts[@]}" | median)" - - \
      "$(printf '%s\n' "${rs[@]}" | median)"
  done
  # The floor of a quiet sync: a bare curl process sending the very request jmirror's quiet sync
  # sends (its body from `-vv`), over HTTP/1.1 with basic auth, median of 5.
  "$bin" --config "$work/config.toml" -vv sync 2>&1 >/dev/null | sed -n 's/.*request body: //p' | tail -1 > "$work/request.json"
  printf 'user = "%s:%s"\n' "$user" "$JMIRROR_TEST_PASSWORD_PREFIX$user" > "$work/curlrc"
  ts=()
  for _ in 1 2 3 4 5; do
    read -r t rss < <(run curl -s -o /dev/null -K "$work/curlrc" -H 'Content-Type: application/json' \
      --data-binary @"$work/request.json" "$JMIRROR_TEST_HTTP/jmap/"); ts+=("$t")
  done
  printf '%-7s %-8s %-18s %10.3f %10s %10s %10.1f\n' "$n" curl "same request (med 5)" "$(printf '%s\n' "${ts[@]}" | median)" - - "$rss"
  flip100 "$user"
  for tool in jmirror mbsync; do
    if [ $tool = jmirror ]; then cmd=("${jm[@]}"); else cmd=("${mbs[@]}"); fi
    read -r t rss < <(run "${cmd[@]}")
    printf '%-7s %-8s %-18s %10.3f %10s %10s %10.1f\n' "$n" $tool "after 100 changes" "$t" - - "$rss"
  done
  jfiles=$(find "$work/jmirror/bench/mail" \( -path '*/cur/*' -o -path '*/new/*' \) -type f | wc -l)
  mfiles=$(find "$work/mbsync" \( -path '*/cur/*' -o -path '*/new/*' \) -type f | wc -l)
  echo "        check: jmirror has $jfiles message files, mbsync $mfiles (seeded $n, $mb MB)"
done
echo "Whole-process wall time (/usr/bin/time), server and both tools on this machine's 2 cores; MB = 10^6 bytes."
