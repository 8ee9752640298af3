//! Retention and downsampling of the sample history: folds complete minutes of raw samples into
//! one-minute aggregates (`samples_1m`), then deletes raw samples and aggregates that are older
//! than the policy keeps, all in one transaction. The same rule runs on every node.
//! The policy is this module's own `RetentionPolicy`: the store knows nothing of the config.
//!
//! Only touches the `samples`, `samples_1m` and `retention` tables; never the replicated
//! `entries` or `watermarks`.

use rusqlite::{params, Transaction};
use serde::Serialize;

use super::{sql_ms, Store, StoreError};

/// One minute in milliseconds: the width of an aggregate.
pub const MINUTE_MS: u64 = 60_000;
/// One day in milliseconds.
pub const DAY_MS: u64 = 86_400_000;

/// How long the sample history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    /// Raw samples are kept this many days.
    pub raw_days: u32,
    /// One-minute aggregates are kept this many days. Never less than `raw_days` in effect: an
    /// aggregate is kept at least as long as the raw samples it summarizes.
    pub aggregate_days: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            raw_days: 7,
            aggregate_days: 90,
        }
    }
}

/// What one `run_retention` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RetentionReport {
    /// Raw samples folded into aggregates by this run.
    pub samples_aggregated: u64,
    /// Aggregate rows created by this run.
    pub aggregates_created: u64,
    /// Existing aggregate rows that late samples were folded into.
    pub aggregates_updated: u64,
    /// Raw samples deleted (older than `raw_days`).
    pub raw_deleted: u64,
    /// Aggregate rows deleted (older than `aggregate_days`).
    pub aggregates_deleted: u64,
}

/// The time limits one run works with, all on minute boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cutoffs {
    /// Samples before this are in complete minutes and get aggregated.
    complete_before_ms: u64,
    /// Raw samples before this are deleted.
    raw_before_ms: u64,
    /// Aggregates of minutes starting before this are deleted.
    aggregate_before_ms: u64,
}

impl Cutoffs {
    fn new(now_ms: u64, policy: &RetentionPolicy) -> Cutoffs {
        let floor_minute = |t: u64| t - t % MINUTE_MS;
        let complete_before_ms = floor_minute(now_ms);
        let raw_before_ms =
            floor_minute(now_ms.saturating_sub(u64::from(policy.raw_days) * DAY_MS))
                .min(complete_before_ms);
        let aggregate_days = policy.aggregate_days.max(policy.raw_days);
        let aggregate_before_ms =
            floor_minute(now_ms.saturating_sub(u64::from(aggregate_days) * DAY_MS))
                .min(raw_before_ms);
        Cutoffs {
            complete_before_ms,
            raw_before_ms,
            aggregate_before_ms,
        }
    }
}

/// One series of samples: node, sensor, quantity (as stored).
type Series = (i64, String, String);

impl Store {
    /// Aggregates every complete minute of raw samples not yet aggregated (late samples are
    /// folded into the minute's existing aggregate), deletes raw samples older than
    /// `policy.raw_days` and aggregates older than `policy.aggregate_days`, in one transaction.
    /// Running it again with the same `now_ms` changes nothing. Meant to run hourly.
    pub fn run_retention(
        &mut self,
        now_ms: u64,
        policy: &RetentionPolicy,
    ) -> Result<RetentionReport, StoreError> {
        let cutoffs = Cutoffs::new(now_ms, policy);
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        let mut report =
            aggregate_complete_minutes(&tx, cutoffs.complete_before_ms).map_err(wrap)?;
        for series in all_aggregated_series(&tx).map_err(wrap)? {
            let (raw, aggregates) = delete_old(&tx, &series, &cutoffs).map_err(wrap)?;
            report.raw_deleted += raw;
            report.aggregates_deleted += aggregates;
        }
        tx.execute(
            "UPDATE retention SET raw_complete_from_ms = MAX(raw_complete_from_ms, ?1)
             WHERE id = 1",
            params![sql_ms(cutoffs.raw_before_ms)],
        )
        .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        self.counts.after_retention(&report);
        Ok(report)
    }
}

