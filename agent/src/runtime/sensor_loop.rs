//! Sensor polling: one loop per `[[sensors]]` entry reads the sensor on a blocking thread,
//! applies the publish policy and writes `reading/<node>/<sensor>/<quantity>` entries; a failed
//! read marks the sensor's readings stale (the last good value stays).
//!
//! Must not touch: SQLite, sockets.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use officemesh_sensors::Sensor;
use tokio::sync::watch;

use super::seed_from_text;
use crate::clock::wall_ms;
use crate::config::SensorConfig;
use crate::shared::Shared;
use crate::state::{Key, ReadingStatus, ReadingValue, Value};
use crate::sync::lock;

/// Builds the sensor a `[[sensors]]` entry names.
pub fn build_sensor(config: &SensorConfig, node_name: &str) -> anyhow::Result<Box<dyn Sensor>> {
    // A simulated sensor without a `seed` gets one derived from the node and sensor names.
    let default_seed = seed_from_text(&format!("{node_name}/{}", config.name));
    Ok(officemesh_sensors::build_sensor(config, default_seed)?)
}

pub(super) async fn sensor_loop(
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
        let result = tokio::task::spawn_blocking(move || lock(&reader).read()).await;
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
