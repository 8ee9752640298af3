//! Read-only answers over a replica: who is present, the latest readings, the network map,
//! registered people, known nodes. Each answer is plain serializable data; the HTTP API, the CLI
//! and (later) chat render it. Times are passed in; nothing here reads a clock.
//! Every answer carries its `completeness`: which peers it may be missing and why.

use std::collections::{BTreeMap, BTreeSet};

use officemesh_types::{MacAddr, Quantity};
use serde::{Deserialize, Serialize};

use super::{Key, Replica, Value};
use crate::crdt::NodeId;
use crate::peer::{MemberStatus, PeerStatus};

/// Which nodes this answer may be missing data from, and since when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Completeness {
    /// True when every known node is reachable now and none has its updates held back.
    pub complete: bool,
    pub unreachable: Vec<UnreachableNode>,
    /// Nodes whose updates this node ignores because their clock runs ahead of its own.
    #[serde(default)]
    pub clock_ahead: Vec<ClockAheadNode>,
    /// How far this node's own clock looks ahead of every peer's (`own_clock::ahead_of_peers`):
    /// its peers ignore its updates. Its own answers are not missing anything for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_clock_ahead_ms: Option<u64>,
}

impl Completeness {
    /// "this node's clock looks 58 min ahead of every peer's; they ignore its updates until it
    /// is fixed", when it does.
    pub fn own_clock_sentence(&self) -> Option<String> {
        self.own_clock_ahead_ms.map(|ahead| {
            format!(
                "this node's clock looks {} ahead of every peer's; they ignore its updates until \
                 it is fixed",
                duration_words(ahead)
            )
        })
    }
}

/// A node whose stamps run more than `gossip.max_clock_offset_ms` ahead of this node's clock:
/// its updates are held back until its clock is fixed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockAheadNode {
    pub node: NodeId,
    pub name: String,
    pub room: String,
    pub ahead_ms: u64,
}

impl ClockAheadNode {
    /// "pi-3's clock is 58 min ahead; I'm ignoring its updates until it is fixed"
    pub fn sentence(&self) -> String {
        format!(
            "{}'s clock is {} ahead; I'm ignoring its updates until it is fixed",
            self.name,
            duration_words(self.ahead_ms)
        )
    }
}

/// "850 ms", "12 s", "58 min", "3 h 5 min", "2 days".
pub fn duration_words(ms: u64) -> String {
    const MIN: u64 = 60_000;
    const HOUR: u64 = 60 * MIN;
    match ms {
        ms if ms < 1_000 => format!("{ms} ms"),
        ms if ms < MIN => format!("{} s", ms / 1_000),
        ms if ms < HOUR => format!("{} min", ms / MIN),
        ms if ms < 48 * HOUR => match (ms % HOUR) / MIN {
            0 => format!("{} h", ms / HOUR),
            min => format!("{} h {min} min", ms / HOUR),
        },
        ms => format!("{} days", ms / (24 * HOUR)),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnreachableNode {
    pub node: NodeId,
    pub name: String,
    pub room: String,
    pub status: MemberStatus,
    pub since_ms: Option<u64>,
}

/// Which peers this node cannot reach now, from the gossip layer's peer table: the caveat on
/// every answer.
pub fn completeness(peers: &[PeerStatus]) -> Completeness {
    let unreachable: Vec<UnreachableNode> = peers
        .iter()
        .filter(|peer| peer.status.is_unreachable())
        .map(|peer| UnreachableNode {
            node: peer.node,
            name: peer.name.clone(),
            room: peer.room.clone(),
            status: peer.status,
            since_ms: peer.unreachable_since_ms,
        })
        .collect();
    let clock_ahead: Vec<ClockAheadNode> = peers
        .iter()
        .filter(|peer| !peer.status.is_unreachable())
        .filter_map(|peer| {
            Some(ClockAheadNode {
                node: peer.node,
                name: peer.name.clone(),
                room: peer.room.clone(),
                ahead_ms: peer.clock_ahead_ms?,
            })
        })
        .collect();
    Completeness {
        complete: unreachable.is_empty() && clock_ahead.is_empty(),
        unreachable,
        clock_ahead,
        own_clock_ahead_ms: None,
    }
}

/// One MAC of a person, and where it was last seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonDevice {
    pub mac: MacAddr,
    pub present: bool,
    pub last_seen_ms: Option<u64>,
    pub ip: Option<String>,
    /// Names (or ids) of the nodes that saw it within `consider_home`.
    pub seen_by: Vec<String>,
    /// Locally administered (randomized) MAC: may change, presence by it is fragile.
    pub randomized: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonPresence {
    pub name: String,
    pub present: bool,
    pub devices: Vec<PersonDevice>,
}

/// `GET /v1/presence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceAnswer {
    /// Registered people that are present, then those who are not.
    pub people: Vec<PersonPresence>,
    pub present_count: usize,
    /// Devices present that belong to nobody registered, cluster-wide: per subnet the largest
    /// count a node on it shares (`devices/<node>`), summed over subnets.
    pub unknown_devices: usize,
    pub consider_home_s: u64,
    pub completeness: Completeness,
}

/// One latest reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingRow {
    pub node: NodeId,
    pub node_name: String,
    pub room: String,
    pub sensor: String,
    pub quantity: Quantity,
    pub value: f64,
    pub unit: String,
    pub status: super::ReadingStatus,
    pub taken_at_ms: u64,
    pub age_ms: u64,
}

