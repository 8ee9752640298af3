#!/usr/bin/env bash
# Cross-compiles officemesh for 64-bit Raspberry Pi OS (Pi 3/4/5/Zero 2 W) on a Debian 12
# machine without Docker, following /work/shared/CROSS.md (Debian's rustc-web has the arm64 std).
#
#   ./deploy/build-aarch64.sh            # release build -> target/cross/aarch64-unknown-linux-gnu/release/officemesh
#   ./deploy/build-aarch64.sh --deb      # also the arm64 .deb (needs cargo-deb) -> target/cross/debian/
#
# As root, installs what is missing: rustc-web, libstd-rust-web-dev:arm64, gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross, qemu-user-static. The build lives in target/cross (not target/) so the
# host build stays valid. The binary is static (+crt-static): copy it to any aarch64 Pi.
# For 32-bit Pis (armv7, armv6) use `cross` with Docker, see Cross.toml and docs/deploy.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=deploy/lib/aarch64-env.sh
. deploy/lib/aarch64-env.sh

make_deb=false
for arg in "$@"; do
  case "$arg" in
    --deb) make_deb=true ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

aarch64_install_packages
aarch64_export_env

echo "==> cargo build --release --target $AARCH64_TARGET (RUSTC=$RUSTC, $("$RUSTC" --version))"
start=$(date +%s)
cargo build --release --locked --target "$AARCH64_TARGET" -p officemesh
bin="$CARGO_TARGET_DIR/$AARCH64_TARGET/release/officemesh"
echo "==> built $bin in $(( $(date +%s) - start )) s"
file "$bin" 2>/dev/null || true
stripped="$CARGO_TARGET_DIR/officemesh-aarch64"
aarch64-linux-gnu-strip -o "$stripped" "$bin"
echo "==> size: $(stat -c %s "$bin") bytes as built, $(stat -c %s "$stripped") bytes stripped ($stripped)"

if $make_deb; then
  if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "error: cargo-deb is not installed: cargo install cargo-deb --locked" >&2
    exit 1
  fi
  # cargo-deb reads the binary cargo just built for this target; --no-build keeps it from
  # rebuilding with the wrong compiler. It strips the binary with aarch64-linux-gnu-strip; the
  # static binary has no $auto dependencies (cargo-deb warns about that: expected).
  cargo deb -p officemesh --target "$AARCH64_TARGET" --no-build \
    --output "$CARGO_TARGET_DIR/debian/"
  ls -l "$CARGO_TARGET_DIR"/debian/*.deb
fi
