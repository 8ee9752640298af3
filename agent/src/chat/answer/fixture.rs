//! A realistic office to ask questions of, and the scoring harness for lists of phrasings.
//!
//! The office ([`Demo`]): five Pis (pi-lobby answers, in the lobby; pi-kitchen, pi-meeting,
//! pi-studio, pi-open in the open space), each room with temperature, humidity and sound
//! readings; Ada Lovelace, Bob Marley and Linus Torvalds in (Ada seen by pi-lobby, Bob and
//! Linus by pi-open), Grace Hopper out since two hours, two unknown devices; a studio
//! temperature target of 21 ± 1 °C with its raised alert; attendance history on (30 days) with
//! this week and last week's Thursday and Friday. Now is Wednesday 2025-11-26 12:42 UTC.
//!
//! The harness ([`score_phrasings`], ignored): answers every line of the files in
//! `OFFICEMESH_PHRASINGS` (paths separated by `:`) and prints `question → intent → answer`
//! for a person to judge, with the fallbacks counted per list. A line `EXPECTED | question`
//! (the `understand_table` labels, e.g. `is_in:ada`) is also checked against its label.
//!
//! ```sh
//! OFFICEMESH_PHRASINGS=/work/phrasings/priya.txt:/work/phrasings/tomasz.txt \
//!   cargo test -p officemesh --lib chat::answer::fixture -- --ignored --nocapture
//! ```
//!
//! Test-only; the table test (`understand_table`) understands its office phrasings here.

use officemesh_sensors::Quantity;

use super::tests::{mac, Office};
use super::*;
use crate::chat::understand::table::label;
use crate::state::presence::day_of;
use crate::state::query::Completeness;
use crate::state::{
    AlertValue, AttendanceValue, DeviceCount, MacSeen, NodeInfo, PersonInfo, ReadingStatus,
    ReadingValue, TargetValue,
};

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
/// Wednesday 2025-11-26 12:42 UTC.
pub(crate) const NOW: u64 = 1_764_160_920_000;
/// Wednesday 2025-11-26 00:00 UTC.
const MIDNIGHT: u64 = NOW - 12 * HOUR - 42 * MINUTE;

/// (name, device, seen by node (`None`: away), last seen).
const PEOPLE: [(&str, u8, Option<u64>, u64); 4] = [
    ("Ada Lovelace", 1, Some(1), NOW - MINUTE),
    ("Bob Marley", 2, Some(5), NOW - MINUTE),
    ("Grace Hopper", 3, None, NOW - 2 * HOUR),
    ("Linus Torvalds", 4, Some(5), NOW - MINUTE),
];

/// (node, Pi, room, °C, %, dB).
const ROOMS: [(u64, &str, &str, f64, f64, f64); 5] = [
    (1, "pi-lobby", "lobby", 21.0, 38.0, 48.0),
    (2, "pi-kitchen", "kitchen", 22.5, 55.0, 58.0),
    (3, "pi-meeting", "meeting room", 19.5, 45.0, 35.0),
    (4, "pi-studio", "studio", 24.5, 42.0, 41.0),
    (5, "pi-open", "open space", 22.0, 40.0, 52.0),
];

/// Hours and minutes after midnight.
type Clock = (u64, u64);

/// (person, days before today, first in, last in).
const ATTENDANCE: [(&str, u64, Clock, Clock); 12] = [
    ("Ada Lovelace", 0, (9, 12), (12, 41)),
    ("Bob Marley", 0, (8, 5), (12, 41)),
    ("Linus Torvalds", 0, (10, 30), (12, 41)),
    ("Grace Hopper", 0, (8, 40), (10, 42)),
    ("Ada Lovelace", 1, (8, 55), (17, 10)),
    ("Grace Hopper", 1, (9, 30), (16, 45)),
    ("Bob Marley", 1, (10, 0), (18, 20)),
    ("Linus Torvalds", 2, (9, 0), (17, 0)),
    ("Grace Hopper", 2, (9, 15), (15, 30)),
    ("Ada Lovelace", 5, (9, 0), (16, 0)),
    ("Bob Marley", 5, (11, 0), (15, 0)),
    ("Linus Torvalds", 6, (8, 30), (17, 30)),
];

/// The office the phrasings are asked in.
pub(crate) struct Demo {
    office: Office,
}

impl Demo {
    pub(crate) fn new() -> Demo {
        let mut office = Office {
            replica: Replica::new(NodeId(1)),
            time: 1,
            history_days: 30,
        };
        for (id, name, room, temperature, humidity, sound) in ROOMS {
            office.write(Key::Node(NodeId(id)), Some(Value::Node(node(name, room))));
            for (quantity, value) in [
                (Quantity::Temperature, temperature),
                (Quantity::Humidity, humidity),
                (Quantity::Sound, sound),
            ] {
                let key = Key::Reading {
                    node: NodeId(id),
                    sensor: "desk".into(),
                    quantity,
                };
                office.write(key, Some(Value::Reading(reading(room, quantity, value))));
            }
        }
        people(&mut office);
        targets_and_alerts(&mut office);
        for (name, ago, first, last) in ATTENDANCE {
            let day = MIDNIGHT - ago * DAY;
            let at = |(h, m): Clock| day + h * HOUR + m * MINUTE;
            let key = Key::Attendance {
                name: name.into(),
                day: day_of(day),
            };
            let value = AttendanceValue {
                first_in_ms: at(first),
                last_in_ms: at(last),
            };
            office.write(key, Some(Value::Attendance(value)));
        }
        Demo { office }
    }

