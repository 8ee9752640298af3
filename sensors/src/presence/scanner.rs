//! `NeighborScanner`: the real [`PresenceScanner`] on Linux. Each scan reads the kernel
//! neighbour table over rtnetlink and reports the devices the kernel confirmed since the
//! previous look (`freshness`); then sends one small UDP datagram to port 5353 to each STALE
//! entry (the kernel asks that device by unicast ARP; an answer shows at the next look) and, on
//! the subnet's sweeper only, to the next addresses of the subnet that have no entry (the
//! kernel broadcasts ARP for them). Every datagram is followed by a pause of `pace` per ARP
//! packet the kernel may send for it, so a node stays under `1000 / pace_ms` ARP packets a
//! second (managed switches with Dynamic ARP Inspection shut a port above ~15 a second), and
//! the datagrams of one scan fit in its budget; the sweep resumes where it stopped. After
//! sending it waits `settle` and looks again for answers. Nothing needs raw sockets or root.
//!
//! The interface is the configured one, or (auto) the one carrying the default route, chosen
//! again each scan until one qualifies. The scanner holds no socket between scans: when the
//! interface disappears a scan fails, and the next scan after it comes back works again.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::freshness::{sightings, stale_to_probe, sweep_targets};
use super::interface::choose_interface;
use super::netlink::dump_neighbours;
use super::subnet::{arp_cost, interface_ipv4, send_wakeups, Ipv4Subnet};
use super::{Neighbor, PresenceScanner};
use crate::SensorError;

/// Slack added to the freshness window (scheduling, the kernel's 10 ms ticks): a tenth of
/// the window, at most a second.
fn slack(window: Duration) -> Duration {
    (window / 10).min(Duration::from_secs(1))
}

/// The resolved entries of the calling thread's kernel neighbour table, on every interface:
/// which MAC answered for which IP (the claim link asks it who opened the link).
pub fn neighbor_table() -> Result<Vec<Neighbor>, SensorError> {
    let entries = dump_neighbours().map_err(|source| SensorError::Io {
        device: "neighbour table (rtnetlink)".into(),
        source,
    })?;
    Ok(entries
        .into_iter()
        .filter(|entry| entry.is_resolved())
        .filter_map(|entry| {
            Some(Neighbor {
                mac: entry.mac?,
                ip: std::net::IpAddr::V4(entry.ip),
            })
        })
        .collect())
}

/// Scans one interface's IPv4 subnet through the kernel neighbour table.
#[derive(Debug, Clone)]
pub struct NeighborScanner {
    /// The configured interface; `None` = the default route's, chosen each scan.
    configured: Option<String>,
    /// The interface the last scan used (logged when it changes).
    current: Option<String>,
    cap_prefix: u8,
    settle: Duration,
    pace: Duration,
    budget: Duration,
    window: Duration,
    wake: bool,
    last_look: Option<Instant>,
    cursor: usize,
}

impl NeighborScanner {
    /// A scanner for `interface` (e.g. `eth0`, `wlan0`) with the defaults: sweep at most a /24
    /// around our address, 100 ms per ARP packet (10 a second), 20 s of datagrams per scan,
    /// 30 s between scans, then wait 1.5 s for answers.
    pub fn new(interface: &str) -> Self {
        NeighborScanner {
            configured: Some(interface.to_string()),
            current: None,
            cap_prefix: 24,
            settle: Duration::from_millis(1500),
            pace: Duration::from_millis(100),
            budget: Duration::from_secs(20),
            window: Duration::from_secs(30),
            wake: true,
            last_look: None,
            cursor: 0,
        }
    }

    /// A scanner on the interface of the default route (see `interface::choose_interface`).
    pub fn auto() -> Self {
        NeighborScanner {
            configured: None,
            ..NeighborScanner::new("")
        }
    }

    /// How long to wait between the datagrams and the second look at the table.
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// The pause per ARP packet the kernel may send for a datagram (100 ms = 10 a second).
    pub fn with_pace(mut self, pace: Duration) -> Self {
        self.pace = pace;
        self
    }

    /// The most time one scan spends sending datagrams (keep it under the scan interval).
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// The time between scans: the first scan counts confirmations this recent.
    pub fn with_scan_interval(mut self, interval: Duration) -> Self {
        self.window = interval;
        self
    }

    /// The widest block of addresses swept, as a prefix length (24 = 254 hosts).
    pub fn with_cap_prefix(mut self, cap_prefix: u8) -> Self {
        self.cap_prefix = cap_prefix.clamp(16, 32);
        self
    }

    /// Turns the sweep off: only read the table and probe stale entries.
    pub fn with_wake(mut self, wake: bool) -> Self {
        self.wake = wake;
        self
    }

    /// The interface the last scan used, or the configured one.
    pub fn interface(&self) -> Option<&str> {
        self.current.as_deref().or(self.configured.as_deref())
    }

    fn io_error(interface: &str, source: std::io::Error) -> SensorError {
        SensorError::Io {
            device: format!("presence on {interface}"),
            source,
        }
    }

    /// The interface this scan uses; logs a new choice with its reason.
    fn resolve(&mut self) -> Result<String, SensorError> {
        let chosen = match &self.configured {
            Some(name) => name.clone(),
            None => {
                let choice = choose_interface()
                    .map_err(|source| Self::io_error("the default route's interface", source))?;
                let Some((name, why)) = choice else {
                    return Err(Self::io_error(
                        "the default route's interface",
                        std::io::Error::new(
                            std::io::ErrorKind::AddrNotAvailable,
                            "no interface is up with an IPv4 address yet (not connected?); set [presence] interface to name one",
                        ),
                    ));
                };
                if self.current.as_deref() != Some(name.as_str()) {
                    tracing::info!(interface = %name, "presence: scanning {name} because {why} ([presence] interface is not set)");
                }
                name
            }
        };
        self.current = Some(chosen.clone());
        Ok(chosen)
    }

