//! The Matrix adapter: the bot account long-polls `/sync` from the last `next_batch`, joins
//! every room it is invited to, hands each text message to the [`Responder`] and answers in the
//! room as a reply (`m.relates_to` → `m.in_reply_to`, msgtype `m.notice` as bots do). Every Pi
//! may log in with the same token: Matrix sends each message to every connection, the
//! responders take turns, and each node notes the bot's own replies it sees
//! ([`Responder::reply_seen`]) so only one answers. Alerts go to `chat.alert_room`.
//!
//! [`read_sync`] is pure (a `/sync` body in, what to do out); the rest is the shell: a blocking
//! HTTP client (ureq), one short-lived thread per call. The access token is sent in a header, never
//! logged, never part of an error.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use portable_atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::sync::{broadcast, watch};

use super::pipeline::{Incoming, Responder};
use crate::clock::wall_ms;
use crate::config::MatrixConfig;

/// How long the homeserver may hold a `/sync` open.
const SYNC_TIMEOUT_MS: u64 = 30_000;
/// Messages older than this when they arrive are history, not questions.
const MAX_AGE_MS: u64 = 5 * 60 * 1000;
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Why a call to the homeserver failed. Never holds the token.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error("homeserver answered {status} {errcode}: {message}")]
    Status {
        status: u16,
        errcode: String,
        message: String,
        retry_after_ms: Option<u64>,
    },
    #[error("cannot reach the homeserver: {0}")]
    Transport(String),
    #[error("homeserver sent a body that is not JSON: {0}")]
    Decode(String),
    #[error("{0}")]
    Config(String),
}

/// What one `/sync` answer asks of the bot.
#[derive(Debug, Default, PartialEq)]
pub struct SyncBatch {
    pub next_batch: String,
    /// Rooms the bot is invited to: join them (with the inviter when it is a direct message).
    pub invites: Vec<Invite>,
    /// Text messages from others: (room id, message).
    pub messages: Vec<(String, IncomingEvent)>,
    /// Questions the bot's account has replied to (from any node).
    pub replied_to: Vec<String>,
}

/// An invitation to a room.
#[derive(Debug, Clone, PartialEq)]
pub struct Invite {
    pub room: String,
    /// The inviter, when the invitation is for a direct message (`is_direct`).
    pub direct_with: Option<String>,
}

/// A text message in a room.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    pub event_id: String,
    pub sender: String,
    pub body: String,
    pub mentioned: bool,
    /// `m.notice`: what bots send.
    pub notice: bool,
}

/// The rooms that are direct messages, from the account's `m.direct` data (shared by every
/// connection of the account, so every Pi knows them).
#[derive(Debug, Default)]
pub struct DirectRooms(HashSet<String>);

impl DirectRooms {
    pub fn is_direct(&self, room: &str) -> bool {
        self.0.contains(room)
    }
}

