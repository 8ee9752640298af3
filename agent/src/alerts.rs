//! Room-target alerts: when a room's readings stay outside its target (`target/<room>/<q>`,
//! value ± tolerance) for `chat.alert_after_s`, raise `alert/<room>/<q>` and post once to
//! `chat.alert_webhook`; when they are back inside for as long, clear it and post once more.
//!
//! Once per cluster, not once per Pi. Every node evaluates the same replicated readings, but
//! only one acts:
//! 1. the **poster** is the lowest node id among the nodes this node believes alive (itself
//!    always, plus peers the gossip layer reports `alive`);
//! 2. nobody raises an alert whose replicated `alert/…` entry already says raised, and nobody
//!    clears one that is not raised — so a poster that changes (the old one died) or a node
//!    that restarts does not post again;
//! 3. a node acts only after watching the room itself for `alert_after_s` (its own timers), so a
//!    freshly started node has heard from its peers before it can believe it is the lowest.
//!
//! During a partition each side has its own poster (each side posts what it can see); after
//! the heal the `alert/` entries merge (LWW) and nobody re-posts.
//!
//! [`evaluate`] is pure (replica, peers and time passed in); [`alert_loop`] is the shell that
//! runs it on a tick, posts with one `outbound::HttpClient` (the chat adapters' backoff) and
//! writes the `alert/` entries durably through the `StateHandle` (`AlertDeps`: the handles it
//! takes). It touches no socket other than the webhook's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{FixedOffset, Offset};
use officemesh_sensors::Quantity;
use tokio::sync::watch;

use crate::chat::http::{self, Backoff};
use crate::chat::text::{clock_text, number_text};
use crate::clock::wall_ms;
use crate::config::ChatConfig;
use crate::crdt::NodeId;
use crate::outbound::{Body, HttpClient, HttpError};
use crate::shared::{MeshView, Shared, StateHandle};
use crate::state::{AlertValue, Key, ReadingStatus, Replica, TargetValue, Value};

/// Readings older than this are not used: the room's state is unknown, nothing changes.
pub const FRESH_MS: u64 = 10 * 60 * 1000;

/// What this node has watched itself, per (room, quantity): since when the room is outside
/// (or inside) its target. Not replicated: each node watches the same replicated readings.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    bands: BTreeMap<(String, Quantity), Band>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Band {
    outside_since_ms: Option<u64>,
    inside_since_ms: Option<u64>,
}

/// One alert change to make: write `key` = `value`, and post `text`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertAction {
    pub key: Key,
    pub value: AlertValue,
    pub text: String,
}

pub use crate::peer::turn_takers;

/// Whether `me` is the node that posts: the lowest id among those believed alive.
pub fn is_poster(me: NodeId, alive: &BTreeSet<NodeId>) -> bool {
    alive.iter().next().is_none_or(|lowest| *lowest >= me)
}

/// The room's current value for `quantity`: the mean of its fresh, good readings.
fn room_value(replica: &Replica, room: &str, quantity: Quantity, now_ms: u64) -> Option<f64> {
    let values: Vec<f64> = replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Reading { quantity: q, .. }, Value::Reading(reading))
                if *q == quantity
                    && reading.room.eq_ignore_ascii_case(room)
                    && reading.status == ReadingStatus::Ok
                    && now_ms.saturating_sub(reading.taken_at_ms) <= FRESH_MS =>
            {
                Some(reading.value)
            }
            _ => None,
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// One evaluation at `now_ms`: updates `tracker` and returns the alerts this node must raise or
/// clear (empty unless it is the poster). Pure.
pub fn evaluate(
    tracker: &mut Tracker,
    replica: &Replica,
    me: NodeId,
    alive: &BTreeSet<NodeId>,
    now_ms: u64,
    after_ms: u64,
    offset: FixedOffset,
) -> Vec<AlertAction> {
    let targets: BTreeMap<(String, Quantity), TargetValue> = replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Target { room, quantity }, Value::Target(target)) => {
                Some(((room.clone(), *quantity), target.clone()))
            }
            _ => None,
        })
        .collect();
    let judge = Judge {
        me,
        poster: is_poster(me, alive),
        now_ms,
        after_ms,
        offset,
    };
    let mut actions = Vec::new();
    for ((room, quantity), target) in &targets {
        let slot = (room.clone(), *quantity);
        let Some(current) = room_value(replica, room, *quantity, now_ms) else {
            // No fresh reading: nothing is known, nothing changes, the timers start over.
            tracker.bands.remove(&slot);
            continue;
        };
        let band = tracker.bands.entry(slot).or_default();
        if (current - target.value).abs() > target.tolerance {
            band.inside_since_ms = None;
            band.outside_since_ms.get_or_insert(now_ms);
        } else {
            band.outside_since_ms = None;
            band.inside_since_ms.get_or_insert(now_ms);
        }
        let key = Key::Alert {
            room: room.clone(),
            quantity: *quantity,
        };
        let raised = matches!(replica.value(&key), Some(Value::Alert(alert)) if alert.raised);
        actions.extend(judge.raise_or_clear(*band, raised, key, target, current));
    }
    actions.extend(judge.orphans_cleared(replica, &targets));
    tracker.bands.retain(|slot, _| targets.contains_key(slot));
    actions
}

