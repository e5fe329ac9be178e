#!/usr/bin/env bash
# Stops the private Cyrus started by start.sh. Usage: stop.sh [BASE]
set -u
base=${1:-${JMIRROR_TEST_BASE:-/tmp/jmirror-test-server}}
pidfile="$base/master.pid"
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  pkill -KILL -f "$base/imapd.conf" 2>/dev/null || true
  rm -f "$pidfile"
  echo "stop.sh: stopped $base"
else
  echo "stop.sh: nothing running at $base"
fi
# The last server stopped takes start.sh's syslog listener with it.
if ! pgrep -f "/usr/lib/cyrus/bin/master -C" >/dev/null && [ -f /tmp/jmirror-test-syslog.pid ]; then
  kill "$(cat /tmp/jmirror-test-syslog.pid)" 2>/dev/null || true
  rm -f /tmp/jmirror-test-syslog.pid /dev/log
fi
