//! Outbound HTTP and WebSocket plumbing for the Slack and Mattermost adapters: a JSON call with
//! a bearer token (blocking ureq on a short-lived thread of its own, so a call in flight never
//! holds up the runtime's shutdown), the same call waiting out `429` ([`call_patiently`]), a
//! WebSocket connect over rustls with the ring provider and the system's roots, and the one
//! reconnect [`Backoff`]. Tokens travel in headers only and are never part of an error.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// A chat server's WebSocket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a call failed. Never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("cannot reach {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url} sent a body that is not JSON: {reason}")]
    Decode { url: String, reason: String },
    #[error("websocket {url}: {reason}")]
    WebSocket { url: String, reason: String },
    /// `429 Too Many Requests`: try again after `retry_after` (the `Retry-After` header).
    #[error("{url} is rate limiting; retry after {retry_after:?}")]
    RateLimited { url: String, retry_after: Duration },
    /// A platform API answered `ok: false` (Slack's envelope), with its error code.
    #[error("{method}: {error}")]
    NotOk { method: String, error: String },
}

/// How a request body is sent.
pub enum Body {
    None,
    Json(Json),
    Form(Vec<(String, String)>),
}

/// Calls `url` with `Authorization: Bearer {token}` (when not empty); the answer's JSON body.
pub async fn call(
    method: &'static str,
    url: String,
    token: String,
    body: Body,
    timeout: Duration,
) -> Result<Json, HttpError> {
    let (done, answer) = tokio::sync::oneshot::channel();
    let thread_url = url.clone();
    std::thread::Builder::new()
        .name("chat-http".into())
        .spawn(move || {
            let _ = done.send(call_blocking(method, &thread_url, &token, body, timeout));
        })
        .map_err(|err| HttpError::Transport {
            url: url.clone(),
            reason: format!("cannot start a thread: {err}"),
        })?;
    answer.await.map_err(|_| HttpError::Transport {
        url,
        reason: "the HTTP thread ended without answering".into(),
    })?
}

fn call_blocking(
    method: &str,
    url: &str,
    token: &str,
    body: Body,
    timeout: Duration,
) -> Result<Json, HttpError> {
    let mut request = ureq::request(method, url).timeout(timeout);
    if !token.is_empty() {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let result = match body {
        Body::None => request.call(),
        Body::Json(json) => request.send_json(json),
        Body::Form(fields) => {
            let pairs: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            request.send_form(&pairs)
        }
    };
    match result {
        Ok(response) => {
            let text = response.into_string().map_err(|err| HttpError::Decode {
                url: url.to_string(),
                reason: err.to_string(),
            })?;
            if text.trim().is_empty() {
                return Ok(Json::Null);
            }
            serde_json::from_str(&text).map_err(|err| HttpError::Decode {
                url: url.to_string(),
                reason: err.to_string(),
            })
        }
        Err(ureq::Error::Status(429, response)) => Err(HttpError::RateLimited {
            url: url.to_string(),
            retry_after: Duration::from_secs(
                response
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1),
            ),
        }),
        Err(ureq::Error::Status(status, response)) => Err(HttpError::Status {
            url: url.to_string(),
            status,
            body: response
                .into_string()
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect(),
        }),
        Err(ureq::Error::Transport(transport)) => Err(HttpError::Transport {
            url: url.to_string(),
            reason: transport.kind().to_string(),
        }),
    }
}

/// A rustls client config with the ring provider and the system's trusted roots.
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Opens a WebSocket to `url` (`ws://` or `wss://`), with a bearer token when not empty.
pub async fn connect(url: &str, token: &str) -> Result<Socket, HttpError> {
    let failed = |reason: String| HttpError::WebSocket {
        url: url.split('?').next().unwrap_or(url).to_string(),
        reason,
    };
    let mut request = url
        .into_client_request()
        .map_err(|err| failed(err.to_string()))?;
    if !token.is_empty() {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| failed("the token is not a valid header value".into()))?;
        request.headers_mut().insert("Authorization", value);
    }
    let connector = if url.starts_with("wss://") {
        Connector::Rustls(Arc::new(
            tls_config().map_err(|err| failed(format!("TLS setup failed: {err}")))?,
        ))
    } else {
        Connector::Plain
    };
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(request, None, true, Some(connector));
    match tokio::time::timeout(Duration::from_secs(20), connecting).await {
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(err)) => Err(failed(err.to_string())),
        Err(_) => Err(failed("timed out".into())),
    }
}

/// The one reconnect backoff (capped exponential, equal jitter), shared with MQTT.
pub use crate::mqtt::backoff::Backoff;

/// A random number in `[0, 1]` for [`Backoff::next_delay`].
pub fn jitter() -> f64 {
    rand::random::<f64>()
}

/// How often a call is tried again after `429` before the answer is given up (each waits the
/// server's `Retry-After`, at most [`MAX_RETRY_AFTER`]).
pub const RATE_LIMIT_TRIES: u32 = 5;
/// The longest `Retry-After` honoured; a longer one is cut to it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// [`call`], waiting out `429 Too Many Requests` (the server's `Retry-After`) and trying again,
/// so an answer is sent late rather than lost.
pub async fn call_patiently(
    method: &'static str,
    url: String,
    token: String,
    body: impl Fn() -> Body,
    timeout: Duration,
) -> Result<Json, HttpError> {
    let mut tries = 0;
    loop {
        match call(method, url.clone(), token.clone(), body(), timeout).await {
            Err(HttpError::RateLimited { retry_after, .. }) if tries + 1 < RATE_LIMIT_TRIES => {
                tries += 1;
                let wait = retry_after.min(MAX_RETRY_AFTER);
                tracing::info!(wait = ?wait, tries, "rate limited: sending later");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_never_hold_the_token() {
        let err = call(
            "GET",
            "http://127.0.0.1:1/api".into(),
            "xoxb-very-secret".into(),
            Body::None,
            Duration::from_secs(2),
        )
        .await
        .expect_err("nothing listens on port 1");
        assert!(!err.to_string().contains("xoxb-very-secret"), "{err}");
        let err = connect("ws://127.0.0.1:1/socket?ticket=abc", "xapp-secret")
            .await
            .expect_err("nothing listens");
        assert!(!err.to_string().contains("xapp-secret"), "{err}");
        assert!(
            !err.to_string().contains("ticket"),
            "the URL's query is not shown: {err}"
        );
    }
}