/// Folds every unaggregated sample of a complete minute into its minute's aggregate and marks
/// it aggregated. Reads only the unaggregated samples through their partial index (left to
/// itself, SQLite scans the whole table to save a sort).
fn aggregate_complete_minutes(
    tx: &Transaction<'_>,
    complete_before_ms: u64,
) -> rusqlite::Result<RetentionReport> {
    let mut report = RetentionReport::default();
    let mut pending = tx.prepare_cached(
        "SELECT node, sensor, quantity, (t_ms / 60000) * 60000 AS minute,
                MIN(value), MAX(value), SUM(value), COUNT(*),
                SUM(CASE WHEN quantity = 'sound' THEN db_energy(value) END)
         FROM samples INDEXED BY samples_unaggregated
         WHERE aggregated = 0 AND t_ms < ?1
         GROUP BY node, sensor, quantity, minute",
    )?;
    let mut fold = tx.prepare_cached(
        "UPDATE samples_1m SET min = MIN(min, ?5), max = MAX(max, ?6), sum = sum + ?7,
                count = count + ?8, energy_sum = energy_sum + ?9
         WHERE node = ?1 AND sensor = ?2 AND quantity = ?3 AND minute_start_ms = ?4",
    )?;
    let mut create = tx.prepare_cached(
        "INSERT INTO samples_1m (node, sensor, quantity, minute_start_ms, min, max, sum, count,
                                 energy_sum)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut rows = pending.query(params![sql_ms(complete_before_ms)])?;
    while let Some(row) = rows.next()? {
        let node: i64 = row.get(0)?;
        let sensor: String = row.get(1)?;
        let quantity: String = row.get(2)?;
        let minute: i64 = row.get(3)?;
        let min: f64 = row.get(4)?;
        let max: f64 = row.get(5)?;
        let sum: f64 = row.get(6)?;
        let count: i64 = row.get(7)?;
        // Sound levels only (NULL for other quantities).
        let energy_sum: Option<f64> = row.get(8)?;
        let values = params![node, sensor, quantity, minute, min, max, sum, count, energy_sum];
        if fold.execute(values)? == 0 {
            create.execute(values)?;
            report.aggregates_created += 1;
        } else {
            report.aggregates_updated += 1;
        }
    }
    report.samples_aggregated = tx.execute(
        "UPDATE samples SET aggregated = 1 WHERE aggregated = 0 AND t_ms < ?1",
        params![sql_ms(complete_before_ms)],
    )? as u64;
    Ok(report)
}

/// Every series that has aggregates, by skipping through the primary key (one index seek per
/// series, not a scan of the table). After aggregation, every raw sample old enough to delete
/// belongs to one of them.
fn all_aggregated_series(tx: &Transaction<'_>) -> rusqlite::Result<Vec<Series>> {
    let mut next = tx.prepare_cached(
        "SELECT node, sensor, quantity FROM samples_1m
         WHERE (node, sensor, quantity) > (?1, ?2, ?3)
         ORDER BY node, sensor, quantity LIMIT 1",
    )?;
    let mut all: Vec<Series> = Vec::new();
    // Node ids are stored as `u64 as i64`, so every key is above (i64::MIN, '', ''): sensor
    // names are never empty.
    let mut after: Series = (i64::MIN, String::new(), String::new());
    loop {
        let mut rows = next.query(params![after.0, after.1, after.2])?;
        match rows.next()? {
            Some(row) => {
                let series: Series = (row.get(0)?, row.get(1)?, row.get(2)?);
                after = series.clone();
                all.push(series);
            }
            None => return Ok(all),
        }
    }
}

/// Deletes one series' raw samples and aggregates older than the cutoffs; returns how many of
/// each.
fn delete_old(
    tx: &Transaction<'_>,
    (node, sensor, quantity): &Series,
    cutoffs: &Cutoffs,
) -> rusqlite::Result<(u64, u64)> {
    let raw = tx
        .prepare_cached(
            "DELETE FROM samples
             WHERE node = ?1 AND sensor = ?2 AND quantity = ?3 AND t_ms < ?4",
        )?
        .execute(params![
            node,
            sensor,
            quantity,
            sql_ms(cutoffs.raw_before_ms)
        ])?;
    let aggregates = tx
        .prepare_cached(
            "DELETE FROM samples_1m
             WHERE node = ?1 AND sensor = ?2 AND quantity = ?3 AND minute_start_ms < ?4",
        )?
        .execute(params![
            node,
            sensor,
            quantity,
            sql_ms(cutoffs.aggregate_before_ms)
        ])?;
    Ok((raw as u64, aggregates as u64))
}

#[cfg(test)]
mod cutoff_tests {
    use super::*;

    #[test]
    fn cutoffs_fall_on_minutes_and_aggregates_outlive_raw_samples() {
        let now = 10 * DAY_MS + 5 * MINUTE_MS + 1_234;
        let cutoffs = Cutoffs::new(
            now,
            &RetentionPolicy {
                raw_days: 7,
                aggregate_days: 2,
            },
        );
        assert_eq!(cutoffs.complete_before_ms, 10 * DAY_MS + 5 * MINUTE_MS);
        assert_eq!(cutoffs.raw_before_ms, 3 * DAY_MS + 5 * MINUTE_MS);
        assert_eq!(cutoffs.aggregate_before_ms, cutoffs.raw_before_ms);
        let young = Cutoffs::new(MINUTE_MS + 1, &RetentionPolicy::default());
        assert_eq!(
            (young.raw_before_ms, young.aggregate_before_ms),
            (0, 0),
            "nothing is old enough to delete right after the epoch"
        );
    }
}
