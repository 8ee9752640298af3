//! Presence scanning: the loop that asks the scanner (neighbour table, or simulated devices)
//! for the devices on the LAN, keeps them in this node's own sightings (`PresenceState::sightings`,
//! memory only), and writes what the replicated state should say (`presence_writes`). Only one
//! node per subnet sweeps the subnet (the sweeper, from the membership view, once elected in
//! two scans in a row); the others read their neighbour table and probe its stale entries. Unknown devices are forgotten `forget_unknown_after_s` after they were
//! last seen.
//!
//! Must not touch: SQLite, sockets (the scanner in `officemesh_sensors` does the probing).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use officemesh_sensors::sim::SimNetwork;
use officemesh_sensors::{MacAddr, PresenceScanner};
use tokio::sync::watch;

use super::presence_writes::{presence_writes, PresenceRules};
use super::seed_from_text;
use crate::clock::wall_ms;
use crate::config::Config;
use crate::crdt::NodeId;
use crate::shared::{MeshView, PresenceState, StateHandle};
use crate::state::presence::sweeper;
use crate::state::{Key, Value};
use crate::sync::lock;

/// What the presence loop uses: the state it writes, the peers (who sweeps the subnet), this
/// node's own sightings, its id and config.
#[derive(Clone)]
pub struct PresenceSink {
    pub state: Arc<StateHandle>,
    pub mesh: Arc<MeshView>,
    pub presence: Arc<PresenceState>,
    pub config: Arc<Config>,
    pub node: NodeId,
}

pub(super) fn build_scanner(
    config: &Config,
    node_name: &str,
) -> anyhow::Result<Option<Box<dyn PresenceScanner>>> {
    let presence = &config.presence;
    let scanner = match presence.interface.as_deref() {
        Some("") => return Ok(None),
        Some("sim") => {
            return Ok(Some(Box::new(SimNetwork::new(
                seed_from_text(node_name),
                presence.sim_devices,
            ))))
        }
        Some(interface) => officemesh_sensors::NeighborScanner::new(interface),
        None => officemesh_sensors::NeighborScanner::auto(),
    };
    let interval = Duration::from_secs(presence.scan_interval_s);
    Ok(Some(Box::new(
        scanner
            .with_cap_prefix(presence.sweep_prefix)
            .with_pace(Duration::from_millis(presence.probe_pace_ms))
            .with_scan_interval(interval)
            // Datagrams take at most two thirds of a scan: the sweep ends before the next one.
            .with_budget(interval * 2 / 3),
    )))
}

pub(super) async fn presence_loop(
    sink: PresenceSink,
    scanner: Box<dyn PresenceScanner>,
    mut shutdown: watch::Receiver<bool>,
) {
    let scanner = Arc::new(Mutex::new(scanner));
    let mut tick = tokio::time::interval(Duration::from_secs(sink.config.presence.scan_interval_s));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweeping = None;
    // Elected in the previous scan too: a node just started (or just back) does not sweep
    // before the membership view shows its peers, so two nodes never sweep one subnet at once.
    let mut elected_before = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let subnet = lock(&scanner).subnet();
        let sweeper = sweeper(
            &sink.state.replica(),
            sink.node,
            &subnet,
            &sink.mesh.peers(),
        );
        let elected = sweeper == sink.node;
        let sweep = elected && elected_before;
        elected_before = elected;
        if sweeping != Some(sweep) {
            let role = match (sweep, elected) {
                (true, _) => "this node sweeps the subnet",
                (false, true) => "this node sweeps the subnet from its next scan (its peers show first)",
                (false, false) => "another node sweeps the subnet; reading the neighbour table and probing its stale entries only",
            };
            tracing::info!(subnet = %subnet, sweeper = %sweeper, "presence: {role}");
            sweeping = Some(sweep);
        }
        let scanner = scanner.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut scanner = lock(&scanner);
            scanner.set_wake(sweep);
            scanner.scan()
        })
        .await;
        let neighbors = match result {
            Ok(Ok(neighbors)) => neighbors,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "presence scan failed");
                continue;
            }
            Err(join_err) if join_err.is_cancelled() => {
                tracing::info!("presence scan {}", super::join_failure(&join_err));
                continue;
            }
            Err(join_err) => {
                tracing::error!(error = %join_err, "presence scan panicked");
                continue;
            }
        };
        record_neighbors(&sink, &neighbors, &subnet, wall_ms());
        sink.presence.mark_scanned();
    }
}

/// Records one scan: into this node's own sightings, then the replicated writes it causes, then
/// forgets unknown devices not seen for `forget_unknown_after_s`.
pub fn record_neighbors(
    sink: &PresenceSink,
    neighbors: &[officemesh_sensors::Neighbor],
    subnet: &str,
    now_ms: u64,
) {
    let presence = &sink.config.presence;
    sink.presence.sightings.observe(neighbors, now_ms);
    let rules = PresenceRules {
        consider_home_ms: sink.presence.consider_home_ms(),
        scan_interval_ms: presence.scan_interval_s * 1000,
        history_days: presence.history_days,
        subnet: subnet.to_string(),
        room: sink.config.node.room.clone(),
    };
    let own = sink.presence.sightings.snapshot();
    let (writes, registered) = {
        let replica = sink.state.replica();
        let pi_ips = mesh_addresses(&replica);
        let registered: BTreeSet<MacAddr> = replica
            .live()
            .filter_map(|(key, _)| match key {
                Key::Person { mac, .. } => Some(*mac),
                _ => None,
            })
            .collect();
        (
            presence_writes(&replica, &own, &pi_ips, &rules, now_ms),
            registered,
        )
    };
    // No count written: it equals the one in the state, so a different one still held is out
    // of date (a phone came and went within `readings_batch_ms`).
    let devices = Key::Devices {
        observer: sink.node,
    };
    if !writes.iter().any(|(key, _)| *key == devices) {
        sink.state.held.forget(&devices);
    }
    for (key, value) in writes {
        // The unknown-device count changes with every phone that dozes off: held and coalesced
        // like readings (`StateHandle::write_later`); everything else is written now.
        let written = match (key, value) {
            (key @ Key::Devices { .. }, Some(count)) => sink.state.write_later(key, count),
            (key, value) => sink.state.write(key, value).map(|_| ()),
        };
        if let Err(err) = written {
            tracing::warn!(error = %err, "presence not recorded");
        }
    }
    let forgotten = sink.presence.sightings.forget_unknown(
        &registered,
        now_ms,
        presence.forget_unknown_after_s * 1000,
    );
    if forgotten > 0 {
        tracing::debug!(forgotten, "unknown devices forgotten");
    }
}

/// The IP addresses of the mesh's own nodes (from `node/<id>` entries): Pis are not devices
/// anyone carries, so they are not counted.
fn mesh_addresses(replica: &crate::state::Replica) -> BTreeSet<String> {
    replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Node(_), Value::Node(info)) => {
                Some([info.gossip_addr.clone(), info.api_addr.clone()])
            }
            _ => None,
        })
        .flatten()
        .filter_map(|addr| addr.parse::<std::net::SocketAddr>().ok())
        .map(|addr| addr.ip().to_string())
        .collect()
}
