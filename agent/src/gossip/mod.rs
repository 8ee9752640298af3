//! The scuttlebutt gossip protocol core (sans-IO): messages, digests and deltas, membership,
//! failure detection and peer selection, as a state machine that takes the time, received
//! messages and a random source, and returns messages to send.
//!
//! Must not touch: sockets, the wall clock, the global RNG, SQLite, tokio.
