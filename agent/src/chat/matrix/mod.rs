//! The Matrix adapter: the bot account long-polls `/sync` from the last `next_batch` (kept on
//! disk, so a restart resumes where it stopped), joins rooms it is invited to by users of the
//! allowed homeservers, hands each text message from those users to the [`Responder`] and
//! answers in the room as a reply (`m.relates_to` → `m.in_reply_to`, msgtype `m.notice` as bots
//! do). A private reply goes to a direct room with the asker (the account's `m.direct`, created
//! with `is_direct` when there is none) and the room only hears [`SENT_PRIVATELY`]. Every Pi may
//! log in with the same token: Matrix sends each message to every connection, the responders
//! take turns, each node notes the bot's own replies it sees ([`Responder::reply_seen`]), and a
//! reply's `txnId` is derived from the question's event id, so two Pis sending the same reply
//! make one message. In an encrypted room it says once that it cannot read it. Alerts go to
//! `chat.alert_room`.
//!
//! - `sync`: reading a `/sync` body (pure);
//! - `client`: the homeserver calls and the saved sync position.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portable_atomic::AtomicU64;
use serde_json::{json, Value as Json};
use tokio::sync::{broadcast, watch};

use super::http::Backoff;
use super::pipeline::{Incoming, Responder, SENT_PRIVATELY};
use super::Reply;
use crate::clock::wall_ms;
use crate::config::MatrixConfig;

mod client;
mod sync;

pub use client::{encode_segment, MatrixError};
pub use sync::{is_allowed, person_of, read_sync, server_of, DirectRooms, Invite, SyncBatch};

use client::Client;

/// How long the homeserver may hold a `/sync` open.
const SYNC_TIMEOUT_MS: u64 = 30_000;

/// What the bot says, once, in a room it cannot read.
pub const CANNOT_READ_ENCRYPTED: &str = "I can't read encrypted messages, so I can't see what is asked in this room. To ask me something, start a direct chat with me with encryption turned off, or ask in a room without encryption.";

/// The `txnId` of the bot's answer to the question `event_id` (`kind`: what is sent): the same
/// on every Pi, so the homeserver keeps one when two Pis answer.
fn txn_for(kind: &str, event_id: &str) -> String {
    format!("om-{kind}-{event_id}")
}

/// Unique transaction ids for this process's alerts.
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

