//! Unit tests of `Node`: two nodes exchanging real encoded bytes by hand, checking what the
//! glue does around the core (byte counts, refusals, events, clock floor, publish limit).

use std::sync::Arc;
use std::time::Duration;

use officemesh_types::MacAddr;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::crdt::Stamp;
use crate::gossip::{GossipParams, PROTOCOL_VERSION};
use crate::peer::MemberStatus;
use crate::state::{Entry, Key, PersonInfo, Value};

const T0: u64 = 1_767_225_600_000;

struct Peer {
    node: Node,
    replica: Replica,
    addr: String,
}

fn peer(id: u64, cluster: &str, seeds: &[&str]) -> Peer {
    let params = GossipParams {
        cluster: cluster.to_string(),
        ..GossipParams::default()
    };
    let addr = format!("n{id}");
    let seeds = seeds.iter().map(|s| s.to_string()).collect();
    let core = GossipCore::new(NodeId(id), addr.clone(), params, seeds);
    let clock = Arc::new(Clock::new(NodeId(id), Duration::from_millis(500)));
    Peer {
        node: Node::new(core, StdRng::seed_from_u64(id), clock),
        replica: Replica::new(NodeId(id)),
        addr,
    }
}

fn write(p: &mut Peer, i: u8, ms: u64) -> Stamp {
    let key = Key::Person {
        name: format!("p{i}"),
        mac: MacAddr([2, 0, 0, 0, 0, i]),
    };
    let value = Value::Person(PersonInfo {
        added_by: "test".into(),
    });
    let stamp = Stamp::new(Stamp::time_from_unix_ms(ms), p.replica.me());
    p.replica
        .write(key, Some(value), stamp)
        .expect("write")
        .stamp
}

/// Delivers every message of `effects` from `from` to `to` and the replies back, until the
/// exchange ends; returns every `Effects` the two produced on the way.
fn exchange(now: u64, from: &mut Peer, to: &mut Peer, effects: Effects) -> Vec<Effects> {
    exchange_in(PROTOCOL_VERSION, now, from, to, effects)
}

/// [`exchange`] over a connection that agreed on gossip `protocol`.
fn exchange_in(
    protocol: u8,
    now: u64,
    from: &mut Peer,
    to: &mut Peer,
    effects: Effects,
) -> Vec<Effects> {
    let mut seen = Vec::new();
    let mut pending: Vec<(bool, Vec<u8>)> = effects
        .into_payloads()
        .into_iter()
        .map(|b| (true, b))
        .collect();
    while let Some((to_is_receiver, bytes)) = pending.pop() {
        let (receiver, sender) = if to_is_receiver {
            (&mut *to, &mut *from)
        } else {
            (&mut *from, &mut *to)
        };
        let out =
            receiver
                .node
                .on_message(now, &sender.addr, &bytes, protocol, &mut receiver.replica);
        for send in &out.messages {
            assert_eq!(send.to, sender.addr, "replies go back to the sender");
            pending.push((!to_is_receiver, send.bytes.clone()));
        }
        seen.push(out);
    }
    seen
}

#[test]
fn a_write_reaches_the_peer_and_raises_its_clock_floor() {
    let mut a = peer(1, "office", &["n2"]);
    let mut b = peer(2, "office", &[]);
    let stamp = write(&mut a, 1, T0 + 60_000);
    let now = T0 + 60_000;
    let tick = a.node.on_tick(now, &mut a.replica);
    assert_eq!(tick.messages.len(), 1, "one Syn to the seed");
    assert_eq!(tick.messages[0].to, "n2");
    let sent: u64 = tick.messages.iter().map(|m| m.bytes.len() as u64).sum();
    assert_eq!(tick.bytes_sent, sent);
    let seen = exchange(now, &mut a, &mut b, tick);
    assert_eq!(seen.iter().map(|e| e.merged).sum::<u64>(), 1);
    assert!(b.replica.entries().any(|e| e.stamp == stamp));
    assert!(
        b.node.clock().floor_time() >= stamp.time,
        "b's next local stamp is above what it merged"
    );
    let received: u64 = seen.iter().map(|e| e.bytes_received).sum();
    let sent_back: u64 = seen.iter().map(|e| e.bytes_sent).sum();
    let total = |s: &GossipStats, f: fn(&gossip::Traffic) -> u64| {
        s.sent.values().map(f).sum::<u64>() + s.received.values().map(f).sum::<u64>()
    };
    let counted = total(a.node.stats(), |t| t.bytes) + total(b.node.stats(), |t| t.bytes);
    assert_eq!(
        counted,
        received + sent + sent_back,
        "both ways, every byte"
    );
}

