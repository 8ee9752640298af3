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
//! - `client`: the homeserver calls and the saved sync position;
//! - this file: the [`ChatPlatform`] seam over them (`chat::driver` runs the loop).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portable_atomic::AtomicU64;
use serde_json::{json, Value as Json};

use super::driver::{ChatPlatform, Ended, Event, Poster};
use super::pipeline::{Incoming, SENT_PRIVATELY};
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

/// A failed call as the driver sees it: the homeserver's `retry_after_ms` is the wait it asks.
fn ended(what: &str, error: &MatrixError) -> Ended {
    let retry_after = match error {
        MatrixError::Status {
            retry_after_ms: Some(ms),
            ..
        } => Some(Duration::from_millis(*ms)),
        _ => None,
    };
    Ended::Dropped {
        reason: format!("{what} failed: {error}"),
        retry_after,
    }
}

/// The Matrix adapter: the bot account, where it is in the sync stream, its rooms.
pub struct Matrix {
    client: Client,
    transactions: Arc<Transactions>,
    alert_room_id: Arc<Mutex<Option<String>>>,
    homeserver: String,
    /// The bot's user id (empty until `whoami` answered).
    me: String,
    /// The homeservers whose users are answered (the bot's own when the config names none).
    allowed: Vec<String>,
    /// The last `next_batch`.
    since: Option<String>,
    since_file: PathBuf,
    rooms: Arc<Mutex<DirectRooms>>,
}

impl Matrix {
    /// The adapter for `config`; the sync position is kept under `data_dir`; `node` makes
    /// this process's alert transaction ids unique.
    pub fn new(config: &MatrixConfig, data_dir: &Path, node: u64) -> Result<Matrix, MatrixError> {
        let since_file = client::since_file(data_dir);
        Ok(Matrix {
            client: Client::new(config)?,
            transactions: Arc::new(Transactions {
                prefix: format!("om{node}-{}", wall_ms()),
                counter: AtomicU64::new(0),
            }),
            alert_room_id: Arc::new(Mutex::new(None)),
            homeserver: config.homeserver.clone(),
            me: String::new(),
            allowed: config.allowed_servers.clone(),
            since: client::load_since(&since_file),
            since_file,
            rooms: Arc::new(Mutex::new(DirectRooms::default())),
        })
    }

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
        tracing::info!(user = %self.me, homeserver = %self.homeserver, allowed = ?self.allowed, "matrix: logged in");
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

    /// Keeps the sync position (on disk too).
    fn keep_position(&mut self, next_batch: &str) {
        if next_batch.is_empty() {
            return;
        }
        if let Err(err) = client::save_since(&self.since_file, next_batch) {
            tracing::warn!(error = %err, file = %self.since_file.display(), "matrix: cannot save the sync position");
        }
        self.since = Some(next_batch.to_string());
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

    /// One message from an allowed user as the pipeline sees it, and the room it was asked in.
    fn message(&self, room: String, event: sync::IncomingEvent) -> Event<String> {
        let direct = crate::sync::lock(&self.rooms).is_direct(&room);
        let incoming = Incoming {
            id: event.event_id.clone(),
            user: person_of(&event.sender),
            user_id: event.sender.clone(),
            platform: Self::NAME,
            text: event.body.clone(),
            direct,
            mentioned: event.mentioned,
            from_bot: event.notice,
            seen_by_every_node: true,
        };
        Event::Message(incoming, room)
    }
}

impl ChatPlatform for Matrix {
    const NAME: &'static str = "matrix";
    type Raw = Json;
    type Poster = Delivery;

    async fn connect(&mut self) -> Result<(), Ended> {
        if self.me.is_empty() {
            self.log_in().await.map_err(|err| ended("login", &err))?;
        }
        Ok(())
    }

    /// One `/sync`; dropped mid-flight, the next one starts from the same position.
    async fn receive(&mut self) -> Result<Json, Ended> {
        let timeout = Duration::from_millis(SYNC_TIMEOUT_MS + 30_000);
        self.client
            .call_async("GET", self.sync_path(), None, timeout)
            .await
            .map_err(|err| ended("sync", &err))
    }

    /// Notes replies seen, joins invites, tells encrypted rooms it cannot read them, and
    /// returns the questions of allowed users.
    async fn read(&mut self, body: Json) -> Result<Vec<Event<String>>, Ended> {
        // Without a saved position the first sync is the past, not questions.
        let history = self.since.is_none();
        let batch = {
            let mut rooms = crate::sync::lock(&self.rooms);
            read_sync(&body, &self.me, &mut rooms, history, wall_ms())
        };
        self.keep_position(&batch.next_batch);
        for invite in batch.invites {
            self.accept(invite).await;
        }
        for room in &batch.encrypted {
            self.say_cannot_read(room).await;
        }
        let mut events = vec![Event::Connected];
        events.extend(batch.replied_to.into_iter().map(Event::ReplySeen));
        for (room, event) in batch.messages {
            if is_allowed(&event.sender, &self.allowed) {
                events.push(self.message(room, event));
            } else {
                tracing::debug!(room = %room, sender_server = %server_of(&event.sender), "matrix: not answering a user of a server not allowed");
            }
        }
        Ok(events)
    }

    async fn close(&mut self) {}

    fn poster(&self) -> Delivery {
        Delivery {
            client: self.client.clone(),
            rooms: self.rooms.clone(),
            me: self.me.clone(),
            transactions: self.transactions.clone(),
            alert_room_id: self.alert_room_id.clone(),
        }
    }

    fn mentions(&self) -> Vec<String> {
        vec![self.me.clone()]
    }
}

/// How the adapter posts: the client, the bot's rooms, who the bot is.
#[derive(Clone)]
pub struct Delivery {
    client: Client,
    rooms: Arc<Mutex<DirectRooms>>,
    me: String,
    transactions: Arc<Transactions>,
    /// The alert room's id, once joined.
    alert_room_id: Arc<Mutex<Option<String>>>,
}

impl Poster for Delivery {
    /// The room the question was asked in.
    type Origin = String;
    type Error = MatrixError;

    /// In the room as a reply to the question; a private one to a direct room with the asker,
    /// the room hearing only that it was sent.
    async fn reply(
        &self,
        room: &String,
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

    async fn alert(&self, alert_room: &str, text: &str) -> Result<(), MatrixError> {
        let known = crate::sync::lock(&self.alert_room_id).clone();
        let room = match known {
            Some(room) => room,
            None => {
                let room = self.client.join(alert_room).await?;
                *crate::sync::lock(&self.alert_room_id) = Some(room.clone());
                room
            }
        };
        let content = json!({ "msgtype": "m.notice", "body": emoji(text) });
        self.client
            .send(&room, content, &self.transactions.next())
            .await
    }
}

impl Delivery {
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
