//! What one presence scan changes in the replicated state, decided without side effects so it
//! can be tested: registered devices' sightings (`mac/<mac>/<this node>`) only when a device
//! arrives, leaves or changes IP, or at most every `consider_home / 2`; this node's count of
//! unknown devices (`devices/<this node>`) when it changes; attendance (`attendance/<name>/<day>`)
//! with the sightings when history is on, and its expiry; and tombstones for own sightings of
//! devices nobody has registered any more.
//!
//! Pure: the caller passes the replica, its own sightings and the time. Must not touch: clocks,
//! locks, sockets, SQLite.

use std::collections::{BTreeMap, BTreeSet};

use officemesh_sensors::MacAddr;

use crate::state::presence::day_of;
use crate::state::{AttendanceValue, DeviceCount, Key, MacSeen, Replica, Value};

/// The settings one pass needs.
#[derive(Debug, Clone)]
pub struct PresenceRules {
    pub consider_home_ms: u64,
    pub scan_interval_ms: u64,
    /// 0 = no history.
    pub history_days: u32,
    pub subnet: String,
    pub room: String,
}

impl PresenceRules {
    /// How long a refreshed sighting counts as present: past the next refresh (half of
    /// `consider_home` later) plus one scan, then `consider_home`.
    fn present_for_ms(&self) -> u64 {
        self.consider_home_ms + self.consider_home_ms / 2 + self.scan_interval_ms
    }
}

/// Who registered each MAC (a MAC may belong to several names).
type Owners = BTreeMap<MacAddr, Vec<String>>;

/// Per (name, day): the first and last time seen.
type Attendance = BTreeMap<(String, String), (u64, u64)>;

/// The writes one scan needs. `own` is this node's sightings (all devices it saw), `pi_ips` the
/// mesh's own addresses (not counted as devices).
pub fn presence_writes(
    replica: &Replica,
    own: &[(MacAddr, MacSeen)],
    pi_ips: &BTreeSet<String>,
    rules: &PresenceRules,
    now_ms: u64,
) -> Vec<(Key, Option<Value>)> {
    let me = replica.me();
    let mut owners: Owners = BTreeMap::new();
    for (key, _) in replica.live() {
        if let Key::Person { name, mac } = key {
            owners.entry(*mac).or_default().push(name.clone());
        }
    }
    let mut writes = Vec::new();
    let mut attendance: Attendance = BTreeMap::new();
    for (mac, local) in own.iter().filter(|(mac, _)| owners.contains_key(mac)) {
        let key = Key::Mac {
            mac: *mac,
            observer: me,
        };
        let replicated = match replica.value(&key) {
            Some(Value::Mac(seen)) => Some(seen),
            _ => None,
        };
        let Some(value) = sighting_update(local, replicated, rules, now_ms) else {
            continue;
        };
        if rules.history_days > 0 {
            for name in owners.get(mac).into_iter().flatten() {
                let slot = attendance
                    .entry((name.clone(), day_of(local.last_seen_ms)))
                    .or_insert((local.last_seen_ms, local.last_seen_ms));
                slot.0 = slot
                    .0
                    .min(value.first_seen_ms.max(day_start(local.last_seen_ms)));
                slot.1 = slot.1.max(local.last_seen_ms);
            }
        }
        writes.push((key, Some(Value::Mac(value))));
    }
    attendance_writes(replica, attendance, &mut writes);
    withdrawals(replica, &owners, rules, now_ms, &mut writes);
    if let Some(count) = device_count_write(replica, own, &owners, pi_ips, rules, now_ms) {
        writes.push(count);
    }
    writes
}

/// The new replicated sighting of one registered device, if it needs one: on arrival, IP change
/// or when a refresh is due while it is here; once on departure, bringing "present until" down
/// to the real departure.
fn sighting_update(
    local: &MacSeen,
    replicated: Option<&MacSeen>,
    rules: &PresenceRules,
    now_ms: u64,
) -> Option<MacSeen> {
    let ch = rules.consider_home_ms;
    let here = now_ms.saturating_sub(local.last_seen_ms) <= ch;
    let shown_present = replicated.is_some_and(|seen| seen.present_at(now_ms, ch));
    if here {
        let arrived = !shown_present;
        let moved = replicated.is_some_and(|seen| seen.ip != local.ip);
        let due = replicated
            .is_some_and(|seen| local.last_seen_ms.saturating_sub(seen.last_seen_ms) >= ch / 2);
        if !(arrived || moved || due) {
            return None;
        }
        return Some(MacSeen {
            ip: local.ip.clone(),
            first_seen_ms: match replicated {
                Some(seen) if shown_present => seen.first_seen_ms,
                _ => local.last_seen_ms,
            },
            last_seen_ms: local.last_seen_ms,
            randomized: local.randomized,
            present_until_ms: local.last_seen_ms + rules.present_for_ms(),
        });
    }
    let departure = local.last_seen_ms + ch;
    match replicated {
        Some(seen) if seen.present_until_ms > departure || seen.present_until_ms == 0 => {
            Some(MacSeen {
                last_seen_ms: local.last_seen_ms.max(seen.last_seen_ms),
                present_until_ms: departure,
                ..seen.clone()
            })
        }
        _ => None,
    }
}

