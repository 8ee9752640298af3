//! Local stand-ins for Slack's and Mattermost's servers that follow their documented wire
//! formats envelope by envelope: an HTTP side (axum) for the Web/REST API calls and a
//! WebSocket side (tokio-tungstenite) that sends `hello`, lets the test push frames to every
//! open connection or drop them all, and records every frame the agent sends (acks).
//! Each fake runs on a runtime of its own, so tests drive it with plain blocking calls.

#![allow(dead_code)]

use std::collections::HashMap;
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
    /// Slack: `chat.postEphemeral` bodies (seen by their `user` only).
    pub ephemeral: Mutex<Vec<Value>>,
    /// Slack: how many of the next `chat.postMessage` calls answer `429` (`Retry-After: 1`).
    pub rate_limit_next: AtomicUsize,
    /// Slack: calls answered `429`.
    pub rate_limited: AtomicUsize,
    /// Slack: sockets turned away with `too_many_websockets` (10 were open).
    pub too_many: AtomicUsize,
    /// Mattermost: `POST /api/v4/channels/direct` bodies.
    pub direct_channels: Mutex<Vec<Value>>,
    /// Mattermost: reconnects that resumed a connection (`connection_id`, `sequence_number`).
    pub resumed: AtomicUsize,
    sockets: Mutex<Vec<mpsc::UnboundedSender<Push>>>,
    /// Mattermost connections by id: every event sent on it, and its live socket.
    mm_connections: Mutex<HashMap<String, MmConnection>>,
    /// Slack: which socket gets the next event.
    next_socket: AtomicUsize,
    ws_port: Mutex<u16>,
}

/// A Mattermost WebSocket connection as the server keeps it: events numbered by `seq`, kept
/// for a resume after a drop.
#[derive(Default)]
struct MmConnection {
    /// Event texts; the event with `seq` n is at n - 1 (hello is seq 0, not kept).
    events: Vec<String>,
    live: Option<mpsc::UnboundedSender<Push>>,
}

/// Slack's limit of Socket Mode connections per app.
pub const SLACK_MAX_SOCKETS: usize = 10;

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
    pub fn ephemeral(&self) -> Vec<Value> {
        self.ephemeral.lock().expect("ephemeral").clone()
    }
    pub fn open_sockets(&self) -> usize {
        let mut sockets = self.sockets.lock().expect("sockets");
        sockets.retain(|socket| !socket.is_closed());
        sockets.len()
    }
}

/// A connection opened by [`Fake::occupy`]; closed when dropped.
pub struct Occupant {
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A running fake server.
pub struct Fake {
    kind: Kind,
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
            kind,
            runtime,
            http_port,
            ws_port,
            seen,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Sends a frame as the server does: Slack hands it to ONE of the app's open sockets
    /// (in turn); Mattermost to every connection of the account, numbered per connection and
    /// kept for a resume (also for connections dropped a moment ago).
    pub fn push(&self, frame: &Value) {
        if self.kind == Kind::Mattermost {
            mm_broadcast(&self.seen, frame);
            return;
        }
        let mut sockets = self.seen.sockets.lock().expect("sockets");
        sockets.retain(|socket| !socket.is_closed());
        if sockets.is_empty() {
            return;
        }
        let n = self.seen.next_socket.fetch_add(1, Ordering::SeqCst) % sockets.len();
        let _ = sockets[n].send(Push::Text(frame.to_string()));
    }

    /// Sends a frame to every open socket (Slack's `disconnect` to each, say).
    pub fn push_all(&self, frame: &Value) {
        for socket in self.seen.sockets.lock().expect("sockets").iter() {
            let _ = socket.send(Push::Text(frame.to_string()));
        }
    }

    /// Opens `n` Socket Mode connections from elsewhere (other instances of the app), as the
    /// agent would: `apps.connections.open`, then the WebSocket. Returns them; dropping one
    /// closes it.
    pub fn occupy(&self, n: usize) -> Vec<Occupant> {
        (0..n)
            .map(|_| {
                let port = self.ws_port;
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                self.runtime.spawn(async move {
                    let url = format!("ws://127.0.0.1:{port}/link/?ticket=other");
                    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await else {
                        return;
                    };
                    tokio::select! {
                        _ = stopped => { let _ = ws.close(None).await; }
                        _ = async { while let Some(Ok(_)) = ws.next().await {} } => {}
                    }
                });
                Occupant { _stop: stop }
            })
            .collect()
    }

