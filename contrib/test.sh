#!/usr/bin/env bash
# `make test`: installs what is missing, starts a private Cyrus, runs the whole suite, stops Cyrus.
set -euo pipefail
cd "$(dirname "$0")/.."
bash contrib/install-deps.sh
base=${JMIRROR_TEST_BASE:-/tmp/jmirror-test-server}
bash contrib/test-server/stop.sh "$base" >/dev/null
bash contrib/test-server/start.sh "$base"
trap 'bash contrib/test-server/stop.sh "$base"' EXIT
export JMIRROR_TEST_SERVER_ENV="$base/server.env"
swift build --build-tests
swift test
