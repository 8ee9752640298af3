//! The wire form of replicated entries. `Value` is an internally tagged enum (`"kind"`, for the
//! JSON API), which postcard cannot decode; on the wire it travels as an externally tagged
//! mirror, `WireValue`. Used by `message::Chunk` through `#[serde(with = "wire::entries")]`.
//!
//! Pure data conversion. Must not touch: anything but the types it converts.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crdt::Stamp;
use crate::state::{
    AlertValue, AttendanceValue, DeviceCount, Entry, Key, MacSeen, NodeInfo, PersonInfo,
    ReadingValue, TargetValue, Value,
};

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
}

impl From<Value> for WireValue {
    fn from(value: Value) -> Self {
        match value {
            Value::Node(v) => WireValue::Node(v),
            Value::Reading(v) => WireValue::Reading(v),
            Value::Mac(v) => WireValue::Mac(v),
            Value::Person(v) => WireValue::Person(v),
            Value::Target(v) => WireValue::Target(v),
            Value::Alert(v) => WireValue::Alert(v),
            Value::Devices(v) => WireValue::Devices(v),
            Value::Attendance(v) => WireValue::Attendance(v),
        }
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

impl From<&Entry> for WireEntry {
    fn from(entry: &Entry) -> Self {
        WireEntry {
            key: entry.key.clone(),
            value: entry.value.clone().map(WireValue::from),
            stamp: entry.stamp,
            version: entry.version,
        }
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

/// The encoded size of one entry on the wire (for delta budgets).
pub fn entry_size(entry: &Entry) -> usize {
    postcard::experimental::serialized_size(&WireEntry::from(entry)).unwrap_or(usize::MAX)
}

/// `#[serde(with = "wire::entries")]` for `Vec<Entry>`.
pub mod entries {
    use super::*;

    pub fn serialize<S: Serializer>(entries: &[Entry], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(entries.iter().map(WireEntry::from))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Entry>, D::Error> {
        let wire = Vec::<WireEntry>::deserialize(deserializer)?;
        Ok(wire.into_iter().map(Entry::from).collect())
    }
}
