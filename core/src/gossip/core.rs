//! `GossipCore`: one node's gossip state machine. `tick` starts a round (heartbeat, GC, peer
//! selection, `Syn`s); `handle` answers one received message with the replies to write back on
//! the same connection; `leave`, `peers`, `stats` for the rest of the agent. The halves of an
//! exchange live beside it: `exchange` (Syn/SynAck/Ack and digests), `heartbeats` (member
//! information in messages), `reset` (peers behind the tombstone GC), `safety` (garbage
//! collection and the persisted safety state).
//!
//! Pure: time, randomness and the replica are passed in. Must not touch: sockets, clocks, the
//! global RNG, tokio, SQLite.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use super::clock_watch::ClockWatch;
use super::delta::{self, Floors};
use super::members::{MemberStatus, Members, Thresholds};
use super::message::{Body, Delta, Message, MessageKind};
use super::stats::GossipStats;
use super::GossipParams;
use crate::crdt::NodeId;
use crate::state::Replica;

mod exchange;
mod heartbeats;
mod reset;
mod safety;

/// How many of our recent digests are kept to recognise a peer's hash.
const RECENT_DIGESTS: usize = 8;

/// A message to send to a gossip address (a new connection).
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub to: String,
    pub message: Message,
}

/// One peer as this node sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerView {
    pub node: NodeId,
    pub addr: String,
    pub status: MemberStatus,
    /// Milliseconds since its heartbeat last advanced here.
    pub heartbeat_age_ms: u64,
    /// Phi-accrual suspicion level.
    pub phi: f64,
    /// Versions of its writes known to exist (from peers' digests) that this node lacks.
    pub missing_versions: u64,
    /// Since when it has been unreachable: the transport's first failure to connect, or its
    /// last heartbeat when it is suspect, dead or gone.
    pub unreachable_since_ms: Option<u64>,
    /// How far its stamps run ahead of this node's clock, while its entries are held back.
    pub clock_ahead_ms: Option<u64>,
    /// Its wall clock minus this node's (ms), measured from exchange times (protocol 3; filled
    /// in by `Node::peers`).
    pub clock_offset_ms: Option<i64>,
}

/// What a peer last showed us.
#[derive(Debug, Clone, Copy, Default)]
struct PeerSeen {
    state_hash: Option<u64>,
    members_hash: Option<u64>,
    /// Our `SynAck` to it carried everything it lacked (so a clean `Ack` means we agree).
    synack_complete: bool,
}

/// One node's gossip protocol state.
#[derive(Debug, Clone)]
pub struct GossipCore {
    me: NodeId,
    my_addr: String,
    params: GossipParams,
    seeds: Vec<String>,
    members: Members,
    floors: Floors,
    peer_seen: HashMap<NodeId, PeerSeen>,
    /// Per peer, how many resets we had obeyed (`stats.resets_done`) when we last sent it a
    /// `Syn` or answered its `Syn`: a `SynAck` or `Ack` is applied only when no reset came in
    /// between, since its delta was built for the digest we had before the reset (it could
    /// carry back what the reset made us forget).
    exchange_epochs: HashMap<NodeId, u64>,
    /// Peers whose last `Syn` showed that one side must reset first (we sent a `Reset`, a
    /// refusal while still catching up, or our full digest because we are behind): their `Ack`
    /// to that exchange is not applied. Its initiator may still push what it learned since an
    /// old digest of its own that ours matches (a reset node's low watermarks look like one),
    /// and that data is from a node on the wrong side of a GC floor.
    refused_exchanges: HashSet<NodeId>,
    /// Highest watermark per origin seen in any peer's digest.
    known_versions: BTreeMap<NodeId, u64>,
    /// After a reset: the resetting peer's watermarks, until we have caught up to them. Until
    /// then we do not reset others (we do not know their writes well enough yet).
    resync_target: Option<BTreeMap<NodeId, u64>>,
    /// The digest hash and member-list hash the last peer we heard from showed: a peer we have
    /// not exchanged with yet is assumed to agree when we agree with the mesh (idle traffic
    /// stays small; a wrong guess costs one round).
    last_hashes_heard: (Option<u64>, Option<u64>),
    /// Our last few advertised digests by hash: a peer whose `Syn` shows one of these hashes
    /// holds exactly that digest, so we can send it what it lacks at once.
    recent_digests: VecDeque<(u64, BTreeMap<NodeId, u64>)>,
    started: bool,
    /// When our last round (regular or early) started, and the hash of the digest it showed.
    last_round: Option<(u64, u64)>,
    /// The floors and reset progress were read back from the replica's `SafetyState` (done
    /// on the first tick or message, so a restarted node resumes where it crashed).
    safety_restored: bool,
    left: bool,
    /// How far this node's wall clock runs ahead of the mesh's (`Node` sets it each round from
    /// the clock's correction): tombstones' age is judged by the mesh's time, so a node that
    /// runs ahead does not collect them early.
    clock_correction_ms: u64,
    last_gc_ms: u64,
    stats: GossipStats,
    /// Entries from peers refused for breaking a limit, until the shell takes them to log.
    refused_entries: Vec<String>,
    /// Peers whose stamps run ahead of our clock (entries held back), and by how much.
    clock_watch: ClockWatch,
    /// The time of the message being handled (for `clock_watch`).
    handling_at_ms: u64,
}

