//! `Node`: one gossip node, sans-IO — the one value the agent's gossip server and the
//! simulator both drive. It owns the gossip core (`GossipCore`), its random source (a seeded
//! `StdRng`: the agent seeds it from entropy, the simulator from its seed), a handle on the
//! node's HLC (`Arc<Clock>`), and the publish limit; it takes the time as `now_ms`, received
//! bytes as they came off the wire, and returns everything that happened as one `Effects`
//! (encoded messages, typed events and refusals, entries merged, bytes moved).
//!
//! Wire protocols: a message is decoded by its version byte; replies are encoded in the
//! protocol the connection agreed on (`on_message`'s `protocol`: 1 withholds entries of kinds
//! a protocol-1 node does not know, 2 carries them as bytes, 3 also names the write that
//! replaced each version a chunk skips and carries a `Reset`'s collected ledger). The `Syn`s that open exchanges
//! (`on_tick`, `on_early_round`, `on_leave`) hold no entries and go out in protocol 1's form,
//! which every peer reads, since the connection's protocol is agreed only when it opens.
//!
//! The glue around every merge lives here, once: decoding (an undecodable message is a
//! refusal), byte counts, the publish limit (`Replica::set_publish_limit` with the durable own
//! version the shell reports through `set_publish_limit`) before the core reads the replica,
//! the clock guard (`Clock::accept_limit_at`: the corrected time plus the max offset) and the
//! clock floor (`Clock::raise_floor(replica.merged_stamp_time())`) after a merge, so later local
//! writes win over everything merged.
//!
//! Ownership: the replica is *borrowed per call* (`on_tick(now, &mut replica)`), not owned.
//! In the agent it sits in `Shared` behind a mutex because the store's write path
//! (`Shared::write_durable`) and the API read and write it between gossip calls; owning it
//! here would put every local write and query behind the gossip lock. The clock is shared the
//! same way (`Arc<Clock>`): local writes are stamped by it outside `Node`. `Node` uses it
//! only for its max offset and floor, never to read the wall clock.
//!
//! Clock offsets (protocol 3, `clocks`): replies carry the exchange's times, each received
//! `Ack` or `SynAck` gives a sample of the peer's clock, and every round (`on_tick`) this node
//! weighs its clock against the mesh's median: ahead by more than `max_clock_offset_ms`, it sets
//! its clock's correction (stamps and the accept limit follow the mesh's time) and, in the same
//! round, re-stamps own writes issued more than `RESTAMP_MARGIN_MS` beyond what any peer takes
//! and rewinds the clock (`restamp`: a stamp issued ahead would keep the HLC ahead); the round's
//! `Effects::restamped` lists them (old and new stamp). A stamp a peer took is never lowered:
//! that would leave replicas differing for ever (`restamp`; a clock that stepped back
//! drops its correction, `clocks`).
//!
//! Peers' transitions (`peer_watch`): every round (`on_tick`) the member table, as the
//! membership and the failure detector see it at `now_ms`, is compared with the last round's;
//! a peer joining, turning suspect, dead, leaving, coming back alive (with its downtime), this
//! node catching up with it, and the whole mesh healing are `NodeEvent`s in the round's
//! `Effects`.
//!
//! Must not touch: sockets, the wall clock, the global RNG, SQLite, tokio.

#[cfg(test)]
mod clock_tests;
mod clocks;
mod effects;
mod peer_watch;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use rand::rngs::StdRng;

use crate::clock::Clock;
use crate::crdt::NodeId;
use crate::gossip::{self, GossipCore, GossipStats, Message, MessageKind, Outgoing, PeerView};
use crate::restamp::{self, RestampOutcome};
use crate::state::Replica;
use clocks::ClockView;
use peer_watch::PeerWatch;

pub use effects::{
    Effects, Envelope, NodeEvent, PeerChange, Refusal, Restamped, LARGE_DELTA_ENTRIES,
};

/// One gossip node: core, random source, clock handle and publish limit (see the module doc).
pub struct Node {
    core: GossipCore,
    rng: StdRng,
    clock: Arc<Clock>,
    /// The last own version committed to disk (`None`: no limit).
    publish_limit: Option<u64>,
    /// The peers' clocks and where each stands against the mesh's median.
    clocks: ClockView,
    /// The member table as last seen, for the peers' transitions.
    watch: PeerWatch,
}

/// The core's counters that per-exchange events are computed from.
#[derive(Debug, Clone, Copy)]
struct Counters {
    rejected_stamps: u64,
    entries_merged: u64,
    bad_cluster: u64,
    resets_sent: u64,
    resets_done: u64,
}

impl Counters {
    fn of(stats: &GossipStats) -> Self {
        Counters {
            rejected_stamps: stats.rejected_stamps,
            entries_merged: stats.entries_merged,
            bad_cluster: stats.bad_cluster,
            resets_sent: stats.resets_sent,
            resets_done: stats.resets_done,
        }
    }
}

