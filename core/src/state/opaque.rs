//! Entries of key kinds this build does not know (added by a later release): their key and
//! value travel as the bytes the writer encoded, and are stored, merged by stamp, hashed and
//! passed on unchanged. Also the canonical bytes of every key and value (`key_bytes`,
//! `value_bytes`): the state hash, the equal-stamp tie-break and the gossip wire (protocol 2)
//! all use them, so a node that knows a kind and one that does not agree on every entry.
//!
//! Canonical bytes: a key is its postcard encoding (the kind's variant index first); a value is
//! its postcard encoding in the internally tagged form (the kind's name first, then the
//! fields). Pure data conversion. Must not touch: the replica, the wire messages.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Key, Value};

/// How many key kinds this build knows: variant indexes `0..KNOWN_KEY_KINDS` of `Key`.
pub const KNOWN_KEY_KINDS: u32 = 10;
/// The key kinds protocol 1 (the release before versioning) knows: indexes `0..9`; entries
/// of later kinds are withheld from protocol-1 peers as opaque ones are. Withholding alone
/// leaves holes (an old node's watermark passes what it was not sent), so the agent writes
/// such a kind only while every member speaks protocol 2 or later ([`protocol_needed`], checked
/// by its `StateHandle::write` with `MeshView::all_members_speak`, docs/deploy.md "Upgrading an
/// office").
pub const PROTOCOL_1_KEY_KINDS: u32 = 9;
/// The largest opaque key or value accepted, in bytes.
pub const MAX_OPAQUE_BYTES: usize = 4096;

/// A key of a kind this build does not know: its canonical bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpaqueKey(pub Vec<u8>);

/// The value of an opaque key: its canonical bytes (stored as hex in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpaqueValue {
    #[serde(with = "hex_bytes")]
    pub bytes: Vec<u8>,
}

/// Canonical bytes that are not a key or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpaqueError {
    #[error("entry key is malformed: {0}")]
    Key(String),
    #[error("entry value is malformed: {0}")]
    Value(String),
    #[error("opaque entry of {0} bytes is over the {MAX_OPAQUE_BYTES}-byte limit")]
    TooLarge(usize),
}

impl OpaqueKey {
    /// The kind's variant index (the first varint of the bytes).
    pub fn kind_index(&self) -> u32 {
        postcard::take_from_bytes::<u32>(&self.0).map_or(u32::MAX, |(index, _)| index)
    }
}

/// The oldest gossip protocol that carries `key`'s kind to a peer: 1 for the kinds protocol 1
/// knows, 2 for later ones (withheld from protocol-1 peers). The agent writes a key only while
/// every member speaks this protocol (`StateHandle::write`).
pub fn protocol_needed(key: &Key) -> u16 {
    if key_kind_index(key) < PROTOCOL_1_KEY_KINDS {
        1
    } else {
        2
    }
}

/// The variant index of a key's kind (the first varint of its canonical bytes).
pub fn key_kind_index(key: &Key) -> u32 {
    match key {
        Key::Opaque(opaque) => opaque.kind_index(),
        known => OpaqueKey(postcard::to_allocvec(known).unwrap_or_default()).kind_index(),
    }
}

/// The canonical bytes of a key.
pub fn key_bytes(key: &Key) -> Vec<u8> {
    match key {
        Key::Opaque(opaque) => opaque.0.clone(),
        known => postcard::to_allocvec(known).unwrap_or_default(),
    }
}

/// The canonical bytes of a value.
pub fn value_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::Opaque(opaque) => opaque.bytes.clone(),
        known => postcard::to_allocvec(known).unwrap_or_default(),
    }
}

/// `Option<Value>` in canonical bytes, as postcard encodes an option.
pub fn option_value_bytes(value: &Option<Value>) -> Vec<u8> {
    match value {
        None => vec![0],
        Some(value) => {
            let mut out = vec![1];
            out.extend(value_bytes(value));
            out
        }
    }
}

/// A key from its canonical bytes: a known kind must decode exactly, another is opaque.
pub fn key_from_bytes(bytes: &[u8]) -> Result<Key, OpaqueError> {
    let (index, _) =
        postcard::take_from_bytes::<u32>(bytes).map_err(|e| OpaqueError::Key(e.to_string()))?;
    if index >= KNOWN_KEY_KINDS {
        if bytes.len() > MAX_OPAQUE_BYTES {
            return Err(OpaqueError::TooLarge(bytes.len()));
        }
        return Ok(Key::Opaque(OpaqueKey(bytes.to_vec())));
    }
    exact::<Key>(bytes, OpaqueError::Key)
}

/// The value of `key` from its canonical bytes: opaque for an opaque key, else the kind named
/// first says which fields follow, and they must decode exactly.
pub fn value_from_bytes(key: &Key, bytes: &[u8]) -> Result<Value, OpaqueError> {
    if let Key::Opaque(_) = key {
        if bytes.len() > MAX_OPAQUE_BYTES {
            return Err(OpaqueError::TooLarge(bytes.len()));
        }
        return Ok(Value::Opaque(OpaqueValue {
            bytes: bytes.to_vec(),
        }));
    }
    let (kind, rest) = postcard::take_from_bytes::<String>(bytes)
        .map_err(|e| OpaqueError::Value(e.to_string()))?;
    let value = match kind.as_str() {
        "node" => Value::Node(exact(rest, OpaqueError::Value)?),
        "reading" => Value::Reading(exact(rest, OpaqueError::Value)?),
        "mac" => Value::Mac(exact(rest, OpaqueError::Value)?),
        "person" => Value::Person(exact(rest, OpaqueError::Value)?),
        "target" => Value::Target(exact(rest, OpaqueError::Value)?),
        "alert" => Value::Alert(exact(rest, OpaqueError::Value)?),
        "devices" => Value::Devices(exact(rest, OpaqueError::Value)?),
        "attendance" => Value::Attendance(exact(rest, OpaqueError::Value)?),
        "sensor" => Value::Sensor(exact(rest, OpaqueError::Value)?),
        "chat_adapter" => Value::ChatAdapter(exact(rest, OpaqueError::Value)?),
        other => return Err(OpaqueError::Value(format!("unknown kind {other:?}"))),
    };
    Ok(value)
}

/// `T` from all of `bytes` (trailing bytes refused); a failure is `what` (key or value).
fn exact<T: DeserializeOwned>(
    bytes: &[u8],
    what: fn(String) -> OpaqueError,
) -> Result<T, OpaqueError> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| what(e.to_string()))?;
    if !rest.is_empty() {
        return Err(what(format!("{} trailing bytes", rest.len())));
    }
    Ok(value)
}

/// Lowercase hex, for opaque bytes in text (the key's text form, JSON).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The reverse of [`to_hex`].
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

mod hex_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&to_hex(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        from_hex(&text).ok_or_else(|| serde::de::Error::custom("opaque bytes must be hex"))
    }
}

#[cfg(test)]
#[path = "opaque_tests.rs"]
mod tests;
