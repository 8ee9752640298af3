//! `PeerWatch`: the peers' transitions as typed `NodeEvent`s, from successive looks at the
//! member table (`GossipCore::peers`, which the failure detector and the membership fill in):
//! a peer joined, turned suspect, dead, left, is alive again (with how long it was gone and
//! what of it is missing), this node caught up with it after its return, it was forgotten, and
//! the whole mesh is healthy again. `Node::on_tick` runs it once a round, so the agent and the
//! simulator see the same transitions.
//!
//! Must not touch: the replica, the clock, the gossip core (peer views and `now_ms` in, events
//! out).

use std::collections::BTreeMap;

use super::{NodeEvent, PeerChange};
use crate::crdt::NodeId;
use crate::gossip::PeerView;
use crate::peer::MemberStatus;

/// What `PeerWatch` remembers of one peer between rounds.
#[derive(Debug, Clone)]
struct Watched {
    addr: String,
    status: MemberStatus,
    /// When it stopped being alive (its last heartbeat), while it is not alive.
    down_since_ms: Option<u64>,
    /// When it came back, until this node has caught up with it.
    returned_at_ms: Option<u64>,
}

/// Diffs successive member tables into transition events.
#[derive(Debug, Clone, Default)]
pub(super) struct PeerWatch {
    peers: BTreeMap<NodeId, Watched>,
    /// Since when some peer has not been alive (its last heartbeat), until every peer is alive
    /// and caught up again (None: all fine).
    degraded_since_ms: Option<u64>,
}

impl PeerWatch {
    /// Compares `peers` (the table at `now_ms`) with the last one; returns what changed.
    pub(super) fn observe(&mut self, now_ms: u64, peers: &[PeerView]) -> Vec<NodeEvent> {
        let mut events = Vec::new();
        for peer in peers {
            let Some(watched) = self.peers.get_mut(&peer.node) else {
                events.extend(self.first_sight(now_ms, peer));
                continue;
            };
            watched.addr.clone_from(&peer.addr);
            if watched.status != peer.status {
                events.push(about(peer, transition(watched, now_ms, peer)));
                watched.status = peer.status;
            }
            events.extend(caught_up(watched, now_ms, peer).map(|change| about(peer, change)));
        }
        self.forget_gone(peers, &mut events);
        events.extend(self.track_degraded(now_ms, peers));
        events
    }

    /// A peer seen for the first time: joined if alive; remembered either way.
    fn first_sight(&mut self, now_ms: u64, peer: &PeerView) -> Option<NodeEvent> {
        let alive = peer.status == MemberStatus::Alive;
        self.peers.insert(
            peer.node,
            Watched {
                addr: peer.addr.clone(),
                status: peer.status,
                down_since_ms: (!alive).then_some(last_heartbeat_ms(now_ms, peer)),
                returned_at_ms: None,
            },
        );
        alive.then(|| about(peer, PeerChange::Joined))
    }

    /// Peers the member table no longer lists (collected after the grace period).
    fn forget_gone(&mut self, peers: &[PeerView], events: &mut Vec<NodeEvent>) {
        let gone: Vec<NodeId> = self
            .peers
            .keys()
            .filter(|id| !peers.iter().any(|p| p.node == **id))
            .copied()
            .collect();
        for peer in gone {
            if let Some(watched) = self.peers.remove(&peer) {
                let (addr, change) = (watched.addr, PeerChange::Forgotten);
                events.push(NodeEvent::Peer { peer, addr, change });
            }
        }
    }

    /// Degraded starts when a peer stops being alive (missing versions alone is ordinary
    /// gossip lag) and ends when every peer is alive and nothing of theirs is missing.
    fn track_degraded(&mut self, now_ms: u64, peers: &[PeerView]) -> Option<NodeEvent> {
        let is_down = |p: &&PeerView| p.status.is_unreachable();
        let down = peers.iter().any(|p| is_down(&p));
        let missing = peers
            .iter()
            .any(|p| p.status == MemberStatus::Alive && p.missing_versions > 0);
        match self.degraded_since_ms {
            None if down => {
                self.degraded_since_ms = Some(
                    peers
                        .iter()
                        .filter(is_down)
                        .filter_map(|p| self.peers.get(&p.node)?.down_since_ms)
                        .min()
                        .unwrap_or(now_ms),
                );
                None
            }
            Some(since) if !down && !missing => {
                self.degraded_since_ms = None;
                let degraded_ms = now_ms.saturating_sub(since);
                Some(NodeEvent::MeshHealed { degraded_ms })
            }
            _ => None,
        }
    }
}

/// When `peer`'s heartbeat last advanced, as seen from here.
fn last_heartbeat_ms(now_ms: u64, peer: &PeerView) -> u64 {
    now_ms.saturating_sub(peer.heartbeat_age_ms)
}

/// The event for `change` of `peer`.
fn about(peer: &PeerView, change: PeerChange) -> NodeEvent {
    let (peer, addr) = (peer.node, peer.addr.clone());
    NodeEvent::Peer { peer, addr, change }
}

/// The status change of a known peer (`watched` still holds the old status).
fn transition(watched: &mut Watched, now_ms: u64, peer: &PeerView) -> PeerChange {
    if peer.status == MemberStatus::Alive {
        let down_ms = watched
            .down_since_ms
            .map(|since| now_ms.saturating_sub(since))
            .unwrap_or(0);
        watched.down_since_ms = None;
        watched.returned_at_ms = Some(now_ms);
        return PeerChange::Alive {
            was: watched.status,
            down_ms,
            missing_versions: peer.missing_versions,
        };
    }
    if watched.status == MemberStatus::Alive || watched.down_since_ms.is_none() {
        watched.down_since_ms = Some(last_heartbeat_ms(now_ms, peer));
    }
    watched.returned_at_ms = None;
    let silent_ms = peer.heartbeat_age_ms;
    match peer.status {
        MemberStatus::Suspect => PeerChange::Suspect { silent_ms },
        MemberStatus::Dead => PeerChange::Dead { silent_ms },
        MemberStatus::Left | MemberStatus::Alive => PeerChange::Left,
    }
}