/// The room ids listed in an `m.direct` content (`{ user id: [room ids] }`).
fn direct_rooms_of(content: &Json) -> HashSet<String> {
    content
        .as_object()
        .map(|users| {
            users
                .values()
                .filter_map(Json::as_array)
                .flatten()
                .filter_map(Json::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Reads one `/sync` body. `me` is the bot's user id; `history` is true for the first sync
/// (no `since`), whose timeline is the past and is not answered; `now_ms` drops stale events.
pub fn read_sync(
    body: &Json,
    me: &str,
    direct: &mut DirectRooms,
    history: bool,
    now_ms: u64,
) -> SyncBatch {
    let mut batch = SyncBatch {
        next_batch: body["next_batch"].as_str().unwrap_or_default().to_string(),
        ..SyncBatch::default()
    };
    for event in body["account_data"]["events"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if event["type"] == "m.direct" {
            direct.0 = direct_rooms_of(&event["content"]);
        }
    }
    if let Some(invites) = body["rooms"]["invite"].as_object() {
        batch.invites = invites
            .iter()
            .map(|(room, state)| invite_of(room, state, me))
            .collect();
    }
    let Some(joined) = body["rooms"]["join"].as_object() else {
        return batch;
    };
    for (room, state) in joined {
        for event in state["timeline"]["events"].as_array().into_iter().flatten() {
            match timeline_message(event, me, history, now_ms) {
                Some(Timeline::OwnReplyTo(question)) => batch.replied_to.push(question),
                Some(Timeline::Question(incoming)) => batch.messages.push((room.clone(), incoming)),
                None => {}
            }
        }
    }
    batch
}

/// An invitation to `room`, with the inviter when it is a direct message.
fn invite_of(room: &str, state: &Json, me: &str) -> Invite {
    let direct_with = state["invite_state"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|event| {
            event["type"] == "m.room.member"
                && event["state_key"] == me
                && event["content"]["is_direct"] == true
        })
        .and_then(|event| event["sender"].as_str())
        .map(str::to_string);
    Invite {
        room: room.to_string(),
        direct_with,
    }
}

/// What one timeline event is to the bot.
enum Timeline {
    /// The bot's own reply (from any node) to this question.
    OwnReplyTo(String),
    /// A fresh text message from someone else.
    Question(IncomingEvent),
}

/// Reads one timeline event: the bot's own replies, and text messages from others that are
/// neither history (the first sync) nor older than `MAX_AGE_MS`.
fn timeline_message(event: &Json, me: &str, history: bool, now_ms: u64) -> Option<Timeline> {
    if event["type"] != "m.room.message" {
        return None;
    }
    let content = &event["content"];
    let sender = event["sender"].as_str().unwrap_or_default();
    if sender == me {
        return content["m.relates_to"]["m.in_reply_to"]["event_id"]
            .as_str()
            .map(|question| Timeline::OwnReplyTo(question.to_string()));
    }
    let msgtype = content["msgtype"].as_str().unwrap_or_default();
    let event_id = event["event_id"].as_str()?;
    let text = content["body"].as_str()?;
    if !matches!(msgtype, "m.text" | "m.notice") || history {
        return None;
    }
    let sent_ms = event["origin_server_ts"].as_u64().unwrap_or(now_ms);
    if now_ms.saturating_sub(sent_ms) > MAX_AGE_MS {
        return None;
    }
    let mentioned = content["m.mentions"]["user_ids"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|id| id == me));
    Some(Timeline::Question(IncomingEvent {
        event_id: event_id.to_string(),
        sender: sender.to_string(),
        body: text.to_string(),
        mentioned,
        notice: msgtype == "m.notice",
    }))
}

/// The person name for a Matrix user id: its localpart (`@ada:example.org` → `ada`).
pub fn person_of(user_id: &str) -> String {
    let local = user_id.trim_start_matches('@');
    local.split(':').next().unwrap_or(local).to_string()
}

/// Percent-encodes one URL path segment (room ids `!a:b`, aliases `#a:b`, event ids `$x`).
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A blocking Matrix client-server API client.
#[derive(Clone)]
struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    fn new(config: &MatrixConfig) -> Result<Client, MatrixError> {
        let token = config.token().map_err(|e| MatrixError::Config(e.0))?;
        if token.is_empty() {
            return Err(MatrixError::Config(
                "chat.matrix access token is empty".into(),
            ));
        }
        Ok(Client {
            base: config.homeserver.trim_end_matches('/').to_string(),
            token,
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(10))
                .build(),
        })
    }

    /// One call; `path` starts with `/_matrix/`. Blocking.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Json>,
        timeout: Duration,
    ) -> Result<Json, MatrixError> {
        let request = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .timeout(timeout)
            .set("Authorization", &format!("Bearer {}", self.token));
        let result = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        match result {
            Ok(response) => response
                .into_json()
                .map_err(|err| MatrixError::Decode(err.to_string())),
            Err(ureq::Error::Status(status, response)) => {
                let body: Json = response.into_json().unwrap_or(Json::Null);
                Err(MatrixError::Status {
                    status,
                    errcode: body["errcode"].as_str().unwrap_or("?").to_string(),
                    message: body["error"].as_str().unwrap_or_default().to_string(),
                    retry_after_ms: body["retry_after_ms"].as_u64(),
                })
            }
            Err(ureq::Error::Transport(transport)) => {
                Err(MatrixError::Transport(transport.kind().to_string()))
            }
        }
    }

    /// Runs `call` on a thread of its own, not tokio's blocking pool: a long poll in flight must
    /// not hold up the runtime's shutdown (the pool waits for its tasks; a plain thread ends
    /// with the process).
    async fn call_async(
        &self,
        method: &'static str,
        path: String,
        body: Option<Json>,
        timeout: Duration,
    ) -> Result<Json, MatrixError> {
        let client = self.clone();
        let (done, answer) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("matrix-http".into())
            .spawn(move || {
                let _ = done.send(client.call(method, &path, body.as_ref(), timeout));
            })
            .map_err(|err| MatrixError::Transport(format!("cannot start a thread: {err}")))?;
        answer
            .await
            .map_err(|_| MatrixError::Transport("the HTTP thread ended without answering".into()))?
    }
}

