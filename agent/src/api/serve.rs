//! The API's HTTP server: axum's router over hyper's HTTP/1 connections, with the limits that
//! keep a LAN client from using up the agent — a complete request head within
//! `HEAD_TIMEOUT` (idle keep-alive connections are closed after the same time), at most
//! `MAX_CONNECTIONS` at once and `MAX_CONNECTIONS_PER_ADDRESS` from one source address (the
//! next ones get 503 and are closed, so one client cannot starve the others), each request answered
//! within `REQUEST_TIMEOUT` (slow bodies included). Body sizes are limited per route in
//! `api::router`.
//!
//! Must not touch: the replica, the store, gossip (it only runs the router).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use crate::log_summary::LogSummary;

/// A request head (request line and headers) must arrive within this; an idle keep-alive
/// connection is closed after it too.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A request (body included) must be read and answered within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; beyond it, 503. Well below the unit's `LimitNOFILE` and the
/// usual 1,024 default, so gossip and SQLite keep their file descriptors.
pub const MAX_CONNECTIONS: usize = 256;

/// Connections one source address may hold at once: far below `MAX_CONNECTIONS`, so one
/// client (a stuck script, a browser with many tabs) leaves room for everyone else, and far
/// above what a browser or the CLI opens.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 32;

const BUSY_BODY: &str = "{\"error\":\"too many connections to this agent's API; retry shortly\"}";

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish (a
/// few seconds at most).
pub async fn serve_with_limits(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Limits {
        slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        per_address: PerAddress::new(MAX_CONNECTIONS_PER_ADDRESS),
        warnings: LogSummary::default(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = accept(&listener, &limits.warnings) => accepted,
        };
        match limits.admit(peer) {
            Some(held) => {
                let app = app.clone();
                let stop = stop_rx.clone();
                tokio::spawn(async move {
                    serve_connection(stream, peer, app, stop).await;
                    drop(held);
                });
            }
            None => {
                tokio::spawn(refuse_busy(stream));
            }
        }
    }
    let _ = stop_tx.send(true);
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(5), limits.slots.acquire_many(all)).await;
    Ok(())
}

/// The next connection. An accept error (out of file descriptors and the like) is waited out
/// with a growing pause: the listener is never given up.
async fn accept(listener: &TcpListener, warnings: &LogSummary) -> (TcpStream, SocketAddr) {
    let mut backoff = Duration::from_millis(10);
    loop {
        match listener.accept().await {
            Ok(pair) => return pair,
            Err(err) => {
                if let Some(left_out) = warnings.admit("accept", "api") {
                    tracing::warn!(error = %err, left_out, "API accept failed; retrying (one line per minute)");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// The connection limits: all connections at once, and per source address.
struct Limits {
    slots: Arc<Semaphore>,
    per_address: PerAddress,
    warnings: LogSummary,
}

impl Limits {
    /// A connection from `peer` within both limits: what it holds until it closes. `None`
    /// (logged, once a minute per address): it gets 503.
    fn admit(&self, peer: SocketAddr) -> Option<(tokio::sync::OwnedSemaphorePermit, Held)> {
        let Some(own) = self.per_address.admit(peer.ip()) else {
            if let Some(left_out) = self.warnings.admit("busy_address", &peer.ip().to_string()) {
                tracing::warn!(
                    %peer,
                    limit = MAX_CONNECTIONS_PER_ADDRESS,
                    left_out,
                    "too many API connections from one address; answering 503 (one line per address per minute)"
                );
            }
            return None;
        };
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => Some((permit, own)),
            Err(_) => {
                if let Some(left_out) = self.warnings.admit("busy", &peer.ip().to_string()) {
                    tracing::warn!(
                        %peer,
                        limit = MAX_CONNECTIONS,
                        left_out,
                        "too many API connections; answering 503 (one line per address per minute)"
                    );
                }
                None
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "API connection closed");
            }
        }
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
        }
    }
}

/// Answers 503 on a connection beyond the cap and closes it (within a second).
async fn refuse_busy(mut stream: TcpStream) {
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: \
         1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BUSY_BODY}",
        BUSY_BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Open connections per source address, each counted by a [`Held`] until it is dropped.
#[derive(Clone)]
struct PerAddress {
    limit: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection counted against its address; dropping it gives the place back.
struct Held {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    fn new(limit: usize) -> PerAddress {
        PerAddress {
            limit,
            open: Arc::default(),
        }
    }

    /// A place for one more connection from `ip`, or `None` when it holds `limit` already.
    fn admit(&self, ip: IpAddr) -> Option<Held> {
        let mut open = crate::sync::lock(&self.open);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Held {
            ip,
            open: self.open.clone(),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut open = crate::sync::lock(&self.open);
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_is_capped_and_gets_its_places_back() {
        let per_address = PerAddress::new(2);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let first = per_address.admit(a).expect("first");
        let _second = per_address.admit(a).expect("second");
        assert!(
            per_address.admit(a).is_none(),
            "a third from the same address"
        );
        assert!(
            per_address.admit(b).is_some(),
            "another address is not affected"
        );
        drop(first);
        assert!(
            per_address.admit(a).is_some(),
            "a closed connection frees its place"
        );
    }
}
