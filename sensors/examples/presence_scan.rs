//! presence_scan: one presence scan of a network interface, as the agent does it: a UDP
//! datagram to port 5353 for every address of the interface's subnet (at most a /22), then
//! the complete entries of the kernel neighbour table. Randomized (locally administered) MACs
//! are flagged. Needs no root. Sends traffic on the network you name: run it on your own LAN.
//!
//! Run: `cargo run -p officemesh-sensors --example presence_scan -- eth0`

use officemesh_sensors::{NeighborScanner, PresenceScanner};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interface = std::env::args().nth(1).unwrap_or_else(|| "eth0".into());
    let mut scanner = NeighborScanner::new(&interface);
    let mut neighbors = scanner.scan()?;
    neighbors.sort_by_key(|neighbor| neighbor.ip);
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
