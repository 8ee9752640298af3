//! Store tests on real SQLite files in temporary directories.

use officemesh_sensors::Quantity;

use super::*;
use crate::state::{ReadingStatus, ReadingValue};

fn reading_entry(replica: &mut Replica, t: u64, value: f64) -> Entry {
    let me = replica.me();
    replica
        .write(
            Key::Reading {
                node: me,
                sensor: "desk".into(),
                quantity: Quantity::Temperature,
            },
            Some(Value::Reading(ReadingValue {
                value,
                unit: "°C".into(),
                room: "lobby".into(),
                status: ReadingStatus::Ok,
                taken_at_ms: t,
            })),
            Stamp::new(Stamp::time_from_unix_ms(t), me),
        )
        .expect("newer write")
}

#[test]
fn replica_round_trips_through_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let me = NodeId(42);
    let mut replica = Replica::new(me);
    reading_entry(&mut replica, 1_000, 21.5);
    reading_entry(&mut replica, 2_000, 21.75);
    replica
        .write(
            Key::Person {
                name: "ada".into(),
                mac: "aa:bb:cc:dd:ee:01".parse().expect("mac"),
            },
            None,
            Stamp::new(Stamp::time_from_unix_ms(3_000), me),
        )
        .expect("tombstone");
    replica.set_watermark(NodeId(7), 12);
    {
        let mut store = Store::open(dir.path()).expect("open");
        store.apply(&replica.take_changes()).expect("apply");
    }
    let store = Store::open(dir.path()).expect("reopen");
    assert!(store.integrity_ok().expect("check"));
    let loaded = store.load_replica(me).expect("load");
    assert_eq!(loaded.state_hash(), replica.state_hash());
    assert_eq!(loaded.digest(), replica.digest());
    assert_eq!(loaded.watermark(me), 3);
    assert_eq!(
        store.max_stamp_time().expect("max"),
        Stamp::time_from_unix_ms(3_000)
    );
    let samples: i64 = store
        .conn
        .query_row("SELECT COUNT(*) FROM samples", [], |row| row.get(0))
        .expect("count");
    assert_eq!(samples, 2, "both readings are in the history");
}

#[test]
fn migrations_are_idempotent_and_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Store::open(dir.path()).expect("open"));
    let store = Store::open(dir.path()).expect("reopen runs no migration twice");
    let version: i64 = store
        .conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version");
    assert_eq!(version as usize, schema::latest_version());
}
