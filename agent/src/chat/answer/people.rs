//! "is ada in?", "when was ada last in?", "how many people are in?", "is the office empty?":
//! presence questions about one person or a count, with the unreachable nodes named. Reads the
//! replica, writes nothing. There is no presence history yet: "last in" answers from the last
//! time a node saw one of the person's devices.

use super::{caveats, who, with_caveats, View};
use crate::chat::text::{age_text, clock_text};
use crate::state::query::{self, PresenceAnswer};

fn presence(view: &View<'_>) -> PresenceAnswer {
    query::presence(
        view.replica,
        view.now_ms,
        view.consider_home_ms,
        view.completeness.clone(),
    )
}

fn unknown_person(answer: &PresenceAnswer, asked: &str) -> String {
    let names: Vec<&str> = answer.people.iter().map(|p| p.name.as_str()).collect();
    if names.is_empty() {
        format!("I don't know anyone called \"{asked}\": nobody has registered a device yet (\"i am aa:bb:cc:dd:ee:ff\").")
    } else {
        format!(
            "I don't know anyone called \"{asked}\"; people I know: {}.",
            names.join(", ")
        )
    }
}

/// The newest time any node saw one of the person's devices.
fn last_seen(person: &query::PersonPresence) -> Option<u64> {
    person.devices.iter().filter_map(|d| d.last_seen_ms).max()
}

pub(super) fn is_in(view: &View<'_>, asked: &str) -> String {
    let answer = presence(view);
    let Some(person) = answer
        .people
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(asked.trim()))
    else {
        return unknown_person(&answer, asked);
    };
    let text = if person.present {
        let mut seen_by: Vec<&str> = person
            .devices
            .iter()
            .filter(|d| d.present)
            .flat_map(|d| d.seen_by.iter().map(String::as_str))
            .collect();
        seen_by.sort();
        seen_by.dedup();
        format!(
            "Yes, {} is in (seen by {}).",
            person.name,
            seen_by.join(", ")
        )
    } else {
        match last_seen(person) {
            Some(ms) => format!(
                "No, {} is not in; I last saw their device at {} ({} ago).",
                person.name,
                clock_text(ms, view.now_ms, view.offset),
                age_text(view.now_ms.saturating_sub(ms))
            ),
            None => format!(
                "No, {} is not in; I have not seen their device on the network.",
                person.name
            ),
        }
    };
    with_caveats(text, caveats(view, None, "people"))
}

pub(super) fn last_in(view: &View<'_>, asked: &str) -> String {
    let answer = presence(view);
    let Some(person) = answer
        .people
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(asked.trim()))
    else {
        return unknown_person(&answer, asked);
    };
    let text = if person.present {
        format!("{} is in right now.", person.name)
    } else {
        match last_seen(person) {
            Some(ms) => format!(
                "I last saw {}'s device at {} ({} ago). I keep no presence history yet, so that is as far back as I can tell.",
                person.name,
                clock_text(ms, view.now_ms, view.offset),
                age_text(view.now_ms.saturating_sub(ms))
            ),
            None => format!(
                "I have not seen {}'s device on the network, and I keep no presence history yet.",
                person.name
            ),
        }
    };
    with_caveats(text, caveats(view, None, "people"))
}

pub(super) fn how_many(view: &View<'_>) -> String {
    let answer = presence(view);
    let registered = answer.people.len();
    let present = answer.people.iter().filter(|p| p.present).count();
    let mut text = match present {
        0 => format!("Nobody I know is in ({registered} registered)."),
        1 => format!("1 person is in (of {registered} registered)."),
        n => format!("{n} people are in (of {registered} registered)."),
    };
    if answer.unknown_devices > 0 {
        text.push_str(&format!(
            " Plus {} device{} I can't put a name to.",
            answer.unknown_devices,
            if answer.unknown_devices == 1 { "" } else { "s" }
        ));
    }
    with_caveats(text, caveats(view, None, "people"))
}

pub(super) fn is_empty(view: &View<'_>, room: Option<&str>) -> String {
    if let Some(room) = room {
        return who::who_is_in(view, Some(room));
    }
    let answer = presence(view);
    let present: Vec<&str> = answer
        .people
        .iter()
        .filter(|p| p.present)
        .map(|p| p.name.as_str())
        .collect();
    let text = if !present.is_empty() {
        format!(
            "No: {} {} in.",
            present.join(", "),
            if present.len() == 1 { "is" } else { "are" }
        )
    } else if answer.unknown_devices > 0 {
        format!(
            "Nobody I know is in, but I see {} device{} I can't put a name to, so maybe not empty.",
            answer.unknown_devices,
            if answer.unknown_devices == 1 { "" } else { "s" }
        )
    } else {
        "Yes, the office looks empty: no registered person and no other device is on the network."
            .to_string()
    };
    with_caveats(text, caveats(view, None, "people"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use crate::crdt::NodeId;
    use crate::state::{Key, MacSeen, PersonInfo, Value};

    /// The fixture plus cy, whose phone was last seen two hours ago.
    fn with_cy() -> Office {
        let mut office = office();
        office.write(
            Key::Person {
                name: "cy".into(),
                mac: mac(9),
            },
            Some(Value::Person(PersonInfo {
                added_by: "test".into(),
            })),
        );
        office.write(
            Key::Mac {
                mac: mac(9),
                observer: NodeId(1),
            },
            Some(Value::Mac(MacSeen {
                ip: "192.0.2.9".into(),
                first_seen_ms: 0,
                last_seen_ms: NOW - 120 * MINUTE,
                randomized: false,
            })),
        );
        office
    }

    #[test]
    fn is_someone_in() {
        let office = with_cy();
        assert_has(&ask(&office, "is ada in?"), "Yes, ada is in (seen by pi-a)");
        assert_has(
            &ask(&office, "Is Bob here"),
            "Yes, bob is in (seen by pi-b)",
        );
        assert_has(
            &ask(&office, "is cy in the office?"),
            "No, cy is not in; I last saw their device at 10:42 (2 h ago)",
        );
        assert_has(
            &ask(&office, "is dave in?"),
            "I don't know anyone called \"dave\"; people I know: ada, bob, cy",
        );
        let partial = run(&office, &pi_b_unreachable(), "carol", "is ada in?");
        assert_has(
            &partial.reply,
            "I can't reach pi-b (meeting room) since 12:02",
        );
    }

    #[test]
    fn when_was_someone_last_in() {
        let office = with_cy();
        let cy = ask(&office, "when was cy last in?");
        assert_has(&cy, "I last saw cy's device at 10:42 (2 h ago)");
        assert_has(&cy, "no presence history yet");
        assert_has(
            &ask(&office, "when was ada last here"),
            "ada is in right now",
        );
    }

    #[test]
    fn counting_and_emptiness() {
        let office = with_cy();
        let count = ask(&office, "how many people are in?");
        assert_has(&count, "2 people are in (of 3 registered)");
        assert_has(&count, "Plus 1 device I can't put a name to");
        assert_has(
            &ask(&office, "is the office empty?"),
            "No: ada, bob are in.",
        );
        assert_has(
            &ask(&office, "is the meeting room empty"),
            "In meeting room: bob",
        );
    }
}
