//! The mesh's events in the agent's words: a `gossip::Node` event (a peer's transition, an
//! exchange's outcome, a clock's standing) as the `MeshEvent` recorded for `/v1/events`
//! (`mesh_event`), the transport's refusals summed between `refused_peer` events
//! (`RefusalTally`), and a peer refused for its protocol version (`version_refused`).
//!
//! Must not touch: the node, the replica, the transport (values in, events out).

use crate::crdt::NodeId;
use crate::events::{EventKind, MeshEvent};
use crate::gossip::{NodeEvent, PeerChange};
use crate::net::hello::NoCommonVersion;
use crate::net::NetStatsSnapshot;

use super::REPEAT_EVENT_GAP_MS;

/// The peer an event is about: its id and the address its message came from (`None`: an
/// event about this node).
pub(super) fn event_peer(event: &NodeEvent) -> Option<(NodeId, &str)> {
    match event {
        NodeEvent::Peer { peer, addr, .. }
        | NodeEvent::HeldBack { peer, addr, .. }
        | NodeEvent::LargeDelta { peer, addr, .. }
        | NodeEvent::ResetSent { peer, addr }
        | NodeEvent::ResetObeyed { peer, addr }
        | NodeEvent::PeerClockOffset { peer, addr, .. }
        | NodeEvent::RefusedCluster { peer, addr, .. } => Some((*peer, addr)),
        NodeEvent::OwnClockOffset { .. } | NodeEvent::MeshHealed { .. } => None,
    }
}

/// The mesh event for `change` of peer `name` (gossip address `addr`); the caller adds its id.
fn peer_event(now_ms: u64, name: &str, addr: &str, change: &PeerChange) -> MeshEvent {
    let new = |kind, detail: String| MeshEvent::new(now_ms, kind, detail);
    match change {
        PeerChange::Joined if name == addr => new(EventKind::PeerJoined, format!("{addr} joined")),
        PeerChange::Joined => new(EventKind::PeerJoined, format!("{name} ({addr}) joined")),
        PeerChange::Suspect { silent_ms } => new(
            EventKind::PeerSuspect,
            format!("{name} is suspect (silent {silent_ms} ms)"),
        )
        .number("silent_ms", *silent_ms),
        PeerChange::Dead { silent_ms } => new(
            EventKind::PeerDead,
            format!("{name} is dead (silent {silent_ms} ms)"),
        )
        .number("silent_ms", *silent_ms),
        PeerChange::Left => new(EventKind::PeerLeft, format!("{name} left the mesh")),
        PeerChange::Alive {
            was,
            down_ms,
            missing_versions,
        } => new(
            EventKind::PeerAlive,
            format!("{name} is alive again after {down_ms} ms ({name} was {was})"),
        )
        .number("down_ms", *down_ms)
        .number("missing_versions", *missing_versions),
        PeerChange::CaughtUp { since_return_ms } => new(
            EventKind::CaughtUp,
            format!("caught up with {name} {since_return_ms} ms after its return"),
        )
        .number("since_return_ms", *since_return_ms),
        PeerChange::Forgotten => new(
            EventKind::PeerForgotten,
            format!("{name} was forgotten (gone longer than the grace period)"),
        ),
    }
}

/// Says where `who`'s clock stands against the mesh's median (`offset_ms` ahead of it), as a
/// sentence and the event's number; whether it is beyond `max_clock_offset_ms` (a warning).
fn clock_standing(who: &str, offset_ms: i64, max_clock_offset_ms: u64) -> (String, &str, bool) {
    let words = duration_words(offset_ms.unsigned_abs());
    let beyond = offset_ms.unsigned_abs() > max_clock_offset_ms;
    let (number, sentence) = match (offset_ms >= 0, beyond) {
        (true, true) => ("ahead_ms", format!("{who} clock runs {words} ahead of the mesh's median")),
        (false, true) => ("behind_ms", format!("{who} clock runs {words} behind the mesh's median")),
        (true, false) => ("ahead_ms", format!("{who} clock is back within {max_clock_offset_ms} ms of the mesh's median ({words} ahead)")),
        (false, false) => ("behind_ms", format!("{who} clock is back within {max_clock_offset_ms} ms of the mesh's median ({words} behind)")),
    };
    (sentence, number, beyond)
}

/// The event for this node's clock against the mesh's median, and whether it is a warning.
pub(super) fn own_clock_event(
    now_ms: u64,
    offset_ms: i64,
    peers: usize,
    max_clock_offset_ms: u64,
) -> (MeshEvent, bool) {
    let (sentence, number, beyond) = clock_standing("this node's", offset_ms, max_clock_offset_ms);
    let consequence = if beyond && offset_ms > 0 {
        ": it now stamps its writes with the mesh's time (so it wins no last-writer-wins race \
         with its skew); fix its clock (check timedatectl)"
    } else if beyond {
        ": its writes may lose to earlier ones made elsewhere; fix its clock (check timedatectl)"
    } else {
        ""
    };
    let detail = format!("{sentence}, measured against {peers} alive peers{consequence}");
    let event = MeshEvent::new(now_ms, EventKind::ClockOffset, detail)
        .number(number, offset_ms.unsigned_abs());
    (event, beyond)
}

