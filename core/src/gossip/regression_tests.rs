//! Regression tests of the gossip core for causes the simulator's seed campaign found (issue
//! #16): each drives one or two cores by hand into the state the failing seed reached and
//! checks the rule that fixed it. The seeds themselves are replayed in
//! `agent/tests/sim_invariants.rs`.
//!
//! Tests only. Must not touch: anything outside the core (no sockets, clocks, files).

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::message::{Body, Message, StateSummary};
use super::*;
use crate::crdt::{NodeId, Stamp};
use crate::state::Value;

use super::tests::{key, node, value, Node, T0};

/// An origin whose tombstone the resetters below collected and the reset node never saw.
const GONE: NodeId = NodeId(9);

fn gc_params() -> GossipParams {
    GossipParams {
        tombstone_grace_ms: 10_000,
        gc_every_ms: 1_000,
        ..GossipParams::default()
    }
}

fn write(n: &mut Node, k: u64, v: Option<Value>, ms: u64) {
    let id = n.replica.me();
    n.replica
        .write(key(k), v, Stamp::new(Stamp::time_from_unix_ms(ms), id))
        .expect("write");
}

fn limit(now: u64) -> u64 {
    Stamp::time_from_unix_ms(now + 500)
}

/// A `Reset` from node `from` whose floors are ahead of a node that never saw `GONE`'s
/// collected tombstones (`extra` floors on top), holding the receiver's own versions
/// `your_versions` up to `your_watermark`.
fn reset_from(
    params: &GossipParams,
    from: u64,
    extra: &[(NodeId, u64)],
    your_watermark: u64,
    your_versions: Vec<u64>,
    watermarks: Vec<(NodeId, u64)>,
) -> Message {
    let mut floors = vec![(GONE, 5)];
    floors.extend_from_slice(extra);
    Message {
        cluster: params.cluster.clone(),
        from: NodeId(from),
        from_addr: format!("n{from}"),
        body: Body::Reset {
            floors,
            gc_mark: Stamp::new(Stamp::time_from_unix_ms(T0), NodeId(from)),
            your_watermark,
            your_versions,
            watermarks,
            collected: Vec::new(),
        },
    }
}

fn deliver(to: &mut Node, message: Message, now: u64) -> Vec<Message> {
    let from = message.from_addr.clone();
    let message = decode(&encode(&message)).expect("decodes");
    to.core
        .handle(now, &from, message, &mut to.replica, limit(now))
}

/// Seed 414: a node reset by R starts re-fetching an own write R held (one it had itself
/// overwritten); R is then reset by S, which never had that write, and S resets the node too.
/// The re-fetch from R's reset waited for a version nobody held any more, hiding the node's
/// newer own writes from peers for ever while every digest agreed. A newer reset's list of
/// own versions replaces the earlier one.
#[test]
fn a_second_reset_replaces_the_own_refetch_of_the_first() {
    let params = gc_params();
    let mut a = node(1, &[], &params);
    write(&mut a, 1, value("a"), T0);
    write(&mut a, 1, value("a again"), T0 + 1);
    // R holds a's version 1 (it never saw version 2), which a replaced itself.
    deliver(
        &mut a,
        reset_from(&params, 2, &[], 1, vec![1], vec![]),
        T0 + 10,
    );
    assert_eq!(a.core.stats().resets_done, 1);
    assert_eq!(
        a.replica.own_refetch().map(|r| (r.after, r.until)),
        Some((0, 1))
    );
    assert_eq!(a.replica.watermark(NodeId(1)), 0, "own writes held back");
    // S collected more (a floor of origin 8) and never saw any write of a.
    deliver(
        &mut a,
        reset_from(&params, 3, &[(NodeId(8), 3)], 0, vec![], vec![]),
        T0 + 20,
    );
    assert_eq!(a.core.stats().resets_done, 2);
    assert_eq!(a.replica.own_refetch(), None, "S holds nothing to re-fetch");
    assert_eq!(
        a.replica.watermark(NodeId(1)),
        2,
        "a shows its own writes again"
    );
    assert_eq!(a.replica.value(&key(1)), value("a again").as_ref());
}

