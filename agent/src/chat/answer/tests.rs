//! Shared fixture for the answer tests (an office of two Pis, people, readings) and the tests
//! that cross commands (partition caveats, unknown input). Each command's own tests live in
//! its file and use this fixture.

use chrono::FixedOffset;
use officemesh_sensors::{MacAddr, Quantity};

use super::*;
use crate::crdt::Stamp;
use crate::state::query::{Completeness, UnreachableNode};
use crate::state::{MacSeen, NodeInfo, PersonInfo, ReadingStatus, ReadingValue};

pub(super) const NOW: u64 = 1_763_901_720_000; // 2025-11-23 12:42 UTC
pub(super) const MINUTE: u64 = 60_000;

pub(super) fn mac(last: u8) -> MacAddr {
    MacAddr([0xb8, 0x27, 0xeb, 0, 0, last])
}

pub(super) struct Office {
    pub(super) replica: Replica,
    pub(super) time: u64,
    /// `presence.history_days` the answers see (0: off).
    pub(super) history_days: u32,
}

impl Office {
    pub(super) fn write(&mut self, key: Key, value: Option<Value>) {
        self.time += 1;
        let me = self.replica.me();
        self.replica
            .write(key, value, Stamp::new(self.time, me))
            .expect("fresh stamps win");
    }

    pub(super) fn apply(&mut self, plan: &Plan) {
        for (key, value) in plan.writes.clone() {
            self.write(key, value);
        }
    }
}

/// pi-a (lobby, this node) sees ada's phone; pi-b (meeting room) sees bob's laptop and an
/// unknown device; each has a temperature reading.
pub(super) fn office() -> Office {
    let mut office = Office {
        replica: Replica::new(NodeId(1)),
        time: 1,
        history_days: 0,
    };
    for (id, name, room) in [(1, "pi-a", "lobby"), (2, "pi-b", "meeting room")] {
        office.write(
            Key::Node(NodeId(id)),
            Some(Value::Node(NodeInfo {
                name: name.into(),
                room: room.into(),
                gossip_addr: String::new(),
                api_addr: String::new(),
                version: "test".into(),
                started_at_ms: 0,
            })),
        );
    }
    for (name, m) in [("ada", 1), ("bob", 2)] {
        office.write(
            Key::Person {
                name: name.into(),
                mac: mac(m),
            },
            Some(Value::Person(PersonInfo {
                added_by: "test".into(),
            })),
        );
    }
    for (m, observer) in [(1, 1), (2, 2), (3, 2)] {
        office.write(
            Key::Mac {
                mac: mac(m),
                observer: NodeId(observer),
            },
            Some(Value::Mac(MacSeen {
                ip: format!("192.0.2.{m}"),
                first_seen_ms: 0,
                last_seen_ms: NOW - MINUTE,
                randomized: false,
                present_until_ms: 0,
            })),
        );
    }
    // pi-b also sees one device nobody registered: only its count is replicated.
    office.write(
        Key::Devices {
            observer: NodeId(2),
        },
        Some(Value::Devices(crate::state::DeviceCount {
            subnet: "192.0.2.0/24".into(),
            room: "meeting room".into(),
            unknown: 1,
        })),
    );
    for (node, room, value) in [(1, "lobby", 21.04), (2, "meeting room", 23.5)] {
        office.write(
            Key::Reading {
                node: NodeId(node),
                sensor: "desk".into(),
                quantity: Quantity::Temperature,
            },
            Some(Value::Reading(ReadingValue {
                value,
                unit: "°C".into(),
                room: room.into(),
                status: ReadingStatus::Ok,
                taken_at_ms: NOW - 12_000,
            })),
        );
    }
    office
}

pub(super) fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("UTC")
}

pub(super) fn pi_b_unreachable() -> Completeness {
    Completeness {
        complete: false,
        unreachable: vec![UnreachableNode {
            node: NodeId(2),
            name: "pi-b".into(),
            room: "meeting room".into(),
            status: crate::peer::MemberStatus::Dead,
            since_ms: Some(NOW - 40 * MINUTE),
        }],
        clock_ahead: Vec::new(),
        own_clock_ahead_ms: None,
    }
}

pub(super) fn run(office: &Office, completeness: &Completeness, user: &str, text: &str) -> Plan {
    let command = super::super::grammar::parse(text);
    run_command(office, completeness, user, &command)
}

/// What `command` from `user` plans (`Command::Ask`: read as the adapters hand it over).
fn run_command(
    office: &Office,
    completeness: &Completeness,
    user: &str,
    command: &Command,
) -> Plan {
    let view = View {
        replica: &office.replica,
        completeness,
        peers: &[],
        self_node: NodeId(1),
        consider_home_ms: 3 * MINUTE,
        alert_after_s: 300,
        history_days: office.history_days,
        now_ms: NOW,
        offset: utc(),
        clocks: (5_000, None),
    };
    plan(&view, user, command)
}

