//! A map of last-writer-wins registers with tombstones: set membership where removal is an
//! update (the element stays, marked removed, until it is garbage-collected after a grace period).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Lattice, LwwRegister, Stamp};

/// Keys map to `Some(value)` (present) or `None` (a tombstone: removed, and when).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LwwMap<K: Ord, V> {
    registers: BTreeMap<K, LwwRegister<Option<V>>>,
}

impl<K: Ord, V> Default for LwwMap<K, V> {
    fn default() -> Self {
        LwwMap {
            registers: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone, V: Clone> LwwMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `value` for `key` at `stamp`; returns true if it won.
    pub fn insert(&mut self, key: K, value: V, stamp: Stamp) -> bool {
        self.write(key, Some(value), stamp)
    }

    /// Removes `key` at `stamp` by writing a tombstone; returns true if it won.
    pub fn remove(&mut self, key: K, stamp: Stamp) -> bool {
        self.write(key, None, stamp)
    }

    fn write(&mut self, key: K, value: Option<V>, stamp: Stamp) -> bool {
        match self.registers.get_mut(&key) {
            Some(register) => register.set(value, stamp),
            None => {
                self.registers.insert(key, LwwRegister::new(value, stamp));
                true
            }
        }
    }

    /// The present value for `key`, if any (tombstoned keys read as absent).
    pub fn get(&self, key: &K) -> Option<&V> {
        self.registers.get(key).and_then(|r| r.value.as_ref())
    }

    /// Present elements in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.registers
            .iter()
            .filter_map(|(k, r)| r.value.as_ref().map(|v| (k, v)))
    }

    /// Number of tombstones held.
    pub fn tombstone_count(&self) -> usize {
        self.registers
            .values()
            .filter(|r| r.value.is_none())
            .count()
    }

    /// Drops tombstones whose stamp is older than `before`. Only safe once every replica has
    /// seen them (the grace period); a replica that was away longer must be reset.
    pub fn gc_tombstones(&mut self, before: Stamp) -> usize {
        let before_len = self.registers.len();
        self.registers
            .retain(|_, r| r.value.is_some() || r.stamp >= before);
        before_len - self.registers.len()
    }
}

impl<K: Ord + Clone, V: Clone + PartialEq> Lattice for LwwMap<K, V> {
    fn join(&mut self, other: &Self) -> bool {
        let mut changed = false;
        for (key, register) in &other.registers {
            changed |= self.write(key.clone(), register.value.clone(), register.stamp);
        }
        changed
    }
}
