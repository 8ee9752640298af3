#!/usr/bin/env bash
# Builds the officemesh agent for a Raspberry Pi as one static binary, on a Debian 12 x86_64
# machine without Docker. The LAST line of its output is the path of that binary.
#
#   ./deploy/build-pi.sh aarch64   # Pi 3, 4, 5, Zero 2 W, CM3/4/5 on 64-bit Raspberry Pi OS
#   ./deploy/build-pi.sh armv7     # Pi 2, 3, 4, Zero 2 W on 32-bit Raspberry Pi OS
#   ./deploy/build-pi.sh armv6     # Pi 1, Zero, Zero W, CM1 (ARMv6; runs on every 32-bit Pi)
#   ./deploy/build-pi.sh armv6 --deb   # also the .deb (needs cargo-deb) in target/cross/debian/armv6/
#
# Output: target/cross/officemesh-TARGET (stripped, static: copy it to any Pi of that kind).
# The .deb architecture: arm64 for aarch64, armhf for armv7 and armv6 (Raspberry Pi OS 32-bit is
# armhf on every model; the binary is static, so its soft-float ABI on armv6 does not matter).
#
# Toolchains (docs/deploy.md, "Building for the Pi"; as root, what is missing is installed):
#   aarch64  Debian 12's rustc-web and libstd-rust-web-dev:arm64 on this machine
#            (deploy/lib/aarch64-env.sh), target aarch64-unknown-linux-gnu.
#   armv7    Debian 13's rustc 1.85 in a chroot (deploy/lib/pi32-chroot.sh, made once in
#            /var/cache/officemesh/pi32-trixie), target armv7-unknown-linux-gnueabihf, C by
#            arm-linux-gnueabihf-gcc (ARMv7-A, VFPv3-D16, Thumb-2: what a Cortex-A7 runs).
#   armv6    the same chroot, target armv5te-unknown-linux-gnueabi (Debian's armel std: ARMv5TE
#            soft-float, so no ARMv7 instruction; ARM1176 cores run it), C (SQLite, ring) by
#            arm-linux-gnueabi-gcc, whose default is ARMv5TE too; glibc from libc6-dev-armel-cross.
#            That std has no 64-bit atomics: the code uses portable_atomic's (clippy.toml).
# Every binary is linked statically (+crt-static): nothing to match on the Pi, and a dynamic
# binary hangs under qemu-user 7.2 once it starts a second thread.
# The build lives in target/cross (not target/) so the host build stays valid.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
target="" make_deb=false
for arg in "$@"; do
  case "$arg" in
    aarch64|armv7|armv6) target=$arg ;;
    --deb) make_deb=true ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$target" ] || { echo "error: give the target: aarch64, armv7 or armv6 (see --help)" >&2; exit 2; }

# CARGO_TARGET_DIR_CROSS: where the cross builds go (default target/cross; relative = to the
# work tree). Outside the work tree the 32-bit builds bind it into their chroot as well.
cross_dir=$(realpath -m -- "${CARGO_TARGET_DIR_CROSS:-$PWD/target/cross}")
case "$cross_dir" in *[[:space:]]*) echo "error: CARGO_TARGET_DIR_CROSS '$cross_dir' has white space" >&2; exit 2 ;; esac
mkdir -p "$cross_dir"
features=()
# The agent's `rpi` feature (rppal's I2C/SPI/GPIO drivers) while it exists: a Pi build has them.
if grep -qE '^rpi *=' agent/Cargo.toml; then features=(--features rpi); fi

case "$target" in
  aarch64) triple=aarch64-unknown-linux-gnu   tools=aarch64-linux-gnu  deb_arch=arm64 ;;
  armv7)   triple=armv7-unknown-linux-gnueabihf tools=arm-linux-gnueabihf deb_arch=armhf ;;
  armv6)   triple=armv5te-unknown-linux-gnueabi tools=arm-linux-gnueabi deb_arch=armhf ;;
esac
bin="$cross_dir/$triple/release/officemesh"
out="$cross_dir/officemesh-$target"

