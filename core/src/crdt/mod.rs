//! The order every last-writer-wins decision uses: [`Stamp`], a hybrid-logical-clock
//! timestamp with the writing node ([`NodeId`]) as tie-break. The merge itself is
//! `state::Replica`'s (one entry per key, the higher stamp wins, tombstones included); its
//! laws are tested there and by the simulator.
//!
//! Pure: no I/O, no wall clock, no randomness. Timestamps are passed in by the caller.

mod stamp;

pub use stamp::{NodeId, NodeIdParseError, Stamp};
