//! Helpers shared by the store's tests: a store in a temporary directory, readings written
//! through a real `Replica`, and reference computations of the expected aggregates straight from
//! the inputs. Test-only.

use std::collections::BTreeMap;

use officemesh_sensors::Quantity;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::state::{ReadingStatus, ReadingValue};

/// One raw sample as the tests generate it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t_ms: u64,
    pub value: f64,
}

/// Expected (min, max, sum, count) per bucket start.
pub type Expected = BTreeMap<u64, (f64, f64, f64, u64)>;

/// A store in a fresh temporary directory and a replica writing readings into it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub replica: Replica,
    /// The next HLC time: writes get strictly increasing stamps whatever their `taken_at_ms`.
    clock: u64,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        Fixture {
            dir,
            store,
            replica: Replica::new(NodeId(42)),
            clock: 1,
        }
    }

    pub fn me(&self) -> NodeId {
        self.replica.me()
    }

    /// Writes every sample as a reading of `sensor`/`quantity` and persists them in one batch.
    pub fn ingest(&mut self, sensor: &str, quantity: Quantity, samples: &[Sample]) {
        for sample in samples {
            let me = self.me();
            self.replica
                .write(
                    Key::Reading {
                        node: me,
                        sensor: sensor.to_string(),
                        quantity,
                    },
                    Some(Value::Reading(ReadingValue {
                        value: sample.value,
                        unit: quantity.unit().into(),
                        room: "lobby".into(),
                        status: ReadingStatus::Ok,
                        taken_at_ms: sample.t_ms,
                    })),
                    Stamp::new(self.clock, me),
                )
                .expect("stamps only grow");
            self.clock += 1;
        }
        self.store
            .apply(&self.replica.take_changes())
            .expect("apply");
    }

    pub fn query(
        &self,
        sensor: &str,
        quantity: Quantity,
        from_ms: u64,
        to_ms: u64,
        step_ms: u64,
    ) -> Vec<HistoryPoint> {
        self.store
            .history(&HistoryQuery {
                node: self.me(),
                sensor: sensor.to_string(),
                quantity,
                from_ms,
                to_ms,
                step_ms,
            })
            .expect("history")
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.store
            .conn
            .query_row(sql, [], |row| row.get(0))
            .expect("count query")
    }

    /// Every row of the history tables, as text, for before/after comparisons.
    pub fn dump(&self) -> Vec<String> {
        let mut rows = Vec::new();
        for sql in [
            "SELECT node, sensor, quantity, t_ms, value, aggregated FROM samples ORDER BY 1, 2, 3, 4",
            "SELECT node, sensor, quantity, minute_start_ms, min, max, sum, count FROM samples_1m
             ORDER BY 1, 2, 3, 4",
            "SELECT raw_complete_from_ms, 0, 0, 0, 0, 0 FROM retention",
        ] {
            let mut statement = self.store.conn.prepare(sql).expect("prepare");
            let width = statement.column_count();
            let mut result = statement.query([]).expect("query");
            while let Some(row) = result.next().expect("row") {
                let cells: Vec<String> = (0..width)
                    .map(|i| format!("{:?}", row.get_ref(i).expect("cell")))
                    .collect();
                rows.push(cells.join("|"));
            }
        }
        rows
    }
}

/// `n` samples from `start_ms`, `gap_ms` apart (random in the range), values on a quarter grid
/// (so sums are exact in f64, whatever the order of addition).
pub fn random_samples(
    seed: u64,
    start_ms: u64,
    n: usize,
    gap_ms: std::ops::Range<u64>,
) -> Vec<Sample> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut t = start_ms;
    (0..n)
        .map(|_| {
            t += rng.gen_range(gap_ms.clone());
            Sample {
                t_ms: t,
                value: f64::from(rng.gen_range(-40i32..160)) * 0.25,
            }
        })
        .collect()
}

/// Buckets `samples` in `[from_ms, to_ms)` by `step_ms` from `from_ms`, keyed by bucket start.
pub fn bucket(samples: &[Sample], from_ms: u64, to_ms: u64, step_ms: u64) -> Expected {
    let mut expected = Expected::new();
    for sample in samples
        .iter()
        .filter(|s| s.t_ms >= from_ms && s.t_ms < to_ms)
    {
        let start = from_ms + (sample.t_ms - from_ms) / step_ms * step_ms;
        let slot = expected
            .entry(start)
            .or_insert((f64::INFINITY, f64::NEG_INFINITY, 0.0, 0));
        slot.0 = slot.0.min(sample.value);
        slot.1 = slot.1.max(sample.value);
        slot.2 += sample.value;
        slot.3 += 1;
    }
    expected
}

/// History points straight from the expected buckets.
pub fn points(expected: &Expected) -> Vec<HistoryPoint> {
    expected
        .iter()
        .map(|(t_ms, (min, max, sum, count))| HistoryPoint {
            t_ms: *t_ms,
            min: *min,
            max: *max,
            avg: sum / *count as f64,
            count: *count,
        })
        .collect()
}