/// Seed 530: a node reset by R is cut off before it catches up; meanwhile it deletes and, after
/// the grace period, collected its own tombstone, raising a floor nobody else has. After the
/// heal every peer was behind that floor and waited for its `Reset`, which a node still
/// catching up never sends: no data flowed either way, for ever. A node catching up after a
/// reset collects no tombstones; it does once caught up.
#[test]
fn a_node_catching_up_after_a_reset_collects_no_tombstones() {
    let params = gc_params();
    let mut a = node(1, &[], &params);
    a.core
        .tick(T0, &mut StdRng::seed_from_u64(1), &mut a.replica);
    deliver(
        &mut a,
        reset_from(&params, 2, &[], 0, vec![], vec![(GONE, 5)]),
        T0 + 10,
    );
    assert_eq!(a.core.stats().resets_done, 1);
    write(&mut a, 1, None, T0 + 100);
    let mut rng = StdRng::seed_from_u64(2);
    a.core.tick(T0 + 30_000, &mut rng, &mut a.replica);
    assert_eq!(a.core.stats().tombstones_collected, 0);
    assert!(a.replica.get(&key(1)).is_some(), "the tombstone is kept");
    assert_eq!(
        a.replica.safety().floors,
        vec![(GONE, 5)],
        "no floor of its own"
    );
    // Caught up (a peer's chunk brings GONE to the target): collecting resumes.
    a.replica.received_up_to(GONE, 5);
    let mut b = node(2, &[], &params);
    write(&mut b, 7, value("b"), T0 + 30_000);
    let syns = a.core.tick(T0 + 31_000, &mut rng, &mut a.replica);
    assert!(syns.iter().any(|s| s.to == "n2"), "{syns:?}");
    for syn in syns.into_iter().filter(|s| s.to == "n2") {
        for reply in deliver(&mut b, syn.message, T0 + 31_000) {
            deliver(&mut a, reply, T0 + 31_000);
        }
    }
    a.core.tick(T0 + 33_000, &mut rng, &mut a.replica);
    assert_eq!(a.core.stats().tombstones_collected, 1);
    assert!(a.replica.get(&key(1)).is_none());
}

/// Seed 585: a node sent a `Syn`, then obeyed a `Reset` from another peer before the answer
/// came; the answer's delta was built for its digest before the reset (watermarks of zero
/// then too, so no chunk looked stale) and brought back the losing side's view of an origin
/// the reset had made it forget — a key missing for ever under equal digests. A reply to an
/// exchange started before a reset is not applied; the next exchange is.
#[test]
fn a_reply_to_an_exchange_started_before_a_reset_is_not_applied() {
    let params = gc_params();
    let mut a = node(1, &[], &params);
    let mut b = node(2, &[], &params);
    let mut rng = StdRng::seed_from_u64(3);
    // a knows b (b's Syn), then opens an exchange with it.
    let hello = b.core.tick(T0, &mut rng, &mut b.replica);
    assert!(hello.is_empty(), "b knows nobody yet");
    let b_syn = Message {
        cluster: params.cluster.clone(),
        from: NodeId(2),
        from_addr: "n2".into(),
        body: Body::Syn {
            state: StateSummary::Hash(0),
            members: message::Heartbeats::None,
        },
    };
    deliver(&mut a, b_syn, T0);
    write(&mut b, 7, value("b"), T0 + 5);
    let syns = a.core.tick(T0 + 10, &mut rng, &mut a.replica);
    let syn = syns.into_iter().find(|s| s.to == "n2").expect("a Syn to b");
    let answers = deliver(&mut b, syn.message, T0 + 11);
    assert_eq!(answers.len(), 1);
    // Before b's answer arrives, a obeys a reset from node 3 (b obeys the same one later, so
    // the two agree on the floors and a fresh exchange may carry data).
    let reset = reset_from(&params, 3, &[], 0, vec![], vec![]);
    deliver(&mut a, reset.clone(), T0 + 12);
    assert_eq!(a.core.stats().resets_done, 1);
    for answer in answers {
        assert!(deliver(&mut a, answer, T0 + 13).is_empty(), "exchange ends");
    }
    assert!(a.replica.get(&key(7)).is_none(), "stale delta not applied");
    assert_eq!(a.replica.watermark(NodeId(2)), 0);
    // A fresh exchange is applied.
    deliver(&mut b, reset, T0 + 500);
    assert_eq!(b.core.stats().resets_done, 1);
    let syns = a.core.tick(T0 + 1_010, &mut rng, &mut a.replica);
    for syn in syns.into_iter().filter(|s| s.to == "n2") {
        for answer in deliver(&mut b, syn.message, T0 + 1_011) {
            for back in deliver(&mut a, answer, T0 + 1_012) {
                deliver(&mut b, back, T0 + 1_013);
            }
        }
    }
    assert!(
        a.replica.get(&key(7)).is_some(),
        "taken in a fresh exchange"
    );
}

/// Seed 140 of `a_node_that_leaves_is_seen_as_left`: seed node 2 was reached by two nodes
/// before its own first round, so it was never isolated and never contacted seeds 0 and 1; the
/// mesh started as two components joined only by the occasional probe, and when node 2 left,
/// the other component never heard of it. Every node contacts every seed in its first round.
#[test]
fn every_seed_is_contacted_in_the_first_round_even_when_not_isolated() {
    let params = GossipParams::default();
    let mut a = node(1, &["n1", "s1", "s2"], &params);
    let mut rng = StdRng::seed_from_u64(4);
    let joiner = Message {
        cluster: params.cluster.clone(),
        from: NodeId(5),
        from_addr: "n5".into(),
        body: Body::Syn {
            state: StateSummary::Hash(0),
            members: message::Heartbeats::None,
        },
    };
    deliver(&mut a, joiner, T0);
    let out = a.core.tick(T0 + 10, &mut rng, &mut a.replica);
    let mut targets: Vec<&str> = out.iter().map(|o| o.to.as_str()).collect();
    targets.sort_unstable();
    assert_eq!(targets, ["n5", "s1", "s2"], "never itself");
}

