#!/usr/bin/env bash
# Builds the agent for each Raspberry Pi target with deploy/build-pi.sh and runs the binaries on
# this x86_64 machine under qemu user-mode emulation, each on the CPU of the oldest Pi it is for:
#   aarch64  qemu-aarch64-static -cpu cortex-a53   (Pi 3 / Zero 2 W)
#   armv7    qemu-arm-static -cpu cortex-a7        (Pi 2 v1.1)
#   armv6    qemu-arm-static -cpu arm1176          (Pi 1 / Zero: an ARMv7 instruction traps)
#
#   ./deploy/test-pi-builds.sh              # all three (as root: installs what is missing)
#   ./deploy/test-pi-builds.sh armv7 armv6  # only these
#
# Per target it checks:
#   - the last output line of build-pi.sh is an executable, statically linked ARM binary;
#   - `officemesh --version` prints the version;
#   - an agent run with a config naming a BME280 on /dev/i2c-1 (absent on this machine) and a
#     sim sensor: passes only when the agent keeps running, serves /healthz, serves the sim
#     sensor's readings and lists the BME280 in GET /v1/sensors as `failed` with /dev/i2c-1 in
#     its error (a missing sensor never stops a node). An agent that exits over the missing
#     sensor fails the test. It prints the BME280's row and the log lines about it;
#   - armv6 only: no ARMv7-only instruction (movw/movt, dmb/dsb/isb, bitfield, divide, rbit, mls,
#     NEON) in the binary's code, by objdump, including the C parts (SQLite, ring, glibc), except
#     in ring's NEON routines, which ring runs only on a CPU that reports NEON (never an ARM1176).
# Then a table: build time and stripped size per target (docs/performance.md, "Deployment").
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(aarch64 armv7 armv6)
for t in "${targets[@]}"; do
  case "$t" in aarch64|armv7|armv6) ;; *) echo "unknown target $t (aarch64, armv7, armv6)" >&2; exit 2 ;; esac
done

if ! command -v qemu-arm-static >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
  if [ "$(id -u)" != 0 ]; then echo "error: qemu-user-static missing (apt-get install qemu-user-static)" >&2; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi

work=$(mktemp -d)
agent=""
cleanup() {
  if [ -n "$agent" ]; then kill "$agent" 2>/dev/null || true; wait "$agent" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL [$target]: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

summary=()
for target in "${targets[@]}"; do
  case "$target" in
    aarch64) qemu=(qemu-aarch64-static -cpu cortex-a53) ;;
    armv7)   qemu=(qemu-arm-static -cpu cortex-a7) ;;
    armv6)   qemu=(qemu-arm-static -cpu arm1176) ;;
  esac
  echo "===== $target: deploy/build-pi.sh $target"
  t0=$(date +%s)
  ./deploy/build-pi.sh "$target" 2>&1 | tee "$work/build.log"
  build_s=$(( $(date +%s) - t0 ))
  bin=$(tail -n1 "$work/build.log")
  [ -x "$bin" ] || fail "the last line of build-pi.sh, '$bin', is not an executable"
  file -b "$bin" > "$work/file" 2>&1 || true
  grep -q 'statically linked' "$work/file" || fail "$bin is not statically linked: $(cat "$work/file")"
  grep -q 'ARM' "$work/file" || fail "$bin is not an ARM binary: $(cat "$work/file")"

  echo "==> [$target] ${qemu[*]} officemesh --version"
  version=$("${qemu[@]}" "$bin" --version 2>&1) || fail "--version failed under ${qemu[*]}: $version"
  [[ "$version" == officemesh\ * ]] || fail "--version printed '$version'"
  echo "    $version"

  if [ "$target" = armv6 ]; then
    echo "==> [$target] scanning the code for ARMv7-only instructions (objdump)"
    # The unstripped build (cargo's output): its mapping symbols keep literal pools ($d) from
    # being decoded as instructions.
    unstripped=$(sed -n 's/^==> built \(.*\) in [0-9]* s$/\1/p' "$work/build.log" | tail -n1)
    [ -f "$unstripped" ] || fail "no unstripped binary named in the build output"
    # shellcheck source=deploy/lib/pi32-chroot.sh
    . deploy/lib/pi32-chroot.sh
    # "function<TAB>mnemonic" for every instruction (function = the last symbol objdump named).
    # shellcheck disable=SC2016
    pi32_chroot_run -- sh -c 'arm-linux-gnueabi-objdump -d --no-show-raw-insn "$0" | awk -F"\t" '"'"'
        /^[0-9a-f]+ <.*>:$/ { fn = $0; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn); next }
        NF >= 2 && $1 ~ /^ *[0-9a-f]+:$/ { split($2, m, /[ .]/); n[fn "\t" m[1]]++ }
        END { for (k in n) print k "\t" n[k] }'"'"'' "$unstripped" > "$work/mnemonics"
    [ -s "$work/mnemonics" ] || fail "objdump found no instructions in $unstripped"
    # ARMv6T2/ARMv7 only (ARM1176 is ARMv6KZ: ldrex{b,h,d}, clrex, wfe/sev are fine), and NEON.
    v7='^(movw|movt|ubfx|sbfx|bfi|bfc|mls|rbit|sdiv|udiv)(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)?$|^(dmb|dsb|isb|pldw|vld[1-4]|vst[1-4]|vmovl|vmovn|vadd|vsub|vmul|vmla|vmlal|vmull|veor|vand|vorr|vbic|vbsl|vdup|vext|vrev(16|32|64)|vshl|vshr|vsli|vsri|vtbl|vzip|vuzp|vtrn|vqadd|vqsub|vpadd|vceq|vcgt|vcge)$'
    # ring's NEON routines (its ARM assembly: bsaes/vpaes AES, x25519 and poly1305 NEON with their
    # local labels, *_neon): ring calls them only when the kernel reports NEON (AT_HWCAP), which
    # an ARM1176 never does. The only ARMv7 code allowed, and only there.
    ring_neon='^(ring_core_[0-9_]+__.*(neon|NEON|bsaes|vpaes).*|_bsaes_.*|_vpaes_.*|\._(mainloop|mainloop2|invertloop|skippostcopy|skipsquaringloop|squaringloop|end))$'
    awk -F'\t' -v v7="$v7" '$2 ~ v7' "$work/mnemonics" > "$work/armv7-all"
    awk -F'\t' -v ok="$ring_neon" '$1 !~ ok' "$work/armv7-all" > "$work/armv7-only"
    if [ -s "$work/armv7-only" ]; then
      fail "ARMv7-only instructions in the ARMv6 binary (function, mnemonic, count): $(head -20 "$work/armv7-only" | tr '\n\t' '; ')"
    fi
    echo "    $(awk -F'\t' '{s += $3} END {print s}' "$work/mnemonics") instructions; ARMv7/NEON ones only in ring's" \
         "NEON routines, selected at run time when the CPU has NEON: $(awk -F'\t' '{s += $3} END {print s + 0}' "$work/armv7-all")" \
         "in $(cut -f1 "$work/armv7-all" | sort -u | wc -l) functions"
  fi

  echo "==> [$target] a 6 s agent run under ${qemu[*]}: BME280 on /dev/i2c-1 (absent) + a sim sensor"
  port=$(free_port); gport=$(free_port)
  rm -rf "$work/data"
  cat > "$work/config.toml" <<CONF
