//! `Replica`: one node's copy of the replicated state, and the scuttlebutt bookkeeping on it.
//!
//! Every entry is an LWW register (by `Stamp`) that also carries the version its origin (the
//! writing node, `stamp.node`) gave it. Versions are per origin and strictly increasing, so a
//! peer's knowledge of an origin is one number: its *watermark*, "I hold every write of this
//! origin up to this version, or something newer for the same key". A delta for a peer is, per
//! origin, our entries with a version above its watermark, in version order.
//!
//! The replica records what changed since the last `take_changes`, so the store can persist it
//! in one transaction. Pure: no I/O, no clock.
//!
//! It holds local writes (staged until the store confirms them, or rolled back), merges,
//! watermarks, the re-fetch of own writes after a reset, `entries_after` for deltas, the
//! incremental state hash (over everything, and over the kinds protocol 1 knows), tombstone
//! GC and the reset itself; changes leave as a `ChangeSet`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{opaque, Key, OwnRefetch, SafetyState, Value};

mod changes;
mod ledger;
mod restamp;
use crate::crdt::{NodeId, Stamp};
pub use changes::{ChangeSet, StagedWrite};
pub use restamp::RestampPlan;

/// One entry: a key, its value (`None` is a tombstone), the stamp of the write that set it, and
/// that write's version at its origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub key: Key,
    pub value: Option<Value>,
    pub stamp: Stamp,
    pub version: u64,
}

impl Entry {
    /// The node that wrote this entry (and numbered it).
    pub fn origin(&self) -> NodeId {
        self.stamp.node
    }

    /// True when `self` wins over `other` for the same key: greater stamp, and for the
    /// impossible-in-practice equal stamp, the greater encoded value, so every replica picks
    /// the same one.
    pub fn wins_over(&self, other: &Entry) -> bool {
        match self.stamp.cmp(&other.stamp) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => encode_value(&self.value) > encode_value(&other.value),
        }
    }

    /// The entry's share of the state hash: blake3 of its canonical key, value and stamp bytes
    /// (what postcard makes of `(key, value, stamp)` for a known kind, as the release before
    /// versioning hashed it; the same bytes for an opaque entry on a node that does not know
    /// its kind).
    /// Also whether protocol 1 knows the entry's kind (its share of `state_hash_for(1)`),
    /// read from the same key bytes, so an opaque entry is classed as a typed one is.
    fn content_hash(&self) -> ([u8; 32], bool) {
        let mut bytes = opaque::key_bytes(&self.key);
        let protocol_1 =
            opaque::OpaqueKey(bytes.clone()).kind_index() < opaque::PROTOCOL_1_KEY_KINDS;
        bytes.extend(opaque::option_value_bytes(&self.value));
        bytes.extend(postcard::to_allocvec(&self.stamp).unwrap_or_default());
        (*blake3::hash(&bytes).as_bytes(), protocol_1)
    }
}

/// False when the value holds a NaN or infinite number.
pub fn numbers_are_finite(value: &Option<Value>) -> bool {
    match value {
        Some(Value::Reading(reading)) => reading.value.is_finite(),
        Some(Value::Target(target)) => target.value.is_finite() && target.tolerance.is_finite(),
        _ => true,
    }
}

fn encode_value(value: &Option<Value>) -> Vec<u8> {
    opaque::option_value_bytes(value)
}

/// Per-origin watermarks: the scuttlebutt digest.
pub type Digest = BTreeMap<NodeId, u64>;

/// A hash of the replicated content (keys, values, stamps; not versions). Replicas that hold
/// the same state have the same hash, whatever order they learned it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct StateHash(pub [u64; 4]);

impl StateHash {
    fn add(&mut self, digest: [u8; 32]) {
        for (lane, chunk) in self.0.iter_mut().zip(digest.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            *lane = lane.wrapping_add(u64::from_le_bytes(word));
        }
    }

    fn sub(&mut self, digest: [u8; 32]) {
        for (lane, chunk) in self.0.iter_mut().zip(digest.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            *lane = lane.wrapping_sub(u64::from_le_bytes(word));
        }
    }

