//! `PresenceTracker`: turns raw scans into arrivals and departures. A device is present while it
//! was last seen within `consider_home` — one missed scan (a phone asleep, a lost ARP reply) is
//! not a departure. Pure: the caller passes the time, in milliseconds of any monotonic clock.

use std::collections::BTreeMap;

use super::{MacAddr, Neighbor};

/// A change in who is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceEvent {
    /// First seen, or seen again after a departure.
    Arrived(Neighbor),
    /// Not seen for longer than `consider_home`; carries the last known address.
    Departed(Neighbor),
}

/// What the tracker remembers about a present device.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    neighbor: Neighbor,
    last_seen_ms: u64,
}

/// Debounces departures: present while last seen within `consider_home_ms`.
#[derive(Debug, Clone)]
pub struct PresenceTracker {
    consider_home_ms: u64,
    present: BTreeMap<MacAddr, Seen>,
}

impl PresenceTracker {
    /// A tracker that keeps a device present for `consider_home_ms` after it was last seen
    /// (the agent's `presence.consider_home_s` × 1000).
    pub fn new(consider_home_ms: u64) -> Self {
        PresenceTracker {
            consider_home_ms,
            present: BTreeMap::new(),
        }
    }

    /// Feeds one scan taken at `now_ms`; returns the arrivals and departures it causes, sorted
    /// by MAC. Multicast MACs are ignored.
    pub fn observe(&mut self, scan: &[Neighbor], now_ms: u64) -> Vec<PresenceEvent> {
        let mut events = Vec::new();
        for neighbor in scan.iter().filter(|n| !n.mac.is_multicast()) {
            let seen = Seen {
                neighbor: neighbor.clone(),
                last_seen_ms: now_ms,
            };
            if self.present.insert(neighbor.mac, seen).is_none() {
                events.push(PresenceEvent::Arrived(neighbor.clone()));
            }
        }
        let consider_home_ms = self.consider_home_ms;
        let gone: Vec<MacAddr> = self
            .present
            .iter()
            .filter(|(_, seen)| now_ms.saturating_sub(seen.last_seen_ms) > consider_home_ms)
            .map(|(mac, _)| *mac)
            .collect();
        for mac in gone {
            if let Some(seen) = self.present.remove(&mac) {
                events.push(PresenceEvent::Departed(seen.neighbor));
            }
        }
        events
    }

    /// True while `mac` counts as present.
    pub fn is_present(&self, mac: &MacAddr) -> bool {
        self.present.contains_key(mac)
    }

    /// The devices present, sorted by MAC.
    pub fn present(&self) -> Vec<Neighbor> {
        self.present
            .values()
            .map(|seen| seen.neighbor.clone())
            .collect()
    }

    /// When `mac` was last seen, if it is present.
    pub fn last_seen_ms(&self, mac: &MacAddr) -> Option<u64> {
        self.present.get(mac).map(|seen| seen.last_seen_ms)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn phone(last: u8) -> Neighbor {
        Neighbor {
            mac: MacAddr([0x00, 0x16, 0x3e, 0, 0, last]),
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        }
    }

    #[test]
    fn departure_waits_for_consider_home() {
        let mut tracker = PresenceTracker::new(180_000);
        let (a, b) = (phone(1), phone(2));
        assert_eq!(
            tracker.observe(&[a.clone(), b.clone()], 0),
            vec![
                PresenceEvent::Arrived(a.clone()),
                PresenceEvent::Arrived(b.clone())
            ]
        );
        // b misses scans but is still home until 180 s after it was last seen.
        assert!(tracker.observe(std::slice::from_ref(&a), 30_000).is_empty());
        assert!(tracker
            .observe(std::slice::from_ref(&a), 180_000)
            .is_empty());
        assert!(tracker.is_present(&b.mac));
        assert_eq!(
            tracker.observe(std::slice::from_ref(&a), 180_001),
            vec![PresenceEvent::Departed(b.clone())]
        );
        assert!(!tracker.is_present(&b.mac));
        assert_eq!(tracker.present(), vec![a.clone()]);
        // Coming back is a new arrival.
        assert_eq!(
            tracker.observe(&[a, b.clone()], 200_000),
            vec![PresenceEvent::Arrived(b)]
        );
    }

    #[test]
    fn a_seen_device_refreshes_and_multicast_is_ignored() {
        let mut tracker = PresenceTracker::new(10);
        let a = phone(1);
        tracker.observe(std::slice::from_ref(&a), 0);
        tracker.observe(std::slice::from_ref(&a), 8);
        assert!(tracker.observe(&[], 18).is_empty());
        assert_eq!(tracker.last_seen_ms(&a.mac), Some(8));
        let multicast = Neighbor {
            mac: MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]),
            ip: a.ip,
        };
        assert!(tracker.observe(&[multicast], 18).is_empty());
        assert_eq!(tracker.observe(&[], 19), vec![PresenceEvent::Departed(a)]);
    }
}
