//! The key space of the replicated state, typed, with a stable text form used in SQLite and logs.
//!
//! | key | written by |
//! |---|---|
//! | `node/<id>` | that node |
//! | `reading/<node>/<sensor>/<quantity>` | that node |
//! | `mac/<mac>/<observer>` | the observing node, for registered people's devices only |
//! | `person/<name>/<mac>` | any node (chat claim link, API) |
//! | `devices/<observer>` | the observing node: how many unknown devices it sees (no MACs) |
//! | `attendance/<name>/<day>` | a node that saw the person (only with `presence.history_days`) |
//! | `target/<room>/<quantity>` | any node |
//! | `alert/<room>/<quantity>` | any node |
//! | `sensor/<node>/<sensor>` | that node (sensor health) |
//! | `opaque/<hex>` | a kind of a later release, kept as bytes (`state::opaque`) |

use std::fmt;
use std::str::FromStr;

use officemesh_types::{MacAddr, Quantity};
use serde::{Deserialize, Serialize};

use super::opaque::{self, OpaqueKey};
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
    /// How many devices nobody registered `observer` sees now: a count, never a MAC.
    Devices {
        observer: NodeId,
    },
    /// One registered person's first and last sighting on one UTC day (`YYYY-MM-DD`).
    Attendance {
        name: String,
        day: String,
    },
    Sensor {
        node: NodeId,
        sensor: String,
    },
    /// Whether `node`'s adapter for a chat `platform` (`slack`, `matrix`, `mattermost`) is
    /// connected: the nodes that take turns answering (and hold Slack's sockets) are those.
    /// Unknown to protocol 1 (withheld from it, `gossip::wire`).
    ChatAdapter {
        node: NodeId,
        platform: String,
    },
    /// A kind this build does not know (a later release's): stored, merged and passed on as
    /// bytes, answered nowhere. Never serialized by serde (its bytes are `opaque::key_bytes`);
    /// it must stay the last variant, after the `opaque::KNOWN_KEY_KINDS` known ones.
    #[serde(skip)]
    Opaque(OpaqueKey),
}

/// A person, room or sensor name that cannot be used as part of a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} '{text}' is longer than {MAX_LABEL_CHARS} characters")]
    TooLong { what: &'static str, text: String },
    #[error(
        "{what} '{text}' must not contain '/', control, zero-width or bidirectional characters"
    )]
    BadCharacter { what: &'static str, text: String },
}

/// The most characters a label (person, room, sensor or node name) may have.
pub const MAX_LABEL_CHARS: usize = 64;

/// True for characters no text in the state may hold: control characters, zero-width
/// characters and bidirectional overrides (which make a name look like another one).
pub fn is_hidden_character(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{061C}'
                | '\u{FEFF}'
                | '\u{00AD}'
        )
}

/// The first characters of `text`, for an error message that must stay short.
pub fn preview(text: &str) -> String {
    const SHOWN: usize = 40;
    if text.chars().count() <= SHOWN {
        text.to_string()
    } else {
        let head: String = text.chars().take(SHOWN).collect();
        format!("{head}…")
    }
}

/// A label as people mean it: surrounding whitespace trimmed, inner runs of whitespace made one
/// space (so "Ada  Lovelace" and "Ada Lovelace" are one person).
pub fn normalize_label(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks a label (`what` says which, for the message): 1–64 characters, no `/`, no control,
/// zero-width or bidirectional characters. Surrounding whitespace is the caller's to trim
/// (`normalize_label`).
pub fn validate_label(what: &'static str, text: &str) -> Result<(), LabelError> {
    if text.trim().is_empty() {
        return Err(LabelError::Empty { what });
    }
    if text.chars().count() > MAX_LABEL_CHARS {
        return Err(LabelError::TooLong {
            what,
            text: preview(text),
        });
    }
    if text.chars().any(|c| c == '/' || is_hidden_character(c)) {
        return Err(LabelError::BadCharacter {
            what,
            text: preview(text),
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
            Key::Devices { .. } => "devices",
            Key::Attendance { .. } => "attendance",
            Key::Sensor { .. } => "sensor",
            Key::ChatAdapter { .. } => "chat_adapter",
            Key::Opaque(_) => "opaque",
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
            Key::Devices { observer } => write!(f, "devices/{observer}"),
            Key::Attendance { name, day } => write!(f, "attendance/{name}/{day}"),
            Key::Sensor { node, sensor } => write!(f, "sensor/{node}/{sensor}"),
            Key::ChatAdapter { node, platform } => write!(f, "chat_adapter/{node}/{platform}"),
            Key::Opaque(key) => write!(f, "opaque/{}", opaque::to_hex(&key.0)),
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
            ["devices", observer] => Ok(Key::Devices {
                observer: node(observer)?,
            }),
            ["attendance", name, day] if is_day(day) => Ok(Key::Attendance {
                name: label(name)?,
                day: day.to_string(),
            }),
            ["sensor", n, sensor] => Ok(Key::Sensor {
                node: node(n)?,
                sensor: label(sensor)?,
            }),
            ["chat_adapter", n, platform] => Ok(Key::ChatAdapter {
                node: node(n)?,
                platform: label(platform)?,
            }),
            // Stored by a build that did not know the kind; this one may (then it is typed).
            ["opaque", hex] => opaque::from_hex(hex)
                .and_then(|bytes| opaque::key_from_bytes(&bytes).ok())
                .ok_or_else(err),
            _ => Err(err()),
        }
    }
}

/// `YYYY-MM-DD`: the day part of an attendance key.
pub fn is_day(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        })
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
            Key::Devices {
                observer: NodeId(7),
            },
            Key::Attendance {
                name: "ada".into(),
                day: "2026-12-03".into(),
            },
            Key::Sensor {
                node: NodeId(5),
                sensor: "desk".into(),
            },
            Key::ChatAdapter {
                node: NodeId(5),
                platform: "slack".into(),
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
            "attendance/ada/yesterday",
        ] {
            assert!(bad.parse::<Key>().is_err(), "{bad}");
        }
        assert!(validate_label("room", "a/b").is_err());
        assert!(validate_label("room", " ").is_err());
        assert!(validate_label("room", &"x".repeat(65)).is_err());
        assert!(validate_label("room", "meeting room 2").is_ok());
        assert!(validate_label("name", "Ada\u{200B}").is_err());
        assert!(validate_label("name", "\u{202E}evil").is_err());
        assert_eq!(normalize_label("  Ada \t Lovelace "), "Ada Lovelace");
        let long = validate_label("name", &"x".repeat(100_000)).expect_err("too long");
        assert!(long.to_string().len() < 200, "{long}");
    }
}
