//! The Slack adapter in Socket Mode: outbound only, no public URL. It asks
//! `apps.connections.open` (app token) for a WebSocket URL, connects, acknowledges every
//! envelope by `envelope_id` at once, and reconnects on `disconnect` (at once) and on drops
//! (with backoff). `events_api` envelopes carry `message` and `app_mention` events: questions go
//! through the [`Responder`] and are answered with `chat.postMessage` (bot token) in the
//! question's thread, private replies with `chat.postEphemeral`. `slash_commands` envelopes are
//! answered on their `response_url` (`ephemeral` when private). A `429` is waited out.
//!
//! Slack hands each event to one of the app's open connections, so the Pi that gets it answers
//! at once (no turns). It allows an app 10 connections: `chat.slack.connections` Pis (default
//! 9) hold them — counting only Pis whose adapter is connected (`chat::connected`), so a Pi
//! with a broken token holds no place — and the others stand by and take over
//! (`dedup::holds_slot`); `too_many_websockets` backs off with jitter. A mention in a channel
//! arrives both as `message` and as `app_mention`: only the `app_mention` is answered.
//!
//! `wire` (frames and events, pure) is [`read_frame`] and [`read_event`]; this file maps them
//! onto the [`ChatPlatform`] seam (`chat::driver` runs the loop). Tokens go in headers only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio_tungstenite::tungstenite::Message;

use super::driver::{ChatPlatform, Ended, Event, FrameSocket, Poster};
use super::http::{self, Body, HttpClient, HttpError};
use super::pipeline::{Incoming, Responder};
use super::Reply;
use crate::config::SlackConfig;

mod wire;

pub use wire::{ack, read_event, read_frame, Frame, SlackMessage};

/// No frame (Slack pings included) for this long: the socket is dead, reconnect.
const IDLE: Duration = Duration::from_secs(120);
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// The Slack Web API, with the bot token: how the adapter posts.
#[derive(Clone)]
pub struct Api {
    base: String,
    bot_token: String,
    http: HttpClient,
    names: Arc<Mutex<HashMap<String, String>>>,
}

impl Api {
    async fn post(&self, method: &str, body: Json) -> Result<Json, HttpError> {
        let url = format!("{}/{method}", self.base);
        let answer = self
            .http
            .call_patiently(
                "POST",
                &url,
                &self.bot_token,
                || Body::Json(body.clone()),
                CALL_TIMEOUT,
            )
            .await?;
        if answer["ok"] == true {
            Ok(answer)
        } else {
            Err(HttpError::NotOk {
                method: method.to_string(),
                error: answer["error"].as_str().unwrap_or("not ok").to_string(),
            })
        }
    }

    async fn say(
        &self,
        channel: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<(), HttpError> {
        let mut body = json!({ "channel": channel, "text": text });
        if let Some(thread) = thread_ts {
            body["thread_ts"] = json!(thread);
        }
        self.post("chat.postMessage", body).await.map(|_| ())
    }

    /// Posts `reply` to `message`: in its thread; a private one with `chat.postEphemeral`
    /// (only the asker sees it, scope `chat:write`), or in the direct conversation it came from.
    async fn reply(&self, message: &SlackMessage, reply: &Reply) -> Result<(), HttpError> {
        if !reply.private || message.direct {
            return self
                .say(&message.channel, &reply.text, Some(&message.thread_ts))
                .await;
        }
        let body = json!({
            "channel": message.channel,
            "user": message.user,
            "text": reply.text,
            "thread_ts": message.thread_ts,
        });
        self.post("chat.postEphemeral", body).await.map(|_| ())
    }

    /// The person name for a user id: display name, else user name, else the id.
    async fn person(&self, user: &str) -> String {
        if let Some(name) = crate::sync::lock(&self.names).get(user) {
            return name.clone();
        }
        let url = format!("{}/users.info", self.base);
        let body = Body::Form(vec![("user".into(), user.into())]);
        let name = match self
            .http
            .call("POST", &url, &self.bot_token, body, CALL_TIMEOUT)
            .await
        {
            Ok(answer) if answer["ok"] == true => [
                &answer["user"]["profile"]["display_name"],
                &answer["user"]["name"],
            ]
            .iter()
            .filter_map(|v| v.as_str())
            .find(|v| !v.trim().is_empty())
            .map(str::to_string),
            _ => None,
        };
        let name = name.unwrap_or_else(|| user.to_string());
        crate::sync::lock(&self.names).insert(user.to_string(), name.clone());
        name
    }
}

/// Where a message came from: an event (answered in its thread, or ephemerally), or a slash
/// command (answered on its `response_url`).
pub enum Origin {
    Event(SlackMessage),
    Slash { response_url: String },
}

impl Poster for Api {
    type Origin = Origin;
    type Error = HttpError;

