//! The one loop every chat platform runs in: [`ChatPlatform`] is what differs per platform
//! (wire format, auth, how a private reply stays private), [`drive`] is the rest — connect,
//! receive, hand each message to the [`Responder`] and post its reply in a task of its own,
//! post alerts to `chat.alert_room`, reconnect with the one [`Backoff`] (or the wait the
//! platform named), stand by while the platform says this node holds no place (Slack's
//! connection slots; alerts are still posted meanwhile), stop on shutdown, and announce through the mesh whether this node's
//! adapter is connected (`connected::announce`, retried and refreshed by
//! `connected::keep_announced`), so only connected adapters take turns.
//!
//! Owns no socket: the adapters (`matrix`, `slack`, `mattermost`) do, behind the trait.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::connected;
use super::http::{jitter, Backoff};
use super::pipeline::{Incoming, Responder};
use super::Reply;

/// How often a connected adapter (or one standing by) asks again whether it holds a place.
pub const RECHECK: Duration = Duration::from_secs(15);
/// The longest wait a platform may ask for before a reconnect.
const LONGEST_ASKED_WAIT: Duration = Duration::from_secs(60);

/// Why a session ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// The platform asked for a new connection: at once.
    Reconnect,
    /// Lost or refused: again after the backoff, or after the wait the platform named.
    Dropped {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// This node holds no place now (see [`ChatPlatform::may_connect`]): look again later.
    StandBy,
}

impl Ended {
    /// Lost for `reason`, no wait named.
    pub fn dropped(reason: impl std::fmt::Display) -> Ended {
        Ended::Dropped {
            reason: reason.to_string(),
            retry_after: None,
        }
    }
}

/// A platform's WebSocket (Slack's Socket Mode, Mattermost's events) with the time of its last
/// frame: the connection counts as dropped when it is missing, closed or failing, or silent for
/// the adapter's idle bound (both servers send something well within it).
#[derive(Default)]
pub struct FrameSocket {
    open: Option<(super::http::Socket, tokio::time::Instant)>,
}

impl FrameSocket {
    /// Starts reading `socket` (a frame is due within the idle bound from now).
    pub fn open(&mut self, socket: super::http::Socket) {
        self.open = Some((socket, tokio::time::Instant::now()));
    }

    /// The next frame, or why the connection ended.
    pub async fn next(
        &mut self,
        idle: Duration,
    ) -> Result<tokio_tungstenite::tungstenite::Message, Ended> {
        use futures_util::StreamExt;
        let (socket, last_frame) = self
            .open
            .as_mut()
            .ok_or_else(|| Ended::dropped("not connected"))?;
        match tokio::time::timeout_at(*last_frame + idle, socket.next()).await {
            Err(_) => Err(Ended::dropped(format!("no frame for {} s", idle.as_secs()))),
            Ok(None) => Err(Ended::dropped("closed")),
            Ok(Some(Err(err))) => Err(Ended::dropped(err)),
            Ok(Some(Ok(message))) => {
                *last_frame = tokio::time::Instant::now();
                Ok(message)
            }
        }
    }

    /// Sends one frame (a pong, an acknowledgement).
    pub async fn send(
        &mut self,
        message: tokio_tungstenite::tungstenite::Message,
    ) -> Result<(), Ended> {
        use futures_util::SinkExt;
        let (socket, _) = self
            .open
            .as_mut()
            .ok_or_else(|| Ended::dropped("not connected"))?;
        socket.send(message).await.map_err(Ended::dropped)
    }

    /// Closes the socket, if open.
    pub async fn close(&mut self) {
        if let Some((mut socket, _)) = self.open.take() {
            let _ = socket.close(None).await;
        }
    }
}

/// What a platform received, for the driver.
pub enum Event<O> {
    /// The session is up: the backoff starts over, the mesh hears this adapter is connected.
    Connected,
    /// A message, with where it came from (what the platform needs to answer it).
    Message(Incoming, O),
    /// The bot's reply to this message id appeared (from any node): nobody else answers it.
    ReplySeen(String),
}