    /// 64 hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|lane| format!("{lane:016x}")).collect()
    }
}

/// A local write that lost: the key already holds a write with a greater or equal stamp.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("write to {key} at {attempted} lost to the existing write at {existing}")]
pub struct StaleWrite {
    pub key: Key,
    pub attempted: Stamp,
    pub existing: Stamp,
}

/// One node's copy of the replicated state.
#[derive(Debug, Clone)]
pub struct Replica {
    me: NodeId,
    entries: BTreeMap<Key, Entry>,
    /// origin → version → key: the delta index.
    by_origin: BTreeMap<NodeId, BTreeMap<u64, Key>>,
    watermarks: Digest,
    hash: StateHash,
    /// The same over the entries of the kinds protocol 1 knows: what a `db6ff62` node holds.
    hash_protocol_1: StateHash,
    /// Keys changed since the last `take_changes` (the store reads their current content).
    changed_keys: BTreeMap<Key, ()>,
    removed_keys: BTreeMap<Key, ()>,
    changed_watermarks: BTreeMap<NodeId, ()>,
    /// Reading entries applied since the last `take_changes`, in order.
    applied_readings: Vec<Entry>,
    /// The greatest stamp time ever inserted.
    max_stamp_time: u64,
    /// The greatest stamp time of other nodes' entries and collected tombstones ever held: the
    /// clock stays above it (`merged_stamp_time`), so a local write wins over all of them.
    merged_stamp_time: u64,
    /// Own writes above this version are not shown to peers yet (not yet committed to disk):
    /// a node that crashes before the commit reuses those versions after restart, and peers
    /// that had seen them would never ask for the new writes. `None`: no limit (simulator).
    publish_limit: Option<u64>,
    /// Own versions written but not yet known durable or rolled back (`stage`): peers are shown
    /// own writes only below the lowest of them, so a write that fails to commit is never seen.
    in_flight: std::collections::BTreeSet<u64>,
    /// GC floors and reset progress (see `SafetyState`). While `own_refetch` is set, this
    /// node advertises its own watermark as its `after`, so peers send its own writes back,
    /// and shows peers none of its own writes above it.
    safety: SafetyState,
    /// `safety` changed since the last `take_changes`.
    safety_changed: bool,
}

impl Replica {
    /// An empty replica for node `me`.
    pub fn new(me: NodeId) -> Self {
        Replica {
            me,
            entries: BTreeMap::new(),
            by_origin: BTreeMap::new(),
            watermarks: Digest::new(),
            hash: StateHash::default(),
            hash_protocol_1: StateHash::default(),
            changed_keys: BTreeMap::new(),
            removed_keys: BTreeMap::new(),
            changed_watermarks: BTreeMap::new(),
            applied_readings: Vec::new(),
            max_stamp_time: 0,
            merged_stamp_time: 0,
            publish_limit: None,
            in_flight: std::collections::BTreeSet::new(),
            safety: SafetyState::default(),
            safety_changed: false,
        }
    }

    /// Rebuilds a replica from persisted entries and watermarks (nothing is marked changed).
    pub fn from_parts(me: NodeId, entries: Vec<Entry>, watermarks: Digest) -> Self {
        let mut replica = Replica::new(me);
        for entry in entries {
            replica.insert_unchecked(entry);
        }
        replica.watermarks = watermarks;
        // Our own watermark is at least our highest persisted own version.
        let own_max = replica.max_version_of(me);
        let own = replica.watermarks.entry(me).or_insert(0);
        *own = (*own).max(own_max);
        replica.changed_keys.clear();
        replica.applied_readings.clear();
        replica
    }

    pub fn me(&self) -> NodeId {
        self.me
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &Key) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The live value for `key` (tombstones read as absent).
    pub fn value(&self, key: &Key) -> Option<&Value> {
        self.entries.get(key).and_then(|e| e.value.as_ref())
    }

    /// Every entry, tombstones included, in key order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Live entries (not tombstones) in key order.
    pub fn live(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.entries
            .iter()
            .filter_map(|(k, e)| e.value.as_ref().map(|v| (k, v)))
    }

