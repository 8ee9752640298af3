//! The bounds of everything that enters the replicated state: one check at the state's door
//! (`check_entry`, plus `check_person_devices` with the replica at hand), so the API, chat, MQTT,
//! config and gossip all refuse the same things with the same message naming the limit.
//! Gossip refuses peers' entries that break them and skips own entries too large to send.
//!
//! Why: one oversized entry cannot be gossiped (a frame holds at most 1 MiB) and used to stall
//! its origin for good. The limits here are far below that; `docs/api.md` lists them.
//! Pure: no I/O. Must not touch the replica's bookkeeping (it only reads it).

use officemesh_types::{MacAddr, Quantity};

use super::key::{is_hidden_character, normalize_label, preview, validate_label};
use super::{Key, Replica, Value};

/// The largest encoded entry (key, value, stamp) the state holds; gossip skips larger ones
/// rather than stall behind them, and refuses them from peers.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024;
/// Free text that names something (`added_by`, a reading's unit and room, a node's version).
pub const MAX_SHORT_TEXT_CHARS: usize = 64;
/// Addresses (`gossip_addr`, `api_addr`, a device's IP).
pub const MAX_ADDRESS_CHARS: usize = 255;
/// An alert's message.
pub const MAX_MESSAGE_CHARS: usize = 1000;
/// Devices one person may register.
pub const MAX_DEVICES_PER_PERSON: usize = 16;

/// A write that breaks a limit: which field, and the limit it breaks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct LimitError {
    pub field: &'static str,
    pub problem: String,
}

fn refuse(field: &'static str, problem: impl Into<String>) -> LimitError {
    LimitError {
        field,
        problem: problem.into(),
    }
}

/// Targets outside these bounds are refused as typos (the chat bot uses the same ones).
pub fn target_range(quantity: Quantity) -> (f64, f64) {
    match quantity {
        Quantity::Temperature => (5.0, 35.0),
        Quantity::Humidity => (10.0, 90.0),
        Quantity::Sound => (20.0, 120.0),
        Quantity::SoundActivity => (0.0, 100.0),
    }
}

/// Checks free text: at most `max` characters, no control (except newlines and tabs when
/// `multiline`), zero-width or bidirectional characters.
pub fn check_text(
    field: &'static str,
    text: &str,
    max: usize,
    multiline: bool,
) -> Result<(), LimitError> {
    let count = text.chars().count();
    if count > max {
        return Err(refuse(
            field,
            format!("at most {max} characters (got {count})"),
        ));
    }
    let allowed = |c: char| multiline && (c == '\n' || c == '\t');
    if text.chars().any(|c| is_hidden_character(c) && !allowed(c)) {
        return Err(refuse(
            field,
            format!(
                "'{}' holds control, zero-width or bidirectional characters",
                preview(text)
            ),
        ));
    }
    Ok(())
}

/// A label must be valid and normalized (`normalize_label`), so "Ada  Lovelace" and
/// "Ada Lovelace" can never be two people, whichever face wrote them. The agent's config load
/// uses it too, so a name is refused at load rather than on every write.
pub fn check_label(field: &'static str, text: &str) -> Result<(), LimitError> {
    validate_label(field, text).map_err(|e| refuse(field, e.to_string()))?;
    let normalized = normalize_label(text);
    if normalized != text {
        return Err(refuse(
            field,
            format!(
                "'{}' has surrounding or repeated whitespace; use '{}'",
                preview(text),
                preview(&normalized)
            ),
        ));
    }
    Ok(())
}

/// A device address a person can own: not all zeros, not broadcast, not multicast.
pub fn check_device_mac(mac: MacAddr) -> Result<(), LimitError> {
    if mac.0 == [0; 6] || mac.0 == [0xff; 6] {
        return Err(refuse(
            "mac",
            format!("{mac} is not the address of a device"),
        ));
    }
    if mac.is_multicast() {
        return Err(refuse(
            "mac",
            format!("{mac} is a multicast address, not a device"),
        ));
    }
    Ok(())
}

