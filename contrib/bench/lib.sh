# Shared by the benchmark scripts (sourced, not run): build the release binary, start a private
# test server in BASE for the given users, and small helpers. Sets $bin and loads server.env.
# Usage: bench_setup BASE "USERS"
bench_setup() {
  local base=$1 users=$2
  bash contrib/install-deps.sh >/dev/null
  { [ -x /usr/bin/time ] && command -v bc >/dev/null; } || apt-get install -y -q time bc >/dev/null
  swift build -c release --static-swift-stdlib >/dev/null
  bin=$(swift build -c release --static-swift-stdlib --show-bin-path)/jmirror
  bash contrib/test-server/stop.sh "$base/server" >/dev/null
  rm -rf "$base"; mkdir -p "$base"
  JMIRROR_TEST_USERS="$users" bash contrib/test-server/start.sh "$base/server" >/dev/null
  # shellcheck disable=SC1091
  . "$base/server/server.env"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
