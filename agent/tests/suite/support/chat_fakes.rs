//! Local stand-ins for Slack's and Mattermost's servers that follow their documented wire
//! formats envelope by envelope: an HTTP side (axum) for the Web/REST API calls and a
//! WebSocket side (tokio-tungstenite) that sends `hello`, lets the test push frames to every
//! open connection or drop them all, and records every frame the agent sends (acks).
//! Each fake runs on a runtime of its own, so tests drive it with plain blocking calls.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

pub const SLACK_APP_TOKEN: &str = "xapp-1-A0TEST-0000-fake-app-token";
pub const SLACK_BOT_TOKEN: &str = "xoxb-0000-fake-bot-token";
pub const MATTERMOST_TOKEN: &str = "mmbot-fake-token-0000";

/// What goes to an open WebSocket.
enum Push {
    Text(String),
    Drop,
}

/// Everything a fake saw, and its open sockets.
#[derive(Default)]
pub struct Seen {
    /// Chat messages the bot posted (`chat.postMessage` / `POST /api/v4/posts` bodies).
    pub posts: Mutex<Vec<Value>>,
    /// Slash command answers POSTed to a `response_url`.
    pub responses: Mutex<Vec<Value>>,
    /// Text frames the agent sent over the WebSocket (Slack acks).
    pub frames: Mutex<Vec<String>>,
    /// `apps.connections.open` calls.
    pub opens: AtomicUsize,
    /// WebSocket handshakes accepted.
    pub connections: AtomicUsize,
    /// Calls with a wrong or missing token.
    pub refused: AtomicUsize,
    sockets: Mutex<Vec<mpsc::UnboundedSender<Push>>>,
    ws_port: Mutex<u16>,
}

impl Seen {
    pub fn posts(&self) -> Vec<Value> {
        self.posts.lock().expect("posts").clone()
    }
    pub fn frames(&self) -> Vec<String> {
        self.frames.lock().expect("frames").clone()
    }
    pub fn responses(&self) -> Vec<Value> {
        self.responses.lock().expect("responses").clone()
    }
    pub fn open_sockets(&self) -> usize {
        let mut sockets = self.sockets.lock().expect("sockets");
        sockets.retain(|socket| !socket.is_closed());
        sockets.len()
    }
}

/// A running fake server.
pub struct Fake {
    runtime: tokio::runtime::Runtime,
    pub http_port: u16,
    pub ws_port: u16,
    pub seen: Arc<Seen>,
}

/// Which server the fake is.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Slack,
    Mattermost,
}

