//! The one path every chat adapter (Matrix, Slack, Mattermost) sends an incoming message down:
//! addressed to the bot? ([`addressing`]) → this node's turn? ([`dedup`], among the nodes
//! whose adapter for the platform is connected: `chat::connected`) → parse and answer
//! (`chat::answer`, which adds the partition caveats) → the [`Reply`] to post (in the room, or
//! to the asker alone when it is private), or nothing.
//!
//! The adapters own their sockets and post the reply; this module never touches the network.
//! [`Turns`] is the waiting part alone (testable with paused time); [`Responder`] adds the
//! agent's state.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::addressing::{addressed, Said};
use super::dedup::{wait_before_answering, Answered};
use super::{Asker, Reply};
use crate::crdt::NodeId;
use crate::shared::Shared;

/// How often a waiting node looks again at the membership view and for the bot's reply.
const RECHECK: Duration = Duration::from_millis(250);
/// How many answered message ids each adapter remembers (retries, replies seen).
pub const ANSWERED_MEMORY: usize = 4096;

/// A chat message as an adapter received it.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// The platform's id of the message (Matrix event id, Slack `channel/ts`, Mattermost post
    /// id): the same on every node.
    pub id: String,
    /// Who wrote it, as a name to greet them by (display name or user name): never authority.
    pub user: String,
    /// The platform's stable id of the writer (Slack user id, full Matrix user id with its
    /// server, Mattermost user id): where a private reply goes.
    pub user_id: String,
    /// `matrix`, `slack` or `mattermost`: with `user_id`, the asker's identity.
    pub platform: &'static str,
    pub text: String,
    pub direct: bool,
    pub mentioned: bool,
    /// Written by the bot's own account or another bot.
    pub from_bot: bool,
    /// Every node receives this message (Matrix, Mattermost), so they take turns; otherwise
    /// (Slack Socket Mode hands each event to one connection) the receiver answers at once.
    pub seen_by_every_node: bool,
}

/// Whose turn it is to answer a message, and whether the answer already came.
#[derive(Debug)]
pub struct Turns {
    pub me: NodeId,
    pub handover: Duration,
    pub answered: Arc<Answered>,
}

impl Turns {
    /// Waits for this node's turn on `message_id` and claims it: true when this node must answer
    /// now; false when the bot's reply appeared (or this node already answered it). `alive` is
    /// read again while waiting, so a node found dead hands its turn on.
    pub async fn take_turn(
        &self,
        message_id: &str,
        seen_by_every_node: bool,
        alive: impl Fn() -> BTreeSet<NodeId>,
    ) -> bool {
        if seen_by_every_node {
            let start = tokio::time::Instant::now();
            loop {
                if self.answered.contains(message_id) {
                    return false;
                }
                let wait = wait_before_answering(message_id, self.me, &alive(), self.handover);
                let waited = start.elapsed();
                if waited >= wait {
                    break;
                }
                tokio::time::sleep(RECHECK.min(wait - waited)).await;
            }
        }
        self.answered.mark(message_id)
    }
}

/// What the room is told when the answer went to the asker alone.
pub const SENT_PRIVATELY: &str = "I've sent you a private message.";

/// The agent's chat answering, shared by the adapters of one node.
pub struct Responder {
    pub shared: Arc<Shared>,
    pub bot_name: String,
    pub turns: Turns,
}

impl Responder {
    pub fn new(shared: Arc<Shared>, bot_name: &str, handover: Duration) -> Responder {
        let me = shared.node;
        Responder {
            shared,
            bot_name: bot_name.to_string(),
            turns: Turns {
                me,
                handover,
                answered: Arc::new(Answered::new(ANSWERED_MEMORY)),
            },
        }
    }

    /// Records that the bot's reply to `message_id` appeared (seen from any node).
    pub fn reply_seen(&self, message_id: &str) {
        self.turns.answered.mark(message_id);
    }

