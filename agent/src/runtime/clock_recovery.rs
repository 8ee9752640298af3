//! Recovery from this node's own clock having run ahead: once the wall clock is set right
//! (NTP, `date -s`, a restart without a skew), the writes stamped while it was ahead would be
//! refused by every peer until the wall clock caught up with them (up to hours, while the node
//! looks absent). Instead they are re-stamped at the corrected time (just above what any peer
//! may hold: `officemesh_core::restamp_ahead`), keeping their values, and the clock is rewound:
//! acknowledged writes spread, nothing is dropped.
//!
//! Runs at start (before gossip) and then every few seconds, cheaply (only when the clock's
//! floor is beyond the re-stamp limit). Decides only from the replica's content: when other
//! nodes' writes held here are ahead of the wall clock too, it is this wall clock that is
//! behind, and nothing is touched.
//! The same loop notices when this node's clock is ahead *now* (`check_own_clock`: every
//! alive peer's readings arrive old), which its peers' refusals cannot tell it.
//! Must not touch: peers' entries, the store (re-stamped entries are persisted by the batch
//! loop like any change).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::{wall_ms, Clock};
use crate::crdt::{NodeId, Stamp};
use crate::events::{EventKind, MeshEvent};
use crate::peer::MemberStatus;
use crate::shared::{MeshView, StateHandle};
use crate::state::own_clock::{self, OwnClockWatch};
use crate::state::query::duration_words;
use crate::state::Replica;
use officemesh_core::{restamp_ahead, RestampOutcome};

/// How often a running node checks whether its clock was set back.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// What one check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The clock is not ahead of the wall clock (the usual case).
    NotAhead,
    /// Own writes were re-stamped.
    Restamped { entries: usize, ahead_ms: u64 },
    /// The clock is ahead of the wall clock, but so are other nodes' writes: this node's wall
    /// clock is behind the cluster; nothing was re-stamped.
    WallClockBehind { behind_ms: u64 },
}

/// Re-stamps own writes stamped well beyond what any peer takes when the wall clock can be
/// trusted (`officemesh_core::restamp_ahead`: writes a peer may hold keep their stamps). The
/// caller holds the replica, so no write races the rewind.
pub fn recover(clock: &Clock, replica: &mut Replica) -> Recovery {
    let now_ms = wall_ms();
    match restamp_ahead(clock, now_ms, replica) {
        RestampOutcome::NotAhead => Recovery::NotAhead,
        RestampOutcome::WallClockBehind { foreign_max_time } => Recovery::WallClockBehind {
            behind_ms: unix_ms(foreign_max_time).saturating_sub(now_ms),
        },
        RestampOutcome::Restamped {
            restamped,
            newest_ahead_time,
        } => Recovery::Restamped {
            entries: restamped.len(),
            ahead_ms: unix_ms(newest_ahead_time).saturating_sub(now_ms),
        },
    }
}

fn unix_ms(time: u64) -> u64 {
    Stamp::new(time, crate::crdt::NodeId(0)).unix_ms()
}

/// Logs and records what a check did (nothing for `NotAhead`; the loop throttles
/// `WallClockBehind`).
pub fn report(mesh: &MeshView, recovery: &Recovery) {
    match recovery {
        Recovery::NotAhead => {}
        Recovery::Restamped { entries, ahead_ms } => {
            let detail = format!(
                "this node's clock was {} ahead and has been set right: re-stamped {entries} of \
                 its writes at the corrected time so peers take them",
                duration_words(*ahead_ms)
            );
            tracing::warn!(entries, ahead_ms, "{detail}");
            mesh.events.record(
                MeshEvent::new(wall_ms(), EventKind::ClockRestamped, detail)
                    .number("entries", *entries as u64)
                    .number("ahead_ms", *ahead_ms),
            );
        }
        Recovery::WallClockBehind { behind_ms } => {
            tracing::warn!(
                behind_ms,
                "this node's wall clock is {} behind the writes it holds from other nodes: \
                 new writes keep stamps above them until it is synchronized (check timedatectl)",
                duration_words(*behind_ms)
            );
        }
    }
}