    /// Drops every open WebSocket without a close frame (a network drop).
    pub fn drop_sockets(&self) {
        for socket in self.seen.sockets.lock().expect("sockets").drain(..) {
            let _ = socket.send(Push::Drop);
        }
        for connection in self.seen.mm_connections.lock().expect("conns").values_mut() {
            connection.live = None;
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
                        return (StatusCode::OK, [("retry-after", "0")], Json(json!({ "ok": false, "error": "not_authed" })));
                    }
                    let limited = seen
                        .rate_limit_next
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if limited {
                        seen.rate_limited.fetch_add(1, Ordering::SeqCst);
                        let headers = [("retry-after", "1")];
                        return (StatusCode::TOO_MANY_REQUESTS, headers, Json(json!({ "ok": false, "error": "ratelimited" })));
                    }
                    seen.posts.lock().expect("posts").push(body.clone());
                    (StatusCode::OK, [("retry-after", "0")], Json(json!({ "ok": true, "channel": body["channel"], "ts": "1700000099.000100" })))
                },
            ),
        )
        .route(
            "/api/chat.postEphemeral",
            post(
                |State(seen): State<Arc<Seen>>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    if bearer(&headers) != SLACK_BOT_TOKEN {
                        seen.refused.fetch_add(1, Ordering::SeqCst);
                        return Json(json!({ "ok": false, "error": "not_authed" }));
                    }
                    if body["user"].as_str().unwrap_or_default().is_empty() {
                        return Json(json!({ "ok": false, "error": "user_not_in_channel" }));
                    }
                    seen.ephemeral.lock().expect("ephemeral").push(body);
                    Json(json!({ "ok": true, "message_ts": "1700000099.000200" }))
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
                    mm_broadcast(&seen, &event);
                    Ok((StatusCode::CREATED, Json(post)))
                },
            ),
        )
        .route(
            "/api/v4/channels/direct",
            post(
                |State(seen): State<Arc<Seen>>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    if bearer(&headers) != MATTERMOST_TOKEN {
                        seen.refused.fetch_add(1, Ordering::SeqCst);
                        return Err(StatusCode::UNAUTHORIZED);
                    }
                    let mut ids: Vec<String> = body
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|id| id.as_str().map(str::to_string))
                        .collect();
                    if ids.len() != 2 {
                        return Err(StatusCode::BAD_REQUEST);
                    }
                    seen.direct_channels.lock().expect("direct").push(body.clone());
                    ids.sort();
                    // Mattermost names a direct channel after its two members, sorted.
                    Ok((StatusCode::CREATED, Json(json!({ "id": format!("dm-{}", ids.join("__")), "type": "D" }))))
                },
            ),
        )
}

/// Slack's `hello`, or `None` when the app has its 10 sockets open already.
fn slack_greeting(seen: &Seen) -> Option<Vec<String>> {
    if seen.open_sockets() >= SLACK_MAX_SOCKETS {
        seen.too_many.fetch_add(1, Ordering::SeqCst);
        return None;
    }
    let hello = json!({ "type": "hello", "num_connections": seen.open_sockets() + 1,
                        "debug_info": { "host": "applink-fake", "approximate_connection_time": 18060 },
                        "connection_info": { "app_id": "A0TEST" } });
    Some(vec![hello.to_string()])
}

/// Mattermost's `hello` for a new connection; for a reconnect naming a connection it kept
/// (`connection_id`, `sequence_number`), the same id and every event from that number on.
fn mm_greeting(seen: &Seen, query: &str, live: mpsc::UnboundedSender<Push>) -> Option<Vec<String>> {
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .unwrap_or_default()
            .to_string()
    };
    let (asked, from) = (param("connection_id"), param("sequence_number"));
    let mut connections = seen.mm_connections.lock().expect("conns");
    let resumed = connections.contains_key(&asked);
    let id = if resumed {
        seen.resumed.fetch_add(1, Ordering::SeqCst);
        asked
    } else {
        format!("conn{}", connections.len() + 1)
    };
    let connection = connections.entry(id.clone()).or_default();
    connection.live = Some(live);
    let hello = json!({ "event": "hello", "data": { "server_version": "9.11.0", "connection_id": id },
                        "broadcast": { "user_id": "bot1" }, "seq": 0 });
    let mut texts = vec![hello.to_string()];
    if resumed {
        let from = from.parse::<usize>().unwrap_or(1).max(1);
        texts.extend(connection.events.iter().skip(from - 1).cloned());
    }
    Some(texts)
}

/// Sends `event` on every Mattermost connection (numbered per connection), keeping it for a
/// resume of connections that dropped.
fn mm_broadcast(seen: &Seen, event: &Value) {
    let mut connections = seen.mm_connections.lock().expect("conns");
    for connection in connections.values_mut() {
        let mut event = event.clone();
        event["seq"] = json!(connection.events.len() + 1);
        let text = event.to_string();
        connection.events.push(text.clone());
        if let Some(live) = &connection.live {
            let _ = live.send(Push::Text(text));
        }
    }
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
    let query = Arc::new(Mutex::new(String::new()));
    let asked = query.clone();
    let handshake = tokio_tungstenite::accept_hdr_async(
        stream,
        move |request: &Request, response: Response| {
            *asked.lock().expect("query") = request.uri().query().unwrap_or_default().to_string();
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
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let query = query.lock().expect("query").clone();
    let greeting = match kind {
        Kind::Slack => slack_greeting(&seen),
        Kind::Mattermost => mm_greeting(&seen, &query, tx.clone()),
    };
    let Some(greeting) = greeting else {
        // Slack: an 11th socket is told `too_many_websockets` and closed.
        let refusal = json!({ "type": "disconnect", "reason": "too_many_websockets",
                              "debug_info": { "host": "applink-fake" } });
        let _ = sink.send(Message::text(refusal.to_string())).await;
        let _ = sink.close().await;
        return;
    };
    seen.connections.fetch_add(1, Ordering::SeqCst);
    for text in greeting {
        if sink.send(Message::text(text)).await.is_err() {
            return;
        }
    }
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
