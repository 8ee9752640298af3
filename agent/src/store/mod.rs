//! SQLite persistence of the replica (rusqlite, bundled SQLite, WAL mode).
//!
//! - Entries and watermarks of the `Replica` are persisted from its `ChangeSet`s, one
//!   transaction per batch (SD cards wear out: never one transaction per reading).
//! - Every reading entry that passes through is also appended to the local `samples` history.
//! - `retention`: complete minutes of samples are folded into one-minute aggregates, and old
//!   samples and aggregates are deleted (`Store::run_retention`).
//! - `history`: bucketed history of one series (`Store::history`).
//! - `stats`: file size and row counts (`Store::stats`).
//! - `thread`: the store thread that owns the connection (`StoreHandle`).
//! - Schema changes are ordered migrations recorded in `PRAGMA user_version`.
//!
//! The only module that touches the replica's database (`mqtt::buffer` keeps its own file with
//! rusqlite). Knows nothing of config, sockets or gossip.

mod history;
mod retention;
mod schema;
mod stats;
mod thread;

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::crdt::{NodeId, Stamp};
use crate::state::{ChangeSet, Digest, Entry, Key, Replica, SafetyState, Value};

pub use history::{HistoryPoint, HistoryQuery};
pub use retention::{RetentionPolicy, RetentionReport, DAY_MS, MINUTE_MS};
pub use stats::StoreStats;
pub use thread::StoreHandle;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "officemesh.db";

/// Page size of a newly created database.
const PAGE_SIZE: i64 = 1024;

/// A storage failure. SQLite errors carry the database path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path}: row {key:?} is corrupt: {detail}")]
    Corrupt {
        path: PathBuf,
        key: String,
        detail: String,
    },
    #[error("database {path}: invalid query: {detail}")]
    InvalidQuery { path: PathBuf, detail: String },
    /// A commit shared by several writers failed; each writer gets the one cause.
    #[error("{0}")]
    CommitFailed(std::sync::Arc<StoreError>),
    /// The store thread is gone (the agent is stopping).
    #[error("the store thread has stopped")]
    Stopped,
}

/// `SQLITE_IOERR_WRITE`: what some file systems give instead of `SQLITE_FULL` when full.
const SQLITE_IOERR_WRITE: std::ffi::c_int = 4874;

impl StoreError {
    /// True when SQLite could not write because the disk (the data directory's file system)
    /// is full.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Sqlite { source, .. } => {
                source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
                    || matches!(
                        source,
                        rusqlite::Error::SqliteFailure(e, _) if e.extended_code == SQLITE_IOERR_WRITE
                    )
            }
            StoreError::CommitFailed(inner) => inner.is_disk_full(),
            _ => false,
        }
    }
}

/// A time in milliseconds as SQLite stores it: INTEGER is an i64 (enough for 292 million years;
/// larger values saturate).
fn sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The node's database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    counts: stats::HistoryCounts,
}