#[test]
fn own_writes_above_the_durable_version_stay_unseen() {
    let mut a = peer(1, "office", &["n2"]);
    let mut b = peer(2, "office", &[]);
    write(&mut a, 1, T0 + 1_000);
    let pending = write(&mut a, 2, T0 + 2_000);
    a.node.set_publish_limit(Some(1));
    let now = T0 + 3_000;
    let tick = a.node.on_tick(now, &mut a.replica);
    exchange(now, &mut a, &mut b, tick);
    assert_eq!(b.replica.entries().count(), 1, "only the durable write");
    assert!(!b.replica.entries().any(|e| e.stamp == pending));
    a.node.set_publish_limit(Some(2));
    let tick = a.node.on_tick(now + 1_000, &mut a.replica);
    exchange(now + 1_000, &mut a, &mut b, tick);
    assert!(b.replica.entries().any(|e| e.stamp == pending));
}

#[test]
fn undecodable_bytes_are_a_refusal_and_answer_nothing() {
    let mut b = peer(2, "office", &[]);
    let out = b.node.on_message(
        T0,
        "10.0.0.9:7420",
        b"\x01garbage",
        PROTOCOL_VERSION,
        &mut b.replica,
    );
    assert!(out.messages.is_empty());
    assert_eq!(out.bytes_received, 8);
    assert!(matches!(
        &out.refusals[..],
        [Refusal::Undecodable { addr, .. }] if addr == "10.0.0.9:7420"
    ));
    assert_eq!(b.node.stats().decode_errors, 1);
}

#[test]
fn another_cluster_is_refused_on_both_sides_by_name() {
    let mut a = peer(1, "lab", &["n2"]);
    let mut b = peer(2, "office", &[]);
    let tick = a.node.on_tick(T0, &mut a.replica);
    let seen = exchange(T0, &mut a, &mut b, tick);
    let refused = NodeEvent::RefusedCluster {
        peer: NodeId(1),
        addr: "n1".into(),
        their_cluster: "lab".into(),
    };
    assert_eq!(seen[0].events, vec![refused], "b refused a");
    let told = Refusal::RefusedByPeer {
        addr: "n2".into(),
        their_cluster: "office".into(),
    };
    assert!(seen[1].refusals.contains(&told), "a heard why");
    assert_eq!(b.replica.entries().count(), 0);
}

#[test]
fn stamps_too_far_ahead_are_held_back_with_an_event() {
    let mut a = peer(1, "office", &["n2"]);
    let mut b = peer(2, "office", &[]);
    // a's clock runs a minute ahead of b's; b's guard allows 500 ms.
    write(&mut a, 1, T0 + 60_000);
    let tick = a.node.on_tick(T0 + 60_000, &mut a.replica);
    let seen = exchange(T0, &mut a, &mut b, tick);
    let held: Vec<&NodeEvent> = seen.iter().flat_map(|e| &e.events).collect();
    assert!(
        matches!(
            held[..],
            [NodeEvent::HeldBack {
                peer: NodeId(1),
                entries: 1,
                ..
            }]
        ),
        "{held:?}"
    );
    assert_eq!(b.replica.entries().count(), 0);
}

