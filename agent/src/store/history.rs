//! History queries over the sample history: one series, a time range, fixed-width buckets.
//! Raw samples answer where the raw history is complete; older minutes come from the one-minute
//! aggregates (plus any late raw sample not folded in yet), so no sample is counted twice.
//! Sound levels (dB) average as energy, through the `db_energy` SQL function registered here;
//! minutes folded before the store kept energy sums count as their arithmetic mean's energy.
//!
//! Read-only: never writes.

use std::collections::BTreeMap;

use officemesh_sensors::Quantity;
use rusqlite::params;
use serde::Serialize;

use super::{sql_ms, Store, StoreError};
use crate::crdt::NodeId;

/// Which history to read: one quantity of one sensor of one node, over `[from_ms, to_ms)`, in
/// buckets of `step_ms` starting at `from_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub node: NodeId,
    pub sensor: String,
    pub quantity: Quantity,
    pub from_ms: u64,
    pub to_ms: u64,
    /// Bucket width in milliseconds (at least 1). Below 60 000 only the raw part of the history
    /// has that resolution: an aggregated minute counts in the bucket where the minute starts.
    pub step_ms: u64,
}

/// One bucket of history. Only buckets holding samples are returned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPoint {
    /// Start of the bucket: `from_ms + k * step_ms`.
    pub t_ms: u64,
    pub min: f64,
    pub max: f64,
    /// The mean; for sound levels (dB) the energy mean, `10·log10(mean(10^(dB/10)))`, as sound
    /// level meters average (an hour of 40 dB with one minute of 80 dB averages 62 dB, not 41).
    pub avg: f64,
    /// How many samples the bucket summarizes.
    pub count: u64,
}

/// Running totals of one bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    min: f64,
    max: f64,
    sum: f64,
    /// Sum of 10^(value/10) (used for sound levels).
    energy_sum: f64,
    count: u64,
}

impl Bucket {
    fn join(&mut self, other: Bucket) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.energy_sum += other.energy_sum;
        self.count += other.count;
    }

    fn mean(&self, quantity: Quantity) -> f64 {
        let count = self.count as f64;
        match quantity {
            Quantity::Sound => 10.0 * (self.energy_sum / count).log10(),
            _ => self.sum / count,
        }
    }
}

/// The largest level (dB, either sign) `db_energy` takes as it is.
const MAX_LEVEL_DB: f64 = 300.0;

/// Registers `db_energy(x)` = 10^(x/10) on the connection (SQLite has no power function
/// unless built with its math extension).
pub(super) fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "db_energy",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            // Clamped so that no value (a misconfigured calibration, a bad sensor) overflows a
            // sum to infinity: ±300 dB is far beyond any sound.
            let db: f64 = ctx.get(0)?;
            Ok(10f64.powf(db.clamp(-MAX_LEVEL_DB, MAX_LEVEL_DB) / 10.0))
        },
    )
}

impl Store {
    /// The history of one series, bucketed by `query.step_ms`, oldest bucket first. Raw samples
    /// where the raw history is complete, one-minute aggregates before that. An aggregated
    /// minute is included when it starts inside `[from_ms, to_ms)`.
    pub fn history(&self, query: &HistoryQuery) -> Result<Vec<HistoryPoint>, StoreError> {
        let step = self.step_of(query)?;
        if query.from_ms >= query.to_ms {
            return Ok(Vec::new());
        }
        let from = sql_ms(query.from_ms);
        let to = sql_ms(query.to_ms);
        let node = query.node.0 as i64;
        let quantity = query.quantity.as_str();
        let raw_complete_from = self.raw_complete_from()?;
        let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
        let args = (
            node,
            query.sensor.as_str(),
            quantity,
            from,
            to,
            step,
            raw_complete_from,
        );
        // Raw samples: all of them where the raw history is complete; before that only those
        // not folded into an aggregate yet.
        self.add_buckets(
            &mut buckets,
            "SELECT (t_ms - ?4) / ?6 AS bucket, MIN(value), MAX(value), SUM(value), COUNT(*),
                    SUM(db_energy(value))
             FROM samples
             WHERE node = ?1 AND sensor = ?2 AND quantity = ?3 AND t_ms >= ?4 AND t_ms < ?5
               AND (t_ms >= ?7 OR aggregated = 0)
             GROUP BY bucket",
            args,
        )?;
        self.add_buckets(
            &mut buckets,
            "SELECT (minute_start_ms - ?4) / ?6 AS bucket, MIN(min), MAX(max), SUM(sum),
                    SUM(count), SUM(COALESCE(energy_sum, count * db_energy(sum / count)))
             FROM samples_1m
             WHERE node = ?1 AND sensor = ?2 AND quantity = ?3 AND minute_start_ms >= ?4
               AND minute_start_ms < MIN(?5, ?7)
             GROUP BY bucket",
            args,
        )?;
        Ok(buckets
            .into_iter()
            .map(|(index, bucket)| HistoryPoint {
                t_ms: query.from_ms + index as u64 * query.step_ms,
                min: bucket.min,
                max: bucket.max,
                avg: bucket.mean(query.quantity),
                count: bucket.count,
            })
            .collect())
    }

    /// `query.step_ms` as SQL's integer, refused when 0 or beyond `i64::MAX`.
    fn step_of(&self, query: &HistoryQuery) -> Result<i64, StoreError> {
        i64::try_from(query.step_ms)
            .ok()
            .filter(|step| *step > 0)
            .ok_or_else(|| StoreError::InvalidQuery {
                path: self.path.clone(),
                detail: format!(
                    "step_ms must be between 1 and {}, not {}",
                    i64::MAX,
                    query.step_ms
                ),
            })
    }

    /// Where the raw history is complete (before it, only one-minute aggregates).
    fn raw_complete_from(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT raw_complete_from_ms FROM retention WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .map_err(|e| self.err(e))
    }
}

/// The parameters of a bucket query: node, sensor, quantity, from, to, step, and the time from
/// which the raw history is complete.
type BucketArgs<'a> = (i64, &'a str, &'a str, i64, i64, i64, i64);

impl Store {
    /// Runs one bucket query (`bucket, min, max, sum, count, energy sum` per row) and merges its
    /// rows into `buckets`.
    fn add_buckets(
        &self,
        buckets: &mut BTreeMap<i64, Bucket>,
        sql: &str,
        args: BucketArgs<'_>,
    ) -> Result<(), StoreError> {
        let mut statement = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let (node, sensor, quantity, from, to, step, raw_complete_from) = args;
        let mut rows = statement
            .query(params![
                node,
                sensor,
                quantity,
                from,
                to,
                step,
                raw_complete_from
            ])
            .map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let read = || -> rusqlite::Result<(i64, Bucket)> {
                Ok((
                    row.get(0)?,
                    Bucket {
                        min: row.get(1)?,
                        max: row.get(2)?,
                        sum: row.get(3)?,
                        count: row.get::<_, i64>(4)? as u64,
                        energy_sum: row.get(5)?,
                    },
                ))
            };
            let (index, bucket) = read().map_err(|e| self.err(e))?;
            buckets
                .entry(index)
                .and_modify(|held| held.join(bucket))
                .or_insert(bucket);
        }
        Ok(())
    }
}
