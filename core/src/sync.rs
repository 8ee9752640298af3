//! Lock-poison recovery: the one copy lives in the lowest crate (`officemesh_types::lock`),
//! re-exported here so the core and the agent say `crate::sync::lock`.
//!
//! Must not touch: anything but `std::sync`.

pub use officemesh_types::lock;
