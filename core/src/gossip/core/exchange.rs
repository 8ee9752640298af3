//! The push-pull exchange of `GossipCore`: building a `Syn`, answering it with a `SynAck`
//! (delta and wants, or the full digest when only a non-matching hash came), answering a
//! `SynAck` with an `Ack`, and the recent digests that let a hash-only `Syn` be answered at once.
//!
//! Pure. Must not touch: sockets, clocks, membership internals (it calls the heartbeat and
//! reset halves of the core).

use std::collections::BTreeMap;

use super::reset::ResetDecision;
use super::{GossipCore, RECENT_DIGESTS};
use crate::crdt::{NodeId, Stamp};
use crate::gossip::delta::{self, Floors};
use crate::gossip::message::{Body, DigestItem, DigestSummary, Heartbeats, Message, StateSummary};
use crate::state::Replica;

impl GossipCore {
    pub(super) fn syn_for(&mut self, addr: &str, replica: &Replica) -> Message {
        let seen = self
            .members
            .by_addr(addr)
            .and_then(|m| self.peer_seen.get(&m.id))
            .copied()
            .unwrap_or_default();
        let (heard_state, heard_members) = self.last_hashes_heard;
        let wms = self.advertised(replica);
        let hash = delta::hash_of(&wms);
        // While catching up after a reset, always the full digest: it carries the GC floors,
        // so a peer that is itself behind them sees it and sends nothing (a hash-only Syn could
        // match one of its old digests and pull its stale entries back in).
        let state = if self.resync_target.is_none() && seen.state_hash.or(heard_state) == Some(hash)
        {
            StateSummary::Hash(hash)
        } else {
            StateSummary::Full(DigestSummary {
                items: delta::items(&wms, &self.floors),
                gc_mark: self.floors.gc_mark,
            })
        };
        let members_hash = self.members.hash();
        let members = if seen.members_hash.or(heard_members) == Some(members_hash) {
            Heartbeats::Dense {
                members_hash,
                counters: self.members.dense(),
            }
        } else {
            Heartbeats::Full {
                members_hash,
                members: self.members.full(),
            }
        };
        self.header(Body::Syn { state, members })
    }

    /// The digest of ours whose hash is `hash`, if it is one of our recent ones and a peer
    /// holding it is not behind our GC floors (such a peer must go through the full digest,
    /// where the reset is decided).
    fn recent_digest(&self, hash: u64) -> Option<BTreeMap<NodeId, u64>> {
        self.recent_digests
            .iter()
            .find(|(h, _)| *h == hash)
            .map(|(_, digest)| digest.clone())
            .filter(|digest| {
                !self
                    .floors
                    .is_ahead_of(&delta::items(digest, &Floors::default()))
            })
    }

    /// What a peer whose digest hash is `peer_hash` lacks: `asked` (origin, its watermark),
    /// plus, when `peer_hash` is one of our recent digests, every origin we gained since. An
    /// exchange started before we learned a write (its `Syn` built earlier in the same tick)
    /// then still pushes that write, instead of leaving it for a later round. Safe for the
    /// same reason as the responder's fast path: a peer holding a digest we held (recent
    /// digests are cleared on a reset, watermarks only grow) has nothing we had not. It may
    /// have GC floors we are behind (a peer reset by another side shows low watermarks that
    /// can match an old digest of ours): such a responder refused this exchange and does not
    /// apply our `Ack` (`refused_exchanges`).
    pub(super) fn with_gained_since(
        &self,
        peer_hash: u64,
        asked: Vec<(NodeId, u64)>,
        replica: &Replica,
    ) -> Vec<(NodeId, u64)> {
        let mut wants: BTreeMap<NodeId, u64> = asked.into_iter().collect();
        let wms = self.advertised(replica);
        if delta::hash_of(&wms) != peer_hash {
            if let Some(theirs) = self.recent_digest(peer_hash) {
                for (origin, wm) in &wms {
                    let their = theirs.get(origin).copied().unwrap_or(0);
                    if *wm > their {
                        let slot = wants.entry(*origin).or_insert(their);
                        *slot = (*slot).min(their);
                    }
                }
            }
        }
        wants.into_iter().collect()
    }

