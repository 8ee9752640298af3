//! "status": the mesh as this node sees it (which Pis are up, which it cannot reach and since
//! when, whose clock runs beyond `gossip.max_clock_offset_ms` from the mesh's median), failed
//! sensors on any node, the raised alerts and the state's size and hash. Reads the replica,
//! writes nothing.

use std::collections::BTreeMap;

use super::super::text::clock_text;
use super::View;
use crate::crdt::NodeId;
use crate::state::query::{self, UnreachableNode};
use crate::state::{Key, Value};

/// "status": one line per known node, the raised alerts, the state's size and hash.
pub(super) fn status(view: &View<'_>) -> String {
    let mut names = query::node_names(view.replica);
    // A node whose updates are held back may not have its name here yet.
    for node in &view.completeness.clock_ahead {
        names
            .entry(node.node)
            .or_insert_with(|| (node.name.clone(), node.room.clone()));
    }
    let unreachable: BTreeMap<NodeId, &UnreachableNode> = view
        .completeness
        .unreachable
        .iter()
        .map(|node| (node.node, node))
        .collect();
    let lines: Vec<String> = names
        .iter()
        .map(|(id, (name, room))| {
            format!("• {name} ({room}): {}", node_state(view, *id, &unreachable))
        })
        .collect();
    let mut text = format!(
        "Mesh: {} node{} known, {} unreachable from here.\n{}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        unreachable.len(),
        lines.join("\n")
    );
    let failed = failed_sensors(view);
    if !failed.is_empty() {
        text.push_str(&format!("\nFailed sensors:\n{}", failed.join("\n")));
    }
    let raised = raised_alerts(view);
    if raised.is_empty() {
        text.push_str("\nNo alerts.");
    } else {
        text.push_str(&format!("\nAlerts:\n{}", raised.join("\n")));
    }
    text.push_str(&format!(
        "\nState: {} entries, hash {}.",
        view.replica.len(),
        view.replica
            .state_hash()
            .to_hex()
            .chars()
            .take(12)
            .collect::<String>()
    ));
    if !view.completeness.unreachable.is_empty() {
        text.push_str("\nAnswers may be missing what the unreachable nodes saw.");
    }
    for node in &view.completeness.clock_ahead {
        text.push_str(&format!("\n{}.", node.sentence()));
    }
    if let Some(sentence) = view.completeness.own_clock_sentence() {
        text.push_str(&format!("\nCareful: {sentence}."));
    }
    text
}

/// How one node is doing as seen from here: this node, unreachable since when, or the gossip
/// layer's word for it.
fn node_state(
    view: &View<'_>,
    id: NodeId,
    unreachable: &BTreeMap<NodeId, &UnreachableNode>,
) -> String {
    if id == view.self_node {
        let (max_offset_ms, own_offset_ms) = view.clocks;
        let clock = own_offset_ms.and_then(|offset| clock_beyond(offset, max_offset_ms));
        format!("this node (answering you){}", clock.unwrap_or_default())
    } else if let Some(node) = unreachable.get(&id) {
        match node.since_ms {
            Some(since) => format!(
                "unreachable ({}) since {}",
                node.status,
                clock_text(since, view.now_ms, view.offset)
            ),
            None => format!("unreachable ({})", node.status),
        }
    } else {
        match view.peers.iter().find(|peer| peer.node == id) {
            Some(peer) => match peer.clock_ahead_ms {
                Some(ahead) => format!(
                    "{}, but its clock is {} ahead (updates held back)",
                    peer.status,
                    query::duration_words(ahead)
                ),
                None => {
                    let (max_offset_ms, own_offset_ms) = view.clocks;
                    // Against this node's clock, plus this node's against the median.
                    let offset = peer.clock_offset_ms.map(|o| o + own_offset_ms.unwrap_or(0));
                    let clock = offset.and_then(|offset| clock_beyond(offset, max_offset_ms));
                    format!("{}{}", peer.status, clock.unwrap_or_default())
                }
            },
            None => "unknown (gossip has not reported on it)".to_string(),
        }
    }
}

/// ", but its clock runs 58 min ahead of the mesh's" when a clock `offset_ms` from the mesh's
/// median (negative: behind) is beyond `max_offset_ms` (`gossip.max_clock_offset_ms`).
fn clock_beyond(offset_ms: i64, max_offset_ms: u64) -> Option<String> {
    if offset_ms.unsigned_abs() <= max_offset_ms {
        return None;
    }
    let words = query::duration_words(offset_ms.unsigned_abs());
    let side = if offset_ms > 0 { "ahead of" } else { "behind" };
    Some(format!(", but its clock runs {words} {side} the mesh's"))
}

