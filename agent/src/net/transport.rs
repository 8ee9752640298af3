//! The gossip transport the runtime drives: the accept loop ([`Transport::serve`]), outbound
//! exchanges over pooled connections ([`Transport::exchange`]) and the [`PayloadHandler`]
//! interface to the gossip layer. Payloads are opaque bytes here; what they mean is the gossip
//! core's business. A failing connection is closed alone: never the listener, never the process.
//! Inbound connections are capped (`max_inbound_connections`); more are closed at once.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::conn::{Connection, HandshakeParams, TurnOutcome};
use super::frame::MAX_PAYLOAD;
use super::hello::NoCommonVersion;
use super::keys::{ClusterKeys, KeyError};
use super::noise::{NoiseError, Security};
use super::stats::{NetStats, NetStatsSnapshot};
use super::NetError;
use crate::config::GossipConfig;
use crate::log_summary::LogSummary;

/// Most turns one exchange may take (Syn, SynAck, Ack is three); stops two buggy handlers from
/// ping-ponging forever.
pub const MAX_TURNS_PER_EXCHANGE: u32 = 16;

/// Implemented by the gossip driver. Called from connection tasks; must be quick (it may lock
/// the replica briefly) and must not block on I/O.
pub trait PayloadHandler: Send + Sync + 'static {
    /// A payload arrived on a connection from `peer`; returns the payloads to send back on the
    /// same connection (empty: nothing to answer, the exchange ends).
    fn on_payload(&self, peer: SocketAddr, payload: &[u8]) -> Vec<Vec<u8>>;

    /// [`PayloadHandler::on_payload`] on a connection that speaks gossip `protocol` (agreed
    /// in the handshake, `super::hello`); the answers must be encoded for that protocol.
    fn on_payload_in(&self, peer: SocketAddr, protocol: u16, payload: &[u8]) -> Vec<Vec<u8>> {
        let _ = protocol;
        self.on_payload(peer, payload)
    }

    /// A handshake with `peer` found no protocol version both sides speak (the connection is
    /// closed); the driver logs it and records an event naming both versions.
    fn on_version_refused(&self, peer: &str, error: &NoCommonVersion) {
        let _ = (peer, error);
    }
}

/// Logs (once per address per minute) that a connection speaks protocol 1: the peer runs the
/// release before versioning, so entries of kinds it does not know are withheld from it.
fn note_legacy_peer(inner: &Inner, conn: &Connection) {
    if conn.protocol() != 1 {
        return;
    }
    let peer = conn.peer();
    if let Some(left_out) = inner.warnings.admit("protocol_1", &peer.ip().to_string()) {
        tracing::info!(
            %peer,
            left_out,
            "gossip peer speaks protocol 1 (the release before versioning); upgrade it \
             (one line per address per minute)"
        );
    }
}

/// Tells `handler` when `result` failed because the versions do not agree.
fn note_version_refusal<T>(handler: &dyn PayloadHandler, peer: &str, result: &Result<T, NetError>) {
    if let Err(NetError::Handshake {
        source: NoiseError::Version(error),
        ..
    }) = result
    {
        handler.on_version_refused(peer, error);
    }
}

/// How a transport protects and paces its connections.
#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// Peers with another cluster name are refused (`gossip.cluster`).
    pub cluster: String,
    pub security: Security,
    /// Deadline of each connect, handshake, frame read and frame write.
    pub io_timeout: Duration,
    /// How long an established connection may sit between exchanges before it is closed
    /// (inbound) or not reused (outbound, after half of it).
    pub idle_timeout: Duration,
    /// Most inbound connections served at once; more are closed at once.
    pub max_inbound_connections: usize,
    /// Idle outbound connections kept per peer address.
    pub max_pooled_per_peer: usize,
}

impl TransportSettings {
    /// Settings with the default timeouts and limits.
    pub fn new(cluster: impl Into<String>, security: Security) -> TransportSettings {
        let defaults = GossipConfig::default();
        TransportSettings {
            cluster: cluster.into(),
            security,
            io_timeout: Duration::from_millis(defaults.io_timeout_ms),
            idle_timeout: Duration::from_millis(defaults.idle_timeout_ms),
            max_inbound_connections: defaults.max_inbound_connections,
            max_pooled_per_peer: 2,
        }
    }

