#!/usr/bin/env bash
# Blob download: jmirror beside curl on the same URL, same server, same run.
# Prints throughput and peak RSS for 10 MB, 100 MB and 1 GB blobs (median of 5 runs each).
# Usage: contrib/bench/blob-download.sh [SIZES_MB…]   (default: 10 100 1000)
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1000)
. contrib/bench/lib.sh
base=${JMIRROR_BENCH_BASE:-/tmp/jmirror-bench-blob}
bench_setup "$base" carol
# Output goes to tmpfs: the VM disk's writeback noise (seconds, run to run) would swamp the transport
# being measured. Both tools write to the same place.
work=${JMIRROR_BENCH_OUT:-/dev/shm/jmirror-bench-blob}; mkdir -p "$work"; umask 077
secret="${JMIRROR_TEST_PASSWORD_PREFIX}carol"
trap 'bash contrib/test-server/stop.sh "$base/server" >/dev/null; rm -rf "$work"' EXIT
printf '%s' "$secret" > "$work/pw"
# curl reads the credentials from a file, so the secret is never in a process's arguments.
printf 'user = "carol:%s"\n' "$secret" > "$work/curlrc"
cat > "$work/config.toml" <<TOML
[mirror]
path = "$work/mirror"
[account.bench]
url = "$JMIRROR_TEST_HTTP/jmap"
username = "carol"
password_file = "$work/pw"
allow_insecure_http = true
TOML

rss_kb() { awk '/Maximum resident set size/ {print $NF}' "$1"; }

printf '%-8s %-8s %10s %10s %12s %14s\n' size tool "MB/s" seconds "peak RSS MB" "transfer MB/s"
for mb in "${sizes[@]}"; do
  head -c $((mb * 1000 * 1000)) /dev/urandom > "$base/src.bin"
  blob=$(curl -s --http2 -K "$work/curlrc" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$base/src.bin" "$JMIRROR_TEST_HTTP/jmap/upload/carol/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["blobId"])')
  want=$(sha256sum "$base/src.bin" | cut -d' ' -f1); rm -f "$base/src.bin"
  url="$JMIRROR_TEST_HTTP/jmap/download/carol/$blob/b?accept=application/octet-stream"
  for tool in curl jmirror; do
    times=(); rss=(); xfer=()
    for _ in 1 2 3 4 5; do
      rm -f "$work/out.bin"
      start=$(date +%s.%N)
      if [ $tool = curl ]; then
        /usr/bin/time -v -o "$work/time.txt" curl -s --http2 -K "$work/curlrc" -o "$work/out.bin" "$url"
      else
        /usr/bin/time -v -o "$work/time.txt" "$bin" --config "$work/config.toml" debug download-blob bench "$blob" \
          -o "$work/out.bin" > "$work/jm.txt"
      fi
      end=$(date +%s.%N)
      got=$(sha256sum "$work/out.bin" | cut -d' ' -f1)
      [ "$got" = "$want" ] || { echo "$tool: wrong bytes for $mb MB" >&2; exit 1; }
      t=$(echo "$end - $start" | bc -l)
      times+=("$t"); rss+=("$(rss_kb "$work/time.txt")")
      if [ $tool = jmirror ]; then xfer+=("$(awk '{print $(NF-1)}' "$work/jm.txt")"); else xfer+=("$t"); fi
    done
    t=$(printf '%s\n' "${times[@]}" | median); r=$(printf '%s\n' "${rss[@]}" | median); x=$(printf '%s\n' "${xfer[@]}" | median)
    printf '%-8s %-8s %10.1f %10.3f %12.1f %14.1f\n' "${mb}MB" "$tool" "$(echo "$mb / $t" | bc -l)" "$t" \
      "$(echo "$r / 1024" | bc -l)" "$(echo "$mb / $x" | bc -l)"
  done
done
echo "MB/s, seconds: the whole process (jmirror also reads its config and fetches the Session; curl does not)."
echo "transfer MB/s: jmirror's own timing of the download alone (for curl, the same as MB/s)."
echo "Output on tmpfs for both; median of 5 runs; MB = 10^6 bytes."
