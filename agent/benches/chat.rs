//! Chat understanding and answering, a plain `main` printing figures (no harness): every
//! question of the held-out lists (`agent/src/chat/heldout/*.txt`) is parsed and planned
//! (`chat::parse` + `chat::plan`, the pure path every adapter takes) against a replica of an
//! office of 40 people, 8 rooms with three quantities each, targets, and 30 days of attendance
//! history, plus three long questions. Prints the median and the slowest question's median,
//! and the same for the first time each question is asked, in µs per question.
//!
//! Run: `cargo bench -p officemesh --bench chat` (repetitions per question: `CHAT_BENCH_REPS`,
//! default 50).

use std::time::Instant;

use chrono::FixedOffset;
use officemesh::chat::{parse, plan, View};
use officemesh::crdt::{NodeId, Stamp};
use officemesh::state::query::Completeness;
use officemesh::state::{
    AttendanceValue, Key, MacSeen, NodeInfo, PersonInfo, ReadingStatus, ReadingValue, Replica,
    TargetValue, Value,
};
use officemesh_sensors::{MacAddr, Quantity};

const NOW: u64 = 1_763_901_720_000; // 2025-11-23 12:42 UTC
const DAY: u64 = 86_400_000;
const FIRST: [&str; 10] = [
    "Ada", "Bob", "Grace", "Alan", "Carol", "Dennis", "Edsger", "Frances", "Guido", "Hedy",
];
const LAST: [&str; 4] = ["Lovelace", "Smith", "Hopper", "Turing"];
const ROOMS: [&str; 8] = [
    "lobby",
    "meeting room",
    "kitchen",
    "lab",
    "studio",
    "library",
    "open space",
    "workshop",
];

struct Writer {
    replica: Replica,
    time: u64,
}

impl Writer {
    fn put(&mut self, key: Key, value: Value) {
        self.time += 1;
        if let Err(err) = self
            .replica
            .write(key, Some(value), Stamp::new(self.time, NodeId(1)))
        {
            eprintln!("bench fixture write refused: {err}");
        }
    }
}

fn office() -> Replica {
    let mut w = Writer {
        replica: Replica::new(NodeId(1)),
        time: 1,
    };
    for (i, room) in ROOMS.iter().enumerate() {
        let node = NodeId(i as u64 + 1);
        let info = NodeInfo {
            name: format!("pi-{}", i + 1),
            room: (*room).into(),
            gossip_addr: String::new(),
            api_addr: String::new(),
            version: "bench".into(),
            started_at_ms: 0,
        };
        w.put(Key::Node(node), Value::Node(info));
        for (quantity, value) in [
            (Quantity::Temperature, 19.0 + i as f64),
            (Quantity::Humidity, 35.0 + i as f64),
            (Quantity::Sound, 40.0 + 2.0 * i as f64),
        ] {
            let key = Key::Reading {
                node,
                sensor: "desk".into(),
                quantity,
            };
            let reading = ReadingValue {
                value,
                unit: quantity.unit().into(),
                room: (*room).into(),
                status: ReadingStatus::Ok,
                taken_at_ms: NOW - 10_000,
            };
            w.put(key, Value::Reading(reading));
        }
        let target = TargetValue {
            value: 22.0,
            tolerance: 1.0,
        };
        let key = Key::Target {
            room: (*room).into(),
            quantity: Quantity::Temperature,
        };
        w.put(key, Value::Target(target));
    }
    for p in 0..40u8 {
        let name = format!(
            "{} {}",
            FIRST[usize::from(p) % 10],
            LAST[usize::from(p) / 10]
        );
        let mac = MacAddr([0xb8, 0x27, 0xeb, 0, 1, p]);
        let person = Key::Person {
            name: name.clone(),
            mac,
        };
        let info = PersonInfo {
            added_by: "bench".into(),
        };
        w.put(person, Value::Person(info));
        let seen = MacSeen {
            ip: format!("192.0.2.{p}"),
            first_seen_ms: 0,
            last_seen_ms: NOW - u64::from(p) * 60_000,
            randomized: false,
            present_until_ms: 0,
        };
        let observer = NodeId(u64::from(p % 8) + 1);
        w.put(Key::Mac { mac, observer }, Value::Mac(seen));
        for day in 0..30u64 {
            let start = NOW - day * DAY - 4 * 3_600_000;
            let key = Key::Attendance {
                name: name.clone(),
                day: officemesh::state::presence::day_of(start),
            };
            let value = AttendanceValue {
                first_in_ms: start,
                last_in_ms: start + 8 * 3_600_000,
            };
            w.put(key, Value::Attendance(value));
        }
    }
    w.replica
}

/// Long questions as a polite colleague writes them (context after the question).
const LONG: [&str; 3] = [
    "Would you be so kind as to tell me how many people are in the office at the moment? I'm \
     trying to work out how much cake to order for this afternoon.",
    "I was wondering whether it's too stuffy in the meeting room at the moment, as we have \
     clients coming in at eleven.",
    "Please could you forget my old phone, as I've handed it in to be recycled? Its MAC \
     address was a4:5e:60:d2:13:09.",
];

fn questions() -> Vec<String> {
    [
        include_str!("../src/chat/heldout/admin.txt"),
        include_str!("../src/chat/heldout/chatty.txt"),
        include_str!("../src/chat/heldout/phone.txt"),
        include_str!("../src/chat/heldout/fresh.txt"),
    ]
    .iter()
    .flat_map(|list| list.lines())
    .filter(|line| !line.starts_with('#'))
    .filter_map(|line| line.split_once(" | ").map(|(_, q)| q.to_string()))
    .chain(LONG.map(String::from))
    .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let reps: usize = std::env::var("CHAT_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let replica = office();
    let completeness = Completeness::default();
    let Some(utc) = FixedOffset::east_opt(0) else {
        return;
    };
    let view = View {
        replica: &replica,
        completeness: &completeness,
        peers: &[],
        self_node: NodeId(1),
        consider_home_ms: 180_000,
        alert_after_s: 300,
        history_days: 30,
        now_ms: NOW,
        offset: utc,
        clocks: (500, None),
    };
    let questions = questions();
    let mut per_question = Vec::with_capacity(questions.len());
    // The first time a question is seen: its typo lookups not yet cached.
    let mut first_times = Vec::with_capacity(questions.len());
    let mut slowest = (0.0, String::new());
    for question in &questions {
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let start = Instant::now();
            let planned = plan(&view, "carol", &parse(question));
            std::hint::black_box(planned);
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
        first_times.push(times.first().copied().unwrap_or_default());
        let question_median = median(times);
        if question_median > slowest.0 {
            slowest = (question_median, question.clone());
        }
        per_question.push(question_median);
    }
    println!(
        "chat parse+plan: {} questions x {reps} reps, replica of {} entries",
        questions.len(),
        replica.len()
    );
    println!("  median {:.1} µs per question", median(per_question));
    let first_max = first_times.iter().copied().fold(0.0, f64::max);
    println!(
        "  first time asked: median {:.1} µs, slowest {first_max:.1} µs",
        median(first_times)
    );
    println!(
        "  slowest question median {:.1} µs ({:?})",
        slowest.0, slowest.1
    );
}