impl Fake {
    pub fn start(kind: Kind) -> Fake {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let seen = Arc::new(Seen::default());
        let (http_port, ws_port) = runtime.block_on(async {
            // The public port: Mattermost serves its WebSocket on the API's own host and port,
            // so a front door hands `GET /api/v4/websocket` to the socket side and proxies the
            // rest to the HTTP side. Slack's socket URL points at the socket side directly.
            let front = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind front");
            let http = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind http");
            let ws = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind ws");
            let http_addr = http.local_addr().expect("addr");
            let ports = (
                front.local_addr().expect("addr").port(),
                ws.local_addr().expect("addr").port(),
            );
            *seen.ws_port.lock().expect("port") = ports.1;
            let router = match kind {
                Kind::Slack => slack_routes(),
                Kind::Mattermost => mattermost_routes(),
            }
            .with_state(seen.clone());
            tokio::spawn(async move {
                let _ = axum::serve(http, router).await;
            });
            let accepting = seen.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = ws.accept().await {
                    tokio::spawn(socket(stream, kind, accepting.clone()));
                }
            });
            let fronting = seen.clone();
            tokio::spawn(async move {
                while let Ok((mut stream, _)) = front.accept().await {
                    let seen = fronting.clone();
                    tokio::spawn(async move {
                        let mut head = [0u8; 64];
                        let Ok(n) = stream.peek(&mut head).await else {
                            return;
                        };
                        if head[..n].starts_with(b"GET /api/v4/websocket") {
                            socket(stream, kind, seen).await;
                        } else if let Ok(mut upstream) =
                            tokio::net::TcpStream::connect(http_addr).await
                        {
                            let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
                        }
                    });
                }
            });
            ports
        });
        Fake {
            runtime,
            http_port,
            ws_port,
            seen,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Sends a text frame to every open WebSocket.
    pub fn push(&self, frame: &Value) {
        let text = frame.to_string();
        for socket in self.seen.sockets.lock().expect("sockets").iter() {
            let _ = socket.send(Push::Text(text.clone()));
        }
    }

    /// Drops every open WebSocket without a close frame (a network drop).
    pub fn drop_sockets(&self) {
        for socket in self.seen.sockets.lock().expect("sockets").drain(..) {
            let _ = socket.send(Push::Drop);
        }
    }
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

fn slack_routes() -> Router<Arc<Seen>> {
    Router::new()
        .route(
            "/api/apps.connections.open",
            post(|State(seen): State<Arc<Seen>>, headers: HeaderMap| async move {
                if bearer(&headers) != SLACK_APP_TOKEN {
                    seen.refused.fetch_add(1, Ordering::SeqCst);
                    return Json(json!({ "ok": false, "error": "invalid_auth" }));
                }
                let n = seen.opens.fetch_add(1, Ordering::SeqCst);
                let port = *seen.ws_port.lock().expect("port");
                Json(json!({ "ok": true, "url": format!("ws://127.0.0.1:{port}/link/?ticket=t{n}&app_id=A0TEST") }))
            }),
        )
        .route(
            "/api/auth.test",
            post(|State(seen): State<Arc<Seen>>, headers: HeaderMap| async move {
                if bearer(&headers) != SLACK_BOT_TOKEN {
                    seen.refused.fetch_add(1, Ordering::SeqCst);
                    return Json(json!({ "ok": false, "error": "invalid_auth" }));
                }
                Json(json!({ "ok": true, "url": "https://office.slack.com/", "team": "Office",
                             "user": "officemesh", "team_id": "T1", "user_id": "UBOT", "bot_id": "B1" }))
            }),
        )
        .route(
            "/api/users.info",
            post(|| async {
                Json(json!({ "ok": true, "user": { "id": "U1", "name": "ada",
                                                   "profile": { "display_name": "Ada" } } }))
            }),
        )
        .route(
            "/api/chat.postMessage",
            post(
                |State(seen): State<Arc<Seen>>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    if bearer(&headers) != SLACK_BOT_TOKEN {
                        seen.refused.fetch_add(1, Ordering::SeqCst);
                        return Json(json!({ "ok": false, "error": "not_authed" }));
                    }
                    seen.posts.lock().expect("posts").push(body.clone());
                    Json(json!({ "ok": true, "channel": body["channel"], "ts": "1700000099.000100" }))
                },
            ),
        )
        .route(
            "/response/{id}",
            post(|State(seen): State<Arc<Seen>>, Json(body): Json<Value>| async move {
                seen.responses.lock().expect("responses").push(body);
                StatusCode::OK
            }),
        )
}

