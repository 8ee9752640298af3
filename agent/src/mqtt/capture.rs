//! Copies this node's readings, as they are written (`StateHandle::local_writes`), into the
//! store-and-forward buffer — one transaction per burst (writes within 50 ms) — and wakes the publisher. Counts what
//! it captured, what the bound dropped, and readings missed if it ever fell behind.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use super::{BufferedReading, Outbox};
use crate::crdt::NodeId;
use crate::shared::Telemetry;
use crate::state::{Entry, Key, ReadingStatus, Value};

/// How long a burst of writes is collected into one buffer transaction.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(50);

/// This node's reading in `entry`, if it is one.
pub fn reading_of(me: NodeId, entry: &Entry) -> Option<BufferedReading> {
    match (&entry.key, &entry.value) {
        (
            Key::Reading {
                node,
                sensor,
                quantity,
            },
            Some(Value::Reading(reading)),
        ) if *node == me => Some(BufferedReading {
            sensor: sensor.clone(),
            quantity: quantity.as_str().to_string(),
            value: reading.value,
            unit: reading.unit.clone(),
            status: match reading.status {
                ReadingStatus::Ok => "ok",
                ReadingStatus::Stale => "stale",
            }
            .to_string(),
            room: reading.room.clone(),
            taken_at_ms: reading.taken_at_ms,
        }),
        _ => None,
    }
}

/// Runs until shutdown (then stores what is already queued) or until writes stop.
pub(crate) async fn run(
    me: NodeId,
    telemetry: Arc<Telemetry>,
    outbox: Arc<Outbox>,
    mut writes: broadcast::Receiver<Entry>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let mut batch = Vec::new();
        let mut stopping = false;
        tokio::select! {
            received = writes.recv() => match received {
                Ok(entry) => batch.extend(reading_of(me, &entry)),
                Err(RecvError::Lagged(missed)) => {
                    tracing::error!(missed, "MQTT capture fell behind; some writes were not looked at");
                    telemetry.counters.errors_add("mqtt_capture_lagged", missed);
                }
                Err(RecvError::Closed) => stopping = true,
            },
            _ = shutdown.changed() => stopping = true,
        }
        if !batch.is_empty() && !stopping {
            // A poll writes its quantities one after the other: collect them for one transaction.
            let deadline = tokio::time::Instant::now() + COALESCE;
            while let Ok(received) = tokio::time::timeout_at(deadline, writes.recv()).await {
                match received {
                    Ok(entry) => batch.extend(reading_of(me, &entry)),
                    Err(RecvError::Lagged(missed)) => {
                        telemetry.counters.errors_add("mqtt_capture_lagged", missed);
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        }
        loop {
            match writes.try_recv() {
                Ok(entry) => batch.extend(reading_of(me, &entry)),
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    telemetry.counters.errors_add("mqtt_capture_lagged", missed);
                }
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            store_batch(&telemetry, &outbox, batch).await;
        }
        if stopping {
            return;
        }
    }
}

/// Stores one batch of readings in the buffer, counts them (and what the bound dropped) and
/// wakes the publisher; a failed transaction is counted and logged, never fatal.
async fn store_batch(telemetry: &Telemetry, outbox: &Arc<Outbox>, batch: Vec<BufferedReading>) {
    let count = batch.len() as u64;
    let delivered = outbox
        .delivered_through
        .load(std::sync::atomic::Ordering::Acquire);
    let result = outbox
        .with(move |buffer| {
            let dropped = buffer.push(&batch, delivered)?;
            Ok((dropped, buffer.len()?, buffer.max()))
        })
        .await;
    let (dropped, waiting, buffer_max) = match result {
        Ok(figures) => figures,
        Err(err) => {
            telemetry.counters.error("mqtt_buffer");
            tracing::error!(error = %err, "readings not buffered for MQTT");
            return;
        }
    };
    let mqtt = &telemetry.counters.mqtt;
    mqtt.captured_total.add(count);
    mqtt.buffered.set(waiting);
    if dropped > 0 {
        mqtt.dropped_total.add(dropped);
        telemetry.counters.errors_add("mqtt_buffer_full", dropped);
        tracing::warn!(
            dropped,
            total_dropped = mqtt.dropped_total.get(),
            buffer_max,
            "MQTT buffer full: dropped the oldest readings (raise mqtt.buffer_max or fix the broker)"
        );
    }
    outbox.added.notify_one();
}
