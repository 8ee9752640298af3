#!/usr/bin/env bash
# Partition-drill runner: brings up the lab (deploy/lab/lab.sh), runs a scenario's steps against
# real agents, and prints a report from what the agents themselves recorded (GET /v1/events)
# and answer (GET /v1/state/hash, GET /v1/people). Needs root, iproute2, curl and jq.
#
#   deploy/lab/drill.sh deploy/lab/scenarios/*.drill            # run scenarios, one lab each
#   deploy/lab/drill.sh --repeat 50 --seed 7                    # soak: 50 random scenarios
#   deploy/lab/drill.sh --pis 5 --interval 200 --keep FILE      # keep the lab up afterwards
#
# Report, per scenario (and one `REPORT key=value …` line for scripts):
#   detect   time from a fault (unplug/kill/partition) to the first peer_dead event about an
#            affected Pi on another Pi, and until every running Pi had recorded it;
#   diverge  most distinct state hashes seen at once while a fault was active;
#   heal     time from the last heal step (plug/start/heal) to every running Pi showing the
#            same state hash (`expect converged`);
#   writes   every acknowledged write must be on every running Pi at the end: lost must be 0.
#            Writes made on a Pi whose clock is skewed are "held back" (the others refuse
#            stamps more than gossip.max_clock_offset_ms ahead), not lost, and reported apart;
#            once it is set right (`skew PI 0`) they count like every other write.
#
# Scenario format (one step per line, `#` comments):
#   pis N | phones M | interval MS              set-up (before the first step)
#   unplug|plug|kill|start|restart PI           lab steps (see lab.sh)
#   partition PI… -- PI… | heal | skew PI SECONDS | phone-arrive PH | phone-leave PH
#   hostile garbage|oversized|stall PH PI [N [S]] | hostile intruder PH | hostile stop
#   write PI person NAME MAC | remove PI person NAME MAC
#   wait N s | wait N intervals
#   expect detected [PI…] within N intervals
#   expect converged within N intervals [except PI…]
#   expect held-back PI                         the others recorded clock_ahead about PI
#   expect clock-offset PI                      PI and the others recorded clock_offset about PI
#   expect refused PI                           PI recorded refused_peer events
#   expect person NAME MAC present|absent on PI…
#   expect alive                                every running Pi answers its API
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
LAB="$HERE/lab.sh"
export LAB_ID=${LAB_ID:-omd$$}
export LAB_STATE=${LAB_STATE:-/run/officemesh-lab/$LAB_ID}
PIS_DEFAULT=5
INTERVAL_DEFAULT=${LAB_INTERVAL_MS:-200}
KEEP=0
REPEAT=0
SEED=1
FILES=()

while [ $# -gt 0 ]; do
  case "$1" in
    --pis) PIS_DEFAULT=$2; shift 2 ;;
    --interval) INTERVAL_DEFAULT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) FILES+=("$1"); shift ;;
  esac
done

now_ms() { date +%s%3N; }
say() { echo "  $*"; }

