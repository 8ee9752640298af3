//! An office network as it is, in network namespaces (needs root, `ip`, `curl`): two Pis that
//! scan `lan0` (pi1 named it; pi2 names none and has no default route, so it takes the first up
//! interface with an IPv4 address), a Wi-Fi Pi whose only interface is `wlan0` (default route
//! through it) and whose `[presence]` names no interface, Ada's phone (registered) and a
//! visitor's phone. The Wi-Fi Pi
//! has the lowest node id, so it is the subnet's sweeper; the other two only read their
//! neighbour tables and probe stale entries. Kernel settings are the defaults.
//!
//! Checked: the Wi-Fi Pi chooses `wlan0` (its log says why) and finds both phones itself; Ada's
//! phone talks to pi1 and pi2, both see her themselves; she leaves (link down) and is out on all
//! three within `consider_home_s` + 60 s; the visitor's phone never receives more than 15
//! broadcast frames in any second (a raw socket in its namespace counts them), so a switch with
//! Dynamic ARP Inspection would keep every Pi's port up.
//!
//! Skips with a printed reason when not root; fails instead when `CI=true`.

use crate::support::presence as presence_support;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{
    recv, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType,
};
use nix::sys::time::{TimeVal, TimeValLike};
use presence_support::{can_run, curl, eventually, ip, Lab, Pi, PiSpec, SUBNET, TOKEN};

const ADA_MAC: &str = "00:16:3e:35:00:21";
const VISITOR_MAC: &str = "00:16:3e:35:00:22";
const CONSIDER_HOME_S: u64 = 20;
/// The most broadcast frames a phone may receive in one second (DAI's common 15 ARP/s).
const MOST_PER_SECOND: u32 = 15;

/// Counts the broadcast frames a phone's interface receives, per second since start.
struct BroadcastCounter {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(Vec<u32>, u32)>,
}

fn mac_bytes(mac: &str) -> Vec<u8> {
    mac.split(':')
        .map(|pair| u8::from_str_radix(pair, 16).expect("test MAC"))
        .collect()
}