    /// Writes `value` (or a tombstone) for `key` as this node, at `stamp` (from this node's
    /// HLC, so `stamp.node == me`). Gives the write the next own version.
    pub fn write(
        &mut self,
        key: Key,
        value: Option<Value>,
        stamp: Stamp,
    ) -> Result<Entry, StaleWrite> {
        debug_assert_eq!(stamp.node, self.me, "local writes carry this node's stamp");
        if let Some(existing) = self.entries.get(&key) {
            if existing.stamp >= stamp {
                return Err(StaleWrite {
                    key,
                    attempted: stamp,
                    existing: existing.stamp,
                });
            }
        }
        if let Some(collected) = self.collected_stamp(&key).filter(|s| *s >= stamp) {
            return Err(StaleWrite {
                key,
                attempted: stamp,
                existing: collected,
            });
        }
        let version = self.own_counter() + 1;
        let entry = Entry {
            key,
            value,
            stamp,
            version,
        };
        self.insert_unchecked(entry.clone());
        self.set_watermark(self.me, version);
        Ok(entry)
    }

    /// Merges an entry learned from a peer. Returns true if it won (and is now held).
    /// Does not move watermarks: the gossip layer does that once a delta chunk is complete.
    /// An entry holding a NaN or infinite number is refused: JSON (the store's encoding) cannot
    /// carry it, so the node could not load its database after a restart.
    pub fn merge(&mut self, entry: Entry) -> bool {
        if !numbers_are_finite(&entry.value) || self.lost_to_collected(&entry.key, entry.stamp) {
            return false;
        }
        if let Some(existing) = self.entries.get(&entry.key) {
            if !entry.wins_over(existing) {
                return false;
            }
        }
        self.insert_unchecked(entry);
        true
    }

    fn insert_unchecked(&mut self, entry: Entry) {
        if let Some(old) = self.entries.remove(&entry.key) {
            self.unindex(&old);
            self.note_replaced(&old, &entry);
        }
        self.hash_in(&entry);
        self.max_stamp_time = self.max_stamp_time.max(entry.stamp.time);
        if entry.origin() != self.me {
            self.merged_stamp_time = self.merged_stamp_time.max(entry.stamp.time);
        }
        self.by_origin
            .entry(entry.origin())
            .or_default()
            .insert(entry.version, entry.key.clone());
        self.changed_keys.insert(entry.key.clone(), ());
        self.removed_keys.remove(&entry.key);
        if matches!(entry.key, Key::Reading { .. }) && entry.value.is_some() {
            self.applied_readings.push(entry.clone());
        }
        self.entries.insert(entry.key.clone(), entry);
    }

    pub(super) fn hash_in(&mut self, entry: &Entry) {
        let (share, protocol_1) = entry.content_hash();
        self.hash.add(share);
        if protocol_1 {
            self.hash_protocol_1.add(share);
        }
    }

    fn unindex(&mut self, old: &Entry) {
        let (share, protocol_1) = old.content_hash();
        self.hash.sub(share);
        if protocol_1 {
            self.hash_protocol_1.sub(share);
        }
        if let Some(versions) = self.by_origin.get_mut(&old.origin()) {
            versions.remove(&old.version);
            if versions.is_empty() {
                self.by_origin.remove(&old.origin());
            }
        }
    }

    /// Drops an entry entirely (not a tombstone: it is forgotten). For GC and resets.
    fn drop_entry(&mut self, key: &Key) -> bool {
        match self.entries.remove(key) {
            Some(old) => {
                self.unindex(&old);
                self.changed_keys.remove(key);
                self.removed_keys.insert(key.clone(), ());
                true
            }
            None => false,
        }
    }

    /// This node's watermark for `origin`: it holds every write of `origin` up to this version
    /// (or a newer write of the same key). For this node's own origin: the published part
    /// (see `set_publish_limit`).
    pub fn watermark(&self, origin: NodeId) -> u64 {
        let stored = self.stored_watermark(origin);
        if origin == self.me {
            stored.min(self.own_publish_limit())
        } else {
            stored
        }
    }

