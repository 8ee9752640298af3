//! `Telemetry`: what this node reports about itself — the counters and gauges `/metrics`
//! exports, and this node's sensors as their loops last saw them (`SensorBoard`).
//! Must not touch: the replica, the store, sockets.

use crate::counters::Counters;
use crate::sensor_health::SensorBoard;

/// Counters and sensor health.
pub struct Telemetry {
    /// Counters and gauges for `GET /metrics` (gossip, MQTT and errors fill them).
    pub counters: Counters,
    /// This node's sensors as their loops last saw them (`GET /v1/sensors`).
    pub sensors: SensorBoard,
}