cleanup() { [ "$KEEP" = 1 ] || "$LAB" down >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- state of one scenario run ----
reset_run() {
  PIS=$PIS_DEFAULT; PHONES=2; INTERVAL=$INTERVAL_DEFAULT; UP=0; ABORTED=0
  FAULT_T=0; FAULT_PIS=(); FAULT_ACTIVE=0; HEAL_T=0
  MAX_HASHES=1; FAILURES=(); SKEWED=()
  DETECTS=(); DETECT_ALLS=(); HEALS=()
  WRITES_FILE=$(mktemp); : >"$WRITES_FILE"
  ACKED=0; REFUSED_WRITES=0
}

fail() { FAILURES+=("$*"); echo "  FAIL: $*"; }

running_pis() { "$LAB" pids 2>/dev/null | awk '$2 != "-" {print $1}'; }

is_skewed() { local p; for p in "${SKEWED[@]:-}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

hash_of() { "$LAB" api "$1" /v1/state/hash 2>/dev/null | jq -r '.hash // empty' 2>/dev/null; }

# Sets DISTINCT to the number of distinct state hashes among running Pis (not in $@); also
# tracks the divergence maximum. (Not run in a subshell: it updates MAX_HASHES.)
distinct_hashes() {
  local p skip h hashes=()
  for p in $(running_pis); do
    skip=0; for h in "$@"; do [ "$p" = "$h" ] && skip=1; done
    [ $skip = 1 ] && continue
    h=$(hash_of "$p"); hashes+=("${h:-none-$p}")
  done
  # No running Pi answered at all: nothing agrees (an empty list must not count as one hash).
  if [ ${#hashes[@]} = 0 ]; then DISTINCT=0; return; fi
  DISTINCT=$(printf '%s\n' "${hashes[@]}" | sort -u | wc -l)
  if [ "$FAULT_ACTIVE" = 1 ] && (( DISTINCT > MAX_HASHES )); then MAX_HASHES=$DISTINCT; fi
}

ensure_up() {
  [ "$UP" = 1 ] && return 0
  [ "$ABORTED" = 0 ] || return 1
  if ! LAB_INTERVAL_MS=$INTERVAL "$LAB" up "$PIS" "$PHONES" >/dev/null; then
    "$LAB" down >/dev/null 2>&1
    if ! LAB_INTERVAL_MS=$INTERVAL "$LAB" up "$PIS" "$PHONES" >/dev/null; then
      fail "lab up failed twice; scenario aborted"
      ABORTED=1
      return 1
    fi
  fi
  UP=1
  # Let every agent commit its start-up writes (storage.batch_ms) before the first fault, so
  # drills start from one settled state (06-crash-right-after-start covers the window itself).
  sleep 1
  # Start from one agreed state.
  expect_converged 150 || true
}

lab_step() { "$LAB" "$@" >/dev/null || fail "step failed: $*"; }

start_fault() { FAULT_T=$(now_ms); FAULT_ACTIVE=1; FAULT_PIS=("$@"); }
end_fault() { HEAL_T=$(now_ms); }

sleep_sampling() { # $1 = ms
  local until=$(( $(now_ms) + $1 ))
  while (( $(now_ms) < until )); do
    distinct_hashes
    sleep 0.3
  done
}

# expect detected [PI…] within N intervals
expect_detected() {
  local limit_ms=$1; shift
  local targets=("$@")
  [ ${#targets[@]} -gt 0 ] || targets=("${FAULT_PIS[@]}")
  local names
  names=$(printf '"%s",' "${targets[@]}"); names="[${names%,}]"
  local deadline=$(( $(now_ms) + limit_ms )) first="" all="" p t observers
  while :; do
    first=""; all=""; observers=0
    local times=()
    for p in $(running_pis); do
      # A Pi cannot detect itself; with a partition every Pi is affected, so only events about
      # Pis other than the observer count.
      t=$("$LAB" api "$p" "/v1/events?kind=peer_dead&since=$FAULT_T" 2>/dev/null \
        | jq -r --argjson names "$names" --arg me "$p" \
          '[.events[] | select(.peer_name as $n | ($names | index($n)) and $n != $me) | .t_ms] | min // empty')
      if printf '%s\n' "${targets[@]}" | grep -qx "$p" && [ ${#targets[@]} -eq 1 ]; then continue; fi
      observers=$((observers + 1))
      [ -n "$t" ] && times+=("$t")
    done
    if [ ${#times[@]} -gt 0 ]; then
      first=$(printf '%s\n' "${times[@]}" | sort -n | head -1)
      if [ ${#times[@]} -ge "$observers" ]; then
        all=$(printf '%s\n' "${times[@]}" | sort -n | tail -1)
        break
      fi
    fi
    (( $(now_ms) < deadline )) || break
    distinct_hashes
    sleep 0.2
  done
  if [ -z "$first" ]; then
    fail "no Pi recorded peer_dead about ${targets[*]} within $((limit_ms / INTERVAL)) intervals"
    return 1
  fi
  local d=$((first - FAULT_T))
  DETECTS+=("$d")
  if [ -n "$all" ]; then
    DETECT_ALLS+=("$((all - FAULT_T))")
    say "detect: ${targets[*]} dead on a first Pi after $d ms ($((d / INTERVAL)) intervals), on all $observers after $((all - FAULT_T)) ms"
  else
    say "detect: ${targets[*]} dead on a first Pi after $d ms; not on every Pi within the bound"
  fi
}

# expect converged within N intervals [except PI…]; returns 1 if not.
expect_converged() {
  local limit_ms=$(( $1 * INTERVAL )); shift
  local start deadline n
  start=$(now_ms); deadline=$((start + limit_ms))
  while :; do
    distinct_hashes "$@"
    n=$DISTINCT
    [ "$n" = 1 ] && break
    if (( $(now_ms) >= deadline )); then
      fail "state hashes did not agree within $((limit_ms / INTERVAL)) intervals ($n distinct)"
      "$LAB" status | sed 's/^/    /'
      return 1
    fi
    sleep 0.1
  done
  local done_t; done_t=$(now_ms)
  if [ "$HEAL_T" -gt 0 ]; then
    local h=$((done_t - HEAL_T))
    HEALS+=("$h")
    say "heal: converged $h ms ($((h / INTERVAL)) intervals) after the last heal step${*:+ (except $*)}"
    HEAL_T=0; FAULT_ACTIVE=0
  fi
  return 0
}

expect_person() { # NAME MAC present|absent on PI…
  local name=$1 mac=$2 want=$3; shift 4
  local p got
  for p in "$@"; do
    got=$("$LAB" api "$p" /v1/people | jq -r --arg n "$name" --arg m "$mac" \
      '[.people[] | select(.name == $n) | .macs[] | select(. == $m)] | if length > 0 then "present" else "absent" end')
    [ "$got" = "$want" ] || fail "$name $mac is $got on $p, expected $want"
  done
  say "person $name $mac: $want on $* (checked)"
}

record_write() { # op pi name mac
  local out
  if [ "$1" = write ]; then out=$("$LAB" write "$2" person "$3" "$4" 2>/dev/null); else out=$("$LAB" remove "$2" person "$3" "$4" 2>/dev/null); fi
  if [ $? = 0 ] && [ -n "$out" ]; then
    ACKED=$((ACKED + 1))
    echo "$1 $2 $3 $4" >>"$WRITES_FILE"
  else
    REFUSED_WRITES=$((REFUSED_WRITES + 1))
    say "$1 on $2 was not acknowledged (Pi down?): not counted"
  fi
}

# Every acknowledged write must be visible on every running Pi: the last acknowledged operation
# on each (name, mac) from a non-skewed Pi decides. Returns lost count in LOST, held in HELD.
check_writes() {
  LOST=0; HELD=0
  local key want p got op pi name mac
  declare -A last=() skewed_key=()
  while read -r op pi name mac; do
    if is_skewed "$pi"; then HELD=$((HELD + 1)); skewed_key["$name $mac"]=1; continue; fi
    last["$name $mac"]=$op
  done <"$WRITES_FILE"
  local people=()
  for p in $(running_pis); do people+=("$p"); done
  for key in "${!last[@]}"; do
    name=${key% *}; mac=${key#* }
    [ "${last[$key]}" = write ] && want=present || want=absent
    local missing=0
    for p in "${people[@]}"; do
      if [ -n "${skewed_key[$key]:-}" ] && is_skewed "$p"; then continue; fi
      got=$("$LAB" api "$p" /v1/people | jq -r --arg n "$name" --arg m "$mac" \
        '[.people[] | select(.name == $n) | .macs[] | select(. == $m)] | if length > 0 then "present" else "absent" end')
      [ "$got" = "$want" ] || { missing=1; echo "    lost: $name $mac should be $want on $p, is $got"; }
    done
    LOST=$((LOST + missing))
  done
}

stats() { # prints "median p99 max" of the numbers on stdin
  sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "- - -"; exit}
    m = (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2);
    i = int(0.99 * NR + 0.999); if (i < 1) i = 1; if (i > NR) i = NR;
    print m, a[i], a[NR]}'
}

run_step() {
  local words=("$@")
  local cmd=${words[0]}
  case "$cmd" in
    pis) PIS=${words[1]} ;;
    phones) PHONES=${words[1]} ;;
    interval) INTERVAL=${words[1]} ;;
    unplug|kill) ensure_up; lab_step "$cmd" "${words[1]}"; start_fault "${words[1]}" ;;
    partition) ensure_up; lab_step "${words[@]}"; local p ps=(); for p in "${words[@]:1}"; do [ "$p" = -- ] || ps+=("$p"); done; start_fault "${ps[@]}" ;;
    plug|start|restart|heal) ensure_up; lab_step "${words[@]}"; end_fault ;;
    skew)
      ensure_up; lab_step "${words[@]}"
      # Skew 0 sets the clock right: the Pi re-stamps what it acknowledged while ahead, so from
      # then on its writes count like everyone's (they must be on every Pi at the end).
      local kept=("${SKEWED[@]:-}") p
      SKEWED=()
      for p in "${kept[@]}"; do [ -z "$p" ] || [ "$p" = "${words[1]}" ] || SKEWED+=("$p"); done
      [ "${words[2]}" = 0 ] || SKEWED+=("${words[1]}") ;;
    phone-arrive|phone-leave|hostile) ensure_up; lab_step "${words[@]}" ;;
    write|remove) ensure_up; record_write "$cmd" "${words[1]}" "${words[3]}" "${words[4]}" ;;
    wait)
      ensure_up
      local n=${words[1]} unit=${words[2]:-s}
      n=${n%s}
      case "$unit" in
        s|sec|seconds) sleep_sampling $((n * 1000)) ;;
        ms) sleep_sampling "$n" ;;
        interval|intervals) sleep_sampling $((n * INTERVAL)) ;;
        *) fail "wait: unknown unit '$unit'" ;;
      esac ;;
    expect)
      ensure_up
      local what=${words[1]}
      case "$what" in
        detected)
          local targets=() i=2
          while [ "${words[$i]:-}" != within ] && [ $i -lt ${#words[@]} ]; do targets+=("${words[$i]}"); i=$((i + 1)); done
          expect_detected $(( ${words[$((i + 1))]:-30} * INTERVAL )) "${targets[@]}" ;;
        converged)
          local n=${words[3]:-50} except=()
          [ "${words[5]:-}" = except ] && except=("${words[@]:6}")
          expect_converged "$n" "${except[@]}" ;;
        held-back)
          local target=${words[2]} p c seen=0
          for p in $(running_pis); do
            [ "$p" = "$target" ] && continue
            c=$("$LAB" api "$p" "/v1/events?kind=clock_ahead" | jq --arg t "$target" '[.events[] | select(.peer_name == $t)] | length')
            (( c > 0 )) && seen=$((seen + 1))
          done
          if (( seen > 0 )); then say "held back: $seen Pi(s) recorded clock_ahead about $target"; else fail "nobody recorded clock_ahead about $target"; fi ;;
        clock-offset)
          local target=${words[2]} p c seen=0
          for p in $(running_pis); do
            if [ "$p" = "$target" ]; then
              c=$("$LAB" api "$p" "/v1/events?kind=clock_offset" | jq '[.events[] | select(.peer == null and (.numbers.ahead_ms // 0) > 0)] | length')
              (( c > 0 )) || fail "$target recorded no clock_offset event about itself"
              continue
            fi
            c=$("$LAB" api "$p" "/v1/events?kind=clock_offset" | jq --arg t "$target" '[.events[] | select(.peer_name == $t)] | length')
            (( c > 0 )) && seen=$((seen + 1))
          done
          if (( seen > 0 )); then say "clock offset: $target and $seen Pi(s) recorded clock_offset about $target"; else fail "nobody recorded clock_offset about $target"; fi ;;
        refused)
          local c
          c=$("$LAB" api "${words[2]}" "/v1/events?kind=refused_peer" | jq '.events | length')
          if (( c > 0 )); then
            say "refused: ${words[2]} recorded $c refused_peer event(s): $("$LAB" api "${words[2]}" "/v1/events?kind=refused_peer" | jq -c '[.events[].numbers] | add')"
          else fail "${words[2]} recorded no refused_peer event"; fi ;;
        person) expect_person "${words[2]}" "${words[3]}" "${words[4]}" "${words[@]:5}" ;;
        alive)
          local p
          for p in $(running_pis); do "$LAB" api "$p" /healthz >/dev/null || fail "$p does not answer"; done ;;
        *) fail "unknown expectation: ${words[*]}" ;;
      esac ;;
    *) fail "unknown step: ${words[*]}" ;;
  esac
}