    /// Records our current advertised digest among the recent ones (if it changed).
    pub(super) fn remember_digest(&mut self, replica: &Replica) {
        let wms = self.advertised(replica);
        let hash = delta::hash_of(&wms);
        if self.recent_digests.front().map(|(h, _)| *h) != Some(hash) {
            self.recent_digests.push_front((hash, wms));
            self.recent_digests.truncate(RECENT_DIGESTS);
        }
    }

    pub(super) fn note_known(&mut self, items: &[DigestItem]) {
        for item in items {
            let slot = self.known_versions.entry(item.origin).or_insert(0);
            *slot = (*slot).max(item.watermark);
        }
    }

    pub(super) fn on_syn(
        &mut self,
        peer: NodeId,
        state: StateSummary,
        members: Heartbeats,
        replica: &mut Replica,
    ) -> Vec<Message> {
        match state {
            StateSummary::Full(summary) => self.on_full_syn(peer, summary, members, replica),
            StateSummary::Hash(hash) => self.on_hash_syn(peer, hash, members, replica),
        }
    }

    /// A `Syn` with the peer's full digest: settle a reset if the GC floors disagree, else send
    /// what it lacks and ask for what we lack.
    fn on_full_syn(
        &mut self,
        peer: NodeId,
        summary: DigestSummary,
        members: Heartbeats,
        replica: &mut Replica,
    ) -> Vec<Message> {
        self.note_known(&summary.items);
        let wms = self.advertised(replica);
        let decision = self.settle_reset(peer, &summary.items, summary.gc_mark, replica);
        if decision != ResetDecision::None {
            // No data flows in this exchange, whatever its `Ack` carries.
            self.refused_exchanges.insert(peer);
            return self.refuse_syn(peer, decision, &wms, members, replica);
        }
        let wants = delta::peer_behind(&wms, &summary.items);
        let delta = delta::build(replica, &wants, self.params.max_delta_bytes);
        let want = delta::we_want(&wms, &self.floors, &summary.items);
        let seen = self.peer_seen.entry(peer).or_default();
        seen.synack_complete = !delta.truncated;
        let theirs = delta::hash_of(
            &summary
                .items
                .iter()
                .filter(|i| i.watermark > 0)
                .map(|i| (i.origin, i.watermark))
                .collect(),
        );
        seen.state_hash = Some(theirs);
        self.last_hashes_heard.0 = Some(theirs);
        self.reply(Body::SynAck {
            state_hash: delta::hash_of(&wms),
            want,
            want_is_full_digest: false,
            gc_mark: self.floors.gc_mark,
            delta,
            members,
        })
    }

    /// The answer to a full `Syn` when one side must reset first: the `Reset` (or, while we
    /// catch up, a `SynAck` without data) when the peer is behind our floors; our full digest
    /// and no data when we are behind its floors (the initiator then sends the `Reset`, with
    /// which of our writes it holds).
    fn refuse_syn(
        &mut self,
        peer: NodeId,
        decision: ResetDecision,
        wms: &BTreeMap<NodeId, u64>,
        members: Heartbeats,
        replica: &Replica,
    ) -> Vec<Message> {
        let i_must_reset = decision == ResetDecision::IMustReset;
        let body = Body::SynAck {
            state_hash: delta::hash_of(wms),
            want: if i_must_reset {
                delta::items(wms, &self.floors)
            } else {
                Vec::new()
            },
            want_is_full_digest: i_must_reset,
            gc_mark: self.floors.gc_mark,
            delta: Default::default(),
            members,
        };
        if i_must_reset {
            self.peer_seen.remove(&peer);
            return self.reply(body);
        }
        self.reset_for(peer, replica, body)
    }

