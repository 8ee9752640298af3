//! Gossip figures from the deterministic simulator (run: `cargo bench -p officemesh --bench
//! gossip`; a few minutes). Prints markdown tables:
//! 1. rounds until 99.99 % / 100 % of nodes hold a new write (N = 10 … 1000, 0 % / 20 % loss);
//! 2. idle bytes per node per round with few and many stored entries, and with one write per
//!    second per node;
//! 3. bytes sent to heal a partition vs the size of the missing entries;
//! 4. rounds to detect a dead node, and false alarms at 30 % loss.
//!
//! Rounds are 1 s, fanout 3, latency 1–10 ms, every message encoded with the real codec.
//! `OFFICEMESH_BENCH_QUICK=1` runs smaller sizes (a smoke test).

use std::collections::BTreeMap;
use std::time::Instant;

use officemesh::crdt::{NodeId, Stamp};
use officemesh::gossip::wire::entry_size;
use officemesh::gossip::MemberStatus;
use officemesh::state::{Entry, Key, PersonInfo, Replica, Value};
use officemesh_core::sim::{Sim, SimConfig, EPOCH_MS};
use officemesh_sensors::MacAddr;

const INTERVAL_MS: u64 = 1000;

fn quick() -> bool {
    std::env::var("OFFICEMESH_BENCH_QUICK").is_ok()
}

fn person(i: u64) -> Key {
    Key::Person {
        name: format!("person{i}"),
        mac: MacAddr([
            2,
            (i >> 24) as u8,
            (i >> 16) as u8,
            (i >> 8) as u8,
            i as u8,
            7,
        ]),
    }
}

fn present(by: &str) -> Option<Value> {
    Some(Value::Person(PersonInfo {
        added_by: by.to_string(),
    }))
}

/// A mesh of `n` nodes whose members all know each other.
fn warmed_up(n: usize, seed: u64) -> Sim {
    warmed_up_with(SimConfig::new(n, seed))
}

