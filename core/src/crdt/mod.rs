//! Lattice types for state-based CRDTs: every replicated value joins with a commutative,
//! associative and idempotent merge, so duplicated, reordered or replayed gossip is harmless.
//!
//! - [`Stamp`]: a hybrid-logical-clock timestamp with the writing node as tie-break; the order
//!   every last-writer-wins decision uses.
//! - [`LwwRegister`], [`MaxRegister`], [`LwwMap`]: the lattices the replicated state is built of.
//!
//! Pure: no I/O, no wall clock, no randomness. Timestamps are passed in by the caller.

mod lww;
mod lww_map;
mod max;
mod stamp;

pub use lww::LwwRegister;
pub use lww_map::LwwMap;
pub use max::MaxRegister;
pub use stamp::{NodeId, NodeIdParseError, Stamp};

/// A join-semilattice: `join` moves `self` up to the least upper bound of `self` and `other`.
pub trait Lattice {
    /// Joins `other` into `self`; returns true when `self` changed.
    fn join(&mut self, other: &Self) -> bool;
}

#[cfg(test)]
mod law_tests;
