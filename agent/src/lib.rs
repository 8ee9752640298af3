//! officemesh agent library: everything the `officemesh` binary runs, as modules with one job.
//!
//! Pure core (crate `officemesh-core`: no sockets, no SQLite, no wall clock, no RNG of its own),
//! regrouped by `core_paths`:
//! - [`crdt`]: the HLC `Stamp` order and node ids.
//! - [`state`]: the replicated state (`Replica`: keys, entries, versions, digests, hash) and
//!   read-only queries over it.
//! - [`gossip`]: `Node`, the sans-IO gossip node `mesh` drives, its `Effects`, the messages.
//! - The simulator is `officemesh_core::sim` (core feature `sim`, for tests and benches).
//!
//! Shell (touches the world):
//! - [`clock`]: the node's hybrid logical clock and wall-clock health.
//! - [`config`]: the TOML configuration.
//! - [`identity`]: the node id kept in the data directory.
//! - [`store`]: SQLite persistence (schema, migrations, batched writes, history, retention).
//! - [`net`]: TCP transport, framing, Noise encryption with the cluster key.
//! - [`events`]: the mesh event log (peer transitions, heals, refusals) behind `/v1/events`.
//! - [`runtime`]: the running agent: shared state, sensor and presence loops, persistence.
//! - [`api`]: the HTTP API (axum) and `/metrics`.
//! - [`mqtt`]: MQTT publisher, Home Assistant discovery, store-and-forward buffer.
//! - [`api_types`]: the API's answers that are not `state::query` answers, shared by the server
//!   and the client.
//! - [`cli`]: the command line, one file per subcommand; [`client`]: the HTTP client behind
//!   its client commands.
//! - [`chat`]: the chat grammar, answers and platform request checks; [`alerts`]: room-target
//!   alerts posted once per cluster.

// The pure core lives in its own crate (no tokio, SQLite or sockets by its Cargo.toml); its
// curated API is regrouped in `core_paths` so `crate::state::…` reads the same everywhere.
mod core_paths;
pub use core_paths::{clock, crdt, gossip, peer, state, sync};

pub mod alerts;
pub mod api;
pub mod api_types;
pub mod chat;
pub mod claims;
pub mod cli;
pub mod client;
pub mod config;
pub mod counters;
pub mod events;
pub mod held_writes;
pub mod identity;
pub mod log_summary;
pub mod mesh;
pub mod mqtt;
pub mod net;
pub mod outbound;
pub mod runtime;
pub mod sensor_health;
pub mod shared;
pub mod sightings;
pub mod store;
pub mod targets;

/// The agent's version, as reported in `node/<id>` entries and `/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
