//! officemesh's pure core: everything the protocol's correctness rests on, in a crate whose
//! dependencies hold no socket, no SQLite, no async runtime (see `Cargo.toml`).
//!
//! - [`crdt`]: lattice types and the HLC `Stamp` order.
//! - [`state`]: the replicated state (`Replica`: keys, entries, versions, digests, hash) and
//!   read-only queries over it.
//! - [`gossip`]: the scuttlebutt protocol core (messages, digests/deltas, membership, failure
//!   detection, peer selection) as a state machine.
//! - [`peer`]: the liveness types (`MemberStatus`, `PeerStatus`) gossip publishes and queries read.
//! - [`clock`]: the node's hybrid logical clock, the max-offset guard and wall-clock health —
//!   the one place that reads the wall clock for stamps.
//! - [`sync`]: lock-poison recovery (`sync::lock`), the one copy.
//! - [`sim`]: a deterministic simulator driving many gossip cores from a seed.
//!
//! Must not touch: sockets, SQLite, tokio, the global RNG. Time and randomness are arguments
//! (the clock module reads the wall clock only for the agent's `Clock`, never inside a merge).

pub mod clock;
pub mod crdt;
pub mod gossip;
pub mod peer;
pub mod sim;
pub mod state;
pub mod sync;
