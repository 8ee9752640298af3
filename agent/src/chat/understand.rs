//! Understanding a question from what it names, not from its sentence pattern: the words are
//! tagged (`lexicon`: quantities, everyday words, comparisons, time words, places, intent
//! keywords), the people and rooms the office knows are recognised (a [`Lexicon`] built from
//! the replica; without one, the words nobody knows are the candidate names), and then the
//! intent is picked from what was found. Pure: text and lexicon in, [`Command`] out.
//!
//! `grammar::parse` runs [`early`] (thanks, "my devices", "remove … target"), then its fixed
//! phrasings (whose rooms [`refine`] reads: "here", "everywhere"), then [`understand`].

use officemesh_sensors::Quantity;

use super::grammar::{self, Command};
use super::lexicon::{self, allowed_edits, Tag, When};

/// What the office knows: registered people's names and room names.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    pub people: Vec<String>,
    pub rooms: Vec<String>,
}

/// One recognised piece of the question.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Word(Tag),
    Person(String),
    Place(String),
}

/// What the question contains, in order of appearance where that matters.
#[derive(Debug, Default)]
struct Facts {
    tags: Vec<Tag>,
    /// Runs of unknown words ("meeting room", "ada lovelace"): candidate people or rooms.
    runs: Vec<String>,
    person: Option<String>,
    /// Every person named, in order ("ada and grace").
    people: Vec<String>,
    place: Option<String>,
    /// Every known room named, in order ("kitchen vs studio").
    places: Vec<String>,
    quantity: Option<Quantity>,
    feeling: Option<(Quantity, bool)>,
    extreme: Option<(Quantity, bool)>,
    comparative: Option<(Quantity, bool)>,
    time: Option<When>,
    number: bool,
    /// "came", "arrived": an arrival in the past ("who came in today").
    came: bool,
    /// Asked as a question: a "?" or a question's first word ("is it cold").
    question: bool,
}

impl Facts {
    fn of(pieces: &[Piece], words: &[&str]) -> Facts {
        let mut facts = Facts {
            number: words
                .iter()
                .any(|w| w.starts_with(|c: char| c.is_ascii_digit())),
            came: words
                .iter()
                .any(|w| matches!(*w, "came" | "arrived" | "showed" | "turned")),
            question: matches!(
                words.first(),
                Some(&("is" | "are" | "its" | "it" | "was" | "does" | "do" | "any"))
            ),
            ..Facts::default()
        };
        let mut run: Vec<&str> = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Word(Tag::Open(word)) => run.push(word),
                Piece::Word(Tag::Room) if !run.is_empty() => {
                    run.push("room");
                    facts.close(&mut run);
                }
                other => {
                    facts.close(&mut run);
                    facts.note(other.clone());
                }
            }
        }
        facts.close(&mut run);
        facts
    }

    fn close(&mut self, run: &mut Vec<&str>) {
        if !run.is_empty() {
            self.runs.push(run.join(" "));
            run.clear();
        }
    }

    fn note(&mut self, piece: Piece) {
        let tag = match piece {
            Piece::Person(name) => {
                self.people.push(name.clone());
                return first(&mut self.person, name);
            }
            Piece::Place(room) => {
                if !self.places.contains(&room) {
                    self.places.push(room.clone());
                }
                return first(&mut self.place, room);
            }
            Piece::Word(tag) => tag,
        };
        match tag {
            Tag::Quantity(q) => first(&mut self.quantity, q),
            Tag::Feeling(q, high) => first(&mut self.feeling, (q, high)),
            Tag::Extreme(q, high) => first(&mut self.extreme, (q, high)),
            Tag::Comparative(q, high) => first(&mut self.comparative, (q, high)),
            // "yesterday afternoon": the day counts, not the part of it.
            Tag::Time(when)
                if matches!(self.time, None | Some(When::Now | When::Today))
                    && when != When::Now =>
            {
                self.time = Some(when)
            }
            Tag::Time(When::Now) if self.time.is_none() => self.time = Some(When::Now),
            _ => {}
        }
        self.tags.push(tag);
    }

    fn has(&self, tag: Tag) -> bool {
        self.tags.contains(&tag)
    }

    /// The room asked about: a known room, "here", `None` for every room, or unknown words.
    fn room(&self) -> Option<String> {
        if let Some(place) = &self.place {
            return Some(place.clone());
        }
        if self.has(Tag::Here) {
            return Some("here".into());
        }
        if self.has(Tag::All) {
            return None;
        }
        self.runs.first().cloned()
    }

    /// The person asked about ("ada and grace" when several are named).
    fn person(&self) -> Option<String> {
        if self.people.len() > 1 {
            return Some(self.people.join(" and "));
        }
        self.person.clone().or_else(|| self.runs.first().cloned())
    }

    /// Thanks with nothing asked ("thx, that helped", "thank you for all your help").
    fn thanked(&self) -> Option<Command> {
        let asks = [
            Tag::Who,
            Tag::Where,
            Tag::HowMany,
            Tag::Alerts,
            Tag::Status,
            Tag::Target,
            Tag::Set,
            Tag::Remove,
            Tag::Within,
        ];
        let named = self.person.is_some() || self.place.is_some() || self.quantity.is_some();
        let feels = self.feeling.is_some() || self.extreme.is_some();
        let thanks = self.has(Tag::Thanks) && !named && !feels;
        (thanks && !asks.into_iter().any(|tag| self.has(tag))).then_some(Command::Thanks)
    }

    /// Only thanks, greetings and words that carry nothing.
    fn courtesy(&self) -> Option<Command> {
        let only = self.runs.is_empty()
            && self.person.is_none()
            && self.place.is_none()
            && self.tags.iter().all(|t| {
                matches!(
                    t,
                    Tag::Thanks | Tag::Greet | Tag::Filler | Tag::Too | Tag::Time(_)
                )
            });
        if !only {
            None
        } else if self.has(Tag::Thanks) {
            Some(Command::Thanks)
        } else if self.has(Tag::Greet) {
            Some(Command::Greeting)
        } else {
            None
        }
    }
}

