//! The chat grammar: one message of text in, one [`Command`] out, shared by every adapter (HTTP,
//! Slack, Mattermost). Pure: no replica, no clock, no I/O.
//!
//! It parses words, it never searches for substrings: the text is lower-cased, apostrophes of
//! every kind are dropped (`who's`, `who’s`, `who`s` and `whos` are one word), punctuation
//! around words and emoji are dropped. The fixed phrasings here (and every command that writes)
//! come first; any other question goes to `understand` (entities first, then the intent). Keywords of five
//! letters or more also match with one typo (two for long ones, `temprature`). Anything that is
//! no command becomes [`Command::Unknown`], which is answered with a short help, never silence.

use officemesh_sensors::{MacAddr, Quantity};

pub use super::lexicon::{edit_distance, When};

/// What a chat message asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// "who's at the office?". `room` is set when one room was named ("who's in the kitchen").
    WhoIsIn { room: Option<String> },
    /// "i am aa:bb:cc:dd:ee:ff": this device is mine.
    Register { mac: MacAddr },
    /// The user clearly gave a MAC address, but it is not a usable one.
    BadMac { text: String, reason: String },
    /// "forget me": remove every device of mine.
    ForgetMe,
    /// "forget aa:bb:cc:dd:ee:ff": remove one device of mine.
    Forget { mac: MacAddr },
    /// "meeting room temp": the latest readings; `room` `None` means every room.
    Reading {
        room: Option<String>,
        quantity: Quantity,
    },
    /// "temp + humidity for all rooms": several quantities at once (`room` `None`: every room).
    Readings {
        room: Option<String>,
        quantities: Vec<Quantity>,
    },
    /// "set meeting room temperature to 22".
    SetTarget {
        room: String,
        quantity: Quantity,
        value: f64,
    },
    /// "set … to between 20 and 23", "set the maximum … to 24": a band, or one end of it (the
    /// other end kept from the room's tolerance).
    SetRange {
        room: String,
        quantity: Quantity,
        low: Option<f64>,
        high: Option<f64>,
    },
    /// A "set …" that misses something; `reason` says what and how to write it.
    BadSet { reason: String },
    /// "is ada in?": whether each registered person named is in now ("is ada or bob in?": one
    /// line each).
    IsIn { people: Vec<String> },
    /// "when was ada last in?": from the opt-in attendance history.
    LastIn { people: Vec<String> },
    /// "how many people are in?".
    HowManyIn,
    /// "status": the mesh's health.
    Status,
    /// "help".
    Help,
    /// "is the office empty?" (`room` set for one room).
    IsEmpty { room: Option<String> },
    /// "what rooms are there?"
    Rooms,
    /// "is it cold in the kitchen?", "is it too loud in here": a room (`None`: every room, or
    /// "here" for the bot's own room) against its target; `low` for the low end (cold, quiet,
    /// dry, "warm enough").
    Comfort {
        room: Option<String>,
        quantity: Quantity,
        low: bool,
    },
    /// "when did ada get in today?" (first seen that day, from the attendance history).
    Arrived { people: Vec<String>, when: When },
    /// "has bob left?", "when did bob leave yesterday?".
    Left { people: Vec<String>, when: When },
    /// "who was in yesterday?", "who was in this week?", "who's been in since 9?"; several
    /// days compared ("monday vs wednesday") are answered one line each.
    WhoWasIn { days: Vec<When> },
    /// "which room is coldest?", "loudest room" (`highest` false for coldest/quietest/driest).
    Extreme { quantity: Quantity, highest: bool },
    /// "average humidity this week", "temp since morning": readings over time (chat has only
    /// the latest; the answer says so and where the history is).
    Trend {
        room: Option<String>,
        quantity: Quantity,
    },
    /// "was bob in yesterday?", "did ada come in this week?" (attendance history); "were ada and
    /// bob in yesterday?", "was ada in monday or tuesday?" name several, answered one line each.
    WasIn {
        people: Vec<String>,
        days: Vec<When>,
    },
    /// "is open space louder than the lobby?", "kitchen vs studio temp".
    Compare {
        rooms: Vec<String>,
        quantity: Quantity,
    },
    /// "what targets are set?" (`room` set for one room).
    Targets { room: Option<String> },
    /// "is the meeting room comfortable?", "are all rooms within their targets?", "studio and
    /// kitchen comfort check": every quantity of the rooms named (none: every room) against
    /// their targets or a comfortable range.
    Comfortable { rooms: Vec<String> },
    /// "any alerts?".
    Alerts,
    /// "thanks".
    Thanks,
    /// "what do you store about me?": what the bot keeps about people, where and how long.
    Privacy,
    /// "hi", "how are you?".
    Greeting,
    /// "my devices": the asker's registered devices (privately).
    MyDevices,
    /// "remove the kitchen target", "delete the lab temperature target".
    RemoveTarget { room: String, quantity: Quantity },
    /// A message to be understood knowing the office's people and rooms: what [`crate::chat::parse`]
    /// gives every adapter; the answer understands it with the replica ([`parse_in`]).
    Ask { text: String },
    /// Anything else (the original text, trimmed).
    Unknown { text: String },
}

