//! Garbage collection and the persisted safety state of `GossipCore`: collecting members gone
//! and tombstones past the grace period (keeping the collected ledger's horizon), and reading
//! the GC floors and reset progress back from, or writing them into, the replica's
//! `SafetyState` (persisted with the entries they describe, in one transaction).
//!
//! Pure. Must not touch: sockets, clocks, the exchange itself.

use super::GossipCore;
use crate::crdt::Stamp;
use crate::state::Replica;

/// How long the collected ledger remembers a collected tombstone, in tombstone grace periods
/// from its stamp (collection happens one grace period after the stamp): a write older than
/// the tombstone that surfaces later (a node back from a crash, a reset keeping own writes) is
/// refused until then.
const LEDGER_GRACES: u64 = 8;

impl GossipCore {
    /// Garbage collection: members gone longer than the grace period, and tombstones older
    /// than it (every `gc_every_ms`).
    pub(super) fn collect(&mut self, now_ms: u64, replica: &mut Replica) {
        let t = self.thresholds();
        let grace = self.params.tombstone_grace_ms;
        let forgotten = self.members.collect_gone(now_ms, &t, grace);
        self.stats.members_forgotten += forgotten as u64;
        if forgotten > 0 {
            let members = &self.members;
            self.peer_seen.retain(|id, _| members.get(*id).is_some());
            self.exchange_epochs
                .retain(|id, _| members.get(*id).is_some());
            self.refused_exchanges
                .retain(|id| members.get(*id).is_some());
        }
        // Not while catching up after a reset: collecting would raise our floors, peers would
        // then be behind us, and we reset nobody until caught up, so they would refuse us data
        // (waiting for our reset) and we would never catch up.
        if self.resync_target.is_none()
            && now_ms.saturating_sub(self.last_gc_ms) >= self.params.gc_every_ms
            && now_ms > grace
        {
            self.last_gc_ms = now_ms;
            // Stamps follow the mesh's time: judged by a clock running ahead, tombstones would
            // look older than they are.
            let mesh_ms = now_ms.saturating_sub(self.clock_correction_ms);
            let before = Stamp::time_from_unix_ms(mesh_ms.saturating_sub(grace));
            let dropped = self.floors.collect_tombstones(replica, before);
            self.stats.tombstones_collected += dropped as u64;
            let ledger_ms = grace.saturating_mul(LEDGER_GRACES);
            let forget = Stamp::time_from_unix_ms(mesh_ms.saturating_sub(ledger_ms));
            replica.forget_collected_before(forget, before);
            if dropped > 0 {
                self.save_safety(replica);
            }
        }
    }

    /// Reads the floors and reset progress back from the replica once (after a restart they
    /// come from the store).
    pub(super) fn restore_safety(&mut self, replica: &Replica) {
        if self.safety_restored {
            return;
        }
        self.safety_restored = true;
        let safety = replica.safety();
        self.floors.adopt(&safety.floors, safety.gc_mark);
        if let Some(target) = &safety.resync_target {
            self.resync_target = Some(target.iter().copied().collect());
        }
    }

    /// Writes the floors and reset progress into the replica, so the store persists them with
    /// the entries they describe (one transaction).
    pub(super) fn save_safety(&self, replica: &mut Replica) {
        let mut safety = replica.safety().clone();
        safety.floors = self.floors.to_vec();
        safety.gc_mark = self.floors.gc_mark;
        safety.resync_target = self
            .resync_target
            .as_ref()
            .map(|target| target.iter().map(|(o, w)| (*o, *w)).collect());
        replica.set_safety(safety);
    }
}