    /// The reply this node posts for `incoming`, after its turn came; `None` when the message is
    /// not for the bot or another node answered. A [`Reply::private`] reply goes to the asker
    /// alone (the adapter's private channel), never into the room. `mentions` are the platform's spellings of the
    /// bot (`<@U0BOT>`, `@officemesh:example.org`).
    pub async fn respond(&self, incoming: &Incoming, mentions: &[&str]) -> Option<Reply> {
        let said = Said {
            text: &incoming.text,
            direct: incoming.direct,
            mentioned: incoming.mentioned,
            from_bot: incoming.from_bot,
        };
        let question = addressed(&said, &self.bot_name, mentions)?;
        let shared = &self.shared;
        // Only nodes whose adapter for this platform is connected take turns.
        let mine = self
            .turns
            .take_turn(&incoming.id, incoming.seen_by_every_node, || {
                super::connected::connected_nodes(shared, incoming.platform)
            })
            .await;
        if !mine {
            tracing::debug!(message = %incoming.id, "another node answered");
            return None;
        }
        let command = super::parse(&question);
        let asker = Asker::on(incoming.platform, &incoming.user_id, &incoming.user);
        Some(super::answer_for(shared, &asker, &command, crate::clock::wall_ms()).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn turns(me: u64) -> Turns {
        Turns {
            me: NodeId(me),
            handover: Duration::from_secs(5),
            answered: Arc::new(Answered::new(64)),
        }
    }

    fn set(ids: &[u64]) -> BTreeSet<NodeId> {
        ids.iter().map(|id| NodeId(*id)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_answers_and_the_others_see_its_reply() {
        let alive = set(&[1, 2, 3]);
        let nodes: Vec<Turns> = [1, 2, 3].into_iter().map(turns).collect();
        let mut firsts = 0;
        for node in &nodes {
            let wait = wait_before_answering("$q", node.me, &alive, node.handover);
            if wait.is_zero() {
                firsts += 1;
                assert!(node.take_turn("$q", true, || alive.clone()).await);
            }
        }
        assert_eq!(firsts, 1);
        // The reply shows up on the other nodes: nobody else answers.
        for node in &nodes {
            node.answered.mark("$q");
        }
        for node in &nodes {
            assert!(!node.take_turn("$q", true, || alive.clone()).await);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_answers_when_no_reply_appears() {
        let alive = set(&[1, 2, 3]);
        let id = (0..100)
            .map(|n| format!("m{n}"))
            .find(|id| super::super::dedup::ranking(id, &alive)[1] == NodeId(2))
            .expect("a message where node 2 is second");
        let second = turns(2);
        let start = tokio::time::Instant::now();
        assert!(second.take_turn(&id, true, || alive.clone()).await);
        assert!(
            start.elapsed() >= Duration::from_secs(5),
            "it waited its turn"
        );
        // And it does not answer the same message twice (a retry).
        assert!(!second.take_turn(&id, true, || alive.clone()).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_found_dead_hands_its_turn_on_early() {
        let whole = set(&[1, 2, 3]);
        let id = (0..100)
            .map(|n| format!("m{n}"))
            .find(|id| super::super::dedup::ranking(id, &whole)[2] == NodeId(3))
            .expect("a message where node 3 is last");
        let view = Arc::new(Mutex::new(whole.clone()));
        let last = turns(3);
        let shrinking = view.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            *shrinking.lock().expect("view") = set(&[3]);
        });
        let start = tokio::time::Instant::now();
        let view_now = || view.lock().expect("view").clone();
        assert!(last.take_turn(&id, true, view_now).await);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "answered once the others were gone, not after its full wait"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn single_delivery_answers_at_once_but_once() {
        let node = turns(3);
        let alive = set(&[1, 2, 3]);
        assert!(node.take_turn("slack/1", false, || alive.clone()).await);
        assert!(!node.take_turn("slack/1", false, || alive.clone()).await);
    }
}