#[test]
fn a_large_delta_is_an_event_a_small_one_is_not() {
    let mut a = peer(1, "office", &["n2"]);
    let mut b = peer(2, "office", &[]);
    let now = T0 + 10_000;
    for i in 0..LARGE_DELTA_ENTRIES as u8 {
        write(&mut a, i, T0 + u64::from(i));
    }
    let tick = a.node.on_tick(now, &mut a.replica);
    let seen = exchange(now, &mut a, &mut b, tick);
    let large: Vec<&NodeEvent> = seen.iter().flat_map(|e| &e.events).collect();
    let expected = NodeEvent::LargeDelta {
        peer: NodeId(1),
        addr: "n1".into(),
        entries: LARGE_DELTA_ENTRIES,
    };
    assert_eq!(large, [&expected]);
    write(&mut a, 200, now);
    let tick = a.node.on_tick(now + 1_000, &mut a.replica);
    let seen = exchange(now + 1_000, &mut a, &mut b, tick);
    assert_eq!(seen.iter().map(|e| e.merged).sum::<u64>(), 1);
    assert!(seen.iter().all(|e| e.events.is_empty()));
}

/// A later release's entry (kind 12, `badge/ada`) this build keeps as bytes.
fn opaque_entry(origin: u64) -> Entry {
    use crate::state::opaque::{key_from_bytes, value_from_bytes};
    let mut key = postcard::to_allocvec(&12u32).expect("varint");
    key.extend(postcard::to_allocvec("ada").expect("name"));
    let key = key_from_bytes(&key).expect("opaque key");
    let value = postcard::to_allocvec(&("badge", 7u64)).expect("value");
    let value = value_from_bytes(&key, &value).expect("opaque value");
    Entry {
        key,
        value: Some(value),
        stamp: Stamp::new(Stamp::time_from_unix_ms(T0), NodeId(origin)),
        version: 1,
    }
}

#[test]
fn replies_follow_the_connections_protocol_and_syns_every_peer_reads() {
    let mut a = peer(1, "office", &["n2", "n3"]);
    let (mut old, mut new) = (peer(2, "office", &[]), peer(3, "office", &[]));
    let person = write(&mut a, 1, T0 + 1_000);
    let badge = opaque_entry(9);
    // As a delta from a newer node 9 would leave it: merged, and held up to version 1.
    assert!(a.replica.merge(badge.clone()));
    a.replica.set_watermark(NodeId(9), 1);
    let now = T0 + 2_000;
    let tick = a.node.on_tick(now, &mut a.replica);
    assert_eq!(tick.messages.len(), 2, "a Syn to each seed");
    for syn in &tick.messages {
        assert_eq!(
            syn.bytes[0],
            gossip::LEGACY_PROTOCOL_VERSION,
            "protocol 1's form"
        );
    }
    let (to_old, to_new): (Vec<_>, Vec<_>) = tick.messages.into_iter().partition(|m| m.to == "n2");
    let only = |messages| Effects {
        messages,
        ..Effects::default()
    };
    // A protocol-1 connection (a db6ff62 peer): the person, not the kind it cannot read.
    let seen = exchange_in(1, now, &mut a, &mut old, only(to_old));
    let replies = seen.iter().flat_map(|e| &e.messages);
    assert!(
        replies.clone().all(|m| m.bytes[0] == 1),
        "every reply in protocol 1"
    );
    assert!(old.replica.entries().any(|e| e.stamp == person));
    assert!(
        old.replica.get(&badge.key).is_none(),
        "withheld from protocol 1"
    );
    // A protocol-2 connection: both, the later kind as the bytes it was written as.
    let seen = exchange_in(2, now, &mut a, &mut new, only(to_new));
    assert!(seen
        .iter()
        .flat_map(|e| &e.messages)
        .all(|m| m.bytes[0] == 2));
    assert!(new.replica.entries().any(|e| e.stamp == person));
    assert_eq!(new.replica.get(&badge.key), Some(&badge));
}

/// One round at `now`: `b` (when up) ticks and gossips with `a`, then `a` ticks and gossips
/// with `b`; returns the events of `a`'s tick (the peers' transitions as `a` sees them).
fn round(now: u64, a: &mut Peer, b: &mut Peer, b_up: bool) -> Vec<NodeEvent> {
    if b_up {
        let tick = b.node.on_tick(now, &mut b.replica);
        exchange(now, b, a, tick);
    }
    let tick = a.node.on_tick(now, &mut a.replica);
    let events = tick.events.clone();
    if b_up {
        exchange(now, a, b, tick);
    }
    events
}