    /// A hash-only `Syn`: nothing to do when it matches ours; a delta at once when it is one of
    /// our recent digests; else our full digest so the peer can say what it lacks.
    fn on_hash_syn(
        &mut self,
        peer: NodeId,
        hash: u64,
        members: Heartbeats,
        replica: &mut Replica,
    ) -> Vec<Message> {
        self.remember_digest(replica);
        let wms = self.advertised(replica);
        let mine = delta::hash_of(&wms);
        self.last_hashes_heard.0 = Some(hash);
        let known = if hash == mine {
            None
        } else {
            self.recent_digest(hash)
        };
        if let Some(theirs) = known {
            // The peer holds one of our recent digests: it lacks only what we gained
            // since, and has nothing we lack.
            let wants: Vec<(NodeId, u64)> = wms
                .iter()
                .filter_map(|(o, wm)| {
                    let t = theirs.get(o).copied().unwrap_or(0);
                    (*wm > t).then_some((*o, t))
                })
                .collect();
            let delta = delta::build(replica, &wants, self.params.max_delta_bytes);
            let seen = self.peer_seen.entry(peer).or_default();
            seen.state_hash = Some(hash);
            seen.synack_complete = !delta.truncated;
            return self.reply(Body::SynAck {
                state_hash: mine,
                want: Vec::new(),
                want_is_full_digest: false,
                gc_mark: self.floors.gc_mark,
                delta,
                members,
            });
        }
        let seen = self.peer_seen.entry(peer).or_default();
        seen.state_hash = Some(hash);
        seen.synack_complete = hash == mine;
        let want = if hash == mine {
            Vec::new()
        } else {
            delta::items(&wms, &self.floors)
        };
        self.reply(Body::SynAck {
            state_hash: mine,
            want_is_full_digest: hash != mine,
            want,
            gc_mark: self.floors.gc_mark,
            delta: Default::default(),
            members,
        })
    }

    /// A received `SynAck`: its heartbeats, then (unless it answers a `Syn` sent before a
    /// reset, whose delta was built for our old digest: the exchange ends) its delta and the
    /// `Ack`.
    pub(super) fn on_synack_message(
        &mut self,
        now_ms: u64,
        peer: NodeId,
        body: Body,
        replica: &mut Replica,
        accept_limit_time: u64,
    ) -> Vec<Message> {
        let Body::SynAck {
            state_hash,
            want,
            want_is_full_digest,
            gc_mark,
            delta,
            members,
        } = body
        else {
            return Vec::new();
        };
        let members = self.merge_reply_heartbeats(now_ms, peer, &members);
        if !self.reply_is_current(peer) {
            return Vec::new();
        }
        let applied = self.apply(replica, &delta, accept_limit_time);
        self.on_synack(
            peer,
            state_hash,
            want,
            want_is_full_digest,
            gc_mark,
            delta.truncated || !applied,
            members,
            replica,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_synack(
        &mut self,
        peer: NodeId,
        state_hash: u64,
        want: Vec<DigestItem>,
        want_is_full_digest: bool,
        gc_mark: Stamp,
        their_delta_incomplete: bool,
        members: Heartbeats,
        replica: &mut Replica,
    ) -> Vec<Message> {
        let wants: Vec<(NodeId, u64)> = if want_is_full_digest {
            self.note_known(&want);
            match self.settle_reset(peer, &want, gc_mark, replica) {
                ResetDecision::None => {}
                ResetDecision::PeerMustReset => {
                    let refusal = Body::Ack {
                        delta: Default::default(),
                        members,
                    };
                    return self.reset_for(peer, replica, refusal);
                }
                ResetDecision::IMustReset => {
                    // Send nothing; our next Syn to it carries the full digest, and it answers
                    // with the `Reset`.
                    self.peer_seen.remove(&peer);
                    return self.reply(Body::Ack {
                        delta: Default::default(),
                        members,
                    });
                }
            }
            delta::peer_behind(&self.advertised(replica), &want)
        } else {
            if self.floors.is_ahead_of_listed(&want) {
                // We collected tombstones since our `Syn` (GC runs in `tick`) that the peer,
                // as its wants show, never had: a delta would skip them as holes and the peer
                // would claim versions it never held — the deleted entries stay on it under
                // equal digests. Send nothing; our next `Syn` carries the full digest, where
                // the reset is decided.
                self.peer_seen.remove(&peer);
                return self.reply(Body::Ack {
                    delta: Default::default(),
                    members,
                });
            }
            let asked: Vec<(NodeId, u64)> = want.iter().map(|i| (i.origin, i.watermark)).collect();
            self.with_gained_since(state_hash, asked, replica)
        };
        let delta = delta::build(replica, &wants, self.params.max_delta_bytes);
        // When our Syn carried the full digest and both deltas are whole, we now agree.
        let agree = !want_is_full_digest && !their_delta_incomplete && !delta.truncated;
        let mine_after = delta::hash_of(&self.advertised(replica));
        let seen = self.peer_seen.entry(peer).or_default();
        seen.state_hash = Some(if agree { mine_after } else { state_hash });
        self.last_hashes_heard.0 = Some(state_hash);
        self.reply(Body::Ack { delta, members })
    }
}