/// "• window (bme280) on pi-b since 12:32: cannot open /dev/i2c-7 — …" for every sensor of any
/// node whose replicated state is failed.
fn failed_sensors(view: &View<'_>) -> Vec<String> {
    crate::sensor_health::cluster_health(view.replica)
        .into_iter()
        .filter(|row| row.health.state == crate::state::SensorState::Failed)
        .map(|row| {
            format!(
                "• {} ({}) on {} since {}: {}",
                row.sensor,
                row.health.driver,
                row.node_name,
                clock_text(row.health.since_ms, view.now_ms, view.offset),
                row.health.error
            )
        })
        .collect()
}

/// "any alerts?": the raised alerts, or that there are none.
pub(super) fn alerts(view: &View<'_>) -> String {
    let raised = raised_alerts(view);
    if raised.is_empty() {
        "No alerts: every room with a target is within it (or has not been outside it long enough)."
            .to_string()
    } else {
        format!("Alerts:\n{}", raised.join("\n"))
    }
}

/// "• lobby temperature is 30 °C (since 12:32)" for every raised alert.
fn raised_alerts(view: &View<'_>) -> Vec<String> {
    view.replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Alert { .. }, Value::Alert(alert)) if alert.raised => Some(format!(
                "• {} (since {})",
                alert.message,
                clock_text(alert.since_ms, view.now_ms, view.offset)
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;
    use crate::state::AlertValue;
    use officemesh_sensors::Quantity;

    #[test]
    fn status_lists_raised_alerts() {
        let mut office = office();
        office.write(
            Key::Alert {
                room: "lobby".into(),
                quantity: Quantity::Temperature,
            },
            Some(Value::Alert(AlertValue {
                raised: true,
                by: NodeId(1),
                since_ms: NOW - 10 * MINUTE,
                message: "lobby temperature is 30 °C".into(),
            })),
        );
        let status = ask(&office, "status");
        assert_has(&status, "• lobby temperature is 30 °C (since 12:32)");
        for question in [
            "any alerts?",
            "alerts",
            "Is there some alarm now?",
            "any alrts",
        ] {
            assert_has(
                &ask(&office, question),
                "Alerts:\n• lobby temperature is 30 °C",
            );
        }
    }

    #[test]
    fn status_names_a_clock_beyond_the_max_offset_on_its_line() {
        use crate::peer::{MemberStatus, PeerStatus};
        let office = office();
        let completeness = crate::state::query::Completeness::default();
        let hour_ish = 58 * MINUTE as i64;
        let pi_b = |offset_ms| PeerStatus {
            clock_offset_ms: Some(offset_ms),
            ..PeerStatus::new(NodeId(2), "pi-b", MemberStatus::Alive)
        };
        let status = |peers: &[PeerStatus], own: Option<i64>| {
            let view = View {
                replica: &office.replica,
                completeness: &completeness,
                peers,
                self_node: NodeId(1),
                consider_home_ms: 3 * MINUTE,
                alert_after_s: 300,
                history_days: 0,
                now_ms: NOW,
                offset: utc(),
                clocks: (5_000, own),
            };
            super::status(&view)
        };
        let ahead = status(&[pi_b(hour_ish)], Some(0));
        assert_has(
            &ahead,
            "• pi-b (meeting room): alive, but its clock runs 58 min ahead of the mesh's",
        );
        assert_has(&ahead, "• pi-a (lobby): this node (answering you)\n");
        let within = status(&[pi_b(4_000)], Some(0));
        assert_has(&within, "• pi-b (meeting room): alive\n");
        // This node is the one ahead: pi-b looks behind it, but stands at the median.
        let own = status(&[pi_b(-hour_ish)], Some(hour_ish));
        assert_has(&own, "• pi-b (meeting room): alive\n");
        assert_has(
            &own,
            "this node (answering you), but its clock runs 58 min ahead of the mesh's",
        );
    }

    #[test]
    fn status_lists_failed_sensors_of_every_node() {
        use crate::state::{SensorHealth, SensorState};
        let mut office = office();
        for (sensor, state) in [("window", SensorState::Failed), ("desk", SensorState::Ok)] {
            office.write(
                Key::Sensor {
                    node: NodeId(2),
                    sensor: sensor.into(),
                },
                Some(Value::Sensor(SensorHealth {
                    driver: "bme280".into(),
                    state,
                    error: "cannot open /dev/i2c-7".into(),
                    last_ok_ms: None,
                    since_ms: NOW - 10 * MINUTE,
                })),
            );
        }
        let status = ask(&office, "status");
        assert_has(
            &status,
            "• window (bme280) on pi-b since 12:32: cannot open /dev/i2c-7",
        );
        assert!(!status.contains("• desk"), "{status}");
    }
}