/// The peer transitions among `events`, by their `/v1/events` names.
fn transitions(events: &[NodeEvent]) -> Vec<&'static str> {
    events
        .iter()
        .filter_map(|event| match event {
            NodeEvent::Peer { change, .. } => Some(match change {
                PeerChange::Joined => "peer_joined",
                PeerChange::Suspect { .. } => "peer_suspect",
                PeerChange::Dead { .. } => "peer_dead",
                PeerChange::Left => "peer_left",
                PeerChange::Alive { .. } => "peer_alive",
                PeerChange::CaughtUp { .. } => "caught_up",
                PeerChange::Forgotten => "peer_forgotten",
            }),
            NodeEvent::MeshHealed { .. } => Some("mesh_healed"),
            _ => None,
        })
        .collect()
}

#[test]
fn a_peer_that_stops_answering_turns_suspect_then_dead_then_alive_on_its_return() {
    let mut a = peer(1, "office", &["n2"]);
    let mut b = peer(2, "office", &[]);
    let mut seen = Vec::new();
    let mut t = T0;
    for _ in 0..10 {
        seen.extend(round(t, &mut a, &mut b, true));
        t += 1_000;
    }
    assert_eq!(transitions(&seen), ["peer_joined"]);
    assert!(
        matches!(
            &seen[..],
            [NodeEvent::Peer { peer: NodeId(2), addr, change: PeerChange::Joined }] if addr == "n2"
        ),
        "{seen:?}"
    );
    // b stops answering: a's rounds find it suspect, then dead, each once.
    let (stopped_at, mut down) = (t, Vec::new());
    while !transitions(&down).contains(&"peer_dead") {
        assert!(t < stopped_at + 120_000, "never dead: {down:?}");
        down.extend(round(t, &mut a, &mut b, false));
        t += 1_000;
    }
    assert_eq!(transitions(&down), ["peer_suspect", "peer_dead"]);
    let silent: Vec<u64> = down
        .iter()
        .filter_map(|event| match event {
            NodeEvent::Peer {
                change: PeerChange::Suspect { silent_ms } | PeerChange::Dead { silent_ms },
                ..
            } => Some(*silent_ms),
            _ => None,
        })
        .collect();
    assert!(silent[0] > 0 && silent[1] > silent[0], "{silent:?}");
    // b writes while away, and comes back: alive again with its downtime, then caught up.
    write(&mut b, 7, t);
    let mut back = Vec::new();
    for _ in 0..5 {
        back.extend(round(t, &mut a, &mut b, true));
        t += 1_000;
    }
    assert_eq!(
        transitions(&back),
        ["peer_alive", "caught_up", "mesh_healed"]
    );
    let NodeEvent::Peer {
        change: PeerChange::Alive { was, down_ms, .. },
        ..
    } = &back[0]
    else {
        panic!("{back:?}");
    };
    assert_eq!(*was, MemberStatus::Dead);
    assert!(
        *down_ms >= t - 5_000 - stopped_at,
        "since its last heartbeat: {down_ms}"
    );
}

#[test]
fn a_peer_that_announces_its_leave_becomes_left_not_suspect() {
    let mut a = peer(1, "office", &["n2"]);
    let mut b = peer(2, "office", &[]);
    let mut t = T0;
    for _ in 0..5 {
        round(t, &mut a, &mut b, true);
        t += 1_000;
    }
    let leave = b.node.on_leave(t, &mut b.replica);
    assert!(!leave.messages.is_empty(), "b tells a");
    exchange(t, &mut b, &mut a, leave);
    let mut after = Vec::new();
    for _ in 0..30 {
        t += 1_000;
        after.extend(round(t, &mut a, &mut b, false));
    }
    assert_eq!(transitions(&after), ["peer_left"]);
}
