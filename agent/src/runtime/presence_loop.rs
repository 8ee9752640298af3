//! Presence scanning: the loop that asks the scanner (neighbour table, or simulated devices)
//! for the devices on the LAN and records them as `mac/<mac>/<this node>` entries.
//!
//! Must not touch: SQLite, sockets (the scanner in `officemesh_sensors` does the probing).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use officemesh_sensors::sim::SimNetwork;
use officemesh_sensors::PresenceScanner;
use tokio::sync::watch;

use super::seed_from_text;
use crate::clock::wall_ms;
use crate::shared::Shared;
use crate::state::{Key, MacSeen, Value};
use crate::sync::lock;

pub(super) fn build_scanner(shared: &Shared) -> anyhow::Result<Option<Box<dyn PresenceScanner>>> {
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

pub(super) async fn presence_loop(
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
        let result = tokio::task::spawn_blocking(move || lock(&scanner).scan()).await;
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