fn warmed_up_with(cfg: SimConfig) -> Sim {
    let mut sim = Sim::new(cfg);
    for _ in 0..200 {
        sim.run_rounds(1);
        if sim.members_converged() {
            break;
        }
    }
    // A few more rounds so failure detectors have samples.
    sim.run_rounds(5);
    sim
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    if values.is_empty() {
        return f64::NAN;
    }
    values[values.len() / 2]
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

/// Rounds until `fraction` and all of the nodes hold a write made now on a random node.
fn spread_rounds(sim: &mut Sim, key: Key) -> (f64, f64) {
    let n = sim.len();
    let writer = (sim.now_ms() as usize * 7919) % n;
    let Some(entry) = sim.write(writer, key.clone(), present("bench")) else {
        return (f64::NAN, f64::NAN);
    };
    let start = sim.now_ms();
    let target = ((n as f64) * 0.9999).ceil() as usize;
    let mut at_target = None;
    let step = INTERVAL_MS / 20;
    while sim.now_ms() - start < 60 * INTERVAL_MS {
        sim.run_until(sim.now_ms() + step);
        let holders = sim.holders(&key, entry.stamp);
        let rounds = (sim.now_ms() - start) as f64 / INTERVAL_MS as f64;
        if at_target.is_none() && holders >= target {
            at_target = Some(rounds);
        }
        if holders == n {
            return (at_target.unwrap_or(rounds), rounds);
        }
    }
    (at_target.unwrap_or(f64::NAN), f64::NAN)
}

fn dissemination() {
    println!("## 1. Rounds until a new write reaches 99.99 % / 100 % of nodes\n");
    println!("| N | loss | runs | 99.99 % median | 99.99 % max | 100 % median | 100 % max |");
    println!("|---|---|---|---|---|---|---|");
    let sizes: &[(usize, usize)] = if quick() {
        &[(10, 5), (50, 3)]
    } else {
        &[(10, 20), (50, 20), (100, 20), (1000, 6)]
    };
    for &(n, runs) in sizes {
        let base = warmed_up(n, 42);
        for loss in [0.0, 0.2] {
            let mut to_target = Vec::new();
            let mut to_all = Vec::new();
            for run in 0..runs {
                let mut sim = base.clone();
                sim.reseed(1000 + run as u64);
                sim.set_loss(loss);
                // Start each run at a different point of the round.
                sim.run_until(sim.now_ms() + (run as u64 * 137) % INTERVAL_MS);
                let (t, a) = spread_rounds(&mut sim, person(run as u64));
                to_target.push(t);
                to_all.push(a);
            }
            println!(
                "| {n} | {:.0} % | {runs} | {:.2} | {:.2} | {:.2} | {:.2} |",
                loss * 100.0,
                median(&mut to_target.clone()),
                max(&to_target),
                median(&mut to_all.clone()),
                max(&to_all)
            );
        }
    }
    println!("\n(For N < 10 000, 99.99 % of the nodes is every node, so both columns coincide.)\n");
}

/// Identical replicas for every node of `sim` holding `entries` entries written by the nodes
/// in turn (so every origin has some), with watermarks to match.
fn preload(sim: &mut Sim, entries: u64) {
    let n = sim.len();
    let ids: Vec<NodeId> = (0..n).map(|i| sim.node_id(i)).collect();
    let mut all = Vec::with_capacity(entries as usize);
    let mut versions: BTreeMap<NodeId, u64> = BTreeMap::new();
    for i in 0..entries {
        let origin = ids[i as usize % n];
        let version = versions.entry(origin).or_insert(0);
        *version += 1;
        all.push(Entry {
            key: person(1_000_000 + i),
            value: present("preload"),
            stamp: Stamp::new(Stamp::time_from_unix_ms(EPOCH_MS - 60_000 + i), origin),
            version: *version,
        });
    }
    for (node, id) in ids.iter().enumerate() {
        let replica = Replica::from_parts(*id, all.clone(), versions.clone());
        sim.set_replica(node, replica);
    }
}

fn idle_traffic() {
    println!("## 2. Bytes sent per node per round\n");
    println!("Idle: nothing written; 'many' entries are preloaded on every replica (identical).");
    println!("Active: every node writes one entry per second (one per round).\n");
    println!(
        "| N | entries stored | idle B/node/round | messages/node/round | active B/node/round | chitchat idle (DESIGN.md) |"
    );
    println!("|---|---|---|---|---|---|");
    let big_for = |n: usize| -> u64 {
        if quick() {
            1_000
        } else {
            // Total entries across replicas kept near 2 M so the bench fits in memory.
            (2_000_000 / n as u64).min(100_000)
        }
    };
    let sizes: &[usize] = if quick() {
        &[10, 20]
    } else {
        &[10, 20, 40, 50, 100]
    };
    let chitchat: BTreeMap<usize, &str> = [(10, "2 983"), (50, "14 506"), (100, "28 917")]
        .into_iter()
        .collect();
    for &n in sizes {
        for entries in [10, big_for(n)] {
            let mut sim = Sim::new(SimConfig::new(n, 7));
            preload(&mut sim, entries);
            for _ in 0..200 {
                sim.run_rounds(1);
                if sim.members_converged() && sim.converged() {
                    break;
                }
            }
            // Let every pair's "last seen hash" settle, then measure.
            sim.run_rounds(20);
            let rounds = 30;
            sim.reset_net_stats();
            sim.run_rounds(rounds);
            let idle = sim.net().bytes as f64 / (n as f64 * rounds as f64);
            let messages = sim.net().messages as f64 / (n as f64 * rounds as f64);
            // Active: one write per node per round.
            sim.reset_net_stats();
            for round in 0..rounds {
                for node in 0..n {
                    sim.write(
                        node,
                        person(round * 10_000 + node as u64),
                        present("active"),
                    );
                }
                sim.run_rounds(1);
            }
            let active = sim.net().bytes as f64 / (n as f64 * rounds as f64);
            println!(
                "| {n} | {entries} | {idle:.0} | {messages:.1} | {active:.0} | {} |",
                chitchat.get(&n).copied().unwrap_or("—")
            );
        }
    }
    println!();
}

fn partition_heal() {
    println!("## 3. Healing a partition: bytes sent vs bytes missing\n");
    println!("Two halves cut apart for 30 rounds, each half writes entries; then healed.");
    println!("'Missing' = wire size of the entries each node lacked at heal time, summed.\n");
    println!("| N | entries written during the cut | missing B | sent B until converged | ratio | rounds to converge |");
    println!("|---|---|---|---|---|---|");
    let cases: &[(usize, u64)] = if quick() {
        &[(10, 100)]
    } else {
        &[(10, 100), (10, 2_000), (40, 2_000), (40, 20_000)]
    };
    for &(n, writes) in cases {
        let mut sim = warmed_up(n, 11);
        let left: Vec<usize> = (0..n / 2).collect();
        let right: Vec<usize> = (n / 2..n).collect();
        sim.partition(&[left, right]);
        for i in 0..writes {
            sim.write(i as usize % n, person(500_000 + i), present("cut"));
            if i % (writes / 30).max(1) == 0 {
                sim.run_rounds(1);
            }
        }
        sim.run_rounds(5);
        let snapshot: Vec<Replica> = (0..n).map(|i| sim.replica(i).clone()).collect();
        sim.reset_net_stats();
        sim.heal();
        let started = sim.now_ms();
        let rounds = sim.run_until_converged(300);
        let sent = sim.net().bytes;
        let final_state = sim.replica(0);
        let mut missing = 0usize;
        for before in &snapshot {
            for entry in final_state.entries() {
                if before.get(&entry.key).is_none_or(|e| e.stamp < entry.stamp) {
                    missing += entry_size(entry);
                }
            }
        }
        let _ = started;
        println!(
            "| {n} | {writes} | {missing} | {sent} | {:.2} | {} |",
            sent as f64 / missing.max(1) as f64,
            rounds.map_or("not within 300".to_string(), |r| r.to_string())
        );
    }
    println!();
}

/// Rounds after a crash until each other node sees the crashed one as dead (one value per
/// observer), or None for observers that never did within `limit` rounds.
fn detection_rounds(sim: &mut Sim, victim: usize, limit: u64) -> Vec<Option<f64>> {
    let n = sim.len();
    let victim_id = sim.node_id(victim);
    sim.crash(victim);
    let start = sim.now_ms();
    let mut found: Vec<Option<f64>> = vec![None; n];
    let step = INTERVAL_MS / 10;
    while sim.now_ms() - start < limit * INTERVAL_MS {
        sim.run_until(sim.now_ms() + step);
        let rounds = (sim.now_ms() - start) as f64 / INTERVAL_MS as f64;
        for (observer, slot) in found.iter_mut().enumerate() {
            if observer == victim || slot.is_some() {
                continue;
            }
            if let Some(core) = sim.core(observer) {
                let dead = core
                    .peers(sim.node_time_ms(observer), sim.replica(observer))
                    .iter()
                    .any(|p| p.node == victim_id && p.status == MemberStatus::Dead);
                if dead {
                    *slot = Some(rounds);
                }
            }
        }
        if found
            .iter()
            .enumerate()
            .all(|(i, f)| i == victim || f.is_some())
        {
            break;
        }
    }
    found
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, f)| f)
        .collect()
}

