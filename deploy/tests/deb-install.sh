#!/usr/bin/env bash
# Tests the officemesh .deb: builds the amd64 package with cargo-deb, installs it with dpkg into
# a throwaway Debian 12 root (debootstrap --variant=minbase bookworm, plus systemd for
# systemd-analyze), and checks the files, the conffile, the system user and its groups, the data
# directory, that the binary runs there, `systemd-analyze verify` of the unit, and that
# `dpkg --purge` removes the user again.
# Needs root (chroot, debootstrap). The root file system is cached as a tarball in
# target/deploy-cache/ (about 100 MB; delete it to rebuild); the first run downloads it from
# deb.debian.org.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/tests/lib.sh

[ "$(id -u)" = 0 ] || skip_or_fail "deb-install needs root (debootstrap, chroot)"
need_tools debootstrap:debootstrap
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "==> installing cargo-deb (cargo install cargo-deb --locked)"
  cargo install -q cargo-deb --locked
fi

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cache="$target_dir/deploy-cache/bookworm-minbase-systemd.tar.gz"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

echo "==> building the amd64 .deb (cargo deb -p officemesh --profile dev)"
rm -rf "$target_dir/debian"
# --profile dev: reuses the debug build the test suite already made (the package layout is
# the same; release packages come from deploy/build-pi.sh TARGET --deb).
cargo deb -q -p officemesh --locked --profile dev >/dev/null
deb=$(ls "$target_dir"/debian/officemesh_*_amd64.deb)
echo "    $deb ($(stat -c %s "$deb") bytes)"


root=$(mktemp -d /tmp/officemesh-debroot.XXXXXX)
cleanup() {
  for m in proc sys dev; do umount -l "$root/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT
if [ ! -f "$cache" ]; then
  echo "==> debootstrap --variant=minbase --include=systemd bookworm (cached afterwards in $cache)"
  debootstrap --variant=minbase --include=systemd bookworm "$root" "$mirror" > "$root.debootstrap.log" 2>&1 \
    || { tail -20 "$root.debootstrap.log" >&2; fail "debootstrap failed"; }
  rm -f "$root.debootstrap.log"
  mkdir -p "$(dirname "$cache")"
  tar -C "$root" -czf "$cache.tmp" . 2>"$root.tar.log" || { cat "$root.tar.log" >&2; fail "cannot cache the root in $cache"; }
  mv "$cache.tmp" "$cache"; rm -f "$root.tar.log"
else
  echo "==> unpacking the cached root ($cache)"
  tar -C "$root" -xzf "$cache"
fi
chmod 0755 "$root"   # it is "/" in the chroot (mktemp made it 0700, and tar restores that)
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"

echo "==> dpkg -i in the throwaway root"
cp "$deb" "$root/tmp/officemesh.deb"
chroot "$root" dpkg -i /tmp/officemesh.deb > "$root/tmp/dpkg.log" 2>&1 || { cat "$root/tmp/dpkg.log" >&2; fail "dpkg -i failed"; }

chroot "$root" dpkg -s officemesh | grep -q '^Status: install ok installed' || fail "package not installed"
[ -x "$root/usr/bin/officemesh" ] || fail "/usr/bin/officemesh missing"
chroot "$root" /usr/bin/officemesh --version | grep -q '^officemesh ' || fail "officemesh --version does not run in the root"
[ -f "$root/usr/lib/systemd/system/officemesh.service" ] || fail "unit not installed"
[ -f "$root/etc/officemesh/config.toml" ] || fail "config not installed"
[ -f "$root/usr/share/doc/officemesh/deploy.md" ] || fail "docs not installed"
grep -qx /etc/officemesh/config.toml "$root/var/lib/dpkg/info/officemesh.conffiles" \
  || fail "/etc/officemesh/config.toml is not a conffile"
pass "files installed, config is a conffile"

entry=$(chroot "$root" getent passwd officemesh) || fail "user officemesh not created"
echo "    $entry"
case "$entry" in *:/var/lib/officemesh:/usr/sbin/nologin) ;; *) fail "user officemesh: unexpected home/shell: $entry" ;; esac
uid=$(echo "$entry" | cut -d: -f3)
[ "$uid" -lt 1000 ] || fail "officemesh must be a system user (uid $uid)"
groups=$(chroot "$root" id -nG officemesh)
for g in officemesh gpio i2c spi; do
  echo " $groups " | grep -q " $g " || fail "officemesh is not in group $g (groups: $groups)"
