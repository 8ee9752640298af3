//! Starts the configured outbound chat adapters (`[chat.matrix]`, `[chat.slack]`,
//! `[chat.mattermost]`) with one shared [`Responder`], and hands each the alert feed
//! (`Shared::chat_alerts`) for `chat.alert_room`, each in the one driver loop
//! (`driver::drive`). Owns no socket itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::driver::{drive, ChatPlatform};
use super::matrix::Matrix;
use super::mattermost::Mattermost;
use super::pipeline::Responder;
use super::slack::Slack;
use crate::shared::Shared;

/// A task to spawn.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The adapter tasks for this node's config (none when no adapter is configured).
pub fn start(shared: Arc<Shared>, shutdown: watch::Receiver<bool>) -> Vec<Task> {
    let chat = shared.config.chat.clone();
    let responder = Arc::new(Responder::new(
        shared.clone(),
        chat.bot_name.trim(),
        Duration::from_secs(chat.handover_s.max(1)),
    ));
    let driving = |name: &str| Driving {
        responder: responder.clone(),
        alert_room: chat.alert_room.clone(),
        alerts: shared.chat_alerts.subscribe(),
        shutdown: shutdown.clone(),
        name: name.to_string(),
    };
    let mut tasks: Vec<Task> = Vec::new();
    if let Some(matrix) = &chat.matrix {
        let data_dir = &shared.config.storage.data_dir;
        let platform = Matrix::new(matrix, data_dir, shared.node.0);
        tasks.extend(driving("matrix").task(platform));
    }
    if let Some(slack) = &chat.slack {
        tasks.extend(driving("slack").task(Slack::new(slack.clone())));
    }
    if let Some(mattermost) = &chat.mattermost {
        tasks.extend(driving("mattermost").task(Mattermost::new(mattermost.clone())));
    }
    tasks
}

/// What every adapter task is given.
struct Driving {
    responder: Arc<Responder>,
    alert_room: String,
    alerts: broadcast::Receiver<String>,
    shutdown: watch::Receiver<bool>,
    name: String,
}

impl Driving {
    /// The driver loop over `platform`, or none (logged) when it cannot be set up.
    fn task<P, E>(self, platform: Result<P, E>) -> Option<Task>
    where
        P: ChatPlatform + 'static,
        E: std::fmt::Display,
    {
        match platform {
            Ok(platform) => Some(Box::pin(drive(
                platform,
                self.responder,
                self.alert_room,
                self.alerts,
                self.shutdown,
            ))),
            Err(err) => {
                tracing::error!(error = %err, "{}: not starting", self.name);
                None
            }
        }
    }
}
