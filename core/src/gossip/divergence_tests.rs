//! Regression tests for the last two causes of replicas that differ under equal digests in the
//! field-fault simulation (issue #25 item 4): each drives cores by hand into the state the
//! traces showed and checks the wire change that fixed it (protocol 3: a chunk names the
//! write that replaced each version it skips; a `Reset` carries the collected ledger).
//!
//! Tests only. Must not touch: anything outside the core (no sockets, clocks, files).

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::message::{Body, Delta, Message};
use super::*;
use crate::crdt::{NodeId, Stamp};
use crate::state::Value;

use super::tests::{key, node, value, Node, T0};

fn gc_params() -> GossipParams {
    GossipParams {
        tombstone_grace_ms: 10_000,
        gc_every_ms: 1_000,
        ..GossipParams::default()
    }
}

fn write(n: &mut Node, k: u64, v: Option<Value>, ms: u64) -> crate::state::Entry {
    let id = n.replica.me();
    n.replica
        .write(key(k), v, Stamp::new(Stamp::time_from_unix_ms(ms), id))
        .expect("write")
}

fn limit(now: u64) -> u64 {
    Stamp::time_from_unix_ms(now + 500)
}

/// An `Ack` from `from` carrying `delta`, through the codec in the newest protocol.
fn ack(from: &Node, delta: Delta) -> Message {
    let message = Message {
        cluster: from.core.params().cluster.clone(),
        from: from.core.me(),
        from_addr: from.core.addr().to_string(),
        body: Body::Ack {
            delta,
            members: message::Heartbeats::None,
        },
    };
    decode(&encode(&message)).expect("decodes")
}

fn deliver(to: &mut Node, message: Message, now: u64) -> Vec<Message> {
    let from = message.from_addr.clone();
    to.core
        .handle(now, &from, message, &mut to.replica, limit(now))
}

/// Seed 30025 (on main before protocol 3): node 3's `p4` (its v4) was deleted by node 4, whose
/// clock had jumped ahead. A peer holding the tombstone sent node 0 a chunk of node 3 that
/// skipped v4 — and node 4's chunk with the tombstone, which node 0 held back (stamped beyond
/// its accept limit). Node 0 claimed v4 without holding the write that replaced it; when the
/// tombstone was later collected and undone by a reset of its side, `p4` came back everywhere
/// but on node 0. A chunk now names, per skipped version, the write that replaced it, and the
/// receiver passes the version only once it holds that write.
#[test]
fn a_skipped_version_is_not_passed_while_the_write_that_replaced_it_is_held_back() {
    let params = gc_params();
    let mut a = node(1, &[], &params);
    let mut b = node(2, &[], &params);
    let mut r = node(3, &[], &params);
    write(&mut a, 1, value("a"), T0);
    let to_b = delta::build(&a.replica, &[(NodeId(1), 0)], 64 * 1024);
    deliver(&mut b, ack(&a, to_b), T0 + 10);
    assert_eq!(b.replica.watermark(NodeId(1)), 1);
    // b's clock is 10 s ahead when it deletes a's entry: its tombstone replaces a's v1.
    write(&mut b, 1, None, T0 + 10_000);
    let wants = [(NodeId(1), 0), (NodeId(2), 0)];
    let to_r = delta::build(&b.replica, &wants, 64 * 1024);
    let skipped: Vec<u64> = to_r
        .chunks
        .iter()
        .filter(|c| c.origin == NodeId(1))
        .flat_map(|c| c.skipped.iter().map(|s| s.version))
        .collect();
    assert_eq!(
        skipped,
        [1],
        "b names the write that replaced a's v1: {to_r:?}"
    );
    // r's clock is right: b's tombstone is beyond its accept limit and held back.
    deliver(&mut r, ack(&b, to_r.clone()), T0 + 100);
    assert_eq!(
        r.core.stats().rejected_stamps,
        2,
        "in b's chunk and as a's replacement"
    );
    assert_eq!(r.replica.get(&key(1)), None);
    assert_eq!(
        r.replica.watermark(NodeId(2)),
        0,
        "the tombstone is held back"
    );
    assert_eq!(
        r.replica.watermark(NodeId(1)),
        0,
        "a's v1 is not claimed without the write that replaced it"
    );
    // Once r's clock accepts the tombstone, the same delta is taken whole.
    deliver(&mut r, ack(&b, to_r), T0 + 10_000);
    assert!(r.replica.get(&key(1)).is_some_and(|e| e.value.is_none()));
    assert_eq!(r.replica.watermark(NodeId(1)), 1);
    assert_eq!(r.replica.watermark(NodeId(2)), 1);
}

