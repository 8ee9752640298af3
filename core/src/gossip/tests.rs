//! Unit tests of the gossip core: two or three cores exchanging real encoded messages by hand
//! (the simulator covers whole meshes).

use officemesh_types::MacAddr;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::message::{Body, Heartbeats, Message, StateSummary};
use super::*;
use crate::crdt::{NodeId, Stamp};
use crate::peer::MemberStatus;
use crate::state::{Key, PersonInfo, Replica, Value};

pub(super) const T0: u64 = 1_767_225_600_000;

/// One core and its replica, driven by hand (also used by `regression_tests`).
pub(super) struct Node {
    pub(super) core: GossipCore,
    pub(super) replica: Replica,
}

pub(super) fn node(id: u64, seeds: &[&str], params: &GossipParams) -> Node {
    Node {
        core: GossipCore::new(
            NodeId(id),
            format!("n{id}"),
            params.clone(),
            seeds.iter().map(|s| s.to_string()).collect(),
        ),
        replica: Replica::new(NodeId(id)),
    }
}

pub(super) fn key(i: u64) -> Key {
    Key::Person {
        name: format!("p{i}"),
        mac: MacAddr([2, 0, 0, 0, 0, i as u8]),
    }
}

pub(super) fn value(by: &str) -> Option<Value> {
    Some(Value::Person(PersonInfo {
        added_by: by.to_string(),
    }))
}

fn write(n: &mut Node, k: u64, v: Option<Value>, ms: u64) -> crate::state::Entry {
    let id = n.replica.me();
    n.replica
        .write(key(k), v, Stamp::new(Stamp::time_from_unix_ms(ms), id))
        .expect("write")
}

fn through_codec(m: &Message) -> Message {
    decode(&encode(m)).expect("decodes")
}

fn limit(now: u64) -> u64 {
    Stamp::time_from_unix_ms(now + 500)
}

/// `a` sends `b` a Syn (tick), then the SynAck and Ack go back and forth. Returns every
/// message, in order.
fn exchange(a: &mut Node, b: &mut Node, now: u64, rng: &mut StdRng) -> Vec<Message> {
    let syns = a.core.tick(now, rng, &mut a.replica);
    let b_addr = b.core.addr().to_string();
    let a_addr = a.core.addr().to_string();
    let mut log = Vec::new();
    for out in syns.into_iter().filter(|o| o.to == b_addr) {
        let syn = through_codec(&out.message);
        log.push(syn.clone());
        for reply in b.core.handle(now, &a_addr, syn, &mut b.replica, limit(now)) {
            let reply = through_codec(&reply);
            log.push(reply.clone());
            for back in a
                .core
                .handle(now, &b_addr, reply, &mut a.replica, limit(now))
            {
                let back = through_codec(&back);
                log.push(back.clone());
                let none = b
                    .core
                    .handle(now, &a_addr, back, &mut b.replica, limit(now));
                assert!(none.is_empty(), "an Ack gets no reply");
            }
        }
    }
    log
}

fn pair(params: &GossipParams) -> (Node, Node) {
    (node(1, &["n2"], params), node(2, &["n1"], params))
}

#[test]
fn one_exchange_moves_entries_both_ways() {
    let params = GossipParams::default();
    let (mut a, mut b) = pair(&params);
    let mut rng = StdRng::seed_from_u64(1);
    write(&mut a, 1, value("a"), T0);
    write(&mut b, 2, value("b"), T0);
    let log = exchange(&mut a, &mut b, T0 + 10, &mut rng);
    let kinds: Vec<MessageKind> = log.iter().map(Message::kind).collect();
    assert_eq!(
        kinds,
        [MessageKind::Syn, MessageKind::SynAck, MessageKind::Ack]
    );
    assert_eq!(a.replica.state_hash(), b.replica.state_hash());
    assert_eq!(a.replica.len(), 2);
    assert_eq!(a.replica.digest(), b.replica.digest());
}

