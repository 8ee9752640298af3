//! A message read against the office (its people and rooms, a [`Lexicon`]): the question is the
//! first sentence that asks something (the rest is context: "Is anybody in yet? I'm running
//! late …"); a MAC address anywhere with "i am"/"register" or "forget" around it is that
//! command ("oops wrong mac, i am …"); the fixed phrasings are kept when the rooms and people
//! they name are the office's, else the understanding reads the question; room words are
//! matched to the one known room among them ("meeting room comfort" → meeting room, "meeting rm"
//! and "meeting" → meeting room when no other room starts so). Part of
//! the grammar; pure: text and lexicon in, [`Command`] out.

use super::grammar::{self, Command};
use super::understand::{self, is_person, is_room, room_in, room_named, Lexicon};

/// Parses `text` knowing `lexicon` (empty: nobody and no room known, the words decide).
pub fn parse_in(text: &str, lexicon: &Lexicon) -> Command {
    if let Some(command) = mac_anywhere(text) {
        return command;
    }
    let parts = sentences(text);
    if parts.len() > 1 {
        let mut courtesy = None;
        for part in &parts {
            match one(part, lexicon) {
                Command::Unknown { .. } => {}
                command @ (Command::Greeting | Command::Thanks) => {
                    courtesy.get_or_insert(command);
                }
                command => return command,
            }
        }
        if let Some(command) = courtesy {
            return command;
        }
    }
    one(text, lexicon)
}

/// The sentences of `text`: split after `?`, `!` and a `.` that ends a word.
fn sentences(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(at, c)) in chars.iter().enumerate() {
        let next_blank = chars.get(i + 1).is_none_or(|(_, n)| n.is_whitespace());
        if matches!(c, '?' | '!') || (c == '.' && next_blank) {
            parts.push(&text[start..at]);
            start = at + c.len_utf8();
        }
    }
    parts.push(&text[start..]);
    parts.retain(|part| part.chars().any(char::is_alphanumeric));
    parts
}

/// One MAC address in a message that says whose it is or to forget it.
fn mac_anywhere(text: &str) -> Option<Command> {
    let words = grammar::words(text);
    let macs: Vec<&String> = words
        .iter()
        .filter(|w| grammar::looks_like_mac(w))
        .collect();
    let [mac] = macs.as_slice() else {
        return None;
    };
    let said = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    let i_am = words
        .windows(2)
        .any(|pair| pair[0] == "i" && pair[1] == "am");
    if said(&["forget", "unregister", "remove", "delete", "forgt"]) {
        Some(grammar::mac_command(mac, |mac| Command::Forget { mac }))
    } else if i_am
        || said(&[
            "im", "iam", "register", "add", "my", "mine", "mac", "phone", "laptop", "device", "new",
        ])
    {
        Some(grammar::mac_command(mac, |mac| Command::Register { mac }))
    } else {
        None
    }
}

/// One sentence.
fn one(text: &str, lexicon: &Lexicon) -> Command {
    let all = grammar::words(text);
    let every: Vec<&str> = all.iter().map(String::as_str).collect();
    if let Some(command) = understand::early(&every, lexicon) {
        return settle(command, lexicon);
    }
    let stripped = grammar::strip_fillers(&all);
    let words: Vec<&str> = stripped.iter().map(String::as_str).collect();
    let strict = grammar::parse_strict(&words).and_then(understand::refine);
    let command = match strict {
        Some(command) if known(&command, lexicon) => command,
        Some(command) => match understand::understand(text, lexicon) {
            Command::Unknown { .. } => command,
            read => read,
        },
        None => understand::understand(text, lexicon),
    };
    settle(command, lexicon)
}

