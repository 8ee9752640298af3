#!/usr/bin/env bash
# Prepares a freshly written Raspberry Pi OS SD card (or image file) to become an officemesh
# node on its first boot. Works on the FAT boot partition only; no loop mounts, no root needed.
#
#   deploy/prepare-sd.sh --boot /media/$USER/bootfs  --name pi-lobby --room lobby \
#       --ssh-key ~/.ssh/id_ed25519.pub --cluster-key cluster.key \
#       --seeds 192.0.2.11:7420,192.0.2.12:7420 --build aarch64
#   deploy/prepare-sd.sh --image raspios.img ...      # an uncompressed image file (unxz first)
#
# What it writes to the boot partition (idempotent: running it twice gives the same card):
#   config.txt   a marked block enabling I2C, SPI, 1-wire (w1-gpio) and the DHT22 overlay.
#                Each GPIO serves one part: I2C uses GPIO 2/3, SPI0 GPIO 7-11, GPIO 0/1 are the
#                HAT EEPROM's; 1-wire (default GPIO 4) and DHT22 (default GPIO 27) must use other
#                pins and differ, and GPIO 17 stays free for a digital sound detector
#                (docs/sensors.md's wiring). A pin that collides is refused.
#   ssh          enables the SSH server on first boot (all Raspberry Pi OS generations)
#   officemesh/  the .deb, the node's config.toml, the cluster key, firstboot.sh
#   first-boot hook, by image generation (--method, default auto):
#     cloud-init  (Raspberry Pi OS from trixie, 2025-11: the boot partition has user-data /
#                 meta-data): `user-data` sets the host name, the admin user with the SSH key,
#                 and runs officemesh/firstboot.sh; `meta-data` gets a new instance-id.
#     firstrun    (bullseye / bookworm): `userconf.txt` creates the admin user (no password:
#                 key login only), `firstrun.sh` + cmdline.txt's systemd.run= (the way
#                 Raspberry Pi Imager does it) set the host name and SSH key and run
#                 officemesh/firstboot.sh, then remove themselves and reboot.
# firstboot.sh (on the Pi): loads i2c-dev, installs the .deb, puts config and key in
# /etc/officemesh (the key is then deleted from the FAT partition), starts officemesh.
#
# Options:
#   --boot DIR | --image FILE   the boot partition: a mounted directory, or an image file whose
#                               first FAT partition (or whole file, if it is a bare FAT) is used
#   --name NAME                 host name and node.name (letters, digits, '-')
#   --room ROOM                 node.room (default: office)
#   --seeds A,B,...             gossip seeds host:port (default: none)
#   --advertise HOST:PORT       gossip.advertise (the Pi's fixed address; default: empty)
#   --cluster-key FILE          the cluster key (officemesh keygen --out FILE); required
#   --ssh-key FILE              public key for the admin user; required
#   --user NAME                 admin user (default: officemesh-admin)
#   --deb FILE                  officemesh .deb to install (default: none = install yourself)
#   --build TARGET              build that .deb first with deploy/build-pi.sh TARGET --deb:
#                               aarch64 (Pi 3/4/5/Zero 2 W on 64-bit Raspberry Pi OS), armv7
#                               (Pi 2/3/4 on 32-bit OS) or armv6 (Pi 1/Zero/Zero W); or a model:
#                               pi1, zero, zero-w -> armv6; pi2 -> armv7; pi3, pi4, pi5, zero2,
#                               cm3, cm4, cm5 -> aarch64, or armv7 if the card holds a 32-bit OS
#   --api-listen ADDR           api.listen (default 0.0.0.0:8420, so fleet-deploy can ask it)
#   --api-token TOKEN           api.token (default: a new random token, printed at the end)
#   --interface IF              presence.interface (default: not written, so the agent uses
#                               the interface of the default route: eth0 or wlan0 alike)
#   --wifi-ssid NAME            join this Wi-Fi network on first boot (a Zero W, a desk Pi);
#   --wifi-psk PASS             its passphrase (8-63 characters, stored on the card only as the
#                               hashed 64-hex PSK, as Imager does; leave out for an open network)
#   --wifi-country CC           required with --wifi-ssid: the two-letter country (ISO 3166, e.g.
#                               DE, GB, US); the Pi keeps Wi-Fi blocked until one is set
#   Wi-Fi Raspberry Pi Imager already set on the card is kept: prepare-sd adds its steps to
#   Imager's firstrun.sh / user-data (never replacing them) and leaves Imager's network-config
#   alone unless --wifi-ssid is given. The card's files as Imager wrote them are saved in
#   officemesh/*.orig, so a second run merges into the same original.
#   --w1-pin N | --no-w1        1-wire data pin (default GPIO 4)
#   --dht-pin N | --no-dht      DHT22 data pin (default GPIO 27)
#   --method auto|cloud-init|firstrun
set -euo pipefail

