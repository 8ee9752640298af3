//! Which nodes' adapters are connected to a chat platform, as the mesh knows it: each node
//! announces its own (`chat_adapter/<node>/<platform>`, written by `driver` when it connects
//! and when it stops, and retried and refreshed by [`keep_announced`]), and the nodes that take
//! turns answering, or hold Slack's connection slots, are the live ones whose adapter is
//! connected. A node with a broken token never announces, so it holds no place and delays no
//! answer. Reads and writes the replica through `Shared` only; no sockets.
//!
//! Protocol 1 (the release before versioning, db6ff62) cannot decode `chat_adapter`: an entry is
//! written only while every member speaks protocol 2 or newer with this node (THE rule for such
//! kinds, enforced by `StateHandle::write`: `WriteError::MeshTooOld`); until then the wanted
//! state waits
//! and every node ranks all live nodes, as protocol 1 does ([`connected_nodes`]), so a roll-out
//! neither loses nor doubles answers. An announcement older than [`REANNOUNCE_AFTER_MS`] is
//! written again (same content), so a hole a protocol-1 relay still made heals by itself.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::crdt::NodeId;
use crate::peer::PeerStatus;
use crate::shared::{Shared, WriteError};
use crate::state::{ChatAdapterState, Key, Replica, Value};

/// The oldest gossip protocol that decodes `chat_adapter` entries.
pub const KIND_PROTOCOL: u16 = 2;
/// An own announcement this old is written again with the same content (one write per platform
/// per half hour: a negligible rate), so a peer that missed it gets it.
pub const REANNOUNCE_AFTER_MS: u64 = 30 * 60 * 1000;
/// How often [`keep_announced`] retries a held announcement (and looks at its age): while
/// one Pi has announced and another is still held, their rankings differ and both may answer
/// a question, so the wait is short. A retry that finds nothing due only reads the replica.
pub const RETRY: Duration = Duration::from_secs(1);

fn key(node: NodeId, platform: &str) -> Key {
    Key::ChatAdapter {
        node,
        platform: platform.to_string(),
    }
}

/// What [`announce`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// The mesh already holds this state (recently enough).
    Unchanged,
    Written,
    /// A write was due, but some member may speak only protocol 1: retried later.
    Held,
    /// The write failed (logged).
    Failed,
}

/// The state to write for `wanted`, given this node's entry (its state and when it was
/// written): `None` when the mesh holds it already and the write is younger than
/// [`REANNOUNCE_AFTER_MS`]; a state never announced and not connected is not written.
pub fn due(
    held: Option<(&ChatAdapterState, u64)>,
    wanted: bool,
    now_ms: u64,
) -> Option<ChatAdapterState> {
    match held {
        None if !wanted => None,
        Some((state, written_ms)) if state.connected == wanted => {
            let stale = now_ms.saturating_sub(written_ms) >= REANNOUNCE_AFTER_MS;
            stale.then(|| state.clone())
        }
        _ => Some(ChatAdapterState {
            connected: wanted,
            since_ms: now_ms,
        }),
    }
}

/// Records whether this node's adapter for `platform` is connected: once per change, again
/// when the last write is older than [`REANNOUNCE_AFTER_MS`], and only while every member speaks
/// protocol 2 or newer (else [`Announced::Held`]: call again later, [`keep_announced`] does).
pub fn announce(shared: &Shared, platform: &str, connected: bool) -> Announced {
    let key = key(shared.node, platform);
    let now_ms = crate::clock::wall_ms();
    let state = {
        let replica = shared.state.replica();
        let held = replica.get(&key).and_then(|entry| match &entry.value {
            Some(Value::ChatAdapter(state)) => Some((state.clone(), entry.stamp.unix_ms())),
            _ => None,
        });
        due(held.as_ref().map(|(s, at)| (s, *at)), connected, now_ms)
    };
    let Some(state) = state else {
        return Announced::Unchanged;
    };
    match shared.state.write(key, Some(Value::ChatAdapter(state))) {
        Ok(_) => {
            tracing::info!(platform, connected, "chat: adapter state announced");
            Announced::Written
        }
        Err(WriteError::MeshTooOld { .. }) => Announced::Held,
        Err(err) => {
            tracing::warn!(platform, error = %err, "chat: adapter state not recorded");
            Announced::Failed
        }
    }
}

/// Calls [`announce`] every [`RETRY`] with the state `wanted` holds (what the driver last set),
/// so a held announcement is written once every member speaks protocol 2, and an old one is
/// refreshed. Ends when the driver drops the sender.
pub async fn keep_announced(
    shared: Arc<Shared>,
    platform: &'static str,
    mut wanted: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(RETRY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                let connected = *wanted.borrow();
                announce(&shared, platform, connected);
            }
            changed = wanted.changed() => if changed.is_err() {
                return;
            },
        }
    }
}

/// The live nodes whose adapter for `platform` is connected, this node always included.
pub fn connected_nodes(shared: &Shared, platform: &str) -> BTreeSet<NodeId> {
    let peers = shared.mesh.peers();
    let all_speak = shared.mesh.all_members_speak(KIND_PROTOCOL);
    ranked_nodes(
        shared.node,
        &peers,
        &shared.state.replica(),
        platform,
        all_speak,
    )
}