/// Seed 48452 (on main before protocol 3): node 1 wrote `p4`; node 5, cut off, deleted it and
/// collected the tombstone at the heal. The resetter that reset node 1 had forgotten `p4` in
/// its own reset, so node 1 kept `p4` as a write its resetter never saw; nodes still holding
/// the tombstone refused it, then collected the tombstone, and nodes without it took `p4`:
/// equal digests, different contents. A collected tombstone's key and stamp stay in a ledger
/// beyond the grace period: a `Reset` carries it and the reset node drops the own writes it
/// covers, and a merge refuses a write it covers.
#[test]
fn a_write_older_than_a_collected_tombstone_does_not_survive_a_reset() {
    let params = gc_params();
    let mut v = node(1, &["n2"], &params);
    let mut d = node(2, &[], &params);
    let mut rng = StdRng::seed_from_u64(7);
    let old = write(&mut v, 1, value("v"), T0);
    // d never saw v's write; it deletes the same key later and collects the tombstone.
    write(&mut d, 1, None, T0 + 1_000);
    d.core.tick(T0 + 11_000, &mut rng, &mut d.replica);
    d.core.tick(T0 + 12_000, &mut rng, &mut d.replica);
    assert_eq!(d.core.stats().tombstones_collected, 1);
    assert_eq!(d.replica.get(&key(1)), None);
    assert!(
        !d.replica.clone().merge(old.clone()),
        "the collected ledger refuses the older write"
    );
    // v's first round: a full Syn to its seed d, which is ahead of v's floors: a Reset.
    let syns = v.core.tick(T0 + 13_000, &mut rng, &mut v.replica);
    let syn = syns.into_iter().find(|s| s.to == "n2").expect("a Syn to d");
    let syn = decode(&encode(&syn.message)).expect("decodes");
    let replies = deliver(&mut d, syn, T0 + 13_001);
    assert!(
        replies.iter().any(|m| matches!(m.body, Body::Reset { .. })),
        "{replies:?}"
    );
    for reply in replies {
        let reply = decode(&encode(&reply)).expect("decodes");
        deliver(&mut v, reply, T0 + 13_002);
    }
    assert_eq!(v.core.stats().resets_done, 1, "{:?}", v.core.stats());
    assert_eq!(
        v.replica.get(&key(1)),
        None,
        "v's own older write lost to the collected tombstone"
    );
    assert!(v.replica.collected_stamp(&key(1)).is_some());
}

/// Found with the fix above (seed 10427 of the first attempt): a receiver merges the write a
/// chunk names for a skipped version even when that write's own origin is behind there, so it
/// may hold an entry beyond its watermark. Building a chunk from it must stop at the
/// watermark: completing the chunk to that entry claimed the versions in between, which the
/// sender never had (a value missing on two nodes for ever, under equal digests).
#[test]
fn a_chunk_never_completes_past_the_senders_watermark() {
    let params = gc_params();
    let mut a = node(1, &[], &params);
    let mut b = node(2, &[], &params);
    let mut r = node(3, &[], &params);
    write(&mut a, 1, value("a"), T0);
    deliver(
        &mut b,
        ack(&a, delta::build(&a.replica, &[(NodeId(1), 0)], 64 * 1024)),
        T0 + 10,
    );
    let first = write(&mut b, 2, value("b1"), T0 + 20);
    write(&mut b, 3, value("b2"), T0 + 30);
    write(&mut b, 1, value("b3"), T0 + 40);
    // r takes a's chunk from b: a's v1 is skipped, named with b's v3, which r merges.
    let a_only = delta::build(&b.replica, &[(NodeId(1), 0)], 64 * 1024);
    deliver(&mut r, ack(&b, a_only), T0 + 50);
    assert_eq!(r.replica.watermark(NodeId(1)), 1);
    assert_eq!(r.replica.value(&key(1)), value("b3").as_ref());
    // Then b's own chunk, cut after its v1: r's watermark for b is 1, it holds v1 and v3.
    let budget = super::wire::entry_size(&first);
    let cut = delta::build(&b.replica, &[(NodeId(2), 0)], budget);
    assert!(cut.truncated);
    deliver(&mut r, ack(&b, cut), T0 + 60);
    assert_eq!(r.replica.watermark(NodeId(2)), 1);
    // What r sends a peer that has nothing of b's: up to its watermark, not to b's v3.
    let from_r = delta::build(&r.replica, &[(NodeId(2), 0)], 64 * 1024);
    let chunk = from_r
        .chunks
        .iter()
        .find(|c| c.origin == NodeId(2))
        .expect("a chunk of b");
    assert_eq!(chunk.complete_to, 1, "{chunk:?}");
    assert_eq!(
        chunk.entries.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1]
    );
}