die() { echo "prepare-sd: error: $*" >&2; exit 1; }

boot_dir="" image="" name="" room="office" seeds="" advertise="" cluster_key="" ssh_key=""
user="officemesh-admin" deb="" api_listen="0.0.0.0:8420" api_token="" interface=""
wifi_ssid="" wifi_psk="" wifi_country="" wifi_psk_given=""
w1_pin=4 dht_pin=27 method=auto build=""
while [ $# -gt 0 ]; do
  case "$1" in
    --boot) boot_dir=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --room) room=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --advertise) advertise=$2; shift 2 ;;
    --cluster-key) cluster_key=$2; shift 2 ;;
    --ssh-key) ssh_key=$2; shift 2 ;;
    --user) user=$2; shift 2 ;;
    --deb) deb=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --api-listen) api_listen=$2; shift 2 ;;
    --api-token) api_token=$2; shift 2 ;;
    --interface) interface=$2; shift 2 ;;
    --wifi-ssid) wifi_ssid=$2; shift 2 ;;
    --wifi-psk) wifi_psk=$2; wifi_psk_given=1; shift 2 ;;
    --wifi-country) wifi_country=$2; shift 2 ;;
    --w1-pin) w1_pin=$2; shift 2 ;;
    --no-w1) w1_pin=""; shift ;;
    --dht-pin) dht_pin=$2; shift 2 ;;
    --no-dht) dht_pin=""; shift ;;
    --method) method=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

[ -n "$boot_dir" ] || [ -n "$image" ] || die "give --boot DIR or --image FILE"
[ -z "$boot_dir" ] || [ -z "$image" ] || die "give only one of --boot and --image"
[[ "$name" =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$ ]] \
  || die "--name '$name' is not a valid host name (letters, digits, inner '-')"
