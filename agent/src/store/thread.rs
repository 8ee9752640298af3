//! The store thread: the one thread that owns the SQLite connection. `StoreHandle` sends it
//! requests (commit a change set, history, retention, stats) and awaits typed replies; queued
//! commits are applied together in one transaction (SD cards wear out: never one per write).
//! Change sets that only carry what peers sent (`is_lazy`) are held up to `hold`
//! (`storage.readings_batch_ms`) and committed with the next one: every commit rewrites whole
//! pages (entries, index, watermarks, samples) into the WAL, so fewer commits is fewer bytes on
//! the SD card. Anything someone waits for (an API write) commits at once, with all that is
//! held; so does every own write (own readings are held before the replica: `held_writes`).
//!
//! Must not touch: the replica (it receives change sets, never reads the replica), sockets.

use portable_atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::{
    HistoryPoint, HistoryQuery, RetentionPolicy, RetentionReport, Store, StoreError, StoreStats,
};
use crate::crdt::NodeId;
use crate::log_summary::LogSummary;
use crate::state::ChangeSet;

/// A request to the store thread.
enum StoreRequest {
    /// Commit a change set; `done` (if any) hears when it is durable.
    Persist {
        changes: ChangeSet,
        done: Option<oneshot::Sender<Result<(), StoreError>>>,
    },
    History {
        query: HistoryQuery,
        reply: oneshot::Sender<Result<Vec<HistoryPoint>, StoreError>>,
    },
    Retention {
        now_ms: u64,
        reply: oneshot::Sender<Result<RetentionReport, StoreError>>,
    },
    Stats {
        reply: oneshot::Sender<Result<StoreStats, StoreError>>,
    },
    /// Nothing new: a chance to commit what has been held long enough.
    Tick,
}

/// The sending side of the store thread; the thread ends when the last handle is dropped.
pub struct StoreHandle {
    tx: mpsc::UnboundedSender<StoreRequest>,
    /// This node's last own version committed to SQLite: gossip shows peers own writes only up
    /// to it (`Replica::set_publish_limit`), so a crash never makes a seen version reused.
    durable_own_version: Arc<AtomicU64>,
}

impl StoreHandle {
    /// Starts the store thread over `store`. `own_version` is this node's own version already
    /// on disk (the replica's own counter after loading).
    pub fn spawn(
        store: Store,
        policy: RetentionPolicy,
        me: NodeId,
        own_version: u64,
    ) -> std::io::Result<(StoreHandle, std::thread::JoinHandle<()>)> {
        Self::spawn_holding(store, policy, me, own_version, Duration::ZERO)
    }

    /// [`StoreHandle::spawn`], holding readings-only change sets up to `hold` (module doc).
    pub fn spawn_holding(
        store: Store,
        policy: RetentionPolicy,
        me: NodeId,
        own_version: u64,
        hold: Duration,
    ) -> std::io::Result<(StoreHandle, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let durable_own_version = Arc::new(AtomicU64::new(own_version));
        let thread = std::thread::Builder::new().name("store".into()).spawn({
            let durable = durable_own_version.clone();
            let commits = Commits {
                me,
                durable_own_version: durable,
                hold,
                warnings: LogSummary::default(),
            };
            move || store_loop(store, policy, commits, rx)
        })?;
        Ok((
            StoreHandle {
                tx,
                durable_own_version,
            },
            thread,
        ))
    }

    /// Queues a change set for the next commit without waiting.
    pub fn persist(&self, changes: ChangeSet) {
        let _ = self.tx.send(StoreRequest::Persist {
            changes,
            done: None,
        });
    }

    /// Lets the store thread commit held change sets whose time has come (the batch tick calls
    /// it when there is nothing new to persist).
    pub fn tick(&self) {
        let _ = self.tx.send(StoreRequest::Tick);
    }

    /// Commits a change set (with whatever else is queued) and waits until it is durable.
    pub async fn persist_and_wait(&self, changes: ChangeSet) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.send(StoreRequest::Persist {
            changes,
            done: Some(done),
        })?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }

    /// Sample history of one sensor quantity.
    pub async fn history(&self, query: HistoryQuery) -> Result<Vec<HistoryPoint>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(StoreRequest::History { query, reply })?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }

    /// Runs the retention and downsampling rule now.
    pub async fn run_retention(&self, now_ms: u64) -> Result<RetentionReport, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(StoreRequest::Retention { now_ms, reply })?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }

    /// Sizes of the local store.
    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(StoreRequest::Stats { reply })?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }

    /// The last own version committed to SQLite (what gossip may show peers).
    pub fn durable_own_version(&self) -> u64 {
        self.durable_own_version.load(Ordering::Acquire)
    }

    fn send(&self, request: StoreRequest) -> Result<(), StoreError> {
        self.tx.send(request).map_err(|_| StoreError::Stopped)
    }
}

