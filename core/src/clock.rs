//! The node's hybrid logical clock (HLC) and wall-clock health.
//!
//! `Clock` wraps `uhlc` (Kulkarni et al. 2014): stamps are strictly increasing on this node,
//! above every stamp it has observed, and above the last stamp it persisted (Pis have no RTC and
//! may boot with the clock in the past). `observe` refuses a peer stamp more than `max_offset`
//! ahead of our wall clock, so a Pi whose clock runs ahead cannot win every last-writer-wins race.
//! `accept_limit` is that guard's bound for gossip; a test-only offset
//! (`gossip.test_clock_offset_ms`) shifts this process's wall clock for drills.
//! A node whose wall clock runs ahead of the mesh's (measured by `Node` from the peers' clocks,
//! `gossip::clock_offsets`) is told so (`set_correction_ms`): its stamps and accept limit then
//! follow its wall clock minus that correction, so it does not win last-writer-wins races with
//! its skew. `stamp_at` is the HLC step at a given wall time (pure; for `Node` and tests).
//!
//! This is the only module that reads the wall clock for stamps. The CRDTs and the gossip core
//! take times as arguments.

use portable_atomic::{AtomicI64, AtomicU64};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::crdt::{NodeId, Stamp};

/// Test-only offset added to this process's wall clock (`gossip.test_clock_offset_ms`), so a
/// drill can run one agent with a skewed clock. Zero in normal use.
static TEST_CLOCK_OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Sets the test-only clock offset for this process.
pub fn set_test_clock_offset_ms(offset_ms: i64) {
    TEST_CLOCK_OFFSET_MS.store(offset_ms, Ordering::Relaxed);
}

/// Wall time in milliseconds since the Unix epoch, including the test-only offset.
pub fn wall_ms() -> u64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    (real + TEST_CLOCK_OFFSET_MS.load(Ordering::Relaxed)).max(0) as u64
}

fn skewed_ntp64() -> uhlc::NTP64 {
    let now = wall_ms();
    uhlc::NTP64(Stamp::time_from_unix_ms(now))
}

/// A peer stamp was refused because it is too far ahead of our wall clock.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "stamp from node {node} is {ahead_ms} ms ahead of this node's clock (max {max_offset_ms} ms)"
)]
pub struct ClockAhead {
    pub node: NodeId,
    pub ahead_ms: u64,
    pub max_offset_ms: u64,
}

/// This node's HLC.
pub struct Clock {
    node: NodeId,
    /// Replaced (not adjusted) by `rewind`: uhlc keeps its last time inside.
    hlc: Mutex<uhlc::HLC>,
    max_offset: Duration,
    max_offset_ms: u64,
    /// Every stamp issued is above this: the highest stamp issued, observed or persisted.
    floor: Mutex<u64>,
    /// How far this node's wall clock runs ahead of the mesh's median (ms), subtracted for
    /// stamps and the accept limit; 0 when it is not ahead (`set_correction_ms`).
    correction_ms: AtomicU64,
}

impl Clock {
    /// A clock for `node` refusing peer stamps more than `max_offset` ahead.
    pub fn new(node: NodeId, max_offset: Duration) -> Self {
        Clock {
            node,
            hlc: Mutex::new(build_hlc(node, max_offset)),
            max_offset,
            max_offset_ms: max_offset.as_millis() as u64,
            floor: Mutex::new(0),
            correction_ms: AtomicU64::new(0),
        }
    }

    /// Sets how far this node's wall clock runs ahead of the mesh (0: no correction).
    pub fn set_correction_ms(&self, correction_ms: u64) {
        self.correction_ms.store(correction_ms, Ordering::Relaxed);
    }

    /// How far this node's wall clock runs ahead of the mesh, as last set (0: no correction).
    pub fn correction_ms(&self) -> u64 {
        self.correction_ms.load(Ordering::Relaxed)
    }

    /// The wall time `wall_ms` corrected by this node's measured offset from the mesh.
    pub fn corrected(&self, wall_ms: u64) -> u64 {
        wall_ms.saturating_sub(self.correction_ms())
    }

