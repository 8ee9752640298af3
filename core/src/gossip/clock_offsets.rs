//! How far each peer's wall clock is from this node's, measured NTP's way (RFC 5905): an
//! exchange in protocol 3 carries send and receive times (`message::ExchangeTimes`), and four
//! timestamps give one sample, `offset = ((t2 − t1) + (t3 − t4)) / 2` (the peer's clock minus
//! ours) and `delay = (t4 − t1) − (t3 − t2)` (the round trip). Per peer the last
//! [`SAMPLES_KEPT`] samples are kept and the one with the lowest delay is the estimate (NTP's
//! clock filter: the shortest round trip has the least asymmetry in it).
//!
//! Then the mesh's view: the **median** of this node's clock (offset 0) and every alive peer's,
//! the lower of the two middle values for an even count, so that in a mesh of two the faster
//! clock defers to the slower one. This node runs `own_offset_ms` ahead of that median; a peer
//! runs `peer_offset − median` ahead of it.
//!
//! Pure: times are passed in. Must not touch: the wall clock, the replica, messages' encoding.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::crdt::NodeId;

/// Samples kept per peer (NTP's clock filter keeps 8).
pub const SAMPLES_KEPT: usize = 8;
/// A sample older than this (by this node's clock) is no longer used.
pub const SAMPLE_MAX_AGE_MS: u64 = 120_000;
/// Slack beyond the round trips before two samples count as a clock step (scheduling noise).
pub const STEP_MARGIN_MS: u64 = 100;

/// One estimate of a peer's clock: `offset_ms` is the peer's clock minus this node's (positive:
/// the peer is ahead), `delay_ms` the round trip it was measured over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetSample {
    pub offset_ms: i64,
    pub delay_ms: u64,
}

impl OffsetSample {
    /// NTP's four timestamps: `t1` this node sent, `t2` the peer received, `t3` the peer sent,
    /// `t4` this node received (t1 and t4 on this node's clock, t2 and t3 on the peer's).
    /// `None` when the times are inconsistent (a negative round trip: a clock stepped meanwhile).
    pub fn from_times(t1: u64, t2: u64, t3: u64, t4: u64) -> Option<OffsetSample> {
        let (t1, t2, t3, t4) = (
            i128::from(t1),
            i128::from(t2),
            i128::from(t3),
            i128::from(t4),
        );
        let delay = (t4 - t1) - (t3 - t2);
        if delay < 0 || t3 < t2 || t4 < t1 {
            return None;
        }
        let offset = ((t2 - t1) + (t3 - t4)) / 2;
        Some(OffsetSample {
            offset_ms: i64::try_from(offset).ok()?,
            delay_ms: u64::try_from(delay).ok()?,
        })
    }

