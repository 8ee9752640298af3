//! The HTTP API's answers that are not `state::query` answers (`/v1/nodes`, `/v1/state/hash`,
//! `/v1/people` writes, `/v1/targets`, `/v1/events`), as plain serde types shared by the server
//! and the CLI's client (corrosion's `corro-api-types` idea: the client never depends on server
//! internals). Data only: nothing here touches the runtime, the store or a socket. The JSON they
//! serialize to is the contract in docs/api.md; the tests below pin it to the docs' examples.

use std::collections::BTreeMap;

use officemesh_sensors::{MacAddr, Quantity};
use serde::{Deserialize, Serialize};

use crate::crdt::NodeId;
use crate::peer::NodeStatus;
use crate::state::query::{Completeness, PersonRow};

/// One row of `GET /v1/nodes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRow {
    pub node: NodeId,
    pub name: String,
    pub room: String,
    pub gossip_addr: String,
    pub api_addr: String,
    pub version: String,
    /// `self` for this node, else the gossip layer's view (`alive`, `suspect`, `dead`, `left`,
    /// or `unknown` before gossip has seen it).
    pub status: NodeStatus,
    pub heartbeat_age_ms: Option<u64>,
    pub phi: Option<f64>,
    pub missing_versions: u64,
    pub unreachable_since_ms: Option<u64>,
    /// How far its stamps run ahead of this node's clock while its updates are held back
    /// (`null` when they are taken).
    #[serde(default)]
    pub clock_ahead_ms: Option<u64>,
    /// Its wall clock minus this node's, in ms (negative: behind), measured from gossip
    /// exchange times; on this node's own row, how far it runs ahead of the mesh's median.
    /// `null` until measured (or a peer on gossip protocol 1 or 2).
    #[serde(default)]
    pub clock_offset_ms: Option<i64>,
    /// Highest version of its writes this node holds.
    pub watermark: u64,
    /// The chat platforms (`slack`, `matrix`, `mattermost`) its adapter announced as connected
    /// (`chat_adapter/<node>/<platform>`): the Pis that take turns answering there.
    #[serde(default)]
    pub chat: Vec<String>,
}

/// `GET /v1/nodes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodesAnswer {
    /// The answering node.
    #[serde(rename = "self")]
    pub self_node: NodeId,
    pub nodes: Vec<NodeRow>,
    pub completeness: Completeness,
}

/// `GET /v1/state/hash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateHashAnswer {
    /// Hex hash of the replicated content.
    pub hash: String,
    /// Per gossip protocol this node speaks ("1", "2", …): the hash over what a peer speaking
    /// it can hold (protocol 1 is never sent the kinds added since). Absent before versioning.
    #[serde(default)]
    pub hash_by_protocol: BTreeMap<String, String>,
    pub entries: usize,
    /// Highest version held per origin node (node id in hex).
    pub digest: BTreeMap<String, u64>,
}

/// `GET /v1/people`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeopleAnswer {
    pub people: Vec<PersonRow>,
}

/// `POST /v1/people` (`created`) and `DELETE /v1/people/{name}/{mac}` (`removed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonChange {
    pub name: String,
    pub mac: MacAddr,
    /// POST: false when the device was already registered to that person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// DELETE: always true (an unknown registration is a 404).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<bool>,
}

/// One target band: a row of `GET /v1/targets` and the answer of `PUT /v1/targets/{room}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRow {
    pub room: String,
    pub quantity: Quantity,
    pub value: f64,
    pub tolerance: f64,
}

/// `GET /v1/targets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetsAnswer {
    pub targets: Vec<TargetRow>,
}

/// One mesh event of `GET /v1/events` (the server records it as `events::MeshEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub seq: u64,
    pub t_ms: u64,
    /// `peer_dead`, `peer_alive`, `mesh_healed`, … (docs/api.md lists them).
    pub kind: String,
    pub peer: Option<NodeId>,
    pub peer_name: Option<String>,
    pub detail: String,
    pub numbers: BTreeMap<String, u64>,
}

