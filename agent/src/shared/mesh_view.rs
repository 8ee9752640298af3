//! `MeshView`: the mesh as this node sees it — the peer table the gossip driver publishes,
//! the mesh event log, how far this node's own clock looks ahead of its peers', and whether
//! this node's view has caught up (`caught_up`, with the presence scan). `completeness` says
//! which peers an answer may be missing. `peer_protocols`: the gossip protocol each peer last
//! agreed on with this node, and [`MeshView::all_members_speak`], THE rule for writing a key
//! kind the release before versioning (protocol 1) cannot decode (`StateHandle::write` applies
//! it to every write).
//! Must not touch: the replica, the store, sockets (the gossip driver fills it; faces read it).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::crdt::NodeId;

use crate::events::EventLog;
use crate::peer::{MemberStatus, PeerStatus};
use crate::state::query::{self, Completeness};
use crate::sync::lock;

use super::presence::PresenceState;

/// With no peer alive, how long after start this node trusts its own view alone.
pub const ALONE_GRACE_MS: u64 = 30_000;

/// The mesh as this node sees it.
#[derive(Debug)]
pub struct MeshView {
    /// Peers as the gossip layer sees them; empty until gossip runs.
    pub peers: PeerTable,
    /// What this node saw happen to the mesh (`GET /v1/events`); the gossip driver fills it.
    pub events: EventLog,
    /// How far this node's own clock looks ahead of every peer's, in ms (0: it does not);
    /// `runtime::clock_recovery` updates it (`state::own_clock`).
    pub own_clock_ahead_ms: portable_atomic::AtomicU64,
    /// How far this node's clock runs ahead of the mesh's median, in ms (negative: behind),
    /// as the gossip driver last measured it (`i64::MIN`: not measured yet).
    own_clock_offset_ms: portable_atomic::AtomicI64,
    started_at_ms: u64,
    /// `gossip.seeds` is empty: a node alone from the start is the whole mesh.
    unseeded: bool,
    /// The gossip protocol each peer (by node id) last agreed on with this node, on a
    /// connection either side opened (the handshake's `hello::agree`); the gossip driver fills
    /// it. In memory: after a restart every peer is unknown until it exchanged again.
    peer_protocols: Mutex<BTreeMap<NodeId, u16>>,
}

/// The peer table as the gossip driver last published it.
#[derive(Debug, Default)]
pub struct PeerTable(Mutex<Vec<PeerStatus>>);

impl PeerTable {
    /// A snapshot of the table.
    pub fn snapshot(&self) -> Vec<PeerStatus> {
        lock(&self.0).clone()
    }

    /// Replaces the table (the gossip driver, once per round).
    pub fn publish(&self, peers: Vec<PeerStatus>) {
        *lock(&self.0) = peers;
    }
}

impl MeshView {
    /// An empty view for a node started at `started_at_ms`; `unseeded`: no `gossip.seeds`.
    pub fn new(started_at_ms: u64, unseeded: bool) -> MeshView {
        MeshView {
            peers: PeerTable::default(),
            events: EventLog::default(),
            own_clock_ahead_ms: portable_atomic::AtomicU64::new(0),
            own_clock_offset_ms: portable_atomic::AtomicI64::new(i64::MIN),
            started_at_ms,
            unseeded,
            peer_protocols: Mutex::default(),
        }
    }

    /// Records that `node` spoke `protocol` with this node (the gossip driver, per message).
    pub fn note_peer_protocol(&self, node: NodeId, protocol: u16) {
        lock(&self.peer_protocols).insert(node, protocol);
    }

    /// The gossip protocol `node` last agreed on with this node (`None`: no exchange yet).
    pub fn peer_protocol(&self, node: NodeId) -> Option<u16> {
        lock(&self.peer_protocols).get(&node).copied()
    }

    /// THE rule for key kinds protocol 1 (db6ff62) cannot decode (today `chat_adapter`): a node
    /// writes one only while this is true for `protocol` 2. True when every member this node
    /// knows of (the peer table, `left` ones aside; dead ones count: they may come back) last
    /// agreed on `protocol` or newer with this node, inbound or outbound. A member never
    /// exchanged with yet counts as not speaking it; an empty table counts only for a node
    /// alone from the start (no `gossip.seeds`), never for one that has not met its seeds yet.
    ///
    /// Why: such an entry is withheld from a protocol-1 peer (`PROTOCOL_1_KEY_KINDS` in
    /// `core/src/gossip/wire.rs`), yet that peer's watermark for the writer passes the
    /// withheld version; relayed by it, or once it is upgraded with that store, the entry would
    /// never reach the others. Written only when no such peer is around, it is never withheld.
    pub fn all_members_speak(&self, protocol: u16) -> bool {
        let peers = self.peers();
        if peers.is_empty() {
            return self.unseeded;
        }
        let spoken = lock(&self.peer_protocols);
        peers
            .iter()
            .filter(|peer| peer.status != MemberStatus::Left)
            .all(|peer| spoken.get(&peer.node).is_some_and(|p| *p >= protocol))
    }

    /// A snapshot of the peer table.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.peers.snapshot()
    }

    /// Which peers this node cannot reach now: the caveat on every answer.
    pub fn completeness(&self) -> Completeness {
        let mut completeness = query::completeness(&self.peers());
        completeness.own_clock_ahead_ms = self.own_clock_ahead();
        completeness
    }

    /// How far this node's clock runs ahead of the mesh's median (ms; negative: behind), once
    /// measured (gossip protocol 3).
    pub fn own_clock_offset(&self) -> Option<i64> {
        let ms = self.own_clock_offset_ms.load(Ordering::Relaxed);
        (ms != i64::MIN).then_some(ms)
    }

    /// Records this node's measured offset from the mesh's median (the gossip driver).
    pub fn set_own_clock_offset(&self, offset_ms: Option<i64>) {
        self.own_clock_offset_ms
            .store(offset_ms.unwrap_or(i64::MIN), Ordering::Relaxed);
    }

    /// How far this node's own clock looks ahead of every peer's (see `own_clock_ahead_ms`).
    pub fn own_clock_ahead(&self) -> Option<u64> {
        match self.own_clock_ahead_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(ms),
        }
    }

    /// Whether this node's view has caught up with the mesh and the LAN: its own first presence
    /// scan since start is recorded (when it scans), and some peer is alive with nothing of any
    /// alive peer missing; with no peer alive, only when no seeds are configured, or after
    /// [`ALONE_GRACE_MS`] of uptime (the rest of the mesh is really gone). What would publish a
    /// departure (Home Assistant) waits for it, so a node back from a long absence does not
    /// announce that everyone left.
    pub fn caught_up(&self, presence: &PresenceState, now_ms: u64) -> bool {
        if !presence.first_scan_done() {
            return false;
        }
        let peers = self.peers();
        let alive: Vec<&PeerStatus> = peers
            .iter()
            .filter(|peer| peer.status == MemberStatus::Alive)
            .collect();
        if alive.is_empty() {
            return (self.unseeded && peers.is_empty())
                || now_ms.saturating_sub(self.started_at_ms) >= ALONE_GRACE_MS;
        }
        alive.iter().all(|peer| peer.missing_versions == 0)
    }
}
