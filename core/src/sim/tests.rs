//! The simulator's own checks, hand-driven: a node whose clock runs ahead re-stamps through
//! its rounds and its writes' records follow (`Sim::restamped`), and `check_no_lost_writes`
//! still catches a write a replica genuinely lost.

use super::field::{person, present};
use super::{Sim, SimConfig};
use crate::state::Replica;

/// Three nodes that know each other and have measured each other's clocks.
fn settled() -> Sim {
    let mut sim = Sim::new(SimConfig::new(3, 7));
    sim.run_rounds(10);
    assert!(sim.members_converged(), "the mesh formed");
    sim
}

#[test]
fn a_write_stamped_ahead_is_re_stamped_and_its_record_follows() {
    let mut sim = settled();
    sim.jump_clock(0, 20_000);
    let ahead = sim
        .write(0, person(1), present("n0"))
        .expect("acknowledged");
    sim.run_rounds(10);
    assert!(sim.restamped() >= 1, "node 0's round re-stamped its write");
    let record = sim.writes().last().expect("recorded").stamp;
    assert!(record < ahead.stamp, "the record follows the re-stamp");
    assert!(sim.run_until_converged(20).is_some(), "spread everywhere");
    assert_eq!(sim.holders(&person(1), record), 3);
    sim.check_no_lost_writes()
        .expect("a re-stamp is no lost write");
}

#[test]
fn a_write_a_replica_lost_is_still_caught() {
    let mut sim = settled();
    sim.write(1, person(2), present("n1"))
        .expect("acknowledged");
    sim.run_until_converged(20).expect("converged");
    sim.check_no_lost_writes().expect("nothing lost yet");
    let id = sim.node_id(2);
    sim.set_replica(2, Replica::new(id));
    let lost = sim
        .check_no_lost_writes()
        .expect_err("node 2 lost the write");
    assert!(lost.0.contains("node 2 lost write"), "{lost}");
    assert!(sim.check_no_lost_values().is_err(), "a value, too");
}
