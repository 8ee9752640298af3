#!/usr/bin/env bash
# Rolling deploy of a new officemesh .deb (or bare binary) to a list of Pis over SSH, one Pi at
# a time. After each Pi it waits until that Pi answers /healthz again, is listed as alive in
# /v1/nodes of its peers, and every peer's /v1/state/hash equals its own (the mesh converged;
# compared at the lowest gossip protocol among them: docs/deploy.md, "Upgrading an office");
# only then does it go on. It stops at the first failure and says which Pi and why; the Pis
# not yet reached keep the old version.
# Before touching any Pi it reads the binary's ELF header (the .deb's /usr/bin/officemesh) and
# every Pi's `uname -m`, and refuses a binary the Pi cannot run (an aarch64 build for a 32-bit
# Pi, an ARMv7 build for a Pi 1/Zero). A Pi that does not come back (no /healthz) or does not
# rejoin (peers do not list it, hashes differ) is rolled back: the binary it ran before
# (kept as REMOTE_BIN.fleet-prev on the Pi) is put back and restarted.
#
#   deploy/fleet-deploy.sh officemesh_0.2.0-1_arm64.deb admin@192.0.2.11 admin@192.0.2.12 ...
#   deploy/fleet-deploy.sh target/cross/officemesh-aarch64 --hosts-file pis.txt
#   deploy/fleet-deploy.sh --build armv6 --hosts-file zeros.txt   # builds the .deb first with
#       deploy/build-pi.sh armv6 --deb (aarch64: 64-bit Pi OS; armv7: Pi 2/3/4 on 32-bit OS;
#       armv6: Pi 1/Zero). A mixed fleet is one run per target with that target's hosts.
#
# Environment (all optional):
#   SSH      ssh command (default: ssh -o BatchMode=yes -o ConnectTimeout=10); called as
#            $SSH HOST 'COMMAND'
#   SCP      scp command (default: scp -q -o BatchMode=yes -o ConnectTimeout=10); called as
#            $SCP FILE HOST:PATH
#   API_URL  the agents' HTTP API; {host} is the host without user@ (default http://{host}:8420;
#            the agents need api.listen = "0.0.0.0:8420" for this, as prepare-sd.sh writes it)
#   API_TOKEN  the agents' api.token, sent as a bearer token (needed for /v1/nodes and
#            /v1/state/hash when the agents have one, as prepare-sd.sh and the .deb set)
#   PEERS    whose view must agree, space separated hosts; default: all other hosts of the list.
#            "{self}" stands for the Pi just deployed (a check against itself).
#   REMOTE_BIN     where a bare binary goes (default /usr/bin/officemesh; {host} substituted)
#   REMOTE_TMP     upload directory on the Pi (default /tmp)
#   HEALTH_TIMEOUT_S    wait for /healthz after the restart (default 60)
#   ROLLBACK_TIMEOUT_S  wait for /healthz after a rollback restarts the earlier binary (default
#                       60, at least HEALTH_TIMEOUT_S: a short wait for a new binary must not
#                       cut short the wait for the one that worked)
#   CONVERGE_TIMEOUT_S  wait for peers to list it and for equal hashes (default 180)
#   POLL_S              seconds between checks (default 2)
#   SKIP_PROTOCOL_CHECK=1  roll out even when the package cannot talk to a Pi's gossip protocol
#
# Before touching any Pi it refuses a roll-out that skips a gossip protocol version (docs/deploy.md,
# "Upgrading an office"): the package speaks protocols oldest..newest (the marker
# OFFICEMESH_GOSSIP_PROTOCOLS=a..b in its binary; none: 1..1), each reachable Pi says what it speaks
# in /healthz ("protocols"; absent: 1..1); every Pi's newest must be within the package's range.
set -euo pipefail

die() { echo "fleet-deploy: error: $*" >&2; exit 1; }

SSH=${SSH:-ssh -o BatchMode=yes -o ConnectTimeout=10}
SCP=${SCP:-scp -q -o BatchMode=yes -o ConnectTimeout=10}
default_api_url='http://{host}:8420'
API_URL=${API_URL:-$default_api_url}
REMOTE_BIN=${REMOTE_BIN:-/usr/bin/officemesh}
REMOTE_TMP=${REMOTE_TMP:-/tmp}
HEALTH_TIMEOUT_S=${HEALTH_TIMEOUT_S:-60}
ROLLBACK_TIMEOUT_S=${ROLLBACK_TIMEOUT_S:-60}
(( ROLLBACK_TIMEOUT_S >= HEALTH_TIMEOUT_S )) || ROLLBACK_TIMEOUT_S=$HEALTH_TIMEOUT_S
CONVERGE_TIMEOUT_S=${CONVERGE_TIMEOUT_S:-180}
POLL_S=${POLL_S:-2}

