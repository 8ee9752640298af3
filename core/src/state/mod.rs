//! The replicated state model: `Key → Entry`, where each entry is a last-writer-wins register
//! (by HLC `Stamp`) carrying the per-origin version that scuttlebutt digests and deltas use.
//!
//! - [`key`]: the typed key space (`node/…`, `reading/…`, `mac/…`, `person/…`, `target/…`,
//!   `alert/…`, `devices/…`, `attendance/…`) and its text form.
//! - [`value`]: what each key holds.
//! - [`replica`]: `Replica`, one node's copy: local writes, merges, watermarks, deltas, hash,
//!   tombstone GC, and the change set the store persists.
//! - [`limits`]: the bounds of every field, checked once at the state's door.
//! - [`query`]: read-only answers over a replica (presence, readings, people, network).
//! - [`presence`]: the unknown-device count, the subnet sweeper, attendance (history).
//!
//! Pure: no sockets, no SQLite, no wall clock (times are passed in).

pub mod key;
pub mod limits;
pub mod presence;
pub mod query;
pub mod replica;
pub mod value;

pub use key::{Key, KeyParseError, LabelError};
pub use limits::LimitError;
pub use replica::{ChangeSet, Digest, Entry, Replica, StagedWrite, StaleWrite, StateHash};
pub use value::{
    AlertValue, AttendanceValue, DeviceCount, MacSeen, NodeInfo, PersonInfo, ReadingStatus,
    ReadingValue, TargetValue, Value,
};