/// Attendance entries widened by this scan's sightings (only those that change).
fn attendance_writes(
    replica: &Replica,
    attendance: Attendance,
    writes: &mut Vec<(Key, Option<Value>)>,
) {
    for ((name, day), (first, last)) in attendance {
        let key = Key::Attendance { name, day };
        let merged = match replica.value(&key) {
            Some(Value::Attendance(old)) => AttendanceValue {
                first_in_ms: old.first_in_ms.min(first),
                last_in_ms: old.last_in_ms.max(last),
            },
            _ => AttendanceValue {
                first_in_ms: first,
                last_in_ms: last,
            },
        };
        if replica.value(&key) != Some(&Value::Attendance(merged.clone())) {
            writes.push((key, Some(Value::Attendance(merged))));
        }
    }
}

/// Tombstones: attendance older than kept (or all of it with history off), and own sightings of
/// devices nobody registers any more (forgotten people, or entries from versions that
/// replicated every device).
fn withdrawals(
    replica: &Replica,
    owners: &Owners,
    rules: &PresenceRules,
    now_ms: u64,
    writes: &mut Vec<(Key, Option<Value>)>,
) {
    let me = replica.me();
    let oldest_day = day_of(now_ms.saturating_sub(u64::from(rules.history_days) * 86_400_000));
    for (key, _) in replica.live() {
        let withdraw = match key {
            Key::Attendance { day, .. } => {
                rules.history_days == 0 || day.as_str() < oldest_day.as_str()
            }
            Key::Mac { mac, observer } => *observer == me && !owners.contains_key(mac),
            _ => false,
        };
        if withdraw {
            writes.push((key.clone(), None));
        }
    }
}

/// This node's count of unknown devices present (not registered, not a Pi), when it changed.
fn device_count_write(
    replica: &Replica,
    own: &[(MacAddr, MacSeen)],
    owners: &Owners,
    pi_ips: &BTreeSet<String>,
    rules: &PresenceRules,
    now_ms: u64,
) -> Option<(Key, Option<Value>)> {
    let unknown = own
        .iter()
        .filter(|(mac, seen)| {
            !owners.contains_key(mac)
                && !pi_ips.contains(&seen.ip)
                && seen.present_at(now_ms, rules.consider_home_ms)
        })
        .count() as u64;
    let count = DeviceCount {
        subnet: rules.subnet.clone(),
        room: rules.room.clone(),
        unknown,
    };
    let key = Key::Devices {
        observer: replica.me(),
    };
    let changed = replica.value(&key) != Some(&Value::Devices(count.clone()));
    changed.then_some((key, Some(Value::Devices(count))))
}

