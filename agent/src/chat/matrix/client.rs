//! The Matrix client-server calls the adapter makes (over `crate::outbound`'s one client) (whoami, sync, send, join, create a direct
//! room, `m.direct` account data, joined rooms) and the `/sync` position kept on disk. The
//! access token is sent in a header, never logged, never part of an error. Holds no state of
//! the conversation (that is `super::Session`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value as Json};

use crate::config::MatrixConfig;
use crate::outbound::{Body, HttpClient, HttpError};

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

/// A Matrix client-server API client over the process's one HTTP client.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: String,
    http: HttpClient,
}

const CALL: Duration = Duration::from_secs(20);

impl Client {
    pub fn new(config: &MatrixConfig) -> Result<Client, MatrixError> {
        let token = config.token().map_err(|e| MatrixError::Config(e.0))?;
        if token.is_empty() {
            return Err(MatrixError::Config(
                "chat.matrix access token is empty".into(),
            ));
        }
        let http = HttpClient::new(Some(&config.ca_file))
            .map_err(|e| MatrixError::Config(e.to_string()))?;
        Ok(Client {
            base: config.homeserver.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    /// One call; `path` starts with `/_matrix/`.
    pub async fn call_async(
        &self,
        method: &'static str,
        path: String,
        body: Option<Json>,
        timeout: Duration,
    ) -> Result<Json, MatrixError> {
        let url = format!("{}{path}", self.base);
        let body = body.map_or(Body::None, Body::Json);
        match self
            .http
            .call(method, &url, &self.token, body, timeout)
            .await
        {
            Ok(answer) => Ok(answer),
            Err(HttpError::Status { status, body, .. }) => {
                let body: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
                Err(MatrixError::Status {
                    status,
                    errcode: body["errcode"].as_str().unwrap_or("?").to_string(),
                    message: body["error"].as_str().unwrap_or_default().to_string(),
                    retry_after_ms: body["retry_after_ms"].as_u64(),
                })
            }
            Err(HttpError::RateLimited { retry_after, .. }) => Err(MatrixError::Status {
                status: 429,
                errcode: "M_LIMIT_EXCEEDED".into(),
                message: "rate limited".into(),
                retry_after_ms: u64::try_from(retry_after.as_millis()).ok(),
            }),
            Err(HttpError::Decode { reason, .. }) => Err(MatrixError::Decode(reason)),
            Err(other) => Err(MatrixError::Transport(other.to_string())),
        }
    }

    /// The bot's user id.
    pub async fn whoami(&self) -> Result<String, MatrixError> {
        let path = "/_matrix/client/v3/account/whoami".to_string();
        let answer = self.call_async("GET", path, None, CALL).await?;
        Ok(answer["user_id"].as_str().unwrap_or_default().to_string())
    }

    /// The rooms the bot is in.
    pub async fn joined_rooms(&self) -> Result<Vec<String>, MatrixError> {
        let path = "/_matrix/client/v3/joined_rooms".to_string();
        let answer = self.call_async("GET", path, None, CALL).await?;
        let rooms = answer["joined_rooms"].as_array().into_iter().flatten();
        Ok(rooms.filter_map(Json::as_str).map(str::to_string).collect())
    }

    /// The account's `m.direct` content (`{}` when it has none yet).
    pub async fn direct_data(&self, me: &str) -> Result<Json, MatrixError> {
        let path = direct_path(me);
        match self.call_async("GET", path, None, CALL).await {
            Ok(content) if content.is_object() => Ok(content),
            Ok(_) | Err(MatrixError::Status { status: 404, .. }) => Ok(json!({})),
            Err(err) => Err(err),
        }
    }

    /// Sends `content` (an `m.room.message`) into `room`. `txn` makes a retry, or the same
    /// send from another Pi of the same account, one message (the homeserver keeps the first).
    pub async fn send(&self, room: &str, content: Json, txn: &str) -> Result<(), MatrixError> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
            encode_segment(room),
            encode_segment(txn)
        );
        self.call_async("PUT", path, Some(content), CALL)
            .await
            .map(|_| ())
    }

    /// Joins a room by id or alias; returns its room id.
    pub async fn join(&self, room: &str) -> Result<String, MatrixError> {
        let path = format!("/_matrix/client/v3/join/{}", encode_segment(room));
        let answer = self.call_async("POST", path, Some(json!({})), CALL).await?;
        Ok(answer["room_id"].as_str().unwrap_or(room).to_string())
    }

    /// Creates a direct room with `user` (invited, `is_direct`, unencrypted so the bot can
    /// read it); returns its id.
    pub async fn create_direct(&self, user: &str) -> Result<String, MatrixError> {
        let body = json!({
            "preset": "trusted_private_chat",
            "is_direct": true,
            "invite": [user],
        });
        let path = "/_matrix/client/v3/createRoom".to_string();
        let answer = self.call_async("POST", path, Some(body), CALL).await?;
        answer["room_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| MatrixError::Decode("createRoom answered no room_id".into()))
    }

    /// Adds `room` to the account's `m.direct` data under `user`, as clients do: every node of
    /// the account then treats the room as a direct message with that user.
    pub async fn remember_direct(
        &self,
        me: &str,
        user: &str,
        room: &str,
    ) -> Result<(), MatrixError> {
        let mut content = self.direct_data(me).await?;
        let mut rooms = content[user].as_array().cloned().unwrap_or_default();
        if rooms.iter().any(|r| r == room) {
            return Ok(());
        }
        rooms.push(json!(room));
        content[user] = Json::Array(rooms);
        self.call_async("PUT", direct_path(me), Some(content), CALL)
            .await
            .map(|_| ())
    }
}

fn direct_path(me: &str) -> String {
    format!(
        "/_matrix/client/v3/user/{}/account_data/m.direct",
        encode_segment(me)
    )
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

/// Where the `/sync` position is kept between runs (in the agent's data directory).
pub fn since_file(data_dir: &Path) -> PathBuf {
    data_dir.join("matrix-sync-position")
}

/// The saved `/sync` position, if any.
pub fn load_since(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// Saves the `/sync` position (write then rename: a crash leaves the old one or the new one).
pub fn save_since(file: &Path, token: &str) -> std::io::Result<()> {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, format!("{token}\n"))?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("!abc:example.org"), "%21abc%3Aexample.org");
        assert_eq!(encode_segment("#office:h"), "%23office%3Ah");
        assert_eq!(encode_segment("s72_4/1"), "s72_4%2F1");
    }

    #[test]
    fn the_sync_position_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = since_file(dir.path());
        assert_eq!(load_since(&file), None);
        save_since(&file, "s72595_4483_1934").expect("saved");
        assert_eq!(load_since(&file).as_deref(), Some("s72595_4483_1934"));
    }

    #[tokio::test]
    async fn errors_never_hold_the_token() {
        let config = MatrixConfig {
            homeserver: "http://127.0.0.1:1".into(),
            access_token: "syt_very_secret".into(),
            ..MatrixConfig::default()
        };
        let client = Client::new(&config).expect("client");
        let err = client
            .call_async(
                "GET",
                "/_matrix/client/v3/account/whoami".into(),
                None,
                Duration::from_secs(2),
            )
            .await
            .expect_err("nothing listens on port 1");
        assert!(!err.to_string().contains("syt_very_secret"), "{err}");
    }
}
