//! What one call into `Node` caused, as one value (`Effects`): the encoded messages to send,
//! typed events worth recording (exchanges, clocks, and peers' transitions), typed refusals,
//! how many entries merged, own writes re-stamped (`Restamped`), and the bytes moved.
//! The shell (agent or simulator) acts on it; nothing here does I/O.
//!
//! Must not touch: the replica, the clock, the gossip core (plain data only).

use crate::crdt::NodeId;
use crate::gossip::{DecodeError, MessageKind};
use crate::peer::MemberStatus;
pub use crate::restamp::Restamped;

/// A merge of at least this many entries in one exchange is worth an event.
pub const LARGE_DELTA_ENTRIES: u64 = 100;

/// One encoded message to send: to a gossip address (a new connection) or, for the replies
/// of `Node::on_message`, back on the connection it came from (`to` is then its address).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub to: String,
    pub kind: MessageKind,
    pub bytes: Vec<u8>,
}

/// Something that happened to the mesh, as this node saw it, that the shell records: what an
/// exchange did, where clocks stand, a peer's transition (`on_tick`, from the member table and
/// the failure detector). A peer is named by id and by an address: the one its message came
/// from, or its gossip address for transitions.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEvent {
    /// A peer's transition in the member table (`Node::on_tick`); `addr` is its gossip
    /// address.
    Peer {
        peer: NodeId,
        addr: String,
        change: PeerChange,
    },
    /// Every known peer is alive and nothing of theirs is missing again, after some were not
    /// (for `degraded_ms`, from the first one's last heartbeat).
    MeshHealed { degraded_ms: u64 },
    /// Entries stamped too far ahead of this node's clock were held back (retried later).
    HeldBack {
        peer: NodeId,
        addr: String,
        entries: u64,
    },
    /// At least `LARGE_DELTA_ENTRIES` entries merged in one exchange.
    LargeDelta {
        peer: NodeId,
        addr: String,
        entries: u64,
    },
    /// This node told the peer to reset (it is behind our tombstone GC).
    ResetSent { peer: NodeId, addr: String },
    /// This node obeyed the peer's reset.
    ResetObeyed { peer: NodeId, addr: String },
    /// This node's clock stands differently against the mesh's median (ahead or behind by
    /// more than `max_clock_offset_ms`, or back within half of it): `offset_ms` is how far
    /// it runs ahead (negative: behind), measured against `peers` alive peers.
    OwnClockOffset { offset_ms: i64, peers: usize },
    /// A peer's clock stands differently against the mesh's median (as for `OwnClockOffset`):
    /// `offset_ms` is how far it runs ahead of the median (negative: behind).
    PeerClockOffset {
        peer: NodeId,
        addr: String,
        offset_ms: i64,
    },
    /// This node refused the peer: it gossips for `their_cluster`.
    RefusedCluster {
        peer: NodeId,
        addr: String,
        their_cluster: String,
    },
}

/// What happened to a peer, as the member table (membership and failure detector) shows it
/// from one round to the next (`NodeEvent::Peer`).
#[derive(Debug, Clone, PartialEq)]
pub enum PeerChange {
    /// It appeared in the member table, alive.
    Joined,
    /// Its heartbeats are late (`silent_ms`: since its last one).
    Suspect { silent_ms: u64 },
    /// Its heartbeats stopped (`silent_ms`: since its last one).
    Dead { silent_ms: u64 },
    /// It announced a graceful leave.
    Left,
    /// Suspect, dead or departed (`was`), it is alive again, after `down_ms` since its last
    /// heartbeat; `missing_versions` of its writes are not here yet.
    Alive {
        was: MemberStatus,
        down_ms: u64,
        missing_versions: u64,
    },
    /// After its return, nothing of it is missing here any more.
    CaughtUp { since_return_ms: u64 },
    /// Gone longer than the grace period, it was dropped from the member table.
    Forgotten,
}

/// Input refused by this node or by the peer, for the shell to count and log.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Bytes that are no gossip message (the exchange ends).
    Undecodable { addr: String, error: DecodeError },
    /// The peer refused this node: it is in cluster `their_cluster`.
    RefusedByPeer { addr: String, their_cluster: String },
    /// An entry from the peer broke a limit (key and limit, as text).
    Entry { addr: String, entry: String },
}

/// Everything one call into `Node` caused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Encoded messages to send, in order.
    pub messages: Vec<Envelope>,
    pub events: Vec<NodeEvent>,
    pub refusals: Vec<Refusal>,
    /// Entries merged into the replica.
    pub merged: u64,
    /// Own writes re-stamped at the corrected time (`on_tick` only), oldest first.
    pub restamped: Vec<Restamped>,
    /// Bytes of `messages` (as encoded) and of the received message.
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

impl Effects {
    /// The encoded bytes of the messages, in order (for replies on one connection).
    pub fn into_payloads(self) -> Vec<Vec<u8>> {
        self.messages.into_iter().map(|send| send.bytes).collect()
    }
}