impl Store {
    /// Opens (creating if needed) `data_dir/officemesh.db`, in WAL mode, migrated to the latest
    /// schema.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| StoreError::Sqlite {
            path: path.clone(),
            source,
        })?;
        let mut store = Store {
            conn,
            path,
            counts: stats::HistoryCounts::default(),
        };
        store.configure()?;
        Ok(store)
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        // A new database gets 1 KiB pages: every commit appends each page it touched to the
        // WAL, and a batch touches a handful of pages (entries, their index, watermarks,
        // samples), so small pages are most of the SD-card budget (docs/performance.md,
        // "SD-card writes"). Only possible before the first table; older databases keep theirs.
        let objects: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .map_err(wrap)?;
        if objects == 0 {
            self.conn
                .pragma_update(None, "page_size", PAGE_SIZE)
                .map_err(wrap)?;
        }
        // WAL + synchronous=FULL: a commit that returned survives a power cut.
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(wrap)?;
        self.conn
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(wrap)?;
        history::register_functions(&self.conn).map_err(wrap)?;
        schema::migrate(&mut self.conn).map_err(wrap)?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Rebuilds the replica for node `me` from the database.
    pub fn load_replica(&self, me: NodeId) -> Result<Replica, StoreError> {
        let mut replica = Replica::from_parts(me, self.load_entries()?, self.load_watermarks()?);
        if let Some(state) = self.load_safety()? {
            replica.restore_safety(state);
        }
        Ok(replica)
    }

    /// Every stored entry, decoded (an opaque value this build knows the kind of, parsed).
    fn load_entries(&self) -> Result<Vec<Entry>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT key, value, stamp_time, stamp_node, version FROM entries")
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut entries = Vec::new();
        for row in rows {
            let (key_text, value_text, time, node, version) = row.map_err(|e| self.err(e))?;
            let corrupt = |detail: String| StoreError::Corrupt {
                path: self.path.clone(),
                key: key_text.clone(),
                detail,
            };
            let key: Key = key_text.parse().map_err(|e| corrupt(format!("{e}")))?;
            let value: Option<Value> = match value_text {
                Some(json) => {
                    Some(serde_json::from_str(&json).map_err(|e| corrupt(e.to_string()))?)
                }
                None => None,
            };
            // Kept as bytes by a build that did not know the kind; this one may know it.
            let value = match value {
                Some(Value::Opaque(bytes)) if !matches!(key, Key::Opaque(_)) => Some(
                    crate::state::opaque::value_from_bytes(&key, &bytes.bytes)
                        .map_err(|e| corrupt(e.to_string()))?,
                ),
                value => value,
            };
            entries.push(Entry {
                key,
                value,
                stamp: Stamp::new(time as u64, NodeId(node as u64)),
                version: version as u64,
            });
        }
        Ok(entries)
    }

    /// The stored per-origin watermarks.
    fn load_watermarks(&self) -> Result<Digest, StoreError> {
        let mut watermarks = Digest::new();
        let mut statement = self
            .conn
            .prepare("SELECT origin, version FROM watermarks")
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (origin, version) = row.map_err(|e| self.err(e))?;
            watermarks.insert(NodeId(origin as u64), version as u64);
        }
        Ok(watermarks)
    }

    /// The stored GC floors and reset progress, if any were written.
    fn load_safety(&self) -> Result<Option<SafetyState>, StoreError> {
        let safety: Option<String> = self
            .conn
            .query_row("SELECT state FROM safety WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(json) = safety else {
            return Ok(None);
        };
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                key: "safety".into(),
                detail: e.to_string(),
            })
    }

    /// The greatest stamp time persisted (for the clock floor after a restart).
    pub fn max_stamp_time(&self) -> Result<u64, StoreError> {
        let max: Option<i64> = self
            .conn
            .query_row("SELECT MAX(stamp_time) FROM entries", [], |row| row.get(0))
            .optional()
            .map_err(|e| self.err(e))?
            .flatten();
        Ok(max.unwrap_or(0) as u64)
    }

    /// Persists a change set in one transaction; readings also go to the sample history.
    /// When this returns Ok, the changes survive a crash or power cut.
    pub fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        self.apply_all(std::slice::from_ref(changes))
    }

    /// Persists several change sets, in order, in one transaction.
    pub fn apply_all(&mut self, batches: &[ChangeSet]) -> Result<(), StoreError> {
        if batches.iter().all(ChangeSet::is_empty) {
            return Ok(());
        }
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|source| sqlite_error(&path, source))?;
        let mut samples_inserted = 0u64;
        for changes in batches {
            upsert_entries(&tx, &path, &changes.upserts)?;
            samples_inserted += insert_samples(&tx, &path, &changes.readings)?;
            remove_entries_and_raise_watermarks(&tx, &path, changes)?;
            if let Some(safety) = &changes.safety {
                save_safety(&tx, &path, safety)?;
            }
        }
        tx.commit().map_err(|source| sqlite_error(&path, source))?;
        self.counts.after_insert(samples_inserted);
        Ok(())
    }

    /// Runs `PRAGMA integrity_check`; true when SQLite answers `ok`.
    pub fn integrity_ok(&self) -> Result<bool, StoreError> {
        let answer: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(|e| self.err(e))?;
        Ok(answer == "ok")
    }
}

