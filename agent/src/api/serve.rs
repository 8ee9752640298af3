//! The API's HTTP server: axum's router over hyper's HTTP/1 connections, with the limits that
//! keep a LAN client from using up the agent — a complete request head within
//! `HEAD_TIMEOUT` (idle keep-alive connections are closed after the same time), at most
//! `MAX_CONNECTIONS` at once (the next ones get 503 and are closed), each request answered
//! within `REQUEST_TIMEOUT` (slow bodies included). Body sizes are limited per route in
//! `api::router`.
//!
//! Must not touch: the replica, the store, gossip (it only runs the router).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
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

const BUSY_BODY: &str = "{\"error\":\"too many connections to this agent's API; retry shortly\"}";

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish (a
/// few seconds at most).
pub async fn serve_with_limits(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop_tx, stop_rx) = watch::channel(false);
    let warnings = LogSummary::default();
    let mut backoff = Duration::from_millis(10);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = Duration::from_millis(10);
                pair
            }
            Err(err) => {
                // Out of file descriptors and the like: wait, never give up the listener.
                if let Some(left_out) = warnings.admit("accept", "api") {
                    tracing::warn!(error = %err, left_out, "API accept failed; retrying (one line per minute)");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => {
                let app = app.clone();
                let stop = stop_rx.clone();
                tokio::spawn(async move {
                    serve_connection(stream, peer, app, stop).await;
                    drop(permit);
                });
            }
            Err(_) => {
                if let Some(left_out) = warnings.admit("busy", &peer.ip().to_string()) {
                    tracing::warn!(
                        %peer,
                        limit = MAX_CONNECTIONS,
                        left_out,
                        "too many API connections; answering 503 (one line per address per minute)"
                    );
                }
                tokio::spawn(refuse_busy(stream));
            }
        }
    }
    let _ = stop_tx.send(true);
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(5), slots.acquire_many(all)).await;
    Ok(())
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
