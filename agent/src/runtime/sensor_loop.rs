//! Sensor polling: one loop per `[[sensors]]` entry opens the sensor and reads it on a blocking
//! thread, applies the publish policy and writes `reading/<node>/<sensor>/<quantity>` entries.
//! Readings are held (`StateHandle::write_later`, `storage.readings_batch_ms`) and written together.
//! A sensor that cannot be opened or read never stops the node: the loop records the failure
//! (`Telemetry::sensors`, and `sensor/<node>/<sensor>` when the state or error changes), marks its
//! readings stale (the last good value stays), retries with backoff, and reopens the device after
//! repeated read failures, so a sensor plugged in later is picked up (hot-plug).
//!
//! Must not touch: SQLite, sockets.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use officemesh_sensors::{Measurement, Sensor};
use tokio::sync::watch;

use super::seed_from_text;
use crate::clock::wall_ms;
use crate::config::SensorConfig;
use crate::crdt::NodeId;
use crate::sensor_health::SensorRow;
use crate::shared::{StateHandle, Telemetry};
use crate::state::{Key, ReadingStatus, ReadingValue, Value};
use crate::sync::lock;

/// Where a sensor loop's results go: the state it writes, the board and counters it updates, and
/// the node and room its readings name.
#[derive(Clone)]
pub(super) struct SensorSink {
    pub state: Arc<StateHandle>,
    pub telemetry: Arc<Telemetry>,
    pub node: NodeId,
    pub node_name: String,
    pub room: String,
}

/// Read failures in a row after which the device is closed and opened again.
const REOPEN_AFTER_FAILURES: u32 = 3;
/// The longest wait between two attempts on a failed sensor.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// Builds the sensor a `[[sensors]]` entry names.
pub fn build_sensor(config: &SensorConfig, node_name: &str) -> anyhow::Result<Box<dyn Sensor>> {
    // A simulated sensor without a `seed` gets one derived from the node and sensor names.
    let default_seed = seed_from_text(&format!("{node_name}/{}", config.name));
    Ok(officemesh_sensors::build_sensor(config, default_seed)?)
}

/// The wait before the next attempt after `failures` failed ones in a row: 1 s, doubling, never
/// more than [`MAX_RETRY_WAIT`] (nor the poll interval when that is longer still).
pub fn retry_wait(failures: u32, poll: Duration) -> Duration {
    let backoff = Duration::from_secs(1u64 << failures.saturating_sub(1).min(16));
    backoff.min(MAX_RETRY_WAIT.max(poll))
}

type SharedSensor = Arc<Mutex<Box<dyn Sensor>>>;

/// Opens the sensor if needed and reads it, on a blocking thread. The error text names the
/// device and the fix.
async fn open_and_read(
    opened: &mut Option<SharedSensor>,
    config: &SensorConfig,
    node_name: &str,
) -> anyhow::Result<Vec<Measurement>> {
    let sensor = match opened {
        Some(sensor) => sensor.clone(),
        None => {
            let (config, node_name) = (config.clone(), node_name.to_string());
            let built = tokio::task::spawn_blocking(move || build_sensor(&config, &node_name))
                .await
                .map_err(|join_err| {
                    anyhow::anyhow!(
                        "opening the sensor {}: {join_err}",
                        super::join_failure(&join_err)
                    )
                })??;
            let sensor = Arc::new(Mutex::new(built));
            *opened = Some(sensor.clone());
            sensor
        }
    };
    Ok(tokio::task::spawn_blocking(move || lock(&sensor).read())
        .await
        .map_err(|join_err| {
            anyhow::anyhow!(
                "the sensor read {}: {join_err}",
                super::join_failure(&join_err)
            )
        })??)
}

/// Closes a sensor on a blocking thread (a sound meter joins its sampler thread).
fn close(opened: &mut Option<SharedSensor>) {
    if let Some(sensor) = opened.take() {
        tokio::task::spawn_blocking(move || drop(sensor));
    }
}

/// Writes a changed sensor state as `sensor/<node>/<sensor>` for the other nodes.
fn replicate_health(sink: &SensorSink, row: &SensorRow) {
    let key = Key::Sensor {
        node: sink.node,
        sensor: row.name.clone(),
    };
    if let Err(err) = sink.state.write(key, Some(Value::Sensor(row.health()))) {
        tracing::warn!(sensor = %row.name, error = %err, "sensor state not recorded");
    }
}

