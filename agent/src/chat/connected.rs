//! Which nodes' adapters are connected to a chat platform, as the mesh knows it: each node
//! announces its own (`chat_adapter/<node>/<platform>`, written by `driver` when it connects
//! and when it stops), and the nodes that take turns answering, or hold Slack's connection
//! slots, are the live ones whose adapter is connected. A node with a broken token never
//! announces, so it holds no place and delays no answer. Reads and writes the replica through
//! `Shared` only; no sockets.

use std::collections::BTreeSet;

use crate::crdt::NodeId;
use crate::shared::Shared;
use crate::state::{ChatAdapterState, Key, Value};

fn key(node: NodeId, platform: &str) -> Key {
    Key::ChatAdapter {
        node,
        platform: platform.to_string(),
    }
}

/// Records (once per change) whether this node's adapter for `platform` is connected.
pub fn announce(shared: &Shared, platform: &str, connected: bool) {
    let key = key(shared.node, platform);
    let known = match shared.state.replica().value(&key) {
        Some(Value::ChatAdapter(state)) => Some(state.connected),
        _ => None,
    };
    if known == Some(connected) || (known.is_none() && !connected) {
        return;
    }
    let value = Value::ChatAdapter(ChatAdapterState {
        connected,
        since_ms: crate::clock::wall_ms(),
    });
    match shared.state.write(key, Some(value)) {
        Ok(_) => tracing::info!(platform, connected, "chat: adapter state announced"),
        Err(err) => tracing::warn!(platform, error = %err, "chat: adapter state not recorded"),
    }
}

/// The live nodes whose adapter for `platform` is connected, this node always included.
pub fn connected_nodes(shared: &Shared, platform: &str) -> BTreeSet<NodeId> {
    let alive = crate::peer::alive_nodes(shared.node, &shared.mesh.peers());
    let replica = shared.state.replica();
    let mut nodes: BTreeSet<NodeId> = alive
        .into_iter()
        .filter(|node| {
            matches!(
                replica.value(&key(*node, platform)),
                Some(Value::ChatAdapter(ChatAdapterState {
                    connected: true,
                    ..
                }))
            )
        })
        .collect();
    nodes.insert(shared.node);
    nodes
}
