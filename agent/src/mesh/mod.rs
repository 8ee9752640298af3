//! Runs this node's `gossip::Node` (the sans-IO core) over the TCP/Noise transport: transport
//! in, effects out. The glue around a merge (decoding, byte counts, publish limit, clock floor)
//! is `Node`'s; this module only feeds it and acts on its `Effects`.
//!
//! - `GossipDriver` hands payloads arriving on gossip connections to `Node::on_message` and
//!   writes back the replies, and starts rounds (`on_tick`, `on_early_round`, `on_leave`);
//! - `start` binds the gossip port, serves it, and runs one round per `gossip.interval_ms`,
//!   one exchange task per chosen peer, plus an early round when the node says one is due
//!   after entries were merged or written here; on shutdown it announces the leave;
//! - mesh events (`events::EventLog` in `MeshView::events`) are recorded here: the node's typed
//!   events (peers' transitions each round, exchanges, clocks) and refusals, named after the
//!   peer, and refusals from the transport's counters;
//! - the protocol each peer's connection agreed on is recorded in `MeshView` (by the sender
//!   named in each message, `sender`), for `MeshView::all_members_speak`.
//!
//! Lock order: the node first, then the replica. Neither is held across an `.await`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::watch;

use crate::clock::wall_ms;
use crate::events::{EventKind, MeshEvent};
use crate::gossip::{self, Effects, Envelope, GossipCore, GossipParams, Node, NodeEvent, Refusal};
use crate::log_summary::LogSummary;
use crate::net::hello::NoCommonVersion;
use crate::net::{NetError, NetStatsSnapshot, PayloadHandler, Transport};
use crate::peer::PeerStatus;
use crate::runtime::Agent;

mod events;
mod sender;
use crate::config::GossipConfig;
use crate::shared::{MeshView, Shared, StateHandle, Telemetry};
use crate::state::query::node_names;
use crate::state::Replica;
use events::{event_peer, mesh_event, RefusalTally};

/// This node's gossip `Node`, driven by the transport and the round timer.
pub struct GossipDriver {
    node: Mutex<Node>,
    state: Arc<StateHandle>,
    mesh: Arc<MeshView>,
    telemetry: Arc<Telemetry>,
    gossip: GossipConfig,
    /// Repeated warnings (undecodable messages) summarized per address per minute.
    warnings: LogSummary,
    /// Woken when an exchange merged entries: the round loop then asks the node whether an
    /// early round is due (something new to pass on before the next tick).
    merged: tokio::sync::Notify,
}

/// Events that could repeat every exchange (clock-ahead entries, refusals) are recorded at
/// most once per peer per this long.
const REPEAT_EVENT_GAP_MS: u64 = 10_000;

impl GossipDriver {
    /// The driver of node `me`, reachable at `advertise`, over the handles it takes.
    pub fn new(shared: &Shared, advertise: String) -> GossipDriver {
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
        let node = Node::new(core, StdRng::from_entropy(), shared.state.clock().clone());
        GossipDriver {
            node: Mutex::new(node),
            state: shared.state.clone(),
            mesh: shared.mesh.clone(),
            telemetry: shared.telemetry.clone(),
            gossip: shared.config.gossip.clone(),
            warnings: LogSummary::default(),
            merged: tokio::sync::Notify::new(),
        }
    }

