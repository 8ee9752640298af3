//! Counters of the gossip transport (bytes, frames, handshakes, connections, exchanges),
//! updated lock-free by connection tasks and read as a snapshot for `/metrics`. Holds no
//! sockets and no logic beyond counting.

use portable_atomic::AtomicU64;
use std::sync::atomic::Ordering;

/// Live counters, shared by every connection of one transport.
#[derive(Debug, Default)]
pub struct NetStats {
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    frames_sent: AtomicU64,
    frames_received: AtomicU64,
    frames_rejected: AtomicU64,
    messages_rejected: AtomicU64,
    handshakes_ok: AtomicU64,
    handshakes_failed: AtomicU64,
    connections_accepted: AtomicU64,
    connections_refused: AtomicU64,
    connections_dialed: AtomicU64,
    connections_reused: AtomicU64,
    connections_failed: AtomicU64,
    exchanges_ok: AtomicU64,
    exchanges_failed: AtomicU64,
}

/// A copy of the counters at one moment; every field only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStatsSnapshot {
    /// Bytes written to sockets (frame headers included).
    pub bytes_sent: u64,
    /// Bytes read from sockets.
    pub bytes_received: u64,
    pub frames_sent: u64,
    pub frames_received: u64,
    /// Frames refused by the decoder (bad magic/version/kind, oversized); each closed a connection.
    pub frames_rejected: u64,
    /// Whole frames whose content was refused (failed authentication, bad flag, protocol order).
    pub messages_rejected: u64,
    pub handshakes_ok: u64,
    /// Handshakes that failed (wrong key, other cluster, insecure mismatch, timeout, garbage).
    pub handshakes_failed: u64,
    /// Inbound connections taken on.
    pub connections_accepted: u64,
    /// Inbound connections closed at once because `max_inbound_connections` were open.
    pub connections_refused: u64,
    /// Outbound connections opened.
    pub connections_dialed: u64,
    /// Exchanges that reused a pooled outbound connection.
    pub connections_reused: u64,
    /// Connections (either direction) closed because of an error or a timeout.
    pub connections_failed: u64,
    pub exchanges_ok: u64,
    pub exchanges_failed: u64,
}

macro_rules! bump {
    ($($name:ident),* $(,)?) => {
        impl NetStats {
            $(
                pub(crate) fn $name(&self, by: u64) {
                    self.$name.fetch_add(by, Ordering::Relaxed);
                }
            )*

            /// The current values.
            pub fn snapshot(&self) -> NetStatsSnapshot {
                NetStatsSnapshot {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

bump!(
    bytes_sent,
    bytes_received,
    frames_sent,
    frames_received,
    frames_rejected,
    messages_rejected,
    handshakes_ok,
    handshakes_failed,
    connections_accepted,
    connections_refused,
    connections_dialed,
    connections_reused,
    connections_failed,
    exchanges_ok,
    exchanges_failed,
);
