//! Which interface carries the office when `[presence] interface` is not set: the interface of
//! the IPv4 default route (read from `/proc/thread-self/net/route`, so a thread in another
//! network namespace reads its own), else the first interface that is up, not loopback, and has
//! an IPv4 address. A Pi Zero W has only `wlan0`; a desk Pi may use either.
//!
//! Must not touch: the neighbour table, probes.

use std::fmt;
use std::io;
use std::path::Path;

use nix::net::if_::InterfaceFlags;

/// `RTF_UP` in `/proc/net/route`'s Flags column.
const RTF_UP: u32 = 0x1;

/// Why an interface was chosen (logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    DefaultRoute,
    FirstUpWithIpv4,
}

impl fmt::Display for Chosen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Chosen::DefaultRoute => "it carries the default route",
            Chosen::FirstUpWithIpv4 => {
                "no default route; it is the first up, non-loopback interface with an IPv4 address"
            }
        })
    }
}

/// The interface of the lowest-metric IPv4 default route in a `/proc/net/route` text.
pub fn default_route_interface(route_table: &str) -> Option<String> {
    route_table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (iface, destination, flags, metric, mask) = (
                fields.first()?,
                fields.get(1)?,
                fields.get(3)?,
                fields.get(6)?,
                fields.get(7)?,
            );
            let flags = u32::from_str_radix(flags, 16).ok()?;
            let is_default = *destination == "00000000" && *mask == "00000000";
            (is_default && flags & RTF_UP != 0)
                .then(|| Some((metric.parse::<u32>().ok()?, iface.to_string())))?
        })
        .min()
        .map(|(_, iface)| iface)
}

fn route_table() -> io::Result<String> {
    let thread = "/proc/thread-self/net/route";
    let path = if Path::new(thread).exists() {
        thread
    } else {
        "/proc/net/route"
    };
    std::fs::read_to_string(path)
}

/// The first interface that is up, not loopback, and has an IPv4 address.
fn first_up_with_ipv4() -> io::Result<Option<String>> {
    let addresses = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
    Ok(addresses
        .filter(|entry| {
            entry.flags.contains(InterfaceFlags::IFF_UP)
                && !entry.flags.contains(InterfaceFlags::IFF_LOOPBACK)
                && entry
                    .address
                    .as_ref()
                    .is_some_and(|address| address.as_sockaddr_in().is_some())
        })
        .map(|entry| entry.interface_name)
        .next())
}

/// The interface to scan when none is configured, and why; `Ok(None)` while no interface
/// qualifies (at boot, before Wi-Fi connects).
pub fn choose_interface() -> io::Result<Option<(String, Chosen)>> {
    if let Some(iface) = default_route_interface(&route_table()?) {
        return Ok(Some((iface, Chosen::DefaultRoute)));
    }
    Ok(first_up_with_ipv4()?.map(|iface| (iface, Chosen::FirstUpWithIpv4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t0002000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
wlan0\t00000000\t0102000A\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
usb0\t00000000\t0100000B\t0002\t0\t0\t1\t00000000\t0\t0\t0
";

    #[test]
    fn the_lowest_metric_default_route_that_is_up_wins() {
        assert_eq!(default_route_interface(ROUTES), Some("eth0".to_string()));
        let wifi_only: String = ROUTES
            .lines()
            .filter(|line| !line.starts_with("eth0"))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_eq!(default_route_interface(&wifi_only), Some("wlan0".into()));
        assert_eq!(
            default_route_interface(ROUTES.lines().next().unwrap_or("")),
            None
        );
        assert_eq!(default_route_interface("garbage\nmore garbage"), None);
    }

    #[test]
    fn some_interface_or_none_is_chosen_here() {
        // Whatever this machine has: a choice is never loopback.
        if let Some((iface, _)) = choose_interface().expect("route table readable") {
            assert_ne!(iface, "lo");
        }
    }
}
