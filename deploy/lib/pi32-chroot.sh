# shellcheck shell=bash
# Sourced by deploy/build-pi.sh and deploy/test-pi-builds.sh: the toolchain for the 32-bit
# Raspberry Pi builds (armv7, armv6), kept in a Debian 13 (trixie) chroot because no Rust with
# a 32-bit ARM standard library installs on this Debian 12 machine:
#   - Debian 12's rustc-web has an armhf std but none for armel, and its rustc (1.63) is too old;
#   - Debian 13's rustc 1.85 has both, libstd-rust-dev:armhf (armv7-unknown-linux-gnueabihf) and
#     libstd-rust-dev:armel (armv5te-unknown-linux-gnueabi: ARMv5TE soft-float, no ARMv7
#     instruction, so it runs on the ARM1176 of a Pi 1/Zero), of the same version as its rustc.
#
# pi32_chroot_ensure  creates the chroot when missing (root, debootstrap, ~1.5 min + ~1.5 min of
#                     apt; about 1 GB in $PI32_CHROOT, default /var/cache/officemesh/pi32-trixie;
#                     rebuildable, never committed): rustc, cargo, gcc-arm-linux-gnueabihf and
#                     gcc-arm-linux-gnueabi (SQLite's and ring's C), and the two std packages,
#                     unpacked with `dpkg -x` (only their .rlib files are needed: installing them
#                     would pull in armel/armhf runtime libraries the mirror does not always hold).
# pi32_chroot_run CMD  runs CMD in the chroot, in a private mount namespace (nothing stays mounted
#                     when it ends) with the work tree bind-mounted at its own path (so paths in
#                     cargo's output are the host's), the host's /etc/ssl/certs (cargo downloads
#                     crates; some networks re-sign TLS, and the chroot has no ca-certificates of
#                     its own) and resolv.conf. Cargo's registry lives in
#                     the chroot (/root/.cargo), so crates are downloaded once per chroot.
#                     PI32_BINDS (host directories, space separated) are bind-mounted at their
#                     own paths too: build-pi.sh puts a CARGO_TARGET_DIR_CROSS outside the work
#                     tree there, so what the chroot builds lands on the host.
# Delete $PI32_CHROOT to rebuild it (e.g. to pick up a newer trixie rustc).