    /// A new stamp as `now` would give it with the wall clock at `wall_ms` (corrected): the
    /// corrected time, or just above the floor when that is later (a stamp issued before the
    /// correction keeps the floor high until `rewind`).
    pub fn stamp_at(&self, wall_ms: u64) -> Stamp {
        let physical = Stamp::time_from_unix_ms(self.corrected(wall_ms));
        let mut floor = crate::sync::lock(&self.floor);
        let time = physical.max(*floor + 1);
        *floor = time;
        Stamp::new(time, self.node)
    }

    pub fn node(&self) -> NodeId {
        self.node
    }

    pub fn max_offset_ms(&self) -> u64 {
        self.max_offset_ms
    }

    /// A new stamp, greater than every stamp this clock issued, observed or was floored at.
    pub fn now(&self) -> Stamp {
        if self.correction_ms() > 0 {
            return self.stamp_at(wall_ms());
        }
        let candidate = crate::sync::lock(&self.hlc).new_timestamp().get_time().0;
        let mut floor = crate::sync::lock(&self.floor);
        let time = candidate.max(*floor + 1);
        *floor = time;
        Stamp::new(time, self.node)
    }

    /// Raises the floor to a persisted stamp time, so stamps stay increasing across restarts
    /// even when the wall clock went backwards.
    pub fn raise_floor(&self, time: u64) {
        let mut floor = crate::sync::lock(&self.floor);
        *floor = (*floor).max(time);
    }

    /// Lowers the clock to `floor_time` (or the wall clock, whichever is later): for a node whose
    /// wall clock ran ahead and was set right, once the stamps it issued while ahead have been
    /// re-stamped (`Replica::plan_restamp`). The caller holds the replica, so no stamp above
    /// the new floor is in use elsewhere.
    pub fn rewind(&self, floor_time: u64) {
        let mut hlc = crate::sync::lock(&self.hlc);
        *hlc = build_hlc(self.node, self.max_offset);
        *crate::sync::lock(&self.floor) = floor_time;
    }

    /// The highest stamp time issued, observed or floored at.
    pub fn floor_time(&self) -> u64 {
        *crate::sync::lock(&self.floor)
    }

    /// Observes a peer's stamp: afterwards `now()` is above it. Refuses (and does not observe)
    /// a stamp more than `max_offset` ahead of our wall clock.
    pub fn observe(&self, stamp: Stamp) -> Result<(), ClockAhead> {
        let now_ms = self.corrected(wall_ms());
        let stamp_ms = stamp.unix_ms();
        if stamp_ms > now_ms + self.max_offset_ms {
            return Err(ClockAhead {
                node: stamp.node,
                ahead_ms: stamp_ms - now_ms,
                max_offset_ms: self.max_offset_ms,
            });
        }
        self.raise_floor(stamp.time);
        Ok(())
    }

    /// A separate clock with this one's node, max offset and floor (the simulator forks whole
    /// worlds; its nodes never read the HLC's wall time, only the floor).
    #[cfg(feature = "sim")]
    pub fn fork(&self) -> Clock {
        let clock = Clock::new(self.node, self.max_offset);
        clock.raise_floor(self.floor_time());
        clock.set_correction_ms(self.correction_ms());
        clock
    }

    /// The newest time a peer stamp may carry right now (for the pure gossip core's guard), by
    /// the corrected wall clock.
    pub fn accept_limit(&self) -> u64 {
        self.accept_limit_at(wall_ms())
    }

    /// `accept_limit` with the wall clock at `wall_ms`.
    pub fn accept_limit_at(&self, wall_ms: u64) -> u64 {
        Stamp::time_from_unix_ms(self.corrected(wall_ms) + self.max_offset_ms)
    }
}

fn build_hlc(node: NodeId, max_offset: Duration) -> uhlc::HLC {
    let id = uhlc::ID::try_from(node.0.max(1)).unwrap_or_else(|_| uhlc::ID::rand());
    uhlc::HLCBuilder::new()
        .with_id(id)
        .with_clock(skewed_ntp64)
        .with_max_delta(max_offset)
        .build()
}

/// Whether the wall clock can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum WallClockStatus {
    /// The system says it is synchronized (systemd-timesyncd's flag file).
    Synced,
    /// Clearly wrong or not yet synchronized; stamps issued now may lose LWW races later.
    Unsynced(String),
    /// No way to tell on this system.
    Unknown,
}

/// 2025-01-01T00:00:00Z: a Pi without RTC boots at its last saved time or 1970; anything before
/// this release's era is certainly wrong.
const PLAUSIBLE_AFTER_MS: u64 = 1_735_689_600_000;