[[ "$user" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "--user '$user' is not a valid user name"
[[ "$room" != */* && "$room" != *'"'* && -n "$room" ]] || die "--room must be non-empty, without '/' or '\"'"
[ -f "$cluster_key" ] || die "--cluster-key FILE is required (create one: officemesh keygen --out FILE)"
[ -f "$ssh_key" ] || die "--ssh-key FILE (an SSH public key) is required"
grep -qE '^(ssh-|ecdsa-|sk-)' "$ssh_key" || die "$ssh_key does not look like an SSH public key"
[ -z "$deb" ] || [ -f "$deb" ] || die "--deb $deb: no such file"
[ -z "$deb" ] || [ -z "$build" ] || die "give only one of --deb and --build"
# GPIOs the buses this script enables (or the HAT EEPROM) already hold, BCM numbers.
gpio_owner() {
  case "$1" in
    0|1) echo "the HAT ID EEPROM (ID_SD/ID_SC)" ;;
    2|3) echo "I2C-1 (SDA/SCL, dtparam=i2c_arm=on)" ;;
    7|8|9|10|11) echo "SPI0 (CE1/CE0/MISO/MOSI/SCLK, dtparam=spi=on)" ;;
    17) echo "the digital sound detector's documented wiring (docs/sensors.md, gpio_pin = 17)" ;;
  esac
}
for part in "1-wire:$w1_pin:--w1-pin" "DHT22:$dht_pin:--dht-pin"; do
  IFS=: read -r what pin opt <<< "$part"
  [ -z "$pin" ] && continue
  [[ "$pin" =~ ^[0-9]+$ && "$pin" -le 27 ]] || die "$opt '$pin': a GPIO must be 0..27"
  owner=$(gpio_owner "$pin")
  [ -z "$owner" ] || die "$opt $pin: GPIO $pin is used by $owner; choose another pin for $what (e.g. 4, 5, 6, 22, 27)"
done
[ -z "$w1_pin" ] || [ "$w1_pin" != "$dht_pin" ] || die "1-wire and DHT22 cannot share GPIO $w1_pin"
[[ -z "$interface" || "$interface" =~ ^[A-Za-z0-9._-]{1,15}$ ]] || die "--interface '$interface' is not an interface name"
if [ -n "$wifi_ssid" ]; then
  [ "${#wifi_ssid}" -le 32 ] || die "--wifi-ssid '$wifi_ssid': an SSID has at most 32 bytes"
  [[ "$wifi_ssid" != *[[:cntrl:]]* ]] || die "--wifi-ssid: control characters are not allowed"
  [ -n "$wifi_country" ] || die "--wifi-ssid needs --wifi-country CC (two letters, e.g. DE): without a country the Pi keeps Wi-Fi blocked (rfkill) and never joins '$wifi_ssid'"
  wifi_country=${wifi_country^^}
  [[ "$wifi_country" =~ ^[A-Z]{2}$ ]] || die "--wifi-country '$wifi_country' is not a two-letter country code (ISO 3166, e.g. DE, GB, US)"
  if [ -n "$wifi_psk_given" ]; then
    if [[ "$wifi_psk" =~ ^[0-9a-fA-F]{64}$ ]]; then wifi_psk_hex=${wifi_psk,,}
    elif [ "${#wifi_psk}" -ge 8 ] && [ "${#wifi_psk}" -le 63 ]; then
      wifi_psk_hex=$(python3 "$(dirname "$0")/lib/sd-merge.py" psk "$wifi_ssid" "$wifi_psk") \
        || die "cannot hash the Wi-Fi passphrase (python3 is needed)"
    else die "--wifi-psk: a WPA passphrase has 8 to 63 characters (or give the 64-hex PSK)"; fi
  else wifi_psk_hex=""; fi
else
  [ -z "$wifi_psk_given" ] || die "--wifi-psk needs --wifi-ssid NAME"
  [ -z "$wifi_country" ] || die "--wifi-country needs --wifi-ssid NAME"
fi
for item in ${seeds//,/ } $advertise; do
  [[ "$item" =~ ^[^[:space:],\"]+:[0-9]{1,5}$ ]] || die "'$item' is not host:port"
done

# ---- access to the boot partition: a directory, or a FAT file system inside an image (mtools)
export MTOOLS_SKIP_CHECK=1
fat=""   # mtools image spec: file@@offset
if [ -n "$image" ]; then
  [ -f "$image" ] || die "--image $image: no such file"
  command -v mcopy >/dev/null || die "mtools is needed for --image (apt-get install mtools)"
  offset=$(python3 - "$image" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    sector = f.read(512)
if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
    sys.exit("no boot sector / partition table found")
if sector[0x36:0x39] == b"FAT" or sector[0x52:0x55] == b"FAT":
    print(0)            # a bare FAT file system, no partition table
    sys.exit()
for i in range(4):      # MBR: the first FAT partition (types 0x0b, 0x0c, 0x0e, 0x06, 0x04, 0x01)
    entry = sector[446 + 16 * i: 446 + 16 * (i + 1)]
    if entry[4] in (0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E):
        print(struct.unpack_from("<I", entry, 8)[0] * 512)
        sys.exit()
sys.exit("no FAT partition in the partition table (GPT images are not supported)")
PY
) || die "$image: cannot find the boot partition"
  fat="$image@@$offset"
  mdir -i "$fat" :: >/dev/null 2>&1 || die "$image: no FAT file system at byte $offset"
else
  [ -d "$boot_dir" ] || die "--boot $boot_dir: not a directory"
fi

boot_ls() {    # names of the files in a directory of the boot partition
  if [ -n "$fat" ]; then mdir -b -i "$fat" "::$1" 2>/dev/null | sed 's|.*/||'; else ls "$boot_dir/$1" 2>/dev/null; fi
}
boot_exists() { if [ -n "$fat" ]; then mdir -i "$fat" "::$1" >/dev/null 2>&1; else [ -e "$boot_dir/$1" ]; fi; }
boot_read() { if [ -n "$fat" ]; then mtype -i "$fat" "::$1"; else cat "$boot_dir/$1"; fi; }
boot_put() {  # boot_put LOCAL_FILE DEST
  if [ -n "$fat" ]; then mcopy -o -i "$fat" "$1" "::$2"; else cp "$1" "$boot_dir/$2"; fi
}
boot_mkdir() {
  if [ -n "$fat" ]; then boot_exists "$1" || mmd -i "$fat" "::$1"; else mkdir -p "$boot_dir/$1"; fi
}
boot_rm() {
  if [ -z "$fat" ]; then rm -f "$boot_dir/$1"; elif boot_exists "$1"; then mdel -i "$fat" "::$1"; fi
}

boot_exists config.txt || die "no config.txt on the boot partition: is this a Raspberry Pi OS boot partition?"
boot_exists cmdline.txt || die "no cmdline.txt on the boot partition: is this a Raspberry Pi OS boot partition?"
if [ -z "$api_token" ]; then
  # Personal data (who is in, every MAC) and writes need a token: keep the card's token from
  # an earlier run, else make one for this card.
  if boot_exists officemesh/config.toml; then
    api_token=$(boot_read officemesh/config.toml | tr -d '\r' | sed -n 's/^token = "\([0-9a-f]*\)"$/\1/p' | head -n1)
  fi
  if [ -z "$api_token" ]; then
    api_token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  fi
  api_token_generated=1
fi
if [ "$method" = auto ]; then
  if boot_exists user-data || boot_exists meta-data; then method=cloud-init; else method=firstrun; fi
fi
case "$method" in cloud-init|firstrun) ;; *) die "--method must be auto, cloud-init or firstrun" ;; esac

# ---- which userland the card holds: 32-bit Raspberry Pi OS images carry kernel.img/kernel7*.img,
# 64-bit ones only kernel8.img / kernel_2712.img.
card_bits=unknown
if boot_exists kernel7l.img || boot_exists kernel7.img || boot_exists kernel.img; then card_bits=32
elif boot_exists kernel8.img || boot_exists kernel_2712.img; then card_bits=64; fi
if [ -n "$build" ]; then
  case "$build" in
    aarch64|armv7|armv6) target=$build ;;
    pi1|zero|zero-w|cm1) target=armv6 ;;
    pi2) target=armv7 ;;
    pi3|pi4|pi5|zero2|cm3|cm4|cm5) if [ "$card_bits" = 32 ]; then target=armv7; else target=aarch64; fi ;;
    *) die "--build '$build': give aarch64, armv7, armv6 or a model (pi1, zero, zero-w, pi2, pi3, pi4, pi5, zero2, cm3, cm4, cm5)" ;;
  esac
  echo "==> building the officemesh .deb for $target (deploy/build-pi.sh $target --deb)"
  build_log=$(mktemp)
  # OFFICEMESH_BUILD_PI: another build script (the deploy test's stand-in).
  "${OFFICEMESH_BUILD_PI:-$(dirname "$0")/build-pi.sh}" "$target" --deb | tee "$build_log" >&2 || { rm -f "$build_log"; die "deploy/build-pi.sh $target failed"; }
  deb=$(sed -n 's/^==> package: \(.*\.deb\) (.*/\1/p' "$build_log" | tail -n1)
  rm -f "$build_log"
  [ -f "$deb" ] || die "deploy/build-pi.sh $target --deb made no package"