/// Keeps the first value found.
fn first<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

/// Commands recognised before the fixed phrasings: thanks and greetings alone, "my devices"
/// ("what devices do i have registered"), "remove the kitchen target".
pub fn early(words: &[&str], lexicon: &Lexicon) -> Option<Command> {
    if words.iter().any(|w| grammar::looks_like_mac(w)) {
        return None;
    }
    let pieces = recognise(words, lexicon);
    let facts = Facts::of(&pieces, words);
    let mine = facts.has(Tag::Mine) || words.contains(&"i");
    if mine && facts.has(Tag::Devices) && facts.person.is_none() && facts.place.is_none() {
        return (!facts.has(Tag::Remove)).then_some(Command::MyDevices);
    }
    if facts.has(Tag::Remove) && facts.has(Tag::Target) {
        return Some(remove_target(&facts));
    }
    facts.courtesy()
}

fn remove_target(facts: &Facts) -> Command {
    let quantity = facts
        .quantity
        .or(facts.feeling.map(|(q, _)| q))
        .unwrap_or(Quantity::Temperature);
    match facts.room() {
        Some(room) => Command::RemoveTarget { room, quantity },
        None => Command::BadSet {
            reason: "which room's target? Write it like: remove the kitchen target".into(),
        },
    }
}

/// A command from the fixed phrasings with its room words read: "here"/"in her" is "here",
/// "everywhere"/"all rooms" is every room; `None` when its room words are no room ("lab too",
/// "enough in the meeting room"), for the understanding to read the question instead.
pub fn refine(command: Command) -> Option<Command> {
    let room_words_ok = |room: &Option<String>| {
        room.as_deref().is_none_or(|text| {
            let words: Vec<&str> = text.split_whitespace().collect();
            lexicon::tag(&words)
                .iter()
                .all(|t| matches!(t, Tag::Open(_) | Tag::Room | Tag::Here | Tag::All | Tag::In))
        })
    };
    let plausible = match &command {
        Command::Reading { room, .. }
        | Command::Comfort { room, .. }
        | Command::IsEmpty { room } => room_words_ok(room),
        _ => true,
    };
    plausible.then(|| refine_rooms(command))
}

