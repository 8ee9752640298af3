//! The mesh event log: what this node saw happen to the mesh (peers turning suspect, dead,
//! alive again and for how long they were gone, catching up after a return, the whole mesh
//! healthy again, resets, refused peers, entries held back because their clock runs ahead,
//! large deltas), kept in a bounded in-memory ring and served by `GET /v1/events`.
//! Recording is a short in-memory push that never waits on I/O, so it never holds up gossip.
//!
//! [`EventLog`] is the ring (oldest events drop first), with per-(kind, peer) throttling for
//! events that would otherwise repeat every exchange. The gossip driver (`mesh`) records in
//! it, mostly the events `gossip::Node` returns (peers' transitions are worked out there, in
//! the core, so the simulator sees the same); the gossip core knows nothing of this log.
//! Must not touch: sockets, SQLite, the replica, the wall clock (times are passed in).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;

use crate::crdt::NodeId;

/// Events kept per node; older ones are dropped.
pub const EVENT_LOG_CAPACITY: usize = 2000;

/// Entries merged from one exchange at or above which a `large_delta` event is recorded.
pub const LARGE_DELTA_ENTRIES: u64 = 100;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A peer appeared in the member table, alive.
    PeerJoined,
    /// A peer's heartbeats are late.
    PeerSuspect,
    /// A peer's heartbeats stopped (numbers: `silent_ms`).
    PeerDead,
    /// A peer announced a graceful leave.
    PeerLeft,
    /// A suspect, dead or departed peer is alive again (numbers: `down_ms`, `missing_versions`).
    PeerAlive,
    /// After a peer's return, this node no longer misses any of its versions (numbers:
    /// `since_return_ms`).
    CaughtUp,
    /// A peer was garbage-collected from the member table.
    PeerForgotten,
    /// Every known peer is alive and nothing of theirs is missing again, after some were not
    /// (numbers: `degraded_ms`).
    MeshHealed,
    /// One exchange merged many entries (numbers: `entries`).
    LargeDelta,
    /// This node reset its state from a peer (it was behind the peer's tombstone GC).
    ResetDone,
    /// This node told a peer to reset.
    ResetSent,
    /// Connections or messages refused: wrong cluster, failed handshake (no or wrong key),
    /// bad frames, undecodable messages, too many connections (numbers: counts by reason).
    RefusedPeer,
    /// Entries held back because their stamps run ahead of this node's clock by more than
    /// `gossip.max_clock_offset_ms` (numbers: `entries`).
    ClockAhead,
    /// This node's clock had run ahead and was set right: its own writes stamped while ahead
    /// were re-stamped at the corrected time so peers take them (numbers: `entries`,
    /// `ahead_ms`).
    ClockRestamped,
    /// A clock stands differently against the mesh's median (measured from gossip exchange
    /// times): more than `gossip.max_clock_offset_ms` ahead or behind, or back within half of
    /// it; about this node (no peer) or a peer (numbers: `ahead_ms` or `behind_ms`).
    ClockOffset,
    /// Every alive peer's newest good reading arrives old: this node's own clock looks ahead
    /// of theirs, so they ignore its updates (numbers: `ahead_ms`; 0 when it no longer does).
    OwnClockAhead,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PeerJoined => "peer_joined",
            EventKind::PeerSuspect => "peer_suspect",
            EventKind::PeerDead => "peer_dead",
            EventKind::PeerLeft => "peer_left",
            EventKind::PeerAlive => "peer_alive",
            EventKind::CaughtUp => "caught_up",
            EventKind::PeerForgotten => "peer_forgotten",
            EventKind::MeshHealed => "mesh_healed",
            EventKind::LargeDelta => "large_delta",
            EventKind::ResetDone => "reset_done",
            EventKind::ResetSent => "reset_sent",
            EventKind::RefusedPeer => "refused_peer",
            EventKind::ClockAhead => "clock_ahead",
            EventKind::ClockRestamped => "clock_restamped",
            EventKind::ClockOffset => "clock_offset",
            EventKind::OwnClockAhead => "own_clock_ahead",
        }
    }
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeshEvent {
    /// Position in this node's log (grows by one per event; restarts at 1 with the process).
    pub seq: u64,
    /// When (ms since the Unix epoch, this node's clock).
    pub t_ms: u64,
    pub kind: EventKind,
    /// The peer concerned, when there is one.
    pub peer: Option<NodeId>,
    pub peer_name: Option<String>,
    /// A sentence for people.
    pub detail: String,
    /// Figures, by name (`down_ms`, `entries`, …).
    pub numbers: BTreeMap<String, u64>,
}