impl GossipCore {
    /// A core for node `me`, reachable at `my_addr`, that contacts `seeds` (addresses) when it
    /// knows nobody alive.
    pub fn new(me: NodeId, my_addr: String, params: GossipParams, seeds: Vec<String>) -> Self {
        let seeds = seeds.into_iter().filter(|s| *s != my_addr).collect();
        GossipCore {
            me,
            members: Members::new(me, my_addr.clone()),
            my_addr,
            params,
            seeds,
            refused_entries: Vec::new(),
            clock_watch: ClockWatch::default(),
            handling_at_ms: 0,
            floors: Floors::default(),
            peer_seen: HashMap::new(),
            exchange_epochs: HashMap::new(),
            refused_exchanges: HashSet::new(),
            known_versions: BTreeMap::new(),
            resync_target: None,
            last_hashes_heard: (None, None),
            recent_digests: VecDeque::new(),
            started: false,
            last_round: None,
            safety_restored: false,
            left: false,
            last_gc_ms: 0,
            clock_correction_ms: 0,
            stats: GossipStats::default(),
        }
    }

    pub fn me(&self) -> NodeId {
        self.me
    }

    pub fn addr(&self) -> &str {
        &self.my_addr
    }

    pub fn params(&self) -> &GossipParams {
        &self.params
    }

    pub fn stats(&self) -> &GossipStats {
        &self.stats
    }

    /// Nodes in the member table, this one included.
    pub fn known_members(&self) -> usize {
        self.members.len()
    }

    /// True after `leave`.
    pub fn has_left(&self) -> bool {
        self.left
    }

    pub(super) fn thresholds(&self) -> Thresholds {
        Thresholds {
            interval_ms: self.params.interval_ms,
            suspect_phi: self.params.suspect_phi,
            dead_phi: self.params.phi_threshold,
        }
    }

    /// On the first tick or message: this run's incarnation, above the last run's (persisted in
    /// the replica's `SafetyState`) even when the wall clock went back — a node whose clock ran
    /// ahead would otherwise restart with a lower incarnation, and peers would ignore its
    /// heartbeats (and keep it `left`) until the wall clock passed the old one.
    pub(super) fn ensure_started(&mut self, now_ms: u64, replica: &mut Replica) {
        if !self.started {
            self.started = true;
            let incarnation = now_ms.max(replica.safety().incarnation + 1);
            self.members.set_incarnation(incarnation);
            let mut safety = replica.safety().clone();
            safety.incarnation = incarnation;
            replica.set_safety(safety);
            self.last_gc_ms = now_ms;
        }
    }

    /// Sets how far this node's wall clock runs ahead of the mesh (ms; see `clock_correction_ms`).
    pub fn set_clock_correction_ms(&mut self, correction_ms: u64) {
        self.clock_correction_ms = correction_ms;
    }