    async fn display_name(&self, origin: &Origin, incoming: &Incoming) -> Option<String> {
        match origin {
            Origin::Event(_) => Some(self.person(&incoming.user_id).await),
            Origin::Slash { .. } => None,
        }
    }

    async fn reply(&self, origin: &Origin, _: &Incoming, reply: &Reply) -> Result<(), HttpError> {
        let response_url = match origin {
            Origin::Event(message) => return self.reply(message, reply).await,
            Origin::Slash { response_url } => response_url,
        };
        let body = json!({ "response_type": slash_response_type(reply), "text": reply.text });
        self.http
            .call_patiently(
                "POST",
                response_url,
                "",
                || Body::Json(body.clone()),
                CALL_TIMEOUT,
            )
            .await
            .map(|_| ())
    }

    async fn alert(&self, room: &str, text: &str) -> Result<(), HttpError> {
        self.say(room, text, None).await
    }
}

/// The ranking key for which Pis hold the app's connections.
const SOCKET_RANK: &str = "slack-socket";

/// The Slack adapter: one Socket Mode connection at a time.
pub struct Slack {
    config: SlackConfig,
    api: Api,
    bot_user: String,
    socket: FrameSocket,
}

impl Slack {
    pub fn new(config: SlackConfig) -> Result<Slack, HttpError> {
        let api = Api {
            base: config.api_url.trim_end_matches('/').to_string(),
            bot_token: config.bot_token.clone(),
            http: HttpClient::new(None)?,
            names: Arc::new(Mutex::new(HashMap::new())),
        };
        Ok(Slack {
            config,
            api,
            bot_user: String::new(),
            socket: FrameSocket::default(),
        })
    }

    /// The event an acknowledged envelope carries, if any.
    fn envelope(&self, id: &str, kind: &str, payload: &Json) -> Option<Event<Origin>> {
        let (incoming, origin) = match kind {
            "events_api" => {
                let message = read_event(payload, &self.bot_user).filter(|m| !m.from_bot)?;
                let incoming = Incoming {
                    id: format!("{}/{}", message.channel, message.ts),
                    user: message.user.clone(),
                    user_id: message.user.clone(),
                    platform: Self::NAME,
                    text: message.text.clone(),
                    direct: message.direct,
                    mentioned: message.mentioned,
                    from_bot: false,
                    seen_by_every_node: false,
                };
                (incoming, Origin::Event(message))
            }
            "slash_commands" => read_slash(id, payload)?,
            _ => return None,
        };
        Some(Event::Message(incoming, origin))
    }
}

/// A slash command (envelope `id`) as a direct question from its `user_id`; `None` without a
/// `response_url`.
fn read_slash(id: &str, payload: &Json) -> Option<(Incoming, Origin)> {
    let text = |field: &str| payload[field].as_str().unwrap_or_default().to_string();
    let response_url = payload["response_url"].as_str()?.to_string();
    let user_id = text("user_id");
    let name = text("user_name");
    let incoming = Incoming {
        id: format!("slash/{id}"),
        user: if name.is_empty() {
            user_id.clone()
        } else {
            name
        },
        user_id,
        platform: Slack::NAME,
        text: text("text"),
        direct: true,
        ..Incoming::default()
    };
    Some((incoming, Origin::Slash { response_url }))
}

impl ChatPlatform for Slack {
    const NAME: &'static str = "slack";
    type Raw = Message;
    type Poster = Api;

