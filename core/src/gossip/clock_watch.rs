//! Which peers' clocks run ahead of this node's: origins whose entries were held back because
//! their stamps are beyond the accept limit (`Clock::accept_limit`), by how much, and since
//! when. Answers, `/v1/nodes` and the chat bot say so ("pi-3's clock is 58 min ahead; I'm
//! ignoring its updates until it is fixed") instead of silently serving stale data.
//!
//! Pure: times are passed in. Must not touch: the replica, messages, the wall clock.

use std::collections::BTreeMap;

use crate::crdt::{NodeId, Stamp};

use super::delta::Applied;

/// A refusal older than this no longer marks the peer (it stopped offering the entries: fixed,
/// gone, or everything it had was taken since).
pub const FORGET_AFTER_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AheadSeen {
    ahead_ms: u64,
    since_ms: u64,
    last_ms: u64,
}

/// Peers seen with stamps beyond the accept limit.
#[derive(Debug, Clone, Default)]
pub struct ClockWatch {
    seen: BTreeMap<NodeId, AheadSeen>,
}

impl ClockWatch {
    /// Takes in what applying one delta at `now_ms` found: origins with held-back stamps are
    /// marked (how far their newest held-back stamp is ahead of `now_ms`), origins whose chunk
    /// was taken whole are cleared.
    pub fn note(&mut self, now_ms: u64, applied: &Applied) {
        for origin in &applied.caught_up {
            if !applied.ahead.contains_key(origin) {
                self.seen.remove(origin);
            }
        }
        for (origin, time) in &applied.ahead {
            let stamp_ms = Stamp::new(*time, *origin).unix_ms();
            let ahead_ms = stamp_ms.saturating_sub(now_ms);
            let seen = self.seen.entry(*origin).or_insert(AheadSeen {
                ahead_ms,
                since_ms: now_ms,
                last_ms: now_ms,
            });
            seen.ahead_ms = ahead_ms;
            seen.last_ms = now_ms;
        }
    }

    /// How far ahead `node`'s stamps were at the last refusal, if one happened within
    /// `FORGET_AFTER_MS` of `now_ms`.
    pub fn ahead_ms(&self, node: NodeId, now_ms: u64) -> Option<u64> {
        self.seen
            .get(&node)
            .filter(|seen| now_ms.saturating_sub(seen.last_ms) < FORGET_AFTER_MS)
            .map(|seen| seen.ahead_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;

    fn refused(origin: u64, stamp_ms: u64) -> Applied {
        let mut applied = Applied::default();
        applied
            .ahead
            .insert(NodeId(origin), Stamp::time_from_unix_ms(stamp_ms));
        applied
    }

    #[test]
    fn a_refused_stamp_marks_its_origin_until_it_is_taken_or_forgotten() {
        let now = 1_000_000_000;
        let mut watch = ClockWatch::default();
        watch.note(now, &refused(3, now + 58 * MINUTE));
        assert_eq!(watch.ahead_ms(NodeId(3), now), Some(58 * MINUTE));
        assert_eq!(watch.ahead_ms(NodeId(4), now), None);
        assert_eq!(
            watch.ahead_ms(NodeId(3), now + FORGET_AFTER_MS),
            None,
            "forgotten when no refusal came for a minute"
        );
        let mut taken = Applied::default();
        taken.caught_up.push(NodeId(3));
        watch.note(now + 1_000, &taken);
        assert_eq!(watch.ahead_ms(NodeId(3), now + 1_000), None, "taken whole");
    }
}
