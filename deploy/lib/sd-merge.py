#!/usr/bin/env python3
"""Merges officemesh's first-boot steps into what Raspberry Pi Imager already wrote on a card.

Used by deploy/prepare-sd.sh (standard library only; runs on the machine preparing the card).
It reads and writes local files only; prepare-sd.sh copies them to and from the boot partition.

  sd-merge.py firstrun BASE|- BLOCK OUT     Imager's firstrun.sh (BASE) with BLOCK inserted before
                                            its own clean-up ("rm -f /boot/firstrun.sh"), every
                                            step of BASE kept; "-": a firstrun.sh of our own
  sd-merge.py user-data BASE|- OURS OUT     Imager's cloud-init user-data with our keys added:
                                            list keys (users, runcmd) get our items appended,
                                            hostname/manage_etc_hosts are ours, others theirs
  sd-merge.py network-config SSID PSK CC OUT  a netplan v2 network-config the way Imager writes
                                            it (eth0 DHCP kept, wlan0 with regulatory-domain)
  sd-merge.py psk SSID PASSPHRASE           prints the 64-hex WPA PSK (PBKDF2, as Imager stores it)
"""
import hashlib
import re
import sys

CLEANUP = re.compile(r"^\s*rm -f (/boot|/boot/firmware|\"?\$BOOT\"?)/firstrun\.sh")
TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*):(.*)$")
LIST_KEYS = ("users", "runcmd", "packages", "groups")
OURS_WIN = ("hostname", "manage_etc_hosts")

OWN_TAIL = """BOOT=/boot; [ -f /boot/firmware/cmdline.txt ] && BOOT=/boot/firmware
rm -f "$BOOT/firstrun.sh"
sed -i 's| systemd.run.*||g' "$BOOT/cmdline.txt"
exit 0
"""


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def firstrun(base_path, block_path, out_path):
    block = read(block_path).rstrip("\n").split("\n")
    if base_path == "-":
        head = ["#!/bin/sh", "# officemesh first run (written by deploy/prepare-sd.sh), started once",
                "# through cmdline.txt's systemd.run= like Raspberry Pi Imager's firstrun.sh;",
                "# removes itself, then the Pi reboots.", "", "set +e", ""]
        text = "\n".join(head + block) + "\n" + OWN_TAIL
    else:
        lines = read(base_path).replace("\r\n", "\n").rstrip("\n").split("\n")
        at = next((i for i, l in enumerate(lines) if CLEANUP.match(l)), None)
        if at is None:
            # no clean-up of its own: ours goes last, then ours removes the script
            text = "\n".join(lines + block) + "\n" + OWN_TAIL
        else:
            text = "\n".join(lines[:at] + block + lines[at:]) + "\n"
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)


def blocks(text):
    """Top-level YAML blocks: [(key or None, [lines])], in order; None = comments/blank head."""
    out = [(None, [])]
    for line in text.replace("\r\n", "\n").rstrip("\n").split("\n"):
        m = TOP_KEY.match(line)
        if m:
            out.append((m.group(1), [line]))
        else:
            out[-1][1].append(line)
    return out


def item_indent(lines):
    """The indent of a block's list items ("- x" at column 0 or indented)."""
    for l in lines[1:]:
        m = re.match(r"^(\s*)- ", l)
        if m:
            return m.group(1)
    return None


def reindent(items, indent):
    """Our list item lines (written with two spaces) moved to the base block's indent."""
    return [indent + l[2:] if l.startswith("  ") else l for l in items]


def user_data(base_path, ours_path, out_path):
    ours = blocks(read(ours_path))
    if base_path == "-":
        merged = ours
    else:
        merged = blocks(read(base_path))
        keys = {k: i for i, (k, _) in enumerate(merged)}
        for key, lines in ours[1:]:
            if key not in keys:
                if key == "users" and "user" in keys:
                    lines = [lines[0], "  - default"] + lines[1:]   # keep Imager's user
                merged.append((key, lines))
            elif key in LIST_KEYS:
                base = merged[keys[key]][1]
                while base and base[-1].strip() == "":
                    base.pop()
                indent = item_indent(base)
                base.extend(reindent(lines[1:], indent if indent is not None else "  "))
            elif key in OURS_WIN:
                merged[keys[key]] = (key, lines)
    text = "\n".join(l for _, ls in merged for l in ls).strip("\n") + "\n"
    if not text.startswith("#cloud-config"):
        text = "#cloud-config\n" + text
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)


def yaml_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def network_config(ssid, psk, country, out_path):
    lines = ["network:", "  version: 2", "  ethernets:", "    eth0:", "      dhcp4: true",
             "      dhcp6: true", "      optional: true", "  wifis:", "    wlan0:",
             "      dhcp4: true", "      regulatory-domain: " + yaml_quote(country),
             "      access-points:", "        " + yaml_quote(ssid) + ":"]
    if psk:
        lines.append("          password: " + yaml_quote(psk))
    else:
        lines += ["          auth:", "            key-management: none"]
    lines.append("      optional: true")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("# written by deploy/prepare-sd.sh (Wi-Fi, like Raspberry Pi Imager)\n")
        f.write("\n".join(lines) + "\n")


def psk(ssid, passphrase):
    key = hashlib.pbkdf2_hmac("sha1", passphrase.encode(), ssid.encode(), 4096, 32)
    print(key.hex())


def main(argv):
    cmds = {"firstrun": (firstrun, 3), "user-data": (user_data, 3),
            "network-config": (network_config, 4), "psk": (psk, 2)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
        sys.exit(__doc__)
    fn, _ = cmds[argv[1]]
    fn(*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
