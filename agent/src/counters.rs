//! The agent's counters and gauges (`Counters`): gossip traffic, the MQTT publisher, errors by
//! kind. Loops increment them; `/metrics` (the API's metrics module) exports them.
//!
//! A leaf: knows nothing of the API, gossip or MQTT beyond the names of their counters.

use portable_atomic::AtomicU64;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::sync::lock;

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Gossip counters. THE HOOK for the gossip layer: increment these from its round loop and
/// transport (`shared.counters.gossip.rounds_total.inc()`, `.bytes_sent_total.add(n)`); they are
/// exported as `officemesh_gossip_*` and stay 0 while gossip does not run.
#[derive(Debug, Default)]
pub struct GossipCounters {
    /// Gossip rounds started.
    pub rounds_total: Counter,
    /// Bytes written to gossip connections (frames, after encryption).
    pub bytes_sent_total: Counter,
    /// Bytes read from gossip connections.
    pub bytes_received_total: Counter,
    /// Wall time (ms since the Unix epoch) when this node last merged entries that came by
    /// gossip (0: never). The cluster bench reads it to time a write's arrival inside each
    /// agent rather than by polling every node.
    pub last_merge_unix_ms: Gauge,
}

/// MQTT publisher counters (filled by the MQTT publisher).
#[derive(Debug, Default)]
pub struct MqttCounters {
    /// 1 while connected to the broker.
    pub connected: Gauge,
    /// Readings waiting in the store-and-forward buffer (not yet acknowledged by the broker).
    pub buffered: Gauge,
    /// Readings taken by this node and put into the buffer (each gets the next `seq`).
    pub captured_total: Counter,
    /// Readings the broker acknowledged (QoS 1 PUBACK).
    pub published_total: Counter,
    /// Readings dropped because the buffer was full (oldest first).
    pub dropped_total: Counter,
    /// Connection attempts after the first.
    pub reconnects_total: Counter,
}

/// Every counter of the running agent. Lives in `Telemetry::counters`.
#[derive(Debug, Default)]
pub struct Counters {
    pub gossip: GossipCounters,
    pub mqtt: MqttCounters,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    /// Counts one error of `kind` (`officemesh_errors_total{kind}`): a short snake_case word
    /// such as `sensor_read`, `persist`, `mqtt_connect`, `mqtt_buffer_full`.
    pub fn error(&self, kind: &str) {
        self.errors_add(kind, 1);
    }

    /// Counts `n` errors of `kind`.
    pub fn errors_add(&self, kind: &str, n: u64) {
        let mut errors = lock(&self.errors);
        *errors.entry(kind.to_string()).or_insert(0) += n;
    }

    /// Error counts by kind.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        lock(&self.errors).clone()
    }
}
