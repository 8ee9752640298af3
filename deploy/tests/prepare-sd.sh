#!/usr/bin/env bash
# Tests deploy/prepare-sd.sh on boot partitions this test makes itself: a partitioned image
# file with a FAT partition at 4 MiB (like Raspberry Pi OS images; edited through mtools), the
# same for a cloud-init generation image, and a plain directory. Checks config.txt, cmdline.txt,
# the first-boot files and the node config, and that a second run changes nothing.
# Needs mkfs.vfat (dosfstools) and mtools: installed when root, else the test skips (fails in CI).
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/tests/lib.sh
need_tools mkfs.vfat:dosfstools mcopy:mtools
export MTOOLS_SKIP_CHECK=1

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
printf 'k%.0s' {1..32} > "$t/cluster.key"
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOfficemeshTestKeyOnly admin@test" > "$t/id.pub"
# make_deb VERSION ARCH: a minimal package named like the real one (only its control matters).
make_deb() {
  local d="$t/pkg-$1-$2"
  mkdir -p "$d/DEBIAN"
  printf 'Package: officemesh\nVersion: %s\nArchitecture: %s\nMaintainer: test <t@example.invalid>\nDescription: test\n' \
    "$1" "$2" > "$d/DEBIAN/control"
  dpkg-deb --root-owner-group -b "$d" "$t/officemesh_$1_$2.deb" >/dev/null
}
make_deb 0.1.0-1 arm64

stock_config() {
  cat <<'CFG'
# For more options and information see
# http://rptl.io/configtxt
#dtparam=i2c_arm=on
#dtparam=spi=on
dtparam=audio=on
camera_auto_detect=1

[cm4]
otg_mode=1

[all]
CFG
}
stock_cmdline='console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot'

# make_image FILE [cloud-init]: MBR, partition 1 = FAT16 (type 0x0c) from sector 8192, 32 MiB.
make_image() {
  local img=$1
  truncate -s 40M "$img"
  python3 - "$img" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    entry = bytes([0x00, 0, 0, 0, 0x0C, 0, 0, 0]) + struct.pack("<II", 8192, 65536)
    f.seek(446); f.write(entry)
    f.seek(510); f.write(b"\x55\xaa")
PY
  mkfs.vfat -F 16 -n BOOTFS --offset 8192 "$img" 32768 >/dev/null 2>&1
  stock_config > "$t/stock-config.txt"
  echo "$stock_cmdline" > "$t/stock-cmdline.txt"
  mcopy -i "$img@@4194304" "$t/stock-config.txt" ::config.txt
  mcopy -i "$img@@4194304" "$t/stock-cmdline.txt" ::cmdline.txt
  if [ "${2:-}" = cloud-init ]; then
    printf '#cloud-config\n' > "$t/ud"; printf 'instance-id: rpios\n' > "$t/md"
    mcopy -i "$img@@4194304" "$t/ud" ::user-data
    mcopy -i "$img@@4194304" "$t/md" ::meta-data
  fi
}

prepare() {  # prepare TARGET-ARGS...
  ./deploy/prepare-sd.sh "$@" --name pi-lobby --room "meeting room" \
    --seeds 192.0.2.11:7420,192.0.2.12:7420 --advertise 192.0.2.13:7420 \
    --cluster-key "$t/cluster.key" --ssh-key "$t/id.pub" --deb "$t/officemesh_0.1.0-1_arm64.deb" \
    > "$t/prepare.log" 2>&1 || { cat "$t/prepare.log" >&2; fail "prepare-sd.sh $* failed"; }
}

# extract IMAGE DIR: copies the whole boot partition out with mtools.
extract() { rm -rf "$2"; mkdir -p "$2"; mcopy -s -n -i "$1@@4194304" ::* "$2/"; }

