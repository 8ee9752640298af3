//! Runs the gossip protocol core over the TCP/Noise transport: the glue between the pure
//! `gossip::GossipCore`, the node's `Replica` (in `runtime::Shared`) and `net::Transport`.
//!
//! - `GossipDriver` answers payloads arriving on gossip connections (decode → core → encode)
//!   and starts rounds;
//! - `start` binds the gossip port, serves it, and runs one round per `gossip.interval_ms`,
//!   one exchange task per chosen peer; on shutdown it announces the leave.
//!
//! Lock order: the core first, then the replica. Neither is held across an `.await`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::watch;

use crate::clock::wall_ms;
use crate::gossip::{self, GossipCore, GossipParams, Outgoing};
use crate::net::{PayloadHandler, Transport};
use crate::runtime::{Agent, PeerStatus, Shared};
use crate::state::query::node_names;

/// The gossip core of this node, driven by the transport and the round timer.
pub struct GossipDriver {
    core: Mutex<GossipCore>,
    rng: Mutex<StdRng>,
    shared: Arc<Shared>,
}

impl GossipDriver {
    pub fn new(shared: Arc<Shared>, advertise: String) -> GossipDriver {
        let gossip_config = &shared.config.gossip;
        let params = GossipParams {
            cluster: gossip_config.cluster.clone(),
            interval_ms: gossip_config.interval_ms,
            fanout: gossip_config.fanout,
            max_delta_bytes: gossip_config.max_delta_bytes,
            tombstone_grace_ms: gossip_config.tombstone_grace_s.saturating_mul(1000),
            ..GossipParams::default()
        };
        let core = GossipCore::new(shared.node, advertise, params, gossip_config.seeds.clone());
        GossipDriver {
            core: Mutex::new(core),
            rng: Mutex::new(StdRng::from_entropy()),
            shared,
        }
    }

    fn core(&self) -> MutexGuard<'_, GossipCore> {
        self.core
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Starts a round: the Syns to send, encoded, with their destinations.
    fn tick(&self) -> Vec<(String, gossip::MessageKind, Vec<u8>)> {
        let now_ms = wall_ms();
        let mut core = self.core();
        let outgoing = {
            let mut rng = self.rng.lock().unwrap_or_else(|poison| poison.into_inner());
            let mut replica = self.shared.replica();
            replica.set_publish_limit(Some(self.shared.durable_own_version()));
            core.tick(now_ms, &mut *rng, &mut replica)
        };
        self.shared.counters.gossip.rounds_total.inc();
        let encoded = encode_all(&mut core, outgoing);
        self.publish_peers(&core, now_ms);
        encoded
    }

    /// Announces that this node leaves (graceful shutdown).
    fn leave(&self) -> Vec<(String, gossip::MessageKind, Vec<u8>)> {
        let now_ms = wall_ms();
        let mut core = self.core();
        let outgoing = {
            let mut rng = self.rng.lock().unwrap_or_else(|poison| poison.into_inner());
            let mut replica = self.shared.replica();
            replica.set_publish_limit(Some(self.shared.durable_own_version()));
            core.leave(now_ms, &mut *rng, &mut replica)
        };
        encode_all(&mut core, outgoing)
    }

    fn note_unreachable(&self, addr: &str) {
        self.core().note_unreachable(wall_ms(), addr);
    }

    /// Copies the core's view of the peers into `Shared::peers` for the API and alerts.
    fn publish_peers(&self, core: &GossipCore, now_ms: u64) {
        let peers: Vec<PeerStatus> = {
            let replica = self.shared.replica();
            let names = node_names(&replica);
            core.peers(now_ms, &replica)
                .into_iter()
                .map(|peer| {
                    let (name, room) = names
                        .get(&peer.node)
                        .cloned()
                        .unwrap_or_else(|| (peer.node.to_string(), String::new()));
                    PeerStatus {
                        node: peer.node,
                        name,
                        room,
                        gossip_addr: peer.addr,
                        status: peer.status.as_str().to_string(),
                        heartbeat_age_ms: Some(peer.heartbeat_age_ms),
                        phi: Some(peer.phi).filter(|phi| phi.is_finite()),
                        missing_versions: peer.missing_versions,
                        unreachable_since_ms: peer.unreachable_since_ms,
                    }
                })
                .collect()
        };
        *self
            .shared
            .peers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = peers;
    }
}

fn encode_all(
    core: &mut GossipCore,
    outgoing: Vec<Outgoing>,
) -> Vec<(String, gossip::MessageKind, Vec<u8>)> {
    outgoing
        .into_iter()
        .map(|Outgoing { to, message }| {
            let kind = message.kind();
            let bytes = gossip::encode(&message);
            core.note_sent_bytes(kind, bytes.len());
            (to, kind, bytes)
        })
        .collect()
}

