//! The running agent: the state every task shares (`Shared`), and the loops that feed it —
//! sensor polling, presence scanning, batched persistence. Gossip and the HTTP API are started
//! from here too, each in its own task, all stopped by one shutdown signal.
//!
//! Locks: `Shared::replica` is a std `Mutex` held only for short, synchronous work; never across
//! an `.await`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use officemesh_sensors::sim::SimNetwork;
use officemesh_sensors::{PresenceScanner, Sensor};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock::{wall_ms, Clock};
use crate::config::{Config, SensorConfig};
use crate::crdt::NodeId;
use crate::state::{
    ChangeSet, Entry, Key, MacSeen, NodeInfo, ReadingStatus, ReadingValue, Replica, StaleWrite,
    Value,
};
use crate::store::{
    HistoryPoint, HistoryQuery, RetentionPolicy, RetentionReport, Store, StoreStats,
};

/// What this node knows about one peer, as the gossip layer last saw it (for `/v1/nodes`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PeerStatus {
    pub node: NodeId,
    pub name: String,
    pub room: String,
    pub gossip_addr: String,
    /// `alive`, `suspect`, `dead` or `left`.
    pub status: String,
    /// Milliseconds since its heartbeat last advanced, as seen here.
    pub heartbeat_age_ms: Option<u64>,
    /// Phi-accrual suspicion level.
    pub phi: Option<f64>,
    /// Versions of this peer's writes this node knows exist but does not hold yet.
    pub missing_versions: u64,
    /// Since when this node cannot reach it (ms since epoch), if it cannot.
    pub unreachable_since_ms: Option<u64>,
}

/// A request to the store thread, which owns the SQLite connection.
enum StoreRequest {
    /// Commit a change set; `done` (if any) hears when it is durable.
    Persist {
        changes: ChangeSet,
        done: Option<oneshot::Sender<Result<(), String>>>,
    },
    History {
        query: HistoryQuery,
        reply: oneshot::Sender<Result<Vec<HistoryPoint>, String>>,
    },
    Retention {
        now_ms: u64,
        reply: oneshot::Sender<Result<RetentionReport, String>>,
    },
    Stats {
        reply: oneshot::Sender<Result<StoreStats, String>>,
    },
}

/// Everything the agent's tasks share.
pub struct Shared {
    pub config: Config,
    pub node: NodeId,
    /// `node.name`, or the host name.
    pub name: String,
    pub clock: Clock,
    replica: Mutex<Replica>,
    store_tx: mpsc::UnboundedSender<StoreRequest>,
    pub started_at_ms: u64,
    /// This node's last own version committed to SQLite: gossip shows peers own writes only up
    /// to it (`Replica::set_publish_limit`), so a crash never makes a seen version reused.
    durable_own_version: Arc<AtomicU64>,
    /// Peers as the gossip layer sees them; empty until gossip runs.
    pub peers: Mutex<Vec<PeerStatus>>,
    /// Every local write, as written (the MQTT publisher subscribes to this node's readings).
    pub local_writes: tokio::sync::broadcast::Sender<Entry>,
    /// Counters and gauges for `GET /metrics` (gossip, MQTT and errors fill them).
    pub counters: crate::api::metrics::Counters,
    /// What this node saw happen to the mesh (`GET /v1/events`); the gossip driver fills it.
    pub events: crate::events::EventLog,
    /// Alert texts for the chat adapters to post into `chat.alert_room`.
    pub chat_alerts: tokio::sync::broadcast::Sender<String>,
}

/// A write could not be made durable.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Stale(#[from] StaleWrite),
    #[error("{key}: values must be finite numbers (not NaN or infinity)")]
    NotFinite { key: String },
    #[error("could not persist the write: {0}")]
    Persist(String),
}