    /// Starts a round: bumps our heartbeat, collects what expired, and returns `Syn`s for
    /// `fanout` live peers, plus now and then one believed dead or a seed (always a seed or a
    /// dead one when no peer is alive).
    pub fn tick(
        &mut self,
        now_ms: u64,
        rng: &mut impl Rng,
        replica: &mut Replica,
    ) -> Vec<Outgoing> {
        self.ensure_started(now_ms, replica);
        self.restore_safety(replica);
        if self.left {
            return Vec::new();
        }
        let first_round = self.stats.rounds == 0;
        self.stats.rounds += 1;
        self.members.bump_self();
        self.collect(now_ms, replica);
        self.remember_digest(replica);

        let (live, dead) = self.live_and_dead(now_ms);
        let mut targets: Vec<String> = live
            .choose_multiple(rng, self.params.fanout)
            .cloned()
            .collect();
        let mut probes: Vec<String> = dead;
        probes.extend(
            self.seeds
                .iter()
                .filter(|s| !live.contains(s) && !targets.contains(s))
                .cloned(),
        );
        let isolated = live.is_empty();
        if isolated || rng.gen_bool(self.params.dead_probe_probability.clamp(0.0, 1.0)) {
            // Seeds first when isolated: they are kept forever and reachable by configuration.
            let seed_pool: Vec<&String> = self.seeds.iter().collect();
            let pick = if isolated && !seed_pool.is_empty() {
                seed_pool.choose(rng).map(|s| (*s).clone())
            } else {
                probes.choose(rng).cloned()
            };
            if let Some(addr) = pick {
                if !targets.contains(&addr) {
                    targets.push(addr);
                }
            }
        }
        if first_round {
            // At start, every seed once. A seed that other nodes reached before its own first
            // round is not isolated then and would never contact the other seeds: the mesh
            // could start as separate components (each around some of the seeds) that only
            // the occasional probe above joins. Every node meeting every seed makes it one.
            for seed in &self.seeds {
                if !targets.contains(seed) {
                    targets.push(seed.clone());
                }
            }
        }
        self.syns_to(now_ms, targets, replica)
    }

    /// When an early round is due (ms), if we hold something new since our last round (a write
    /// of ours, or entries learned from a peer, that the round did not carry): half an interval
    /// after that round. None when there is nothing new. The shell asks after merging entries
    /// and after a local write, and calls `early_round` then (asking again at that time, as a
    /// regular round may have carried it meanwhile).
    pub fn early_round_at(&self, replica: &Replica) -> Option<u64> {
        match self.last_round {
            Some((at, hash)) if self.started && !self.left => {
                (delta::hash_of(&self.advertised(replica)) != hash)
                    .then_some(at + self.params.interval_ms / 2)
            }
            _ => None,
        }
    }

    /// True when `early_round_at` has come.
    pub fn early_round_due(&self, now_ms: u64, replica: &Replica) -> bool {
        self.early_round_at(replica).is_some_and(|at| now_ms >= at)
    }

    /// An extra round, when `early_round_due`: `Syn`s to `fanout` live peers, so something new
    /// is passed on now rather than at the next tick. It does not bump our heartbeat (the
    /// failure detectors keep seeing one beat per interval), collect, or probe the dead; idle
    /// traffic is unchanged (nothing new, no early round).
    pub fn early_round(
        &mut self,
        now_ms: u64,
        rng: &mut impl Rng,
        replica: &mut Replica,
    ) -> Vec<Outgoing> {
        if !self.early_round_due(now_ms, replica) {
            return Vec::new();
        }
        self.stats.early_rounds += 1;
        self.remember_digest(replica);
        let (live, _) = self.live_and_dead(now_ms);
        let targets = live
            .choose_multiple(rng, self.params.fanout)
            .cloned()
            .collect();
        self.syns_to(now_ms, targets, replica)
    }

    /// The addresses of other members that are live, and of those believed dead.
    fn live_and_dead(&self, now_ms: u64) -> (Vec<String>, Vec<String>) {
        let t = self.thresholds();
        let mut live = Vec::new();
        let mut dead = Vec::new();
        for m in self.members.others() {
            match self.members.status(m, now_ms, &t) {
                s if s.is_live() => live.push(m.addr.clone()),
                MemberStatus::Dead => dead.push(m.addr.clone()),
                _ => {}
            }
        }
        (live, dead)
    }

    /// A `Syn` for each target; remembers this round (time and digest) for `early_round_due`.
    fn syns_to(&mut self, now_ms: u64, targets: Vec<String>, replica: &Replica) -> Vec<Outgoing> {
        self.last_round = Some((now_ms, delta::hash_of(&self.advertised(replica))));
        targets
            .into_iter()
            .map(|to| {
                let message = self.syn_for(&to, replica);
                self.stats.count_sent(MessageKind::Syn);
                self.note_exchange_started(&to);
                Outgoing { to, message }
            })
            .collect()
    }