fn mattermost_routes() -> Router<Arc<Seen>> {
    Router::new()
        .route(
            "/api/v4/users/me",
            get(|State(seen): State<Arc<Seen>>, headers: HeaderMap| async move {
                if bearer(&headers) != MATTERMOST_TOKEN {
                    seen.refused.fetch_add(1, Ordering::SeqCst);
                    return Err(StatusCode::UNAUTHORIZED);
                }
                Ok(Json(json!({ "id": "bot1", "username": "officemesh", "is_bot": true })))
            }),
        )
        .route(
            "/api/v4/posts",
            post(
                |State(seen): State<Arc<Seen>>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    if bearer(&headers) != MATTERMOST_TOKEN {
                        seen.refused.fetch_add(1, Ordering::SeqCst);
                        return Err(StatusCode::UNAUTHORIZED);
                    }
                    let n = {
                        let mut posts = seen.posts.lock().expect("posts");
                        posts.push(body.clone());
                        posts.len()
                    };
                    let mut props = body["props"].clone();
                    if !props.is_object() {
                        props = json!({});
                    }
                    props["from_bot"] = json!("true");
                    let post = json!({
                        "id": format!("reply{n}"), "create_at": 1_700_000_000_000u64 + n as u64,
                        "user_id": "bot1", "channel_id": body["channel_id"],
                        "root_id": body["root_id"].as_str().unwrap_or(""),
                        "message": body["message"], "type": "", "props": props,
                    });
                    // As Mattermost does: every connection of the account hears the new post.
                    let event = posted_event(&post, "O", "@officemesh", &[]);
                    for socket in seen.sockets.lock().expect("sockets").iter() {
                        let _ = socket.send(Push::Text(event.to_string()));
                    }
                    Ok((StatusCode::CREATED, Json(post)))
                },
            ),
        )
}

/// A Mattermost `posted` WebSocket event (its `post` and `mentions` are JSON strings).
pub fn posted_event(post: &Value, channel_type: &str, sender: &str, mentions: &[&str]) -> Value {
    let mut data = json!({
        "channel_display_name": "Town Square",
        "channel_name": "town-square",
        "channel_type": channel_type,
        "post": post.to_string(),
        "sender_name": sender,
        "set_online": true,
        "team_id": "team1",
    });
    if !mentions.is_empty() {
        data["mentions"] = json!(serde_json::to_string(mentions).expect("mentions"));
    }
    json!({ "event": "posted", "data": data,
            "broadcast": { "omit_users": null, "user_id": "", "channel_id": post["channel_id"], "team_id": "" },
            "seq": 7 })
}

// The handshake callback's error type is tungstenite's `ErrorResponse`, fixed by its API.
#[allow(clippy::result_large_err)]
async fn socket(stream: tokio::net::TcpStream, kind: Kind, seen: Arc<Seen>) {
    let check = seen.clone();
    let handshake = tokio_tungstenite::accept_hdr_async(
        stream,
        move |request: &Request, response: Response| {
            // Mattermost: the bot token on the upgrade request; Slack: the ticket in the URL.
            if kind == Kind::Mattermost {
                let token = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if token != format!("Bearer {MATTERMOST_TOKEN}") {
                    check.refused.fetch_add(1, Ordering::SeqCst);
                    let mut refusal =
                        tokio_tungstenite::tungstenite::handshake::server::ErrorResponse::new(None);
                    *refusal.status_mut() = StatusCode::UNAUTHORIZED;
                    return Err(refusal);
                }
            }
            Ok(response)
        },
    )
    .await;
    let Ok(ws) = handshake else {
        return;
    };
    seen.connections.fetch_add(1, Ordering::SeqCst);
    let (mut sink, mut stream) = ws.split();
    let hello = match kind {
        Kind::Slack => json!({ "type": "hello", "num_connections": 1,
                               "debug_info": { "host": "applink-fake", "approximate_connection_time": 18060 },
                               "connection_info": { "app_id": "A0TEST" } }),
        Kind::Mattermost => json!({ "event": "hello", "data": { "server_version": "9.11.0" },
                                    "broadcast": { "user_id": "bot1" }, "seq": 0 }),
    };
    if sink.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    seen.sockets.lock().expect("sockets").push(tx);
    loop {
        tokio::select! {
            push = rx.recv() => match push {
                Some(Push::Text(text)) => {
                    if sink.send(Message::text(text)).await.is_err() {
                        return;
                    }
                }
                Some(Push::Drop) | None => return,
            },
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => seen.frames.lock().expect("frames").push(text.to_string()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep(Duration::from_secs(600)) => return,
        }
    }
}
