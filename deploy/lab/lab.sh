#!/usr/bin/env bash
# The partition-drill lab: N "Pis" and M "phones" in network namespaces on one virtual switch,
# each Pi running a real `officemesh` agent. Needs root, iproute2 (`ip`), curl and jq.
#
#   deploy/lab/lab.sh up 5 2             # 5 Pis (10.231.0.11-15), 2 phones (10.231.0.101-102)
#   deploy/lab/lab.sh status             # every Pi's view: state hash, entries, peer statuses
#   deploy/lab/lab.sh unplug pi2         # pull pi2's cable (switch port down); `plug pi2`
#   deploy/lab/lab.sh kill pi3           # SIGKILL pi3's agent; `start pi3` restarts it
#   deploy/lab/lab.sh partition pi1 pi2 -- pi3 pi4 pi5   # drop traffic between the two sides
#   deploy/lab/lab.sh heal               # undo every partition
#   deploy/lab/lab.sh skew pi4 3600      # restart pi4 with its clock an hour ahead (test only)
#   deploy/lab/lab.sh phone-leave ph1    # phone leaves the Wi-Fi; `phone-arrive ph1`
#   deploy/lab/lab.sh arp pi1            # the phones pi1 can see (IP, MAC), by ARP
#   deploy/lab/lab.sh write pi1 person alice 00:16:3e:00:00:01   # POST /v1/people on pi1
#   deploy/lab/lab.sh remove pi2 person alice 00:16:3e:00:00:01  # DELETE it again
#   deploy/lab/lab.sh api pi1 /v1/events # GET any API path on a Pi (JSON on stdout)
#   deploy/lab/lab.sh hostile garbage ph1 pi1 20    # from phone 1: 20 connections of garbage
#   deploy/lab/lab.sh hostile oversized ph1 pi2 5   # headers announcing 2 GiB frames
#   deploy/lab/lab.sh hostile stall ph1 pi3 80 20   # 80 silent connections held 20 s
#   deploy/lab/lab.sh hostile intruder ph2          # an agent with another cluster key
#   deploy/lab/lab.sh hostile stop                  # end every hostile process
#   deploy/lab/lab.sh down               # remove everything the lab made (also after a crash)
#
# Everything lives in namespaces named "$LAB_ID-…" (default LAB_ID=omlab): the switch is a
# bridge in its own namespace "$LAB_ID-sw", so the root namespace gets no interfaces, routes or
# addresses. The private subnet ($LAB_SUBNET.0/24, default 10.231.0.0/24) exists only there.
# State (configs, data directories, logs, pids, the cluster key) is kept in
# $LAB_STATE (default /run/officemesh-lab/$LAB_ID); `down` also works without it.
#
# Environment: OFFICEMESH_BIN (default target/debug/officemesh), LAB_INTERVAL_MS (gossip
# interval, default 200), LAB_PRESENCE (presence interface on each Pi; default off, because
# presence scans write every scan and the drills compare state hashes).
set -euo pipefail

LAB_ID=${LAB_ID:-omlab}
LAB_SUBNET=${LAB_SUBNET:-10.231.0}
LAB_STATE=${LAB_STATE:-/run/officemesh-lab/$LAB_ID}
LAB_INTERVAL_MS=${LAB_INTERVAL_MS:-200}
LAB_PRESENCE=${LAB_PRESENCE:-}
GOSSIP_PORT=7420
API_PORT=8420
# Every lab Pi has this API token (writes from another address need one; reads of people need
# it too): the lab's curl calls send it.
LAB_TOKEN=officemesh-lab-token
SW="$LAB_ID-sw"

die() { echo "lab: $*" >&2; exit 1; }
log() { echo "lab: $*" >&2; }