    /// Own writes above this version are not shown to peers (not committed yet, or own writes
    /// below it are being re-fetched).
    fn own_publish_limit(&self) -> u64 {
        let mut limit = self.publish_limit.unwrap_or(u64::MAX);
        if let Some(staged) = self.in_flight.first() {
            limit = limit.min(staged.saturating_sub(1));
        }
        match self.safety.own_refetch {
            Some(refetch) => limit.min(refetch.after),
            None => limit,
        }
    }

    fn stored_watermark(&self, origin: NodeId) -> u64 {
        self.watermarks.get(&origin).copied().unwrap_or(0)
    }

    /// Every origin's watermark as stored (this node's own one unlimited): what the store
    /// persists.
    pub fn stored_watermarks(&self) -> &Digest {
        &self.watermarks
    }

    /// The version of this node's latest own write (published or not).
    pub fn own_counter(&self) -> u64 {
        self.stored_watermark(self.me)
    }

    /// Shows peers only own writes up to `limit` (the last version committed to disk), so a
    /// version a peer has seen is never reused after a crash. `None` lifts the limit.
    pub fn set_publish_limit(&mut self, limit: Option<u64>) {
        self.publish_limit = limit;
    }

    /// Starts re-fetching own writes above `after` up to `until` (see `OwnRefetch`).
    pub fn refetch_own(&mut self, after: u64, until: u64) {
        if until > after {
            self.safety.own_refetch = Some(OwnRefetch { after, until });
            self.safety_changed = true;
        }
    }

    /// Gives up a re-fetch of own writes (a newer reset says which of them still exist).
    pub fn cancel_own_refetch(&mut self) {
        if self.safety.own_refetch.take().is_some() {
            self.safety_changed = true;
        }
    }

    /// The own writes being re-fetched, if any.
    pub fn own_refetch(&self) -> Option<OwnRefetch> {
        self.safety.own_refetch
    }

    /// The GC floors and reset progress (persisted with the entries).
    pub fn safety(&self) -> &SafetyState {
        &self.safety
    }

    /// Replaces the GC floors and reset progress (the gossip core's); marked changed, so the
    /// store persists it in the same transaction as the entries changed with it.
    pub fn set_safety(&mut self, safety: SafetyState) {
        if safety != self.safety {
            self.safety = safety;
            self.safety_changed = true;
        }
    }

    /// Restores a persisted safety state (on load: nothing is marked changed).
    pub fn restore_safety(&mut self, safety: SafetyState) {
        if let Some(newest) = safety.collected.values().map(|s| s.time).max() {
            self.max_stamp_time = self.max_stamp_time.max(newest);
            self.merged_stamp_time = self.merged_stamp_time.max(newest);
        }
        self.safety = safety;
    }

    /// True when this node holds its own write `version`.
    pub fn holds_own_version(&self, version: u64) -> bool {
        self.by_origin
            .get(&self.me)
            .is_some_and(|versions| versions.contains_key(&version))
    }

    /// A peer's chunk of `origin` was applied up to `version`: raises the watermark, and for
    /// this node's own origin ends a re-fetch that reached its target.
    pub fn received_up_to(&mut self, origin: NodeId, version: u64) {
        if origin == self.me && self.safety.own_refetch.is_some_and(|r| version >= r.until) {
            self.safety.own_refetch = None;
            self.safety_changed = true;
        }
        self.set_watermark(origin, version);
    }

    /// Raises the watermark for `origin` (never lowers it).
    pub fn set_watermark(&mut self, origin: NodeId, version: u64) {
        let slot = self.watermarks.entry(origin).or_insert(0);
        if version > *slot {
            *slot = version;
            self.changed_watermarks.insert(origin, ());
        }
    }

    /// The scuttlebutt digest: every origin's watermark (this node's own one as published).
    pub fn digest(&self) -> Digest {
        let mut digest = self.watermarks.clone();
        if let Some(own) = digest.get_mut(&self.me) {
            *own = self.watermark(self.me);
        }
        digest
    }

    /// The highest version of `origin` held as an entry (0 if none).
    pub fn max_version_of(&self, origin: NodeId) -> u64 {
        self.by_origin
            .get(&origin)
            .and_then(|versions| versions.keys().next_back().copied())
            .unwrap_or(0)
    }