/// Seeds 7293 and 9185 (after the `Ack` began to push what the initiator learned since an old
/// digest of its own): a node reset by another side and still catching up (so it resets
/// nobody) got a full `Syn` from a node behind its GC floors and refused it with an empty
/// `SynAck`. Its digest, low after the reset, matched an old one of the initiator, whose `Ack`
/// then pushed everything it had gained since — entries the collected tombstones had deleted,
/// which spread again under equal digests. A node takes no data from an exchange that must
/// reset one side first.
#[test]
fn an_ack_to_an_exchange_that_must_reset_a_side_is_not_applied() {
    let params = gc_params();
    let mut a = node(1, &["n2"], &params);
    let mut r = node(2, &[], &params);
    let mut rng = StdRng::seed_from_u64(5);
    // a's first round: its empty digest is one of its recent ones; the Syn to seed r waits.
    let syns = a.core.tick(T0, &mut rng, &mut a.replica);
    let syn = syns
        .into_iter()
        .find(|s| s.to == "n2")
        .expect("a Syn to the seed");
    write(&mut a, 1, value("a"), T0 + 1);
    // r obeys a reset from the side that collected GONE's tombstones and is catching up.
    deliver(
        &mut r,
        reset_from(&params, 3, &[], 0, vec![], vec![(GONE, 5)]),
        T0 + 2,
    );
    assert_eq!(r.core.stats().resets_done, 1);
    let answers = deliver(&mut r, syn.message, T0 + 3);
    assert_eq!(answers.len(), 1, "a refusal, not a Reset: r is catching up");
    assert!(matches!(answers[0].body, Body::SynAck { .. }));
    let acks: Vec<Message> = answers
        .into_iter()
        .flat_map(|answer| deliver(&mut a, answer, T0 + 4))
        .collect();
    assert!(
        acks.iter()
            .any(|m| matches!(&m.body, Body::Ack { delta, .. } if !delta.chunks.is_empty())),
        "a pushes what it gained since the digest r shows: {acks:?}"
    );
    for ack in acks {
        deliver(&mut r, ack, T0 + 5);
    }
    assert!(r.replica.get(&key(1)).is_none(), "nothing taken from a");
    assert_eq!(r.replica.watermark(NodeId(1)), 0);
}

/// Found while tracing seed 30025 (a field-fault seed beyond the first 10,000): GC runs in
/// `tick`, so an initiator may collect a tombstone between its `Syn` and the peer's `SynAck`.
/// The `SynAck` then asks for an origin below the new floor, and the `Ack` skipped the
/// collected version as a hole: the peer claimed a version it never held and kept the value
/// the tombstone had deleted, under equal digests. The initiator sends no data to a peer whose
/// wants are below a floor of its own; the next `Syn` carries the full digest (and the reset).
#[test]
fn an_ack_never_skips_a_tombstone_collected_after_its_syn() {
    let params = gc_params();
    let mut a = node(1, &["n2"], &params);
    let mut b = node(2, &[], &params);
    let mut rng = StdRng::seed_from_u64(6);
    write(&mut a, 1, value("a"), T0);
    // b learns a's version 1.
    let syns = a.core.tick(T0, &mut rng, &mut a.replica);
    for syn in syns.into_iter().filter(|s| s.to == "n2") {
        for answer in deliver(&mut b, syn.message, T0 + 1) {
            for back in deliver(&mut a, answer, T0 + 2) {
                deliver(&mut b, back, T0 + 3);
            }
        }
    }
    assert_eq!(b.replica.value(&key(1)), value("a").as_ref());
    // a deletes key 1 (its version 2), writes key 2 (version 3) and starts an exchange.
    write(&mut a, 1, None, T0 + 100);
    write(&mut a, 2, value("later"), T0 + 200);
    // Not yet past the grace period (10 s) at the Syn; past it at the next round.
    let now = T0 + 10_000;
    let syn = a
        .core
        .tick(now, &mut rng, &mut a.replica)
        .into_iter()
        .find(|s| s.to == "n2")
        .expect("a Syn to b");
    let answers = deliver(&mut b, syn.message, now + 1);
    // Before the answer comes back, a's next round collects the tombstone (floor a:2).
    let collected_before = a.core.stats().tombstones_collected;
    a.core.tick(now + 2_000, &mut rng, &mut a.replica);
    assert_eq!(a.core.stats().tombstones_collected, collected_before + 1);
    let acks: Vec<Message> = answers
        .into_iter()
        .flat_map(|answer| deliver(&mut a, answer, now + 2_001))
        .collect();
    for ack in &acks {
        if let Body::Ack { delta, .. } = &ack.body {
            assert!(
                delta.chunks.iter().all(|c| c.origin != NodeId(1)),
                "no chunk skips the collected tombstone: {delta:?}"
            );
        }
    }
    for ack in acks {
        deliver(&mut b, ack, now + 2_002);
    }
    assert_eq!(
        b.replica.watermark(NodeId(1)),
        1,
        "b does not claim the deleted version"
    );
}
