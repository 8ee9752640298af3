//! Hand-driven `Node` tests of clock offsets (protocol 3): three nodes, one with its wall clock
//! 20 s ahead, exchanging real encoded bytes, each at its own wall time (true time plus its
//! skew; 1 ms per message on the wire). The fast node learns its offset within a few rounds, its
//! write loses to a later write elsewhere, and its writes issued while ahead are re-stamped in
//! the round that corrects its clock (`Effects::restamped`).

use std::sync::Arc;
use std::time::Duration;

use officemesh_types::MacAddr;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::crdt::Stamp;
use crate::gossip::{GossipParams, PROTOCOL_VERSION};
use crate::state::{Key, PersonInfo, Value};

const T0: u64 = 1_767_225_600_000;
const FAST_MS: u64 = 20_000;

struct Peer {
    node: Node,
    replica: Replica,
    addr: String,
    skew_ms: u64,
}

struct Mesh {
    peers: Vec<Peer>,
    /// True time (ms since the Unix epoch).
    now: u64,
    /// Every re-stamp the rounds reported, with the node that made it.
    restamped: Vec<(usize, Restamped)>,
}

impl Mesh {
    /// Three nodes `n1`–`n3`; `n1`'s clock is `FAST_MS` ahead.
    fn new() -> Mesh {
        Mesh::with_fast_ms(FAST_MS)
    }

    /// Three nodes `n1`–`n3`; `n1`'s clock is `fast_ms` ahead.
    fn with_fast_ms(fast_ms: u64) -> Mesh {
        let peers = (1..=3u64)
            .map(|id| {
                let addr = format!("n{id}");
                let seeds = (1..=3u64)
                    .filter(|other| *other != id)
                    .map(|other| format!("n{other}"))
                    .collect();
                let core =
                    GossipCore::new(NodeId(id), addr.clone(), GossipParams::default(), seeds);
                let clock = Arc::new(Clock::new(NodeId(id), Duration::from_millis(500)));
                Peer {
                    node: Node::new(core, StdRng::seed_from_u64(id), clock),
                    replica: Replica::new(NodeId(id)),
                    addr,
                    skew_ms: if id == 1 { fast_ms } else { 0 },
                }
            })
            .collect();
        Mesh {
            peers,
            now: T0,
            restamped: Vec::new(),
        }
    }

    fn wall(&self, i: usize) -> u64 {
        self.now + self.peers[i].skew_ms
    }

    fn index(&self, addr: &str) -> usize {
        self.peers
            .iter()
            .position(|p| p.addr == addr)
            .expect("known address")
    }

    /// Restarts node `i` (a new `Node` on the same replica, its clock floored at the
    /// replica's newest stamp, as the agent's at boot) with its wall clock `skew_ms` ahead.
    fn restart(&mut self, i: usize, skew_ms: u64) {
        let p = &mut self.peers[i];
        let id = p.replica.me();
        let seeds = self
            .peers
            .iter()
            .filter(|other| other.replica.me() != id)
            .map(|other| other.addr.clone())
            .collect();
        let p = &mut self.peers[i];
        let core = GossipCore::new(id, p.addr.clone(), GossipParams::default(), seeds);
        let clock = Arc::new(Clock::new(id, Duration::from_millis(500)));
        clock.raise_floor(p.replica.max_stamp_time());
        p.node = Node::new(core, StdRng::seed_from_u64(id.0 + 100), clock);
        p.skew_ms = skew_ms;
    }

    /// One round: every node ticks and runs its exchanges to the end; returns the events.
    fn round(&mut self, protocol: u8) -> Vec<(usize, NodeEvent)> {
        let mut events = Vec::new();
        for i in 0..self.peers.len() {
            events.extend(self.tick(protocol, i));
        }
        self.now += 1000;
        events
    }

    /// Node `i` ticks and runs its exchanges to the end; returns its events.
    fn tick(&mut self, protocol: u8, i: usize) -> Vec<(usize, NodeEvent)> {
        let wall = self.wall(i);
        let p = &mut self.peers[i];
        let tick = p.node.on_tick(wall, &mut p.replica);
        self.restamped
            .extend(tick.restamped.iter().cloned().map(|r| (i, r)));
        for envelope in tick.messages {
            let to = self.index(&envelope.to);
            self.run_exchange(protocol, i, to, envelope.bytes);
        }
        tick.events.into_iter().map(|e| (i, e)).collect()
    }

    fn run_exchange(&mut self, protocol: u8, from: usize, to: usize, bytes: Vec<u8>) {
        let mut pending = vec![(from, to, bytes)];
        while let Some((sender, receiver, bytes)) = pending.pop() {
            self.now += 1;
            let wall = self.wall(receiver);
            let sender_addr = self.peers[sender].addr.clone();
            let r = &mut self.peers[receiver];
            let out = r
                .node
                .on_message(wall, &sender_addr, &bytes, protocol, &mut r.replica);
            for send in out.messages {
                pending.push((receiver, sender, send.bytes));
            }
        }
    }

