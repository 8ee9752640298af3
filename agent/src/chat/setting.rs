//! "set meeting room temperature to 22", "set the studio target to 21 degrees", "set a humidity
//! target for the studio of 40 to 60 percent", "set the maximum temperature for the open space
//! to 24", "set a target of 45% for the lobby": the words of a target setting read into a
//! [`Command`] — the room words (before the value or after it: "… 21 degrees for the meeting
//! room"), the quantity (named, or by the value's unit: degrees, %, dB; a plain number in 5–35 is
//! a temperature, else asked), one value, a range or one bound; "set up a meeting" is refused. Part of the grammar: pure, no
//! replica (the room words are matched to the office's rooms by the understanding).

use officemesh_sensors::Quantity;

use super::grammar::{quantity_word, Command};

const USAGE: &str = "write it like: set meeting room temperature to 22";

const UNITS: &[&str] = &[
    "°c", "ºc", "°", "º", "c", "celsius", "degrees", "degree", "deg", "%", "percent", "db", "dba",
];
/// The plain numbers read as a temperature (°C) when no quantity or unit is named.
const TEMPERATURE: (f64, f64) = (5.0, 35.0);

/// "degrees", "22°c", "21c": a temperature's unit.
fn is_degrees(word: &str) -> bool {
    matches!(
        word,
        "°c" | "ºc" | "°" | "º" | "c" | "celsius" | "degrees" | "degree" | "deg"
    ) || ["°c", "ºc", "°", "º", "c"].iter().any(|unit| {
        word.strip_suffix(unit)
            .is_some_and(|n| n.parse::<f64>().is_ok())
    })
}

/// Words that may follow the value ("… to 22 degrees please").
const AFTER: &[&str] = &["please", "pls", "plz", "thanks", "thx", "now"];
/// Words around the room and quantity that name neither.
const AROUND: &[&str] = &[
    "the", "teh", "a", "an", "target", "targets", "for", "of", "to", "at", "in", "is", "->",
    "between", "from", "comfort", "value", "level", "band", "it",
];
const UPPER: &[&str] = &[
    "max", "maximum", "upper", "highest", "most", "below", "under",
];
const LOWER: &[&str] = &[
    "min", "minimum", "lower", "lowest", "least", "above", "over",
];

/// "22", "21.5", "22°c", "22c", "45%": the number, unit suffix dropped.
fn parse_number(token: &str) -> Option<f64> {
    let text = UNITS
        .iter()
        .find_map(|unit| token.strip_suffix(unit))
        .unwrap_or(token);
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// "20-23": a range in one word.
fn parse_range(token: &str) -> Option<(f64, f64)> {
    let (low, high) = token.split_once('-')?;
    Some((parse_number(low)?, parse_number(high)?))
}

fn bad(reason: impl Into<String>) -> Option<Command> {
    Some(Command::BadSet {
        reason: reason.into(),
    })
}

fn fahrenheit(word: &&str) -> bool {
    matches!(*word, "f" | "°f" | "fahrenheit")
        || (word.ends_with('f') && parse_number(word.trim_end_matches(['f', '°'])).is_some())
}

/// The value words: one number, or two joined by "to"/"and"/"-"; `Err` is the `BadSet` saying
/// what is wrong. Returns where they start and the lowest and highest value.
fn values(rest: &[&str]) -> Result<(usize, f64, f64), Command> {
    let bad = |reason: String| Command::BadSet { reason };
    let numbered = |w: &&str| parse_number(w).is_some() || parse_range(w).is_some();
    let Some(last) = rest.iter().rposition(numbered) else {
        return Err(bad(format!("I need the value to set; {USAGE}")));
    };
    let tail_ok = rest[last + 1..]
        .iter()
        .all(|w| UNITS.contains(w) || AFTER.contains(w));
    if !tail_ok {
        return Err(bad(format!(
            "I did not understand the end of that; {USAGE}"
        )));
    }
    if let Some((low, high)) = parse_range(rest[last]) {
        return Ok((last, low.min(high), low.max(high)));
    }
    let high = parse_number(rest[last]).unwrap_or_default();
    // "20 and 23", "40 to 60 percent", "20 °c to 23".
    let mut at = last;
    while at > 0 && (UNITS.contains(&rest[at - 1]) || matches!(rest[at - 1], "to" | "and" | "-")) {
        at -= 1;
    }
    match (at < last).then(|| at.checked_sub(1)).flatten() {
        Some(before) if parse_number(rest[before]).is_some() => {
            let low = parse_number(rest[before]).unwrap_or_default();
            Ok((before, low.min(high), low.max(high)))
        }
        _ => Ok((last, high, high)),
    }
}

/// Words of a booking or reminder ("set up a meeting at 3", "set a reminder"): no target.
const BOOKING: &[&str] = &[
    "up",
    "meeting",
    "meetings",
    "call",
    "appointment",
    "reminder",
    "alarm",
    "timer",
    "event",
];

/// "… to 21 degrees for the meeting room": the room words after the value, moved before it
/// (`None` when nothing follows the value but its unit).
fn room_after_value<'a>(rest: &[&'a str]) -> Option<Vec<&'a str>> {
    let numbered = |w: &&str| parse_number(w).is_some() || parse_range(w).is_some();
    let last = rest.iter().rposition(numbered)?;
    let mut at = last + 1;
    while at < rest.len() && UNITS.contains(&rest[at]) {
        at += 1;
    }
    let (place, value) = (rest.get(at..)?, &rest[..at]);
    let [preposition, room @ ..] = place else {
        return None;
    };
    let room: Vec<&str> = room
        .iter()
        .copied()
        .filter(|w| !AFTER.contains(w))
        .collect();
    if !matches!(*preposition, "for" | "in" | "at" | "of") || room.iter().any(numbered) {
        return None;
    }
    let mut words = room;
    words.extend_from_slice(value);
    Some(words)
}