/// Sends `text` into `room` (as a reply to `in_reply_to` when given).
async fn send_message(
    client: &Client,
    room: &str,
    text: &str,
    in_reply_to: Option<&str>,
    txn: &str,
) -> Result<(), MatrixError> {
    let mut content = json!({ "msgtype": "m.notice", "body": text });
    if let Some(question) = in_reply_to {
        content["m.relates_to"] = json!({ "m.in_reply_to": { "event_id": question } });
    }
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
        encode_segment(room),
        encode_segment(txn)
    );
    client
        .call_async("PUT", path, Some(content), Duration::from_secs(20))
        .await
        .map(|_| ())
}

/// Joins a room by id or alias; returns its room id.
async fn join(client: &Client, room: &str) -> Result<String, MatrixError> {
    let path = format!("/_matrix/client/v3/join/{}", encode_segment(room));
    let answer = client
        .call_async("POST", path, Some(json!({})), Duration::from_secs(20))
        .await?;
    Ok(answer["room_id"].as_str().unwrap_or(room).to_string())
}

/// Adds `room` to the account's `m.direct` data under `user`, as clients do on accepting a
/// direct invitation: every node of the account then treats the room as a direct message.
async fn remember_direct(
    client: &Client,
    me: &str,
    user: &str,
    room: &str,
) -> Result<(), MatrixError> {
    let path = format!(
        "/_matrix/client/v3/user/{}/account_data/m.direct",
        encode_segment(me)
    );
    let mut content = match client
        .call_async("GET", path.clone(), None, Duration::from_secs(20))
        .await
    {
        Ok(content) if content.is_object() => content,
        Ok(_) | Err(MatrixError::Status { status: 404, .. }) => json!({}),
        Err(err) => return Err(err),
    };
    let rooms = content[user].as_array().cloned().unwrap_or_default();
    if rooms.iter().any(|r| r == room) {
        return Ok(());
    }
    let mut rooms = rooms;
    rooms.push(json!(room));
    content[user] = Json::Array(rooms);
    client
        .call_async("PUT", path, Some(content), Duration::from_secs(20))
        .await
        .map(|_| ())
}

/// Unique transaction ids for this process (the homeserver dedups retries of one send by it).
struct Transactions {
    prefix: String,
    counter: AtomicU64,
}

