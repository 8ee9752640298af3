//! `NeighborScanner`: the real [`PresenceScanner`] on Linux. Each scan wakes every address of the
//! interface's IPv4 subnet with a UDP datagram to port 5353 (the kernel ARPs them; nothing needs
//! raw sockets or root), waits a moment for answers, then reads the kernel neighbour table and
//! returns the complete entries on that interface. Entries of devices that left turn FAILED
//! once the kernel's probes go unanswered, so they drop out of later scans.
//!
//! The scanner holds no socket between scans: when the interface disappears a scan fails, and
//! the next scan after it comes back works again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::arp::parse_arp_table;
use super::subnet::{interface_ipv4, send_wakeups};
use super::{Neighbor, PresenceScanner};
use crate::SensorError;

/// The neighbour table of the calling thread's network namespace (so a scanner on a thread that
/// entered another namespace reads that one); `/proc/net/arp` is the process's.
const THREAD_ARP_TABLE: &str = "/proc/thread-self/net/arp";
/// The classic path, for kernels before 3.17.
const PROCESS_ARP_TABLE: &str = "/proc/net/arp";

/// The complete entries of the calling thread's kernel neighbour table, on every interface:
/// which MAC answered for which IP (the claim link asks it who opened the link).
pub fn neighbor_table() -> Result<Vec<Neighbor>, SensorError> {
    let path = if Path::new(THREAD_ARP_TABLE).exists() {
        THREAD_ARP_TABLE
    } else {
        PROCESS_ARP_TABLE
    };
    let text = std::fs::read_to_string(path).map_err(|source| SensorError::Io {
        device: format!("neighbour table {path}"),
        source,
    })?;
    Ok(parse_arp_table(&text, super::arp::ANY_INTERFACE))
}

/// Scans one interface's IPv4 subnet through the kernel neighbour table.
#[derive(Debug, Clone)]
pub struct NeighborScanner {
    interface: String,
    arp_table: PathBuf,
    cap_prefix: u8,
    settle: Duration,
    pace: Duration,
    wake: bool,
}

impl NeighborScanner {
    /// A scanner for `interface` (e.g. `eth0`, `wlan0`) with the defaults: wake at most a /24
    /// around our address (below the kernel's default neighbour table size), one datagram every
    /// 4 ms (a /24 in about a second), then wait 1.5 s for answers.
    pub fn new(interface: &str) -> Self {
        let arp_table = if Path::new(THREAD_ARP_TABLE).exists() {
            THREAD_ARP_TABLE
        } else {
            PROCESS_ARP_TABLE
        };
        NeighborScanner {
            interface: interface.to_string(),
            arp_table: PathBuf::from(arp_table),
            cap_prefix: 24,
            settle: Duration::from_millis(1500),
            pace: Duration::from_millis(4),
            wake: true,
        }
    }

    /// Reads the neighbour table from `path` instead (tests use a fixture file).
    pub fn with_arp_table(mut self, path: &Path) -> Self {
        self.arp_table = path.to_path_buf();
        self
    }

    /// How long to wait between the wake-ups and reading the table.
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// The pause between two wake-up datagrams (probes are paced, not burst).
    pub fn with_pace(mut self, pace: Duration) -> Self {
        self.pace = pace;
        self
    }

    /// The widest block of addresses woken per scan, as a prefix length (24 = 254 hosts).
    pub fn with_cap_prefix(mut self, cap_prefix: u8) -> Self {
        self.cap_prefix = cap_prefix.clamp(16, 32);
        self
    }

    /// Turns the wake-up datagrams off: only read the table (passive scanning).
    pub fn with_wake(mut self, wake: bool) -> Self {
        self.wake = wake;
        self
    }

    /// The interface scanned.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    fn io_error(&self, source: std::io::Error) -> SensorError {
        SensorError::Io {
            device: format!("presence on {}", self.interface),
            source,
        }
    }

    /// Sends the wake-ups; fails when the interface is gone or has no IPv4 address.
    fn wake_subnet(&self) -> Result<(), SensorError> {
        let subnet = interface_ipv4(&self.interface)
            .map_err(|source| self.io_error(source))?
            .ok_or_else(|| {
                self.io_error(std::io::Error::new(
                    std::io::ErrorKind::AddrNotAvailable,
                    format!(
                        "interface '{}' has no IPv4 address (not connected yet?)",
                        self.interface
                    ),
                ))
            })?;
        let targets = subnet.hosts_to_probe(self.cap_prefix);
        let sent = send_wakeups(subnet.address, &targets, self.pace)
            .map_err(|source| self.io_error(source))?;
        tracing::debug!(
            interface = %self.interface,
            targets = targets.len(),
            sent,
            "presence wake-ups sent"
        );
        Ok(())
    }

    /// Reads the table without waking anyone.
    pub fn read_table(&self) -> Result<Vec<Neighbor>, SensorError> {
        let text = std::fs::read_to_string(&self.arp_table).map_err(|source| {
            self.io_error(std::io::Error::new(
                source.kind(),
                format!("{}: {source}", self.arp_table.display()),
            ))
        })?;
        Ok(parse_arp_table(&text, &self.interface))
    }
}

impl PresenceScanner for NeighborScanner {
    fn set_wake(&mut self, wake: bool) {
        self.wake = wake;
    }

    fn subnet(&self) -> String {
        match interface_ipv4(&self.interface) {
            Ok(Some(subnet)) => subnet.network_text(),
            _ => format!("{} (no IPv4 address)", self.interface),
        }
    }

    fn scan(&mut self) -> Result<Vec<Neighbor>, SensorError> {
        if self.wake {
            self.wake_subnet()?;
            if !self.settle.is_zero() {
                std::thread::sleep(self.settle);
            }
        }
        self.read_table()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_scan_reads_the_fixture_table_for_the_interface() {
        let dir = tempfile::tempdir().expect("tempdir");
        let table = dir.path().join("arp");
        std::fs::write(
            &table,
            "IP address       HW type     Flags       HW address            Mask     Device\n\
             10.9.0.2         0x1         0x2         00:16:3e:00:00:02     *        lan0\n\
             10.9.0.3         0x1         0x0         00:00:00:00:00:00     *        lan0\n",
        )
        .expect("write fixture");
        let mut scanner = NeighborScanner::new("lan0")
            .with_arp_table(&table)
            .with_wake(false);
        let found = scanner.scan().expect("fixture readable");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].mac.to_string(), "00:16:3e:00:00:02");
        std::fs::remove_file(&table).expect("remove");
        assert!(scanner.scan().is_err());
    }

    #[test]
    fn a_missing_interface_is_an_error_naming_it() {
        let mut scanner = NeighborScanner::new("nosuchif0").with_settle(Duration::ZERO);
        let err = scanner.scan().expect_err("no such interface");
        assert!(err.to_string().contains("nosuchif0"), "{err}");
    }
}
