//! Retention tests on real SQLite files: aggregation of complete minutes (exact figures computed
//! from the inputs), idempotence, late samples, deletion by age, and upgrade from schema 1.

use officemesh_sensors::Quantity;

use super::test_support::{bucket, random_samples, Expected, Fixture, Sample};
use super::*;

/// A minute-aligned start time (day 20 000 after the epoch, in 2024).
const T0: u64 = 20_000 * DAY_MS;

fn floor_minute(t: u64) -> u64 {
    t - t % MINUTE_MS
}

/// The aggregate rows of one series, keyed by minute start.
fn aggregates_of(fixture: &Fixture, sensor: &str, quantity: Quantity) -> Expected {
    let mut statement = fixture
        .store
        .conn
        .prepare(
            "SELECT minute_start_ms, min, max, sum, count FROM samples_1m
             WHERE node = ?1 AND sensor = ?2 AND quantity = ?3",
        )
        .expect("prepare");
    let rows = statement
        .query_map(
            params![fixture.me().0 as i64, sensor, quantity.as_str()],
            |row| {
                Ok((
                    row.get::<_, i64>(0)? as u64,
                    (
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get::<_, i64>(4)? as u64,
                    ),
                ))
            },
        )
        .expect("query");
    rows.map(|row| row.expect("row")).collect()
}

fn below(samples: &[Sample], t_ms: u64) -> u64 {
    samples.iter().filter(|s| s.t_ms < t_ms).count() as u64
}

#[test]
fn aggregates_every_complete_minute_exactly_once() {
    let mut fixture = Fixture::new();
    let desk = random_samples(1, T0, 200, 1_000..20_000);
    let humidity = random_samples(2, T0, 100, 5_000..30_000);
    fixture.ingest("desk", Quantity::Temperature, &desk);
    fixture.ingest("desk", Quantity::Humidity, &humidity);
    let now = desk[149].t_ms + 1;
    let complete = floor_minute(now);

    let report = fixture
        .store
        .run_retention(now, &RetentionPolicy::default())
        .expect("retention");

    let expected_desk = bucket(&desk, T0, complete, MINUTE_MS);
    let expected_humidity = bucket(&humidity, T0, complete, MINUTE_MS);
    assert_eq!(
        aggregates_of(&fixture, "desk", Quantity::Temperature),
        expected_desk
    );
    assert_eq!(
        aggregates_of(&fixture, "desk", Quantity::Humidity),
        expected_humidity
    );
    let aggregated = below(&desk, complete) + below(&humidity, complete);
    assert_eq!(
        report,
        RetentionReport {
            samples_aggregated: aggregated,
            aggregates_created: (expected_desk.len() + expected_humidity.len()) as u64,
            aggregates_updated: 0,
            raw_deleted: 0,
            aggregates_deleted: 0,
        }
    );
    assert_eq!(
        fixture.count("SELECT COUNT(*) FROM samples WHERE aggregated = 0") as u64,
        (desk.len() + humidity.len()) as u64 - aggregated,
        "samples of the running minute and later wait for the next run"
    );

    let before = fixture.dump();
    let again = fixture
        .store
        .run_retention(now, &RetentionPolicy::default())
        .expect("second run");
    assert_eq!(again, RetentionReport::default());
    assert_eq!(fixture.dump(), before, "a second run changes nothing");
}

#[test]
fn a_late_sample_is_folded_into_its_minute_aggregate() {
    let mut fixture = Fixture::new();
    let mut desk = random_samples(3, T0, 60, 2_000..15_000);
    fixture.ingest("desk", Quantity::Temperature, &desk);
    let now = desk[59].t_ms + 3 * MINUTE_MS;
    fixture
        .store
        .run_retention(now, &RetentionPolicy::default())
        .expect("retention");
    let first_minute = floor_minute(desk[0].t_ms);
    // Arrives after its minute was aggregated (gossip from a peer that was away), with a new
    // minimum, at a time no other sample has.
    let late = Sample {
        t_ms: first_minute + 59_999,
        value: -99.75,
    };
    assert!(desk.iter().all(|s| s.t_ms != late.t_ms));
    fixture.ingest("desk", Quantity::Temperature, &[late]);
    desk.push(late);

    let report = fixture
        .store
        .run_retention(now, &RetentionPolicy::default())
        .expect("retention");

    assert_eq!(
        report,
        RetentionReport {
            samples_aggregated: 1,
            aggregates_created: 0,
            aggregates_updated: 1,
            raw_deleted: 0,
            aggregates_deleted: 0,
        }
    );
    assert_eq!(
        aggregates_of(&fixture, "desk", Quantity::Temperature),
        bucket(&desk, T0, floor_minute(now), MINUTE_MS)
    );
}