/// How the store thread commits: whose writes are own, where it publishes the durable own
/// version, how long readings may be held.
struct Commits {
    me: NodeId,
    durable_own_version: Arc<AtomicU64>,
    hold: Duration,
    warnings: LogSummary,
}

/// Held change sets beyond this many are committed at once (memory stays small).
const MAX_HELD_SETS: usize = 512;

/// True when `changes` may wait for a later commit: nothing but entries peers sent (their
/// origins still hold and publish them). Every own write commits at the next batch tick: the
/// publish limit (`durable_own_version`) hides own entries from peers until committed, so a
/// held own entry would make this node's state hash differ from every peer's. Own readings are
/// held before they enter the replica instead (`held_writes`).
fn is_lazy(changes: &ChangeSet, me: NodeId) -> bool {
    changes.removed.is_empty()
        && changes.safety.is_none()
        && changes.upserts.iter().all(|e| e.stamp.node != me)
}

/// Owns the SQLite connection; commits queued change sets together in one transaction, and
/// answers history, retention and stats requests between commits (after committing what is
/// held, so they see it).
///
/// A failed commit (a full disk) is not forgotten: change sets nobody waits for (batches of
/// readings and merges, already in memory) are retried first in the next commit, so memory and
/// disk agree again once it succeeds. Change sets someone waits for (`persist_and_wait`) are
/// not retried: their writer is told, and rolls the write back. What is held when the last
/// handle goes (the agent stopping) is committed before the thread ends.
fn store_loop(
    mut store: Store,
    policy: RetentionPolicy,
    commits: Commits,
    mut rx: mpsc::UnboundedReceiver<StoreRequest>,
) {
    let mut pending: Vec<StoreRequest> = Vec::new();
    let mut held: Vec<ChangeSet> = Vec::new();
    let mut held_since: Option<Instant> = None;
    while let Some(first) = rx.blocking_recv() {
        pending.push(first);
        while let Ok(more) = rx.try_recv() {
            pending.push(more);
        }
        let mut batches: Vec<(ChangeSet, bool)> = Vec::new();
        let mut waiting = Vec::new();
        let mut others = Vec::new();
        let mut urgent = false;
        for request in pending.drain(..) {
            match request {
                StoreRequest::Persist { changes, done } => {
                    urgent |= done.is_some() || !is_lazy(&changes, commits.me);
                    batches.push((changes, done.is_some()));
                    waiting.extend(done);
                }
                StoreRequest::Tick => {}
                other => others.push(other),
            }
        }
        let (lazy, now): (Vec<_>, Vec<_>) = batches.into_iter().partition(|(_, w)| !w);
        held.extend(lazy.into_iter().map(|(changes, _)| changes));
        if !held.is_empty() {
            held_since.get_or_insert_with(Instant::now);
        }
        let due = urgent
            || !others.is_empty()
            || held.len() > MAX_HELD_SETS
            || held_since.is_some_and(|since| since.elapsed() >= commits.hold);
        if due && (!held.is_empty() || !now.is_empty()) {
            let mut sets: Vec<(ChangeSet, bool)> = held.drain(..).map(|c| (c, false)).collect();
            sets.extend(now);
            held_since = None;
            if let Err(kept) = commit_sets(&mut store, &commits, sets, waiting) {
                held = kept;
                held_since = Some(Instant::now());
            }
        }
        for request in others {
            answer(&mut store, &policy, request);
        }
    }
    if !held.is_empty() {
        let sets = held.drain(..).map(|c| (c, false)).collect();
        let _ = commit_sets(&mut store, &commits, sets, Vec::new());
    }
}

/// Commits `sets` (each marked whether someone waits for it) in one transaction; on failure
/// gives back those nobody waits for, bounded, to be retried first.
fn commit_sets(
    store: &mut Store,
    commits: &Commits,
    sets: Vec<(ChangeSet, bool)>,
    waiting: Vec<oneshot::Sender<Result<(), StoreError>>>,
) -> Result<(), Vec<ChangeSet>> {
    let batches: Vec<ChangeSet> = sets.iter().map(|(c, _)| c.clone()).collect();
    let result = commit(
        store,
        &batches,
        commits.me,
        &commits.durable_own_version,
        waiting,
        &commits.warnings,
    );
    result.map_err(|()| {
        let mut retry: Vec<ChangeSet> = sets
            .into_iter()
            .filter(|(_, waited)| !waited)
            .map(|(changes, _)| changes)
            .collect();
        bound_retry(&mut retry);
        retry
    })
}