#[test]
fn idle_exchanges_carry_only_hashes_and_compact_heartbeats() {
    let params = GossipParams::default();
    let (mut a, mut b) = pair(&params);
    let mut rng = StdRng::seed_from_u64(2);
    for i in 0..200 {
        write(&mut a, i, value("a"), T0 + i);
    }
    exchange(&mut a, &mut b, T0 + 1000, &mut rng);
    exchange(&mut a, &mut b, T0 + 2000, &mut rng);
    let log = exchange(&mut a, &mut b, T0 + 3000, &mut rng);
    match &log[0].body {
        Body::Syn { state, members } => {
            assert!(matches!(state, StateSummary::Hash(_)), "{state:?}");
            assert!(matches!(members, Heartbeats::Dense { .. }), "{members:?}");
        }
        other => panic!("expected a Syn, got {other:?}"),
    }
    let bytes: usize = log.iter().map(|m| encode(m).len()).sum();
    assert!(
        bytes < 200,
        "an idle exchange over 200 entries took {bytes} bytes"
    );
    // The heartbeat still advanced on b through the compact form.
    let view = b.core.peers(T0 + 3000, &b.replica);
    assert_eq!(view[0].heartbeat_age_ms, 0);
}

#[test]
fn another_cluster_is_refused_and_counted() {
    let params = GossipParams::default();
    let other = GossipParams {
        cluster: "next-door".into(),
        ..GossipParams::default()
    };
    let mut a = node(1, &["n2"], &other);
    let mut b = node(2, &[], &params);
    let mut rng = StdRng::seed_from_u64(3);
    write(&mut a, 1, value("a"), T0);
    let log = exchange(&mut a, &mut b, T0 + 10, &mut rng);
    assert_eq!(log[1].kind(), MessageKind::BadCluster);
    assert_eq!(b.core.stats().bad_cluster, 1);
    assert_eq!(
        a.core.stats().bad_cluster,
        1,
        "the reply is foreign to a too"
    );
    assert!(b.replica.is_empty());
    assert!(b.core.peers(T0, &b.replica).is_empty());
}

#[test]
fn stamps_beyond_the_accept_limit_wait_and_are_taken_later() {
    let params = GossipParams::default();
    let (mut a, mut b) = pair(&params);
    let mut rng = StdRng::seed_from_u64(4);
    write(&mut a, 1, value("now"), T0);
    // a's clock runs 5 s ahead for this write.
    write(&mut a, 2, value("ahead"), T0 + 5_000);
    write(&mut a, 3, value("after"), T0 + 5_001);
    exchange(&mut b, &mut a, T0, &mut rng);
    assert_eq!(b.core.stats().rejected_stamps, 1);
    assert_eq!(b.replica.len(), 1, "only the write within the limit");
    assert_eq!(
        b.replica.watermark(NodeId(1)),
        1,
        "stops before the refused one"
    );
    exchange(&mut b, &mut a, T0 + 6_000, &mut rng);
    assert_eq!(b.replica.len(), 3);
    assert_eq!(b.replica.watermark(NodeId(1)), 3);
}