fn refine_rooms(command: Command) -> Command {
    let fix = |room: Option<String>| {
        let text = room?;
        let words: Vec<&str> = text.split_whitespace().collect();
        let tags = lexicon::tag(&words);
        if tags.contains(&Tag::All) {
            None
        } else if tags.contains(&Tag::Here) || matches!(text.as_str(), "her" | "hier") {
            Some("here".to_string())
        } else {
            Some(text)
        }
    };
    match command {
        Command::Reading { room, quantity } => Command::Reading {
            room: fix(room),
            quantity,
        },
        Command::Comfort {
            room,
            quantity,
            low,
        } => Command::Comfort {
            room: fix(room),
            quantity,
            low,
        },
        Command::IsEmpty { room } => Command::IsEmpty { room: fix(room) },
        // "who's in here": the office (presence has no room-level signal).
        Command::WhoIsIn { room } => Command::WhoIsIn {
            room: fix(room).filter(|room| room != "here"),
        },
        other => other,
    }
}

/// Understands `text` with the people and rooms in `lexicon`.
pub fn understand(text: &str, lexicon: &Lexicon) -> Command {
    // "temperature-wise", "pi-a": the parts (a MAC keeps its dashes).
    let owned: Vec<String> = grammar::words(text)
        .into_iter()
        .flat_map(|word| {
            if word.contains('-') && !grammar::looks_like_mac(&word) {
                word.split('-')
                    .filter(|part| !part.is_empty())
                    .map(str::to_string)
                    .collect()
            } else {
                vec![word]
            }
        })
        .collect();
    let words: Vec<&str> = owned.iter().map(String::as_str).collect();
    let pieces = recognise(&words, lexicon);
    let mut facts = Facts::of(&pieces, &words);
    facts.question |= text.contains('?');
    pick(&facts, &words, lexicon).unwrap_or_else(|| Command::Unknown {
        text: text.trim().chars().take(200).collect(),
    })
}

/// Tags `words`, recognising the lexicon's rooms (all their words) and people (any part of
/// their name) among the words the vocabulary does not know.
fn recognise(words: &[&str], lexicon: &Lexicon) -> Vec<Piece> {
    let mut pieces = Vec::with_capacity(words.len());
    let mut at = 0;
    while at < words.len() {
        if let Some((room, used)) = room_at(&words[at..], lexicon) {
            pieces.push(Piece::Place(room));
            at += used;
            continue;
        }
        let tags = lexicon::tag(&words[at..(at + 4).min(words.len())]);
        let first = tags.into_iter().next().unwrap_or(Tag::Filler);
        let used = group_len(&words[at..], &first);
        match &first {
            Tag::Open(word) if person_part(word, lexicon) => {
                let mut name = vec![word.clone()];
                while at + name.len() < words.len()
                    && person_part(words[at + name.len()], lexicon)
                    && matches!(lexicon::single(words[at + name.len()]), Tag::Open(_))
                {
                    name.push(words[at + name.len()].to_string());
                }
                at += name.len();
                pieces.push(Piece::Person(name.join(" ")));
            }
            _ => {
                pieces.push(Piece::Word(first));
                at += used;
            }
        }
    }
    pieces
}

/// How many words the first tag of `words` took (groups take two to four).
fn group_len(words: &[&str], first: &Tag) -> usize {
    (1..=words.len().min(4))
        .find(|n| {
            let tags = lexicon::tag(&words[..*n]);
            tags.len() == 1 && tags[0] == *first
        })
        .unwrap_or(1)
}

fn close(word: &str, known: &str) -> bool {
    word == known
        || (word.len().abs_diff(known.len()) <= 1
            && allowed_edits(known.chars().count()) > 0
            && grammar::edit_distance(word, known) <= allowed_edits(known.chars().count()))
}

/// A known room starting `words` (each of its words, typos allowed), longest first.
fn room_at(words: &[&str], lexicon: &Lexicon) -> Option<(String, usize)> {
    let mut best: Option<(String, usize)> = None;
    for room in &lexicon.rooms {
        let lower = room.to_lowercase();
        let parts: Vec<&str> = lower.split_whitespace().collect();
        if parts.is_empty() || parts.len() > words.len() {
            continue;
        }
        let matches = parts
            .iter()
            .zip(words)
            .all(|(part, word)| close(word, part));
        if matches && best.as_ref().is_none_or(|(_, n)| parts.len() > *n) {
            best = Some((room.clone(), parts.len()));
        }
    }
    best
}

