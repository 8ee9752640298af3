#!/usr/bin/env bash
# Tests deploy/fleet-deploy.sh against local "Pis" only: officemesh agents on 127.0.0.2-4 (real
# processes of the host build), reached through stand-in ssh/scp (deploy/tests/standin/) that
# run the remote commands on this machine, with shims for sudo and systemctl. No traffic leaves
# 127.0.0.0/8.
# The three Pis gossip with each other (insecure mode, seeded with 127.0.0.2): the success case
# checks each upgraded Pi against the other hosts (the default PEERS), which must see it and
# hold the same state hash. A fourth agent in another cluster (127.0.0.5) never sees the new
# node: used as PEERS it must stop the rollout with a message.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/tests/lib.sh

echo "==> building the host binary (cargo build -p officemesh)"
cargo build -q --locked -p officemesh
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/officemesh
[ -x "$bin" ] || fail "no host binary at $bin"

t=$(mktemp -d)
export FLEET_TEST_DIR=$t
hosts=(127.0.0.2 127.0.0.3 127.0.0.4)
outsider=127.0.0.5
stop_all() {
  for h in "${hosts[@]}" "$outsider"; do
    if [ -f "$t/$h/pid" ]; then kill "$(cat "$t/$h/pid")" 2>/dev/null || true; fi
  done
  sleep 0.3
  rm -rf "$t"
}
trap stop_all EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api_port=$(free_port)
gossip_port=$(free_port)
for h in "${hosts[@]}" "$outsider"; do
  cluster=office
  [ "$h" = "$outsider" ] && cluster=elsewhere
  mkdir -p "$t/$h/bin"
  cp "$bin" "$t/$h/bin/officemesh"
  cat > "$t/$h/config.toml" <<CONF
[node]
name = "pi-${h##*.}"
room = "lab"
[storage]
data_dir = "$t/$h/data"
[api]
listen = "$h:$api_port"
[gossip]
listen = "$h:$gossip_port"
seeds = ["127.0.0.2:$gossip_port"]
cluster = "$cluster"
interval_ms = 200
insecure = true
[presence]
interface = ""
CONF
done
{ cat "$bin"; printf "\0"; } > "$t/new-officemesh"; chmod +x "$t/new-officemesh"   # a different build that runs
export SSH="$PWD/deploy/tests/standin/ssh" SCP="$PWD/deploy/tests/standin/scp"
export API_URL="http://{host}:$api_port" REMOTE_BIN="$t/{host}/bin/officemesh" REMOTE_TMP="$t"
export POLL_S=0.5
# the "old version" runs on every Pi before the rollout
for h in "${hosts[@]}" "$outsider"; do FLEET_HOST=$h PATH="$PWD/deploy/tests/standin/remote-bin:$PATH" systemctl restart officemesh; done
rm -f "$t"/*/restarts
pid_of() { cat "$t/$1/pid"; }
restarts_of() { [ -f "$t/$1/restarts" ] && wc -l < "$t/$1/restarts" || echo 0; }

echo "==> rollout to 3 gossiping local Pis, each checked against the others"
old_pids=$(for h in "${hosts[@]}"; do pid_of "$h"; done)
HEALTH_TIMEOUT_S=60 CONVERGE_TIMEOUT_S=30 \
  ./deploy/fleet-deploy.sh "$bin" "${hosts[@]}" > "$t/ok.log" 2>&1 || { cat "$t/ok.log" >&2; fail "rollout failed"; }
assert_contains "$t/ok.log" "all 3 host(s) updated and converged" "rollout summary"
for h in "${hosts[@]}"; do
  [ "$(restarts_of "$h")" = 1 ] || fail "$h restarted $(restarts_of "$h") times, expected once"
  echo "$old_pids" | grep -qx "$(pid_of "$h")" && fail "$h still runs the old process"
  for p in "${hosts[@]}"; do
    [ "$p" = "$h" ] && continue
    assert_contains "$t/ok.log" "[$h] converged with" "$h checked"
    grep -F "[$h] converged with" "$t/ok.log" | grep -qF "$p" || fail "$h was not checked against $p"
  done
done
# one at a time, in the given order: each host's 'up' line comes before the next host's upload
grep -o '\[127\.0\.0\.[0-9]\] \(uploading\|up:\|converged\)' "$t/ok.log" | tr '\n' ' ' > "$t/order"
expected="[127.0.0.2] uploading [127.0.0.2] up: [127.0.0.2] converged [127.0.0.3] uploading [127.0.0.3] up: [127.0.0.3] converged [127.0.0.4] uploading [127.0.0.4] up: [127.0.0.4] converged "
[ "$(cat "$t/order")" = "$expected" ] || fail "hosts not done one at a time in order: $(cat "$t/order")"
pass "rolled out one at a time, each back and converged before the next"

echo "==> a package that skips a gossip protocol version is refused before any host"
rm -f "$t"/*/restarts
for h in "${hosts[@]}"; do
  python3 -c "import json,sys,urllib.request; sys.exit(json.load(urllib.request.urlopen('http://$h:$api_port/healthz'))['protocols'] != '1..3')" \
    || fail "$h does not say it speaks protocols 1..3 in /healthz"
