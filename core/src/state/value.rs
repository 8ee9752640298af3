//! What each key of the replicated state holds. Times are milliseconds since the Unix epoch
//! as the writing node's HLC saw them.

use serde::{Deserialize, Serialize};

use super::opaque::OpaqueValue;
use crate::crdt::NodeId;

/// The value of a live entry (a deleted entry holds no value: it is a tombstone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Value {
    Node(NodeInfo),
    Reading(ReadingValue),
    Mac(MacSeen),
    Person(PersonInfo),
    Target(TargetValue),
    Alert(AlertValue),
    Devices(DeviceCount),
    Attendance(AttendanceValue),
    Sensor(SensorHealth),
    ChatAdapter(ChatAdapterState),
    /// The value of a `Key::Opaque` (a later release's kind), as bytes. Its canonical bytes
    /// are `opaque::value_bytes`, never serde's; it must stay the last variant.
    Opaque(OpaqueValue),
}

/// `node/<id>`: who a node is and how to reach it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    pub room: String,
    /// Address peers use for gossip (`gossip.advertise`).
    pub gossip_addr: String,
    /// Address of its HTTP API.
    pub api_addr: String,
    /// Agent version (`CARGO_PKG_VERSION`).
    pub version: String,
    pub started_at_ms: u64,
}

/// Whether a reading can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadingStatus {
    /// Read successfully at `taken_at_ms`.
    Ok,
    /// The last read failed; the value is the last good one.
    Stale,
}

/// `reading/<node>/<sensor>/<quantity>`: the latest value of one quantity of one sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingValue {
    pub value: f64,
    pub unit: String,
    /// The room of the node that took it, so queries by room need no join.
    pub room: String,
    pub status: ReadingStatus,
    pub taken_at_ms: u64,
}

/// `mac/<mac>/<observer>`: a device one node saw on the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MacSeen {
    pub ip: String,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Locally administered (randomized) MAC: presence by it is fragile.
    pub randomized: bool,
    /// The device counts as present until this time (0: `last_seen_ms` + `consider_home`, as
    /// before). The observer refreshes the entry only every `consider_home / 2`, so it sets this
    /// to cover the gap, and writes it down to the real departure when the device leaves.
    #[serde(default)]
    pub present_until_ms: u64,
}

impl MacSeen {
    /// Whether the device counts as present at `now_ms`.
    pub fn present_at(&self, now_ms: u64, consider_home_ms: u64) -> bool {
        if self.present_until_ms > 0 {
            now_ms <= self.present_until_ms
        } else {
            now_ms.saturating_sub(self.last_seen_ms) <= consider_home_ms
        }
    }
}

/// `devices/<observer>`: how many devices nobody registered one node sees, and where. Unknown
/// devices' MACs and addresses stay on the node that saw them; only this count travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceCount {
    /// The observer's subnet (`10.0.0.0/24`, `sim`): nodes on one subnet see the same devices,
    /// so the cluster-wide count is the sum over subnets of the largest count on each.
    pub subnet: String,
    pub room: String,
    /// Unknown devices present now (seen within `consider_home`).
    pub unknown: u64,
}

/// `attendance/<name>/<day>`: when a registered person was first and last seen that day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttendanceValue {
    pub first_in_ms: u64,
    pub last_in_ms: u64,
}

/// `person/<name>/<mac>`: a person said this device is theirs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonInfo {
    /// Who registered it (chat user, `api`, `cli`).
    pub added_by: String,
}

/// `target/<room>/<quantity>`: the band a room should stay in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetValue {
    pub value: f64,
    pub tolerance: f64,
}

/// `alert/<room>/<quantity>`: whether an alert is raised, deduplicated across nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertValue {
    pub raised: bool,
    pub by: NodeId,
    pub since_ms: u64,
    pub message: String,
}

/// Whether a configured sensor is working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorState {
    /// Opened and read successfully.
    Ok,
    /// Cannot be opened or read; the node retries with backoff.
    Failed,
}

/// `sensor/<node>/<sensor>`: the health of one configured sensor, written by its node when the
/// state or the error changes (not on every read), so other nodes see failed sensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorHealth {
    /// The driver as configured (`bme280`).
    pub driver: String,
    pub state: SensorState,
    /// Why it failed, naming the device and the fix; empty when ok.
    pub error: String,
    /// The last successful read before this change, if any.
    pub last_ok_ms: Option<u64>,
    /// When the state or error last changed.
    pub since_ms: u64,
}

/// `chat_adapter/<node>/<platform>`: whether that node's adapter is connected to the platform
/// (written by the node when it connects and when it stops being connected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatAdapterState {
    pub connected: bool,
    /// When it last changed.
    pub since_ms: u64,
}
