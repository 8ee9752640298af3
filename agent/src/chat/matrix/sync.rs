//! Reading a Matrix `/sync` answer (pure): what the bot must join, which text messages are
//! questions, which questions the bot's account already replied to (from any Pi), which rooms
//! are direct messages with whom (`m.direct`), which rooms it is in, and which rooms turned out
//! to be encrypted. Touches no network and no clock (the time comes in as an argument).

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;

/// Messages older than this when they arrive are history, not questions.
const MAX_AGE_MS: u64 = 5 * 60 * 1000;

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
    /// Joined rooms whose `m.room.encryption` state arrived in this batch (on joining one, or
    /// when encryption was turned on): the bot cannot read what is said there.
    pub encrypted: Vec<String>,
}

/// An invitation to a room.
#[derive(Debug, Clone, PartialEq)]
pub struct Invite {
    pub room: String,
    /// Who sent the invitation (empty when the homeserver did not say).
    pub inviter: String,
    /// The invitation is for a direct message (`is_direct`).
    pub direct: bool,
}

/// A text message in a room.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    pub event_id: String,
    /// The full user id (`@ada:example.org`).
    pub sender: String,
    pub body: String,
    pub mentioned: bool,
    /// `m.notice`: what bots send.
    pub notice: bool,
}

/// The bot's rooms: which are direct messages with whom (the account's `m.direct` data, shared
/// by every connection of the account, so every Pi knows them) and which it has joined.
#[derive(Debug, Default)]
pub struct DirectRooms {
    with: HashMap<String, Vec<String>>,
    rooms: HashSet<String>,
    joined: HashSet<String>,
}

impl DirectRooms {
    pub fn is_direct(&self, room: &str) -> bool {
        self.rooms.contains(room)
    }

    /// A joined direct room with `user` (the newest listed), if there is one.
    pub fn room_with(&self, user: &str) -> Option<String> {
        self.with
            .get(user)?
            .iter()
            .rev()
            .find(|room| self.joined.contains(*room))
            .cloned()
    }

