//! The everyday words of an office question, tagged: quantities and the words people use for
//! them ("warm", "chilly", "noisy"), comparisons ("coldest", "too warm", "warm enough"), time
//! words ("yesterday", "this week", "last monday", "since 9"), places ("here", "everywhere",
//! "all rooms") and the keywords of each intent ("arrive", "alerts", "thanks"). Words it does
//! not know stay [`Tag::Open`]: the understanding decides whether they name a person or a room.
//! Typos match by edit distance (one edit for 5–8 letters, two for longer words).
//! Pure: words in, tags out; no replica, no clock.

use officemesh_sensors::Quantity;

/// A day or span the question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Now,
    Today,
    Yesterday,
    /// Days since Monday: 0 is Monday ("last monday", "on tuesday").
    Weekday(u8),
    ThisWeek,
    /// Monday to Sunday of the week before this one.
    LastWeek,
    /// "since 9": today from this hour (local time).
    SinceHour(u8),
}

/// What one word (or a fixed group of words) says.
#[derive(Debug, Clone, PartialEq)]
pub enum Tag {
    Who,
    Where,
    WhenWord,
    HowMany,
    How,
    Which,
    /// "was", "were", "did", "been": the question is about the past.
    Past,
    Arrive,
    Leave,
    Last,
    /// "in", "here", "around", "at the office": a person's presence.
    In,
    /// "here", "in here": the asker's (the bot's) room.
    Here,
    /// "everywhere", "all rooms", "anywhere", "each room".
    All,
    /// "room", "rooms".
    Room,
    Quantity(Quantity),
    /// An everyday word for a quantity and which end of it: warm (temperature, high).
    Feeling(Quantity, bool),
    /// warmest, coldest, loudest, driest: the extreme room.
    Extreme(Quantity, bool),
    /// warmer, louder, quieter: two rooms compared (or the extreme room, with one or none).
    Comparative(Quantity, bool),
    /// "within", "comfortable": a room against its targets, every quantity.
    Within,
    /// "comfort" ("comfort check studio"): a room against its targets, every quantity.
    Comfort,
    /// "average", "since", "trend": readings over time, which chat does not keep.
    Trend,
    /// "first", "earliest": who arrived first.
    First,
    Most,
    Least,
    Too,
    Enough,
    Time(When),
    Alerts,
    Status,
    Help,
    Thanks,
    Greet,
    Empty,
    /// "busy", "packed", "crowded", "full": how many are in (presence is office-wide).
    Busy,
    Remove,
    Target,
    Set,
    Mine,
    Devices,
    /// Words that carry nothing here ("the", "please", "is").
    Filler,
    Open(String),
}

