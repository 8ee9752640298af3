//! `Shared`: the state every task of a running agent shares — the node's identity and config,
//! its clock, the in-memory replica and the way to make writes durable (`StoreHandle`), the
//! peer table gossip publishes, local-write notifications, counters and the mesh event log.
//!
//! The faces (API, chat, MQTT, alerts, events) depend on this and on the core, never on
//! `runtime` (which starts the loops). Locks: `replica` is a std `Mutex` held only for short,
//! synchronous work; never across an `.await`.
//! Must not touch: sockets, SQLite directly (only through `StoreHandle`), sensors.

use std::sync::{Mutex, MutexGuard};

use crate::clock::Clock;
use crate::config::Config;
use crate::counters::Counters;
use crate::crdt::NodeId;
use crate::events::EventLog;
use crate::peer::PeerStatus;
use crate::sensor_health::SensorBoard;
use crate::state::query::{self, Completeness};
use crate::state::{Entry, Key, Replica, StaleWrite, Value};
use crate::store::{
    HistoryPoint, HistoryQuery, RetentionReport, StoreError, StoreHandle, StoreStats,
};
use crate::sync::lock;

/// Everything the agent's tasks share.
pub struct Shared {
    pub config: Config,
    pub node: NodeId,
    /// `node.name`, or the host name.
    pub name: String,
    pub clock: Clock,
    pub started_at_ms: u64,
    replica: Mutex<Replica>,
    store: StoreHandle,
    /// Peers as the gossip layer sees them; empty until gossip runs.
    pub peers: PeerTable,
    /// Every local write, as written (the MQTT publisher subscribes to this node's readings).
    pub local_writes: tokio::sync::broadcast::Sender<Entry>,
    /// Counters and gauges for `GET /metrics` (gossip, MQTT and errors fill them).
    pub counters: Counters,
    /// What this node saw happen to the mesh (`GET /v1/events`); the gossip driver fills it.
    pub events: EventLog,
    /// This node's sensors as their loops last saw them (`GET /v1/sensors`).
    pub sensors: SensorBoard,
}

/// The peer table as the gossip driver last published it.
#[derive(Debug, Default)]
pub struct PeerTable(Mutex<Vec<PeerStatus>>);

impl PeerTable {
    /// A snapshot of the table.
    pub fn snapshot(&self) -> Vec<PeerStatus> {
        lock(&self.0).clone()
    }

    /// Replaces the table (the gossip driver, once per round).
    pub fn publish(&self, peers: Vec<PeerStatus>) {
        *lock(&self.0) = peers;
    }
}

/// A write could not be made durable.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Stale(#[from] StaleWrite),
    #[error("{key}: values must be finite numbers (not NaN or infinity)")]
    NotFinite { key: String },
    #[error("could not persist the write: {0}")]
    Persist(#[from] StoreError),
}

impl Shared {
    /// Puts the parts together; `runtime::Agent::start` is the one caller.
    pub fn new(
        config: Config,
        node: NodeId,
        name: String,
        clock: Clock,
        started_at_ms: u64,
        replica: Replica,
        store: StoreHandle,
    ) -> Shared {
        Shared {
            sensors: SensorBoard::new(&config.sensors),
            config,
            node,
            name,
            clock,
            started_at_ms,
            replica: Mutex::new(replica),
            store,
            peers: PeerTable::default(),
            local_writes: tokio::sync::broadcast::channel(4096).0,
            counters: Counters::default(),
            events: EventLog::default(),
        }
    }

    /// Locks the replica for short synchronous work.
    pub fn replica(&self) -> MutexGuard<'_, Replica> {
        lock(&self.replica)
    }

    /// Writes `value` (or a tombstone) as this node, stamped now. Persisted with the next batch.
    /// Refuses NaN and infinite numbers, which the store's JSON encoding cannot keep.
    pub fn write(&self, key: Key, value: Option<Value>) -> Result<Entry, WriteError> {
        if !crate::state::replica::numbers_are_finite(&value) {
            return Err(WriteError::NotFinite {
                key: key.to_string(),
            });
        }
        let stamp = self.clock.now();
        let entry = self.replica().write(key, value, stamp)?;
        if self.local_writes.receiver_count() > 0 {
            let _ = self.local_writes.send(entry.clone());
        }
        Ok(entry)
    }

    /// Writes and waits until the write is committed to SQLite: for writes a user is told
    /// succeeded (API, chat), which must survive a crash.
    pub async fn write_durable(&self, key: Key, value: Option<Value>) -> Result<Entry, WriteError> {
        let entry = self.write(key, value)?;
        self.flush().await?;
        Ok(entry)
    }

    /// Commits everything changed so far and waits for the commit.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let changes = self.replica().take_changes();
        self.store.persist_and_wait(changes).await
    }

    /// Hands pending changes to the store thread without waiting (the batch tick).
    pub fn persist_pending(&self) {
        let changes = {
            let mut replica = self.replica();
            if !replica.has_changes() {
                return;
            }
            replica.take_changes()
        };
        self.store.persist(changes);
    }

    /// Sample history of one sensor quantity, from the local store.
    pub async fn history(&self, query: HistoryQuery) -> Result<Vec<HistoryPoint>, StoreError> {
        self.store.history(query).await
    }

    /// Runs the retention and downsampling rule now.
    pub async fn run_retention(&self, now_ms: u64) -> Result<RetentionReport, StoreError> {
        self.store.run_retention(now_ms).await
    }

    /// Sizes of the local store (for metrics).
    pub async fn store_stats(&self) -> Result<StoreStats, StoreError> {
        self.store.stats().await
    }

    /// The last own version committed to SQLite (what gossip may show peers).
    pub fn durable_own_version(&self) -> u64 {
        self.store.durable_own_version()
    }

    /// A snapshot of the peer table.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.peers.snapshot()
    }

    /// Which peers this node cannot reach now: the caveat on every answer.
    pub fn completeness(&self) -> Completeness {
        query::completeness(&self.peers())
    }

    /// `presence.consider_home_s` in milliseconds.
    pub fn consider_home_ms(&self) -> u64 {
        self.config.presence.consider_home_s * 1000
    }
}
