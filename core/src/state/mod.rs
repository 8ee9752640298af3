//! The replicated state model: `Key → Entry`, where each entry is a last-writer-wins register
//! (by HLC `Stamp`) carrying the per-origin version that scuttlebutt digests and deltas use.
//!
//! - [`key`]: the typed key space (`node/…`, `reading/…`, `mac/…`, `person/…`, `target/…`,
//!   `alert/…`) and its text form.
//! - [`value`]: what each key holds.
//! - [`replica`]: `Replica`, one node's copy: local writes, merges, watermarks, deltas, hash,
//!   tombstone GC, and the change set the store persists.
//! - [`safety`]: `SafetyState`, the GC floors and reset progress persisted with the replica.
//! - [`query`]: read-only answers over a replica (presence, readings, people, network).
//!
//! Pure: no sockets, no SQLite, no wall clock (times are passed in).

pub mod key;
pub mod query;
pub mod replica;
pub mod safety;
pub mod value;

pub use key::{Key, KeyParseError, LabelError};
pub use replica::{ChangeSet, Digest, Entry, Replica, StaleWrite, StateHash};
pub use safety::{OwnRefetch, SafetyState};
pub use value::{
    AlertValue, MacSeen, NodeInfo, PersonInfo, ReadingStatus, ReadingValue, TargetValue, Value,
};
