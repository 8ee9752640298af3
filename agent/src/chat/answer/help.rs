//! "help" (every command with an example), the answer to anything the bot does not understand
//! (the two or three closest things it can do, [`closest`]), and the brief replies to thanks
//! and greetings. Reads nothing: these replies are the same on every node.

use super::Plan;
use crate::chat::grammar::edit_distance;

/// The one-line help for when nothing is close to what was asked.
pub const SHORT_HELP: &str = "Try: \"who's in?\", \"is it warm in here?\", \"which room is coldest?\" or \"help\" for everything I can do.";

/// Every command: (example, what it does, words that point to it).
const COMMANDS: &[(&str, &str, &[&str])] = &[
    (
        "who's in?",
        "who is at the office now",
        &["who", "office", "anyone", "people", "here"],
    ),
    (
        "is ada in? / where's ada?",
        "whether one person is in, and which Pis see them",
        &["where", "person", "whereabouts"],
    ),
    (
        "when did ada get in today?",
        "when someone arrived (also \"has ada left?\", \"when was ada last in?\")",
        &[
            "when", "arrive", "arrived", "get", "came", "left", "leave", "last", "seen",
        ],
    ),
    (
        "who was in yesterday?",
        "attendance on a day, \"this week\", \"last monday\" or \"since 9\" (also \"was bob in on friday?\")",
        &[
            "was",
            "yesterday",
            "week",
            "monday",
            "attendance",
            "history",
        ],
    ),
    (
        "how many are in?",
        "how many people are in",
        &["how", "many", "count", "headcount", "number"],
    ),
    (
        "meeting room temp",
        "the latest readings of one room, or \"temp + humidity in all rooms\" (also noise)",
        &[
            "temp",
            "temperature",
            "humidity",
            "noise",
            "sound",
            "reading",
            "readings",
        ],
    ),
    (
        "which room is coldest?",
        "the extreme room (warmest, coldest, loudest, quietest, driest); \"is the kitchen louder than the lobby?\" compares",
        &["which", "coldest", "warmest", "loudest", "quietest", "room"],
    ),
    (
        "is it warm in here?",
        "a room against its target or a comfortable range (cold, warm enough, loud, humid; \"is the studio comfortable?\" for every reading)",
        &[
            "warm",
            "cold",
            "hot",
            "loud",
            "quiet",
            "humid",
            "comfortable",
        ],
    ),
    (
        "is the office empty?",
        "whether anyone is in (also \"how busy is it?\", \"is the kitchen packed?\")",
        &["empty", "nobody", "busy", "packed", "crowded", "full"],
    ),
    (
        "any alerts?",
        "the raised alerts",
        &["alert", "alerts", "alarm", "warning"],
    ),
    (
        "what rooms are there?",
        "the rooms I know and their Pis",
        &["rooms", "list"],
    ),
    (
        "status",
        "the mesh: which Pis are up, which I cannot reach, failed sensors",
        &["status", "mesh", "nodes", "sensors", "health", "pi"],
    ),
    (
        "set meeting room temperature to 22",
        "a room's target (or \"set a target of 45% for the lobby\", \"between 20 and 23\", \"the maximum … to 24\"); I alert when the room stays outside it; \"what targets are set?\" lists them",
        &["set", "target", "change", "put"],
    ),
    (
        "remove the kitchen target",
        "delete a room's target (and clear its alert)",
        &["remove", "delete", "target", "unset"],
    ),
    (
        "i am aa:bb:cc:dd:ee:ff",
        "this device (your phone's Wi-Fi MAC) is yours: I send you a private claim link",
        &["register", "mac", "phone", "device", "claim"],
    ),
    (
        "my devices",
        "your registered devices (privately), and how to forget one",
        &["my", "devices", "mine"],
    ),
    (
        "forget me",
        "remove all your devices (or \"forget aa:bb:cc:dd:ee:ff\" for one)",
        &["forget", "unregister"],
    ),
    (
        "what do you store about me?",
        "what is kept about people, where and for how long",
        &["privacy", "store", "data", "keep"],
    ),
];

/// "help": every command, one line each.
pub(super) fn help() -> Plan {
    let lines: Vec<String> = COMMANDS
        .iter()
        .map(|(example, what, _)| format!("• {example} — {what}"))
        .chain(["• help — this list".to_string()])
        .collect();
    Plan::say(format!(
        "I answer from the office mesh (write naturally; typos are fine):\n{}",
        lines.join("\n")
    ))
}

/// Anything not understood: the text (cut to 80 characters) and the closest commands.
pub(super) fn unknown(text: &str) -> Plan {
    let close = closest(text);
    let shown: String = text.chars().take(80).collect();
    if close.is_empty() {
        return Plan::say(format!(
            "Sorry, I didn't understand \"{shown}\". {SHORT_HELP}"
        ));
    }
    let examples: Vec<String> = close.iter().map(|e| format!("\"{e}\"")).collect();
    Plan::say(format!(
        "Sorry, I didn't understand \"{shown}\". Closest things I can do: {}; \"help\" lists everything.",
        examples.join(", ")
    ))
}

/// The examples of the (at most three) commands whose words are closest to `text`'s.
pub(super) fn closest(text: &str) -> Vec<&'static str> {
    let words = crate::chat::grammar::words(text);
    let near = |word: &str, key: &str| {
        (word == key && word.len() >= 3)
            || (key.len() >= 4 && word.len() >= 4 && edit_distance(word, key) <= 1)
    };
    let mut scored: Vec<(usize, usize, &'static str)> = COMMANDS
        .iter()
        .enumerate()
        .map(|(order, (example, _, keys))| {
            let score = words
                .iter()
                .filter(|w| keys.iter().any(|k| near(w, k)))
                .count();
            (score, order, *example)
        })
        .filter(|(score, _, _)| *score > 0)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(3).map(|(_, _, e)| e).collect()
}

/// "thanks".
pub(super) fn thanks() -> Plan {
    Plan::say("You're welcome!")
}

/// "what do you store about me?": what is kept about people, where and for how long (the
/// table in docs/sensors.md, "Privacy"), with this office's attendance setting.
pub(super) fn privacy(history_days: u32) -> String {
    let history = match history_days {
        0 => "Attendance history is off here: I keep no record of past days.".to_string(),
        days => format!(
            "Attendance history is on here: your first and last sighting of each day, for {days} \
             days."
        ),
    };
    format!(
        "About people I keep: the name and the phone MAC each person registered, on every Pi, and \
         when each registered device was last seen on the office network. {history} Devices \
         nobody registered stay in the memory of the Pi that saw them for 24 h; only how many \
         there are is shared. \"forget me\" removes your devices everywhere (a record of the \
         deletion stays up to 63 days so no Pi brings them back). Details: docs/sensors.md, \
         \"Privacy\"."
    )
}

/// "hi", "how are you?".
pub(super) fn greeting() -> Plan {
    Plan::say("Hi! Ask me \"who's in?\", \"is it warm in here?\" or \"help\".")
}
