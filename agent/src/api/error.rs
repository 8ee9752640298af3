//! `ApiError`: every failure the HTTP API reports, as a status code and a JSON body
//! `{"error": "<what is wrong>"}`. Bodies never show a file path: internal failures are
//! logged in full and answered with a generic message.
//! A write refused because the disk is full is `507 Insufficient Storage`.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::shared::WriteError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: bad JSON, an unknown field, a bad MAC or name, a limit broken.
    #[error("{0}")]
    BadRequest(String),
    /// An endpoint that needs the configured bearer token (or the dashboard's session cookie)
    /// was called without it.
    #[error("this endpoint needs 'Authorization: Bearer <api.token>'")]
    Unauthorized,
    /// A write from another machine while no `api.token` is configured.
    #[error(
        "writes from other machines need a token: set api.token in the config and send \
         'Authorization: Bearer <api.token>'"
    )]
    NeedsToken,
    #[error("{0}")]
    NotFound(String),
    /// The request body is larger than the endpoint accepts.
    #[error(
        "the request body is too large: JSON endpoints accept at most 16 KiB, chat endpoints \
         64 KiB"
    )]
    TooLarge,
    /// The write lost to a newer one for the same key.
    #[error("{0}")]
    Conflict(String),
    /// The data directory's disk is full: the write was not made.
    #[error(
        "disk full at the data directory (storage.data_dir): the write was not saved; reads \
         still work, writes resume once space is freed"
    )]
    DiskFull,
    /// Something on this node failed (storage); the detail goes to the log, not the body.
    #[error("internal error on this node; its log has the details")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NeedsToken => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(message) = &self {
            if let Some(left_out) = super::warnings().admit("internal", "api") {
                tracing::error!(error = %message, left_out, "API request failed (one line per minute)");
            }
        }
        (self.status(), Json(json!({ "error": self.to_string() }))).into_response()
    }
}

impl From<WriteError> for ApiError {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Stale(stale) => ApiError::Conflict(stale.to_string()),
            WriteError::MeshTooOld { .. } => ApiError::Conflict(err.to_string()),
            WriteError::NotFinite { .. } | WriteError::Limit(_) => {
                ApiError::BadRequest(err.to_string())
            }
            WriteError::Persist(_) if err.is_disk_full() => {
                if let Some(left_out) = super::warnings().admit("disk_full", "api") {
                    tracing::error!(
                        error = %err,
                        left_out,
                        "write refused: the data directory's disk is full (one line per minute)"
                    );
                }
                ApiError::DiskFull
            }
            WriteError::Persist(_) => ApiError::Internal(err.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge;
        }
        ApiError::BadRequest(format!("invalid JSON body: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(format!("invalid query string: {}", rejection.body_text()))
    }
}
