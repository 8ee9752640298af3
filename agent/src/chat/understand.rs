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
pub(super) struct Facts {
    pub(super) tags: Vec<Tag>,
    /// Runs of unknown words ("meeting room", "ada lovelace"): candidate people or rooms.
    pub(super) runs: Vec<String>,
    pub(super) person: Option<String>,
    /// Every person named, in order ("ada and grace").
    pub(super) people: Vec<String>,
    pub(super) place: Option<String>,
    /// Every known room named, in order ("kitchen vs studio").
    pub(super) places: Vec<String>,
    pub(super) quantity: Option<Quantity>,
    /// Every quantity named, in order ("temp + humidity").
    pub(super) quantities: Vec<Quantity>,
    pub(super) feeling: Option<(Quantity, bool)>,
    pub(super) extreme: Option<(Quantity, bool)>,
    pub(super) comparative: Option<(Quantity, bool)>,
    pub(super) time: Option<When>,
    /// Every day or span named, in order ("monday vs wednesday"); "today" only when said so
    /// ("yesterday afternoon" is one day).
    pub(super) days: Vec<When>,
    pub(super) number: bool,
    /// "came", "arrived": an arrival in the past ("who came in today").
    pub(super) came: bool,
    /// Asked as a question: a "?" or a question's first word ("is it cold").
    pub(super) question: bool,
    /// Opens with a time of day ("morning officemesh", "evening all"): a greeting.
    pub(super) greeted: bool,
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
            greeted: matches!(
                words.first(),
                Some(&("morning" | "mornin" | "afternoon" | "evening" | "night"))
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
        if !words.iter().any(|w| matches!(*w, "today" | "tdy" | "2day")) {
            facts.days.retain(|day| *day != When::Today);
        }
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
        if let Tag::Time(when) = tag {
            if when != When::Now && !self.days.contains(&when) {
                self.days.push(when);
            }
        }
        match tag {
            Tag::Quantity(q) => {
                if !self.quantities.contains(&q) {
                    self.quantities.push(q);
                }
                first(&mut self.quantity, q)
            }
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

    pub(super) fn has(&self, tag: Tag) -> bool {
        self.tags.contains(&tag)
    }

    /// The room asked about: a known room, "here", `None` for every room, or unknown words.
    /// The rooms a question names: every known room when it names two or more ("studio and
    /// kitchen"), else [`Facts::room`]'s one (none: every room).
    pub(super) fn rooms(&self) -> Vec<String> {
        if self.places.len() >= 2 {
            return self.places.clone();
        }
        self.room().into_iter().collect()
    }

    pub(super) fn room(&self) -> Option<String> {
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

    /// The people asked about: every registered person named, in order ("ada or bob"), or
    /// the first words nobody knows ("is zed in": zed, for the answer to say it knows no zed).
    pub(super) fn named(&self) -> Vec<String> {
        let mut people: Vec<String> = Vec::with_capacity(self.people.len());
        for person in &self.people {
            if !people.contains(person) {
                people.push(person.clone());
            }
        }
        if people.is_empty() {
            people.extend(self.runs.first().cloned());
        }
        people
    }

    /// Thanks with nothing asked ("thx, that helped", "thank you for all your help").
    pub(super) fn thanked(&self) -> Option<Command> {
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
    pub(super) fn courtesy(&self) -> Option<Command> {
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
        } else if self.has(Tag::Greet) || self.greeted {
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
    early_from(&Facts::of(&pieces, words), words)
}

/// [`early`] from the facts already found in `words`.
pub(super) fn early_from(facts: &Facts, words: &[&str]) -> Option<Command> {
    if words.iter().any(|w| grammar::looks_like_mac(w)) {
        return None;
    }
    if let Some(command) = devices(facts, words) {
        return Some(command);
    }
    if facts.has(Tag::Remove) && facts.has(Tag::Target) {
        return Some(remove_target(facts));
    }
    facts.courtesy()
}

/// "how do i add my phone" (how to register), "what devices do u have for me", "did my phone
/// get registered" (my devices), "forget my old phone" (no MAC: my devices, which say how to
/// forget one).
fn devices(facts: &Facts, words: &[&str]) -> Option<Command> {
    let adding = words.iter().any(|w| {
        matches!(
            *w,
            "add" | "register" | "claim" | "link" | "connect" | "setup" | "enrol" | "enroll"
        )
    });
    let how = facts.has(Tag::How) || words.contains(&"can") || facts.has(Tag::Where);
    if adding && how && !facts.has(Tag::Past) && facts.person.is_none() {
        return Some(Command::BadMac {
            text: String::new(),
            reason: "to add a device, send me its Wi-Fi MAC address".into(),
        });
    }
    // "please forget me - delete my devices": "forget me" anywhere is the whole request.
    if words
        .windows(2)
        .any(|pair| matches!(pair, ["forget" | "forgt" | "unregister", "me"]))
    {
        return Some(Command::ForgetMe);
    }
    let mine = facts.has(Tag::Mine) || words.contains(&"i") || words.contains(&"me");
    let alone = facts.person.is_none() && !facts.has(Tag::Status) && !facts.has(Tag::Target);
    if !(mine && facts.has(Tag::Devices) && alone) {
        return None;
    }
    match (facts.has(Tag::Remove), facts.runs.is_empty()) {
        (false, true) => Some(Command::MyDevices),
        // "forget my old phone": which one is for the asker to say, by its MAC.
        (true, false) if facts.has(Tag::Mine) => Some(Command::MyDevices),
        _ => None,
    }
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
    super::intent::pick(&facts, &words).unwrap_or_else(|| Command::Unknown {
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
                let used = name_len(&words[at..], lexicon);
                pieces.push(Piece::Person(words[at..at + used].join(" ")));
                at += used;
            }
            _ => {
                pieces.push(Piece::Word(first));
                at += used;
            }
        }
    }
    pieces
}

/// How many words of one registered person's name start `words` ("ada lovelace": 2; "ada
/// bob", two people with the comma dropped: 1).
fn name_len(words: &[&str], lexicon: &Lexicon) -> usize {
    let part_of = |name: &String, word: &str| {
        name.to_lowercase()
            .split_whitespace()
            .any(|part| close(word, part))
    };
    let mut whose: Vec<&String> = lexicon.people.iter().collect();
    let mut used = 0;
    for word in words {
        let known = used == 0 || matches!(lexicon::single(word), Tag::Open(_));
        let narrowed: Vec<&String> = whose
            .iter()
            .copied()
            .filter(|name| part_of(name, word))
            .collect();
        if !known || narrowed.is_empty() {
            break;
        }
        whose = narrowed;
        used += 1;
    }
    used.max(1)
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
        || (known == "room" && word == "rm")
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
    best.or_else(|| room_by_first_word(words, lexicon))
}

/// "meeting temp": a word no vocabulary knows that is the first word of exactly one known room
/// of several words ("meeting" → meeting room); with two such rooms, none (the answer lists them).
fn room_by_first_word(words: &[&str], lexicon: &Lexicon) -> Option<(String, usize)> {
    let word = *words.first()?;
    let unknown = word.len() >= 3 && matches!(lexicon::single(word), Tag::Open(_));
    if !unknown || person_part(word, lexicon) {
        return None;
    }
    let mut found = lexicon.rooms.iter().filter(|room| {
        let lower = room.to_lowercase();
        let mut parts = lower.split_whitespace();
        parts.next() == Some(word) && parts.next().is_some()
    });
    match (found.next(), found.next()) {
        (Some(room), None) => Some((room.clone(), 1)),
        _ => None,
    }
}

/// `word` is a part of a registered name (first name, surname; typos allowed).
fn person_part(word: &str, lexicon: &Lexicon) -> bool {
    lexicon.people.iter().any(|name| {
        name.to_lowercase()
            .split_whitespace()
            .any(|part| close(word, part))
    })
}

/// `text` names one known room (all its words).
pub(super) fn is_room(text: &str, lexicon: &Lexicon) -> bool {
    room_named(text, lexicon).is_some()
}

/// The known room `text` names with all its words ("meeting rm" → meeting room).
pub(super) fn room_named(text: &str, lexicon: &Lexicon) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    room_at(&words, lexicon)
        .filter(|(_, used)| *used == words.len())
        .map(|(room, _)| room)
}

/// Every word of `text` is part of a registered name.
pub(super) fn is_person(text: &str, lexicon: &Lexicon) -> bool {
    text.split_whitespace()
        .all(|word| person_part(word, lexicon))
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