/// `word` is a part of a registered name (first name, surname; typos allowed).
fn person_part(word: &str, lexicon: &Lexicon) -> bool {
    lexicon.people.iter().any(|name| {
        name.to_lowercase()
            .split_whitespace()
            .any(|part| close(word, part))
    })
}

/// The intent, from what the question names.
fn pick(facts: &Facts, words: &[&str], lexicon: &Lexicon) -> Option<Command> {
    if let Some(command) = early(words, lexicon).or_else(|| facts.thanked()) {
        return Some(command);
    }
    if facts.has(Tag::Help) {
        return Some(Command::Help);
    }
    if facts.has(Tag::Alerts) {
        return Some(Command::Alerts);
    }
    if let Some(command) = targets(facts)
        .or_else(|| compare(facts))
        .or_else(|| extreme(facts))
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
        return Some(Command::Comfortable { room: facts.room() });
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
        (Some(_), _) if facts.runs.is_empty() => {
            facts.person().map(|person| Command::IsIn { person })
        }
        (None, Some(room)) if facts.runs.is_empty() => Some(Command::Reading {
            room: Some(room.clone()),
            quantity: Quantity::Temperature,
        }),
        _ => None,
    }
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

/// "what targets are set?", "comfort targets for the kitchen".
fn targets(facts: &Facts) -> Option<Command> {
    let setting = facts.has(Tag::Set) && facts.number;
    let listing = facts.has(Tag::Target) && !facts.has(Tag::Remove) && !facts.has(Tag::Within);
    (listing && !setting).then(|| Command::Targets {
        room: facts.place.clone(),
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
        Some(when @ (When::Yesterday | When::Weekday(_) | When::ThisWeek)) => {
            Command::WhoWasIn { when }
        }
        _ => Command::HowManyIn,
    })
}

/// Questions about one person: where, when they arrived, left, were last in, were in that day.
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
    let person = facts.person()?;
    let when = match facts.time {
        Some(When::Now) | None => When::Today,
        Some(other) => other,
    };
    if facts.has(Tag::Leave) {
        return Some(Command::Left { person, when });
    }
    if facts.has(Tag::Last) {
        return Some(Command::LastIn { person });
    }
    let asks_when = facts.has(Tag::WhenWord);
    if facts.has(Tag::Arrive) && (asks_when || facts.has(Tag::Which)) {
        return Some(Command::Arrived { person, when });
    }
    if asks_when && facts.has(Tag::Past) {
        return Some(Command::LastIn { person });
    }
    // "was bob in yesterday", "did ada come in this week".
    let earlier = matches!(when, When::Yesterday | When::Weekday(_) | When::ThisWeek);
    if earlier && about_presence {
        return Some(Command::WasIn { person, when });
    }
    about_presence.then_some(Command::IsIn { person })
}

/// "who was in yesterday / this week / on monday / since 9", "attendance monday", "who came
/// first today".
fn who_was_in(facts: &Facts) -> Option<Command> {
    let first = facts.has(Tag::First) && facts.has(Tag::Who);
    let when = facts
        .time
        .or((facts.came || first).then_some(When::Today))?;
    let when = if when == When::Now { When::Today } else { when };
    let earlier = matches!(
        when,
        When::Yesterday | When::Weekday(_) | When::ThisWeek | When::SinceHour(_)
    );
    let asks = (facts.has(Tag::Who) && (earlier || facts.has(Tag::Past) || facts.came || first))
        || (facts.has(Tag::Past) && earlier && facts.runs.is_empty());
    asks.then_some(Command::WhoWasIn { when })
}

/// `text` names one known room (all its words).
pub(super) fn is_room(text: &str, lexicon: &Lexicon) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    room_at(&words, lexicon).is_some_and(|(_, used)| used == words.len())
}

/// Every word of `text` is part of a registered name (or "and": "ada and grace").
pub(super) fn is_person(text: &str, lexicon: &Lexicon) -> bool {
    text.split_whitespace()
        .all(|word| word == "and" || person_part(word, lexicon))
}

/// The one known room named among the words of `text` ("meeting room comfort").
pub(super) fn room_in(text: &str, lexicon: &Lexicon) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut found: Vec<String> = (0..words.len())
        .filter_map(|at| room_at(&words[at..], lexicon).map(|(room, _)| room))
        .collect();
    found.dedup();
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

#[cfg(test)]
#[path = "understand_table.rs"]
pub(crate) mod table;