    /// Writes `added_by` to the one key of these tests on node `i`, stamped as the agent's
    /// `Clock::now` would at its wall time.
    fn write(&mut self, i: usize, added_by: &str) {
        let wall = self.wall(i);
        let p = &mut self.peers[i];
        let stamp = p
            .replica
            .stamp_for_write(&key(), p.node.clock().stamp_at(wall));
        p.replica
            .write(key(), Some(person(added_by)), stamp)
            .expect("write");
    }

    fn values(&self) -> Vec<Option<Value>> {
        self.peers
            .iter()
            .map(|p| p.replica.get(&key()).and_then(|e| e.value.clone()))
            .collect()
    }
}

fn key() -> Key {
    Key::Person {
        name: "ada".into(),
        mac: MacAddr([2, 0, 0, 0, 0, 1]),
    }
}

fn person(added_by: &str) -> Value {
    Value::Person(PersonInfo {
        added_by: added_by.into(),
    })
}

fn boot_key() -> Key {
    Key::Person {
        name: "boot".into(),
        mac: MacAddr([2, 0, 0, 0, 0, 2]),
    }
}

/// The fast node writes at start (stamped 20 s ahead), then the mesh runs until it knows its
/// offset; returns after how many rounds it did.
fn until_fast_node_knows(mesh: &mut Mesh) -> Option<usize> {
    until_fast_node_knows_it_runs(mesh, FAST_MS)
}

/// As `until_fast_node_knows`, for a fast node `fast_ms` ahead.
fn until_fast_node_knows_it_runs(mesh: &mut Mesh, fast_ms: u64) -> Option<usize> {
    let wall = mesh.wall(0);
    let fast = &mut mesh.peers[0];
    let stamp = fast.node.clock().stamp_at(wall);
    fast.replica
        .write(boot_key(), Some(person("boot")), stamp)
        .expect("write");
    (1..=10).find(|_| {
        mesh.round(PROTOCOL_VERSION);
        mesh.peers[0]
            .node
            .own_clock_offset_ms()
            .is_some_and(|offset| offset.abs_diff(fast_ms as i64) < 50)
    })
}

#[test]
fn a_fast_nodes_write_loses_to_a_later_write_elsewhere() {
    let mut mesh = Mesh::new();
    let rounds = until_fast_node_knows(&mut mesh).expect("the fast node learns its offset");
    assert!(rounds <= 3, "known after {rounds} rounds");
    // The fast node writes; a normal node writes 1 s later (true time).
    mesh.write(0, "fast");
    mesh.now += 1000;
    mesh.write(1, "normal");
    for _ in 0..30 {
        mesh.round(PROTOCOL_VERSION);
    }
    assert_eq!(
        mesh.values(),
        vec![Some(person("normal")); 3],
        "the later write wins everywhere"
    );
    // What it wrote while ahead was re-stamped and taken by every node.
    for p in &mesh.peers {
        let boot = p.replica.get(&boot_key()).expect("re-stamped, not lost");
        assert!(
            boot.stamp.unix_ms() < mesh.now,
            "{} holds it stamped ahead",
            p.addr
        );
    }
    // Every node measured the others: the normal nodes see the fast one 20 s ahead.
    let peers = mesh.peers[1].node.peers(mesh.now, &mesh.peers[1].replica);
    let fast = peers
        .iter()
        .find(|p| p.node == NodeId(1))
        .expect("fast peer");
    let offset = fast.clock_offset_ms.expect("measured");
    assert!(offset.abs_diff(FAST_MS as i64) < 50, "{offset}");
    assert_eq!(mesh.peers[1].node.own_clock_offset_ms(), Some(0));
}

#[test]
fn the_fast_node_and_its_peers_say_so_once() {
    let mut mesh = Mesh::new();
    let mut events = Vec::new();
    for _ in 0..10 {
        events.extend(mesh.round(PROTOCOL_VERSION));
    }
    let own: Vec<_> = events
        .iter()
        .filter(|(_, e)| matches!(e, NodeEvent::OwnClockOffset { .. }))
        .collect();
    assert!(
        matches!(own.as_slice(), [(0, NodeEvent::OwnClockOffset { offset_ms, peers: 2 })]
            if offset_ms.abs_diff(FAST_MS as i64) < 50),
        "{own:?}"
    );
    let about_fast: Vec<usize> = events
        .iter()
        .filter_map(|(i, e)| match e {
            NodeEvent::PeerClockOffset {
                peer, offset_ms, ..
            } if *peer == NodeId(1) && offset_ms.abs_diff(FAST_MS as i64) < 50 => Some(*i),
            _ => None,
        })
        .collect();
    assert_eq!(about_fast, vec![1, 2], "each peer names the fast node once");
}

#[test]
fn protocol_2_connections_carry_no_times_and_measure_nothing() {
    let mut mesh = Mesh::new();
    for _ in 0..5 {
        mesh.round(2);
    }
    assert!(mesh
        .peers
        .iter()
        .all(|p| p.node.own_clock_offset_ms().is_none()));
    assert_eq!(mesh.peers[0].node.clock().correction_ms(), 0);
}

