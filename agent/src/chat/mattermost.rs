//! The Mattermost adapter: the bot account's WebSocket event API (`/api/v4/websocket`,
//! authenticated by the bearer token on the upgrade), `hello` then `posted` events; replies go
//! through the REST API (`POST /api/v4/posts`) in the question's thread. Mattermost sends each
//! post to every connection of the account, so the responders take turns ([`Responder`]); the
//! bot's replies carry `props.officemesh_reply_to` (the question's post id), which every node
//! sees and notes so only one answers. A private reply goes to the direct channel with the
//! asker. A reconnect resumes (`connection_id` + sequence), so posts during a gap are
//! answered; alerts go to `chat.alert_room` (a channel id).
//!
//! [`read_event`] is pure; the rest maps it onto the [`ChatPlatform`] seam (`chat::driver`
//! runs the loop). The token travels in headers only.

use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio_tungstenite::tungstenite::Message;

use super::driver::{self, ChatPlatform, Ended, Poster};
use super::http::{self, Body, HttpClient, HttpError};
use super::pipeline::{Incoming, SENT_PRIVATELY};
use super::Reply;
use crate::config::MattermostConfig;

/// No frame for this long: the socket is dead (the server pings every 30 s or so).
const IDLE: Duration = Duration::from_secs(120);
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The post prop that names the question a reply answers.
pub const REPLY_TO_PROP: &str = "officemesh_reply_to";

/// What one WebSocket event means to the bot.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The connection is up; `connection_id` resumes it after a drop.
    Hello {
        connection_id: String,
    },
    /// A post by someone else.
    Posted(MattermostPost),
    /// The bot's own reply to a question (from this node or another).
    OwnReply {
        question: String,
    },
    Other,
}

/// A post to look at.
#[derive(Debug, Clone, PartialEq)]
pub struct MattermostPost {
    pub id: String,
    pub channel_id: String,
    /// The thread to answer in: the post's root, or the post itself.
    pub root_id: String,
    /// The writer's display name (for greeting only).
    pub sender: String,
    /// The writer's user id: who a private reply goes to.
    pub user_id: String,
    pub text: String,
    pub direct: bool,
    pub mentioned: bool,
    pub from_bot: bool,
}