#[test]
fn deltas_are_cut_to_the_budget_without_gaps_most_behind_origin_first() {
    let params = GossipParams {
        max_delta_bytes: 300,
        ..GossipParams::default()
    };
    let mut a = node(1, &["n2", "n3"], &params);
    let mut b = node(2, &["n1"], &params);
    let mut c = node(3, &["n1"], &params);
    let mut rng = StdRng::seed_from_u64(5);
    for i in 0..3 {
        write(&mut b, 100 + i, value("b"), T0 + i);
    }
    for i in 0..30 {
        write(&mut c, 200 + i, value("c"), T0 + i);
    }
    // a learns everything from b and c, several rounds as the budget allows.
    for round in 0..40 {
        exchange(&mut b, &mut a, T0 + 1000 * round, &mut rng);
        exchange(&mut c, &mut a, T0 + 1000 * round + 500, &mut rng);
    }
    assert_eq!(a.replica.len(), 33);
    // Now a is the source for a fresh node d: the first delta starts with c (30 behind).
    let mut d = node(4, &["n1"], &params);
    let log = exchange(&mut d, &mut a, T0 + 50_000, &mut rng);
    let Body::SynAck { delta, .. } = &log[1].body else {
        panic!("expected a SynAck, got {:?}", log[1].body);
    };
    assert!(delta.truncated);
    assert_eq!(
        delta.chunks[0].origin,
        NodeId(3),
        "most-behind origin first"
    );
    let chunk = &delta.chunks[0];
    let versions: Vec<u64> = chunk.entries.iter().map(|e| e.version).collect();
    let expected: Vec<u64> = (1..=versions.len() as u64).collect();
    assert_eq!(versions, expected, "in order, no gaps");
    assert_eq!(chunk.complete_to, *versions.last().expect("some entries"));
    let sent: usize = chunk.entries.iter().map(wire::entry_size).sum();
    assert!(
        sent <= 300,
        "{sent} bytes of entries over a 300-byte budget"
    );
    assert_eq!(d.replica.watermark(NodeId(3)), chunk.complete_to);
    for round in 0..40 {
        exchange(&mut d, &mut a, T0 + 60_000 + 1000 * round, &mut rng);
    }
    assert_eq!(d.replica.state_hash(), a.replica.state_hash());
}

#[test]
fn watermarks_move_past_versions_superseded_by_another_origin() {
    let params = GossipParams::default();
    let (mut a, mut b) = pair(&params);
    let mut c = node(3, &["n1"], &params);
    let mut rng = StdRng::seed_from_u64(6);
    write(&mut b, 1, value("b"), T0);
    write(&mut b, 2, value("b"), T0 + 1);
    exchange(&mut a, &mut b, T0 + 10, &mut rng);
    // a overwrites b's version 1: a no longer holds any b entry at version 1.
    write(&mut a, 1, value("a"), T0 + 20);
    assert_eq!(a.replica.entries_after(NodeId(2), 0).count(), 1);
    exchange(&mut c, &mut a, T0 + 1000, &mut rng);
    assert_eq!(
        c.replica.watermark(NodeId(2)),
        2,
        "holes of superseded versions skipped"
    );
    assert_eq!(c.replica.state_hash(), a.replica.state_hash());
}

#[test]
fn a_peer_behind_a_collected_tombstone_is_reset_and_the_delete_holds() {
    let params = GossipParams {
        tombstone_grace_ms: 10_000,
        gc_every_ms: 1_000,
        ..GossipParams::default()
    };
    let (mut a, mut b) = pair(&params);
    let mut rng = StdRng::seed_from_u64(7);
    write(&mut b, 1, value("b"), T0);
    write(&mut b, 2, value("b"), T0 + 1);
    exchange(&mut a, &mut b, T0 + 100, &mut rng);
    assert_eq!(a.replica.len(), 2);
    // a deletes b's key 1 and b's key 2 is replaced; b never hears of it (partition).
    write(&mut a, 1, None, T0 + 200);
    // Long after the grace period, a collects the tombstone.
    a.core.tick(T0 + 20_000, &mut rng, &mut a.replica);
    assert_eq!(a.core.stats().tombstones_collected, 1);
    assert!(a.replica.get(&key(1)).is_none());
    // b comes back. Its first Syn carries only a hash; a answers with its full digest, b sees
    // it is behind a's GC floor and sends nothing. Its next Syn carries its full digest, and a
    // tells it to reset; b drops its own deleted write.
    let first = exchange(&mut b, &mut a, T0 + 21_000, &mut rng);
    assert!(first.iter().all(|m| m.kind() != MessageKind::Reset));
    assert_eq!(
        b.replica.len(),
        2,
        "nothing taken from or given to a behind peer"
    );
    let log = exchange(&mut b, &mut a, T0 + 21_500, &mut rng);
    assert!(
        log.iter().any(|m| m.kind() == MessageKind::Reset),
        "{log:#?}"
    );
    assert_eq!(b.core.stats().resets_done, 1);
    assert!(b.replica.get(&key(1)).is_none(), "the deleted key is gone");
    assert!(
        b.replica.value(&key(2)).is_some(),
        "the surviving write stays"
    );
    // Until it has caught up, b shows its full digest (with the adopted floors), never a hash
    // that an old digest of a peer behind the floors could match, even when a peer just showed
    // the same hash as b's.
    let same_hash = Message {
        cluster: params.cluster.clone(),
        from: NodeId(1),
        from_addr: "n1".into(),
        body: Body::Syn {
            state: StateSummary::Hash(delta::hash_of(&delta::advertised(&b.replica))),
            members: Heartbeats::None,
        },
    };
    b.core
        .handle(T0 + 21_600, "n1", same_hash, &mut b.replica, limit(T0));
    let syns = b.core.tick(T0 + 21_700, &mut rng, &mut b.replica);
    assert!(!syns.is_empty());
    for syn in syns {
        assert!(
            matches!(
                syn.message.body,
                Body::Syn {
                    state: StateSummary::Full(_),
                    ..
                }
            ),
            "{:?}",
            syn.message.body
        );
    }
    for i in 0..3 {
        exchange(&mut b, &mut a, T0 + 22_000 + i * 1000, &mut rng);
        exchange(&mut a, &mut b, T0 + 22_500 + i * 1000, &mut rng);
    }
    assert_eq!(a.replica.state_hash(), b.replica.state_hash());
    assert!(b.replica.get(&key(1)).is_none());
}

