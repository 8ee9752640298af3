//! Replica tests: LWW behaviour, the delta index, watermarks, hash, GC, and convergence of
//! replicas exchanging entries in random orders with duplicates (proptest).

use officemesh_types::MacAddr;
use proptest::prelude::*;

use super::*;
use crate::state::PersonInfo;

fn person(name: &str, mac_last: u8) -> Key {
    Key::Person {
        name: name.to_string(),
        mac: MacAddr([2, 0, 0, 0, 0, mac_last]),
    }
}

fn info(by: &str) -> Option<Value> {
    Some(Value::Person(PersonInfo {
        added_by: by.to_string(),
    }))
}

fn at(time: u64, node: u64) -> Stamp {
    Stamp::new(time, NodeId(node))
}

#[test]
fn local_writes_get_increasing_versions_and_older_writes_lose() {
    let mut replica = Replica::new(NodeId(1));
    let first = replica
        .write(person("ada", 1), info("api"), at(10, 1))
        .expect("first write");
    let second = replica
        .write(person("bob", 2), info("api"), at(11, 1))
        .expect("second write");
    assert_eq!((first.version, second.version), (1, 2));
    assert_eq!(replica.watermark(NodeId(1)), 2);
    let stale = replica.write(person("ada", 1), None, at(9, 1));
    assert!(stale.is_err());
    assert!(replica.value(&person("ada", 1)).is_some());
}

#[test]
fn merge_keeps_the_newer_write_and_reindexes_by_origin() {
    let mut a = Replica::new(NodeId(1));
    let written = a
        .write(person("ada", 1), info("a"), at(10, 1))
        .expect("write");
    let mut b = Replica::new(NodeId(2));
    assert!(b.merge(written.clone()));
    assert!(!b.merge(written), "a duplicate changes nothing");
    let delete = b.write(person("ada", 1), None, at(20, 2)).expect("delete");
    assert_eq!(
        b.entries_after(NodeId(1), 0).count(),
        0,
        "superseded by node 2's write"
    );
    assert_eq!(b.entries_after(NodeId(2), 0).count(), 1);
    assert!(a.merge(delete));
    assert_eq!(a.value(&person("ada", 1)), None);
    assert_eq!(a.state_hash(), b.state_hash());
}

#[test]
fn entries_after_respects_version_order() {
    let mut a = Replica::new(NodeId(1));
    for i in 0..5u8 {
        a.write(person("p", i), info("a"), at(10 + i as u64, 1))
            .expect("write");
    }
    let versions: Vec<u64> = a.entries_after(NodeId(1), 2).map(|e| e.version).collect();
    assert_eq!(versions, vec![3, 4, 5]);
}

#[test]
fn gc_drops_only_old_tombstones_and_reports_removals() {
    let mut a = Replica::new(NodeId(1));
    a.write(person("old", 1), None, at(10, 1)).expect("write");
    a.write(person("new", 2), None, at(50, 1)).expect("write");
    a.write(person("live", 3), info("a"), at(5, 1))
        .expect("write");
    a.take_changes();
    assert_eq!(a.gc_tombstones(20), 1);
    let changes = a.take_changes();
    assert_eq!(changes.removed, vec![person("old", 1)]);
    assert_eq!(a.len(), 2);
}

#[test]
fn reset_foreign_keeps_own_writes() {
    let mut b = Replica::new(NodeId(2));
    let mut a = Replica::new(NodeId(1));
    let foreign = a
        .write(person("ada", 1), info("a"), at(10, 1))
        .expect("write");
    b.merge(foreign);
    b.set_watermark(NodeId(1), 1);
    b.write(person("bob", 2), info("b"), at(11, 2))
        .expect("write");
    assert_eq!(b.reset_foreign(), 1);
    assert_eq!(b.len(), 1);
    assert_eq!(b.watermark(NodeId(1)), 0);
    assert_eq!(b.watermark(NodeId(2)), 1);
}

#[test]
fn from_parts_restores_entries_hash_and_own_watermark() {
    let mut a = Replica::new(NodeId(1));
    a.write(person("ada", 1), info("a"), at(10, 1))
        .expect("write");
    a.write(person("bob", 2), info("a"), at(11, 1))
        .expect("write");
    let entries: Vec<Entry> = a.entries().cloned().collect();
    let restored = Replica::from_parts(NodeId(1), entries, Digest::new());
    assert_eq!(restored.state_hash(), a.state_hash());
    assert_eq!(restored.watermark(NodeId(1)), 2);
    assert!(!restored.has_changes());
}

/// A random write by one of three nodes: (node, key index, present?).
fn writes() -> impl Strategy<Value = Vec<(u64, u8, bool)>> {
    proptest::collection::vec((1u64..4, 0u8..5, any::<bool>()), 1..30)
}

