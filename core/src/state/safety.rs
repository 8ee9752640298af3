//! `SafetyState`: what the gossip protocol's safety rests on besides entries and watermarks —
//! the tombstone GC floors and mark, an unfinished re-sync after a reset, and own writes being
//! re-fetched after one. It lives in the `Replica` so that it reaches the store in the same
//! change set (one SQLite transaction) as the tombstone drops it describes, and it is
//! serializable so the store persists it and the simulator's crash model round-trips it.
//! It also holds the gossip incarnation, which only grows, so peers never ignore this node's
//! heartbeats after its clock was set back; the *collected ledger* (key and stamp of every
//! tombstone collected here or adopted on a reset, kept beyond the grace period: a write older
//! than one of them lost to it and is refused); and which skipped versions were *superseded*
//! by a write of another origin (so a delta can name, per skipped version, the write that
//! replaced it).
//!
//! Plain data. Must not touch: I/O, clocks, the gossip core (which owns its meaning).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Key;
use crate::crdt::{NodeId, Stamp};

/// Own writes to get back from peers after a reset: this node's side of a long partition
/// replaced or deleted (and collected) some of its own writes, the other side won the reset
/// and still holds them. Without re-fetching them the node would hold less than its own
/// watermark claims, and since nobody sends a node its own writes unasked, replicas would
/// differ for ever while every digest agrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnRefetch {
    /// Own versions above this may be missing: the own watermark advertised meanwhile.
    pub after: u64,
    /// Done once a peer's chunk of own writes reached this version (the resetter's watermark
    /// for this node).
    pub until: u64,
}

/// The persisted safety state of one node (see the module doc).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SafetyState {
    /// Per origin, the highest version of a tombstone garbage-collected here (or adopted from
    /// the peer that reset us).
    pub floors: Vec<(NodeId, u64)>,
    /// Newest stamp of a collected (or adopted) tombstone: breaks the tie when both sides of a
    /// long partition collected tombstones.
    pub gc_mark: Stamp,
    /// After a reset, the resetter's watermarks until this node has caught up to them; until
    /// then it resets nobody.
    pub resync_target: Option<Vec<(NodeId, u64)>>,
    /// Own writes being re-fetched after a reset.
    pub own_refetch: Option<OwnRefetch>,
    /// The gossip incarnation of this node's latest run: the next run takes a greater one
    /// whatever its wall clock says, so peers never ignore its heartbeats as stale.
    #[serde(default)]
    pub incarnation: u64,
    /// The collected ledger: per key, the stamp of the newest tombstone of it collected here
    /// (or adopted from the peer that reset us), until it is older than the ledger's horizon
    /// (`GossipCore`'s collection). A write of that key stamped at or before it is refused:
    /// it lost to the collected tombstone, so it must not come back on some nodes only.
    #[serde(default, with = "collected_form")]
    pub collected: BTreeMap<Key, Stamp>,
    /// Versions of other origins this node skips (or passed as skipped) because a write of
    /// another origin replaced them, with the key they held: a delta names, per skipped
    /// version, this node's newest write of that key (`Chunk::skipped`).
    #[serde(default, with = "superseded_form")]
    pub superseded: BTreeMap<(NodeId, u64), Key>,
}

/// The ledger as a list of `(key text, stamp)` (a JSON map needs string keys).
mod collected_form {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        ledger: &BTreeMap<Key, Stamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(ledger.iter().map(|(key, stamp)| (key.to_string(), stamp)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<Key, Stamp>, D::Error> {
        Vec::<(String, Stamp)>::deserialize(deserializer)?
            .into_iter()
            .map(|(key, stamp)| {
                key.parse::<Key>()
                    .map(|key| (key, stamp))
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// The superseded versions as a list of `(origin, version, key text)`.
mod superseded_form {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        superseded: &BTreeMap<(NodeId, u64), Key>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            superseded
                .iter()
                .map(|((origin, version), key)| (origin, version, key.to_string())),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<(NodeId, u64), Key>, D::Error> {
        Vec::<(NodeId, u64, String)>::deserialize(deserializer)?
            .into_iter()
            .map(|(origin, version, key)| {
                key.parse::<Key>()
                    .map(|key| ((origin, version), key))
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

impl Default for SafetyState {
    fn default() -> Self {
        SafetyState {
            floors: Vec::new(),
            gc_mark: Stamp::ZERO,
            resync_target: None,
            own_refetch: None,
            incarnation: 0,
            collected: BTreeMap::new(),
            superseded: BTreeMap::new(),
        }
    }
}

impl SafetyState {
    /// True when there is nothing to remember (a node that never collected or reset).
    pub fn is_empty(&self) -> bool {
        *self == SafetyState::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json_and_postcard() {
        let state = SafetyState {
            floors: vec![(NodeId(7), 12), (NodeId(u64::MAX), 1)],
            gc_mark: Stamp::new(99, NodeId(7)),
            resync_target: Some(vec![(NodeId(3), 4)]),
            own_refetch: Some(OwnRefetch { after: 2, until: 9 }),
            incarnation: 1_764_000_000_000,
            collected: [(Key::Node(NodeId(3)), Stamp::new(77, NodeId(3)))].into(),
            superseded: [(
                (NodeId(4), 2),
                Key::Devices {
                    observer: NodeId(4),
                },
            )]
            .into(),
        };
        let json = serde_json::to_string(&state).expect("json");
        assert_eq!(
            serde_json::from_str::<SafetyState>(&json).expect("back"),
            state
        );
        let bytes = postcard::to_allocvec(&state).expect("postcard");
        assert_eq!(
            postcard::from_bytes::<SafetyState>(&bytes).expect("back"),
            state
        );
        assert!(!state.is_empty());
        assert!(SafetyState::default().is_empty());
    }

    #[test]
    fn a_state_persisted_before_the_incarnation_was_kept_still_loads() {
        let old = r#"{"floors":[],"gc_mark":{"time":0,"node":"0000000000000000"},"resync_target":null,"own_refetch":null}"#;
        let gc_mark = serde_json::to_string(&Stamp::ZERO).expect("json");
        let old = old.replace(r#"{"time":0,"node":"0000000000000000"}"#, &gc_mark);
        let state: SafetyState = serde_json::from_str(&old).expect("old state loads");
        assert_eq!(state.incarnation, 0);
    }
}
