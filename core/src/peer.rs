//! What one node knows about another's liveness: the gossip layer's `MemberStatus` and the
//! `PeerStatus` row it publishes for the shell (API, chat, MQTT, events) to read.
//! `MemberStatus` is alive, suspect, dead or left; `NodeStatus` is its form in `/v1/nodes`.
//! A status is this enum everywhere, never compared as a string.
//!
//! Types only: shared by `gossip` (which computes them) and `state::query` (which turns them
//! into the caveats on every answer), so neither depends on the other for them.
//! Must not touch: the replica, messages, anything with I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crdt::NodeId;

/// How a member looks from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Alive,
    /// Heartbeats are late (phi above half the threshold).
    Suspect,
    /// Heartbeats stopped (phi above the threshold).
    Dead,
    /// Announced a graceful leave.
    Left,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Alive => "alive",
            MemberStatus::Suspect => "suspect",
            MemberStatus::Dead => "dead",
            MemberStatus::Left => "left",
        }
    }

    /// Alive or suspect: picked for gossip rounds.
    pub fn is_live(self) -> bool {
        matches!(self, MemberStatus::Alive | MemberStatus::Suspect)
    }
}

impl MemberStatus {
    /// Every status, in the order dashboards list them.
    pub const ALL: [MemberStatus; 4] = [
        MemberStatus::Alive,
        MemberStatus::Suspect,
        MemberStatus::Dead,
        MemberStatus::Left,
    ];

    /// Neither alive nor gracefully gone: answers carry a caveat for it.
    pub fn is_unreachable(self) -> bool {
        matches!(self, MemberStatus::Suspect | MemberStatus::Dead)
    }
}

impl fmt::Display for MemberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node's status as one node's answers show it (`/v1/nodes`): itself, a member status, or
/// `unknown` before gossip has reported on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// The node answering.
    #[serde(rename = "self")]
    This,
    /// Known from its `node/<id>` entry, not (yet) from gossip.
    Unknown,
    Alive,
    Suspect,
    Dead,
    Left,
}

impl From<MemberStatus> for NodeStatus {
    fn from(status: MemberStatus) -> NodeStatus {
        match status {
            MemberStatus::Alive => NodeStatus::Alive,
            MemberStatus::Suspect => NodeStatus::Suspect,
            MemberStatus::Dead => NodeStatus::Dead,
            MemberStatus::Left => NodeStatus::Left,
        }
    }
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeStatus::This => "self",
            NodeStatus::Unknown => "unknown",
            NodeStatus::Alive => "alive",
            NodeStatus::Suspect => "suspect",
            NodeStatus::Dead => "dead",
            NodeStatus::Left => "left",
        })
    }
}

/// What this node knows about one peer, as the gossip layer last saw it (for `/v1/nodes`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PeerStatus {
    pub node: NodeId,
    pub name: String,
    pub room: String,
    pub gossip_addr: String,
    pub status: MemberStatus,
    /// Milliseconds since its heartbeat last advanced, as seen here.
    pub heartbeat_age_ms: Option<u64>,
    /// Phi-accrual suspicion level.
    pub phi: Option<f64>,
    /// Versions of this peer's writes this node knows exist but does not hold yet.
    pub missing_versions: u64,
    /// Since when this node cannot reach it (ms since epoch), if it cannot.
    pub unreachable_since_ms: Option<u64>,
    /// How far its stamps run ahead of this node's clock while its updates are held back
    /// (refused until its clock is fixed); `None` when they are taken.
    #[serde(default)]
    pub clock_ahead_ms: Option<u64>,
    /// Its wall clock minus this node's (ms; negative: behind), measured from exchange times
    /// (gossip protocol 3); `None` until measured.
    #[serde(default)]
    pub clock_offset_ms: Option<i64>,
}

impl PeerStatus {
    /// A row for `node` with `status` and nothing else known (no address, room, heartbeat).
    pub fn new(node: NodeId, name: impl Into<String>, status: MemberStatus) -> PeerStatus {
        PeerStatus {
            node,
            name: name.into(),
            room: String::new(),
            gossip_addr: String::new(),
            status,
            heartbeat_age_ms: None,
            phi: None,
            missing_versions: 0,
            unreachable_since_ms: None,
            clock_ahead_ms: None,
            clock_offset_ms: None,
        }
    }
}

/// The nodes that take turns (answering chat, posting alerts): itself, and peers the gossip
/// layer reports `alive` or `suspect`. Late heartbeats are not a failure yet: a stall of a
/// second or two (a loaded Pi, a busy network) makes a peer suspect on one node and not on
/// another, and two nodes would then both act; a peer that really failed is `dead` within a few
/// intervals and drops out then. `dead` and `left` peers never count.
pub fn turn_takers(me: NodeId, peers: &[PeerStatus]) -> std::collections::BTreeSet<NodeId> {
    peers
        .iter()
        .filter(|peer| matches!(peer.status, MemberStatus::Alive | MemberStatus::Suspect))
        .map(|peer| peer.node)
        .chain(std::iter::once(me))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_serializes_as_the_lowercase_word() {
        for status in MemberStatus::ALL {
            let json = serde_json::to_string(&status).unwrap_or_default();
            assert_eq!(json, format!("\"{status}\""));
            let back: MemberStatus = serde_json::from_str(&json).unwrap_or(MemberStatus::Left);
            assert_eq!(back, status);
        }
    }
}
