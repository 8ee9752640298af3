//! Presence rules that several faces share, over a replica: the cluster-wide count of unknown
//! devices (from `devices/<node>` counts), which node sweeps a subnet (from the membership
//! view), a registered person's attendance (opt-in history), and the day a time falls on.
//!
//! Pure: times and the peer table are passed in. Must not touch: clocks, sockets, storage.

use std::collections::BTreeMap;

use super::{Key, Replica, Value};
use crate::crdt::NodeId;
use crate::peer::{MemberStatus, PeerStatus};

/// Unknown devices present cluster-wide: nodes on one subnet see the same devices, so per subnet
/// the largest count any node on it shares, summed over subnets.
pub fn unknown_devices(replica: &Replica) -> u64 {
    let mut by_subnet: BTreeMap<&str, u64> = BTreeMap::new();
    for (key, value) in replica.live() {
        if let (Key::Devices { .. }, Value::Devices(count)) = (key, value) {
            let slot = by_subnet.entry(count.subnet.as_str()).or_insert(0);
            *slot = (*slot).max(count.unknown);
        }
    }
    by_subnet.values().sum()
}

/// The node that sweeps `subnet` (sends the wake-ups): the lowest id among this node and the
/// peers it believes alive that share the subnet (as their `devices/<node>` entry says). When
/// the sweeper dies its peers stop counting it alive, and the next lowest takes over.
pub fn sweeper(replica: &Replica, me: NodeId, subnet: &str, peers: &[PeerStatus]) -> NodeId {
    peers
        .iter()
        .filter(|peer| peer.status == MemberStatus::Alive)
        .map(|peer| peer.node)
        .filter(|node| {
            matches!(
                replica.value(&Key::Devices { observer: *node }),
                Some(Value::Devices(count)) if count.subnet == subnet
            )
        })
        .chain(std::iter::once(me))
        .min()
        .unwrap_or(me)
}

/// One person's attendance over the days the replica keeps: (first in, last in) per day.
pub fn attendance(replica: &Replica, person: &str) -> BTreeMap<String, (u64, u64)> {
    replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Attendance { name, day }, Value::Attendance(seen))
                if name.eq_ignore_ascii_case(person) =>
            {
                Some((day.clone(), (seen.first_in_ms, seen.last_in_ms)))
            }
            _ => None,
        })
        .collect()
}

/// The UTC day (`YYYY-MM-DD`) of `ms` since the epoch.
pub fn day_of(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::Stamp;
    use crate::state::{AttendanceValue, DeviceCount};

    fn peer(node: u64, status: MemberStatus) -> PeerStatus {
        PeerStatus::new(NodeId(node), format!("pi-{node}"), status)
    }

    fn with_counts(counts: &[(u64, &str, u64)]) -> Replica {
        let mut replica = Replica::new(NodeId(1));
        for (time, (node, subnet, unknown)) in counts.iter().enumerate() {
            replica
                .write(
                    Key::Devices {
                        observer: NodeId(*node),
                    },
                    Some(Value::Devices(DeviceCount {
                        subnet: subnet.to_string(),
                        room: "lobby".into(),
                        unknown: *unknown,
                    })),
                    Stamp::new(time as u64 + 1, NodeId(1)),
                )
                .expect("fresh stamp");
        }
        replica
    }

    #[test]
    fn unknown_devices_take_the_largest_count_per_subnet() {
        let replica = with_counts(&[
            (1, "10.0.0.0/24", 4),
            (2, "10.0.0.0/24", 3),
            (3, "10.1.0.0/24", 2),
        ]);
        assert_eq!(unknown_devices(&replica), 6);
        assert_eq!(unknown_devices(&Replica::new(NodeId(1))), 0);
    }

    #[test]
    fn the_lowest_alive_node_on_the_subnet_sweeps_and_hands_over_when_it_dies() {
        let replica = with_counts(&[(2, "lan", 0), (3, "lan", 0), (4, "other", 0)]);
        let alive = [peer(2, MemberStatus::Alive), peer(4, MemberStatus::Alive)];
        assert_eq!(sweeper(&replica, NodeId(3), "lan", &alive), NodeId(2));
        // Node 4 is on another subnet; node 2 died: node 3 sweeps.
        let dead = [peer(2, MemberStatus::Dead), peer(4, MemberStatus::Alive)];
        assert_eq!(sweeper(&replica, NodeId(3), "lan", &dead), NodeId(3));
        assert_eq!(sweeper(&replica, NodeId(5), "lan", &[]), NodeId(5));
    }

    #[test]
    fn attendance_and_days() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_796_256_000_000), "2026-12-03");
        let mut replica = Replica::new(NodeId(1));
        replica
            .write(
                Key::Attendance {
                    name: "ada".into(),
                    day: "2026-12-03".into(),
                },
                Some(Value::Attendance(AttendanceValue {
                    first_in_ms: 5,
                    last_in_ms: 9,
                })),
                Stamp::new(1, NodeId(1)),
            )
            .expect("fresh stamp");
        assert_eq!(attendance(&replica, "Ada").get("2026-12-03"), Some(&(5, 9)));
        assert!(attendance(&replica, "bob").is_empty());
    }
}