/// Reads one WebSocket text frame; `me` is the bot's user id.
pub fn read_event(text: &str, me: &str) -> Event {
    let Ok(frame) = serde_json::from_str::<Json>(text) else {
        return Event::Other;
    };
    match frame["event"].as_str() {
        Some("hello") => {
            return Event::Hello {
                connection_id: frame["data"]["connection_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            }
        }
        Some("posted") => {}
        _ => return Event::Other,
    }
    let data = &frame["data"];
    // `post` (and `mentions`) are JSON encoded as strings inside the event.
    match data["post"]
        .as_str()
        .and_then(|text| serde_json::from_str::<Json>(text).ok())
    {
        Some(post) => read_post(data, &post, me),
        None => Event::Other,
    }
}

/// A `posted` event's post (`data` is the event's, `post` decoded from it).
fn read_post(data: &Json, post: &Json, me: &str) -> Event {
    let user = post["user_id"].as_str().unwrap_or_default();
    if !me.is_empty() && user == me {
        return match post["props"][REPLY_TO_PROP].as_str() {
            Some(question) => Event::OwnReply {
                question: question.to_string(),
            },
            None => Event::Other,
        };
    }
    if !post["type"].as_str().unwrap_or_default().is_empty() {
        return Event::Other; // system messages: joins, header changes, …
    }
    let (Some(id), Some(channel_id)) = (post["id"].as_str(), post["channel_id"].as_str()) else {
        return Event::Other;
    };
    let mentioned = data["mentions"]
        .as_str()
        .and_then(|text| serde_json::from_str::<Vec<String>>(text).ok())
        .is_some_and(|ids| ids.iter().any(|id| id == me));
    let root = post["root_id"].as_str().unwrap_or_default();
    let from_bot = post["props"]["from_bot"] == "true" || post["props"]["from_webhook"] == "true";
    Event::Posted(MattermostPost {
        id: id.to_string(),
        channel_id: channel_id.to_string(),
        root_id: if root.is_empty() { id } else { root }.to_string(),
        sender: data["sender_name"]
            .as_str()
            .unwrap_or(user)
            .trim_start_matches('@')
            .to_string(),
        user_id: user.to_string(),
        text: post["message"].as_str().unwrap_or_default().to_string(),
        direct: data["channel_type"] == "D",
        mentioned,
        from_bot,
    })
}

/// The `seq` of a WebSocket event (every event the server sends carries one).
pub fn seq_of(text: &str) -> Option<i64> {
    serde_json::from_str::<Json>(text).ok()?["seq"].as_i64()
}

/// Where to resume a dropped connection: Mattermost replays the events after `next_seq` to a
/// reconnect that names the old `connection_id`, so posts during the gap are answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resume {
    pub connection_id: String,
    /// The sequence number of the next event expected (the last seen + 1).
    pub next_seq: i64,
}

/// The WebSocket URL to connect to: resuming `resume` when there is a connection to resume.
pub fn connect_url(server: &str, resume: &Resume) -> String {
    let base = websocket_url(server);
    if resume.connection_id.is_empty() {
        return base;
    }
    format!(
        "{base}?connection_id={}&sequence_number={}",
        super::matrix::encode_segment(&resume.connection_id),
        resume.next_seq
    )
}

/// The WebSocket URL of a server URL (`https://h` → `wss://h/api/v4/websocket`).
pub fn websocket_url(server: &str) -> String {
    let server = server.trim_end_matches('/');
    let rest = server
        .strip_prefix("https://")
        .map(|rest| format!("wss://{rest}"))
        .or_else(|| {
            server
                .strip_prefix("http://")
                .map(|rest| format!("ws://{rest}"))
        })
        .unwrap_or_else(|| server.to_string());
    format!("{rest}/api/v4/websocket")
}

#[derive(Clone)]
struct Api {
    base: String,
    token: String,
    http: HttpClient,
}

impl Api {
    async fn me(&self) -> Result<(String, String), HttpError> {
        let url = format!("{}/api/v4/users/me", self.base);
        let answer = self
            .http
            .call("GET", &url, &self.token, Body::None, CALL_TIMEOUT)
            .await?;
        match (answer["id"].as_str(), answer["username"].as_str()) {
            (Some(id), Some(name)) => Ok((id.to_string(), name.to_string())),
            _ => Err(HttpError::Decode {
                url,
                reason: "users/me: no id".into(),
            }),
        }
    }

    async fn post(
        &self,
        channel: &str,
        text: &str,
        root_id: Option<&str>,
        reply_to: Option<&str>,
    ) -> Result<(), HttpError> {
        let mut body = json!({ "channel_id": channel, "message": text });
        if let Some(root) = root_id {
            body["root_id"] = json!(root);
        }
        if let Some(question) = reply_to {
            body["props"] = json!({ REPLY_TO_PROP: question });
        }
        let url = format!("{}/api/v4/posts", self.base);
        self.http
            .call_patiently(
                "POST",
                &url,
                &self.token,
                || Body::Json(body.clone()),
                CALL_TIMEOUT,
            )
            .await
            .map(|_| ())
    }

    /// The direct channel between the bot (`me`) and `user` (Mattermost returns the existing
    /// one, or makes it).
    async fn direct_channel(&self, me: &str, user: &str) -> Result<String, HttpError> {
        let url = format!("{}/api/v4/channels/direct", self.base);
        let body = Body::Json(json!([me, user]));
        let answer = self
            .http
            .call("POST", &url, &self.token, body, CALL_TIMEOUT)
            .await?;
        answer["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| HttpError::Decode {
                url,
                reason: "no channel id".into(),
            })
    }
}

/// How the adapter posts: the API and the bot's user id.
#[derive(Clone)]
pub struct MattermostPoster {
    api: Api,
    me: String,
}

