//! What one scan of an interface's neighbour entries means, decided without side effects:
//!
//! - a **sighting** is an entry the kernel confirmed recently: resolved (REACHABLE, STALE, DELAY
//!   or PROBE) and `confirmed_ago` within the window (the time since this scanner's previous
//!   look). The state alone is not enough: a STALE entry of a phone that left stays for good on
//!   a small table, and our own probe of it turns it DELAY then PROBE for seconds before FAILED;
//! - **probes**: STALE entries not confirmed in the window get one unicast datagram, so the
//!   kernel asks the device by unicast ARP and an answer confirms it (seen next scan);
//! - the **sweep** (the subnet's sweeper only): addresses with no resolved entry — none, or
//!   FAILED — woken in turn from a cursor, as many as the ARP budget of this scan allows; fresh,
//!   stale (probed) and in-progress entries are skipped.
//!
//! Pure. Must not touch: sockets, clocks.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::netlink::{NeighbourEntry, NudState};
use super::Neighbor;

fn fresh(entry: &NeighbourEntry, window: Duration) -> bool {
    entry.is_resolved() && entry.confirmed_ago.is_some_and(|ago| ago <= window)
}

/// The devices on `ifindex` the kernel confirmed within `window`.
pub fn sightings(entries: &[NeighbourEntry], ifindex: u32, window: Duration) -> Vec<Neighbor> {
    entries
        .iter()
        .filter(|entry| entry.ifindex == ifindex && fresh(entry, window))
        .filter_map(|entry| {
            Some(Neighbor {
                mac: entry.mac?,
                ip: IpAddr::V4(entry.ip),
            })
        })
        .collect()
}

/// The STALE entries on `ifindex` not confirmed within `window`: each gets a unicast probe.
pub fn stale_to_probe(entries: &[NeighbourEntry], ifindex: u32, window: Duration) -> Vec<Ipv4Addr> {
    entries
        .iter()
        .filter(|entry| {
            entry.ifindex == ifindex && entry.state == NudState::Stale && !fresh(entry, window)
        })
        .map(|entry| entry.ip)
        .collect()
}

/// Up to `max` addresses of `hosts` to wake, starting at `cursor` and wrapping once; skips
/// addresses whose entry is resolved or being resolved. Returns them and the next cursor.
pub fn sweep_targets(
    hosts: &[Ipv4Addr],
    entries: &[NeighbourEntry],
    ifindex: u32,
    cursor: usize,
    max: usize,
) -> (Vec<Ipv4Addr>, usize) {
    if hosts.is_empty() {
        return (Vec::new(), 0);
    }
    let busy = |ip: &Ipv4Addr| {
        entries.iter().any(|entry| {
            entry.ifindex == ifindex
                && entry.ip == *ip
                && (entry.is_resolved() || entry.state == NudState::Incomplete)
        })
    };
    let start = cursor % hosts.len();
    let mut targets = Vec::new();
    let mut next = start;
    for step in 0..hosts.len() {
        if targets.len() >= max {
            break;
        }
        let index = (start + step) % hosts.len();
        next = (index + 1) % hosts.len();
        if !busy(&hosts[index]) {
            targets.push(hosts[index]);
        }
    }
    (targets, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presence::MacAddr;

    fn entry(last: u8, state: NudState, ago_ms: u64) -> NeighbourEntry {
        NeighbourEntry {
            ifindex: 2,
            ip: Ipv4Addr::new(10, 0, 0, last),
            mac: Some(MacAddr([0, 0x16, 0x3e, 0, 0, last])),
            state,
            confirmed_ago: Some(Duration::from_millis(ago_ms)),
        }
    }

    #[test]
    fn only_recent_confirmations_are_sightings() {
        let window = Duration::from_secs(30);
        let mut other_interface = entry(9, NudState::Reachable, 0);
        other_interface.ifindex = 3;
        let entries = [
            entry(1, NudState::Reachable, 2_000),
            entry(2, NudState::Stale, 29_000),
            // A phone that left: STALE for good, and DELAY/PROBE while our probe runs.
            entry(3, NudState::Stale, 3_600_000),
            entry(4, NudState::Delay, 40_000),
            entry(5, NudState::Probe, 40_000),
            entry(6, NudState::Failed, 1_000),
            entry(7, NudState::Other, 0),
            entry(8, NudState::Incomplete, 0),
            other_interface,
        ];
        let seen: Vec<String> = sightings(&entries, 2, window)
            .iter()
            .map(|n| n.ip.to_string())
            .collect();
        assert_eq!(seen, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(
            stale_to_probe(&entries, 2, window),
            [Ipv4Addr::new(10, 0, 0, 3)]
        );
    }

    #[test]
    fn the_sweep_skips_busy_addresses_and_resumes_where_it_stopped() {
        let hosts: Vec<Ipv4Addr> = (1..=6).map(|h| Ipv4Addr::new(10, 0, 0, h)).collect();
        let entries = [
            entry(2, NudState::Reachable, 0),
            entry(3, NudState::Stale, 999_000),
            entry(4, NudState::Failed, 0),
            entry(5, NudState::Incomplete, 0),
        ];
        let (first, cursor) = sweep_targets(&hosts, &entries, 2, 0, 2);
        assert_eq!(
            first,
            [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 4)]
        );
        let (second, cursor) = sweep_targets(&hosts, &entries, 2, cursor, 2);
        assert_eq!(
            second,
            [Ipv4Addr::new(10, 0, 0, 6), Ipv4Addr::new(10, 0, 0, 1)]
        );
        let (all, _) = sweep_targets(&hosts, &[], 2, cursor, 100);
        assert_eq!(all.len(), 6, "one round at most");
        assert!(sweep_targets(&[], &entries, 2, 7, 5).0.is_empty());
    }
}
