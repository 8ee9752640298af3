//! The Slack adapter in Socket Mode: outbound only, no public URL. It asks
//! `apps.connections.open` (app token) for a WebSocket URL, connects, acknowledges every
//! envelope by `envelope_id` at once, and reconnects on `disconnect` (at once) and on drops
//! (with backoff). `events_api` envelopes carry `message` and `app_mention` events: questions go
//! through the [`Responder`] and are answered with `chat.postMessage` (bot token) in the
//! question's thread, private replies with `chat.postEphemeral`. `slash_commands` envelopes are
//! answered on their `response_url` (`ephemeral` when private). A `429` is waited out.
//!
//! Slack hands each event to one of the app's open connections, so the Pi that gets it answers
//! at once (no turns). It allows an app 10 connections: only the first 9 Pis in a ranking of
//! the live ones connect, the others stand by; `too_many_websockets` backs off with jitter. A
//! mention in a channel arrives both as `message` and as `app_mention`: only the `app_mention`
//! is answered.
//!
//! `wire` (frames and events, pure) is [`read_frame`] and [`read_event`]; this file is the
//! shell. Tokens go in headers only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value as Json};
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::Message;

use super::http::{self, Body, HttpClient, HttpError};
use super::pipeline::{Incoming, Responder};
use super::Reply;
use crate::config::SlackConfig;

mod wire;

pub use wire::{ack, read_event, read_frame, Frame, SlackMessage};

