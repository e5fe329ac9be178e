#!/usr/bin/env bash
# `make demo`: installs, builds, starts the bundled test server with sample mail, and runs jmirror
# against it. The server stays up afterwards so you can keep trying commands.
set -euo pipefail
cd "$(dirname "$0")/.."
bash contrib/install-deps.sh
swift build -c release --static-swift-stdlib
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)/jmirror
base=${JMIRROR_DEMO_BASE:-/tmp/jmirror-demo}
bash contrib/test-server/stop.sh "$base/server" >/dev/null
mkdir -p "$base"
JMIRROR_TEST_USERS="alice" bash contrib/test-server/start.sh "$base/server"
python3 contrib/test-server/seed.py --env "$base/server/server.env" --user alice --count 60 --big-share 0.02
# shellcheck disable=SC1091
. "$base/server/server.env"
# A contact and a recurring event, put there the way a phone or calendar app would (CardDAV, CalDAV).
dav="$JMIRROR_TEST_HTTP/dav"; auth="alice:${JMIRROR_TEST_PASSWORD_PREFIX}alice"
curl -sf -o /dev/null -u "$auth" -X PUT -H 'Content-Type: text/vcard' --data-binary \
  $'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:demo-ada\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\nEMAIL;TYPE=work:ada@example.com\r\nEND:VCARD\r\n' \
  "$dav/addressbooks/user/alice/Default/demo-ada.vcf"
curl -sf -o /dev/null -u "$auth" -X PUT -H 'Content-Type: text/calendar' --data-binary \
  $'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//demo//EN\r\nBEGIN:VEVENT\r\nUID:demo-standup\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260105T093000\r\nDURATION:PT15M\r\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR\r\nSUMMARY:Stand-up\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' \
  "$dav/calendars/user/alice/Default/demo-standup.ics"
umask 077
printf '%s' "${JMIRROR_TEST_PASSWORD_PREFIX}alice" > "$base/alice.password"
cat > "$base/config.toml" <<TOML
[mirror]
path = "$base/mirror"

[account.demo]
url = "${JMIRROR_TEST_HTTP#http://}"     # a host: the session is discovered via /.well-known/jmap
username = "alice"
password_file = "$base/alice.password"
profile = "cyrus"
allow_insecure_http = true              # plain HTTP, allowed only because the server is on loopback
TOML
rm -rf "$base/mirror"
echo
echo "\$ jmirror --config $base/config.toml doctor"
"$bin" --config "$base/config.toml" doctor
echo
echo "\$ jmirror --config $base/config.toml sync"
"$bin" --config "$base/config.toml" sync
echo
echo "The mirror, as any Maildir reader sees it (folder: messages):"
for dir in "$base/mirror/demo/mail" "$base/mirror/demo/mail"/.*/; do
  [ -d "$dir/cur" ] || continue
  name=$(basename "$dir"); [ "$dir" = "$base/mirror/demo/mail" ] && name="INBOX (mail/)"
  printf '  %-24s %s\n' "$name" "$(find "$dir/cur" -type f | wc -l)"
done
echo "  objects stored once each: $(find "$base/mirror/.jmirror/objects" -type f | wc -l)"
echo "Contacts and calendars (vdir, as khard and khal read them):"
(cd "$base/mirror/demo" && find contacts calendars -type f | sort | sed 's/^/  /')
echo
echo "\$ jmirror --config $base/config.toml sync --json     # nothing changed: one request, no download"
"$bin" --config "$base/config.toml" sync --json
echo
echo "Every sync that changed something left a snapshot:"
echo "\$ jmirror --config $base/config.toml snapshots"
"$bin" --config "$base/config.toml" snapshots
echo
echo "\$ jmirror --config $base/config.toml restore demo@latest --to $base/restored"
rm -rf "$base/restored"
"$bin" --config "$base/config.toml" restore demo@latest --to "$base/restored"
echo
echo "\$ jmirror --config $base/config.toml archive export demo@latest -o $base/demo.tar.zst && jmirror archive verify $base/demo.tar.zst"
"$bin" --config "$base/config.toml" archive export demo@latest -o "$base/demo.tar.zst"
"$bin" archive verify "$base/demo.tar.zst"
echo
echo "The demo server is still running. Try: $bin --config $base/config.toml doctor --json"
echo "Stop it with: bash contrib/test-server/stop.sh $base/server"