fn check_key(key: &Key) -> Result<(), LimitError> {
    match key {
        Key::Node(_) | Key::Mac { .. } => Ok(()),
        Key::Reading { sensor, .. } => check_label("sensor name", sensor),
        Key::Person { name, mac } => {
            check_label("name", name)?;
            check_device_mac(*mac)
        }
        Key::Target { room, .. } | Key::Alert { room, .. } => check_label("room", room),
        Key::Devices { .. } => Ok(()),
        Key::Sensor { sensor, .. } => check_label("sensor name", sensor),
        Key::ChatAdapter { platform, .. } => check_label("platform", platform),
        // A later release's kind: its writer checked it; the size is checked below.
        Key::Opaque(_) => Ok(()),
        Key::Attendance { name, day } => {
            check_label("name", name)?;
            check_text("day", day, MAX_SHORT_TEXT_CHARS, false)
        }
    }
}

fn check_value(key: &Key, value: &Value) -> Result<(), LimitError> {
    match value {
        Value::Node(info) => {
            check_label("node.name", &info.name)?;
            check_label("node.room", &info.room)?;
            check_text("gossip_addr", &info.gossip_addr, MAX_ADDRESS_CHARS, false)?;
            check_text("api_addr", &info.api_addr, MAX_ADDRESS_CHARS, false)?;
            check_text("version", &info.version, MAX_SHORT_TEXT_CHARS, false)
        }
        Value::Reading(reading) => {
            if !reading.value.is_finite() {
                return Err(refuse("value", "must be a finite number"));
            }
            check_text("unit", &reading.unit, MAX_SHORT_TEXT_CHARS, false)?;
            check_text("room", &reading.room, MAX_SHORT_TEXT_CHARS, false)
        }
        Value::Mac(seen) => check_text("ip", &seen.ip, MAX_ADDRESS_CHARS, false),
        Value::Person(person) => {
            check_text("added_by", &person.added_by, MAX_SHORT_TEXT_CHARS, false)
        }
        Value::Target(target) => {
            let quantity = match key {
                Key::Target { quantity, .. } => *quantity,
                _ => return Err(refuse("target", "a target value belongs under target/…")),
            };
            let (low, high) = target_range(quantity);
            if !target.value.is_finite() || !(low..=high).contains(&target.value) {
                return Err(refuse(
                    "value",
                    format!(
                        "a {} target must be between {low} and {high} {}",
                        quantity.as_str(),
                        quantity.unit()
                    ),
                ));
            }
            let widest = high - low;
            if !target.tolerance.is_finite() || !(0.0..=widest).contains(&target.tolerance) {
                return Err(refuse(
                    "tolerance",
                    format!("must be between 0 and {widest} {}", quantity.unit()),
                ));
            }
            Ok(())
        }
        Value::Alert(alert) => check_text("message", &alert.message, MAX_MESSAGE_CHARS, true),
        Value::Devices(count) => {
            check_text("subnet", &count.subnet, MAX_ADDRESS_CHARS, false)?;
            check_text("room", &count.room, MAX_SHORT_TEXT_CHARS, false)
        }
        Value::Attendance(_) => Ok(()),
        Value::Sensor(health) => {
            check_text("driver", &health.driver, MAX_SHORT_TEXT_CHARS, false)?;
            check_text("error", &health.error, MAX_MESSAGE_CHARS, true)
        }
        Value::ChatAdapter(_) => Ok(()),
        Value::Opaque(_) if matches!(key, Key::Opaque(_)) => Ok(()),
        Value::Opaque(_) => Err(refuse("value", "opaque bytes under a known kind of key")),
    }
}