pub(super) async fn sensor_loop(
    sink: SensorSink,
    config: SensorConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let poll = Duration::from_secs(config.poll_interval_s);
    let mut opened: Option<SharedSensor> = None;
    let mut last_published: std::collections::BTreeMap<officemesh_sensors::Quantity, (f64, u64)> =
        std::collections::BTreeMap::new();
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {
                close(&mut opened);
                return;
            }
        }
        let started = Instant::now();
        let was_open = opened.is_some();
        match open_and_read(&mut opened, &config, &sink.node_name).await {
            Ok(measurements) => {
                if let Some(row) =
                    sink.telemetry
                        .sensors
                        .record_ok(&config.name, &measurements, wall_ms())
                {
                    tracing::info!(sensor = %config.name, "sensor ok");
                    replicate_health(&sink, &row);
                }
                publish(&sink, &config, &measurements, &mut last_published);
                wait = poll.saturating_sub(started.elapsed());
            }
            Err(error) => {
                let error = error.to_string();
                if let Some(row) =
                    sink.telemetry
                        .sensors
                        .record_failure(&config.name, &error, wall_ms())
                {
                    tracing::warn!(sensor = %config.name, %error, "sensor failed; retrying with backoff");
                    replicate_health(&sink, &row);
                }
                sink.telemetry.counters.error("sensor_read");
                sink.state.write_held(true); // held good readings first: the stale mark wins
                mark_stale(&sink, &config.name);
                let failures = sink.telemetry.sensors.failures(&config.name);
                if was_open && failures >= REOPEN_AFTER_FAILURES {
                    close(&mut opened);
                }
                wait = retry_wait(failures, poll);
            }
        }
    }
}

/// Writes the measurements the publish policy lets through.
fn publish(
    sink: &SensorSink,
    config: &SensorConfig,
    measurements: &[Measurement],
    last_published: &mut std::collections::BTreeMap<officemesh_sensors::Quantity, (f64, u64)>,
) {
    let taken_at_ms = wall_ms();
    for measurement in measurements {
        // The publish policy (per quantity): write only on a change beyond `publish_delta`
        // or when the heartbeat is due, so steady values do not flood the mesh.
        let policy = config.publish_policy(measurement.quantity);
        let previous = last_published.get(&measurement.quantity).copied();
        let elapsed = previous
            .map(|(_, at): (f64, u64)| Duration::from_millis(taken_at_ms.saturating_sub(at)))
            .unwrap_or(Duration::MAX);
        if !policy.should_publish(previous.map(|(value, _)| value), measurement.value, elapsed) {
            continue;
        }
        let key = Key::Reading {
            node: sink.node,
            sensor: config.name.clone(),
            quantity: measurement.quantity,
        };
        let value = Value::Reading(ReadingValue {
            value: measurement.value,
            unit: measurement.quantity.unit().to_string(),
            room: sink.room.clone(),
            status: ReadingStatus::Ok,
            taken_at_ms,
        });
        match sink.state.write_later(key, value) {
            Ok(()) => {
                last_published.insert(measurement.quantity, (measurement.value, taken_at_ms));
            }
            Err(err) => tracing::warn!(error = %err, "reading not recorded"),
        }
    }
}

/// Marks this sensor's readings stale (the value stays: the last good one).
fn mark_stale(sink: &SensorSink, sensor: &str) {
    let stale: Vec<(Key, Value)> = {
        let replica = sink.state.replica();
        replica
            .live()
            .filter_map(|(key, value)| match (key, value) {
                (
                    Key::Reading {
                        node, sensor: s, ..
                    },
                    Value::Reading(reading),
                ) if *node == sink.node && s == sensor && reading.status == ReadingStatus::Ok => {
                    let mut reading = reading.clone();
                    reading.status = ReadingStatus::Stale;
                    Some((key.clone(), Value::Reading(reading)))
                }
                _ => None,
            })
            .collect()
    };
    for (key, value) in stale {
        let _ = sink.state.write(key, Some(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_are_capped() {
        let poll = Duration::from_secs(10);
        let waits: Vec<u64> = (1..=9).map(|n| retry_wait(n, poll).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_wait(20, Duration::from_secs(600)).as_secs(), 600);
    }
}
