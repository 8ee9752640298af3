//! "set meeting room temperature to 22" (also a range, "between 20 and 23", or one end, "the
//! maximum … to 24"): a room's target band, which the alerts watch; plans one `Key::Target`
//! write. Also "remove the kitchen target", "what targets are set?", and the targets table
//! the readings answer shows.

use std::collections::BTreeMap;

use officemesh_sensors::Quantity;

use super::super::text::{age_text, number_text};
use super::rooms::{known_rooms, match_room, resolve, rooms_list, RoomMatch};
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
    set_range(view, user, asked, quantity, (Some(value), Some(value)))
}

/// "set … to between 20 and 23" (both ends: the middle ± half the width), "set the maximum …
/// to 24" (one end: the room's tolerance kept, the value moved so that end is where asked), or
/// one value (both ends equal).
pub(super) fn set_range(
    view: &View<'_>,
    user: &str,
    asked: &str,
    quantity: Quantity,
    ends: (Option<f64>, Option<f64>),
) -> Plan {
    let (room, mut reply) = match target_room(view, asked) {
        Ok(found) => found,
        Err(super::Instead(refusal)) => return Plan::say(refusal),
    };
    if let Some(refusal) = implausible(quantity, ends) {
        return Plan::say(refusal);
    }
    let unit = quantity.unit();
    let key = Key::Target {
        room: room.clone(),
        quantity,
    };
    let kept = match view.replica.value(&key) {
        Some(Value::Target(existing)) => existing.tolerance,
        _ => default_tolerance(quantity),
    };
    let (value, tolerance) = match ends {
        (Some(low), Some(high)) if low < high => ((low + high) / 2.0, (high - low) / 2.0),
        (Some(low), None) => (low + kept, kept),
        (None, Some(high)) => (high - kept, kept),
        (Some(value), _) => (value, kept),
        (None, None) => return bad_set("I need the value to set"),
    };
    reply.push_str(&format!(
        "OK {}: the {} target for {room} is now {} {unit} (± {}",
        user.trim(),
        quantity.as_str(),
        number_text(value),
        number_text(tolerance)
    ));
    if ends.0 != ends.1 {
        reply.push_str(&format!(
            ", so {}–{} {unit}",
            number_text(value - tolerance),
            number_text(value + tolerance)
        ));
    }
    reply.push_str(").");
    reply.push_str(&now_there(view, &room, quantity));
    reply.push_str(&format!(
        " I'll alert if it stays outside for more than {}.",
        age_text(view.alert_after_s * 1000)
    ));
    let target = TargetValue { value, tolerance };
    Plan {
        reply,
        writes: vec![(key, Some(Value::Target(target)))],
        private: false,
        claim: None,
    }
}

/// The refusal of a value outside the plausible range (a typo: "220").
fn implausible(quantity: Quantity, ends: (Option<f64>, Option<f64>)) -> Option<String> {
    let unit = quantity.unit();
    let (low, high) = plausible_range(quantity);
    let value = [ends.0, ends.1]
        .into_iter()
        .flatten()
        .find(|value| !(low..=high).contains(value))?;
    Some(format!(
        "{} {unit} doesn't look like a sensible {} target (I accept {}–{} {unit}). No target set.",
        number_text(value),
        quantity.as_str(),
        number_text(low),
        number_text(high)
    ))
}

/// The known room a target is set for, and a note when it was a guess; a room nobody knows is
/// refused (unless no room is known at all: the first target names it).
fn target_room(view: &View<'_>, asked: &str) -> Result<(String, String), super::Instead> {
    let known = known_rooms(view.replica);
    let (room, note) = match match_room(asked, &known) {
        RoomMatch::Exact(room) => (room, String::new()),
        RoomMatch::Close(room) => {
            let note = format!("(I took \"{asked}\" to mean {room}.) ");
            (room, note)
        }
        RoomMatch::None if known.is_empty() => (asked.to_string(), String::new()),
        RoomMatch::None => {
            return Err(super::Instead(format!(
                "I don't know a room called \"{asked}\"; {}. No target set.",
                rooms_list(&known)
            )))
        }
    };
    match validate_label("room", &room) {
        Ok(()) => Ok((room, note)),
        Err(err) => Err(super::Instead(format!(
            "I can't use that room name: {err}."
        ))),
    }
}

/// " It is 23.5 °C there now." when the room has a reading.
fn now_there(view: &View<'_>, room: &str, quantity: Quantity) -> String {
    let filter = ReadingFilter {
        room: Some(room.to_string()),
        quantity: Some(quantity),
        node: None,
    };
    let now = query::readings(view.replica, view.now_ms, &filter, Completeness::default());
    now.readings.first().map_or_else(String::new, |row| {
        format!(
            " It is {} {} there now.",
            number_text(row.value),
            quantity.unit()
        )
    })
}