impl Shared {
    /// Locks the replica for short synchronous work.
    pub fn replica(&self) -> MutexGuard<'_, Replica> {
        self.replica
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
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
        self.flush().await.map_err(WriteError::Persist)?;
        Ok(entry)
    }

    /// Commits everything changed so far and waits for the commit.
    pub async fn flush(&self) -> Result<(), String> {
        let changes = self.replica().take_changes();
        let (done_tx, done_rx) = oneshot::channel();
        self.store_tx
            .send(StoreRequest::Persist {
                changes,
                done: Some(done_tx),
            })
            .map_err(|_| STORE_GONE.to_string())?;
        done_rx.await.map_err(|_| STORE_GONE.to_string())?
    }

    /// Sample history of one sensor quantity, from the local store.
    pub async fn history(&self, query: HistoryQuery) -> Result<Vec<HistoryPoint>, String> {
        let (reply, answer) = oneshot::channel();
        self.store_tx
            .send(StoreRequest::History { query, reply })
            .map_err(|_| STORE_GONE.to_string())?;
        answer.await.map_err(|_| STORE_GONE.to_string())?
    }

    /// Runs the retention and downsampling rule now.
    pub async fn run_retention(&self, now_ms: u64) -> Result<RetentionReport, String> {
        let (reply, answer) = oneshot::channel();
        self.store_tx
            .send(StoreRequest::Retention { now_ms, reply })
            .map_err(|_| STORE_GONE.to_string())?;
        answer.await.map_err(|_| STORE_GONE.to_string())?
    }

    /// Sizes of the local store (for metrics).
    pub async fn store_stats(&self) -> Result<StoreStats, String> {
        let (reply, answer) = oneshot::channel();
        self.store_tx
            .send(StoreRequest::Stats { reply })
            .map_err(|_| STORE_GONE.to_string())?;
        answer.await.map_err(|_| STORE_GONE.to_string())?
    }

    /// Hands pending changes to the persistence thread without waiting (the batch tick).
    pub fn persist_pending(&self) {
        let changes = {
            let mut replica = self.replica();
            if !replica.has_changes() {
                return;
            }
            replica.take_changes()
        };
        let _ = self.store_tx.send(StoreRequest::Persist {
            changes,
            done: None,
        });
    }

    /// The last own version committed to SQLite (what gossip may show peers).
    pub fn durable_own_version(&self) -> u64 {
        self.durable_own_version.load(Ordering::Acquire)
    }

    /// A snapshot of the peer table.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.peers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}

/// The running agent's handle: the shared state and a way to stop it.
pub struct Agent {
    pub shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    persist_thread: Option<std::thread::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The host name, for a node without `node.name`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "officemesh".to_string())
}

impl Agent {
    /// Opens the store, restores the replica, writes this node's `node/<id>` entry and starts the
    /// background loops (persistence, sensors, presence). The API and gossip are started by the
    /// caller with `shared`.
    pub fn start(config: Config) -> anyhow::Result<Agent> {
        let data_dir = config.storage.data_dir.clone();
        let node = crate::identity::load_or_create(&data_dir)?;
        let store = Store::open(&data_dir)?;
        let replica = store.load_replica(node)?;
        let durable_own_version = Arc::new(AtomicU64::new(replica.own_counter()));
        let clock = Clock::new(
            node,
            Duration::from_millis(config.gossip.max_clock_offset_ms),
        );
        clock.raise_floor(store.max_stamp_time()?);
        let name = if config.node.name.trim().is_empty() {
            host_name()
        } else {
            config.node.name.clone()
        };
        let (store_tx, store_rx) = mpsc::unbounded_channel();
        let policy = RetentionPolicy::from(&config.storage);
        let persist_thread = std::thread::Builder::new()
            .name("store".into())
            .spawn({
                let durable = durable_own_version.clone();
                move || store_loop(store, policy, node, durable, store_rx)
            })
            .context("cannot start the store thread")?;
        let shared = Arc::new(Shared {
            name,
            node,
            clock,
            replica: Mutex::new(replica),
            store_tx,
            durable_own_version,
            started_at_ms: wall_ms(),
            peers: Mutex::new(Vec::new()),
            local_writes: tokio::sync::broadcast::channel(4096).0,
            counters: Default::default(),
            events: Default::default(),
            chat_alerts: tokio::sync::broadcast::channel(64).0,
            config,
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut agent = Agent {
            shared: shared.clone(),
            shutdown_tx,
            persist_thread: Some(persist_thread),
            tasks: Vec::new(),
        };
        agent.write_node_info()?;
        if let Some(task) = crate::mqtt::start(shared.clone(), shutdown_rx.clone())? {
            agent.spawn(task);
        }
        agent.spawn(batch_loop(shared.clone(), shutdown_rx.clone()));
        agent.spawn(retention_loop(shared.clone(), shutdown_rx.clone()));
        for sensor_config in shared.config.sensors.clone() {
            let sensor = build_sensor(&sensor_config, &shared.name)?;
            agent.spawn(sensor_loop(
                shared.clone(),
                sensor,
                sensor_config,
                shutdown_rx.clone(),
            ));
        }
        for task in crate::chat::adapters::start(shared.clone(), shutdown_rx.clone()) {
            agent.spawn(task);
        }
        agent.spawn(crate::alerts::alert_loop(
            shared.clone(),
            shutdown_rx.clone(),
        ));
        if let Some(scanner) = build_scanner(&shared)? {
            agent.spawn(presence_loop(shared.clone(), scanner, shutdown_rx.clone()));
        }
        Ok(agent)
    }

    /// Spawns a task that is aborted on shutdown if it has not ended by itself.
    pub fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    /// A receiver that turns `true` when the agent stops.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }

    fn write_node_info(&self) -> anyhow::Result<()> {
        let shared = &self.shared;
        let gossip = &shared.config.gossip;
        let info = NodeInfo {
            name: shared.name.clone(),
            room: shared.config.node.room.clone(),
            gossip_addr: if gossip.advertise.is_empty() {
                gossip.listen.to_string()
            } else {
                gossip.advertise.clone()
            },
            api_addr: shared.config.api.listen.to_string(),
            version: crate::VERSION.to_string(),
            started_at_ms: shared.started_at_ms,
        };
        shared
            .write(Key::Node(shared.node), Some(Value::Node(info)))
            .context("cannot write this node's entry")?;
        Ok(())
    }

    /// Stops every loop, commits what is pending and closes the database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.shutdown_tx.send(true);
        for task in self.tasks.drain(..) {
            let aborter = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(3), task)
                .await
                .is_err()
            {
                aborter.abort();
            }
        }
        let flushed = self.shared.flush().await;
        drop(self.shared);
        if let Some(thread) = self.persist_thread.take() {
            // The thread ends when the last sender (inside `Shared`) is gone.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        flushed.map_err(|e| anyhow::anyhow!(e))
    }
}

const STORE_GONE: &str = "the store thread has stopped";

/// The store thread: owns the SQLite connection; commits queued change sets together in one
/// transaction, and answers history, retention and stats requests between commits.
fn store_loop(
    mut store: Store,
    policy: RetentionPolicy,
    me: NodeId,
    durable_own_version: Arc<AtomicU64>,
    mut rx: mpsc::UnboundedReceiver<StoreRequest>,
) {
    let mut pending: Vec<StoreRequest> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        pending.push(first);
        while let Ok(more) = rx.try_recv() {
            pending.push(more);
        }
        let mut batches = Vec::new();
        let mut waiting = Vec::new();
        let mut others = Vec::new();
        for request in pending.drain(..) {
            match request {
                StoreRequest::Persist { changes, done } => {
                    batches.push(changes);
                    waiting.extend(done);
                }
                other => others.push(other),
            }
        }
        if !batches.is_empty() {
            let result = store.apply_all(&batches).map_err(|e| e.to_string());
            match &result {
                Ok(()) => {
                    let own = batches
                        .iter()
                        .flat_map(|b| b.watermarks.iter())
                        .filter(|(origin, _)| *origin == me)
                        .map(|(_, version)| *version)
                        .max();
                    if let Some(own) = own {
                        durable_own_version.fetch_max(own, Ordering::AcqRel);
                    }
                }
                Err(err) => tracing::error!(error = %err, "persisting a batch failed"),
            }
            for done in waiting {
                let _ = done.send(result.clone());
            }
        }
        for request in others {
            match request {
                StoreRequest::History { query, reply } => {
                    let _ = reply.send(store.history(&query).map_err(|e| e.to_string()));
                }
                StoreRequest::Retention { now_ms, reply } => {
                    let _ = reply.send(
                        store
                            .run_retention(now_ms, &policy)
                            .map_err(|e| e.to_string()),
                    );
                }
                StoreRequest::Stats { reply } => {
                    let _ = reply.send(store.stats().map_err(|e| e.to_string()));
                }
                StoreRequest::Persist { .. } => {}
            }
        }
    }
}

