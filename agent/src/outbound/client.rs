//! [`HttpClient`]: JSON calls with a bearer token over one pooled async client (reqwest with
//! the shared rustls config), and [`HttpClient::call_patiently`], which waits out `429` by the
//! server's `Retry-After` so an answer is sent late rather than lost. Never logs or returns a
//! token.

use std::path::Path;
use std::time::Duration;

use serde_json::Value as Json;

use super::tls::{tls_config, TlsError};

/// How often a call is tried after `429` before it is given up (each waits the server's
/// `Retry-After`, at most [`MAX_RETRY_AFTER`]).
pub const RATE_LIMIT_TRIES: u32 = 5;
/// The longest `Retry-After` honoured; a longer one is cut to it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

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
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// How a request body is sent.
pub enum Body {
    None,
    Json(Json),
    Form(Vec<(String, String)>),
}

/// The one outbound HTTP client: cheap to clone (one connection pool).
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: reqwest::Client,
}

impl HttpClient {
    /// A client trusting the system's roots plus `ca_file` (when given).
    pub fn new(ca_file: Option<&Path>) -> Result<HttpClient, HttpError> {
        let tls = tls_config(ca_file)?;
        let inner = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| HttpError::Transport {
                url: String::new(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(HttpClient { inner })
    }

    /// Calls `url` with `Authorization: Bearer {token}` (when not empty); the answer's JSON
    /// body (`null` when empty).
    pub async fn call(
        &self,
        method: &str,
        url: &str,
        token: &str,
        body: Body,
        timeout: Duration,
    ) -> Result<Json, HttpError> {
        let shown = url.split('?').next().unwrap_or(url).to_string();
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| HttpError::Transport {
                url: shown.clone(),
                reason: e.to_string(),
            })?;
        let mut request = self.inner.request(method, url).timeout(timeout);
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        request = match body {
            Body::None => request,
            Body::Json(json) => request.json(&json),
            Body::Form(fields) => request.form(&fields),
        };
        let transport = |e: reqwest::Error| HttpError::Transport {
            url: shown.clone(),
            reason: without_url(&e),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let text = response.text().await.map_err(transport)?;
        read_answer(&shown, status, retry_after, &text)
    }

    /// [`HttpClient::call`], waiting out `429 Too Many Requests` (the server's `Retry-After`)
    /// and trying again, so an answer is sent late rather than lost.
    pub async fn call_patiently(
        &self,
        method: &str,
        url: &str,
        token: &str,
        body: impl Fn() -> Body,
        timeout: Duration,
    ) -> Result<Json, HttpError> {
        let mut tries = 0;
        loop {
            match self.call(method, url, token, body(), timeout).await {
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
}

/// A reqwest error's text without the URL (whose query may hold a ticket).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "…");
    }
    if err.is_timeout() {
        text = format!("timed out ({text})");
    }
    text
}

/// The answer to one call: JSON on 2xx, else the matching error.
fn read_answer(
    url: &str,
    status: u16,
    retry_after: Option<u64>,
    text: &str,
) -> Result<Json, HttpError> {
    if status == 429 {
        return Err(HttpError::RateLimited {
            url: url.to_string(),
            retry_after: Duration::from_secs(retry_after.unwrap_or(1)),
        });
    }
    if !(200..300).contains(&status) {
        return Err(HttpError::Status {
            url: url.to_string(),
            status,
            body: text.chars().take(300).collect(),
        });
    }
    if text.trim().is_empty() {
        return Ok(Json::Null);
    }
    serde_json::from_str(text).map_err(|err| HttpError::Decode {
        url: url.to_string(),
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_json_or_typed_errors() {
        assert_eq!(read_answer("u", 200, None, "").ok(), Some(Json::Null));
        assert!(matches!(
            read_answer("u", 429, Some(3), ""),
            Err(HttpError::RateLimited { retry_after, .. }) if retry_after == Duration::from_secs(3)
        ));
        assert!(matches!(
            read_answer("u", 500, None, "boom"),
            Err(HttpError::Status { status: 500, .. })
        ));
        assert!(matches!(
            read_answer("u", 200, None, "ok"),
            Err(HttpError::Decode { .. })
        ));
    }

    #[tokio::test]
    async fn errors_never_hold_the_token() {
        let client = HttpClient::new(None).expect("client");
        let err = client
            .call(
                "GET",
                "http://127.0.0.1:1/api?ticket=abc",
                "xoxb-very-secret",
                Body::None,
                Duration::from_secs(2),
            )
            .await
            .expect_err("nothing listens on port 1");
        assert!(!err.to_string().contains("xoxb-very-secret"), "{err}");
        assert!(!err.to_string().contains("ticket"), "{err}");
    }
}
