//! Starts the configured outbound chat adapters (`[chat.matrix]`, `[chat.slack]`,
//! `[chat.mattermost]`) with one shared [`Responder`], and hands each the alert feed
//! (`Shared::chat_alerts`) for `chat.alert_room`. Owns no socket itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::pipeline::Responder;
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
    let mut tasks: Vec<Task> = Vec::new();
    if let Some(matrix) = chat.matrix {
        tasks.push(Box::pin(super::matrix::run(
            matrix,
            responder.clone(),
            chat.alert_room.clone(),
            shared.chat_alerts.subscribe(),
            shutdown.clone(),
        )));
    }
    if let Some(slack) = chat.slack {
        tasks.push(Box::pin(super::slack::run(
            slack,
            responder.clone(),
            chat.alert_room.clone(),
            shared.chat_alerts.subscribe(),
            shutdown.clone(),
        )));
    }
    if let Some(mattermost) = chat.mattermost {
        tasks.push(Box::pin(super::mattermost::run(
            mattermost,
            responder.clone(),
            chat.alert_room.clone(),
            shared.chat_alerts.subscribe(),
            shutdown.clone(),
        )));
    }
    tasks
}
