//! `StateHandle`: the replicated state and the way to change it — the in-memory replica behind
//! a short-held lock, the clock that stamps local writes, the way to make writes durable
//! (`StoreHandle`), local-write notifications, and own readings held for a batch.
//! `write` and `write_durable` are the state's door: every write is checked against
//! `state::limits` and against the mesh's protocols (a kind protocol 1 cannot decode is written
//! only while every member speaks protocol 2: `MeshView::all_members_speak`, read here, never
//! changed); a durable write is staged, committed, then shown to peers, or rolled back.
//!
//! Locks: `replica` is a std `Mutex` held only for short, synchronous work; never across an
//! `.await`. Must not touch: sockets, SQLite directly (only through `StoreHandle`), peers,
//! counters, sensors.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::clock::Clock;

use crate::held_writes::HeldWrites;
use crate::state::limits::{self, LimitError};
use crate::state::{opaque, Entry, Key, Replica, StaleWrite, Value};
use crate::store::{
    HistoryPoint, HistoryQuery, RetentionReport, StoreError, StoreHandle, StoreStats,
};
use crate::sync::lock;

use super::mesh_view::MeshView;

/// The replicated state and its writes.
pub struct StateHandle {
    /// Shared with the gossip `Node` (it raises the floor after merges; local writes stamp here).
    clock: Arc<Clock>,
    replica: Mutex<Replica>,
    store: StoreHandle,
    /// Durable writes one at a time: each is staged, committed, then shown (or rolled back).
    durable_gate: tokio::sync::Mutex<()>,
    /// Every local write, as written (the MQTT publisher subscribes to this node's readings).
    pub local_writes: tokio::sync::broadcast::Sender<Entry>,
    /// Own readings and unknown-device count not yet written (`storage.readings_batch_ms`).
    pub held: HeldWrites,
    /// The protocols the members speak, for the write rule of later key kinds (read only).
    mesh: Arc<MeshView>,
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
    /// The key's kind needs a gossip protocol some member has not agreed on with this node yet
    /// (an older release): written, it would be withheld from that member and leave a hole.
    #[error("{key}: not written until every member speaks gossip protocol {protocol}")]
    MeshTooOld { key: String, protocol: u16 },
}

impl WriteError {
    /// True when the write failed because the data directory's disk is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, WriteError::Persist(err) if err.is_disk_full())
    }
}

impl StateHandle {
    /// The replica, its store and clock; own readings are held for `readings_batch`; `mesh`
    /// says which protocols the members speak.
    pub fn new(
        clock: Clock,
        replica: Replica,
        store: StoreHandle,
        readings_batch: Duration,
        mesh: Arc<MeshView>,
    ) -> StateHandle {
        StateHandle {
            clock: Arc::new(clock),
            replica: Mutex::new(replica),
            store,
            durable_gate: tokio::sync::Mutex::new(()),
            local_writes: tokio::sync::broadcast::channel(4096).0,
            held: HeldWrites::new(readings_batch),
            mesh,
        }
    }

    /// Locks the replica for short synchronous work.
    pub fn replica(&self) -> MutexGuard<'_, Replica> {
        lock(&self.replica)
    }

    /// The clock local writes are stamped with (gossip's `Node` holds it too).
    pub fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    /// The state's door: every write is checked here against `state::limits` (and finite
    /// numbers) and the mesh's protocols, whoever makes it (API, chat, MQTT, sensors, config).
    fn check(&self, replica: &Replica, key: &Key, value: Option<&Value>) -> Result<(), WriteError> {
        let protocol = opaque::protocol_needed(key);
        if protocol > 1 && !self.mesh.all_members_speak(protocol) {
            return Err(WriteError::MeshTooOld {
                key: key.to_string(),
                protocol,
            });
        }
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
            let stamp = replica.stamp_for_write(&key, self.clock.now());
            replica.write(key, value, stamp)?
        };
        if self.local_writes.receiver_count() > 0 {
            let _ = self.local_writes.send(entry.clone());
        }
        Ok(entry)
    }

    /// Writes an own reading or unknown-device count later: held (newest per key) until
    /// `storage.readings_batch_ms` has passed since the first pending one, then written with
    /// the others by [`StateHandle::write_held`] (at once when nothing is held, and a key's
    /// first value). Checked now, so a refused value is refused to its writer.
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
        self.held.put(key, value, Instant::now());
        Ok(())
    }

    /// Writes the held values whose time has come (`all`: every one, e.g. at shutdown).
    pub fn write_held(&self, all: bool) {
        let due = if all {
            self.held.take_all()
        } else {
            self.held.take_due(Instant::now())
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
            let stamp = replica.stamp_for_write(&key, self.clock.now());
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::NodeId;
    use crate::peer::{MemberStatus, PeerStatus};
    use crate::state::{ChatAdapterState, DeviceCount};
    use crate::store::{RetentionPolicy, Store};

    fn handle(dir: &std::path::Path, mesh: Arc<MeshView>) -> StateHandle {
        let me = NodeId(1);
        let store = Store::open(dir).expect("open store");
        let (store, _thread) =
            StoreHandle::spawn(store, RetentionPolicy::default(), me, 0).expect("store thread");
        StateHandle::new(
            Clock::new(me, Duration::from_millis(5_000)),
            Replica::new(me),
            store,
            Duration::ZERO,
            mesh,
        )
    }

    #[test]
    fn a_kind_protocol_1_lacks_is_refused_at_the_door_until_every_member_speaks_protocol_2() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mesh = Arc::new(MeshView::new(0, false));
        let state = handle(dir.path(), mesh.clone());
        mesh.peers.publish(vec![PeerStatus::new(
            NodeId(2),
            "pi-2",
            MemberStatus::Alive,
        )]);
        mesh.note_peer_protocol(NodeId(2), 1);
        let adapter = Key::ChatAdapter {
            node: NodeId(1),
            platform: "slack".into(),
        };
        let connected = Value::ChatAdapter(ChatAdapterState {
            connected: true,
            since_ms: 1,
        });
        let refused = state.write(adapter.clone(), Some(connected.clone()));
        assert!(
            matches!(refused, Err(WriteError::MeshTooOld { protocol: 2, .. })),
            "{refused:?}"
        );
        assert!(state.replica().get(&adapter).is_none(), "nothing written");
        // A kind protocol 1 knows is written whatever the members speak.
        let devices = Key::Devices {
            observer: NodeId(1),
        };
        let count = Value::Devices(DeviceCount {
            subnet: "sim".into(),
            room: "lobby".into(),
            unknown: 2,
        });
        state.write(devices, Some(count)).expect("protocol-1 kind");
        // Once the member is upgraded, the write goes through.
        mesh.note_peer_protocol(NodeId(2), 3);
        state
            .write(adapter.clone(), Some(connected))
            .expect("every member speaks 2");
        assert!(state.replica().get(&adapter).is_some());
    }
}
