//! "meeting room temp": the latest readings of one quantity, in one room or all, with the
//! room's target and the unreachable nodes named. Reads the replica, writes nothing.

use std::collections::BTreeMap;

use officemesh_sensors::Quantity;

use super::super::text::{age_text, number_text};
use super::rooms::{known_rooms, resolve};
use super::targets::targets;
use super::{caveats, with_caveats, View};
use crate::state::query::{self, ReadingFilter, ReadingRow};
use crate::state::{ReadingStatus, TargetValue};

/// "meeting room temp" (`room` `None`: every room): one line per reading, with the target.
/// "average humidity this week", "temp since morning": the latest readings, and where the
/// history is (chat answers from the replica, which holds only the latest).
pub(super) fn trend(view: &View<'_>, room: Option<&str>, quantity: Quantity) -> String {
    format!(
        "{}\nI only have the latest readings here, no averages or history: the dashboard \
         (http://<agent>:8420/) shows the last 24 hours.",
        readings(view, room, quantity)
    )
}

/// "temp + humidity in all rooms": the readings of each quantity named, one after the other.
pub(super) fn several(view: &View<'_>, room: Option<&str>, quantities: &[Quantity]) -> String {
    let each: Vec<String> = quantities
        .iter()
        .map(|quantity| readings(view, room, *quantity))
        .collect();
    each.join("\n")
}

pub(super) fn readings(view: &View<'_>, room: Option<&str>, quantity: Quantity) -> String {
    let known = known_rooms(view.replica);
    let (room, mut text) = match room {
        None => (None, String::new()),
        Some(asked) => match resolve(view, asked) {
            Ok((room, note)) => (
                Some(room),
                note.trim_end().to_string() + if note.is_empty() { "" } else { "\n" },
            ),
            Err(super::Instead(reply)) => {
                return format!(
                    "{reply} Ask like \"{} {}\".",
                    known.iter().next().map(String::as_str).unwrap_or("lobby"),
                    quantity.as_str()
                )
            }
        },
    };
    let filter = ReadingFilter {
        room: room.clone(),
        quantity: Some(quantity),
        node: None,
    };
    let answer = query::readings(
        view.replica,
        view.now_ms,
        &filter,
        view.completeness.clone(),
    );
    if answer.readings.is_empty() {
        text.push_str(&format!(
            "I have no {} readings{}.",
            quantity.as_str(),
            room.as_deref()
                .map(|room| format!(" for {room}"))
                .unwrap_or_default()
        ));
    }
    let targets = targets(view.replica);
    let lines: Vec<String> = answer
        .readings
        .iter()
        .map(|row| reading_line(row, quantity, &targets))
        .collect();
    text.push_str(&lines.join("\n"));
    with_caveats(text, caveats(view, room.as_deref(), "readings"))
}

/// "meeting room temperature: 23.5 °C (pi-b, 12 s ago; target 22 ± 1, outside it)".
fn reading_line(
    row: &ReadingRow,
    quantity: Quantity,
    targets: &BTreeMap<(String, Quantity), TargetValue>,
) -> String {
    let mut line = format!(
        "{} {}: {} {} ({}, {} ago",
        row.room,
        quantity.as_str(),
        number_text(row.value),
        row.unit,
        row.node_name,
        age_text(row.age_ms)
    );
    if row.status == ReadingStatus::Stale {
        line.push_str("; the sensor is failing, this is its last good value");
    }
    line.push(')');
    if let Some(target) = targets.get(&(row.room.to_lowercase(), quantity)) {
        let outside = (row.value - target.value).abs() > target.tolerance;
        line.push_str(&format!(
            "; target {} ± {}{}",
            number_text(target.value),
            number_text(target.tolerance),
            if outside { ", outside it" } else { "" }
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;

    #[test]
    fn readings_by_room_with_typos_targets_and_unknown_rooms() {
        let mut office = office();
        let reply = ask(&office, "meeting room temp");
        assert_eq!(reply, "meeting room temperature: 23.5 °C (pi-b, 12 s ago)");
        let typo = ask(&office, "meting room temp");
        assert!(
            typo.starts_with("(I took \"meting room\" to mean meeting room.)"),
            "{typo}"
        );
        assert_has(&typo, "23.5 °C");
        let all = ask(&office, "temp");
        assert_has(&all, "lobby temperature: 21.04 °C");
        assert_has(&all, "23.5");
        let unknown = ask(&office, "attic temp");
        assert_has(&unknown, "rooms I know: lobby, meeting room");
        let none = ask(&office, "lobby humidity");
        assert_eq!(none, "I have no humidity readings for lobby.");
        let set = tell(&office, "set meeting room temp to 22");
        office.apply(&set);
        let with_target = ask(&office, "meeting room temperature");
        assert!(
            with_target.ends_with("target 22 ± 1, outside it"),
            "{with_target}"
        );
    }
}