done
pass "system user officemesh in groups: $groups"
[ "$(chroot "$root" stat -c '%U:%G %a' /var/lib/officemesh)" = "officemesh:officemesh 750" ] \
  || fail "/var/lib/officemesh: $(chroot "$root" stat -c '%U:%G %a' /var/lib/officemesh)"
[ "$(chroot "$root" stat -c '%U:%G %a' /etc/officemesh/config.toml)" = "root:officemesh 640" ] \
  || fail "config.toml: $(chroot "$root" stat -c '%U:%G %a' /etc/officemesh/config.toml)"
grep -Eq '^token = "[0-9a-f]{32}"$' "$root/etc/officemesh/config.toml" \
  || fail "postinst did not generate api.token"
grep -q '^listen = "0.0.0.0:8420"' "$root/etc/officemesh/config.toml" \
  || fail "the packaged api.listen must serve the LAN (claim links must not point at 127.0.0.1)"
pass "data dir and config permissions"
[ -L "$root/etc/systemd/system/multi-user.target.wants/officemesh.service" ] \
  || fail "officemesh.service is not enabled"
pass "unit enabled"

echo "==> the agent starts as the officemesh user with the packaged config"
# Everything as installed, only the ports moved to free loopback ports and insecure gossip (no
# cluster key in a fresh install; gossip is not started without one).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s|^listen = \"0.0.0.0:8420\"|listen = \"127.0.0.1:$port\"|" \
    -e "s|^listen = \"0.0.0.0:7420\"|listen = \"127.0.0.1:0\"\ninsecure = true|" \
    -e 's|^# interface = .*|interface = ""|' \
    "$root/etc/officemesh/config.toml" > "$root/tmp/test-config.toml"
chroot "$root" setpriv --reuid=officemesh --regid=officemesh --init-groups \
  /usr/bin/officemesh run --config /tmp/test-config.toml > "$root/tmp/agent.log" 2>&1 &
agent=$!
ok=false
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request,sys; sys.exit(0 if b'\"ok\"' in urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=2).read() else 1)" 2>/dev/null; then ok=true; break; fi
  kill -0 "$agent" 2>/dev/null || break
  sleep 0.2
done
# docs/deploy.md's post-install checks: the CLI finds address and token in the config.
if $ok; then
  for check in status readings hash; do
    chroot "$root" /usr/bin/officemesh "$check" --config /tmp/test-config.toml > "$root/tmp/cli.log" 2>&1 \
      || { cat "$root/tmp/cli.log" >&2; kill "$agent" 2>/dev/null || true; fail "officemesh $check --config failed"; }
  done
  pass "officemesh status, readings, hash read the token from the config"
fi
kill "$agent" 2>/dev/null || true; wait "$agent" 2>/dev/null || true
$ok || { cat "$root/tmp/agent.log" >&2; fail "agent did not start as user officemesh"; }
[ -f "$root/var/lib/officemesh/node_id" ] || fail "agent did not write /var/lib/officemesh/node_id"
[ "$(chroot "$root" stat -c %U "/var/lib/officemesh/node_id")" = officemesh ] || fail "node_id not owned by officemesh"
pass "agent ran as officemesh and wrote its data dir"

echo "==> systemd-analyze verify officemesh.service"
chroot "$root" systemd-analyze verify /usr/lib/systemd/system/officemesh.service > "$root/tmp/verify.log" 2>&1 \
  || { cat "$root/tmp/verify.log" >&2; fail "systemd-analyze verify failed"; }
if grep -v -e 'Failed to .*namespace' -e '^$' "$root/tmp/verify.log" | grep -q .; then
  cat "$root/tmp/verify.log" >&2; fail "systemd-analyze verify printed warnings"
fi
unit="$root/usr/lib/systemd/system/officemesh.service"
grep -q '^CapabilityBoundingSet=$' "$unit" || fail "the unit must drop every capability (CapabilityBoundingSet=)"
grep -q 'CAP_' "$unit" && fail "the unit grants a capability: $(grep CAP_ "$unit")"
grep '^RestrictAddressFamilies=' "$unit" | grep -q AF_PACKET && fail "AF_PACKET allowed (the scanner is UDP only)"
grep -q '^DeviceAllow=/dev/gpiomem0 rw$' "$unit" || fail "the Pi 5's /dev/gpiomem0 is not allowed"
grep -q '^LimitNOFILE=8192$' "$unit" || fail "LimitNOFILE=8192 missing"
pass "unit verifies"

