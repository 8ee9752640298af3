//! Who may call what: the API's access rule, as one middleware (`guard`) and the dashboard's
//! session endpoint (`POST /v1/session`).
//!
//! - With `api.token` set, every endpoint except `OPEN_PATHS` (which hold no names, MACs, IPs or
//!   events) needs `Authorization: Bearer <token>` or the session cookie the dashboard got by
//!   posting the token once.
//! - Without a token, writes (anything but GET/HEAD) from another machine are refused with 403
//!   naming `api.token`; loopback callers (the CLI on the Pi itself) may write.
//!
//! Must not touch: the replica or the store (it only reads the config).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::handles::ApiState;
use super::ApiError;
use crate::config::Config;

/// Endpoints anyone may call: they hold no personal data (`/` is the static dashboard page;
/// the Slack and Mattermost commands authenticate with their own secrets; `POST /v1/claims`
/// only issues a link, and the link registers nothing but the device that opens it).
pub const OPEN_PATHS: &[&str] = &[
    "/",
    "/healthz",
    "/metrics",
    "/v1/session",
    "/v1/chat/slack",
    "/v1/chat/mattermost",
    "/v1/claims",
];

/// Open path prefixes: claim links (`/claim/<code>`) are opened from a phone that has no token;
/// the one-time code is the credential, and it registers only the device that opens it.
pub const OPEN_PREFIXES: &[&str] = &["/claim/"];

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "officemesh_session";

/// The session endpoint, merged into `api::router`.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/v1/session", post(open_session))
}

/// The cookie value for `token`: derived from it (so it survives restarts and changes when the
/// token does), never the token itself.
fn session_value(token: &str) -> String {
    hex::encode(blake3::derive_key(
        "officemesh 2026 api session cookie v1",
        token.as_bytes(),
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// True when the request carries the configured token (as a bearer token or a session cookie).
pub fn has_token(token: &str, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if let Some(given) = bearer {
        return constant_time_eq(given.trim().as_bytes(), token.as_bytes());
    }
    let expected = session_value(token);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| {
            name == SESSION_COOKIE && constant_time_eq(value.as_bytes(), expected.as_bytes())
        })
}

/// The access rule, applied to every request before routing.
pub async fn guard(State(config): State<Arc<Config>>, request: Request, next: Next) -> Response {
    let token = config.api.token.as_str();
    let path = request.uri().path();
    if OPEN_PATHS.contains(&path) || OPEN_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return next.run(request).await;
    }
    if !token.is_empty() {
        if !has_token(token, request.headers()) {
            return ApiError::Unauthorized.into_response();
        }
        return next.run(request).await;
    }
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    // No connection info: not served by `api::serve`; treated as another machine.
    let local = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback());
    if !reads && !local {
        return ApiError::NeedsToken.into_response();
    }
    next.run(request).await
}

/// Body of `POST /v1/session`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionRequest {
    token: String,
}

/// Trades the token for a session cookie (the dashboard asks for the token once).
async fn open_session(
    State(config): State<Arc<Config>>,
    body: Result<Json<SessionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let token = config.api.token.as_str();
    if token.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if !constant_time_eq(body.token.trim().as_bytes(), token.as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000",
        session_value(token)
    );
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_or_session_cookie_carry_the_token() {
        let mut headers = HeaderMap::new();
        assert!(!has_token("t0k", &headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t0k"),
        );
        assert!(has_token("t0k", &headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer nope"),
        );
        assert!(!has_token("t0k", &headers));

        let mut headers = HeaderMap::new();
        let cookie = format!("a=b; {SESSION_COOKIE}={}", session_value("t0k"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&cookie).expect("ascii"),
        );
        assert!(has_token("t0k", &headers));
        assert!(!has_token("other", &headers));
    }
}
