//! What the invariant tests and the bench ask of a simulated mesh: convergence, who holds a
//! write, whether an acknowledged write was lost, and a one-line-per-node description for
//! failure reports. Read-only over the simulation (except `run_until_converged`).

use std::collections::{BTreeMap, HashMap};

use super::Sim;
use crate::crdt::Stamp;
use crate::state::{Key, Value};

/// An invariant a simulated mesh broke, described for the failure report (which nodes, which
/// key, what each side holds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

impl From<String> for Violation {
    fn from(description: String) -> Violation {
        Violation(description)
    }
}

impl Sim {
    /// True when every running node holds the same state: equal state hashes and then, not
    /// trusting hashes, equal contents (every key with its value and stamp).
    pub fn converged(&self) -> bool {
        let mut hashes = self
            .nodes
            .iter()
            .filter(|n| n.node.is_some())
            .map(|n| n.replica.state_hash());
        let hashes_agree = match hashes.next() {
            Some(first) => hashes.all(|h| h == first),
            None => true,
        };
        hashes_agree && self.check_identical_contents().is_ok()
    }

    /// Compares the full contents of every running replica (keys, values, stamps; tombstones
    /// included) with the first running one, without trusting any hash or digest. The error
    /// names the first key that differs and what each side holds.
    pub fn check_identical_contents(&self) -> Result<(), Violation> {
        let mut up = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.node.is_some());
        let Some((first_index, first)) = up.next() else {
            return Ok(());
        };
        let reference: BTreeMap<&Key, (&Option<Value>, Stamp)> = first
            .replica
            .entries()
            .map(|e| (&e.key, (&e.value, e.stamp)))
            .collect();
        for (i, n) in up {
            let mine: BTreeMap<&Key, (&Option<Value>, Stamp)> = n
                .replica
                .entries()
                .map(|e| (&e.key, (&e.value, e.stamp)))
                .collect();
            if mine == reference {
                continue;
            }
            let key = reference
                .keys()
                .chain(mine.keys())
                .find(|k| reference.get(*k) != mine.get(*k))
                .map_or_else(String::new, |k| k.to_string());
            let show = |m: &BTreeMap<&Key, (&Option<Value>, Stamp)>| {
                m.iter().find(|(k, _)| k.to_string() == key).map_or(
                    "nothing".to_string(),
                    |(_, (v, s))| {
                        format!(
                            "{} at {s}",
                            if v.is_some() {
                                "a value"
                            } else {
                                "a tombstone"
                            }
                        )
                    },
                )
            };
            let digests_equal = first.replica.digest() == n.replica.digest();
            return Err(format!(
                "node {i} and node {first_index} differ on {key}: {} vs {} (digests {})",
                show(&mine),
                show(&reference),
                if digests_equal {
                    "EQUAL: anti-entropy cannot see it"
                } else {
                    "differ"
                }
            )
            .into());
        }
        Ok(())
    }

    /// Runs round by round until converged, at most `max_rounds`; returns the rounds it took.
    pub fn run_until_converged(&mut self, max_rounds: u64) -> Option<u64> {
        for round in 0..=max_rounds {
            if self.converged() {
                return Some(round);
            }
            self.run_rounds(1);
        }
        None
    }

    /// How many running nodes hold `key` at `stamp` or newer.
    pub fn holders(&self, key: &Key, stamp: Stamp) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.node.is_some())
            .filter(|n| n.replica.get(key).is_some_and(|e| e.stamp >= stamp))
            .count()
    }

    /// Checks that no acknowledged write is lost on any running node: each write is held, or
    /// replaced by a newer stamp, or (deleted) its key is gone after a newer-or-equal delete.
    pub fn check_no_lost_writes(&self) -> Result<(), Violation> {
        self.check_writes_kept(true)
    }

    /// As `check_no_lost_writes`, but deletes are not checked: after a partition longer than
    /// the grace period in which both sides collected tombstones, the side that loses the
    /// reset tie gets the other side's entries back, so its collected deletes are undone (by
    /// design; docs/reliability.md), and a value such a delete had superseded may give way to
    /// an older concurrent one. Values no delete superseded are never lost.
    pub fn check_no_lost_values(&self) -> Result<(), Violation> {
        self.check_writes_kept(false)
    }

    fn check_writes_kept(&self, deletes_too: bool) -> Result<(), Violation> {
        let mut latest_delete: HashMap<&Key, Stamp> = HashMap::new();
        for w in &self.writes {
            if w.deleted {
                let slot = latest_delete.entry(&w.key).or_insert(w.stamp);
                *slot = (*slot).max(w.stamp);
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.node.is_none() {
                continue;
            }
            for w in self.writes.iter().filter(|w| deletes_too || !w.deleted) {
                match n.replica.get(&w.key) {
                    Some(e) if e.stamp >= w.stamp => {}
                    None if latest_delete.get(&w.key).is_some_and(|d| *d >= w.stamp) => {}
                    // A value a later delete superseded: whether that delete survives is
                    // what `deletes_too` checks.
                    _ if !deletes_too
                        && latest_delete.get(&w.key).is_some_and(|d| *d >= w.stamp) => {}
                    held => {
                        return Err(format!(
                            "node {i} lost write {} = {} by node {} (holds {:?})",
                            w.key,
                            w.stamp,
                            w.node,
                            held.map(|e| e.stamp.to_string())
                        )
                        .into())
                    }
                }
            }
        }
        Ok(())
    }

    /// One line per node (up, state hash, digest, counters): printed when an invariant fails.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let digest: Vec<String> = n
                .replica
                .digest()
                .iter()
                .map(|(o, w)| format!("{:04x}:{w}", o.0 & 0xffff))
                .collect();
            let stats = n.node.as_ref().map(|node| node.gossip()).map(|c| {
                let s = c.stats();
                format!(
                    "rejected {} refused {} resets {}/{} gc {}",
                    s.rejected_stamps,
                    s.refused_chunks,
                    s.resets_sent,
                    s.resets_done,
                    s.tombstones_collected
                )
            });
            out.push_str(&format!(
                "node {i} {:04x} {} skew {} hash {} entries {} digest [{}] {}\n",
                n.id.0 & 0xffff,
                if n.node.is_some() { "up" } else { "down" },
                n.skew_ms,
                &n.replica.state_hash().to_hex()[..8],
                n.replica.len(),
                digest.join(" "),
                stats.unwrap_or_default()
            ));
        }
        out
    }
}
