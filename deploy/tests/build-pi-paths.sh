#!/usr/bin/env bash
# Tests where deploy/build-pi.sh armv6/armv7 puts its output when CARGO_TARGET_DIR_CROSS is
# outside the work tree: the chroot build must land on the host, and the path printed last must
# exist on the host. The real toolchain chroot takes 15 minutes of both cores per build, so this
# test runs build-pi.sh against a stand-in chroot (PI32_CHROOT) that is this machine's own /usr
# with stand-in cargo/rustc/strip in /usr/local/bin: the chroot, mount namespace and bind mounts
# are the real ones of deploy/lib/pi32-chroot.sh. Needs root (unshare, mount, chroot).
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/tests/lib.sh
[ "$(id -u)" = 0 ] || skip_or_fail "needs root (mount namespaces and chroot)"
[ -L /bin ] || skip_or_fail "the stand-in chroot needs a merged-/usr system (/bin -> usr/bin)"

t=$(mktemp -d /tmp/build-pi-paths.XXXXXX)
trap 'rm -rf "$t"' EXIT
root=$t/chroot
mkdir -p "$root/usr" "$root/proc" "$root/etc" "$root/tmp" "$t/stubs"
for l in bin lib lib64 sbin; do ln -s "usr/$l" "$root/$l"; done
# the stamp pi32_chroot_ensure looks for, so it takes the stand-in as ready
( . deploy/lib/pi32-chroot.sh; echo "$PI32_STAMP" > "$root/.officemesh-stamp" )
cat > "$t/stubs/cargo" <<'STUB'
#!/bin/sh
# stand-in cargo build: an "ARM binary" where cargo would put it
while [ $# -gt 0 ]; do [ "$1" = --target ] && tgt=$2; shift; done
mkdir -p "$CARGO_TARGET_DIR/$tgt/release"
echo "officemesh built in the chroot" > "$CARGO_TARGET_DIR/$tgt/release/officemesh"
chmod +x "$CARGO_TARGET_DIR/$tgt/release/officemesh"
STUB
printf '#!/bin/sh\necho "rustc 1.85.0 (stand-in)"\n' > "$t/stubs/rustc"
printf '#!/bin/sh\ncp "$3" "$2"\n' > "$t/stubs/arm-linux-gnueabi-strip"
cp "$t/stubs/arm-linux-gnueabi-strip" "$t/stubs/arm-linux-gnueabihf-strip"
chmod +x "$t/stubs"/*

# build TARGET CROSS_DIR: build-pi.sh in a mount namespace where $root is a chroot of this
# machine's /usr with the stubs first in PATH; prints build-pi.sh's output.
build() {
  unshare --mount --propagation private sh -euc '
    root=$1 stubs=$2; shift 2
    mount --bind /usr "$root/usr"
    mount --bind "$stubs" "$root/usr/local/bin"
    exec "$@"' sh "$root" "$t/stubs" \
    env PI32_CHROOT="$root" CARGO_TARGET_DIR_CROSS="$2" ./deploy/build-pi.sh "$1"
}

for target in armv6 armv7; do
  echo "==> build-pi.sh $target with CARGO_TARGET_DIR_CROSS outside the work tree"
  out_dir=$t/elsewhere/$target
  build "$target" "$out_dir" > "$t/$target.log" 2>&1 || { cat "$t/$target.log" >&2; fail "build-pi.sh $target failed"; }
  last=$(tail -n1 "$t/$target.log")
  [ "$last" = "$out_dir/officemesh-$target" ] || fail "$target: printed '$last', expected $out_dir/officemesh-$target"
  [ -f "$last" ] || fail "$target: build-pi.sh printed $last, which does not exist on the host"
  grep -qx "officemesh built in the chroot" "$last" || fail "$target: $last is not what the chroot built"
  [ ! -e "$root$out_dir" ] || [ -z "$(ls -A "$root$out_dir")" ] || fail "$target: the build stayed inside the chroot at $root$out_dir"
  pass "$target: the chroot's build is on the host at the printed path"
done

echo "==> a relative CARGO_TARGET_DIR_CROSS is the work tree's"
rel="target/build-pi-paths-$$"
build armv6 "$rel" > "$t/rel.log" 2>&1 || { cat "$t/rel.log" >&2; fail "build-pi.sh with a relative dir failed"; }
last=$(tail -n1 "$t/rel.log")
[ "$last" = "$PWD/$rel/officemesh-armv6" ] && [ -f "$last" ] || fail "relative: printed '$last'"
rm -rf "$rel"
pass "relative directory resolved against the work tree"

echo "==> a build that leaves no binary on the host prints no path"
for s in cargo arm-linux-gnueabi-strip; do printf "#!/bin/sh\nexit 0\n" > "$t/stubs/$s"; done   # "build" nothing, quietly
if build armv6 "$t/none" > "$t/none.log" 2>&1; then fail "build-pi.sh succeeded without a binary"; fi
assert_contains "$t/none.log" "error: the build made no" "missing binary named"
if tail -n1 "$t/none.log" | grep -q "^/.*officemesh-armv6$"; then fail "printed a path after a failed build"; fi
pass "no path printed for a binary that is not there"
echo "build-pi-paths: all checks passed"
