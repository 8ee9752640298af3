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
fn store_loop(
    mut store: Store,
    policy: RetentionPolicy,
    me: NodeId,
    durable_own_version: Arc<AtomicU64>,
    mut rx: mpsc::UnboundedReceiver<StoreRequest>,
) {
    let mut pending: Vec<StoreRequest> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        pending.push(first);
        while let Ok(more) = rx.try_recv() {
            pending.push(more);
        }
        let mut batches = Vec::new();
        let mut waiting = Vec::new();
        let mut others = Vec::new();
        for request in pending.drain(..) {
            match request {
                StoreRequest::Persist { changes, done } => {
                    batches.push(changes);
                    waiting.extend(done);
                }
                other => others.push(other),
            }
        }
        if !batches.is_empty() {
            commit(&mut store, &batches, me, &durable_own_version, waiting);
        }
        for request in others {
            answer(&mut store, &policy, request);
        }
    }
}

/// Commits `batches` in one transaction and tells every waiter how it went.
fn commit(
    store: &mut Store,
    batches: &[ChangeSet],
    me: NodeId,
    durable_own_version: &AtomicU64,
    waiting: Vec<oneshot::Sender<Result<(), StoreError>>>,
) {
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
        Err(err) => tracing::error!(error = %err, "persisting a batch failed"),
    }
    for done in waiting {
        let _ = done.send(result.clone().map_err(StoreError::CommitFailed));
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
