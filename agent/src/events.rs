//! The mesh event log: what this node saw happen to the mesh (peers turning suspect, dead,
//! alive again and for how long they were gone, catching up after a return, the whole mesh
//! healthy again, resets, refused peers, entries held back because their clock runs ahead,
//! large deltas), kept in a bounded in-memory ring and served by `GET /v1/events`.
//! Recording is a short in-memory push that never waits on I/O, so it never holds up gossip.
//!
//! - [`EventLog`]: the ring (oldest events drop first), with per-(kind, peer) throttling for
//!   events that would otherwise repeat every exchange;
//! - [`PeerWatch`]: turns successive snapshots of the peer table into transition events.
//!
//! The gossip driver (`mesh.rs`) feeds both; the gossip core stays pure and knows nothing of
//! this. Must not touch: sockets, SQLite, the replica, the wall clock (times are passed in).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;

use crate::crdt::NodeId;
use crate::peer::{MemberStatus, PeerStatus};

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

/// What `PeerWatch` remembers of one peer between rounds.
#[derive(Debug, Clone)]
struct Watched {
    name: String,
    status: MemberStatus,
    /// When it stopped being alive (its last heartbeat), while it is not alive.
    down_since_ms: Option<u64>,
    /// When it came back, until this node has caught up with it.
    returned_at_ms: Option<u64>,
}

/// Diffs successive peer tables into transition events.
#[derive(Debug, Default)]
pub struct PeerWatch {
    peers: BTreeMap<NodeId, Watched>,
    /// Since when some peer has not been alive (its last heartbeat), until every peer is alive
    /// and caught up again (None: all fine).
    degraded_since_ms: Option<u64>,
}

impl PeerWatch {
    pub fn new() -> PeerWatch {
        PeerWatch::default()
    }

    /// Compares `peers` (the table at `now_ms`) with the last one; returns what changed.
    pub fn observe(&mut self, now_ms: u64, peers: &[PeerStatus]) -> Vec<MeshEvent> {
        let mut events = Vec::new();
        for peer in peers {
            let Some(watched) = self.peers.get_mut(&peer.node) else {
                events.extend(self.first_sight(now_ms, peer));
                continue;
            };
            watched.name.clone_from(&peer.name);
            if watched.status != peer.status {
                if let Some(event) = transition(watched, now_ms, peer) {
                    events.push(event.about(peer.node, &peer.name));
                }
                watched.status = peer.status;
            }
            events.extend(caught_up(watched, now_ms, peer));
        }
        self.forget_gone(now_ms, peers, &mut events);
        events.extend(self.track_degraded(now_ms, peers));
        events
    }

    /// A peer seen for the first time: joined if alive; remembered either way.
    fn first_sight(&mut self, now_ms: u64, peer: &PeerStatus) -> Option<MeshEvent> {
        let alive = peer.status == MemberStatus::Alive;
        self.peers.insert(
            peer.node,
            Watched {
                name: peer.name.clone(),
                status: peer.status,
                down_since_ms: (!alive).then_some(last_heartbeat_ms(now_ms, peer)),
                returned_at_ms: None,
            },
        );
        alive.then(|| {
            MeshEvent::new(
                now_ms,
                EventKind::PeerJoined,
                format!("{} ({}) joined", peer.name, peer.gossip_addr),
            )
            .about(peer.node, &peer.name)
        })
    }

    /// Peers the gossip layer no longer lists (collected after the grace period).
    fn forget_gone(&mut self, now_ms: u64, peers: &[PeerStatus], events: &mut Vec<MeshEvent>) {
        let gone: Vec<NodeId> = self
            .peers
            .keys()
            .filter(|id| !peers.iter().any(|p| p.node == **id))
            .copied()
            .collect();
        for id in gone {
            if let Some(watched) = self.peers.remove(&id) {
                events.push(
                    MeshEvent::new(
                        now_ms,
                        EventKind::PeerForgotten,
                        format!(
                            "{} was forgotten (gone longer than the grace period)",
                            watched.name
                        ),
                    )
                    .about(id, &watched.name),
                );
            }
        }
    }

    /// Degraded starts when a peer stops being alive (missing versions alone is ordinary
    /// gossip lag) and ends when every peer is alive and nothing of theirs is missing.
    fn track_degraded(&mut self, now_ms: u64, peers: &[PeerStatus]) -> Option<MeshEvent> {
        let is_down = |p: &&PeerStatus| p.status.is_unreachable();
        let down = peers.iter().any(|p| is_down(&p));
        let missing = peers
            .iter()
            .any(|p| p.status == MemberStatus::Alive && p.missing_versions > 0);
        match self.degraded_since_ms {
            None if down => {
                self.degraded_since_ms = Some(
                    peers
                        .iter()
                        .filter(is_down)
                        .filter_map(|p| self.peers.get(&p.node)?.down_since_ms)
                        .min()
                        .unwrap_or(now_ms),
                );
                None
            }
            Some(since) if !down && !missing => {
                self.degraded_since_ms = None;
                let degraded_ms = now_ms.saturating_sub(since);
                Some(
                    MeshEvent::new(
                        now_ms,
                        EventKind::MeshHealed,
                        format!(
                            "every peer is alive and nothing is missing again (after {degraded_ms} ms)"
                        ),
                    )
                    .number("degraded_ms", degraded_ms),
                )
            }
            _ => None,
        }
    }
}

/// When `peer`'s heartbeat last advanced, as seen from here.
fn last_heartbeat_ms(now_ms: u64, peer: &PeerStatus) -> u64 {
    now_ms.saturating_sub(peer.heartbeat_age_ms.unwrap_or(0))
}