#[test]
fn deletes_raw_samples_and_aggregates_past_their_age() {
    let mut fixture = Fixture::new();
    // Ten days, a sample every 2–40 minutes.
    let desk = random_samples(4, T0, 800, 2 * MINUTE_MS..40 * MINUTE_MS);
    assert!(desk[799].t_ms > T0 + 10 * DAY_MS);
    fixture.ingest("desk", Quantity::Sound, &desk);
    let policy = RetentionPolicy {
        raw_days: 2,
        aggregate_days: 5,
    };
    let now = T0 + 10 * DAY_MS + 123_456;
    let complete = floor_minute(now);
    let raw_cutoff = floor_minute(now - 2 * DAY_MS);
    let aggregate_cutoff = floor_minute(now - 5 * DAY_MS);

    let report = fixture
        .store
        .run_retention(now, &policy)
        .expect("retention");

    let all_minutes = bucket(&desk, T0, complete, MINUTE_MS);
    let old_minutes = bucket(&desk, T0, aggregate_cutoff, MINUTE_MS);
    assert_eq!(
        report,
        RetentionReport {
            samples_aggregated: below(&desk, complete),
            aggregates_created: all_minutes.len() as u64,
            aggregates_updated: 0,
            raw_deleted: below(&desk, raw_cutoff),
            aggregates_deleted: old_minutes.len() as u64,
        }
    );
    assert_eq!(
        aggregates_of(&fixture, "desk", Quantity::Sound),
        bucket(&desk, aggregate_cutoff, complete, MINUTE_MS)
    );
    assert_eq!(
        fixture.count("SELECT COUNT(*) FROM samples") as u64,
        desk.len() as u64 - below(&desk, raw_cutoff)
    );
    assert_eq!(
        fixture.count("SELECT MIN(t_ms) FROM samples") as u64,
        desk.iter()
            .map(|s| s.t_ms)
            .filter(|t| *t >= raw_cutoff)
            .min()
            .expect("recent samples")
    );
    assert_eq!(
        fixture.count("SELECT raw_complete_from_ms FROM retention") as u64,
        raw_cutoff
    );

    // A day later the next day of raw samples and aggregates goes.
    let later = now + DAY_MS;
    let report = fixture
        .store
        .run_retention(later, &policy)
        .expect("retention");
    assert_eq!(
        report.raw_deleted,
        below(&desk, floor_minute(later - 2 * DAY_MS)) - below(&desk, raw_cutoff)
    );
    assert_eq!(
        report.aggregates_deleted,
        (bucket(&desk, T0, floor_minute(later - 5 * DAY_MS), MINUTE_MS).len() - old_minutes.len())
            as u64
    );
}

#[test]
fn a_schema_1_database_is_upgraded_and_its_samples_aggregated() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let conn = Connection::open(dir.path().join(DB_FILE)).expect("open");
        conn.execute_batch(schema::MIGRATIONS[0]).expect("schema 1");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        for (i, t) in [T0 + 1_000, T0 + 2_000, T0 + MINUTE_MS + 5]
            .iter()
            .enumerate()
        {
            conn.execute(
                "INSERT INTO samples (node, sensor, quantity, t_ms, value)
                 VALUES (42, 'desk', 'temperature', ?1, ?2)",
                params![*t as i64, i as f64 + 20.5],
            )
            .expect("sample");
        }
    }
    let mut store = Store::open(dir.path()).expect("open upgrades");
    let version: i64 = store
        .conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version");
    assert_eq!(version as usize, schema::latest_version());
    let report = store
        .run_retention(T0 + 2 * MINUTE_MS, &RetentionPolicy::default())
        .expect("retention");
    assert_eq!(
        (report.samples_aggregated, report.aggregates_created),
        (3, 2)
    );
    let first: (f64, f64, f64, i64) = store
        .conn
        .query_row(
            "SELECT min, max, sum, count FROM samples_1m WHERE minute_start_ms = ?1",
            params![T0 as i64],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .expect("first minute");
    assert_eq!(first, (20.5, 21.5, 42.0, 2));
}
