//! Exactly one answer from the mesh when every Pi sees the same message (Matrix, Mattermost).
//!
//! Every node ranks the nodes it believes alive whose adapter for the platform is connected
//! (itself and the peers the gossip layer reports `alive` that announced it, `chat::connected`)
//! by a hash of (message id, node id): the ranking differs
//! per message, so the load spreads, and every node of a whole mesh computes the same one. The
//! first answers at once; the one at position `n` waits `n × handover` and answers only if no
//! reply of the bot to that message has appeared by then ([`Answered`], fed by the adapters when
//! they see the bot's own reply that references the question). A split mesh ranks each side on
//! its own, so each side answers: at least one reply, never none.
//!
//! Pure apart from the clock-free, lock-protected [`Answered`] set. Nothing here does I/O.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use crate::crdt::NodeId;

/// The nodes in the order they answer `message_id`: lowest hash of (message id, node) first.
pub fn ranking(message_id: &str, alive: &BTreeSet<NodeId>) -> Vec<NodeId> {
    let mut ranked: Vec<(blake3::Hash, NodeId)> = alive
        .iter()
        .map(|node| {
            let mut hasher = blake3::Hasher::new();
            hasher.update(message_id.as_bytes());
            hasher.update(&[0]);
            hasher.update(&node.0.to_le_bytes());
            (hasher.finalize(), *node)
        })
        .collect();
    ranked.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
    ranked.into_iter().map(|(_, node)| node).collect()
}

/// How long `me` waits before answering `message_id`: zero for the first in the ranking,
/// `handover` more for each node before it. `me` always counts as alive.
pub fn wait_before_answering(
    message_id: &str,
    me: NodeId,
    alive: &BTreeSet<NodeId>,
    handover: Duration,
) -> Duration {
    let mut alive = alive.clone();
    alive.insert(me);
    let position = ranking(message_id, &alive)
        .iter()
        .position(|node| *node == me)
        .unwrap_or(0);
    handover * u32::try_from(position).unwrap_or(u32::MAX)
}

/// Whether `me` holds one of `slots` connection places (Slack allows an app 10 Socket Mode
/// connections): `connected` are the live nodes whose adapter is connected (`me` may be among
/// them). A node not connected may try while fewer than `slots` others are; when more than
/// `slots` are connected (two took the last place at once), the first `slots` in the ranking
/// for `key` keep theirs and the others stand by. A node whose token is broken never counts.
pub fn holds_slot(
    key: &str,
    me: NodeId,
    connected: &BTreeSet<NodeId>,
    me_connected: bool,
    slots: usize,
) -> bool {
    if me_connected {
        return among_first(key, me, connected, slots);
    }
    connected.iter().filter(|node| **node != me).count() < slots
}

/// Whether `me` is among the first `n` of `nodes` (itself included) in the ranking for `key`.
pub fn among_first(key: &str, me: NodeId, alive: &BTreeSet<NodeId>, n: usize) -> bool {
    let mut alive = alive.clone();
    alive.insert(me);
    ranking(key, &alive).iter().take(n).any(|node| *node == me)
}

/// Message ids the bot has answered (seen its reply to, or answered here), the newest
/// `capacity` of them.
#[derive(Debug)]
pub struct Answered {
    inner: Mutex<AnsweredInner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct AnsweredInner {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Answered {
    pub fn new(capacity: usize) -> Answered {
        Answered {
            inner: Mutex::new(AnsweredInner::default()),
            capacity: capacity.max(1),
        }
    }

    /// Records that `message_id` has its answer. Returns false when it already had one.
    pub fn mark(&self, message_id: &str) -> bool {
        let mut inner = crate::sync::lock(&self.inner);
        if !inner.ids.insert(message_id.to_string()) {
            return false;
        }
        inner.order.push_back(message_id.to_string());
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.ids.remove(&old);
            }
        }
        true
    }