/// `GET /v1/readings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingsAnswer {
    pub readings: Vec<ReadingRow>,
    pub completeness: Completeness,
}

/// One device on the network as one node saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRow {
    pub mac: MacAddr,
    pub ip: String,
    pub observer: NodeId,
    pub observer_name: String,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub present: bool,
    pub randomized: bool,
    /// Registered owners of this MAC.
    pub owners: Vec<String>,
}

/// `GET /v1/network`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkAnswer {
    pub devices: Vec<NetworkRow>,
    pub completeness: Completeness,
}

/// `GET /v1/people` rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonRow {
    pub name: String,
    pub macs: Vec<MacAddr>,
}

/// Filters for `readings`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ReadingFilter {
    pub room: Option<String>,
    pub quantity: Option<Quantity>,
    pub node: Option<NodeId>,
}

/// Node names by id, from `node/<id>` entries (ids printed when a node is unknown).
pub fn node_names(replica: &Replica) -> BTreeMap<NodeId, (String, String)> {
    replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Node(id), Value::Node(info)) => {
                Some((*id, (info.name.clone(), info.room.clone())))
            }
            _ => None,
        })
        .collect()
}

fn name_of(names: &BTreeMap<NodeId, (String, String)>, id: NodeId) -> String {
    names
        .get(&id)
        .map(|(name, _)| name.clone())
        .unwrap_or_else(|| id.to_string())
}

/// Registered people and their MACs, by name.
pub fn people(replica: &Replica) -> Vec<PersonRow> {
    let mut by_name: BTreeMap<String, Vec<MacAddr>> = BTreeMap::new();
    for (key, _) in replica.live() {
        if let Key::Person { name, mac } = key {
            by_name.entry(name.clone()).or_default().push(*mac);
        }
    }
    by_name
        .into_iter()
        .map(|(name, macs)| PersonRow { name, macs })
        .collect()
}

/// Who is present: a registered person is present when any of their MACs was seen by any node
/// within `consider_home_ms` of `now_ms`.
pub fn presence(
    replica: &Replica,
    now_ms: u64,
    consider_home_ms: u64,
    completeness: Completeness,
) -> PresenceAnswer {
    let sightings = sightings(replica, now_ms, consider_home_ms);
    let registered = people(replica);
    let mut people_out: Vec<PersonPresence> = registered
        .into_iter()
        .map(|person| {
            let devices: Vec<PersonDevice> = person
                .macs
                .iter()
                .map(|mac| device(*mac, sightings.get(mac)))
                .collect();
            PersonPresence {
                present: devices.iter().any(|d| d.present),
                name: person.name,
                devices,
            }
        })
        .collect();
    people_out.sort_by(|a, b| b.present.cmp(&a.present).then(a.name.cmp(&b.name)));
    // Sightings of devices nobody registered (older versions replicated them) are not counted
    // here: each node shares only how many unknown devices it sees.
    let unknown_devices = super::presence::unknown_devices(replica) as usize;
    PresenceAnswer {
        present_count: people_out.iter().filter(|p| p.present).count(),
        people: people_out,
        unknown_devices,
        consider_home_s: consider_home_ms / 1000,
        completeness,
    }
}

