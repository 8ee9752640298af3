//! The key space of the replicated state, typed, with a stable text form used in SQLite and logs.
//!
//! | key | written by |
//! |---|---|
//! | `node/<id>` | that node |
//! | `reading/<node>/<sensor>/<quantity>` | that node |
//! | `mac/<mac>/<observer>` | the observing node |
//! | `person/<name>/<mac>` | any node (chat, API) |
//! | `target/<room>/<quantity>` | any node |
//! | `alert/<room>/<quantity>` | any node |
//! | `sensor/<node>/<sensor>` | that node (sensor health) |

use std::fmt;
use std::str::FromStr;

use officemesh_sensors::{MacAddr, Quantity};
use serde::{Deserialize, Serialize};

use crate::crdt::NodeId;

/// A key of the replicated state. Labels (sensor, person and room names) never contain `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Key {
    Node(NodeId),
    Reading {
        node: NodeId,
        sensor: String,
        quantity: Quantity,
    },
    Mac {
        mac: MacAddr,
        observer: NodeId,
    },
    Person {
        name: String,
        mac: MacAddr,
    },
    Target {
        room: String,
        quantity: Quantity,
    },
    Alert {
        room: String,
        quantity: Quantity,
    },
    Sensor {
        node: NodeId,
        sensor: String,
    },
}

/// A person, room or sensor name that cannot be used as part of a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} '{text}' is longer than 64 characters")]
    TooLong { what: &'static str, text: String },
    #[error("{what} '{text}' must not contain '/' or control characters")]
    BadCharacter { what: &'static str, text: String },
}

/// Checks a label (`what` says which, for the message): 1–64 characters, no `/`, no control
/// characters. Surrounding whitespace is the caller's to trim.
pub fn validate_label(what: &'static str, text: &str) -> Result<(), LabelError> {
    if text.trim().is_empty() {
        return Err(LabelError::Empty { what });
    }
    if text.chars().count() > 64 {
        return Err(LabelError::TooLong {
            what,
            text: text.to_string(),
        });
    }
    if text.chars().any(|c| c == '/' || c.is_control()) {
        return Err(LabelError::BadCharacter {
            what,
            text: text.to_string(),
        });
    }
    Ok(())
}

/// Text that is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a state key")]
pub struct KeyParseError(pub String);

impl Key {
    /// The kind of key: the first path segment (`node`, `reading`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Key::Node(_) => "node",
            Key::Reading { .. } => "reading",
            Key::Mac { .. } => "mac",
            Key::Person { .. } => "person",
            Key::Target { .. } => "target",
            Key::Alert { .. } => "alert",
            Key::Sensor { .. } => "sensor",
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Node(id) => write!(f, "node/{id}"),
            Key::Reading {
                node,
                sensor,
                quantity,
            } => write!(f, "reading/{node}/{sensor}/{quantity}"),
            Key::Mac { mac, observer } => write!(f, "mac/{mac}/{observer}"),
            Key::Person { name, mac } => write!(f, "person/{name}/{mac}"),
            Key::Target { room, quantity } => write!(f, "target/{room}/{quantity}"),
            Key::Alert { room, quantity } => write!(f, "alert/{room}/{quantity}"),
            Key::Sensor { node, sensor } => write!(f, "sensor/{node}/{sensor}"),
        }
    }
}

impl FromStr for Key {
    type Err = KeyParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || KeyParseError(text.to_string());
        let parts: Vec<&str> = text.split('/').collect();
        let node = |s: &str| s.parse::<NodeId>().map_err(|_| err());
        let mac = |s: &str| s.parse::<MacAddr>().map_err(|_| err());
        let quantity = |s: &str| Quantity::parse(s).ok_or_else(err);
        let label = |s: &str| {
            validate_label("label", s)
                .map(|_| s.to_string())
                .map_err(|_| err())
        };
        match parts.as_slice() {
            ["node", id] => Ok(Key::Node(node(id)?)),
            ["reading", n, sensor, q] => Ok(Key::Reading {
                node: node(n)?,
                sensor: label(sensor)?,
                quantity: quantity(q)?,
            }),
            ["mac", m, observer] => Ok(Key::Mac {
                mac: mac(m)?,
                observer: node(observer)?,
            }),
            ["person", name, m] => Ok(Key::Person {
                name: label(name)?,
                mac: mac(m)?,
            }),
            ["target", room, q] => Ok(Key::Target {
                room: label(room)?,
                quantity: quantity(q)?,
            }),
            ["alert", room, q] => Ok(Key::Alert {
                room: label(room)?,
                quantity: quantity(q)?,
            }),
            ["sensor", n, sensor] => Ok(Key::Sensor {
                node: node(n)?,
                sensor: label(sensor)?,
            }),
            _ => Err(err()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_text() {
        let mac: MacAddr = "aa:bb:cc:dd:ee:ff".parse().expect("valid");
        let keys = [
            Key::Node(NodeId(5)),
            Key::Reading {
                node: NodeId(5),
                sensor: "desk".into(),
                quantity: Quantity::Humidity,
            },
            Key::Mac {
                mac,
                observer: NodeId(7),
            },
            Key::Person {
                name: "Ada Lovelace".into(),
                mac,
            },
            Key::Target {
                room: "meeting room".into(),
                quantity: Quantity::Temperature,
            },
            Key::Alert {
                room: "lobby".into(),
                quantity: Quantity::Sound,
            },
            Key::Sensor {
                node: NodeId(5),
                sensor: "desk".into(),
            },
        ];
        for key in keys {
            let text = key.to_string();
            assert_eq!(text.parse::<Key>(), Ok(key.clone()), "{text}");
            assert!(text.starts_with(key.kind()));
        }
    }

    #[test]
    fn rejects_bad_keys_and_labels() {
        for bad in [
            "",
            "node",
            "node/xyz",
            "person/a/b/c",
            "reading/0000000000000005/desk/light",
            "nope/x",
        ] {
            assert!(bad.parse::<Key>().is_err(), "{bad}");
        }
        assert!(validate_label("room", "a/b").is_err());
        assert!(validate_label("room", " ").is_err());
        assert!(validate_label("room", &"x".repeat(65)).is_err());
        assert!(validate_label("room", "meeting room 2").is_ok());
    }
}
