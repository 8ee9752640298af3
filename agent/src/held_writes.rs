//! `HeldWrites`: this node's own readings and unknown-device count, held before they enter the
//! replica (`storage.readings_batch_ms`). Only the newest value per key is kept; once the
//! first pending one has waited the hold, `StateHandle::write_held` writes them all through
//! `StateHandle::write` together, so they reach the store in one commit (fewer bytes on the SD
//! card) and the replica never holds own entries peers cannot have (hashes agree).
//!
//! Must not touch: the replica, the store, sockets (it only keeps values until asked).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::state::{Key, Value};
use crate::sync::lock;

/// Pending own writes, newest per key, and when the oldest of them was put.
pub struct HeldWrites {
    hold: Duration,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    values: BTreeMap<Key, Value>,
    since: Option<Instant>,
}

impl HeldWrites {
    /// Holds writes up to `hold` (zero: callers write at once, see [`HeldWrites::holds`]).
    pub fn new(hold: Duration) -> HeldWrites {
        HeldWrites {
            hold,
            pending: Mutex::new(Pending::default()),
        }
    }

    /// False when nothing is held (`readings_batch_ms = 0`).
    pub fn holds(&self) -> bool {
        !self.hold.is_zero()
    }

    /// Keeps `value` for `key`, replacing a pending older one.
    pub fn put(&self, key: Key, value: Value, now: Instant) {
        let mut pending = lock(&self.pending);
        pending.values.insert(key, value);
        pending.since.get_or_insert(now);
    }

    /// The pending value of `key`, if any.
    pub fn get(&self, key: &Key) -> Option<Value> {
        lock(&self.pending).values.get(key).cloned()
    }

    /// Drops the pending value of `key` (the state already has the right one).
    pub fn forget(&self, key: &Key) {
        let mut pending = lock(&self.pending);
        pending.values.remove(key);
        if pending.values.is_empty() {
            pending.since = None;
        }
    }

    /// Everything pending when the oldest has waited the hold (else nothing).
    pub fn take_due(&self, now: Instant) -> Vec<(Key, Value)> {
        let mut pending = lock(&self.pending);
        match pending.since {
            Some(since) if now.saturating_duration_since(since) >= self.hold => take(&mut pending),
            _ => Vec::new(),
        }
    }

    /// Everything pending, due or not (shutdown, a failing sensor).
    pub fn take_all(&self) -> Vec<(Key, Value)> {
        take(&mut lock(&self.pending))
    }
}

fn take(pending: &mut Pending) -> Vec<(Key, Value)> {
    pending.since = None;
    std::mem::take(&mut pending.values).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::NodeId;
    use crate::state::DeviceCount;

    fn count(unknown: u64) -> Value {
        Value::Devices(DeviceCount {
            subnet: "10.0.0.0/24".into(),
            room: "office".into(),
            unknown,
        })
    }

    #[test]
    fn keeps_the_newest_value_per_key_until_the_hold_has_passed() {
        let held = HeldWrites::new(Duration::from_secs(60));
        let key = Key::Devices {
            observer: NodeId(7),
        };
        let start = Instant::now();
        held.put(key.clone(), count(3), start);
        held.put(key.clone(), count(4), start + Duration::from_secs(30));
        assert_eq!(held.get(&key), Some(count(4)));
        assert!(held.take_due(start + Duration::from_secs(59)).is_empty());
        let due = held.take_due(start + Duration::from_secs(60));
        assert_eq!(due, vec![(key.clone(), count(4))]);
        assert!(held.take_all().is_empty());
        held.put(key.clone(), count(5), start + Duration::from_secs(61));
        assert_eq!(held.take_all(), vec![(key.clone(), count(5))]);
        // Back to the count the state has before the hold passed: nothing left to write.
        held.put(key.clone(), count(6), start + Duration::from_secs(62));
        held.forget(&key);
        assert!(held.take_due(start + Duration::from_secs(200)).is_empty());
        assert_eq!(held.get(&key), None);
    }
}