/// "what targets are set?": every target (of one room when `room` is given).
pub(super) fn list(view: &View<'_>, room: Option<&str>) -> String {
    let room = match room.map(|asked| resolve(view, asked)) {
        None => None,
        Some(Ok((room, _))) => Some(room),
        Some(Err(super::Instead(reply))) => return reply,
    };
    let lines: Vec<String> = targets(view.replica)
        .iter()
        .filter(|((r, _), _)| {
            room.as_ref()
                .is_none_or(|room| room.eq_ignore_ascii_case(r))
        })
        .map(|((r, q), t)| {
            format!(
                "• {r} {}: {} ± {} {}",
                q.as_str(),
                number_text(t.value),
                number_text(t.tolerance),
                q.unit()
            )
        })
        .collect();
    match (lines.is_empty(), room) {
        (true, Some(room)) => {
            format!("{room} has no targets. Set one like: set {room} temperature to 22")
        }
        (true, None) => {
            "No targets are set. Set one like: set meeting room temperature to 22".into()
        }
        (false, Some(room)) => format!("Targets for {room}:\n{}", lines.join("\n")),
        (false, None) => format!("Targets:\n{}", lines.join("\n")),
    }
}

/// "remove the kitchen target": the removal `DELETE /v1/targets/{room}` makes too
/// ([`crate::targets::removal`]: the target's tombstone only), for the room `asked` means. An
/// open alert is left to the alert loop, which posts its clear once per cluster.
pub(super) fn remove_target(view: &View<'_>, user: &str, asked: &str, quantity: Quantity) -> Plan {
    let (room, note) = match resolve(view, asked) {
        Ok(found) => found,
        Err(super::Instead(reply)) => return Plan::say(format!("{reply} No target removed.")),
    };
    let writes: Vec<(Key, Option<Value>)> =
        crate::targets::removal(view.replica, &room, Some(quantity))
            .into_iter()
            .map(|key| (key, None))
            .collect();
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
    let cleared = if alert_open(view.replica, &room, quantity) {
        " Its open alert is cleared in a moment (announced where alerts go)."
    } else {
        ""
    };
    Plan {
        reply: format!(
            "{note}OK {}: I removed the {} target for {room}; I won't alert on it any more.{cleared}",
            user.trim(),
            quantity.as_str()
        ),
        writes,
        private: false,
        claim: None,
    }
}

/// Whether an alert for `room` (any case) and `quantity` is raised now.
fn alert_open(replica: &Replica, room: &str, quantity: Quantity) -> bool {
    replica.live().any(|(key, value)| match (key, value) {
        (
            Key::Alert {
                room: r,
                quantity: q,
            },
            Value::Alert(alert),
        ) => *q == quantity && r.eq_ignore_ascii_case(room) && alert.raised,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;
    use crate::crdt::NodeId;
    use crate::state::AlertValue;

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
        assert_has(&removed.reply, "Its open alert is cleared in a moment");
        let target_key = Key::Target {
            room: "meeting room".into(),
            quantity: Quantity::Temperature,
        };
        assert_eq!(
            removed.writes,
            vec![(target_key, None)],
            "the target's tombstone only: the alert loop clears the alert and posts it"
        );
        office.apply(&removed);
        assert!(targets(&office.replica).is_empty());
        // The alert loop's poster (node 1, alone) sees the orphan: one clear to post, once.
        let cleared = alert_round(&office.replica);
        assert_eq!(cleared.len(), 1, "{cleared:?}");
        assert!(!cleared[0].value.raised);
        assert_has(
            &cleared[0].text,
            "meeting room temperature: the target was removed",
        );
        let (key, value) = (cleared[0].key.clone(), cleared[0].value.clone());
        office.write(key, Some(Value::Alert(value)));
        let again = alert_round(&office.replica);
        assert!(again.is_empty(), "posted once: {again:?}");
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

    /// One round of the alert loop's pure part, as node 1 alone (so the poster).
    fn alert_round(replica: &Replica) -> Vec<crate::alerts::AlertAction> {
        let alive = std::collections::BTreeSet::from([NodeId(1)]);
        let utc = chrono::FixedOffset::east_opt(0).expect("utc");
        let mut tracker = crate::alerts::Tracker::default();
        crate::alerts::evaluate(&mut tracker, replica, NodeId(1), &alive, NOW, MINUTE, utc)
    }
}
