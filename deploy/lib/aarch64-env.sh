# shellcheck shell=bash
# Sourced by deploy/build-pi.sh (aarch64) and deploy/test-aarch64.sh: sets up the Docker-free
# aarch64 cross build from /work/shared/CROSS.md (Debian 12's rustc-web, which packages the
# arm64 standard library; the rustup toolchain cannot download extra targets here).
#
# - installs the Debian packages when root and they are missing (as a user: says what to run);
# - exports RUSTC, the linker, the C compiler (rusqlite is `bundled`: SQLite is compiled from C),
#   static linking (+crt-static: a dynamic aarch64 binary hangs under qemu 7.2 once it starts a
#   second thread, and a static binary has no shared-library version to match on the Pi);
# - uses its own CARGO_TARGET_DIR (target/cross) so the host build in target/ stays valid:
#   a different RUSTC would otherwise make cargo rebuild everything there.
# Does not touch the rustup toolchain: cargo is still rustup's, only RUSTC points at Debian's.

AARCH64_TARGET=aarch64-unknown-linux-gnu
AARCH64_DEB_PACKAGES=(rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu
  libc6-dev-arm64-cross qemu-user-static)

aarch64_missing_packages() {
  local pkg
  for pkg in "${AARCH64_DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' \
      || echo "$pkg"
  done
}

aarch64_install_packages() {
  local missing
  missing=$(aarch64_missing_packages | tr '\n' ' ')
  [ -z "${missing// /}" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "error: missing Debian packages for the aarch64 build: $missing" >&2
    echo "  run as root:  dpkg --add-architecture arm64 && apt-get update &&" >&2
    echo "                apt-get install -y --no-install-recommends $missing" >&2
    return 1
  fi
  echo "==> installing $missing"
  export DEBIAN_FRONTEND=noninteractive
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

aarch64_export_env() {
  if [ ! -d /usr/lib/rustlib/$AARCH64_TARGET ]; then
    echo "error: /usr/lib/rustlib/$AARCH64_TARGET missing: install libstd-rust-web-dev:arm64" >&2
    return 1
  fi
  export RUSTC=/usr/bin/rustc
  # rustc-web's rustdoc: doc tests must be compiled against the same (Debian) arm64 std.
  export RUSTDOC=/usr/bin/rustdoc
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
  export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
  export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
  # target.<triple>.rustflags: only the aarch64 artefacts get +crt-static, not the build
  # scripts and proc macros cargo compiles for the host (and a user's RUSTFLAGS would replace it).
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_CROSS:-$PWD/target/cross}"
}
