//! "is it cold in the kitchen?" and "what rooms are there?": a room's temperature against its
//! target (or, without one, a comfortable 20–24 °C), and the rooms this node knows with what
//! each reports. Reads the replica, writes nothing.

use std::collections::BTreeMap;

use officemesh_sensors::Quantity;

use super::rooms::{known_rooms, match_room, rooms_list, RoomMatch};
use super::{caveats, with_caveats, View};
use crate::chat::text::number_text;
use crate::state::query::{self, ReadingFilter};
use crate::state::{Key, ReadingStatus, Value};

/// Without a target, what counts as comfortable (°C).
const COMFORT_LOW: f64 = 20.0;
const COMFORT_HIGH: f64 = 24.0;

/// The mean of each room's good temperature readings.
fn room_temperatures(view: &View<'_>) -> BTreeMap<String, f64> {
    let filter = ReadingFilter {
        room: None,
        quantity: Some(Quantity::Temperature),
        node: None,
    };
    let answer = query::readings(
        view.replica,
        view.now_ms,
        &filter,
        view.completeness.clone(),
    );
    let mut sums: BTreeMap<String, (f64, u32)> = BTreeMap::new();
    for row in answer
        .readings
        .iter()
        .filter(|r| r.status == ReadingStatus::Ok)
    {
        let slot = sums.entry(row.room.clone()).or_insert((0.0, 0));
        slot.0 += row.value;
        slot.1 += 1;
    }
    sums.into_iter()
        .map(|(room, (sum, n))| (room, sum / f64::from(n)))
        .collect()
}

fn target_band(view: &View<'_>, room: &str) -> Option<(f64, f64)> {
    view.replica
        .live()
        .find_map(|(key, value)| match (key, value) {
            (
                Key::Target {
                    room: r,
                    quantity: Quantity::Temperature,
                },
                Value::Target(t),
            ) if r.eq_ignore_ascii_case(room) => Some((t.value, t.tolerance)),
            _ => None,
        })
}

/// One room's line: "Yes, the kitchen is cold: 18.5 °C, below its target 22 ± 1 °C."
fn verdict(view: &View<'_>, room: &str, value: f64, cold: bool) -> String {
    let (low, high, band) = match target_band(view, room) {
        Some((target, tolerance)) => (
            target - tolerance,
            target + tolerance,
            format!(
                "its target {} ± {} °C",
                number_text(target),
                number_text(tolerance)
            ),
        ),
        None => (
            COMFORT_LOW,
            COMFORT_HIGH,
            format!(
                "a comfortable {}–{} °C",
                number_text(COMFORT_LOW),
                number_text(COMFORT_HIGH)
            ),
        ),
    };
    let now = format!("{room} is at {} °C", number_text(value));
    match (cold, value < low, value > high) {
        (true, true, _) => format!("Yes, {now}, below {band}."),
        (false, _, true) => format!("Yes, {now}, above {band}."),
        (true, false, true) => format!("No, the opposite: {now}, above {band}."),
        (false, true, false) => format!("No, the opposite: {now}, below {band}."),
        _ => format!("No, {now}, within {band}."),
    }
}

pub(super) fn comfort(view: &View<'_>, room: Option<&str>, cold: bool) -> String {
    let temperatures = room_temperatures(view);
    let known = known_rooms(view.replica);
    let (rooms, note): (Vec<String>, String) = match room {
        None => (temperatures.keys().cloned().collect(), String::new()),
        Some(asked) => match match_room(asked, &known) {
            RoomMatch::Exact(room) => (vec![room], String::new()),
            RoomMatch::Close(room) => {
                let note = format!("(I took \"{asked}\" to mean {room}.) ");
                (vec![room], note)
            }
            RoomMatch::None => {
                return format!(
                    "I don't know a room called \"{asked}\"; {}.",
                    rooms_list(&known)
                )
            }
        },
    };
    let lines: Vec<String> = rooms
        .iter()
        .map(|room| match temperatures.get(room) {
            Some(value) => verdict(view, room, *value, cold),
            None => format!("I have no temperature reading for {room}."),
        })
        .collect();
    let text = if lines.is_empty() {
        "I have no temperature readings.".to_string()
    } else {
        format!("{note}{}", lines.join("\n"))
    };
    with_caveats(text, caveats(view, room, "readings"))
}

pub(super) fn rooms(view: &View<'_>) -> String {
    let known = known_rooms(view.replica);
    if known.is_empty() {
        return "I don't know any rooms yet: no Pi has reported one.".to_string();
    }
    let nodes = query::node_names(view.replica);
    let lines: Vec<String> = known
        .iter()
        .map(|room| {
            let pis: Vec<&str> = nodes
                .values()
                .filter(|(_, r)| r.eq_ignore_ascii_case(room))
                .map(|(name, _)| name.as_str())
                .collect();
            if pis.is_empty() {
                format!("• {room}")
            } else {
                format!("• {room} ({})", pis.join(", "))
            }
        })
        .collect();
    format!("Rooms I know:\n{}", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;

    #[test]
    fn is_it_cold_against_comfort_or_the_target() {
        let mut office = office();
        // lobby 21.04 °C, meeting room 23.5 °C; no targets: 20–24 °C is comfortable.
        assert_has(
            &ask(&office, "is it cold in the lobby?"),
            "No, lobby is at 21.04 °C, within a comfortable 20–24 °C.",
        );
        // With a target of 24 ± 1 the lobby is cold.
        let set = tell(&office, "set lobby temperature to 24");
        office.apply(&set);
        assert_has(
            &ask(&office, "is it cold in the lobby?"),
            "Yes, lobby is at 21.04 °C, below its target 24 ±",
        );
        assert_has(
            &ask(&office, "is the lobby warm"),
            "No, the opposite: lobby is at 21.04 °C, below its target 24 ±",
        );
        let all = ask(&office, "is it hot?");
        assert_has(&all, "lobby is at 21.04");
        assert_has(&all, "meeting room is at 23.5");
        assert_has(
            &ask(&office, "is it cold in the attic"),
            "I don't know a room called \"attic\"",
        );
        let partial = run(
            &office,
            &pi_b_unreachable(),
            "carol",
            "is it cold in the meeting room",
        );
        assert_has(&partial.reply, "I can't reach pi-b");
    }

    #[test]
    fn rooms_and_their_pis() {
        let office = office();
        let rooms = ask(&office, "what rooms are there?");
        assert_has(&rooms, "• lobby (pi-a)");
        assert_has(&rooms, "• meeting room (pi-b)");
    }
}
