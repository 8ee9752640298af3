//! Clock recovery on the writing side: this node's own writes stamped while its clock ran ahead
//! are given stamps at the corrected time, so peers (which refuse stamps too far ahead of their
//! own clocks) take them instead of ignoring them until the wall clock catches up.
//!
//! Also what keeps the clock and local writes above what they must beat once some own writes
//! sit above the clock (`merged_stamp_time`, `stamp_for_write`; the rule is in the core's
//! top-level `restamp` module).
//!
//! Pure: the caller passes the limit and the stamps.
//! Must not touch: the wall clock, the store, peers' entries (only own ones are re-stamped).

use super::{Entry, Replica};
use crate::crdt::Stamp;
use crate::state::Key;

/// What `Replica::plan_restamp` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestampPlan {
    /// No own write is stamped beyond the accept limit.
    Nothing,
    /// Own writes are stamped beyond the limit, but so are other nodes' writes this node holds:
    /// its wall clock is behind the cluster rather than fixed, so nothing is re-stamped.
    WallClockBehind {
        /// The newest stamp time of another node's write held here.
        foreign_max_time: u64,
    },
    /// Own writes to re-stamp, oldest first; new stamps must be above `floor_time` (every
    /// stamp kept, own or not).
    Restamp {
        keys: Vec<Key>,
        /// The newest own stamp time being replaced (how far ahead the clock was).
        newest_ahead_time: u64,
        floor_time: u64,
    },
}

impl Replica {
    /// Which own writes carry a stamp after `limit_time` (the newest time a peer accepts now:
    /// wall clock plus the max offset), and whether this node's wall clock can be trusted to
    /// re-stamp them: it can when no other node's write held here is stamped after the limit.
    /// Writes still being made durable (staged) and a running own re-fetch postpone it.
    pub fn plan_restamp(&self, limit_time: u64) -> RestampPlan {
        if self.own_refetch().is_some() || !self.in_flight.is_empty() {
            return RestampPlan::Nothing;
        }
        let me = self.me;
        let ahead: Vec<&Entry> = self
            .by_origin
            .get(&me)
            .into_iter()
            .flat_map(|versions| versions.values())
            .filter_map(|key| self.entries.get(key))
            .filter(|entry| entry.stamp.time > limit_time)
            .collect();
        let Some(newest_ahead_time) = ahead.iter().map(|e| e.stamp.time).max() else {
            return RestampPlan::Nothing;
        };
        let foreign_max_time = self
            .entries
            .values()
            .filter(|e| e.origin() != me)
            .map(|e| e.stamp.time)
            .max()
            .unwrap_or(0);
        if foreign_max_time > limit_time {
            return RestampPlan::WallClockBehind { foreign_max_time };
        }
        let floor_time = self
            .entries
            .values()
            .map(|e| e.stamp.time)
            .filter(|time| *time <= limit_time)
            .max()
            .unwrap_or(0);
        RestampPlan::Restamp {
            keys: ahead.iter().map(|e| e.key.clone()).collect(),
            newest_ahead_time,
            floor_time,
        }
    }

    /// The greatest stamp time of other nodes' writes and collected tombstones this replica has
    /// held: the clock is raised to it after each merge. Own writes are left out: those a
    /// corrected clock re-stamped sit above its floor (`Node::on_tick`), and raising the floor
    /// to them would put every later write that far ahead; `stamp_for_write` keeps a key's
    /// next write above its own.
    pub fn merged_stamp_time(&self) -> u64 {
        self.merged_stamp_time
    }

    /// The stamp a local write of `key` takes: `stamp` (from the clock), or just above the stamp
    /// `key` holds when that is higher (an own write re-stamped above the clock's floor), so a
    /// write always replaces what the key holds.
    pub fn stamp_for_write(&self, key: &Key, stamp: Stamp) -> Stamp {
        match self.entries.get(key) {
            Some(held) if held.stamp.time >= stamp.time => {
                Stamp::new(held.stamp.time + 1, stamp.node)
            }
            _ => stamp,
        }
    }

    /// Gives own entry `key` a new `stamp` (from this node's corrected clock) and the next own
    /// version, keeping its value: a new write of the same content, which wins here although its
    /// stamp is lower. Peers never held the old stamp (they refused it), so nothing else
    /// carries it. Returns the new entry; `None` when `key` holds no own entry.
    pub fn restamp_own(&mut self, key: &Key, stamp: Stamp) -> Option<Entry> {
        debug_assert_eq!(stamp.node, self.me, "re-stamps carry this node's stamp");
        let old = self.entries.get(key).filter(|e| e.origin() == self.me)?;
        let entry = Entry {
            key: old.key.clone(),
            value: old.value.clone(),
            stamp,
            version: self.own_counter() + 1,
        };
        self.insert_unchecked(entry.clone());
        // The same reading again: not a new sample for the history.
        self.applied_readings.retain(|e| e.key != entry.key);
        self.set_watermark(self.me, entry.version);
        self.max_stamp_time = self
            .entries
            .values()
            .map(|e| e.stamp.time)
            .max()
            .unwrap_or(0);
        Some(entry)
    }
}