/// Runs retention and downsampling shortly after start and then hourly (the same rule on
/// every node).
async fn retention_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(60),
        Duration::from_secs(3600),
    );
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let started = std::time::Instant::now();
        match shared.run_retention(wall_ms()).await {
            Ok(report) => tracing::info!(
                aggregated = report.samples_aggregated,
                raw_deleted = report.raw_deleted,
                aggregates_deleted = report.aggregates_deleted,
                took_ms = started.elapsed().as_millis() as u64,
                "retention run"
            ),
            Err(err) => tracing::error!(error = %err, "retention run failed"),
        }
    }
}

async fn batch_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(shared.config.storage.batch_ms));
    loop {
        tokio::select! {
            _ = tick.tick() => shared.persist_pending(),
            _ = shutdown.changed() => return,
        }
    }
}

/// Builds the sensor a `[[sensors]]` entry names.
pub fn build_sensor(config: &SensorConfig, node_name: &str) -> anyhow::Result<Box<dyn Sensor>> {
    // A simulated sensor without a `seed` gets one derived from the node and sensor names.
    let default_seed = seed_from_text(&format!("{node_name}/{}", config.name));
    Ok(officemesh_sensors::build_sensor(config, default_seed)?)
}

fn seed_from_text(text: &str) -> u64 {
    let hash = blake3::hash(text.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(bytes)
}

async fn sensor_loop(
    shared: Arc<Shared>,
    sensor: Box<dyn Sensor>,
    config: SensorConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let sensor = Arc::new(Mutex::new(sensor));
    let mut last_published: std::collections::BTreeMap<officemesh_sensors::Quantity, (f64, u64)> =
        std::collections::BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(config.poll_interval_s));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let reader = sensor.clone();
        let result = tokio::task::spawn_blocking(move || {
            reader
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .read()
        })
        .await;
        let measurements = match result {
            Ok(Ok(measurements)) => measurements,
            Ok(Err(err)) => {
                tracing::warn!(sensor = %config.name, error = %err, "sensor read failed; keeping the last good value");
                mark_stale(&shared, &config.name);
                continue;
            }
            Err(join_err) => {
                tracing::error!(sensor = %config.name, error = %join_err, "sensor read panicked");
                continue;
            }
        };
        let taken_at_ms = wall_ms();
        for measurement in measurements {
            // The publish policy (per quantity): write only on a change beyond `publish_delta`
            // or when the heartbeat is due, so steady values do not flood the mesh.
            let policy = config.publish_policy(measurement.quantity);
            let previous = last_published.get(&measurement.quantity).copied();
            let elapsed = previous
                .map(|(_, at): (f64, u64)| Duration::from_millis(taken_at_ms.saturating_sub(at)))
                .unwrap_or(Duration::MAX);
            if !policy.should_publish(previous.map(|(value, _)| value), measurement.value, elapsed)
            {
                continue;
            }
            let key = Key::Reading {
                node: shared.node,
                sensor: config.name.clone(),
                quantity: measurement.quantity,
            };
            let value = Value::Reading(ReadingValue {
                value: measurement.value,
                unit: measurement.quantity.unit().to_string(),
                room: shared.config.node.room.clone(),
                status: ReadingStatus::Ok,
                taken_at_ms,
            });
            match shared.write(key, Some(value)) {
                Ok(_) => {
                    last_published.insert(measurement.quantity, (measurement.value, taken_at_ms));
                }
                Err(err) => tracing::warn!(error = %err, "reading not recorded"),
            }
        }
    }
}