    pub fn contains(&self, message_id: &str) -> bool {
        crate::sync::lock(&self.inner).ids.contains(message_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_go_to_connected_nodes_only() {
        let set = |ids: &[u64]| ids.iter().map(|id| NodeId(*id)).collect::<BTreeSet<_>>();
        // Two of three slots held: a third node may connect, a fourth may not.
        assert!(holds_slot("k", NodeId(3), &set(&[1, 2]), false, 3));
        assert!(!holds_slot("k", NodeId(4), &set(&[1, 2, 3]), false, 3));
        // Nodes not connected (a broken token) hold nothing: one connected of two slots.
        assert!(holds_slot("k", NodeId(9), &set(&[1]), false, 2));
        // Four connected for three slots: exactly three keep theirs.
        let four = set(&[1, 2, 3, 4]);
        let keep = (1..=4)
            .filter(|id| holds_slot("k", NodeId(*id), &four, true, 3))
            .count();
        assert_eq!(keep, 3);
    }

    fn set(ids: &[u64]) -> BTreeSet<NodeId> {
        ids.iter().map(|id| NodeId(*id)).collect()
    }

    #[test]
    fn every_node_computes_the_same_ranking_and_exactly_one_goes_first() {
        let alive = set(&[3, 9, 27]);
        for n in 0..200 {
            let id = format!("$event{n}:example.org");
            let waits: Vec<Duration> = alive
                .iter()
                .map(|me| wait_before_answering(&id, *me, &alive, Duration::from_secs(5)))
                .collect();
            let firsts = waits.iter().filter(|w| w.is_zero()).count();
            assert_eq!(firsts, 1, "{id}: {waits:?}");
            let mut sorted = waits.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 3, "distinct positions for {id}");
        }
    }

    #[test]
    fn the_first_node_changes_between_messages() {
        let alive = set(&[1, 2, 3]);
        let firsts: BTreeSet<NodeId> = (0..60)
            .map(|n| ranking(&format!("m{n}"), &alive)[0])
            .collect();
        assert_eq!(firsts, alive, "every node answers some messages first");
    }

    #[test]
    fn a_node_alone_answers_at_once() {
        let me = NodeId(42);
        assert_eq!(
            wait_before_answering("m", me, &BTreeSet::new(), Duration::from_secs(5)),
            Duration::ZERO
        );
        // With the others gone from its view, the last in a ranking answers at once.
        let whole = set(&[1, 2, 42]);
        let id = (0..100)
            .map(|n| format!("m{n}"))
            .find(|id| ranking(id, &whole)[2] == me)
            .expect("some message ranks 42 last");
        assert_eq!(
            wait_before_answering(&id, me, &whole, Duration::from_secs(5)),
            Duration::from_secs(10)
        );
        assert_eq!(
            wait_before_answering(&id, me, &set(&[42]), Duration::from_secs(5)),
            Duration::ZERO
        );
    }

    #[test]
    fn nine_of_eleven_connect_and_the_rest_take_over() {
        let alive: BTreeSet<NodeId> = (1..=11).map(NodeId).collect();
        let connecting: Vec<NodeId> = alive
            .iter()
            .filter(|me| among_first("slack-socket", **me, &alive, 9))
            .copied()
            .collect();
        assert_eq!(connecting.len(), 9);
        let standing_by: Vec<NodeId> = alive
            .difference(&connecting.iter().copied().collect())
            .copied()
            .collect();
        // One of the nine leaves: the first standing by takes its place.
        let mut fewer = alive.clone();
        fewer.remove(&connecting[0]);
        let takers = standing_by
            .iter()
            .filter(|me| among_first("slack-socket", **me, &fewer, 9))
            .count();
        assert_eq!(takers, 1);
        assert!(
            among_first("slack-socket", NodeId(99), &BTreeSet::new(), 9),
            "alone: connects"
        );
    }

    #[test]
    fn answered_is_bounded_and_marks_once() {
        let answered = Answered::new(2);
        assert!(answered.mark("a"));
        assert!(!answered.mark("a"));
        assert!(answered.mark("b"));
        assert!(answered.mark("c"));
        assert!(!answered.contains("a"), "the oldest is forgotten");
        assert!(answered.contains("b") && answered.contains("c"));
    }
}
