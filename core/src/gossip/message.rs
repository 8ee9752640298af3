//! The gossip wire messages: a push-pull exchange `Syn → SynAck → Ack`, a `Reset` for a peer
//! that fell behind the tombstone GC horizon, and `BadCluster` for a peer of another mesh.
//!
//! Plain data (serde). Must not touch: sockets, clocks, the replica. Encoding lives in `codec`.

use serde::{Deserialize, Serialize};

pub use super::clock_offsets::OffsetSample;
use crate::crdt::{NodeId, Stamp};
use crate::state::{Entry, Key};

/// One gossip message: who sent it (cluster, node, gossip address) and what it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The sender's cluster name; a receiver with another name refuses the message.
    pub cluster: String,
    pub from: NodeId,
    /// The sender's advertised gossip address (`host:port`).
    pub from_addr: String,
    pub body: Body,
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Body {
    /// Opens an exchange: the initiator's state summary and heartbeats.
    Syn {
        state: StateSummary,
        members: Heartbeats,
    },
    /// Answers a `Syn`: what the initiator is missing, and what the responder wants.
    SynAck {
        /// Hash of the responder's digest (as it was before this exchange).
        state_hash: u64,
        /// Origins the responder wants entries of, with its watermark and GC floor. When
        /// `want_is_full_digest`, this is the responder's whole digest (the `Syn` carried only a
        /// hash that did not match) and the initiator also checks it against its GC floors.
        want: Vec<DigestItem>,
        want_is_full_digest: bool,
        /// The responder's GC mark (see `DigestSummary::gc_mark`) when `want` is a full digest.
        gc_mark: Stamp,
        delta: Delta,
        members: Heartbeats,
    },
    /// Closes an exchange: what the responder wanted.
    Ack { delta: Delta, members: Heartbeats },
    /// "You were away past the tombstone grace period: forget what you learned from others and
    /// re-sync." Carries the GC floors to adopt and which of the receiver's own writes the
    /// sender holds up to `your_watermark` (the receiver drops its other own writes up to there:
    /// they were replaced or deleted while it was away).
    Reset {
        floors: Vec<(NodeId, u64)>,
        gc_mark: Stamp,
        your_watermark: u64,
        your_versions: Vec<u64>,
        /// The sender's watermarks: until the receiver has caught up to them it does not reset
        /// others (its knowledge of their writes is incomplete).
        watermarks: Vec<(NodeId, u64)>,
        /// Protocol 3 on: the sender's collected ledger (key and stamp of each collected
        /// tombstone it still remembers), which replaces the receiver's; the receiver drops
        /// own writes it covers. Empty from (and not sent to) older peers.
        #[serde(with = "super::wire::collected")]
        collected: Vec<(Key, Stamp)>,
    },
    /// "This node belongs to cluster `cluster`, not yours": the reply to a foreign cluster.
    BadCluster,
}

/// The initiator's replicated-state summary in a `Syn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StateSummary {
    /// Hash of the digest only: sent when the peer last showed the same hash (idle traffic).
    Hash(u64),
    /// The full digest: every origin's watermark and GC floor.
    Full(DigestSummary),
}

/// A full digest with the sender's GC mark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestSummary {
    pub items: Vec<DigestItem>,
    /// Newest stamp of a tombstone this node garbage-collected (or adopted on reset): breaks
    /// the tie when two sides of a long partition both GC'd tombstones.
    pub gc_mark: Stamp,
}

/// One origin in a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestItem {
    pub origin: NodeId,
    /// The sender holds every write of `origin` up to this version.
    pub watermark: u64,
    /// Highest version of a tombstone of `origin` the sender garbage-collected (0: none).
    pub floor: u64,
}

/// Entries a peer is missing, per origin, most-behind origin first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub chunks: Vec<Chunk>,
    /// True when the byte budget cut the delta (more remains for a later round).
    pub truncated: bool,
}