/// The event for a status change of a known peer (`watched` still holds the old status).
fn transition(watched: &mut Watched, now_ms: u64, peer: &PeerStatus) -> Option<MeshEvent> {
    if peer.status == MemberStatus::Alive {
        let down_ms = watched
            .down_since_ms
            .map(|since| now_ms.saturating_sub(since))
            .unwrap_or(0);
        watched.down_since_ms = None;
        watched.returned_at_ms = Some(now_ms);
        return Some(
            MeshEvent::new(
                now_ms,
                EventKind::PeerAlive,
                format!(
                    "{} is alive again after {} ms ({} was {})",
                    peer.name, down_ms, peer.name, watched.status
                ),
            )
            .number("down_ms", down_ms)
            .number("missing_versions", peer.missing_versions),
        );
    }
    if watched.status == MemberStatus::Alive || watched.down_since_ms.is_none() {
        watched.down_since_ms = Some(last_heartbeat_ms(now_ms, peer));
    }
    watched.returned_at_ms = None;
    let silent_ms = peer.heartbeat_age_ms.unwrap_or(0);
    let event = match peer.status {
        MemberStatus::Suspect => MeshEvent::new(
            now_ms,
            EventKind::PeerSuspect,
            format!("{} is suspect (silent {silent_ms} ms)", peer.name),
        )
        .number("silent_ms", silent_ms),
        MemberStatus::Dead => MeshEvent::new(
            now_ms,
            EventKind::PeerDead,
            format!("{} is dead (silent {silent_ms} ms)", peer.name),
        )
        .number("silent_ms", silent_ms),
        MemberStatus::Left | MemberStatus::Alive => MeshEvent::new(
            now_ms,
            EventKind::PeerLeft,
            format!("{} left the mesh", peer.name),
        ),
    };
    Some(event)
}

/// `caught_up` once a returned peer is alive with nothing of it missing.
fn caught_up(watched: &mut Watched, now_ms: u64, peer: &PeerStatus) -> Option<MeshEvent> {
    let returned = watched.returned_at_ms?;
    if peer.status != MemberStatus::Alive || peer.missing_versions > 0 {
        return None;
    }
    watched.returned_at_ms = None;
    let since = now_ms.saturating_sub(returned);
    Some(
        MeshEvent::new(
            now_ms,
            EventKind::CaughtUp,
            format!("caught up with {} {since} ms after its return", peer.name),
        )
        .about(peer.node, &peer.name)
        .number("since_return_ms", since),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(node: u64, status: &str, age_ms: u64, missing: u64) -> PeerStatus {
        let status =
            serde_json::from_value(serde_json::Value::from(status)).unwrap_or(MemberStatus::Left);
        PeerStatus {
            gossip_addr: format!("10.0.0.{node}:7420"),
            heartbeat_age_ms: Some(age_ms),
            missing_versions: missing,
            ..PeerStatus::new(NodeId(node), format!("pi-{node}"), status)
        }
    }

    fn kinds(events: &[MeshEvent]) -> Vec<EventKind> {
        events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_peer_that_dies_and_returns_reports_its_downtime_and_catch_up() {
        let mut watch = PeerWatch::new();
        assert_eq!(
            kinds(&watch.observe(1_000, &[peer(2, "alive", 0, 0)])),
            vec![EventKind::PeerJoined]
        );
        assert!(watch.observe(2_000, &[peer(2, "alive", 100, 0)]).is_empty());
        // Last heartbeat at 2_000; suspect at 3_500, dead at 6_000.
        assert_eq!(
            kinds(&watch.observe(3_500, &[peer(2, "suspect", 1_500, 0)])),
            vec![EventKind::PeerSuspect]
        );
        let dead = watch.observe(6_000, &[peer(2, "dead", 4_000, 0)]);
        assert_eq!(kinds(&dead), vec![EventKind::PeerDead]);
        assert_eq!(dead[0].numbers["silent_ms"], 4_000);
        assert_eq!(dead[0].peer, Some(NodeId(2)));
        let back = watch.observe(12_000, &[peer(2, "alive", 0, 5)]);
        assert_eq!(kinds(&back), vec![EventKind::PeerAlive]);
        assert_eq!(
            back[0].numbers["down_ms"], 10_000,
            "since the last heartbeat"
        );
        assert_eq!(back[0].numbers["missing_versions"], 5);
        let caught = watch.observe(13_000, &[peer(2, "alive", 0, 0)]);
        assert_eq!(
            kinds(&caught),
            vec![EventKind::CaughtUp, EventKind::MeshHealed]
        );
        assert_eq!(caught[0].numbers["since_return_ms"], 1_000);
        assert_eq!(
            caught[1].numbers["degraded_ms"], 11_000,
            "since its last heartbeat"
        );
        assert!(watch.observe(14_000, &[peer(2, "alive", 0, 0)]).is_empty());
    }

    #[test]
    fn forgotten_and_left_peers_are_reported_once() {
        let mut watch = PeerWatch::new();
        watch.observe(0, &[peer(2, "alive", 0, 0), peer(3, "alive", 0, 0)]);
        let left = watch.observe(100, &[peer(2, "alive", 0, 0), peer(3, "left", 50, 0)]);
        assert_eq!(kinds(&left), vec![EventKind::PeerLeft]);
        assert!(watch
            .observe(200, &[peer(2, "alive", 0, 0), peer(3, "left", 150, 0)])
            .is_empty());
        let forgotten = watch.observe(300, &[peer(2, "alive", 0, 0)]);
        assert_eq!(kinds(&forgotten), vec![EventKind::PeerForgotten]);
        assert_eq!(forgotten[0].peer_name.as_deref(), Some("pi-3"));
    }

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
