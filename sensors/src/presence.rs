//! MAC presence: what a scanner reports about devices on the office network.
//! `MacAddr` lives in `officemesh-types` (strict parsing there) and is re-exported here.
//!
//! - [`arp`]: parsing `/proc/net/arp` (what it shows: no states, no confirmation ages).
//! - [`netlink`]: the kernel neighbour table over rtnetlink, with states and confirmation ages.
//! - [`freshness`]: which entries are sightings, which to probe, what to sweep (pure).
//! - [`interface`]: the default interface (the default route's, else the first up with IPv4).
//! - [`subnet`]: the interface's IPv4 subnet and the UDP wake-ups to port 5353.
//! - [`scanner`]: `NeighborScanner`, the real `PresenceScanner` built from these.
//! - [`tracker`]: `PresenceTracker`, debouncing departures with `consider_home`.

pub mod arp;
pub mod freshness;
pub mod interface;
pub mod netlink;
pub mod scanner;
pub mod subnet;
pub mod tracker;

pub use scanner::{neighbor_table, NeighborScanner};
pub use tracker::{PresenceEvent, PresenceTracker};

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use officemesh_types::{MacAddr, MacParseError};

/// One device seen on the network by a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbor {
    pub mac: MacAddr,
    pub ip: IpAddr,
}

/// Something that lists the devices currently on the network (kernel neighbour table, simulation).
pub trait PresenceScanner: Send {
    /// One scan: the devices that answer now. Departures are debounced by the caller.
    fn scan(&mut self) -> Result<Vec<Neighbor>, crate::SensorError>;

    /// Whether scans sweep the subnet (only one node per subnet sweeps; the others read their
    /// neighbour table and probe its stale entries). Scanners that do not probe ignore it.
    fn set_wake(&mut self, _wake: bool) {}

    /// The network scanned, the same text on every node of it (`10.0.0.0/24`).
    fn subnet(&self) -> String {
        "sim".to_string()
    }
}
