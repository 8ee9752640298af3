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

#[test]
fn stats_follow_every_write_and_retention_run() {
    use super::test_support::{random_samples, Fixture, Sample};
    let mut fixture = Fixture::new();
    let counted = |fixture: &Fixture| {
        (
            fixture.count("SELECT COUNT(*) FROM entries") as u64,
            fixture.count("SELECT COUNT(*) FROM samples") as u64,
            fixture.count("SELECT COUNT(*) FROM samples_1m") as u64,
        )
    };
    let of = |stats: StoreStats| (stats.entries, stats.samples, stats.aggregates);
    let t0 = 20_000 * DAY_MS;
    let desk = random_samples(20, t0, 400, 10_000..60_000);
    fixture.ingest("desk", Quantity::Temperature, &desk[..100]);
    let first = fixture.store.stats().expect("stats");
    assert_eq!(of(first), counted(&fixture));
    assert_eq!(of(first), (1, 100, 0));
    let on_disk = std::fs::metadata(fixture.dir.path().join(DB_FILE))
        .expect("db file")
        .len();
    assert!(first.file_bytes >= on_disk && on_disk > 0);

    fixture.ingest("desk", Quantity::Temperature, &desk[100..]);
    fixture.ingest("desk", Quantity::Humidity, &desk[..50]);
    // A reading whose sample is already in the history adds no sample.
    fixture.ingest("desk", Quantity::Humidity, &desk[49..50]);
    assert_eq!(of(fixture.store.stats().expect("stats")), (2, 450, 0));
    let policy = RetentionPolicy {
        raw_days: 1,
        aggregate_days: 2,
    };
    // Every raw sample is older than a day, the first two hours of aggregates older than two.
    let now = t0 + 2 * DAY_MS + 2 * 60 * MINUTE_MS;
    assert!(desk[399].t_ms < now - DAY_MS);
    let report = fixture
        .store
        .run_retention(now, &policy)
        .expect("retention");
    assert!(report.raw_deleted > 0 && report.aggregates_deleted > 0);
    assert_eq!(of(fixture.store.stats().expect("stats")), counted(&fixture));
    fixture.ingest(
        "desk",
        Quantity::Temperature,
        &[Sample {
            t_ms: now,
            value: 1.0,
        }],
    );
    assert_eq!(of(fixture.store.stats().expect("stats")), counted(&fixture));
}

#[test]
fn non_finite_readings_stay_out_of_the_history() {
    use super::test_support::{Fixture, Sample};
    let mut fixture = Fixture::new();
    let t0 = 20_000 * DAY_MS;
    for (i, value) in [f64::NAN, f64::INFINITY, 20.0].into_iter().enumerate() {
        fixture.ingest(
            "desk",
            Quantity::Temperature,
            &[Sample {
                t_ms: t0 + i as u64,
                value,
            }],
        );
    }
    assert_eq!(fixture.count("SELECT COUNT(*) FROM samples"), 1);
    assert_eq!(
        fixture.count("SELECT CAST(value AS INTEGER) FROM samples"),
        20
    );
}

#[test]
fn gc_floors_and_reset_progress_survive_a_reopen() {
    use crate::state::{OwnRefetch, SafetyState};
    let dir = tempfile::tempdir().expect("tempdir");
    let safety = SafetyState {
        floors: vec![(NodeId(7), 12)],
        gc_mark: crate::crdt::Stamp::new(99, NodeId(7)),
        resync_target: Some(vec![(NodeId(3), 4)]),
        own_refetch: Some(OwnRefetch { after: 2, until: 9 }),
        incarnation: 1_764_000_000_000,
        collected: [(
            crate::state::Key::Node(NodeId(5)),
            crate::crdt::Stamp::new(77, NodeId(5)),
        )]
        .into(),
        superseded: [((NodeId(6), 3), crate::state::Key::Node(NodeId(6)))].into(),
    };
    {
        let mut store = Store::open(dir.path()).expect("open");
        let mut replica = store.load_replica(NodeId(1)).expect("load");
        assert!(replica.safety().is_empty());
        replica.set_safety(safety.clone());
        store.apply(&replica.take_changes()).expect("apply");
    }
    let store = Store::open(dir.path()).expect("reopen");
    let replica = store.load_replica(NodeId(1)).expect("load");
    assert_eq!(replica.safety(), &safety);
}

#[test]
fn a_new_database_has_small_pages_and_an_older_one_keeps_its_own() {
    let page_size = |store: &Store| -> i64 {
        store
            .conn
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .expect("page_size")
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    assert_eq!(page_size(&store), PAGE_SIZE);
    drop(store);
    assert_eq!(
        page_size(&Store::open(dir.path()).expect("reopen")),
        PAGE_SIZE
    );

    // A database made before (4 KiB pages, WAL) opens as it is, data kept.
    let older = tempfile::tempdir().expect("tempdir");
    {
        let conn = rusqlite::Connection::open(older.path().join(DB_FILE)).expect("create");
        conn.pragma_update(None, "page_size", 4096)
            .expect("page_size");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        schema::migrate(&mut { conn }).expect("migrate");
    }
    let mut store = Store::open(older.path()).expect("open older");
    assert_eq!(page_size(&store), 4096);
    let mut replica = Replica::new(NodeId(3));
    reading_entry(&mut replica, 1_700_000_000_000, 21.5);
    store.apply(&replica.take_changes()).expect("apply");
    let loaded = store.load_replica(NodeId(3)).expect("load");
    assert_eq!(loaded.live().count(), 1);
}

#[test]
fn an_entry_of_an_unknown_kind_round_trips_as_bytes() {
    use crate::state::opaque::{key_from_bytes, value_from_bytes};
    // A later release's `badge/<name>` (kind 12): index, then its name; its value: kind name,
    // then the fields.
    let mut key_bytes = postcard::to_allocvec(&12u32).expect("varint");
    key_bytes.extend(postcard::to_allocvec("ada").expect("name"));
    let key = key_from_bytes(&key_bytes).expect("opaque key");
    let value = value_from_bytes(
        &key,
        &postcard::to_allocvec(&("badge", 7u64)).expect("value"),
    )
    .expect("opaque value");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut replica = Replica::new(NodeId(1));
    let entry = Entry {
        key: key.clone(),
        value: Some(value),
        stamp: Stamp::new(50, NodeId(9)),
        version: 1,
    };
    assert!(replica.merge(entry.clone()));
    {
        let mut store = Store::open(dir.path()).expect("open");
        store.apply(&replica.take_changes()).expect("apply");
    }
    let loaded = Store::open(dir.path())
        .expect("reopen")
        .load_replica(NodeId(1))
        .expect("load");
    assert_eq!(loaded.get(&key), Some(&entry));
    assert_eq!(loaded.state_hash(), replica.state_hash());
}
