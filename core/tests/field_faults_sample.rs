//! A fixed sample of the field-fault seeds, run in the core crate so CI can run it in release
//! without building the agent (`deploy/test.sh`: seeds 10,000–11,999, beyond the 200 the
//! agent's `sim_invariants` runs in debug). The scenario is `officemesh_core::sim::field`, the
//! one `sim_invariants::field_faults_converge_with_identical_contents` runs; replay a failing
//! seed there (`OFFICEMESH_SIM_SEED=<n>`, with `OFFICEMESH_SIM_DEBUG=1` for every replica).
//!
//! `OFFICEMESH_SIM_FIRST_SEED` / `OFFICEMESH_SIM_SEEDS` choose the range (10,000 and 2,000 by
//! default). Ignored in the workspace's debug run; `deploy/test.sh` runs it: `cargo test
//! --release -p officemesh-core --features sim --test field_faults_sample -- --ignored`.
//! It prints (past the test harness's capture) how many seeds had a node re-stamp its writes
//! (its clock jumped ahead of the mesh's median, corrected: `Sim::restamped`) and how many
//! writes were re-stamped in all, and fails if none did: the correction must stay exercised.

use std::io::Write;

use officemesh_core::sim::field::field_faults;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "2,000 seeds: run in release by deploy/test.sh (`-- --ignored`)"]
fn field_fault_sample_converges_with_identical_contents() {
    let first = env_or("OFFICEMESH_SIM_FIRST_SEED", 10_000);
    let count = env_or("OFFICEMESH_SIM_SEEDS", 2_000);
    let mut failures = Vec::new();
    let (mut restamped, mut restamping_seeds) = (0, 0);
    for seed in first..first + count {
        let mut sim = field_faults(seed);
        let outcome = match sim.run_until_converged(80) {
            None => Err(format!(
                "not converged 80 rounds after the faults stopped: {}",
                sim.check_identical_contents().err().unwrap_or_default()
            )),
            Some(_) if sim.net().decode_errors > 0 => Err("messages did not decode".to_string()),
            Some(_) => sim.check_no_lost_values().map_err(|e| e.to_string()),
        };
        restamped += sim.restamped();
        restamping_seeds += u64::from(sim.restamped() > 0);
        if let Err(why) = outcome {
            eprintln!(
                "seed {seed} failed: {why}\n  replay: OFFICEMESH_SIM_SEED={seed} cargo test -p \
                 officemesh --test suite -- \
                 sim_invariants::field_faults_converge_with_identical_contents --exact --nocapture"
            );
            failures.push(seed);
        }
    }
    // Straight to stderr: shown even when the test passes (the harness captures `eprintln!`).
    let _ = writeln!(
        std::io::stderr(),
        "field faults, seeds {first}..{}: {} failed; {restamping_seeds} seeds re-stamped \
         {restamped} writes (clock correction)",
        first + count,
        failures.len()
    );
    assert!(
        count < 100 || restamping_seeds > 0,
        "no seed re-stamped a write: the clock correction went unexercised"
    );
    assert!(
        failures.is_empty(),
        "{} of {count} seeds failed: {failures:?}",
        failures.len()
    );
}
