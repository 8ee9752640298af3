//! `LocalSightings`: every device this node itself saw on the LAN — MAC, IP, first and last
//! seen — kept in memory only. It is what `/v1/network` lists as this node's own sightings, how
//! a claim link maps a request's source IP to a MAC, and where unknown devices are counted.
//! Devices nobody registered never leave it (not replicated, not written to disk); they are
//! forgotten `presence.forget_unknown_after_s` after they were last seen.
//!
//! Must not touch: the replica, SQLite, sockets (the presence loop feeds it).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Mutex;

use officemesh_sensors::{MacAddr, Neighbor};

use crate::state::MacSeen;
use crate::sync::lock;

/// This node's own sightings, behind a short-held lock.
#[derive(Debug, Default)]
pub struct LocalSightings(Mutex<BTreeMap<MacAddr, MacSeen>>);

impl LocalSightings {
    /// Records one scan taken at `now_ms` (multicast MACs are ignored).
    pub fn observe(&self, scan: &[Neighbor], now_ms: u64) {
        let mut table = lock(&self.0);
        for neighbor in scan.iter().filter(|n| !n.mac.is_multicast()) {
            let seen = table.entry(neighbor.mac).or_insert_with(|| MacSeen {
                ip: neighbor.ip.to_string(),
                first_seen_ms: now_ms,
                last_seen_ms: now_ms,
                randomized: neighbor.mac.is_locally_administered(),
                present_until_ms: 0,
            });
            seen.ip = neighbor.ip.to_string();
            seen.last_seen_ms = seen.last_seen_ms.max(now_ms);
        }
    }

    /// Forgets the devices not in `keep` last seen more than `after_ms` before `now_ms`;
    /// returns how many were forgotten.
    pub fn forget_unknown(&self, keep: &BTreeSet<MacAddr>, now_ms: u64, after_ms: u64) -> usize {
        let mut table = lock(&self.0);
        let before = table.len();
        table.retain(|mac, seen| {
            keep.contains(mac) || now_ms.saturating_sub(seen.last_seen_ms) <= after_ms
        });
        before - table.len()
    }

    /// Every sighting, by MAC.
    pub fn snapshot(&self) -> Vec<(MacAddr, MacSeen)> {
        lock(&self.0)
            .iter()
            .map(|(mac, seen)| (*mac, seen.clone()))
            .collect()
    }

    /// The sighting of `mac`, if this node saw it.
    pub fn get(&self, mac: &MacAddr) -> Option<MacSeen> {
        lock(&self.0).get(mac).cloned()
    }

    /// The MAC last seen at `ip` (the newest sighting when several devices used it).
    pub fn mac_of_ip(&self, ip: IpAddr) -> Option<MacAddr> {
        let text = ip.to_string();
        lock(&self.0)
            .iter()
            .filter(|(_, seen)| seen.ip == text)
            .max_by_key(|(_, seen)| seen.last_seen_ms)
            .map(|(mac, _)| *mac)
    }

    /// Devices not in `registered` (nor in `exclude`, the mesh's own Pis) present at `now_ms`.
    pub fn unknown_present(
        &self,
        registered: &BTreeSet<MacAddr>,
        exclude_ips: &BTreeSet<String>,
        now_ms: u64,
        consider_home_ms: u64,
    ) -> u64 {
        lock(&self.0)
            .iter()
            .filter(|(mac, seen)| {
                !registered.contains(mac)
                    && !exclude_ips.contains(&seen.ip)
                    && seen.present_at(now_ms, consider_home_ms)
            })
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn device(last: u8, host: u8) -> Neighbor {
        Neighbor {
            mac: MacAddr([0x00, 0x16, 0x3e, 0, 0, last]),
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)),
        }
    }

    #[test]
    fn unknown_devices_are_counted_then_forgotten() {
        let table = LocalSightings::default();
        let (ada, visitor) = (device(1, 11), device(2, 12));
        table.observe(&[ada.clone(), visitor.clone()], 1_000);
        let registered: BTreeSet<MacAddr> = [ada.mac].into();
        assert_eq!(
            table.unknown_present(&registered, &BTreeSet::new(), 1_000, 600_000),
            1
        );
        let pis: BTreeSet<String> = ["10.0.0.12".to_string()].into();
        assert_eq!(table.unknown_present(&registered, &pis, 1_000, 600_000), 0);
        assert_eq!(
            table.mac_of_ip("10.0.0.12".parse().expect("ip")),
            Some(visitor.mac)
        );
        // A day later only the registered device is still remembered.
        assert_eq!(table.forget_unknown(&registered, 90_000_000, 86_400_000), 1);
        assert!(table.get(&visitor.mac).is_none());
        assert!(table.get(&ada.mac).is_some());
        assert_eq!(table.mac_of_ip("10.0.0.12".parse().expect("ip")), None);
    }

    #[test]
    fn a_new_ip_replaces_the_old_and_first_seen_stays() {
        let table = LocalSightings::default();
        table.observe(&[device(1, 11)], 1_000);
        table.observe(&[device(1, 20)], 2_000);
        let seen = table.get(&device(1, 0).mac).expect("seen");
        assert_eq!(
            (seen.ip.as_str(), seen.first_seen_ms, seen.last_seen_ms),
            ("10.0.0.20", 1_000, 2_000)
        );
    }
}