/// Checks one entry's key and value against every per-field limit and the encoded size.
pub fn check_entry(key: &Key, value: Option<&Value>) -> Result<(), LimitError> {
    check_key(key)?;
    if let Some(value) = value {
        check_value(key, value)?;
    }
    // As postcard encodes `(key, Option<value>)`: the option's tag byte included.
    let size = super::opaque::key_bytes(key).len()
        + 1
        + value.map_or(0, |value| super::opaque::value_bytes(value).len());
    if size > MAX_ENTRY_BYTES {
        return Err(refuse(
            "entry",
            format!("at most {MAX_ENTRY_BYTES} bytes encoded (got {size})"),
        ));
    }
    Ok(())
}

/// A new device for a person must not take them past `MAX_DEVICES_PER_PERSON`.
pub fn check_person_devices(
    replica: &Replica,
    key: &Key,
    value: Option<&Value>,
) -> Result<(), LimitError> {
    let (Key::Person { name, .. }, Some(_)) = (key, value) else {
        return Ok(());
    };
    if replica.value(key).is_some() {
        return Ok(());
    }
    let held = replica
        .live()
        .filter(|(k, _)| matches!(k, Key::Person { name: n, .. } if n == name))
        .count();
    if held >= MAX_DEVICES_PER_PERSON {
        return Err(refuse(
            "mac",
            format!("a person may register at most {MAX_DEVICES_PER_PERSON} devices"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{NodeId, Stamp};
    use crate::state::{PersonInfo, TargetValue};

    fn person(name: &str, mac: [u8; 6]) -> Key {
        Key::Person {
            name: name.into(),
            mac: MacAddr(mac),
        }
    }

    #[test]
    fn refuses_what_breaks_a_limit_and_names_it() {
        let key = person("ada", [2, 0, 0, 0, 0, 1]);
        let huge = Value::Person(PersonInfo {
            added_by: "x".repeat(1_500_000),
        });
        let err = check_entry(&key, Some(&huge)).expect_err("too long");
        assert_eq!(err.field, "added_by");
        assert!(err.to_string().contains("at most 64"), "{err}");
        assert!(err.to_string().len() < 200);

        let zero = person("ada", [0; 6]);
        assert!(check_entry(&zero, None).is_err());
        let bidi = person("ad\u{202E}a", [2, 0, 0, 0, 0, 1]);
        assert!(check_entry(&bidi, None).is_err());
        let spaced = person("Ada  Lovelace", [2, 0, 0, 0, 0, 1]);
        let err = check_entry(&spaced, None).expect_err("not normalized");
        assert!(err.to_string().contains("use 'Ada Lovelace'"), "{err}");

        let target = Key::Target {
            room: "lobby".into(),
            quantity: Quantity::Temperature,
        };
        let absurd = Value::Target(TargetValue {
            value: 1e308,
            tolerance: 1.0,
        });
        assert!(check_entry(&target, Some(&absurd)).is_err());
        let fine = Value::Target(TargetValue {
            value: 21.0,
            tolerance: 1.0,
        });
        assert!(check_entry(&target, Some(&fine)).is_ok());
    }

    #[test]
    fn caps_devices_per_person() {
        let me = NodeId(1);
        let mut replica = Replica::new(me);
        let value = Value::Person(PersonInfo {
            added_by: "api".into(),
        });
        for i in 0..MAX_DEVICES_PER_PERSON {
            let key = person("ada", [2, 0, 0, 0, 0, i as u8 + 1]);
            assert!(check_person_devices(&replica, &key, Some(&value)).is_ok());
            replica
                .write(key, Some(value.clone()), Stamp::new(i as u64 + 1, me))
                .expect("fresh");
        }
        let one_more = person("ada", [2, 0, 0, 0, 0, 99]);
        assert!(check_person_devices(&replica, &one_more, Some(&value)).is_err());
        let other = person("grace", [2, 0, 0, 0, 0, 99]);
        assert!(check_person_devices(&replica, &other, Some(&value)).is_ok());
    }
}
