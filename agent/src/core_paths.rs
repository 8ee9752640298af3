//! The agent's paths into the pure core (`officemesh_core`, whose modules are private and
//! whose API is one curated list): `crate::state::…`, `crate::gossip::…` and the rest read
//! the same everywhere in the agent, grouped as the core's modules are.
//!
//! Must not touch: anything (re-exports only; the simulator is `officemesh_core::sim`, for
//! tests and benches through the core's `sim` feature).

/// The node's hybrid logical clock and wall-clock health.
pub mod clock {
    pub use officemesh_core::{
        set_test_clock_offset_ms, wall_clock_status, wall_ms, Clock, ClockAhead, WallClockStatus,
    };
}

/// The HLC `Stamp` order and node ids.
pub mod crdt {
    pub use officemesh_core::{NodeId, NodeIdParseError, Stamp};
}

/// The gossip protocol: `Node`, its `Effects`, messages and the codec.
pub mod gossip {
    pub use officemesh_core::{
        decode, encode, encode_for, message, DecodeError, Effects, Envelope, GossipCore,
        GossipParams, GossipStats, MemberStatus, Message, MessageKind, Node, NodeEvent, Outgoing,
        PeerChange, PeerView, Refusal, Traffic, LARGE_DELTA_ENTRIES, LEGACY_PROTOCOL_VERSION,
        MAX_MESSAGE_BYTES, PROTOCOL_VERSION,
    };

    /// The wire form of entries.
    pub mod wire {
        pub use officemesh_core::entry_size;
    }
}

/// Liveness types gossip publishes and queries read.
pub mod peer {
    pub use officemesh_core::{turn_takers, MemberStatus, NodeStatus, PeerStatus};
}

/// Lock-poison recovery.
pub mod sync {
    pub use officemesh_core::lock;
}

/// The replicated state, its limits and read-only queries.
pub mod state {
    pub use officemesh_core::{
        opaque, query, AlertValue, AttendanceValue, ChangeSet, ChatAdapterState, DeviceCount,
        Digest, Entry, Key, KeyParseError, LabelError, LimitError, MacSeen, NodeInfo, OwnRefetch,
        PersonInfo, ReadingStatus, ReadingValue, Replica, RestampPlan, SafetyState, SensorHealth,
        SensorState, StagedWrite, StaleWrite, StateHash, TargetValue, Value,
    };

    /// The key space's label rules.
    pub mod key {
        pub use officemesh_core::{normalize_label, validate_label, KeyParseError, LabelError};
    }

    /// The bounds of every field.
    pub mod limits {
        pub use officemesh_core::{
            check_device_mac, check_entry, check_label, check_person_devices, target_range,
            LimitError,
        };
    }

    /// Whether this node's own clock runs ahead of its peers'.
    pub mod own_clock {
        pub use officemesh_core::{newest_good_readings, OwnClockWatch};
    }

    /// Unknown devices, the subnet sweeper, attendance.
    pub mod presence {
        pub use officemesh_core::{attendance, day_of, sweeper, unknown_devices};
    }

    /// The replica's helpers the store's write path uses.
    pub mod replica {
        pub use officemesh_core::numbers_are_finite;
    }

    /// What each key holds.
    pub mod value {
        pub use officemesh_core::{
            AlertValue, AttendanceValue, ChatAdapterState, DeviceCount, MacSeen, NodeInfo,
            PersonInfo, ReadingStatus, ReadingValue, SensorHealth, SensorState, TargetValue, Value,
        };
    }
}