/// What the mesh saw of one MAC: the latest sighting's time and IP, the nodes that saw it
/// within `consider_home`, and whether it is a randomized address.
type Sighting = (u64, String, BTreeSet<String>, bool);

/// Every MAC's sighting, merged over the nodes that saw it.
fn sightings(replica: &Replica, now_ms: u64, consider_home_ms: u64) -> BTreeMap<MacAddr, Sighting> {
    let names = node_names(replica);
    let mut sightings: BTreeMap<MacAddr, Sighting> = BTreeMap::new();
    for (key, value) in replica.live() {
        if let (Key::Mac { mac, observer }, Value::Mac(seen)) = (key, value) {
            let slot = sightings.entry(*mac).or_insert((
                0,
                String::new(),
                BTreeSet::new(),
                seen.randomized,
            ));
            if seen.last_seen_ms >= slot.0 {
                slot.0 = seen.last_seen_ms;
                slot.1 = seen.ip.clone();
            }
            if seen.present_at(now_ms, consider_home_ms) {
                slot.2.insert(name_of(&names, *observer));
            }
        }
    }
    sightings
}

/// One registered device of a person, from its sighting (none: never seen).
fn device(mac: MacAddr, sighting: Option<&Sighting>) -> PersonDevice {
    match sighting {
        Some((last, ip, seen_by, randomized)) => PersonDevice {
            mac,
            present: !seen_by.is_empty(),
            last_seen_ms: Some(*last),
            ip: Some(ip.clone()),
            seen_by: seen_by.iter().cloned().collect(),
            randomized: *randomized,
        },
        None => PersonDevice {
            mac,
            present: false,
            last_seen_ms: None,
            ip: None,
            seen_by: Vec::new(),
            randomized: mac.is_locally_administered(),
        },
    }
}

/// The latest reading of every sensor quantity, by room, node, sensor.
pub fn readings(
    replica: &Replica,
    now_ms: u64,
    filter: &ReadingFilter,
    completeness: Completeness,
) -> ReadingsAnswer {
    let names = node_names(replica);
    let mut rows: Vec<ReadingRow> = replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (
                Key::Reading {
                    node,
                    sensor,
                    quantity,
                },
                Value::Reading(reading),
            ) => Some(ReadingRow {
                node: *node,
                node_name: name_of(&names, *node),
                room: reading.room.clone(),
                sensor: sensor.clone(),
                quantity: *quantity,
                value: reading.value,
                unit: reading.unit.clone(),
                status: reading.status,
                taken_at_ms: reading.taken_at_ms,
                age_ms: now_ms.saturating_sub(reading.taken_at_ms),
            }),
            _ => None,
        })
        .filter(|row| {
            filter
                .room
                .as_ref()
                .is_none_or(|room| row.room.eq_ignore_ascii_case(room))
                && filter.quantity.is_none_or(|q| row.quantity == q)
                && filter.node.is_none_or(|n| row.node == n)
        })
        .collect();
    rows.sort_by(|a, b| {
        (
            a.room.as_str(),
            a.node_name.as_str(),
            a.sensor.as_str(),
            a.quantity,
        )
            .cmp(&(
                b.room.as_str(),
                b.node_name.as_str(),
                b.sensor.as_str(),
                b.quantity,
            ))
    });
    ReadingsAnswer {
        readings: rows,
        completeness,
    }
}

