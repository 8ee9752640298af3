//! Runs the gossip protocol core over the TCP/Noise transport: the glue between the pure
//! `gossip::GossipCore`, the node's `Replica` (in `runtime::Shared`) and `net::Transport`.
//!
//! - `GossipDriver` answers payloads arriving on gossip connections (decode → core → encode)
//!   and starts rounds;
//! - `start` binds the gossip port, serves it, and runs one round per `gossip.interval_ms`,
//!   one exchange task per chosen peer, plus an early round when the core says one is due
//!   after entries were merged or written here; on shutdown it announces the leave;
//! - mesh events (`events::EventLog` in `Shared::events`) are recorded here: peer transitions
//!   from diffing the peer table each round (`events::PeerWatch`), per-exchange figures from
//!   the core's stats around each `handle`, and refusals from the transport's counters.
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
use crate::events::{EventKind, MeshEvent, PeerWatch, LARGE_DELTA_ENTRIES};
use crate::gossip::{self, GossipCore, GossipParams, Outgoing};
use crate::log_summary::LogSummary;
use crate::net::{NetError, NetStatsSnapshot, PayloadHandler, Transport};
use crate::peer::PeerStatus;
use crate::runtime::Agent;
use crate::shared::Shared;
use crate::state::query::node_names;

/// The gossip core of this node, driven by the transport and the round timer.
pub struct GossipDriver {
    core: Mutex<GossipCore>,
    rng: Mutex<StdRng>,
    shared: Arc<Shared>,
    /// The peer table as last seen, for transition events.
    watch: Mutex<PeerWatch>,
    /// Repeated warnings (undecodable messages) summarized per address per minute.
    warnings: LogSummary,
    /// Woken when an exchange merged entries: the round loop then asks the core whether an
    /// early round is due (something new to pass on before the next tick).
    merged: tokio::sync::Notify,
}

/// A message to send: destination, kind, encoded bytes.
type EncodedMessage = (String, gossip::MessageKind, Vec<u8>);

/// Events that could repeat every exchange (clock-ahead entries, refusals) are recorded at
/// most once per peer per this long.
const REPEAT_EVENT_GAP_MS: u64 = 10_000;

/// The core's counters that per-exchange events are computed from.
#[derive(Debug, Clone, Copy)]
struct ExchangeCounters {
    rejected_stamps: u64,
    entries_merged: u64,
    bad_cluster: u64,
    resets_sent: u64,
    resets_done: u64,
}

impl ExchangeCounters {
    /// Whether `after` shows anything worth an event: held-back stamps, a large delta, a
    /// refused cluster, a reset sent or obeyed.
    fn differ_enough(&self, after: &ExchangeCounters) -> bool {
        after.rejected_stamps > self.rejected_stamps
            || after.entries_merged >= self.entries_merged + LARGE_DELTA_ENTRIES
            || after.bad_cluster > self.bad_cluster
            || after.resets_sent > self.resets_sent
            || after.resets_done > self.resets_done
    }

