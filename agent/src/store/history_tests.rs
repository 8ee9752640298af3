//! History tests on real SQLite files: buckets over raw samples, over aggregates after
//! retention, the seam between both (nothing counted twice), late samples, bad queries. Every
//! expected figure is computed from the generated inputs.

use officemesh_sensors::Quantity;

use super::test_support::{bucket, points, random_samples, Fixture, Sample};
use super::*;

const T0: u64 = 20_000 * DAY_MS;
const HOUR_MS: u64 = 60 * MINUTE_MS;

#[test]
fn raw_history_is_bucketed_from_the_start_of_the_range() {
    let mut fixture = Fixture::new();
    let desk = random_samples(10, T0, 300, 1_000..20_000);
    let other = random_samples(11, T0, 300, 1_000..20_000);
    fixture.ingest("desk", Quantity::Temperature, &desk);
    fixture.ingest("window", Quantity::Temperature, &other);
    let from = T0 + 7_000;
    let to = desk[250].t_ms;
    for step in [1, 10_000, MINUTE_MS, 5 * MINUTE_MS + 3, DAY_MS] {
        let history = fixture.query("desk", Quantity::Temperature, from, to, step);
        assert_eq!(
            history,
            points(&bucket(&desk, from, to, step)),
            "step {step}"
        );
    }
    let total: u64 = fixture
        .query("desk", Quantity::Temperature, 0, u64::MAX, DAY_MS)
        .iter()
        .map(|p| p.count)
        .sum();
    assert_eq!(total, desk.len() as u64, "the other sensor is not mixed in");
    assert!(fixture
        .query("desk", Quantity::Humidity, 0, u64::MAX, DAY_MS)
        .is_empty());
}

#[test]
fn history_is_the_same_before_and_after_retention_and_nothing_counts_twice() {
    let mut fixture = Fixture::new();
    // Ten days, a sample every 30 s to 10 min.
    let desk = random_samples(12, T0, 3_000, 30_000..10 * MINUTE_MS);
    fixture.ingest("desk", Quantity::Humidity, &desk);
    let now = T0 + 10 * DAY_MS + 42_000;
    let expect = |from: u64, step: u64| points(&bucket(&desk, from, now, step));
    let hourly = expect(T0, HOUR_MS);
    let by_minute = expect(T0, MINUTE_MS);
    assert_eq!(
        fixture.query("desk", Quantity::Humidity, T0, now, HOUR_MS),
        hourly
    );

    // Aggregated but nothing deleted: raw and aggregates both hold every minute.
    let keep_all = RetentionPolicy {
        raw_days: 30,
        aggregate_days: 30,
    };
    let report = fixture
        .store
        .run_retention(now, &keep_all)
        .expect("retention");
    assert!(report.aggregates_created > 0 && report.raw_deleted == 0);
    assert_eq!(
        fixture.query("desk", Quantity::Humidity, T0, now, HOUR_MS),
        hourly
    );

    // Raw samples older than two days deleted: the older part comes from aggregates.
    let policy = RetentionPolicy {
        raw_days: 2,
        aggregate_days: 30,
    };
    let report = fixture
        .store
        .run_retention(now, &policy)
        .expect("retention");
    assert!(report.raw_deleted > 0);
    assert_eq!(
        fixture.query("desk", Quantity::Humidity, T0, now, HOUR_MS),
        hourly
    );
    assert_eq!(
        fixture.query("desk", Quantity::Humidity, T0, now, MINUTE_MS),
        by_minute
    );
    // Where raw samples are kept, sub-minute buckets still have raw resolution.
    let raw_from = now - DAY_MS;
    assert_eq!(
        fixture.query("desk", Quantity::Humidity, raw_from, now, 10_000),
        expect(raw_from, 10_000)
    );
}

