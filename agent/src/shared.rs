//! `Shared`: the state every task of a running agent shares — the node's identity and config,
//! its clock, the in-memory replica and the way to make writes durable (`StoreHandle`), the
//! peer table gossip publishes, local-write notifications, counters and the mesh event log, this
//! node's own LAN sightings and its outstanding claim codes.
//! `write` and `write_durable` are the state's door: every write is checked against
//! `state::limits`; a durable write is staged, committed, then shown to peers, or rolled back.
//! `completeness` says which peers an answer may be missing.
//!
//! The faces (API, chat, MQTT, alerts, events) depend on this and on the core, never on
//! `runtime` (which starts the loops). Locks: `replica` is a std `Mutex` held only for short,
//! synchronous work; never across an `.await`.
//! Must not touch: sockets, SQLite directly (only through `StoreHandle`), sensors.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::claims::ClaimBook;
use crate::clock::Clock;
use crate::config::Config;
use crate::counters::Counters;
use crate::crdt::NodeId;
use crate::events::EventLog;
use crate::held_writes::HeldWrites;
use crate::peer::PeerStatus;
use crate::sensor_health::SensorBoard;
use crate::sightings::LocalSightings;
use crate::state::limits::{self, LimitError};
use crate::state::query::{self, Completeness};
use crate::state::{Entry, Key, Replica, StaleWrite, Value};
use crate::store::{
    HistoryPoint, HistoryQuery, RetentionReport, StoreError, StoreHandle, StoreStats,
};
use crate::sync::lock;

/// With no peer alive, how long after start this node trusts its own view alone.
pub const ALONE_GRACE_MS: u64 = 30_000;

/// Everything the agent's tasks share.
pub struct Shared {
    pub config: Config,
    pub node: NodeId,
    /// `node.name`, or the host name.
    pub name: String,
    /// Shared with the gossip `Node` (it raises the floor after merges; local writes stamp here).
    pub clock: Arc<Clock>,
    pub started_at_ms: u64,
    replica: Mutex<Replica>,
    store: StoreHandle,
    /// Peers as the gossip layer sees them; empty until gossip runs.
    pub peers: PeerTable,
    /// Every local write, as written (the MQTT publisher subscribes to this node's readings).
    pub local_writes: tokio::sync::broadcast::Sender<Entry>,
    /// Counters and gauges for `GET /metrics` (gossip, MQTT and errors fill them).
    pub counters: Counters,
    /// What this node saw happen to the mesh (`GET /v1/events`); the gossip driver fills it.
    pub events: EventLog,
    /// Alert texts for the chat adapters to post into `chat.alert_room`.
    pub chat_alerts: tokio::sync::broadcast::Sender<String>,
    /// Durable writes one at a time: each is staged, committed, then shown (or rolled back).
    durable_gate: tokio::sync::Mutex<()>,
    /// Every device this node itself saw on the LAN (memory only; unknown ones never leave it).
    pub sightings: LocalSightings,
    /// Outstanding "i am <mac>" claim codes this node issued.
    pub claims: ClaimBook,
    /// Set once this node's presence loop has recorded its first scan since start.
    pub presence_scanned: std::sync::atomic::AtomicBool,
    /// This node's sensors as their loops last saw them (`GET /v1/sensors`).
    pub sensors: SensorBoard,
    /// How far this node's own clock looks ahead of every peer's, in ms (0: it does not);
    /// `runtime::clock_recovery` updates it (`state::own_clock`).
    pub own_clock_ahead_ms: portable_atomic::AtomicU64,
    /// How far this node's clock runs ahead of the mesh's median, in ms (negative: behind),
    /// as the gossip driver last measured it (`i64::MIN`: not measured yet).
    own_clock_offset_ms: portable_atomic::AtomicI64,
    /// Own readings and unknown-device count not yet written (`storage.readings_batch_ms`).
    pub held: HeldWrites,
}

/// The peer table as the gossip driver last published it.
#[derive(Debug, Default)]
pub struct PeerTable(Mutex<Vec<PeerStatus>>);

impl PeerTable {
    /// A snapshot of the table.
    pub fn snapshot(&self) -> Vec<PeerStatus> {
        lock(&self.0).clone()
    }

    /// Replaces the table (the gossip driver, once per round).
    pub fn publish(&self, peers: Vec<PeerStatus>) {
        *lock(&self.0) = peers;
    }
}