/// `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsAnswer {
    pub node: NodeId,
    pub name: String,
    pub now_ms: u64,
    pub events: Vec<EventRow>,
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::Value as Json;

    use super::*;

    /// Parses `text` as `T` and serializes it back: the JSON must be the same value.
    fn round_trip<T: Serialize + DeserializeOwned>(text: &str) -> T {
        let original: Json = serde_json::from_str(text).expect("example is JSON");
        let typed: T = serde_json::from_value(original.clone()).expect("example parses");
        let again = serde_json::to_value(&typed).expect("serializes");
        assert_eq!(again, original, "round trip changed the JSON");
        typed
    }

    #[test]
    fn nodes_answer_round_trips_the_documented_json() {
        let answer: NodesAnswer = round_trip(
            r#"{"self": "14082b5b47bacf03",
                "nodes": [{"node": "14082b5b47bacf03", "name": "pi-lobby", "room": "lobby",
                           "gossip_addr": "192.0.2.11:7420", "api_addr": "0.0.0.0:8420",
                           "version": "0.1.0", "status": "self", "heartbeat_age_ms": null,
                           "phi": null, "missing_versions": 0, "unreachable_since_ms": null,
                           "clock_ahead_ms": null, "clock_offset_ms": -3, "watermark": 57, "chat": ["slack"]},
                          {"node": "5ce5dcc9f9c09ee6", "name": "pi-meeting", "room": "meeting room",
                           "gossip_addr": "192.0.2.12:7420", "api_addr": "0.0.0.0:8420",
                           "version": "0.1.0", "status": "alive", "heartbeat_age_ms": 812,
                           "phi": 0.4, "missing_versions": 3, "unreachable_since_ms": null,
                           "clock_ahead_ms": 3480000, "clock_offset_ms": 3480012,
                           "watermark": 12, "chat": []}],
                "completeness": {"complete": false, "unreachable": [],
                                 "clock_ahead": [{"node": "5ce5dcc9f9c09ee6", "name": "pi-meeting",
                                                  "room": "meeting room", "ahead_ms": 3480000}]}}"#,
        );
        assert_eq!(answer.nodes.len(), 2);
        assert_eq!(answer.nodes[1].phi, Some(0.4));
    }

    #[test]
    fn hash_people_and_target_answers_round_trip() {
        let hash: StateHashAnswer = round_trip(
            r#"{"hash": "9c1d", "hash_by_protocol": {"1": "5e07", "3": "9c1d"}, "entries": 42, "digest": {"14082b5b47bacf03": 57}}"#,
        );
        assert_eq!(hash.entries, 42);
        assert_eq!(hash.hash_by_protocol["1"], "5e07");
        let people: PeopleAnswer =
            round_trip(r#"{"people": [{"name": "Ada Lovelace", "macs": ["b8:27:eb:00:00:01"]}]}"#);
        assert_eq!(people.people[0].name, "Ada Lovelace");
        let created: PersonChange =
            round_trip(r#"{"name": "Ada Lovelace", "mac": "b8:27:eb:00:00:01", "created": true}"#);
        assert_eq!(created.created, Some(true));
        let removed: PersonChange =
            round_trip(r#"{"name": "Ada Lovelace", "mac": "b8:27:eb:00:00:01", "removed": true}"#);
        assert_eq!(removed.removed, Some(true));
        let targets: TargetsAnswer = round_trip(
            r#"{"targets": [{"room": "meeting room", "quantity": "temperature",
                             "value": 22.0, "tolerance": 1.5}]}"#,
        );
        assert_eq!(targets.targets[0].quantity, Quantity::Temperature);
    }

    #[test]
    fn events_answer_round_trips_the_documented_json() {
        let answer: EventsAnswer = round_trip(
            r#"{"node": "14082b5b47bacf03", "name": "pi-lobby", "now_ms": 1763901725000,
                "events": [{"seq": 17, "t_ms": 1763901720512, "kind": "peer_alive",
                            "peer": "5ce5dcc9f9c09ee6", "peer_name": "pi-meeting",
                            "detail": "pi-meeting is alive again after 8.1s",
                            "numbers": {"down_ms": 8123, "missing_versions": 3}},
                           {"seq": 18, "t_ms": 1763901721000, "kind": "mesh_healed",
                            "peer": null, "peer_name": null, "detail": "every peer is alive",
                            "numbers": {}}]}"#,
        );
        assert_eq!(answer.events[0].numbers["down_ms"], 8123);
    }
}
