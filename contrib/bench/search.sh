#!/usr/bin/env bash
# Search: jmirror's index beside notmuch (Xapian) on the same Maildir, same run.
# Seeds N messages (default 10,000), mirrors them, then measures: building the index
# (`jmirror search --reindex`) against `notmuch new` (time, peak RSS, size on disk); an
# incremental update after 100 new messages (the sync's own index update, from its -v log); and
# whole-process query times (median and p95 of 20 runs) for the same queries in both languages,
# printing every match and then only the 20 newest (`--limit 20`, notmuch `--limit=20`).
# Usage: contrib/bench/search.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-10000}
. contrib/bench/lib.sh
base=${JMIRROR_BENCH_BASE:-/tmp/jmirror-bench-search}
bench_setup "$base" none
trap 'bash contrib/test-server/stop.sh "$base/server" >/dev/null' EXIT
umask 077
user=search$n
bash contrib/test-server/add-user.sh "$base/server" "$user" >/dev/null
python3 contrib/test-server/seed.py --env "$base/server/server.env" --user "$user" --count "$n" --big-share 0.005 \
  --folders "INBOX,Projects,Projects/2024,Lists" > "$base/seed.txt"
printf '%s' "$JMIRROR_TEST_PASSWORD_PREFIX$user" > "$base/pw"
cat > "$base/config.toml" <<TOML
[mirror]
path = "$base/mirror"
[account.bench]
url = "$JMIRROR_TEST_HTTP/jmap"
username = "$user"
password_file = "$base/pw"
allow_insecure_http = true
TOML
"$bin" --config "$base/config.toml" sync --quiet
cat > "$base/notmuch-config" <<NM
[database]
path=$base/mirror/bench/mail
[new]
tags=unread
ignore=dovecot-keywords;dovecot-uidlist
[maildir]
synchronize_flags=true
NM
nm=(notmuch --config="$base/notmuch-config")
dusize() { du -sb "$@" | awk '{s += $1} END {printf "%.1f", s / 1e6}'; }

printf '%-40s %12s %12s\n' "$(head -1 "$base/seed.txt")" jmirror notmuch
read -r jt jr < <(run "$bin" --config "$base/config.toml" search --reindex)
read -r nt nr < <(run "${nm[@]}" new --quiet)
printf '%-40s %10.2f s %10.2f s\n' "build the index ($n msgs)" "$jt" "$nt"
printf '%-40s %9.1f MB %9.1f MB\n' "peak RSS building it" "$jr" "$nr"
printf '%-40s %9s MB %9s MB\n' "index on disk" "$(dusize "$base/mirror/.jmirror/search.sqlite"*)" "$(dusize "$base/mirror/bench/mail/.notmuch")"
printf '%-40s %9s MB\n' "the messages themselves" "$(dusize "$base/mirror/.jmirror/objects")"

python3 contrib/test-server/seed.py --env "$base/server/server.env" --user "$user" --count 100 --big-share 0 --folders INBOX >/dev/null
"$bin" --config "$base/config.toml" sync -v 2> "$base/sync.log" >/dev/null
js=$(sed -n 's/.*seconds=\([0-9.]*\).*search index: \([0-9]*\) indexed.*/\2 \1/p' "$base/sync.log" | tail -1)
read -r nt2 _ < <(run "${nm[@]}" new --quiet)
printf '%-40s %10.3f s %10.3f s\n' "index 100 new messages (${js%% *} read)" "${js##* }" "$nt2"

# seed.py's words: "backup mirror mailbox … invoice meeting project report …", senders sender0..49@example.org.
# Dates differ: notmuch reads the Date header, jmirror the server's receivedAt (the import time),
# so the date query is jmirror's own (newer:1d: everything) beside notmuch's date:.
queries=(
  "invoice|invoice"
  "\"project report\"|\"project report\""
  "from:sender7@example.org|from:sender7@example.org"
  "subject:holiday|subject:holiday"
  "newer:1d|date:3years..now"
  "(in:Projects OR in:Projects/*) invoice is:read|(folder:.Projects or folder:.Projects.2024) and invoice and not tag:unread"
  "(subject:invoice OR subject:holiday) -subject:meeting|(subject:invoice or subject:holiday) and not subject:meeting"
)
p() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.0f/%.0f ms", a[int((NR+1)/2)]*1000, a[int(NR*0.95)]*1000}'; }
# Every match printed (both tools newest first), then the first page a person reads: the 20 newest.
for limit in all 20; do
  if [ $limit = all ]; then jl=(--limit 10000000); nl=(); else jl=(--limit $limit); nl=(--limit=$limit); fi
  printf '%-40s %12s %12s %8s\n' "query, $limit results (whole process, 20 runs)" "jmirror p50/p95" "notmuch p50/p95" "results"
  for pair in "${queries[@]}"; do
    jq=${pair%%|*}; nq=${pair##*|}
    jts=(); nts=()
    for _ in $(seq 20); do
      read -r t _ < <(run "$bin" --config "$base/config.toml" search --output ids "${jl[@]}" "$jq"); jts+=("$t")
      read -r t _ < <(run "${nm[@]}" search --output=messages "${nl[@]}" "$nq"); nts+=("$t")
    done
    jc=$("$bin" --config "$base/config.toml" search --output ids "${jl[@]}" "$jq" | wc -l)
    nc=$("${nm[@]}" search --output=messages "${nl[@]}" "$nq" | wc -l)
    printf '%-40s %15s %15s %5s/%s\n' "$jq" "$(p "${jts[@]}")" "$(p "${nts[@]}")" "$jc" "$nc"
  done
done