check_common() {  # check_common DIR
  local d=$1
  assert_count "$d/config.txt" "dtparam=i2c_arm=on" 2 "I2C enabled once (plus the stock comment)"
  assert_count "$d/config.txt" "# --- officemesh: sensor buses" 1 "one officemesh block"
  assert_contains "$d/config.txt" "dtparam=spi=on" "SPI enabled"
  assert_contains "$d/config.txt" "dtoverlay=w1-gpio,gpiopin=4" "1-wire overlay"
  assert_contains "$d/config.txt" "dtoverlay=dht11,gpiopin=27" "DHT22 overlay (GPIO 17 stays free for the sound detector)"
  assert_contains "$d/config.txt" "otg_mode=1" "stock settings kept"
  # the block is under [all], after the [cm4] section, so it applies to every model
  awk '/^\[cm4\]/{c=NR} /^dtparam=spi=on/{s=NR} /^\[all\]/{a=NR} END{exit !(s>c && a>c)}' "$d/config.txt" \
    || fail "officemesh block must come after [cm4] under [all]"
  [ -f "$d/ssh" ] || fail "ssh file missing (SSH server on first boot)"
  [ "$(cat "$d/officemesh/cluster.key")" = "$(cat "$t/cluster.key")" ] || fail "cluster key not copied"
  [ -f "$d/officemesh/officemesh_0.1.0-1_arm64.deb" ] || fail ".deb not copied"
  assert_contains "$d/officemesh/firstboot.sh" "dpkg --force-confold -i" "firstboot installs the .deb"
  sh -n "$d/officemesh/firstboot.sh" || fail "firstboot.sh has a syntax error"
  python3 - "$d/officemesh/config.toml" <<'PY' || fail "node config.toml is wrong"
import sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
assert c["node"] == {"name": "pi-lobby", "room": "meeting room"}, c["node"]
assert c["gossip"]["seeds"] == ["192.0.2.11:7420", "192.0.2.12:7420"], c["gossip"]
assert c["gossip"]["advertise"] == "192.0.2.13:7420", c["gossip"]
assert c["gossip"]["key_file"] == "/etc/officemesh/cluster.key"
assert c["storage"]["data_dir"] == "/var/lib/officemesh"
assert c["api"]["listen"] == "0.0.0.0:8420"
assert len(c["api"]["token"]) == 32, "prepare-sd generates an api.token"
PY
}

echo "==> bookworm-style image (firstrun.sh + systemd.run)"
make_image "$t/bookworm.img"
prepare --image "$t/bookworm.img"
extract "$t/bookworm.img" "$t/b1"
check_common "$t/b1"
assert_contains "$t/b1/userconf.txt" "officemesh-admin:*" "admin user without password"
assert_contains "$t/b1/firstrun.sh" "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOfficemeshTestKeyOnly" "SSH key in firstrun.sh"
assert_contains "$t/b1/firstrun.sh" "NAME='pi-lobby'" "host name in firstrun.sh"
bash -n "$t/b1/firstrun.sh" || fail "firstrun.sh has a syntax error"
[ "$(wc -l < "$t/b1/cmdline.txt")" = 1 ] || fail "cmdline.txt must stay one line"
assert_contains "$t/b1/cmdline.txt" "$stock_cmdline systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target" "first-run hook appended to the stock cmdline"
pass "bookworm image prepared"

echo "==> second run on the same image changes nothing"
prepare --image "$t/bookworm.img"
extract "$t/bookworm.img" "$t/b2"
diff -r "$t/b1" "$t/b2" || fail "second run changed the boot partition"
pass "idempotent"

echo "==> the first-run script's own cleanup leaves the stock cmdline"
sed 's| systemd.run.*||g' "$t/b2/cmdline.txt" > "$t/cmd-after"
[ "$(cat "$t/cmd-after")" = "$stock_cmdline" ] || fail "firstrun cleanup would leave: $(cat "$t/cmd-after")"
pass "cmdline restored after first run"

echo "==> a new package replaces the old one on the card"
make_deb 0.2.0-1 arm64
./deploy/prepare-sd.sh --image "$t/bookworm.img" --name pi-lobby --cluster-key "$t/cluster.key" \
  --ssh-key "$t/id.pub" --deb "$t/officemesh_0.2.0-1_arm64.deb" > "$t/prepare.log" 2>&1 \
  || { cat "$t/prepare.log" >&2; fail "prepare-sd.sh with a new package failed"; }
