//! "is it cold in the kitchen?", "is the meeting room comfortable?", "which room is coldest?",
//! "is open space louder than the lobby?" and "what rooms are there?": a room's readings
//! against its target (or, without one, a comfortable range), compared, and the rooms this
//! node knows with their Pis. Reads the replica, writes nothing.

use std::collections::BTreeMap;

use officemesh_sensors::Quantity;

use super::rooms::{known_rooms, resolve};
use super::{caveats, with_caveats, View};
use crate::chat::text::number_text;
use crate::state::query::{self, ReadingFilter};
use crate::state::{Key, ReadingStatus, Value};

/// Without a target, what counts as comfortable.
fn comfortable_range(quantity: Quantity) -> (f64, f64) {
    match quantity {
        Quantity::Temperature => (20.0, 24.0),
        Quantity::Humidity => (30.0, 60.0),
        Quantity::Sound | Quantity::SoundActivity => (0.0, 55.0),
    }
}

/// The mean of each room's good readings of `quantity`.
fn room_values(view: &View<'_>, quantity: Quantity) -> BTreeMap<String, f64> {
    let filter = ReadingFilter {
        room: None,
        quantity: Some(quantity),
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

fn target_band(view: &View<'_>, room: &str, quantity: Quantity) -> Option<(f64, f64)> {
    view.replica
        .live()
        .find_map(|(key, value)| match (key, value) {
            (
                Key::Target {
                    room: r,
                    quantity: q,
                },
                Value::Target(t),
            ) if *q == quantity && r.eq_ignore_ascii_case(room) => Some((t.value, t.tolerance)),
            _ => None,
        })
}

/// The band `room` should be in: its target, or a comfortable range; and how to say it.
fn band(view: &View<'_>, room: &str, quantity: Quantity) -> (f64, f64, String) {
    let unit = quantity.unit();
    match target_band(view, room, quantity) {
        Some((target, tolerance)) => (
            target - tolerance,
            target + tolerance,
            format!(
                "its target {} ± {} {unit}",
                number_text(target),
                number_text(tolerance)
            ),
        ),
        None => {
            let (low, high) = comfortable_range(quantity);
            let band = format!(
                "a comfortable {}–{} {unit}",
                number_text(low),
                number_text(high)
            );
            (low, high, band)
        }
    }
}

/// One room's line: "Yes, kitchen is at 18.5 °C, below its target 22 ± 1 °C."
fn verdict(view: &View<'_>, room: &str, quantity: Quantity, value: f64, low_end: bool) -> String {
    let unit = quantity.unit();
    let (low, high, band) = band(view, room, quantity);
    let now = format!("{room} is at {} {unit}", number_text(value));
    match (low_end, value < low, value > high) {
        (true, true, _) => format!("Yes, {now}, below {band}."),
        (false, _, true) => format!("Yes, {now}, above {band}."),
        (true, false, true) => format!("No, the opposite: {now}, above {band}."),
        (false, true, false) => format!("No, the opposite: {now}, below {band}."),
        _ => format!("No, {now}, within {band}."),
    }
}

/// "is it cold in the kitchen?" (`room` `None`: every room; "here": this node's room).
pub(super) fn comfort(
    view: &View<'_>,
    room: Option<&str>,
    quantity: Quantity,
    low: bool,
) -> String {
    let values = room_values(view, quantity);
    let (rooms, note): (Vec<String>, String) = match room {
        None => (values.keys().cloned().collect(), String::new()),
        Some(asked) => match resolve(view, asked) {
            Ok((room, note)) => (vec![room], note),
            Err(super::Instead(reply)) => return reply,
        },
    };
    let lines: Vec<String> = rooms
        .iter()
        .map(|room| match values.get(room) {
            Some(value) => verdict(view, room, quantity, *value, low),
            None => format!("I have no {} reading for {room}.", quantity.as_str()),
        })
        .collect();
    let text = if lines.is_empty() {
        format!("I have no {} readings.", quantity.as_str())
    } else {
        format!("{note}{}", lines.join("\n"))
    };
    let asked = rooms.first().filter(|_| room.is_some()).map(String::as_str);
    with_caveats(text, caveats(view, asked, "readings"))
}

/// "which room is coldest?": the room with the highest or lowest mean reading, and the others.
pub(super) fn extreme(view: &View<'_>, quantity: Quantity, highest: bool) -> String {
    let values = room_values(view, quantity);
    let unit = quantity.unit();
    let mut sorted: Vec<(&String, f64)> = values.iter().map(|(r, v)| (r, *v)).collect();
    sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
    if highest {
        sorted.reverse();
    }
    let word = match (quantity, highest) {
        (Quantity::Temperature, true) => "warmest",
        (Quantity::Temperature, false) => "coldest",
        (Quantity::Humidity, true) => "most humid",
        (Quantity::Humidity, false) => "driest",
        (_, true) => "loudest",
        (_, false) => "quietest",
    };
    let text = match sorted.as_slice() {
        [] => format!("I have no {} readings.", quantity.as_str()),
        [(room, value)] => format!(
            "I only have {} from {room}: {} {unit}.",
            quantity.as_str(),
            number_text(*value)
        ),
        [(room, value), rest @ ..] => {
            let others: Vec<String> = rest
                .iter()
                .map(|(r, v)| format!("{r} {} {unit}", number_text(*v)))
                .collect();
            format!(
                "The {word} room is {room} at {} {unit} (then {}).",
                number_text(*value),
                others.join(", ")
            )
        }
    };
    with_caveats(text, caveats(view, None, "readings"))
}

/// "is open space louder than the lobby?": the asked rooms' values, highest first.
pub(super) fn compare(view: &View<'_>, asked: &[String], quantity: Quantity) -> String {
    let values = room_values(view, quantity);
    let unit = quantity.unit();
    let mut have: Vec<(String, f64)> = Vec::new();
    let mut lines = Vec::new();
    for asked in asked {
        match resolve(view, asked) {
            Ok((room, _)) => match values.get(&room) {
                Some(value) => have.push((room, *value)),
                None => lines.push(format!(
                    "I have no {} reading for {room}.",
                    quantity.as_str()
                )),
            },
            Err(super::Instead(reply)) => return reply,
        }
    }
    have.sort_by(|a, b| b.1.total_cmp(&a.1));
    let more = match quantity {
        Quantity::Temperature => "warmer",
        Quantity::Humidity => "more humid",
        Quantity::Sound | Quantity::SoundActivity => "louder",
    };
    let said = |(room, value): &(String, f64)| format!("{room} {} {unit}", number_text(*value));
    let head = match have.as_slice() {
        [] => None,
        [(a, high), (b, low)] if high > low => Some(format!(
            "{a} is {more} than {b}: {} {unit} against {} {unit}.",
            number_text(*high),
            number_text(*low)
        )),
        _ => Some(format!(
            "{}: {}.",
            quantity.as_str(),
            have.iter().map(said).collect::<Vec<_>>().join(", ")
        )),
    };
    lines.splice(0..0, head);
    with_caveats(lines.join("\n"), caveats(view, None, "readings"))
}

/// "is the meeting room comfortable?", "are all rooms within their targets?", "studio and kitchen
/// comfort check": every quantity of the rooms asked (none: every room) against its target or a
/// comfortable range.
pub(super) fn comfortable(view: &View<'_>, asked: &[String]) -> String {
    let (rooms, note) = match asked_rooms(view, asked) {
        Ok(found) => found,
        Err(super::Instead(reply)) => return reply,
    };
    let quantities = [Quantity::Temperature, Quantity::Humidity, Quantity::Sound];
    let values: Vec<BTreeMap<String, f64>> =
        quantities.iter().map(|q| room_values(view, *q)).collect();
    let mut outside = Vec::new();
    let mut fine = 0;
    for room in &rooms {
        for (quantity, values) in quantities.iter().zip(&values) {
            let Some(value) = values.get(room) else {
                continue;
            };
            let line = verdict(
                view,
                room,
                *quantity,
                *value,
                *value < band(view, room, *quantity).0,
            );
            if let Some(outside_line) = line.strip_prefix("Yes, ") {
                outside.push(outside_line.to_string());
            } else {
                fine += 1;
            }
        }
    }
    let named = !asked.is_empty();
    let text = match (outside.is_empty(), named) {
        _ if fine == 0 && outside.is_empty() => "I have no readings to judge that by.".into(),
        (true, true) if rooms.len() == 1 => format!(
            "{note}Yes, {} is within its targets (or a comfortable range) on every reading.",
            rooms.join("")
        ),
        (true, true) => format!(
            "{note}Yes, {} are within their targets (or a comfortable range) on every reading.",
            and_list(&rooms)
        ),
        (true, false) => "Yes, every room is within its targets (or a comfortable range).".into(),
        (false, true) if rooms.len() == 1 => format!("{note}No: {}", outside.join(" ")),
        (false, _) => format!("{note}Not every room:\n• {}", outside.join("\n• ")),
    };
    let one = (named && rooms.len() == 1).then(|| rooms[0].as_str());
    with_caveats(text, caveats(view, one, "readings"))
}

/// The rooms `asked` names, resolved (none asked: every known room), with the notes of rooms
/// taken to mean another; a room nobody knows is the answer instead.
fn asked_rooms(view: &View<'_>, asked: &[String]) -> Result<(Vec<String>, String), super::Instead> {
    if asked.is_empty() {
        return Ok((
            known_rooms(view.replica).into_iter().collect(),
            String::new(),
        ));
    }
    let mut rooms = Vec::new();
    let mut notes = String::new();
    for room in asked {
        let (room, note) = resolve(view, room)?;
        if !rooms.contains(&room) {
            rooms.push(room);
        }
        notes.push_str(&note);
    }
    Ok((rooms, notes))
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
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