/// No frame (Slack pings included) for this long: the socket is dead, reconnect.
const IDLE: Duration = Duration::from_secs(120);
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// The Slack Web API, with the bot token.
#[derive(Clone)]
struct Api {
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

/// Why one connection ended.
enum Ended {
    /// Slack asked to reconnect: do it at once.
    Disconnect,
    /// The socket dropped, went silent, or Slack has too many of the app's sockets: back off.
    Dropped(String),
    /// Nine other Pis hold the app's connections: this one stands by.
    StandBy,
    Shutdown,
}

/// Slack allows an app 10 Socket Mode connections: 9 Pis connect, leaving one for a takeover.
pub const MAX_PIS_CONNECTED: usize = 9;
/// How often a Pi standing by (or connected) looks again at whether it is among the first 9.
const STAND_BY_CHECK: Duration = Duration::from_secs(15);
/// The ranking key for who connects.
const SOCKET_RANK: &str = "slack-socket";

/// Whether this Pi is among the Pis that hold the app's connections.
fn may_connect(responder: &Responder) -> bool {
    let shared = &responder.shared;
    let alive = crate::peer::alive_nodes(shared.node, &shared.mesh.peers());
    super::dedup::among_first(SOCKET_RANK, shared.node, &alive, MAX_PIS_CONNECTED)
}

/// The adapter's loop: runs until `shutdown`.
pub async fn run(
    config: SlackConfig,
    responder: Arc<Responder>,
    alert_room: String,
    mut alerts: broadcast::Receiver<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let http = match HttpClient::new(None) {
        Ok(http) => http,
        Err(err) => {
            tracing::error!(error = %err, "slack: not starting");
            return;
        }
    };
    let api = Api {
        base: config.api_url.trim_end_matches('/').to_string(),
        bot_token: config.bot_token.clone(),
        http,
        names: Arc::new(Mutex::new(HashMap::new())),
    };
    let mut bot_user = String::new();
    let mut backoff = http::Backoff::new(1000, 60_000);
    let mut standing_by = false;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if bot_user.is_empty() {
            match api.post("auth.test", json!({})).await {
                Ok(answer) => {
                    bot_user = answer["user_id"].as_str().unwrap_or_default().to_string();
                    tracing::info!(bot_user = %bot_user, "slack: bot token accepted");
                }
                Err(err) => tracing::warn!(error = %err, "slack: auth.test failed"),
            }
        }
        let ended = if !may_connect(&responder) {
            Ended::StandBy
        } else {
            standing_by = false;
            match open(&config, &api.http).await {
                Ok(url) => {
                    let mut session = Connection {
                        api: &api,
                        bot_user: &bot_user,
                        responder: &responder,
                        alert_room: &alert_room,
                        backoff: &mut backoff,
                    };
                    session.serve(&url, &mut alerts, &mut shutdown).await
                }
                Err(err) => Ended::Dropped(err.to_string()),
            }
        };
        let wait = match ended {
            Ended::Shutdown => return,
            Ended::Disconnect => {
                tracing::info!("slack: reconnecting as asked");
                continue;
            }
            Ended::StandBy => {
                if !standing_by {
                    tracing::info!("slack: {MAX_PIS_CONNECTED} other Pis hold the app's connections; standing by");
                    standing_by = true;
                }
                STAND_BY_CHECK
            }
            Ended::Dropped(reason) => {
                let wait = backoff.next_delay(http::jitter());
                tracing::warn!(reason = %reason, retry_in = ?wait, "slack: connection lost");
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
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

/// One connection's context.
struct Connection<'a> {
    api: &'a Api,
    bot_user: &'a str,
    responder: &'a Arc<Responder>,
    alert_room: &'a str,
    backoff: &'a mut http::Backoff,
}

impl Connection<'_> {
    /// Serves one WebSocket connection until it ends.
    async fn serve(
        &mut self,
        url: &str,
        alerts: &mut broadcast::Receiver<String>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended {
        let mut socket = match http::connect(url, "", None).await {
            Ok(socket) => socket,
            Err(err) => return Ended::Dropped(err.to_string()),
        };
        let mut recheck = tokio::time::interval(STAND_BY_CHECK);
        loop {
            let frame = tokio::select! {
                frame = tokio::time::timeout(IDLE, socket.next()) => frame,
                _ = shutdown.changed() => {
                    let _ = socket.close(None).await;
                    return Ended::Shutdown;
                }
                _ = recheck.tick() => {
                    if !may_connect(self.responder) {
                        let _ = socket.close(None).await;
                        return Ended::StandBy;
                    }
                    continue;
                }
                alert = alerts.recv() => {
                    if let (Ok(text), false) = (alert, self.alert_room.is_empty()) {
                        if let Err(err) = self.api.say(self.alert_room, &text, None).await {
                            tracing::warn!(error = %err, "slack: alert not posted");
                        }
                    }
                    continue;
                }
            };
            let text = match frame {
                Err(_) => return Ended::Dropped("no frame for 120 s".into()),
                Ok(None) => return Ended::Dropped("closed".into()),
                Ok(Some(Err(err))) => return Ended::Dropped(err.to_string()),
                Ok(Some(Ok(Message::Text(text)))) => text.to_string(),
                Ok(Some(Ok(Message::Close(_)))) => return Ended::Dropped("closed by Slack".into()),
                Ok(Some(Ok(_))) => continue,
            };
            if let Some(ended) = self.frame(&text, &mut socket).await {
                return ended;
            }
        }
    }

    /// Acts on one text frame; `Some` when the connection ends.
    async fn frame(&mut self, text: &str, socket: &mut http::Socket) -> Option<Ended> {
        match read_frame(text) {
            Frame::Hello => {
                self.backoff.reset();
                tracing::info!("slack: connected (Socket Mode)");
            }
            Frame::Disconnect { reason } => {
                tracing::info!(reason = %reason, "slack: disconnect requested");
                let _ = socket.close(None).await;
                // Too many of the app's sockets: another try at once would be refused again.
                if reason == "too_many_websockets" {
                    return Some(Ended::Dropped(reason));
                }
                return Some(Ended::Disconnect);
            }
            Frame::Envelope {
                envelope_id,
                kind,
                payload,
                retry_attempt,
            } => {
                if let Err(err) = socket.send(Message::text(ack(&envelope_id))).await {
                    return Some(Ended::Dropped(format!("ack failed: {err}")));
                }
                handle(
                    &kind,
                    payload,
                    retry_attempt,
                    self.api,
                    self.bot_user,
                    self.responder,
                );
            }
            Frame::Other => {}
        }
        None
    }
}

/// Answers one acknowledged envelope in a task of its own.
fn handle(
    kind: &str,
    payload: Json,
    retry_attempt: u64,
    api: &Api,
    bot_user: &str,
    responder: &Arc<Responder>,
) {
    let api = api.clone();
    let responder = responder.clone();
    match kind {
        "events_api" => {
            let Some(message) = read_event(&payload, bot_user) else {
                return;
            };
            let mention = format!("<@{bot_user}>");
            tokio::spawn(async move {
                if message.from_bot {
                    return;
                }
                let user = api.person(&message.user).await;
                let incoming = Incoming {
                    id: format!("{}/{}", message.channel, message.ts),
                    user,
                    user_id: message.user.clone(),
                    platform: "slack",
                    text: message.text.clone(),
                    direct: message.direct,
                    mentioned: message.mentioned,
                    from_bot: message.from_bot,
                    seen_by_every_node: false,
                };
                let Some(reply) = responder.respond(&incoming, &[mention.as_str()]).await else {
                    return;
                };
                match api.reply(&message, &reply).await {
                    Ok(()) => {
                        tracing::info!(channel = %message.channel, retry_attempt, private = reply.private, "slack: answered")
                    }
                    Err(err) => tracing::warn!(error = %err, "slack: reply failed"),
                }
            });
        }
        "slash_commands" => {
            tokio::spawn(async move {
                let text = payload["text"].as_str().unwrap_or_default().to_string();
                let user = payload["user_name"]
                    .as_str()
                    .filter(|name| !name.is_empty())
                    .or(payload["user_id"].as_str())
                    .unwrap_or("someone")
                    .to_string();
                let Some(response_url) = payload["response_url"].as_str().map(str::to_string)
                else {
                    return;
                };
                let command = super::parse(&text);
                let user_id = payload["user_id"].as_str().unwrap_or_default();
                let asker = super::Asker::on("slack", user_id, &user);
                let reply =
                    super::answer_for(&responder.shared, &asker, &command, crate::clock::wall_ms())
                        .await;
                let body =
                    json!({ "response_type": slash_response_type(&reply), "text": reply.text });
                if let Err(err) = api
                    .http
                    .call_patiently(
                        "POST",
                        &response_url,
                        "",
                        || Body::Json(body.clone()),
                        CALL_TIMEOUT,
                    )
                    .await
                {
                    tracing::warn!(error = %err, "slack: slash command answer failed");
                }
            });
        }
        _ => {}
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