    fn of(stats: &gossip::GossipStats) -> Self {
        ExchangeCounters {
            rejected_stamps: stats.rejected_stamps,
            entries_merged: stats.entries_merged,
            bad_cluster: stats.bad_cluster,
            resets_sent: stats.resets_sent,
            resets_done: stats.resets_done,
        }
    }
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
            watch: Mutex::new(PeerWatch::new()),
            warnings: LogSummary::default(),
            merged: tokio::sync::Notify::new(),
        }
    }

    /// The replica, locked, showing peers only own writes already committed to SQLite.
    fn replica_for_gossip(&self) -> MutexGuard<'_, crate::state::Replica> {
        let mut replica = self.shared.replica();
        replica.set_publish_limit(Some(self.shared.durable_own_version()));
        replica
    }

    fn core(&self) -> MutexGuard<'_, GossipCore> {
        crate::sync::lock(&self.core)
    }

    /// Starts a round: the Syns to send, encoded, with their destinations.
    fn tick(&self) -> Vec<(String, gossip::MessageKind, Vec<u8>)> {
        let now_ms = wall_ms();
        let mut core = self.core();
        let outgoing = {
            let mut rng = crate::sync::lock(&self.rng);
            let mut replica = self.replica_for_gossip();
            core.tick(now_ms, &mut *rng, &mut replica)
        };
        self.shared.counters.gossip.rounds_total.inc();
        let encoded = encode_all(&mut core, outgoing);
        self.publish_peers(&core, now_ms);
        encoded
    }

    /// An early round if the core says one is due (it holds something new since its last
    /// round): the Syns to send; else how long until one will be (if something is new).
    /// Heartbeats, GC and peer publishing stay with `tick`.
    fn early_round(&self) -> (Vec<EncodedMessage>, Option<Duration>) {
        let now_ms = wall_ms();
        let mut core = self.core();
        let (outgoing, wait) = {
            let mut rng = crate::sync::lock(&self.rng);
            let mut replica = self.replica_for_gossip();
            match core.early_round_at(&replica) {
                Some(at) if at <= now_ms => {
                    (core.early_round(now_ms, &mut *rng, &mut replica), None)
                }
                Some(at) => (Vec::new(), Some(Duration::from_millis(at - now_ms))),
                None => (Vec::new(), None),
            }
        };
        (encode_all(&mut core, outgoing), wait)
    }

    /// Announces that this node leaves (graceful shutdown).
    fn leave(&self) -> Vec<(String, gossip::MessageKind, Vec<u8>)> {
        let now_ms = wall_ms();
        let mut core = self.core();
        let outgoing = {
            let mut rng = crate::sync::lock(&self.rng);
            let mut replica = self.replica_for_gossip();
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
                        status: peer.status,
                        heartbeat_age_ms: Some(peer.heartbeat_age_ms),
                        phi: Some(peer.phi).filter(|phi| phi.is_finite()),
                        missing_versions: peer.missing_versions,
                        unreachable_since_ms: peer.unreachable_since_ms,
                        clock_ahead_ms: peer.clock_ahead_ms,
                    }
                })
                .collect()
        };
        let events = crate::sync::lock(&self.watch).observe(now_ms, &peers);
        for event in events {
            tracing::info!(kind = event.kind.as_str(), detail = %event.detail, "mesh event");
            self.shared.events.record(event);
        }
        self.shared.peers.publish(peers);
    }

    /// Records the events one handled message caused, from the core's counters before and
    /// after it. `replica` is locked by the caller (for the peer's name).
    fn record_exchange_events(
        &self,
        now_ms: u64,
        (peer, peer_addr, cluster): (crate::crdt::NodeId, &str, &str),
        before: ExchangeCounters,
        after: ExchangeCounters,
        replica: &crate::state::Replica,
    ) {
        if !before.differ_enough(&after) {
            return;
        }
        let name = node_names(replica)
            .get(&peer)
            .map(|(name, _)| name.clone())
            .unwrap_or_else(|| peer_addr.to_string());
        let events = &self.shared.events;
        if after.bad_cluster > before.bad_cluster {
            events.record_throttled(
                MeshEvent::new(
                    now_ms,
                    EventKind::RefusedPeer,
                    format!(
                        "refused {peer_addr}: it gossips for cluster {cluster:?}, not {:?}",
                        self.shared.config.gossip.cluster
                    ),
                )
                .about(peer, &name)
                .number("bad_cluster", after.bad_cluster - before.bad_cluster),
                REPEAT_EVENT_GAP_MS,
            );
            return;
        }
        let max_offset_ms = self.shared.config.gossip.max_clock_offset_ms;
        for (event, throttled) in exchange_events(now_ms, &name, max_offset_ms, before, after) {
            let event = event.about(peer, &name);
            if throttled {
                events.record_throttled(event, REPEAT_EVENT_GAP_MS);
            } else {
                events.record(event);
            }
        }
    }

    /// Decodes one received payload; an undecodable one is counted, recorded as an event and
    /// logged (one line per address per minute), and ends the exchange (`None`).
    fn decode_or_record(
        &self,
        core: &mut GossipCore,
        now_ms: u64,
        peer: SocketAddr,
        payload: &[u8],
    ) -> Option<gossip::Message> {
        let err = match gossip::decode(payload) {
            Ok(message) => return Some(message),
            Err(err) => err,
        };
        core.note_decode_error();
        self.shared.events.record_throttled(
            MeshEvent::new(
                now_ms,
                EventKind::RefusedPeer,
                format!("undecodable gossip message from {peer}: {err}"),
            )
            .number("decode_errors", 1),
            REPEAT_EVENT_GAP_MS,
        );
        self.shared.counters.error("gossip_decode");
        if let Some(left_out) = self.warnings.admit("undecodable", &peer.ip().to_string()) {
            tracing::warn!(%peer, error = %err, left_out, "undecodable gossip message; ending this exchange (one line per address per minute)");
        }
        None
    }
}