#[test]
fn a_late_sample_in_the_aggregated_past_counts_once() {
    let mut fixture = Fixture::new();
    let mut desk = random_samples(13, T0, 500, MINUTE_MS..20 * MINUTE_MS);
    fixture.ingest("desk", Quantity::Humidity, &desk);
    let now = T0 + 8 * DAY_MS;
    let policy = RetentionPolicy {
        raw_days: 1,
        aggregate_days: 30,
    };
    fixture
        .store
        .run_retention(now, &policy)
        .expect("retention");
    let late = Sample {
        t_ms: T0 + DAY_MS + 1,
        value: 123.5,
    };
    assert!(desk.iter().all(|s| s.t_ms != late.t_ms));
    fixture.ingest("desk", Quantity::Humidity, &[late]);
    desk.push(late);
    let expected = points(&bucket(&desk, T0, now, HOUR_MS));

    // Before the next run it is a raw sample next to the minute's aggregate...
    assert_eq!(
        fixture.query("desk", Quantity::Humidity, T0, now, HOUR_MS),
        expected
    );
    // ...after it, folded into the aggregate and deleted as raw.
    let report = fixture
        .store
        .run_retention(now, &policy)
        .expect("retention");
    assert_eq!((report.samples_aggregated, report.raw_deleted), (1, 1));
    assert_eq!(
        fixture.query("desk", Quantity::Humidity, T0, now, HOUR_MS),
        expected
    );
}

#[test]
fn bad_steps_are_refused_and_empty_ranges_are_empty() {
    let mut fixture = Fixture::new();
    fixture.ingest(
        "desk",
        Quantity::Temperature,
        &[Sample {
            t_ms: T0,
            value: 21.0,
        }],
    );
    let query = |step_ms| HistoryQuery {
        node: fixture.me(),
        sensor: "desk".into(),
        quantity: Quantity::Temperature,
        from_ms: T0,
        to_ms: T0 + 1,
        step_ms,
    };
    for step in [0, u64::MAX] {
        let error = fixture.store.history(&query(step)).expect_err("bad step");
        assert!(matches!(error, StoreError::InvalidQuery { .. }));
        assert!(
            error
                .to_string()
                .contains(&fixture.store.path().display().to_string()),
            "{error}"
        );
    }
    assert_eq!(
        fixture.store.history(&query(1)).expect("history"),
        vec![HistoryPoint {
            t_ms: T0,
            min: 21.0,
            max: 21.0,
            avg: 21.0,
            count: 1
        }]
    );
    assert!(fixture
        .query("desk", Quantity::Temperature, T0 + 1, T0 + 1, 1)
        .is_empty());
    assert!(fixture
        .query("desk", Quantity::Temperature, T0 + 1, T0, 1)
        .is_empty());
}

#[test]
fn history_points_serialize_as_json_numbers() {
    let point = HistoryPoint {
        t_ms: 60_000,
        min: 1.5,
        max: 2.5,
        avg: 2.0,
        count: 2,
    };
    assert_eq!(
        serde_json::to_string(&point).expect("json"),
        r#"{"t_ms":60000,"min":1.5,"max":2.5,"avg":2.0,"count":2}"#
    );
}

#[test]
fn a_longer_raw_retention_later_does_not_count_old_minutes_twice() {
    let mut fixture = Fixture::new();
    let mut desk = random_samples(14, T0, 400, MINUTE_MS..30 * MINUTE_MS);
    fixture.ingest("desk", Quantity::Temperature, &desk);
    let now = T0 + 8 * DAY_MS;
    let short = RetentionPolicy {
        raw_days: 1,
        aggregate_days: 30,
    };
    fixture.store.run_retention(now, &short).expect("retention");
    // A late sample in the long-aggregated past, then a run with a longer raw retention: it is
    // folded into its minute but, being younger than 30 days, stays as a raw sample too.
    let late = Sample {
        t_ms: T0 + 2 * DAY_MS + 7,
        value: -3.25,
    };
    assert!(desk.iter().all(|s| s.t_ms != late.t_ms));
    fixture.ingest("desk", Quantity::Temperature, &[late]);
    desk.push(late);
    let long = RetentionPolicy {
        raw_days: 30,
        aggregate_days: 30,
    };
    let report = fixture.store.run_retention(now, &long).expect("retention");
    assert_eq!((report.samples_aggregated, report.raw_deleted), (1, 0));
    assert_eq!(
        fixture.query("desk", Quantity::Temperature, T0, now, HOUR_MS),
        points(&bucket(&desk, T0, now, HOUR_MS))
    );
}