const VOCABULARY: &[(&str, Tag)] = &[
    ("who", Tag::Who),
    ("whos", Tag::Who),
    ("whose", Tag::Who),
    ("hwo", Tag::Who),
    ("anyone", Tag::Who),
    ("anybody", Tag::Who),
    ("someone", Tag::Who),
    ("somebody", Tag::Who),
    ("any1", Tag::Who),
    ("people", Tag::Who),
    ("ppl", Tag::Who),
    ("everyone", Tag::Who),
    ("everybody", Tag::Who),
    ("colleagues", Tag::Who),
    ("persons", Tag::Who),
    ("person", Tag::Who),
    ("us", Tag::Who),
    ("where", Tag::Where),
    ("wheres", Tag::Where),
    ("whereabouts", Tag::Where),
    ("when", Tag::WhenWord),
    ("whens", Tag::WhenWord),
    ("time", Tag::WhenWord),
    ("headcount", Tag::HowMany),
    ("count", Tag::HowMany),
    ("how", Tag::How),
    ("hows", Tag::How),
    ("which", Tag::Which),
    ("what", Tag::Which),
    ("whats", Tag::Which),
    ("was", Tag::Past),
    ("were", Tag::Past),
    ("did", Tag::Past),
    ("been", Tag::Past),
    ("arrive", Tag::Arrive),
    ("arrived", Tag::Arrive),
    ("arrives", Tag::Arrive),
    ("arrival", Tag::Arrive),
    ("came", Tag::Arrive),
    ("come", Tag::Arrive),
    ("coming", Tag::Arrive),
    ("showed", Tag::Arrive),
    ("leave", Tag::Leave),
    ("left", Tag::Leave),
    ("leaves", Tag::Leave),
    ("leaving", Tag::Leave),
    ("gone", Tag::Leave),
    ("went", Tag::Leave),
    ("last", Tag::Last),
    ("lately", Tag::Last),
    ("seen", Tag::Last),
    ("in", Tag::In),
    ("inside", Tag::In),
    ("around", Tag::In),
    ("present", Tag::In),
    ("onsite", Tag::In),
    ("office", Tag::In),
    ("work", Tag::In),
    ("building", Tag::In),
    ("hq", Tag::In),
    ("here", Tag::Here),
    ("hier", Tag::Here),
    ("everywhere", Tag::All),
    ("anywhere", Tag::All),
    ("across", Tag::All),
    ("throughout", Tag::All),
    ("room", Tag::Room),
    ("rooms", Tag::Room),
    ("rom", Tag::Room),
    ("roms", Tag::Room),
    ("temp", Tag::Quantity(Quantity::Temperature)),
    ("temps", Tag::Quantity(Quantity::Temperature)),
    ("tmp", Tag::Quantity(Quantity::Temperature)),
    ("temperature", Tag::Quantity(Quantity::Temperature)),
    ("temperatures", Tag::Quantity(Quantity::Temperature)),
    ("degrees", Tag::Quantity(Quantity::Temperature)),
    ("humidity", Tag::Quantity(Quantity::Humidity)),
    ("hum", Tag::Quantity(Quantity::Humidity)),
    ("moisture", Tag::Quantity(Quantity::Humidity)),
    ("sound", Tag::Quantity(Quantity::Sound)),
    ("noise", Tag::Quantity(Quantity::Sound)),
    ("loudness", Tag::Quantity(Quantity::Sound)),
    ("volume", Tag::Quantity(Quantity::Sound)),
    ("db", Tag::Quantity(Quantity::Sound)),
    ("warm", Tag::Feeling(Quantity::Temperature, true)),
    ("hot", Tag::Feeling(Quantity::Temperature, true)),
    ("boiling", Tag::Feeling(Quantity::Temperature, true)),
    ("stuffy", Tag::Feeling(Quantity::Temperature, true)),
    ("toasty", Tag::Feeling(Quantity::Temperature, true)),
    // What people call a room that is too warm or too cold.
    ("sauna", Tag::Feeling(Quantity::Temperature, true)),
    ("oven", Tag::Feeling(Quantity::Temperature, true)),
    ("furnace", Tag::Feeling(Quantity::Temperature, true)),
    ("roasting", Tag::Feeling(Quantity::Temperature, true)),
    ("baking", Tag::Feeling(Quantity::Temperature, true)),
    ("sweltering", Tag::Feeling(Quantity::Temperature, true)),
    ("tropical", Tag::Feeling(Quantity::Temperature, true)),
    ("sweaty", Tag::Feeling(Quantity::Temperature, true)),
    ("fridge", Tag::Feeling(Quantity::Temperature, false)),
    ("icebox", Tag::Feeling(Quantity::Temperature, false)),
    ("arctic", Tag::Feeling(Quantity::Temperature, false)),
    ("igloo", Tag::Feeling(Quantity::Temperature, false)),
    ("icy", Tag::Feeling(Quantity::Temperature, false)),
    ("nippy", Tag::Feeling(Quantity::Temperature, false)),
    ("cold", Tag::Feeling(Quantity::Temperature, false)),
    ("chilly", Tag::Feeling(Quantity::Temperature, false)),
    ("cool", Tag::Feeling(Quantity::Temperature, false)),
    ("freezing", Tag::Feeling(Quantity::Temperature, false)),
    ("frosty", Tag::Feeling(Quantity::Temperature, false)),
    ("humid", Tag::Feeling(Quantity::Humidity, true)),
    ("damp", Tag::Feeling(Quantity::Humidity, true)),
    ("muggy", Tag::Feeling(Quantity::Humidity, true)),
    ("dry", Tag::Feeling(Quantity::Humidity, false)),
    ("loud", Tag::Feeling(Quantity::Sound, true)),
    ("noisy", Tag::Feeling(Quantity::Sound, true)),
    ("quiet", Tag::Feeling(Quantity::Sound, false)),
    ("silent", Tag::Feeling(Quantity::Sound, false)),
    ("warmest", Tag::Extreme(Quantity::Temperature, true)),
    ("hottest", Tag::Extreme(Quantity::Temperature, true)),
    ("warmer", Tag::Comparative(Quantity::Temperature, true)),
    ("hotter", Tag::Comparative(Quantity::Temperature, true)),
    ("cooler", Tag::Comparative(Quantity::Temperature, false)),
    ("louder", Tag::Comparative(Quantity::Sound, true)),
    ("noisier", Tag::Comparative(Quantity::Sound, true)),
    ("quieter", Tag::Comparative(Quantity::Sound, false)),
    ("drier", Tag::Comparative(Quantity::Humidity, false)),
    ("dryer", Tag::Comparative(Quantity::Humidity, false)),
    ("humider", Tag::Comparative(Quantity::Humidity, true)),
    ("within", Tag::Within),
    ("comfortable", Tag::Within),
    ("uncomfortable", Tag::Within),
    ("comfy", Tag::Within),
    ("comfort", Tag::Comfort),
    ("range", Tag::Within),
    ("first", Tag::First),
    ("avg", Tag::Trend),
    ("average", Tag::Trend),
    ("mean", Tag::Trend),
    ("trend", Tag::Trend),
    ("since", Tag::Trend),
    ("graph", Tag::Trend),
    ("chart", Tag::Trend),
    ("history", Tag::Trend),
    ("earliest", Tag::First),
    ("coldest", Tag::Extreme(Quantity::Temperature, false)),
    ("coolest", Tag::Extreme(Quantity::Temperature, false)),
    ("colder", Tag::Comparative(Quantity::Temperature, false)),
    ("chilliest", Tag::Extreme(Quantity::Temperature, false)),
    ("loudest", Tag::Extreme(Quantity::Sound, true)),
    ("noisiest", Tag::Extreme(Quantity::Sound, true)),
    ("quietest", Tag::Extreme(Quantity::Sound, false)),
    ("humidest", Tag::Extreme(Quantity::Humidity, true)),
    ("driest", Tag::Extreme(Quantity::Humidity, false)),
    ("most", Tag::Most),
    ("more", Tag::Most),
    ("least", Tag::Least),
    ("less", Tag::Least),
    ("too", Tag::Too),
    ("very", Tag::Too),
    ("enough", Tag::Enough),
    ("now", Tag::Time(When::Now)),
    ("rn", Tag::Time(When::Now)),
    ("atm", Tag::Time(When::Now)),
    ("currently", Tag::Time(When::Now)),
    ("today", Tag::Time(When::Today)),
    ("tonight", Tag::Time(When::Today)),
    ("morning", Tag::Time(When::Today)),
    ("afternoon", Tag::Time(When::Today)),
    ("evening", Tag::Time(When::Today)),
    ("lunchtime", Tag::Time(When::Today)),
    ("yesterday", Tag::Time(When::Yesterday)),
    ("yday", Tag::Time(When::Yesterday)),
    ("yest", Tag::Time(When::Yesterday)),
    ("monday", Tag::Time(When::Weekday(0))),
    ("tuesday", Tag::Time(When::Weekday(1))),
    ("wednesday", Tag::Time(When::Weekday(2))),
    ("thursday", Tag::Time(When::Weekday(3))),
    ("friday", Tag::Time(When::Weekday(4))),
    ("saturday", Tag::Time(When::Weekday(5))),
    ("sunday", Tag::Time(When::Weekday(6))),
    ("mon", Tag::Time(When::Weekday(0))),
    ("tue", Tag::Time(When::Weekday(1))),
    ("wed", Tag::Time(When::Weekday(2))),
    ("thu", Tag::Time(When::Weekday(3))),
    ("fri", Tag::Time(When::Weekday(4))),
    ("tues", Tag::Time(When::Weekday(1))),
    ("weds", Tag::Time(When::Weekday(2))),
    ("thurs", Tag::Time(When::Weekday(3))),
    ("alert", Tag::Alerts),
    ("alerts", Tag::Alerts),
    ("alarm", Tag::Alerts),
    ("alarms", Tag::Alerts),
    ("warning", Tag::Alerts),
    ("warnings", Tag::Alerts),
    ("problems", Tag::Alerts),
    ("problem", Tag::Alerts),
    ("wrong", Tag::Alerts),
    ("issues", Tag::Alerts),
    ("attendance", Tag::Past),
    ("status", Tag::Status),
    ("health", Tag::Status),
    ("nodes", Tag::Status),
    ("node", Tag::Status),
    ("mesh", Tag::Status),
    ("cluster", Tag::Status),
    ("sensors", Tag::Status),
    ("sensor", Tag::Status),
    ("pis", Tag::Status),
    ("raspberries", Tag::Status),
    ("raspberry", Tag::Status),
    ("pi", Tag::Status),
    ("dead", Tag::Status),
    ("failing", Tag::Status),
    ("down", Tag::Status),
    ("help", Tag::Help),
    ("hlp", Tag::Help),
    ("hlep", Tag::Help),
    ("commands", Tag::Help),
    ("usage", Tag::Help),
    ("thanks", Tag::Thanks),
    ("thank", Tag::Thanks),
    ("thx", Tag::Thanks),
    ("thanx", Tag::Thanks),
    ("ty", Tag::Thanks),
    ("tnx", Tag::Thanks),
    ("cheers", Tag::Thanks),
    ("merci", Tag::Thanks),
    ("danke", Tag::Thanks),
    ("gracias", Tag::Thanks),
    ("helpful", Tag::Thanks),
    ("hi", Tag::Greet),
    ("hello", Tag::Greet),
    ("hey", Tag::Greet),
    ("heya", Tag::Greet),
    ("hiya", Tag::Greet),
    ("yo", Tag::Greet),
    ("howdy", Tag::Greet),
    ("sup", Tag::Greet),
    ("gm", Tag::Greet),
    ("morning", Tag::Greet),
    ("empty", Tag::Empty),
    ("busy", Tag::Busy),
    ("packed", Tag::Busy),
    ("crowded", Tag::Busy),
    ("full", Tag::Busy),
    ("rammed", Tag::Busy),
    ("heaving", Tag::Busy),
    ("busier", Tag::Busy),
    ("remove", Tag::Remove),
    ("delete", Tag::Remove),
    ("rm", Tag::Remove),
    ("del", Tag::Remove),
    ("clear", Tag::Remove),
    ("drop", Tag::Remove),
    ("unset", Tag::Remove),
    ("forget", Tag::Remove),
    ("unregister", Tag::Remove),
    ("target", Tag::Target),
    ("targets", Tag::Target),
    ("set", Tag::Set),
    ("put", Tag::Set),
    ("change", Tag::Set),
    ("make", Tag::Set),
    ("raise", Tag::Set),
    ("increase", Tag::Set),
    ("decrease", Tag::Set),
    ("reduce", Tag::Set),
    ("adjust", Tag::Set),
    ("my", Tag::Mine),
    ("mine", Tag::Mine),
    ("devices", Tag::Devices),
    ("device", Tag::Devices),
    ("macs", Tag::Devices),
    ("phones", Tag::Devices),
    ("phone", Tag::Devices),
    ("laptop", Tag::Devices),
    ("laptops", Tag::Devices),
];