impl Transactions {
    fn next(&self) -> String {
        format!(
            "{}-{}",
            self.prefix,
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }
}

fn backoff_after(error: &MatrixError, current: Duration) -> Duration {
    match error {
        MatrixError::Status {
            retry_after_ms: Some(ms),
            ..
        } => Duration::from_millis(*ms).clamp(BACKOFF_MIN, BACKOFF_MAX),
        _ => current,
    }
}

/// The adapter's loop: runs until `shutdown`. Alerts from `alerts` go to `alert_room` (an id
/// or an alias the bot can join) when it is set.
pub async fn run(
    config: MatrixConfig,
    responder: Arc<Responder>,
    alert_room: String,
    mut alerts: broadcast::Receiver<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = match Client::new(&config) {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "matrix: not starting");
            return;
        }
    };
    let mut session = Session {
        transactions: Arc::new(Transactions {
            prefix: format!("om{}-{}", responder.shared.node.0, wall_ms()),
            counter: AtomicU64::new(0),
        }),
        client,
        responder,
        alert_room,
        alert_room_id: None,
        me: String::new(),
        since: None,
        direct: DirectRooms::default(),
        backoff: BACKOFF_MIN,
    };
    loop {
        if *shutdown.borrow() {
            return;
        }
        if session.me.is_empty() {
            match session.whoami().await {
                Ok(()) => {
                    tracing::info!(user = %session.me, homeserver = %config.homeserver, "matrix: logged in")
                }
                Err(err) => {
                    if session.wait_after(&err, "whoami", &mut shutdown).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let poll = session.client.call_async(
            "GET",
            session.sync_path(),
            None,
            Duration::from_millis(SYNC_TIMEOUT_MS + 30_000),
        );
        let body = tokio::select! {
            answer = poll => answer,
            _ = shutdown.changed() => return,
            alert = alerts.recv() => {
                match alert {
                    Ok(text) => session.post_alert(&text).await,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "matrix: alerts lagged");
                    }
                    Err(broadcast::error::RecvError::Closed) => {}
                }
                // The poll was dropped mid-flight; sync again from the same token.
                continue;
            }
        };
        match body {
            Ok(body) => {
                session.backoff = BACKOFF_MIN;
                session.handle_sync(&body).await;
            }
            Err(err) => {
                if session.wait_after(&err, "sync", &mut shutdown).await {
                    return;
                }
            }
        }
    }
}

/// One running adapter: the client, who it is, where it is in the sync stream.
struct Session {
    client: Client,
    responder: Arc<Responder>,
    transactions: Arc<Transactions>,
    alert_room: String,
    alert_room_id: Option<String>,
    /// The bot's user id (empty until `whoami` answered).
    me: String,
    /// The last `next_batch`.
    since: Option<String>,
    direct: DirectRooms,
    backoff: Duration,
}

impl Session {
    async fn whoami(&mut self) -> Result<(), MatrixError> {
        let answer = self
            .client
            .call_async(
                "GET",
                "/_matrix/client/v3/account/whoami".into(),
                None,
                Duration::from_secs(20),
            )
            .await?;
        self.me = answer["user_id"].as_str().unwrap_or_default().to_string();
        Ok(())
    }

    /// The first sync returns at once (and its messages are history); later ones long-poll.
    fn sync_path(&self) -> String {
        match &self.since {
            Some(token) => format!(
                "/_matrix/client/v3/sync?timeout={SYNC_TIMEOUT_MS}&since={}",
                encode_segment(token)
            ),
            None => "/_matrix/client/v3/sync?timeout=0".to_string(),
        }
    }

    /// Logs a failed call and waits with backoff (the server's `retry_after_ms` when it gave
    /// one); true when shutdown came first.
    async fn wait_after(
        &mut self,
        err: &MatrixError,
        what: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        tracing::warn!(error = %err, retry_in = ?self.backoff, "matrix: {what} failed");
        self.backoff = backoff_after(err, self.backoff);
        if sleep_or_stop(shutdown, self.backoff).await {
            return true;
        }
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        false
    }

    /// Acts on one `/sync` answer: notes replies seen, joins invites, answers questions.
    async fn handle_sync(&mut self, body: &Json) {
        let first = self.since.is_none();
        let batch = read_sync(body, &self.me, &mut self.direct, first, wall_ms());
        if !batch.next_batch.is_empty() {
            self.since = Some(batch.next_batch.clone());
        }
        for question in &batch.replied_to {
            self.responder.reply_seen(question);
        }
        for invite in batch.invites {
            self.accept(invite).await;
        }
        for (room, event) in batch.messages {
            self.answer_later(room, event);
        }
    }