/// One origin's part of a delta: entries in version order, without gaps up to `complete_to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    pub origin: NodeId,
    /// The watermark the sender built the chunk after: a receiver whose watermark is lower (it
    /// reset meanwhile) must not apply it, or it would skip versions.
    pub after: u64,
    /// The receiver may set its watermark for `origin` to this once it applied every entry.
    pub complete_to: u64,
    #[serde(with = "super::wire::entries")]
    pub entries: Vec<Entry>,
    /// Protocol 3 on: versions in `(after, complete_to]` the sender skips because a write of
    /// another origin replaced them, each with the sender's newest write of that key. The
    /// receiver passes a skipped version only once it holds that write (or a newer one): a
    /// hole is sound only if its replacement reaches the receiver too. Empty from (and not
    /// sent to) older peers, whose holes are passed as before.
    #[serde(with = "super::wire::skipped")]
    pub skipped: Vec<Skipped>,
}

/// A version a chunk skips, and the write that replaced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// The skipped version of the chunk's origin.
    pub version: u64,
    /// The sender's newest write of the key that version held (any origin). Version 0: a
    /// tombstone the sender collected, known from its ledger (not to be merged).
    pub by: Entry,
}

/// Membership information in a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Heartbeats {
    /// Nothing (the peers agree, or nothing newer).
    None,
    /// Every member's heartbeat counter, in node-id order of the sender's member list, whose
    /// hash is `members_hash`; only usable by a receiver with the same member list.
    Dense {
        members_hash: u64,
        counters: Vec<u64>,
    },
    /// Counters newer than what the peer showed, by index in the shared member list.
    Sparse {
        members_hash: u64,
        newer: Vec<(u32, u64)>,
    },
    /// The whole member list (sent when the lists differ).
    Full {
        members_hash: u64,
        members: Vec<MemberInfo>,
    },
}

impl Heartbeats {
    /// The sender's member-list hash, if the message says it.
    pub fn members_hash(&self) -> Option<u64> {
        match self {
            Heartbeats::None => None,
            Heartbeats::Dense { members_hash, .. }
            | Heartbeats::Sparse { members_hash, .. }
            | Heartbeats::Full { members_hash, .. } => Some(*members_hash),
        }
    }
}

/// One member as gossiped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub id: NodeId,
    pub addr: String,
    /// When this run of the node started (ms); a restart is a newer incarnation.
    pub incarnation: u64,
    pub heartbeat: u64,
    /// The node announced a graceful leave.
    pub left: bool,
}

/// Protocol 3's section after a message (`codec`): the times of one exchange, for NTP-style
/// estimates of the peers' clocks (`clock_offsets`). All times are the sender's wall clock (ms
/// since the Unix epoch). Absent in protocols 1 and 2 and on messages that carry none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeTimes {
    /// When the sender sent this message.
    pub sent_ms: u64,
    /// In an `Ack`: the `sent_ms` of the `SynAck` it answers (NTP's origin timestamp, t1).
    pub echo_ms: Option<u64>,
    /// In an `Ack`: when the sender received that `SynAck` (t2).
    pub received_ms: Option<u64>,
    /// In a `SynAck`: the sender's estimate of the receiver's clock (the receiver's clock minus
    /// the sender's, and the round trip it was measured over), so both sides learn from the
    /// `Ack`'s four timestamps.
    pub your_offset: Option<OffsetSample>,
}

/// The kind of a message, for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Syn,
    SynAck,
    Ack,
    Reset,
    BadCluster,
}

impl MessageKind {
    pub const ALL: [MessageKind; 5] = [
        MessageKind::Syn,
        MessageKind::SynAck,
        MessageKind::Ack,
        MessageKind::Reset,
        MessageKind::BadCluster,
    ];

    pub fn index(self) -> usize {
        self as usize
    }
}

impl Message {
    pub fn kind(&self) -> MessageKind {
        match self.body {
            Body::Syn { .. } => MessageKind::Syn,
            Body::SynAck { .. } => MessageKind::SynAck,
            Body::Ack { .. } => MessageKind::Ack,
            Body::Reset { .. } => MessageKind::Reset,
            Body::BadCluster => MessageKind::BadCluster,
        }
    }
}