    /// The node, locked, told which own writes are committed to SQLite (peers see only those).
    fn node(&self) -> MutexGuard<'_, Node> {
        let mut node = crate::sync::lock(&self.node);
        node.set_publish_limit(Some(self.state.durable_own_version()));
        node
    }

    /// Starts a round: the `Syn`s to send, encoded, with their destinations. Records the
    /// round's events (peers' transitions, what the look at the clocks found); while this node runs ahead of the mesh, its own
    /// writes stamped ahead are re-stamped in the same round (`Effects::restamped`) before
    /// anything else is written, and its measured offset is published after that.
    fn tick(&self) -> Vec<Envelope> {
        let now_ms = wall_ms();
        let mut node = self.node();
        let effects = {
            let mut replica = self.state.replica();
            let effects = node.on_tick(now_ms, &mut replica);
            self.record_events(now_ms, &effects.events, &replica);
            effects
        };
        let restamped = effects.restamped.len();
        if restamped > 0 {
            let correction_ms = node.clock().correction_ms();
            let detail = format!(
                "this node's clock runs {} ahead of the mesh's median: re-stamped {restamped} \
                 of its writes stamped ahead at the mesh's time so peers take them",
                crate::state::query::duration_words(correction_ms)
            );
            tracing::warn!(entries = restamped, ahead_ms = correction_ms, "{detail}");
            self.mesh.events.record(
                MeshEvent::new(now_ms, EventKind::ClockRestamped, detail)
                    .number("entries", restamped as u64)
                    .number("ahead_ms", correction_ms),
            );
        }
        self.mesh.set_own_clock_offset(node.own_clock_offset_ms());
        self.telemetry.counters.gossip.rounds_total.inc();
        self.publish_peers(&node, now_ms);
        effects.messages
    }

    /// An early round if the node says one is due (it holds something new since its last
    /// round): the `Syn`s to send; else how long until one will be (if something is new).
    /// Heartbeats, GC and peer publishing stay with `tick`.
    fn early_round(&self) -> (Vec<Envelope>, Option<Duration>) {
        let now_ms = wall_ms();
        let (effects, at) = self
            .node()
            .on_early_round(now_ms, &mut self.state.replica());
        let wait = at.map(|at| Duration::from_millis(at.saturating_sub(now_ms)));
        (effects.messages, wait)
    }

    /// Announces that this node leaves (graceful shutdown).
    fn leave(&self) -> Vec<Envelope> {
        let now_ms = wall_ms();
        let effects = self.node().on_leave(now_ms, &mut self.state.replica());
        effects.messages
    }

    fn note_unreachable(&self, addr: &str) {
        self.node().note_unreachable(wall_ms(), addr);
    }

    /// Copies the node's view of the peers into `MeshView::peers` for the API and alerts.
    fn publish_peers(&self, node: &Node, now_ms: u64) {
        let peers: Vec<PeerStatus> = {
            let replica = self.state.replica();
            let names = node_names(&replica);
            node.peers(now_ms, &replica)
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
                        status: peer.status,
                        heartbeat_age_ms: Some(peer.heartbeat_age_ms),
                        phi: Some(peer.phi).filter(|phi| phi.is_finite()),
                        missing_versions: peer.missing_versions,
                        unreachable_since_ms: peer.unreachable_since_ms,
                        clock_ahead_ms: peer.clock_ahead_ms,
                        clock_offset_ms: peer.clock_offset_ms,
                    }
                })
                .collect()
        };
        self.mesh.peers.publish(peers);
    }

    /// Acts on what one handled message caused: counts a merge (and wakes the round loop),
    /// logs and records refusals, records the node's events named after the peer. `replica`
    /// is locked by the caller (for the peer's name).
    fn act_on(&self, now_ms: u64, peer: SocketAddr, effects: &Effects, replica: &Replica) {
        if effects.merged > 0 {
            let merged_at = &self.telemetry.counters.gossip.last_merge_unix_ms;
            merged_at.set(now_ms);
            self.merged.notify_one();
        }
        for refusal in &effects.refusals {
            self.note_refusal(now_ms, peer, refusal);
        }
        self.record_events(now_ms, &effects.events, replica);
    }

    /// Records the node's events (named after their peer) in the event log; peers'
    /// transitions are also logged, and clock offsets (a WARN when beyond
    /// `gossip.max_clock_offset_ms`).
    fn record_events(&self, now_ms: u64, events: &[NodeEvent], replica: &Replica) {
        if events.is_empty() {
            return;
        }
        let names = node_names(replica);
        let gossip = &self.gossip;
        for event in events {
            let context = (gossip.cluster.as_str(), gossip.max_clock_offset_ms);
            let Some((peer_id, addr)) = event_peer(event) else {
                let (mesh_event, _) = mesh_event(now_ms, "", context, event);
                log_event(&mesh_event, gossip.max_clock_offset_ms);
                self.mesh.events.record(mesh_event);
                continue;
            };
            let name = names
                .get(&peer_id)
                .map(|(name, _)| name.clone())
                .unwrap_or_else(|| addr.to_string());
            let (mesh_event, throttled) = mesh_event(now_ms, &name, context, event);
            let mesh_event = mesh_event.about(peer_id, &name);
            log_event(&mesh_event, gossip.max_clock_offset_ms);
            if throttled {
                self.mesh
                    .events
                    .record_throttled(mesh_event, REPEAT_EVENT_GAP_MS);
            } else {
                self.mesh.events.record(mesh_event);
            }
        }
    }

    /// Counts, records and logs (one line per address per minute) one refusal.
    fn note_refusal(&self, now_ms: u64, peer: SocketAddr, refusal: &Refusal) {
        let ip = peer.ip().to_string();
        match refusal {
            Refusal::Undecodable { error, .. } => {
                self.mesh.events.record_throttled(
                    MeshEvent::new(
                        now_ms,
                        EventKind::RefusedPeer,
                        format!("undecodable gossip message from {peer}: {error}"),
                    )
                    .number("decode_errors", 1),
                    REPEAT_EVENT_GAP_MS,
                );
                self.telemetry.counters.error("gossip_decode");
                if let Some(left_out) = self.warnings.admit("undecodable", &ip) {
                    tracing::warn!(%peer, %error, left_out, "undecodable gossip message; ending this exchange (one line per address per minute)");
                }
            }
            Refusal::RefusedByPeer { their_cluster, .. } => {
                if let Some(left_out) = self.warnings.admit("bad_cluster", &ip) {
                    tracing::warn!(
                        %peer,
                        their_cluster = %their_cluster,
                        our_cluster = %self.gossip.cluster,
                        left_out,
                        "a gossip peer refused this node: it is in another cluster (check \
                         gossip.cluster on both; one line per address per minute)"
                    );
                }
            }
            Refusal::Entry { entry, .. } => {
                if let Some(left_out) = self.warnings.admit("refused_entry", &ip) {
                    tracing::warn!(
                        %peer,
                        entry = %entry,
                        left_out,
                        "refused an entry from a peer: it breaks a limit (one line per peer per \
                         minute)"
                    );
                }
            }
        }
    }
}

