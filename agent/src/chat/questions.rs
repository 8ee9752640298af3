//! The questions people ask a colleague rather than a bot: "is ada in?", "when was ada last
//! in?", "how many people are in?", "is the office empty?", "what rooms are there?", "is it
//! cold in the kitchen?". Part of the grammar (words in, [`Command`] out), kept apart so
//! `grammar.rs` stays the core. Pure.

use super::grammar::Command;

/// Words that are no person's name in "is … in".
const NOT_A_NAME: &[&str] = &[
    "anyone",
    "anybody",
    "someone",
    "somebody",
    "there",
    "it",
    "the",
    "everyone",
    "everybody",
    "nobody",
    "noone",
    "who",
    "he",
    "she",
    "they",
    "office",
    "this",
    "that",
];
/// Where a person can be "in".
const IN_WORDS: &[&str] = &["in", "here", "around", "present", "onsite", "inside"];
const COLD: &[&str] = &["cold", "chilly", "freezing", "cool", "cold?", "frosty"];
const HOT: &[&str] = &["hot", "warm", "boiling", "stuffy", "toasty"];
const OFFICE: &[&str] = &["office", "place", "building", "hq", "work"];

/// Parses `words` (lower-cased, fillers stripped) as one of these questions.
pub fn parse_question(words: &[&str]) -> Option<Command> {
    parse_rooms(words)
        .or_else(|| parse_how_many(words))
        .or_else(|| parse_empty(words))
        .or_else(|| parse_comfort(words))
        .or_else(|| parse_last_in(words))
        .or_else(|| parse_is_in(words))
}

fn the(word: &str) -> bool {
    matches!(word, "the" | "teh" | "hte")
}

/// Drops a leading "the".
fn skip_the<'a, 'b>(words: &'a [&'b str]) -> &'a [&'b str] {
    match words {
        [first, rest @ ..] if the(first) => rest,
        _ => words,
    }
}

/// `Some(None)` for the whole office ("", "the office", "at work"), `Some(Some(room))` for a
/// room ("in the kitchen", "kitchen").
fn place(words: &[&str]) -> Option<Option<String>> {
    let words = match words {
        ["in" | "at" | "inside" | "of" | "for", rest @ ..] => rest,
        _ => words,
    };
    let words = skip_the(words);
    match words {
        [] => Some(None),
        [word] if OFFICE.contains(word) => Some(None),
        _ if words
            .iter()
            .all(|w| w.chars().all(|c| c.is_alphanumeric() || c == '-')) =>
        {
            Some(Some(words.join(" ")))
        }
        _ => None,
    }
}

fn parse_rooms(words: &[&str]) -> Option<Command> {
    let rooms = match words {
        ["rooms"] | ["list", "rooms" | "the"] | ["list", "the", "rooms"] | ["show", "rooms"] => {
            true
        }
        ["what" | "which", "rooms", rest @ ..] => matches!(
            rest,
            [] | ["are", "there"]
                | ["are", "there", "in", ..]
                | ["do", "you", "know"]
                | ["do", "you", "know", "of"]
                | ["exist"]
                | ["have", "sensors"]
                | ["are", "known"]
        ),
        _ => false,
    };
    rooms.then_some(Command::Rooms)
}

fn parse_how_many(words: &[&str]) -> Option<Command> {
    let ["how", "many", rest @ ..] = words else {
        return None;
    };
    let rest = match rest {
        ["people" | "persons" | "folks" | "ppl" | "of" | "colleagues", tail @ ..] => tail,
        _ => rest,
    };
    let rest = match rest {
        ["us", tail @ ..] => tail,
        _ => rest,
    };
    let rest = match rest {
        ["are" | "is", tail @ ..] => tail,
        _ => rest,
    };
    let rest = match rest {
        ["there", tail @ ..] => tail,
        _ => rest,
    };
    let ok = match rest {
        [] => true,
        [word] => IN_WORDS.contains(word),
        [word, tail @ ..] if IN_WORDS.contains(word) || *word == "at" => {
            matches!(place(&[&["in"], tail].concat()), Some(None))
        }
        _ => false,
    };
    ok.then_some(Command::HowManyIn)
}

fn parse_empty(words: &[&str]) -> Option<Command> {
    // "is the office empty", "is the kitchen empty", "is it empty", "office empty".
    let rest = match words {
        ["is" | "s", rest @ ..] => rest,
        _ => words,
    };
    let [before @ .., "empty"] = rest else {
        return None;
    };
    let room = match before {
        [] | ["it"] | ["anyone", ..] => None,
        _ => place(before)?,
    };
    Some(Command::IsEmpty { room })
}

fn parse_comfort(words: &[&str]) -> Option<Command> {
    // "is it cold in the kitchen", "is it warm", "is the lobby cold", "kitchen too hot?".
    let rest = match words {
        ["is" | "s", rest @ ..] => rest,
        _ => words,
    };
    let feeling = |word: &str| {
        if COLD.contains(&word) {
            Some(true)
        } else if HOT.contains(&word) {
            Some(false)
        } else {
            None
        }
    };
    let (cold, room_words): (bool, Vec<&str>) = match rest {
        ["it", rest @ ..] => {
            let rest = match rest {
                ["too" | "very" | "really" | "a" | "bit", tail @ ..] => tail,
                _ => rest,
            };
            let rest = match rest {
                ["bit" | "little", tail @ ..] => tail,
                _ => rest,
            };
            let (word, tail) = rest.split_first()?;
            (feeling(word)?, tail.to_vec())
        }
        // Only as a question: "is the lobby cold", not any sentence ending in "cool".
        [room @ .., last] if !room.is_empty() && words.first() == Some(&"is") => {
            let room = match room {
                [room @ .., "too" | "very" | "really"] => room,
                _ => room,
            };
            (feeling(last)?, room.to_vec())
        }
        _ => return None,
    };
    let room = place(&room_words)?;
    Some(Command::Comfort {
        room,
        quantity: officemesh_sensors::Quantity::Temperature,
        low: cold,
    })
}

