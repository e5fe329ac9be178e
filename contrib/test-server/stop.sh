#!/usr/bin/env bash
# Stops the private Cyrus started by start.sh. Usage: stop.sh [BASE]
set -u
base=${1:-${JMIRROR_TEST_BASE:-/tmp/jmirror-test-server}}
pidfile="$base/master.pid"
[ -f "$pidfile" ] || { echo "stop.sh: nothing running at $base"; exit 0; }
pid=$(cat "$pidfile")
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$pid" 2>/dev/null || true
pkill -KILL -f "$base/imapd.conf" 2>/dev/null || true
rm -f "$pidfile"
echo "stop.sh: stopped $base"
