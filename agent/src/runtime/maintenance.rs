//! Maintenance loops: the batch tick that hands pending changes to the store thread
//! (`storage.batch_ms`), with the held own readings that are due (`StateHandle::write_held`), and
//! hourly retention/downsampling of the sample history.
//!
//! Takes only the `StateHandle`.
//! Must not touch: the replica's contents (only `write_held`, `persist_pending`), sockets.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::wall_ms;
use crate::shared::StateHandle;

/// Runs retention and downsampling shortly after start and then hourly (the same rule on
/// every node).
pub(super) async fn retention_loop(state: Arc<StateHandle>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(60),
        Duration::from_secs(3600),
    );
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let started = std::time::Instant::now();
        match state.run_retention(wall_ms()).await {
            Ok(report) => tracing::info!(
                aggregated = report.samples_aggregated,
                raw_deleted = report.raw_deleted,
                aggregates_deleted = report.aggregates_deleted,
                took_ms = started.elapsed().as_millis() as u64,
                "retention run"
            ),
            Err(err) => tracing::error!(error = %err, "retention run failed"),
        }
    }
}

pub(super) async fn batch_loop(
    state: Arc<StateHandle>,
    batch: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(batch);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                state.write_held(false); // own readings due (storage.readings_batch_ms)
                state.persist_pending();
            }
            _ = shutdown.changed() => return,
        }
    }
}