impl BroadcastCounter {
    fn start(ns: &str, own_mac: &str) -> BroadcastCounter {
        let netns = File::open(format!("/run/netns/{ns}")).expect("phone namespace file");
        let own = mac_bytes(own_mac);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            setns(netns, CloneFlags::CLONE_NEWNET).expect("enter the phone namespace");
            let fd = socket(
                AddressFamily::Packet,
                SockType::Raw,
                SockFlag::empty(),
                SockProtocol::EthAll,
            )
            .expect("AF_PACKET socket (root)");
            setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::milliseconds(200))
                .expect("receive timeout");
            let _ = ready_tx.send(());
            let start = Instant::now();
            let (mut per_second, mut arp) = (Vec::<u32>::new(), 0);
            let mut frame = [0u8; 2048];
            while !stopped.load(Ordering::Acquire) {
                let Ok(length) = recv(fd.as_raw_fd(), &mut frame, MsgFlags::empty()) else {
                    continue;
                };
                // Received broadcasts only: not the phone's own (outgoing) frames.
                if length < 14 || frame[..6] != [0xff; 6] || frame[6..12] == own[..] {
                    continue;
                }
                let second = start.elapsed().as_secs() as usize;
                if per_second.len() <= second {
                    per_second.resize(second + 1, 0);
                }
                per_second[second] += 1;
                arp += u32::from(frame[12..14] == [0x08, 0x06]);
            }
            (per_second, arp)
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the counter's socket is open");
        BroadcastCounter { stop, thread }
    }

    fn finish(self) -> (Vec<u32>, u32) {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// Rows of `pi`'s `/v1/network` that `observer` saw itself, for `mac`, present.
fn sees_itself(pi: &Pi, observer: &str, mac: &str) -> bool {
    pi.json("/v1/network")["devices"]
        .as_array()
        .is_some_and(|rows| {
            rows.iter().any(|row| {
                row["observer_name"] == observer && row["mac"] == mac && row["present"] == true
            })
        })
}

fn ada_present(pi: &Pi) -> Option<bool> {
    let presence = pi.json("/v1/presence");
    presence["people"]
        .as_array()?
        .iter()
        .find(|person| person["name"] == "ada")
        .and_then(|person| person["present"].as_bool())
}

fn start_pis(lab: &mut Lab, root: &std::path::Path) -> [Pi; 3] {
    let key = root.join("cluster.key");
    let status = Command::new(env!("CARGO_BIN_EXE_officemesh"))
        .args(["keygen", "--out"])
        .arg(&key)
        .status()
        .expect("run keygen");
    assert!(status.success(), "keygen");
    let wifi_ns = lab.plug_as("piw", "wlan0", 3, None);
    ip(&[
        "-n",
        &wifi_ns,
        "route",
        "add",
        "default",
        "via",
        &format!("{SUBNET}.254"),
    ]);
    let pi1_ns = lab.plug("pi1", 1, None);
    let pi2_ns = lab.plug("pi2", 2, None);
    let timing = format!("scan_interval_s = 5\nconsider_home_s = {CONSIDER_HOME_S}\n");
    let lan0 = format!("[presence]\ninterface = \"lan0\"\n{timing}");
    let no_interface = format!("[presence]\n{timing}");
    let spec = |name, host, presence, id| PiSpec {
        name,
        host,
        room: name,
        presence,
        node_id: Some(id),
    };
    [
        Pi::start(root, &wifi_ns, &spec("piw", 3, &no_interface, 1), &key),
        Pi::start(root, &pi1_ns, &spec("pi1", 1, &lan0, 2), &key),
        // No interface and no default route: the first up interface with an IPv4 address.
        Pi::start(root, &pi2_ns, &spec("pi2", 2, &no_interface, 3), &key),
    ]
}

/// The Wi-Fi Pi scans wlan0, says why, and finds both phones itself (it sweeps); pi1 and pi2,
/// which do not sweep, see Ada themselves (she talked to them); she is in everywhere.
fn everyone_sees_the_phones(piw: &Pi, pi1: &Pi, pi2: &Pi) {
    let found = eventually(Duration::from_secs(120), || {
        (sees_itself(piw, "piw", ADA_MAC) && sees_itself(piw, "piw", VISITOR_MAC)).then_some(())
    });
    let log = std::fs::read_to_string(&piw.log).unwrap_or_default();
    let network = piw.json("/v1/network");
    assert!(found.is_some(), "piw's own sightings: {network}\n{log}");
    let why = "scanning wlan0 because it carries the default route";
    assert!(log.contains(why), "{log}");
    let everywhere = eventually(Duration::from_secs(60), || {
        (sees_itself(pi1, "pi1", ADA_MAC)
            && sees_itself(pi2, "pi2", ADA_MAC)
            && [piw, pi1, pi2]
                .iter()
                .all(|pi| ada_present(pi) == Some(true)))
        .then_some(())
    });
    let (one, two) = (pi1.json("/v1/network"), pi2.json("/v1/network"));
    assert!(everywhere.is_some(), "pi1: {one}\npi2: {two}");
    let log = std::fs::read_to_string(&pi2.log).unwrap_or_default();
    let why = "scanning lan0 because no default route; it is the first up, non-loopback interface with an IPv4 address";
    assert!(log.contains(why), "{log}");
}

/// Ada's phone goes silent: she is out on all three within consider_home + 60 s.
fn ada_leaves(ada_ns: &str, piw: &Pi, pi1: &Pi, pi2: &Pi) {
    ip(&["-n", ada_ns, "link", "set", "lan0", "down"]);
    let left = Instant::now();
    let bound = Duration::from_secs(CONSIDER_HOME_S + 60);
    let pis = [piw, pi1, pi2];
    let gone = eventually(bound, || {
        pis.iter()
            .all(|pi| ada_present(pi) == Some(false))
            .then(|| left.elapsed())
    });
    let states: Vec<Option<bool>> = pis.iter().map(|pi| ada_present(pi)).collect();
    let gone = gone.unwrap_or_else(|| panic!("ada still in after {bound:?}: {states:?}"));
    println!("ada out on every Pi {gone:.1?} after she left (consider_home_s = {CONSIDER_HOME_S})");
    assert!(!sees_itself(pi1, "pi1", ADA_MAC) && !sees_itself(pi2, "pi2", ADA_MAC));
}

#[test]
fn office_lan_wifi_pi_departures_everywhere_and_switch_safe_sweeps() {
    // One namespace/mount lab at a time in this process (support::netns_lock).
    let _lab = crate::support::netns_lock();
    if !can_run("presence_office") {
        return;
    }
    let mut lab = Lab::new();
    lab.switch();
    let ada_ns = lab.plug("ada", 21, Some(ADA_MAC));
    let visitor_ns = lab.plug("vis", 22, Some(VISITOR_MAC));
    let counter = BroadcastCounter::start(&visitor_ns, VISITOR_MAC);
    let root = tempfile::tempdir().expect("tempdir");
    let [piw, pi1, pi2] = start_pis(&mut lab, root.path());

    let body = format!(r#"{{"name": "ada", "mac": "{ADA_MAC}"}}"#);
    let (status, answer) = pi1.call("POST", "/v1/people", Some(TOKEN), Some(&body));
    assert!(
        status == 200 || status == 201,
        "register ada: {status} {answer}"
    );
    // Ada's phone talks to pi1 and pi2 (opens their dashboards).
    for pi in [&pi1, &pi2] {
        let (status, _) = curl(&ada_ns, "GET", &pi.url("/healthz"), None, None);
        assert_eq!(status, 200, "ada reaches {}", pi.ns);
    }
    everyone_sees_the_phones(&piw, &pi1, &pi2);
    ada_leaves(&ada_ns, &piw, &pi1, &pi2);

    let (per_second, arp) = counter.finish();
    let total: u32 = per_second.iter().sum();
    let busiest = per_second.iter().copied().max().unwrap_or(0);
    let seconds = per_second.len();
    println!("visitor's phone: {total} broadcast frames ({arp} ARP) in {seconds} s, at most {busiest} in one second");
    assert!(arp > 0, "the counter saw the sweep's ARP broadcasts");
    assert!(
        busiest <= MOST_PER_SECOND,
        "a second carried {busiest} broadcasts: {per_second:?}"
    );
}
