//! Home Assistant MQTT discovery: the retained config messages that make each Pi a device with
//! its sensors, and each registered person a `device_tracker`; and the rule that picks the one
//! node per cluster that publishes the people. Pure: builds JSON, never publishes.
//!
//! Field names follow Home Assistant's MQTT sensor and device tracker docs (`device_class`,
//! `state_class`, `unit_of_measurement`, `expire_after`, `availability`, `availability_mode`,
//! `device`,
//! `source_type`, `payload_home`, `payload_not_home`).

use officemesh_sensors::{PublishPolicy, Quantity};
use serde_json::{json, Value as Json};

use super::topics::{self, Topics};
use crate::crdt::NodeId;
use crate::peer::{MemberStatus, PeerStatus};

/// What Home Assistant needs to know about the node that owns a sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeDevice {
    pub node: NodeId,
    pub name: String,
    pub room: String,
    pub version: String,
}

/// Home Assistant's `device_class` for a quantity (`null` for sound activity, a percentage).
pub fn device_class(quantity: Quantity) -> Option<&'static str> {
    quantity.ha_device_class()
}

/// Seconds after which Home Assistant marks a sensor quantity unavailable without a new
/// reading, from the sensor's poll interval and publish rule (`None`: no `expire_after`).
///
/// A steady value is published only when its heartbeat is due, checked at each poll: the gap
/// between two states is at most heartbeat + one poll, so the timeout is the heartbeat plus
/// two polls and 10 s (the poll grid, a slow read, the way to the broker), never under a
/// minute.
/// Published every poll (no rule): three missed polls. A delta without a heartbeat never
/// re-publishes a steady value, so no timeout; the availability topics still say when the
/// node or the sensor is down. Readings are held up to `readings_batch_ms` before they are
/// written (and published), so that is added to both (rounded up to whole seconds).
pub fn expire_after_s(
    policy: &PublishPolicy,
    poll_interval_s: u64,
    readings_batch_ms: u64,
) -> Option<u64> {
    let polls = |n: u64| poll_interval_s.saturating_mul(n);
    let seconds = match (policy.delta, policy.heartbeat) {
        (None, None) => polls(3),
        (_, Some(heartbeat)) => heartbeat
            .as_secs()
            .saturating_add(polls(2))
            .saturating_add(10),
        (Some(_), None) => return None,
    };
    Some(
        seconds
            .saturating_add(readings_batch_ms.div_ceil(1000))
            .max(60),
    )
}

/// The `device` block of a node.
fn device_block(device: &NodeDevice) -> Json {
    json!({
        "identifiers": [topics::node_device_id(device.node)],
        "name": device.name,
        "manufacturer": "officemesh",
        "model": "officemesh agent",
        "sw_version": device.version,
        "suggested_area": device.room,
    })
}

fn origin_block() -> Json {
    json!({ "name": "officemesh", "sw_version": crate::VERSION })
}

/// `(topic, payload)` of the discovery config of one sensor quantity of `device`.
pub fn sensor_config(
    topics: &Topics,
    device: &NodeDevice,
    sensor: &str,
    quantity: Quantity,
    expire_after_s: Option<u64>,
) -> (String, Json) {
    let unique_id = topics::reading_unique_id(device.node, sensor, quantity);
    let state_topic = topics.reading(sensor, quantity);
    let mut payload = json!({
        "name": format!("{sensor} {quantity}"),
        "unique_id": unique_id,
        "object_id": format!("{}_{}_{}", topics::slug(&device.name), topics::slug(sensor), quantity.as_str()),
        "state_topic": state_topic,
        "value_template": "{{ value_json.value }}",
        "json_attributes_topic": state_topic,
        "unit_of_measurement": quantity.unit(),
        "device_class": device_class(quantity),
        "state_class": "measurement",
        "expire_after": expire_after_s,
        // Available while both the node and this sensor are up.
        "availability": [
            { "topic": topics.availability() },
            { "topic": topics.sensor_availability(sensor) },
        ],
        "availability_mode": "all",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device_block(device),
        "origin": origin_block(),
    });
    if let Some(fields) = payload.as_object_mut() {
        // Sound activity is a plain percentage: no device class rather than a wrong one.
        if device_class(quantity).is_none() {
            fields.remove("device_class");
        }
        if expire_after_s.is_none() {
            fields.remove("expire_after");
        }
    }
    (topics.discovery("sensor", &unique_id), payload)
}

/// `(topic, payload)` of the discovery config of a person's device tracker.
pub fn person_config(topics: &Topics, person: &str) -> (String, Json) {
    let unique_id = topics::person_unique_id(person);
    let payload = json!({
        "name": serde_json::Value::Null,
        "unique_id": unique_id,
        "object_id": unique_id,
        "state_topic": topics.presence(person),
        "payload_home": "home",
        "payload_not_home": "not_home",
        "source_type": "router",
        "device": {
            "identifiers": [unique_id],
            "name": person,
            "manufacturer": "officemesh",
            "model": "person (MAC presence)",
        },
        "origin": origin_block(),
    });
    (topics.discovery("device_tracker", &unique_id), payload)
}

