#!/usr/bin/env bash
# Runs the whole officemesh test suite, installing what the tests need first.
#
#   ./deploy/test.sh            # as a user: tests needing root or services skip, and say so
#   sudo ./deploy/test.sh       # as root: also network-namespace and broker tests
#   CI=true ./deploy/test.sh    # CI: nothing may skip; a skip is a failure
#
# Installs (only as root, only what is missing): iproute2 (network namespaces), curl and jq
# (the drill lab), mosquitto
# (MQTT tests), chromium (the dashboard's headless-browser test), and a Python venv with Synapse
# (the Matrix chat test; deploy/synapse-venv.sh, cached under /var/cache/officemesh). Then: cargo fmt --check,
# cargo clippy -D warnings, the previous release's agent (deploy/build-previous-release.sh, for
# agent/tests/suite/rolling_upgrade.rs), cargo test, and a fixed sample of the simulator's
# field-fault seeds in release (10,000-11,999; core crate only, no agent build).
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_pkgs+=(mosquitto)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl) # the partition-drill lab (deploy/lab)
command -v jq >/dev/null 2>&1 || need_pkgs+=(jq)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "==> not root: not installing ${need_pkgs[*]}; tests that need them will skip"
  fi
fi

if [ "$(id -u)" = 0 ]; then
  ./deploy/synapse-venv.sh
else
  echo "==> not root: not building the Synapse venv; the Matrix test skips without it"
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> the previous release (git db6ff62) for the rolling-upgrade drill (cached by revision)"
./deploy/build-previous-release.sh >/dev/null
echo "==> cargo test"
cargo test --workspace --locked
echo "==> field-fault seeds 10,000-11,999 (release, core crate; docs/reliability.md)"
OFFICEMESH_SIM_FIRST_SEED=10000 OFFICEMESH_SIM_SEEDS=2000 \
  cargo test --release --locked -p officemesh-core --features sim --test field_faults_sample -- --ignored
echo "==> all tests passed"
