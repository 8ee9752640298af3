//! The store-and-forward buffer: this node's readings waiting for the broker's acknowledgement,
//! in their own small SQLite file `<data_dir>/mqtt-buffer.sqlite` (rusqlite, WAL), separate from
//! the replicated-state database in `crate::store` (which this module never touches).
//!
//! Every captured reading is appended with the next `seq` (AUTOINCREMENT: never reused, so
//! sequence numbers keep increasing across restarts); the publisher reads rows in `seq` order
//! and deletes them once acknowledged. The buffer is bounded: past `max` rows, rows already
//! delivered (acknowledged but not deleted yet) go first, then the oldest undelivered ones are
//! dropped, and the caller is told how many of those — only rows really lost count as dropped.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

/// The buffer file's name inside the data directory.
pub const FILE_NAME: &str = "mqtt-buffer.sqlite";

/// A reading waiting to be published.
#[derive(Debug, Clone, PartialEq)]
pub struct BufferedReading {
    pub sensor: String,
    pub quantity: String,
    pub value: f64,
    pub unit: String,
    pub status: String,
    pub room: String,
    pub taken_at_ms: u64,
}

/// The buffer file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    #[error("MQTT buffer {path}: {source} (check that the data directory is writable; deleting the file loses only unpublished readings)")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("MQTT buffer task failed: {0} (a bug: please report it with the log)")]
    Task(String),
}

/// The open buffer.
pub struct Buffer {
    conn: Connection,
    path: PathBuf,
    max: u64,
}

