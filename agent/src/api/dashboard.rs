//! The web dashboard at `GET /`: one static page (HTML, CSS and JS in one file, embedded in the
//! binary, no front-end build) that reads the JSON API from the browser: rooms with their
//! readings and a 24-hour sparkline, who is in, the mesh and what is unreachable, alerts.
//!
//! This module only serves the page; everything it shows comes from the `/v1/…` endpoints.

use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;

use super::handles::ApiState;

/// The page, embedded at build time.
const INDEX_HTML: &str = include_str!("dashboard/index.html");

/// The dashboard routes, merged into `api::router`.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/", get(index))
}

async fn index() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(INDEX_HTML))
}
