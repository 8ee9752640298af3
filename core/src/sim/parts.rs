//! The simulator's plain parts: how a mesh is built (`SimConfig`), what a crashed node's disk
//! keeps (`Persisted`), and what a run records (`WriteRecord`, `SimEvent`, `NetStats`).
//!
//! Must not touch: nodes, the network queue, randomness (data only; `Sim` in `mod.rs` runs).

use std::collections::BTreeMap;

use crate::crdt::{NodeId, Stamp};
use crate::gossip::{GossipParams, MessageKind};
use crate::node::NodeEvent;
use crate::state::{Entry, Key, Replica};

/// 2026-01-01T00:00:00Z: simulated time 0 on a node without skew.
pub const EPOCH_MS: u64 = 1_767_225_600_000;

/// How the simulated mesh is built.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub nodes: usize,
    pub seed: u64,
    pub params: GossipParams,
    /// One-way message latency, uniform in this range (ms).
    pub latency_ms: (u64, u64),
    /// Probability that a message is lost.
    pub loss: f64,
    /// Each node's clock is off by a uniform amount in ±this (ms).
    pub max_skew_ms: u64,
    /// The clock guard: peer stamps more than this ahead of a node's clock are refused.
    pub max_clock_offset_ms: u64,
    /// The first this-many nodes are every node's seeds.
    pub seed_nodes: usize,
    /// Node ids are random u64 (as in production) rather than 1..=n.
    pub random_ids: bool,
}

impl SimConfig {
    /// `nodes` nodes, 1 s rounds, 1–10 ms latency, no loss, no skew, 3 seeds.
    pub fn new(nodes: usize, seed: u64) -> Self {
        SimConfig {
            nodes,
            seed,
            params: GossipParams::default(),
            latency_ms: (1, 10),
            loss: 0.0,
            max_skew_ms: 0,
            max_clock_offset_ms: 500,
            seed_nodes: 3,
            random_ids: true,
        }
    }
}

/// A crashed node's disk, in the form the agent's store keeps: entries, stored watermarks and
/// the safety state serialized (the store saves it as JSON), rebuilt on restart as the store
/// loads it.
#[derive(Debug, Clone)]
pub(super) struct Persisted {
    entries: Vec<Entry>,
    watermarks: crate::state::Digest,
    safety_json: String,
}

impl Persisted {
    pub(super) fn save(replica: &Replica) -> Self {
        Persisted {
            entries: replica.entries().cloned().collect(),
            watermarks: replica.stored_watermarks().clone(),
            safety_json: serde_json::to_string(replica.safety()).unwrap_or_default(),
        }
    }

    /// The replica as loaded, and whether the safety state parsed.
    pub(super) fn load(self, me: NodeId) -> (Replica, bool) {
        let mut replica = Replica::from_parts(me, self.entries, self.watermarks);
        match serde_json::from_str(&self.safety_json) {
            Ok(safety) => {
                replica.restore_safety(safety);
                (replica, true)
            }
            Err(_) => (replica, false),
        }
    }
}

/// A write the simulation made (and the node acknowledged). When its node re-stamps it
/// (`Effects::restamped`), `stamp` follows: the same write at its new, lower stamp.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRecord {
    pub node: usize,
    pub key: Key,
    pub stamp: Stamp,
    pub deleted: bool,
}

/// An event a node's `Effects` carried (`Sim::events`): when (simulated time), which node.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    pub at_ms: u64,
    pub node: usize,
    pub event: NodeEvent,
}

/// Network-wide counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetStats {
    pub messages: u64,
    pub bytes: u64,
    pub dropped: u64,
    pub by_kind: BTreeMap<MessageKind, (u64, u64)>,
    pub decode_errors: u64,
}