fi
if [ -n "$deb" ]; then
  command -v dpkg-deb >/dev/null || die "dpkg-deb is needed to check --deb (apt-get install dpkg)"
  deb_arch=$(dpkg-deb -f "$deb" Architecture 2>/dev/null) || die "$deb is not a Debian package (dpkg-deb cannot read it)"
  case "$card_bits:$deb_arch" in
    32:arm64) die "$deb is for 64-bit Raspberry Pi OS but this card holds a 32-bit one: use --build armv7 (Pi 2/3/4) or armv6 (Pi 1/Zero)" ;;
    64:armhf) die "$deb is for 32-bit Raspberry Pi OS but this card holds a 64-bit one: use --build aarch64" ;;
    *:arm64|*:armhf|unknown:*) ;;
    *) die "$deb is for $deb_arch, not a Raspberry Pi (arm64 or armhf)" ;;
  esac
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- config.txt: our block, replaced on every run (everything else is left as it was)
begin="# --- officemesh: sensor buses (deploy/prepare-sd.sh; rewritten on every run) ---"
end="# --- end officemesh ---"
boot_read config.txt | tr -d '\r' | awk -v b="$begin" -v e="$end" '
  $0 == b {skip = 1; next}  $0 == e {skip = 0; next}  !skip' > "$work/config.txt"