/// Tags `words` (lower-cased, apostrophes dropped), joining fixed groups ("this week",
/// "last monday", "get in", "how many", "all rooms", "in here", "since 9").
pub fn tag(words: &[&str]) -> Vec<Tag> {
    let mut tags = Vec::with_capacity(words.len());
    let mut at = 0;
    while at < words.len() {
        let (tag, used) = group(&words[at..]).unwrap_or_else(|| (single(words[at]), 1));
        tags.push(tag);
        at += used;
    }
    tags
}

/// A fixed group of words at the start of `words`, and how many words it takes.
fn group(words: &[&str]) -> Option<(Tag, usize)> {
    let weekday = |word: &str| match single(word) {
        Tag::Time(When::Weekday(day)) => Some(day),
        _ => None,
    };
    Some(match words {
        ["this", "week" | "wk", ..] | ["past", "week", ..] => (Tag::Time(When::ThisWeek), 2),
        ["last", "week" | "wk", ..] => (Tag::Time(When::LastWeek), 2),
        ["last" | "on" | "past", day, ..] if weekday(day).is_some() => {
            (Tag::Time(When::Weekday(weekday(day)?)), 2)
        }
        ["since", hour, ..] => (Tag::Time(When::SinceHour(hour_of(hour)?)), 2),
        ["this", "morning", ..] => (Tag::Time(When::Today), 2),
        ["how", "many" | "much", ..] => (Tag::HowMany, 2),
        ["head", "count", ..] => (Tag::HowMany, 2),
        ["how", "are", "you" | "u", ..] => (Tag::Greet, 3),
        ["what", "can", "you" | "u" | "i", ..] => (Tag::Help, 3),
        ["what", "things", ..] => (Tag::Help, 2),
        ["what", "do", "you" | "u", "do", ..] => (Tag::Help, 4),
        ["get" | "got", "here" | "there", ..] => (Tag::Arrive, 2),
        ["who", "are", "you" | "u", ..] => (Tag::Help, 3),
        ["good", "morning" | "afternoon" | "evening" | "day", ..] => (Tag::Greet, 2),
        ["get" | "got" | "come" | "came" | "show" | "showed" | "turn" | "turned", "in" | "up", ..] => {
            (Tag::Arrive, 2)
        }
        ["go" | "went", "home", ..] => (Tag::Leave, 2),
        ["in", "here" | "her" | "hier", ..] => (Tag::Here, 2),
        ["all" | "every" | "each", "the" | "of", "room" | "rooms", ..] => (Tag::All, 3),
        ["all" | "every" | "each", room, ..] if single(room) == Tag::Room => (Tag::All, 2),
        ["all", "of", "the", "rooms", ..] => (Tag::All, 4),
        ["everywhere" | "anywhere", ..] => (Tag::All, 1),
        ["last", "time", ..] => (Tag::Last, 2),
        ["how", adjective, ..] if matches!(single(adjective), Tag::Feeling(..)) => (Tag::How, 1),
        _ => return None,
    })
}