impl PayloadHandler for GossipDriver {
    fn on_payload(&self, peer: SocketAddr, payload: &[u8]) -> Vec<Vec<u8>> {
        let now_ms = wall_ms();
        let mut core = self.core();
        let message = match gossip::decode(payload) {
            Ok(message) => message,
            Err(err) => {
                core.note_decode_error();
                self.shared.counters.error("gossip_decode");
                tracing::warn!(%peer, error = %err, "undecodable gossip message; ending this exchange");
                return Vec::new();
            }
        };
        core.note_received_bytes(message.kind(), payload.len());
        let replies = {
            let mut replica = self.shared.replica();
            replica.set_publish_limit(Some(self.shared.durable_own_version()));
            let replies = core.handle(
                now_ms,
                &peer.to_string(),
                message,
                &mut replica,
                self.shared.clock.accept_limit(),
            );
            // Later local writes must win over everything merged so far.
            self.shared.clock.raise_floor(replica.max_stamp_time());
            replies
        };
        replies
            .into_iter()
            .map(|reply| {
                let bytes = gossip::encode(&reply);
                core.note_sent_bytes(reply.kind(), bytes.len());
                bytes
            })
            .collect()
    }
}

/// The address peers use to reach this node: `gossip.advertise`, else `gossip.listen`.
pub fn advertise_addr(shared: &Shared) -> String {
    let gossip = &shared.config.gossip;
    if gossip.advertise.trim().is_empty() {
        gossip.listen.to_string()
    } else {
        gossip.advertise.trim().to_string()
    }
}

/// Binds the gossip port and starts serving it and the round timer as tasks of `agent`.
pub async fn start(agent: &mut Agent) -> anyhow::Result<Arc<GossipDriver>> {
    let shared = agent.shared.clone();
    let gossip_config = shared.config.gossip.clone();
    if gossip_config.insecure {
        tracing::warn!(
            "GOSSIP IS NOT ENCRYPTED OR AUTHENTICATED (gossip.insecure = true): anyone on this \
             network can read presence data and inject readings. Development only."
        );
    }
    let transport = Transport::from_config(&gossip_config).with_context(|| {
        format!(
            "cannot load the cluster key for gossip (gossip.key_file = {})",
            gossip_config.key_file.display()
        )
    })?;
    let listener = tokio::net::TcpListener::bind(gossip_config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen for gossip on {} (is another agent running? set gossip.listen)",
                gossip_config.listen
            )
        })?;
    let advertise = advertise_addr(&shared);
    if advertise.starts_with("0.0.0.0") || advertise.starts_with("[::]") {
        tracing::warn!(
            advertise = %advertise,
            "gossip.advertise is not set and gossip.listen is a wildcard: peers cannot dial this \
             node back; set gossip.advertise to this Pi's address"
        );
    }
    let driver = Arc::new(GossipDriver::new(shared.clone(), advertise.clone()));
    tracing::info!(
        listen = %gossip_config.listen,
        advertise = %advertise,
        seeds = ?gossip_config.seeds,
        cluster = %gossip_config.cluster,
        "gossip running"
    );

    let mut serve_shutdown = agent.shutdown_signal();
    let serve_transport = transport.clone();
    let handler: Arc<dyn PayloadHandler> = driver.clone();
    agent.spawn(async move {
        serve_transport
            .serve(listener, handler, async move {
                let _ = serve_shutdown.changed().await;
            })
            .await;
    });
    agent.spawn(round_loop(
        driver.clone(),
        transport,
        agent.shutdown_signal(),
    ));
    Ok(driver)
}

async fn round_loop(
    driver: Arc<GossipDriver>,
    transport: Transport,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = Duration::from_millis(driver.shared.config.gossip.interval_ms);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_net = transport.stats();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {
                // Tell a few peers we leave, so they mark us `left` instead of suspecting us.
                let mut sends = tokio::task::JoinSet::new();
                for (to, _, bytes) in driver.leave() {
                    let transport = transport.clone();
                    let handler: Arc<dyn PayloadHandler> = driver.clone();
                    sends.spawn(async move { transport.exchange(&to, bytes, handler).await });
                }
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while sends.join_next().await.is_some() {}
                })
                .await;
                return;
            }
        }
        for (to, _kind, bytes) in driver.tick() {
            let transport = transport.clone();
            let driver = driver.clone();
            tokio::spawn(async move {
                let handler: Arc<dyn PayloadHandler> = driver.clone();
                if let Err(err) = transport.exchange(&to, bytes, handler).await {
                    tracing::debug!(peer = %to, error = %err, "gossip exchange failed");
                    driver.note_unreachable(&to);
                }
            });
        }
        let net = transport.stats();
        let counters = &driver.shared.counters.gossip;
        counters
            .bytes_sent_total
            .add(net.bytes_sent.saturating_sub(last_net.bytes_sent));
        counters
            .bytes_received_total
            .add(net.bytes_received.saturating_sub(last_net.bytes_received));
        last_net = net;
    }
}