impl Poster for MattermostPoster {
    type Origin = MattermostPost;
    type Error = HttpError;

    /// In the post's thread; a private one in the direct channel with the asker, the thread
    /// hearing only that it was sent. The in-thread post names the question
    /// (`REPLY_TO_PROP`), so the other Pis see it was answered.
    async fn reply(
        &self,
        post: &MattermostPost,
        _: &Incoming,
        reply: &Reply,
    ) -> Result<(), HttpError> {
        let (root, question) = (Some(post.root_id.as_str()), Some(post.id.as_str()));
        if !reply.private || post.direct {
            return self
                .api
                .post(&post.channel_id, &reply.text, root, question)
                .await;
        }
        let channel = self.api.direct_channel(&self.me, &post.user_id).await?;
        self.api.post(&channel, &reply.text, None, None).await?;
        self.api
            .post(&post.channel_id, SENT_PRIVATELY, root, question)
            .await
    }

    async fn alert(&self, room: &str, text: &str) -> Result<(), HttpError> {
        self.api.post(room, text, None, None).await
    }
}

/// The Mattermost adapter: the bot account's WebSocket, resumed across drops.
pub struct Mattermost {
    config: MattermostConfig,
    api: Api,
    me: String,
    mention: String,
    resume: Resume,
    socket: driver::FrameSocket,
}

impl Mattermost {
    pub fn new(config: MattermostConfig) -> Result<Mattermost, HttpError> {
        let api = Api {
            base: config.url.trim_end_matches('/').to_string(),
            token: config.bot_token.clone(),
            http: HttpClient::new(Some(&config.ca_file))?,
        };
        Ok(Mattermost {
            config,
            api,
            me: String::new(),
            mention: String::new(),
            resume: Resume::default(),
            socket: driver::FrameSocket::default(),
        })
    }

    /// What one text frame means, noting its sequence number for a resume.
    fn event(&mut self, text: &str) -> Option<driver::Event<MattermostPost>> {
        let event = read_event(text, &self.me);
        if let Event::Hello { connection_id } = &event {
            if *connection_id != self.resume.connection_id {
                // A new connection (or the server could not resume): its own numbering.
                self.resume.connection_id = connection_id.clone();
                self.resume.next_seq = 0;
            }
        }
        if let Some(seq) = seq_of(text) {
            self.resume.next_seq = self.resume.next_seq.max(seq + 1);
        }
        Some(match event {
            Event::Hello { .. } => driver::Event::Connected,
            Event::OwnReply { question } => driver::Event::ReplySeen(question),
            Event::Posted(post) => driver::Event::Message(incoming(&post), post),
            Event::Other => return None,
        })
    }
}

/// The pipeline's view of a post.
fn incoming(post: &MattermostPost) -> Incoming {
    Incoming {
        id: post.id.clone(),
        user: post.sender.clone(),
        user_id: post.user_id.clone(),
        platform: Mattermost::NAME,
        text: post.text.clone(),
        direct: post.direct,
        mentioned: post.mentioned,
        from_bot: post.from_bot,
        seen_by_every_node: true,
    }
}

impl ChatPlatform for Mattermost {
    const NAME: &'static str = "mattermost";
    type Raw = Message;
    type Poster = MattermostPoster;

    async fn connect(&mut self) -> Result<(), Ended> {
        let (id, name) = self.api.me().await.map_err(Ended::dropped)?;
        self.me = id;
        self.mention = format!("@{name}");
        let url = connect_url(&self.config.url, &self.resume);
        let ca_file = Some(self.config.ca_file.as_path());
        let socket = http::connect(&url, &self.config.bot_token, ca_file)
            .await
            .map_err(Ended::dropped)?;
        self.socket.open(socket);
        Ok(())
    }

    async fn receive(&mut self) -> Result<Message, Ended> {
        self.socket.next(IDLE).await
    }