proptest! {
    /// Three writers; two observers receive every resulting entry in independent random orders
    /// with duplicates. They end with identical content and hash, equal to the writers' join.
    #[test]
    fn replicas_converge_whatever_the_delivery_order(
        ops in writes(),
        order_a in proptest::collection::vec(any::<prop::sample::Index>(), 0..60),
        order_b in proptest::collection::vec(any::<prop::sample::Index>(), 0..60),
    ) {
        let mut writers: Vec<Replica> = (1..4).map(|n| Replica::new(NodeId(n))).collect();
        let mut produced = Vec::new();
        for (time, (node, key, present)) in ops.into_iter().enumerate() {
            let writer = &mut writers[(node - 1) as usize];
            let value = if present { info("w") } else { None };
            if let Ok(entry) = writer.write(person("k", key), value, at(time as u64 + 1, node)) {
                produced.push(entry);
            }
        }
        let mut a = Replica::new(NodeId(8));
        let mut b = Replica::new(NodeId(9));
        for index in order_a { a.merge(index.get(&produced).clone()); }
        for index in order_b { b.merge(index.get(&produced).clone()); }
        for entry in produced.iter().rev() { a.merge(entry.clone()); }
        for entry in &produced { b.merge(entry.clone()); }
        let content = |r: &Replica| r.entries().cloned().collect::<Vec<_>>();
        prop_assert_eq!(content(&a), content(&b));
        prop_assert_eq!(a.state_hash(), b.state_hash());
        // Each key holds the write with the greatest stamp among all writes to it.
        for entry in a.entries() {
            let best = produced.iter().filter(|e| e.key == entry.key).map(|e| e.stamp).max();
            prop_assert_eq!(Some(entry.stamp), best);
        }
    }
}

#[test]
fn merge_refuses_non_finite_numbers() {
    use crate::state::{ReadingStatus, ReadingValue, TargetValue};
    let key = Key::Target {
        room: "lobby".into(),
        quantity: officemesh_types::Quantity::Temperature,
    };
    let target = |value: f64| {
        Some(Value::Target(TargetValue {
            value,
            tolerance: 1.0,
        }))
    };
    let entry = |value, time| Entry {
        key: key.clone(),
        value,
        stamp: at(time, 3),
        version: time,
    };
    let mut replica = Replica::new(NodeId(1));
    assert!(!replica.merge(entry(target(f64::NAN), 1)));
    assert!(!replica.merge(entry(target(f64::NEG_INFINITY), 2)));
    assert!(replica.is_empty());
    assert!(replica.merge(entry(target(21.5), 3)));
    let reading = Some(Value::Reading(ReadingValue {
        value: f64::INFINITY,
        unit: "dB".into(),
        room: "lobby".into(),
        status: ReadingStatus::Ok,
        taken_at_ms: 1,
    }));
    assert!(!numbers_are_finite(&reading));
    assert!(numbers_are_finite(&None));
}

#[test]
fn unpublished_own_writes_are_hidden_from_digest_and_deltas() {
    let mut a = Replica::new(NodeId(1));
    for i in 0..4u8 {
        a.write(person("p", i), info("a"), at(10 + i as u64, 1))
            .expect("write");
    }
    a.set_publish_limit(Some(2));
    assert_eq!(a.own_counter(), 4, "the counter itself is not limited");
    assert_eq!(a.watermark(NodeId(1)), 2);
    assert_eq!(a.digest().get(&NodeId(1)), Some(&2));
    let versions: Vec<u64> = a.entries_after(NodeId(1), 0).map(|e| e.version).collect();
    assert_eq!(versions, vec![1, 2]);
    assert_eq!(
        a.entries_after(NodeId(1), 3).count(),
        0,
        "past the limit: nothing, no panic"
    );
    let next = a
        .write(person("p", 9), info("a"), at(20, 1))
        .expect("write");
    assert_eq!(next.version, 5, "new writes continue the real counter");
    let changes = a.take_changes();
    assert!(
        changes.watermarks.contains(&(NodeId(1), 5)),
        "the store gets the real counter"
    );
    a.set_publish_limit(None);
    assert_eq!(a.entries_after(NodeId(1), 0).count(), 5);
}

#[test]
fn a_rolled_back_write_is_gone_and_was_never_shown() {
    let me = NodeId(1);
    let mut replica = Replica::new(me);
    let key = Key::Person {
        name: "ada".into(),
        mac: MacAddr([2, 0, 0, 0, 0, 1]),
    };
    let first = Value::Person(PersonInfo {
        added_by: "api".into(),
    });
    replica
        .write(key.clone(), Some(first.clone()), Stamp::new(1, me))
        .expect("fresh");
    let _ = replica.take_changes();
    let hash_before = replica.state_hash();
    let staged = replica
        .stage(key.clone(), None, Stamp::new(2, me))
        .expect("newer");
    assert_eq!(
        replica.watermark(me),
        1,
        "a staged write is not shown to peers"
    );
    assert_eq!(replica.entries_after(me, 1).count(), 0);
    assert!(
        replica.take_changes().upserts.is_empty(),
        "batches never carry a staged write"
    );
    replica.roll_back(staged);
    assert_eq!(replica.value(&key), Some(&first));
    assert_eq!(replica.state_hash(), hash_before);

    let staged = replica
        .stage(key.clone(), None, Stamp::new(3, me))
        .expect("newer");
    assert_eq!(staged.changes().upserts.len(), 1);
    replica.confirm(&staged);
    assert_eq!(
        replica.watermark(me),
        3,
        "confirmed writes are shown (version 2 is a gap)"
    );
    assert_eq!(replica.value(&key), None);
}

