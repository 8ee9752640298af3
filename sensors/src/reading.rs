//! Measurement types every driver produces: they live in `officemesh-types` (below the core
//! and this crate) and are re-exported here so `crate::reading::…` keeps working.
//!
//! Must not touch: anything (re-exports only).

pub use officemesh_types::{Measurement, Quantity};
