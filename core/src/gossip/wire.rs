//! The wire form of replicated entries, per gossip protocol version. Used by `message::Chunk`
//! through `#[serde(with = "wire::entries")]`; `codec` picks the version around each encode
//! and decode (`with_protocol`).
//!
//! - Protocol 1 (the release before versioning): `Value` is an internally tagged enum
//!   (`"kind"`, for the JSON API), which postcard cannot decode, so it travels as an externally
//!   tagged mirror, `WireValue`, and the key as `Key`. An unknown kind cannot be skipped (no
//!   lengths): a protocol-1 node refuses the whole message. Entries of kinds it does not know
//!   (`Key::Opaque`, and kinds added since: `opaque::PROTOCOL_1_KEY_KINDS`) are therefore
//!   withheld from it.
//! - Protocol 2: key and value as their canonical bytes (`state::opaque`), length-prefixed, so
//!   a kind the receiver does not know is kept as bytes.
//! - Protocol 3: as 2, plus two fields that older protocols do not have and that encode to
//!   nothing in them (`skipped`: a chunk's skipped versions with their replacing writes;
//!   `collected`: a `Reset`'s collected ledger), so a message to an older peer is byte for
//!   byte what that peer expects.
//!
//! Pure data conversion. Must not touch: anything but the types it converts.

use std::cell::Cell;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crdt::Stamp;
use crate::gossip::message::Skipped;
use crate::state::opaque::{self, key_bytes, value_bytes};
use crate::state::{
    AlertValue, AttendanceValue, DeviceCount, Entry, Key, MacSeen, NodeInfo, PersonInfo,
    ReadingValue, SensorHealth, TargetValue, Value,
};

thread_local! {
    /// The protocol the message being encoded or decoded on this thread speaks.
    static PROTOCOL: Cell<u8> = const { Cell::new(super::codec::PROTOCOL_VERSION) };
}

/// Runs `f` (one postcard encode or decode) with entries in protocol `protocol`'s form.
pub(crate) fn with_protocol<T>(protocol: u8, f: impl FnOnce() -> T) -> T {
    let previous = PROTOCOL.with(|p| p.replace(protocol));
    let out = f();
    PROTOCOL.with(|p| p.set(previous));
    out
}

fn protocol() -> u8 {
    PROTOCOL.with(Cell::get)
}

/// `Value`, externally tagged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum WireValue {
    Node(NodeInfo),
    Reading(ReadingValue),
    Mac(MacSeen),
    Person(PersonInfo),
    Target(TargetValue),
    Alert(AlertValue),
    Devices(DeviceCount),
    Attendance(AttendanceValue),
    Sensor(SensorHealth),
}

impl WireValue {
    /// `None` for an opaque value (protocol 1 has no form for it).
    fn legacy(value: Value) -> Option<Self> {
        Some(match value {
            Value::Node(v) => WireValue::Node(v),
            Value::Reading(v) => WireValue::Reading(v),
            Value::Mac(v) => WireValue::Mac(v),
            Value::Person(v) => WireValue::Person(v),
            Value::Target(v) => WireValue::Target(v),
            Value::Alert(v) => WireValue::Alert(v),
            Value::Devices(v) => WireValue::Devices(v),
            Value::Attendance(v) => WireValue::Attendance(v),
            Value::Sensor(v) => WireValue::Sensor(v),
            // Kinds after protocol 1's nine have no form there.
            Value::ChatAdapter(_) | Value::Opaque(_) => return None,
        })
    }
}

impl From<WireValue> for Value {
    fn from(value: WireValue) -> Self {
        match value {
            WireValue::Node(v) => Value::Node(v),
            WireValue::Reading(v) => Value::Reading(v),
            WireValue::Mac(v) => Value::Mac(v),
            WireValue::Person(v) => Value::Person(v),
            WireValue::Target(v) => Value::Target(v),
            WireValue::Alert(v) => Value::Alert(v),
            WireValue::Devices(v) => Value::Devices(v),
            WireValue::Attendance(v) => Value::Attendance(v),
            WireValue::Sensor(v) => Value::Sensor(v),
        }
    }
}

/// `Entry` with its value in wire form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WireEntry {
    key: Key,
    value: Option<WireValue>,
    stamp: Stamp,
    version: u64,
}

impl WireEntry {
    /// `None` for an entry of a kind protocol 1 does not know.
    fn legacy(entry: &Entry) -> Option<Self> {
        if opaque::protocol_needed(&entry.key) > 1 {
            return None;
        }
        let value = match entry.value.clone() {
            None => None,
            Some(value) => Some(WireValue::legacy(value)?),
        };
        Some(WireEntry {
            key: entry.key.clone(),
            value,
            stamp: entry.stamp,
            version: entry.version,
        })
    }
}