pi_index() { # pi3 -> 3
  [[ $1 =~ ^pi([0-9]+)$ ]] || die "'$1' is not a Pi name (pi1, pi2, …)"
  local i=${BASH_REMATCH[1]}
  [ -f "$LAB_STATE/pis" ] || die "no lab is up (run: lab.sh up N M)"
  (( i >= 1 && i <= $(cat "$LAB_STATE/pis") )) || die "$1: this lab has Pis 1..$(cat "$LAB_STATE/pis")"
  echo "$i"
}
phone_index() {
  [[ $1 =~ ^ph([0-9]+)$ ]] || die "'$1' is not a phone name (ph1, ph2, …)"
  local i=${BASH_REMATCH[1]}
  (( i >= 1 && i <= $(cat "$LAB_STATE/phones") )) || die "$1: this lab has phones 1..$(cat "$LAB_STATE/phones")"
  echo "$i"
}
pi_ns() { echo "$LAB_ID-pi$1"; }
pi_ip() { echo "$LAB_SUBNET.$((10 + $1))"; }
phone_ns() { echo "$LAB_ID-ph$1"; }
phone_ip() { echo "$LAB_SUBNET.$((100 + $1))"; }
phone_mac() { printf '00:16:3e:a0:00:%02x' "$1"; }
pi_mac() { printf '00:16:3e:b0:00:%02x' "$1"; }
pi_count() { cat "$LAB_STATE/pis"; }

bin() { cat "$LAB_STATE/bin"; }

# Adds a host ($1 = namespace, $2 = switch port name, $3 = ip, $4 = mac) to the switch.
attach() {
  local ns=$1 port=$2 ip=$3 mac=$4
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add eth0 address "$mac" type veth peer name "$port" netns "$SW"
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$SW" link set "$port" master br0
  ip -n "$SW" link set "$port" up
}

write_config() { # $1 = pi index
  local i=$1 dir="$LAB_STATE/pi$1" offset_ms=${2:-0}
  local seeds="\"$(pi_ip 1):$GOSSIP_PORT\""
  if (( $(pi_count) > 1 )); then seeds="$seeds, \"$(pi_ip 2):$GOSSIP_PORT\""; fi
  mkdir -p "$dir/data"
  cat >"$dir/config.toml" <<EOF
[node]
name = "pi$i"
room = "room-$(( (i - 1) % 3 + 1 ))"

[storage]
data_dir = "$dir/data"
batch_ms = 200

[api]
listen = "$(pi_ip "$i"):$API_PORT"
token = "$LAB_TOKEN"

[gossip]
listen = "$(pi_ip "$i"):$GOSSIP_PORT"
advertise = "$(pi_ip "$i"):$GOSSIP_PORT"
seeds = [$seeds]
key_file = "$LAB_STATE/cluster.key"
interval_ms = $LAB_INTERVAL_MS
io_timeout_ms = 1000
test_clock_offset_ms = $offset_ms

[presence]
interface = "$LAB_PRESENCE"
scan_interval_s = 5
consider_home_s = 15

[[sensors]]
driver = "sim"
name = "desk"
poll_interval_s = 3600
EOF
}

running_pid() { # prints the agent pid of pi $1 when it runs
  local f="$LAB_STATE/pi$1/pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -d "/proc/$pid" ] || return 1
  # A binary rebuilt while the lab runs shows as "<path> (deleted)": still our agent.
  local exe; exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [ "${exe% (deleted)}" = "$(readlink -f "$(bin)")" ] || return 1
  echo "$pid"
}

api_get() { # $1 = pi index, $2 = path
  ip netns exec "$(pi_ns "$1")" curl -sf --max-time 3 \
    -H "Authorization: Bearer $LAB_TOKEN" "http://$(pi_ip "$1"):$API_PORT$2"
}

start_pi() {
  local i=$1 dir="$LAB_STATE/pi$1"
  if running_pid "$i" >/dev/null; then log "pi$i already runs"; return 0; fi
  # `ip netns exec` execs the agent: $! is the agent's pid.
  RUST_LOG=${RUST_LOG:-info} ip netns exec "$(pi_ns "$i")" "$(bin)" run --config "$dir/config.toml" \
    </dev/null >>"$dir/agent.log" 2>&1 &
  echo $! >"$dir/pid"
  local tries=0 pid=$!
  until api_get "$i" /healthz >/dev/null 2>&1; do
    tries=$((tries + 1))
    # (Not `running_pid`: until `ip netns exec` has exec'd the agent, the pid is `ip`'s.)
    if [ ! -d "/proc/$pid" ] || grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
      tail -20 "$dir/agent.log" >&2
      die "pi$i's agent exited at start (log: $dir/agent.log)"
    fi
    (( tries < 300 )) || die "pi$i's agent does not answer /healthz (log: $dir/agent.log)"
    sleep 0.1
  done
}