PI32_CHROOT=${PI32_CHROOT:-/var/cache/officemesh/pi32-trixie}
PI32_SUITE=trixie
PI32_MIRROR=${PI32_MIRROR:-http://deb.debian.org/debian}
# Bump when the package list changes: an existing chroot with another stamp is rebuilt.
PI32_STAMP="officemesh pi32 chroot v1: rustc cargo gcc-arm-linux-gnueabihf gcc-arm-linux-gnueabi std:armhf std:armel"
PI32_PACKAGES=(rustc cargo gcc-arm-linux-gnueabihf gcc-arm-linux-gnueabi
  libc6-dev-armhf-cross libc6-dev-armel-cross)

pi32_chroot_ready() {
  [ -f "$PI32_CHROOT/.officemesh-stamp" ] && [ "$(cat "$PI32_CHROOT/.officemesh-stamp")" = "$PI32_STAMP" ]
}

pi32_chroot_ensure() {
  pi32_chroot_ready && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "error: the 32-bit Pi toolchain chroot $PI32_CHROOT is missing; run this script as root once" >&2
    echo "  (it runs debootstrap $PI32_SUITE there and installs Debian's rustc with the armhf/armel std)" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! command -v debootstrap >/dev/null 2>&1; then
    echo "==> installing debootstrap"
    apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 || {
      apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
  fi
  local tmp="$PI32_CHROOT.new" t0
  t0=$(date +%s)
  rm -rf "$tmp"
  mkdir -p "$(dirname "$PI32_CHROOT")"
  echo "==> debootstrap $PI32_SUITE into $tmp (the 32-bit Pi toolchain; once per machine)"
  if ! debootstrap --variant=minbase "$PI32_SUITE" "$tmp" "$PI32_MIRROR" > "$tmp.log" 2>&1; then
    tail -20 "$tmp.log" >&2
    echo "error: debootstrap failed (log: $tmp.log)" >&2
    return 1
  fi
  # Only the release suite: rustc and the std packages must be the very same build.
  echo "deb $PI32_MIRROR $PI32_SUITE main" > "$tmp/etc/apt/sources.list"
  echo "==> installing ${PI32_PACKAGES[*]} in the chroot"
  # shellcheck disable=SC2016
  if ! PI32_CHROOT=$tmp pi32_chroot_run_plain -- sh -euc '
      export DEBIAN_FRONTEND=noninteractive
      dpkg --add-architecture armhf
      dpkg --add-architecture armel
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "$@" >/dev/null
      ver=$(dpkg-query -W -f="\${Version}" rustc)
      cd /tmp
      apt-get download -qq "libstd-rust-dev:armhf=$ver" "libstd-rust-dev:armel=$ver"
      for deb in libstd-rust-dev_*_armhf.deb libstd-rust-dev_*_armel.deb; do dpkg -x "$deb" /; done
      rm -f ./*.deb
      apt-get clean
      rm -rf /var/lib/apt/lists/*
      rustc --version
      ls /usr/lib/rustlib/armv7-unknown-linux-gnueabihf/lib/libstd-*.rlib \
         /usr/lib/rustlib/armv5te-unknown-linux-gnueabi/lib/libstd-*.rlib >/dev/null
    ' sh "${PI32_PACKAGES[@]}"; then
    echo "error: setting up the toolchain in $tmp failed" >&2
    return 1
  fi
  echo "$PI32_STAMP" > "$tmp/.officemesh-stamp"
  rm -rf "$PI32_CHROOT"
  mv "$tmp" "$PI32_CHROOT"
  rm -f "$tmp.log"
  echo "==> 32-bit Pi toolchain chroot ready in $(( $(date +%s) - t0 )) s: $PI32_CHROOT ($(du -sh "$PI32_CHROOT" | cut -f1))"
}

# pi32_chroot_run_plain [NAME=VALUE...] -- CMD...: CMD in $PI32_CHROOT (/ as its directory).
pi32_chroot_run_plain() {
  pi32_chroot_run_in "" "$@"
}

# pi32_chroot_run [NAME=VALUE...] -- CMD...: CMD in the chroot, in the work tree (same path).
pi32_chroot_run() {
  pi32_chroot_run_in "$PWD" "$@"
}

# pi32_chroot_run_in WORKTREE [NAME=VALUE...] -- CMD...: the environment inside is only HOME,
# PATH, LANG, CARGO_TERM_COLOR and CI (when set here) and the NAME=VALUE pairs given.
pi32_chroot_run_in() {
  local tree=$1; shift
  local envs=(HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8)
  [ -z "${CARGO_TERM_COLOR:-}" ] || envs+=("CARGO_TERM_COLOR=$CARGO_TERM_COLOR")
  [ -z "${CI:-}" ] || envs+=("CI=$CI")
  # Profile overrides (CI builds the 32-bit targets without LTO to save time; see .ci/run).
  local var
  for var in CARGO_PROFILE_RELEASE_LTO CARGO_PROFILE_RELEASE_CODEGEN_UNITS; do
    [ -z "${!var:-}" ] || envs+=("$var=${!var}")
  done
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  # shellcheck disable=SC2016
  unshare --mount --propagation private sh -euc '
    root=$1 tree=$2 binds=$3; shift 3
    for dir in $binds; do
      mkdir -p "$root$dir"
      mount --bind "$dir" "$root$dir"
    done
    mount -t proc proc "$root/proc"
    if [ -d /etc/ssl/certs ]; then
      mkdir -p "$root/etc/ssl/certs"
      mount --bind -o ro /etc/ssl/certs "$root/etc/ssl/certs"
    fi
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    if [ -n "$tree" ]; then
      mkdir -p "$root$tree"
      mount --bind "$tree" "$root$tree"
    fi
    exec chroot "$root" "$@"
  ' sh "$PI32_CHROOT" "$tree" "${PI32_BINDS:-}" /usr/bin/env -i "${envs[@]}" \
    sh -c 'cd "$0" && exec "$@"' "${tree:-/}" "$@"
}