    async fn accept(&self, invite: Invite) {
        match join(&self.client, &invite.room).await {
            Ok(id) => {
                tracing::info!(room = %id, "matrix: joined the room it was invited to");
                if let Some(user) = &invite.direct_with {
                    if let Err(err) = remember_direct(&self.client, &self.me, user, &id).await {
                        tracing::warn!(room = %id, error = %err, "matrix: cannot record the direct room");
                    }
                }
            }
            Err(err) => {
                tracing::warn!(room = %invite.room, error = %err, "matrix: cannot join")
            }
        }
    }

    /// Hands one message to the responder in its own task (the responder may wait for its
    /// turn), and posts the reply in the room as a reply to the question.
    fn answer_later(&self, room: String, event: IncomingEvent) {
        let incoming = Incoming {
            id: event.event_id.clone(),
            user: person_of(&event.sender),
            text: event.body.clone(),
            direct: self.direct.is_direct(&room),
            mentioned: event.mentioned,
            from_bot: event.notice,
            seen_by_every_node: true,
        };
        let responder = self.responder.clone();
        let client = self.client.clone();
        let me = self.me.clone();
        let transactions = self.transactions.clone();
        tokio::spawn(async move {
            let mentions = [me.as_str()];
            let Some(reply) = responder.respond(&incoming, &mentions).await else {
                return;
            };
            let txn = transactions.next();
            match send_message(&client, &room, &reply, Some(&incoming.id), &txn).await {
                Ok(()) => {
                    tracing::info!(room = %room, question = %incoming.id, "matrix: answered")
                }
                Err(err) => tracing::warn!(room = %room, error = %err, "matrix: reply failed"),
            }
        });
    }

    async fn post_alert(&mut self, text: &str) {
        post_alert(
            &self.client,
            &self.alert_room,
            &mut self.alert_room_id,
            text,
            &self.transactions,
        )
        .await;
    }
}

async fn post_alert(
    client: &Client,
    alert_room: &str,
    room_id: &mut Option<String>,
    text: &str,
    transactions: &Transactions,
) {
    if alert_room.is_empty() {
        return;
    }
    if room_id.is_none() {
        match join(client, alert_room).await {
            Ok(id) => *room_id = Some(id),
            Err(err) => {
                tracing::warn!(room = %alert_room, error = %err, "matrix: cannot join the alert room");
                return;
            }
        }
    }
    if let Some(room) = room_id.as_deref() {
        let text = emoji(text);
        if let Err(err) = send_message(client, room, &text, None, &transactions.next()).await {
            tracing::warn!(room = %room, error = %err, "matrix: alert not posted");
        }
    }
}

/// Slack/Mattermost emoji shortcodes in alert texts as the characters Matrix clients show.
pub fn emoji(text: &str) -> String {
    text.replace(":warning:", "⚠️")
        .replace(":white_check_mark:", "✅")
}

