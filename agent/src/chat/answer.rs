//! Executing a chat [`Command`] and rendering the reply.
//!
//! [`plan`] is pure: over a [`View`] (a replica, what this node cannot reach, the peer table,
//! the time) it renders the reply and lists the writes the command needs. [`answer`] is the
//! thin layer over `runtime::Shared`: it builds the view, plans under the replica lock, then
//! makes the writes durable (`Shared::write_durable`) before the reply says they happened.
//!
//! Answers are partition-aware: when nodes are unreachable the reply says which, where, and
//! since when ("I can't reach pi-3 (meeting room) since 10:02, so I may be missing people
//! there."). Nothing here opens a socket.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{FixedOffset, Offset};
use officemesh_sensors::{MacAddr, Quantity};

use super::grammar::{edit_distance, Command};
use super::text::{age_text, clock_text, number_text};
use crate::crdt::NodeId;
use crate::peer::PeerStatus;
use crate::shared::Shared;
use crate::state::key::validate_label;
use crate::state::query::{self, Completeness, ReadingFilter, UnreachableNode};
use crate::state::{Key, PersonInfo, ReadingStatus, Replica, TargetValue, Value};

/// The reply to one chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
}

/// Everything a command is answered from. Times in ms since the Unix epoch.
pub struct View<'a> {
    pub replica: &'a Replica,
    pub completeness: &'a Completeness,
    /// The gossip layer's peer table (empty when gossip is not running).
    pub peers: &'a [PeerStatus],
    pub self_node: NodeId,
    pub consider_home_ms: u64,
    /// `chat.alert_after_s`, for the reply to "set … to …".
    pub alert_after_s: u64,
    pub now_ms: u64,
    /// The local time zone, for "since 10:02".
    pub offset: FixedOffset,
}

/// A rendered reply and the writes it depends on (made before the reply is sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub reply: String,
    pub writes: Vec<(Key, Option<Value>)>,
}

impl Plan {
    fn say(reply: impl Into<String>) -> Plan {
        Plan {
            reply: reply.into(),
            writes: Vec::new(),
        }
    }
}

/// The one-line help that answers anything the grammar does not know.
pub const SHORT_HELP: &str = "Try: \"who's in?\", \"meeting room temp\", \"i am aa:bb:cc:dd:ee:ff\", \"forget me\", \"set meeting room temperature to 22\", \"status\" or \"help\".";

const LONG_HELP: &str = "I answer from the office mesh:\n\
• who's in? — who is at the office (or \"who's in the kitchen\")\n\
• meeting room temp — latest temperature (also humidity, sound; leave out the room for every room)\n\
• i am aa:bb:cc:dd:ee:ff — this device (your phone's Wi-Fi MAC) is yours, so I can count you in\n\
• forget me — remove all your devices (or \"forget aa:bb:cc:dd:ee:ff\" for one)\n\
• set meeting room temperature to 22 — the target; I alert when a room stays outside it\n\
• status — the mesh: which Pis are up, which I cannot reach";

/// Executes `command` for `user` against the agent: reads from the replica, writes durably.
pub async fn answer(shared: &Shared, user: &str, command: &Command, now_ms: u64) -> Reply {
    let completeness = shared.completeness();
    let peers = shared.peers();
    let offset = chrono::Local::now().offset().fix();
    let planned = {
        let replica = shared.replica();
        let view = View {
            replica: &replica,
            completeness: &completeness,
            peers: &peers,
            self_node: shared.node,
            consider_home_ms: shared.config.presence.consider_home_s * 1000,
            alert_after_s: shared.config.chat.alert_after_s,
            now_ms,
            offset,
        };
        plan(&view, user, command)
    };
    for (key, value) in planned.writes {
        if let Err(err) = shared.write_durable(key.clone(), value).await {
            tracing::error!(key = %key, error = %err, "chat write failed");
            return Reply {
                text: format!("Sorry, I could not save that ({err}). Please try again."),
            };
        }
    }
    Reply {
        text: planned.reply,
    }
}

