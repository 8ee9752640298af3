//! "who's in?" and "who's in the kitchen": the registered people present at the office, with
//! the unreachable nodes named. Presence comes from the office network (ARP), which every Pi on
//! a subnet sees alike, so there is no room-local signal: asked about a room, the answer says it
//! can only tell the office, and gives that. Reads the replica, writes nothing.

use super::rooms::{known_rooms, match_room, rooms_list, RoomMatch};
use super::{caveats, with_caveats, View};
use crate::state::query;

pub(super) fn who_is_in(view: &View<'_>, room: Option<&str>) -> String {
    let answer = query::presence(
        view.replica,
        view.now_ms,
        view.consider_home_ms,
        view.completeness.clone(),
    );
    let registered = answer.people.len();
    let (room, note) = match room {
        None => (None, String::new()),
        Some(asked) => match match_room(asked, &known_rooms(view.replica)) {
            RoomMatch::Exact(room) => (Some(room), String::new()),
            RoomMatch::Close(room) => {
                let note = format!("(I took \"{asked}\" to mean {room}.) ");
                (Some(room), note)
            }
            RoomMatch::None => {
                return format!(
                    "I don't know a room called \"{asked}\"; {}.",
                    rooms_list(&known_rooms(view.replica))
                )
            }
        },
    };
    let present: Vec<String> = answer
        .people
        .iter()
        .filter(|person| person.present)
        .map(|person| person.name.clone())
        .collect();
    let place = "the office";
    let mut text = note;
    if let Some(room) = &room {
        // No room-local signal: say so, then answer for the office.
        text.push_str(&format!(
            "I can only tell who is at the office, not who is in {room}: I see people by their phones on the office network, which every Pi sees alike. "
        ));
    }
    if registered == 0 {
        text.push_str(
            "Nobody has registered a device yet, so I can't tell who is in. Say \"i am aa:bb:cc:dd:ee:ff\" with your phone's Wi-Fi MAC.",
        );
    } else if present.is_empty() {
        text.push_str(&format!(
            "Nobody I know is in {place} right now ({registered} registered)."
        ));
    } else {
        text.push_str(&format!(
            "In {place}: {} ({} of {registered} registered).",
            present.join(", "),
            present.len()
        ));
    }
    text.push_str(&unknown_devices_text(answer.unknown_devices));
    with_caveats(text, caveats(view, None, "people"))
}

/// " Plus 2 devices I can't put a name to." (empty when there are none).
pub(super) fn unknown_devices_text(unknown: usize) -> String {
    match unknown {
        0 => String::new(),
        1 => " Plus 1 device I can't put a name to.".to_string(),
        n => format!(" Plus {n} devices I can't put a name to."),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;

    #[test]
    fn who_is_in_lists_present_people_and_unknown_devices() {
        let office = office();
        let reply = ask(&office, "who's in?");
        assert_has(&reply, "In the office: ada, bob (2 of 2 registered)");
        assert_has(&reply, "1 device I can't put a name to");
        assert!(!reply.contains("can't reach"), "{reply}");
        let kitchen = ask(&office, "who's in the meeting room");
        assert_has(
            &kitchen,
            "I can only tell who is at the office, not who is in meeting room",
        );
        assert_has(&kitchen, "In the office: ada, bob (2 of 2");
        let typo = ask(&office, "who's in the meting room");
        assert_has(&typo, "mean meeting room");
        assert_has(&typo, "can only tell who is at the office");
        let nowhere = ask(&office, "who's in the attic");
        assert_has(&nowhere, "lobby, meeting room");
    }
}