/// The rooms and people `command` names are the office's (always, without a lexicon).
fn known(command: &Command, lexicon: &Lexicon) -> bool {
    if lexicon.people.is_empty() && lexicon.rooms.is_empty() {
        return true;
    }
    let room_ok = |room: &Option<String>| {
        room.as_deref()
            .is_none_or(|room| room == "here" || is_room(room, lexicon))
    };
    match command {
        Command::Reading { room, .. }
        | Command::Trend { room, .. }
        | Command::Comfort { room, .. }
        | Command::Readings { room, .. }
        | Command::IsEmpty { room }
        | Command::WhoIsIn { room }
        | Command::Targets { room } => room_ok(room),
        Command::Comfortable { rooms } => rooms.iter().all(|room| room_ok(&Some(room.clone()))),
        Command::SetTarget { room, .. }
        | Command::SetRange { room, .. }
        | Command::RemoveTarget { room, .. } => is_room(room, lexicon),
        Command::IsIn { people }
        | Command::LastIn { people }
        | Command::Arrived { people, .. }
        | Command::Left { people, .. }
        | Command::WasIn { people, .. } => people.iter().all(|person| is_person(person, lexicon)),
        _ => true,
    }
}

/// A room written out (typos too: the answer says how it read "meting room") stays as written;
/// "meeting rm" and "meeting" become the room they stand for; other words the one known room
/// among them.
fn settle_room(room: String, lexicon: &Lexicon) -> String {
    let written = |known: &String| {
        known.split_whitespace().count() == room.split_whitespace().count()
            && !room.split_whitespace().any(|w| w == "rm")
    };
    if room == "here" {
        return room;
    }
    match room_named(&room, lexicon) {
        Some(known) if written(&known) => room,
        Some(known) => known,
        None => room_in(&room, lexicon).unwrap_or(room),
    }
}

/// Room words that are no known room replaced by the one known room among them.
fn settle(command: Command, lexicon: &Lexicon) -> Command {
    let fix = |room: String| settle_room(room, lexicon);
    match command {
        Command::SetTarget {
            room,
            quantity,
            value,
        } => Command::SetTarget {
            room: fix(room),
            quantity,
            value,
        },
        Command::SetRange {
            room,
            quantity,
            low,
            high,
        } => Command::SetRange {
            room: fix(room),
            quantity,
            low,
            high,
        },
        Command::RemoveTarget { room, quantity } => Command::RemoveTarget {
            room: fix(room),
            quantity,
        },
        Command::Reading { room, quantity } => Command::Reading {
            room: room.map(fix),
            quantity,
        },
        Command::Readings { room, quantities } => Command::Readings {
            room: room.map(fix),
            quantities,
        },
        Command::Comfort {
            room,
            quantity,
            low,
        } => Command::Comfort {
            room: room.map(fix),
            quantity,
            low,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_is_the_first_sentence_that_asks() {
        assert_eq!(
            sentences("Is anybody in yet? I'm late. Temp 21.5 is fine!"),
            vec!["Is anybody in yet", " I'm late", " Temp 21.5 is fine"]
        );
        let lexicon = Lexicon {
            people: vec!["Ada Lovelace".into()],
            rooms: vec!["open space".into(), "meeting room".into()],
        };
        assert_eq!(
            parse_in(
                "Hello! Is it noisy in the open space? I have a call.",
                &lexicon
            ),
            Command::Comfort {
                room: Some("open space".into()),
                quantity: officemesh_sensors::Quantity::Sound,
                low: false
            }
        );
        assert!(matches!(
            parse_in("oops wrong mac, i am a4:83:e7:2f:19:c1", &lexicon),
            Command::Register { .. }
        ));
    }

    #[test]
    fn a_first_word_stands_for_its_room_only_when_one_room_starts_with_it() {
        let lexicon = |rooms: &[&str]| Lexicon {
            people: vec!["Ada Lovelace".into()],
            rooms: rooms.iter().map(|room| room.to_string()).collect(),
        };
        let reading = |room: &str| Command::Reading {
            room: Some(room.into()),
            quantity: officemesh_sensors::Quantity::Temperature,
        };
        let one = lexicon(&["meeting room", "kitchen"]);
        assert_eq!(parse_in("meeting temp", &one), reading("meeting room"));
        assert_eq!(parse_in("meeting rm temp", &one), reading("meeting room"));
        // Two rooms start with "meeting": none is picked (the answer lists the rooms).
        let two = lexicon(&["meeting room", "meeting pod", "kitchen"]);
        assert_eq!(parse_in("meeting temp", &two), reading("meeting"));
    }
}
