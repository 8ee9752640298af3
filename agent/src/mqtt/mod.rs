//! MQTT: publishes this node's readings, the people's presence and its availability to a broker
//! (rumqttc), announces them to Home Assistant (discovery), and buffers readings while the broker
//! is away (store-and-forward in its own SQLite file). Off unless `mqtt.url` is set. Topics and
//! payloads are documented in `docs/mqtt.md`.
//!
//! - [`broker`]: `mqtt.url` parsing, connection options, TLS.
//! - [`backoff`]: capped exponential reconnect delays with jitter (pure).
//! - [`topics`]: topic names, ids, the reading payload (pure).
//! - [`discovery`]: Home Assistant config payloads and the presence-publisher rule (pure).
//! - [`buffer`]: the store-and-forward buffer, `<data_dir>/mqtt-buffer.sqlite` (rusqlite; this
//!   module never touches the replicated-state database in `crate::store`).
//! - [`capture`]: copies this node's readings from `StateHandle::local_writes` into the buffer.
//! - [`publisher`]: the connection loop: connect, birth, discovery, drain the buffer in order,
//!   presence, reconnect with backoff, `offline` on shutdown.
//!
//! Reads the replica and the peers (`MeshView`); never writes replicated state.

pub mod backoff;
pub mod broker;
pub mod buffer;
pub mod capture;
pub mod discovery;
pub mod publisher;
pub mod topics;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Notify};

use crate::shared::Shared;

pub use crate::config::BrokerUrl;
pub use buffer::{Buffer, BufferError, BufferedReading};
pub use topics::{ReadingMessage, Topics};

/// Why MQTT could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("MQTT TLS: {0}")]
    Tls(#[from] crate::outbound::TlsError),
    #[error("MQTT configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Buffer(#[from] BufferError),
    #[error("no CONNACK within {0:?}")]
    ConnectTimeout(std::time::Duration),
    #[error("{0}")]
    Connection(Box<rumqttc::ConnectionError>),
    #[error("the MQTT event loop stopped")]
    EventLoopStopped,
    #[error("no MQTT client")]
    NoClient,
    #[error("session reused")]
    SessionReused,
    #[error("publish failed: {0}")]
    Publish(#[source] rumqttc::ClientError),
    #[error("subscribe failed: {0}")]
    Subscribe(#[source] rumqttc::ClientError),
    #[error("cannot encode a reading: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<rumqttc::ConnectionError> for MqttError {
    fn from(err: rumqttc::ConnectionError) -> MqttError {
        MqttError::Connection(Box::new(err))
    }
}

/// What the capture and publisher tasks share.
pub(crate) struct Outbox {
    pub buffer: Mutex<Buffer>,
    /// Signalled when readings were added.
    pub added: Notify,
    /// Every row up to this `seq` was acknowledged by the broker (the publisher advances it;
    /// capture lets the bound delete those rows before counting anything as dropped).
    pub delivered_through: portable_atomic::AtomicU64,
}

impl Outbox {
    /// Runs `work` on the buffer off the async threads (SQLite may wait on the SD card).
    pub async fn with<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Buffer) -> Result<T, BufferError> + Send + 'static,
    ) -> Result<T, BufferError> {
        let outbox = self.clone();
        match tokio::task::spawn_blocking(move || {
            let mut buffer = crate::sync::lock(&outbox.buffer);
            work(&mut buffer)
        })
        .await
        {
            Ok(result) => result,
            Err(join) => Err(BufferError::Task(join.to_string())),
        }
    }
}

/// The MQTT task `start` returns, for `Agent::spawn`.
pub type MqttTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Prepares MQTT when `mqtt.url` is set: opens the buffer, subscribes to local writes (so no
/// reading taken after this call is missed) and returns the task to spawn. `None` when off.
pub fn start(
    shared: &Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Result<Option<MqttTask>, MqttError> {
    let config = &shared.config.mqtt;
    if config.url.trim().is_empty() {
        return Ok(None);
    }
    let url = BrokerUrl::parse(&config.url).map_err(|e| MqttError::Config(e.to_string()))?;
    let topics = Topics::new(&config.base_topic, &shared.name, &config.discovery_prefix);
    let client_id = if config.client_id.is_empty() {
        format!("officemesh-{}", shared.node)
    } else {
        config.client_id.clone()
    };
    let options = broker::mqtt_options(config, &url, &client_id, &topics.availability())?;
    let buffer = Buffer::open(&shared.config.storage.data_dir, config.buffer_max)?;
    let waiting = buffer.len()?;
    shared.telemetry.counters.mqtt.buffered.set(waiting);
    let outbox = Arc::new(Outbox {
        buffer: Mutex::new(buffer),
        added: Notify::new(),
        delivered_through: portable_atomic::AtomicU64::new(0),
    });
    let writes = shared.state.local_writes.subscribe();
    tracing::info!(
        broker = %config.url,
        client_id = %client_id,
        buffered = waiting,
        "MQTT publisher on"
    );
    let telemetry = shared.telemetry.clone();
    let capture = capture::run(
        shared.node,
        telemetry,
        outbox.clone(),
        writes,
        shutdown.clone(),
    );
    let publisher = publisher::run(shared.clone(), outbox, options, topics, shutdown);
    Ok(Some(Box::pin(async move {
        tokio::join!(capture, publisher);
    })))
}
