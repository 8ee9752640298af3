//! The intent of a question, picked from what it names (the [`Facts`] `understand` found:
//! people, rooms, quantities, feelings, comparisons, time words, keywords): who is in, how busy,
//! one person's presence and history, readings (of several quantities at once), extremes,
//! comparisons, comfort, targets (listed, or every room judged against them), alerts, status. Pure: facts in, [`Command`] out; no replica.

use officemesh_sensors::Quantity;

use super::grammar::Command;
use super::lexicon::{self, Tag, When};
use super::understand::{early_from, Facts};

/// The intent, from what the question names.
pub(super) fn pick(facts: &Facts, words: &[&str]) -> Option<Command> {
    if let Some(command) = early_from(facts, words).or_else(|| facts.thanked()) {
        return Some(command);
    }
    if facts.has(Tag::Help) {
        return Some(Command::Help);
    }
    if facts.has(Tag::Alerts) {
        return Some(Command::Alerts);
    }
    if let Some(command) = targets(facts, words)
        .or_else(|| comfort_check(facts))
        .or_else(|| compare(facts))
        .or_else(|| extreme(facts))
        .or_else(|| busy(facts))
        .or_else(|| how_many(facts))
        .or_else(|| personal(facts))
        .or_else(|| who_was_in(facts))
    {
        return Some(command);
    }
    pick_room_or_rest(facts, words)
}

fn pick_room_or_rest(facts: &Facts, words: &[&str]) -> Option<Command> {
    if facts.has(Tag::Status) {
        return Some(Command::Status);
    }
    if facts.has(Tag::Empty) {
        return Some(Command::IsEmpty { room: facts.room() });
    }
    if facts.has(Tag::Within) && facts.feeling.is_none() {
        return Some(Command::Comfortable {
            rooms: facts.rooms(),
        });
    }
    if let Some(command) = feeling(facts).or_else(|| quantity(facts, words)) {
        return Some(command);
    }
    if facts.has(Tag::Room) && (facts.has(Tag::Which) || facts.runs.is_empty()) {
        return Some(Command::Rooms);
    }
    let somewhere = facts.has(Tag::In) || facts.has(Tag::Here) || facts.has(Tag::Arrive);
    if facts.has(Tag::Who) && (facts.runs.is_empty() || somewhere) {
        return Some(Command::WhoIsIn { room: None });
    }
    if facts.has(Tag::Set) && facts.number {
        return set(words);
    }
    if let Some(command) = facts.courtesy() {
        return Some(command);
    }
    match (&facts.person, &facts.place) {
        (Some(_), _) if facts.runs.is_empty() => Some(Command::IsIn {
            people: facts.named(),
        }),
        (None, Some(room)) if facts.runs.is_empty() && !about_me(words) => Some(Command::Reading {
            room: Some(room.clone()),
            quantity: Quantity::Temperature,
        }),
        _ => None,
    }
}

/// "i am in the kitchen", "im in the lobby": a remark about oneself, not a question.
fn about_me(words: &[&str]) -> bool {
    matches!(words, ["i", "am", ..] | ["im" | "iam", ..])
}

/// "is it cold in the kitchen?", "how warm is the lobby", "kitchen warm enough?".
fn feeling(facts: &Facts) -> Option<Command> {
    let (quantity, high) = facts.feeling?;
    // A feeling word alone is a remark ("that's cool"), not a question.
    let asked = facts.question
        || facts.room().is_some()
        || facts.has(Tag::Too)
        || facts.has(Tag::Enough)
        || facts.has(Tag::How);
    if !asked {
        return None;
    }
    if facts.has(Tag::How) {
        return Some(Command::Reading {
            room: facts.room(),
            quantity,
        });
    }
    // "warm enough" asks whether it is too cold.
    let low = if facts.has(Tag::Enough) { high } else { !high };
    Some(Command::Comfort {
        room: facts.room(),
        quantity,
        low,
    })
}