/// What one evaluation round decides with: who this node is, whether it posts, and when.
struct Judge {
    me: NodeId,
    poster: bool,
    now_ms: u64,
    after_ms: u64,
    offset: FixedOffset,
}

impl Judge {
    /// Raises an alert out of band for `after_ms`, clears one back in band as long (only the
    /// poster decides).
    fn raise_or_clear(
        &self,
        band: Band,
        raised: bool,
        key: Key,
        target: &TargetValue,
        current: f64,
    ) -> Option<AlertAction> {
        let Key::Alert { room, quantity } = &key else {
            return None;
        };
        let unit = quantity.unit();
        let band_text = format!(
            "{} ± {} {unit}",
            number_text(target.value),
            number_text(target.tolerance)
        );
        let now = number_text(current);
        let what = format!("{room} {}", quantity.as_str());
        if let Some(since) = band.outside_since_ms {
            if raised || !self.due(since) {
                return None;
            }
            let side = if current > target.value {
                "above"
            } else {
                "below"
            };
            let message = format!("{what} is at {now} {unit}, {side} its target {band_text}");
            let when = clock_text(since, self.now_ms, self.offset);
            let text = format!(":warning: {message} since {when}.");
            return Some(self.action(key, true, since, message, text));
        }
        let since = band.inside_since_ms?;
        if !raised || !self.due(since) {
            return None;
        }
        let message = format!("{what} is back to normal: {now} {unit}, target {band_text}");
        let text = format!(":white_check_mark: {message}.");
        Some(self.action(key, false, since, message, text))
    }

    /// Whether a band held since `since` has lasted long enough for this node to act on it.
    fn due(&self, since: u64) -> bool {
        self.poster && self.now_ms.saturating_sub(since) >= self.after_ms
    }

    /// The alert change: `key` raised (or cleared) by this node since `since`, posting `text`.
    fn action(
        &self,
        key: Key,
        raised: bool,
        since_ms: u64,
        message: String,
        text: String,
    ) -> AlertAction {
        AlertAction {
            text,
            key,
            value: AlertValue {
                raised,
                by: self.me,
                since_ms,
                message,
            },
        }
    }

    /// A raised alert whose target was removed is cleared.
    fn orphans_cleared(
        &self,
        replica: &Replica,
        targets: &BTreeMap<(String, Quantity), TargetValue>,
    ) -> Vec<AlertAction> {
        if !self.poster {
            return Vec::new();
        }
        replica
            .live()
            .filter_map(|(key, value)| match (key, value) {
                (Key::Alert { room, quantity }, Value::Alert(alert))
                    if alert.raised && !targets.contains_key(&(room.clone(), *quantity)) =>
                {
                    let message = format!(
                        "{room} {}: the target was removed, alert cleared",
                        quantity.as_str()
                    );
                    let text = format!(":white_check_mark: {message}.");
                    Some(self.action(key.clone(), false, self.now_ms, message, text))
                }
                _ => None,
            })
            .collect()
    }
}

/// How often the loop evaluates: a quarter of `alert_after`, between 0.5 s and 10 s.
fn tick_ms(after_ms: u64) -> u64 {
    (after_ms / 4).clamp(500, 10_000)
}

/// Posts `{"text": …}` to a Slack/Mattermost-compatible incoming webhook: three tries with
/// the chat adapters' backoff, each waiting out `429` (`Retry-After`). Any 2xx is success (the
/// webhook's body, often `ok`, is not JSON).
async fn post_webhook(client: &HttpClient, url: &str, text: &str) -> Result<(), HttpError> {
    let mut backoff = Backoff::new(1000, 4000);
    let mut result = Ok(());
    for attempt in 0..3 {
        let body = || Body::Json(serde_json::json!({ "text": text }));
        let posted = client
            .call_patiently("POST", url, "", body, WEBHOOK_TIMEOUT)
            .await;
        result = match posted {
            Ok(_) | Err(HttpError::Decode { .. }) => Ok(()),
            Err(err) => Err(err),
        };
        if result.is_ok() {
            break;
        }
        if attempt < 2 {
            tokio::time::sleep(backoff.next_delay(http::jitter())).await;
        }
    }
    result
}