extract "$t/bookworm.img" "$t/b3"
[ "$(cd "$t/b3/officemesh" && ls -- *.deb)" = "officemesh_0.2.0-1_arm64.deb" ] \
  || fail "expected only the new package on the card, found: $(ls "$t/b3/officemesh")"
pass "old package replaced"

echo "==> trixie-style image (cloud-init)"
make_image "$t/trixie.img" cloud-init
prepare --image "$t/trixie.img"
extract "$t/trixie.img" "$t/c1"
check_common "$t/c1"
assert_contains "$t/c1/user-data" "hostname: pi-lobby" "host name"
assert_contains "$t/c1/user-data" '- "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOfficemeshTestKeyOnly admin@test"' "SSH key"
assert_contains "$t/c1/user-data" "firstboot.sh" "runcmd runs firstboot.sh"
head -n1 "$t/c1/user-data" | grep -qx '#cloud-config' || fail "user-data must start with #cloud-config"
assert_contains "$t/c1/meta-data" "instance-id: officemesh-pi-lobby-" "new instance-id"
[ ! -e "$t/c1/firstrun.sh" ] || fail "cloud-init image must not get firstrun.sh"
[ "$(cat "$t/c1/cmdline.txt")" = "$stock_cmdline" ] || fail "cloud-init: cmdline.txt must stay stock"
pass "cloud-init image prepared"

echo "==> a mounted boot partition (directory)"
mkdir -p "$t/dir"
stock_config > "$t/dir/config.txt"; echo "$stock_cmdline" > "$t/dir/cmdline.txt"
prepare --boot "$t/dir"
prepare --boot "$t/dir"
check_common "$t/dir"
assert_contains "$t/dir/cmdline.txt" "systemd.run=/boot/firstrun.sh" "first-run hook"
assert_count "$t/dir/cmdline.txt" "systemd.run=" 1 "hook added once after two runs"
pass "directory prepared"

echo "==> bad input is refused with a message"
if ./deploy/prepare-sd.sh --boot "$t/dir" --name 'bad name' --cluster-key "$t/cluster.key" \
     --ssh-key "$t/id.pub" > "$t/bad.log" 2>&1; then fail "accepted a bad host name"; fi
assert_contains "$t/bad.log" "is not a valid host name" "host name error"
mkdir -p "$t/empty"
if ./deploy/prepare-sd.sh --boot "$t/empty" --name pi-x --cluster-key "$t/cluster.key" \
     --ssh-key "$t/id.pub" > "$t/bad2.log" 2>&1; then fail "accepted a directory without config.txt"; fi
assert_contains "$t/bad2.log" "no config.txt" "not a boot partition error"
pass "bad input refused"