/// Checks whether the wall clock is synchronized (Pis have no RTC and boot with a stale time).
pub fn wall_clock_status() -> WallClockStatus {
    wall_clock_status_from(
        wall_ms(),
        std::path::Path::new("/run/systemd/timesync/synchronized"),
    )
}

fn wall_clock_status_from(now_ms: u64, timesync_flag: &std::path::Path) -> WallClockStatus {
    if now_ms < PLAUSIBLE_AFTER_MS {
        return WallClockStatus::Unsynced(
            "the wall clock is before 2025: no RTC and no NTP sync yet (check timedatectl)".into(),
        );
    }
    if timesync_flag.exists() {
        WallClockStatus::Synced
    } else {
        WallClockStatus::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_increase_and_stay_above_observed_and_floor() {
        let clock = Clock::new(NodeId(3), Duration::from_millis(500));
        let a = clock.now();
        let b = clock.now();
        assert!(b > a);
        let peer = Stamp::new(clock.now().time + 1000, NodeId(9));
        clock.observe(peer).expect("slightly ahead is accepted");
        assert!(clock.now().time > peer.time);
        let far_future = Stamp::new(a.time + (1u64 << 32) * 3600, NodeId(1));
        clock.raise_floor(far_future.time);
        assert!(
            clock.now().time > far_future.time,
            "floor holds even ahead of the wall clock"
        );
    }

    #[test]
    fn rewind_lowers_stamps_to_the_wall_clock_above_the_floor_given() {
        let clock = Clock::new(NodeId(3), Duration::from_millis(500));
        let hour_ahead = Stamp::time_from_unix_ms(wall_ms() + 3_600_000);
        clock.raise_floor(hour_ahead);
        assert!(
            clock.now().time > hour_ahead,
            "the floor holds before a rewind"
        );
        let kept = clock.now().time - Stamp::time_from_unix_ms(3_600_000);
        clock.rewind(kept);
        let after = clock.now();
        assert!(after.time > kept, "stamps stay above the floor given");
        assert!(
            after.time < hour_ahead,
            "stamps follow the wall clock again, not the old floor"
        );
        assert_eq!(clock.floor_time(), after.time);
    }

    #[test]
    fn a_correction_lowers_stamps_and_the_accept_limit_and_the_floor_still_holds() {
        let clock = Clock::new(NodeId(3), Duration::from_millis(500));
        let wall = 1_800_000_020_000;
        let ahead = clock.stamp_at(wall);
        assert_eq!(ahead.unix_ms(), wall);
        clock.set_correction_ms(20_000);
        assert_eq!(
            clock.accept_limit_at(wall),
            Stamp::time_from_unix_ms(wall - 19_500)
        );
        // A stamp issued before the correction keeps the floor high: the next stamp is above it.
        let next = clock.stamp_at(wall + 1);
        assert!(next > ahead);
        // Once rewound (after the ahead stamps were re-stamped), stamps follow the mesh's time.
        clock.rewind(0);
        let corrected = clock.stamp_at(wall + 2);
        assert_eq!(corrected.unix_ms(), wall + 2 - 20_000);
        assert!(clock.stamp_at(wall + 2) > corrected, "strictly increasing");
    }

    #[test]
    fn refuses_stamps_beyond_max_offset() {
        let clock = Clock::new(NodeId(3), Duration::from_millis(500));
        let ahead = Stamp::new(Stamp::time_from_unix_ms(wall_ms() + 60_000), NodeId(4));
        let err = clock.observe(ahead).expect_err("a minute ahead is refused");
        assert_eq!(err.node, NodeId(4));
        assert!(err.ahead_ms > 59_000);
        assert!(clock.now() < ahead, "a refused stamp is not observed");
    }

    #[test]
    fn reports_implausible_wall_clock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let flag = dir.path().join("synchronized");
        assert!(matches!(
            wall_clock_status_from(1000, &flag),
            WallClockStatus::Unsynced(_)
        ));
        assert_eq!(
            wall_clock_status_from(PLAUSIBLE_AFTER_MS + 1, &flag),
            WallClockStatus::Unknown
        );
        std::fs::write(&flag, b"").expect("write flag");
        assert_eq!(
            wall_clock_status_from(PLAUSIBLE_AFTER_MS + 1, &flag),
            WallClockStatus::Synced
        );
    }
}
