//! Ordered schema migrations. `PRAGMA user_version` holds how many have run; `migrate` applies
//! the missing ones in one transaction. Append new migrations; never edit a released one.

use rusqlite::Connection;

/// Each migration is SQL run once, in order.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: replicated entries, watermarks, local sample history.
    "CREATE TABLE entries (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT,                       -- JSON of state::Value; NULL = tombstone
        stamp_time INTEGER NOT NULL,      -- HLC NTP64
        stamp_node INTEGER NOT NULL,      -- writer (origin) node id
        version INTEGER NOT NULL          -- version at the origin
    );
    CREATE INDEX entries_by_origin ON entries (stamp_node, version);
    CREATE TABLE watermarks (
        origin INTEGER PRIMARY KEY NOT NULL,
        version INTEGER NOT NULL
    );
    CREATE TABLE samples (
        node INTEGER NOT NULL,
        sensor TEXT NOT NULL,
        quantity TEXT NOT NULL,
        t_ms INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (node, sensor, quantity, t_ms)
    ) WITHOUT ROWID;",
    // 2: one-minute aggregates of samples, which samples are folded into them, and the time
    //    from which the raw history is complete (retention deletes raw samples before it).
    "ALTER TABLE samples ADD COLUMN aggregated INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX samples_unaggregated ON samples (t_ms) WHERE aggregated = 0;
    CREATE TABLE samples_1m (
        node INTEGER NOT NULL,
        sensor TEXT NOT NULL,
        quantity TEXT NOT NULL,
        minute_start_ms INTEGER NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        sum REAL NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (node, sensor, quantity, minute_start_ms)
    ) WITHOUT ROWID;
    CREATE TABLE retention (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        raw_complete_from_ms INTEGER NOT NULL  -- raw samples at or after this are all kept
    );
    INSERT INTO retention (id, raw_complete_from_ms) VALUES (1, 0);",
    // 3: what the gossip protocol's safety rests on besides entries and watermarks (GC floors
    //    and mark, reset progress): state::SafetyState as JSON, written in the same
    //    transaction as the entry changes it describes.
    "CREATE TABLE safety (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        state TEXT NOT NULL
    );",
    // 4: for sound levels (dB), the sum of each minute's sample energies, 10^(value/10), so they
    //    average as energy (a loud minute counts as loud); NULL for other quantities and for
    //    minutes folded before this.
    "ALTER TABLE samples_1m ADD COLUMN energy_sum REAL;",
];

/// Brings the database to the latest schema.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))? as usize;
    if current >= MIGRATIONS.len() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    for sql in &MIGRATIONS[current..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    tx.commit()
}

/// The schema version this build writes.
#[cfg_attr(not(test), allow(dead_code))]
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}