impl MeshEvent {
    /// An event about no peer in particular; `seq` is set when it is recorded.
    pub fn new(t_ms: u64, kind: EventKind, detail: impl Into<String>) -> MeshEvent {
        MeshEvent {
            seq: 0,
            t_ms,
            kind,
            peer: None,
            peer_name: None,
            detail: detail.into(),
            numbers: BTreeMap::new(),
        }
    }

    /// The same event about `peer`, known here as `name`.
    pub fn about(mut self, peer: NodeId, name: &str) -> MeshEvent {
        self.peer = Some(peer);
        self.peer_name = Some(name.to_string());
        self
    }

    /// The same event with one more figure.
    pub fn number(mut self, name: &str, value: u64) -> MeshEvent {
        self.numbers.insert(name.to_string(), value);
        self
    }
}

#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<MeshEvent>,
    next_seq: u64,
    /// Last time an event of this kind about this peer was recorded (throttling).
    last_by_key: HashMap<(EventKind, Option<NodeId>), u64>,
}

/// The bounded event log shared by the driver (writer) and the API (reader).
#[derive(Debug)]
pub struct EventLog {
    capacity: usize,
    ring: Mutex<Ring>,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog::new(EVENT_LOG_CAPACITY)
    }
}

impl EventLog {
    /// A log keeping the newest `capacity` events (at least one).
    pub fn new(capacity: usize) -> EventLog {
        EventLog {
            capacity: capacity.max(1),
            ring: Mutex::new(Ring::default()),
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        crate::sync::lock(&self.ring)
    }

    /// Records `event`, dropping the oldest one when full.
    pub fn record(&self, event: MeshEvent) {
        let mut ring = self.ring();
        Self::push(&mut ring, self.capacity, event);
    }

    /// Records `event` unless one of the same kind about the same peer was recorded less than
    /// `min_gap_ms` before it; returns whether it was recorded.
    pub fn record_throttled(&self, event: MeshEvent, min_gap_ms: u64) -> bool {
        let mut ring = self.ring();
        let key = (event.kind, event.peer);
        if let Some(last) = ring.last_by_key.get(&key) {
            if event.t_ms < last.saturating_add(min_gap_ms) {
                return false;
            }
        }
        Self::push(&mut ring, self.capacity, event);
        true
    }

    fn push(ring: &mut Ring, capacity: usize, mut event: MeshEvent) {
        ring.next_seq += 1;
        event.seq = ring.next_seq;
        ring.last_by_key
            .insert((event.kind, event.peer), event.t_ms);
        if ring.events.len() >= capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(event);
    }

    /// Events recorded at or after `since_ms`, oldest first.
    pub fn since(&self, since_ms: u64) -> Vec<MeshEvent> {
        self.ring()
            .events
            .iter()
            .filter(|e| e.t_ms >= since_ms)
            .cloned()
            .collect()
    }

    /// Number of events held.
    pub fn len(&self) -> usize {
        self.ring().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_events_and_filters_by_time() {
        let log = EventLog::new(3);
        for t in 0..5 {
            log.record(MeshEvent::new(t * 10, EventKind::LargeDelta, "x"));
        }
        let all = log.since(0);
        assert_eq!(all.len(), 3);
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(log.since(35).len(), 1);
    }

    #[test]
    fn throttled_events_repeat_only_after_the_gap_per_peer() {
        let log = EventLog::new(10);
        let ahead = |t, p| MeshEvent::new(t, EventKind::ClockAhead, "x").about(NodeId(p), "p");
        assert!(log.record_throttled(ahead(0, 1), 1_000));
        assert!(!log.record_throttled(ahead(500, 1), 1_000));
        assert!(log.record_throttled(ahead(500, 2), 1_000), "another peer");
        assert!(log.record_throttled(ahead(1_000, 1), 1_000));
        assert_eq!(log.len(), 3);
    }
}
