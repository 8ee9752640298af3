//! `GossipCore`: one node's gossip state machine. `tick` starts a round (heartbeat, GC, peer
//! selection, `Syn`s); `handle` answers one received message with the replies to write back on
//! the same connection; `leave`, `peers`, `stats` for the rest of the agent.
//!
//! Pure: time, randomness and the replica are passed in. Must not touch: sockets, clocks, the
//! global RNG, tokio, SQLite.

use std::collections::{BTreeMap, HashMap, VecDeque};

use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use super::delta::{self, Floors};
use super::members::{MemberStatus, Members, Thresholds};
use super::message::{
    Body, DigestItem, DigestSummary, Heartbeats, Message, MessageKind, StateSummary,
};
use super::stats::GossipStats;
use super::GossipParams;
use crate::crdt::{NodeId, Stamp};
use crate::state::Replica;

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
}

/// What a peer last showed us.
#[derive(Debug, Clone, Copy, Default)]
struct PeerSeen {
    state_hash: Option<u64>,
    members_hash: Option<u64>,
    /// Our `SynAck` to it carried everything it lacked (so a clean `Ack` means we agree).
    synack_complete: bool,
}

/// Whether an exchange must reset one side first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResetDecision {
    None,
    PeerMustReset,
    IMustReset,
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
    left: bool,
    last_gc_ms: u64,
    stats: GossipStats,
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
            floors: Floors::default(),
            peer_seen: HashMap::new(),
            known_versions: BTreeMap::new(),
            resync_target: None,
            last_hashes_heard: (None, None),
            recent_digests: VecDeque::new(),
            started: false,
            left: false,
            last_gc_ms: 0,
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

    fn thresholds(&self) -> Thresholds {
        Thresholds {
            interval_ms: self.params.interval_ms,
            suspect_phi: self.params.suspect_phi,
            dead_phi: self.params.phi_threshold,
        }
    }

    fn ensure_started(&mut self, now_ms: u64) {
        if !self.started {
            self.started = true;
            self.members.set_incarnation(now_ms);
            self.last_gc_ms = now_ms;
        }
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
        self.ensure_started(now_ms);
        if self.left {
            return Vec::new();
        }
        self.stats.rounds += 1;
        self.members.bump_self();
        self.collect(now_ms, replica);
        self.remember_digest(replica);

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
        targets
            .into_iter()
            .map(|to| {
                let message = self.syn_for(&to, replica);
                self.stats.count_sent(MessageKind::Syn);
                Outgoing { to, message }
            })
            .collect()
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
        self.ensure_started(now_ms);
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

    fn header(&self, body: Body) -> Message {
        Message {
            cluster: self.params.cluster.clone(),
            from: self.me,
            from_addr: self.my_addr.clone(),
            body,
        }
    }

    fn advertised(&self, replica: &Replica) -> BTreeMap<NodeId, u64> {
        delta::advertised(replica)
    }

    fn syn_for(&mut self, addr: &str, replica: &Replica) -> Message {
        let seen = self
            .members
            .by_addr(addr)
            .and_then(|m| self.peer_seen.get(&m.id))
            .copied()
            .unwrap_or_default();
        let (heard_state, heard_members) = self.last_hashes_heard;
        let wms = self.advertised(replica);
        let hash = delta::hash_of(&wms);
        let state = if seen.state_hash.or(heard_state) == Some(hash) {
            StateSummary::Hash(hash)
        } else {
            StateSummary::Full(DigestSummary {
                items: delta::items(&wms, &self.floors),
                gc_mark: self.floors.gc_mark,
            })
        };
        let members_hash = self.members.hash();
        let members = if seen.members_hash.or(heard_members) == Some(members_hash) {
            Heartbeats::Dense {
                members_hash,
                counters: self.members.dense(),
            }
        } else {
            Heartbeats::Full {
                members_hash,
                members: self.members.full(),
            }
        };
        self.header(Body::Syn { state, members })
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
        self.ensure_started(now_ms);
        let kind = message.kind();
        self.stats.count_received(kind);
        if message.cluster != self.params.cluster {
            self.stats.bad_cluster += 1;
            return if kind == MessageKind::BadCluster {
                Vec::new()
            } else {
                self.reply(Body::BadCluster)
            };
        }
        if message.from == self.me || self.left {
            return Vec::new();
        }
        let peer = message.from;
        let addr = if message.from_addr.is_empty() {
            from_addr
        } else {
            message.from_addr.as_str()
        };
        self.members.heard_from(now_ms, peer, addr);
        let resets_before = self.stats.resets_done;
        match message.body {
            Body::Syn { state, members } => {
                let members = self.merge_syn_heartbeats(now_ms, peer, &members);
                self.on_syn(peer, state, members, replica)
            }
            Body::SynAck {
                state_hash,
                want,
                want_is_full_digest,
                gc_mark,
                delta,
                members,
            } => {
                let members = self.merge_reply_heartbeats(now_ms, peer, &members);
                let applied = self.apply(replica, &delta, accept_limit_time);
                self.on_synack(
                    peer,
                    state_hash,
                    want,
                    want_is_full_digest,
                    gc_mark,
                    delta.truncated || !applied,
                    members,
                    replica,
                )
            }
            Body::Ack { delta, members } => {
                self.merge_reply_heartbeats(now_ms, peer, &members);
                let clean = self.apply(replica, &delta, accept_limit_time);
                let seen = self.peer_seen.entry(peer).or_default();
                if seen.synack_complete && clean && !delta.truncated {
                    let hash = delta::hash_of(&self.advertised(replica));
                    if let Some(seen) = self.peer_seen.get_mut(&peer) {
                        seen.state_hash = Some(hash);
                    }
                }
                Vec::new()
            }
            Body::Reset {
                floors,
                gc_mark,
                your_watermark,
                your_versions,
                watermarks,
            } => {
                self.on_reset(&floors, gc_mark, your_watermark, &your_versions, replica);
                if self.stats.resets_done > resets_before {
                    self.resync_target = Some(watermarks.into_iter().collect());
                }
                Vec::new()
            }
            Body::BadCluster => Vec::new(),
        }
    }

    fn reply(&mut self, body: Body) -> Vec<Message> {
        let message = self.header(body);
        self.stats.count_sent(message.kind());
        vec![message]
    }

    /// Applies a delta; returns true when nothing was held back.
    fn apply(&mut self, replica: &mut Replica, delta: &super::message::Delta, limit: u64) -> bool {
        let applied = delta::apply(replica, delta, limit);
        self.stats.rejected_stamps += applied.rejected_stamps as u64;
        self.stats.refused_chunks += applied.refused_chunks as u64;
        self.stats.entries_merged += applied.merged as u64;
        self.remember_digest(replica);
        if let Some(target) = &self.resync_target {
            if target.iter().all(|(o, wm)| replica.watermark(*o) >= *wm) {
                self.resync_target = None;
            }
        }
        applied.is_clean()
    }

    /// Records our current advertised digest among the recent ones (if it changed).
    fn remember_digest(&mut self, replica: &Replica) {
        let wms = self.advertised(replica);
        let hash = delta::hash_of(&wms);
        if self.recent_digests.front().map(|(h, _)| *h) != Some(hash) {
            self.recent_digests.push_front((hash, wms));
            self.recent_digests.truncate(RECENT_DIGESTS);
        }
    }

    /// Merges a `Syn`'s heartbeats and returns the heartbeats for the `SynAck`.
    fn merge_syn_heartbeats(&mut self, now_ms: u64, peer: NodeId, hb: &Heartbeats) -> Heartbeats {
        let my_hash = self.members.hash();
        let reply = match hb {
            Heartbeats::Dense {
                members_hash,
                counters,
            } if *members_hash == my_hash => {
                self.members.merge_dense(now_ms, counters);
                Heartbeats::Sparse {
                    members_hash: my_hash,
                    newer: self.members.newer_than(counters),
                }
            }
            Heartbeats::Full {
                members_hash,
                members,
            } => {
                self.members.merge_full(now_ms, members);
                let mine = self.members.hash();
                if mine == *members_hash {
                    let theirs: Vec<u64> = members.iter().map(|m| m.heartbeat).collect();
                    Heartbeats::Sparse {
                        members_hash: mine,
                        newer: self.members.newer_than(&theirs),
                    }
                } else {
                    Heartbeats::Full {
                        members_hash: mine,
                        members: self.members.full(),
                    }
                }
            }
            Heartbeats::None => Heartbeats::None,
            _ => Heartbeats::Full {
                members_hash: my_hash,
                members: self.members.full(),
            },
        };
        if let Some(hash) = hb.members_hash() {
            self.peer_seen.entry(peer).or_default().members_hash = Some(hash);
            self.last_hashes_heard.1 = Some(hash);
        }
        reply
    }

    /// Merges a `SynAck`'s or `Ack`'s heartbeats; returns the heartbeats for an `Ack`.
    fn merge_reply_heartbeats(&mut self, now_ms: u64, peer: NodeId, hb: &Heartbeats) -> Heartbeats {
        let my_hash = self.members.hash();
        let reply = match hb {
            Heartbeats::Sparse {
                members_hash,
                newer,
            } if *members_hash == my_hash => {
                self.members.merge_sparse(now_ms, newer);
                Heartbeats::None
            }
            Heartbeats::Full {
                members_hash,
                members,
            } => {
                self.members.merge_full(now_ms, members);
                let mine = self.members.hash();
                if mine == *members_hash {
                    Heartbeats::None
                } else {
                    Heartbeats::Full {
                        members_hash: mine,
                        members: self.members.full(),
                    }
                }
            }
            _ => Heartbeats::None,
        };
        if let Some(hash) = hb.members_hash() {
            // After this exchange the peer has our list too when we send it.
            let hash = match reply {
                Heartbeats::Full { members_hash, .. } => members_hash,
                _ => hash,
            };
            self.peer_seen.entry(peer).or_default().members_hash = Some(hash);
        }
        reply
    }

    fn note_known(&mut self, items: &[DigestItem]) {
        for item in items {
            let slot = self.known_versions.entry(item.origin).or_insert(0);
            *slot = (*slot).max(item.watermark);
        }
    }

    fn reset_decision(
        &self,
        peer: NodeId,
        peer_items: &[DigestItem],
        peer_gc_mark: u64,
        my_items: &[DigestItem],
    ) -> ResetDecision {
        let peer_behind = self.floors.is_ahead_of(peer_items);
        let mut peer_floors = Floors::default();
        for item in peer_items {
            if item.floor > 0 {
                peer_floors.raise(item.origin, item.floor);
            }
        }
        let me_behind = peer_floors.is_ahead_of(my_items);
        match (peer_behind, me_behind) {
            (true, false) => ResetDecision::PeerMustReset,
            (false, true) => ResetDecision::IMustReset,
            (true, true) => {
                // Both sides collected tombstones the other missed: the side whose latest
                // collected tombstone is newer wins (the same answer on both sides).
                if (self.floors.gc_mark, self.me) > (peer_gc_mark, peer) {
                    ResetDecision::PeerMustReset
                } else {
                    ResetDecision::IMustReset
                }
            }
            (false, false) => ResetDecision::None,
        }
    }

    /// Decides, from a peer's full digest, whether one side must reset before any data flows.
    fn settle_reset(
        &mut self,
        peer: NodeId,
        peer_items: &[DigestItem],
        peer_gc_mark: u64,
        replica: &Replica,
    ) -> ResetDecision {
        let my_items = delta::items(&self.advertised(replica), &self.floors);
        self.reset_decision(peer, peer_items, peer_gc_mark, &my_items)
    }

    /// The `Reset` that tells `peer` to forget what it learned from others, or `refusal` (an
    /// exchange without data) while we are still catching up after our own reset.
    fn reset_for(&mut self, peer: NodeId, replica: &Replica, refusal: Body) -> Vec<Message> {
        self.peer_seen.remove(&peer);
        if self.resync_target.is_some() {
            return self.reply(refusal);
        }
        self.stats.resets_sent += 1;
        let your_watermark = replica.watermark(peer);
        let your_versions = replica
            .entries_after(peer, 0)
            .map(|e| e.version)
            .take_while(|v| *v <= your_watermark)
            .collect();
        self.reply(Body::Reset {
            floors: self.floors.to_vec(),
            gc_mark: self.floors.gc_mark,
            your_watermark,
            your_versions,
            watermarks: self.advertised(replica).into_iter().collect(),
        })
    }

    fn on_syn(
        &mut self,
        peer: NodeId,
        state: StateSummary,
        members: Heartbeats,
        replica: &mut Replica,
    ) -> Vec<Message> {
        match state {
            StateSummary::Full(summary) => {
                self.note_known(&summary.items);
                let wms = self.advertised(replica);
                match self.settle_reset(peer, &summary.items, summary.gc_mark, replica) {
                    ResetDecision::None => {}
                    ResetDecision::PeerMustReset => {
                        let refusal = Body::SynAck {
                            state_hash: delta::hash_of(&wms),
                            want: Vec::new(),
                            want_is_full_digest: false,
                            gc_mark: self.floors.gc_mark,
                            delta: Default::default(),
                            members,
                        };
                        return self.reset_for(peer, replica, refusal);
                    }
                    ResetDecision::IMustReset => {
                        // Show our full digest and take nothing: the initiator sees we are
                        // behind and sends the `Reset` (with which of our writes it holds).
                        self.peer_seen.remove(&peer);
                        return self.reply(Body::SynAck {
                            state_hash: delta::hash_of(&wms),
                            want: delta::items(&wms, &self.floors),
                            want_is_full_digest: true,
                            gc_mark: self.floors.gc_mark,
                            delta: Default::default(),
                            members,
                        });
                    }
                }
                let wants = delta::peer_behind(&wms, &summary.items);
                let delta = delta::build(replica, &wants, self.params.max_delta_bytes);
                let want = delta::we_want(&wms, &self.floors, &summary.items);
                let seen = self.peer_seen.entry(peer).or_default();
                seen.synack_complete = !delta.truncated;
                let theirs = delta::hash_of(
                    &summary
                        .items
                        .iter()
                        .filter(|i| i.watermark > 0)
                        .map(|i| (i.origin, i.watermark))
                        .collect(),
                );
                seen.state_hash = Some(theirs);
                self.last_hashes_heard.0 = Some(theirs);
                self.reply(Body::SynAck {
                    state_hash: delta::hash_of(&wms),
                    want,
                    want_is_full_digest: false,
                    gc_mark: self.floors.gc_mark,
                    delta,
                    members,
                })
            }
            StateSummary::Hash(hash) => {
                self.remember_digest(replica);
                let wms = self.advertised(replica);
                let mine = delta::hash_of(&wms);
                self.last_hashes_heard.0 = Some(hash);
                let known = self
                    .recent_digests
                    .iter()
                    .find(|(h, _)| *h == hash && hash != mine)
                    .map(|(_, digest)| digest.clone())
                    // Never for a peer behind our GC floors: it must go through the full
                    // digest, where the reset is decided.
                    .filter(|digest| {
                        !self
                            .floors
                            .is_ahead_of(&delta::items(digest, &Floors::default()))
                    });
                if let Some(theirs) = known {
                    // The peer holds one of our recent digests: it lacks only what we gained
                    // since, and has nothing we lack.
                    let wants: Vec<(NodeId, u64)> = wms
                        .iter()
                        .filter_map(|(o, wm)| {
                            let t = theirs.get(o).copied().unwrap_or(0);
                            (*wm > t).then_some((*o, t))
                        })
                        .collect();
                    let delta = delta::build(replica, &wants, self.params.max_delta_bytes);
                    let seen = self.peer_seen.entry(peer).or_default();
                    seen.state_hash = Some(hash);
                    seen.synack_complete = !delta.truncated;
                    return self.reply(Body::SynAck {
                        state_hash: mine,
                        want: Vec::new(),
                        want_is_full_digest: false,
                        gc_mark: self.floors.gc_mark,
                        delta,
                        members,
                    });
                }
                let seen = self.peer_seen.entry(peer).or_default();
                seen.state_hash = Some(hash);
                seen.synack_complete = hash == mine;
                let want = if hash == mine {
                    Vec::new()
                } else {
                    delta::items(&wms, &self.floors)
                };
                self.reply(Body::SynAck {
                    state_hash: mine,
                    want_is_full_digest: hash != mine,
                    want,
                    gc_mark: self.floors.gc_mark,
                    delta: Default::default(),
                    members,
                })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_synack(
        &mut self,
        peer: NodeId,
        state_hash: u64,
        want: Vec<DigestItem>,
        want_is_full_digest: bool,
        gc_mark: u64,
        their_delta_incomplete: bool,
        members: Heartbeats,
        replica: &mut Replica,
    ) -> Vec<Message> {
        let wants: Vec<(NodeId, u64)> = if want_is_full_digest {
            self.note_known(&want);
            match self.settle_reset(peer, &want, gc_mark, replica) {
                ResetDecision::None => {}
                ResetDecision::PeerMustReset => {
                    let refusal = Body::Ack {
                        delta: Default::default(),
                        members,
                    };
                    return self.reset_for(peer, replica, refusal);
                }
                ResetDecision::IMustReset => {
                    // Send nothing; our next Syn to it carries the full digest, and it answers
                    // with the `Reset`.
                    self.peer_seen.remove(&peer);
                    return self.reply(Body::Ack {
                        delta: Default::default(),
                        members,
                    });
                }
            }
            delta::peer_behind(&self.advertised(replica), &want)
        } else {
            want.iter().map(|i| (i.origin, i.watermark)).collect()
        };
        let delta = delta::build(replica, &wants, self.params.max_delta_bytes);
        // When our Syn carried the full digest and both deltas are whole, we now agree.
        let agree = !want_is_full_digest && !their_delta_incomplete && !delta.truncated;
        let mine_after = delta::hash_of(&self.advertised(replica));
        let seen = self.peer_seen.entry(peer).or_default();
        seen.state_hash = Some(if agree { mine_after } else { state_hash });
        self.last_hashes_heard.0 = Some(state_hash);
        self.reply(Body::Ack { delta, members })
    }

    /// Obeys a `Reset` that is about tombstones we really missed (no loops, no wipes): forgets
    /// what was learned from others and our own writes the resetting peer no longer holds (they
    /// were replaced or deleted while we were away), adopts its floors, and re-syncs.
    fn on_reset(
        &mut self,
        floors: &[(NodeId, u64)],
        gc_mark: u64,
        your_watermark: u64,
        your_versions: &[u64],
        replica: &mut Replica,
    ) {
        let mut theirs = Floors::default();
        theirs.adopt(floors, gc_mark);
        let my_items = delta::items(&self.advertised(replica), &self.floors);
        if !theirs.is_ahead_of(&my_items) {
            return;
        }
        replica.reset_foreign();
        replica.drop_own_not_held(your_watermark, your_versions);
        self.recent_digests.clear();
        self.floors.adopt(floors, gc_mark);
        self.peer_seen.clear();
        self.stats.resets_done += 1;
    }

    /// Garbage collection: members gone longer than the grace period, and tombstones older
    /// than it (every `gc_every_ms`).
    fn collect(&mut self, now_ms: u64, replica: &mut Replica) {
        let t = self.thresholds();
        let grace = self.params.tombstone_grace_ms;
        let forgotten = self.members.collect_gone(now_ms, &t, grace);
        self.stats.members_forgotten += forgotten as u64;
        if forgotten > 0 {
            let members = &self.members;
            self.peer_seen.retain(|id, _| members.get(*id).is_some());
        }
        if now_ms.saturating_sub(self.last_gc_ms) >= self.params.gc_every_ms && now_ms > grace {
            self.last_gc_ms = now_ms;
            let before = Stamp::time_from_unix_ms(now_ms - grace);
            let dropped = self.floors.collect_tombstones(replica, before);
            self.stats.tombstones_collected += dropped as u64;
        }
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
                }
            })
            .collect()
    }
}