/// The wait before the next try: the homeserver's `retry_after_ms` when it gave one (at most
/// a minute), else the backoff's next delay.
fn wait_after_error(error: &MatrixError, backoff: &mut Backoff) -> Duration {
    let next = backoff.next_delay(super::http::jitter());
    match error {
        MatrixError::Status {
            retry_after_ms: Some(ms),
            ..
        } => Duration::from_millis(*ms).min(Duration::from_secs(60)),
        _ => next,
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
    let since_file = client::since_file(&responder.shared.config.storage.data_dir);
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
        allowed: config.allowed_servers.clone(),
        since: client::load_since(&since_file),
        since_file,
        rooms: Arc::new(Mutex::new(DirectRooms::default())),
        backoff: Backoff::new(1000, 60_000),
    };
    loop {
        if *shutdown.borrow() {
            return;
        }
        if session.me.is_empty() {
            if let Err(err) = session.log_in().await {
                if session.wait_after(&err, "login", &mut shutdown).await {
                    return;
                }
                continue;
            }
            tracing::info!(user = %session.me, homeserver = %config.homeserver, allowed = ?session.allowed, "matrix: logged in");
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
                session.backoff.reset();
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
    /// The homeservers whose users are answered (the bot's own when the config names none).
    allowed: Vec<String>,
    /// The last `next_batch`.
    since: Option<String>,
    since_file: PathBuf,
    rooms: Arc<Mutex<DirectRooms>>,
    backoff: Backoff,
}

impl Session {
    /// Who the bot is, which rooms it is in and which are direct (a resumed sync does not
    /// repeat the account data).
    async fn log_in(&mut self) -> Result<(), MatrixError> {
        let me = self.client.whoami().await?;
        let joined = self.client.joined_rooms().await?;
        let direct = self.client.direct_data(&me).await?;
        {
            let mut rooms = crate::sync::lock(&self.rooms);
            rooms.set_joined(joined);
            rooms.set_direct(&direct);
        }
        if self.allowed.is_empty() {
            self.allowed = vec![server_of(&me).to_string()];
        }
        self.me = me;
        Ok(())
    }

    /// The first sync without a saved position returns at once (its messages are history);
    /// the others long-poll.
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
        let wait = wait_after_error(err, &mut self.backoff);
        tracing::warn!(error = %err, retry_in = ?wait, "matrix: {what} failed");
        sleep_or_stop(shutdown, wait).await
    }

    /// Acts on one `/sync` answer: notes replies seen, joins invites, answers questions.
    async fn handle_sync(&mut self, body: &Json) {
        // Without a saved position the first sync is the past, not questions.
        let history = self.since.is_none();
        let batch = {
            let mut rooms = crate::sync::lock(&self.rooms);
            read_sync(body, &self.me, &mut rooms, history, wall_ms())
        };
        if !batch.next_batch.is_empty() {
            if let Err(err) = client::save_since(&self.since_file, &batch.next_batch) {
                tracing::warn!(error = %err, file = %self.since_file.display(), "matrix: cannot save the sync position");
            }
            self.since = Some(batch.next_batch.clone());
        }
        for question in &batch.replied_to {
            self.responder.reply_seen(question);
        }
        for invite in batch.invites {
            self.accept(invite).await;
        }
        for room in batch.encrypted {
            self.say_cannot_read(&room).await;
        }
        for (room, event) in batch.messages {
            if is_allowed(&event.sender, &self.allowed) {
                self.answer_later(room, event);
            } else {
                tracing::debug!(room = %room, sender_server = %server_of(&event.sender), "matrix: not answering a user of a server not allowed");
            }
        }
    }

    async fn accept(&self, invite: Invite) {
        if !is_allowed(&invite.inviter, &self.allowed) {
            tracing::info!(room = %invite.room, inviter_server = %server_of(&invite.inviter), "matrix: not joining, the inviter's server is not in chat.matrix.allowed_servers");
            return;
        }
        match self.client.join(&invite.room).await {
            Ok(id) => {
                tracing::info!(room = %id, "matrix: joined the room it was invited to");
                if !invite.direct {
                    return;
                }
                crate::sync::lock(&self.rooms).add_direct(&invite.inviter, &id);
                if let Err(err) = self
                    .client
                    .remember_direct(&self.me, &invite.inviter, &id)
                    .await
                {
                    tracing::warn!(room = %id, error = %err, "matrix: cannot record the direct room");
                }
            }
            Err(err) => {
                tracing::warn!(room = %invite.room, error = %err, "matrix: cannot join")
            }
        }
    }

    /// Says once (per room and process; one message for all Pis by its `txnId`) that the bot
    /// cannot read the encrypted room.
    async fn say_cannot_read(&self, room: &str) {
        tracing::warn!(room = %room, "matrix: this room is encrypted; the bot cannot read it and says so");
        let content = json!({ "msgtype": "m.notice", "body": CANNOT_READ_ENCRYPTED });
        if let Err(err) = self
            .client
            .send(room, content, &txn_for("encrypted", room))
            .await
        {
            tracing::warn!(room = %room, error = %err, "matrix: cannot tell the room it is unreadable");
        }
    }

    /// Hands one message to the responder in its own task (the responder may wait for its
    /// turn), and delivers the reply.
    fn answer_later(&self, room: String, event: sync::IncomingEvent) {
        let direct = crate::sync::lock(&self.rooms).is_direct(&room);
        let incoming = Incoming {
            id: event.event_id.clone(),
            user: person_of(&event.sender),
            user_id: event.sender.clone(),
            platform: "matrix",
            text: event.body.clone(),
            direct,
            mentioned: event.mentioned,
            from_bot: event.notice,
            seen_by_every_node: true,
        };
        let delivery = Delivery {
            client: self.client.clone(),
            rooms: self.rooms.clone(),
            me: self.me.clone(),
        };
        let responder = self.responder.clone();
        tokio::spawn(async move {
            let mentions = [delivery.me.as_str()];
            let Some(reply) = responder.respond(&incoming, &mentions).await else {
                return;
            };
            match delivery.deliver(&room, &incoming, &reply).await {
                Ok(()) => {
                    tracing::info!(room = %room, question = %incoming.id, private = reply.private, "matrix: answered")
                }
                Err(err) => tracing::warn!(room = %room, error = %err, "matrix: reply failed"),
            }
        });
    }

    async fn post_alert(&mut self, text: &str) {
        if self.alert_room.is_empty() {
            return;
        }
        if self.alert_room_id.is_none() {
            match self.client.join(&self.alert_room).await {
                Ok(id) => self.alert_room_id = Some(id),
                Err(err) => {
                    tracing::warn!(room = %self.alert_room, error = %err, "matrix: cannot join the alert room");
                    return;
                }
            }
        }
        if let Some(room) = self.alert_room_id.as_deref() {
            let content = json!({ "msgtype": "m.notice", "body": emoji(text) });
            let txn = self.transactions.next();
            if let Err(err) = self.client.send(room, content, &txn).await {
                tracing::warn!(room = %room, error = %err, "matrix: alert not posted");
            }
        }
    }
}

/// What a reply task needs to post: the client, the bot's rooms, who the bot is.
struct Delivery {
    client: Client,
    rooms: Arc<Mutex<DirectRooms>>,
    me: String,
}

impl Delivery {
    /// Posts `reply` to `incoming` (asked in `room`): in the room as a reply to the question;
    /// a private one to a direct room with the asker, the room hearing only that it was sent.
    async fn deliver(
        &self,
        room: &str,
        incoming: &Incoming,
        reply: &Reply,
    ) -> Result<(), MatrixError> {
        let in_room = |body: &str| {
            json!({
                "msgtype": "m.notice",
                "body": body,
                "m.relates_to": { "m.in_reply_to": { "event_id": incoming.id } },
            })
        };
        if !reply.private || incoming.direct {
            let txn = txn_for("re", &incoming.id);
            return self.client.send(room, in_room(&reply.text), &txn).await;
        }
        let dm = self.direct_room(&incoming.user_id).await?;
        let private = json!({ "msgtype": "m.notice", "body": reply.text });
        self.client
            .send(&dm, private, &txn_for("dm", &incoming.id))
            .await?;
        let txn = txn_for("re", &incoming.id);
        self.client.send(room, in_room(SENT_PRIVATELY), &txn).await
    }

    /// The direct room with `user`: the one `m.direct` lists, or a new one (recorded in
    /// `m.direct` for every Pi of the account).
    async fn direct_room(&self, user: &str) -> Result<String, MatrixError> {
        let known = crate::sync::lock(&self.rooms).room_with(user);
        if let Some(room) = known {
            return Ok(room);
        }
        let room = self.client.create_direct(user).await?;
        tracing::info!(room = %room, "matrix: opened a direct room for a private reply");
        crate::sync::lock(&self.rooms).add_direct(user, &room);
        if let Err(err) = self.client.remember_direct(&self.me, user, &room).await {
            tracing::warn!(room = %room, error = %err, "matrix: cannot record the direct room");
        }
        Ok(room)
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

    #[test]
    fn replies_are_one_transaction_per_question() {
        assert_eq!(txn_for("re", "$q1"), txn_for("re", "$q1"));
        assert_ne!(txn_for("re", "$q1"), txn_for("dm", "$q1"));
        assert_eq!(emoji(":warning: lobby is cold."), "⚠️ lobby is cold.");
    }
}