    async fn connect(&mut self) -> Result<(), Ended> {
        if self.bot_user.is_empty() {
            match self.api.post("auth.test", json!({})).await {
                Ok(answer) => {
                    self.bot_user = answer["user_id"].as_str().unwrap_or_default().to_string();
                    tracing::info!(bot_user = %self.bot_user, "slack: bot token accepted");
                }
                Err(err) => tracing::warn!(error = %err, "slack: auth.test failed"),
            }
        }
        let url = open(&self.config, &self.api.http)
            .await
            .map_err(Ended::dropped)?;
        let socket = http::connect(&url, "", None)
            .await
            .map_err(Ended::dropped)?;
        self.socket.open(socket);
        Ok(())
    }

    async fn receive(&mut self) -> Result<Message, Ended> {
        self.socket.next(IDLE).await
    }

    async fn read(&mut self, message: Message) -> Result<Vec<Event<Origin>>, Ended> {
        let text = match message {
            Message::Text(text) => text.to_string(),
            Message::Close(_) => return Err(Ended::dropped("closed by Slack")),
            _ => return Ok(Vec::new()),
        };
        match read_frame(&text) {
            Frame::Hello => {
                tracing::info!("slack: connected (Socket Mode)");
                Ok(vec![Event::Connected])
            }
            // Too many of the app's sockets: another try at once would be refused again.
            Frame::Disconnect { reason } if reason == "too_many_websockets" => {
                Err(Ended::dropped(reason))
            }
            Frame::Disconnect { reason } => {
                tracing::info!(reason = %reason, "slack: disconnect requested");
                Err(Ended::Reconnect)
            }
            Frame::Envelope {
                envelope_id,
                kind,
                payload,
                ..
            } => {
                if let Err(Ended::Dropped { reason, .. }) =
                    self.socket.send(Message::text(ack(&envelope_id))).await
                {
                    return Err(Ended::dropped(format!("ack failed: {reason}")));
                }
                Ok(self
                    .envelope(&envelope_id, &kind, &payload)
                    .into_iter()
                    .collect())
            }
            Frame::Other => Ok(Vec::new()),
        }
    }

    async fn close(&mut self) {
        self.socket.close().await;
    }

    fn poster(&self) -> Api {
        self.api.clone()
    }

    fn mentions(&self) -> Vec<String> {
        if self.bot_user.is_empty() {
            return Vec::new();
        }
        vec![format!("<@{}>", self.bot_user)]
    }

    fn rechecks(&self) -> bool {
        true
    }

    fn may_connect(&self, responder: &Responder, connected: bool) -> bool {
        let shared = &responder.shared;
        let holding = super::connected::connected_nodes(shared, Self::NAME);
        let slots = self.config.connections;
        super::dedup::holds_slot(SOCKET_RANK, shared.node, &holding, connected, slots)
    }
}

/// `apps.connections.open`: a fresh WebSocket URL.
async fn open(config: &SlackConfig, http: &HttpClient) -> Result<String, HttpError> {
    let url = format!(
        "{}/apps.connections.open",
        config.api_url.trim_end_matches('/')
    );
    let answer = http
        .call(
            "POST",
            &url,
            &config.app_token,
            Body::Form(Vec::new()),
            CALL_TIMEOUT,
        )
        .await?;
    match (answer["ok"].as_bool(), answer["url"].as_str()) {
        (Some(true), Some(url)) => Ok(url.to_string()),
        _ => Err(HttpError::NotOk {
            method: "apps.connections.open".into(),
            error: answer["error"].as_str().unwrap_or("no url").to_string(),
        }),
    }
}

/// How a slash command's answer is shown: to the asker alone when it is private.
pub fn slash_response_type(reply: &Reply) -> &'static str {
    if reply.private {
        "ephemeral"
    } else {
        "in_channel"
    }
}