done
# A later release that dropped protocols 1 and 2 (its binary carries the marker, as ours does).
# An ELF of this machine (the architecture check comes first) that carries a later marker.
cp /bin/false "$t/officemesh-p4"
printf '\nOFFICEMESH_GOSSIP_PROTOCOLS=4..5\n' >> "$t/officemesh-p4"
chmod +x "$t/officemesh-p4"
./deploy/fleet-deploy.sh "$t/officemesh-p4" "${hosts[@]}" > "$t/skips.log" 2>&1 && { cat "$t/skips.log" >&2; fail "a roll-out skipping protocol 4's predecessor went on"; }
assert_contains "$t/skips.log" "[127.0.0.2] speaks gossip protocols 1..3 but officemesh-p4 only 4..5: this roll-out skips a version" "skip refusal"
assert_contains "$t/skips.log" "Nothing was deployed" "nothing deployed"
for h in "${hosts[@]}"; do [ "$(restarts_of "$h")" = 0 ] || fail "$h was touched by a refused roll-out"; done
grep -a -q 'OFFICEMESH_GOSSIP_PROTOCOLS=1\.\.3' "$bin" || fail "the host build carries no protocol marker"
pass "a roll-out that skips a protocol version is refused; this build's marker is found"

echo "==> a peer that does not see the new node stops the rollout"
rm -f "$t"/*/restarts
PEERS="$outsider" CONVERGE_TIMEOUT_S=3 \
  ./deploy/fleet-deploy.sh "$bin" 127.0.0.2 127.0.0.4 > "$t/split.log" 2>&1 && { cat "$t/split.log" >&2; fail "rollout succeeded without convergence"; }
assert_contains "$t/split.log" "[127.0.0.2] the mesh did not converge within 3s: $outsider sees pi-2 as 'absent'" "convergence failure message"
assert_contains "$t/split.log" "the remaining hosts were not touched" "stop message"
[ "$(restarts_of 127.0.0.4)" = 0 ] || fail "127.0.0.4 was deployed after a failed host"
pass "stopped at the first host that did not converge"

echo "==> a binary that does not start stops the rollout and the Pi gets its old binary back"
rm -f "$t"/*/restarts
cp /bin/false "$t/broken"     # an ELF of this machine's architecture that exits at once
PEERS="{self}" HEALTH_TIMEOUT_S=3 \
  ./deploy/fleet-deploy.sh "$t/broken" "${hosts[@]}" > "$t/broken.log" 2>&1 && { cat "$t/broken.log" >&2; fail "rollout of a broken binary succeeded"; }
