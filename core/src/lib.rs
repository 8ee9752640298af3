//! officemesh's pure core: everything the protocol's correctness rests on, in a crate whose
//! dependencies hold no socket, no SQLite, no async runtime and no hardware crate (see
//! `Cargo.toml`; the shared words come from `officemesh-types`).
//!
//! - `node`: [`Node`], one gossip node sans-IO — the value the agent and the simulator drive
//!   (`on_tick`, `on_early_round`, `on_message`, `on_leave`, `note_unreachable`), returning
//!   [`Effects`].
//! - `gossip`: the scuttlebutt protocol core (messages, digests/deltas, membership, failure
//!   detection, peer selection) as a state machine; the codec.
//! - `state`: the replicated state (`Replica`: keys, entries, versions, digests, hash) and
//!   read-only queries over it ([`query`]).
//! - `crdt`: the HLC `Stamp` order every last-writer-wins decision uses.
//! - `peer`: the liveness types (`MemberStatus`, `PeerStatus`) gossip publishes and queries read.
//! - `restamp`: re-stamping own writes issued while the clock ran ahead (the corrected clock's
//!   round and the agent's clock recovery).
//! - `clock`: the node's hybrid logical clock, the max-offset guard and wall-clock health —
//!   the one place that reads the wall clock for stamps.
//! - `sim` (feature `sim`, for tests and benches): a deterministic simulator driving many
//!   `Node`s from a seed.
//!
//! Modules are private; what the agent and the tests use is the list below.
//!
//! Must not touch: sockets, SQLite, tokio, the global RNG. Time and randomness are arguments
//! (the clock module reads the wall clock only for the agent's `Clock`, never inside a merge).

mod clock;
mod crdt;
mod gossip;
mod node;
mod peer;
mod restamp;
mod state;
mod sync;

#[cfg(feature = "sim")]
pub mod sim;

pub use node::{Effects, Envelope, Node, NodeEvent, PeerChange, Refusal, LARGE_DELTA_ENTRIES};
pub use restamp::{restamp_ahead, RestampOutcome, Restamped};

pub use clock::{
    set_test_clock_offset_ms, wall_clock_status, wall_ms, Clock, ClockAhead, WallClockStatus,
};
pub use crdt::{NodeId, NodeIdParseError, Stamp};
/// The wire types (for the fuzz corpus and tests that build messages by hand).
pub use gossip::message;
pub use gossip::wire::entry_size;
pub use gossip::{
    decode, encode, encode_for, DecodeError, GossipCore, GossipParams, GossipStats, Message,
    MessageKind, Outgoing, PeerView, Traffic, LEGACY_PROTOCOL_VERSION, MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
};
pub use peer::{turn_takers, MemberStatus, NodeStatus, PeerStatus};
pub use state::key::{normalize_label, validate_label, KeyParseError, LabelError};
pub use state::limits::{
    check_device_mac, check_entry, check_label, check_person_devices, target_range, LimitError,
};
/// Entries of kinds this build does not know, kept as bytes; canonical key and value bytes.
pub use state::opaque;
pub use state::own_clock::{newest_good_readings, OwnClockWatch};
pub use state::presence::{attendance, day_of, sweeper, unknown_devices};
/// Read-only answers over a replica (presence, readings, people, network).
pub use state::query;
pub use state::replica::numbers_are_finite;
pub use state::{
    AlertValue, AttendanceValue, ChangeSet, ChatAdapterState, DeviceCount, Digest, Entry, Key,
    MacSeen, NodeInfo, OwnRefetch, PersonInfo, ReadingStatus, ReadingValue, Replica, RestampPlan,
    SafetyState, SensorHealth, SensorState, StagedWrite, StaleWrite, StateHash, TargetValue, Value,
};
pub use sync::lock;
