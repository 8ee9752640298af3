//! Resets in `GossipCore`: deciding from a full digest whether one side of an exchange fell
//! behind the other's tombstone GC (then no data flows), the `Reset` message, and obeying one.
//!
//! Pure. Must not touch: sockets, clocks.

use std::collections::BTreeMap;

use super::GossipCore;
use crate::crdt::{NodeId, Stamp};
use crate::gossip::delta::{self, Floors};
use crate::gossip::message::{Body, DigestItem, Message};
use crate::state::{Key, Replica};

/// What a received `Reset` says (see `Body::Reset`).
struct TheirReset<'a> {
    floors: &'a [(NodeId, u64)],
    gc_mark: Stamp,
    your_watermark: u64,
    your_versions: &'a [u64],
    /// The resetter's collected ledger (empty from a peer older than protocol 3).
    collected: BTreeMap<Key, Stamp>,
}

/// Whether an exchange must reset one side first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResetDecision {
    None,
    PeerMustReset,
    IMustReset,
}

impl GossipCore {
    pub(super) fn reset_decision(
        &self,
        peer: NodeId,
        peer_items: &[DigestItem],
        peer_gc_mark: Stamp,
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
    pub(super) fn settle_reset(
        &mut self,
        peer: NodeId,
        peer_items: &[DigestItem],
        peer_gc_mark: Stamp,
        replica: &Replica,
    ) -> ResetDecision {
        let my_items = delta::items(&self.advertised(replica), &self.floors);
        self.reset_decision(peer, peer_items, peer_gc_mark, &my_items)
    }

    /// The `Reset` that tells `peer` to forget what it learned from others, or `refusal` (an
    /// exchange without data) while we are still catching up after our own reset.
    pub(super) fn reset_for(
        &mut self,
        peer: NodeId,
        replica: &Replica,
        refusal: Body,
    ) -> Vec<Message> {
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
            collected: replica
                .safety()
                .collected
                .iter()
                .map(|(key, stamp)| (key.clone(), *stamp))
                .collect(),
        })
    }

    /// A received `Reset`: obeyed if it is about tombstones we really missed; then, until we
    /// caught up to the resetter's watermarks, we reset nobody.
    pub(super) fn on_reset_message(&mut self, body: Body, replica: &mut Replica) {
        let Body::Reset {
            floors,
            gc_mark,
            your_watermark,
            your_versions,
            watermarks,
            collected,
        } = body
        else {
            return;
        };
        let resets_before = self.stats.resets_done;
        let theirs = TheirReset {
            floors: &floors,
            gc_mark,
            your_watermark,
            your_versions: &your_versions,
            collected: collected.into_iter().collect(),
        };
        self.on_reset(theirs, replica);
        if self.stats.resets_done > resets_before {
            self.resync_target = Some(watermarks.into_iter().collect());
            self.save_safety(replica);
        }
    }

    /// Obeys a `Reset` that is about tombstones we really missed (no loops, no wipes): forgets
    /// what was learned from others and our own writes the resetting peer no longer holds (they
    /// were replaced or deleted while we were away), adopts its floors and its collected
    /// ledger (dropping own writes the ledger says lost to a collected tombstone), and
    /// re-syncs.
    fn on_reset(&mut self, reset: TheirReset<'_>, replica: &mut Replica) {
        let TheirReset {
            floors,
            gc_mark,
            your_watermark,
            your_versions,
            collected,
        } = reset;
        let mut theirs = Floors::default();
        theirs.adopt(floors, gc_mark);
        let my_items = delta::items(&self.advertised(replica), &self.floors);
        if !theirs.is_ahead_of(&my_items) {
            return;
        }
        replica.reset_foreign();
        replica.drop_own_not_held(your_watermark, your_versions);
        // Own writes the resetter's side deleted and collected (our side may never have seen
        // the tombstone, or forgot it in its own reset): they lost, and kept here alone they
        // would come back only on the nodes that neither held the tombstone nor remember it.
        replica.adopt_collected(collected);
        // Own writes the resetter holds but we do not (our side replaced or deleted them, and
        // that side lost): get them back, or we would claim them in our watermark for ever.
        // This reset's list replaces the one of any earlier reset: the earlier resetter lost to
        // this one (or will, its floors are ours), so the versions it held may exist nowhere
        // any more, and waiting for them would hide our own writes from peers for ever.
        replica.cancel_own_refetch();
        let missing = your_versions
            .iter()
            .copied()
            .filter(|v| *v <= your_watermark && !replica.holds_own_version(*v))
            .min();
        if let Some(first) = missing {
            replica.refetch_own(first - 1, your_watermark);
        }
        self.recent_digests.clear();
        // The resetter's floors replace ours: our own collected tombstones lost the tie (when
        // both sides collected some) and must not make the resetter look behind us, or neither
        // side would give the other data again.
        self.floors = Floors::default();
        self.floors.adopt(floors, gc_mark);
        self.peer_seen.clear();
        self.last_hashes_heard = (None, None);
        self.stats.resets_done += 1;
        self.save_safety(replica);
    }
}