# drop the blank line we left before the old block, so reruns do not grow the file
python3 - "$work/config.txt" <<'PY'
import sys; p = sys.argv[1]; t = open(p).read().rstrip("\n"); open(p, "w").write(t + "\n")
PY
{
  echo
  echo "$begin"
  echo "[all]"
  echo "dtparam=i2c_arm=on"
  echo "dtparam=spi=on"
  [ -z "$w1_pin" ] || echo "dtoverlay=w1-gpio,gpiopin=$w1_pin"
  [ -z "$dht_pin" ] || echo "dtoverlay=dht11,gpiopin=$dht_pin"
  echo "$end"
} >> "$work/config.txt"
boot_put "$work/config.txt" config.txt

# ---- SSH on first boot
: > "$work/ssh"
boot_put "$work/ssh" ssh

# ---- officemesh/: package, node config, key, first-boot installer
boot_mkdir officemesh
seeds_toml=""
for s in ${seeds//,/ }; do seeds_toml+="${seeds_toml:+, }\"$s\""; done
cat > "$work/config.toml" <<EOF
# officemesh node config written by deploy/prepare-sd.sh; installed as /etc/officemesh/config.toml
[node]
name = "$name"
room = "$room"

[storage]
data_dir = "/var/lib/officemesh"

[api]
listen = "$api_listen"
token = "$api_token"

[gossip]
listen = "0.0.0.0:7420"
advertise = "$advertise"
seeds = [$seeds_toml]
cluster = "office"
key_file = "/etc/officemesh/cluster.key"
EOF
if [ -n "$interface" ]; then
  printf '\n[presence]\ninterface = "%s"\n' "$interface" >> "$work/config.toml"
else
  printf '\n# [presence] interface: the interface of the default route (eth0, wlan0, ...)\n' >> "$work/config.toml"
fi
boot_put "$work/config.toml" officemesh/config.toml
boot_put "$cluster_key" officemesh/cluster.key
if [ -n "$deb" ]; then
  for old in $(boot_ls officemesh | grep '\.deb$' || true); do
    boot_rm "officemesh/$old"   # an older package from an earlier run
  done
  boot_put "$deb" "officemesh/$(basename "$deb")"
fi
cat > "$work/firstboot.sh" <<'EOF'
#!/bin/sh
# officemesh first boot (written by deploy/prepare-sd.sh): installs the package and the node's
# config from the boot partition, then starts the agent. Safe to run again.
set -e
for d in /boot/firmware /boot; do
    if [ -f "$d/officemesh/config.toml" ]; then src="$d/officemesh"; break; fi
done
[ -n "${src:-}" ] || { echo "officemesh firstboot: no officemesh/ on the boot partition" >&2; exit 1; }
# I2C needs the i2c-dev module for /dev/i2c-* (raspi-config does the same).
echo i2c-dev > /etc/modules-load.d/officemesh-i2c.conf
modprobe i2c-dev 2>/dev/null || true
for deb in "$src"/*.deb; do
    [ -f "$deb" ] || continue
    DEBIAN_FRONTEND=noninteractive dpkg --force-confold -i "$deb"
done
install -d -m 0750 /etc/officemesh
install -m 0640 "$src/config.toml" /etc/officemesh/config.toml
if [ -f "$src/cluster.key" ]; then
    install -m 0640 "$src/cluster.key" /etc/officemesh/cluster.key
    rm -f "$src/cluster.key"            # the FAT partition is readable by anyone with the card
fi
if getent group officemesh >/dev/null; then
    chown -R root:officemesh /etc/officemesh
fi
if command -v officemesh >/dev/null; then
    systemctl enable officemesh.service
    systemctl start --no-block officemesh.service 2>/dev/null || true   # else: at next boot
fi
echo "officemesh firstboot: done"
EOF
boot_put "$work/firstboot.sh" officemesh/firstboot.sh
pubkey=$(head -n1 "$ssh_key" | tr -d '\r')

. "$(dirname "$0")/lib/sd-firstboot.sh"
merge="$(dirname "$0")/lib/sd-merge.py"
strip_hook() {  # cmdline.txt without a first-run hook
  boot_read cmdline.txt | tr -d '\r\n' | sed -E 's/ ?systemd\.run[^ ]*//g; s/ ?systemd\.unit=kernel-command-line\.target//g'
}
if [ "$method" = cloud-init ]; then
  cat > "$work/ours.yaml" <<EOF