/// Parses one chat message without knowing the office's people and rooms (see [`parse_in`]).
pub fn parse(text: &str) -> Command {
    parse_in(text, &super::understand::Lexicon::default())
}

/// Parses one chat message knowing the office's people and rooms (`lexicon`).
pub fn parse_in(text: &str, lexicon: &super::understand::Lexicon) -> Command {
    super::with_office::parse_in(text, lexicon)
}

/// The fixed phrasings (and the commands that write), before the understanding of questions.
pub(super) fn parse_strict(words: &[&str]) -> Option<Command> {
    parse_help(words)
        .or_else(|| parse_privacy(words))
        .or_else(|| parse_status(words))
        .or_else(|| parse_who(words))
        .or_else(|| super::questions::parse_question(words))
        .or_else(|| parse_register(words))
        .or_else(|| parse_forget(words))
        .or_else(|| super::setting::parse_set(words))
        .or_else(|| parse_reading(words))
}

/// Lower-cased words without apostrophes and surrounding punctuation; chat mentions
/// (`@bot`, Slack's `<@U123>`) dropped; `21,5` read as `21.5`.
pub fn words(text: &str) -> Vec<String> {
    // "ada & bob", as Slack escapes it too: "ada and bob".
    let lowered = text.to_lowercase().replace("&amp;", "&");
    let chars: Vec<char> = lowered.chars().collect();
    let mut cleaned = String::with_capacity(lowered.len());
    for (index, &c) in chars.iter().enumerate() {
        match c {
            '\'' | '’' | '‘' | '`' | '´' | 'ʼ' | '′' => {}
            ',' if index > 0
                && chars[index - 1].is_ascii_digit()
                && chars.get(index + 1).is_some_and(char::is_ascii_digit) =>
            {
                cleaned.push('.')
            }
            ',' | '?' | '!' | ';' | '"' | '“' | '”' | '=' | '(' | ')' | '[' | ']' | '*' | '/' => {
                cleaned.push(' ')
            }
            '&' => cleaned.push_str(" and "),
            // Emoji, arrows and other symbols: a space.
            _ if !c.is_alphanumeric() && u32::from(c) >= 0x2190 => cleaned.push(' '),
            _ => cleaned.push(c),
        }
    }
    cleaned
        .split_whitespace()
        .filter(|word| !word.starts_with('@') && !word.starts_with("<@"))
        .map(|word| {
            word.trim_matches(|c: char| matches!(c, '.' | ':' | '_' | '~' | '<' | '>'))
                .to_string()
        })
        .filter(|word| !word.is_empty())
        .collect()
}

const LEADING_FILLERS: &[&str] = &[
    "hey",
    "hi",
    "hello",
    "yo",
    "ok",
    "okay",
    "so",
    "please",
    "pls",
    "plz",
    "bot",
    "officemesh",
    "um",
    "uhm",
    "hmm",
];
const TRAILING_FILLERS: &[&str] = &[
    "please",
    "pls",
    "plz",
    "thanks",
    "thx",
    "ty",
    "now",
    "today",
    "rn",
    "atm",
    "currently",
    "right",
];

pub(super) fn strip_fillers(words: &[String]) -> Vec<String> {
    let mut start = 0;
    while start < words.len() && LEADING_FILLERS.contains(&words[start].as_str()) {
        start += 1;
    }
    let mut end = words.len();
    while end > start && TRAILING_FILLERS.contains(&words[end - 1].as_str()) {
        end -= 1;
    }
    words[start..end].to_vec()
}

