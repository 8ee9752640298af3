//! Storage benchmarks, a plain `main` printing a table (no harness, to keep builds light):
//!
//! (a) readings ingest through `Store::apply` in batches of 1000, side by side in the same run
//!     with a bare rusqlite batched insert of the same rows into an identical `samples` table
//!     (same pragmas: WAL, synchronous=FULL); median of repetitions and the ratio;
//! (b) CRDT merge throughput: `Replica::merge` of N entries from another replica into an empty
//!     one, and of the same N again (all duplicates);
//! (c) retention over a realistic week (9 series every 10 s), then one hourly run, and history
//!     queries and `stats` on that database.
//!
//! Run: `cargo bench -p officemesh --bench store` (repetitions: `STORE_BENCH_REPS`, default 5).
//! Databases go to a temporary directory under the system temp dir (`TMPDIR` to move it).

use std::time::{Duration, Instant};

use officemesh::crdt::{NodeId, Stamp};
use officemesh::state::{ChangeSet, Entry, Key, ReadingStatus, ReadingValue, Replica, Value};
use officemesh::store::{HistoryQuery, RetentionPolicy, Store, DAY_MS, DB_FILE, MINUTE_MS};
use officemesh_sensors::Quantity;

const BATCH: usize = 1_000;
const INGEST_BATCHES: usize = 20;
const MERGE_ENTRIES: usize = 100_000;
const T0: u64 = 20_000 * DAY_MS;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn reading(value: f64, taken_at_ms: u64) -> Value {
    Value::Reading(ReadingValue {
        value,
        unit: "°C".into(),
        room: "lobby".into(),
        status: ReadingStatus::Ok,
        taken_at_ms,
    })
}

/// `batches` change sets of `BATCH` readings each, from node `me`, over `series` keys in turn,
/// one reading every `every_ms` per series starting at `start_ms`.
fn reading_batches(
    replica: &mut Replica,
    series: &[Key],
    start_ms: u64,
    every_ms: u64,
    readings: usize,
) -> Vec<ChangeSet> {
    let me = replica.me();
    let mut batches = Vec::new();
    for i in 0..readings {
        let key = series[i % series.len()].clone();
        let t = start_ms + (i / series.len()) as u64 * every_ms;
        let stamp = Stamp::new(Stamp::time_from_unix_ms(t) + (i % series.len()) as u64, me);
        replica
            .write(key, Some(reading(20.0 + (i % 97) as f64 * 0.125, t)), stamp)
            .expect("stamps grow");
        if (i + 1) % BATCH == 0 || i + 1 == readings {
            batches.push(replica.take_changes());
        }
    }
    batches
}

fn series_of(nodes: u64, sensors: usize) -> Vec<Key> {
    let mut keys = Vec::new();
    for node in 1..=nodes {
        for sensor in 0..sensors {
            for quantity in Quantity::ALL {
                keys.push(Key::Reading {
                    node: NodeId(node),
                    sensor: format!("s{sensor}"),
                    quantity,
                });
            }
        }
    }
    keys
}

/// The rows the store writes to `samples` for these change sets.
/// One `samples` row: node, sensor, quantity, t_ms, value.
type Row = (i64, String, String, i64, f64);

