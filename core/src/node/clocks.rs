//! `Node`'s part in clock offsets (protocol 3): the times each reply carries, the samples each
//! received message gives (`gossip::clock_offsets`), and once per round the mesh's view — how
//! far this node and each alive peer run from the median of the mesh's clocks — which sets the
//! clock's correction (`Clock::set_correction_ms`) and yields events when a clock crosses
//! `max_clock_offset_ms` (ahead or behind) or comes back within half of it. When this node's
//! wall clock steps back between rounds, its samples (and the correction) are void: it measures
//! its peers afresh, ignoring their estimates of it for a while (they may predate the step);
//! so it does after a start, when a step across the restart would go unnoticed.
//!
//! The exchange, with `tN` the wall times of each step:
//! `Syn` (no times: it goes out in protocol 1's form) → `SynAck` { sent t1, the responder's
//! estimate of the initiator } → `Ack` { echo t1, received t2, sent t3 } → the responder,
//! at t4, has NTP's four timestamps; the initiator learns from the estimate the next `SynAck`
//! carries back.
//!
//! Pure: times are passed in. Must not touch: the wall clock, messages' encoding.

use std::collections::BTreeMap;

use crate::clock::Clock;
use crate::crdt::NodeId;
use crate::gossip::clock_offsets::{mesh_median, OffsetSample, PeerClocks, SAMPLE_MAX_AGE_MS};
use crate::gossip::message::{Body, ExchangeTimes, Message};
use crate::gossip::PeerView;
use crate::peer::MemberStatus;

use super::NodeEvent;

/// Where a clock stands against the mesh's median.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Standing {
    #[default]
    Level,
    Ahead,
    Behind,
}

impl Standing {
    /// The standing for `offset_ms` from the median, with hysteresis: beyond `max_ms` to leave
    /// `Level`, within half of it to come back.
    fn next(self, offset_ms: i64, max_ms: u64) -> Standing {
        let max = i64::try_from(max_ms).unwrap_or(i64::MAX);
        let half = max / 2;
        match self {
            _ if offset_ms > max => Standing::Ahead,
            _ if offset_ms < -max => Standing::Behind,
            Standing::Ahead if offset_ms > half => Standing::Ahead,
            Standing::Behind if offset_ms < -half => Standing::Behind,
            _ => Standing::Level,
        }
    }
}

/// The clocks of this node's peers and what was last said about them.
#[derive(Debug, Clone, Default)]
pub(super) struct ClockView {
    samples: PeerClocks,
    /// How far this node runs ahead of the mesh's median (ms), once a peer was measured.
    own_offset_ms: Option<i64>,
    own: Standing,
    peers: BTreeMap<NodeId, Standing>,
    /// When the last round looked (this node's wall clock): earlier now means it stepped back.
    last_review_ms: u64,
    /// After this node started or its clock stepped back, until when the peers' estimates of
    /// it (in `SynAck`s) are ignored: they may still be of the clock before the step.
    distrust_estimates_until_ms: u64,
    /// Whether this node has seen its first time (`note_start`).
    started: bool,
}

impl ClockView {
    /// Takes the times a received message carries: an `Ack`'s four timestamps, or the peer's
    /// estimate of this node in a `SynAck`.
    pub(super) fn on_received(&mut self, now_ms: u64, message: &Message, times: ExchangeTimes) {
        self.note_start(now_ms);
        let peer = message.from;
        match message.body {
            Body::SynAck { .. } => {
                if now_ms < self.distrust_estimates_until_ms {
                    return;
                }
                if let Some(theirs) = times.your_offset {
                    self.samples.note(peer, now_ms, theirs.reversed());
                }
            }
            Body::Ack { .. } => {
                let (Some(t1), Some(t2)) = (times.echo_ms, times.received_ms) else {
                    return;
                };
                if let Some(sample) = OffsetSample::from_times(t1, t2, times.sent_ms, now_ms) {
                    self.samples.note(peer, now_ms, sample);
                }
            }
            _ => {}
        }
    }

    /// At this node's first time (a start, or a restart: a Pi's clock is often stepped by NTP
    /// at boot, and a restart forgets the last round's time, so a step across it goes
    /// unnoticed), the peers' estimates of it are ignored for `SAMPLE_MAX_AGE_MS`: they may be
    /// of the clock before the restart. It measures its peers itself (`Ack`s) meanwhile.
    fn note_start(&mut self, now_ms: u64) {
        if !self.started {
            self.started = true;
            self.distrust_estimates_until_ms = now_ms + SAMPLE_MAX_AGE_MS;
        }
    }

    /// A round's time: the first one starts this view (`note_start`); one earlier than the
    /// last round's means the wall clock stepped back (`forget_own_clock`).
    fn note_time(&mut self, now_ms: u64, clock: &Clock) {
        self.note_start(now_ms);
        if now_ms < self.last_review_ms {
            self.forget_own_clock(clock);
            self.distrust_estimates_until_ms = now_ms + SAMPLE_MAX_AGE_MS;
        }
        self.last_review_ms = now_ms;
    }