impl PayloadHandler for GossipDriver {
    fn on_payload(&self, peer: SocketAddr, payload: &[u8]) -> Vec<Vec<u8>> {
        self.on_payload_in(peer, u16::from(gossip::LEGACY_PROTOCOL_VERSION), payload)
    }

    /// Replies are encoded in the connection's protocol (agreed in the handshake).
    fn on_payload_in(&self, peer: SocketAddr, protocol: u16, payload: &[u8]) -> Vec<Vec<u8>> {
        if let Some(node) = sender::sender(payload) {
            self.mesh.note_peer_protocol(node, protocol);
        }
        let protocol = u8::try_from(protocol).unwrap_or(gossip::PROTOCOL_VERSION);
        let now_ms = wall_ms();
        let mut node = self.node();
        let mut replica = self.state.replica();
        let from = peer.to_string();
        let effects = node.on_message(now_ms, &from, payload, protocol, &mut replica);
        self.act_on(now_ms, peer, &effects, &replica);
        effects.into_payloads()
    }

    /// Records an event naming both versions and logs (one line per address per minute).
    fn on_version_refused(&self, peer: &str, error: &NoCommonVersion) {
        let event = events::version_refused(wall_ms(), peer, error);
        self.mesh
            .events
            .record_throttled(event, REPEAT_EVENT_GAP_MS);
        let host = peer.rsplit_once(':').map_or(peer, |(host, _)| host);
        if let Some(left_out) = self.warnings.admit("version", host) {
            tracing::warn!(
                %peer,
                peer_protocol = error.peer_protocol,
                peer_oldest = error.peer_oldest,
                our_protocol = error.ours_protocol,
                our_oldest = error.ours_oldest,
                left_out,
                "refused a gossip peer: {error} (one line per address per minute)"
            );
        }
    }
}

/// Logs a peer's transition (INFO) or a clock-offset event: a WARN when the clock is beyond
/// `max_clock_offset_ms` (the event's `ahead_ms` / `behind_ms`), else an INFO. Other events
/// are left to the event log (and the warnings about them).
fn log_event(event: &MeshEvent, max_clock_offset_ms: u64) {
    use EventKind::*;
    match event.kind {
        ClockOffset => {}
        PeerJoined | PeerSuspect | PeerDead | PeerLeft | PeerAlive | CaughtUp | PeerForgotten
        | MeshHealed => {
            tracing::info!(kind = event.kind.as_str(), detail = %event.detail, "mesh event");
            return;
        }
        _ => return,
    }
    let offset = event.numbers.values().copied().max().unwrap_or(0);
    let peer = event.peer_name.as_deref().unwrap_or("this node");
    if offset > max_clock_offset_ms {
        tracing::warn!(
            kind = event.kind.as_str(),
            peer,
            offset_ms = offset,
            "{}",
            event.detail
        );
    } else {
        tracing::info!(
            kind = event.kind.as_str(),
            peer,
            offset_ms = offset,
            "{}",
            event.detail
        );
    }
}

