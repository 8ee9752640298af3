//! The store thread: the one thread that owns the SQLite connection. `StoreHandle` sends it
//! requests (commit a change set, history, retention, stats) and awaits typed replies; queued
//! commits are applied together in one transaction (SD cards wear out: never one per write).
//!
//! Must not touch: the replica (it receives change sets, never reads the replica), sockets.

use portable_atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
        let (tx, rx) = mpsc::unbounded_channel();
        let durable_own_version = Arc::new(AtomicU64::new(own_version));
        let thread = std::thread::Builder::new().name("store".into()).spawn({
            let durable = durable_own_version.clone();
            move || store_loop(store, policy, me, durable, rx)
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

/// Owns the SQLite connection; commits queued change sets together in one transaction, and
/// answers history, retention and stats requests between commits.
///
/// A failed commit (a full disk) is not forgotten: change sets nobody waits for (batches of
/// readings and merges, already in memory) are retried first in the next commit, so memory and
/// disk agree again once it succeeds. Change sets someone waits for (`persist_and_wait`) are
/// not retried: their writer is told, and rolls the write back.
fn store_loop(
    mut store: Store,
    policy: RetentionPolicy,
    me: NodeId,
    durable_own_version: Arc<AtomicU64>,
    mut rx: mpsc::UnboundedReceiver<StoreRequest>,
) {
    let mut pending: Vec<StoreRequest> = Vec::new();
    let mut retry: Vec<ChangeSet> = Vec::new();
    let warnings = LogSummary::default();
    while let Some(first) = rx.blocking_recv() {
        pending.push(first);
        while let Ok(more) = rx.try_recv() {
            pending.push(more);
        }
        let mut batches: Vec<(ChangeSet, bool)> = retry.drain(..).map(|c| (c, false)).collect();
        let mut waiting = Vec::new();
        let mut others = Vec::new();
        for request in pending.drain(..) {
            match request {
                StoreRequest::Persist { changes, done } => {
                    batches.push((changes, done.is_some()));
                    waiting.extend(done);
                }
                other => others.push(other),
            }
        }
        if !batches.is_empty() {
            let sets: Vec<ChangeSet> = batches.iter().map(|(c, _)| c.clone()).collect();
            if commit(
                &mut store,
                &sets,
                me,
                &durable_own_version,
                waiting,
                &warnings,
            )
            .is_err()
            {
                retry = batches
                    .into_iter()
                    .filter(|(_, waited)| !waited)
                    .map(|(changes, _)| changes)
                    .collect();
                bound_retry(&mut retry);
            }
        }
        for request in others {
            answer(&mut store, &policy, request);
        }
    }
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
        StoreRequest::Persist { .. } => {}
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
}
