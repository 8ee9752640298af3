//! `PresenceState`: what this node itself knows of the LAN — its own sightings (memory only;
//! unknown devices never leave it), the "i am <mac>" claim codes it issued, whether its
//! presence loop has recorded a scan since start, and `presence.consider_home_s`.
//! Must not touch: the replica, the store, sockets.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::claims::ClaimBook;
use crate::sightings::LocalSightings;

/// This node's own view of the LAN.
#[derive(Debug)]
pub struct PresenceState {
    /// Every device this node itself saw on the LAN (memory only; unknown ones never leave it).
    pub sightings: LocalSightings,
    /// Outstanding "i am <mac>" claim codes this node issued.
    pub claims: ClaimBook,
    /// Set once this node's presence loop has recorded its first scan since start.
    scanned: AtomicBool,
    /// This node scans the LAN (`presence.interface` is not `""`).
    scans: bool,
    consider_home_ms: u64,
}

impl PresenceState {
    /// Empty; `scans`: whether this node scans the LAN at all.
    pub fn new(scans: bool, consider_home_s: u64) -> PresenceState {
        PresenceState {
            sightings: LocalSightings::default(),
            claims: ClaimBook::default(),
            scanned: AtomicBool::new(false),
            scans,
            consider_home_ms: consider_home_s * 1000,
        }
    }

    /// Records that the presence loop wrote its first scan since start.
    pub fn mark_scanned(&self) {
        self.scanned.store(true, Ordering::Release);
    }

    /// Whether this node's first presence scan since start is recorded (true when it does not
    /// scan).
    pub fn first_scan_done(&self) -> bool {
        !self.scans || self.scanned.load(Ordering::Acquire)
    }

    /// `presence.consider_home_s` in milliseconds.
    pub fn consider_home_ms(&self) -> u64 {
        self.consider_home_ms
    }
}
