//! `NodeId` (a node's stable identity) and `Stamp` (HLC time + node id, totally ordered).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A node's identity: random at first start, kept in the data directory, stable across restarts
/// (so digests do not grow with every restart). Printed as 16 hex digits; serialized as that
/// text in human-readable formats (JSON) and as a plain u64 in binary ones (the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u64);

impl Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_u64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            u64::deserialize(deserializer).map(NodeId)
        }
    }
}

/// Text that is not a node id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a node id (expected 16 hex digits)")]
pub struct NodeIdParseError(pub String);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for NodeId {
    type Err = NodeIdParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != 16 {
            return Err(NodeIdParseError(text.to_string()));
        }
        u64::from_str_radix(text, 16)
            .map(NodeId)
            .map_err(|_| NodeIdParseError(text.to_string()))
    }
}

/// A hybrid logical clock timestamp: `time` is NTP64 (upper 32 bits: seconds since the Unix
/// epoch, lower 32 bits: fraction, whose low bits the HLC uses as a counter), `node` breaks ties.
/// Ordered by time, then node: two different writes never compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    pub time: u64,
    pub node: NodeId,
}

impl Stamp {
    /// The smallest stamp; every real write is above it.
    pub const ZERO: Stamp = Stamp {
        time: 0,
        node: NodeId(0),
    };

    pub fn new(time: u64, node: NodeId) -> Self {
        Stamp { time, node }
    }

    /// Builds an NTP64 time from milliseconds since the Unix epoch.
    pub fn time_from_unix_ms(unix_ms: u64) -> u64 {
        let secs = unix_ms / 1000;
        let frac_ms = unix_ms % 1000;
        // Rounded up, so that `unix_ms` (which rounds down) gives back exactly `unix_ms`.
        (secs << 32) | ((frac_ms << 32).div_ceil(1000))
    }

    /// This stamp's time as milliseconds since the Unix epoch (the HLC counter bits drop out).
    pub fn unix_ms(&self) -> u64 {
        let secs = self.time >> 32;
        let frac = self.time & 0xffff_ffff;
        secs * 1000 + ((frac * 1000) >> 32)
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.unix_ms(), self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_round_trips_through_text() {
        let id = NodeId(0x00ab_cdef_0123_4567);
        assert_eq!(id.to_string(), "00abcdef01234567");
        assert_eq!("00abcdef01234567".parse::<NodeId>(), Ok(id));
        assert!("xyz".parse::<NodeId>().is_err());
        assert!("00abcdef0123456g".parse::<NodeId>().is_err());
    }

    #[test]
    fn node_id_is_hex_in_json_and_a_number_on_the_wire() {
        let id = NodeId(0x1234);
        assert_eq!(
            serde_json::to_string(&id).expect("json"),
            "\"0000000000001234\""
        );
        let back: NodeId = serde_json::from_str("\"0000000000001234\"").expect("json");
        assert_eq!(back, id);
        let wire = postcard::to_allocvec(&id).expect("postcard");
        assert_eq!(postcard::from_bytes::<NodeId>(&wire).expect("postcard"), id);
        assert!(wire.len() <= 3, "varint on the wire");
    }

    #[test]
    fn unix_ms_round_trips() {
        for ms in [0u64, 1, 999, 1_000, 1_763_900_000_123] {
            assert_eq!(
                Stamp::new(Stamp::time_from_unix_ms(ms), NodeId(1)).unix_ms(),
                ms
            );
        }
    }

    #[test]
    fn node_breaks_ties_and_time_dominates() {
        let a = Stamp::new(10, NodeId(2));
        let b = Stamp::new(10, NodeId(3));
        let c = Stamp::new(11, NodeId(1));
        assert!(a < b && b < c);
    }
}
