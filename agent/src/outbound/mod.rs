//! The process's one way out over HTTP(S): one async HTTP client ([`HttpClient`], reqwest on
//! hyper, no thread per call) and one rustls configuration ([`tls_config`]: the ring provider,
//! the system's trusted roots plus a `ca_file` where one is configured) shared by REST calls
//! and WebSocket connects. Used by the chat adapters and the alert webhook; meant for the CLI's
//! client too. Knows nothing of chat platforms; tokens travel in headers and never appear in an
//! error.

mod client;
mod tls;

pub use client::{Body, HttpClient, HttpError, MAX_RETRY_AFTER, RATE_LIMIT_TRIES};
pub use tls::{tls_config, TlsError};