/// Updates `MeshView::own_clock_ahead_ms` from the alive peers' readings (`state::own_clock`)
/// and says so when it changes: a WARN and an `own_clock_ahead` event when this node's clock
/// starts to look ahead (its peers then ignore its updates), an INFO and an event with
/// `ahead_ms` 0 when it no longer does.
pub fn check_own_clock(
    state: &StateHandle,
    mesh: &MeshView,
    watch: &mut OwnClockWatch,
    now_ms: u64,
) {
    let alive: Vec<NodeId> = mesh
        .peers()
        .iter()
        .filter(|peer| peer.status == MemberStatus::Alive)
        .map(|peer| peer.node)
        .collect();
    let newest = own_clock::newest_good_readings(&state.replica(), &alive);
    let ahead = watch.look(now_ms, newest);
    let before = mesh
        .own_clock_ahead_ms
        .swap(ahead.unwrap_or(0), Ordering::Relaxed);
    match (before, ahead) {
        (0, Some(ahead_ms)) => {
            let detail = format!(
                "this node's clock looks {} ahead of every peer's (their newest readings all \
                 arrive that old): they ignore its updates until it is fixed (check timedatectl)",
                duration_words(ahead_ms)
            );
            tracing::warn!(ahead_ms, "{detail}");
            mesh.events.record(
                MeshEvent::new(now_ms, EventKind::OwnClockAhead, detail)
                    .number("ahead_ms", ahead_ms),
            );
        }
        (before, None) if before > 0 => {
            let detail = "this node's clock no longer looks ahead of its peers'".to_string();
            tracing::info!("{detail}");
            mesh.events.record(
                MeshEvent::new(now_ms, EventKind::OwnClockAhead, detail).number("ahead_ms", 0),
            );
        }
        _ => {}
    }
}

/// Checks every few seconds (after the start-up check in `Agent::start`).
pub(super) async fn clock_recovery_loop(
    state: Arc<StateHandle>,
    mesh: Arc<MeshView>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    let mut last_behind_log_ms = 0u64;
    let mut own_clock_watch = OwnClockWatch::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        check_own_clock(&state, &mesh, &mut own_clock_watch, wall_ms());
        let recovery = recover(state.clock(), &mut state.replica());
        if let Recovery::WallClockBehind { .. } = recovery {
            let now = wall_ms();
            if now.saturating_sub(last_behind_log_ms) < 600_000 {
                continue;
            }
            last_behind_log_ms = now;
        }
        report(&mesh, &recovery);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::NodeId;
    use crate::state::{Key, PersonInfo, Value};

    fn person(name: &str) -> Key {
        format!("person/{name}/02:00:00:00:00:01")
            .parse()
            .expect("key")
    }

    fn added_by(who: &str) -> Option<Value> {
        Some(Value::Person(PersonInfo {
            added_by: who.into(),
        }))
    }

    #[test]
    fn writes_stamped_an_hour_ahead_are_restamped_below_the_accept_limit() {
        let me = NodeId(1);
        let clock = Clock::new(me, Duration::from_millis(5_000));
        let mut replica = Replica::new(me);
        let hour_ahead = Stamp::time_from_unix_ms(wall_ms() + 3_600_000);
        replica
            .write(person("ada"), added_by("api"), Stamp::new(hour_ahead, me))
            .expect("write");
        clock.raise_floor(hour_ahead);
        let recovery = recover(&clock, &mut replica);
        let Recovery::Restamped { entries, ahead_ms } = recovery else {
            panic!("expected a re-stamp, got {recovery:?}");
        };
        assert_eq!(entries, 1);
        assert!((3_590_000..=3_600_000).contains(&ahead_ms), "{ahead_ms}");
        let entry = replica.get(&person("ada")).expect("kept");
        let max_offset_ms = clock.max_offset_ms();
        assert!(
            entry.stamp.time <= clock.accept_limit_at(wall_ms() + max_offset_ms + 1),
            "peers take it within the max offset"
        );
        assert_eq!(entry.value, added_by("api"), "the value is kept");
        assert!(
            clock.now().time < hour_ahead,
            "new writes follow the wall clock"
        );
        assert_eq!(recover(&clock, &mut replica), Recovery::NotAhead);
    }

    #[test]
    fn nothing_changes_when_the_clock_is_not_ahead() {
        let me = NodeId(1);
        let clock = Clock::new(me, Duration::from_millis(5_000));
        let mut replica = Replica::new(me);
        replica
            .write(person("ada"), added_by("api"), clock.now())
            .expect("write");
        let before = replica.get(&person("ada")).cloned();
        assert_eq!(recover(&clock, &mut replica), Recovery::NotAhead);
        assert_eq!(replica.get(&person("ada")).cloned(), before);
    }
}
