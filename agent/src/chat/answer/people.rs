//! "is the office empty?" (and "is the meeting room empty?"), with the unreachable nodes named.
//! Reads the replica, writes nothing. "is ada in?", "when was ada last in?" and "how many
//! people are in?" are answered by `attendance.rs`.

use officemesh_sensors::Quantity;

use super::{caveats, who, with_caveats, View};
use crate::state::query::{self, PresenceAnswer};

fn presence(view: &View<'_>) -> PresenceAnswer {
    query::presence(
        view.replica,
        view.now_ms,
        view.consider_home_ms,
        view.completeness.clone(),
    )
}

pub(super) fn is_empty(view: &View<'_>, room: Option<&str>) -> String {
    if let Some(room) = room {
        // No room-level presence: the office, and the room's sound as a hint of how busy.
        let office = who::who_is_in(view, Some(room));
        if office.starts_with("I don't know a room") {
            return office;
        }
        let sound = super::readings::readings(view, Some(room), Quantity::Sound);
        return format!("{office} As a hint of how busy it is: {sound}");
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
                present_until_ms: 0,
                randomized: false,
            })),
        );
        office
    }

    #[test]
    fn emptiness() {
        let office = with_cy();
        assert_has(
            &ask(&office, "is the office empty?"),
            "No: ada, bob are in.",
        );
        assert_has(
            &ask(&office, "is the meeting room empty"),
            "I can only tell who is at the office, not who is in meeting room",
        );
    }
}
