//! Size figures of the database for `/metrics`: file bytes and row counts. The big counts
//! (samples, aggregates) are counted once, then kept up to date from what each write changed,
//! so a scrape never scans millions of rows.
//!
//! Read-only towards the database.

use std::cell::Cell;

use serde::Serialize;

use super::{RetentionReport, Store, StoreError};

/// How big the database is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct StoreStats {
    /// Bytes on disk: the database file plus its write-ahead log.
    pub file_bytes: u64,
    /// Replicated entries (tombstones included).
    pub entries: u64,
    /// Raw samples in the history.
    pub samples: u64,
    /// One-minute aggregate rows.
    pub aggregates: u64,
}

/// Row counts of the history tables once known; `None` until first asked for.
#[derive(Debug, Default)]
pub(super) struct HistoryCounts(Cell<Option<(u64, u64)>>);

impl HistoryCounts {
    /// After a committed write that inserted `samples` new raw samples.
    pub(super) fn after_insert(&self, samples: u64) {
        if let Some((held, aggregates)) = self.0.get() {
            self.0.set(Some((held + samples, aggregates)));
        }
    }

    /// After a committed retention run.
    pub(super) fn after_retention(&self, report: &RetentionReport) {
        if let Some((samples, aggregates)) = self.0.get() {
            self.0.set(Some((
                samples.saturating_sub(report.raw_deleted),
                (aggregates + report.aggregates_created).saturating_sub(report.aggregates_deleted),
            )));
        }
    }
}

impl Store {
    /// File size and row counts. The first call counts the history tables (a full scan); later
    /// calls are cheap.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let count = |table: &str| -> Result<u64, StoreError> {
            self.conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                    row.get::<_, i64>(0)
                })
                .map(|n| n as u64)
                .map_err(|e| self.err(e))
        };
        let (samples, aggregates) = match self.counts.0.get() {
            Some(known) => known,
            None => {
                let known = (count("samples")?, count("samples_1m")?);
                self.counts.0.set(Some(known));
                known
            }
        };
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
        Ok(StoreStats {
            file_bytes: size(&self.path) + size(std::path::Path::new(&wal)),
            entries: count("entries")?,
            samples,
            aggregates,
        })
    }
}