echo "==> upgrade keeps an edited config (conffile), purge removes user and data"
echo '# edited by the admin' >> "$root/etc/officemesh/config.toml"
chroot "$root" dpkg --force-confold -i /tmp/officemesh.deb > "$root/tmp/dpkg2.log" 2>&1 || { cat "$root/tmp/dpkg2.log" >&2; fail "reinstall failed"; }
grep -q '^# edited by the admin' "$root/etc/officemesh/config.toml" || fail "reinstall overwrote the edited config"
chroot "$root" dpkg --purge officemesh > "$root/tmp/purge.log" 2>&1 || { cat "$root/tmp/purge.log" >&2; fail "purge failed"; }
chroot "$root" getent passwd officemesh >/dev/null && fail "purge left the user officemesh"
[ ! -e "$root/var/lib/officemesh" ] || fail "purge left /var/lib/officemesh"
[ ! -e "$root/usr/bin/officemesh" ] || fail "purge left /usr/bin/officemesh"
pass "conffile kept on upgrade; purge clean"

echo "==> first boot of a card made by prepare-sd.sh (firstrun generation), run in the root"
boot="$root/boot/firmware"
mkdir -p "$boot"
printf '[all]\n' > "$boot/config.txt"
stock_cmdline='console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 rootwait quiet'
echo "$stock_cmdline" > "$boot/cmdline.txt"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$root/tmp/cluster.key"
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOfficemeshFirstBootTest admin@test" > "$root/tmp/id.pub"
./deploy/prepare-sd.sh --boot "$boot" --method firstrun --name pi-firstboot --room lab \
  --seeds 192.0.2.11:7420 --cluster-key "$root/tmp/cluster.key" --ssh-key "$root/tmp/id.pub" \
  --deb "$deb" > "$root/tmp/prepare.log" 2>&1 || { cat "$root/tmp/prepare.log" >&2; fail "prepare-sd.sh failed"; }
cp "$boot/officemesh/config.toml" "$root/tmp/node-config.toml"
# What the Pi does on first boot: cmdline.txt's systemd.run= runs firstrun.sh as root.
chroot "$root" /bin/bash /boot/firmware/firstrun.sh > "$root/tmp/firstrun.log" 2>&1 \
  || { cat "$root/tmp/firstrun.log" >&2; fail "firstrun.sh failed"; }
[ "$(cat "$root/etc/hostname")" = pi-firstboot ] || fail "host name not set: $(cat "$root/etc/hostname")"
grep -qP '^127\.0\.1\.1\tpi-firstboot$' "$root/etc/hosts" || fail "/etc/hosts has no 127.0.1.1 pi-firstboot"
chroot "$root" getent passwd officemesh-admin >/dev/null || fail "admin user not created"
keys="$root/home/officemesh-admin/.ssh/authorized_keys"
[ "$(cat "$keys")" = "$(cat "$root/tmp/id.pub")" ] || fail "authorized_keys does not hold the SSH key"
[ "$(chroot "$root" stat -c '%U %a' /home/officemesh-admin/.ssh/authorized_keys)" = "officemesh-admin 600" ] \
  || fail "authorized_keys: wrong owner or mode"
chroot "$root" dpkg -s officemesh | grep -q '^Status: install ok installed' || fail "firstboot did not install the .deb"
cmp -s "$root/etc/officemesh/config.toml" "$root/tmp/node-config.toml" || fail "/etc/officemesh/config.toml is not the node's config"
cmp -s "$root/etc/officemesh/cluster.key" "$root/tmp/cluster.key" || fail "cluster key not installed"
[ "$(chroot "$root" stat -c '%U:%G %a' /etc/officemesh/cluster.key)" = "root:officemesh 640" ] \
  || fail "cluster.key: $(chroot "$root" stat -c '%U:%G %a' /etc/officemesh/cluster.key)"
[ ! -e "$boot/officemesh/cluster.key" ] || fail "the cluster key was left on the boot partition"
assert_contains "$root/etc/modules-load.d/officemesh-i2c.conf" "i2c-dev" "i2c-dev loaded at boot"
[ -L "$root/etc/systemd/system/multi-user.target.wants/officemesh.service" ] || fail "officemesh.service not enabled"
[ ! -e "$boot/firstrun.sh" ] || fail "firstrun.sh did not remove itself"
[ "$(cat "$boot/cmdline.txt")" = "$stock_cmdline" ] || fail "cmdline.txt not restored: $(cat "$boot/cmdline.txt")"
sed "s/^/    firstrun: /" "$root/tmp/firstrun.log" | grep -iE "error|fail|warn|not found" || true
pass "first boot: host name, admin key, package, config, key (removed from the card), unit enabled"
echo "deb-install: all checks passed"
