#!/usr/bin/env bash
# History and archives at N messages (default 10,000), side by side with the plain tools on the
# same files, same run, warm page cache:
#   - `jmirror snapshot` after no change, and a sync after 100 flag changes (which records one):
#     wall time and catalog growth;
#   - `jmirror archive export` vs `tar --zstd -cf` of the same object files; `archive import` into
#     an empty mirror vs `tar --zstd -xf` (and `&& sync`), on the disk and on tmpfs; medians of
#     three, peak RSS of each;
#   - `jmirror prune` and `jmirror check --read-data` vs `sha256sum` of the same files.
# Usage: contrib/bench/history.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-10000}
. contrib/bench/lib.sh
base=${JMIRROR_BENCH_BASE:-/tmp/jmirror-bench-history}
bench_setup "$base" none
trap 'bash contrib/test-server/stop.sh "$base/server" >/dev/null' EXIT
umask 077

# Catalog size in bytes after folding the WAL in, and the number of version rows.
catalog() {
  python3 - "$1" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
size = c.execute("PRAGMA page_count").fetchone()[0] * c.execute("PRAGMA page_size").fetchone()[0]
print(size, c.execute("SELECT count(*) FROM version").fetchone()[0])
PY
}
row() { printf '%-44s %10s %10s %s\n' "$@"; }

user="hist$n"
bash contrib/test-server/add-user.sh "$base/server" "$user" >/dev/null
python3 contrib/test-server/seed.py --env "$base/server/server.env" --user "$user" --count "$n" --big-share 0.005 \
  --folders "INBOX,Projects,Projects/2024,Lists" > "$base/seed.txt"
work="$base/work"; mkdir -p "$work"
printf '%s' "$JMIRROR_TEST_PASSWORD_PREFIX$user" > "$work/pw"
for m in a b; do
  cat > "$work/$m.toml" <<TOML
[mirror]
path = "$work/mirror-$m"
[account.$( [ $m = a ] && echo bench || echo other )]
url = "$JMIRROR_TEST_HTTP/jmap"
username = "$user"
password_file = "$work/pw"
allow_insecure_http = true
TOML
done
J=("$bin" --config "$work/a.toml")
cat "$base/seed.txt"
row "operation ($n messages)" seconds "RSS MB" "notes"
read -r t r < <(run "${J[@]}" sync); row "jmirror sync (first)" "$t" "$r" "records the first snapshot"
db="$work/mirror-a/.jmirror/catalog.sqlite"
read -r s0 v0 < <(catalog "$db")
read -r t r < <(run "${J[@]}" sync); row "jmirror sync (no change)" "$t" "$r" "records none"
read -r s1 v1 < <(catalog "$db")
row "  catalog growth" "$((s1 - s0)) B" "" "$((v1 - v0)) version rows"
read -r t r < <(run "${J[@]}" snapshot); row "jmirror snapshot (no change, forced)" "$t" "$r" ""
read -r s2 v2 < <(catalog "$db")
row "  catalog growth" "$((s2 - s1)) B" "" "$((v2 - v1)) version rows"
flip100 "$user"
read -r t r < <(run "${J[@]}" sync); row "jmirror sync after 100 flag changes" "$t" "$r" "records a snapshot"
read -r s3 v3 < <(catalog "$db")
row "  catalog growth" "$((s3 - s2)) B" "" "$((v3 - v2)) version rows; catalog $((s3 / 1000000)) MB in all"
read -r t r < <(run "${J[@]}" snapshot); row "jmirror snapshot right after (forced)" "$t" "$r" ""

objects="$work/mirror-a/.jmirror/objects"
bytes=$(du -sb "$objects" | awk '{print $1}')
echo "object files: $(find "$objects" -type f | wc -l), $((bytes / 1000000)) MB"

# median3 CMD… : median wall seconds and peak RSS of three runs (each after `sync`, page cache warm)
median3() {
  local ts=() rs=() t r
  for _ in 1 2 3; do
    [ -n "${before:-}" ] && eval "$before"
    sync
    read -r t r < <(run "$@"); ts+=("$t"); rs+=("$r")
  done
  echo "$(printf '%s\n' "${ts[@]}" | median) $(printf '%s\n' "${rs[@]}" | sort -n | tail -1)"
}
shm=/dev/shm/jmirror-bench-$$
cleanup_shm() { rm -rf "$shm"; }
trap 'cleanup_shm; bash contrib/test-server/stop.sh "$base/server" >/dev/null' EXIT

before="rm -f '$work/export.tar.zst'"
read -r t r < <(median3 "${J[@]}" archive export bench@latest -o "$work/export.tar.zst")
row "jmirror archive export (median of 3)" "$t" "$r" "$(($(stat -c %s "$work/export.tar.zst") / 1000000)) MB archive"
before="rm -f '$work/plain.tar.zst'"
read -r t r < <(median3 tar --zstd -cf "$work/plain.tar.zst" -C "$objects" .)
row "tar --zstd -cf, same object files" "$t" "$r" "$(($(stat -c %s "$work/plain.tar.zst") / 1000000)) MB archive"
before=""
read -r t r < <(median3 "$bin" archive verify "$work/export.tar.zst"); row "jmirror archive verify (median of 3)" "$t" "$r" ""

# Import, on this disk and on tmpfs (where only CPU counts). jmirror makes what it imports durable
# (syncfs) before the catalog names it; tar does not, hence the row with `sync`.
sed "s|path = .*|path = \"$shm/mirror\"|" "$work/b.toml" > "$work/shm.toml"
before="rm -rf '$work/mirror-b'"
read -r t r < <(median3 "$bin" --config "$work/b.toml" archive import "$work/export.tar.zst")
row "jmirror archive import, disk" "$t" "$r" "into an empty mirror"
before="rm -rf '$work/untar'; mkdir -p '$work/untar'"
read -r t r < <(median3 tar --zstd -xf "$work/plain.tar.zst" -C "$work/untar"); row "tar --zstd -xf, disk" "$t" "$r" ""
read -r t r < <(median3 sh -c "tar --zstd -xf '$work/plain.tar.zst' -C '$work/untar' && sync"); row "tar --zstd -xf && sync, disk" "$t" "$r" ""
mkdir -p "$shm"; cp "$work/export.tar.zst" "$work/plain.tar.zst" "$shm/"
before="rm -rf '$shm/mirror'"
read -r t r < <(median3 "$bin" --config "$work/shm.toml" archive import "$shm/export.tar.zst")
row "jmirror archive import, tmpfs" "$t" "$r" ""
before="rm -rf '$shm/untar'; mkdir -p '$shm/untar'"
read -r t r < <(median3 tar --zstd -xf "$shm/plain.tar.zst" -C "$shm/untar"); row "tar --zstd -xf, tmpfs" "$t" "$r" ""
cleanup_shm
before=""

read -r t r < <(run "${J[@]}" prune); row "jmirror prune (nothing to free)" "$t" "$r" ""
read -r t r < <(median3 "${J[@]}" check --read-data); row "jmirror check --read-data (median of 3)" "$t" "$r" ""
read -r t r < <(median3 sh -c "find '$objects' -type f -print0 | xargs -0 sha256sum > /dev/null"); row "sha256sum of the same files" "$t" "$r" ""
