//! Chat adapters over HTTP: `POST /v1/chat` (JSON, the API token rule), the Slack slash command
//! `POST /v1/chat/slack` (signed requests, `chat.slack_signing_secret`), the Mattermost slash
//! command `POST /v1/chat/mattermost` (`chat.mattermost_token`), and `GET /v1/alerts`.
//!
//! Each adapter only authenticates and decodes; the grammar and the answers are `crate::chat`.
//! A request that fails authentication is refused before anything is parsed or written. The
//! asker's identity ("forget me", "my devices") is the platform and its stable user id (a slash
//! command's `user_id`, `/v1/chat`'s `platform` + `user_id`), never the display name, which is
//! for greeting only.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::handles::ApiState;
use super::{authorize, ApiError, ApiResult};
use crate::chat::{self, verify};
use crate::clock::wall_ms;
use crate::shared::{Shared, StateHandle};
use crate::state::{Key, Value};

/// The chat routes, merged into `api::router`.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/chat", post(chat_json))
        .route("/v1/chat/slack", post(slack))
        .route("/v1/chat/mattermost", post(mattermost))
        .route("/v1/alerts", get(alerts))
}

/// Body of `POST /v1/chat`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatRequest {
    /// Who is talking: the person name registrations are made for (and the greeting).
    user: String,
    text: String,
    /// The chat platform the message came from (`slack`, `matrix`, `mattermost`), with
    /// `user_id`: the asker's identity. Without them the asker is known by `user` alone.
    #[serde(default)]
    platform: Option<String>,
    /// The platform's stable id of the asker (`U0123`, `@ada:example.org`).
    #[serde(default)]
    user_id: Option<String>,
}

/// The platforms whose user ids `/v1/chat` accepts.
const PLATFORMS: [&str; 3] = ["slack", "matrix", "mattermost"];

impl ChatRequest {
    /// Who asks: the platform identity when given (both or neither), else the name alone.
    fn asker(&self) -> ApiResult<chat::Asker> {
        let user_id = self.user_id.as_deref().map(str::trim).unwrap_or_default();
        match (self.platform.as_deref(), user_id.is_empty()) {
            (None, true) => Ok(chat::Asker::named(&self.user)),
            (Some(platform), false) if PLATFORMS.contains(&platform) => {
                Ok(chat::Asker::on(platform, user_id, &self.user))
            }
            (Some(platform), false) => Err(ApiError::BadRequest(format!(
                "unknown platform '{platform}': one of slack, matrix, mattermost"
            ))),
            _ => Err(ApiError::BadRequest(
                "'platform' and 'user_id' go together: the asker's identity on that platform"
                    .into(),
            )),
        }
    }
}

async fn chat_json(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&shared.config, &headers)?;
    let Json(request) = body?;
    if request.user.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "'user' must name who is talking".into(),
        ));
    }
    let asker = request.asker()?;
    let command = chat::parse(&request.text);
    let reply = chat::answer_for(&shared, &asker, &command, wall_ms()).await;
    Ok(Json(json!({
        "text": reply.text,
        "response_type": response_type(&reply),
    })))
}

/// The fields of a Slack or Mattermost slash command this agent uses (others are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SlashCommand {
    text: String,
    user_name: String,
    user_id: String,
    token: Option<String>,
    /// Mattermost outgoing webhooks: the word that triggered it, repeated at the text's start.
    trigger_word: String,
}

impl SlashCommand {
    /// The name to greet the asker by: `user_name`, else the id.
    fn user(&self) -> &str {
        if self.user_name.trim().is_empty() {
            &self.user_id
        } else {
            &self.user_name
        }
    }

    /// The asker on `platform`: identity by the stable `user_id`, never by `user_name`.
    fn asker(&self, platform: &str) -> Result<chat::Asker, Box<Response>> {
        let user_id = self.user_id.trim();
        if user_id.is_empty() {
            return Err(Box::new(refuse(
                StatusCode::BAD_REQUEST,
                "the slash command has no user_id (the asker's identity)",
            )));
        }
        Ok(chat::Asker::on(platform, user_id, self.user()))
    }
}

/// A refusal in the API's error shape with a message of our own.
fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn decode_form(body: &[u8]) -> Result<SlashCommand, Box<Response>> {
    serde_urlencoded::from_bytes(body).map_err(|err| {
        Box::new(refuse(
            StatusCode::BAD_REQUEST,
            format!("expected a form-encoded slash command: {err}"),
        ))
    })
}

async fn slash_reply(shared: &Shared, platform: &str, form: &SlashCommand) -> Response {
    let asker = match form.asker(platform) {
        Ok(asker) => asker,
        Err(response) => return *response,
    };
    let text = chat::addressing::strip_trigger_word(&form.text, &form.trigger_word);
    let command = chat::parse(&text);
    let reply = chat::answer_for(shared, &asker, &command, wall_ms()).await;
    Json(json!({ "response_type": response_type(&reply), "text": reply.text })).into_response()
}

/// Slack's (and Mattermost's) `response_type`: `ephemeral` (only the asker sees it) for private
/// replies — claim links, devices — else `in_channel`.
fn response_type(reply: &chat::Reply) -> &'static str {
    if reply.private {
        "ephemeral"
    } else {
        "in_channel"
    }
}

async fn slack(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let secret = &shared.config.chat.slack_signing_secret;
    if secret.is_empty() {
        return refuse(
            StatusCode::NOT_FOUND,
            "Slack is not enabled on this agent: set chat.slack_signing_secret in the config",
        );
    }
    if let Err(err) = verify::verify_slack(
        secret,
        header(&headers, "x-slack-request-timestamp"),
        header(&headers, "x-slack-signature"),
        &body,
        wall_ms() / 1000,
    ) {
        if let Some(left_out) = super::warnings().admit("slack", "refused") {
            tracing::warn!(error = %err, left_out, "refused a Slack request (one line per minute)");
        }
        return refuse(
            StatusCode::UNAUTHORIZED,
            format!("not a valid Slack request: {err}"),
        );
    }
    match decode_form(&body) {
        Ok(form) => slash_reply(&shared, "slack", &form).await,
        Err(response) => *response,
    }
}

async fn mattermost(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected = &shared.config.chat.mattermost_token;
    if expected.is_empty() {
        return refuse(
            StatusCode::NOT_FOUND,
            "Mattermost is not enabled on this agent: set chat.mattermost_token in the config",
        );
    }
    // The token may be in the form, so the form is decoded first; nothing acts on it before
    // the token is checked.
    let form = decode_form(&body).unwrap_or_default();
    if let Err(err) = verify::verify_mattermost(
        expected,
        form.token.as_deref(),
        header(&headers, "authorization"),
    ) {
        if let Some(left_out) = super::warnings().admit("mattermost", "refused") {
            tracing::warn!(error = %err, left_out, "refused a Mattermost request (one line per minute)");
        }
        return refuse(
            StatusCode::UNAUTHORIZED,
            format!("not a valid Mattermost request: {err}"),
        );
    }
    match decode_form(&body) {
        Ok(form) => slash_reply(&shared, "mattermost", &form).await,
        Err(response) => *response,
    }
}

async fn alerts(State(state): State<Arc<StateHandle>>) -> Json<serde_json::Value> {
    let rows: Vec<serde_json::Value> = state
        .replica()
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Alert { room, quantity }, Value::Alert(alert)) => Some(json!({
                "room": room,
                "quantity": quantity,
                "raised": alert.raised,
                "by": alert.by,
                "since_ms": alert.since_ms,
                "message": alert.message,
            })),
            _ => None,
        })
        .collect();
    Json(json!({ "alerts": rows }))
}