impl Node {
    /// A node running `core`, drawing its random choices from `rng` and flooring `clock`.
    pub fn new(core: GossipCore, rng: StdRng, clock: Arc<Clock>) -> Self {
        Node {
            core,
            rng,
            clock,
            publish_limit: None,
            clocks: ClockView::default(),
            watch: PeerWatch::default(),
        }
    }

    /// A copy with its own copy of the clock (the simulator forks whole worlds; a copy
    /// sharing the clock would let one world's merges floor the other's stamps).
    #[cfg(feature = "sim")]
    pub fn fork(&self) -> Node {
        Node {
            core: self.core.clone(),
            rng: self.rng.clone(),
            clock: Arc::new(self.clock.fork()),
            publish_limit: self.publish_limit,
            clocks: self.clocks.clone(),
            watch: self.watch.clone(),
        }
    }

    /// Replaces the random source (the simulator's independent runs from one warmed-up world).
    #[cfg(feature = "sim")]
    pub fn reseed(&mut self, rng: StdRng) {
        self.rng = rng;
    }

    /// The gossip core (read-only: stats, members, params).
    pub fn gossip(&self) -> &GossipCore {
        &self.core
    }

    pub fn me(&self) -> NodeId {
        self.core.me()
    }

    pub fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    pub fn stats(&self) -> &GossipStats {
        self.core.stats()
    }

    /// Shows peers only own writes up to `durable_own_version` (the last one committed to
    /// disk), from the next call on. `None` lifts the limit.
    pub fn set_publish_limit(&mut self, durable_own_version: Option<u64>) {
        self.publish_limit = durable_own_version;
    }

    fn prepare(&self, replica: &mut Replica) {
        replica.set_publish_limit(self.publish_limit);
    }

    /// Starts a round: the `Syn`s to send, encoded, and the events of this round's look at
    /// the member table (peers' transitions, `peer_watch`) and at the clocks (which also sets
    /// the clock's correction and, while it is set, re-stamps own writes stamped ahead:
    /// `restamped`; see the module doc).
    pub fn on_tick(&mut self, now_ms: u64, replica: &mut Replica) -> Effects {
        self.prepare(replica);
        self.core
            .set_clock_correction_ms(self.clock.correction_ms());
        let outgoing = self.core.tick(now_ms, &mut self.rng, replica);
        let mut effects = self.encode_all(outgoing);
        let peers = self.core.peers(now_ms, replica);
        effects.events = self.watch.observe(now_ms, &peers);
        let clock_events = self.clocks.review(now_ms, &peers, &self.clock);
        effects.events.extend(clock_events);
        effects.restamped = self.restamp_ahead(now_ms, replica);
        effects
    }

    /// How far this node's clock runs ahead of the mesh's median (ms; negative: behind), once
    /// a peer's clock was measured.
    pub fn own_clock_offset_ms(&self) -> Option<i64> {
        self.clocks.own_offset_ms()
    }

    /// While the clock is corrected (this node runs ahead of the mesh): re-stamps own writes
    /// stamped well beyond what any peer takes and rewinds the clock (`restamp::restamp_ahead`).
    fn restamp_ahead(&mut self, now_ms: u64, replica: &mut Replica) -> Vec<Restamped> {
        if self.clock.correction_ms() == 0 {
            return Vec::new();
        }
        match restamp::restamp_ahead(&self.clock, now_ms, replica) {
            RestampOutcome::Restamped { restamped, .. } => restamped,
            RestampOutcome::NotAhead | RestampOutcome::WallClockBehind { .. } => Vec::new(),
        }
    }

    /// An early round if one is due now (the core holds something new since its last round):
    /// its `Syn`s; else, when something new waits, the time (`now_ms`'s clock) it will be due.
    pub fn on_early_round(&mut self, now_ms: u64, replica: &mut Replica) -> (Effects, Option<u64>) {
        self.prepare(replica);
        match self.core.early_round_at(replica) {
            Some(at) if at <= now_ms => {
                let outgoing = self.core.early_round(now_ms, &mut self.rng, replica);
                (self.encode_all(outgoing), None)
            }
            Some(at) => (Effects::default(), Some(at)),
            None => (Effects::default(), None),
        }
    }

    /// Announces that this node leaves (graceful shutdown): the `Syn`s to send, encoded.
    pub fn on_leave(&mut self, now_ms: u64, replica: &mut Replica) -> Effects {
        self.prepare(replica);
        let outgoing = self.core.leave(now_ms, &mut self.rng, replica);
        self.encode_all(outgoing)
    }

    /// The transport could not connect to `addr`.
    pub fn note_unreachable(&mut self, now_ms: u64, addr: &str) {
        self.core.note_unreachable(now_ms, addr);
    }

    /// The peers as this node sees them now, with their measured clock offsets.
    pub fn peers(&self, now_ms: u64, replica: &Replica) -> Vec<PeerView> {
        let mut peers = self.core.peers(now_ms, replica);
        for peer in &mut peers {
            peer.clock_offset_ms = self.clocks.peer_offset_ms(peer.node, now_ms);
        }
        peers
    }