/// The address peers use to reach this node: `gossip.advertise`, else `gossip.listen`.
pub fn advertise_addr(gossip: &GossipConfig) -> String {
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
    let advertise = advertise_addr(&gossip_config);
    if advertise.starts_with("0.0.0.0") || advertise.starts_with("[::]") {
        tracing::warn!(
            advertise = %advertise,
            "gossip.advertise is not set and gossip.listen is a wildcard: peers cannot dial this \
             node back; set gossip.advertise to this Pi's address"
        );
    }
    let driver = Arc::new(GossipDriver::new(&shared, advertise.clone()));
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
    let interval = Duration::from_millis(driver.gossip.interval_ms);
    let mut tick = tokio::time::interval(interval);
    // Rounds stay on the grid of whole intervals from start: a tick served late (a starved
    // process) neither shifts the later ones (`Delay` did, so lateness added up to fewer rounds
    // and fewer heartbeats than intervals) nor is made up in a burst (`Burst`).
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_net = transport.stats();
    let mut refusals = RefusalTally::default();
    let warnings = Arc::new(LogSummary::default());
    let mut local_writes = driver.state.local_writes.subscribe();
    // When a planned early round is to start.
    let mut early_at: Option<tokio::time::Instant> = None;
    loop {
        // A tick starts a round; entries merged from a peer or a local write start an early
        // one, now or when due (the core decides: only with something new, at the soonest half
        // an interval after the last round).
        let early = tokio::select! {
            _ = tick.tick() => None,
            _ = driver.merged.notified() => Some(driver.early_round()),
            _ = next_local_write(&mut local_writes) => Some(driver.early_round()),
            _ = tokio::time::sleep_until(early_at.unwrap_or_else(tokio::time::Instant::now)),
                if early_at.is_some() => Some(driver.early_round()),
            _ = shutdown.changed() => {
                announce_leave(&driver, &transport).await;
                return;
            }
        };
        let outgoing = match early {
            None => driver.tick(),
            Some((outgoing, wait)) => {
                early_at = wait.map(|wait| tokio::time::Instant::now() + wait);
                outgoing
            }
        };
        for Envelope { to, bytes, .. } in outgoing {
            tokio::spawn(exchange_with(
                driver.clone(),
                transport.clone(),
                warnings.clone(),
                to,
                bytes,
            ));
        }
        let net = transport.stats();
        count_transport(&driver, &last_net, &net, &mut refusals);
        last_net = net;
    }
}

/// What the transport did since `before`: byte counters, and refused peers as mesh events.
fn count_transport(
    driver: &GossipDriver,
    before: &NetStatsSnapshot,
    after: &NetStatsSnapshot,
    refusals: &mut RefusalTally,
) {
    let counters = &driver.telemetry.counters.gossip;
    counters
        .bytes_sent_total
        .add(after.bytes_sent.saturating_sub(before.bytes_sent));
    counters
        .bytes_received_total
        .add(after.bytes_received.saturating_sub(before.bytes_received));
    refusals.add(before, after);
    if let Some(event) = refusals.take_event(wall_ms()) {
        driver.mesh.events.record(event);
    }
}

/// Tells a few peers this node leaves (waiting at most 2 s), so they mark it `left` instead
/// of suspecting it.
async fn announce_leave(driver: &Arc<GossipDriver>, transport: &Transport) {
    let mut sends = tokio::task::JoinSet::new();
    for Envelope { to, bytes, .. } in driver.leave() {
        let transport = transport.clone();
        let handler: Arc<dyn PayloadHandler> = driver.clone();
        sends.spawn(async move { transport.exchange(&to, bytes, handler).await });
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while sends.join_next().await.is_some() {}
    })
    .await;
}

/// Runs one outbound exchange; a failure marks the peer unreachable and, when the peer refused
/// the handshake, says why (one line per peer per minute).
async fn exchange_with(
    driver: Arc<GossipDriver>,
    transport: Transport,
    warnings: Arc<LogSummary>,
    to: String,
    bytes: Vec<u8>,
) {
    let handler: Arc<dyn PayloadHandler> = driver.clone();
    let Err(err) = transport.exchange(&to, bytes, handler).await else {
        return;
    };
    let refused = matches!(
        err,
        NetError::ClosedDuringHandshake { .. } | NetError::Handshake { .. }
    );
    match warnings.admit("refused_by_peer", &to) {
        Some(left_out) if refused => tracing::warn!(
            peer = %to,
            error = %err,
            left_out,
            "a gossip peer refused this node: check gossip.key_file, gossip.cluster and \
             gossip.insecure on both (one line per peer per minute)"
        ),
        _ => tracing::debug!(peer = %to, error = %err, "gossip exchange failed"),
    }
    driver.note_unreachable(&to);
}

/// Waits for this node's next local write (any: the core checks whether it is visible to
/// peers yet); forever once the channel is closed.
async fn next_local_write(writes: &mut tokio::sync::broadcast::Receiver<crate::state::Entry>) {
    use tokio::sync::broadcast::error::RecvError;
    match writes.recv().await {
        Ok(_) | Err(RecvError::Lagged(_)) => {}
        Err(RecvError::Closed) => std::future::pending().await,
    }
}