/// Renders the reply to `command` from `user` and the writes it needs. Pure.
pub fn plan(view: &View<'_>, user: &str, command: &Command) -> Plan {
    match command {
        Command::Help => Plan::say(LONG_HELP),
        Command::Unknown { text } => Plan::say(format!(
            "Sorry, I didn't understand \"{}\". {SHORT_HELP}",
            text.chars().take(80).collect::<String>()
        )),
        Command::WhoIsIn { room } => Plan::say(who_is_in(view, room.as_deref())),
        Command::Reading { room, quantity } => {
            Plan::say(readings(view, room.as_deref(), *quantity))
        }
        Command::Status => Plan::say(status(view)),
        Command::BadMac { text, reason } => Plan::say(format!(
            "{}: {reason}. Write it as six hex pairs, like \"i am aa:bb:cc:dd:ee:ff\" (on a phone: Settings → About → Wi-Fi address; turn off the private/random address for the office Wi-Fi).",
            if text.is_empty() { "No MAC address".to_string() } else { format!("\"{text}\" is not a usable MAC address") }
        )),
        Command::BadSet { reason } => Plan::say(format!("I can't set that: {reason}.")),
        Command::Register { mac } => register(view, user, *mac),
        Command::ForgetMe => forget_me(view, user),
        Command::Forget { mac } => forget(view, user, *mac),
        Command::SetTarget {
            room,
            quantity,
            value,
        } => set_target(view, user, room, *quantity, *value),
    }
}

/// "I can't reach pi-3 (meeting room) since 10:02, so I may be missing {what} there." for each
/// unreachable node (only those in `room` when given).
fn caveats(view: &View<'_>, room: Option<&str>, what: &str) -> Vec<String> {
    view.completeness
        .unreachable
        .iter()
        .filter(|node| room.is_none_or(|room| node.room.eq_ignore_ascii_case(room)))
        .map(|node| caveat(view, node, what))
        .collect()
}

fn caveat(view: &View<'_>, node: &UnreachableNode, what: &str) -> String {
    let when = match node.since_ms {
        Some(since) => format!("since {}", clock_text(since, view.now_ms, view.offset)),
        None => format!("right now ({})", node.status),
    };
    format!(
        "I can't reach {} ({}) {when}, so I may be missing {what} there.",
        node.name, node.room
    )
}

fn with_caveats(mut text: String, caveats: Vec<String>) -> String {
    for caveat in caveats {
        text.push('\n');
        text.push_str(&caveat);
    }
    text
}

/// How a room name someone typed matches the rooms this node knows.
#[derive(Debug, Clone, PartialEq)]
enum RoomMatch {
    Exact(String),
    /// A close spelling of one known room ("meting room").
    Close(String),
    None,
}

/// Rooms this node knows: of nodes, readings and targets.
fn known_rooms(replica: &Replica) -> BTreeSet<String> {
    replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Node(_), Value::Node(info)) => Some(info.room.clone()),
            (Key::Reading { .. }, Value::Reading(reading)) => Some(reading.room.clone()),
            (Key::Target { room, .. }, _) => Some(room.clone()),
            _ => None,
        })
        .collect()
}

fn match_room(asked: &str, known: &BTreeSet<String>) -> RoomMatch {
    let asked = asked.trim().to_lowercase();
    if let Some(room) = known.iter().find(|room| room.to_lowercase() == asked) {
        return RoomMatch::Exact(room.clone());
    }
    let allowed = match asked.chars().count() {
        0..=3 => 0,
        4..=6 => 1,
        7..=12 => 2,
        _ => 3,
    };
    let mut scored: Vec<(usize, &String)> = known
        .iter()
        .map(|room| (edit_distance(&asked, &room.to_lowercase()), room))
        .filter(|(distance, _)| *distance <= allowed)
        .collect();
    scored.sort();
    match scored.as_slice() {
        [(best, room)] => {
            let _ = best;
            RoomMatch::Close((*room).clone())
        }
        [(best, room), (second, _), ..] if best < second => RoomMatch::Close((*room).clone()),
        _ => RoomMatch::None,
    }
}