fn day_start(ms: u64) -> u64 {
    ms - ms % 86_400_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{NodeId, Stamp};
    use crate::state::PersonInfo;

    const MINUTE: u64 = 60_000;

    fn mac(last: u8) -> MacAddr {
        MacAddr([0x00, 0x16, 0x3e, 0, 0, last])
    }

    fn rules(history_days: u32) -> PresenceRules {
        PresenceRules {
            consider_home_ms: 10 * MINUTE,
            scan_interval_ms: 30_000,
            history_days,
            subnet: "10.0.0.0/24".into(),
            room: "lobby".into(),
        }
    }

    fn seen(last: u8, ip: &str, at: u64) -> (MacAddr, MacSeen) {
        (
            mac(last),
            MacSeen {
                ip: ip.into(),
                first_seen_ms: at,
                last_seen_ms: at,
                randomized: false,
                present_until_ms: 0,
            },
        )
    }

    struct Office {
        replica: Replica,
        time: u64,
    }

    impl Office {
        fn new() -> Office {
            let mut office = Office {
                replica: Replica::new(NodeId(1)),
                time: 0,
            };
            office.apply(vec![(
                Key::Person {
                    name: "ada".into(),
                    mac: mac(1),
                },
                Some(Value::Person(PersonInfo {
                    added_by: "test".into(),
                })),
            )]);
            office
        }

        fn apply(&mut self, writes: Vec<(Key, Option<Value>)>) {
            for (key, value) in writes {
                self.time += 1;
                self.replica
                    .write(key, value, Stamp::new(self.time, NodeId(1)))
                    .expect("fresh stamp");
            }
        }

        fn pass(&mut self, own: &[(MacAddr, MacSeen)], history: u32, now: u64) -> Vec<Key> {
            let writes =
                presence_writes(&self.replica, own, &BTreeSet::new(), &rules(history), now);
            let keys = writes.iter().map(|(key, _)| key.clone()).collect();
            self.apply(writes);
            keys
        }
    }

    #[test]
    fn a_quiet_lan_writes_nothing_and_only_registered_devices_are_replicated() {
        let mut office = Office::new();
        let start = 1_000 * MINUTE;
        let own = [seen(1, "10.0.0.11", start), seen(2, "10.0.0.12", start)];
        let first = office.pass(&own, 0, start);
        assert!(first.contains(&Key::Mac {
            mac: mac(1),
            observer: NodeId(1)
        }));
        assert!(first.contains(&Key::Devices {
            observer: NodeId(1)
        }));
        assert!(
            !first
                .iter()
                .any(|key| matches!(key, Key::Mac { mac: m, .. } if *m == mac(2))),
            "the visitor's MAC is not replicated: {first:?}"
        );
        assert!(matches!(
            office.replica.value(&Key::Devices {
                observer: NodeId(1)
            }),
            Some(Value::Devices(DeviceCount { unknown: 1, .. }))
        ));
        // Seen again every 30 s: nothing changes until consider_home / 2 has passed.
        for step in 1..10 {
            let now = start + step * 30_000;
            let own = [seen(1, "10.0.0.11", now), seen(2, "10.0.0.12", now)];
            assert!(office.pass(&own, 0, now).is_empty(), "step {step}");
        }
        let now = start + 5 * MINUTE;
        let refreshed = office.pass(
            &[seen(1, "10.0.0.11", now), seen(2, "10.0.0.12", now)],
            0,
            now,
        );
        assert_eq!(
            refreshed,
            vec![Key::Mac {
                mac: mac(1),
                observer: NodeId(1)
            }]
        );
        // A new IP is written at once.
        let later = now + 30_000;
        let moved = office.pass(
            &[seen(1, "10.0.0.99", later), seen(2, "10.0.0.12", later)],
            0,
            later,
        );
        assert_eq!(moved.len(), 1);
        // The visitor leaves: the count changes (and ada's sighting is due a refresh).
        let gone = later + 11 * MINUTE;
        let left = office.pass(
            &[seen(1, "10.0.0.99", gone), seen(2, "10.0.0.12", later)],
            0,
            gone,
        );
        assert_eq!(
            left,
            vec![
                Key::Mac {
                    mac: mac(1),
                    observer: NodeId(1)
                },
                Key::Devices {
                    observer: NodeId(1)
                }
            ]
        );
    }

    #[test]
    fn a_departure_is_written_once_and_never_early() {
        let mut office = Office::new();
        let start = 1_000 * MINUTE;
        office.pass(&[seen(1, "10.0.0.11", start)], 0, start);
        let last = start + 4 * MINUTE;
        office.pass(&[seen(1, "10.0.0.11", last)], 0, last);
        let key = Key::Mac {
            mac: mac(1),
            observer: NodeId(1),
        };
        let present = |office: &Office, now: u64| match office.replica.value(&key) {
            Some(Value::Mac(seen)) => seen.present_at(now, 10 * MINUTE),
            _ => false,
        };
        // Not refreshed since `start`, yet present until 10 minutes after it was last seen.
        assert!(present(&office, last + 10 * MINUTE - 1));
        let after = last + 10 * MINUTE + 30_000;
        assert_eq!(
            office.pass(&[seen(1, "10.0.0.11", last)], 0, after),
            vec![key.clone()]
        );
        assert!(!present(&office, after));
        assert!(office
            .pass(&[seen(1, "10.0.0.11", last)], 0, after + 30_000)
            .is_empty());
    }

    #[test]
    fn attendance_is_kept_only_with_history_on_and_expires() {
        let mut office = Office::new();
        let start = 1_796_256_000_000 + 9 * 60 * MINUTE;
        let keys = office.pass(&[seen(1, "10.0.0.11", start)], 3, start);
        let day = Key::Attendance {
            name: "ada".into(),
            day: "2026-12-03".into(),
        };
        assert!(keys.contains(&day), "{keys:?}");
        let later = start + 5 * 86_400_000;
        office.pass(&[], 3, later);
        assert!(
            office.replica.value(&day).is_none(),
            "older than history_days"
        );
        let mut off = Office::new();
        let keys = off.pass(&[seen(1, "10.0.0.11", start)], 0, start);
        assert!(!keys.iter().any(|key| matches!(key, Key::Attendance { .. })));
    }

    #[test]
    fn forgetting_a_person_withdraws_their_sightings() {
        let mut office = Office::new();
        let start = 1_000 * MINUTE;
        office.pass(&[seen(1, "10.0.0.11", start)], 0, start);
        office.apply(vec![(
            Key::Person {
                name: "ada".into(),
                mac: mac(1),
            },
            None,
        )]);
        let keys = office.pass(&[seen(1, "10.0.0.11", start + 1)], 0, start + 1);
        assert!(keys.contains(&Key::Mac {
            mac: mac(1),
            observer: NodeId(1)
        }));
        assert!(office
            .replica
            .value(&Key::Mac {
                mac: mac(1),
                observer: NodeId(1)
            })
            .is_none());
    }
}