/// Marks this sensor's readings stale (the value stays: the last good one).
fn mark_stale(shared: &Shared, sensor: &str) {
    let stale: Vec<(Key, Value)> = {
        let replica = shared.replica();
        replica
            .live()
            .filter_map(|(key, value)| match (key, value) {
                (
                    Key::Reading {
                        node, sensor: s, ..
                    },
                    Value::Reading(reading),
                ) if *node == shared.node && s == sensor && reading.status == ReadingStatus::Ok => {
                    let mut reading = reading.clone();
                    reading.status = ReadingStatus::Stale;
                    Some((key.clone(), Value::Reading(reading)))
                }
                _ => None,
            })
            .collect()
    };
    for (key, value) in stale {
        let _ = shared.write(key, Some(value));
    }
}

fn build_scanner(shared: &Shared) -> anyhow::Result<Option<Box<dyn PresenceScanner>>> {
    let presence = &shared.config.presence;
    match presence.interface.as_str() {
        "" => Ok(None),
        "sim" => Ok(Some(Box::new(SimNetwork::new(
            seed_from_text(&shared.name),
            presence.sim_devices,
        )))),
        interface => Ok(Some(Box::new(officemesh_sensors::NeighborScanner::new(
            interface,
        )))),
    }
}

async fn presence_loop(
    shared: Arc<Shared>,
    scanner: Box<dyn PresenceScanner>,
    mut shutdown: watch::Receiver<bool>,
) {
    let scanner = Arc::new(Mutex::new(scanner));
    let mut tick =
        tokio::time::interval(Duration::from_secs(shared.config.presence.scan_interval_s));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let scanner = scanner.clone();
        let result = tokio::task::spawn_blocking(move || {
            scanner
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .scan()
        })
        .await;
        let neighbors = match result {
            Ok(Ok(neighbors)) => neighbors,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "presence scan failed");
                continue;
            }
            Err(join_err) => {
                tracing::error!(error = %join_err, "presence scan panicked");
                continue;
            }
        };
        record_neighbors(&shared, &neighbors, wall_ms());
    }
}

/// Records one scan's devices as `mac/<mac>/<this node>` entries.
pub fn record_neighbors(shared: &Shared, neighbors: &[officemesh_sensors::Neighbor], now_ms: u64) {
    for neighbor in neighbors {
        if neighbor.mac.is_multicast() {
            continue;
        }
        let key = Key::Mac {
            mac: neighbor.mac,
            observer: shared.node,
        };
        let first_seen_ms = match shared.replica().value(&key) {
            Some(Value::Mac(seen)) => seen.first_seen_ms,
            _ => now_ms,
        };
        let value = Value::Mac(MacSeen {
            ip: neighbor.ip.to_string(),
            first_seen_ms,
            last_seen_ms: now_ms,
            randomized: neighbor.mac.is_locally_administered(),
        });
        if let Err(err) = shared.write(key, Some(value)) {
            tracing::warn!(error = %err, "presence not recorded");
        }
    }
}
