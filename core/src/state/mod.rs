//! The replicated state model: `Key → Entry`, where each entry is a last-writer-wins register
//! (by HLC `Stamp`) carrying the per-origin version that scuttlebutt digests and deltas use.
//!
//! - [`key`]: the typed key space (`node/…`, `reading/…`, `mac/…`, `person/…`, `target/…`,
//!   `alert/…`, `devices/…`, `attendance/…`) and its text form.
//! - [`value`]: what each key holds.
//! - [`replica`]: `Replica`, one node's copy: local writes, merges, watermarks, deltas, hash,
//!   tombstone GC, and the change set the store persists.
//! - [`opaque`]: entries of kinds this build does not know, kept as bytes; the canonical
//!   bytes of keys and values (hash, tie-break, wire).
//! - [`limits`]: the bounds of every field, checked once at the state's door.
//! - [`own_clock`]: whether this node's own clock runs ahead of its peers' (their readings
//!   all arrive old).
//! - [`safety`]: `SafetyState`, the GC floors and reset progress persisted with the replica.
//! - [`query`]: read-only answers over a replica (presence, readings, people, network).
//! - [`presence`]: the unknown-device count, the subnet sweeper, attendance (history).
//!
//! Pure: no sockets, no SQLite, no wall clock (times are passed in).

pub mod key;
pub mod limits;
pub mod opaque;
pub mod own_clock;
pub mod presence;
pub mod query;
pub mod replica;
pub mod safety;
pub mod value;

pub use key::Key;
pub use replica::{
    ChangeSet, Digest, Entry, Replica, RestampPlan, StagedWrite, StaleWrite, StateHash,
};
pub use safety::{OwnRefetch, SafetyState};
pub use value::{
    AlertValue, AttendanceValue, ChatAdapterState, DeviceCount, MacSeen, NodeInfo, PersonInfo,
    ReadingStatus, ReadingValue, SensorHealth, SensorState, TargetValue, Value,
};