/// "kitchen humidity", "is the temperature too high?", "set lab temp 21".
fn quantity(facts: &Facts, words: &[&str]) -> Option<Command> {
    let quantity = facts.quantity?;
    if facts.has(Tag::Set) && facts.number {
        return set(words);
    }
    if facts.has(Tag::Trend) {
        let room = facts.room();
        return Some(Command::Trend { room, quantity });
    }
    if facts.quantities.len() > 1 {
        return Some(Command::Readings {
            room: facts.room(),
            quantities: facts.quantities.clone(),
        });
    }
    let end = words.iter().find_map(|w| match *w {
        "high" | "higher" => Some(false),
        "low" | "lower" => Some(true),
        _ => None,
    });
    Some(match end {
        Some(low) => Command::Comfort {
            room: facts.room(),
            quantity,
            low,
        },
        None => Command::Reading {
            room: facts.room(),
            quantity,
        },
    })
}

/// "put the target of … at 22": the set command from its verb on.
fn set(words: &[&str]) -> Option<Command> {
    let at = words.iter().position(|w| lexicon::single(w) == Tag::Set)?;
    let mut rest: Vec<&str> = words[at..].to_vec();
    rest[0] = "set";
    super::setting::parse_set(&rest)
}

/// "what targets are set?", "comfort targets for the kitchen"; "how are we doing vs the
/// targets?", "are we meeting our targets" judge every room against them.
fn targets(facts: &Facts, words: &[&str]) -> Option<Command> {
    let setting = facts.has(Tag::Set) && facts.number;
    let listing = facts.has(Tag::Target) && !facts.has(Tag::Remove) && !facts.has(Tag::Within);
    if !listing || setting {
        return None;
    }
    let room = facts.place.clone();
    let judged = facts.has(Tag::How)
        || words.iter().any(|w| {
            matches!(
                *w,
                "vs" | "versus"
                    | "against"
                    | "compared"
                    | "doing"
                    | "meet"
                    | "meeting"
                    | "hitting"
                    | "hit"
                    | "relative"
                    | "off"
                    | "ok"
            )
        });
    Some(if judged {
        Command::Comfortable {
            rooms: room.into_iter().collect(),
        }
    } else {
        Command::Targets { room }
    })
}

/// "comfort check studio", "studio comfort?", "quick comfort check in the kitchen": the room
/// (`None`: every room) against its targets on every quantity; "comfort targets" lists them
/// (`targets`), "set the studio comfort to 22" sets one, "warm" or a quantity asks that alone.
fn comfort_check(facts: &Facts) -> Option<Command> {
    let other = facts.feeling.is_some()
        || facts.quantity.is_some()
        || facts.has(Tag::Set)
        || facts.has(Tag::Remove);
    (facts.has(Tag::Comfort) && !other).then(|| Command::Comfortable {
        rooms: facts.rooms(),
    })
}

/// "how busy is it", "is the office packed?" (how many are in); "is the kitchen busy?" (a
/// room: presence is office-wide, so the answer says so, gives the office and the room's
/// sound as a hint).
fn busy(facts: &Facts) -> Option<Command> {
    if !facts.has(Tag::Busy) || facts.quantity.is_some() || facts.person.is_some() {
        return None;
    }
    Some(match &facts.place {
        Some(room) => Command::IsEmpty {
            room: Some(room.clone()),
        },
        None if facts.has(Tag::Room) => return None,
        None => Command::HowManyIn,
    })
}

/// "is open space louder than the lobby?", "kitchen vs studio temp": two known rooms or more.
fn compare(facts: &Facts) -> Option<Command> {
    if facts.places.len() < 2 {
        return None;
    }
    let quantity = facts
        .comparative
        .or(facts.extreme)
        .or(facts.feeling)
        .map(|(q, _)| q)
        .or(facts.quantity)?;
    Some(Command::Compare {
        rooms: facts.places.clone(),
        quantity,
    })
}

fn extreme(facts: &Facts) -> Option<Command> {
    let (quantity, highest) = match (facts.extreme.or(facts.comparative), facts.feeling) {
        (Some(found), _) => found,
        (None, Some((q, high))) if facts.has(Tag::Most) => (q, high),
        (None, Some((q, high))) if facts.has(Tag::Least) => (q, !high),
        (None, Some(found)) if facts.has(Tag::Which) && facts.has(Tag::Room) => found,
        _ => return None,
    };
    Some(Command::Extreme { quantity, highest })
}

