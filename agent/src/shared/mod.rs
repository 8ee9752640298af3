//! `Shared`: the bundle `runtime` builds once per agent and hands out in pieces — the node's
//! identity and config, and four narrow handles, each module taking only the ones it uses:
//! - [`StateHandle`] (`state`): the replica, the clock, durable writes, local-write
//!   notifications, held readings; `write` / `write_durable` are the state's door;
//! - [`MeshView`] (`mesh_view`): the peer table, the mesh event log, the own clock's lead,
//!   `completeness` and `caught_up`;
//! - [`Telemetry`] (`telemetry`): counters and this node's sensor board;
//! - [`PresenceState`] (`presence`): own sightings, claim codes, the first-scan flag.
//!
//! The faces (API, chat, MQTT, alerts, events) depend on this and on the core, never on
//! `runtime` (which starts the loops).
//! Must not touch: sockets, SQLite directly (only through `StoreHandle`), sensors.

mod mesh_view;
mod presence;
mod state;
mod telemetry;

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::counters::Counters;
use crate::crdt::NodeId;
use crate::sensor_health::SensorBoard;
use crate::state::Replica;
use crate::store::StoreHandle;

pub use mesh_view::{MeshView, PeerTable, ALONE_GRACE_MS};
pub use presence::PresenceState;
pub use state::{StateHandle, WriteError};
pub use telemetry::Telemetry;

/// Everything the agent's tasks share, as narrow handles.
pub struct Shared {
    pub config: Arc<Config>,
    pub node: NodeId,
    /// `node.name`, or the host name.
    pub name: String,
    pub started_at_ms: u64,
    /// The replicated state and its writes.
    pub state: Arc<StateHandle>,
    /// The peers, mesh events and the own clock's lead.
    pub mesh: Arc<MeshView>,
    /// Counters and sensor health.
    pub telemetry: Arc<Telemetry>,
    /// Own sightings and claim codes.
    pub presence: Arc<PresenceState>,
    /// Alert texts for the chat adapters to post into `chat.alert_room`.
    pub chat_alerts: tokio::sync::broadcast::Sender<String>,
}

impl Shared {
    /// Puts the parts together; `runtime::Agent::start` is the one caller.
    pub fn new(
        config: Config,
        node: NodeId,
        name: String,
        clock: Clock,
        started_at_ms: u64,
        replica: Replica,
        store: StoreHandle,
    ) -> Shared {
        let readings_batch = std::time::Duration::from_millis(config.storage.readings_batch_ms);
        let scans = config.presence.interface.as_deref() != Some("");
        let mesh = Arc::new(MeshView::new(started_at_ms, config.gossip.seeds.is_empty()));
        Shared {
            state: Arc::new(StateHandle::new(
                clock,
                replica,
                store,
                readings_batch,
                mesh.clone(),
            )),
            mesh,
            telemetry: Arc::new(Telemetry {
                counters: Counters::default(),
                sensors: SensorBoard::new(&config.sensors),
            }),
            presence: Arc::new(PresenceState::new(scans, config.presence.consider_home_s)),
            chat_alerts: tokio::sync::broadcast::channel(64).0,
            config: Arc::new(config),
            node,
            name,
            started_at_ms,
        }
    }

    /// Whether this node's view has caught up with the mesh and the LAN
    /// ([`MeshView::caught_up`]).
    pub fn caught_up(&self, now_ms: u64) -> bool {
        self.mesh.caught_up(&self.presence, now_ms)
    }

    /// `host:port` where devices on the LAN reach this node's API (for claim links): the API's
    /// listen address, or when it listens on every address, the gossip address's host, or the
    /// presence interface's address.
    pub fn api_public_addr(&self) -> String {
        let listen = self.config.api.listen;
        if !listen.ip().is_unspecified() {
            return listen.to_string();
        }
        let gossip = &self.config.gossip;
        let gossip_host = if gossip.advertise.is_empty() {
            Some(gossip.listen.ip())
        } else {
            gossip
                .advertise
                .parse::<std::net::SocketAddr>()
                .ok()
                .map(|addr| addr.ip())
        };
        if let Some(host) = gossip_host.filter(|ip| !ip.is_unspecified()) {
            return std::net::SocketAddr::new(host, listen.port()).to_string();
        }
        let interface = match self.config.presence.interface.as_deref() {
            Some(name) => Some(name.to_string()),
            None => officemesh_sensors::presence::interface::choose_interface()
                .ok()
                .flatten()
                .map(|(name, _)| name),
        };
        let subnet =
            interface.map(|name| officemesh_sensors::presence::subnet::interface_ipv4(&name));
        match subnet.unwrap_or(Ok(None)) {
            Ok(Some(subnet)) => format!("{}:{}", subnet.address, listen.port()),
            _ => format!("{}:{}", self.name, listen.port()),
        }
    }
}