/// Sleeps `delay`; true when shutdown came first.
async fn sleep_or_stop(shutdown: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "@officemesh:example.org";
    const NOW: u64 = 1_764_000_000_000;

    fn sync_body() -> Json {
        json!({
            "next_batch": "s72595_4483_1934",
            "account_data": { "events": [
                { "type": "m.direct", "content": { "@ada:example.org": ["!dm:example.org"] } }
            ] },
            "rooms": {
                "invite": {
                    "!new:example.org": { "invite_state": { "events": [] } },
                    "!ask:example.org": { "invite_state": { "events": [
                        { "type": "m.room.member", "state_key": ME, "sender": "@bob:example.org",
                          "content": { "membership": "invite", "is_direct": true } }
                    ] } }
                },
                "join": {
                    "!office:example.org": {
                        "timeline": { "events": [
                            { "type": "m.room.message", "event_id": "$q1", "sender": "@ada:example.org",
                              "origin_server_ts": NOW - 1000,
                              "content": { "msgtype": "m.text", "body": "officemesh, who's in?" } },
                            { "type": "m.room.message", "event_id": "$r1", "sender": ME,
                              "origin_server_ts": NOW - 500,
                              "content": { "msgtype": "m.notice", "body": "In the office: ada",
                                           "m.relates_to": { "m.in_reply_to": { "event_id": "$q0" } } } },
                            { "type": "m.room.member", "event_id": "$m", "sender": "@bob:example.org",
                              "content": { "membership": "join" } },
                            { "type": "m.room.message", "event_id": "$old", "sender": "@bob:example.org",
                              "origin_server_ts": NOW - 3_600_000,
                              "content": { "msgtype": "m.text", "body": "officemesh status" } },
                            { "type": "m.room.message", "event_id": "$img", "sender": "@bob:example.org",
                              "origin_server_ts": NOW,
                              "content": { "msgtype": "m.image", "body": "cat.png" } },
                            { "type": "m.room.message", "event_id": "$pill", "sender": "@bob:example.org",
                              "origin_server_ts": NOW,
                              "content": { "msgtype": "m.text", "body": "Office Bot: status",
                                           "m.mentions": { "user_ids": [ME] } } }
                        ] }
                    },
                    "!dm:example.org": { "timeline": { "events": [] } }
                }
            }
        })
    }

    #[test]
    fn a_sync_body_becomes_joins_questions_and_seen_replies() {
        let mut direct = DirectRooms::default();
        let batch = read_sync(&sync_body(), ME, &mut direct, false, NOW);
        assert_eq!(batch.next_batch, "s72595_4483_1934");
        assert_eq!(
            batch.invites,
            vec![
                Invite {
                    room: "!ask:example.org".into(),
                    direct_with: Some("@bob:example.org".into())
                },
                Invite {
                    room: "!new:example.org".into(),
                    direct_with: None
                }
            ]
        );
        assert_eq!(batch.replied_to, vec!["$q0".to_string()]);
        let ids: Vec<&str> = batch
            .messages
            .iter()
            .map(|(_, e)| e.event_id.as_str())
            .collect();
        assert_eq!(
            ids,
            vec!["$q1", "$pill"],
            "old, own and non-text events are skipped"
        );
        assert!(batch.messages[1].1.mentioned);
        assert!(!batch.messages[0].1.mentioned);
        assert!(direct.is_direct("!dm:example.org"));
        assert!(!direct.is_direct("!office:example.org"));
    }

    #[test]
    fn the_first_sync_is_history() {
        let mut direct = DirectRooms::default();
        let batch = read_sync(&sync_body(), ME, &mut direct, true, NOW);
        assert!(batch.messages.is_empty());
        assert_eq!(batch.invites.len(), 2, "invites are still joined");
        assert_eq!(batch.replied_to, vec!["$q0".to_string()]);
    }

    #[test]
    fn names_and_segments() {
        assert_eq!(person_of("@ada:example.org"), "ada");
        assert_eq!(person_of("ada"), "ada");
        assert_eq!(encode_segment("!abc:example.org"), "%21abc%3Aexample.org");
        assert_eq!(encode_segment("#office:h"), "%23office%3Ah");
        assert_eq!(encode_segment("s72_4/1"), "s72_4%2F1");
        assert_eq!(emoji(":warning: lobby is cold."), "⚠️ lobby is cold.");
    }

    #[test]
    fn errors_never_hold_the_token() {
        let config = MatrixConfig {
            homeserver: "http://127.0.0.1:1".into(),
            access_token: "syt_very_secret".into(),
            ..MatrixConfig::default()
        };
        let client = Client::new(&config).expect("client");
        let err = client
            .call(
                "GET",
                "/_matrix/client/v3/account/whoami",
                None,
                Duration::from_secs(2),
            )
            .expect_err("nothing listens on port 1");
        assert!(!err.to_string().contains("syt_very_secret"), "{err}");
    }
}
