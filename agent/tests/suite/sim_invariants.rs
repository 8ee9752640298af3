//! Invariants of the gossip protocol, checked in the deterministic simulator over many seeds:
//! convergence after faults, no acknowledged write lost, no resurrection after a partition
//! longer than the tombstone grace period, failure detection and member GC (and the peers'
//! transitions every node records: `Sim::events`).
//!
//! `OFFICEMESH_SIM_SEEDS=<count>` runs a longer campaign (seeds 0..count, or from
//! `OFFICEMESH_SIM_FIRST_SEED=<n>` on); `OFFICEMESH_SIM_SEED=<n>` replays one seed. A failing
//! seed prints the command that replays it; `OFFICEMESH_SIM_DEBUG=1` also prints every
//! replica, and every write of the keys they disagree on, when a convergence check fails.

use std::cell::Cell;
use std::io::Write;

use officemesh::crdt::NodeId;
use officemesh::gossip::{GossipParams, MemberStatus};
use officemesh::state::Key;
use officemesh_core::sim::field::{self, person, present, random_split, random_write};
use officemesh_core::sim::{Sim, SimConfig};
use officemesh_core::{NodeEvent, PeerChange};
use rand::Rng;

/// Runs `check` for each seed (200 by default), reporting every failing seed with the command
/// that replays it.
fn for_each_seed(test: &str, default_seeds: u64, check: impl Fn(u64) -> Result<(), String>) {
    let seeds: Vec<u64> = match std::env::var("OFFICEMESH_SIM_SEED") {
        Ok(one) => vec![one.trim().parse().expect("OFFICEMESH_SIM_SEED is a number")],
        Err(_) => {
            let count = std::env::var("OFFICEMESH_SIM_SEEDS")
                .ok()
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or(default_seeds);
            let first = std::env::var("OFFICEMESH_SIM_FIRST_SEED")
                .ok()
                .map(|f| {
                    f.trim()
                        .parse()
                        .expect("OFFICEMESH_SIM_FIRST_SEED is a number")
                })
                .unwrap_or(0);
            (first..first + count).collect()
        }
    };
    let mut failures = Vec::new();
    for seed in &seeds {
        if let Err(why) = check(*seed) {
            eprintln!(
                "seed {seed} failed: {why}\n  replay: OFFICEMESH_SIM_SEED={seed} cargo test -p officemesh --test suite -- sim_invariants::{test} --exact --nocapture"
            );
            failures.push(*seed);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed: {:?}",
        failures.len(),
        seeds.len(),
        failures
    );
}

/// Runs until every replica holds the same contents, at most `limit` rounds; otherwise says
/// what differs (and whether the digests hide it) and, with `OFFICEMESH_SIM_DEBUG` set, prints
/// every replica.
fn converge_or_explain(sim: &mut Sim, limit: u64, what: &str) -> Result<u64, String> {
    sim.run_until_converged(limit).ok_or_else(|| {
        if std::env::var("OFFICEMESH_SIM_DEBUG").is_ok() {
            for i in 0..sim.len() {
                eprintln!("node {i}:");
                for e in sim.replica(i).entries() {
                    eprintln!(
                        "   {} v{} {} {:?}",
                        e.key,
                        e.version,
                        e.stamp,
                        e.value.is_some()
                    );
                }
            }
            // Every acknowledged write of the keys some replicas lack or hold differently.
            let differing: std::collections::BTreeSet<Key> = (0..sim.len())
                .flat_map(|i| sim.replica(i).entries().map(|e| e.key.clone()))
                .filter(|key| {
                    let held: Vec<_> = (0..sim.len())
                        .filter(|&i| sim.is_up(i))
                        .map(|i| sim.replica(i).get(key).map(|e| e.stamp))
                        .collect();
                    held.windows(2).any(|pair| pair[0] != pair[1])
                })
                .collect();
            for record in sim.writes().iter().filter(|w| differing.contains(&w.key)) {
                eprintln!(
                    "write {} by node {} at {} ({})",
                    record.key,
                    record.node,
                    record.stamp,
                    if record.deleted { "delete" } else { "value" }
                );
            }
        }
        format!(
            "not converged {limit} rounds {what}: {}\n{}",
            sim.check_identical_contents().err().unwrap_or_default(),
            sim.describe()
        )
    })
}

/// Every message and saved state the simulator encoded decoded again.
fn no_decode_errors(sim: &Sim) -> Result<(), String> {
    match sim.net().decode_errors {
        0 => Ok(()),
        errors => Err(format!("{errors} messages or saved states did not decode")),
    }
}

#[test]
fn replicas_converge_and_lose_nothing_after_faults() {
    for_each_seed(
        "replicas_converge_and_lose_nothing_after_faults",
        200,
        |seed| {
            let mut rng_cfg = SimConfig::new(5, seed);
            let n = 5 + (seed % 8) as usize;
            rng_cfg.nodes = n;
            rng_cfg.max_skew_ms = 1500;
            rng_cfg.loss = [0.0, 0.1, 0.3][(seed % 3) as usize];
            // Every other seed, deltas are cut to a few entries (the budget path).
            if seed % 2 == 1 {
                rng_cfg.params.max_delta_bytes = 400;
            }
            let mut sim = Sim::new(rng_cfg);
            sim.run_rounds(3);
            for _ in 0..15 {
                let writes = sim.rng().gen_range(0..4);
                for _ in 0..writes {
                    random_write(&mut sim, 12);
                }
                let roll: f64 = sim.rng().gen();
                if roll < 0.08 {
                    let node = sim.rng().gen_range(0..n);
                    sim.crash(node);
                } else if roll < 0.2 {
                    let node = sim.rng().gen_range(0..n);
                    sim.restart(node);
                } else if roll < 0.28 {
                    random_split(&mut sim, n);
                } else if roll < 0.4 {
                    sim.heal();
                }
                sim.run_rounds(1);
            }
            sim.heal();
            sim.set_loss(0.0);
            for node in 0..n {
                sim.restart(node);
            }
            let what = format!("after the faults stopped ({} writes)", sim.writes().len());
            let rounds = converge_or_explain(&mut sim, 40, &what)?;
            no_decode_errors(&sim)?;
            sim.check_no_lost_writes()
                .map_err(|e| format!("{e} (converged after {rounds} rounds)"))
        },
    );
}

#[test]
fn deleted_entries_do_not_come_back_after_a_partition_longer_than_the_grace_period() {
    for_each_seed(
        "deleted_entries_do_not_come_back_after_a_partition_longer_than_the_grace_period",
        200,
        |seed| {
            let n = 4 + (seed % 5) as usize;
            let mut cfg = SimConfig::new(n, seed);
            cfg.params = GossipParams {
                tombstone_grace_ms: 15_000,
                gc_every_ms: 2_000,
                ..GossipParams::default()
            };
            let mut sim = Sim::new(cfg);
            for k in 0..8 {
                let node = sim.rng().gen_range(0..n);
                sim.write(node, person(k), present("before"));
            }
            sim.run_until_converged(30)
                .ok_or("no convergence before the partition")?;
            // Split into a minority and a majority; one side (either) deletes.
            let minority_len = sim.rng().gen_range(1..=n / 2);
            let minority: Vec<usize> = (0..minority_len).map(|i| n - 1 - i).collect();
            let majority: Vec<usize> = (0..n - minority_len).collect();
            // Every third seed the minority is crashed (powered off) instead of cut off: it
            // restarts from its disk with a fresh core after the grace period.
            let crashed = seed % 3 == 0;
            if crashed {
                for &node in &minority {
                    sim.crash(node);
                }
            } else {
                sim.partition(&[minority.clone(), majority.clone()]);
            }
            let deleting = if !crashed && sim.rng().gen_bool(0.5) {
                &minority
            } else {
                &majority
            };
            let deleter = deleting[sim.rng().gen_range(0..deleting.len())];
            let other = if deleting == &minority {
                &majority
            } else {
                &minority
            };
            let writer = if crashed {
                majority[0]
            } else {
                other[sim.rng().gen_range(0..other.len())]
            };
            let deleted: Vec<u64> = (0..3).map(|k| k * 2 + seed % 2).collect();
            sim.run_rounds(2);
            for &k in &deleted {
                sim.write(deleter, person(k), None);
            }
            // In half of the seeds the other side writes meanwhile; in the other half its
            // digest stays exactly what it was before the cut (the shortcut for known digests
            // must still not skip the GC floors).
            let written_during = seed % 4 < 2;
            if written_during {
                sim.write(writer, person(100), present("during"));
            }
            sim.run_rounds(45);
            let collected = sim
                .core(deleter)
                .map_or(0, |c| c.stats().tombstones_collected);
            if collected < deleted.len() as u64 {
                return Err(format!(
                    "the deleting side collected {collected} tombstones, expected {}",
                    deleted.len()
                ));
            }
            sim.heal();
            for &node in &minority {
                sim.restart(node);
            }
            let rounds = converge_or_explain(
                &mut sim,
                60,
                &format!(
                    "after the partition healed (minority {minority:?}, crashed {crashed}, deleter {deleter})"
                ),
            )?;
            for node in 0..n {
                for &k in &deleted {
                    if sim.replica(node).value(&person(k)).is_some() {
                        return Err(format!(
                            "node {node} holds deleted {} again ({rounds} rounds after heal)",
                            person(k)
                        ));
                    }
                }
                if written_during && sim.replica(node).value(&person(100)).is_none() {
                    return Err(format!(
                        "node {node} lost the write made during the partition"
                    ));
                }
            }
            sim.check_no_lost_writes().map_err(|e| e.0)
        },
    );
}

#[test]
fn a_crashed_node_is_found_dead_forgotten_and_welcomed_back() {
    for_each_seed(
        "a_crashed_node_is_found_dead_forgotten_and_welcomed_back",
        50,
        |seed| {
            let n = 6;
            let mut cfg = SimConfig::new(n, seed);
            cfg.params.tombstone_grace_ms = 20_000;
            let mut sim = Sim::new(cfg);
            sim.run_rounds(10);
            let victim = 1 + (seed as usize % (n - 1));
            let victim_id: NodeId = sim.node_id(victim);
            sim.crash(victim);
            let crashed_at = sim.now_ms();
            sim.run_rounds(15);
            let now = |sim: &Sim, i: usize| sim.node_time_ms(i);
            for i in (0..n).filter(|&i| i != victim) {
                let core = sim.core(i).ok_or("a healthy node is down")?;
                let view = core.peers(now(&sim, i), sim.replica(i));
                let status = view.iter().find(|p| p.node == victim_id).map(|p| p.status);
                if status != Some(MemberStatus::Dead) {
                    return Err(format!("node {i} sees the crashed node as {status:?}"));
                }
            }
            saw(&sim, (&victim_id, crashed_at), "peer_suspect", |e| {
                matches!(e, PeerChange::Suspect { .. })
            })?;
            saw(&sim, (&victim_id, crashed_at), "peer_dead", |e| {
                matches!(e, PeerChange::Dead { .. })
            })?;
            sim.run_rounds(30);
            for i in (0..n).filter(|&i| i != victim) {
                let core = sim.core(i).ok_or("a healthy node is down")?;
                if core
                    .peers(now(&sim, i), sim.replica(i))
                    .iter()
                    .any(|p| p.node == victim_id)
                {
                    return Err(format!("node {i} still lists the node dead for 45 s"));
                }
            }
            sim.restart(victim);
            let restarted_at = sim.now_ms();
            sim.run_rounds(15);
            for i in (0..n).filter(|&i| i != victim) {
                let core = sim.core(i).ok_or("a healthy node is down")?;
                let view = core.peers(now(&sim, i), sim.replica(i));
                let status = view.iter().find(|p| p.node == victim_id).map(|p| p.status);
                if status != Some(MemberStatus::Alive) {
                    return Err(format!("node {i} sees the restarted node as {status:?}"));
                }
            }
            saw(&sim, (&victim_id, crashed_at), "peer_forgotten", |e| {
                matches!(e, PeerChange::Forgotten)
            })?;
            saw(&sim, (&victim_id, restarted_at), "peer_joined again", |e| {
                matches!(e, PeerChange::Joined)
            })?;
            Ok(())
        },
    );
}

#[test]
fn a_node_that_leaves_is_seen_as_left() {
    for_each_seed(
        "a_node_that_leaves_is_seen_as_left",
        50,
        leaver_is_seen_as_left,
    );
}

/// Seeds where the mesh once started as two components (a seed reached by others before its
/// own first round never contacted the other seeds), so part of it never heard of the leaver.
#[test]
fn a_node_that_leaves_is_seen_as_left_in_seeds_that_once_failed() {
    for seed in [140, 1355, 3650, 6500] {
        if let Err(why) = leaver_is_seen_as_left(seed) {
            panic!("seed {seed}: {why}");
        }
    }
}

fn leaver_is_seen_as_left(seed: u64) -> Result<(), String> {
    let n = 7;
    let mut sim = Sim::new(SimConfig::new(n, seed));
    sim.run_rounds(10);
    let leaver = 2;
    let leaver_id = sim.node_id(leaver);
    sim.leave(leaver);
    let left_at = sim.now_ms();
    sim.run_rounds(6);
    for i in (0..n).filter(|&i| i != leaver) {
        let core = sim.core(i).ok_or("a node is down")?;
        let view = core.peers(sim.node_time_ms(i), sim.replica(i));
        let status = view.iter().find(|p| p.node == leaver_id).map(|p| p.status);
        if status != Some(MemberStatus::Left) {
            return Err(format!("node {i} sees the leaver as {status:?}"));
        }
        // A node that saw it alive says it left (one that learned of it after the leave
        // never saw it alive: nothing to say).
        let changes: Vec<(u64, &PeerChange)> = sim
            .events()
            .iter()
            .filter(|e| e.node == i)
            .filter_map(|e| match event_peer(&e.event) {
                Some((peer, change)) if peer == leaver_id => Some((e.at_ms, change)),
                _ => None,
            })
            .collect();
        let joined = changes.iter().any(|(_, c)| matches!(c, PeerChange::Joined));
        let left = changes.iter().any(|(_, c)| matches!(c, PeerChange::Left));
        if joined && !left {
            return Err(format!(
                "node {i} recorded no peer_left about the leaver: {changes:?}"
            ));
        }
        let suspected = |(at, change): &(u64, &PeerChange)| {
            *at >= left_at && matches!(change, PeerChange::Suspect { .. } | PeerChange::Dead { .. })
        };
        if changes.iter().any(suspected) {
            return Err(format!(
                "node {i} suspected the leaver after it left: {changes:?}"
            ));
        }
    }
    Ok(())
}

/// The peer a transition event is about, and what happened to it.
fn event_peer(event: &NodeEvent) -> Option<(NodeId, &PeerChange)> {
    match event {
        NodeEvent::Peer { peer, change, .. } => Some((*peer, change)),
        _ => None,
    }
}

/// Every running node other than `peer`'s own recorded an event about `peer` at `since_ms`
/// (simulated time) or later that `is` (the transitions the agent shows in `/v1/events`),
/// else says which did not.
fn saw(
    sim: &Sim,
    (peer, since_ms): (&NodeId, u64),
    what: &str,
    is: impl Fn(&PeerChange) -> bool,
) -> Result<(), String> {
    for i in (0..sim.len()).filter(|&i| sim.is_up(i) && sim.node_id(i) != *peer) {
        let found = sim.events().iter().any(|e| {
            let about = event_peer(&e.event).filter(|(about, _)| about == peer);
            e.node == i && e.at_ms >= since_ms && about.is_some_and(|(_, change)| is(change))
        });
        if !found {
            return Err(format!("node {i} recorded no {what} event about {peer}"));
        }
    }
    Ok(())
}

/// Both sides of a partition longer than the grace period delete entries and collect the
/// tombstones; after the heal one side resets the other. The reset side must get back its own
/// writes that its side had replaced or deleted but the other side still holds (it re-fetches
/// them), or replicas would differ for ever with equal digests. Convergence is judged on full
/// contents (every key, value and stamp), not on hashes.
#[test]
fn deletes_collected_on_both_sides_of_a_long_partition_converge() {
    for_each_seed(
        "deletes_collected_on_both_sides_of_a_long_partition_converge",
        100,
        |seed| {
            let n = 4 + (seed % 5) as usize;
            let mut cfg = SimConfig::new(n, seed);
            cfg.params = GossipParams {
                tombstone_grace_ms: 15_000,
                gc_every_ms: 2_000,
                ..GossipParams::default()
            };
            let mut sim = Sim::new(cfg);
            for k in 0..8 {
                let node = sim.rng().gen_range(0..n);
                sim.write(node, person(k), present("before"));
            }
            sim.run_until_converged(30)
                .ok_or("no convergence before the partition")?;
            let m = sim.rng().gen_range(1..=n / 2);
            let minority: Vec<usize> = (0..m).map(|i| n - 1 - i).collect();
            let majority: Vec<usize> = (0..n - m).collect();
            sim.partition(&[minority.clone(), majority.clone()]);
            sim.run_rounds(2);
            sim.write(minority[0], person(1), None);
            sim.write(majority[0], person(2), None);
            sim.write(minority[0], person(101), present("minority"));
            sim.write(majority[0], person(102), present("majority"));
            sim.run_rounds(45);
            sim.heal();
            converge_or_explain(&mut sim, 80, "after the heal")?;
            for k in [101, 102] {
                if sim.replica(0).value(&person(k)).is_none() {
                    return Err(format!("lost the write {} made during the cut", person(k)));
                }
            }
            Ok(())
        },
    );
}

/// What the field does, mixed at random per seed: writes and deletes, crashes and restarts from
/// the persisted form (floors and reset progress included), disk-full write failures, clock
/// jumps forward and back (one node 20–40 s ahead in one seed of three: corrected, its writes
/// re-stamped), and partitions, some of them two-sided and longer than the tombstone grace
/// period (both sides delete and collect). After the faults stop (clocks fixed, disks freed,
/// network healed, every node up) replicas must hold identical contents (compared key by key,
/// not by hash) and no written value may be lost. Prints (past the harness's capture) how
/// many seeds re-stamped how many writes: a node whose clock ran ahead of the mesh's median,
/// corrected (`Sim::restamped`).
#[test]
fn field_faults_converge_with_identical_contents() {
    let (writes, seeds) = (Cell::new(0), Cell::new(0));
    for_each_seed(
        "field_faults_converge_with_identical_contents",
        200,
        |seed| field_faults_converge(seed, (&writes, &seeds)),
    );
    let _ = writeln!(
        std::io::stderr(),
        "field faults: {} seeds re-stamped {} writes (clock correction)",
        seeds.get(),
        writes.get()
    );
}

/// One seed of the field faults; adds its re-stamps to `(writes, seeds)`.
fn field_faults_converge(seed: u64, restamps: (&Cell<u64>, &Cell<u64>)) -> Result<(), String> {
    let mut sim = field::field_faults(seed);
    let outcome = converge_or_explain(&mut sim, 80, "after the faults stopped");
    restamps.0.set(restamps.0.get() + sim.restamped());
    restamps
        .1
        .set(restamps.1.get() + u64::from(sim.restamped() > 0));
    let rounds = outcome?;
    no_decode_errors(&sim)?;
    sim.check_no_lost_values()
        .map_err(|e| format!("{e} (converged after {rounds} rounds)"))
}