    /// The times a reply carries (protocol 3): a `SynAck` its send time and this node's
    /// estimate of the peer; an `Ack` the `SynAck`'s send time echoed and its own times.
    pub(super) fn times_for(
        &self,
        now_ms: u64,
        reply: &Message,
        to: NodeId,
        answered: Option<ExchangeTimes>,
    ) -> Option<ExchangeTimes> {
        let times = ExchangeTimes {
            sent_ms: now_ms,
            echo_ms: None,
            received_ms: None,
            your_offset: None,
        };
        match reply.body {
            Body::SynAck { .. } => Some(ExchangeTimes {
                your_offset: self.samples.estimate(to, now_ms),
                ..times
            }),
            Body::Ack { .. } => Some(ExchangeTimes {
                echo_ms: Some(answered?.sent_ms),
                received_ms: Some(now_ms),
                ..times
            }),
            _ => None,
        }
    }

    /// This node's wall clock stepped back (NTP, `date -s`): every sample was taken against the
    /// old clock, so the offset and the correction they gave are void (a stale correction
    /// would take this node for ahead and re-stamp writes its peers already took) until the
    /// peers are measured again, by this node itself (`Ack`s: the peers' own estimates may
    /// still be of the old clock for `SAMPLE_MAX_AGE_MS`).
    fn forget_own_clock(&mut self, clock: &Clock) {
        let known: Vec<NodeId> = self.samples.known().collect();
        for id in known {
            self.samples.forget(id);
        }
        self.own_offset_ms = None;
        self.own = Standing::Level;
        clock.set_correction_ms(0);
    }

    /// `peer`'s clock minus this node's (ms), as last measured.
    pub(super) fn peer_offset_ms(&self, peer: NodeId, now_ms: u64) -> Option<i64> {
        Some(self.samples.estimate(peer, now_ms)?.offset_ms)
    }

    pub(super) fn own_offset_ms(&self) -> Option<i64> {
        self.own_offset_ms
    }

