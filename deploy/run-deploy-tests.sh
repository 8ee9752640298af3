#!/usr/bin/env bash
# Runs every deploy test (deploy/tests/*.sh) and prints how long each took.
#
#   sudo ./deploy/run-deploy-tests.sh            # all of them
#   sudo ./deploy/run-deploy-tests.sh --quick    # without deb-install (no cargo-deb install,
#                                                # no debootstrap download) and rolling-upgrade
#                                                # (~7 min): about a minute
#   sudo ./deploy/run-deploy-tests.sh prepare-sd # only those whose name contains the word
#
# As root, the tests install what they need (dosfstools, mtools, debootstrap, cargo-deb).
# As a user, tests that need root skip and say so; with CI=true a skip is a failure.
#   prepare-sd.sh   deploy/prepare-sd.sh on FAT images made by the test (mtools), cloud-init
#                   and firstrun generations, idempotence
#   fleet-deploy.sh deploy/fleet-deploy.sh against local agents on 127.0.0.2-4 (stand-in ssh):
#                   rollout, rollback, binaries for another architecture refused
#   build-pi-paths.sh  build-pi.sh armv6/armv7 with CARGO_TARGET_DIR_CROSS outside the work tree,
#                   against a stand-in chroot (real mount namespace and binds; seconds)
#   rolling-upgrade.sh  four local agents of the previous release (git db6ff62) upgraded one at a
#                   time with fleet-deploy.sh, writes between steps, one downgraded (~7 min; not
#                   in --quick: CI's Rust test suite::rolling_upgrade drills the same)
#   deb-install.sh  the amd64 .deb installed into a debootstrap'ed bookworm root: files, user,
#                   groups, conffile, the agent running as its user, systemd-analyze verify, purge
set -euo pipefail
cd "$(dirname "$0")/.."
filter="" quick=false
for arg in "$@"; do
  case "$arg" in
    --quick) quick=true ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) filter=$arg ;;
  esac
done
results=()
status=0
total_start=$(date +%s)
for test in deploy/tests/*.sh; do
  name=$(basename "$test")
  [ "$name" = lib.sh ] && continue
  if $quick && { [ "$name" = deb-install.sh ] || [ "$name" = rolling-upgrade.sh ]; }; then continue; fi
  [ -z "$filter" ] || [[ "$name" == *"$filter"* ]] || continue
  echo "===== $name"
  start=$(date +%s)
  if "$test"; then outcome=passed; else outcome=FAILED; status=1; fi
  results+=("$(printf '%-18s %-7s %4d s' "$name" "$outcome" $(( $(date +%s) - start )))")
done
echo "===== deploy tests ($(( $(date +%s) - total_start )) s in all)"
printf '%s\n' "${results[@]}"
exit $status
