#!/usr/bin/env bash
# Runs one coverage-guided fuzz target (AFL++ through cargo-afl, stable Rust) for SECONDS and
# prints executions, crashes and hangs from AFL's fuzzer_stats.
#
#   ./deploy/fuzz.sh TARGET SECONDS      # TARGET: frame | gossip_codec | noise | config | chat
#   FUZZ_OUT=fuzz/target/afl/frame-… ./deploy/fuzz.sh frame 3600   # resume that run
#
# Installs what is missing: a C compiler (apt-get build-essential, as root) and cargo-afl
# (`cargo install cargo-afl --locked`, which also builds its bundled AFL++: about 2.5 minutes
# on a 2-core machine). The first target build compiles the agent instrumented into
# fuzz/target (about 5 minutes; later builds are incremental). Starts from the committed seeds
# in fuzz/corpus/TARGET; AFL's output (queue, crashes/, hangs/) goes to
# fuzz/target/afl/TARGET-<time>. Runs at `nice -n 19` on one core.
# Exit status: 0 when no crash and no hang was found, 1 otherwise, 2 on a usage error.
# A crash or hang input belongs in fuzz/regressions/TARGET/ (replayed by `cargo test -p
# officemesh --test suite -- fuzz_corpus::`) plus a unit test next to the code it broke; see
# docs/reliability.md "Fuzzing".
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
targets="frame gossip_codec noise config chat"
target="${1:-}"
seconds="${2:-}"
if [ -z "$target" ] || ! [[ " $targets " == *" $target "* ]] || ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 TARGET SECONDS   (TARGET: ${targets// / | })" >&2
  exit 2
fi

if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing build-essential (cargo-afl builds AFL++ from source)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends build-essential >/dev/null
  else
    echo "a C compiler and make are needed: apt-get install build-essential" >&2
    exit 1
  fi
fi
if ! cargo afl --version >/dev/null 2>&1; then
  echo "==> cargo install cargo-afl --locked (about 2.5 minutes)"
  started=$(date +%s)
  nice -n 10 cargo install cargo-afl --locked
  echo "==> cargo-afl installed in $(($(date +%s) - started)) s"
fi

cd "$root/fuzz"
echo "==> building fuzz target $target (instrumented)"
nice -n 10 cargo afl build --release --bin "$target"

# FUZZ_OUT=DIR resumes an earlier run's output directory (its queue, and its execution count
# keeps adding up), so a long campaign can be run in several sittings.
out="${FUZZ_OUT:-$root/fuzz/target/afl/$target-$(date -u +%Y%m%dT%H%M%SZ)}"
if [ -f "$out/default/fuzzer_stats" ]; then
  echo "==> resuming $out"
  export AFL_AUTORESUME=1
fi
mkdir -p "$out"
echo "==> fuzzing $target for $seconds s; output in $out"
# No UI, no CPU binding (the machine is shared), and no refusal when the kernel's core_pattern
# pipes crashes elsewhere (containers cannot change it). -t: an input running over 1 s is a hang.
AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
  nice -n 19 cargo afl fuzz -i "corpus/$target" -o "$out" -V "$seconds" -t 1000 \
  -- "target/release/$target" >>"$out/afl.log" 2>&1 || {
  echo "afl-fuzz failed; last lines of $out/afl.log:" >&2
  tail -20 "$out/afl.log" >&2
  exit 1
}

stats="$out/default/fuzzer_stats"
stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
execs=$(stat execs_done)
run_time=$(stat run_time)
crashes=$(stat saved_crashes)
hangs=$(stat saved_hangs)
echo "target:      $target"
echo "executions:  $execs"
echo "run time:    ${run_time} s"
echo "exec/s:      $((execs / (run_time > 0 ? run_time : 1)))"
echo "corpus:      $(stat corpus_count) inputs, edges found $(stat edges_found) of $(stat total_edges) ($(stat bitmap_cvg))"
echo "stability:   $(stat stability)"
echo "crashes:     $crashes"
echo "hangs:       $hangs"
if [ "${crashes:-0}" != 0 ] || [ "${hangs:-0}" != 0 ]; then
  echo "inputs: $out/default/crashes/ and $out/default/hangs/"
  exit 1
fi