assert_contains "$t/broken.log" "[127.0.0.2] did not answer http://127.0.0.2:$api_port/healthz within 3s" "health failure message"
assert_contains "$t/broken.log" "Rolled back: 127.0.0.2 runs its earlier binary again" "rollback message"
if [ "$(restarts_of 127.0.0.3)" != 0 ] || [ "$(restarts_of 127.0.0.4)" != 0 ]; then
  fail "hosts after the failed one were touched"
fi
[ "$(restarts_of 127.0.0.2)" = 2 ] || fail "127.0.0.2 restarted $(restarts_of 127.0.0.2) times, expected 2 (new, then rollback)"
cmp -s "$t/127.0.0.2/bin/officemesh" "$bin" || fail "127.0.0.2 does not hold its earlier binary after the rollback"
curl -sf "http://127.0.0.2:$api_port/healthz" > /dev/null || fail "127.0.0.2 does not answer /healthz after the rollback"
pass "stopped at the first host that did not come back, and rolled it back"

echo "==> a Pi that does not rejoin is rolled back"
rm -f "$t"/*/restarts
PEERS="$outsider" CONVERGE_TIMEOUT_S=3 \
  ./deploy/fleet-deploy.sh "$t/new-officemesh" 127.0.0.3 > "$t/rejoin.log" 2>&1 && { cat "$t/rejoin.log" >&2; fail "rollout succeeded without convergence"; }
assert_contains "$t/rejoin.log" "Rolled back: 127.0.0.3 runs its earlier binary again" "rollback after no convergence"
cmp -s "$t/127.0.0.3/bin/officemesh" "$bin" || fail "127.0.0.3 was not given its earlier binary back"
pass "a Pi that does not rejoin gets its earlier binary back"

echo "==> a binary for another architecture is refused before any Pi is touched"
rm -f "$t"/*/restarts
# this machine's binary with e_machine set to AArch64 (183), as an aarch64 build's header reads
python3 - "$bin" "$t/officemesh-aarch64" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[18:20] = (183).to_bytes(2, "little")
open(sys.argv[2], "wb").write(data)
PY
FLEET_UNAME_M=armv7l ./deploy/fleet-deploy.sh "$t/officemesh-aarch64" "${hosts[@]}" > "$t/arch.log" 2>&1 \
  && { cat "$t/arch.log" >&2; fail "an aarch64 binary went to armv7l Pis"; }
assert_contains "$t/arch.log" "[127.0.0.2] refusing officemesh-aarch64: it is a AArch64 (64-bit ARM) binary and the host is armv7l (uname -m). Nothing was deployed" "architecture refusal"
./deploy/fleet-deploy.sh "$t/officemesh-aarch64" "${hosts[@]}" > "$t/arch2.log" 2>&1 \
  && { cat "$t/arch2.log" >&2; fail "an aarch64 binary went to x86_64 hosts"; }
assert_contains "$t/arch2.log" "the host is $(uname -m) (uname -m)" "refused on this machine's own architecture"
mkdir -p "$t/pkg/DEBIAN" "$t/pkg/usr/bin"
cp "$t/officemesh-aarch64" "$t/pkg/usr/bin/officemesh"
printf 'Package: officemesh\nVersion: 0.9\nArchitecture: arm64\nMaintainer: t <t@example.invalid>\nDescription: t\n' > "$t/pkg/DEBIAN/control"
dpkg-deb --root-owner-group -b "$t/pkg" "$t/officemesh_0.9_arm64.deb" > /dev/null
FLEET_UNAME_M=armv6l ./deploy/fleet-deploy.sh "$t/officemesh_0.9_arm64.deb" "${hosts[@]}" > "$t/arch3.log" 2>&1 \
  && { cat "$t/arch3.log" >&2; fail "an arm64 package went to armv6l Pis"; }