/// `word` is `keyword`, or close enough to be a typo of it (only for keywords of 5+ letters).
fn is(word: &str, keyword: &str) -> bool {
    if word == keyword {
        return true;
    }
    let allowed = match keyword.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    };
    allowed > 0 && edit_distance(word, keyword) <= allowed
}

fn is_any(word: &str, keywords: &[&str]) -> bool {
    keywords.iter().any(|keyword| is(word, keyword))
}

fn is_the(word: &str) -> bool {
    matches!(word, "the" | "teh" | "hte" | "th" | "thr" | "tge")
}

/// The quantity a word names, typos included.
pub(super) fn quantity_word(word: &str) -> Option<Quantity> {
    match word {
        "temp" | "temps" | "tmp" | "tmep" | "temo" => Some(Quantity::Temperature),
        "hum" => Some(Quantity::Humidity),
        "db" | "dba" => Some(Quantity::Sound),
        _ if is_any(word, &["temperature", "temperatures"]) => Some(Quantity::Temperature),
        _ if is_any(word, &["humidity", "moisture"]) => Some(Quantity::Humidity),
        _ if is_any(word, &["sound", "noise", "loudness"]) => Some(Quantity::Sound),
        _ => None,
    }
}

fn parse_help(words: &[&str]) -> Option<Command> {
    let help = match words {
        [] => true,
        [word] => is_any(word, &["help", "commands", "usage"]) || *word == "hlep",
        ["what", "can", "you", "do"] | ["what", "can", "i", "ask"] | ["show", "help"] => true,
        _ => false,
    };
    help.then_some(Command::Help)
}

/// "what data do you store about me?", "privacy?", "how long do you keep my mac": a question
/// about what is kept, not a request to change it (no "forget", no MAC address).
fn parse_privacy(words: &[&str]) -> Option<Command> {
    let has = |list: &[&str]| words.iter().any(|w| list.contains(w));
    if has(&[
        "forget",
        "forgt",
        "unregister",
        "remove",
        "delete",
        "register",
    ]) || words.iter().any(|w| w.parse::<MacAddr>().is_ok())
    {
        return None;
    }
    let privacy_word = has(&["privacy", "gdpr", "personal"]);
    let keeping = has(&[
        "store",
        "stored",
        "storing",
        "keep",
        "kept",
        "collect",
        "collected",
    ]) || (has(&["data", "info", "information"]) && has(&["have", "hold", "know"]));
    let about_people = has(&["me", "my", "us", "our", "people", "data", "information"]);
    (privacy_word || (keeping && about_people)).then_some(Command::Privacy)
}

fn parse_status(words: &[&str]) -> Option<Command> {
    let status = match words {
        [word] => is_any(word, &["status", "health", "nodes"]) || *word == "mesh",
        ["mesh", word] | ["cluster", word] => is_any(word, &["status", "health"]),
        ["how", "is", the, "mesh"] | ["hows", the, "mesh"] => is_the(the),
        ["how", "is", "the", "mesh", "doing"] => true,
        _ => false,
    };
    status.then_some(Command::Status)
}

const WHO: &[&str] = &[
    "who", "whos", "whose", "hwo", "hwos", "woh", "whoe", "whois", "who’s",
];
const SOMEONE: &[&str] = &[
    "anyone", "anybody", "someone", "somebody", "any1", "ppl", "people",
];

fn parse_who(words: &[&str]) -> Option<Command> {
    let (first, rest) = words.split_first()?;
    if WHO.contains(first) {
        let rest = match rest {
            ["is" | "are" | "s" | "all" | "else", tail @ ..] => tail,
            _ => rest,
        };
        return location(rest).map(|room| Command::WhoIsIn { room });
    }
    if *first == "presence" && rest.is_empty() {
        return Some(Command::WhoIsIn { room: None });
    }
    // "is anyone in", "is there anybody here", "anyone at the office", "any one in".
    let mut rest = words;
    if let ["is" | "are", tail @ ..] = rest {
        rest = tail;
    }
    if let ["there", tail @ ..] = rest {
        rest = tail;
    }
    let rest = match rest {
        ["any", "one" | "body", tail @ ..] | ["some", "one" | "body", tail @ ..] => tail,
        [word, tail @ ..] if is_any(word, SOMEONE) || SOMEONE.contains(word) => tail,
        _ => return None,
    };
    location(rest).map(|room| Command::WhoIsIn { room })
}