    /// From `[gossip]`: loads the key files unless `insecure`.
    pub fn from_config(config: &GossipConfig) -> Result<TransportSettings, KeyError> {
        let security = if config.insecure {
            Security::Insecure
        } else {
            Security::Noise(ClusterKeys::from_config(config)?)
        };
        let mut settings = TransportSettings::new(config.cluster.clone(), security);
        settings.io_timeout = Duration::from_millis(config.io_timeout_ms);
        settings.idle_timeout = Duration::from_millis(config.idle_timeout_ms);
        settings.max_inbound_connections = config.max_inbound_connections;
        Ok(settings)
    }
}

/// What one [`Transport::exchange`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeStats {
    /// The peer's socket address.
    pub peer: SocketAddr,
    /// Turns this side sent (the first payload included, the closing `DONE` not).
    pub turns: u32,
    pub payloads_sent: u64,
    pub payloads_received: u64,
    /// Wire bytes, frame headers and encryption included.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Whether a pooled connection was used (no new TCP or Noise handshake).
    pub reused_connection: bool,
}

struct PooledConnection {
    conn: Connection,
    idle_since: Instant,
}

struct Inner {
    settings: TransportSettings,
    stats: Arc<NetStats>,
    pool: Mutex<HashMap<String, Vec<PooledConnection>>>,
    /// Repeated warnings summarized per source per minute (floods must not fill the card).
    warnings: LogSummary,
}

/// The gossip transport: cheap to clone (all clones share the pool and the counters).
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

impl Transport {
    /// Makes a transport. In insecure mode, logs a loud warning (once, here).
    pub fn new(settings: TransportSettings) -> Transport {
        if settings.security == Security::Insecure {
            tracing::warn!(
                cluster = %settings.cluster,
                "GOSSIP IS INSECURE (gossip.insecure = true): no encryption, no authentication. \
                 Anyone on the network can read presence data and inject readings. \
                 Development only; never run this in an office."
            );
        }
        Transport {
            inner: Arc::new(Inner {
                settings,
                stats: Arc::new(NetStats::default()),
                pool: Mutex::new(HashMap::new()),
                warnings: LogSummary::default(),
            }),
        }
    }

    /// [`TransportSettings::from_config`] then [`Transport::new`].
    pub fn from_config(config: &GossipConfig) -> Result<Transport, KeyError> {
        Ok(Transport::new(TransportSettings::from_config(config)?))
    }

    pub fn settings(&self) -> &TransportSettings {
        &self.inner.settings
    }

