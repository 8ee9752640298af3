//! The chat bot: text in, answer out, the same for every platform.
//!
//! Contents:
//!
//! - [`grammar`]: parses a message into a [`Command`] (pure); [`setting`] reads "set … to …";
//!   [`with_office`] reads a message against the office's people and rooms (sentences, MACs
//!   anywhere, fixed phrasings checked against known rooms).
//! - [`answer`]: executes a command against the replica and renders the reply, saying which
//!   nodes it cannot reach (pure [`plan`], and a thin [`answer()`] over `Shared`); one
//!   file per command under `answer/` (`who`, `readings`, `register`, `targets`, `status`,
//!   `help`), with `answer/rooms.rs` for room-name matching they share.
//! - [`text`]: how numbers, ages and times are written (also used by alerts).
//! - [`verify`]: Slack request signatures and Mattermost tokens (pure).
//! - [`questions`]: the grammar of questions asked as to a colleague ("is ada in?").
//! - [`addressing`]: is a message for the bot, and what does it ask (pure).
//! - [`dedup`]: which node answers a message every node sees (pure ranking).
//! - [`pipeline`]: incoming message → addressed? → our turn? → answer; shared by the adapters.
//! - [`driver`]: the [`driver::ChatPlatform`] seam and the one loop every adapter runs in
//!   (connect, receive, reply, alerts, backoff, standing by, shutdown).
//! - [`connected`]: which nodes' adapters are connected, announced through the mesh
//!   (`chat_adapter/<node>/<platform>`): turns and Slack's connection slots count only those.
//! - [`matrix`]: the Matrix adapter (outbound `/sync` long-polling, direct rooms).
//! - [`slack`]: Slack Socket Mode (outbound WebSocket, acks, `chat.postMessage`/`postEphemeral`).
//! - [`mattermost`]: the Mattermost WebSocket event API (with resume) and REST replies.
//! - [`http`]: WebSocket connects over the shared TLS config and the one `Backoff`; HTTP calls
//!   go through `crate::outbound`.
//! - [`adapters`]: starts the configured adapters with one shared responder.
//!
//! The slash-command HTTP adapters live in `api::chat`; the outbound platform adapters
//! (`matrix`, `slack`, `mattermost`, via `http`) are the only modules here that open
//! connections. Every adapter parses with [`parse`], answers with [`answer()`] (through
//! `pipeline`) and only formats the transport around the reply text.

pub mod adapters;
pub mod addressing;
pub mod answer;
pub mod connected;
pub mod dedup;
pub mod driver;
pub mod fillers;
pub mod grammar;
pub mod http;
pub mod intent;
pub mod lexicon;
pub mod matrix;
pub mod mattermost;
pub mod pipeline;
pub mod questions;
pub mod setting;
pub mod slack;
pub mod text;
pub mod understand;
pub mod verify;
pub mod with_office;

pub use answer::{answer, answer_for, plan, plan_for, Asker, Plan, Reply, View};
pub use grammar::Command;

/// What a message asks, for any adapter: a [`Command::Ask`] that [`answer()`] / [`plan`]
/// understand knowing the office's people and rooms (`grammar::parse_in` over the replica).
pub fn parse(text: &str) -> Command {
    Command::Ask {
        text: text.trim().chars().take(1000).collect(),
    }
}
