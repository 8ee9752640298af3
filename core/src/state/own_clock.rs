//! Whether this node's own wall clock runs ahead of its peers'. Peers refuse a node whose
//! stamps run ahead (and say so), but that node itself cannot see the refusals. What it can
//! see: every peer's newest good reading arrives old — `taken_at_ms` is the peer's wall clock
//! when it read its sensor, every poll interval (10–30 s by default). When that is more than
//! [`AHEAD_AFTER_MS`] old here for **every** alive peer whose readings are live (they moved on
//! since an earlier look: readings from before a restart say nothing), the odd one out is this
//! clock (one peer's slow clock or dead sensor cannot trigger it: its sensor goes `stale`).
//!
//! Pure: the time and the alive peers are passed in. Must not touch: the wall clock, the
//! replica's contents (read only).

use std::collections::{BTreeMap, BTreeSet};

use crate::crdt::NodeId;

use super::{Key, ReadingStatus, Replica, Value};

/// How old every peer's newest good reading must look before this node calls its own clock
/// ahead: well beyond any poll interval and gossip delay.
pub const AHEAD_AFTER_MS: u64 = 5 * 60_000;

/// Each alive peer's newest good (`ok`) reading time (`taken_at_ms`, the peer's wall clock),
/// for the peers that have one.
pub fn newest_good_readings(replica: &Replica, alive: &[NodeId]) -> BTreeMap<NodeId, u64> {
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
    newest
}

/// Which peers' readings are live here: a peer counts once its newest good reading has moved
/// on since an earlier look (readings still on disk from before a restart, or not synced yet,
/// say nothing about clocks). Kept by the caller between looks (every few seconds).
#[derive(Debug, Clone, Default)]
pub struct OwnClockWatch {
    last: BTreeMap<NodeId, u64>,
    advancing: BTreeSet<NodeId>,
}

impl OwnClockWatch {
    /// Takes one look at the peers' newest good readings (`newest_good_readings`) at `now_ms`
    /// (this node's wall clock) and says how far this node's clock seems ahead of its peers':
    /// the smallest age, over the peers whose readings are live, of their newest reading —
    /// when every one of them is older than [`AHEAD_AFTER_MS`]. `None` when one is fresh or no
    /// peer's readings are live yet.
    pub fn look(&mut self, now_ms: u64, newest: BTreeMap<NodeId, u64>) -> Option<u64> {
        for (peer, taken_at) in &newest {
            if self.last.get(peer).is_some_and(|last| taken_at > last) {
                self.advancing.insert(*peer);
            }
        }
        self.advancing.retain(|peer| newest.contains_key(peer));
        let smallest_age = newest
            .iter()
            .filter(|(peer, _)| self.advancing.contains(peer))
            .map(|(_, taken_at)| now_ms.saturating_sub(*taken_at))
            .min();
        self.last = newest;
        smallest_age.filter(|age| *age > AHEAD_AFTER_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::Stamp;
    use crate::state::ReadingValue;
    use officemesh_types::Quantity;

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

    /// Two looks: the first sees the readings, the second the same readings a poll later.
    fn two_looks(replica_then: &Replica, replica_now: &Replica, alive: &[NodeId]) -> Option<u64> {
        let mut watch = OwnClockWatch::default();
        assert_eq!(
            watch.look(NOW - 5_000, newest_good_readings(replica_then, alive)),
            None,
            "a first look never says so"
        );
        watch.look(NOW, newest_good_readings(replica_now, alive))
    }

    #[test]
    fn every_peer_an_hour_behind_means_this_clock_is_ahead() {
        let (mut then, mut now) = (Replica::new(NodeId(1)), Replica::new(NodeId(1)));
        reading(&mut then, 2, NOW - HOUR - 30_000, ReadingStatus::Ok);
        reading(&mut then, 3, NOW - HOUR - 30_000, ReadingStatus::Ok);
        reading(&mut now, 2, NOW - HOUR - 20_000, ReadingStatus::Ok);
        reading(&mut now, 3, NOW - HOUR - 5_000, ReadingStatus::Ok);
        let alive = [NodeId(2), NodeId(3)];
        assert_eq!(two_looks(&then, &now, &alive), Some(HOUR + 5_000));
    }

    #[test]
    fn old_readings_that_do_not_move_on_say_nothing() {
        // After a restart the peers' readings on disk are a week old until fresh ones arrive.
        let mut replica = Replica::new(NodeId(1));
        reading(&mut replica, 2, NOW - 7 * 24 * HOUR, ReadingStatus::Ok);
        assert_eq!(two_looks(&replica, &replica, &[NodeId(2)]), None);
    }

    #[test]
    fn one_fresh_peer_or_no_readings_says_nothing() {
        let (mut then, mut now) = (Replica::new(NodeId(1)), Replica::new(NodeId(1)));
        reading(&mut then, 2, NOW - HOUR - 10_000, ReadingStatus::Ok);
        reading(&mut then, 3, NOW - 30_000, ReadingStatus::Ok);
        reading(&mut now, 2, NOW - HOUR, ReadingStatus::Ok);
        reading(&mut now, 3, NOW - 20_000, ReadingStatus::Ok);
        assert_eq!(two_looks(&then, &now, &[NodeId(2), NodeId(3)]), None);
        assert_eq!(two_looks(&then, &now, &[NodeId(4)]), None, "no readings");
        assert_eq!(two_looks(&then, &now, &[]), None);
    }

    #[test]
    fn stale_readings_and_peers_not_alive_are_left_out() {
        let (mut then, mut now) = (Replica::new(NodeId(1)), Replica::new(NodeId(1)));
        // Peer 2's sensor failed an hour ago (stale); peer 3's readings run two hours behind.
        reading(&mut then, 2, NOW - HOUR - 10_000, ReadingStatus::Stale);
        reading(&mut now, 2, NOW - HOUR, ReadingStatus::Stale);
        reading(&mut then, 3, NOW - 2 * HOUR - 10_000, ReadingStatus::Ok);
        reading(&mut now, 3, NOW - 2 * HOUR, ReadingStatus::Ok);
        assert_eq!(two_looks(&then, &now, &[NodeId(2)]), None);
        assert_eq!(
            two_looks(&then, &now, &[NodeId(2), NodeId(3)]),
            Some(2 * HOUR)
        );
        assert_eq!(two_looks(&then, &now, &[NodeId(2)]), None, "3 not alive");
    }
}