[ $# -ge 1 ] || die "usage: fleet-deploy.sh PACKAGE.deb|BINARY|--build TARGET HOST... | --hosts-file FILE"
if [ "$1" = --build ]; then
  [ -n "${2:-}" ] || die "--build needs a target: aarch64, armv7 or armv6"
  # OFFICEMESH_BUILD_PI: another build script (the deploy test's stand-in).
  build_pi=${OFFICEMESH_BUILD_PI:-$(dirname "$0")/build-pi.sh}
  echo "==> building the .deb: build-pi.sh $2 --deb"
  build_log=$(mktemp)
  "$build_pi" "$2" --deb | tee "$build_log" || { rm -f "$build_log"; die "build-pi.sh $2 --deb failed; nothing was deployed"; }
  package=$(sed -n 's/^==> package: \(.*\.deb\) (.*/\1/p' "$build_log" | tail -n1)
  rm -f "$build_log"
  [ -n "$package" ] || die "build-pi.sh $2 --deb named no package; nothing was deployed"
  shift 2
else
  package=$1; shift
fi
[ -f "$package" ] || die "$package: no such file"
hosts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts-file)
      [ -f "${2:-}" ] || die "--hosts-file ${2:-}: no such file"
      while read -r line; do
        line=${line%%#*}; line=$(echo "$line" | xargs)
        [ -n "$line" ] && hosts+=("$line")
      done < "$2"
      shift 2 ;;
    *) hosts+=("$1"); shift ;;
  esac
done
[ "${#hosts[@]}" -gt 0 ] || die "no hosts given"

case "$package" in
  *.deb) kind=deb ;;
  *) kind=binary ;;
esac

# ---- the binary's architecture against every Pi's, before anything is uploaded
elf_arch="$(dirname "$0")/lib/elf-arch.py"
elf=$package
if [ "$kind" = deb ]; then
  elf=$(mktemp); trap 'rm -f "$elf"' EXIT
  dpkg-deb --fsys-tarfile "$package" 2>/dev/null | tar -xO ./usr/bin/officemesh > "$elf" 2>/dev/null \
    || die "$package: no usr/bin/officemesh in the package (or dpkg-deb cannot read it)"
fi
why=$(python3 "$elf_arch" "$elf") || die "$(basename "$package"): $why"
read -r elf_bits elf_machine _ <<< "$why"
echo "fleet-deploy: $(basename "$package") holds a $elf_bits-bit $elf_machine binary; checking each host's uname -m"
for host in "${hosts[@]}"; do
  machine=$($SSH "$host" 'uname -m' < /dev/null) || die "[$host] cannot ask uname -m over ssh; nothing was deployed"
  why=$(python3 "$elf_arch" "$elf" "$machine") \
    || die "[$host] refusing $(basename "$package"): $why. Nothing was deployed"
done