    /// The counters, for `/metrics`.
    pub fn stats(&self) -> NetStatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// Accepts and serves inbound connections until `shutdown` completes (its output is ignored,
    /// so `tokio::signal::ctrl_c()` works as is), then closes them all.
    /// Each connection runs in its own task: handshake, then turns answered by `handler`, until
    /// the peer leaves, goes idle too long, or misbehaves — which closes that connection only.
    pub async fn serve(
        &self,
        listener: TcpListener,
        handler: Arc<dyn PayloadHandler>,
        shutdown: impl Future,
    ) {
        let limit = Arc::new(Semaphore::new(self.inner.settings.max_inbound_connections));
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        let mut accept_backoff = Duration::from_millis(10);
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            while tasks.try_join_next().is_some() {}
            let (stream, peer) = match accepted {
                Ok(pair) => {
                    accept_backoff = Duration::from_millis(10);
                    pair
                }
                Err(err) => {
                    // Out of file descriptors and the like: wait, never give up the listener.
                    if let Some(left_out) = self.inner.warnings.admit("accept", "listener") {
                        tracing::warn!(error = %err, left_out, "gossip accept failed; retrying");
                    }
                    tokio::time::sleep(accept_backoff).await;
                    accept_backoff = (accept_backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
                self.refuse_over_cap(peer);
                drop(stream);
                continue;
            };
            self.inner.stats.connections_accepted(1);
            let inner = Arc::clone(&self.inner);
            let handler = Arc::clone(&handler);
            tasks.spawn(async move {
                let _permit = permit;
                serve_and_report(&inner, stream, peer, handler.as_ref()).await;
            });
        }
        tasks.shutdown().await;
    }

    /// Counts and (rate-limited) logs a connection closed at once for being over the cap.
    fn refuse_over_cap(&self, peer: SocketAddr) {
        self.inner.stats.connections_refused(1);
        if let Some(left_out) = self
            .inner
            .warnings
            .admit("inbound_cap", &peer.ip().to_string())
        {
            tracing::warn!(
                %peer,
                limit = self.inner.settings.max_inbound_connections,
                left_out,
                "too many inbound gossip connections; closing the new one (one line per \
                 address per minute; left_out = how many more since the last line)"
            );
        }
    }

    /// Sends `payload` to `addr` (reusing a pooled connection, else dialing and handshaking),
    /// then answers the peer's turns with `handler` until one side has nothing more to say,
    /// within [`MAX_TURNS_PER_EXCHANGE`]. On success the connection goes back to the pool.
    ///
    /// A pooled connection that fails before any byte of an answer came back is replaced by a
    /// fresh one, once, transparently; the peer may then see the first payload twice (gossip
    /// messages are idempotent). Any other failure closes the connection and is returned.
    pub async fn exchange(
        &self,
        addr: &str,
        payload: Vec<u8>,
        handler: Arc<dyn PayloadHandler>,
    ) -> Result<ExchangeStats, NetError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(NetError::PayloadTooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        let result = self.exchange_with_retry(addr, payload, handler).await;
        match &result {
            Ok(_) => self.inner.stats.exchanges_ok(1),
            Err(_) => self.inner.stats.exchanges_failed(1),
        }
        result
    }

    async fn exchange_with_retry(
        &self,
        addr: &str,
        payload: Vec<u8>,
        handler: Arc<dyn PayloadHandler>,
    ) -> Result<ExchangeStats, NetError> {
        if let Some(conn) = self.checkout(addr) {
            self.inner.stats.connections_reused(1);
            let mut attempt = Attempt::new(conn, true);
            match attempt.run(&payload, handler.as_ref()).await {
                Ok(stats) => {
                    self.checkin(addr, attempt.conn);
                    return Ok(stats);
                }
                // The peer had closed the idle connection before reading our turn: the payload
                // never reached its handler, so a fresh connection may safely carry it.
                Err(err) if attempt.nothing_received() => {
                    self.inner.stats.connections_failed(1);
                    tracing::debug!(addr, error = %err, "pooled gossip connection was dead; redialing");
                }
                Err(err) => {
                    self.inner.stats.connections_failed(1);
                    return Err(err);
                }
            }
        }
        let connected = Connection::connect(addr, self.handshake_params()).await;
        note_version_refusal(handler.as_ref(), addr, &connected);
        let conn = match connected {
            Ok(conn) => {
                note_legacy_peer(&self.inner, &conn);
                conn
            }
            Err(err) => {
                if !matches!(err, NetError::Connect { .. }) {
                    self.inner.stats.connections_failed(1);
                }
                return Err(err);
            }
        };
        let mut attempt = Attempt::new(conn, false);
        match attempt.run(&payload, handler.as_ref()).await {
            Ok(stats) => {
                self.checkin(addr, attempt.conn);
                Ok(stats)
            }
            Err(err) => {
                self.inner.stats.connections_failed(1);
                Err(err)
            }
        }
    }

    fn handshake_params(&self) -> HandshakeParams<'_> {
        HandshakeParams {
            security: &self.inner.settings.security,
            cluster: &self.inner.settings.cluster,
            io_timeout: self.inner.settings.io_timeout,
            stats: &self.inner.stats,
        }
    }

    /// A pooled connection to `addr` that is still fresh and open, if any.
    fn checkout(&self, addr: &str) -> Option<Connection> {
        let max_idle = self.inner.settings.idle_timeout / 2;
        let mut pool = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let idle = pool.get_mut(addr)?;
        while let Some(pooled) = idle.pop() {
            if pooled.idle_since.elapsed() < max_idle && !pooled.conn.is_stale() {
                return Some(pooled.conn);
            }
        }
        pool.remove(addr);
        None
    }

    fn checkin(&self, addr: &str, conn: Connection) {
        let mut pool = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let idle = pool.entry(addr.to_string()).or_default();
        if idle.len() < self.inner.settings.max_pooled_per_peer {
            idle.push(PooledConnection {
                conn,
                idle_since: Instant::now(),
            });
        }
    }

    /// Idle outbound connections currently pooled for `addr` (for tests and metrics).
    pub fn pooled_connections(&self, addr: &str) -> usize {
        self.inner
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(addr)
            .map_or(0, Vec::len)
    }
}

/// One try of an exchange on one connection.
struct Attempt {
    conn: Connection,
    reused: bool,
    start: super::conn::ConnCounters,
}

