#!/usr/bin/env bash
# The rolling-upgrade drill through deploy/fleet-deploy.sh: four local "Pis" (officemesh agents
# on 127.0.0.21-24, real processes gossiping over Noise with one cluster key) start on the
# previous release (git db6ff62, built by deploy/build-previous-release.sh, cached), each gets
# a write; then fleet-deploy.sh rolls this build out one Pi at a time through the stand-in
# ssh/scp (deploy/tests/standin/), its convergence gate comparing each Pi's /v1/state/hash with
# the three others (old and new mixed; at the lowest gossip protocol among them), with writes on
# an old and a new Pi between the steps. No chat bot here (the Rust drill,
# rolling_upgrade::with_a_chat_bot_…, covers the chat_adapter rule and downgrades).
# After every step every write must be on every Pi. Then one Pi is downgraded the same way.
# Prints how long each step took. No traffic leaves 127.0.0.0/8.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/tests/lib.sh

echo "==> building the host binary (cargo build -p officemesh) and the previous release"
cargo build -q --locked -p officemesh
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/officemesh
[ -x "$bin" ] || fail "no host binary at $bin"
t0=$(date +%s)
old=$(./deploy/build-previous-release.sh) || skip_or_fail "cannot build the previous release (git db6ff62)"
echo "    previous release: $old ($(( $(date +%s) - t0 )) s)"

t=$(mktemp -d)
export FLEET_TEST_DIR=$t
hosts=(127.0.0.21 127.0.0.22 127.0.0.23 127.0.0.24)
stop_all() {
  for h in "${hosts[@]}"; do
    if [ -f "$t/$h/pid" ]; then kill "$(cat "$t/$h/pid")" 2>/dev/null || true; fi
  done
  sleep 0.3
  rm -rf "$t"
}
trap stop_all EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api_port=$(free_port)
gossip_port=$(free_port)
"$bin" keygen --out "$t/cluster.key" > /dev/null
for h in "${hosts[@]}"; do
  mkdir -p "$t/$h/bin"
  cp "$old" "$t/$h/bin/officemesh"
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
seeds = ["127.0.0.21:$gossip_port", "127.0.0.22:$gossip_port"]
key_file = "$t/cluster.key"
interval_ms = 200
[presence]
interface = ""
CONF
done
export SSH="$PWD/deploy/tests/standin/ssh" SCP="$PWD/deploy/tests/standin/scp"
export API_URL="http://{host}:$api_port" REMOTE_BIN="$t/{host}/bin/officemesh" REMOTE_TMP="$t"
export POLL_S=0.2 HEALTH_TIMEOUT_S=60 CONVERGE_TIMEOUT_S=60
for h in "${hosts[@]}"; do FLEET_HOST=$h PATH="$PWD/deploy/tests/standin/remote-bin:$PATH" systemctl restart officemesh; done

written=()
# write HOST NAME: a colleague registers a phone on that Pi; counts once acknowledged (201).
write() {
  local mac
  mac=$(printf '02:00:00:00:00:%02x' "${#written[@]}")
  python3 - "http://$1:$api_port/v1/people" "$2" "$mac" <<'PY' || fail "$1 did not acknowledge the write '$2'"
import json, sys, urllib.request
url, name, mac = sys.argv[1:]
req = urllib.request.Request(url, data=json.dumps({"name": name, "mac": mac}).encode(),
                             headers={"Content-Type": "application/json"}, method="POST")
for _ in range(100):  # the Pi may still be starting
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            sys.exit(0 if r.status == 201 else 1)
    except urllib.error.HTTPError as e:
        print(e.read().decode(), file=sys.stderr); sys.exit(1)
    except OSError:
        import time; time.sleep(0.2)
sys.exit(1)
PY
  written+=("$2")
}
# everywhere STEP: waits until every Pi holds every acknowledged write; prints how long.
everywhere() {
  local start; start=$(date +%s%N)
  python3 - "$api_port" "$1" "${written[@]}" -- "${hosts[@]}" <<'PY' || fail "$1: a write did not reach every Pi within 60 s"
import json, sys, time, urllib.request
args = sys.argv[1:]
port, step = args[0], args[1]
sep = args.index("--")
names, hosts = set(args[2:sep]), args[sep + 1:]
deadline = time.time() + 60
while True:
    missing = {}
    for h in hosts:
        try:
            with urllib.request.urlopen(f"http://{h}:{port}/v1/people", timeout=5) as r:
                have = {p["name"] for p in json.load(r)["people"]}
        except OSError as e:
            have = set()
        if not names <= have:
            missing[h] = sorted(names - have)
    if not missing:
        break
    if time.time() > deadline:
        print(f"{step}: missing {missing}", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.1)
PY
  echo "    $1: every write on every Pi after $(( ($(date +%s%N) - start) / 1000000 )) ms"
}
# deploy HOST PACKAGE LOG: fleet-deploy.sh to HOST (checked against the three others), each
# output line prefixed with the seconds since the start; prints when it was up and converged.
deploy() {
  local h=$1 package=$2 log=$3 start line
  start=$(date +%s%N)
  set +e
  PEERS="$(others "$h")" ./deploy/fleet-deploy.sh "$package" "$h" 2>&1 | while IFS= read -r line; do
    printf '%6d ms %s\n' "$(( ($(date +%s%N) - start) / 1000000 ))" "$line"
  done > "$log"
  local status=${PIPESTATUS[0]}
  set -e
  [ "$status" = 0 ] || { cat "$log" >&2; fail "fleet-deploy.sh $(basename "$package") to $h failed"; }
  assert_contains "$log" "[$h] converged with" "$h converged with the mixed mesh"
  echo "    $(basename "$(dirname "$package")")/$(basename "$package") to $h: restart at $(grep -F 'installing and restarting' "$log" | awk '{print $1}') ms, up at $(grep -F "[$h] up:" "$log" | awk '{print $1}') ms, listed alive with equal hashes at $(grep -F "[$h] converged" "$log" | awk '{print $1}') ms"
}
others() { local h; for h in "${hosts[@]}"; do [ "$h" = "$1" ] || printf '%s ' "$h"; done; }

for h in "${hosts[@]}"; do write "$h" "before-${h##*.}"; done
everywhere "all four on the previous release"

for i in 0 1 2 3; do
  h=${hosts[$i]}
  [ "$i" -lt 3 ] && write "${hosts[3]}" "old-side-before-${h##*.}"
  [ "$i" -gt 0 ] && write "${hosts[0]}" "new-side-before-${h##*.}"
  deploy "$h" "$bin" "$t/step-$i.log"
  write "$h" "after-upgrade-${h##*.}"
  [ "$i" -lt 3 ] && write "${hosts[3]}" "old-side-after-${h##*.}"
  everywhere "upgraded $h"
done
pass "four Pis rolled forward one at a time with fleet-deploy.sh; every write on every Pi at every step"

h=${hosts[3]}
deploy "$h" "$old" "$t/down.log"
write "$h" "after-downgrade"
write "${hosts[0]}" "new-side-after-downgrade"
everywhere "downgraded $h"
pass "a downgrade to the previous release is supported: it converges and keeps every write"
echo "rolling-upgrade: all checks passed"