echo "==> no GPIO serves two parts"
for bad in "--dht-pin 2:I2C-1" "--w1-pin 10:SPI0" "--dht-pin 17:sound detector" "--w1-pin 0:HAT ID EEPROM" \
           "--w1-pin 22 --dht-pin 22:cannot share GPIO 22"; do
  args=${bad%%:*} why=${bad#*:}
  # shellcheck disable=SC2086
  if ./deploy/prepare-sd.sh --boot "$t/dir" --name pi-x --cluster-key "$t/cluster.key" \
       --ssh-key "$t/id.pub" $args > "$t/pin.log" 2>&1; then fail "accepted $args"; fi
  assert_contains "$t/pin.log" "$why" "$args refused"
done
pass "colliding GPIO pins refused"

echo "==> the package must fit the card's OS (32-bit cards carry kernel7*.img)"
mkdir -p "$t/dir32"
stock_config > "$t/dir32/config.txt"; echo "$stock_cmdline" > "$t/dir32/cmdline.txt"
: > "$t/dir32/kernel7l.img"; : > "$t/dir32/kernel8.img"
if ./deploy/prepare-sd.sh --boot "$t/dir32" --name pi-x --cluster-key "$t/cluster.key" \
     --ssh-key "$t/id.pub" --deb "$t/officemesh_0.1.0-1_arm64.deb" > "$t/arch.log" 2>&1; then
  fail "put an arm64 package on a 32-bit card"
fi
assert_contains "$t/arch.log" "holds a 32-bit one" "arm64 package on a 32-bit card refused"
echo "not a package" > "$t/junk.deb"
if ./deploy/prepare-sd.sh --boot "$t/dir" --name pi-x --cluster-key "$t/cluster.key" \
     --ssh-key "$t/id.pub" --deb "$t/junk.deb" > "$t/arch.log" 2>&1; then fail "accepted a non-package"; fi
assert_contains "$t/arch.log" "is not a Debian package" "non-package refused"
pass "package architecture checked"

echo "==> --build MODEL runs deploy/build-pi.sh with the model's target (stand-in build script)"
make_deb 0.3.0-1 armhf
cat > "$t/build-pi" <<STANDIN
#!/bin/sh
echo "\$*" >> "$t/build-pi.args"
echo "==> package: $t/officemesh_0.3.0-1_armhf.deb (1 bytes, armhf)"
echo "$t/officemesh-binary"
STANDIN
chmod +x "$t/build-pi"
for case in "pi4:armv7 --deb" "zero-w:armv6 --deb" "pi2:armv7 --deb"; do
  model=${case%%:*} want=${case#*:}
  : > "$t/build-pi.args"
  OFFICEMESH_BUILD_PI="$t/build-pi" ./deploy/prepare-sd.sh --boot "$t/dir32" --name pi-x \
    --cluster-key "$t/cluster.key" --ssh-key "$t/id.pub" --build "$model" > "$t/build.log" 2>&1 \
    || { cat "$t/build.log" >&2; fail "--build $model failed"; }
  [ "$(cat "$t/build-pi.args")" = "$want" ] || fail "--build $model ran build-pi.sh $(cat "$t/build-pi.args"), expected $want"
  [ -f "$t/dir32/officemesh/officemesh_0.3.0-1_armhf.deb" ] || fail "--build $model: the built .deb is not on the card"
done
mkdir -p "$t/dir64"
stock_config > "$t/dir64/config.txt"; echo "$stock_cmdline" > "$t/dir64/cmdline.txt"
: > "$t/dir64/kernel8.img"; : > "$t/dir64/kernel_2712.img"
: > "$t/build-pi.args"
if OFFICEMESH_BUILD_PI="$t/build-pi" ./deploy/prepare-sd.sh --boot "$t/dir64" --name pi-x \
     --cluster-key "$t/cluster.key" --ssh-key "$t/id.pub" --build pi5 > "$t/build.log" 2>&1; then
  fail "a 64-bit card took the stand-in's armhf package"
fi
assert_contains "$t/build.log" "holds a 64-bit one" "armhf package on a 64-bit card refused"
[ "$(cat "$t/build-pi.args")" = "aarch64 --deb" ] || fail "--build pi5 on a 64-bit card must build aarch64, ran: $(cat "$t/build-pi.args")"
pass "--build picks the target per model and card"
# ---- cards Raspberry Pi Imager customised (its templates: rpi-imager src/customization_generator.cpp)
imager_firstrun() {
  cat <<'IMG'
#!/bin/sh

set +e

CURRENT_HOSTNAME=$(cat /etc/hostname | tr -d " \t\n\r")
if [ -f /usr/lib/raspberrypi-sys-mods/imager_custom ]; then
   /usr/lib/raspberrypi-sys-mods/imager_custom set_hostname desk-pi
else
   echo desk-pi >/etc/hostname
   sed -i "s/127.0.1.1.*$CURRENT_HOSTNAME/127.0.1.1\tdesk-pi/g" /etc/hosts
fi
FIRSTUSER=$(getent passwd 1000 | cut -d: -f1)
FIRSTUSERHOME=$(getent passwd 1000 | cut -d: -f6)
if [ -f /usr/lib/userconf-pi/userconf ]; then
   /usr/lib/userconf-pi/userconf 'alice' '$5$abc$hash'
fi
if [ -f /usr/lib/raspberrypi-sys-mods/imager_custom ] && true; then
   /usr/lib/raspberrypi-sys-mods/imager_custom set_wlan 'Home Net' 'aaaabbbbccccddddeeeeffff00001111aaaabbbbccccddddeeeeffff00001111' 'GB'
else
   rfkill unblock wifi
fi
rm -f /boot/firstrun.sh
sed -i 's| systemd.run.*||g' /boot/cmdline.txt
exit 0
IMG
}
imager_user_data() {
  cat <<'IMG'
#cloud-config
manage_resolv_conf: false

hostname: desk-pi
manage_etc_hosts: true
packages:
- avahi-daemon

user:
  name: alice
  shell: /bin/bash
  lock_passwd: false
  passwd: "$5$abc$hash"

ssh_pwauth: true

runcmd:
  - [ rfkill, unblock, wifi ]
IMG
}
imager_network_config() {
  cat <<'IMG'
network:
  version: 2
  ethernets:
    eth0:
      dhcp4: true
      dhcp6: true
      optional: true
  wifis:
    wlan0:
      dhcp4: true
      regulatory-domain: "GB"
      access-points:
        "Home Net":
          password: "aaaabbbbccccddddeeeeffff00001111aaaabbbbccccddddeeeeffff00001111"
      optional: true
IMG
}
imager_hook=' systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target'

echo "==> a bookworm card Imager customised keeps Imager's steps and Wi-Fi"
mkdir -p "$t/imgb"
stock_config > "$t/imgb/config.txt"; echo "$stock_cmdline$imager_hook" > "$t/imgb/cmdline.txt"
imager_firstrun > "$t/imgb/firstrun.sh"
prepare --boot "$t/imgb"
f="$t/imgb/firstrun.sh"
while IFS= read -r line; do
  grep -qxF -- "$line" "$f" || fail "Imager's step '$line' is gone from firstrun.sh"
done < <(imager_firstrun)
assert_count "$f" "imager_custom set_wlan 'Home Net'" 1 "Imager's Wi-Fi kept"
assert_count "$f" "set_wlan" 1 "no Wi-Fi of ours when not asked"
awk '/userconf .alice/{u=NR} /--- officemesh/{o=NR} /firstboot.sh"/{b=NR} /^rm -f \/boot\/firstrun.sh/{r=NR}
     END{exit !(u && o > u && b > o && r > b)}' "$f" || fail "our steps must run after Imager's and before its clean-up"
sh -n "$f" || fail "merged firstrun.sh has a syntax error"
[ ! -e "$t/imgb/userconf.txt" ] || fail "Imager's firstrun makes the first user: no userconf.txt of ours"
cmp -s "$t/imgb/officemesh/firstrun.orig.sh" <(imager_firstrun) || fail "Imager's firstrun.sh not saved as officemesh/firstrun.orig.sh"
assert_count "$t/imgb/cmdline.txt" "systemd.run=" 1 "one first-run hook"
cp "$f" "$t/imgb-first"
prepare --boot "$t/imgb"
cmp -s "$f" "$t/imgb-first" || fail "a second run changed the merged firstrun.sh"
if grep -q '^interface' "$t/imgb/officemesh/config.toml"; then fail "config.toml names an interface nobody asked for"; fi
pass "Imager's firstrun.sh kept, ours merged in once"

echo "==> asked for Wi-Fi, the firstrun card gets it with its country (hashed PSK)"
# IEEE 802.11i-2004 H.4 test vector: passphrase "password", SSID "IEEE".
want_psk=f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e
prepare --boot "$t/imgb" --wifi-ssid IEEE --wifi-psk password --wifi-country de
assert_contains "$f" "imager_custom set_wlan 'IEEE' '$want_psk' 'DE'" "set_wlan with SSID, PSK and country"
assert_contains "$f" "country=DE" "wpa_supplicant fallback carries the country"
assert_contains "$f" "ssid=49454545" "wpa_supplicant fallback SSID (hex)"
if grep -q "password" "$f"; then fail "the plain passphrase is on the card"; fi
assert_count "$f" "imager_custom set_wlan 'Home Net'" 1 "Imager's Wi-Fi still there"
sh -n "$f" || fail "firstrun.sh with Wi-Fi has a syntax error"
pass "Wi-Fi written with its country"

echo "==> Wi-Fi without a country is refused (the radio stays rfkill-blocked)"
for bad in "--wifi-ssid Office:needs --wifi-country" "--wifi-ssid Office --wifi-country Germany:not a two-letter" \
           "--wifi-ssid Office --wifi-psk short --wifi-country DE:8 to 63" "--wifi-psk secret123:needs --wifi-ssid"; do
  args=${bad%%:*} why=${bad#*:}
  cp "$f" "$t/before"
  # shellcheck disable=SC2086
  if ./deploy/prepare-sd.sh --boot "$t/imgb" --name pi-x --cluster-key "$t/cluster.key" \
       --ssh-key "$t/id.pub" $args > "$t/wifi.log" 2>&1; then fail "accepted $args"; fi
  assert_contains "$t/wifi.log" "$why" "$args refused"
  cmp -s "$f" "$t/before" || fail "a refused run changed the card"
done
pass "Wi-Fi without a country refused"

echo "==> a cloud-init card Imager customised keeps its user and network-config"
mkdir -p "$t/imgc"
stock_config > "$t/imgc/config.txt"; echo "$stock_cmdline" > "$t/imgc/cmdline.txt"
imager_user_data > "$t/imgc/user-data"; imager_network_config > "$t/imgc/network-config"
echo "instance-id: rpi-imager-1" > "$t/imgc/meta-data"
prepare --boot "$t/imgc"
cmp -s "$t/imgc/network-config" <(imager_network_config) || fail "Imager's network-config was changed"
python3 - "$t/imgc/user-data" <<'PY' || fail "merged user-data is wrong"
import sys, yaml
text = open(sys.argv[1]).read()
assert text.startswith("#cloud-config\n"), text[:40]
c = yaml.safe_load(text)
assert c["user"]["name"] == "alice", "Imager's user kept"
names = [u if isinstance(u, str) else u["name"] for u in c["users"]]
assert names == ["default", "officemesh-admin"], names
assert c["hostname"] == "pi-lobby" and c["ssh_pwauth"] is True, c
assert c["packages"] == ["avahi-daemon"] and c["manage_resolv_conf"] is False
assert c["runcmd"][0] == ["rfkill", "unblock", "wifi"], "Imager's runcmd first"
assert any("firstboot.sh" in " ".join(r) for r in c["runcmd"]), c["runcmd"]
PY
cp "$t/imgc/user-data" "$t/imgc-first"
prepare --boot "$t/imgc"
cmp -s "$t/imgc/user-data" "$t/imgc-first" || fail "a second run changed the merged user-data"
prepare --boot "$t/imgc" --wifi-ssid 'Büro "2"' --wifi-psk 'correct horse' --wifi-country at
python3 - "$t/imgc/network-config" <<'PY' || fail "network-config with Wi-Fi is wrong"
import sys, yaml
n = yaml.safe_load(open(sys.argv[1]))["network"]
assert n["ethernets"]["eth0"]["dhcp4"] is True, "wired Ethernet keeps working"
w = n["wifis"]["wlan0"]
assert w["regulatory-domain"] == "AT", w
ap = w["access-points"]['Büro "2"']
assert len(ap["password"]) == 64 and ap["password"] != "correct horse", ap
PY
pass "cloud-init: Imager's user kept, Wi-Fi with its regulatory domain when asked"
echo "prepare-sd: all checks passed"