#[test]
fn sound_levels_average_as_energy_in_raw_and_aggregated_history() {
    let mut fixture = Fixture::new();
    // An hour at 40 dB with one minute at 80 dB, a sample every minute.
    let sound: Vec<Sample> = (0..60)
        .map(|i| Sample {
            t_ms: T0 + i * MINUTE_MS,
            value: if i == 30 { 80.0 } else { 40.0 },
        })
        .collect();
    fixture.ingest("mic", Quantity::Sound, &sound);
    fixture.ingest("desk", Quantity::Temperature, &sound);
    let energy: f64 = sound.iter().map(|s| 10f64.powf(s.value / 10.0)).sum();
    let energy_mean = 10.0 * (energy / 60.0).log10();
    let arithmetic = sound.iter().map(|s| s.value).sum::<f64>() / 60.0;
    assert!((energy_mean - 62.2).abs() < 0.1 && (arithmetic - 40.67).abs() < 0.01);
    let avg = |fixture: &Fixture, quantity| {
        let history = fixture.query(
            if quantity == Quantity::Sound {
                "mic"
            } else {
                "desk"
            },
            quantity,
            T0,
            T0 + HOUR_MS,
            HOUR_MS,
        );
        assert_eq!(history.len(), 1, "{history:?}");
        assert_eq!(history[0].count, 60);
        assert_eq!((history[0].min, history[0].max), (40.0, 80.0));
        history[0].avg
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(
        close(avg(&fixture, Quantity::Sound), energy_mean),
        "raw sound"
    );
    assert!(
        close(avg(&fixture, Quantity::Temperature), arithmetic),
        "raw temperature"
    );

    // Folded into one-minute aggregates and the raw samples deleted: the same figures.
    let policy = RetentionPolicy {
        raw_days: 1,
        aggregate_days: 30,
    };
    let report = fixture
        .store
        .run_retention(T0 + 2 * DAY_MS, &policy)
        .expect("retention");
    assert!(report.raw_deleted >= 120, "{report:?}");
    assert!(
        close(avg(&fixture, Quantity::Sound), energy_mean),
        "aggregated sound"
    );
    assert!(
        close(avg(&fixture, Quantity::Temperature), arithmetic),
        "aggregated temperature"
    );
}

#[test]
fn minutes_aggregated_before_energy_sums_were_kept_count_as_their_mean() {
    let mut fixture = Fixture::new();
    let sound: Vec<Sample> = (0..4)
        .map(|i| Sample {
            t_ms: T0 + i * MINUTE_MS,
            value: 50.0 + i as f64,
        })
        .collect();
    fixture.ingest("mic", Quantity::Sound, &sound);
    let policy = RetentionPolicy {
        raw_days: 1,
        aggregate_days: 30,
    };
    fixture
        .store
        .run_retention(T0 + 2 * DAY_MS, &policy)
        .expect("retention");
    // As a database migrated from schema 3 holds them: no energy sums.
    fixture
        .store
        .conn
        .execute("UPDATE samples_1m SET energy_sum = NULL", [])
        .expect("clear");
    let history = fixture.query("mic", Quantity::Sound, T0, T0 + HOUR_MS, HOUR_MS);
    let expected =
        10.0 * ((50..54).map(|v| 10f64.powf(v as f64 / 10.0)).sum::<f64>() / 4.0).log10();
    assert_eq!(history.len(), 1);
    assert!(
        (history[0].avg - expected).abs() < 1e-9,
        "one-sample minutes: their mean is their level: {} vs {expected}",
        history[0].avg
    );
}

#[test]
fn absurd_sound_levels_give_a_finite_average() {
    let mut fixture = Fixture::new();
    let samples = [
        Sample {
            t_ms: T0,
            value: 5_000.0,
        },
        Sample {
            t_ms: T0 + 1,
            value: 40.0,
        },
    ];
    fixture.ingest("mic", Quantity::Sound, &samples);
    let history = fixture.query("mic", Quantity::Sound, T0, T0 + HOUR_MS, HOUR_MS);
    assert_eq!(history.len(), 1);
    assert!(history[0].avg.is_finite(), "{:?}", history[0]);
    assert_eq!(
        history[0].max, 5_000.0,
        "min and max are the values as taken"
    );
}
