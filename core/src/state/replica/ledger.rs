//! What a replica remembers beyond its entries so that skipped versions and collected
//! tombstones stay consistent across the mesh (issue #25, the last divergences):
//!
//! - the *collected ledger* (`SafetyState::collected`): key and stamp of every tombstone
//!   collected here or adopted from the peer that reset us. A write of that key stamped at or
//!   before it lost to the tombstone and is refused (merge, local write), and a reset drops
//!   own writes it covers, so an older concurrent write arriving after the collection cannot
//!   come back on only part of the mesh.
//! - *superseded versions* (`SafetyState::superseded`): a version of one origin this replica
//!   no longer holds because a write of another origin replaced it (or that a peer's delta
//!   skipped, naming the write that replaced it), with its key. A delta names, per skipped
//!   version, this replica's newest write of that key, so the receiver passes a skipped
//!   version only once it holds that write (`gossip::delta`).
//!
//! Pure bookkeeping on the `Replica`. Must not touch: the gossip core, clocks, I/O.

use std::collections::BTreeMap;

use super::{Entry, Replica};
use crate::crdt::{NodeId, Stamp};
use crate::state::Key;

impl Replica {
    /// The stamp of the newest collected tombstone of `key` in the ledger, if any.
    pub fn collected_stamp(&self, key: &Key) -> Option<Stamp> {
        self.safety.collected.get(key).copied()
    }

    /// True when this replica holds a write of `key` stamped at or after `stamp`, or its
    /// ledger says such a tombstone was collected here.
    pub fn covers(&self, key: &Key, stamp: Stamp) -> bool {
        self.entries.get(key).is_some_and(|e| e.stamp >= stamp)
            || self.collected_stamp(key).is_some_and(|s| s >= stamp)
    }

    /// True when the ledger says `entry` lost to a collected tombstone.
    pub(super) fn lost_to_collected(&self, key: &Key, stamp: Stamp) -> bool {
        self.collected_stamp(key).is_some_and(|s| s >= stamp)
    }

    /// True when `entry` is a tombstone that tombstone GC may collect: stamped before
    /// `before_time` and within its origin's watermark. A tombstone merged ahead of its
    /// origin's watermark (the replacing write a chunk named for a version it skips) waits
    /// until that origin's chunks reach it, so a floor never claims a version its own digest
    /// does not.
    pub fn collectable(&self, entry: &Entry, before_time: u64) -> bool {
        entry.value.is_none()
            && entry.stamp.time < before_time
            && entry.version <= self.stored_watermark(entry.origin())
    }

    /// Records collected tombstones in the ledger.
    pub(super) fn note_collected(&mut self, dropped: &[(Key, Stamp)]) {
        for (key, stamp) in dropped {
            let slot = self.safety.collected.entry(key.clone()).or_insert(*stamp);
            *slot = (*slot).max(*stamp);
            self.safety_changed = true;
        }
    }

    /// Forgets ledger entries stamped before `before_time` (an NTP64 HLC time), and superseded
    /// versions whose key's newest write here (entry or ledger) is older than `horizon_time`
    /// or gone: a peer that far behind is behind the GC floors and is reset instead.
    pub fn forget_collected_before(&mut self, before_time: u64, horizon_time: u64) {
        let before = self.safety.collected.len();
        self.safety
            .collected
            .retain(|_, stamp| stamp.time >= before_time);
        let superseded_before = self.safety.superseded.len();
        let keep: BTreeMap<(NodeId, u64), Key> = self
            .safety
            .superseded
            .iter()
            .filter(|(_, key)| {
                self.newest_stamp(key)
                    .is_some_and(|s| s.time >= horizon_time)
            })
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        self.safety.superseded = keep;
        if self.safety.collected.len() != before
            || self.safety.superseded.len() != superseded_before
        {
            self.safety_changed = true;
        }
    }

    /// The newest stamp of `key` here: its entry's, or the ledger's.
    fn newest_stamp(&self, key: &Key) -> Option<Stamp> {
        let held = self.entries.get(key).map(|e| e.stamp);
        held.max(self.collected_stamp(key))
    }

    /// After a reset: the resetter's ledger replaces ours (as its floors replace ours: when
    /// both sides collected, our side lost and its collected deletes are undone everywhere),
    /// and own writes it covers are dropped — they lost to a tombstone the resetter's side
    /// collected, so they must not come back from this node alone. Returns how many.
    pub fn adopt_collected(&mut self, ledger: BTreeMap<Key, Stamp>) -> usize {
        if ledger != self.safety.collected {
            self.safety_changed = true;
        }
        if let Some(newest) = ledger.values().map(|s| s.time).max() {
            self.max_stamp_time = self.max_stamp_time.max(newest);
            self.merged_stamp_time = self.merged_stamp_time.max(newest);
        }
        self.safety.collected = ledger;
        let covered: Vec<Key> = self
            .by_origin
            .get(&self.me)
            .into_iter()
            .flat_map(|versions| versions.values())
            .filter_map(|key| self.entries.get(key))
            .filter(|e| self.lost_to_collected(&e.key, e.stamp))
            .map(|e| e.key.clone())
            .collect();
        for key in &covered {
            self.drop_entry(key);
        }
        covered.len()
    }

    /// Records that version `version` of `origin` is skipped here because a write of another
    /// origin replaced `key` (learned from a peer's delta, or made by a merge here).
    pub fn note_superseded(&mut self, origin: NodeId, version: u64, key: &Key) {
        if self
            .safety
            .superseded
            .insert((origin, version), key.clone())
            .is_none()
        {
            self.safety_changed = true;
        }
    }

    /// An entry replaced `old`: when it is of another origin, `old`'s version becomes a
    /// superseded one.
    pub(super) fn note_replaced(&mut self, old: &Entry, by: &Entry) {
        if old.origin() != by.origin() {
            self.note_superseded(old.origin(), old.version, &old.key);
        }
    }

    /// The versions of `origin` in `(after, up_to]` this replica does not hold and knows the
    /// replacing write of: `(version, the newest write of its key here)`. A key whose tombstone
    /// was collected gives a tombstone of version 0 stamped as the ledger says.
    pub fn skipped_between(&self, origin: NodeId, after: u64, up_to: u64) -> Vec<(u64, Entry)> {
        if up_to <= after {
            return Vec::new();
        }
        let held = self.by_origin.get(&origin);
        self.safety
            .superseded
            .range((origin, after + 1)..=(origin, up_to))
            .filter(|((_, version), _)| !held.is_some_and(|h| h.contains_key(version)))
            .filter_map(|((_, version), key)| {
                let held = self.entries.get(key);
                let by = match self.collected_stamp(key) {
                    Some(stamp) if held.is_none_or(|e| e.stamp < stamp) => Entry {
                        key: key.clone(),
                        value: None,
                        stamp,
                        version: 0,
                    },
                    _ => held?.clone(),
                };
                Some((*version, by))
            })
            .collect()
    }

    /// Forgets superseded versions of other origins (a reset zeroes their watermarks).
    pub(super) fn forget_foreign_superseded(&mut self) {
        let me = self.me;
        let before = self.safety.superseded.len();
        self.safety
            .superseded
            .retain(|(origin, _), _| *origin == me);
        if self.safety.superseded.len() != before {
            self.safety_changed = true;
        }
    }
}