#[test]
fn refetching_own_writes_hides_them_from_peers_until_a_chunk_reaches_the_target() {
    let mut a = Replica::new(NodeId(1));
    for (i, name) in ["ada", "bob", "cy"].iter().enumerate() {
        a.write(person(name, i as u8), info("a"), at(10 + i as u64, 1))
            .expect("write");
    }
    a.refetch_own(1, 2);
    assert_eq!(
        a.watermark(NodeId(1)),
        1,
        "advertised own watermark is lowered"
    );
    assert_eq!(a.own_counter(), 3, "the version counter never goes back");
    assert_eq!(a.entries_after(NodeId(1), 0).count(), 1);
    assert!(a.holds_own_version(3));
    a.received_up_to(NodeId(1), 1);
    assert!(a.own_refetch().is_some(), "a chunk short of the target");
    a.received_up_to(NodeId(1), 2);
    assert_eq!(a.own_refetch(), None);
    assert_eq!(a.watermark(NodeId(1)), 3);
}

mod restamp {
    use super::super::RestampPlan;
    use crate::crdt::{NodeId, Stamp};
    use crate::state::{Key, Replica, Value};

    const ME: NodeId = NodeId(1);
    const PEER: NodeId = NodeId(2);

    fn person(name: &str) -> Key {
        format!("person/{name}/02:00:00:00:00:01")
            .parse()
            .expect("key")
    }

    fn info(name: &str) -> Option<Value> {
        Some(Value::Person(crate::state::PersonInfo {
            added_by: name.to_string(),
        }))
    }

    fn peer_entry(key: Key, time: u64, version: u64) -> super::super::Entry {
        super::super::Entry {
            key,
            value: info("peer"),
            stamp: Stamp::new(time, PEER),
            version,
        }
    }

    #[test]
    fn own_writes_beyond_the_limit_get_new_stamps_and_versions_and_keep_their_values() {
        let mut replica = Replica::new(ME);
        replica
            .write(person("ok"), info("ok"), Stamp::new(100, ME))
            .expect("write");
        replica.merge(peer_entry(person("peer"), 150, 1));
        replica
            .write(person("a"), info("a"), Stamp::new(5_000, ME))
            .expect("write");
        replica
            .write(person("b"), info("b"), Stamp::new(5_001, ME))
            .expect("write");
        let RestampPlan::Restamp {
            keys,
            newest_ahead_time,
            floor_time,
        } = replica.plan_restamp(200)
        else {
            panic!(
                "expected a restamp plan, got {:?}",
                replica.plan_restamp(200)
            );
        };
        assert_eq!(keys, vec![person("a"), person("b")], "oldest first");
        assert_eq!(newest_ahead_time, 5_001);
        assert_eq!(
            floor_time, 150,
            "new stamps go above every kept stamp, peers' too"
        );
        for (i, key) in keys.iter().enumerate() {
            let entry = replica
                .restamp_own(key, Stamp::new(floor_time + 1 + i as u64, ME))
                .expect("own entry");
            assert_eq!(entry.version, 3 + 1 + i as u64, "the next own versions");
        }
        assert_eq!(replica.get(&person("a")).map(|e| e.stamp.time), Some(151));
        assert_eq!(replica.value(&person("b")), info("b").as_ref());
        assert_eq!(replica.max_stamp_time(), 152, "the old stamps are gone");
        assert_eq!(replica.plan_restamp(200), RestampPlan::Nothing);
        let sent: Vec<u64> = replica.entries_after(ME, 1).map(|e| e.version).collect();
        assert_eq!(
            sent,
            vec![4, 5],
            "peers get the re-stamped writes as new versions"
        );
    }

    #[test]
    fn nothing_is_restamped_when_peers_writes_are_ahead_too() {
        let mut replica = Replica::new(ME);
        replica
            .write(person("a"), info("a"), Stamp::new(5_000, ME))
            .expect("write");
        replica.merge(peer_entry(person("peer"), 4_000, 1));
        assert_eq!(
            replica.plan_restamp(200),
            RestampPlan::WallClockBehind {
                foreign_max_time: 4_000
            },
            "this node's wall clock is behind the cluster, not fixed"
        );
    }

    #[test]
    fn a_peers_entry_is_never_restamped() {
        let mut replica = Replica::new(ME);
        replica.merge(peer_entry(person("peer"), 100, 1));
        assert!(replica
            .restamp_own(&person("peer"), Stamp::new(50, ME))
            .is_none());
        assert_eq!(
            replica.get(&person("peer")).map(|e| e.stamp.time),
            Some(100)
        );
    }
}
