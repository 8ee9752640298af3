//! MQTT topic names and the JSON payload of a reading (documented in `docs/mqtt.md`). Pure:
//! text in, text out.
//!
//! Names become topic levels after `level`: `/`, `+`, `#` and control characters turn into `_`
//! (they would split a level or act as wildcards). Unique ids for Home Assistant come from
//! `slug` (lowercase ASCII, digits and `_`, plus a short hash when the name had to change, so
//! two different names never share an id).

use officemesh_sensors::Quantity;
use serde::Serialize;

use crate::crdt::NodeId;

/// The topic names one node uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    base: String,
    node_level: String,
    discovery_prefix: String,
}

impl Topics {
    /// `base` is `mqtt.base_topic`, `node_name` this node's name, `discovery_prefix` is
    /// `mqtt.discovery_prefix`.
    pub fn new(base: &str, node_name: &str, discovery_prefix: &str) -> Self {
        Topics {
            base: base.trim_matches('/').to_string(),
            node_level: level(node_name),
            discovery_prefix: discovery_prefix.trim_matches('/').to_string(),
        }
    }

    /// `<base>/<node>/<sensor>/<quantity>`: this node's readings.
    pub fn reading(&self, sensor: &str, quantity: Quantity) -> String {
        format!(
            "{}/{}/{}/{}",
            self.base,
            self.node_level,
            level(sensor),
            quantity.as_str()
        )
    }

    /// `<base>/<node>/availability`: `online` (birth) / `offline` (last will), retained.
    pub fn availability(&self) -> String {
        format!("{}/{}/availability", self.base, self.node_level)
    }

    /// `<base>/<node>/<sensor>/availability`: `online` / `offline` per sensor, retained, so Home
    /// Assistant shows a sensor that cannot be opened or read as unavailable.
    pub fn sensor_availability(&self, sensor: &str) -> String {
        format!(
            "{}/{}/{}/availability",
            self.base,
            self.node_level,
            level(sensor)
        )
    }

    /// `<base>/presence/<person>`: `home` / `not_home`, retained.
    pub fn presence(&self, person: &str) -> String {
        format!("{}/presence/{}", self.base, level(person))
    }

    /// `<discovery_prefix>/status`: Home Assistant's own birth (`online`) and will.
    pub fn ha_status(&self) -> String {
        format!("{}/status", self.discovery_prefix)
    }

    /// `<discovery_prefix>/<component>/<unique_id>/config`.
    pub fn discovery(&self, component: &str, unique_id: &str) -> String {
        format!("{}/{component}/{unique_id}/config", self.discovery_prefix)
    }
}

/// `text` as one topic level: wildcards, separators and control characters become `_`.
pub fn level(text: &str) -> String {
    let out: String = text
        .chars()
        .map(|c| match c {
            '/' | '+' | '#' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    if out.is_empty() {
        "_".into()
    } else {
        out
    }
}

/// `text` as an id part: `[a-z0-9_]`, with a 6-hex-digit hash of the original appended when
/// anything had to change.
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    if out != text || out.is_empty() {
        let hash = blake3::hash(text.as_bytes());
        out.push('_');
        out.push_str(&hex::encode(&hash.as_bytes()[..3]));
    }
    out
}

/// The Home Assistant `unique_id` of one of a node's sensor quantities.
pub fn reading_unique_id(node: NodeId, sensor: &str, quantity: Quantity) -> String {
    format!("officemesh_{node}_{}_{}", slug(sensor), quantity.as_str())
}

/// The Home Assistant `unique_id` of a person's device tracker (the same on every node).
pub fn person_unique_id(person: &str) -> String {
    format!("officemesh_person_{}", slug(person))
}

/// The Home Assistant device identifier of a node.
pub fn node_device_id(node: NodeId) -> String {
    format!("officemesh_{node}")
}

/// One reading as published on `<base>/<node>/<sensor>/<quantity>`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ReadingMessage {
    pub value: f64,
    pub unit: String,
    /// `ok` or `stale` (the last read failed; the value is the last good one).
    pub status: String,
    /// When the reading was taken (ms since the Unix epoch), kept through buffering.
    pub taken_at_ms: u64,
    pub room: String,
    /// This node's reading sequence number: increases by one per reading, across restarts;
    /// a consumer can spot gaps and drop duplicates (delivery is at least once).
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_have_the_documented_shape() {
        let topics = Topics::new("officemesh", "pi-lobby", "homeassistant");
        assert_eq!(
            topics.reading("desk", Quantity::Temperature),
            "officemesh/pi-lobby/desk/temperature"
        );
        assert_eq!(topics.availability(), "officemesh/pi-lobby/availability");
        assert_eq!(
            topics.presence("Ada Lovelace"),
            "officemesh/presence/Ada Lovelace"
        );
        assert_eq!(topics.ha_status(), "homeassistant/status");
        assert_eq!(
            topics.discovery("sensor", "officemesh_x"),
            "homeassistant/sensor/officemesh_x/config"
        );
    }

    #[test]
    fn wildcards_and_separators_never_reach_a_topic() {
        let topics = Topics::new("officemesh/", "pi/a+b#", "ha");
        assert_eq!(
            topics.reading("s+1", Quantity::Sound),
            "officemesh/pi_a_b_/s_1/sound"
        );
        assert_eq!(level(""), "_");
        assert_eq!(level("tab\there"), "tab_here");
    }

    #[test]
    fn slugs_are_id_safe_and_distinct_names_stay_distinct() {
        assert_eq!(slug("desk"), "desk");
        let a = slug("Desk 2");
        let b = slug("desk_2");
        assert!(a.starts_with("desk_2_"), "{a}");
        assert_eq!(b, "desk_2");
        assert_ne!(a, b);
        assert_ne!(slug("Zoë"), slug("Zoé"));
        for text in ["Ada Lovelace", "ünïcödé", "", "a/b+c#d"] {
            let s = slug(text);
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{text} → {s}"
            );
            assert!(!s.is_empty());
        }
        assert_eq!(
            reading_unique_id(NodeId(0xab), "desk", Quantity::Humidity),
            "officemesh_00000000000000ab_desk_humidity"
        );
    }
}