    /// Once per round: the mesh's median over this node and its alive peers, this node's
    /// offset from it, the clock's correction (this node's offset while it is ahead), and an
    /// event for each clock whose standing changed.
    pub(super) fn review(
        &mut self,
        now_ms: u64,
        peers: &[PeerView],
        clock: &Clock,
    ) -> Vec<NodeEvent> {
        self.note_time(now_ms, clock);
        let gone: Vec<NodeId> = self
            .samples
            .known()
            .filter(|id| !peers.iter().any(|peer| peer.node == *id))
            .collect();
        for id in gone {
            self.samples.forget(id);
            self.peers.remove(&id);
        }
        let measured: Vec<(&PeerView, i64)> = peers
            .iter()
            .filter(|peer| peer.status == MemberStatus::Alive)
            .filter_map(|peer| Some((peer, self.peer_offset_ms(peer.node, now_ms)?)))
            .collect();
        if measured.is_empty() {
            return Vec::new();
        }
        let offsets: Vec<i64> = measured.iter().map(|(_, offset)| *offset).collect();
        let median = mesh_median(&offsets);
        let own = median.saturating_neg();
        self.own_offset_ms = Some(own);
        let max_ms = clock.max_offset_ms();
        let mut events = Vec::new();
        let standing = self.own.next(own, max_ms);
        clock.set_correction_ms(match standing {
            Standing::Ahead => own.unsigned_abs(),
            _ => 0,
        });
        if standing != self.own {
            self.own = standing;
            events.push(NodeEvent::OwnClockOffset {
                offset_ms: own,
                peers: measured.len(),
            });
        }
        for (peer, offset) in measured {
            let from_median = offset.saturating_sub(median);
            let before = self.peers.get(&peer.node).copied().unwrap_or_default();
            let after = before.next(from_median, max_ms);
            if after != before {
                self.peers.insert(peer.node, after);
                events.push(NodeEvent::PeerClockOffset {
                    peer: peer.node,
                    addr: peer.addr.clone(),
                    offset_ms: from_median,
                });
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn view(node: u64, status: MemberStatus) -> PeerView {
        PeerView {
            node: NodeId(node),
            addr: format!("10.0.0.{node}:7420"),
            status,
            heartbeat_age_ms: 0,
            phi: 0.0,
            missing_versions: 0,
            unreachable_since_ms: None,
            clock_ahead_ms: None,
            clock_offset_ms: None,
        }
    }

    fn sample(offset_ms: i64) -> OffsetSample {
        OffsetSample {
            offset_ms,
            delay_ms: 2,
        }
    }

    #[test]
    fn a_node_ahead_of_the_median_corrects_its_clock_and_says_so_once() {
        let clock = Clock::new(NodeId(1), Duration::from_millis(500));
        let mut clocks = ClockView::default();
        let peers = [view(2, MemberStatus::Alive), view(3, MemberStatus::Alive)];
        // Two peers 20 s behind this node.
        clocks.samples.note(NodeId(2), 1_000, sample(-20_003));
        clocks.samples.note(NodeId(3), 1_000, sample(-19_998));
        let events = clocks.review(1_000, &peers, &clock);
        assert_eq!(
            events,
            vec![NodeEvent::OwnClockOffset {
                offset_ms: 19_998,
                peers: 2
            }]
        );
        assert_eq!(clock.correction_ms(), 19_998);
        assert_eq!(clocks.own_offset_ms(), Some(19_998));
        assert!(clocks.review(2_000, &peers, &clock).is_empty(), "said once");
        // Its clock is set right: back within half the bound, the correction ends.
        clocks.samples.forget(NodeId(2));
        clocks.samples.forget(NodeId(3));
        clocks.samples.note(NodeId(2), 3_000, sample(-100));
        clocks.samples.note(NodeId(3), 3_000, sample(20));
        let events = clocks.review(3_000, &peers, &clock);
        assert_eq!(
            events,
            vec![NodeEvent::OwnClockOffset {
                offset_ms: 0,
                peers: 2
            }]
        );
        assert_eq!(clock.correction_ms(), 0);
    }

    #[test]
    fn peers_of_a_fast_node_name_it_and_do_not_correct() {
        let clock = Clock::new(NodeId(2), Duration::from_millis(500));
        let mut clocks = ClockView::default();
        let peers = [
            view(1, MemberStatus::Alive),
            view(3, MemberStatus::Alive),
            view(4, MemberStatus::Dead),
        ];
        clocks.samples.note(NodeId(1), 1_000, sample(20_000));
        clocks.samples.note(NodeId(3), 1_000, sample(4));
        // A dead peer's clock does not count.
        clocks.samples.note(NodeId(4), 1_000, sample(-90_000));
        let events = clocks.review(1_000, &peers, &clock);
        assert_eq!(
            events,
            vec![NodeEvent::PeerClockOffset {
                peer: NodeId(1),
                addr: "10.0.0.1:7420".into(),
                offset_ms: 19_996,
            }]
        );
        assert_eq!(clock.correction_ms(), 0);
        assert_eq!(
            clocks.own_offset_ms(),
            Some(-4),
            "the median is the level peer's clock"
        );
        assert_eq!(clocks.peer_offset_ms(NodeId(1), 1_000), Some(20_000));
    }

    #[test]
    fn an_ack_gives_a_sample_and_a_synack_the_peers_estimate() {
        let mut clocks = ClockView::default();
        let message = |body| Message {
            cluster: "office".into(),
            from: NodeId(9),
            from_addr: "10.0.0.9:7420".into(),
            body,
        };
        let ack = message(Body::Ack {
            delta: Default::default(),
            members: crate::gossip::message::Heartbeats::None,
        });
        // Our SynAck left at 1000; the peer (20 s ahead) got it at 21 002 and answered at once;
        // its Ack arrived here at 1004.
        let times = clocks
            .times_for(
                21_002,
                &ack,
                NodeId(1),
                Some(ExchangeTimes {
                    sent_ms: 1_000,
                    echo_ms: None,
                    received_ms: None,
                    your_offset: None,
                }),
            )
            .expect("an Ack carries times");
        assert_eq!(
            (times.echo_ms, times.received_ms),
            (Some(1_000), Some(21_002))
        );
        clocks.on_received(1_004, &ack, times);
        assert_eq!(clocks.peer_offset_ms(NodeId(9), 1_004), Some(20_000));
        // Our next SynAck tells it what we measured.
        let synack = message(Body::SynAck {
            state_hash: 0,
            want: vec![],
            want_is_full_digest: false,
            gc_mark: crate::crdt::Stamp::new(0, NodeId(0)),
            delta: Default::default(),
            members: crate::gossip::message::Heartbeats::None,
        });
        let told = clocks
            .times_for(1_500, &synack, NodeId(9), None)
            .expect("a SynAck carries times");
        assert_eq!(told.your_offset.map(|s| s.offset_ms), Some(20_000));
        // The other side takes it reversed, once it has run for a while: in its first
        // `SAMPLE_MAX_AGE_MS` the estimate may be of its clock before a step across its start.
        let from_us = Message {
            from: NodeId(1),
            ..synack
        };
        let mut just_started = ClockView::default();
        just_started.on_received(21_600, &from_us, told);
        assert_eq!(just_started.peer_offset_ms(NodeId(1), 21_600), None);
        let mut theirs = ClockView::default();
        theirs.note_start(21_600);
        let later = 21_600 + SAMPLE_MAX_AGE_MS;
        theirs.on_received(later, &from_us, told);
        assert_eq!(theirs.peer_offset_ms(NodeId(1), later), Some(-20_000));
    }
}