addr_of() { local h=${1#*@}; echo "$h"; }
api_of() { local a; a=$(addr_of "$1"); echo "${API_URL//\{host\}/$a}"; }

# api MODE URL: health (node, name, version, uptime of /healthz) or protocols (its range);
# status 1 when unreachable
api() {
  python3 - "$@" <<'PY'
import json, sys, urllib.request
import os
mode, url = sys.argv[1], sys.argv[2]
request = urllib.request.Request(url)
if os.environ.get("API_TOKEN"):
    request.add_header("Authorization", "Bearer " + os.environ["API_TOKEN"])
try:
    with urllib.request.urlopen(request, timeout=5) as r:
        body = json.load(r)
except Exception as e:  # unreachable, refused, bad JSON: the caller retries
    print(f"{e}", file=sys.stderr)
    sys.exit(1)
if mode == "health":
    if body.get("status") != "ok":
        sys.exit(1)
    print(body.get("node", ""), body.get("name", ""), body.get("version", ""), body.get("uptime_s", ""))
elif mode == "protocols":      # the release before versioning has no field: protocol 1 only
    print(body.get("protocols", "1..1"))
PY
}

# converged URL HOST NAME NODE_ID PEER_HOST=PEER_URL…: prints why the mesh has not converged
# around the Pi at URL yet (nothing when it has): every peer lists NODE_ID alive in /v1/nodes
# and holds the same state hash, compared at the lowest gossip protocol any of them speaks (the
# smallest newest protocol in their /healthz; none: 1), each one's hash_by_protocol for it
# (none, the release before versioning: its hash, which is protocol 1's). One python for all
# the calls of a check: a python start costs ~0.2 s, and a check used to start eleven.
converged() {
  python3 - "$@" <<'PY'
import json, os, sys, urllib.request
url, host, name, node_id = sys.argv[1:5]
peers = [p.split("=", 1) for p in sys.argv[5:]]
def get(base, path):
    request = urllib.request.Request(base + path)
    if os.environ.get("API_TOKEN"):
        request.add_header("Authorization", "Bearer " + os.environ["API_TOKEN"])
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.load(r)
def check():
    lowest = None
    for who, base in [(host, url)] + peers:
        try:
            newest = int(get(base, "/healthz").get("protocols", "1..1").split("..")[-1])
        except Exception:
            return f"{who}: /healthz unreachable"
        lowest = newest if lowest is None else min(lowest, newest)
    def hash_of(who, base):
        body = get(base, "/v1/state/hash")
        return body.get("hash_by_protocol", {}).get(str(lowest)) or body["hash"]
    try:
        own = hash_of(host, url)
    except Exception:
        return f"{host}: /v1/state/hash unreachable"
    for who, base in peers:
        try:
            nodes = get(base, "/v1/nodes").get("nodes", [])
        except Exception:
            return f"{who}: /v1/nodes unreachable"
        status = next((n.get("status", "unknown") for n in nodes if n.get("node") == node_id), "absent")
        if status not in ("alive", "self"):
            return f"{who} sees {name} as '{status}'"
        try:
            theirs = hash_of(who, base)
        except Exception:
            return f"{who}: /v1/state/hash unreachable"
        if theirs != own:
            return f"{who}'s state hash {theirs[:12]}… differs from {host}'s {own[:12]}… (protocol {lowest})"
    return ""
print(check())
PY
}

# rollback HOST BIN: puts back the binary HOST ran before and restarts it; sets $rolled to
# what happened (for the failure message).
rollback() {
  local host=$1 bin=$2 url deadline health
  url=$(api_of "$host")
  echo "==> [$host] rolling back to the binary it ran before ($bin.fleet-prev)"
  if ! $SSH "$host" "[ -f '$bin.fleet-prev' ] && sudo install -m 0755 '$bin.fleet-prev' '$bin' && sudo systemctl restart officemesh" < /dev/null; then
    rolled="Rollback FAILED (no earlier binary on $host, or install/restart failed): $host runs the new version"
    return
  fi
  deadline=$(( $(date +%s) + ROLLBACK_TIMEOUT_S ))
  until health=$(api health "$url/healthz" 2>/dev/null); do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      rolled="Rolled back $host to its earlier binary, but that did not answer /healthz within ${ROLLBACK_TIMEOUT_S}s either (check 'journalctl -u officemesh' on it: the release before versioning, db6ff62, refuses a store holding chat_adapter entries and names the key; then install the new version there again, docs/deploy.md \"Downgrades\")"
      return
    fi
    sleep "$POLL_S"
  done
  rolled="Rolled back: $host runs its earlier binary again (version $(echo "$health" | cut -d' ' -f3), /healthz answers)"
  [ "$kind" != deb ] || rolled+="; dpkg still lists the new package: reinstall the earlier .deb on it"
}

deploy_one() {
  local host=$1 url remote node_id name version t0 deadline peers=() p
  url=$(api_of "$host")
  remote="$REMOTE_TMP/officemesh-deploy-$$-$(basename "$package")"
  echo "==> [$host] uploading $(basename "$package")"
  $SCP "$package" "$host:$remote" || die "[$host] upload failed ($SCP); nothing changed on $host"
  local bin=${REMOTE_BIN//\{host\}/$(addr_of "$host")}
  local cmd
  local keep="if [ -f '$bin' ]; then sudo cp -p '$bin' '$bin.fleet-prev'; else sudo rm -f '$bin.fleet-prev'; fi"
  if [ "$kind" = deb ]; then
    cmd="$keep && sudo DEBIAN_FRONTEND=noninteractive dpkg --force-confold -i '$remote' && rm -f '$remote' && sudo systemctl restart officemesh"
  else
    cmd="$keep && sudo install -m 0755 '$remote' '$bin' && rm -f '$remote' && sudo systemctl restart officemesh"
  fi
  echo "==> [$host] installing and restarting officemesh"
  $SSH "$host" "$cmd" || die "[$host] install/restart failed (see above); stopping: the remaining hosts were not touched"

  echo "==> [$host] waiting for $url/healthz (up to ${HEALTH_TIMEOUT_S}s)"
  t0=$(date +%s); deadline=$(( t0 + HEALTH_TIMEOUT_S ))
  local health=""
  until health=$(api health "$url/healthz" 2>/dev/null); do
    [ "$(date +%s)" -lt "$deadline" ] || { rollback "$host" "$bin"; die "[$host] did not answer $url/healthz within ${HEALTH_TIMEOUT_S}s after the restart; check 'journalctl -u officemesh' on it. $rolled. Stopping: the remaining hosts were not touched"; }
    sleep "$POLL_S"
  done
  read -r node_id name version _ <<< "$health"
  echo "    [$host] up: node $node_id ('$name'), version $version"

  if [ -n "${PEERS+set}" ]; then
    for p in $PEERS; do [ "$p" = "{self}" ] && p=$host; peers+=("$p"); done
  else
    for p in "${hosts[@]}"; do [ "$p" = "$host" ] || peers+=("$p"); done
  fi
  [ "${#peers[@]}" -gt 0 ] || { echo "    [$host] no peers to compare with"; return 0; }
  echo "==> [$host] waiting until ${#peers[@]} peer(s) list it as alive and hold the same state hash (up to ${CONVERGE_TIMEOUT_S}s)"
  local peer_urls=()
  for p in "${peers[@]}"; do peer_urls+=("$p=$(api_of "$p")"); done
  deadline=$(( $(date +%s) + CONVERGE_TIMEOUT_S ))
  local why=""
  while :; do
    # Compared at the lowest protocol any of them speaks: a node on protocol 1 is never sent
    # kinds added since, so the others' hash over the kinds it knows is what it must equal.
    why=$(converged "$url" "$host" "$name" "$node_id" "${peer_urls[@]}" 2>/dev/null) || why="the convergence check failed"
    [ -n "$why" ] || break
    [ "$(date +%s)" -lt "$deadline" ] || { rollback "$host" "$bin"; die "[$host] the mesh did not converge within ${CONVERGE_TIMEOUT_S}s: $why. $rolled. Stopping: the remaining hosts were not touched"; }
    sleep "$POLL_S"
  done
  echo "    [$host] converged with ${peers[*]}"
}

# The gossip protocols the package's binary speaks (oldest..newest; no marker: 1..1).
package_protocols() {
  local marker
  if [ "$kind" = deb ]; then
    command -v dpkg-deb >/dev/null 2>&1 || { echo "unknown"; return 0; }
    marker=$(dpkg-deb --fsys-tarfile "$package" | tar -xO --wildcards '*/bin/officemesh' 2>/dev/null \
      | grep -a -o 'OFFICEMESH_GOSSIP_PROTOCOLS=[0-9]*\.\.[0-9]*' | head -n1) || true
  else
    marker=$(grep -a -o 'OFFICEMESH_GOSSIP_PROTOCOLS=[0-9]*\.\.[0-9]*' "$package" | head -n1) || true
  fi
  echo "${marker#*=}" | grep -E '^[0-9]+\.\.[0-9]+$' || echo "1..1"
}

# Refuses the roll-out when a reachable Pi speaks a protocol the package cannot (a skipped
# version: upgrade through the release in between first). Unreachable Pis are left to deploy_one.
check_protocols() {
  local range oldest newest host theirs their_newest
  range=$(package_protocols)
  if [ "$range" = unknown ]; then
    echo "    warning: no dpkg-deb here to read the package's gossip protocols; not checking for a skipped version" >&2
    return 0
  fi
  oldest=${range%..*}; newest=${range#*..}
  echo "==> $(basename "$package") speaks gossip protocols $range"
  for host in "${hosts[@]}"; do
    theirs=$(api protocols "$(api_of "$host")/healthz" 2>/dev/null) || continue
    their_newest=${theirs#*..}
    if [ "$their_newest" -lt "$oldest" ]; then
      [ "${SKIP_PROTOCOL_CHECK:-0}" = 1 ] && { echo "    [$host] speaks $theirs: SKIP_PROTOCOL_CHECK=1, going on"; continue; }
      die "[$host] speaks gossip protocols $theirs but $(basename "$package") only $range: this roll-out skips a version (docs/deploy.md, \"Upgrading an office\"); roll out a release that speaks protocol $their_newest and $oldest first. Nothing was deployed"
    fi
    if [ "${theirs%..*}" -gt "$newest" ]; then
      [ "${SKIP_PROTOCOL_CHECK:-0}" = 1 ] && { echo "    [$host] speaks $theirs: SKIP_PROTOCOL_CHECK=1, going on"; continue; }
      die "[$host] speaks gossip protocols $theirs, newer than $(basename "$package") ($range): a downgrade past a protocol the mesh dropped. Nothing was deployed"
    fi
  done
}

echo "fleet-deploy: $(basename "$package") ($kind) to ${#hosts[@]} host(s), one at a time"
check_protocols
done_hosts=()
for host in "${hosts[@]}"; do
  deploy_one "$host"
  done_hosts+=("$host")
  echo "==> [$host] done (${#done_hosts[@]}/${#hosts[@]})"
done
echo "fleet-deploy: all ${#hosts[@]} host(s) updated and converged"