/// Where "who is …" asks about: `Some(None)` for the whole office, `Some(Some(room))` for one
/// room, `None` when the words are no place.
fn location(words: &[&str]) -> Option<Option<String>> {
    match words {
        [] => Some(None),
        ["here" | "around" | "there" | "inside" | "present" | "about" | "onsite" | "in"] => {
            Some(None)
        }
        ["here" | "around" | "there" | "present", tail @ ..] => location(tail),
        ["on", "site"] => Some(None),
        ["in" | "at" | "on" | "inside", tail @ ..] => {
            let place = match tail {
                [the, place @ ..] if is_the(the) => place,
                _ => tail,
            };
            match place {
                [] => Some(None),
                [word] if is_any(word, &["office", "work", "building", "place", "hq"]) => {
                    Some(None)
                }
                ["the", ..] => None,
                _ => Some(Some(place.join(" "))),
            }
        }
        _ => None,
    }
}

/// Words that may name what follows ("this is my mac …", "my phone's mac address is …").
const DEVICE_WORDS: &[&str] = &[
    "mac", "macs", "address", "addr", "device", "phone", "phones", "laptop", "laptops", "wifi",
    "wi-fi", "is", "my", "a", "the", "of",
];

pub(super) fn parse_register(words: &[&str]) -> Option<Command> {
    // Prefixes after which the rest must be a MAC ("sure"), and "i am …" after which a non-MAC
    // is just not this command ("i am hungry").
    let (rest, sure) = match words {
        ["i", "am", rest @ ..] | ["im", rest @ ..] | ["i", "m", rest @ ..] | ["iam", rest @ ..] => {
            (rest, false)
        }
        ["this", "is", "my", rest @ ..] | ["thats", "my", rest @ ..] => (rest, true),
        ["my", rest @ ..] if rest.first().is_some_and(|w| DEVICE_WORDS.contains(w)) => (rest, true),
        [register, rest @ ..] if is_any(register, &["register", "add"]) => (rest, true),
        _ => return None,
    };
    let mut rest = rest;
    while let [word, tail @ ..] = rest {
        if tail.is_empty() || !DEVICE_WORDS.contains(word) {
            break;
        }
        rest = tail;
    }
    match rest {
        _ if sure && rest.iter().all(|word| DEVICE_WORDS.contains(word)) => Some(Command::BadMac {
            text: String::new(),
            reason: "the MAC address is missing".into(),
        }),
        // "my mac is banana" is a bad MAC, "my phone is broken" is no MAC at all.
        [token] if looks_like_mac(token) || (sure && meant_as_mac(words, token)) => {
            Some(mac_command(token, |mac| Command::Register { mac }))
        }
        [first, ..]
            if rest.iter().all(|w| looks_like_mac(w)) || (sure && looks_like_mac(first)) =>
        {
            Some(Command::BadMac {
                text: rest.join(" "),
                reason: "give one MAC address per message".into(),
            })
        }
        _ => None,
    }
}

/// `token` is meant as a MAC: it has digits or separators, or the words name a MAC address.
fn meant_as_mac(words: &[&str], token: &str) -> bool {
    token.contains(|c: char| c.is_ascii_digit() || c == ':' || c == '-')
        || words
            .iter()
            .any(|w| matches!(*w, "mac" | "macs" | "address" | "addr"))
}

pub(super) fn parse_forget(words: &[&str]) -> Option<Command> {
    let (verb, rest) = words.split_first()?;
    if !is_any(verb, &["forget", "unregister", "remove", "delete"]) && *verb != "forgt" {
        return None;
    }
    let rest = match rest {
        ["about", tail @ ..] => tail,
        _ => rest,
    };
    match rest {
        // "forget me pls, new phone": what follows "me" is a reason, not a device.
        ["me", ..] | ["all", "of", "me", ..] => Some(Command::ForgetMe),
        ["my", tail @ ..] | ["all", "my", tail @ ..]
            if tail.iter().all(|w| DEVICE_WORDS.contains(w)) =>
        {
            Some(Command::ForgetMe)
        }
        _ => {
            let mut rest = rest;
            while let [word, tail @ ..] = rest {
                if tail.is_empty() || !DEVICE_WORDS.contains(word) {
                    break;
                }
                rest = tail;
            }
            match rest {
                [token] if looks_like_mac(token) => {
                    Some(mac_command(token, |mac| Command::Forget { mac }))
                }
                _ => None,
            }
        }
    }
}

