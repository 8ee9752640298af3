# shellcheck shell=bash
# First-boot pieces of deploy/prepare-sd.sh (sourced by it, nothing else): officemesh's block of
# firstrun.sh, its Wi-Fi steps, and how the card's own first-boot files are found and kept.
# Uses prepare-sd.sh's variables (name, user, pubkey, wifi_*, work) and its boot_* functions;
# writes only to stdout and $work, and to the card only through boot_put.

q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }   # shell single-quoting

# orig_of CARD_FILE SAVED: the card's file as Imager (or the OS image) wrote it, before
# prepare-sd first touched it; saved once as officemesh/SAVED so reruns merge into the same
# original. Prints the local copy's path, or "-" when there is none (or only ours, or only
# comments such as the stock "#cloud-config").
orig_of() {
  if boot_exists "officemesh/$2"; then boot_read "officemesh/$2" > "$work/$2"; echo "$work/$2"; return; fi
  if boot_exists "$1"; then
    boot_read "$1" > "$work/$2"
    if ! grep -q 'deploy/prepare-sd\.sh' "$work/$2" && grep -qvE '^[[:space:]]*(#.*)?$' "$work/$2"; then
      boot_put "$work/$2" "officemesh/$2"; echo "$work/$2"; return
    fi
  fi
  echo -
}

# firstrun_block: officemesh's steps in firstrun.sh (POSIX sh, OM_ names: they run inside
# Imager's script when the card has one, after Imager's own steps and before its clean-up).
firstrun_block() {
  cat <<EOF
# --- officemesh (deploy/prepare-sd.sh): host name, admin user, Wi-Fi, officemesh/firstboot.sh ---
OM_BOOT=/boot; [ -f /boot/firmware/cmdline.txt ] && OM_BOOT=/boot/firmware
OM_NAME='$name'
OM_USER='$user'
echo "\$OM_NAME" > /etc/hostname
sed -i "s/^127\\.0\\.1\\.1.*/127.0.1.1\\t\$OM_NAME/" /etc/hosts
grep -q '^127\\.0\\.1\\.1' /etc/hosts || printf '127.0.1.1\\t%s\\n' "\$OM_NAME" >> /etc/hosts
OM_HOME=\$(getent passwd "\$OM_USER" | cut -d: -f6)
if [ -z "\$OM_HOME" ]; then
    useradd --create-home --shell /bin/bash "\$OM_USER"
    OM_HOME=\$(getent passwd "\$OM_USER" | cut -d: -f6)
fi
for g in sudo adm gpio i2c spi; do getent group \$g >/dev/null && usermod -aG \$g "\$OM_USER"; done
install -d -m 700 -o "\$OM_USER" -g "\$OM_USER" "\$OM_HOME/.ssh"
grep -qxF '$pubkey' "\$OM_HOME/.ssh/authorized_keys" 2>/dev/null || echo '$pubkey' >> "\$OM_HOME/.ssh/authorized_keys"
chown "\$OM_USER:\$OM_USER" "\$OM_HOME/.ssh/authorized_keys"
chmod 600 "\$OM_HOME/.ssh/authorized_keys"
if [ -d /etc/sudoers.d ]; then
    echo "\$OM_USER ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/010_officemesh-admin
    chmod 440 /etc/sudoers.d/010_officemesh-admin
fi
systemctl enable ssh
EOF
  [ -z "$wifi_ssid" ] || wifi_block
  cat <<'EOF'
sh "$OM_BOOT/officemesh/firstboot.sh"
# --- end officemesh ---
EOF
}

# wifi_block: Wi-Fi the way Imager's firstrun.sh sets it (imager_custom set_wlan with the hashed
# PSK, else wpa_supplicant.conf), with the country that lifts the radio's rfkill block.
wifi_block() {
  local ssid_hex
  ssid_hex=$(printf '%s' "$wifi_ssid" | od -An -tx1 | tr -d ' \n')
  cat <<EOF
if [ -f /usr/lib/raspberrypi-sys-mods/imager_custom ]; then
   /usr/lib/raspberrypi-sys-mods/imager_custom set_wlan $(q "$wifi_ssid") $(q "$wifi_psk_hex") $(q "$wifi_country")
else
cat >/etc/wpa_supplicant/wpa_supplicant.conf <<'WPAEOF'
country=$wifi_country
ctrl_interface=DIR=/var/run/wpa_supplicant GROUP=netdev
ap_scan=1

update_config=1
network={
	ssid=$ssid_hex
EOF
  if [ -n "$wifi_psk_hex" ]; then
    printf '\tkey_mgmt=WPA-PSK SAE\n\tpsk=%s\n\tieee80211w=1\n' "$wifi_psk_hex"
  else
    printf '\tkey_mgmt=NONE\n'
  fi
  cat <<'EOF'
}
WPAEOF
   chmod 600 /etc/wpa_supplicant/wpa_supplicant.conf
   rfkill unblock wifi
   for filename in /var/lib/systemd/rfkill/*:wlan ; do
       echo 0 > $filename
   done
fi
EOF
}
