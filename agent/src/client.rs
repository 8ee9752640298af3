//! HTTP client for the CLI's client commands (`who`, `readings`, `status`, …): talks to a local or
//! remote agent's API and renders answers as tables (or passes JSON through for `--json`).
//! Requests go through the process's one HTTP client (`outbound::HttpClient`) on a
//! current-thread tokio runtime of the client's own (the CLI does one request and exits).
//! Answers are decoded into the shared answer types (`state::query`, `api_types`); this module
//! never reaches into server internals.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::outbound::{Body, HttpClient, HttpError};
use crate::state::query::Completeness;

/// How long one request may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A client request that failed, said so that the user knows what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the officemesh agent at {url}: {detail}\n(is `officemesh run` running there? use --api URL to point elsewhere)")]
    Unreachable { url: String, detail: String },
    #[error("the agent at {url} answered 401: {message}\n({hint})")]
    Unauthorized {
        url: String,
        message: String,
        hint: String,
    },
    #[error("the agent at {url} answered {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("the agent at {url} sent an answer that is not JSON: {detail}")]
    BadAnswer { url: String, detail: String },
    #[error("the agent at {url} sent an answer this CLI does not understand: {detail}\n(is it running another officemesh version? `officemesh --version` and /healthz tell)")]
    UnexpectedAnswer { url: String, detail: String },
    #[error("cannot set up the HTTP client: {detail}")]
    Setup { detail: String },
}

/// One JSON answer of the agent, kept as sent (for `--json`) until decoded into its type.
#[derive(Debug, Clone)]
pub struct Answer {
    url: String,
    json: Json,
}

impl Answer {
    /// The answer exactly as the agent sent it.
    pub fn json(&self) -> &Json {
        &self.json
    }

    /// The answer as its API type (`state::query::PresenceAnswer`, `api_types::NodesAnswer`, …).
    pub fn decode<T: DeserializeOwned>(self) -> Result<T, ClientError> {
        serde_json::from_value(self.json).map_err(|e| ClientError::UnexpectedAnswer {
            url: self.url,
            detail: e.to_string(),
        })
    }
}

/// A connection to one agent's HTTP API.
pub struct Client {
    base: String,
    token: Option<String>,
    http: HttpClient,
    runtime: tokio::runtime::Runtime,
    /// What a 401 adds (where the token comes from).
    auth_hint: String,
}

impl Client {
    /// `base` like `http://127.0.0.1:8420`; `token` for writes when the agent requires one.
    /// Connects directly (no proxy from the environment, as before); on a system that trusts
    /// no CA, a plain `http://` agent is still reached.
    pub fn new(base: &str, token: Option<String>) -> Result<Client, ClientError> {
        let setup = |detail: String| ClientError::Setup { detail };
        let http = HttpClient::direct().map_err(|e| setup(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| setup(format!("cannot start the async runtime: {e}")))?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            token: token.filter(|t| !t.is_empty()),
            http,
            runtime,
            auth_hint: "give the agent's api.token with --config, OFFICEMESH_TOKEN or --token"
                .into(),
        })
    }

    /// The same client, saying `hint` when the agent answers 401.
    pub fn with_auth_hint(mut self, hint: String) -> Client {
        self.auth_hint = hint;
        self
    }

    fn send(&self, method: &str, path: &str, body: Option<Json>) -> Result<Answer, ClientError> {
        let url = format!("{}{}", self.base, path);
        let token = self.token.as_deref().unwrap_or("");
        let body = body.map_or(Body::None, Body::Json);
        let exchange = self
            .http
            .exchange(method, &url, token, body, REQUEST_TIMEOUT);
        let reply = self
            .runtime
            .block_on(exchange)
            .map_err(|err| ClientError::Unreachable {
                url: url.clone(),
                detail: match err {
                    HttpError::Transport { reason, .. } => reason,
                    other => other.to_string(),
                },
            })?;
        self.read(url, reply.status, &reply.text)
    }

    /// The answer to one request: its JSON on 2xx, else the agent's `error` message.
    fn read(&self, url: String, status: u16, text: &str) -> Result<Answer, ClientError> {
        if (200..300).contains(&status) {
            return match serde_json::from_str(text) {
                Ok(json) => Ok(Answer { url, json }),
                Err(e) => Err(ClientError::BadAnswer {
                    url,
                    detail: e.to_string(),
                }),
            };
        }
        let message = serde_json::from_str::<Json>(text)
            .ok()
            .and_then(|j| j.get("error").and_then(|e| e.as_str()).map(String::from))
            .unwrap_or_else(|| "no details".into());
        if status == 401 {
            return Err(ClientError::Unauthorized {
                url,
                message,
                hint: self.auth_hint.clone(),
            });
        }
        Err(ClientError::Refused {
            url,
            status,
            message,
        })
    }

    /// `GET path`, the answer kept as sent.
    pub fn get(&self, path: &str) -> Result<Answer, ClientError> {
        self.send("GET", path, None)
    }

    /// `GET path`, decoded into its answer type.
    pub fn get_as<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.get(path)?.decode()
    }

    /// `POST path` with `body` as JSON.
    pub fn post(&self, path: &str, body: Json) -> Result<Answer, ClientError> {
        self.send("POST", path, Some(body))
    }

    /// `PUT path` with `body` as JSON.
    pub fn put(&self, path: &str, body: Json) -> Result<Answer, ClientError> {
        self.send("PUT", path, Some(body))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<Answer, ClientError> {
        self.send("DELETE", path, None)
    }
}