#[test]
fn the_round_that_corrects_the_clock_re_stamps_and_reports_the_writes_stamped_ahead() {
    let mut mesh = Mesh::new();
    let wall = mesh.wall(0);
    until_fast_node_knows(&mut mesh).expect("the fast node learns its offset");
    for _ in 0..5 {
        mesh.round(PROTOCOL_VERSION);
    }
    // Reported once, by the fast node: its boot write, from 20 s ahead to the mesh's time.
    let [(0, Restamped { key, old, new })] = mesh.restamped.as_slice() else {
        panic!(
            "expected one re-stamp by the fast node: {:?}",
            mesh.restamped
        );
    };
    assert_eq!(*key, boot_key());
    assert_eq!(old.unix_ms(), wall, "the old stamp was issued 20 s ahead");
    // Just above what a peer within the tolerance may take: the mesh's time plus 2 × 500 ms.
    assert!(
        new < old && new.unix_ms() <= mesh.now + 1000,
        "{new} is not at the mesh's time"
    );
    let held = mesh.peers[0].replica.get(&boot_key()).expect("kept");
    assert_eq!(held.stamp, *new, "the replica holds the new stamp");
    assert!(
        mesh.peers[0].node.clock().floor_time() < Stamp::time_from_unix_ms(wall),
        "the clock was rewound below the stamps issued ahead"
    );
}

/// The stamps every node holds for `key`, and whether they all agree.
fn agreed_stamp(mesh: &Mesh, key: &Key) -> Option<Stamp> {
    let stamps: Vec<Option<Stamp>> = mesh
        .peers
        .iter()
        .map(|p| p.replica.get(key).map(|e| e.stamp))
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] == w[1]), "{stamps:?}");
    stamps[0]
}

#[test]
fn a_write_a_little_ahead_is_taken_as_it_is_not_re_stamped() {
    // 2 s ahead: corrected (beyond 500 ms), but its peers take the boot write once their
    // clocks reach it; lowering a stamp they hold would leave them differing for ever.
    let mut mesh = Mesh::with_fast_ms(2_000);
    let wall = mesh.wall(0);
    until_fast_node_knows_it_runs(&mut mesh, 2_000).expect("the fast node learns its offset");
    for _ in 0..10 {
        mesh.round(PROTOCOL_VERSION);
    }
    assert_eq!(mesh.restamped, Vec::new());
    let stamp = agreed_stamp(&mesh, &boot_key()).expect("held everywhere");
    assert_eq!(stamp.unix_ms(), wall, "as written");
}

#[test]
fn a_clock_set_back_voids_its_correction_and_re_stamps_nothing_its_peers_took() {
    let mut mesh = Mesh::new();
    until_fast_node_knows(&mut mesh).expect("the fast node learns its offset");
    mesh.round(PROTOCOL_VERSION);
    assert_eq!(mesh.peers[0].node.clock().correction_ms() / 1000, 20);
    // Set right (NTP steps it back 20 s), it writes at once: a stale correction would stamp
    // this write 20 s in the past and later take it for one written ahead.
    mesh.peers[0].skew_ms = 0;
    mesh.round(PROTOCOL_VERSION);
    assert_eq!(mesh.peers[0].node.clock().correction_ms(), 0, "void");
    mesh.write(0, "set right");
    let restamps = mesh.restamped.len();
    for _ in 0..30 {
        mesh.round(PROTOCOL_VERSION);
    }
    assert_eq!(mesh.restamped.len(), restamps, "{:?}", mesh.restamped);
    assert_eq!(mesh.values(), vec![Some(person("set right")); 3]);
    agreed_stamp(&mesh, &key()).expect("held everywhere");
    assert!(mesh.peers[0]
        .node
        .own_clock_offset_ms()
        .is_some_and(|o| o.abs() < 50));
}

#[test]
fn a_node_restarted_with_its_clock_set_right_ignores_its_peers_old_estimates_of_it() {
    // Found by the field-fault campaign (seed 54316): a node 30 s ahead restarted with its
    // clock set right (a Pi's clock is often stepped at boot). Its peers' estimates of it,
    // carried in their SynAcks, were of the clock before the restart; taken as they were, it
    // thought itself 30 s ahead, corrected its clock and re-stamped a write every peer held.
    let mut mesh = Mesh::new();
    until_fast_node_knows(&mut mesh).expect("the fast node learns its offset");
    mesh.round(PROTOCOL_VERSION);
    mesh.restart(0, 0);
    mesh.write(0, "set right");
    let restamps = mesh.restamped.len();
    // It starts the first exchanges (so it hears its peers' estimates before measuring them).
    for _ in 0..3 {
        mesh.tick(PROTOCOL_VERSION, 0);
        mesh.now += 1000;
    }
    for _ in 0..30 {
        mesh.round(PROTOCOL_VERSION);
    }
    assert_eq!(mesh.restamped.len(), restamps, "{:?}", mesh.restamped);
    assert_eq!(mesh.peers[0].node.clock().correction_ms(), 0);
    assert_eq!(mesh.values(), vec![Some(person("set right")); 3]);
    agreed_stamp(&mesh, &key()).expect("held everywhere");
}