fn sqlite_error(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

fn json_of<T: serde::Serialize>(path: &Path, key: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        key: key.to_string(),
        detail: e.to_string(),
    })
}

/// Writes entries (tombstones as a NULL value) over what the keys held.
fn upsert_entries(tx: &Transaction<'_>, path: &Path, entries: &[Entry]) -> Result<(), StoreError> {
    let wrap = |source| sqlite_error(path, source);
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO entries (key, value, stamp_time, stamp_node, version)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value,
                stamp_time = excluded.stamp_time, stamp_node = excluded.stamp_node,
                version = excluded.version",
        )
        .map_err(wrap)?;
    for entry in entries {
        let key = entry.key.to_string();
        let value_json = match &entry.value {
            Some(value) => Some(json_of(path, &key, value)?),
            None => None,
        };
        upsert
            .execute(params![
                key,
                value_json,
                entry.stamp.time as i64,
                entry.stamp.node.0 as i64,
                entry.version as i64
            ])
            .map_err(wrap)?;
    }
    Ok(())
}

/// Adds readings to the sample history (once each); returns how many rows were new.
fn insert_samples(
    tx: &Transaction<'_>,
    path: &Path,
    readings: &[Entry],
) -> Result<u64, StoreError> {
    let mut sample = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO samples (node, sensor, quantity, t_ms, value)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(|source| sqlite_error(path, source))?;
    let mut inserted = 0u64;
    for entry in readings {
        let (
            Key::Reading {
                node,
                sensor,
                quantity,
            },
            Some(Value::Reading(reading)),
        ) = (&entry.key, &entry.value)
        else {
            continue;
        };
        // SQLite stores NaN as NULL: a non-finite value has no place in a history.
        if !reading.value.is_finite() {
            continue;
        }
        inserted += sample
            .execute(params![
                node.0 as i64,
                sensor,
                quantity.as_str(),
                sql_ms(reading.taken_at_ms),
                reading.value
            ])
            .map_err(|source| sqlite_error(path, source))? as u64;
    }
    Ok(inserted)
}

fn remove_entries_and_raise_watermarks(
    tx: &Transaction<'_>,
    path: &Path,
    changes: &ChangeSet,
) -> Result<(), StoreError> {
    let wrap = |source| sqlite_error(path, source);
    let mut remove = tx
        .prepare_cached("DELETE FROM entries WHERE key = ?1")
        .map_err(wrap)?;
    for key in &changes.removed {
        remove.execute(params![key.to_string()]).map_err(wrap)?;
    }
    let mut watermark = tx
        .prepare_cached(
            "INSERT INTO watermarks (origin, version) VALUES (?1, ?2)
             ON CONFLICT(origin) DO UPDATE SET version = excluded.version",
        )
        .map_err(wrap)?;
    for (origin, version) in &changes.watermarks {
        watermark
            .execute(params![origin.0 as i64, *version as i64])
            .map_err(wrap)?;
    }
    Ok(())
}

/// The gossip safety state (one row), in the same transaction as the entries it describes.
fn save_safety(tx: &Transaction<'_>, path: &Path, safety: &SafetyState) -> Result<(), StoreError> {
    let json = json_of(path, "safety", safety)?;
    tx.execute(
        "INSERT INTO safety (id, state) VALUES (1, ?1)
         ON CONFLICT(id) DO UPDATE SET state = excluded.state",
        params![json],
    )
    .map_err(|source| sqlite_error(path, source))?;
    Ok(())
}

#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod retention_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
