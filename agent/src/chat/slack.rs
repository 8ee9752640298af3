//! The Slack adapter in Socket Mode: outbound only, no public URL. It asks
//! `apps.connections.open` (app token) for a WebSocket URL, connects, acknowledges every
//! envelope by `envelope_id` at once, and reconnects on `disconnect` (at once) and on drops
//! (with backoff). `events_api` envelopes carry `message` and `app_mention` events: questions go
//! through the [`Responder`] and are answered with `chat.postMessage` (bot token) in the
//! question's thread. `slash_commands` envelopes are answered on their `response_url`.
//!
//! Slack hands each event to one of the app's open connections, so the Pi that gets it answers
//! at once (no turns). A mention in a channel arrives both as `message` and as `app_mention`:
//! only the `app_mention` is answered.
//!
//! [`read_frame`] and [`read_event`] are pure; the rest is the shell. Tokens go in headers only.

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

/// No frame (Slack pings included) for this long: the socket is dead, reconnect.
const IDLE: Duration = Duration::from_secs(120);
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// One Socket Mode frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Hello,
    /// Slack wants this connection gone (`refresh_requested`, `warning`, `link_disabled`, …).
    Disconnect {
        reason: String,
    },
    /// Anything with an `envelope_id` (to acknowledge); `kind` is its `type`.
    Envelope {
        envelope_id: String,
        kind: String,
        payload: Json,
        retry_attempt: u64,
    },
    Other,
}

/// Reads one text frame.
pub fn read_frame(text: &str) -> Frame {
    let Ok(frame) = serde_json::from_str::<Json>(text) else {
        return Frame::Other;
    };
    if let Some(envelope_id) = frame["envelope_id"].as_str() {
        return Frame::Envelope {
            envelope_id: envelope_id.to_string(),
            kind: frame["type"].as_str().unwrap_or_default().to_string(),
            payload: frame["payload"].clone(),
            retry_attempt: frame["retry_attempt"].as_u64().unwrap_or(0),
        };
    }
    match frame["type"].as_str() {
        Some("hello") => Frame::Hello,
        Some("disconnect") => Frame::Disconnect {
            reason: frame["reason"].as_str().unwrap_or_default().to_string(),
        },
        _ => Frame::Other,
    }
}

/// The acknowledgement Slack expects for an envelope.
pub fn ack(envelope_id: &str) -> String {
    json!({ "envelope_id": envelope_id }).to_string()
}

/// A message event worth looking at.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackMessage {
    pub channel: String,
    pub ts: String,
    /// The thread to answer in: the question's thread, or the question itself.
    pub thread_ts: String,
    pub user: String,
    pub text: String,
    pub direct: bool,
    pub mentioned: bool,
    pub from_bot: bool,
}