fn rooms_list(known: &BTreeSet<String>) -> String {
    if known.is_empty() {
        "I don't know any rooms yet".to_string()
    } else {
        format!(
            "rooms I know: {}",
            known.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    }
}

fn who_is_in(view: &View<'_>, room: Option<&str>) -> String {
    let answer = query::presence(
        view.replica,
        view.now_ms,
        view.consider_home_ms,
        view.completeness.clone(),
    );
    let registered = answer.people.len();
    let (room, note) = match room {
        None => (None, String::new()),
        Some(asked) => match match_room(asked, &known_rooms(view.replica)) {
            RoomMatch::Exact(room) => (Some(room), String::new()),
            RoomMatch::Close(room) => {
                let note = format!("(I took \"{asked}\" to mean {room}.) ");
                (Some(room), note)
            }
            RoomMatch::None => {
                return format!(
                    "I don't know a room called \"{asked}\"; {}.",
                    rooms_list(&known_rooms(view.replica))
                )
            }
        },
    };
    let node_rooms: BTreeMap<String, String> =
        query::node_names(view.replica).into_values().collect();
    let present: Vec<String> = answer
        .people
        .iter()
        .filter(|person| person.present)
        .filter(|person| match &room {
            None => true,
            Some(room) => person.devices.iter().any(|device| {
                device.present
                    && device.seen_by.iter().any(|node| {
                        node_rooms
                            .get(node)
                            .is_some_and(|r| r.eq_ignore_ascii_case(room))
                    })
            }),
        })
        .map(|person| person.name.clone())
        .collect();
    let place = room.as_deref().unwrap_or("the office");
    let mut text = note;
    if registered == 0 {
        text.push_str(
            "Nobody has registered a device yet, so I can't tell who is in. Say \"i am aa:bb:cc:dd:ee:ff\" with your phone's Wi-Fi MAC.",
        );
    } else if present.is_empty() {
        text.push_str(&format!(
            "Nobody I know is in {place} right now ({registered} registered)."
        ));
    } else {
        text.push_str(&format!(
            "In {place}: {} ({} of {registered} registered).",
            present.join(", "),
            present.len()
        ));
    }
    if room.is_none() && answer.unknown_devices > 0 {
        text.push_str(&format!(
            " Plus {} device{} I can't put a name to.",
            answer.unknown_devices,
            if answer.unknown_devices == 1 { "" } else { "s" }
        ));
    }
    with_caveats(text, caveats(view, room.as_deref(), "people"))
}

fn readings(view: &View<'_>, room: Option<&str>, quantity: Quantity) -> String {
    let known = known_rooms(view.replica);
    let (room, mut text) = match room {
        None => (None, String::new()),
        Some(asked) => match match_room(asked, &known) {
            RoomMatch::Exact(room) => (Some(room), String::new()),
            RoomMatch::Close(room) => {
                let note = format!("(I took \"{asked}\" to mean {room}.)\n");
                (Some(room), note)
            }
            RoomMatch::None => {
                return format!(
                    "I don't know a room called \"{asked}\"; {}. Ask like \"{} {}\".",
                    rooms_list(&known),
                    known.iter().next().map(String::as_str).unwrap_or("lobby"),
                    quantity.as_str()
                )
            }
        },
    };
    let filter = ReadingFilter {
        room: room.clone(),
        quantity: Some(quantity),
        node: None,
    };
    let answer = query::readings(
        view.replica,
        view.now_ms,
        &filter,
        view.completeness.clone(),
    );
    if answer.readings.is_empty() {
        text.push_str(&format!(
            "I have no {} readings{}.",
            quantity.as_str(),
            room.as_deref()
                .map(|room| format!(" for {room}"))
                .unwrap_or_default()
        ));
    }
    let targets = targets(view.replica);
    let lines: Vec<String> = answer
        .readings
        .iter()
        .map(|row| {
            let mut line = format!(
                "{} {}: {} {} ({}, {} ago",
                row.room,
                quantity.as_str(),
                number_text(row.value),
                row.unit,
                row.node_name,
                age_text(row.age_ms)
            );
            if row.status == ReadingStatus::Stale {
                line.push_str("; the sensor is failing, this is its last good value");
            }
            line.push(')');
            if let Some(target) = targets.get(&(row.room.to_lowercase(), quantity)) {
                let outside = (row.value - target.value).abs() > target.tolerance;
                line.push_str(&format!(
                    "; target {} ± {}{}",
                    number_text(target.value),
                    number_text(target.tolerance),
                    if outside { ", outside it" } else { "" }
                ));
            }
            line
        })
        .collect();
    text.push_str(&lines.join("\n"));
    with_caveats(text, caveats(view, room.as_deref(), "readings"))
}

/// Targets by (lower-cased room, quantity).
fn targets(replica: &Replica) -> BTreeMap<(String, Quantity), TargetValue> {
    replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Target { room, quantity }, Value::Target(target)) => {
                Some(((room.to_lowercase(), *quantity), target.clone()))
            }
            _ => None,
        })
        .collect()
}