/// Says how long `ms` is, in the words answers use (`58 min`, `20 s`).
fn duration_words(ms: u64) -> String {
    crate::state::query::duration_words(ms)
}

/// The event for a peer refused in the handshake: no gossip protocol both speak.
pub(super) fn version_refused(now_ms: u64, peer: &str, error: &NoCommonVersion) -> MeshEvent {
    let detail = format!("refused gossip peer {peer}: {error}");
    MeshEvent::new(now_ms, EventKind::RefusedPeer, detail)
        .number("peer_protocol", u64::from(error.peer_protocol))
        .number("our_protocol", u64::from(error.ours_protocol))
}

/// The mesh event for one of the node's events about peer `name` (the caller adds its id),
/// and whether it could repeat every exchange (then throttled). `(our_cluster,
/// max_clock_offset_ms)` are this node's settings, named in the details.
pub(super) fn mesh_event(
    now_ms: u64,
    name: &str,
    (our_cluster, max_clock_offset_ms): (&str, u64),
    event: &NodeEvent,
) -> (MeshEvent, bool) {
    match event {
        NodeEvent::Peer { addr, change, .. } => (peer_event(now_ms, name, addr, change), false),
        NodeEvent::MeshHealed { degraded_ms } => {
            let detail = format!(
                "every peer is alive and nothing is missing again (after {degraded_ms} ms)"
            );
            let event = MeshEvent::new(now_ms, EventKind::MeshHealed, detail);
            (event.number("degraded_ms", *degraded_ms), false)
        }
        NodeEvent::HeldBack { entries, .. } => {
            let detail = format!(
                "held back {entries} entries from {name}: stamped more than \
                 {max_clock_offset_ms} ms ahead of this node's clock (retried later)"
            );
            let event = MeshEvent::new(now_ms, EventKind::ClockAhead, detail);
            (event.number("entries", *entries), true)
        }
        NodeEvent::LargeDelta { entries, .. } => {
            let detail = format!("merged {entries} entries from {name} in one exchange");
            let event = MeshEvent::new(now_ms, EventKind::LargeDelta, detail);
            (event.number("entries", *entries), false)
        }
        NodeEvent::ResetSent { .. } => {
            let detail = format!("told {name} to reset: it is behind this node's tombstone GC");
            (MeshEvent::new(now_ms, EventKind::ResetSent, detail), false)
        }
        NodeEvent::ResetObeyed { .. } => {
            let detail =
                format!("reset this node's state from {name}: it was behind {name}'s tombstone GC");
            (MeshEvent::new(now_ms, EventKind::ResetDone, detail), false)
        }
        NodeEvent::PeerClockOffset { offset_ms, .. } => {
            let who = format!("{name}'s");
            let (sentence, number, _) = clock_standing(&who, *offset_ms, max_clock_offset_ms);
            let event = MeshEvent::new(now_ms, EventKind::ClockOffset, sentence);
            (event.number(number, offset_ms.unsigned_abs()), false)
        }
        NodeEvent::OwnClockOffset { offset_ms, peers } => {
            let (event, _) = own_clock_event(now_ms, *offset_ms, *peers, max_clock_offset_ms);
            (event, false)
        }
        NodeEvent::RefusedCluster {
            addr,
            their_cluster,
            ..
        } => {
            let detail = format!(
                "refused {addr}: it gossips for cluster {their_cluster:?}, not {our_cluster:?}"
            );
            let event = MeshEvent::new(now_ms, EventKind::RefusedPeer, detail);
            (event.number("bad_cluster", 1), true)
        }
    }
}

/// Refusals counted by the transport (failed handshakes, bad frames, refused messages, too many
/// connections), summed between `refused_peer` events (at most one per `REPEAT_EVENT_GAP_MS`).
#[derive(Debug, Default)]
pub(super) struct RefusalTally {
    pending: std::collections::BTreeMap<&'static str, u64>,
    last_event_ms: Option<u64>,
}

impl RefusalTally {
    pub(super) fn add(&mut self, before: &NetStatsSnapshot, after: &NetStatsSnapshot) {
        let reasons = [
            (
                "handshakes_failed",
                after
                    .handshakes_failed
                    .saturating_sub(before.handshakes_failed),
            ),
            (
                "frames_rejected",
                after.frames_rejected.saturating_sub(before.frames_rejected),
            ),
            (
                "messages_rejected",
                after
                    .messages_rejected
                    .saturating_sub(before.messages_rejected),
            ),
            (
                "connections_refused",
                after
                    .connections_refused
                    .saturating_sub(before.connections_refused),
            ),
        ];
        for (reason, count) in reasons {
            if count > 0 {
                *self.pending.entry(reason).or_default() += count;
            }
        }
    }