/// Reads an `events_api` payload; `None` for events the bot ignores (edits, joins, a channel
/// `message` that mentions the bot — its `app_mention` twin is the one answered).
pub fn read_event(payload: &Json, bot_user: &str) -> Option<SlackMessage> {
    let event = &payload["event"];
    let kind = event["type"].as_str()?;
    if !matches!(kind, "message" | "app_mention") {
        return None;
    }
    let subtype = event["subtype"].as_str().unwrap_or_default();
    if !matches!(subtype, "" | "thread_broadcast" | "bot_message") {
        return None;
    }
    let channel = event["channel"].as_str()?.to_string();
    let ts = event["ts"].as_str()?.to_string();
    let text = event["text"].as_str().unwrap_or_default().to_string();
    let user = event["user"].as_str().unwrap_or_default().to_string();
    let direct = event["channel_type"] == "im";
    let mention = format!("<@{bot_user}>");
    if kind == "message" && !direct && !bot_user.is_empty() && text.contains(&mention) {
        return None;
    }
    let from_bot = event.get("bot_id").is_some_and(|id| !id.is_null())
        || subtype == "bot_message"
        || (!bot_user.is_empty() && user == bot_user);
    Some(SlackMessage {
        thread_ts: event["thread_ts"].as_str().unwrap_or(&ts).to_string(),
        channel,
        ts,
        user,
        text,
        direct,
        mentioned: kind == "app_mention",
        from_bot,
    })
}

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
    let alive = crate::peer::alive_nodes(shared.node, &shared.peers());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_as_slack_documents_them() {
        assert_eq!(
            read_frame(
                r#"{"type":"hello","num_connections":1,"debug_info":{"host":"applink-1"},"connection_info":{"app_id":"A1"}}"#
            ),
            Frame::Hello
        );
        assert_eq!(
            read_frame(
                r#"{"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"applink-1"}}"#
            ),
            Frame::Disconnect {
                reason: "refresh_requested".into()
            }
        );
        let envelope = read_frame(
            r#"{"envelope_id":"57d12c34-e2e2","type":"events_api","accepts_response_payload":false,"retry_attempt":1,"retry_reason":"timeout","payload":{"event":{"type":"message"}}}"#,
        );
        match envelope {
            Frame::Envelope {
                envelope_id,
                kind,
                retry_attempt,
                ..
            } => {
                assert_eq!(envelope_id, "57d12c34-e2e2");
                assert_eq!(kind, "events_api");
                assert_eq!(retry_attempt, 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(read_frame("not json"), Frame::Other);
        assert_eq!(ack("57d12c34-e2e2"), r#"{"envelope_id":"57d12c34-e2e2"}"#);
    }

    fn event(event: Json) -> Json {
        json!({ "team_id": "T1", "api_app_id": "A1", "event": event, "type": "event_callback", "event_id": "Ev1" })
    }

    #[test]
    fn events_that_are_answered_and_those_that_are_not() {
        let channel_message = event(json!({
            "type": "message", "channel": "C1", "user": "U1", "text": "officemesh, who's in?",
            "ts": "1700000000.000100", "channel_type": "channel"
        }));
        let message = read_event(&channel_message, "UBOT").expect("a message");
        assert_eq!(message.thread_ts, "1700000000.000100");
        assert!(!message.direct && !message.mentioned && !message.from_bot);

        let in_thread = event(json!({
            "type": "message", "channel": "C1", "user": "U1", "text": "officemesh status",
            "ts": "1700000000.000200", "thread_ts": "1700000000.000100", "channel_type": "channel"
        }));
        assert_eq!(
            read_event(&in_thread, "UBOT").expect("message").thread_ts,
            "1700000000.000100"
        );

        let mention_as_message = event(json!({
            "type": "message", "channel": "C1", "user": "U1", "text": "<@UBOT> who's in?",
            "ts": "1700000000.000300", "channel_type": "channel"
        }));
        assert_eq!(
            read_event(&mention_as_message, "UBOT"),
            None,
            "its app_mention twin answers"
        );
        let mention = event(json!({
            "type": "app_mention", "channel": "C1", "user": "U1", "text": "<@UBOT> who's in?",
            "ts": "1700000000.000300"
        }));
        assert!(read_event(&mention, "UBOT").expect("mention").mentioned);

        let direct = event(json!({
            "type": "message", "channel": "D1", "user": "U1", "text": "who's in?",
            "ts": "1700000000.000400", "channel_type": "im"
        }));
        assert!(read_event(&direct, "UBOT").expect("dm").direct);

        let from_bot = event(json!({
            "type": "message", "channel": "C1", "user": "UBOT", "bot_id": "B1",
            "text": "officemesh, who's in?", "ts": "1700000000.000500", "channel_type": "channel"
        }));
        assert!(read_event(&from_bot, "UBOT").expect("seen").from_bot);

        let edit = event(json!({
            "type": "message", "subtype": "message_changed", "channel": "C1",
            "ts": "1700000000.000600", "channel_type": "channel"
        }));
        assert_eq!(read_event(&edit, "UBOT"), None);
        assert_eq!(
            read_event(&event(json!({"type": "reaction_added"})), "UBOT"),
            None
        );
    }
}