fn sample_rows(batches: &[ChangeSet]) -> Vec<Vec<Row>> {
    batches
        .iter()
        .map(|changes| {
            changes
                .readings
                .iter()
                .filter_map(|entry| match (&entry.key, &entry.value) {
                    (
                        Key::Reading {
                            node,
                            sensor,
                            quantity,
                        },
                        Some(Value::Reading(r)),
                    ) => Some((
                        node.0 as i64,
                        sensor.clone(),
                        quantity.as_str().to_string(),
                        r.taken_at_ms as i64,
                        r.value,
                    )),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// Inserts the rows into a bare `samples` table, identical to the store's, or without its
/// partial index of unaggregated samples (as in schema 1).
fn bare_insert(rows: &[Vec<Row>], pending_index: bool) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    conn.execute_batch(
        "CREATE TABLE samples (
            node INTEGER NOT NULL, sensor TEXT NOT NULL, quantity TEXT NOT NULL,
            t_ms INTEGER NOT NULL, value REAL NOT NULL,
            aggregated INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (node, sensor, quantity, t_ms)
        ) WITHOUT ROWID;",
    )
    .expect("schema");
    if pending_index {
        conn.execute_batch(
            "CREATE INDEX samples_unaggregated ON samples (t_ms) WHERE aggregated = 0",
        )
        .expect("index");
    }
    let started = Instant::now();
    for batch in rows {
        let tx = conn.transaction().expect("tx");
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO samples (node, sensor, quantity, t_ms, value)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .expect("prepare");
            for (node, sensor, quantity, t, value) in batch {
                insert
                    .execute(rusqlite::params![node, sensor, quantity, t, value])
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    started.elapsed()
}

fn store_apply(batches: &[ChangeSet]) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    let started = Instant::now();
    for changes in batches {
        store.apply(changes).expect("apply");
    }
    started.elapsed()
}

fn bench_ingest(reps: usize) {
    let mut replica = Replica::new(NodeId(1));
    let series = series_of(1, 10);
    let readings = BATCH * INGEST_BATCHES;
    let batches = reading_batches(&mut replica, &series, T0, 10_000, readings);
    let rows = sample_rows(&batches);
    let (mut store_rates, mut bare_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut unindexed_rates, mut index_ratios) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let store = store_apply(&batches);
        let bare = bare_insert(&rows, true);
        let unindexed = bare_insert(&rows, false);
        store_rates.push(readings as f64 / store.as_secs_f64());
        bare_rates.push(readings as f64 / bare.as_secs_f64());
        unindexed_rates.push(readings as f64 / unindexed.as_secs_f64());
        ratios.push(store.as_secs_f64() / bare.as_secs_f64());
        index_ratios.push(bare.as_secs_f64() / unindexed.as_secs_f64());
    }
    println!(
        "(a) ingest, {INGEST_BATCHES} batches x {BATCH} readings ({} series), one commit per batch",
        series.len()
    );
    println!(
        "    Store::apply          {:>12.0} readings/s (median of {reps})",
        median(store_rates)
    );
    println!(
        "    bare rusqlite insert  {:>12.0} readings/s (median of {reps})",
        median(bare_rates)
    );
    println!(
        "    time ratio Store/bare {:>12.2} (median of per-repetition ratios)",
        median(ratios)
    );
    println!(
        "    bare, no pending index{:>12.0} readings/s (median of {reps})",
        median(unindexed_rates)
    );
    println!(
        "    time ratio index/none {:>12.2} (cost of the partial index of unaggregated samples)",
        median(index_ratios)
    );
}

fn bench_merge(reps: usize) {
    // Another node's state: readings of 300 series, MAC sightings and people.
    let mut source = Replica::new(NodeId(2));
    let mut time = Stamp::time_from_unix_ms(T0);
    for i in 0..MERGE_ENTRIES {
        time += 1;
        let key = match i % 4 {
            0 | 1 => Key::Reading {
                node: NodeId(2),
                sensor: format!("s{}", i % 100),
                quantity: Quantity::ALL[i % 3],
            },
            2 => Key::Mac {
                mac: officemesh_sensors::MacAddr(
                    (i as u64).to_be_bytes()[2..].try_into().expect("6 bytes"),
                ),
                observer: NodeId(2),
            },
            _ => Key::Person {
                name: format!("p{i}"),
                mac: officemesh_sensors::MacAddr([2, 0, 0, 0, (i >> 8) as u8, i as u8]),
            },
        };
        let value = match &key {
            Key::Reading { .. } => reading(i as f64, T0 + i as u64),
            Key::Mac { .. } => Value::Mac(officemesh::state::MacSeen {
                ip: "10.0.0.7".into(),
                first_seen_ms: T0,
                last_seen_ms: T0 + i as u64,
                randomized: false,
                present_until_ms: 0,
            }),
            _ => Value::Person(officemesh::state::PersonInfo {
                added_by: "api".into(),
            }),
        };
        source
            .write(key, Some(value), Stamp::new(time, NodeId(2)))
            .expect("stamps grow");
    }
    let entries: Vec<Entry> = source.entries().cloned().collect();
    let n = entries.len();
    let (mut fresh_rates, mut duplicate_rates) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let mut target = Replica::new(NodeId(3));
        let copy = entries.clone();
        let started = Instant::now();
        for entry in copy {
            target.merge(entry);
        }
        fresh_rates.push(n as f64 / started.elapsed().as_secs_f64());
        assert_eq!(target.state_hash(), source.state_hash());
        let copy = entries.clone();
        let started = Instant::now();
        for entry in copy {
            target.merge(entry);
        }
        duplicate_rates.push(n as f64 / started.elapsed().as_secs_f64());
        drop(target.take_changes());
    }
    println!("(b) Replica::merge of {n} entries (readings, MACs, people) from another replica");
    println!(
        "    into an empty replica {:>12.0} entries/s (median of {reps})",
        median(fresh_rates)
    );
    println!(
        "    all duplicates        {:>12.0} entries/s (median of {reps})",
        median(duplicate_rates)
    );
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = f();
    println!(
        "    {what:<44} {:>9.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    result
}

fn bench_retention() {
    // A week of 3 nodes x 1 sensor x 3 quantities, every 10 s: 544 320 samples.
    let series = series_of(3, 1);
    let week = 7 * DAY_MS;
    let readings = (week / 10_000) as usize * series.len();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    let mut replica = Replica::new(NodeId(1));
    println!(
        "(c) a week of samples: {} series every 10 s = {readings} samples",
        series.len()
    );
    let batches = reading_batches(&mut replica, &series, T0, 10_000, readings);
    timed("ingest (Store::apply_all, 1000 per commit)", || {
        for changes in &batches {
            store.apply(changes).expect("apply");
        }
    });
    drop(batches);
    let policy = RetentionPolicy::default();
    // The first sample is at T0 + 10 s: at T0 + 7 days nothing is old enough to delete yet.
    let now = T0 + week;
    let first = timed("first run_retention (aggregates the week)", || {
        store.run_retention(now, &policy).expect("retention")
    });
    println!("      {first:?}");
    let hour = 60 * MINUTE_MS;
    let next = reading_batches(&mut replica, &series, now, 10_000, 360 * series.len());
    for changes in &next {
        store.apply(changes).expect("apply");
    }
    let hourly = timed("hourly run_retention (1 h new, 1 h expired)", || {
        store.run_retention(now + hour, &policy).expect("retention")
    });
    println!("      {hourly:?}");
    timed("run_retention again (nothing to do)", || {
        store.run_retention(now + hour, &policy).expect("retention")
    });
    let query = |from_ms, to_ms, step_ms| HistoryQuery {
        node: NodeId(1),
        sensor: "s0".into(),
        quantity: Quantity::Temperature,
        from_ms,
        to_ms,
        step_ms,
    };
    let points = timed("history: 7 days, 1 h buckets", || {
        store
            .history(&query(now - week, now + hour, hour))
            .expect("history")
    });
    println!("      {} points", points.len());
    let points = timed("history: 1 day, 1 min buckets", || {
        store
            .history(&query(now - DAY_MS, now, MINUTE_MS))
            .expect("history")
    });
    println!("      {} points", points.len());
    let stats = timed("stats, first call (counts the tables)", || {
        store.stats().expect("stats")
    });
    timed("stats, later calls", || store.stats().expect("stats"));
    println!("      {stats:?}");
}

fn main() {
    let reps: usize = std::env::var("STORE_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(5);
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    println!(
        "officemesh storage benchmarks ({} logical CPUs, databases in {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::temp_dir().display()
    );
    bench_ingest(reps);
    bench_merge(reps);
    bench_retention();
}
