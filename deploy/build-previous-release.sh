#!/usr/bin/env bash
# Builds the officemesh agent of an earlier git revision (the previous release, for the
# rolling-upgrade drill) and prints the binary's path. Cached by revision under
# target/previous-release/<rev>/: a second call only prints the path.
#
#   ./deploy/build-previous-release.sh            # db6ff62, the release before versioned gossip
#   ./deploy/build-previous-release.sh <rev>
#
# The source comes from `git archive` (no worktree is registered in the repository), builds
# with its own Cargo.lock (--locked) in its own target dir. To avoid a cold dependency build it
# seeds that target dir from this checkout's target/debug/deps when it has none yet (cargo
# rebuilds whatever does not match). Only the binary is kept (target/previous-release/<rev>/
# officemesh; the build tree, about 2 GB, is removed). Progress goes to stderr, the path alone to
# stdout. Concurrent calls are serialised by a lock (flock) on target/previous-release/.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-db6ff62}
full=$(git rev-parse --verify "$rev^{commit}")
cache="target/previous-release/${full:0:12}"
bin="$cache/officemesh"
# One build at a time: tests that need it start together (a second caller waits, then finds the
# binary in the cache).
mkdir -p target/previous-release
exec 9>target/previous-release/.lock
flock 9
if [ -x "$bin" ]; then
  echo "$PWD/$bin"
  exit 0
fi
mkdir -p "$cache/src"
if [ ! -f "$cache/src/Cargo.toml" ]; then
  git archive --format=tar "$full" | tar -x -C "$cache/src"
fi
if [ ! -d "$cache/target/debug/deps" ] && [ -d target/debug/deps ]; then
  echo "==> seeding $cache/target from target/debug (dependencies only)" >&2
  mkdir -p "$cache/target/debug"
  cp -a target/debug/deps target/debug/build target/debug/.fingerprint "$cache/target/debug/" 2>/dev/null || true
fi
echo "==> building officemesh at ${full:0:12} (cached in $cache)" >&2
start=$(date +%s)
(cd "$cache/src" && CARGO_TARGET_DIR="$PWD/../target" cargo build --locked -p officemesh --bin officemesh >&2)
echo "==> built in $(( $(date +%s) - start )) s" >&2
cp "$cache/target/debug/officemesh" "$bin.tmp" && mv "$bin.tmp" "$bin"
rm -rf "$cache/target" "$cache/src"
echo "$PWD/$bin"