fn status(view: &View<'_>) -> String {
    let names = query::node_names(view.replica);
    let mut lines = Vec::new();
    let unreachable: BTreeMap<NodeId, &UnreachableNode> = view
        .completeness
        .unreachable
        .iter()
        .map(|node| (node.node, node))
        .collect();
    for (id, (name, room)) in &names {
        let state = if *id == view.self_node {
            "this node (answering you)".to_string()
        } else if let Some(node) = unreachable.get(id) {
            match node.since_ms {
                Some(since) => format!(
                    "unreachable ({}) since {}",
                    node.status,
                    clock_text(since, view.now_ms, view.offset)
                ),
                None => format!("unreachable ({})", node.status),
            }
        } else {
            match view.peers.iter().find(|peer| peer.node == *id) {
                Some(peer) => peer.status.to_string(),
                None => "unknown (gossip has not reported on it)".to_string(),
            }
        };
        lines.push(format!("• {name} ({room}): {state}"));
    }
    let mut text = format!(
        "Mesh: {} node{} known, {} unreachable from here.\n{}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        unreachable.len(),
        lines.join("\n")
    );
    let raised: Vec<String> = view
        .replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Alert { .. }, Value::Alert(alert)) if alert.raised => Some(format!(
                "• {} (since {})",
                alert.message,
                clock_text(alert.since_ms, view.now_ms, view.offset)
            )),
            _ => None,
        })
        .collect();
    if raised.is_empty() {
        text.push_str("\nNo alerts.");
    } else {
        text.push_str(&format!("\nAlerts:\n{}", raised.join("\n")));
    }
    text.push_str(&format!(
        "\nState: {} entries, hash {}.",
        view.replica.len(),
        view.replica
            .state_hash()
            .to_hex()
            .chars()
            .take(12)
            .collect::<String>()
    ));
    if !view.completeness.complete {
        text.push_str("\nAnswers may be missing what the unreachable nodes saw.");
    }
    text
}

/// The chat user as a person name, or the reply saying why it cannot be one.
fn person_name(user: &str) -> Result<String, Plan> {
    let name = user.trim();
    validate_label("name", name)
        .map(|()| name.to_string())
        .map_err(|err| {
            Plan::say(format!(
                "I can't use your user name as a person's name: {err}."
            ))
        })
}

/// The user's person name and the key that registers `mac` to them, or the reply saying why the
/// user name cannot be a person's name.
fn registration(user: &str, mac: MacAddr) -> Result<(String, Key), Plan> {
    let name = person_name(user)?;
    let key = Key::Person {
        name: name.clone(),
        mac,
    };
    Ok((name, key))
}