    fn subnet_of(interface: &str) -> Result<Ipv4Subnet, SensorError> {
        interface_ipv4(interface)
            .map_err(|source| Self::io_error(interface, source))?
            .ok_or_else(|| {
                Self::io_error(
                    interface,
                    std::io::Error::new(
                        std::io::ErrorKind::AddrNotAvailable,
                        format!("interface '{interface}' has no IPv4 address (not connected yet?)"),
                    ),
                )
            })
    }

    /// Sends the probes and, when sweeping, the sweep; returns how many datagrams left.
    fn send(
        &mut self,
        interface: &str,
        subnet: &Ipv4Subnet,
        entries: &[super::netlink::NeighbourEntry],
        ifindex: u32,
        window: Duration,
    ) -> Result<usize, SensorError> {
        let (unicast_cost, broadcast_cost) = arp_cost(interface);
        let probe_gap = self.pace * unicast_cost;
        let sweep_gap = self.pace * broadcast_cost;
        let slots = |gap: Duration| {
            if gap.is_zero() {
                usize::MAX
            } else {
                (self.budget.as_millis() / gap.as_millis().max(1)) as usize
            }
        };
        let mut probes = stale_to_probe(entries, ifindex, window);
        probes.truncate(slots(probe_gap));
        let left = self.budget.saturating_sub(probe_gap * probes.len() as u32);
        let sweep: Vec<Ipv4Addr> = if self.wake {
            let hosts = subnet.hosts_to_probe(self.cap_prefix);
            let max = if sweep_gap.is_zero() {
                usize::MAX
            } else {
                (left.as_millis() / sweep_gap.as_millis().max(1)) as usize
            };
            let (targets, next) = sweep_targets(&hosts, entries, ifindex, self.cursor, max);
            self.cursor = next;
            targets
        } else {
            Vec::new()
        };
        let error = |source| Self::io_error(interface, source);
        let sent = send_wakeups(subnet.address, &probes, probe_gap).map_err(error)?
            + send_wakeups(subnet.address, &sweep, sweep_gap).map_err(error)?;
        tracing::debug!(
            interface,
            probes = probes.len(),
            sweep = sweep.len(),
            sent,
            "presence datagrams sent"
        );
        Ok(sent)
    }
}

fn read_entries(
    interface: &str,
) -> Result<(Vec<super::netlink::NeighbourEntry>, u32), SensorError> {
    let ifindex = nix::net::if_::if_nametoindex(interface).map_err(|errno| {
        NeighborScanner::io_error(
            interface,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("network interface '{interface}' does not exist ({errno})"),
            ),
        )
    })?;
    let entries =
        dump_neighbours().map_err(|source| NeighborScanner::io_error(interface, source))?;
    Ok((entries, ifindex))
}

impl PresenceScanner for NeighborScanner {
    fn set_wake(&mut self, wake: bool) {
        self.wake = wake;
    }

    fn subnet(&self) -> String {
        let interface = match &self.configured {
            Some(name) => Some(name.clone()),
            None => choose_interface().ok().flatten().map(|(name, _)| name),
        };
        let Some(interface) = interface else {
            return "no interface yet".to_string();
        };
        match interface_ipv4(&interface) {
            Ok(Some(subnet)) => subnet.network_text(),
            _ => format!("{interface} (no IPv4 address)"),
        }
    }

    fn scan(&mut self) -> Result<Vec<Neighbor>, SensorError> {
        let interface = self.resolve()?;
        let subnet = Self::subnet_of(&interface)?;
        let now = Instant::now();
        let window = self.last_look.map_or(self.window, |last| {
            now.duration_since(last).max(self.window)
        });
        let window = window + slack(window);
        let (entries, ifindex) = read_entries(&interface)?;
        self.last_look = Some(now);
        let mut found = sightings(&entries, ifindex, window);
        let sent = self.send(&interface, &subnet, &entries, ifindex, window)?;
        if sent > 0 && !self.settle.is_zero() {
            std::thread::sleep(self.settle);
        }
        if sent > 0 {
            // Answers to this scan's datagrams: confirmed since the first look.
            let (again, ifindex) = read_entries(&interface)?;
            let since_first = now.elapsed() + slack(now.elapsed());
            for neighbor in sightings(&again, ifindex, since_first) {
                if !found.contains(&neighbor) {
                    found.push(neighbor);
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interface_is_an_error_naming_it() {
        let mut scanner = NeighborScanner::new("nosuchif0").with_settle(Duration::ZERO);
        let err = scanner.scan().expect_err("no such interface");
        assert!(err.to_string().contains("nosuchif0"), "{err}");
    }

    #[test]
    fn loopback_scans_find_nobody() {
        // qemu-user answers rtnetlink with EOPNOTSUPP (deploy/test-aarch64.sh sets this); the
        // native run and a real Pi cover it.
        if std::env::var("OFFICEMESH_SKIP_SERVICES").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED: rtnetlink under qemu-user (OFFICEMESH_SKIP_SERVICES=1)");
            return;
        }
        let mut scanner = NeighborScanner::new("lo")
            .with_wake(false)
            .with_settle(Duration::ZERO);
        assert_eq!(scanner.scan().expect("lo scans").len(), 0);
        assert_eq!(scanner.interface(), Some("lo"));
    }
}