start=$(date +%s)
if [ "$target" = aarch64 ]; then
  # shellcheck source=deploy/lib/aarch64-env.sh
  . deploy/lib/aarch64-env.sh
  aarch64_install_packages
  aarch64_export_env
  export CARGO_TARGET_DIR=$cross_dir
  echo "==> cargo build --release --target $triple ${features[*]} (RUSTC=$RUSTC, $("$RUSTC" --version))"
  cargo build --release --locked --target "$triple" -p officemesh "${features[@]}"
  aarch64-linux-gnu-strip -o "$out" "$bin"
else
  # shellcheck source=deploy/lib/pi32-chroot.sh
  . deploy/lib/pi32-chroot.sh
  pi32_chroot_ensure
  case "$cross_dir/" in "$PWD"/*) ;; *) export PI32_BINDS="$cross_dir" ;; esac
  upper=$(echo "$triple" | tr 'a-z-' 'A-Z_')
  lower=${triple//-/_}
  echo "==> cargo build --release --target $triple ${features[*]} (in $PI32_CHROOT: $(pi32_chroot_run_plain -- rustc --version))"
  pi32_chroot_run \
    "CARGO_TARGET_DIR=$cross_dir" \
    "CARGO_TARGET_${upper}_LINKER=$tools-gcc" \
    "CARGO_TARGET_${upper}_RUSTFLAGS=-C target-feature=+crt-static" \
    "CC_${lower}=$tools-gcc" "AR_${lower}=$tools-ar" \
    -- sh -c 't=$1 tools=$2 out=$3 bin=$4; shift 4
              cargo build --release --locked --target "$t" -p officemesh "$@"
              "$tools-strip" -o "$out" "$bin"' \
    sh "$triple" "$tools" "$out" "$bin" "${features[@]}"
fi
# Never name a file that is not on this machine (e.g. one left inside a chroot).
for f in "$bin" "$out"; do
  [ -f "$f" ] || { echo "error: the build made no $f on this machine" >&2; exit 1; }
done
echo "==> built $bin in $(( $(date +%s) - start )) s"
file "$out" 2>/dev/null | sed 's/^/    /' || true
echo "==> size: $(stat -c %s "$bin") bytes as built, $(stat -c %s "$out") bytes stripped"

if $make_deb; then
  if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "error: cargo-deb is not installed: cargo install cargo-deb --locked" >&2
    exit 1
  fi
  if [ "$target" != aarch64 ] && ! command -v "$tools-strip" >/dev/null 2>&1; then
    # cargo-deb strips the binary with the target's strip, on this machine.
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "binutils-$tools" >/dev/null
    else
      echo "error: $tools-strip missing: apt-get install binutils-$tools" >&2; exit 1
    fi
  fi
  deb_dir="$cross_dir/debian/$target"
  rm -rf "$deb_dir"
  # cargo-deb reads the binary cargo just built for this target; --no-build keeps it from
  # rebuilding with the wrong compiler. The static binary has no $auto dependencies (cargo-deb
  # warns about that: expected).
  CARGO_TARGET_DIR=$cross_dir cargo deb -p officemesh --target "$triple" --no-build --output "$deb_dir/"
  deb=$(ls "$deb_dir"/*.deb)
  if [ "$(dpkg-deb -f "$deb" Architecture)" != "$deb_arch" ]; then
    # armv6: cargo-deb names armv5te's Debian architecture (armel); Raspberry Pi OS is armhf.
    work=$(mktemp -d)
    dpkg-deb -R "$deb" "$work/pkg"
    sed -i "s/^Architecture: .*/Architecture: $deb_arch/" "$work/pkg/DEBIAN/control"
    rm -f "$deb"
    deb="$deb_dir/officemesh_$(sed -n 's/^Version: //p' "$work/pkg/DEBIAN/control")_$deb_arch.deb"
    dpkg-deb --root-owner-group -b "$work/pkg" "$deb" >/dev/null
    rm -rf "$work"
  fi
  echo "==> package: $deb ($(stat -c %s "$deb") bytes, $(dpkg-deb -f "$deb" Architecture))"
fi
echo "$out"
