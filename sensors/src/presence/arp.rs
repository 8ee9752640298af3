//! Parsing the kernel's IPv4 neighbour table as `/proc/net/arp` shows it. Pure: text in,
//! neighbours out. Only complete entries (flag ATF_COM, 0x2 — kernel states REACHABLE, STALE,
//! DELAY, PROBE, PERMANENT) on the asked interface are returned; INCOMPLETE and FAILED entries
//! (flags 0x0) mean the device did not answer.

use std::net::{IpAddr, Ipv4Addr};

use super::{MacAddr, Neighbor};

/// `ATF_COM`: the entry has a resolved hardware address.
const ATF_COM: u32 = 0x2;

/// Matches every interface in [`parse_arp_table`].
pub const ANY_INTERFACE: &str = "*";

/// The complete entries of `interface` (or of every interface, [`ANY_INTERFACE`]) in a
/// `/proc/net/arp` text; malformed lines are skipped.
pub fn parse_arp_table(text: &str, interface: &str) -> Vec<Neighbor> {
    text.lines()
        .skip(1)
        .filter_map(|line| parse_line(line, interface))
        .collect()
}

fn parse_line(line: &str, interface: &str) -> Option<Neighbor> {
    // IP address, HW type, Flags, HW address, Mask, Device
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [ip, _hw_type, flags, mac, _mask, device] = fields.as_slice() else {
        return None;
    };
    if interface != ANY_INTERFACE && *device != interface {
        return None;
    }
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
    if flags & ATF_COM == 0 {
        return None;
    }
    let mac: MacAddr = mac.parse().ok()?;
    if mac.0 == [0; 6] || mac.is_multicast() {
        return None;
    }
    let ip: Ipv4Addr = ip.parse().ok()?;
    Some(Neighbor {
        mac,
        ip: IpAddr::V4(ip),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
IP address       HW type     Flags       HW address            Mask     Device
192.168.1.1      0x1         0x2         b8:27:eb:00:00:01     *        eth0
192.168.1.20     0x1         0x0         00:00:00:00:00:00     *        eth0
192.168.1.21     0x1         0x2         da:a1:19:12:34:56     *        eth0
10.0.0.5         0x1         0x2         00:16:3e:00:00:05     *        wlan0
192.168.1.22     0x1         0x6         00:16:3e:00:00:22     *        eth0
garbage line
192.168.1.23     0x1         0x2         not-a-mac             *        eth0
";

    #[test]
    fn complete_entries_on_the_interface_only() {
        let neighbors = parse_arp_table(TABLE, "eth0");
        let found: Vec<String> = neighbors
            .iter()
            .map(|n| format!("{} {}", n.ip, n.mac))
            .collect();
        assert_eq!(
            found,
            vec![
                "192.168.1.1 b8:27:eb:00:00:01",
                "192.168.1.21 da:a1:19:12:34:56",
                "192.168.1.22 00:16:3e:00:00:22",
            ]
        );
        assert!(neighbors[1].mac.is_locally_administered());
        assert_eq!(parse_arp_table(TABLE, "wlan0").len(), 1);
        assert!(parse_arp_table(TABLE, "eth1").is_empty());
    }
}