#[test]
fn a_reset_that_is_not_about_missed_tombstones_is_ignored() {
    let params = GossipParams::default();
    let (mut a, mut b) = pair(&params);
    let mut rng = StdRng::seed_from_u64(8);
    write(&mut b, 1, value("b"), T0);
    exchange(&mut a, &mut b, T0 + 10, &mut rng);
    let reset = Message {
        cluster: params.cluster.clone(),
        from: NodeId(2),
        from_addr: "n2".into(),
        body: Body::Reset {
            floors: vec![],
            gc_mark: Stamp::ZERO,
            your_watermark: 0,
            your_versions: vec![],
            watermarks: vec![],
            collected: vec![],
        },
    };
    a.core
        .handle(T0 + 20, "n2", reset, &mut a.replica, limit(T0));
    assert_eq!(a.core.stats().resets_done, 0);
    assert_eq!(a.replica.len(), 1);
}

#[test]
fn leave_is_announced_and_a_left_node_goes_quiet() {
    let params = GossipParams::default();
    let (mut a, mut b) = pair(&params);
    let mut rng = StdRng::seed_from_u64(9);
    exchange(&mut a, &mut b, T0, &mut rng);
    let out = a.core.leave(T0 + 100, &mut rng, &mut a.replica);
    assert_eq!(out.len(), 1);
    for o in out {
        b.core
            .handle(T0 + 100, "n1", o.message, &mut b.replica, limit(T0));
    }
    let view = b.core.peers(T0 + 200, &b.replica);
    assert_eq!(view[0].status, MemberStatus::Left);
    assert!(a.core.tick(T0 + 1000, &mut rng, &mut a.replica).is_empty());
}

#[test]
fn an_isolated_node_contacts_a_seed() {
    let params = GossipParams::default();
    let mut a = node(1, &["n1", "seed:7420"], &params);
    let mut rng = StdRng::seed_from_u64(10);
    let out = a.core.tick(T0, &mut rng, &mut a.replica);
    let targets: Vec<&str> = out.iter().map(|o| o.to.as_str()).collect();
    assert_eq!(targets, ["seed:7420"], "never itself, always a seed");
}