    /// Entries of `origin` with a version above `after`, in version order: what a peer whose
    /// watermark for `origin` is `after` is missing.
    pub fn entries_after(&self, origin: NodeId, after: u64) -> impl Iterator<Item = &Entry> + '_ {
        let limit = if origin == self.me {
            self.own_publish_limit()
        } else {
            u64::MAX
        };
        self.by_origin
            .get(&origin)
            .into_iter()
            .flat_map(move |versions| versions.range(after.saturating_add(1)..))
            .take_while(move |(version, _)| **version <= limit)
            .filter_map(|(_, key)| self.entries.get(key))
    }

    /// Origins this replica holds entries of or has a watermark for.
    pub fn origins(&self) -> impl Iterator<Item = NodeId> + '_ {
        let mut all: Vec<NodeId> = self.watermarks.keys().copied().collect();
        all.extend(self.by_origin.keys().copied());
        all.sort();
        all.dedup();
        all.into_iter()
    }

    /// The greatest stamp time this replica has held: this node's clock must stay above it so
    /// that its next write wins over everything it has merged.
    pub fn max_stamp_time(&self) -> u64 {
        self.max_stamp_time
    }

    /// A hash of the content, equal on replicas holding the same state.
    pub fn state_hash(&self) -> StateHash {
        self.hash
    }

    /// The state hash as a peer speaking gossip `protocol` computes it over what it can hold:
    /// for protocol 1 (the release before versioning) only the kinds it knows, since entries
    /// of later kinds are withheld from it; for 2 and later, everything (`state_hash`), since
    /// they keep unknown kinds as opaque entries.
    pub fn state_hash_for(&self, protocol: u8) -> StateHash {
        if protocol <= 1 {
            self.hash_protocol_1
        } else {
            self.hash
        }
    }

    /// Forgets tombstones written before `before_time` (an NTP64 HLC time), keeping their key
    /// and stamp in the collected ledger. Only safe after a grace period every replica has had
    /// to learn them. Returns how many were dropped.
    pub fn gc_tombstones(&mut self, before_time: u64) -> usize {
        let old: Vec<(Key, Stamp)> = self
            .entries
            .values()
            .filter(|e| self.collectable(e, before_time))
            .map(|e| (e.key.clone(), e.stamp))
            .collect();
        for (key, _) in &old {
            self.drop_entry(key);
        }
        self.note_collected(&old);
        old.len()
    }

    /// Forgets everything learned from other nodes (entries and watermarks), keeping this node's
    /// own writes: what a node does when told it was away longer than the tombstone grace period.
    pub fn reset_foreign(&mut self) -> usize {
        let foreign: Vec<Key> = self
            .entries
            .values()
            .filter(|e| e.origin() != self.me)
            .map(|e| e.key.clone())
            .collect();
        for key in &foreign {
            self.drop_entry(key);
        }
        let me = self.me;
        let dropped: Vec<NodeId> = self
            .watermarks
            .keys()
            .copied()
            .filter(|o| *o != me)
            .collect();
        for origin in dropped {
            self.watermarks.insert(origin, 0);
            self.changed_watermarks.insert(origin, ());
        }
        self.forget_foreign_superseded();
        foreign.len()
    }

    /// Forgets this node's own entries with a version up to `up_to` except the versions in
    /// `held` (the watermark stays): after a reset, the resetting peer holds our writes up to
    /// `up_to` except those replaced or deleted while we were away, and those must not come
    /// back. Returns how many were dropped.
    pub fn drop_own_not_held(&mut self, up_to: u64, held: &[u64]) -> usize {
        let held: std::collections::BTreeSet<u64> = held.iter().copied().collect();
        let own: Vec<Key> = self
            .by_origin
            .get(&self.me)
            .map(|versions| {
                versions
                    .range(..=up_to)
                    .filter(|(v, _)| !held.contains(v))
                    .map(|(_, k)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        for key in &own {
            self.drop_entry(key);
        }
        own.len()
    }
}

#[cfg(test)]
mod tests;