fn parse_last_in(words: &[&str]) -> Option<Command> {
    let person = match words {
        // "when was ada last in", "when was ada last here/seen", "when was ada in last"
        ["when", "was" | "were", name, "last", ..]
        | ["when", "was" | "were", name, "in", "last"] => name,
        // "when did you last see ada", "when did ada last come in"
        ["when", "did", "you", "last", "see", name] => name,
        ["when", "did", name, "last", ..] => name,
        // "last seen ada", "ada last seen"
        ["last", "seen", name] | [name, "last", "seen"] => name,
        _ => return None,
    };
    (!NOT_A_NAME.contains(person)).then(|| Command::LastIn {
        people: vec![(*person).to_string()],
    })
}

fn parse_is_in(words: &[&str]) -> Option<Command> {
    // "is ada in", "is ada here", "is ada in the office", "is ada at work", "ada in?".
    let rest = match words {
        ["is", rest @ ..] => rest,
        _ => words,
    };
    let (name, tail) = rest.split_first()?;
    if NOT_A_NAME.contains(name) || name.chars().any(|c| !c.is_alphanumeric() && c != '-') {
        return None;
    }
    let place_ok = match tail {
        [word] => IN_WORDS.contains(word),
        ["in" | "at", place @ ..] => {
            let place = skip_the(place);
            matches!(place, [word] if OFFICE.contains(word))
        }
        _ => false,
    };
    // A bare "ada in" only with "is" before it, or as two words.
    (place_ok && (words.first() == Some(&"is") || words.len() == 2)).then(|| Command::IsIn {
        people: vec![(*name).to_string()],
    })
}

#[cfg(test)]
mod tests {
    use crate::chat::grammar::{parse, Command};

    fn is_in(person: &str) -> Command {
        Command::IsIn {
            people: vec![person.into()],
        }
    }

    #[test]
    fn questions_parse_to_their_commands() {
        let last = |person: &str| Command::LastIn {
            people: vec![person.into()],
        };
        let comfort = |room: Option<&str>, cold| Command::Comfort {
            room: room.map(str::to_string),
            quantity: officemesh_sensors::Quantity::Temperature,
            low: cold,
        };
        let rows: Vec<(&str, Command)> = vec![
            ("is ada in?", is_in("ada")),
            ("Is Ada here?", is_in("ada")),
            ("is ada in the office", is_in("ada")),
            ("is ada at work?", is_in("ada")),
            ("ada in?", is_in("ada")),
            ("when was ada last in?", last("ada")),
            ("When was ada last here", last("ada")),
            ("when was ada last seen", last("ada")),
            ("when did you last see ada?", last("ada")),
            ("how many people are in?", Command::HowManyIn),
            ("how many people are in the office", Command::HowManyIn),
            ("How many are here?", Command::HowManyIn),
            ("how many of us are in", Command::HowManyIn),
            ("how many people", Command::HowManyIn),
            ("is the office empty?", Command::IsEmpty { room: None }),
            ("is it empty", Command::IsEmpty { room: None }),
            ("office empty?", Command::IsEmpty { room: None }),
            (
                "is the kitchen empty?",
                Command::IsEmpty {
                    room: Some("kitchen".into()),
                },
            ),
            ("what rooms are there?", Command::Rooms),
            ("which rooms do you know", Command::Rooms),
            ("rooms", Command::Rooms),
            ("list rooms", Command::Rooms),
            ("is it cold in the kitchen?", comfort(Some("kitchen"), true)),
            (
                "is it chilly in the meeting room",
                comfort(Some("meeting room"), true),
            ),
            ("is it too hot in the lobby?", comfort(Some("lobby"), false)),
            ("is it warm", comfort(None, false)),
            ("is the kitchen cold?", comfort(Some("kitchen"), true)),
            (
                "hey, is it a bit cold in the kitchen please",
                comfort(Some("kitchen"), true),
            ),
        ];
        for (text, want) in rows {
            assert_eq!(parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn existing_phrasings_keep_their_meaning() {
        assert_eq!(parse("is anyone in?"), Command::WhoIsIn { room: None });
        assert_eq!(parse("who's in"), Command::WhoIsIn { room: None });
        assert!(matches!(
            parse("how warm is it in the lobby"),
            Command::Reading { .. }
        ));
        assert!(matches!(
            parse("i am in"),
            Command::Unknown { .. } | Command::BadMac { .. }
        ));
    }

    #[test]
    fn near_misses_are_not_these_questions() {
        for text in ["that's cool", "is there coffee", "how many coffees", "in"] {
            let command = parse(text);
            assert!(
                !matches!(
                    command,
                    Command::IsIn { .. }
                        | Command::Comfort { .. }
                        | Command::HowManyIn
                        | Command::Rooms
                        | Command::IsEmpty { .. }
                ),
                "{text:?} → {command:?}"
            );
        }
    }
}
