//! "is ada in?", "when was ada last in?", "how many people are in?": registered people only.
//! Whether someone is in comes from the live presence answer; when they were last in comes from
//! the opt-in attendance history (`attendance/<name>/<day>`, kept `presence.history_days`);
//! with history off the reply says so. Reads the replica, writes nothing.

use super::who::unknown_devices_text;
use super::whom::{ask_back, whom, Whom};
use super::{caveats, with_caveats, View};
use crate::chat::text::clock_text;
use crate::state::presence::{attendance, day_of};
use crate::state::query::{self, PersonPresence};

pub(super) const HISTORY_OFF: &str =
    "History is off here (presence.history_days = 0), so I don't keep when people were in.";

pub(super) fn presence(view: &View<'_>) -> query::PresenceAnswer {
    query::presence(
        view.replica,
        view.now_ms,
        view.consider_home_ms,
        view.completeness.clone(),
    )
}

/// The registered person `person` names (first name, full name, typo), or the reply: nobody by
/// that name, or which of two or more they mean.
pub(super) fn find<'a>(
    answer: &'a query::PresenceAnswer,
    person: &str,
) -> Result<&'a PersonPresence, super::Instead> {
    let names: Vec<String> = answer.people.iter().map(|p| p.name.clone()).collect();
    match whom(&names, person) {
        Whom::One(name) => answer
            .people
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| super::Instead(unknown_person(answer, person))),
        Whom::Several(names) => Err(super::Instead(ask_back(&names))),
        Whom::Nobody => Err(super::Instead(unknown_person(answer, person))),
    }
}

fn unknown_person(answer: &query::PresenceAnswer, person: &str) -> String {
    if answer.people.is_empty() {
        return format!("I don't know anyone called {person}: nobody has registered a device yet.");
    }
    let names: Vec<&str> = answer.people.iter().map(|p| p.name.as_str()).collect();
    format!(
        "I don't know anyone called {person}; the people I know are {}.",
        names.join(", ")
    )
}

/// The latest day's (first in, last in) of `person`, when history is on and kept any.
pub(super) fn latest(view: &View<'_>, person: &str) -> Option<(String, (u64, u64))> {
    if view.history_days == 0 {
        return None;
    }
    attendance(view.replica, person).into_iter().next_back()
}

pub(super) fn is_in(view: &View<'_>, person: &str) -> String {
    let answer = presence(view);
    let found = match find(&answer, person) {
        Ok(found) => found,
        Err(super::Instead(reply)) => return reply,
    };
    let name = &found.name;
    let text = if found.present {
        let today = day_of(view.now_ms);
        let since = match latest(view, name) {
            Some((day, (first, _))) if day == today => {
                format!(" (since {})", clock_text(first, view.now_ms, view.offset))
            }
            _ => String::new(),
        };
        // Presence is office-wide (the office network): the Pis that see the phone, no room.
        format!(
            "Yes, {name} is in the office, seen by {}{since}.",
            seen_by(found).join(", ")
        )
    } else {
        match latest(view, name) {
            Some((_, (_, last))) => format!(
                "No, {name} isn't in; last seen {}.",
                clock_text(last, view.now_ms, view.offset)
            ),
            None => format!("No, {name} isn't in."),
        }
    };
    with_caveats(text, caveats(view, None, "people"))
}

/// The Pis that see any of `person`'s devices now.
fn seen_by(person: &PersonPresence) -> Vec<String> {
    let mut seen: Vec<String> = person
        .devices
        .iter()
        .flat_map(|d| d.seen_by.iter().cloned())
        .collect();
    seen.sort();
    seen.dedup();
    seen
}

pub(super) fn last_in(view: &View<'_>, person: &str) -> String {
    let answer = presence(view);
    let found = match find(&answer, person) {
        Ok(found) => found,
        Err(super::Instead(reply)) => return reply,
    };
    let name = &found.name;
    let now = if found.present {
        format!("{name} is in right now.")
    } else {
        format!("{name} isn't in right now.")
    };
    if view.history_days == 0 {
        return format!("{HISTORY_OFF} {now}");
    }
    let text = match latest(view, name) {
        Some((_, (_, last))) => format!(
            "{name} was last in {}. {now}",
            clock_text(last, view.now_ms, view.offset)
        ),
        None => format!(
            "I haven't seen {name} in the last {} days. {now}",
            view.history_days
        ),
    };
    with_caveats(text, caveats(view, None, "people"))
}

pub(super) fn how_many_in(view: &View<'_>) -> String {
    let answer = presence(view);
    let names: Vec<&str> = answer
        .people
        .iter()
        .filter(|p| p.present)
        .map(|p| p.name.as_str())
        .collect();
    let mut text = match names.len() {
        0 => format!("Nobody I know is in ({} registered).", answer.people.len()),
        1 => format!("1 person I know is in: {}.", names[0]),
        n => format!("{n} people I know are in: {}.", names.join(", ")),
    };
    text.push_str(&unknown_devices_text(answer.unknown_devices));
    with_caveats(text, caveats(view, None, "people"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use crate::state::{AttendanceValue, Key, Value};

    #[test]
    fn is_in_and_how_many_come_from_presence() {
        let office = office();
        assert_has(
            &ask(&office, "is ada in?"),
            "Yes, ada is in the office, seen by pi-a.",
        );
        assert_has(&ask(&office, "is zed in?"), "don't know anyone called zed");
        assert_has(
            &ask(&office, "how many people are in?"),
            "2 people I know are in: ada, bob.",
        );
        assert_has(&ask(&office, "how many people are in?"), "Plus 1 device");
    }

    #[test]
    fn last_in_needs_history() {
        let mut office = office();
        assert_has(&ask(&office, "when was ada last in?"), "History is off");
        office.history_days = 30;
        assert_has(
            &ask(&office, "when was ada last in?"),
            "haven't seen ada in the last 30 days",
        );
        office.write(
            Key::Attendance {
                name: "ada".into(),
                day: "2025-11-23".into(),
            },
            Some(Value::Attendance(AttendanceValue {
                first_in_ms: NOW - 180 * MINUTE,
                last_in_ms: NOW - MINUTE,
            })),
        );
        assert_has(
            &ask(&office, "when was ada last in?"),
            "ada was last in 12:41",
        );
        assert_has(&ask(&office, "is ada in?"), "since 09:42");
    }
}