/// The events a handled message caused besides a refused cluster, named after what the
/// counters show about peer `name` (the caller adds its id): entries held back by the clock guard (throttled:
/// `true`), a large delta, a reset sent or obeyed.
fn exchange_events(
    now_ms: u64,
    name: &str,
    max_clock_offset_ms: u64,
    before: ExchangeCounters,
    after: ExchangeCounters,
) -> Vec<(MeshEvent, bool)> {
    let mut events = Vec::new();
    let held = after.rejected_stamps - before.rejected_stamps;
    if held > 0 {
        let detail = format!(
            "held back {held} entries from {name}: stamped more than {max_clock_offset_ms} ms \
             ahead of this node's clock (retried later)"
        );
        let event = MeshEvent::new(now_ms, EventKind::ClockAhead, detail).number("entries", held);
        events.push((event, true));
    }
    let merged = after.entries_merged - before.entries_merged;
    if merged >= LARGE_DELTA_ENTRIES {
        let detail = format!("merged {merged} entries from {name} in one exchange");
        let event = MeshEvent::new(now_ms, EventKind::LargeDelta, detail).number("entries", merged);
        events.push((event, false));
    }
    if after.resets_sent > before.resets_sent {
        let detail = format!("told {name} to reset: it is behind this node's tombstone GC");
        events.push((MeshEvent::new(now_ms, EventKind::ResetSent, detail), false));
    }
    if after.resets_done > before.resets_done {
        let detail =
            format!("reset this node's state from {name}: it was behind {name}'s tombstone GC");
        events.push((MeshEvent::new(now_ms, EventKind::ResetDone, detail), false));
    }
    events
}

fn encode_all(
    core: &mut GossipCore,
    outgoing: Vec<Outgoing>,
) -> Vec<(String, gossip::MessageKind, Vec<u8>)> {
    outgoing
        .into_iter()
        .map(|Outgoing { to, message }| {
            let kind = message.kind();
            // An exchange opens with a Syn, before the connection's version is known: a Syn
            // holds no entries, so protocol 1's form is the same message every peer reads.
            let bytes = gossip::encode_for(&message, gossip::LEGACY_PROTOCOL_VERSION);
            core.note_sent_bytes(kind, bytes.len());
            (to, kind, bytes)
        })
        .collect()
}

impl PayloadHandler for GossipDriver {
    fn on_payload(&self, peer: SocketAddr, payload: &[u8]) -> Vec<Vec<u8>> {
        self.on_payload_in(peer, 1, payload)
    }