/// How a platform posts; cloned into each reply task.
pub trait Poster: Clone + Send + Sync + 'static {
    /// Where a message came from: what a reply needs (room, thread, response URL, …).
    type Origin: Send + Sync + 'static;
    type Error: std::fmt::Display + Send;

    /// The asker's name to greet them by, when the message does not carry it (Slack's
    /// `users.info`); `None` keeps [`Incoming::user`].
    fn display_name(
        &self,
        _origin: &Self::Origin,
        _incoming: &Incoming,
    ) -> impl Future<Output = Option<String>> + Send {
        async { None }
    }

    /// Posts `reply` to `incoming`: in its room or thread, or, when it is private and was not
    /// asked in a direct conversation, where only the asker can read it (the platform's
    /// privacy mechanism), the room hearing at most that it was sent.
    fn reply(
        &self,
        origin: &Self::Origin,
        incoming: &Incoming,
        reply: &Reply,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Posts an alert to `room` (`chat.alert_room`, not empty).
    fn alert(&self, room: &str, text: &str)
        -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// One chat platform's adapter.
pub trait ChatPlatform: Send {
    /// `slack`, `matrix`, `mattermost`: the platform part of an asker's identity.
    const NAME: &'static str;
    /// One thing received (a frame, a `/sync` body).
    type Raw: Send;
    type Poster: Poster;

    /// Signs in and opens a session.
    fn connect(&mut self) -> impl Future<Output = Result<(), Ended>> + Send;
    /// Waits for the next thing from the platform. Cancel-safe: dropped (for an alert, for
    /// shutdown), it loses nothing.
    fn receive(&mut self) -> impl Future<Output = Result<Self::Raw, Ended>> + Send;
    /// Acts on what was received (acknowledges it, keeps the position, joins rooms) and
    /// returns what it means. Runs to the end once started.
    #[allow(clippy::type_complexity)]
    fn read(
        &mut self,
        raw: Self::Raw,
    ) -> impl Future<Output = Result<Vec<Event<<Self::Poster as Poster>::Origin>>, Ended>> + Send;
    /// Closes the session (shutdown, standing by, a dropped session).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
    /// How the session posts (after [`ChatPlatform::connect`]).
    fn poster(&self) -> Self::Poster;
    /// The bot's spellings in a message (`<@U0BOT>`, `@officemesh:example.org`).
    fn mentions(&self) -> Vec<String>;
    /// Whether this node may hold a connection now (`connected`: it holds one). Default: yes.
    fn may_connect(&self, _responder: &Responder, _connected: bool) -> bool {
        true
    }
    /// Whether a connected session asks [`ChatPlatform::may_connect`] again every
    /// [`RECHECK`] (Slack's slots). Default: no (a Matrix `/sync` is not cut short for it).
    fn rechecks(&self) -> bool {
        false
    }
}

/// The driver's state between sessions.
struct Driver {
    name: &'static str,
    responder: Arc<Responder>,
    alert_room: String,
    backoff: Backoff,
    connected: bool,
    /// What `connected::keep_announced` retries and refreshes (this adapter's state).
    announced: watch::Sender<bool>,
    standing_by: bool,
    /// False once the alert feed is closed (nothing more to wait for there).
    alerts_open: bool,
}

/// Runs `platform` until `shutdown`.
pub async fn drive<P: ChatPlatform>(
    mut platform: P,
    responder: Arc<Responder>,
    alert_room: String,
    mut alerts: broadcast::Receiver<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (announced, wanted) = watch::channel(false);
    let keeper = connected::keep_announced(responder.shared.clone(), P::NAME, wanted);
    tokio::spawn(keeper);
    let mut driver = Driver {
        name: P::NAME,
        responder,
        alert_room,
        backoff: Backoff::new(1000, 60_000),
        connected: false,
        announced,
        standing_by: false,
        alerts_open: true,
    };
    // A restart is not connected yet, whatever the mesh last heard from this node.
    driver.set_connected(false);
    while !*shutdown.borrow() {
        let Some(ended) = driver
            .session(&mut platform, &mut alerts, &mut shutdown)
            .await
        else {
            break;
        };
        let Some(wait) = driver.wait_after(ended) else {
            continue;
        };
        driver.set_connected(false);
        let poster = platform.poster();
        if driver
            .pause(&poster, wait, &mut alerts, &mut shutdown)
            .await
        {
            break;
        }
    }
    driver.set_connected(false);
}

impl Driver {
    /// One session: `None` on shutdown, else why it ended.
    async fn session<P: ChatPlatform>(
        &mut self,
        platform: &mut P,
        alerts: &mut broadcast::Receiver<String>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Ended> {
        if !platform.may_connect(&self.responder, false) {
            return Some(Ended::StandBy);
        }
        self.standing_by = false;
        let connected = tokio::select! {
            connected = platform.connect() => connected,
            _ = shutdown.changed() => return None,
        };
        if let Err(ended) = connected {
            platform.close().await;
            return Some(ended);
        }
        let poster = platform.poster();
        let mentions = Arc::new(platform.mentions());
        let rechecks = platform.rechecks();
        let mut recheck = tokio::time::interval(RECHECK);
        loop {
            let received = tokio::select! {
                received = platform.receive() => received,
                _ = shutdown.changed() => {
                    platform.close().await;
                    return None;
                }
                _ = recheck.tick(), if rechecks => {
                    if !platform.may_connect(&self.responder, self.connected) {
                        platform.close().await;
                        return Some(Ended::StandBy);
                    }
                    continue;
                }
                alert = alerts.recv(), if self.alerts_open => {
                    self.alert(&poster, alert).await;
                    continue;
                }
            };
            let events = match received {
                Ok(raw) => platform.read(raw).await,
                Err(ended) => Err(ended),
            };
            match events {
                Ok(events) => {
                    for event in events {
                        self.event::<P>(event, &poster, &mentions);
                    }
                }
                Err(ended) => {
                    platform.close().await;
                    return Some(ended);
                }
            }
        }
    }

    /// Waits `wait` before the next session, still posting alerts (they go over the
    /// platform's HTTP API, which needs no session: a Pi standing by for Slack's slots posts
    /// them too); true when shutdown came first.
    async fn pause<Q: Poster>(
        &mut self,
        poster: &Q,
        wait: Duration,
        alerts: &mut broadcast::Receiver<String>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let until = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return false,
                _ = shutdown.changed() => return true,
                alert = alerts.recv(), if self.alerts_open => self.alert(poster, alert).await,
            }
        }
    }

    /// How long to wait before the next session; `None`: at once.
    fn wait_after(&mut self, ended: Ended) -> Option<Duration> {
        let name = self.name;
        match ended {
            Ended::Reconnect => {
                tracing::info!(platform = name, "chat: reconnecting as the platform asked");
                None
            }
            Ended::StandBy => {
                if !self.standing_by {
                    tracing::info!(
                        platform = name,
                        "chat: other Pis hold the platform's connections; standing by"
                    );
                    self.standing_by = true;
                }
                Some(RECHECK)
            }
            Ended::Dropped {
                reason,
                retry_after,
            } => {
                let next = self.backoff.next_delay(jitter());
                let wait = retry_after.map_or(next, |asked| asked.min(LONGEST_ASKED_WAIT));
                tracing::warn!(platform = name, reason = %reason, retry_in = ?wait, "chat: connection lost");
                Some(wait)
            }
        }
    }

    fn set_connected(&mut self, connected: bool) {
        self.connected = connected;
        self.announced.send_replace(connected);
        let announced = connected::announce(&self.responder.shared, self.name, connected);
        if announced == connected::Announced::Held {
            tracing::info!(
                platform = self.name,
                connected,
                "chat: adapter state held back until every Pi speaks gossip protocol 2 (a Pi \
                 on the release before versioning cannot decode it); all live Pis take turns"
            );
        }
    }

    async fn alert<Q: Poster>(
        &mut self,
        poster: &Q,
        alert: Result<String, broadcast::error::RecvError>,
    ) {
        match alert {
            Ok(text) if !self.alert_room.is_empty() => {
                if let Err(err) = poster.alert(&self.alert_room, &text).await {
                    tracing::warn!(platform = self.name, error = %err, "chat: alert not posted");
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Closed) => self.alerts_open = false,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(platform = self.name, missed, "chat: alerts lagged");
            }
        }
    }

    fn event<P: ChatPlatform>(
        &mut self,
        event: Event<<P::Poster as Poster>::Origin>,
        poster: &P::Poster,
        mentions: &Arc<Vec<String>>,
    ) {
        match event {
            Event::Connected => {
                self.backoff.reset();
                if !self.connected {
                    tracing::info!(platform = self.name, "chat: connected");
                    self.set_connected(true);
                }
            }
            Event::ReplySeen(question) => self.responder.reply_seen(&question),
            Event::Message(incoming, origin) => {
                let task = answer(
                    self.responder.clone(),
                    poster.clone(),
                    mentions.clone(),
                    incoming,
                    origin,
                );
                tokio::spawn(task);
            }
        }
    }
}

/// Answers one message (when the responder has something to say, in its turn) and posts it.
async fn answer<Q: Poster>(
    responder: Arc<Responder>,
    poster: Q,
    mentions: Arc<Vec<String>>,
    mut incoming: Incoming,
    origin: Q::Origin,
) {
    if let Some(name) = poster.display_name(&origin, &incoming).await {
        incoming.user = name;
    }
    let mentions: Vec<&str> = mentions.iter().map(String::as_str).collect();
    let Some(reply) = responder.respond(&incoming, &mentions).await else {
        return;
    };
    let platform = incoming.platform;
    match poster.reply(&origin, &incoming, &reply).await {
        Ok(()) => {
            tracing::info!(platform, message = %incoming.id, private = reply.private, "chat: answered")
        }
        Err(err) => tracing::warn!(platform, error = %err, "chat: reply failed"),
    }
}
