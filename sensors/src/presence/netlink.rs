//! The kernel's IPv4 neighbour table over rtnetlink (`RTM_GETNEIGH` dump on a blocking
//! `NETLINK_ROUTE` socket): each entry's state and how long ago the kernel last confirmed the
//! device answered (`NDA_CACHEINFO.ndm_confirmed`), which `/proc/net/arp` does not show — there
//! a STALE entry of a phone that left long ago looks the same as one that answered a second ago.
//!
//! The socket is opened per dump in the calling thread's network namespace. Must not touch:
//! sending probes, deciding what counts as a sighting (`freshness`).

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::MacAddr;

/// The kernel's `USER_HZ`: `ndm_confirmed` counts in clock ticks of 1/100 s.
const USER_HZ: u64 = 100;

/// A neighbour entry's state (the kernel's `NUD_*`), as far as presence cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NudState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
    /// PERMANENT, NOARP, NONE: set by hand or not resolved by ARP; never a sighting.
    Other,
}

/// One IPv4 neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourEntry {
    pub ifindex: u32,
    pub ip: Ipv4Addr,
    /// The hardware address, when the entry has one.
    pub mac: Option<MacAddr>,
    pub state: NudState,
    /// How long ago the kernel last confirmed the device reachable (an answered ARP, or TCP
    /// progress), when the kernel says.
    pub confirmed_ago: Option<Duration>,
}

impl NeighbourEntry {
    /// True when the entry holds a usable hardware address (the kernel's `NUD_VALID` minus
    /// entries set by hand): REACHABLE, STALE, DELAY, PROBE.
    pub fn is_resolved(&self) -> bool {
        self.mac.is_some()
            && matches!(
                self.state,
                NudState::Reachable | NudState::Stale | NudState::Delay | NudState::Probe
            )
    }
}

fn nud_state(state: NeighbourState) -> NudState {
    match state {
        NeighbourState::Incomplete => NudState::Incomplete,
        NeighbourState::Reachable => NudState::Reachable,
        NeighbourState::Stale => NudState::Stale,
        NeighbourState::Delay => NudState::Delay,
        NeighbourState::Probe => NudState::Probe,
        NeighbourState::Failed => NudState::Failed,
        _ => NudState::Other,
    }
}

/// One dumped message as an IPv4 entry; other families and malformed entries are `None`.
fn entry_of(message: &NeighbourMessage) -> Option<NeighbourEntry> {
    if message.header.family != AddressFamily::Inet {
        return None;
    }
    let mut ip = None;
    let mut mac = None;
    let mut confirmed_ago = None;
    for attribute in &message.attributes {
        match attribute {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(address)) => ip = Some(*address),
            NeighbourAttribute::LinkLayerAddress(bytes) => {
                mac = <[u8; 6]>::try_from(bytes.as_slice())
                    .ok()
                    .map(MacAddr)
                    .filter(|mac| mac.0 != [0; 6] && !mac.is_multicast());
            }
            NeighbourAttribute::CacheInfo(info) => {
                let ms = u64::from(info.confirmed) * 1000 / USER_HZ;
                confirmed_ago = Some(Duration::from_millis(ms));
            }
            _ => {}
        }
    }
    Some(NeighbourEntry {
        ifindex: message.header.ifindex,
        ip: ip?,
        mac,
        state: nud_state(message.header.state),
        confirmed_ago,
    })
}

fn bad_data(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("neighbour table over netlink: {what}"),
    )
}

/// Every IPv4 entry of the calling thread's network namespace.
pub fn dump_neighbours() -> io::Result<Vec<NeighbourEntry>> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut request_body = NeighbourMessage::default();
    request_body.header.family = AddressFamily::Inet;
    let mut request = NetlinkMessage::new(
        header,
        NetlinkPayload::from(RouteNetlinkMessage::GetNeighbour(request_body)),
    );
    request.finalize();
    let mut buffer = vec![0; request.header.length as usize];
    request.serialize(&mut buffer);
    socket.send(&buffer, 0)?;

    let mut entries = Vec::new();
    loop {
        let (datagram, _) = socket.recv_from_full()?;
        let mut offset = 0;
        while offset < datagram.len() {
            let bytes = &datagram[offset..];
            let message =
                NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).map_err(bad_data)?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::Done(_) => return Ok(entries),
                NetlinkPayload::Error(err) => return Err(bad_data(format!("{err:?}"))),
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(neighbour)) => {
                    entries.extend(entry_of(&neighbour));
                }
                _ => {}
            }
            if length == 0 {
                return Err(bad_data("a message of length 0"));
            }
            offset += (length + 3) & !3;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dump_agrees_with_proc_net_arp() {
        // qemu-user answers rtnetlink with EOPNOTSUPP (deploy/test-aarch64.sh sets this); the
        // native run and a real Pi cover it.
        if std::env::var("OFFICEMESH_SKIP_SERVICES").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED: rtnetlink under qemu-user (OFFICEMESH_SKIP_SERVICES=1)");
            return;
        }
        // Whatever this machine holds: every complete entry /proc/net/arp shows is in the dump
        // with the same MAC (an entry may come or go between the two reads: retried once).
        let matches = || {
            let entries = dump_neighbours().expect("rtnetlink works without privileges");
            let text = std::fs::read_to_string("/proc/net/arp").unwrap_or_default();
            super::super::arp::parse_arp_table(&text, super::super::arp::ANY_INTERFACE)
                .iter()
                .all(|shown| {
                    entries.iter().any(|entry| {
                        std::net::IpAddr::V4(entry.ip) == shown.ip && entry.mac == Some(shown.mac)
                    })
                })
        };
        assert!(matches() || matches());
    }
}