const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// What the alert loop uses: the state it reads and writes, the peers (who posts), this node's
/// id, the chat settings and the chat adapters' alert channel.
pub struct AlertDeps {
    pub state: Arc<StateHandle>,
    pub mesh: Arc<MeshView>,
    pub node: NodeId,
    pub chat: ChatConfig,
    /// Alert texts for the chat adapters to post into `chat.alert_room`.
    pub chat_alerts: tokio::sync::broadcast::Sender<String>,
}

impl AlertDeps {
    /// The pieces of `shared` the alert loop takes.
    pub fn of(shared: &Shared) -> AlertDeps {
        AlertDeps {
            state: shared.state.clone(),
            mesh: shared.mesh.clone(),
            node: shared.node,
            chat: shared.config.chat.clone(),
            chat_alerts: shared.chat_alerts.clone(),
        }
    }
}

/// Evaluates alerts every tick until shutdown; posts and records what [`evaluate`] decides.
pub async fn alert_loop(deps: AlertDeps, mut shutdown: watch::Receiver<bool>) {
    let after_ms = deps.chat.alert_after_s.max(1) * 1000;
    let mut tick = tokio::time::interval(Duration::from_millis(tick_ms(after_ms)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tracker = Tracker::default();
    // One client for every webhook post, built at the first one (and again only if that failed).
    let mut client: Option<HttpClient> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let alive = turn_takers(deps.node, &deps.mesh.peers());
        let offset = chrono::Local::now().offset().fix();
        let actions = {
            let replica = deps.state.replica();
            evaluate(
                &mut tracker,
                &replica,
                deps.node,
                &alive,
                wall_ms(),
                after_ms,
                offset,
            )
        };
        for action in actions {
            run_action(&deps, &mut client, action).await;
        }
    }
}

/// Posts one alert (when a webhook is configured), then records it in the replicated state so
/// no node posts it again. A webhook that keeps failing is logged; the state is still recorded.
async fn run_action(deps: &AlertDeps, client: &mut Option<HttpClient>, action: AlertAction) {
    if !deps.chat.alert_room.is_empty() {
        // The chat adapters (Matrix, Slack, Mattermost) post it into `chat.alert_room`.
        let _ = deps.chat_alerts.send(action.text.clone());
    }
    let url = &deps.chat.alert_webhook;
    if url.is_empty() {
        tracing::info!(alert = %action.text, "alert (chat.alert_webhook not set: not posted)");
    } else {
        let posted = match client {
            Some(client) => post_webhook(client, url, &action.text).await,
            None => match HttpClient::new(None) {
                Ok(built) => post_webhook(client.insert(built), url, &action.text).await,
                Err(err) => Err(err),
            },
        };
        match posted {
            Ok(()) => tracing::info!(alert = %action.text, "alert posted"),
            Err(err) => {
                tracing::error!(alert = %action.text, error = %err, "posting the alert to chat.alert_webhook failed")
            }
        }
    }
    if let Err(err) = deps
        .state
        .write_durable(action.key.clone(), Some(Value::Alert(action.value)))
        .await
    {
        tracing::error!(key = %action.key, error = %err, "recording the alert failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::Stamp;
    use crate::peer::{MemberStatus, PeerStatus};
    use crate::state::ReadingValue;

    const MINUTE: u64 = 60_000;
    const AFTER: u64 = 5 * MINUTE;
    const START: u64 = 1_763_901_720_000;

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).expect("UTC")
    }

    struct Node {
        id: NodeId,
        replica: Replica,
        tracker: Tracker,
        clock: u64,
    }

    impl Node {
        fn new(id: u64) -> Node {
            Node {
                id: NodeId(id),
                replica: Replica::new(NodeId(id)),
                tracker: Tracker::default(),
                clock: 0,
            }
        }

        fn write(&mut self, key: Key, value: Option<Value>, now_ms: u64) {
            self.clock = self.clock.max(now_ms) + 1;
            let stamp = Stamp::new(self.clock, self.id);
            self.replica.write(key, value, stamp).expect("fresh stamp");
        }

        /// Evaluates and applies its own actions (as the loop does); returns the posts.
        fn tick(&mut self, alive: &[u64], now_ms: u64) -> Vec<AlertAction> {
            let alive: BTreeSet<NodeId> = alive.iter().map(|id| NodeId(*id)).collect();
            let actions = evaluate(
                &mut self.tracker,
                &self.replica,
                self.id,
                &alive,
                now_ms,
                AFTER,
                utc(),
            );
            for action in &actions {
                self.write(
                    action.key.clone(),
                    Some(Value::Alert(action.value.clone())),
                    now_ms,
                );
            }
            actions
        }

        /// Gossip, in one direction: every entry of `other` merged here.
        fn merge_from(&mut self, other: &Node) {
            for entry in other.replica.entries() {
                self.replica.merge(entry.clone());
            }
        }
    }

    fn reading(node: &mut Node, room: &str, value: f64, now_ms: u64) {
        let id = node.id;
        node.write(
            Key::Reading {
                node: id,
                sensor: "desk".into(),
                quantity: Quantity::Temperature,
            },
            Some(Value::Reading(ReadingValue {
                value,
                unit: "°C".into(),
                room: room.into(),
                status: ReadingStatus::Ok,
                taken_at_ms: now_ms,
            })),
            now_ms,
        );
    }

    fn target(node: &mut Node, room: &str, value: f64, now_ms: u64) {
        node.write(
            Key::Target {
                room: room.into(),
                quantity: Quantity::Temperature,
            },
            Some(Value::Target(TargetValue {
                value,
                tolerance: 1.0,
            })),
            now_ms,
        );
    }

    fn alert_key() -> Key {
        Key::Alert {
            room: "lobby".into(),
            quantity: Quantity::Temperature,
        }
    }

    #[test]
    fn raises_after_the_delay_and_clears_once_back_inside() {
        let mut node = Node::new(1);
        target(&mut node, "lobby", 22.0, START);
        reading(&mut node, "lobby", 26.0, START);
        assert!(node.tick(&[1], START).is_empty(), "just went outside");
        assert!(
            node.tick(&[1], START + AFTER - 1).is_empty(),
            "not long enough"
        );
        let raised = node.tick(&[1], START + AFTER);
        assert_eq!(raised.len(), 1);
        assert!(raised[0].value.raised);
        assert_eq!(raised[0].value.since_ms, START);
        assert!(
            raised[0]
                .text
                .contains("lobby temperature is at 26 °C, above its target 22 ± 1 °C"),
            "{}",
            raised[0].text
        );
        assert!(
            node.tick(&[1], START + AFTER + MINUTE).is_empty(),
            "raised once, not again"
        );

        let back = START + 10 * MINUTE;
        reading(&mut node, "lobby", 22.5, back);
        assert!(
            node.tick(&[1], back).is_empty(),
            "inside, but not for long yet"
        );
        // A blip outside resets the inside timer.
        reading(&mut node, "lobby", 24.0, back + MINUTE);
        assert!(node.tick(&[1], back + MINUTE).is_empty());
        reading(&mut node, "lobby", 22.2, back + 2 * MINUTE);
        assert!(node.tick(&[1], back + 2 * MINUTE).is_empty());
        assert!(node.tick(&[1], back + 2 * MINUTE + AFTER - 1).is_empty());
        reading(&mut node, "lobby", 22.2, back + 2 * MINUTE + AFTER);
        let cleared = node.tick(&[1], back + 2 * MINUTE + AFTER);
        assert_eq!(cleared.len(), 1);
        assert!(!cleared[0].value.raised);
        assert!(
            cleared[0].text.contains("back to normal"),
            "{}",
            cleared[0].text
        );
        reading(&mut node, "lobby", 22.2, back + 20 * MINUTE);
        assert!(
            node.tick(&[1], back + 20 * MINUTE).is_empty(),
            "cleared once"
        );
    }

    #[test]
    fn stale_or_missing_readings_change_nothing() {
        let mut node = Node::new(1);
        target(&mut node, "lobby", 22.0, START);
        reading(&mut node, "lobby", 30.0, START);
        assert!(node.tick(&[1], START).is_empty());
        // The reading is never refreshed: after FRESH_MS it is unknown, and no alert comes.
        assert!(node.tick(&[1], START + FRESH_MS + 1).is_empty());
        assert!(node.tick(&[1], START + FRESH_MS + AFTER + 1).is_empty());
        assert!(node.replica.value(&alert_key()).is_none());
        // No target for the kitchen: its readings never alert.
        reading(&mut node, "kitchen", 40.0, START + FRESH_MS + AFTER + 2);
        assert!(node.tick(&[1], START + FRESH_MS + 2 * AFTER + 2).is_empty());
    }

    #[test]
    fn two_nodes_post_once_per_cluster() {
        let mut a = Node::new(1);
        let mut b = Node::new(2);
        target(&mut a, "lobby", 22.0, START);
        reading(&mut b, "lobby", 26.0, START);
        a.merge_from(&b);
        b.merge_from(&a);
        let both = [1, 2];
        let mut posts = Vec::new();
        for step in 0..=6 {
            let now = START + step * MINUTE;
            reading(&mut b, "lobby", 26.0, now);
            a.merge_from(&b);
            posts.extend(a.tick(&both, now));
            posts.extend(b.tick(&both, now));
            a.merge_from(&b);
            b.merge_from(&a);
        }
        assert_eq!(posts.len(), 1, "{posts:?}");
        assert_eq!(posts[0].value.by, NodeId(1), "the lowest id posts");

        // Node 1 dies: node 2 becomes the poster, sees the replicated alert is raised and does
        // not raise it again; it posts the clear when the room is back to normal.
        let mut later = Vec::new();
        for step in 7..=12 {
            let now = START + step * MINUTE;
            reading(&mut b, "lobby", 26.0, now);
            later.extend(b.tick(&[2], now));
        }
        assert!(later.is_empty(), "no re-post by the new poster: {later:?}");
        for step in 13..=20 {
            let now = START + step * MINUTE;
            reading(&mut b, "lobby", 22.0, now);
            later.extend(b.tick(&[2], now));
        }
        assert_eq!(later.len(), 1, "{later:?}");
        assert!(!later[0].value.raised);
        assert_eq!(later[0].value.by, NodeId(2));

        // Node 1 comes back with its old state: after merging it agrees, and posts nothing.
        a.merge_from(&b);
        let mut back = Vec::new();
        for step in 21..=30 {
            let now = START + step * MINUTE;
            reading(&mut b, "lobby", 22.0, now);
            a.merge_from(&b);
            back.extend(a.tick(&both, now));
            back.extend(b.tick(&both, now));
        }
        assert!(back.is_empty(), "{back:?}");
    }

    #[test]
    fn a_higher_node_that_sees_no_lower_one_alive_posts() {
        let mut b = Node::new(2);
        target(&mut b, "lobby", 22.0, START);
        reading(&mut b, "lobby", 26.0, START);
        assert!(b.tick(&[1, 2], START).is_empty());
        assert!(
            b.tick(&[1, 2], START + AFTER).is_empty(),
            "node 1 is alive: it posts"
        );
        assert_eq!(
            b.tick(&[2], START + AFTER + 1).len(),
            1,
            "alone: node 2 posts"
        );
    }

    #[test]
    fn removing_a_target_clears_its_alert() {
        let mut node = Node::new(1);
        target(&mut node, "lobby", 22.0, START);
        reading(&mut node, "lobby", 26.0, START);
        node.tick(&[1], START);
        assert_eq!(node.tick(&[1], START + AFTER).len(), 1);
        node.write(
            Key::Target {
                room: "lobby".into(),
                quantity: Quantity::Temperature,
            },
            None,
            START + AFTER + 1,
        );
        let cleared = node.tick(&[1], START + AFTER + 2);
        assert_eq!(cleared.len(), 1);
        assert!(cleared[0].text.contains("target was removed"));
        assert!(node.tick(&[1], START + AFTER + 3).is_empty());
    }

    #[test]
    fn poster_rule() {
        let set = |ids: &[u64]| ids.iter().map(|id| NodeId(*id)).collect::<BTreeSet<_>>();
        assert!(is_poster(NodeId(3), &set(&[3, 5])));
        assert!(!is_poster(NodeId(5), &set(&[3, 5])));
        let peers = vec![
            PeerStatus::new(NodeId(2), "pi-b", MemberStatus::Suspect),
            PeerStatus::new(NodeId(4), "pi-d", MemberStatus::Dead),
            PeerStatus::new(NodeId(5), "pi-e", MemberStatus::Left),
        ];
        // A suspect peer (late heartbeats) still posts: 7 must not post beside it.
        let takers = turn_takers(NodeId(7), &peers);
        assert_eq!(takers, set(&[2, 7]), "suspect counts, dead and left do not");
        assert!(!is_poster(NodeId(7), &takers));
        assert_eq!(turn_takers(NodeId(1), &peers), set(&[1, 2]));
    }
}
