//! presence_scan: one presence scan of a network interface, as the agent does it: the devices
//! the kernel confirmed recently (rtnetlink neighbour table), then one paced UDP datagram to
//! port 5353 for each stale entry and the next addresses of the subnet (at most 10 ARP packets
//! a second), and a second look for answers. Randomized (locally administered) MACs are
//! flagged. Needs no root. Sends traffic on the network you name: run it on your own LAN.
//!
//! Run: `cargo run -p officemesh-sensors --example presence_scan -- [wlan0]` (no name: the
//! default route's interface).

use officemesh_sensors::{NeighborScanner, PresenceScanner};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut scanner = match std::env::args().nth(1) {
        Some(interface) => NeighborScanner::new(&interface),
        None => NeighborScanner::auto(),
    };
    let mut neighbors = scanner.scan()?;
    neighbors.sort_by_key(|neighbor| neighbor.ip);
    let interface = scanner.interface().unwrap_or("?");
    println!("{} devices on {interface}", neighbors.len());
    for neighbor in neighbors {
        let note = if neighbor.mac.is_locally_administered() {
            "  (randomized MAC: may change)"
        } else {
            ""
        };
        println!("  {:<15} {}{note}", neighbor.ip, neighbor.mac);
    }
    Ok(())
}
