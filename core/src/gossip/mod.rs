//! The scuttlebutt gossip protocol core (sans-IO): messages, digests and deltas, membership,
//! failure detection and peer selection, as a state machine that takes the time, received
//! messages and a random source, and returns messages to send.
//!
//! - [`message`]: the wire types (`Syn → SynAck → Ack`, `Reset`, `BadCluster`).
//! - [`clock_watch`]: peers whose stamps run ahead of this node's clock, and by how much.
//! - [`clock_offsets`]: each peer's clock measured NTP's way, and the mesh's median.
//! - [`codec`]: bytes ↔ messages (version byte + postcard, size-capped, never trusts counts).
//! - [`delta`]: digests, digest hashes, GC floors, building and applying deltas.
//! - [`members`]: the member table, compact heartbeats, statuses, member GC.
//! - [`detector`]: the phi-accrual failure detector.
//! - [`core`]: `GossipCore`, the state machine the transport and the simulator drive.
//! - [`stats`]: counters of traffic, refusals and repairs.
//! - [`wire`]: the wire form of entries (postcard cannot decode `Value`'s internal tag).
//!
//! Must not touch: sockets, the wall clock, the global RNG, SQLite, tokio.

pub mod clock_offsets;
pub mod clock_watch;
pub mod codec;
pub mod core;
pub mod delta;
pub mod detector;
pub mod members;
pub mod message;
pub mod stats;
pub mod wire;

#[cfg(test)]
mod divergence_tests;
#[cfg(test)]
mod regression_tests;
#[cfg(test)]
mod tests;

pub use self::core::{GossipCore, Outgoing, PeerView};
pub use codec::{
    decode, decode_with, encode, encode_for, encode_with, DecodeError, LEGACY_PROTOCOL_VERSION,
    MAX_MESSAGE_BYTES, PROTOCOL_VERSION,
};
pub use message::{Message, MessageKind};
pub use stats::{GossipStats, Traffic};

/// Tunables of the protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct GossipParams {
    /// Peers with another cluster name are refused.
    pub cluster: String,
    /// Round length (ms): the failure detector's prior interval.
    pub interval_ms: u64,
    /// Live peers contacted per round.
    pub fanout: usize,
    /// Most bytes of entries in one delta.
    pub max_delta_bytes: usize,
    /// Tombstones and dead members are forgotten after this long; a peer behind a forgotten
    /// tombstone is reset.
    pub tombstone_grace_ms: u64,
    /// How often tombstones are collected.
    pub gc_every_ms: u64,
    /// Chance per round of also contacting one node believed dead (or a seed not alive), so a
    /// healed partition is found.
    pub dead_probe_probability: f64,
    /// Phi at which a member is dead.
    pub phi_threshold: f64,
    /// Phi at which a member is suspect.
    pub suspect_phi: f64,
}

impl Default for GossipParams {
    fn default() -> Self {
        GossipParams {
            cluster: "office".into(),
            interval_ms: 1000,
            fanout: 3,
            max_delta_bytes: 64 * 1024,
            tombstone_grace_ms: 24 * 3600 * 1000,
            gc_every_ms: 60 * 1000,
            dead_probe_probability: 0.1,
            // The simulator's sweep (docs/performance.md, "Gossip"): 5 finds a dead node in about
            // 5–7 rounds with no false alarm at 30 % loss; 4 starts raising false alarms.
            phi_threshold: 5.0,
            suspect_phi: 2.5,
        }
    }
}