/// "how many people are in?" (also in a longer sentence), "how many were in on monday?".
fn how_many(facts: &Facts) -> Option<Command> {
    let people = facts.runs.is_empty() || facts.has(Tag::Who);
    if !facts.has(Tag::HowMany) || facts.quantity.is_some() || !people {
        return None;
    }
    Some(match facts.time {
        Some(when @ (When::Yesterday | When::Weekday(_) | When::ThisWeek | When::LastWeek)) => {
            Command::WhoWasIn {
                days: days_compared(facts).unwrap_or_else(|| vec![when]),
            }
        }
        _ => Command::HowManyIn,
    })
}

/// Questions about one person or several ("were ada and bob in yesterday": each): where, when they arrived, left, were last in, were in that day.
fn personal(facts: &Facts) -> Option<Command> {
    let about_presence = [
        Tag::Where,
        Tag::Arrive,
        Tag::Leave,
        Tag::Last,
        Tag::In,
        Tag::Here,
    ]
    .into_iter()
    .any(|tag| facts.has(tag));
    let named = facts.person.is_some()
        || (!facts.runs.is_empty()
            && !facts.has(Tag::Who)
            && facts.place.is_none()
            && facts.quantity.is_none()
            && facts.feeling.is_none()
            && about_presence);
    if !named {
        return None;
    }
    let people = facts.named();
    if people.is_empty() {
        return None;
    }
    let when = match facts.time {
        Some(When::Now) | None => When::Today,
        Some(other) => other,
    };
    if facts.has(Tag::Leave) {
        return Some(Command::Left { people, when });
    }
    if facts.has(Tag::Last) {
        return Some(Command::LastIn { people });
    }
    let asks_when = facts.has(Tag::WhenWord);
    if facts.has(Tag::Arrive) && (asks_when || facts.has(Tag::Which)) {
        return Some(Command::Arrived { people, when });
    }
    if asks_when && facts.has(Tag::Past) {
        return Some(Command::LastIn { people });
    }
    // "was bob in yesterday", "did ada come in this week", "was ada in monday or tuesday".
    if past_day(when) && about_presence {
        let mut days: Vec<When> = facts
            .days
            .iter()
            .copied()
            .filter(|d| past_day(*d))
            .collect();
        if days.len() < 2 {
            days = vec![when];
        }
        return Some(Command::WasIn { people, days });
    }
    about_presence.then_some(Command::IsIn { people })
}

/// A day (or week) before today that attendance history answers for.
fn past_day(when: When) -> bool {
    matches!(
        when,
        When::Yesterday | When::Weekday(_) | When::ThisWeek | When::LastWeek
    )
}

/// "who was in yesterday / this week / on monday / since 9", "attendance monday", "who came
/// first today".
fn who_was_in(facts: &Facts) -> Option<Command> {
    if let Some(days) = days_compared(facts) {
        return Some(Command::WhoWasIn { days });
    }
    let first = facts.has(Tag::First) && facts.has(Tag::Who);
    let when = facts
        .time
        .or((facts.came || first).then_some(When::Today))?;
    let when = if when == When::Now { When::Today } else { when };
    let earlier = matches!(
        when,
        When::Yesterday | When::Weekday(_) | When::ThisWeek | When::LastWeek | When::SinceHour(_)
    );
    let asks = (facts.has(Tag::Who) && (earlier || facts.has(Tag::Past) || facts.came || first))
        || (facts.has(Tag::Past) && earlier && facts.runs.is_empty());
    asks.then_some(Command::WhoWasIn { days: vec![when] })
}

/// "monday vs wednesday", "who was in on monday or tuesday", "compare monday and tuesday
/// attendance": two days or more and no person, room or reading named. Attendance is what the
/// bot keeps per day, so days alone, side by side, ask who was in on each.
fn days_compared(facts: &Facts) -> Option<Vec<When>> {
    let named = facts.person.is_some()
        || facts.place.is_some()
        || facts.quantity.is_some()
        || facts.feeling.is_some()
        || facts.has(Tag::Trend);
    let asks = facts.has(Tag::Who) || facts.has(Tag::Past) || facts.came || facts.runs.is_empty();
    (facts.days.len() > 1 && !named && asks).then(|| facts.days.clone())
}
