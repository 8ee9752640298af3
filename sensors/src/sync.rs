//! Lock-poison recovery: the one copy lives in `officemesh-types` (`officemesh_types::lock`),
//! re-exported here so drivers say `crate::sync::lock`.
//!
//! Must not touch: anything (re-exports only).

pub use officemesh_types::lock;