    /// Records that an exchange with the member at `addr` starts now (see `exchange_epochs`).
    /// An address not in the member table yet (a seed never heard from) gets no record: its
    /// reply is applied only if we obeyed no reset at all.
    fn note_exchange_started(&mut self, addr: &str) {
        if let Some(id) = self.members.by_addr(addr).map(|m| m.id) {
            self.exchange_epochs.insert(id, self.stats.resets_done);
        }
    }

    /// True when `peer`'s reply answers a message we sent after our last obeyed reset.
    fn reply_is_current(&self, peer: NodeId) -> bool {
        self.exchange_epochs.get(&peer).copied().unwrap_or(0) == self.stats.resets_done
    }

    /// Announces a graceful leave: `Syn`s carrying our member entry marked left (and a last
    /// chance to hand over our writes) to up to twice `fanout` live peers. Later ticks send
    /// nothing and received messages are not answered.
    pub fn leave(
        &mut self,
        now_ms: u64,
        rng: &mut impl Rng,
        replica: &mut Replica,
    ) -> Vec<Outgoing> {
        self.ensure_started(now_ms, replica);
        self.members.leave_self();
        let t = self.thresholds();
        let live: Vec<String> = self
            .members
            .others()
            .filter(|m| self.members.status(m, now_ms, &t).is_live())
            .map(|m| m.addr.clone())
            .collect();
        // Forget what peers showed, so every Syn carries the full member list with our flag.
        self.peer_seen.clear();
        let out = live
            .choose_multiple(rng, self.params.fanout * 2)
            .cloned()
            .collect::<Vec<_>>()
            .into_iter()
            .map(|to| {
                let message = self.syn_for(&to, replica);
                self.stats.count_sent(MessageKind::Syn);
                Outgoing { to, message }
            })
            .collect();
        self.left = true;
        out
    }

    /// The transport could not connect to `addr` (shown in `peers` as unreachable).
    pub fn note_unreachable(&mut self, now_ms: u64, addr: &str) {
        self.members.unreachable(now_ms, addr);
    }

    /// The transport wrote `bytes` bytes of a message of `kind`.
    pub fn note_sent_bytes(&mut self, kind: MessageKind, bytes: usize) {
        self.stats.sent.entry(kind).or_default().bytes += bytes as u64;
    }

    /// The transport read `bytes` bytes of a message of `kind`.
    pub fn note_received_bytes(&mut self, kind: MessageKind, bytes: usize) {
        self.stats.received.entry(kind).or_default().bytes += bytes as u64;
    }

    /// The transport received bytes that did not decode.
    pub fn note_decode_error(&mut self) {
        self.stats.decode_errors += 1;
    }

    pub(super) fn header(&self, body: Body) -> Message {
        Message {
            cluster: self.params.cluster.clone(),
            from: self.me,
            from_addr: self.my_addr.clone(),
            body,
        }
    }

    pub(super) fn advertised(&self, replica: &Replica) -> BTreeMap<NodeId, u64> {
        delta::advertised(replica)
    }

    /// The initiator's `Ack`: applied unless it answers an exchange from before a reset or one
    /// this node refused (it must reset a side first). A clean, whole `Ack` after a complete
    /// `SynAck` means the peer now holds what this node advertises.
    fn on_ack(&mut self, peer: NodeId, delta: &Delta, replica: &mut Replica, accept_limit: u64) {
        if !self.reply_is_current(peer) || self.refused_exchanges.contains(&peer) {
            return;
        }
        let clean = self.apply(replica, delta, accept_limit);
        let seen = self.peer_seen.entry(peer).or_default();
        if seen.synack_complete && clean && !delta.truncated {
            let hash = delta::hash_of(&self.advertised(replica));
            if let Some(seen) = self.peer_seen.get_mut(&peer) {
                seen.state_hash = Some(hash);
            }
        }
    }

    /// Counts a received message and decides whether it is handled: `Ok(sender)` (now heard
    /// from), or `Err(replies)` for another cluster's message (a `BadCluster` answer), our own
    /// and anything after this node left (nothing).
    fn admit(
        &mut self,
        now_ms: u64,
        from_addr: &str,
        message: &Message,
    ) -> Result<NodeId, Vec<Message>> {
        let kind = message.kind();
        self.stats.count_received(kind);
        if message.cluster != self.params.cluster {
            self.stats.bad_cluster += 1;
            return Err(if kind == MessageKind::BadCluster {
                Vec::new()
            } else {
                self.reply(Body::BadCluster)
            });
        }
        if message.from == self.me || self.left {
            return Err(Vec::new());
        }
        let addr = if message.from_addr.is_empty() {
            from_addr
        } else {
            message.from_addr.as_str()
        };
        self.members.heard_from(now_ms, message.from, addr);
        Ok(message.from)
    }