/// Meant as a MAC address: hex digits and separators only with at least six hex digits, or
/// three or more short groups joined by `:`/`-` (`aa:bb:cc:dd:ee:zz`, a typo'd MAC).
pub(super) fn looks_like_mac(token: &str) -> bool {
    let hex_and_separators = token
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-' | '.'))
        && token.chars().filter(char::is_ascii_hexdigit).count() >= 6;
    let groups: Vec<&str> = token.split([':', '-']).collect();
    let grouped = groups.len() >= 3
        && groups.iter().all(|group| {
            (1..=2).contains(&group.len()) && group.chars().all(|c| c.is_ascii_alphanumeric())
        });
    hex_and_separators || grouped
}

/// Parses a MAC (`aa:bb:…`, `aa-bb-…`, `aabb.ccdd.eeff`, `aabbccddeeff`) into a command, or a
/// `BadMac` that says what is wrong.
pub(super) fn mac_command(token: &str, make: impl FnOnce(MacAddr) -> Command) -> Command {
    let hex_only: String = token.chars().filter(char::is_ascii_hexdigit).collect();
    // `aabbccddeeff` and Cisco-style `aabb.ccdd.eeff`: add the colons.
    let candidate = if !token.contains([':', '-']) && hex_only.len() == 12 {
        hex_only
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).into_owned())
            .collect::<Vec<_>>()
            .join(":")
    } else {
        token.to_string()
    };
    match candidate.parse::<MacAddr>() {
        Ok(mac) if mac.is_multicast() => Command::BadMac {
            text: token.to_string(),
            reason: "it is a multicast address, not a device".into(),
        },
        Ok(mac) if mac.0 == [0; 6] || mac.0 == [0xff; 6] => Command::BadMac {
            text: token.to_string(),
            reason: "it is not the address of a real device".into(),
        },
        Ok(mac) => make(mac),
        Err(_) => Command::BadMac {
            text: token.to_string(),
            reason: "a MAC address is six pairs of hex digits".into(),
        },
    }
}

const QUESTION_WORDS: &[&str] = &[
    "what", "whats", "what’s", "is", "the", "tell", "me", "show", "current", "give", "get", "how",
    "hows", "check", "latest", "it", "its",
];

fn parse_reading(words: &[&str]) -> Option<Command> {
    // "how warm is it in the lobby", "how loud is the kitchen".
    if let ["how" | "hows", adjective, rest @ ..] = words {
        let quantity = match *adjective {
            "warm" | "hot" | "cold" | "cool" | "chilly" => Some(Quantity::Temperature),
            "loud" | "noisy" | "quiet" => Some(Quantity::Sound),
            "humid" | "dry" | "damp" => Some(Quantity::Humidity),
            _ => None,
        };
        if let Some(quantity) = quantity {
            let mut rest = rest;
            while let [word, tail @ ..] = rest {
                if matches!(*word, "is" | "it" | "in" | "at" | "are" | "things") || is_the(word) {
                    rest = tail;
                } else {
                    break;
                }
            }
            return Some(Command::Reading {
                room: (!rest.is_empty()).then(|| rest.join(" ")),
                quantity,
            });
        }
    }
    let at = words
        .iter()
        .rposition(|word| quantity_word(word).is_some())?;
    let quantity = quantity_word(words[at])?;
    let mut before = &words[..at];
    let mut after = &words[at + 1..];
    if let ["level" | "levels" | "reading" | "readings" | "like", tail @ ..] = after {
        after = tail;
    }
    while let [word, tail @ ..] = before {
        if QUESTION_WORDS.contains(word) || is_the(word) {
            before = tail;
        } else {
            break;
        }
    }
    let room_words: &[&str] = match (before, after) {
        (room, []) => room,
        // "temperature in the meeting room", "temp of lobby", "temp lobby".
        ([], ["in" | "at" | "of" | "for" | "inside", place @ ..]) => match place {
            [the, place @ ..] if is_the(the) => place,
            _ => place,
        },
        ([], place) if !matches!(place.first(), Some(&("is" | "was" | "too" | "seems"))) => place,
        _ => return None,
    };
    let room_words = match room_words {
        [room @ .., "is" | "like"] => room,
        _ => room_words,
    };
    Some(Command::Reading {
        room: (!room_words.is_empty()).then(|| room_words.join(" ")),
        quantity,
    })
}

#[cfg(test)]
#[path = "grammar_tests.rs"]
mod tests;
