//! Whether this node's own wall clock runs ahead of its peers'. Peers refuse a node whose
//! stamps run ahead (and say so), but that node itself cannot see the refusals. What it can
//! see: every peer's newest good reading arrives old — `taken_at_ms` is the peer's wall clock
//! when it read its sensor, every poll interval (10–30 s by default). When that is more than
//! [`AHEAD_AFTER_MS`] old here for **every** alive peer with readings, the odd one out is this
//! clock (one peer's slow clock or dead sensor cannot trigger it: its sensor goes `stale`).
//!
//! Pure: the time and the alive peers are passed in. Must not touch: the wall clock, the
//! replica's contents (read only).

use std::collections::BTreeMap;

use crate::crdt::NodeId;

use super::{Key, ReadingStatus, Replica, Value};

/// How old every peer's newest good reading must look before this node calls its own clock
/// ahead: well beyond any poll interval and gossip delay.
pub const AHEAD_AFTER_MS: u64 = 5 * 60_000;

/// How far this node's clock seems ahead of its peers' at `now_ms` (this node's wall clock):
/// the smallest age, over the `alive` peers that hold a good reading, of their newest good
/// reading — when all of them are older than [`AHEAD_AFTER_MS`]. `None` when one is fresh or
/// no alive peer has a good reading.
pub fn ahead_of_peers(replica: &Replica, now_ms: u64, alive: &[NodeId]) -> Option<u64> {
    let mut newest: BTreeMap<NodeId, u64> = BTreeMap::new();
    for entry in replica.entries() {
        if let (Key::Reading { node, .. }, Some(Value::Reading(reading))) =
            (&entry.key, &entry.value)
        {
            if reading.status == ReadingStatus::Ok && alive.contains(node) && *node != replica.me()
            {
                let slot = newest.entry(*node).or_insert(0);
                *slot = (*slot).max(reading.taken_at_ms);
            }
        }
    }
    let smallest_age = newest
        .values()
        .map(|taken_at| now_ms.saturating_sub(*taken_at))
        .min()?;
    (smallest_age > AHEAD_AFTER_MS).then_some(smallest_age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::Stamp;
    use crate::state::ReadingValue;
    use officemesh_sensors::Quantity;

    const NOW: u64 = 1_767_225_600_000;
    const HOUR: u64 = 3_600_000;

    fn reading(replica: &mut Replica, node: u64, taken_at_ms: u64, status: ReadingStatus) {
        let entry = crate::state::Entry {
            key: Key::Reading {
                node: NodeId(node),
                sensor: "desk".into(),
                quantity: Quantity::Temperature,
            },
            value: Some(Value::Reading(ReadingValue {
                value: 21.5,
                unit: "°C".into(),
                room: "lobby".into(),
                status,
                taken_at_ms,
            })),
            stamp: Stamp::new(Stamp::time_from_unix_ms(taken_at_ms), NodeId(node)),
            version: 1,
        };
        assert!(replica.merge(entry));
    }

    #[test]
    fn every_peer_an_hour_behind_means_this_clock_is_ahead() {
        let mut replica = Replica::new(NodeId(1));
        reading(&mut replica, 2, NOW - HOUR - 20_000, ReadingStatus::Ok);
        reading(&mut replica, 3, NOW - HOUR - 5_000, ReadingStatus::Ok);
        let alive = [NodeId(2), NodeId(3)];
        assert_eq!(ahead_of_peers(&replica, NOW, &alive), Some(HOUR + 5_000));
    }

    #[test]
    fn one_fresh_peer_or_no_readings_says_nothing() {
        let mut replica = Replica::new(NodeId(1));
        reading(&mut replica, 2, NOW - HOUR, ReadingStatus::Ok);
        reading(&mut replica, 3, NOW - 20_000, ReadingStatus::Ok);
        assert_eq!(ahead_of_peers(&replica, NOW, &[NodeId(2), NodeId(3)]), None);
        assert_eq!(
            ahead_of_peers(&replica, NOW, &[NodeId(4)]),
            None,
            "no readings"
        );
        assert_eq!(ahead_of_peers(&replica, NOW, &[]), None);
    }

    #[test]
    fn stale_readings_and_peers_not_alive_are_left_out() {
        let mut replica = Replica::new(NodeId(1));
        // Peer 2's sensor failed an hour ago (stale); peer 3's reading is two hours old.
        reading(&mut replica, 2, NOW - HOUR, ReadingStatus::Stale);
        reading(&mut replica, 3, NOW - 2 * HOUR, ReadingStatus::Ok);
        assert_eq!(ahead_of_peers(&replica, NOW, &[NodeId(2)]), None);
        assert_eq!(
            ahead_of_peers(&replica, NOW, &[NodeId(2), NodeId(3)]),
            Some(2 * HOUR)
        );
    }
}