    fn on_version_refused(&self, peer: &str, error: &crate::net::hello::NoCommonVersion) {
        let now_ms = wall_ms();
        let event = MeshEvent::new(
            now_ms,
            EventKind::RefusedPeer,
            format!("refused gossip peer {peer}: {error}"),
        )
        .number("peer_protocol", u64::from(error.peer_protocol))
        .number("our_protocol", u64::from(error.ours_protocol));
        self.shared
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

    fn on_payload_in(&self, peer: SocketAddr, protocol: u16, payload: &[u8]) -> Vec<Vec<u8>> {
        let protocol = u8::try_from(protocol).unwrap_or(gossip::PROTOCOL_VERSION);
        let now_ms = wall_ms();
        let mut core = self.core();
        let Some(message) = self.decode_or_record(&mut core, now_ms, peer, payload) else {
            return Vec::new();
        };
        core.note_received_bytes(message.kind(), payload.len());
        if message.kind() == gossip::MessageKind::BadCluster {
            if let Some(left_out) = self.warnings.admit("bad_cluster", &peer.ip().to_string()) {
                tracing::warn!(
                    %peer,
                    their_cluster = %message.cluster,
                    our_cluster = %self.shared.config.gossip.cluster,
                    left_out,
                    "a gossip peer refused this node: it is in another cluster (check \
                     gossip.cluster on both; one line per address per minute)"
                );
            }
        }
        let replies = {
            let mut replica = self.replica_for_gossip();
            let from = message.from;
            let cluster = message.cluster.clone();
            let before = ExchangeCounters::of(core.stats());
            let replies = core.handle(
                now_ms,
                &peer.to_string(),
                message,
                &mut replica,
                self.shared.clock.accept_limit(),
            );
            let after = ExchangeCounters::of(core.stats());
            if after.entries_merged > before.entries_merged {
                let merged_at = &self.shared.counters.gossip.last_merge_unix_ms;
                merged_at.set(now_ms);
                self.merged.notify_one();
            }
            for refused in core.take_refused_entries() {
                if let Some(left_out) = self.warnings.admit("refused_entry", &peer.ip().to_string())
                {
                    tracing::warn!(
                        %peer,
                        entry = %refused,
                        left_out,
                        "refused an entry from a peer: it breaks a limit (one line per peer per \
                         minute)"
                    );
                }
            }
            self.record_exchange_events(
                now_ms,
                (from, &peer.to_string(), &cluster),
                before,
                after,
                &replica,
            );
            // Later local writes must win over everything merged so far.
            self.shared.clock.raise_floor(replica.max_stamp_time());
            replies
        };
        replies
            .into_iter()
            .map(|reply| {
                let bytes = gossip::encode_for(&reply, protocol);
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
    let mut refusals = RefusalTally::default();
    let warnings = Arc::new(LogSummary::default());
    let mut local_writes = driver.shared.local_writes.subscribe();
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
        for (to, _kind, bytes) in outgoing {
            tokio::spawn(exchange_with(
                driver.clone(),
                transport.clone(),
                warnings.clone(),
                to,
                bytes,
            ));
        }
        let net = transport.stats();
        let counters = &driver.shared.counters.gossip;
        counters
            .bytes_sent_total
            .add(net.bytes_sent.saturating_sub(last_net.bytes_sent));
        counters
            .bytes_received_total
            .add(net.bytes_received.saturating_sub(last_net.bytes_received));
        refusals.add(&last_net, &net);
        if let Some(event) = refusals.take_event(wall_ms()) {
            driver.shared.events.record(event);
        }
        last_net = net;
    }
}

/// Tells a few peers this node leaves (waiting at most 2 s), so they mark it `left` instead
/// of suspecting it.
async fn announce_leave(driver: &Arc<GossipDriver>, transport: &Transport) {
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

/// Refusals counted by the transport (failed handshakes, bad frames, refused messages, too many
/// connections), summed between `refused_peer` events (at most one per `REPEAT_EVENT_GAP_MS`).
#[derive(Debug, Default)]
struct RefusalTally {
    pending: std::collections::BTreeMap<&'static str, u64>,
    last_event_ms: Option<u64>,
}

impl RefusalTally {
    fn add(&mut self, before: &NetStatsSnapshot, after: &NetStatsSnapshot) {
        let reasons = [
            (
                "handshakes_failed",
                after
                    .handshakes_failed
                    .saturating_sub(before.handshakes_failed),
            ),
            (
                "frames_rejected",
                after.frames_rejected.saturating_sub(before.frames_rejected),
            ),
            (
                "messages_rejected",
                after
                    .messages_rejected
                    .saturating_sub(before.messages_rejected),
            ),
            (
                "connections_refused",
                after
                    .connections_refused
                    .saturating_sub(before.connections_refused),
            ),
        ];
        for (reason, count) in reasons {
            if count > 0 {
                *self.pending.entry(reason).or_default() += count;
            }
        }
    }

    fn take_event(&mut self, now_ms: u64) -> Option<MeshEvent> {
        if self.pending.is_empty() {
            return None;
        }
        if let Some(last) = self.last_event_ms {
            if now_ms < last.saturating_add(REPEAT_EVENT_GAP_MS) {
                return None;
            }
        }
        self.last_event_ms = Some(now_ms);
        let summary: Vec<String> = self
            .pending
            .iter()
            .map(|(reason, count)| format!("{count} {}", reason.replace('_', " ")))
            .collect();
        let mut event = MeshEvent::new(
            now_ms,
            EventKind::RefusedPeer,
            format!(
                "gossip transport refused: {} (no or wrong cluster key, garbage, stalls, or too \
                 many connections)",
                summary.join(", ")
            ),
        );
        for (reason, count) in std::mem::take(&mut self.pending) {
            event = event.number(reason, count);
        }
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(rejected_stamps: u64, entries_merged: u64, resets: u64) -> ExchangeCounters {
        ExchangeCounters {
            rejected_stamps,
            entries_merged,
            bad_cluster: 0,
            resets_sent: resets,
            resets_done: resets,
        }
    }

    #[test]
    fn a_small_merge_causes_no_event() {
        let before = counters(0, 10, 0);
        let after = counters(0, 10 + LARGE_DELTA_ENTRIES - 1, 0);
        assert!(!before.differ_enough(&after));
        assert!(exchange_events(1, "pi-2", 5_000, before, after).is_empty());
    }

    #[test]
    fn held_back_entries_large_deltas_and_resets_are_named_after_the_peer() {
        let before = counters(1, 0, 0);
        let after = counters(4, LARGE_DELTA_ENTRIES, 1);
        assert!(before.differ_enough(&after));
        let events = exchange_events(7, "pi-2", 5_000, before, after);
        let kinds: Vec<(EventKind, bool)> = events.iter().map(|(e, t)| (e.kind, *t)).collect();
        assert_eq!(
            kinds,
            [
                (EventKind::ClockAhead, true),
                (EventKind::LargeDelta, false),
                (EventKind::ResetSent, false),
                (EventKind::ResetDone, false),
            ]
        );
        let (held, _) = &events[0];
        assert_eq!(held.numbers["entries"], 3);
        assert!(held.detail.contains("from pi-2") && held.detail.contains("5000 ms"));
        assert_eq!(events[1].0.numbers["entries"], LARGE_DELTA_ENTRIES);
        assert!(events[3].0.detail.contains("behind pi-2's tombstone GC"));
        assert!(events.iter().all(|(e, _)| e.t_ms == 7));
    }
}