[node]
name = "pi-$target"
room = "lab"
[storage]
data_dir = "$work/data"
[api]
listen = "127.0.0.1:$port"
[gossip]
listen = "127.0.0.1:$gport"
insecure = true
[presence]
interface = "sim"
[[sensors]]
driver = "bme280"
name = "desk-bme"
i2c_bus = 1
[[sensors]]
driver = "sim"
name = "desk"
poll_interval_s = 1
CONF
  "${qemu[@]}" "$bin" run --config "$work/config.toml" > "$work/agent.log" 2>&1 &
  agent=$!
  # Wait for the fact itself: the sim sensor ok and the BME280 reported failed over /dev/i2c-1
  # (every sensor starts as failed "not opened yet" until its loop has tried). Up to 60 s: qemu.
  row=""
  for _ in $(seq 1 300); do
    if row=$(python3 - "$port" "pi-$target" 2>/dev/null <<'PY'
import json, sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
h = json.load(urllib.request.urlopen(base + "/healthz", timeout=2))
assert h["status"] == "ok" and h["name"] == sys.argv[2], h
rows = {r["name"]: r for r in json.load(urllib.request.urlopen(base + "/v1/sensors", timeout=2))["sensors"]}
bme, desk = rows["desk-bme"], rows["desk"]
assert desk["status"] == "ok", desk
assert bme["error"] != "not opened yet", bme
assert bme["status"] == "failed" and "/dev/i2c-1" in bme["error"], bme
readings = json.load(urllib.request.urlopen(base + "/v1/readings", timeout=2))["readings"]
assert any(r["sensor"] == "desk" for r in readings), readings
print(json.dumps(bme))
PY
    ); then break; fi
    row=""
    if ! kill -0 "$agent" 2>/dev/null; then
      status=0; wait "$agent" 2>/dev/null || status=$?; agent=""
      echo "--- agent log:" >&2; cat "$work/agent.log" >&2
      fail "the agent exited (status $status) over the missing BME280: a missing sensor must be reported failed while the node keeps running"
    fi
    sleep 0.2
  done
  if [ -z "$row" ]; then
    echo "--- agent log:" >&2; cat "$work/agent.log" >&2
    fail "within 60 s the agent did not serve the sim readings and list the BME280 as failed on /dev/i2c-1"
  fi
  kill -0 "$agent" 2>/dev/null || fail "the agent stopped after reporting the BME280; its log: $(cat "$work/agent.log")"
  kill "$agent" 2>/dev/null || true
  wait "$agent" 2>/dev/null || true
  agent=""
  grep -i 'bme280\|desk-bme\|i2c' "$work/agent.log" | head -n 5 > "$work/bme.log" || true
  outcome="kept running, served the sim readings and reported the BME280 failed"
  echo "    $outcome: $row; its log about it:"
  sed 's/^/      /' "$work/bme.log"
  summary+=("$(printf '%-8s build %4d s  %9d bytes stripped  %s: %s' "$target" "$build_s" "$(stat -c %s "$bin")" "${qemu[*]}" "${outcome%%;*}")")
done
echo "===== Pi builds under qemu: all passed"
printf '%s\n' "${summary[@]}"
