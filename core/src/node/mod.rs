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
//! the clock guard (`accept_limit` from `now_ms` and the clock's max offset) and the clock
//! floor (`Clock::raise_floor(replica.max_stamp_time())`) after a merge, so later local
//! writes win over everything merged.
//!
//! Ownership: the replica is *borrowed per call* (`on_tick(now, &mut replica)`), not owned.
//! In the agent it sits in `Shared` behind a mutex because the store's write path
//! (`Shared::write_durable`) and the API read and write it between gossip calls; owning it
//! here would put every local write and query behind the gossip lock. The clock is shared the
//! same way (`Arc<Clock>`): local writes are stamped by it outside `Node`. `Node` uses it
//! only for its max offset and floor, never to read the wall clock.
//!
//! Must not touch: sockets, the wall clock, the global RNG, SQLite, tokio.

mod effects;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use rand::rngs::StdRng;

use crate::clock::Clock;
use crate::crdt::{NodeId, Stamp};
use crate::gossip::{self, GossipCore, GossipStats, Message, MessageKind, Outgoing, PeerView};
use crate::state::Replica;

pub use effects::{Effects, Envelope, NodeEvent, Refusal, LARGE_DELTA_ENTRIES};

/// One gossip node: core, random source, clock handle and publish limit (see the module doc).
pub struct Node {
    core: GossipCore,
    rng: StdRng,
    clock: Arc<Clock>,
    /// The last own version committed to disk (`None`: no limit).
    publish_limit: Option<u64>,
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

    /// Starts a round: the `Syn`s to send, encoded.
    pub fn on_tick(&mut self, now_ms: u64, replica: &mut Replica) -> Effects {
        self.prepare(replica);
        let outgoing = self.core.tick(now_ms, &mut self.rng, replica);
        self.encode_all(outgoing)
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

    /// The peers as this node sees them now.
    pub fn peers(&self, now_ms: u64, replica: &Replica) -> Vec<PeerView> {
        self.core.peers(now_ms, replica)
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
        let message = match gossip::decode(bytes) {
            Ok(message) => message,
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
        self.prepare(replica);
        let accept_limit = Stamp::time_from_unix_ms(now_ms + self.clock.max_offset_ms());
        let before = Counters::of(self.core.stats());
        let replies = self
            .core
            .handle(now_ms, from, message, replica, accept_limit);
        let after = Counters::of(self.core.stats());
        // Later local writes must win over everything merged so far.
        self.clock.raise_floor(replica.max_stamp_time());
        effects.merged = after.entries_merged - before.entries_merged;
        effects.events = exchange_events((peer, from, &their_cluster), before, after);
        effects
            .refusals
            .extend(
                self.core
                    .take_refused_entries()
                    .into_iter()
                    .map(|entry| Refusal::Entry {
                        addr: from.to_string(),
                        entry,
                    }),
            );
        for reply in replies {
            self.encode_into(&mut effects, from.to_string(), &reply, protocol);
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
            self.encode_into(&mut effects, to, &message, protocol);
        }
        effects
    }

    fn encode_into(&mut self, effects: &mut Effects, to: String, message: &Message, protocol: u8) {
        let kind = message.kind();
        let bytes = gossip::encode_for(message, protocol);
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