run_scenario() { # $1 = file, $2 = display name
  local file=$1 name=$2 line
  reset_run
  echo "== drill: $name"
  local started; started=$(now_ms)
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    read -ra words <<<"$line"
    [ ${#words[@]} -gt 0 ] || continue
    [ "$ABORTED" = 0 ] || break
    echo "  > ${words[*]}"
    run_step "${words[@]}"
  done <"$file"
  ensure_up || true
  # Final: everyone (but skewed Pis) agrees, and no acknowledged write is missing anywhere.
  local except=()
  [ ${#SKEWED[@]} -gt 0 ] && except=("${SKEWED[@]}")
  expect_converged 150 "${except[@]}" || true
  check_writes
  say "writes: $ACKED acknowledged, $LOST lost, $HELD held back (made on a skewed Pi), $REFUSED_WRITES not acknowledged"
  (( LOST == 0 )) || fail "$LOST acknowledged write(s) lost"
  local crashed=0 p
  for p in $(running_pis); do "$LAB" api "$p" /healthz >/dev/null || crashed=$((crashed + 1)); done
  local result=PASS
  [ ${#FAILURES[@]} -eq 0 ] || result=FAIL
  local d_first d_all h
  d_first=$(printf '%s\n' "${DETECTS[@]:-}" | grep . | stats | cut -d' ' -f3)
  d_all=$(printf '%s\n' "${DETECT_ALLS[@]:-}" | grep . | stats | cut -d' ' -f3)
  h=$(printf '%s\n' "${HEALS[@]:-}" | grep . | stats | cut -d' ' -f3)
  echo "REPORT scenario=$name result=$result pis=$PIS interval_ms=$INTERVAL detect_ms=$d_first detect_all_ms=$d_all max_hashes=$MAX_HASHES heal_ms=$h writes=$ACKED lost=$LOST held_back=$HELD took_ms=$(( $(now_ms) - started ))"
  for h in "${HEALS[@]:-}"; do [ -n "$h" ] && echo "HEAL_MS $h"; done
  for h in "${DETECTS[@]:-}"; do [ -n "$h" ] && echo "DETECT_MS $h"; done
  rm -f "$WRITES_FILE"
  if [ "$KEEP" != 1 ]; then "$LAB" down >/dev/null 2>&1; fi
  [ "$result" = PASS ]
}

# A random scenario from the seeded bash RNG: a few faults among unplug, kill, partition and
# writes on both sides, each healed and followed by a convergence check.
random_scenario() { # $1 = out file
  local out=$1 k steps faults i a b mac
  steps=$((2 + RANDOM % 3))
  {
    echo "pis $PIS_DEFAULT"
    echo "interval $INTERVAL_DEFAULT"
    for k in $(seq 1 "$steps"); do
      faults=$((RANDOM % 3))
      a=$((1 + RANDOM % PIS_DEFAULT))
      mac=$(printf '00:16:3e:%02x:%02x:%02x' $((RANDOM % 256)) $((RANDOM % 256)) "$k")
      echo "write pi$((1 + RANDOM % PIS_DEFAULT)) person p$k$RANDOM $mac"
      case $faults in
        0) echo "unplug pi$a"; echo "expect detected pi$a within 60 intervals"
           echo "write pi$a person u$k$RANDOM ${mac%:*}:a$k"
           echo "write pi$(( a % PIS_DEFAULT + 1 )) person o$k$RANDOM ${mac%:*}:b$k"
           echo "wait $((RANDOM % 3 + 1)) s"; echo "plug pi$a" ;;
        1) echo "kill pi$a"; echo "expect detected pi$a within 60 intervals"
           echo "write pi$(( a % PIS_DEFAULT + 1 )) person k$k$RANDOM ${mac%:*}:c$k"
           echo "wait $((RANDOM % 3)) s"; echo "start pi$a" ;;
        2) local left=() right=()
           for i in $(seq 1 "$PIS_DEFAULT"); do
             if (( RANDOM % 2 )); then left+=("pi$i"); else right+=("pi$i"); fi
           done
           [ ${#left[@]} -gt 0 ] || { left=("${right[0]}"); right=("${right[@]:1}"); }
           [ ${#right[@]} -gt 0 ] || { right=("${left[0]}"); left=("${left[@]:1}"); }
           echo "partition ${left[*]} -- ${right[*]}"
           echo "expect detected within 60 intervals"
           echo "write ${left[0]} person l$k$RANDOM ${mac%:*}:d$k"
           echo "write ${right[0]} person r$k$RANDOM ${mac%:*}:e$k"
           echo "wait $((RANDOM % 3 + 1)) s"; echo "heal" ;;
      esac
      echo "expect converged within 150 intervals"
    done
  } >"$out"
}

main() {
  [ "$(id -u)" = 0 ] || { echo "drill: needs root (network namespaces)" >&2; exit 2; }
  command -v jq >/dev/null || { echo "drill: jq is missing (apt-get install jq)" >&2; exit 2; }
  "$LAB" down >/dev/null 2>&1 || true
  local failed=0 total=0 f all_heals all_detects summary
  all_heals=$(mktemp); all_detects=$(mktemp); summary=$(mktemp)
  run_and_collect() {
    total=$((total + 1))
    run_scenario "$1" "$2" | tee "$summary.one"
    local rc=${PIPESTATUS[0]}
    grep '^HEAL_MS' "$summary.one" | cut -d' ' -f2 >>"$all_heals"
    grep '^DETECT_MS' "$summary.one" | cut -d' ' -f2 >>"$all_detects"
    grep '^REPORT' "$summary.one" >>"$summary"
    [ "$rc" = 0 ] || failed=$((failed + 1))
  }
  for f in "${FILES[@]:-}"; do
    [ -n "$f" ] || continue
    run_and_collect "$f" "$(basename "$f" .drill)"
  done
  if (( REPEAT > 0 )); then
    RANDOM=$SEED
    local k tmp
    tmp=$(mktemp)
    for k in $(seq 1 "$REPEAT"); do
      random_scenario "$tmp"
      run_and_collect "$tmp" "random-seed$SEED-$k"
    done
    rm -f "$tmp"
  fi
  local lost
  lost=$(grep -o 'lost=[0-9]*' "$summary" | cut -d= -f2 | awk '{s+=$1} END {print s+0}')
  echo "== summary: $total drill(s), $failed failed, $lost lost write(s)"
  echo "   heal ms (median p99 max): $(stats <"$all_heals") over $(grep -c . "$all_heals") heals"
  echo "   detect ms, first Pi (median p99 max): $(stats <"$all_detects") over $(grep -c . "$all_detects") faults"
  rm -f "$all_heals" "$all_detects" "$summary" "$summary.one"
  [ "$failed" = 0 ]
}

main