/// The quantity a value's unit names: "%" humidity, "dB" sound, else none.
fn unit_quantity(words: &[&str]) -> Option<Quantity> {
    words.iter().find_map(|w| {
        if *w == "%" || *w == "percent" || (w.ends_with('%') && parse_number(w).is_some()) {
            Some(Quantity::Humidity)
        } else if matches!(*w, "db" | "dba") || (w.ends_with("db") && parse_number(w).is_some()) {
            Some(Quantity::Sound)
        } else {
            None
        }
    })
}

/// "set up a meeting at 3", "set a reminder", but not "set meeting room temp to 22".
fn booking(rest: &[&str]) -> bool {
    let booked = rest.iter().enumerate().any(|(at, w)| {
        BOOKING.contains(w) && !matches!(rest.get(at + 1), Some(&("room" | "rm" | "rooms")))
    });
    (booked && rest.first() != Some(&"meeting")) || rest.first() == Some(&"up")
}

/// The quantity set: named before the value, by the value's unit, or a temperature for a plain
/// number that can be one ("set target 20.5 for the kitchen"); else `Err` asks which.
fn quantity_of(
    head: &[&str],
    value: &[&str],
    (low, high): (f64, f64),
) -> Result<Quantity, Command> {
    let named = head
        .iter()
        .find_map(|w| quantity_word(w))
        .or_else(|| unit_quantity(value));
    let degrees = (TEMPERATURE.0..=TEMPERATURE.1).contains(&low)
        && (TEMPERATURE.0..=TEMPERATURE.1).contains(&high);
    match named {
        Some(quantity) => Ok(quantity),
        None if degrees || value.iter().any(|w| is_degrees(w)) => Ok(Quantity::Temperature),
        None => Err(Command::BadSet {
            reason: format!(
                "is {high} a temperature (°C), a humidity (%) or a sound level (dB)? Say which, like: set lobby humidity to {high}"
            ),
        }),
    }
}

/// Parses "set …" (or "change …") words.
pub(super) fn parse_set(words: &[&str]) -> Option<Command> {
    let (verb, rest) = words.split_first()?;
    if !matches!(*verb, "set" | "change") {
        return None;
    }
    if booking(rest) {
        return bad("I set comfort targets, I can't book meetings or set reminders; a target is written like: set meeting room temperature to 22");
    }
    if rest.iter().any(fahrenheit) {
        return bad("targets are in °C (for temperature), % or dB");
    }
    let moved = room_after_value(rest);
    let rest: &[&str] = moved.as_deref().unwrap_or(rest);
    let (start, low, high) = match values(rest) {
        Ok(found) => found,
        Err(refusal) => return Some(refusal),
    };
    let head = &rest[..start];
    let upper = head.iter().any(|w| UPPER.contains(w));
    let lower = head.iter().any(|w| LOWER.contains(w));
    let quantity = match quantity_of(head, &rest[start..], (low, high)) {
        Ok(quantity) => quantity,
        Err(refusal) => return Some(refusal),
    };
    let room: Vec<&str> = head
        .iter()
        .filter(|w| quantity_word(w).is_none() && !AROUND.contains(w))
        .filter(|w| !UPPER.contains(w) && !LOWER.contains(w))
        .copied()
        .collect();
    if room.is_empty() {
        return bad(format!("which room? {USAGE}"));
    }
    let room = room.join(" ");
    Some(match (low < high, upper, lower) {
        (false, false, false) => Command::SetTarget {
            room,
            quantity,
            value: high,
        },
        (true, _, _) => Command::SetRange {
            room,
            quantity,
            low: Some(low),
            high: Some(high),
        },
        (false, upper, _) => Command::SetRange {
            room,
            quantity,
            low: (!upper).then_some(low),
            high: upper.then_some(high),
        },
    })
}