/// The nodes that take turns for `platform`: while some member may speak only protocol 1
/// (`all_speak` false: it ranks every live node and is never sent announcements) or no live
/// node has announced yet, every live node, as protocol 1 ranks; else the live nodes whose
/// announced adapter is connected. `me` always. "Live": alive or suspect (`turn_takers`: a
/// false suspicion on one Pi must not make two Pis answer).
pub fn ranked_nodes(
    me: NodeId,
    peers: &[PeerStatus],
    replica: &Replica,
    platform: &str,
    all_speak: bool,
) -> BTreeSet<NodeId> {
    let alive = crate::peer::turn_takers(me, peers);
    let state = |node: &NodeId| match replica.value(&key(*node, platform)) {
        Some(Value::ChatAdapter(state)) => Some(state.connected),
        _ => None,
    };
    if !all_speak || !alive.iter().any(|node| state(node).is_some()) {
        return alive;
    }
    let mut nodes: BTreeSet<NodeId> = alive
        .into_iter()
        .filter(|node| state(node) == Some(true))
        .collect();
    nodes.insert(me);
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::Stamp;
    use crate::peer::MemberStatus;
    use crate::shared::MeshView;

    fn peer(id: u64, status: MemberStatus) -> PeerStatus {
        PeerStatus::new(NodeId(id), format!("pi-{id}"), status)
    }

    fn announced(replica: &mut Replica, node: u64, connected: bool, version: u64) {
        let value = Value::ChatAdapter(ChatAdapterState {
            connected,
            since_ms: 1,
        });
        let stamp = Stamp::new(Stamp::time_from_unix_ms(1_000 * version), NodeId(node));
        let entry = crate::state::Entry {
            key: key(NodeId(node), "slack"),
            value: Some(value),
            stamp,
            version,
        };
        assert!(replica.merge(entry));
    }

    #[test]
    fn a_kind_protocol_1_lacks_waits_until_every_member_spoke_protocol_2() {
        let mesh = MeshView::new(0, false);
        // Seeded, no peer met yet: nobody is known to speak it.
        assert!(!mesh.all_members_speak(KIND_PROTOCOL));
        mesh.peers.publish(vec![
            peer(2, MemberStatus::Alive),
            peer(3, MemberStatus::Dead),
            peer(4, MemberStatus::Left),
        ]);
        mesh.note_peer_protocol(NodeId(2), 3);
        // The dead member never exchanged with this node: it may be on protocol 1.
        assert!(!mesh.all_members_speak(KIND_PROTOCOL));
        mesh.note_peer_protocol(NodeId(3), 1);
        assert!(!mesh.all_members_speak(KIND_PROTOCOL));
        // Upgraded: the latest agreement counts; a member that left does not count.
        mesh.note_peer_protocol(NodeId(3), 3);
        assert!(mesh.all_members_speak(KIND_PROTOCOL));
        // Alone from the start (no seeds): the node is the whole mesh.
        assert!(MeshView::new(0, true).all_members_speak(KIND_PROTOCOL));
    }

    #[test]
    fn an_announcement_is_written_once_per_change_and_refreshed_when_old() {
        let on = ChatAdapterState {
            connected: true,
            since_ms: 5,
        };
        let now = 10 * REANNOUNCE_AFTER_MS;
        assert_eq!(
            due(None, false, now),
            None,
            "never connected: nothing to say"
        );
        assert_eq!(due(None, true, now).map(|s| s.connected), Some(true));
        assert_eq!(due(Some((&on, now - 1_000)), true, now), None);
        assert_eq!(
            due(Some((&on, now - 1_000)), false, now).map(|s| (s.connected, s.since_ms)),
            Some((false, now))
        );
        // Old: the same content again (a fresh write heals a peer that missed it).
        assert_eq!(
            due(Some((&on, now - REANNOUNCE_AFTER_MS)), true, now),
            Some(on)
        );
    }

    #[test]
    fn while_a_member_may_speak_only_protocol_1_every_live_node_takes_turns() {
        let me = NodeId(1);
        let peers = [
            peer(2, MemberStatus::Alive),
            peer(3, MemberStatus::Alive),
            peer(4, MemberStatus::Dead),
        ];
        let set = |ids: &[u64]| ids.iter().map(|id| NodeId(*id)).collect::<BTreeSet<_>>();
        let mut replica = Replica::new(me);
        // Nobody announced: every live node, whatever the protocols.
        assert_eq!(
            ranked_nodes(me, &peers, &replica, "slack", true),
            set(&[1, 2, 3])
        );
        // Some announced, others not (3 may be on protocol 1, which never announces): all.
        announced(&mut replica, 2, true, 1);
        announced(&mut replica, 4, true, 1);
        assert_eq!(
            ranked_nodes(me, &peers, &replica, "slack", false),
            set(&[1, 2, 3])
        );
        // Every member speaks protocol 2: the announced ones (a broken token holds no place).
        assert_eq!(
            ranked_nodes(me, &peers, &replica, "slack", true),
            set(&[1, 2])
        );
        announced(&mut replica, 2, false, 2);
        assert_eq!(ranked_nodes(me, &peers, &replica, "slack", true), set(&[1]));
    }
}