/// Change sets kept for retry beyond this many are merged into one (memory stays bounded
/// while the disk is full: one entry per key, and the newest readings history).
const MAX_RETRY_SETS: usize = 64;
/// Readings history kept for retry.
const MAX_RETRY_READINGS: usize = 10_000;

fn bound_retry(retry: &mut Vec<ChangeSet>) {
    if retry.len() <= MAX_RETRY_SETS {
        return;
    }
    let merged = retry
        .drain(..)
        .reduce(merge_change_sets)
        .unwrap_or_default();
    retry.push(merged);
}

/// One change set with the effect of `older` then `newer`.
fn merge_change_sets(older: ChangeSet, newer: ChangeSet) -> ChangeSet {
    use std::collections::BTreeSet;
    let touched: BTreeSet<String> = newer
        .upserts
        .iter()
        .map(|e| e.key.to_string())
        .chain(newer.removed.iter().map(ToString::to_string))
        .collect();
    let newer_upserts: BTreeSet<String> = newer.upserts.iter().map(|e| e.key.to_string()).collect();
    let mut upserts: Vec<_> = older
        .upserts
        .into_iter()
        .filter(|e| !touched.contains(&e.key.to_string()))
        .collect();
    upserts.extend(newer.upserts);
    let mut removed: Vec<_> = older
        .removed
        .into_iter()
        .filter(|k| !newer_upserts.contains(&k.to_string()))
        .collect();
    removed.extend(newer.removed);
    removed.sort();
    removed.dedup();
    let mut watermarks: Vec<_> = older.watermarks;
    watermarks.retain(|(origin, _)| !newer.watermarks.iter().any(|(o, _)| o == origin));
    watermarks.extend(newer.watermarks);
    let mut readings = older.readings;
    readings.extend(newer.readings);
    let excess = readings.len().saturating_sub(MAX_RETRY_READINGS);
    readings.drain(..excess);
    ChangeSet {
        upserts,
        removed,
        watermarks,
        readings,
        // The newer safety state supersedes the older (it only moves forward).
        safety: newer.safety.or(older.safety),
    }
}

/// Commits `batches` in one transaction and tells every waiter how it went.
fn commit(
    store: &mut Store,
    batches: &[ChangeSet],
    me: NodeId,
    durable_own_version: &AtomicU64,
    waiting: Vec<oneshot::Sender<Result<(), StoreError>>>,
    warnings: &LogSummary,
) -> Result<(), ()> {
    let result = store.apply_all(batches).map_err(Arc::new);
    match &result {
        Ok(()) => {
            let own = batches
                .iter()
                .flat_map(|b| b.watermarks.iter())
                .filter(|(origin, _)| *origin == me)
                .map(|(_, version)| *version)
                .max();
            if let Some(own) = own {
                durable_own_version.fetch_max(own, Ordering::AcqRel);
            }
        }
        Err(err) => {
            if let Some(left_out) = warnings.admit("commit", "store") {
                tracing::error!(
                    error = %err,
                    left_out,
                    "persisting a batch failed; kept in memory and retried with the next one \
                     (one line per minute)"
                );
            }
        }
    }
    let failed = result.is_err();
    for done in waiting {
        let _ = done.send(result.clone().map_err(StoreError::CommitFailed));
    }
    if failed {
        Err(())
    } else {
        Ok(())
    }
}

