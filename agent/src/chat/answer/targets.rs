//! "set meeting room temperature to 22": a room's target band, which the alerts watch. Plans
//! one `Key::Target` write; also the targets table the readings answer shows.

use std::collections::BTreeMap;

use officemesh_sensors::Quantity;

use super::super::text::{age_text, number_text};
use super::rooms::{known_rooms, match_room, resolve, rooms_list, RoomMatch};
use super::{Plan, View};
use crate::crdt::NodeId;
use crate::state::key::validate_label;
use crate::state::query::{self, Completeness, ReadingFilter};
use crate::state::{AlertValue, Key, Replica, TargetValue, Value};

/// A "set …" the grammar could not read; `reason` says what is missing.
pub(super) fn bad_set(reason: &str) -> Plan {
    Plan::say(format!("I can't set that: {reason}."))
}

/// Targets by (lower-cased room, quantity).
pub(super) fn targets(replica: &Replica) -> BTreeMap<(String, Quantity), TargetValue> {
    replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Target { room, quantity }, Value::Target(target)) => {
                Some(((room.to_lowercase(), *quantity), target.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Targets outside these ranges are refused as typos.
/// The same bounds the state's door applies to every writer (`state::limits::target_range`).
fn plausible_range(quantity: Quantity) -> (f64, f64) {
    crate::state::limits::target_range(quantity)
}

/// The band a new target gets when the room has none yet.
pub fn default_tolerance(quantity: Quantity) -> f64 {
    match quantity {
        Quantity::Temperature => 1.0,
        Quantity::Humidity => 5.0,
        Quantity::Sound => 10.0,
        Quantity::SoundActivity => 20.0,
    }
}

pub(super) fn set_target(
    view: &View<'_>,
    user: &str,
    asked: &str,
    quantity: Quantity,
    value: f64,
) -> Plan {
    let known = known_rooms(view.replica);
    let (room, mut reply) = match match_room(asked, &known) {
        RoomMatch::Exact(room) => (room, String::new()),
        RoomMatch::Close(room) => {
            let note = format!("(I took \"{asked}\" to mean {room}.) ");
            (room, note)
        }
        RoomMatch::None if known.is_empty() => (asked.to_string(), String::new()),
        RoomMatch::None => {
            return Plan::say(format!(
                "I don't know a room called \"{asked}\"; {}. No target set.",
                rooms_list(&known)
            ))
        }
    };
    if let Err(err) = validate_label("room", &room) {
        return Plan::say(format!("I can't use that room name: {err}."));
    }
    let unit = quantity.unit();
    let (low, high) = plausible_range(quantity);
    if !(low..=high).contains(&value) {
        return Plan::say(format!(
            "{} {unit} doesn't look like a sensible {} target (I accept {}–{} {unit}). No target set.",
            number_text(value),
            quantity.as_str(),
            number_text(low),
            number_text(high)
        ));
    }
    let key = Key::Target {
        room: room.clone(),
        quantity,
    };
    let tolerance = match view.replica.value(&key) {
        Some(Value::Target(existing)) => existing.tolerance,
        _ => default_tolerance(quantity),
    };
    reply.push_str(&format!(
        "OK {}: the {} target for {room} is now {} {unit} (± {}).",
        user.trim(),
        quantity.as_str(),
        number_text(value),
        number_text(tolerance)
    ));
    let filter = ReadingFilter {
        room: Some(room.clone()),
        quantity: Some(quantity),
        node: None,
    };
    let now = query::readings(view.replica, view.now_ms, &filter, Completeness::default());
    if let Some(row) = now.readings.first() {
        reply.push_str(&format!(
            " It is {} {unit} there now.",
            number_text(row.value)
        ));
    }
    reply.push_str(&format!(
        " I'll alert if it stays outside for more than {}.",
        age_text(view.alert_after_s * 1000)
    ));
    Plan {
        reply,
        writes: vec![(key, Some(Value::Target(TargetValue { value, tolerance })))],
        private: false,
        claim: None,
    }
}

/// The writes that remove `room`'s `quantity` target: the target's tombstone and, when an alert
/// for that room and quantity is raised, the alert cleared (as `by`, at `now_ms`). Empty when
/// the room has no such target. The room matches case-insensitively; the key written is the
/// stored one. Shared by the chat command and `DELETE /v1/targets/{room}`; the caller makes the
/// writes durable (`Shared::write_durable`), as for "set".
pub fn remove_target_writes(
    replica: &Replica,
    room: &str,
    quantity: Quantity,
    by: NodeId,
    now_ms: u64,
) -> Vec<(Key, Option<Value>)> {
    let mut writes = Vec::new();
    for (key, value) in replica.live() {
        match (key, value) {
            (
                Key::Target {
                    room: r,
                    quantity: q,
                },
                Value::Target(_),
            ) if *q == quantity && r.eq_ignore_ascii_case(room) => {
                writes.push((key.clone(), None));
            }
            (
                Key::Alert {
                    room: r,
                    quantity: q,
                },
                Value::Alert(alert),
            ) if *q == quantity && r.eq_ignore_ascii_case(room) && alert.raised => {
                let message = format!(
                    "{r} {}: the target was removed, alert cleared",
                    quantity.as_str()
                );
                let cleared = AlertValue {
                    raised: false,
                    by,
                    since_ms: now_ms,
                    message,
                };
                writes.push((key.clone(), Some(Value::Alert(cleared))));
            }
            _ => {}
        }
    }
    // Only when there was a target: an alert without one is the alert loop's to clear.
    if writes
        .iter()
        .any(|(key, _)| matches!(key, Key::Target { .. }))
    {
        writes
    } else {
        Vec::new()
    }
}

/// "remove the kitchen target": plans [`remove_target_writes`] for the room `asked` means.
pub(super) fn remove_target(view: &View<'_>, user: &str, asked: &str, quantity: Quantity) -> Plan {
    let (room, note) = match resolve(view, asked) {
        Ok(found) => found,
        Err(super::Instead(reply)) => return Plan::say(format!("{reply} No target removed.")),
    };
    let writes = remove_target_writes(view.replica, &room, quantity, view.self_node, view.now_ms);
    if writes.is_empty() {
        let have: Vec<String> = targets(view.replica)
            .keys()
            .filter(|(r, _)| r.eq_ignore_ascii_case(&room))
            .map(|(_, q)| q.as_str().to_string())
            .collect();
        let hint = if have.is_empty() {
            String::new()
        } else {
            format!(" It has a {} target.", have.join(" and a "))
        };
        return Plan::say(format!(
            "{note}{room} has no {} target: nothing to remove.{hint}",
            quantity.as_str()
        ));
    }
    let cleared = if writes.len() > 1 {
        " and cleared its alert"
    } else {
        ""
    };
    Plan {
        reply: format!(
            "{note}OK {}: I removed the {} target for {room}{cleared}; I won't alert on it any more.",
            user.trim(),
            quantity.as_str()
        ),
        writes,
        private: false,
        claim: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;

    #[test]
    fn set_target_keeps_tolerance_and_refuses_nonsense() {
        let mut office = office();
        let plan = tell(&office, "set meeting room temperature to 22");
        assert_has(&plan.reply, "now 22 °C (± 1)");
        assert_has(&plan.reply, "It is 23.5 °C there now");
        assert_eq!(
            plan.writes,
            vec![(
                Key::Target {
                    room: "meeting room".into(),
                    quantity: Quantity::Temperature
                },
                Some(Value::Target(TargetValue {
                    value: 22.0,
                    tolerance: 1.0
                }))
            )]
        );
        office.write(
            Key::Target {
                room: "meeting room".into(),
                quantity: Quantity::Temperature,
            },
            Some(Value::Target(TargetValue {
                value: 22.0,
                tolerance: 0.5,
            })),
        );
        let again = tell(&office, "set Meeting Room temp to 21.5");
        assert_has(&again.reply, "21.5 °C (± 0.5)");
        for text in ["set meeting room temp to 220", "set attic temp to 21"] {
            let refused = tell(&office, text);
            assert!(refused.writes.is_empty(), "{text}");
            assert_has(&refused.reply, "No target set");
        }
    }

    #[test]
    fn remove_target_tombstones_it_and_clears_its_alert() {
        let mut office = office();
        let set = tell(&office, "set meeting room temperature to 22");
        office.apply(&set);
        office.write(
            Key::Alert {
                room: "meeting room".into(),
                quantity: Quantity::Temperature,
            },
            Some(Value::Alert(AlertValue {
                raised: true,
                by: NodeId(2),
                since_ms: NOW - 10 * MINUTE,
                message: "meeting room temperature is 23.5 °C".into(),
            })),
        );
        let none = tell(&office, "remove the lobby target");
        assert!(none.writes.is_empty());
        assert_has(&none.reply, "lobby has no temperature target");
        let humidity = tell(&office, "delete the meeting room humidity target");
        assert!(humidity.writes.is_empty());
        assert_has(&humidity.reply, "It has a temperature target");
        let removed = tell(&office, "delete the meting room temperature target");
        assert_has(
            &removed.reply,
            "removed the temperature target for meeting room",
        );
        assert_has(&removed.reply, "cleared its alert");
        office.apply(&removed);
        assert!(targets(&office.replica).is_empty());
        assert_has(&ask(&office, "any alerts?"), "No alerts");
        assert_has(
            &ask(&office, "meeting room temp"),
            "23.5 °C (pi-b, 12 s ago)",
        );
        assert!(!ask(&office, "meeting room temp").contains("target"));
        assert_has(
            &ask(&office, "rm kitchen target"),
            "don't know a room called \"kitchen\"",
        );
    }
}