impl Buffer {
    /// Opens (creating if needed) `<data_dir>/mqtt-buffer.sqlite`, keeping at most `max` rows.
    pub fn open(data_dir: &Path, max: u64) -> Result<Buffer, BufferError> {
        let path = data_dir.join(FILE_NAME);
        let wrap = |source| BufferError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(wrap)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS outbox (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 sensor TEXT NOT NULL,
                 quantity TEXT NOT NULL,
                 value REAL NOT NULL,
                 unit TEXT NOT NULL,
                 status TEXT NOT NULL,
                 room TEXT NOT NULL,
                 taken_at_ms INTEGER NOT NULL
             );",
        )
        .map_err(wrap)?;
        Ok(Buffer {
            conn,
            path,
            max: max.max(1),
        })
    }

    fn wrap(&self, source: rusqlite::Error) -> BufferError {
        BufferError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Appends `readings` in one transaction, then, beyond the bound, deletes rows the broker
    /// already acknowledged (`seq <= delivered_through`) and only then drops the oldest others.
    /// Returns how many undelivered rows were dropped.
    pub fn push(
        &mut self,
        readings: &[BufferedReading],
        delivered_through: u64,
    ) -> Result<u64, BufferError> {
        let path = self.path.clone();
        let wrap = move |source| BufferError::Sqlite {
            path: path.clone(),
            source,
        };
        let max = self.max;
        let tx = self.conn.transaction().map_err(&wrap)?;
        let dropped = (|| {
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO outbox (sensor, quantity, value, unit, status, room, taken_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for r in readings {
                    insert.execute(params![
                        r.sensor,
                        r.quantity,
                        r.value,
                        r.unit,
                        r.status,
                        r.room,
                        r.taken_at_ms as i64
                    ])?;
                }
            }
            let count_rows = |tx: &rusqlite::Transaction<'_>| {
                tx.query_row("SELECT COUNT(*) FROM outbox", [], |row| row.get::<_, i64>(0))
            };
            let mut count = count_rows(&tx)?;
            if (count as u64) > max {
                // Delivered rows are not lost: make room with them first.
                tx.execute(
                    "DELETE FROM outbox WHERE seq <= ?1",
                    params![delivered_through as i64],
                )?;
                count = count_rows(&tx)?;
            }
            let excess = (count as u64).saturating_sub(max);
            if excess > 0 {
                tx.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?1)",
                    params![excess as i64],
                )?;
            }
            Ok::<u64, rusqlite::Error>(excess)
        })()
        .map_err(&wrap)?;
        tx.commit().map_err(&wrap)?;
        Ok(dropped)
    }

    /// Up to `limit` rows with `seq > after`, in `seq` order.
    pub fn after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, BufferedReading)>, BufferError> {
        let read = || {
            let mut stmt = self.conn.prepare_cached(
                "SELECT seq, sensor, quantity, value, unit, status, room, taken_at_ms
                 FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after as i64, limit as i64], |row| {
                Ok((
                    row.get::<_, i64>(0)? as u64,
                    BufferedReading {
                        sensor: row.get(1)?,
                        quantity: row.get(2)?,
                        value: row.get(3)?,
                        unit: row.get(4)?,
                        status: row.get(5)?,
                        room: row.get(6)?,
                        taken_at_ms: row.get::<_, i64>(7)? as u64,
                    },
                ))
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        };
        read().map_err(|e| self.wrap(e))
    }

    /// Deletes every row with `seq <= through` (acknowledged by the broker).
    pub fn remove_through(&mut self, through: u64) -> Result<(), BufferError> {
        self.conn
            .execute(
                "DELETE FROM outbox WHERE seq <= ?1",
                params![through as i64],
            )
            .map_err(|e| self.wrap(e))?;
        Ok(())
    }

    /// Rows waiting.
    /// The most rows it keeps (`mqtt.buffer_max`).
    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn len(&self) -> Result<u64, BufferError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(|e| self.wrap(e))
    }

    pub fn is_empty(&self) -> Result<bool, BufferError> {
        Ok(self.len()? == 0)
    }

    /// The highest `seq` ever given to a reading in this file (0 when none).
    pub fn last_seq(&self) -> Result<u64, BufferError> {
        let read = || {
            self.conn
                .query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'",
                    [],
                    |row| row.get::<_, i64>(0),
                )
                .map(|n| n as u64)
        };
        read().map_err(|e| self.wrap(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(taken_at_ms: u64) -> BufferedReading {
        BufferedReading {
            sensor: "desk".into(),
            quantity: "temperature".into(),
            value: 20.0 + taken_at_ms as f64 / 1000.0,
            unit: "°C".into(),
            status: "ok".into(),
            room: "lobby".into(),
            taken_at_ms,
        }
    }

    #[test]
    fn rows_come_back_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut buffer = Buffer::open(dir.path(), 100).expect("open");
        buffer
            .push(&[reading(1000), reading(2000)], 0)
            .expect("push");
        buffer.push(&[reading(3000)], 0).expect("push");
        let rows = buffer.after(0, 10).expect("read");
        assert_eq!(
            rows.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(rows[2].1, reading(3000));
        assert_eq!(buffer.after(1, 1).expect("read")[0].0, 2);
        buffer.remove_through(2).expect("remove");
        drop(buffer);

        let mut reopened = Buffer::open(dir.path(), 100).expect("reopen");
        let rows = reopened.after(0, 10).expect("read");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0], (3, reading(3000)));
        reopened.remove_through(3).expect("remove");
        assert!(reopened.is_empty().expect("len"));
        assert_eq!(reopened.last_seq().expect("last seq"), 3);
        reopened.push(&[reading(4000)], 0).expect("push");
        assert_eq!(
            reopened.after(0, 10).expect("read")[0].0,
            4,
            "sequence numbers are never reused"
        );
    }

    #[test]
    fn the_oldest_rows_are_dropped_beyond_the_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut buffer = Buffer::open(dir.path(), 5).expect("open");
        let first: Vec<BufferedReading> = (1..=4).map(|i| reading(i * 1000)).collect();
        assert_eq!(buffer.push(&first, 0).expect("push"), 0);
        let more: Vec<BufferedReading> = (5..=8).map(|i| reading(i * 1000)).collect();
        assert_eq!(buffer.push(&more, 0).expect("push"), 3);
        let rows = buffer.after(0, 100).expect("read");
        assert_eq!(
            rows.iter().map(|(_, r)| r.taken_at_ms).collect::<Vec<_>>(),
            vec![4000, 5000, 6000, 7000, 8000],
            "the newest five are kept"
        );
        assert_eq!(buffer.len().expect("len"), 5);
    }

    #[test]
    fn delivered_rows_at_the_bound_are_not_counted_as_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut buffer = Buffer::open(dir.path(), 5).expect("open");
        let first: Vec<BufferedReading> = (1..=5).map(|i| reading(i * 1000)).collect();
        assert_eq!(buffer.push(&first, 0).expect("push"), 0);
        // Rows 1..=3 were acknowledged but not deleted yet; three more arrive.
        let more: Vec<BufferedReading> = (6..=8).map(|i| reading(i * 1000)).collect();
        assert_eq!(buffer.push(&more, 3).expect("push"), 0, "nothing was lost");
        assert_eq!(buffer.len().expect("len"), 5);
        // One more with nothing delivered: one undelivered row is really dropped.
        assert_eq!(buffer.push(&[reading(9000)], 3).expect("push"), 1);
    }
}