/// The node that publishes people (presence states and trackers): the lowest id among the
/// nodes `me` believes alive — itself, and peers whose status is `alive`.
pub fn presence_publisher(me: NodeId, peers: &[PeerStatus]) -> NodeId {
    peers
        .iter()
        .filter(|peer| peer.status == MemberStatus::Alive)
        .map(|peer| peer.node)
        .chain(std::iter::once(me))
        .min()
        .unwrap_or(me)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> NodeDevice {
        NodeDevice {
            node: NodeId(0x1234),
            name: "pi-lobby".into(),
            room: "lobby".into(),
            version: "9.9.9".into(),
        }
    }

    fn peer(node: u64, status: MemberStatus) -> PeerStatus {
        PeerStatus::new(NodeId(node), format!("pi-{node}"), status)
    }

    #[test]
    fn the_docs_object_id_example_is_what_is_published() {
        let topics = Topics::new("officemesh", "pi-lobby", "homeassistant");
        let (_, payload) =
            sensor_config(&topics, &device(), "desk", Quantity::Temperature, Some(370));
        let published = payload["object_id"]
            .as_str()
            .expect("object_id")
            .to_string();
        let docs = include_str!("../../../docs/mqtt.md");
        let example = format!("\"object_id\": \"{published}\"");
        assert!(
            docs.contains(&example),
            "docs/mqtt.md must show {example} (what a node named pi-lobby publishes)"
        );
    }

    #[test]
    fn sensor_config_carries_what_home_assistant_requires() {
        let topics = Topics::new("officemesh", "pi-lobby", "homeassistant");
        let (topic, payload) = sensor_config(&topics, &device(), "desk", Quantity::Sound, Some(60));
        assert_eq!(
            topic,
            "homeassistant/sensor/officemesh_0000000000001234_desk_sound/config"
        );
        assert_eq!(payload["device_class"], "sound_pressure");
        let (_, activity) =
            sensor_config(&topics, &device(), "door", Quantity::SoundActivity, None);
        assert!(activity.get("device_class").is_none(), "{activity}");
        assert_eq!(activity["unit_of_measurement"], "%");
        assert_eq!(payload["unit_of_measurement"], "dB");
        assert_eq!(payload["state_class"], "measurement");
        assert_eq!(payload["expire_after"], 60);
        assert_eq!(payload["state_topic"], "officemesh/pi-lobby/desk/sound");
        assert_eq!(payload["value_template"], "{{ value_json.value }}");
        assert_eq!(
            payload["availability"],
            json!([
                { "topic": "officemesh/pi-lobby/availability" },
                { "topic": "officemesh/pi-lobby/desk/availability" },
            ])
        );
        assert_eq!(payload["availability_mode"], "all");
        assert_eq!(
            payload["device"]["identifiers"][0],
            "officemesh_0000000000001234"
        );
        assert_eq!(payload["device"]["suggested_area"], "lobby");
        assert_eq!(payload["device"]["sw_version"], "9.9.9");
        assert!(activity.get("expire_after").is_none(), "{activity}");
        let (_, temperature) =
            sensor_config(&topics, &device(), "desk", Quantity::Temperature, Some(370));
        assert_eq!(temperature["unit_of_measurement"], "°C");
        assert_eq!(temperature["expire_after"], 370);
    }

    #[test]
    fn a_steady_value_outlives_no_expire_after() {
        use std::time::Duration;
        let every_poll = PublishPolicy::default();
        assert_eq!(expire_after_s(&every_poll, 10, 0), Some(60));
        assert_eq!(expire_after_s(&every_poll, 30, 0), Some(90));
        // Held up to a minute before written (`storage.readings_batch_ms`, the default).
        assert_eq!(expire_after_s(&every_poll, 10, 60_000), Some(90));
        // The office default: 0.1 °C or a heartbeat every 300 s, polled every 30 s.
        let office = PublishPolicy {
            delta: Some(0.1),
            heartbeat: Some(Duration::from_secs(300)),
        };
        assert_eq!(expire_after_s(&office, 30, 0), Some(370));
        assert_eq!(expire_after_s(&office, 30, 60_000), Some(430));
        assert_eq!(expire_after_s(&office, 30, 1_500), Some(372));
        let heartbeat_only = PublishPolicy {
            delta: None,
            heartbeat: Some(Duration::from_secs(5)),
        };
        assert_eq!(expire_after_s(&heartbeat_only, 1, 0), Some(60));
        let delta_only = PublishPolicy {
            delta: Some(0.5),
            heartbeat: None,
        };
        assert_eq!(expire_after_s(&delta_only, 30, 60_000), None);
    }

    #[test]
    fn person_config_is_a_router_tracker() {
        let topics = Topics::new("officemesh", "pi-lobby", "homeassistant");
        let (topic, payload) = person_config(&topics, "Ada Lovelace");
        assert!(
            topic.starts_with("homeassistant/device_tracker/officemesh_person_ada_lovelace_"),
            "{topic}"
        );
        assert_eq!(payload["source_type"], "router");
        assert_eq!(payload["payload_home"], "home");
        assert_eq!(payload["payload_not_home"], "not_home");
        assert_eq!(payload["state_topic"], "officemesh/presence/Ada Lovelace");
        assert_eq!(payload["device"]["name"], "Ada Lovelace");
    }

    #[test]
    fn the_lowest_alive_node_publishes_people() {
        let me = NodeId(5);
        assert_eq!(presence_publisher(me, &[]), me, "alone: self");
        assert_eq!(
            presence_publisher(
                me,
                &[peer(3, MemberStatus::Alive), peer(9, MemberStatus::Alive)]
            ),
            NodeId(3)
        );
        assert_eq!(
            presence_publisher(
                me,
                &[
                    peer(3, MemberStatus::Dead),
                    peer(1, MemberStatus::Suspect),
                    peer(2, MemberStatus::Left)
                ]
            ),
            me,
            "only peers believed alive count"
        );
        assert_eq!(
            presence_publisher(NodeId(1), &[peer(3, MemberStatus::Alive)]),
            NodeId(1)
        );
    }
}