/// A write could not be made durable.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Stale(#[from] StaleWrite),
    #[error("{key}: values must be finite numbers (not NaN or infinity)")]
    NotFinite { key: String },
    /// The write breaks a limit of `state::limits` (the message names it).
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("could not persist the write: {0}")]
    Persist(#[from] StoreError),
}

impl WriteError {
    /// True when the write failed because the data directory's disk is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, WriteError::Persist(err) if err.is_disk_full())
    }
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
        Shared {
            sensors: SensorBoard::new(&config.sensors),
            held: HeldWrites::new(std::time::Duration::from_millis(
                config.storage.readings_batch_ms,
            )),
            config,
            node,
            name,
            clock: Arc::new(clock),
            started_at_ms,
            replica: Mutex::new(replica),
            store,
            peers: PeerTable::default(),
            local_writes: tokio::sync::broadcast::channel(4096).0,
            counters: Counters::default(),
            events: EventLog::default(),
            chat_alerts: tokio::sync::broadcast::channel(64).0,
            durable_gate: tokio::sync::Mutex::new(()),
            sightings: LocalSightings::default(),
            claims: ClaimBook::default(),
            presence_scanned: std::sync::atomic::AtomicBool::new(false),
            own_clock_ahead_ms: portable_atomic::AtomicU64::new(0),
            own_clock_offset_ms: portable_atomic::AtomicI64::new(i64::MIN),
        }
    }

    /// Locks the replica for short synchronous work.
    pub fn replica(&self) -> MutexGuard<'_, Replica> {
        lock(&self.replica)
    }

    /// The state's door: every write is checked here against `state::limits` (and finite
    /// numbers), whoever makes it (API, chat, MQTT, sensors, config).
    fn check(&self, replica: &Replica, key: &Key, value: Option<&Value>) -> Result<(), WriteError> {
        if !crate::state::replica::numbers_are_finite(&value.cloned()) {
            return Err(WriteError::NotFinite {
                key: key.to_string(),
            });
        }
        limits::check_entry(key, value)?;
        limits::check_person_devices(replica, key, value)?;
        Ok(())
    }

    /// Writes `value` (or a tombstone) as this node, stamped now. Persisted with the next batch.
    /// Refuses what breaks a limit, and NaN and infinite numbers (which the store's JSON
    /// encoding cannot keep).
    pub fn write(&self, key: Key, value: Option<Value>) -> Result<Entry, WriteError> {
        let entry = {
            let mut replica = self.replica();
            self.check(&replica, &key, value.as_ref())?;
            let stamp = self.clock.now();
            replica.write(key, value, stamp)?
        };
        if self.local_writes.receiver_count() > 0 {
            let _ = self.local_writes.send(entry.clone());
        }
        Ok(entry)
    }

    /// Writes an own reading or unknown-device count later: held (newest per key) until
    /// `storage.readings_batch_ms` has passed since the first pending one, then written with
    /// the others by [`Shared::write_held`] (at once when nothing is held, and a key's first value). Checked now, so a
    /// refused value is refused to its writer.
    pub fn write_later(&self, key: Key, value: Value) -> Result<(), WriteError> {
        // A key's first value is written at once: a node that just started (or a sensor that
        // just came up) answers with a reading straight away, not after the hold.
        let first = self
            .replica()
            .get(&key)
            .is_none_or(|entry| entry.value.is_none());
        if !self.held.holds() || first {
            return self.write(key, Some(value)).map(|_| ());
        }
        self.check(&self.replica(), &key, Some(&value))?;
        self.held.put(key, value, std::time::Instant::now());
        Ok(())
    }

    /// Writes the held values whose time has come (`all`: every one, e.g. at shutdown).
    pub fn write_held(&self, all: bool) {
        let due = if all {
            self.held.take_all()
        } else {
            self.held.take_due(std::time::Instant::now())
        };
        for (key, value) in due {
            if let Err(err) = self.write(key, Some(value)) {
                tracing::warn!(error = %err, "held reading not recorded");
            }
        }
    }

    /// Writes and waits until the write is committed to SQLite: for writes a user is told
    /// succeeded (API, chat), which must survive a crash. A write that fails to commit (a full
    /// disk) is rolled back: not in memory, never shown to peers.
    pub async fn write_durable(&self, key: Key, value: Option<Value>) -> Result<Entry, WriteError> {
        let _one_at_a_time = self.durable_gate.lock().await;
        let staged = {
            let mut replica = self.replica();
            self.check(&replica, &key, value.as_ref())?;
            let stamp = self.clock.now();
            replica.stage(key, value, stamp)?
        };
        match self.store.persist_and_wait(staged.changes()).await {
            Ok(()) => {
                self.replica().confirm(&staged);
                if self.local_writes.receiver_count() > 0 {
                    let _ = self.local_writes.send(staged.entry.clone());
                }
                Ok(staged.entry)
            }
            Err(err) => {
                self.replica().roll_back(staged);
                Err(WriteError::Persist(err))
            }
        }
    }

    /// Commits everything changed so far and waits for the commit.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let changes = self.replica().take_changes();
        self.store.persist_and_wait(changes).await
    }

    /// Hands pending changes to the store thread without waiting (the batch tick).
    pub fn persist_pending(&self) {
        let changes = {
            let mut replica = self.replica();
            if !replica.has_changes() {
                drop(replica);
                self.store.tick(); // held peers' entries may be due (storage.readings_batch_ms)
                return;
            }
            replica.take_changes()
        };
        self.store.persist(changes);
    }

    /// Sample history of one sensor quantity, from the local store.
    pub async fn history(&self, query: HistoryQuery) -> Result<Vec<HistoryPoint>, StoreError> {
        self.store.history(query).await
    }

    /// Runs the retention and downsampling rule now.
    pub async fn run_retention(&self, now_ms: u64) -> Result<RetentionReport, StoreError> {
        self.store.run_retention(now_ms).await
    }

    /// Sizes of the local store (for metrics).
    pub async fn store_stats(&self) -> Result<StoreStats, StoreError> {
        self.store.stats().await
    }

    /// The last own version committed to SQLite (what gossip may show peers).
    pub fn durable_own_version(&self) -> u64 {
        self.store.durable_own_version()
    }

    /// A snapshot of the peer table.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.peers.snapshot()
    }

    /// Which peers this node cannot reach now: the caveat on every answer.
    pub fn completeness(&self) -> Completeness {
        let mut completeness = query::completeness(&self.peers());
        completeness.own_clock_ahead_ms = self.own_clock_ahead();
        completeness
    }

    /// How far this node's clock runs ahead of the mesh's median (ms; negative: behind), once
    /// measured (gossip protocol 3).
    pub fn own_clock_offset(&self) -> Option<i64> {
        let ms = self
            .own_clock_offset_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        (ms != i64::MIN).then_some(ms)
    }

    /// Records this node's measured offset from the mesh's median (the gossip driver).
    pub fn set_own_clock_offset(&self, offset_ms: Option<i64>) {
        self.own_clock_offset_ms.store(
            offset_ms.unwrap_or(i64::MIN),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// How far this node's own clock looks ahead of every peer's (see `own_clock_ahead_ms`).
    pub fn own_clock_ahead(&self) -> Option<u64> {
        match self
            .own_clock_ahead_ms
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => None,
            ms => Some(ms),
        }
    }

    /// Whether this node's view has caught up with the mesh and the LAN: its own first presence
    /// scan since start is recorded (when it scans), and some peer is alive with nothing of any
    /// alive peer missing; with no peer alive, only when no seeds are configured, or after
    /// [`ALONE_GRACE_MS`] of uptime (the rest of the mesh is really gone). What would publish a
    /// departure (Home Assistant) waits for it, so a node back from a long absence does not
    /// announce that everyone left.
    pub fn caught_up(&self, now_ms: u64) -> bool {
        let scans = self.config.presence.interface.as_deref() != Some("");
        if scans
            && !self
                .presence_scanned
                .load(std::sync::atomic::Ordering::Acquire)
        {
            return false;
        }
        let peers = self.peers();
        let alive: Vec<&PeerStatus> = peers
            .iter()
            .filter(|peer| peer.status == crate::peer::MemberStatus::Alive)
            .collect();
        if alive.is_empty() {
            return (self.config.gossip.seeds.is_empty() && peers.is_empty())
                || now_ms.saturating_sub(self.started_at_ms) >= ALONE_GRACE_MS;
        }
        alive.iter().all(|peer| peer.missing_versions == 0)
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

    /// `presence.consider_home_s` in milliseconds.
    pub fn consider_home_ms(&self) -> u64 {
        self.config.presence.consider_home_s * 1000
    }
}