assert_contains "$t/arch3.log" "refusing officemesh_0.9_arm64.deb: it is a AArch64 (64-bit ARM) binary and the host is armv6l" "package's binary checked"
for h in "${hosts[@]}"; do [ "$(restarts_of "$h")" = 0 ] || fail "$h was touched by a refused rollout"; done
[ -z "$(ls "$t"/officemesh-deploy-* 2>/dev/null)" ] || fail "a refused binary was uploaded"
# 32-bit ARM: the .ARM.attributes section's Tag_CPU_arch tells an ARMv7 build from an ARMv6 one
# (an ELF32 as the armv7/armv6 toolchains write it: header, attributes, section names)
arm_elf() {  # arm_elf CPU_ARCH FILE
  python3 - "$1" "$2" <<'PY'
import struct, sys
cpu = int(sys.argv[1])
vendor = b"aeabi\0"
tags = b"\x05" + b"7-A\0" + b"\x06" + bytes([cpu]) + b"\x08\x01\x09\x02"   # CPU_name, CPU_arch, ARM/Thumb ISA
file_sub = b"\x01" + struct.pack("<I", 5 + len(tags)) + tags
attrs = b"A" + struct.pack("<I", 4 + len(vendor) + len(file_sub)) + vendor + file_sub
names = b"\0.ARM.attributes\0.shstrtab\0"
attrs_off = 52; names_off = attrs_off + len(attrs); sh_off = (names_off + len(names) + 3) & ~3
sh = [struct.pack("<IIIIIIIIII", *([0] * 10)),
      struct.pack("<IIIIIIIIII", 1, 0x70000003, 0, 0, attrs_off, len(attrs), 0, 0, 1, 0),
      struct.pack("<IIIIIIIIII", 17, 3, 0, 0, names_off, len(names), 0, 0, 1, 0)]
hdr = b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, 0x10000, 0, sh_off, 0x5000400, 52, 32, 0, 40, 3, 2)
body = hdr + attrs + names
body += bytes(sh_off - len(body)) + b"".join(sh)
open(sys.argv[2], "wb").write(body)
PY
}
arm_elf 10 "$t/armv7.elf"; arm_elf 6 "$t/armv6.elf"
python3 deploy/lib/elf-arch.py "$t/armv7.elf" armv7l || fail "an ARMv7 build must run on armv7l"
python3 deploy/lib/elf-arch.py "$t/armv6.elf" armv6l || fail "an ARMv6 build must run on armv6l"
python3 deploy/lib/elf-arch.py "$t/armv6.elf" aarch64 || fail "a 32-bit ARM build runs on a 64-bit Pi kernel"
if why=$(python3 deploy/lib/elf-arch.py "$t/armv7.elf" armv6l); then fail "an ARMv7 build accepted for armv6l"; fi
[[ "$why" == *"32-bit ARM (ARMv7) binary and an ARMv6 Pi (Pi 1/Zero/Zero W) cannot run ARMv7 code"* ]] || fail "ARMv7-on-ARMv6 reason: $why"
pass "wrong architecture refused up front"

echo "==> --build TARGET: a failed build deploys nothing"
rm -f "$t"/*/restarts
printf '#!/bin/sh\necho "$*" > "%s/build.args"\necho "compile error" >&2\nexit 1\n' "$t" > "$t/build-pi"
chmod +x "$t/build-pi"
OFFICEMESH_BUILD_PI="$t/build-pi" ./deploy/fleet-deploy.sh --build armv6 "${hosts[@]}" > "$t/build.log" 2>&1 \
  && { cat "$t/build.log" >&2; fail "rollout went on after a failed build"; }
[ "$(cat "$t/build.args")" = "armv6 --deb" ] || fail "--build armv6 ran build-pi.sh $(cat "$t/build.args")"
assert_contains "$t/build.log" "build-pi.sh armv6 --deb failed; nothing was deployed" "build failure message"
for h in "${hosts[@]}"; do [ "$(restarts_of "$h")" = 0 ] || fail "$h was touched after a failed build"; done
pass "a failed build stops before the first host"

echo "==> the stand-ins refuse addresses outside 127.0.0.0/8"
if "$SSH" 192.0.2.1 true 2>/dev/null; then fail "stand-in ssh accepted a non-loopback host"; fi
pass "loopback only"
echo "fleet-deploy: all checks passed"