    /// Handles one received message and returns the replies to write back on the same
    /// connection: a `SynAck` (or `Reset`) for a `Syn`, an `Ack` (or `Reset`) for a `SynAck`,
    /// nothing for the rest. Entries stamped after `accept_limit_time` (the clock's max-offset
    /// guard, `Clock::accept_limit`) are not applied and their origin's watermark stops before
    /// them, so they are retried later. `from_addr` is the connection's peer address (used only
    /// when the message carries no advertised address).
    pub fn handle(
        &mut self,
        now_ms: u64,
        from_addr: &str,
        message: Message,
        replica: &mut Replica,
        accept_limit_time: u64,
    ) -> Vec<Message> {
        self.ensure_started(now_ms, replica);
        self.restore_safety(replica);
        self.handling_at_ms = now_ms;
        let peer = match self.admit(now_ms, from_addr, &message) {
            Ok(peer) => peer,
            Err(replies) => return replies,
        };
        match message.body {
            Body::Syn { state, members } => {
                let members = self.merge_syn_heartbeats(now_ms, peer, &members);
                self.exchange_epochs.insert(peer, self.stats.resets_done);
                self.refused_exchanges.remove(&peer);
                self.on_syn(peer, state, members, replica)
            }
            body @ Body::SynAck { .. } => {
                self.on_synack_message(now_ms, peer, body, replica, accept_limit_time)
            }
            Body::Ack { delta, members } => {
                self.merge_reply_heartbeats(now_ms, peer, &members);
                self.on_ack(peer, &delta, replica, accept_limit_time);
                Vec::new()
            }
            body @ Body::Reset { .. } => {
                self.on_reset_message(body, replica);
                Vec::new()
            }
            Body::BadCluster => Vec::new(),
        }
    }

    pub(super) fn reply(&mut self, body: Body) -> Vec<Message> {
        let message = self.header(body);
        self.stats.count_sent(message.kind());
        vec![message]
    }

    /// Entries from peers refused since the last call (key and the limit broken, at most 64):
    /// the shell logs them.
    pub fn take_refused_entries(&mut self) -> Vec<String> {
        std::mem::take(&mut self.refused_entries)
    }

    /// Applies a delta; returns true when nothing was held back.
    pub(super) fn apply(
        &mut self,
        replica: &mut Replica,
        delta: &super::message::Delta,
        limit: u64,
    ) -> bool {
        let applied = delta::apply(replica, delta, limit);
        self.clock_watch.note(self.handling_at_ms, &applied);
        self.stats.rejected_stamps += applied.rejected_stamps as u64;
        self.stats.refused_chunks += applied.refused_chunks as u64;
        self.stats.entries_merged += applied.merged as u64;
        let room = 64usize.saturating_sub(self.refused_entries.len());
        self.refused_entries
            .extend(applied.refused_entries.iter().take(room).cloned());
        self.remember_digest(replica);
        if let Some(target) = &self.resync_target {
            if replica.own_refetch().is_none()
                && target.iter().all(|(o, wm)| replica.watermark(*o) >= *wm)
            {
                self.resync_target = None;
                self.save_safety(replica);
            }
        }
        applied.is_clean()
    }

    /// Every other known node, as seen at `now_ms`.
    pub fn peers(&self, now_ms: u64, replica: &Replica) -> Vec<PeerView> {
        let t = self.thresholds();
        self.members
            .others()
            .map(|m| {
                let status = self.members.status(m, now_ms, &t);
                let last = m.window.last_arrival_ms();
                let known = self.known_versions.get(&m.id).copied().unwrap_or(0);
                PeerView {
                    node: m.id,
                    addr: m.addr.clone(),
                    status,
                    heartbeat_age_ms: now_ms.saturating_sub(last),
                    phi: m.window.phi(now_ms, self.params.interval_ms),
                    missing_versions: known.saturating_sub(replica.watermark(m.id)),
                    unreachable_since_ms: m
                        .unreachable_since_ms
                        .or_else(|| (status != MemberStatus::Alive).then_some(last)),
                    clock_ahead_ms: self.clock_watch.ahead_ms(m.id, now_ms),
                    clock_offset_ms: None,
                }
            })
            .collect()
    }
}
