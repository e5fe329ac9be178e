#!/usr/bin/env bash
# `make test`: installs what is missing, starts a private Cyrus, runs the whole suite, stops Cyrus.
set -euo pipefail
cd "$(dirname "$0")/.."
bash contrib/install-deps.sh
base=${JMIRROR_TEST_BASE:-/tmp/jmirror-test-server}
# A second, separately started Cyrus: replay between two servers (the issue's alice → carol).
base2=$base-2
bash contrib/test-server/stop.sh "$base" >/dev/null
bash contrib/test-server/stop.sh "$base2" >/dev/null
bash contrib/test-server/start.sh "$base"
trap 'bash contrib/test-server/stop.sh "$base"; bash contrib/test-server/stop.sh "$base2"' EXIT
bash contrib/test-server/start.sh "$base2"
export JMIRROR_TEST_SERVER_ENV="$base/server.env" JMIRROR_TEST_SERVER2_ENV="$base2/server.env"
swift build --build-tests
swift test