/// What carol's message plans, with every node reachable.
pub(super) fn tell(office: &Office, text: &str) -> Plan {
    run(office, &Completeness::default(), "carol", text)
}

pub(super) fn ask(office: &Office, text: &str) -> String {
    tell(office, text).reply
}

/// Fails, showing the whole reply, when `reply` does not contain `part`.
#[track_caller]
pub(super) fn assert_has(reply: &str, part: &str) {
    assert!(reply.contains(part), "{part:?} missing from: {reply}");
}

#[test]
fn answers_say_whose_clock_is_ahead_and_that_its_updates_are_ignored() {
    let office = office();
    let held_back = Completeness {
        complete: false,
        unreachable: Vec::new(),
        clock_ahead: vec![crate::state::query::ClockAheadNode {
            node: NodeId(3),
            name: "pi-3".into(),
            room: "meeting room".into(),
            ahead_ms: 58 * MINUTE + 31_000,
        }],
        own_clock_ahead_ms: None,
    };
    let caveat = "pi-3's clock is 58 min ahead; I'm ignoring its updates until it is fixed.";
    assert_has(
        &run(&office, &held_back, "carol", "who's at the office?").reply,
        caveat,
    );
    assert_has(
        &run(&office, &held_back, "carol", "meeting room temp").reply,
        caveat,
    );
    let lobby = run(&office, &held_back, "carol", "lobby temp").reply;
    assert!(
        !lobby.contains("pi-3"),
        "only the asked room's nodes: {lobby}"
    );
    assert_has(&run(&office, &held_back, "carol", "status").reply, caveat);
}

#[test]
fn status_says_when_this_nodes_own_clock_looks_ahead() {
    let office = office();
    let ahead = Completeness {
        complete: true,
        own_clock_ahead_ms: Some(61 * MINUTE),
        ..Completeness::default()
    };
    assert_has(
        &run(&office, &ahead, "carol", "status").reply,
        "Careful: this node's clock looks 1 h 1 min ahead of every peer's; they ignore its \
         updates until it is fixed.",
    );
    let fine = run(&office, &Completeness::default(), "carol", "status").reply;
    assert!(!fine.contains("Careful"), "{fine}");
}

#[test]
fn answers_name_unreachable_nodes_and_since_when() {
    let office = office();
    let partitioned = pi_b_unreachable();
    let reply = run(&office, &partitioned, "carol", "who's at the office?").reply;
    assert_has(
        &reply,
        "I can't reach pi-b (meeting room) since 12:02, so I may be missing people there.",
    );
    let lobby = run(&office, &partitioned, "carol", "lobby temp").reply;
    assert!(
        !lobby.contains("can't reach"),
        "only the asked room's nodes: {lobby}"
    );
    let meeting = run(&office, &partitioned, "carol", "meeting room temp").reply;
    assert_has(
        &meeting,
        "I can't reach pi-b (meeting room) since 12:02, so I may be missing readings there.",
    );
    let status = run(&office, &partitioned, "carol", "status").reply;
    assert_has(
        &status,
        "pi-b (meeting room): unreachable (dead) since 12:02",
    );
    assert_has(&status, "pi-a (lobby): this node");
    assert!(
        status.starts_with("Mesh: 2 nodes known, 1 unreachable from here."),
        "{status}"
    );
}

#[test]
fn several_people_or_days_are_answered_one_line_each_with_the_caveats_once() {
    let mut office = office();
    let partitioned = pi_b_unreachable();
    let caveat = "I can't reach pi-b (meeting room) since 12:02, so I may be missing people there.";
    let asked = Command::Ask {
        text: "is ada or bob in?".into(),
    };
    let people = run_command(&office, &partitioned, "carol", &asked).reply;
    let lines: Vec<&str> = people.lines().collect();
    assert_eq!(lines.len(), 3, "{people}");
    assert!(
        lines[0].starts_with("Yes, ada is in") && lines[1].contains("bob"),
        "{people}"
    );
    assert_eq!(lines[2], caveat, "{people}");
    let off = run(&office, &partitioned, "carol", "monday vs tuesday").reply;
    assert_eq!(off.matches("History is off").count(), 1, "{off}");
    office.history_days = 30;
    let days = run(&office, &partitioned, "carol", "monday vs tuesday").reply;
    assert_eq!(days.matches(caveat).count(), 1, "{days}");
    assert!(
        days.contains("on Monday") && days.contains("on Tuesday"),
        "{days}"
    );
}

#[test]
fn unknown_and_bad_input_always_get_an_answer() {
    let office = office();
    let unknown = ask(&office, "make me a sandwich");
    assert_has(&unknown, "didn't understand");
    assert_has(&unknown, "who's in?");
    let bad_mac = ask(&office, "i am aa:bb:cc");
    assert_has(&bad_mac, "not a usable MAC address");
    assert_has(&bad_mac, "six hex pairs");
    let help = ask(&office, "help");
    assert_has(&help, "forget me");
}
