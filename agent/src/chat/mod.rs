//! The chat bot: text in, answer out, the same for every platform.
//!
//! Contents:
//!
//! - [`grammar`]: parses a message into a [`Command`] (pure).
//! - [`answer`]: executes a command against the replica and renders the reply, saying which
//!   nodes it cannot reach (pure [`plan`], and a thin [`answer()`] over `runtime::Shared`); one
//!   file per command under `answer/` (`who`, `readings`, `register`, `targets`, `status`,
//!   `help`), with `answer/rooms.rs` for room-name matching they share.
//! - [`text`]: how numbers, ages and times are written (also used by alerts).
//! - [`verify`]: Slack request signatures and Mattermost tokens (pure).
//!
//! The HTTP adapters live in `api::chat`; nothing here opens a socket or reads a clock. A
//! platform adapter parses with [`parse`], answers with [`answer()`] and only formats the
//! transport around the reply text.

pub mod answer;
pub mod grammar;
pub mod text;
pub mod verify;

pub use answer::{answer, plan, Plan, Reply, View};
pub use grammar::{parse, Command};