kill_pi() {
  local i=$1 pid
  if pid=$(running_pid "$i"); then
    kill -9 "$pid"
    while [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do sleep 0.05; done
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$LAB_STATE/pi$i/pid"
}

cmd_up() {
  local n=${1:-} m=${2:-0}
  [[ $n =~ ^[0-9]+$ ]] && (( n >= 1 && n <= 80 )) || die "usage: up N M (1 <= N <= 80 Pis, M phones)"
  [[ $m =~ ^[0-9]+$ ]] && (( m <= 80 )) || die "usage: up N M (0 <= M <= 80 phones)"
  [ "$(id -u)" = 0 ] || die "the lab needs root (network namespaces)"
  command -v ip >/dev/null || die "ip (iproute2) is missing: apt-get install iproute2"
  command -v curl >/dev/null || die "curl is missing: apt-get install curl"
  command -v jq >/dev/null || die "jq is missing: apt-get install jq"
  if [ -e "$LAB_STATE/pis" ] || ip netns list | grep -q "^$LAB_ID-"; then
    die "lab $LAB_ID is already up (run: lab.sh down)"
  fi
  local binary=${OFFICEMESH_BIN:-target/debug/officemesh}
  [ -x "$binary" ] || die "$binary is not an executable (build it: cargo build -p officemesh, or set OFFICEMESH_BIN)"
  mkdir -p "$LAB_STATE"
  readlink -f "$binary" >"$LAB_STATE/bin"
  echo "$n" >"$LAB_STATE/pis"
  echo "$m" >"$LAB_STATE/phones"
  "$(bin)" keygen --out "$LAB_STATE/cluster.key" >/dev/null
  ip netns add "$SW"
  ip -n "$SW" link set lo up
  ip -n "$SW" link add br0 type bridge
  ip -n "$SW" link set br0 up
  local i
  for i in $(seq 1 "$n"); do
    attach "$(pi_ns "$i")" "pi$i" "$(pi_ip "$i")" "$(pi_mac "$i")"
    write_config "$i"
  done
  for i in $(seq 1 "$m"); do
    attach "$(phone_ns "$i")" "ph$i" "$(phone_ip "$i")" "$(phone_mac "$i")"
  done
  for i in $(seq 1 "$n"); do start_pi "$i"; done
  log "up: $n Pis on $LAB_SUBNET.11-$((10 + n)), $m phones; state in $LAB_STATE"
}

cmd_down() {
  local ns pid f
  # Agents by recorded pid (only if they still are our binary), then anything left inside our
  # namespaces (only processes this lab started live there).
  for f in "$LAB_STATE"/pi*/pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if [ -d "/proc/$pid" ] && [ -f "$LAB_STATE/bin" ] \
      && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(cat "$LAB_STATE/bin")" ]; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$LAB_ID-" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null || true); do kill -9 "$pid" 2>/dev/null || true; done
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$LAB_ID-" || true); do
    ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"
  done
  case "$LAB_STATE" in
    /run/officemesh-lab/*|/tmp/*) rm -rf "$LAB_STATE" ;;
    *) rm -f "$LAB_STATE/pis" "$LAB_STATE/phones" ;;
  esac
  log "down: lab $LAB_ID removed"
}

cmd_unplug() { local i; i=$(pi_index "$1"); ip -n "$SW" link set "pi$i" down; }
cmd_plug() { local i; i=$(pi_index "$1"); ip -n "$SW" link set "pi$i" up; }
cmd_kill() { local i; i=$(pi_index "$1"); kill_pi "$i"; }
cmd_start() { local i; i=$(pi_index "$1"); start_pi "$i"; }
cmd_restart() { local i; i=$(pi_index "$1"); kill_pi "$i"; start_pi "$i"; }

# Drops IPv4 traffic from pi $1 to pi $2: a blackhole route in pi $1's namespace. (tc drop
# actions and nftables are not available on every kernel this runs on; routes always are.
# Sends to a blackholed address fail at once, where a dead switch would make them time out.)
drop_to() {
  ip -n "$(pi_ns "$1")" route replace blackhole "$(pi_ip "$2")/32"
}

cmd_partition() {
  local left=() right=() side=left a b
  for a in "$@"; do
    if [ "$a" = "--" ]; then side=right; continue; fi
    if [ $side = left ]; then left+=("$(pi_index "$a")"); else right+=("$(pi_index "$a")"); fi
  done
  (( ${#left[@]} > 0 && ${#right[@]} > 0 )) || die "usage: partition PI… -- PI…"
  for a in "${left[@]}"; do
    for b in "${right[@]}"; do drop_to "$a" "$b"; drop_to "$b" "$a"; done
  done
}

cmd_heal() {
  local i
  for i in $(seq 1 "$(pi_count)"); do
    ip -n "$(pi_ns "$i")" route flush type blackhole 2>/dev/null || true
    ip -n "$SW" link set "pi$i" up
  done
}

cmd_skew() {
  local i seconds=${2:-}
  i=$(pi_index "$1")
  [[ $seconds =~ ^-?[0-9]+$ ]] || die "usage: skew PI SECONDS (negative = behind)"
  kill_pi "$i"
  write_config "$i" "$((seconds * 1000))"
  start_pi "$i"
}

cmd_phone() { # $1 = up|down, $2 = phone
  local j
  j=$(phone_index "$2")
  ip -n "$SW" link set "ph$j" "$1"
}

# Which phones pi $1 can see: it sends a packet to each phone address (which makes the kernel
# ARP for it), then prints the MACs its neighbour table holds for them.
cmd_arp() {
  local i j
  i=$(pi_index "$1")
  for j in $(seq 1 "$(cat "$LAB_STATE/phones")"); do
    ip netns exec "$(pi_ns "$i")" curl -s --max-time 1 "http://$(phone_ip "$j"):9/" >/dev/null 2>&1 || true
  done
  ip -n "$(pi_ns "$i")" neigh show dev eth0 | awk '$2 == "lladdr" && $1 ~ /\.1[0-9][0-9]$/ {print $1, $3}'
}

cmd_write() { # write PI person NAME MAC
  local i
  i=$(pi_index "$1")
  [ "${2:-}" = person ] && [ -n "${3:-}" ] && [ -n "${4:-}" ] || die "usage: write PI person NAME MAC"
  ip netns exec "$(pi_ns "$i")" curl -sf --max-time 5 -X POST \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $LAB_TOKEN" \
    -d "{\"name\": \"$3\", \"mac\": \"$4\", \"added_by\": \"drill\"}" \
    "http://$(pi_ip "$i"):$API_PORT/v1/people"
}

# Hostile peers, from a phone's namespace (a device on the office Wi-Fi without the key).
cmd_hostile() {
  local what=${1:-} j i n k
  case "$what" in
    garbage|oversized|stall)
      [ $# -ge 3 ] || die "usage: hostile $what PHONE PI [COUNT]"
      j=$(phone_index "$2"); i=$(pi_index "$3"); n=${4:-20}
      [[ $n =~ ^[0-9]+$ ]] || die "COUNT must be a number"
      local target="/dev/tcp/$(pi_ip "$i")/$GOSSIP_PORT"
      case "$what" in
        garbage) # random bytes, then hang up
          for k in $(seq 1 "$n"); do
            ip netns exec "$(phone_ns "$j")" timeout 3 bash -c \
              "head -c 4096 /dev/urandom >$target" 2>/dev/null || true
          done ;;
        oversized) # a valid header announcing a 2 GiB body, then a trickle of it
          for k in $(seq 1 "$n"); do
            ip netns exec "$(phone_ns "$j")" timeout 3 bash -c \
              "{ printf 'OMSH\\x01\\x01\\x7f\\xff\\xff\\xff'; head -c 65536 /dev/zero; } >$target" \
              2>/dev/null || true
          done ;;
        stall) # open connections, send nothing, hold them (in the background, ${5:-20} s)
          for k in $(seq 1 "$n"); do
            ip netns exec "$(phone_ns "$j")" timeout "${5:-20}" bash -c \
              "exec 3<>$target && sleep ${5:-20}" </dev/null >/dev/null 2>&1 &
          done ;;
      esac ;;
    intruder) # a real agent with another cluster key, seeded with the Pis
      [ $# -ge 2 ] || die "usage: hostile intruder PHONE"
      j=$(phone_index "$2")
      local dir="$LAB_STATE/ph$j"
      mkdir -p "$dir/data"
      "$(bin)" keygen --force --out "$dir/other.key" >/dev/null
      cat >"$dir/config.toml" <<EOF
[node]
name = "intruder$j"
[storage]
data_dir = "$dir/data"
[api]
listen = "$(phone_ip "$j"):$API_PORT"
[gossip]
listen = "$(phone_ip "$j"):$GOSSIP_PORT"
seeds = ["$(pi_ip 1):$GOSSIP_PORT"]
key_file = "$dir/other.key"
interval_ms = $LAB_INTERVAL_MS
[presence]
interface = ""
EOF
      ip netns exec "$(phone_ns "$j")" "$(bin)" run --config "$dir/config.toml" \
        </dev/null >>"$dir/agent.log" 2>&1 &
      echo $! >"$dir/pid" ;;
    stop) # ends every hostile process (they all live in phone namespaces)
      for j in $(seq 1 "$(cat "$LAB_STATE/phones")"); do
        for k in $(ip netns pids "$(phone_ns "$j")" 2>/dev/null || true); do kill -9 "$k" 2>/dev/null || true; done
      done ;;
    *) die "usage: hostile garbage|oversized|stall|intruder|stop …" ;;
  esac
}

cmd_remove() { # remove PI person NAME MAC
  local i
  i=$(pi_index "$1")
  [ "${2:-}" = person ] && [ -n "${3:-}" ] && [ -n "${4:-}" ] || die "usage: remove PI person NAME MAC"
  ip netns exec "$(pi_ns "$i")" curl -sf --max-time 5 -X DELETE \
    -H "Authorization: Bearer $LAB_TOKEN" "http://$(pi_ip "$i"):$API_PORT/v1/people/$3/$4"
}

cmd_api() { local i; i=$(pi_index "$1"); api_get "$i" "$2"; }

cmd_status() {
  local i hash entries peers
  for i in $(seq 1 "$(pi_count)"); do
    if ! running_pid "$i" >/dev/null; then
      printf 'pi%-3s %-8s\n' "$i" "stopped"; continue
    fi
    if ! hash=$(api_get "$i" /v1/state/hash); then
      printf 'pi%-3s %-8s\n' "$i" "no-answer"; continue
    fi
    entries=$(echo "$hash" | grep -o '"entries":[0-9]*' | cut -d: -f2)
    hash=$(echo "$hash" | grep -o '"hash":"[0-9a-f]*"' | cut -d'"' -f4)
    peers=$(api_get "$i" /v1/nodes | jq -r '[.nodes[] | "\(.name):\(.status)"] | join(" ")' || true)
    printf 'pi%-3s %-8s hash=%s entries=%s nodes: %s\n' "$i" "running" "${hash:0:16}" "$entries" "$peers"
  done
}

cmd_pids() { local i; for i in $(seq 1 "$(pi_count)"); do echo "pi$i $(running_pid "$i" || echo -)"; done; }

main() {
  local cmd=${1:-}
  shift || true
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    unplug|plug|kill|start|restart) [ $# = 1 ] || die "usage: $cmd PI"; "cmd_$cmd" "$1" ;;
    partition) cmd_partition "$@" ;;
    heal) cmd_heal ;;
    skew) cmd_skew "$@" ;;
    phone-arrive) cmd_phone up "${1:?usage: phone-arrive PHONE}" ;;
    phone-leave) cmd_phone down "${1:?usage: phone-leave PHONE}" ;;
    write) cmd_write "$@" ;;
    remove) cmd_remove "$@" ;;
    hostile) cmd_hostile "$@" ;;
    api) [ $# = 2 ] || die "usage: api PI PATH"; cmd_api "$1" "$2" ;;
    status) cmd_status ;;
    arp) [ $# = 1 ] || die "usage: arp PI"; cmd_arp "$1" ;;
    pids) cmd_pids ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || exit 2 ;;
  esac
}

main "$@"
