#!/usr/bin/env bash
# Builds the workspace's tests for aarch64 (Raspberry Pi, 64-bit) and runs them on this x86_64
# machine under qemu user-mode emulation, then smoke-runs the release agent under qemu (starts,
# answers /healthz, prints its memory). Same toolchain as deploy/build-pi.sh aarch64 (CROSS.md).
#
#   ./deploy/test-aarch64.sh                 # as root: installs what is missing first
#   ./deploy/test-aarch64.sh --release       # smoke-run the release build (its memory figure)
#                                            # instead of the test build's binary
#   OFFICEMESH_AARCH64_SKIP="foo bar" ./deploy/test-aarch64.sh   # also --skip these test names
#
# What does not run under qemu, and how it is skipped:
#   OFFICEMESH_SKIP_SERVICES=1 is exported. Tests that need root, network namespaces, a
#   Mosquitto broker or chromium must skip (printing why) when it is set, EVEN WITH CI=true:
#   the native run of the same CI (./deploy/test.sh) runs them mandatorily; here they would
#   test qemu, not our code (qemu-user does not emulate netlink for `ip netns`, and the
#   services are x86_64 binaries anyway). Test names listed in OFFICEMESH_AARCH64_SKIP (space
#   separated, substring match as in `cargo test -- --skip`) are skipped too, and printed.
# Tests that start the `officemesh` binary as a child process need the kernel to run aarch64
# executables: as root this script registers qemu-aarch64-static with binfmt_misc (this
# machine only, until reboot) when nothing is registered for aarch64 yet.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=deploy/lib/aarch64-env.sh
. deploy/lib/aarch64-env.sh

smoke_profile=debug
for arg in "$@"; do
  case "$arg" in
    --release) smoke_profile=release ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

aarch64_install_packages
aarch64_export_env

# --- binfmt_misc: let the kernel run aarch64 ELF files through qemu (child processes in tests)
binfmt=/proc/sys/fs/binfmt_misc
binfmt_usable() {  # an enabled aarch64 entry whose interpreter exists
  [ -f "$binfmt/qemu-aarch64" ] && grep -qx enabled "$binfmt/qemu-aarch64" \
    && [ -e "$(awk '/^interpreter/ {print $2}' "$binfmt/qemu-aarch64")" ]
}
if ! binfmt_usable; then
  if [ "$(id -u)" = 0 ]; then
    [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
    # an entry pointing at a missing interpreter (e.g. qemu-user-binfmt removed) is replaced
    [ ! -e "$binfmt/qemu-aarch64" ] || echo -1 > "$binfmt/qemu-aarch64"
    echo "==> registering /usr/bin/qemu-aarch64-static for aarch64 ELF files (binfmt_misc)"
    # Magic/mask of an aarch64 ELF executable (as Debian's /usr/lib/binfmt.d/qemu-aarch64.conf);
    # F = the kernel opens the interpreter now, so it works in any mount namespace.
    printf '%s' ':qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
      > "$binfmt/register"
  else
    echo "error: aarch64 executables cannot run here (no usable binfmt_misc entry for qemu-aarch64);" >&2
    echo "  tests that start the agent as a process would fail. Run this script as root once." >&2
    exit 1
  fi
fi

export OFFICEMESH_SKIP_SERVICES=1
# The simulator's seed campaign runs in full natively (deploy/test.sh); under qemu (debug build,
# ~10x slower) a smaller campaign checks the same code on aarch64.
export OFFICEMESH_SIM_SEEDS="${OFFICEMESH_SIM_SEEDS:-25}"
# Two suite areas run natively only (deploy/test.sh runs them with CI=true): the load test
# (CPU hogs beside agents under emulation measure qemu, not the agent's timers) and the rolling
# upgrade (its previous release is built for the host by deploy/build-previous-release.sh, so
# under qemu it would mix two architectures through binfmt).
skip_args=(--skip gossip_under_load:: --skip rolling_upgrade::)
echo "==> natively only (deploy/test.sh runs them): gossip_under_load::, rolling_upgrade::"
for name in ${OFFICEMESH_AARCH64_SKIP:-}; do
  skip_args+=(--skip "$name")
done
echo "==> under qemu, tests needing root/namespaces/a broker/chromium skip (OFFICEMESH_SKIP_SERVICES=1)"
[ -z "${OFFICEMESH_AARCH64_SKIP:-}" ] || echo "==> also skipped by name: ${OFFICEMESH_AARCH64_SKIP}"

t0=$(date +%s)
echo "==> building tests for $AARCH64_TARGET"
cargo test --workspace --locked --target "$AARCH64_TARGET" --no-run
t1=$(date +%s)
echo "==> running tests under qemu-aarch64-static"
cargo test --workspace --locked --target "$AARCH64_TARGET" -- "${skip_args[@]}"
t2=$(date +%s)
echo "==> aarch64 tests: build $(( t1 - t0 )) s, run under qemu $(( t2 - t1 )) s"

# --- smoke run of the agent under qemu: starts, answers /healthz, memory figure. By default the
# binary the integration tests used (debug); --release builds and runs the release binary.
if [ "$smoke_profile" = release ]; then
  echo "==> building the release binary for $AARCH64_TARGET"
  cargo build --release --locked --target "$AARCH64_TARGET" -p officemesh
fi
bin="$CARGO_TARGET_DIR/$AARCH64_TARGET/$smoke_profile/officemesh"
[ -x "$bin" ] || { echo "error: no aarch64 binary at $bin" >&2; exit 1; }
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
gport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/config.toml" <<CONF
[node]
name = "pi-qemu"
room = "lab"
[storage]
data_dir = "$work/data"
[api]
listen = "127.0.0.1:$port"
[gossip]
listen = "127.0.0.1:$gport"
insecure = true
[presence]
interface = "sim"
[[sensors]]
driver = "sim"
name = "desk"
poll_interval_s = 1
CONF
qemu-aarch64-static "$bin" run --config "$work/config.toml" 2>"$work/agent.log" &
agent=$!
cleanup() { kill "$agent" 2>/dev/null || true; wait "$agent" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ok=false
for _ in $(seq 1 100); do
  if python3 - "$port" <<'PY' 2>/dev/null
import json, sys, urllib.request
h = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=2))
assert h["status"] == "ok" and h["name"] == "pi-qemu", h
PY
  then ok=true; break; fi
  kill -0 "$agent" 2>/dev/null || break
  sleep 0.2
done
if ! $ok; then
  echo "error: the aarch64 agent did not answer /healthz under qemu; its log:" >&2
  cat "$work/agent.log" >&2
  exit 1
fi
sleep 5   # let it take readings and settle before measuring
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$agent/status")
echo "==> aarch64 agent ($smoke_profile build) under qemu answers /healthz; VmRSS after 5 s: ${rss_kb} kB (includes qemu's own memory)"
