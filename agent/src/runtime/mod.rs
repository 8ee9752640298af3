//! The running agent: `Agent` opens the store, restores the replica, builds `Shared` (the bundle
//! of narrow handles) and starts the loops that feed it, handing each only the handles it uses —
//! sensor polling (`sensor_loop`: state, telemetry), presence scanning (`presence_loop`: state,
//! mesh view, presence), batched persistence and retention (`maintenance`: state), re-stamping
//! own writes after this node's clock ran ahead and was set right (`clock_recovery`: state, mesh
//! view). Gossip and the HTTP API are started by the caller with `Agent::shared`; everything
//! stops on one shutdown signal.
//!
//! The one module that wires the shell together: nothing depends on it but `cli::run` (which
//! starts it) and `mesh::start` (which spawns the gossip tasks on the `Agent`).

mod clock_recovery;
mod maintenance;
mod presence_loop;
mod presence_writes;
mod sensor_loop;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::clock::{wall_ms, Clock};
use crate::config::{Config, StorageConfig};
use crate::shared::Shared;
use crate::state::{Key, NodeInfo, Value};
use crate::store::{RetentionPolicy, Store, StoreHandle};

pub use presence_loop::{record_neighbors, PresenceSink};
pub use sensor_loop::build_sensor;

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

/// Opens the node's identity and store, loads the replica, sets the clock floor, recovers
/// writes stamped while the clock ran ahead, and starts the store thread: the `Shared` every
/// loop uses, the store thread's handle, and what was recovered (reported once loops run).
fn open_shared(
    config: Config,
) -> anyhow::Result<(
    Arc<Shared>,
    std::thread::JoinHandle<()>,
    clock_recovery::Recovery,
)> {
    let data_dir = config.storage.data_dir.clone();
    let node = crate::identity::load_or_create(&data_dir)?;
    let store = Store::open(&data_dir)?;
    let mut replica = store.load_replica(node)?;
    // Everything loaded is committed; re-stamps below are not until the batch loop's commit
    // (peers see them only then, so a crash never makes a version they saw reused).
    let own_version = replica.own_counter();
    let clock = Clock::new(
        node,
        Duration::from_millis(config.gossip.max_clock_offset_ms),
    );
    clock.raise_floor(store.max_stamp_time()?);
    // Writes stamped while this node's clock ran ahead (now set right) get stamps peers
    // take; reported once `shared` exists, persisted by the batch loop.
    let recovered = clock_recovery::recover(&clock, &mut replica);
    let name = if config.node.name.trim().is_empty() {
        host_name()
    } else {
        config.node.name.clone()
    };
    let (store, persist_thread) = StoreHandle::spawn_holding(
        store,
        retention_policy(&config.storage),
        node,
        own_version,
        Duration::from_millis(config.storage.readings_batch_ms),
    )
    .context("cannot start the store thread")?;
    let shared = Arc::new(Shared::new(
        config,
        node,
        name,
        clock,
        wall_ms(),
        replica,
        store,
    ));
    Ok((shared, persist_thread, recovered))
}

impl Agent {
    /// Opens the store, restores the replica, writes this node's `node/<id>` entry and starts the
    /// background loops (persistence, sensors, presence). The API and gossip are started by the
    /// caller with `shared`.
    pub fn start(config: Config) -> anyhow::Result<Agent> {
        let (shared, persist_thread, recovered) = open_shared(config)?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut agent = Agent {
            shared: shared.clone(),
            shutdown_tx,
            persist_thread: Some(persist_thread),
            tasks: Vec::new(),
        };
        clock_recovery::report(&shared.mesh, &recovered);
        agent.write_node_info()?;
        agent.spawn_loops(&shutdown_rx)?;
        Ok(agent)
    }

    /// Spawns every long-running loop: clock recovery, MQTT, batching and retention, one loop
    /// per sensor, the chat adapters, alerts and the presence scanner.
    fn spawn_loops(&mut self, shutdown_rx: &watch::Receiver<bool>) -> anyhow::Result<()> {
        let shared = self.shared.clone();
        self.spawn(clock_recovery::clock_recovery_loop(
            shared.state.clone(),
            shared.mesh.clone(),
            shutdown_rx.clone(),
        ));
        if let Some(task) = crate::mqtt::start(&shared, shutdown_rx.clone())? {
            self.spawn(task);
        }
        self.spawn(maintenance::batch_loop(
            shared.state.clone(),
            Duration::from_millis(shared.config.storage.batch_ms),
            shutdown_rx.clone(),
        ));
        self.spawn(maintenance::retention_loop(
            shared.state.clone(),
            shutdown_rx.clone(),
        ));
        // Two entries on one bus device are a config error; a device that cannot be opened is
        // not: its loop reports it and retries (see `sensor_loop`).
        officemesh_sensors::check_unique_devices(&shared.config.sensors)?;
        let sink = sensor_loop::SensorSink {
            state: shared.state.clone(),
            telemetry: shared.telemetry.clone(),
            node: shared.node,
            node_name: shared.name.clone(),
            room: shared.config.node.room.clone(),
        };
        for sensor_config in shared.config.sensors.clone() {
            self.spawn(sensor_loop::sensor_loop(
                sink.clone(),
                sensor_config,
                shutdown_rx.clone(),
            ));
        }
        for task in crate::chat::adapters::start(shared.clone(), shutdown_rx.clone()) {
            self.spawn(task);
        }
        self.spawn(crate::alerts::alert_loop(
            crate::alerts::AlertDeps::of(&shared),
            shutdown_rx.clone(),
        ));
        if let Some(scanner) = presence_loop::build_scanner(&shared.config, &shared.name)? {
            let sink = presence_loop::PresenceSink {
                state: shared.state.clone(),
                mesh: shared.mesh.clone(),
                presence: shared.presence.clone(),
                config: shared.config.clone(),
                node: shared.node,
            };
            self.spawn(presence_loop::presence_loop(
                sink,
                scanner,
                shutdown_rx.clone(),
            ));
        }
        Ok(())
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
            .state
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
        // Held own readings go into the final commit (loops are stopped: nothing adds more).
        self.shared.state.write_held(true);
        let flushed = self.shared.state.flush().await;
        drop(self.shared);
        if let Some(thread) = self.persist_thread.take() {
            // The thread ends when the last sender (inside `StateHandle`) is gone.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        flushed.context("cannot commit the last writes")
    }
}

/// What happened to a blocking task that did not return: "panicked", or "was cancelled" when
/// the runtime dropped it at shutdown (not a fault; never logged as a panic).
pub(crate) fn join_failure(err: &tokio::task::JoinError) -> &'static str {
    if err.is_cancelled() {
        "was cancelled (the agent is stopping)"
    } else {
        "panicked"
    }
}

/// The store's retention policy, from `[storage]`.
pub fn retention_policy(storage: &StorageConfig) -> RetentionPolicy {
    RetentionPolicy {
        raw_days: storage.raw_retention_days,
        aggregate_days: storage.aggregate_retention_days,
    }
}

/// A stable seed from text (simulated sensors and devices without a configured seed).
fn seed_from_text(text: &str) -> u64 {
    let hash = blake3::hash(text.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_defaults_follow_the_storage_config() {
        let policy = retention_policy(&StorageConfig::default());
        assert_eq!(policy, RetentionPolicy::default());
        assert_eq!((policy.raw_days, policy.aggregate_days), (7, 90));
    }
}
