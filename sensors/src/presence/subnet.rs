//! Which addresses to wake on an interface's IPv4 subnet, and the wake-up itself: one small UDP
//! datagram to port 5353 (mDNS) per address, so the kernel ARPs each of them (no raw sockets,
//! no root) and sleeping iPhones, which ignore ping, answer. Subnets wider than a cap (a /24 by
//! default) are cut to the block of that size around our own address; datagrams are paced.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};

/// The port the wake-up goes to: mDNS, which phones listen on even when asleep.
pub const WAKE_PORT: u16 = 5353;
/// An mDNS message header with no questions: valid, harmless, 12 bytes.
const WAKE_PAYLOAD: [u8; 12] = [0; 12];

/// An IPv4 address with its prefix length, as configured on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Subnet {
    pub address: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Subnet {
    /// The network in CIDR form (`10.0.0.0/24`): the same for every host on the subnet.
    pub fn network_text(&self) -> String {
        let prefix = self.prefix.min(32);
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        };
        format!(
            "{}/{prefix}",
            Ipv4Addr::from(u32::from(self.address) & mask)
        )
    }

    /// The other host addresses of the subnet (network, broadcast and our own left out), at
    /// most those of a `/cap_prefix` block around our address.
    pub fn hosts_to_probe(&self, cap_prefix: u8) -> Vec<Ipv4Addr> {
        let prefix = self.prefix.max(cap_prefix).min(32);
        if prefix >= 31 {
            // Point-to-point links: the one other address, if any.
            let own = u32::from(self.address);
            let other = own ^ 1;
            return if prefix == 31 {
                vec![Ipv4Addr::from(other)]
            } else {
                Vec::new()
            };
        }
        let mask = u32::MAX << (32 - prefix);
        let network = u32::from(self.address) & mask;
        let broadcast = network | !mask;
        // The network and broadcast addresses of the real subnet are left out.
        let real_mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix.min(32)))
        };
        let real_network = u32::from(self.address) & real_mask;
        let real_broadcast = real_network | !real_mask;
        let own = u32::from(self.address);
        (network..=broadcast)
            .filter(|&host| host != own && host != real_network && host != real_broadcast)
            .map(Ipv4Addr::from)
            .collect()
    }
}

/// The first IPv4 address and prefix of `interface`; `Ok(None)` when the interface exists but
/// has no IPv4 address, an error when it does not exist.
pub fn interface_ipv4(interface: &str) -> io::Result<Option<Ipv4Subnet>> {
    let addresses = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
    let mut exists = false;
    for entry in addresses.filter(|entry| entry.interface_name == interface) {
        exists = true;
        let address = entry
            .address
            .as_ref()
            .and_then(|address| address.as_sockaddr_in())
            .map(|address| address.ip());
        let netmask = entry
            .netmask
            .as_ref()
            .and_then(|mask| mask.as_sockaddr_in())
            .map(|mask| mask.ip());
        if let (Some(address), Some(netmask)) = (address, netmask) {
            let prefix = u32::from(netmask).leading_ones() as u8;
            return Ok(Some(Ipv4Subnet { address, prefix }));
        }
    }
    if exists {
        Ok(None)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("network interface '{interface}' does not exist"),
        ))
    }
}

/// Sends one wake-up datagram from `from` to each target, waiting `gap` after each (so batches
/// sent one after another keep the pace); returns how many were handed to the kernel.
/// Per-address failures (no route, full neighbour queue) are skipped.
pub fn send_wakeups(
    from: Ipv4Addr,
    targets: &[Ipv4Addr],
    gap: std::time::Duration,
) -> io::Result<usize> {
    if targets.is_empty() {
        return Ok(0);
    }
    let socket = UdpSocket::bind(SocketAddrV4::new(from, 0))?;
    let mut sent = 0;
    for target in targets {
        if socket
            .send_to(&WAKE_PAYLOAD, SocketAddrV4::new(*target, WAKE_PORT))
            .is_ok()
        {
            sent += 1;
        }
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
    }
    Ok(sent)
}

/// How many ARP packets the kernel sends for one datagram to an address on `interface`:
/// `(unicast probe of a known entry, broadcast resolution of an unknown one)` — its
/// `ucast_solicit` + `mcast_resolicit` and `mcast_solicit` settings (3 and 3 by default).
pub fn arp_cost(interface: &str) -> (u32, u32) {
    let read = |name: &str, default: u32| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/neigh/{interface}/{name}"))
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .unwrap_or(default)
    };
    let unicast = read("ucast_solicit", 3) + read("mcast_resolicit", 0);
    let broadcast = read("mcast_solicit", 3);
    (unicast.max(1), broadcast.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(text: &str, prefix: u8) -> Ipv4Subnet {
        Ipv4Subnet {
            address: text.parse().expect("address"),
            prefix,
        }
    }

    #[test]
    fn a_slash_24_probes_everyone_but_us() {
        let hosts = subnet("192.168.1.10", 24).hosts_to_probe(22);
        assert_eq!(hosts.len(), 253);
        assert_eq!(hosts.first(), Some(&Ipv4Addr::new(192, 168, 1, 1)));
        assert_eq!(hosts.last(), Some(&Ipv4Addr::new(192, 168, 1, 254)));
        assert!(!hosts.contains(&Ipv4Addr::new(192, 168, 1, 10)));
    }

    #[test]
    fn wide_subnets_are_cut_to_the_block_around_us() {
        let hosts = subnet("10.1.6.7", 16).hosts_to_probe(22);
        assert_eq!(hosts.len(), 1023);
        assert_eq!(hosts.first(), Some(&Ipv4Addr::new(10, 1, 4, 0)));
        assert_eq!(hosts.last(), Some(&Ipv4Addr::new(10, 1, 7, 255)));
        // The default cap: a /24 around us, below the kernel's 1024-entry neighbour table.
        let capped = subnet("10.1.6.7", 16).hosts_to_probe(24);
        assert_eq!(capped.len(), 255);
        assert_eq!(capped.first(), Some(&Ipv4Addr::new(10, 1, 6, 0)));
        // Inside a /16 the block's edges are hosts; only the real network address is not.
        let edge = subnet("10.1.1.7", 16).hosts_to_probe(22);
        assert_eq!(edge.first(), Some(&Ipv4Addr::new(10, 1, 0, 1)));
        assert_eq!(edge.last(), Some(&Ipv4Addr::new(10, 1, 3, 255)));
    }

    #[test]
    fn network_text_is_the_same_for_every_host() {
        assert_eq!(subnet("192.168.1.10", 24).network_text(), "192.168.1.0/24");
        assert_eq!(subnet("10.1.6.7", 22).network_text(), "10.1.4.0/22");
    }

    #[test]
    fn point_to_point_prefixes() {
        assert_eq!(
            subnet("10.0.0.0", 31).hosts_to_probe(22),
            vec![Ipv4Addr::new(10, 0, 0, 1)]
        );
        assert!(subnet("10.0.0.1", 32).hosts_to_probe(22).is_empty());
    }

    #[test]
    fn loopback_has_an_address_and_missing_interfaces_are_errors() {
        let lo = interface_ipv4("lo")
            .expect("lo exists")
            .expect("lo has 127.0.0.1");
        assert_eq!(lo.address, Ipv4Addr::LOCALHOST);
        assert_eq!(lo.prefix, 8);
        let err = interface_ipv4("nonexistent0").expect_err("missing");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