/// "9", "9am", "9:30", "14h": the hour.
fn hour_of(word: &str) -> Option<u8> {
    let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
    let hour: u8 = digits.parse().ok()?;
    let pm = word.ends_with("pm") && hour < 12;
    let hour = if pm { hour + 12 } else { hour };
    (hour < 24).then_some(hour)
}

/// One word's tag: exact vocabulary, fillers, then the vocabulary with typos.
pub fn single(word: &str) -> Tag {
    if let Some((_, tag)) = VOCABULARY.iter().find(|(known, _)| *known == word) {
        return tag.clone();
    }
    if super::fillers::FILLERS.contains(&word) {
        return Tag::Filler;
    }
    // The typo search is the costly part, and a question tags its words several times (groups
    // of one to four words): each thread remembers what its words were (a cache only; the
    // answer is the same without it).
    thread_local! {
        static TYPOS: std::cell::RefCell<std::collections::HashMap<String, Tag>> =
            std::cell::RefCell::default();
    }
    if let Some(tag) = TYPOS.with(|seen| seen.borrow().get(word).cloned()) {
        return tag;
    }
    let tag = fuzzy(word).unwrap_or_else(|| Tag::Open(word.to_string()));
    TYPOS.with(|seen| {
        let mut seen = seen.borrow_mut();
        if seen.len() >= 4096 {
            seen.clear();
        }
        seen.insert(word.to_string(), tag.clone());
    });
    tag
}