/// `CaughtUp` once a returned peer is alive with nothing of it missing.
fn caught_up(watched: &mut Watched, now_ms: u64, peer: &PeerView) -> Option<PeerChange> {
    let returned = watched.returned_at_ms?;
    if peer.status != MemberStatus::Alive || peer.missing_versions > 0 {
        return None;
    }
    watched.returned_at_ms = None;
    Some(PeerChange::CaughtUp {
        since_return_ms: now_ms.saturating_sub(returned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(node: u64, status: MemberStatus, age_ms: u64, missing: u64) -> PeerView {
        PeerView {
            node: NodeId(node),
            addr: format!("10.0.0.{node}:7420"),
            status,
            heartbeat_age_ms: age_ms,
            phi: 0.0,
            missing_versions: missing,
            unreachable_since_ms: None,
            clock_ahead_ms: None,
            clock_offset_ms: None,
        }
    }

    /// The changes of `events`, by their `/v1/events` names.
    fn kinds(events: &[NodeEvent]) -> Vec<&'static str> {
        let kind = |event: &NodeEvent| match event {
            NodeEvent::Peer { change, .. } => match change {
                PeerChange::Joined => "peer_joined",
                PeerChange::Suspect { .. } => "peer_suspect",
                PeerChange::Dead { .. } => "peer_dead",
                PeerChange::Left => "peer_left",
                PeerChange::Alive { .. } => "peer_alive",
                PeerChange::CaughtUp { .. } => "caught_up",
                PeerChange::Forgotten => "peer_forgotten",
            },
            NodeEvent::MeshHealed { .. } => "mesh_healed",
            _ => "other",
        };
        events.iter().map(kind).collect()
    }

    /// The event for `change` of peer 2 (at 10.0.0.2:7420).
    fn of_2(change: PeerChange) -> NodeEvent {
        let (peer, addr) = (NodeId(2), "10.0.0.2:7420".to_string());
        NodeEvent::Peer { peer, addr, change }
    }

    use MemberStatus::{Alive, Dead, Left, Suspect};

    #[test]
    fn a_peer_that_dies_and_returns_reports_its_downtime_and_catch_up() {
        let mut watch = PeerWatch::default();
        assert_eq!(
            kinds(&watch.observe(1_000, &[peer(2, Alive, 0, 0)])),
            ["peer_joined"]
        );
        assert!(watch.observe(2_000, &[peer(2, Alive, 100, 0)]).is_empty());
        // Last heartbeat at 2_000; suspect at 3_500, dead at 6_000.
        assert_eq!(
            kinds(&watch.observe(3_500, &[peer(2, Suspect, 1_500, 0)])),
            ["peer_suspect"]
        );
        let dead = watch.observe(6_000, &[peer(2, Dead, 4_000, 0)]);
        assert_eq!(dead, [of_2(PeerChange::Dead { silent_ms: 4_000 })]);
        let back = watch.observe(12_000, &[peer(2, Alive, 0, 5)]);
        let alive = PeerChange::Alive {
            was: Dead,
            down_ms: 10_000, // since the last heartbeat
            missing_versions: 5,
        };
        assert_eq!(back, [of_2(alive)]);
        let caught = watch.observe(13_000, &[peer(2, Alive, 0, 0)]);
        let expected = [
            of_2(PeerChange::CaughtUp {
                since_return_ms: 1_000,
            }),
            // Since its last heartbeat.
            NodeEvent::MeshHealed {
                degraded_ms: 11_000,
            },
        ];
        assert_eq!(caught, expected);
        assert!(watch.observe(14_000, &[peer(2, Alive, 0, 0)]).is_empty());
    }

    #[test]
    fn forgotten_and_left_peers_are_reported_once() {
        let mut watch = PeerWatch::default();
        watch.observe(0, &[peer(2, Alive, 0, 0), peer(3, Alive, 0, 0)]);
        let left = watch.observe(100, &[peer(2, Alive, 0, 0), peer(3, Left, 50, 0)]);
        assert_eq!(kinds(&left), ["peer_left"]);
        assert!(watch
            .observe(200, &[peer(2, Alive, 0, 0), peer(3, Left, 150, 0)])
            .is_empty());
        let forgotten = watch.observe(300, &[peer(2, Alive, 0, 0)]);
        let (peer, addr) = (NodeId(3), "10.0.0.3:7420".to_string());
        let change = PeerChange::Forgotten;
        assert_eq!(forgotten, [NodeEvent::Peer { peer, addr, change }]);
    }

    #[test]
    fn a_peer_first_seen_down_is_not_announced_and_its_return_counts_from_its_heartbeat() {
        let mut watch = PeerWatch::default();
        assert!(watch.observe(10_000, &[peer(4, Dead, 6_000, 0)]).is_empty());
        let back = watch.observe(20_000, &[peer(4, Alive, 0, 0)]);
        assert_eq!(kinds(&back), ["peer_alive", "caught_up", "mesh_healed"]);
        let NodeEvent::Peer {
            change: PeerChange::Alive { down_ms, was, .. },
            ..
        } = &back[0]
        else {
            panic!("{back:?}");
        };
        assert_eq!((*down_ms, *was), (16_000, Dead));
    }
}
