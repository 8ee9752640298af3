//! This node's sensors as its sensor loops last saw them: for each configured sensor whether it
//! works, why not, when it last read, and what it read (`GET /v1/sensors`). The loops record
//! every outcome here; a change of state or error is also written to the replicated state as
//! `sensor/<node>/<sensor>` by the loop, so other nodes see failed sensors; [`cluster_health`]
//! reads those entries back for every node (metrics, chat, dashboard).
//!
//! Must not touch: sockets, SQLite, sensor drivers; reads the replica, never writes it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use officemesh_sensors::Measurement;
use serde::Serialize;

use crate::config::SensorConfig;
use crate::crdt::NodeId;
use crate::state::query::node_names;
use crate::state::{Key, Replica, SensorHealth, SensorState, Value};
use crate::sync::lock;

/// One value of the last good read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensorReading {
    pub quantity: String,
    pub value: f64,
    pub unit: String,
}

/// One configured sensor of this node, as `GET /v1/sensors` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensorRow {
    pub name: String,
    pub driver: String,
    /// `ok` or `failed`.
    pub status: SensorState,
    /// Why it failed (the device and the fix); `null` when ok.
    pub error: Option<String>,
    /// The last successful read; `null` before the first.
    pub last_ok_ms: Option<u64>,
    /// What the last successful read gave.
    pub readings: Vec<SensorReading>,
    /// Failed attempts in a row (drives the retry backoff).
    #[serde(skip)]
    pub failures: u32,
    /// When the status or error last changed.
    #[serde(skip)]
    pub since_ms: u64,
}

impl SensorRow {
    /// The replicated form of this row.
    pub fn health(&self) -> SensorHealth {
        SensorHealth {
            driver: self.driver.clone(),
            state: self.status,
            error: self.error.clone().unwrap_or_default(),
            last_ok_ms: self.last_ok_ms,
            since_ms: self.since_ms,
        }
    }
}

/// The sensors of this node, by name.
#[derive(Debug, Default)]
pub struct SensorBoard(Mutex<BTreeMap<String, SensorRow>>);

impl SensorBoard {
    /// Every configured sensor, failed with "not opened yet" until its loop reports.
    pub fn new(configs: &[SensorConfig]) -> Self {
        let rows = configs
            .iter()
            .map(|config| {
                let row = SensorRow {
                    name: config.name.clone(),
                    driver: config.driver.clone(),
                    status: SensorState::Failed,
                    error: Some("not opened yet".into()),
                    last_ok_ms: None,
                    readings: Vec::new(),
                    failures: 0,
                    since_ms: 0,
                };
                (config.name.clone(), row)
            })
            .collect();
        SensorBoard(Mutex::new(rows))
    }

    /// Records a good read; returns the row when its status changed (to be replicated).
    pub fn record_ok(
        &self,
        name: &str,
        measurements: &[Measurement],
        now_ms: u64,
    ) -> Option<SensorRow> {
        let mut rows = lock(&self.0);
        let row = rows.get_mut(name)?;
        let changed = row.status != SensorState::Ok || row.since_ms == 0;
        row.status = SensorState::Ok;
        row.error = None;
        row.failures = 0;
        row.last_ok_ms = Some(now_ms);
        row.readings = measurements
            .iter()
            .map(|m| SensorReading {
                quantity: m.quantity.as_str().to_string(),
                value: m.value,
                unit: m.quantity.unit().to_string(),
            })
            .collect();
        if changed {
            row.since_ms = now_ms;
        }
        changed.then(|| row.clone())
    }

    /// Records a failed open or read; returns the row when its status or error changed.
    pub fn record_failure(&self, name: &str, error: &str, now_ms: u64) -> Option<SensorRow> {
        let mut rows = lock(&self.0);
        let row = rows.get_mut(name)?;
        let changed = row.status != SensorState::Failed
            || row.error.as_deref() != Some(error)
            || row.since_ms == 0;
        row.status = SensorState::Failed;
        row.error = Some(error.to_string());
        row.failures = row.failures.saturating_add(1);
        if changed {
            row.since_ms = now_ms;
        }
        changed.then(|| row.clone())
    }

    /// Failed attempts in a row of `name`.
    pub fn failures(&self, name: &str) -> u32 {
        lock(&self.0).get(name).map_or(0, |row| row.failures)
    }

    /// Every sensor, by name.
    pub fn snapshot(&self) -> Vec<SensorRow> {
        lock(&self.0).values().cloned().collect()
    }
}

/// One sensor of some node, as replicated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSensor {
    pub node: NodeId,
    /// The node's name (its id when no `node/<id>` entry arrived yet).
    pub node_name: String,
    pub room: String,
    pub sensor: String,
    #[serde(flatten)]
    pub health: SensorHealth,
}

/// Every `sensor/<node>/<sensor>` entry in the replica, by node then sensor.
pub fn cluster_health(replica: &Replica) -> Vec<ClusterSensor> {
    let names = node_names(replica);
    replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Sensor { node, sensor }, Value::Sensor(health)) => {
                let (node_name, room) = names
                    .get(node)
                    .cloned()
                    .unwrap_or_else(|| (node.to_string(), String::new()));
                Some(ClusterSensor {
                    node: *node,
                    node_name,
                    room,
                    sensor: sensor.clone(),
                    health: health.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use officemesh_sensors::{Measurement, Quantity, SensorSpec};

    use super::*;

    #[test]
    fn changes_are_reported_once_and_failures_counted() {
        let board = SensorBoard::new(&[SensorSpec::default()]);
        assert_eq!(board.snapshot()[0].status, SensorState::Failed);
        let first = board.record_failure("desk", "cannot open /dev/i2c-7", 10);
        assert!(first.is_some(), "the first outcome is always replicated");
        assert!(board
            .record_failure("desk", "cannot open /dev/i2c-7", 20)
            .is_none());
        assert_eq!(board.failures("desk"), 2);
        assert!(
            board.record_failure("desk", "EIO", 30).is_some(),
            "new error"
        );
        let reading = [Measurement::new(Quantity::Temperature, 21.5)];
        let ok = board.record_ok("desk", &reading, 40).expect("recovered");
        assert_eq!(ok.status, SensorState::Ok);
        assert_eq!(ok.health().last_ok_ms, Some(40));
        assert!(board.record_ok("desk", &reading, 50).is_none());
        let row = &board.snapshot()[0];
        assert_eq!(
            (row.failures, row.last_ok_ms, row.error.clone()),
            (0, Some(50), None)
        );
        assert_eq!(row.readings[0].unit, "°C");
        assert!(board.record_ok("nope", &reading, 60).is_none());
    }
}
