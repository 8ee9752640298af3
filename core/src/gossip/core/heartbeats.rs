//! Heartbeats in `GossipCore` exchanges: merging the dense, sparse or full member
//! information a message carries, and choosing what to send back (only counters newer than the
//! peer's when the member lists agree, the whole list when they differ).
//!
//! Pure. Must not touch: the replica.

use super::GossipCore;
use crate::crdt::NodeId;
use crate::gossip::message::Heartbeats;

impl GossipCore {
    /// Merges a `Syn`'s heartbeats and returns the heartbeats for the `SynAck`.
    pub(super) fn merge_syn_heartbeats(
        &mut self,
        now_ms: u64,
        peer: NodeId,
        hb: &Heartbeats,
    ) -> Heartbeats {
        let my_hash = self.members.hash();
        let reply = match hb {
            Heartbeats::Dense {
                members_hash,
                counters,
            } if *members_hash == my_hash => {
                self.members.merge_dense(now_ms, counters);
                Heartbeats::Sparse {
                    members_hash: my_hash,
                    newer: self.members.newer_than(counters),
                }
            }
            Heartbeats::Full {
                members_hash,
                members,
            } => {
                self.members.merge_full(now_ms, members);
                let mine = self.members.hash();
                if mine == *members_hash {
                    let theirs: Vec<u64> = members.iter().map(|m| m.heartbeat).collect();
                    Heartbeats::Sparse {
                        members_hash: mine,
                        newer: self.members.newer_than(&theirs),
                    }
                } else {
                    Heartbeats::Full {
                        members_hash: mine,
                        members: self.members.full(),
                    }
                }
            }
            Heartbeats::None => Heartbeats::None,
            _ => Heartbeats::Full {
                members_hash: my_hash,
                members: self.members.full(),
            },
        };
        if let Some(hash) = hb.members_hash() {
            self.peer_seen.entry(peer).or_default().members_hash = Some(hash);
            self.last_hashes_heard.1 = Some(hash);
        }
        reply
    }

    /// Merges a `SynAck`'s or `Ack`'s heartbeats; returns the heartbeats for an `Ack`.
    pub(super) fn merge_reply_heartbeats(
        &mut self,
        now_ms: u64,
        peer: NodeId,
        hb: &Heartbeats,
    ) -> Heartbeats {
        let my_hash = self.members.hash();
        let reply = match hb {
            Heartbeats::Sparse {
                members_hash,
                newer,
            } if *members_hash == my_hash => {
                self.members.merge_sparse(now_ms, newer);
                Heartbeats::None
            }
            Heartbeats::Full {
                members_hash,
                members,
            } => {
                self.members.merge_full(now_ms, members);
                let mine = self.members.hash();
                if mine == *members_hash {
                    Heartbeats::None
                } else {
                    Heartbeats::Full {
                        members_hash: mine,
                        members: self.members.full(),
                    }
                }
            }
            _ => Heartbeats::None,
        };
        if let Some(hash) = hb.members_hash() {
            // After this exchange the peer has our list too when we send it.
            let hash = match reply {
                Heartbeats::Full { members_hash, .. } => members_hash,
                _ => hash,
            };
            self.peer_seen.entry(peer).or_default().members_hash = Some(hash);
        }
        reply
    }
}