fn owners_of(replica: &Replica, mac: MacAddr) -> Vec<String> {
    replica
        .live()
        .filter_map(|(key, _)| match key {
            Key::Person { name, mac: m } if *m == mac => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn register(view: &View<'_>, user: &str, mac: MacAddr) -> Plan {
    let (name, key) = match registration(user, mac) {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    if view.replica.value(&key).is_some() {
        return Plan::say(format!(
            "You're already registered with {mac}, {name}: nothing to do."
        ));
    }
    let mut reply = format!("Got it, {name}: {mac} is yours.");
    let others: Vec<String> = owners_of(view.replica, mac);
    if !others.is_empty() {
        reply.push_str(&format!(
            " Note: it is also registered to {}.",
            others.join(", ")
        ));
    }
    if mac.is_locally_administered() {
        reply.push_str(" Careful: this is a randomized (private) address, and your phone may change it; turn off \"private Wi-Fi address\" for the office network.");
    }
    let seen_recently = view.replica.live().any(|(key, value)| match (key, value) {
        (Key::Mac { mac: m, .. }, Value::Mac(seen)) => {
            *m == mac && view.now_ms.saturating_sub(seen.last_seen_ms) <= view.consider_home_ms
        }
        _ => false,
    });
    if seen_recently {
        reply.push_str(" I can see it on the network right now, so you count as in.");
    } else {
        reply.push_str(" I'll count you in when I see it on the network.");
    }
    Plan {
        reply,
        writes: vec![(
            key,
            Some(Value::Person(PersonInfo {
                added_by: format!("chat:{name}"),
            })),
        )],
    }
}

fn macs_of(replica: &Replica, name: &str) -> Vec<MacAddr> {
    replica
        .live()
        .filter_map(|(key, _)| match key {
            Key::Person { name: n, mac } if n == name => Some(*mac),
            _ => None,
        })
        .collect()
}

fn forget_me(view: &View<'_>, user: &str) -> Plan {
    let name = match person_name(user) {
        Ok(name) => name,
        Err(plan) => return plan,
    };
    let macs = macs_of(view.replica, &name);
    if macs.is_empty() {
        return Plan::say(format!(
            "I don't have any device registered for you, {name}: nothing to forget."
        ));
    }
    let listed: Vec<String> = macs.iter().map(MacAddr::to_string).collect();
    Plan {
        reply: format!("Forgotten, {name}: I removed {}.", listed.join(", ")),
        writes: macs
            .into_iter()
            .map(|mac| {
                (
                    Key::Person {
                        name: name.clone(),
                        mac,
                    },
                    None,
                )
            })
            .collect(),
    }
}

fn forget(view: &View<'_>, user: &str, mac: MacAddr) -> Plan {
    let (name, key) = match registration(user, mac) {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    if view.replica.value(&key).is_some() {
        return Plan {
            reply: format!("Forgotten: {mac} is no longer yours, {name}."),
            writes: vec![(key, None)],
        };
    }
    let others = owners_of(view.replica, mac);
    if others.is_empty() {
        Plan::say(format!(
            "{mac} isn't registered to anyone: nothing to forget."
        ))
    } else {
        Plan::say(format!(
            "{mac} is registered to {}, not to you. They can say \"forget me\", or an admin can remove it (DELETE /v1/people/<name>/{mac}).",
            others.join(", ")
        ))
    }
}

/// Targets outside these ranges are refused as typos.
fn plausible_range(quantity: Quantity) -> (f64, f64) {
    match quantity {
        Quantity::Temperature => (5.0, 35.0),
        Quantity::Humidity => (10.0, 90.0),
        Quantity::Sound => (20.0, 120.0),
    }
}

/// The band a new target gets when the room has none yet.
pub fn default_tolerance(quantity: Quantity) -> f64 {
    match quantity {
        Quantity::Temperature => 1.0,
        Quantity::Humidity => 5.0,
        Quantity::Sound => 10.0,
    }
}

fn set_target(view: &View<'_>, user: &str, asked: &str, quantity: Quantity, value: f64) -> Plan {
    let known = known_rooms(view.replica);
    let (room, mut reply) = match match_room(asked, &known) {
        RoomMatch::Exact(room) => (room, String::new()),
        RoomMatch::Close(room) => {
            let note = format!("(I took \"{asked}\" to mean {room}.) ");
            (room, note)
        }
        RoomMatch::None if known.is_empty() => (asked.to_string(), String::new()),
        RoomMatch::None => {
            return Plan::say(format!(
                "I don't know a room called \"{asked}\"; {}. No target set.",
                rooms_list(&known)
            ))
        }
    };
    if let Err(err) = validate_label("room", &room) {
        return Plan::say(format!("I can't use that room name: {err}."));
    }
    let unit = quantity.unit();
    let (low, high) = plausible_range(quantity);
    if !(low..=high).contains(&value) {
        return Plan::say(format!(
            "{} {unit} doesn't look like a sensible {} target (I accept {}–{} {unit}). No target set.",
            number_text(value),
            quantity.as_str(),
            number_text(low),
            number_text(high)
        ));
    }
    let key = Key::Target {
        room: room.clone(),
        quantity,
    };
    let tolerance = match view.replica.value(&key) {
        Some(Value::Target(existing)) => existing.tolerance,
        _ => default_tolerance(quantity),
    };
    reply.push_str(&format!(
        "OK {}: the {} target for {room} is now {} {unit} (± {}).",
        user.trim(),
        quantity.as_str(),
        number_text(value),
        number_text(tolerance)
    ));
    let filter = ReadingFilter {
        room: Some(room.clone()),
        quantity: Some(quantity),
        node: None,
    };
    let now = query::readings(view.replica, view.now_ms, &filter, Completeness::default());
    if let Some(row) = now.readings.first() {
        reply.push_str(&format!(
            " It is {} {unit} there now.",
            number_text(row.value)
        ));
    }
    reply.push_str(&format!(
        " I'll alert if it stays outside for more than {}.",
        age_text(view.alert_after_s * 1000)
    ));
    Plan {
        reply,
        writes: vec![(key, Some(Value::Target(TargetValue { value, tolerance })))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::Stamp;
    use crate::state::{AlertValue, MacSeen, NodeInfo, ReadingValue};

    const NOW: u64 = 1_763_901_720_000; // 2025-11-23 12:42 UTC
    const MINUTE: u64 = 60_000;

    fn mac(last: u8) -> MacAddr {
        MacAddr([0xb8, 0x27, 0xeb, 0, 0, last])
    }

    struct Office {
        replica: Replica,
        time: u64,
    }

    impl Office {
        fn write(&mut self, key: Key, value: Option<Value>) {
            self.time += 1;
            let me = self.replica.me();
            self.replica
                .write(key, value, Stamp::new(self.time, me))
                .expect("fresh stamps win");
        }

        fn apply(&mut self, plan: &Plan) {
            for (key, value) in plan.writes.clone() {
                self.write(key, value);
            }
        }
    }

    /// pi-a (lobby, this node) sees ada's phone; pi-b (meeting room) sees bob's laptop and an
    /// unknown device; each has a temperature reading.
    fn office() -> Office {
        let mut office = Office {
            replica: Replica::new(NodeId(1)),
            time: 1,
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
                })),
            );
        }
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

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).expect("UTC")
    }

    fn pi_b_unreachable() -> Completeness {
        Completeness {
            complete: false,
            unreachable: vec![UnreachableNode {
                node: NodeId(2),
                name: "pi-b".into(),
                room: "meeting room".into(),
                status: crate::peer::MemberStatus::Dead,
                since_ms: Some(NOW - 40 * MINUTE),
            }],
        }
    }

    fn run(office: &Office, completeness: &Completeness, user: &str, text: &str) -> Plan {
        let view = View {
            replica: &office.replica,
            completeness,
            peers: &[],
            self_node: NodeId(1),
            consider_home_ms: 3 * MINUTE,
            alert_after_s: 300,
            now_ms: NOW,
            offset: utc(),
        };
        plan(&view, user, &super::super::grammar::parse(text))
    }

    /// What carol's message plans, with every node reachable.
    fn tell(office: &Office, text: &str) -> Plan {
        run(office, &Completeness::default(), "carol", text)
    }

    fn ask(office: &Office, text: &str) -> String {
        tell(office, text).reply
    }

    /// Fails, showing the whole reply, when `reply` does not contain `part`.
    #[track_caller]
    fn assert_has(reply: &str, part: &str) {
        assert!(reply.contains(part), "{part:?} missing from: {reply}");
    }

    #[test]
    fn who_is_in_lists_present_people_and_unknown_devices() {
        let office = office();
        let reply = ask(&office, "who's in?");
        assert_has(&reply, "In the office: ada, bob (2 of 2 registered)");
        assert_has(&reply, "1 device I can't put a name to");
        assert!(!reply.contains("can't reach"), "{reply}");
        let kitchen = ask(&office, "who's in the meeting room");
        assert_has(&kitchen, "In meeting room: bob (1 of 2");
        let typo = ask(&office, "who's in the meting room");
        assert_has(&typo, "mean meeting room");
        assert_has(&typo, "bob");
        let nowhere = ask(&office, "who's in the attic");
        assert_has(&nowhere, "lobby, meeting room");
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
    fn readings_by_room_with_typos_targets_and_unknown_rooms() {
        let mut office = office();
        let reply = ask(&office, "meeting room temp");
        assert_eq!(reply, "meeting room temperature: 23.5 °C (pi-b, 12 s ago)");
        let typo = ask(&office, "meting room temp");
        assert!(
            typo.starts_with("(I took \"meting room\" to mean meeting room.)"),
            "{typo}"
        );
        assert_has(&typo, "23.5 °C");
        let all = ask(&office, "temp");
        assert_has(&all, "lobby temperature: 21.04 °C");
        assert_has(&all, "23.5");
        let unknown = ask(&office, "attic temp");
        assert_has(&unknown, "rooms I know: lobby, meeting room");
        let none = ask(&office, "lobby humidity");
        assert_eq!(none, "I have no humidity readings for lobby.");
        let set = tell(&office, "set meeting room temp to 22");
        office.apply(&set);
        let with_target = ask(&office, "meeting room temperature");
        assert!(
            with_target.ends_with("target 22 ± 1, outside it"),
            "{with_target}"
        );
    }

    #[test]
    fn register_and_forget_write_person_entries() {
        let mut office = office();
        let plan = tell(&office, "i am b8:27:eb:00:00:03");
        assert_has(&plan.reply, "Got it, carol");
        assert!(
            plan.reply.contains("right now"),
            "it is on the network: {}",
            plan.reply
        );
        let key = Key::Person {
            name: "carol".into(),
            mac: mac(3),
        };
        assert_eq!(plan.writes.len(), 1);
        assert_eq!(plan.writes[0].0, key);
        office.apply(&plan);
        let again = tell(&office, "i'm b8-27-eb-00-00-03");
        assert!(again.writes.is_empty(), "registering twice writes nothing");
        assert_has(&again.reply, "already registered");
        assert!(ask(&office, "who's in").contains("ada, bob, carol"));

        let second = tell(&office, "this is my mac 02:00:00:00:00:09");
        assert_has(&second.reply, "randomized");
        office.apply(&second);

        let not_mine = tell(&office, "forget b8:27:eb:00:00:01");
        assert!(not_mine.writes.is_empty());
        assert_has(&not_mine.reply, "registered to ada");

        let forget = tell(&office, "forget me");
        assert_eq!(forget.writes.len(), 2, "both of carol's devices");
        assert!(
            forget.writes.iter().all(|(_, value)| value.is_none()),
            "tombstones"
        );
        office.apply(&forget);
        assert!(office.replica.value(&key).is_none());
        let nothing = tell(&office, "forget me");
        assert!(nothing.writes.is_empty());
        assert_has(&nothing.reply, "nothing to forget");

        let bad_user = run(
            &office,
            &Completeness::default(),
            "a/b",
            "i am b8:27:eb:00:00:04",
        );
        assert!(bad_user.writes.is_empty());
        assert_has(&bad_user.reply, "'/'");
    }

    #[test]
    fn set_target_keeps_tolerance_and_refuses_nonsense() {
        let mut office = office();
        let plan = tell(&office, "set meeting room temperature to 22");
        assert_has(&plan.reply, "now 22 °C (± 1)");
        assert_has(&plan.reply, "It is 23.5 °C there now");
        assert_eq!(
            plan.writes,
            vec![(
                Key::Target {
                    room: "meeting room".into(),
                    quantity: Quantity::Temperature
                },
                Some(Value::Target(TargetValue {
                    value: 22.0,
                    tolerance: 1.0
                }))
            )]
        );
        office.write(
            Key::Target {
                room: "meeting room".into(),
                quantity: Quantity::Temperature,
            },
            Some(Value::Target(TargetValue {
                value: 22.0,
                tolerance: 0.5,
            })),
        );
        let again = tell(&office, "set Meeting Room temp to 21.5");
        assert_has(&again.reply, "21.5 °C (± 0.5)");
        for text in ["set meeting room temp to 220", "set attic temp to 21"] {
            let refused = tell(&office, text);
            assert!(refused.writes.is_empty(), "{text}");
            assert_has(&refused.reply, "No target set");
        }
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

    #[test]
    fn status_lists_raised_alerts() {
        let mut office = office();
        office.write(
            Key::Alert {
                room: "lobby".into(),
                quantity: Quantity::Temperature,
            },
            Some(Value::Alert(AlertValue {
                raised: true,
                by: NodeId(1),
                since_ms: NOW - 10 * MINUTE,
                message: "lobby temperature is 30 °C".into(),
            })),
        );
        let status = ask(&office, "status");
        assert_has(&status, "• lobby temperature is 30 °C (since 12:32)");
    }
}
