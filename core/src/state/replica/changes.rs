//! What a replica hands the store: the `ChangeSet` of everything changed since the last
//! `take_changes` (persisted in one transaction), and local writes staged until the store
//! confirms them durable (`stage`, `confirm`, `roll_back`), so a write that failed to commit
//! happened nowhere.
//!
//! Pure bookkeeping on the `Replica`. Must not touch: I/O, clocks, the gossip core.

use super::{Entry, Replica, StaleWrite};
use crate::crdt::{NodeId, Stamp};
use crate::state::{Key, SafetyState, Value};

/// What changed since the last `take_changes`: for the store to persist in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeSet {
    /// Entries that were inserted or replaced (latest content per key).
    pub upserts: Vec<Entry>,
    /// Keys that were dropped (tombstone GC, reset).
    pub removed: Vec<Key>,
    /// Watermarks that moved.
    pub watermarks: Vec<(NodeId, u64)>,
    /// Every reading entry applied, in order, even when a later one replaced it before this
    /// change set was taken: the store appends them to the sample history.
    pub readings: Vec<Entry>,
    /// The safety state, when it changed (GC floors raised, a reset obeyed or finished).
    pub safety: Option<SafetyState>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty()
            && self.removed.is_empty()
            && self.watermarks.is_empty()
            && self.readings.is_empty()
            && self.safety.is_none()
    }
}

/// A local write applied in memory but not yet known durable: `Replica::confirm` it once
/// committed, `Replica::roll_back` it if the commit failed.
#[derive(Debug, Clone, PartialEq)]
pub struct StagedWrite {
    /// The entry as written.
    pub entry: Entry,
    /// What the key held before (restored on roll back).
    previous: Option<Entry>,
}

impl StagedWrite {
    /// The change set that makes this write durable (the entry and the own watermark).
    pub fn changes(&self) -> ChangeSet {
        ChangeSet {
            upserts: vec![self.entry.clone()],
            removed: Vec::new(),
            watermarks: vec![(self.entry.origin(), self.entry.version)],
            readings: Vec::new(),
            safety: None,
        }
    }
}

impl Replica {
    /// Writes like `write`, but holds the write back from peers until `confirm`ed; on
    /// `roll_back` the key holds what it held before, as if the write never happened (its
    /// version stays unused: a gap peers never see).
    pub fn stage(
        &mut self,
        key: Key,
        value: Option<Value>,
        stamp: Stamp,
    ) -> Result<StagedWrite, StaleWrite> {
        let previous = self.entries.get(&key).cloned();
        let entry = self.write(key, value, stamp)?;
        self.in_flight.insert(entry.version);
        // The staged write is persisted by its own change set (`StagedWrite::changes`), never by
        // a batch that might commit it after it was rolled back.
        self.changed_keys.remove(&entry.key);
        Ok(StagedWrite { entry, previous })
    }

    /// The staged write is durable: peers may see it.
    pub fn confirm(&mut self, staged: &StagedWrite) {
        self.in_flight.remove(&staged.entry.version);
    }

    /// The staged write could not be made durable: undo it in memory. Does nothing to the key
    /// when something newer has replaced the staged entry since.
    pub fn roll_back(&mut self, staged: StagedWrite) {
        self.in_flight.remove(&staged.entry.version);
        let key = &staged.entry.key;
        let still_ours = self
            .entries
            .get(key)
            .is_some_and(|e| e.stamp == staged.entry.stamp && e.version == staged.entry.version);
        if !still_ours {
            return;
        }
        if let Some(old) = self.entries.remove(key) {
            self.unindex(&old);
        }
        match staged.previous {
            Some(previous) => {
                self.hash_in(&previous);
                self.by_origin
                    .entry(previous.origin())
                    .or_default()
                    .insert(previous.version, previous.key.clone());
                self.changed_keys.insert(previous.key.clone(), ());
                self.entries.insert(previous.key.clone(), previous);
            }
            None => {
                self.changed_keys.remove(key);
            }
        }
    }

    /// What changed since the last call, for the store to persist.
    pub fn take_changes(&mut self) -> ChangeSet {
        let upserts = std::mem::take(&mut self.changed_keys)
            .into_keys()
            .filter_map(|key| self.entries.get(&key).cloned())
            .collect();
        let removed = std::mem::take(&mut self.removed_keys).into_keys().collect();
        let watermarks = std::mem::take(&mut self.changed_watermarks)
            .into_keys()
            .map(|origin| (origin, self.stored_watermark(origin)))
            .collect();
        ChangeSet {
            upserts,
            removed,
            watermarks,
            readings: std::mem::take(&mut self.applied_readings),
            safety: std::mem::take(&mut self.safety_changed).then(|| self.safety.clone()),
        }
    }

    /// True when there are changes not yet taken.
    pub fn has_changes(&self) -> bool {
        !(self.changed_keys.is_empty()
            && self.removed_keys.is_empty()
            && self.changed_watermarks.is_empty()
            && self.applied_readings.is_empty()
            && !self.safety_changed)
    }
}