/// `Entry` in protocol 2: canonical key and value bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WireEntryV2 {
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    stamp: Stamp,
    version: u64,
}

impl From<&Entry> for WireEntryV2 {
    fn from(entry: &Entry) -> Self {
        WireEntryV2 {
            key: key_bytes(&entry.key),
            value: entry.value.as_ref().map(value_bytes),
            stamp: entry.stamp,
            version: entry.version,
        }
    }
}

impl TryFrom<WireEntryV2> for Entry {
    type Error = opaque::OpaqueError;

    fn try_from(wire: WireEntryV2) -> Result<Self, Self::Error> {
        let key = opaque::key_from_bytes(&wire.key)?;
        let value = match wire.value {
            None => None,
            Some(bytes) => Some(opaque::value_from_bytes(&key, &bytes)?),
        };
        Ok(Entry {
            key,
            value,
            stamp: wire.stamp,
            version: wire.version,
        })
    }
}

impl From<WireEntry> for Entry {
    fn from(entry: WireEntry) -> Self {
        Entry {
            key: entry.key,
            value: entry.value.map(Value::from),
            stamp: entry.stamp,
            version: entry.version,
        }
    }
}

/// The encoded size of one entry on the wire (for delta budgets; protocol 2's form, within
/// a few bytes of protocol 1's).
pub fn entry_size(entry: &Entry) -> usize {
    postcard::experimental::serialized_size(&WireEntryV2::from(entry)).unwrap_or(usize::MAX)
}

/// `#[serde(with = "wire::entries")]` for `Vec<Entry>`, in the form of the protocol set by
/// `with_protocol`.
pub mod entries {
    use super::*;

    pub fn serialize<S: Serializer>(entries: &[Entry], serializer: S) -> Result<S::Ok, S::Error> {
        if protocol() == 1 {
            let legacy: Vec<WireEntry> = entries.iter().filter_map(WireEntry::legacy).collect();
            return legacy.serialize(serializer);
        }
        serializer.collect_seq(entries.iter().map(WireEntryV2::from))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Entry>, D::Error> {
        if protocol() == 1 {
            let wire = Vec::<WireEntry>::deserialize(deserializer)?;
            return Ok(wire.into_iter().map(Entry::from).collect());
        }
        Vec::<WireEntryV2>::deserialize(deserializer)?
            .into_iter()
            .map(|wire| Entry::try_from(wire).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// The first protocol with `Chunk::skipped` and `Body::Reset`'s `collected`.
pub const SKIPPED_SINCE: u8 = 3;

/// A field that exists from protocol `SKIPPED_SINCE` on: in older protocols it is written as
/// nothing (postcard's unit) and read back empty.
fn gated_serialize<S: Serializer, T: Serialize>(
    value: T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if protocol() < SKIPPED_SINCE {
        return serializer.serialize_unit();
    }
    value.serialize(serializer)
}

fn gated_deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    if protocol() < SKIPPED_SINCE {
        <()>::deserialize(deserializer)?;
        return Ok(T::default());
    }
    T::deserialize(deserializer)
}

/// `#[serde(with = "wire::skipped")]` for `Chunk::skipped` (protocol 3 on).
pub mod skipped {
    use super::*;

    pub fn serialize<S: Serializer>(skipped: &[Skipped], serializer: S) -> Result<S::Ok, S::Error> {
        let wire: Vec<(u64, WireEntryV2)> = skipped
            .iter()
            .map(|s| (s.version, WireEntryV2::from(&s.by)))
            .collect();
        gated_serialize(wire, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Skipped>, D::Error> {
        let wire: Vec<(u64, WireEntryV2)> = gated_deserialize(deserializer)?;
        wire.into_iter()
            .map(|(version, by)| {
                Entry::try_from(by)
                    .map(|by| Skipped { version, by })
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// `#[serde(with = "wire::collected")]` for a `Reset`'s ledger (protocol 3 on): canonical key
/// bytes and stamps.
pub mod collected {
    use super::*;

    pub fn serialize<S: Serializer>(
        ledger: &[(Key, Stamp)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let wire: Vec<(Vec<u8>, Stamp)> = ledger
            .iter()
            .map(|(key, stamp)| (key_bytes(key), *stamp))
            .collect();
        gated_serialize(wire, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(Key, Stamp)>, D::Error> {
        let wire: Vec<(Vec<u8>, Stamp)> = gated_deserialize(deserializer)?;
        wire.into_iter()
            .map(|(key, stamp)| {
                opaque::key_from_bytes(&key)
                    .map(|key| (key, stamp))
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}
