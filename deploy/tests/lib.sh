# shellcheck shell=bash
# Shared helpers of the deploy tests (sourced). Each test prints what it checks; a failed check
# stops the test with a message naming the file and what was expected.

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# skip_or_fail REASON: skips (exit 0) as a user, but fails under CI=true (project rule).
skip_or_fail() {
  if [ "${CI:-}" = true ]; then fail "cannot run: $1 (CI=true: skipping is not allowed)"; fi
  echo "SKIP: $1"
  exit 0
}

# need_tools "cmd:package ..." -- installs missing Debian packages as root, else skip_or_fail.
need_tools() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || missing+=("${pair#*:}")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then skip_or_fail "needs ${missing[*]} (run as root to install them)"; fi
  echo "==> installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  }
}

assert_contains() {  # assert_contains FILE TEXT WHAT
  grep -qF -- "$2" "$1" || { echo "--- $1:" >&2; cat "$1" >&2; fail "$3: '$2' not in $1"; }
}
assert_count() {  # assert_count FILE TEXT N WHAT
  local n; n=$(grep -cF -- "$2" "$1" || true)
  [ "$n" = "$3" ] || { echo "--- $1:" >&2; cat "$1" >&2; fail "$4: '$2' found $n times in $1, expected $3"; }
}