/// An own entry too large to send (written before the limits existed) is skipped, not a stall:
/// the writes after it still go out; a peer's entry that breaks a limit is refused and named,
/// and the rest of its chunk is applied.
#[test]
fn an_oversized_entry_neither_stalls_a_delta_nor_enters_a_replica() {
    let me = NodeId(1);
    let mut sender = Replica::new(me);
    let person = |last: u8| Key::Person {
        name: "ada".into(),
        mac: MacAddr([2, 0, 0, 0, 0, last]),
    };
    let huge = Value::Person(PersonInfo {
        added_by: "x".repeat(1_500_000),
    });
    let fine = Value::Person(PersonInfo {
        added_by: "api".into(),
    });
    sender
        .write(person(1), Some(huge), Stamp::new(T0, me))
        .expect("fresh");
    sender
        .write(person(2), Some(fine.clone()), Stamp::new(T0 + 1, me))
        .expect("fresh");
    let delta = super::delta::build(&sender, &[(me, 0)], 64 * 1024);
    let sent: Vec<&Key> = delta
        .chunks
        .iter()
        .flat_map(|c| c.entries.iter().map(|e| &e.key))
        .collect();
    assert_eq!(
        sent,
        vec![&person(2)],
        "the huge entry is skipped, the next one sent"
    );
    assert_eq!(delta.chunks[0].complete_to, 2);

    // A peer that sends a limit-breaking entry anyway (hand-built chunk).
    let mut bad = delta.clone();
    let mut zero_mac = delta.chunks[0].entries[0].clone();
    zero_mac.key = Key::Person {
        name: "ada".into(),
        mac: MacAddr([0; 6]),
    };
    zero_mac.version = 1;
    bad.chunks[0].entries.insert(0, zero_mac);
    let mut receiver = Replica::new(NodeId(2));
    let applied = super::delta::apply(&mut receiver, &bad, u64::MAX);
    assert_eq!(applied.refused_entries.len(), 1, "{applied:?}");
    assert!(applied.refused_entries[0].contains("00:00:00:00:00:00"));
    assert_eq!(applied.merged, 1);
    assert_eq!(receiver.value(&person(2)), Some(&fine));
    assert_eq!(receiver.watermark(me), 2, "the origin keeps flowing");
}

/// Delivers `message` from `from` to `to` and returns the (encoded and decoded) replies.
fn deliver(from: &Node, to: &mut Node, message: &Message, now: u64) -> Vec<Message> {
    let from_addr = from.core.addr().to_string();
    to.core
        .handle(
            now,
            &from_addr,
            through_codec(message),
            &mut to.replica,
            limit(now),
        )
        .iter()
        .map(through_codec)
        .collect()
}

/// a's round sends Syns to b and c built before it knew c's new write; c answers first with
/// the write. b's answer then shows the digest a had when the round started: a's `Ack` to b
/// carries the write, so it does not wait for a later round.
#[test]
fn an_exchange_passes_on_what_the_initiator_learned_during_the_round() {
    let params = GossipParams::default();
    let mut a = node(1, &["n2", "n3"], &params);
    let mut b = node(2, &["n1"], &params);
    let mut c = node(3, &["n1"], &params);
    let mut rng = StdRng::seed_from_u64(11);
    write(&mut a, 1, value("a"), T0);
    // Everyone learns everyone and the same state (a relays between b and c).
    for round in 1..6 {
        let now = T0 + round * 1000;
        exchange(&mut b, &mut a, now, &mut rng);
        exchange(&mut c, &mut a, now, &mut rng);
        exchange(&mut a, &mut b, now, &mut rng);
        exchange(&mut a, &mut c, now, &mut rng);
    }
    assert_eq!(a.replica.digest(), b.replica.digest());
    assert_eq!(a.replica.digest(), c.replica.digest());

    let now = T0 + 6_000;
    let fresh = write(&mut c, 2, value("c"), now);
    let syns = a.core.tick(now, &mut rng, &mut a.replica);
    let to_b = syns.iter().find(|o| o.to == "n2").expect("a Syn to b");
    let to_c = syns.iter().find(|o| o.to == "n3").expect("a Syn to c");
    // c first: it recognises a's digest and sends the write at once.
    for reply in deliver(&a, &mut c, &to_c.message, now) {
        for back in deliver(&c, &mut a, &reply, now) {
            deliver(&a, &mut c, &back, now);
        }
    }
    assert_eq!(a.replica.get(&key(2)), Some(&fresh));
    // Then b: it agrees with the Syn (built before), but a now holds more.
    let replies = deliver(&a, &mut b, &to_b.message, now);
    assert_eq!(replies.len(), 1);
    for back in deliver(&b, &mut a, &replies[0], now) {
        assert_eq!(back.kind(), MessageKind::Ack);
        deliver(&a, &mut b, &back, now);
    }
    assert_eq!(
        b.replica.get(&key(2)),
        Some(&fresh),
        "the Ack carried what a learned since its Syn"
    );
    assert_eq!(a.replica.digest(), b.replica.digest());
}