    /// The same measurement seen from the other side (the peer's estimate of this node).
    pub fn reversed(self) -> OffsetSample {
        OffsetSample {
            offset_ms: self.offset_ms.saturating_neg(),
            delay_ms: self.delay_ms,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kept {
    sample: OffsetSample,
    at_ms: u64,
}

/// The samples of every peer (NTP's clock filter, per peer).
#[derive(Debug, Clone, Default)]
pub struct PeerClocks {
    peers: BTreeMap<NodeId, VecDeque<Kept>>,
}

impl PeerClocks {
    /// Keeps one sample of `peer`'s clock taken at `now_ms` (this node's clock). A sample
    /// that cannot be true together with the current estimate — an offset measured over a
    /// round trip `d` is off by at most `d / 2`, so two honest samples differ by at most half
    /// their round trips (plus [`STEP_MARGIN_MS`]) — means a clock stepped (a peer restarted
    /// with another clock, or was set right): the older samples are dropped, or their short
    /// round trips would keep the old offset the estimate for minutes.
    pub fn note(&mut self, peer: NodeId, now_ms: u64, sample: OffsetSample) {
        if let Some(current) = self.estimate(peer, now_ms) {
            let bound = (current.delay_ms.saturating_add(sample.delay_ms) / 2)
                .saturating_add(STEP_MARGIN_MS);
            if current.offset_ms.abs_diff(sample.offset_ms) > bound {
                self.peers.remove(&peer);
            }
        }
        let samples = self.peers.entry(peer).or_default();
        if samples.len() == SAMPLES_KEPT {
            samples.pop_front();
        }
        samples.push_back(Kept {
            sample,
            at_ms: now_ms,
        });
    }

    /// The estimate of `peer`'s clock at `now_ms`: among its recent samples, the one with the
    /// lowest delay (the latest of equals). `None` without a recent sample.
    pub fn estimate(&self, peer: NodeId, now_ms: u64) -> Option<OffsetSample> {
        self.peers
            .get(&peer)?
            .iter()
            .filter(|kept| now_ms.saturating_sub(kept.at_ms) <= SAMPLE_MAX_AGE_MS)
            .filter(|kept| kept.at_ms <= now_ms.saturating_add(SAMPLE_MAX_AGE_MS))
            .rev()
            .min_by_key(|kept| kept.sample.delay_ms)
            .map(|kept| kept.sample)
    }

    /// Forgets a peer (gone from the member list).
    pub fn forget(&mut self, peer: NodeId) {
        self.peers.remove(&peer);
    }

    /// The peers with samples.
    pub fn known(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peers.keys().copied()
    }
}

/// The mesh's clock as this node sees it: the median of this node's clock (offset 0) and the
/// given peers' offsets (the lower middle value for an even count), relative to this node's
/// clock. 0 without peers.
pub fn mesh_median(peer_offsets: &[i64]) -> i64 {
    let mut all: Vec<i64> = peer_offsets.to_vec();
    all.push(0);
    all.sort_unstable();
    all[(all.len() - 1) / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_timestamps_give_ntp_offset_and_delay() {
        // The peer's clock is 20 s ahead; 4 ms each way; the peer holds the message 2 ms.
        let t1 = 1_000_000;
        let t2 = t1 + 20_000 + 4;
        let t3 = t2 + 2;
        let t4 = t1 + 4 + 2 + 4;
        let sample = OffsetSample::from_times(t1, t2, t3, t4).expect("consistent");
        assert_eq!(
            sample,
            OffsetSample {
                offset_ms: 20_000,
                delay_ms: 8
            }
        );
        assert_eq!(sample.reversed().offset_ms, -20_000);
        // Asymmetric paths bias the offset by half the asymmetry, never more than delay / 2.
        let slow_back = OffsetSample::from_times(t1, t2, t3, t4 + 10).expect("consistent");
        assert_eq!(slow_back.offset_ms, 19_995);
        assert_eq!(slow_back.delay_ms, 18);
    }

    #[test]
    fn inconsistent_times_give_no_sample() {
        assert_eq!(OffsetSample::from_times(100, 50, 40, 200), None, "t3 < t2");
        assert_eq!(OffsetSample::from_times(100, 50, 60, 90), None, "t4 < t1");
        assert_eq!(
            OffsetSample::from_times(100, 50, 90, 120),
            None,
            "negative delay"
        );
    }

    #[test]
    fn the_estimate_is_the_lowest_delay_sample_among_the_recent_ones() {
        let mut clocks = PeerClocks::default();
        let peer = NodeId(7);
        assert_eq!(clocks.estimate(peer, 0), None);
        let sample = |offset_ms, delay_ms| OffsetSample {
            offset_ms,
            delay_ms,
        };
        clocks.note(peer, 1_000, sample(20_030, 60));
        clocks.note(peer, 2_000, sample(20_001, 2));
        clocks.note(peer, 3_000, sample(19_980, 40));
        assert_eq!(clocks.estimate(peer, 3_000), Some(sample(20_001, 2)));
        // Eight later samples push it out of the filter.
        for i in 0..SAMPLES_KEPT as u64 {
            clocks.note(peer, 4_000 + i, sample(19_990, 10));
        }
        assert_eq!(clocks.estimate(peer, 5_000), Some(sample(19_990, 10)));
        // Old samples are not used.
        assert_eq!(clocks.estimate(peer, 4_000 + SAMPLE_MAX_AGE_MS + 100), None);
        clocks.forget(peer);
        assert_eq!(clocks.known().count(), 0);
    }

    #[test]
    fn a_peer_restarted_with_another_clock_is_measured_anew_at_once() {
        // The drill `04-clock-ahead`: pi4 restarts an hour ahead. Its short-round-trip samples
        // from before the restart must not stay the estimate for two minutes.
        let mut clocks = PeerClocks::default();
        let peer = NodeId(4);
        let sample = |offset_ms, delay_ms| OffsetSample {
            offset_ms,
            delay_ms,
        };
        for i in 0..4 {
            clocks.note(peer, 1_000 + i, sample(3, 1));
        }
        clocks.note(peer, 2_000, sample(3_600_002, 9));
        assert_eq!(clocks.estimate(peer, 2_000), Some(sample(3_600_002, 9)));
        // Within the round trips' bounds, the lowest delay still wins.
        clocks.note(peer, 2_100, sample(3_600_040, 80));
        clocks.note(peer, 2_200, sample(3_599_999, 4));
        assert_eq!(clocks.estimate(peer, 2_200), Some(sample(3_599_999, 4)));
    }

    #[test]
    fn the_median_counts_this_node_and_takes_the_lower_middle() {
        assert_eq!(mesh_median(&[]), 0);
        // A node 20 s fast sees its two peers 20 s behind: the mesh is 20 s behind it.
        assert_eq!(mesh_median(&[-20_000, -20_000]), -20_000);
        // Its peers see it 20 s ahead and each other level: the mesh is where they are.
        assert_eq!(mesh_median(&[20_000, 3]), 3);
        // Two nodes: the faster defers to the slower, the slower stays put.
        assert_eq!(mesh_median(&[-20_000]), -20_000);
        assert_eq!(mesh_median(&[20_000]), 0);
    }
}