impl Attempt {
    fn new(conn: Connection, reused: bool) -> Attempt {
        let start = conn.counters;
        Attempt {
            conn,
            reused,
            start,
        }
    }

    fn nothing_received(&self) -> bool {
        self.conn.counters.bytes_received == self.start.bytes_received
    }

    async fn run(
        &mut self,
        payload: &[u8],
        handler: &dyn PayloadHandler,
    ) -> Result<ExchangeStats, NetError> {
        let conn = &mut self.conn;
        conn.send_turn(&[payload]).await?;
        let mut turns = 1u32;
        loop {
            match conn.answer_turn(handler, None).await? {
                TurnOutcome::Closed | TurnOutcome::Idle => {
                    return Err(NetError::Closed {
                        peer: conn.peer().to_string(),
                    })
                }
                TurnOutcome::PeerDone => break,
                TurnOutcome::Replies(replies) if replies.is_empty() => {
                    conn.send_done().await?;
                    break;
                }
                TurnOutcome::Replies(replies) => {
                    if turns >= MAX_TURNS_PER_EXCHANGE {
                        return Err(too_many_turns(conn.peer()));
                    }
                    conn.send_turn(&replies).await?;
                    turns += 1;
                }
            }
        }
        let now = conn.counters;
        Ok(ExchangeStats {
            peer: conn.peer(),
            turns,
            payloads_sent: now.payloads_sent - self.start.payloads_sent,
            payloads_received: now.payloads_received - self.start.payloads_received,
            bytes_sent: now.bytes_sent - self.start.bytes_sent,
            bytes_received: now.bytes_received - self.start.bytes_received,
            reused_connection: self.reused,
        })
    }
}

fn too_many_turns(peer: SocketAddr) -> NetError {
    NetError::Protocol {
        peer: peer.to_string(),
        reason: format!("exchange exceeded {MAX_TURNS_PER_EXCHANGE} turns"),
    }
}

/// Serves one inbound connection: handshake, then exchanges until the peer leaves.
/// Serves one accepted connection; a failure is counted, and a refused handshake logged (one
/// line per address per minute), other failures at debug level.
async fn serve_and_report(
    inner: &Inner,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    handler: &dyn PayloadHandler,
) {
    let served = serve_connection(inner, stream, peer, handler).await;
    note_version_refusal(handler, &peer.to_string(), &served);
    let Err(err) = served else {
        return;
    };
    inner.stats.connections_failed(1);
    if !matches!(err, NetError::Handshake { .. }) {
        tracing::debug!(%peer, error = %err, "closed a gossip connection");
        return;
    }
    if let Some(left_out) = inner.warnings.admit("refused", &peer.ip().to_string()) {
        tracing::warn!(
            %peer,
            error = %err,
            left_out,
            "refused a gossip connection (one line per address per minute; left_out = how \
             many more since the last line)"
        );
    }
}

async fn serve_connection(
    inner: &Inner,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    handler: &dyn PayloadHandler,
) -> Result<(), NetError> {
    let params = HandshakeParams {
        security: &inner.settings.security,
        cluster: &inner.settings.cluster,
        io_timeout: inner.settings.io_timeout,
        stats: &inner.stats,
    };
    let (mut conn, key_index) = Connection::accept(stream, peer, params).await?;
    note_legacy_peer(inner, &conn);
    if key_index > 0 {
        tracing::info!(%peer, key_index, "gossip peer uses an accept-only key (rotation in progress)");
    }
    let mut turns_this_exchange = 0u32;
    loop {
        // Between exchanges the peer may stay quiet for the idle timeout; within one, every
        // frame has the I/O timeout.
        let idle_wait = (turns_this_exchange == 0).then_some(inner.settings.idle_timeout);
        match conn.answer_turn(handler, idle_wait).await? {
            TurnOutcome::Closed | TurnOutcome::Idle => return Ok(()),
            TurnOutcome::PeerDone => turns_this_exchange = 0,
            TurnOutcome::Replies(replies) => {
                let done = replies.is_empty();
                turns_this_exchange += 1;
                if turns_this_exchange > MAX_TURNS_PER_EXCHANGE {
                    return Err(too_many_turns(peer));
                }
                conn.send_turn(&replies).await?;
                if done {
                    turns_this_exchange = 0;
                }
            }
        }
    }
}