/// Something new since the last round (a write here, or entries learned) starts an early round
/// once half an interval passed; nothing new starts none, so idle traffic is unchanged.
#[test]
fn an_early_round_passes_on_something_new_and_only_then() {
    let params = GossipParams::default();
    let (mut a, mut b) = pair(&params);
    let mut rng = StdRng::seed_from_u64(12);
    for round in 1..4 {
        let now = T0 + round * 1000;
        exchange(&mut a, &mut b, now, &mut rng);
        exchange(&mut b, &mut a, now, &mut rng);
    }
    let now = T0 + 4000;
    a.core.tick(now, &mut rng, &mut a.replica);
    let half = params.interval_ms / 2;
    assert!(
        a.core
            .early_round(now + half, &mut rng, &mut a.replica)
            .is_empty(),
        "nothing new: no early round"
    );
    write(&mut a, 7, value("a"), now + 10);
    assert!(
        !a.core.early_round_due(now + half - 1, &a.replica),
        "not within half an interval of the last round"
    );
    assert_eq!(
        a.core.early_round_at(&a.replica),
        Some(now + half),
        "due half an interval after the last round"
    );
    assert!(a.core.early_round_due(now + half, &a.replica));
    let rounds = a.core.stats().rounds;
    let early = a.core.early_round(now + half, &mut rng, &mut a.replica);
    assert_eq!(early.len(), 1, "a Syn to the one live peer");
    assert_eq!(a.core.stats().rounds, rounds, "not counted as a round");
    assert_eq!(a.core.stats().early_rounds, 1);
    assert!(
        !a.core.early_round_due(now + 2 * half, &a.replica),
        "already sent"
    );
    // The early Syn carries the write to b in one exchange.
    let syn = through_codec(&early[0].message);
    for reply in deliver(&a, &mut b, &syn, now + half) {
        for back in deliver(&b, &mut a, &reply, now + half) {
            deliver(&a, &mut b, &back, now + half);
        }
    }
    assert!(b.replica.get(&key(7)).is_some());
    assert!(
        b.core.early_round_due(now + half, &b.replica),
        "b learned something new since its last round: it passes it on too"
    );
}

#[test]
fn a_node_running_ahead_judges_tombstones_by_the_mesh_time() {
    // A node 30 s ahead (corrected): a tombstone written 12 s ago by the mesh's clock is 42 s
    // old by its wall clock, beyond the 15 s grace, but not yet collectable.
    let params = GossipParams {
        tombstone_grace_ms: 15_000,
        gc_every_ms: 1_000,
        ..GossipParams::default()
    };
    let mut a = node(1, &[], &params);
    let mut rng = StdRng::seed_from_u64(7);
    write(&mut a, 1, None, T0);
    a.core.set_clock_correction_ms(30_000);
    a.core.tick(T0 + 30_000 + 12_000, &mut rng, &mut a.replica);
    assert_eq!(a.core.stats().tombstones_collected, 0);
    assert!(a.replica.get(&key(1)).is_some(), "kept");
    // 16 s after it by the mesh's clock, it goes.
    a.core.tick(T0 + 30_000 + 16_000, &mut rng, &mut a.replica);
    assert_eq!(a.core.stats().tombstones_collected, 1);
    assert!(a.replica.get(&key(1)).is_none());
}