/// This node's own sightings (`own`: every device it saw recently, registered or not; they never
/// leave this node) and the replicated sightings of registered devices by every node, newest
/// first.
pub fn network(
    replica: &Replica,
    own: &[(MacAddr, super::MacSeen)],
    now_ms: u64,
    consider_home_ms: u64,
    completeness: Completeness,
) -> NetworkAnswer {
    let me = replica.me();
    let names = node_names(replica);
    let mut owners: BTreeMap<MacAddr, Vec<String>> = BTreeMap::new();
    for person in people(replica) {
        for mac in person.macs {
            owners.entry(mac).or_default().push(person.name.clone());
        }
    }
    let row = |mac: MacAddr, observer: NodeId, seen: &super::MacSeen| NetworkRow {
        mac,
        ip: seen.ip.clone(),
        observer,
        observer_name: name_of(&names, observer),
        first_seen_ms: seen.first_seen_ms,
        last_seen_ms: seen.last_seen_ms,
        present: seen.present_at(now_ms, consider_home_ms),
        randomized: seen.randomized,
        owners: owners.get(&mac).cloned().unwrap_or_default(),
    };
    let own_macs: BTreeSet<MacAddr> = own.iter().map(|(mac, _)| *mac).collect();
    let mut devices: Vec<NetworkRow> = own.iter().map(|(mac, seen)| row(*mac, me, seen)).collect();
    devices.extend(
        replica
            .live()
            .filter_map(|(key, value)| match (key, value) {
                (Key::Mac { mac, observer }, Value::Mac(seen))
                    if owners.contains_key(mac) && !(*observer == me && own_macs.contains(mac)) =>
                {
                    Some(row(*mac, *observer, seen))
                }
                _ => None,
            }),
    );
    devices.sort_by(|a, b| b.last_seen_ms.cmp(&a.last_seen_ms).then(a.mac.cmp(&b.mac)));
    NetworkAnswer {
        devices,
        completeness,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::Stamp;
    use crate::state::{MacSeen, NodeInfo, PersonInfo, ReadingStatus, ReadingValue};

    const MINUTE: u64 = 60_000;

    #[test]
    fn a_peer_whose_updates_are_held_back_makes_answers_incomplete_and_says_why() {
        let mut ahead = PeerStatus::new(NodeId(3), "pi-3", MemberStatus::Alive);
        ahead.clock_ahead_ms = Some(58 * MINUTE + 20_000);
        let fine = PeerStatus::new(NodeId(2), "pi-2", MemberStatus::Alive);
        let answer = completeness(&[fine.clone(), ahead]);
        assert!(!answer.complete);
        assert!(answer.unreachable.is_empty());
        assert_eq!(answer.clock_ahead.len(), 1);
        assert_eq!(
            answer.clock_ahead[0].sentence(),
            "pi-3's clock is 58 min ahead; I'm ignoring its updates until it is fixed"
        );
        assert!(completeness(&[fine]).complete);
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_words(850), "850 ms");
        assert_eq!(duration_words(12_400), "12 s");
        assert_eq!(duration_words(3 * 3_600_000 + 5 * MINUTE), "3 h 5 min");
        assert_eq!(duration_words(2 * 3_600_000), "2 h");
        assert_eq!(duration_words(50 * 3_600_000), "2 days");
    }

    fn mac(last: u8) -> MacAddr {
        MacAddr([0xb8, 0x27, 0xeb, 0, 0, last])
    }

    /// Two nodes; ada's phone seen by pi-a a minute ago, bob's laptop seen 10 minutes ago,
    /// one unregistered device seen now.
    fn office() -> Replica {
        let me = NodeId(1);
        let mut replica = Replica::new(me);
        let mut time = 1u64;
        let mut write = |replica: &mut Replica, key: Key, value: Value| {
            time += 1;
            replica
                .write(key, Some(value), Stamp::new(time, me))
                .expect("fresh stamps always win");
        };
        for (id, name, room) in [(1, "pi-a", "lobby"), (2, "pi-b", "meeting room")] {
            write(
                &mut replica,
                Key::Node(NodeId(id)),
                Value::Node(NodeInfo {
                    name: name.into(),
                    room: room.into(),
                    gossip_addr: String::new(),
                    api_addr: String::new(),
                    version: "test".into(),
                    started_at_ms: 0,
                }),
            );
        }
        for (name, m) in [("ada", 1), ("bob", 2)] {
            write(
                &mut replica,
                Key::Person {
                    name: name.into(),
                    mac: mac(m),
                },
                Value::Person(PersonInfo {
                    added_by: "test".into(),
                }),
            );
        }
        let now = 100 * MINUTE;
        for (m, observer, ago) in [(1, 1, MINUTE), (2, 2, 10 * MINUTE), (3, 2, 0)] {
            write(
                &mut replica,
                Key::Mac {
                    mac: mac(m),
                    observer: NodeId(observer),
                },
                Value::Mac(MacSeen {
                    ip: format!("192.0.2.{m}"),
                    first_seen_ms: 0,
                    last_seen_ms: now - ago,
                    randomized: false,
                    present_until_ms: 0,
                }),
            );
        }
        write(
            &mut replica,
            Key::Devices {
                observer: NodeId(2),
            },
            Value::Devices(crate::state::DeviceCount {
                subnet: "192.0.2.0/24".into(),
                room: "meeting room".into(),
                unknown: 1,
            }),
        );
        for (node, room, value) in [(1, "lobby", 21.0), (2, "meeting room", 23.5)] {
            write(
                &mut replica,
                Key::Reading {
                    node: NodeId(node),
                    sensor: "desk".into(),
                    quantity: Quantity::Temperature,
                },
                Value::Reading(ReadingValue {
                    value,
                    unit: "°C".into(),
                    room: room.into(),
                    status: ReadingStatus::Ok,
                    taken_at_ms: now - 5_000,
                }),
            );
        }
        replica
    }

    #[test]
    fn presence_uses_consider_home_and_counts_unknown_devices() {
        let answer = presence(&office(), 100 * MINUTE, 3 * MINUTE, Completeness::default());
        let present: Vec<&str> = answer
            .people
            .iter()
            .filter(|p| p.present)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(present, vec!["ada"]);
        assert_eq!(answer.present_count, 1);
        assert_eq!(answer.unknown_devices, 1);
        assert_eq!(
            answer.people[0].devices[0].seen_by,
            vec!["pi-a".to_string()]
        );
        let later = presence(
            &office(),
            100 * MINUTE,
            11 * MINUTE,
            Completeness::default(),
        );
        assert_eq!(
            later.present_count, 2,
            "a longer consider_home keeps bob present"
        );
    }

    #[test]
    fn readings_filter_by_room_and_report_age() {
        let filter = ReadingFilter {
            room: Some("Meeting Room".into()),
            ..ReadingFilter::default()
        };
        let answer = readings(&office(), 100 * MINUTE, &filter, Completeness::default());
        assert_eq!(answer.readings.len(), 1);
        assert_eq!(answer.readings[0].value, 23.5);
        assert_eq!(answer.readings[0].node_name, "pi-b");
        assert_eq!(answer.readings[0].age_ms, 5_000);
    }

    #[test]
    fn network_lists_owners_and_presence() {
        let own = [(
            mac(3),
            MacSeen {
                ip: "192.0.2.3".into(),
                first_seen_ms: 0,
                last_seen_ms: 100 * MINUTE,
                randomized: false,
                present_until_ms: 0,
            },
        )];
        let answer = network(
            &office(),
            &own,
            100 * MINUTE,
            3 * MINUTE,
            Completeness::default(),
        );
        assert_eq!(answer.devices.len(), 3);
        assert_eq!(answer.devices[0].observer, NodeId(1), "own sighting");
        let without_own = network(
            &office(),
            &[],
            100 * MINUTE,
            3 * MINUTE,
            Completeness::default(),
        );
        assert!(
            without_own.devices.iter().all(|d| d.mac != mac(3)),
            "another node's sighting of an unregistered device is not listed"
        );
        assert_eq!(answer.devices[0].mac, mac(3), "newest first");
        assert!(answer.devices[0].owners.is_empty());
        let bob = answer
            .devices
            .iter()
            .find(|d| d.mac == mac(2))
            .expect("bob's device");
        assert_eq!(bob.owners, vec!["bob".to_string()]);
        assert!(!bob.present);
    }

    #[test]
    fn people_groups_macs_by_name() {
        let rows = people(&office());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "ada");
        assert_eq!(rows[0].macs, vec![mac(1)]);
    }
}