    pub(super) fn take_event(&mut self, now_ms: u64) -> Option<MeshEvent> {
        if self.pending.is_empty() {
            return None;
        }
        if let Some(last) = self.last_event_ms {
            if now_ms < last.saturating_add(REPEAT_EVENT_GAP_MS) {
                return None;
            }
        }
        self.last_event_ms = Some(now_ms);
        let summary: Vec<String> = self
            .pending
            .iter()
            .map(|(reason, count)| format!("{count} {}", reason.replace('_', " ")))
            .collect();
        let mut event = MeshEvent::new(
            now_ms,
            EventKind::RefusedPeer,
            format!(
                "gossip transport refused: {} (no or wrong cluster key, garbage, stalls, or too \
                 many connections)",
                summary.join(", ")
            ),
        );
        for (reason, count) in std::mem::take(&mut self.pending) {
            event = event.number(reason, count);
        }
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: (&str, u64) = ("office", 5_000);

    #[test]
    fn held_back_entries_large_deltas_and_resets_are_named_after_the_peer() {
        let (peer, addr) = (NodeId(2), "10.0.0.2:7420".to_string());
        let node_events = [
            NodeEvent::HeldBack {
                peer,
                addr: addr.clone(),
                entries: 3,
            },
            NodeEvent::LargeDelta {
                peer,
                addr: addr.clone(),
                entries: 120,
            },
            NodeEvent::ResetSent {
                peer,
                addr: addr.clone(),
            },
            NodeEvent::ResetObeyed {
                peer,
                addr: addr.clone(),
            },
        ];
        let events: Vec<(MeshEvent, bool)> = node_events
            .iter()
            .map(|event| mesh_event(7, "pi-2", SETTINGS, event))
            .collect();
        let kinds: Vec<(EventKind, bool)> = events.iter().map(|(e, t)| (e.kind, *t)).collect();
        assert_eq!(
            kinds,
            [
                (EventKind::ClockAhead, true),
                (EventKind::LargeDelta, false),
                (EventKind::ResetSent, false),
                (EventKind::ResetDone, false),
            ]
        );
        let (held, _) = &events[0];
        assert_eq!(held.numbers["entries"], 3);
        assert!(held.detail.contains("from pi-2") && held.detail.contains("5000 ms"));
        assert_eq!(events[1].0.numbers["entries"], 120);
        assert!(events[3].0.detail.contains("behind pi-2's tombstone GC"));
        assert!(events.iter().all(|(e, _)| e.t_ms == 7));
        assert!(node_events
            .iter()
            .all(|e| event_peer(e) == Some((peer, addr.as_str()))));
    }

    #[test]
    fn peer_transitions_keep_their_documented_kinds_details_and_numbers() {
        let (peer, addr) = (NodeId(2), "10.0.0.2:7420".to_string());
        let about = |change| NodeEvent::Peer {
            peer,
            addr: addr.clone(),
            change,
        };
        let alive = about(PeerChange::Alive {
            was: crate::peer::MemberStatus::Dead,
            down_ms: 10_000,
            missing_versions: 5,
        });
        let (event, throttled) = mesh_event(7, "pi-2", SETTINGS, &alive);
        assert!(!throttled);
        assert_eq!(event.kind, EventKind::PeerAlive);
        assert_eq!(
            event.detail,
            "pi-2 is alive again after 10000 ms (pi-2 was dead)"
        );
        assert_eq!(event.numbers["down_ms"], 10_000);
        assert_eq!(event.numbers["missing_versions"], 5);
        assert_eq!(event_peer(&alive), Some((peer, addr.as_str())));
        let dead = about(PeerChange::Dead { silent_ms: 4_000 });
        let (event, _) = mesh_event(7, "pi-2", SETTINGS, &dead);
        assert_eq!(
            (event.kind, event.detail.as_str()),
            (EventKind::PeerDead, "pi-2 is dead (silent 4000 ms)")
        );
        assert_eq!(event.numbers["silent_ms"], 4_000);
        let joined = about(PeerChange::Joined);
        let (event, _) = mesh_event(7, "pi-2", SETTINGS, &joined);
        assert_eq!(event.detail, "pi-2 (10.0.0.2:7420) joined");
        let healed = NodeEvent::MeshHealed {
            degraded_ms: 11_000,
        };
        let (event, _) = mesh_event(7, "", SETTINGS, &healed);
        assert_eq!(event.kind, EventKind::MeshHealed);
        assert_eq!(event.numbers["degraded_ms"], 11_000);
        assert_eq!(event_peer(&healed), None, "about the whole mesh");
    }

    #[test]
    fn a_refused_cluster_names_both_clusters_and_is_throttled() {
        let event = NodeEvent::RefusedCluster {
            peer: NodeId(9),
            addr: "10.0.0.9:7420".into(),
            their_cluster: "lab".into(),
        };
        let (event, throttled) = mesh_event(1, "pi-9", SETTINGS, &event);
        assert!(throttled);
        assert_eq!(event.kind, EventKind::RefusedPeer);
        assert!(
            event.detail.contains("refused 10.0.0.9:7420"),
            "{}",
            event.detail
        );
        assert!(
            event.detail.contains("\"lab\", not \"office\""),
            "{}",
            event.detail
        );
        assert_eq!(event.numbers["bad_cluster"], 1);
    }
}