/// Percent-encodes one URL path segment (names may contain spaces).
pub fn path_segment(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Renders rows as an aligned text table.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(headers.iter().map(|h| h.to_uppercase()).collect());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.clone()));
        out.push('\n');
    }
    out
}

/// "12s", "5m", "3h", "2d" for a duration in milliseconds.
pub fn age(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// The caveat line for an answer's `completeness`, if it is incomplete.
pub fn completeness_note(completeness: &Completeness, now_ms: u64) -> Option<String> {
    let clock_notes = completeness
        .clock_ahead
        .iter()
        .map(|node| node.sentence())
        .chain(completeness.own_clock_sentence())
        .map(|sentence| format!("note: {sentence}"));
    if completeness.unreachable.is_empty() {
        let notes: Vec<String> = clock_notes.collect();
        return (!notes.is_empty()).then(|| notes.join("\n"));
    }
    let parts: Vec<String> = completeness
        .unreachable
        .iter()
        .map(|node| match node.since_ms {
            Some(since) => format!(
                "{} ({}) for {}",
                node.name,
                node.room,
                age(now_ms.saturating_sub(since))
            ),
            None => format!("{} ({})", node.name, node.room),
        })
        .collect();
    let unreachable = format!(
        "note: cannot reach {}; this answer may be missing their data",
        parts.join(", ")
    );
    Some(
        std::iter::once(unreachable)
            .chain(clock_notes)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_ages_read_well() {
        let text = table(
            &["name", "macs"],
            &[
                vec!["ada".into(), "aa".into()],
                vec!["bob long".into(), "b".into()],
            ],
        );
        assert_eq!(text, "NAME      MACS\nada       aa\nbob long  b\n");
        assert_eq!(age(59_000), "59s");
        assert_eq!(age(61_000), "1m");
        assert_eq!(age(7_200_000), "2h");
        assert_eq!(path_segment("meeting room/2"), "meeting%20room%2F2");
    }

    #[test]
    fn the_note_names_unreachable_nodes_and_since_when() {
        let mut completeness = Completeness {
            complete: true,
            ..Completeness::default()
        };
        assert_eq!(completeness_note(&completeness, 100_000), None);
        let node = |name: &str, since_ms| crate::state::query::UnreachableNode {
            node: crate::crdt::NodeId(7),
            name: name.into(),
            room: "lobby".into(),
            status: crate::peer::MemberStatus::Dead,
            since_ms,
        };
        completeness.complete = false;
        completeness.unreachable = vec![node("pi-a", Some(40_000)), node("pi-b", None)];
        assert_eq!(
            completeness_note(&completeness, 100_000).as_deref(),
            Some("note: cannot reach pi-a (lobby) for 1m, pi-b (lobby); this answer may be missing their data")
        );
        completeness.clock_ahead = vec![crate::state::query::ClockAheadNode {
            node: crate::crdt::NodeId(3),
            name: "pi-3".into(),
            room: "kitchen".into(),
            ahead_ms: 3_480_000,
        }];
        completeness.unreachable.clear();
        assert_eq!(
            completeness_note(&completeness, 100_000).as_deref(),
            Some("note: pi-3's clock is 58 min ahead; I'm ignoring its updates until it is fixed")
        );
        completeness.clock_ahead.clear();
        completeness.own_clock_ahead_ms = Some(3_600_000);
        assert_eq!(
            completeness_note(&completeness, 100_000).as_deref(),
            Some(
                "note: this node's clock looks 1 h ahead of every peer's; they ignore its updates \
                 until it is fixed"
            )
        );
    }

    #[test]
    fn an_answer_of_another_shape_says_so() {
        let answer = Answer {
            url: "http://pi/v1/nodes".into(),
            json: serde_json::json!({"nodes": "not a list"}),
        };
        let err = answer
            .decode::<crate::state::query::ReadingsAnswer>()
            .expect_err("wrong shape");
        assert!(matches!(err, ClientError::UnexpectedAnswer { .. }), "{err}");
        assert!(err.to_string().contains("does not understand"), "{err}");
    }

    #[test]
    fn refusals_say_the_agents_message_and_a_401_where_the_token_comes_from() {
        let client = Client::new("http://pi:8420/", Some("t".into()))
            .expect("client")
            .with_auth_hint("give --token".into());
        let url = || "http://pi:8420/v1/people".to_string();
        let denied = client
            .read(url(), 401, r#"{"error":"a token is required"}"#)
            .expect_err("401");
        assert!(
            matches!(denied, ClientError::Unauthorized { .. }),
            "{denied}"
        );
        assert!(
            denied.to_string().contains("a token is required"),
            "{denied}"
        );
        assert!(denied.to_string().contains("give --token"), "{denied}");
        let refused = client.read(url(), 404, "not json").expect_err("404");
        assert_eq!(
            refused.to_string(),
            "the agent at http://pi:8420/v1/people answered 404: no details"
        );
        let garbled = client.read(url(), 200, "<html>").expect_err("not JSON");
        assert!(
            matches!(garbled, ClientError::BadAnswer { .. }),
            "{garbled}"
        );
        let answer = client.read(url(), 200, r#"{"ok":true}"#).expect("JSON");
        assert_eq!(answer.json(), &serde_json::json!({"ok": true}));
    }

    #[test]
    fn unreachable_client_error_says_what_to_do() {
        // Port 9 on loopback: nothing listens there in the test environment.
        let client = Client::new("http://127.0.0.1:9", None).expect("client");
        let err = client
            .get("/healthz")
            .expect_err("nothing listens on port 9");
        let text = err.to_string();
        assert!(text.contains("cannot reach"), "{text}");
        assert!(text.contains("--api"), "{text}");
    }
}