    async fn read(
        &mut self,
        message: Message,
    ) -> Result<Vec<driver::Event<MattermostPost>>, Ended> {
        match message {
            Message::Text(text) => Ok(self.event(&text).into_iter().collect()),
            Message::Ping(data) => {
                let _ = self.socket.send(Message::Pong(data)).await;
                Ok(Vec::new())
            }
            Message::Close(_) => Err(Ended::dropped("closed by the server")),
            _ => Ok(Vec::new()),
        }
    }

    async fn close(&mut self) {
        self.socket.close().await;
    }

    fn poster(&self) -> MattermostPoster {
        MattermostPoster {
            api: self.api.clone(),
            me: self.me.clone(),
        }
    }

    fn mentions(&self) -> Vec<String> {
        vec![self.mention.clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(post: Json, channel_type: &str, mentions: Option<&str>) -> String {
        let mut data = json!({
            "channel_display_name": "Town Square",
            "channel_name": "town-square",
            "channel_type": channel_type,
            "post": post.to_string(),
            "sender_name": "@ada",
            "team_id": "team1"
        });
        if let Some(mentions) = mentions {
            data["mentions"] = json!(mentions);
        }
        json!({ "event": "posted", "data": data, "broadcast": { "channel_id": "ch1" }, "seq": 3 })
            .to_string()
    }

    #[test]
    fn events_as_mattermost_sends_them() {
        assert_eq!(
            read_event(
                r#"{"event":"hello","data":{"server_version":"9.11.0"},"broadcast":{"user_id":"bot1"},"seq":0}"#,
                "bot1"
            ),
            Event::Hello {
                connection_id: String::new()
            }
        );
        let question = posted(
            json!({ "id": "p1", "channel_id": "ch1", "root_id": "", "user_id": "u1",
                    "message": "@officemesh who's in?", "type": "", "props": {} }),
            "O",
            Some(r#"["bot1"]"#),
        );
        match read_event(&question, "bot1") {
            Event::Posted(post) => {
                assert_eq!(post.id, "p1");
                assert_eq!(post.root_id, "p1", "a new thread under the question");
                assert_eq!(post.sender, "ada");
                assert!(post.mentioned && !post.direct && !post.from_bot);
            }
            other => panic!("{other:?}"),
        }
        let own = posted(
            json!({ "id": "p2", "channel_id": "ch1", "root_id": "p1", "user_id": "bot1",
                    "message": "In the office: ada", "type": "",
                    "props": { "from_bot": "true", REPLY_TO_PROP: "p1" } }),
            "O",
            None,
        );
        assert_eq!(
            read_event(&own, "bot1"),
            Event::OwnReply {
                question: "p1".into()
            }
        );
        let direct = posted(
            json!({ "id": "p3", "channel_id": "dm1", "root_id": "p0", "user_id": "u1",
                    "message": "status", "type": "", "props": {} }),
            "D",
            None,
        );
        match read_event(&direct, "bot1") {
            Event::Posted(post) => {
                assert!(post.direct);
                assert_eq!(post.root_id, "p0", "answers in the question's thread");
            }
            other => panic!("{other:?}"),
        }
        let other_bot = posted(
            json!({ "id": "p4", "channel_id": "ch1", "user_id": "u9", "message": "officemesh status",
                    "type": "", "props": { "from_bot": "true" } }),
            "O",
            None,
        );
        assert!(matches!(read_event(&other_bot, "bot1"), Event::Posted(p) if p.from_bot));
        let system = posted(
            json!({ "id": "p5", "channel_id": "ch1", "user_id": "u1", "message": "ada joined",
                    "type": "system_join_channel", "props": {} }),
            "O",
            None,
        );
        assert_eq!(read_event(&system, "bot1"), Event::Other);
        assert_eq!(read_event("{}", "bot1"), Event::Other);
    }

    #[test]
    fn websocket_urls() {
        assert_eq!(
            websocket_url("https://chat.example.org/"),
            "wss://chat.example.org/api/v4/websocket"
        );
        assert_eq!(
            websocket_url("http://127.0.0.1:8065"),
            "ws://127.0.0.1:8065/api/v4/websocket"
        );
    }
}