/// The vocabulary word `word` is a typo of, when exactly one is closest.
fn fuzzy(word: &str) -> Option<Tag> {
    let length = word.chars().count();
    if length < 4 || word.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut best: Option<(usize, &Tag)> = None;
    let mut tied = false;
    for (known, tag) in VOCABULARY {
        let allowed = allowed_edits(known.chars().count());
        if allowed == 0 || known.len().abs_diff(word.len()) > allowed {
            continue;
        }
        let distance = edit_distance(word, known);
        if distance > allowed {
            continue;
        }
        match best {
            Some((d, other)) if d == distance && other != tag => tied = true,
            Some((d, _)) if d <= distance => {}
            _ => {
                best = Some((distance, tag));
                tied = false;
            }
        }
    }
    best.filter(|_| !tied).map(|(_, tag)| tag.clone())
}

/// Edits a typo of a word this long may have.
pub fn allowed_edits(length: usize) -> usize {
    match length {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Optimal-string-alignment distance (edits, with adjacent swaps counting as one).
pub fn edit_distance(a: &str, b: &str) -> usize {
    if a.is_ascii() && b.is_ascii() && a.len() < SHORT && b.len() < SHORT {
        return short_distance(a.as_bytes(), b.as_bytes());
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// Words shorter than this are compared without allocating (three rolling rows).
const SHORT: usize = 32;

/// [`edit_distance`] of two short ASCII words.
fn short_distance(a: &[u8], b: &[u8]) -> usize {
    let mut before = [0usize; SHORT];
    let mut previous = [0usize; SHORT];
    let mut row = [0usize; SHORT];
    for (j, cell) in previous.iter_mut().enumerate().take(b.len() + 1) {
        *cell = j;
    }
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(row[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            row[j] = best;
        }
        before = previous;
        previous = row;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_words_measure_as_long_ones_do() {
        let long = |a: &str, b: &str| {
            let padded = |w: &str| format!("{w}é");
            edit_distance(&padded(a), &padded(b))
        };
        for (a, b) in [
            ("temprature", "temperature"),
            ("coldets", "coldest"),
            ("hwo", "who"),
            ("", "lobby"),
            ("kitchen", ""),
            ("sapce", "space"),
            ("meetng", "meeting"),
        ] {
            assert_eq!(edit_distance(a, b), long(a, b), "{a} {b}");
        }
    }

    #[test]
    fn everyday_words_and_their_typos() {
        assert_eq!(single("chilly"), Tag::Feeling(Quantity::Temperature, false));
        assert_eq!(
            single("coldets"),
            Tag::Extreme(Quantity::Temperature, false)
        );
        assert_eq!(single("alrts"), Tag::Alerts);
        assert_eq!(single("temprature"), Tag::Quantity(Quantity::Temperature));
        assert_eq!(single("evrywhere"), Tag::All);
        assert_eq!(single("lovelace"), Tag::Open("lovelace".into()));
        assert_eq!(
            tag(&["who", "was", "in", "last", "monday"]),
            vec![Tag::Who, Tag::Past, Tag::In, Tag::Time(When::Weekday(0))]
        );
        assert_eq!(tag(&["since", "9am"]), vec![Tag::Time(When::SinceHour(9))]);
        assert_eq!(tag(&["in", "all", "rooms"]), vec![Tag::In, Tag::All]);
        assert_eq!(tag(&["is", "it", "warm", "in", "here"])[3], Tag::Here);
    }
}
