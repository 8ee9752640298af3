//! The `[chat.matrix]`, `[chat.slack]` and `[chat.mattermost]` config sections: where the bot
//! connects out to, and with which tokens. Tokens are secrets: `Debug` redacts them, and nothing
//! here logs or serializes them into answers. Pure: only `read_token` touches a file.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Invalid;

/// The bot's name when `chat.bot_name` is not set.
pub const DEFAULT_BOT_NAME: &str = "officemesh";
/// Seconds the next node in a message's ranking waits for the bot's reply before it answers.
pub const DEFAULT_HANDOVER_S: u64 = 5;

/// `[chat.matrix]`: a Matrix account the bot syncs as (every Pi may use the same one).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatrixConfig {
    /// The homeserver's base URL, e.g. `https://matrix.example.org`.
    pub homeserver: String,
    /// The bot account's access token (or use `access_token_file`).
    pub access_token: String,
    /// A file holding the access token (first line); wins over `access_token` when set.
    pub access_token_file: PathBuf,
    /// A PEM file of CA certificates trusted besides the system's (a homeserver behind an
    /// internal CA); empty: the system's roots only.
    pub ca_file: PathBuf,
    /// Homeservers whose users the bot answers and whose invitations it accepts (server names
    /// as in user ids, e.g. `example.org`); empty: the bot's own homeserver only.
    pub allowed_servers: Vec<String>,
}

/// `[chat.slack]`: a Slack app in Socket Mode.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackConfig {
    /// The app-level token (`xapp-…`, scope `connections:write`): opens the socket.
    pub app_token: String,
    /// The bot token (`xoxb-…`): posts replies.
    pub bot_token: String,
    /// Slack's Web API base URL (tests point it at a local server).
    pub api_url: String,
    /// How many Pis hold the app's Socket Mode connections at once (Slack allows an app 10;
    /// the default 9 leaves one for a takeover). The others stand by.
    pub connections: usize,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            app_token: String::new(),
            bot_token: String::new(),
            api_url: "https://slack.com/api".to_string(),
            connections: 9,
        }
    }
}

/// `[chat.mattermost]`: a Mattermost bot account.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MattermostConfig {
    /// The server's base URL, e.g. `https://chat.example.org`.
    pub url: String,
    /// The bot account's access token.
    pub bot_token: String,
    /// A PEM file of CA certificates trusted besides the system's (a server behind an internal
    /// CA), for REST and WebSocket alike; empty: the system's roots only.
    pub ca_file: PathBuf,
}

/// How a secret shows in `Debug` output: whether it is set, never its value.
fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() {
        "\"\""
    } else {
        "<redacted>"
    }
}

impl fmt::Debug for MatrixConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatrixConfig")
            .field("homeserver", &self.homeserver)
            .field(
                "access_token",
                &format_args!("{}", redacted(&self.access_token)),
            )
            .field("access_token_file", &self.access_token_file)
            .field("ca_file", &self.ca_file)
            .field("allowed_servers", &self.allowed_servers)
            .finish()
    }
}

impl fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackConfig")
            .field("app_token", &format_args!("{}", redacted(&self.app_token)))
            .field("bot_token", &format_args!("{}", redacted(&self.bot_token)))
            .field("api_url", &self.api_url)
            .field("connections", &self.connections)
            .finish()
    }
}

impl fmt::Debug for MattermostConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MattermostConfig")
            .field("url", &self.url)
            .field("bot_token", &format_args!("{}", redacted(&self.bot_token)))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl MatrixConfig {
    /// Checks the section: a homeserver URL and exactly one usable token source.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_url("chat.matrix.homeserver", &self.homeserver)?;
        if self.access_token.trim().is_empty() && self.access_token_file.as_os_str().is_empty() {
            return Err(
                "chat.matrix needs access_token or access_token_file (the bot account's token)"
                    .into(),
            );
        }
        Ok(())
    }

    /// The access token: the file's first line when `access_token_file` is set.
    pub fn token(&self) -> Result<String, Invalid> {
        if self.access_token_file.as_os_str().is_empty() {
            Ok(self.access_token.trim().to_string())
        } else {
            read_token(&self.access_token_file)
        }
    }
}

impl SlackConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if !self.app_token.starts_with("xapp-") {
            return Err("chat.slack.app_token must be the app-level token (xapp-…)".into());
        }
        if !self.bot_token.starts_with("xoxb-") {
            return Err("chat.slack.bot_token must be the bot token (xoxb-…)".into());
        }
        if !(1..=10).contains(&self.connections) {
            return Err("chat.slack.connections must be 1 to 10 (Slack allows an app 10 Socket Mode connections)".into());
        }
        check_url("chat.slack.api_url", &self.api_url)
    }
}

impl MattermostConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_url("chat.mattermost.url", &self.url)?;
        if self.bot_token.trim().is_empty() {
            return Err("chat.mattermost needs bot_token (the bot account's access token)".into());
        }
        Ok(())
    }
}

fn check_url(key: &str, url: &str) -> Result<(), Invalid> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(format!("{key} must be an http:// or https:// URL, got \"{url}\"").into())
    }
}

/// The first non-empty line of a token file.
pub fn read_token(path: &Path) -> Result<String, Invalid> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| Invalid(format!("cannot read token file {}: {err}", path.display())))?;
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Invalid(format!("token file {} is empty", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_tokens() {
        let matrix = MatrixConfig {
            homeserver: "http://127.0.0.1:8008".into(),
            access_token: "syt_secret_matrix".into(),
            access_token_file: PathBuf::new(),
            ca_file: PathBuf::new(),
            allowed_servers: Vec::new(),
        };
        let slack = SlackConfig {
            app_token: "xapp-secret-app".into(),
            bot_token: "xoxb-secret-bot".into(),
            ..SlackConfig::default()
        };
        let mattermost = MattermostConfig {
            url: "http://127.0.0.1:8065".into(),
            bot_token: "mm-secret".into(),
            ca_file: PathBuf::new(),
        };
        let shown = format!("{matrix:?} {slack:?} {mattermost:?}");
        for secret in [
            "syt_secret_matrix",
            "xapp-secret-app",
            "xoxb-secret-bot",
            "mm-secret",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains("127.0.0.1:8008"));
    }

    #[test]
    fn sections_are_checked() {
        let mut matrix = MatrixConfig {
            homeserver: "matrix.example.org".into(),
            access_token: "t".into(),
            ..MatrixConfig::default()
        };
        assert!(matrix.validate().is_err(), "no scheme");
        matrix.homeserver = "https://matrix.example.org".into();
        assert_eq!(matrix.validate(), Ok(()));
        matrix.access_token.clear();
        assert!(matrix.validate().is_err(), "no token");
        let slack = SlackConfig {
            app_token: "xoxb-wrong".into(),
            bot_token: "xoxb-b".into(),
            ..SlackConfig::default()
        };
        assert!(slack.validate().is_err());
        assert!(MattermostConfig::default().validate().is_err());
    }

    #[test]
    fn token_file_first_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "\n  syt_abc  \nignored\n").expect("write");
        let matrix = MatrixConfig {
            homeserver: "http://h".into(),
            access_token: "inline".into(),
            access_token_file: path.clone(),
            ca_file: PathBuf::new(),
            allowed_servers: Vec::new(),
        };
        assert_eq!(matrix.token(), Ok("syt_abc".to_string()));
        std::fs::write(&path, "\n").expect("write");
        assert!(matrix.token().is_err());
    }
}
