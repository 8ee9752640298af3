//! Gossip transport: tokio TCP, length-prefixed frames with a hard cap, Noise encryption and
//! authentication with the cluster key. Carries opaque payloads between gossip cores; knows
//! nothing of CRDTs or gossip messages.
//!
//! - [`frame`]: pure wire framing (magic, version, kind, length cap).
//! - [`keys`]: cluster key files, `officemesh keygen`, the send/accept key set for rotation.
//! - [`hello`]: the protocol versions and features in the handshake payload, and the choice of
//!   the version a connection speaks.
//! - [`noise`]: the Noise handshake (PSK = cluster key, prologue = cluster name), chunked
//!   message sealing, the insecure development mode.
//! - `conn`: one connection: deadlines, frames, the turn protocol of an exchange.
//! - [`transport`]: the accept loop, outbound exchanges over a connection pool, the
//!   [`PayloadHandler`] interface the gossip driver implements.
//! - [`stats`]: counters for `/metrics`.

mod conn;
pub mod frame;
pub mod hello;
pub mod keys;
pub mod noise;
pub mod stats;
pub mod transport;
#[cfg(test)]
mod version_tests;

use std::time::Duration;

pub use keys::{keygen, load_key, ClusterKeys, Key, KeyError};
pub use noise::{NoiseError, Security};
pub use stats::NetStatsSnapshot;
pub use transport::{ExchangeStats, PayloadHandler, Transport, TransportSettings};

/// Why a connection or an exchange failed. Each one ends that connection only.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot connect to gossip peer {addr}: {source} (is it running and reachable?)")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} with gossip peer {peer} timed out after {after:?}")]
    Timeout {
        peer: String,
        what: &'static str,
        after: Duration,
    },
    #[error("i/o error with gossip peer {peer}: {source}")]
    Io {
        peer: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bad frame from gossip peer {peer}: {source}")]
    Frame {
        peer: String,
        #[source]
        source: frame::FrameError,
    },
    #[error("gossip handshake with {peer} failed: {source}")]
    Handshake {
        peer: String,
        #[source]
        source: NoiseError,
    },
    #[error(
        "gossip peer {peer} closed the connection during the handshake: it does not accept our \
         cluster key, is in another cluster, or differs in `gossip.insecure`"
    )]
    ClosedDuringHandshake { peer: String },
    #[error("message from gossip peer {peer} refused: {source}")]
    Message {
        peer: String,
        #[source]
        source: NoiseError,
    },
    #[error("gossip peer {peer} closed the connection in the middle of an exchange")]
    Closed { peer: String },
    #[error("gossip protocol error with {peer}: {reason}")]
    Protocol { peer: String, reason: String },
    #[error(
        "payload of {len} bytes is larger than the transport limit of {max} bytes; \
         the gossip layer must cut it smaller"
    )]
    PayloadTooLarge { len: usize, max: usize },
}