fn answer(store: &mut Store, policy: &RetentionPolicy, request: StoreRequest) {
    match request {
        StoreRequest::History { query, reply } => {
            let _ = reply.send(store.history(&query));
        }
        StoreRequest::Retention { now_ms, reply } => {
            let _ = reply.send(store.run_retention(now_ms, policy));
        }
        StoreRequest::Stats { reply } => {
            let _ = reply.send(store.stats());
        }
        StoreRequest::Persist { .. } | StoreRequest::Tick => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::Stamp;
    use crate::state::{Entry, Key, PersonInfo, Value};
    use officemesh_sensors::MacAddr;

    fn entry(name: &str, time: u64) -> Entry {
        Entry {
            key: Key::Person {
                name: name.into(),
                mac: MacAddr([2, 0, 0, 0, 0, 1]),
            },
            value: Some(Value::Person(PersonInfo {
                added_by: format!("t{time}"),
            })),
            stamp: Stamp::new(time, NodeId(1)),
            version: time,
        }
    }

    #[test]
    fn merged_retries_keep_the_newest_content_per_key() {
        let older = ChangeSet {
            upserts: vec![entry("ada", 1), entry("bob", 2)],
            removed: Vec::new(),
            watermarks: vec![(NodeId(1), 2)],
            readings: Vec::new(),
            safety: None,
        };
        let newer = ChangeSet {
            upserts: vec![entry("ada", 3)],
            removed: vec![entry("bob", 0).key],
            watermarks: vec![(NodeId(1), 3)],
            readings: Vec::new(),
            safety: None,
        };
        let merged = merge_change_sets(older, newer);
        assert_eq!(merged.upserts, vec![entry("ada", 3)]);
        assert_eq!(merged.removed, vec![entry("bob", 0).key]);
        assert_eq!(merged.watermarks, vec![(NodeId(1), 3)]);

        let mut many: Vec<ChangeSet> = (0..100)
            .map(|i| ChangeSet {
                upserts: vec![entry("ada", i)],
                ..ChangeSet::default()
            })
            .collect();
        bound_retry(&mut many);
        assert_eq!(many.len(), 1);
        assert_eq!(many[0].upserts, vec![entry("ada", 99)]);
    }

    fn reading(node: NodeId, version: u64) -> Entry {
        Entry {
            key: Key::Reading {
                node,
                sensor: "desk".into(),
                quantity: officemesh_sensors::Quantity::Temperature,
            },
            value: None,
            stamp: Stamp::new(version, node),
            version,
        }
    }

    #[test]
    fn only_what_peers_sent_may_wait() {
        let me = NodeId(1);
        let lazy = |upserts: Vec<Entry>| {
            is_lazy(
                &ChangeSet {
                    upserts,
                    ..ChangeSet::default()
                },
                me,
            )
        };
        assert!(lazy(vec![reading(NodeId(2), 7), reading(NodeId(3), 1)]));
        assert!(
            !lazy(vec![reading(me, 1), reading(NodeId(2), 7)]),
            "own readings commit at once: peers see them only once committed"
        );
        let peers_person = Entry {
            stamp: Stamp::new(3, NodeId(2)),
            ..entry("ada", 3)
        };
        assert!(lazy(vec![peers_person]), "a peer's person entry");
        let own_person = Entry {
            stamp: Stamp::new(4, me),
            ..entry("ada", 4)
        };
        assert!(!lazy(vec![reading(NodeId(2), 1), own_person]));
        let removal = ChangeSet {
            removed: vec![entry("bob", 0).key],
            ..ChangeSet::default()
        };
        assert!(!is_lazy(&removal, me));
    }

    /// Peers' readings wait (held for an hour here); an acknowledged write commits them with it
    /// at once; the last handle going commits the rest.
    #[tokio::test(flavor = "multi_thread")]
    async fn held_readings_commit_with_an_acknowledged_write_and_at_shutdown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let me = NodeId(9);
        let peer = NodeId(4);
        let open = || Store::open(dir.path()).expect("open");
        let policy = RetentionPolicy {
            raw_days: 7,
            aggregate_days: 90,
        };
        let hold = Duration::from_secs(3600);
        let (handle, thread) =
            StoreHandle::spawn_holding(open(), policy, me, 0, hold).expect("spawn");
        let readings = |version| ChangeSet {
            upserts: vec![reading(peer, version)],
            watermarks: vec![(peer, version)],
            ..ChangeSet::default()
        };
        handle.persist(readings(1));
        handle.tick();
        let write = ChangeSet {
            upserts: vec![Entry {
                stamp: Stamp::new(2, me),
                ..entry("ada", 2)
            }],
            watermarks: vec![(me, 2)],
            ..ChangeSet::default()
        };
        handle.persist_and_wait(write).await.expect("commit");
        assert_eq!(handle.durable_own_version(), 2);
        let count = |store: &Store| -> i64 {
            store
                .conn
                .query_row("SELECT count(*) FROM entries", [], |row| row.get(0))
                .expect("count")
        };
        assert_eq!(count(&open()), 2, "the held reading went with the write");

        handle.persist(ChangeSet {
            upserts: vec![Entry {
                key: Key::Reading {
                    node: peer,
                    sensor: "window".into(),
                    quantity: officemesh_sensors::Quantity::Temperature,
                },
                ..reading(peer, 3)
            }],
            watermarks: vec![(peer, 3)],
            ..ChangeSet::default()
        });
        drop(handle);
        thread.join().expect("store thread");
        assert_eq!(
            count(&open()),
            3,
            "held at shutdown, committed before the thread ended"
        );
    }
}