    /// Handles the bytes of one message received from `from` (the connection's address) on a
    /// connection speaking gossip `protocol`: the replies (to `from`, on the same connection,
    /// encoded in `protocol`), what merged, events and refusals.
    pub fn on_message(
        &mut self,
        now_ms: u64,
        from: &str,
        bytes: &[u8],
        protocol: u8,
        replica: &mut Replica,
    ) -> Effects {
        let mut effects = Effects {
            bytes_received: bytes.len() as u64,
            ..Effects::default()
        };
        let (message, times) = match gossip::decode_with(bytes) {
            Ok(decoded) => decoded,
            Err(error) => {
                self.core.note_decode_error();
                let addr = from.to_string();
                effects.refusals.push(Refusal::Undecodable { addr, error });
                return effects;
            }
        };
        self.core.note_received_bytes(message.kind(), bytes.len());
        if message.kind() == MessageKind::BadCluster {
            effects.refusals.push(Refusal::RefusedByPeer {
                addr: from.to_string(),
                their_cluster: message.cluster.clone(),
            });
        }
        let (peer, their_cluster) = (message.from, message.cluster.clone());
        if let Some(times) = times {
            self.clocks.on_received(now_ms, &message, times);
        }
        self.prepare(replica);
        // By the corrected clock: a node running ahead of the mesh takes no more than the
        // mesh's time allows, or it would hold stamps its own re-stamps go below.
        let accept_limit = self.clock.accept_limit_at(now_ms);
        let before = Counters::of(self.core.stats());
        let replies = self
            .core
            .handle(now_ms, from, message, replica, accept_limit);
        let after = Counters::of(self.core.stats());
        // Later local writes must win over everything merged so far.
        self.clock.raise_floor(replica.merged_stamp_time());
        effects.merged = after.entries_merged - before.entries_merged;
        effects.events = exchange_events((peer, from, &their_cluster), before, after);
        let (refused, addr) = (self.core.take_refused_entries(), from.to_string());
        let entry_refusal = |entry| Refusal::Entry {
            addr: addr.clone(),
            entry,
        };
        effects
            .refusals
            .extend(refused.into_iter().map(entry_refusal));
        for reply in replies {
            let encoding = (protocol, self.clocks.times_for(now_ms, &reply, peer, times));
            self.encode_into(&mut effects, from.to_string(), &reply, encoding);
        }
        effects
    }

    /// Encodes the `Syn`s that open exchanges: in protocol 1's form (a `Syn` holds no entries,
    /// so it is the same message in every protocol, and every peer reads it).
    fn encode_all(&mut self, outgoing: Vec<Outgoing>) -> Effects {
        let mut effects = Effects::default();
        for Outgoing { to, message } in outgoing {
            debug_assert_eq!(message.kind(), MessageKind::Syn, "only Syns open exchanges");
            let protocol = gossip::LEGACY_PROTOCOL_VERSION;
            self.encode_into(&mut effects, to, &message, (protocol, None));
        }
        effects
    }

    /// Encodes `message` in `protocol`, with the exchange's times from protocol 3 on.
    fn encode_into(
        &mut self,
        effects: &mut Effects,
        to: String,
        message: &Message,
        (protocol, times): (u8, Option<gossip::message::ExchangeTimes>),
    ) {
        let kind = message.kind();
        let bytes = gossip::encode_with(message, protocol, times);
        self.core.note_sent_bytes(kind, bytes.len());
        effects.bytes_sent += bytes.len() as u64;
        effects.messages.push(Envelope { to, kind, bytes });
    }
}

/// The events one handled message caused, from the core's counters before and after it: a
/// refused cluster alone, else held-back stamps, a large delta, a reset sent or obeyed.
fn exchange_events(
    (peer, addr, their_cluster): (NodeId, &str, &str),
    before: Counters,
    after: Counters,
) -> Vec<NodeEvent> {
    let addr = addr.to_string();
    if after.bad_cluster > before.bad_cluster {
        let their_cluster = their_cluster.to_string();
        return vec![NodeEvent::RefusedCluster {
            peer,
            addr,
            their_cluster,
        }];
    }
    let mut events = Vec::new();
    let held = after.rejected_stamps - before.rejected_stamps;
    if held > 0 {
        let (addr, entries) = (addr.clone(), held);
        events.push(NodeEvent::HeldBack {
            peer,
            addr,
            entries,
        });
    }
    let merged = after.entries_merged - before.entries_merged;
    if merged >= LARGE_DELTA_ENTRIES {
        let (addr, entries) = (addr.clone(), merged);
        events.push(NodeEvent::LargeDelta {
            peer,
            addr,
            entries,
        });
    }
    if after.resets_sent > before.resets_sent {
        let addr = addr.clone();
        events.push(NodeEvent::ResetSent { peer, addr });
    }
    if after.resets_done > before.resets_done {
        events.push(NodeEvent::ResetObeyed { peer, addr });
    }
    events
}
