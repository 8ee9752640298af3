//! "set meeting room temperature to 22": a room's target band, which the alerts watch. Plans
//! one `Key::Target` write; also the targets table the readings answer shows.

use std::collections::BTreeMap;

use officemesh_sensors::Quantity;

use super::super::text::{age_text, number_text};
use super::rooms::{known_rooms, match_room, rooms_list, RoomMatch};
use super::{Plan, View};
use crate::state::key::validate_label;
use crate::state::query::{self, Completeness, ReadingFilter};
use crate::state::{Key, Replica, TargetValue, Value};

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
}