/// Distinct (observer, node) pairs ever seen dead over `rounds` rounds without any crash.
fn false_alarms(sim: &mut Sim, rounds: u64) -> usize {
    let n = sim.len();
    let mut alarms = std::collections::HashSet::new();
    for _ in 0..rounds {
        sim.run_rounds(1);
        for observer in 0..n {
            if let Some(core) = sim.core(observer) {
                for p in core.peers(sim.node_time_ms(observer), sim.replica(observer)) {
                    if p.status == MemberStatus::Dead {
                        alarms.insert((observer, p.node));
                    }
                }
            }
        }
    }
    alarms.len()
}

fn failure_detection() {
    println!("## 4. Failure detection\n");
    println!("Detection rounds: from the crash until each other node sees the node dead (all");
    println!("observers of 5 crashes). False alarms: (observer, node) pairs ever seen dead in 300");
    println!("rounds without any crash.\n");
    println!("| phi threshold | N | loss | detection rounds median | max | never detected | false alarms |");
    println!("|---|---|---|---|---|---|---|");
    let sizes: &[usize] = if quick() { &[10] } else { &[10, 50, 100] };
    // `OFFICEMESH_BENCH_PHI=3,4` tries other thresholds.
    let thresholds: Vec<f64> = match std::env::var("OFFICEMESH_BENCH_PHI") {
        Ok(list) => list
            .split(',')
            .filter_map(|t| t.trim().parse().ok())
            .collect(),
        Err(_) if quick() => vec![5.0],
        Err(_) => vec![4.0, 5.0, 8.0],
    };
    for &threshold in &thresholds {
        for &n in sizes {
            let mut cfg = SimConfig::new(n, 5);
            cfg.params.phi_threshold = threshold;
            cfg.params.suspect_phi = threshold / 2.0;
            let base = warmed_up_with(cfg);
            for loss in [0.0, 0.3] {
                let mut all = Vec::new();
                let mut never = 0;
                let crashes = 5;
                for run in 0..crashes {
                    let mut sim = base.clone();
                    sim.reseed(77 + run as u64);
                    sim.set_loss(loss);
                    sim.run_rounds(10);
                    for r in detection_rounds(&mut sim, 1 + run % (n - 1), 40) {
                        match r {
                            Some(r) => all.push(r),
                            None => never += 1,
                        }
                    }
                }
                let mut sim = base.clone();
                sim.reseed(99);
                sim.set_loss(loss);
                let alarms = false_alarms(&mut sim, if quick() { 50 } else { 300 });
                println!(
                    "| {threshold} | {n} | {:.0} % | {:.1} | {:.1} | {never} | {alarms} |",
                    loss * 100.0,
                    median(&mut all.clone()),
                    max(&all)
                );
            }
        }
    }
    println!();
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this without it, where a
    // debug build of the full run would be slow: only the quick smoke run then.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") && !quick() {
        println!("gossip bench: run with `cargo bench -p officemesh --bench gossip`");
        return;
    }
    let only: Option<String> = args.into_iter().find(|a| !a.starts_with('-'));
    let started = Instant::now();
    println!("# officemesh gossip figures (simulator, 1 s rounds, fanout 3)\n");
    let sections: [(&str, fn()); 4] = [
        ("spread", dissemination),
        ("idle", idle_traffic),
        ("heal", partition_heal),
        ("detect", failure_detection),
    ];
    for (name, run) in sections {
        if only.as_deref().is_none_or(|o| o == name) {
            let t = Instant::now();
            run();
            eprintln!("[{name}: {:.1} s]", t.elapsed().as_secs_f64());
        }
    }
    eprintln!("[total: {:.1} s]", started.elapsed().as_secs_f64());
}
