#!/usr/bin/env bash
# Installs every Debian package jmirror needs to build, test and run its test server, on Debian 12.
# Idempotent: a machine that already has everything pays one dpkg query, no apt-get.
set -euo pipefail

build_pkgs=(libcurl4-openssl-dev libssl-dev libarchive-dev libsqlite3-dev zlib1g-dev libzstd-dev libical-dev pkg-config
  libgmime-3.0-0)  # GMime: opened with dlopen by search, no headers needed
# cyrus-* come from bookworm-backports (3.10.1); sasl2-bin makes users; isync is the benchmark peer;
# zstd (for `tar --zstd`) and age check archives the way users handle them.
server_pkgs=(cyrus-imapd cyrus-caldav cyrus-admin cyrus-clients sasl2-bin)
# dovecot-core: a real Dovecot reads the Maildir in the tests. Its IMAP binaries come from
# dovecot-imapd, which must never be installed here (it removes cyrus-imapd, see test-server.md):
# they are extracted from the package into $dovecot_imap instead.
# systemd: only for `systemd-analyze verify` of the units in contrib/systemd (nothing is started).
other_pkgs=(isync python3-venv zstd age openssl notmuch dovecot-core systemd)
dovecot_imap=/opt/jmirror-test/dovecot

missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

# The parsers khard and khal use, to check every .vcf and .ics the tests produce, and the JSON
# Schema validator for PDPA archives (from PyPI, pinned).
if ! python3 -c 'import vobject, icalendar, jsonschema, referencing' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check vobject==0.9.9 icalendar==7.3.0 jsonschema==4.26.0
fi

need_build=$(missing "${build_pkgs[@]}" "${other_pkgs[@]}")
need_server=$(missing "${server_pkgs[@]}")
cyrus_version=$(dpkg-query -W -f='${Version}' cyrus-common 2>/dev/null || true)
case "$cyrus_version" in 3.10.*) ;; *) need_server="${server_pkgs[*]}" ;; esac

# The extracted IMAP binaries must be those of the installed dovecot-core, to the exact version.
dovecot_imap_stale() {
  local v
  v=$(dpkg-query -W -f='${Version}' dovecot-core 2>/dev/null || true)
  [ -z "$v" ] || [ "$(cat "$dovecot_imap/VERSION" 2>/dev/null)" != "$v" ] || [ ! -x "$dovecot_imap/imap" ]
}

if [ -z "$need_build" ] && [ -z "$need_server" ] && ! dovecot_imap_stale && [ -d /opt/jmirror-test/corpus/khal-0.11.3 ]; then
  echo "install-deps: everything is installed (cyrus $cyrus_version)"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

# Package scripts must not start system services (cyrus, exim4): we run a private instance only.
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
trap '[ $created_policy = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT

if [ -n "$need_server" ] && [ ! -f /etc/apt/sources.list.d/bookworm-backports.sources ]; then
  $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

$SUDO apt-get update -q

if [ -n "$need_build" ]; then
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q --no-install-recommends $need_build
fi

if [ -n "$need_server" ]; then
  # cyrus-common 3.10.1 depends on libclamav11, which bookworm no longer ships; only cyr_virusscan
  # links it. An empty placeholder package satisfies apt.
  if ! dpkg-query -W -f='${Status}' libclamav11 2>/dev/null | grep -q 'install ok installed'; then
    tmp=$(mktemp -d)
    mkdir -p "$tmp/libclamav11/DEBIAN"
    cat >"$tmp/libclamav11/DEBIAN/control" <<'CTL'
Package: libclamav11
Version: 1.0.0+jmirror-placeholder
Architecture: all
Maintainer: jmirror <jmirror@localhost>
Description: empty placeholder so cyrus-common 3.10 from bookworm-backports installs
CTL
    dpkg-deb --build "$tmp/libclamav11" "$tmp/libclamav11.deb" >/dev/null
    $SUDO dpkg -i "$tmp/libclamav11.deb"
    rm -rf "$tmp"
  fi
  $SUDO apt-get install -y -q -t bookworm-backports "${server_pkgs[@]}"
fi
# khal's own test calendars, a second real-world corpus for the calendar tests (Outlook's Windows
# zone names, events without end or UID, broken EXDATEs, ...), from its pinned PyPI source archive.
corpus=/opt/jmirror-test/corpus/khal-0.11.3
if [ ! -d "$corpus" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: khal==0.11.3 -d "$tmp"
  $SUDO mkdir -p "$corpus"
  $SUDO tar -xzf "$tmp"/khal-0.11.3.tar.gz -C "$corpus" --strip-components=1 --wildcards '*.ics'
  rm -rf "$tmp"
fi

if dovecot_imap_stale; then
  v=$(dpkg-query -W -f='${Version}' dovecot-core)
  tmp=$(mktemp -d)
  chmod 1777 "$tmp"  # apt's download user (_apt) writes there
  (cd "$tmp" && apt-get download -q "dovecot-imapd=$v" >/dev/null && dpkg -x dovecot-imapd_*.deb root)
  $SUDO mkdir -p "$dovecot_imap"
  $SUDO cp "$tmp"/root/usr/lib/dovecot/imap* "$dovecot_imap/"
  echo "$v" | $SUDO tee "$dovecot_imap/VERSION" >/dev/null
  rm -rf "$tmp"
fi
echo "install-deps: done (cyrus $(dpkg-query -W -f='${Version}' cyrus-common), dovecot $(cat "$dovecot_imap/VERSION"))"