    fn view(&self) -> View<'_> {
        View {
            replica: &self.office.replica,
            completeness: EMPTY.get_or_init(Completeness::default),
            peers: &[],
            self_node: NodeId(1),
            consider_home_ms: 3 * MINUTE,
            alert_after_s: 300,
            history_days: self.office.history_days,
            now_ms: NOW,
            offset: super::tests::utc(),
            clocks: (5_000, None),
        }
    }

    /// What `question` is understood as here (the office's people and rooms known).
    pub(crate) fn understand(&self, question: &str) -> Command {
        understood(&self.view(), &crate::chat::parse(question))
    }

    /// The reply to `question` from carol.
    pub(crate) fn answer(&self, question: &str) -> String {
        plan(&self.view(), "carol", &crate::chat::parse(question)).reply
    }
}

static EMPTY: std::sync::OnceLock<Completeness> = std::sync::OnceLock::new();

fn node(name: &str, room: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        room: room.into(),
        gossip_addr: String::new(),
        api_addr: String::new(),
        version: "test".into(),
        started_at_ms: 0,
    }
}

fn reading(room: &str, quantity: Quantity, value: f64) -> ReadingValue {
    ReadingValue {
        value,
        unit: quantity.unit().into(),
        room: room.into(),
        status: ReadingStatus::Ok,
        taken_at_ms: NOW - 12_000,
    }
}

fn people(office: &mut Office) {
    for (name, device, observer, last_seen_ms) in PEOPLE {
        let person = Key::Person {
            name: name.into(),
            mac: mac(device),
        };
        let info = PersonInfo {
            added_by: format!("claim:{}", name.to_lowercase()),
        };
        office.write(person, Some(Value::Person(info)));
        let seen = MacSeen {
            ip: format!("192.0.2.{device}"),
            first_seen_ms: MIDNIGHT + 8 * HOUR,
            last_seen_ms,
            randomized: false,
            present_until_ms: 0,
        };
        let key = Key::Mac {
            mac: mac(device),
            observer: NodeId(observer.unwrap_or(1)),
        };
        office.write(key, Some(Value::Mac(seen)));
    }
    let unknown = DeviceCount {
        subnet: "192.0.2.0/24".into(),
        room: "open space".into(),
        unknown: 2,
    };
    let key = Key::Devices {
        observer: NodeId(5),
    };
    office.write(key, Some(Value::Devices(unknown)));
}

fn targets_and_alerts(office: &mut Office) {
    let studio = |quantity| Key::Target {
        room: "studio".into(),
        quantity,
    };
    let target = TargetValue {
        value: 21.0,
        tolerance: 1.0,
    };
    office.write(studio(Quantity::Temperature), Some(Value::Target(target)));
    let alert = AlertValue {
        raised: true,
        by: NodeId(4),
        since_ms: NOW - 25 * MINUTE,
        message: "studio temperature is at 24.5 °C, above its target 21 ± 1 °C since 12:17".into(),
    };
    let key = Key::Alert {
        room: "studio".into(),
        quantity: Quantity::Temperature,
    };
    office.write(key, Some(Value::Alert(alert)));
}

/// One line of a phrasing list: an optional expected label and the question.
fn split_line(line: &str) -> (Option<&str>, &str) {
    match line.split_once(" | ") {
        Some((want, question)) if !want.trim().contains(' ') => (Some(want.trim()), question),
        _ => (None, line),
    }
}

/// Scores the lists in `OFFICEMESH_PHRASINGS` (see the module header).
#[test]
#[ignore = "a harness: OFFICEMESH_PHRASINGS=list.txt … -- --ignored --nocapture"]
fn score_phrasings() {
    let lists = std::env::var("OFFICEMESH_PHRASINGS").unwrap_or_default();
    let demo = Demo::new();
    for path in lists.split(':').filter(|p| !p.is_empty()) {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let (mut fallbacks, mut mislabelled) = (0, 0);
        println!("== {path}");
        let started = std::time::Instant::now();
        for (n, line) in lines.iter().enumerate() {
            let (want, question) = split_line(line);
            let got = label(&demo.understand(question));
            let reply = demo.answer(question);
            let fallback = reply.starts_with("Sorry, I didn't understand");
            fallbacks += usize::from(fallback);
            let wrong = want.is_some_and(|want| want != got);
            mislabelled += usize::from(wrong);
            let mark = if fallback || wrong { "✗" } else { " " };
            println!(
                "{mark}{:3} {question}\n      → {got}{}\n      → {}",
                n + 1,
                want.filter(|_| wrong)
                    .map(|w| format!(" (want {w})"))
                    .unwrap_or_default(),
                reply.replace('\n', " / ")
            );
        }
        let per = started.elapsed() / u32::try_from(lines.len().max(1)).unwrap_or(1);
        println!(
            "== {path}: {} lines, {fallbacks} fallbacks, {mislabelled} not as labelled \
             ({per:?} per question, parse + plan, this build)\n",
            lines.len()
        );
    }
}