    /// Replaces the direct rooms with an `m.direct` content (`{ user id: [room ids] }`).
    pub fn set_direct(&mut self, content: &Json) {
        self.with = content
            .as_object()
            .map(|users| {
                users
                    .iter()
                    .map(|(user, rooms)| {
                        let rooms = rooms.as_array().into_iter().flatten();
                        let rooms = rooms.filter_map(Json::as_str).map(str::to_string);
                        (user.clone(), rooms.collect())
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.rooms = self.with.values().flatten().cloned().collect();
    }

    /// Notes a direct room with `user` (one the bot just made or joined).
    pub fn add_direct(&mut self, user: &str, room: &str) {
        self.with
            .entry(user.to_string())
            .or_default()
            .push(room.to_string());
        self.rooms.insert(room.to_string());
        self.joined.insert(room.to_string());
    }

    /// Notes the rooms the bot is in (from `/joined_rooms`).
    pub fn set_joined(&mut self, rooms: impl IntoIterator<Item = String>) {
        self.joined = rooms.into_iter().collect();
    }
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
    for event in events(&body["account_data"]) {
        if event["type"] == "m.direct" {
            direct.set_direct(&event["content"]);
        }
    }
    if let Some(invites) = body["rooms"]["invite"].as_object() {
        batch.invites = invites
            .iter()
            .map(|(room, state)| invite_of(room, state, me))
            .collect();
    }
    if let Some(left) = body["rooms"]["leave"].as_object() {
        for room in left.keys() {
            direct.joined.remove(room);
        }
    }
    let Some(joined) = body["rooms"]["join"].as_object() else {
        return batch;
    };
    for (room, state) in joined {
        direct.joined.insert(room.clone());
        let state_events = events(&state["state"]).chain(events(&state["timeline"]));
        if !history && state_events.into_iter().any(is_encryption) {
            batch.encrypted.push(room.clone());
        }
        for event in events(&state["timeline"]) {
            match timeline_message(event, me, history, now_ms) {
                Some(Timeline::OwnReplyTo(question)) => batch.replied_to.push(question),
                Some(Timeline::Question(incoming)) => batch.messages.push((room.clone(), incoming)),
                None => {}
            }
        }
    }
    batch
}

/// The `events` array of a sync section (empty when absent).
fn events(section: &Json) -> impl Iterator<Item = &Json> {
    section["events"].as_array().into_iter().flatten()
}

fn is_encryption(event: &Json) -> bool {
    event["type"] == "m.room.encryption" && event["state_key"] == ""
}

/// An invitation to `room`, with its inviter and whether it is a direct message.
fn invite_of(room: &str, state: &Json, me: &str) -> Invite {
    let own = events(&state["invite_state"])
        .find(|event| event["type"] == "m.room.member" && event["state_key"] == me);
    Invite {
        room: room.to_string(),
        inviter: own
            .and_then(|event| event["sender"].as_str())
            .unwrap_or_default()
            .to_string(),
        direct: own.is_some_and(|event| event["content"]["is_direct"] == true),
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

/// The name to greet a Matrix user by: its localpart (`@ada:example.org` → `ada`).
pub fn person_of(user_id: &str) -> String {
    let local = user_id.trim_start_matches('@');
    local.split(':').next().unwrap_or(local).to_string()
}

/// The homeserver of a user id (`@ada:example.org:8448` → `example.org:8448`); empty when the
/// id has none.
pub fn server_of(user_id: &str) -> &str {
    user_id
        .split_once(':')
        .map(|(_, server)| server)
        .unwrap_or("")
}

/// Whether `user_id` belongs to one of `allowed` (server names, case-insensitive).
pub fn is_allowed(user_id: &str, allowed: &[String]) -> bool {
    let server = server_of(user_id);
    !server.is_empty() && allowed.iter().any(|a| a.eq_ignore_ascii_case(server))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
                    "!new:example.org": { "invite_state": { "events": [
                        { "type": "m.room.member", "state_key": ME, "sender": "@eve:evil.example",
                          "content": { "membership": "invite" } }
                    ] } },
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
                    "!secret:example.org": {
                        "state": { "events": [
                            { "type": "m.room.encryption", "state_key": "", "sender": "@ada:example.org",
                              "content": { "algorithm": "m.megolm.v1.aes-sha2" } }
                        ] },
                        "timeline": { "events": [
                            { "type": "m.room.encrypted", "event_id": "$e", "sender": "@ada:example.org",
                              "origin_server_ts": NOW, "content": { "algorithm": "m.megolm.v1.aes-sha2" } }
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
                    inviter: "@bob:example.org".into(),
                    direct: true,
                },
                Invite {
                    room: "!new:example.org".into(),
                    inviter: "@eve:evil.example".into(),
                    direct: false,
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
            "old, own, encrypted and non-text events are skipped"
        );
        assert!(batch.messages[1].1.mentioned);
        assert!(!batch.messages[0].1.mentioned);
        assert_eq!(batch.messages[0].1.sender, "@ada:example.org");
        assert_eq!(batch.encrypted, vec!["!secret:example.org".to_string()]);
        assert!(direct.is_direct("!dm:example.org"));
        assert!(!direct.is_direct("!office:example.org"));
        assert_eq!(
            direct.room_with("@ada:example.org").as_deref(),
            Some("!dm:example.org")
        );
        assert_eq!(direct.room_with("@bob:example.org"), None);
    }

    #[test]
    fn the_first_sync_is_history() {
        let mut direct = DirectRooms::default();
        let batch = read_sync(&sync_body(), ME, &mut direct, true, NOW);
        assert!(batch.messages.is_empty());
        assert!(batch.encrypted.is_empty(), "said once, when it was joined");
        assert_eq!(batch.invites.len(), 2, "invites are still read");
        assert_eq!(batch.replied_to, vec!["$q0".to_string()]);
    }

    #[test]
    fn a_left_direct_room_is_not_used() {
        let mut direct = DirectRooms::default();
        read_sync(&sync_body(), ME, &mut direct, false, NOW);
        let left = json!({ "next_batch": "s2", "rooms": { "leave": { "!dm:example.org": {} } } });
        read_sync(&left, ME, &mut direct, false, NOW);
        assert_eq!(direct.room_with("@ada:example.org"), None);
    }

    #[test]
    fn names_servers_and_who_is_allowed() {
        assert_eq!(person_of("@ada:example.org"), "ada");
        assert_eq!(person_of("ada"), "ada");
        assert_eq!(server_of("@ada:example.org:8448"), "example.org:8448");
        let allowed = vec!["Example.org".to_string()];
        assert!(is_allowed("@ada:example.org", &allowed));
        assert!(!is_allowed("@ada:example.org.evil", &allowed));
        assert!(!is_allowed("@eve:evil.example", &allowed));
        assert!(!is_allowed("ada", &allowed));
    }
}