#cloud-config
# written by deploy/prepare-sd.sh (officemesh node $name)
hostname: $name
manage_etc_hosts: true
users:
  - name: $user
    groups: [sudo, adm, gpio, i2c, spi]
    shell: /bin/bash
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    lock_passwd: true
    ssh_authorized_keys:
      - "$pubkey"
ssh_pwauth: false
runcmd:
  - [systemctl, enable, --now, ssh]
  - [sh, -c, "if [ -f /boot/firmware/officemesh/firstboot.sh ]; then sh /boot/firmware/officemesh/firstboot.sh; else sh /boot/officemesh/firstboot.sh; fi"]
EOF
  base=$(orig_of user-data user-data.orig)
  python3 "$merge" user-data "$base" "$work/ours.yaml" "$work/user-data" || die "cannot merge user-data"
  if [ "$base" != - ]; then
    sed -i "1a # officemesh steps added by deploy/prepare-sd.sh; the card's own are in officemesh/user-data.orig" "$work/user-data"
  fi
  boot_put "$work/user-data" user-data
  if [ -n "$wifi_ssid" ]; then   # else: a network-config Imager wrote stays as it is
    python3 "$merge" network-config "$wifi_ssid" "$wifi_psk_hex" "$wifi_country" "$work/network-config"
    boot_put "$work/network-config" network-config
  fi
  # A new instance-id makes cloud-init treat the next boot as a first boot again.
  printf 'instance-id: officemesh-%s-%s\n' "$name" "$(date +%s)" > "$work/meta-data"
  boot_put "$work/meta-data" meta-data
  boot_rm firstrun.sh
  { strip_hook; echo; } > "$work/cmdline.txt"
  boot_put "$work/cmdline.txt" cmdline.txt
else
  base=$(orig_of firstrun.sh firstrun.orig.sh)
  # userconf.txt "user:*": no password login at all (SSH key only). A card Imager customised
  # makes its first user in its own firstrun.sh: then (and over an userconf.txt not ours) none.
  if [ "$base" = - ] && { ! boot_exists userconf.txt || boot_read userconf.txt | grep -q ':\*$'; }; then
    printf '%s:*\n' "$user" > "$work/userconf.txt"
    boot_put "$work/userconf.txt" userconf.txt
  fi
  firstrun_block > "$work/block.sh"
  python3 "$merge" firstrun "$base" "$work/block.sh" "$work/firstrun.sh" || die "cannot merge firstrun.sh"
  boot_put "$work/firstrun.sh" firstrun.sh
  { strip_hook
    printf ' systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n'
  } > "$work/cmdline.txt"
  boot_put "$work/cmdline.txt" cmdline.txt
fi

echo "prepared ${image:-$boot_dir} for node '$name' in room '$room' (first boot: $method)"
if [ -n "${api_token_generated:-}" ]; then
  echo "api.token for '$name' (generated; the CLI and dashboard need it: --token / OFFICEMESH_TOKEN): $api_token"
fi
