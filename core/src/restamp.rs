//! Re-stamping own writes issued while this node's clock ran ahead, in one place for both
//! callers: `Node::on_tick` (a clock corrected against the mesh's median) and the agent's clock
//! recovery (a wall clock set back). What is re-stamped, where the new stamps go, and where
//! the clock goes back to.
//!
//! The rule: a stamp a peer may have taken is never lowered (the peer keeps the higher one,
//! and with it what the write superseded: the replicas would differ for good). A peer takes
//! stamps up to its clock plus the max offset, and a clock within the mesh's tolerance is at
//! most the max offset ahead, so no peer holds or issues a stamp after `now + 2 × max offset`
//! (`RestampLimits::above`). Own writes more than `RESTAMP_MARGIN_MS` beyond that are
//! re-stamped just above it and above every other node's write ever held here
//! (`Replica::merged_stamp_time`: a write they superseded was held here, and its writer may
//! have run ahead beyond the tolerance), never up to their old stamp; the clock goes back to the
//! newest stamp kept below the limit, not to the new stamps, so later writes of other keys
//! follow the mesh's time (a key's next write goes above its own: `Replica::stamp_for_write`).
//!
//! Must not touch: the wall clock (the caller passes its time), sockets, the store.

use crate::clock::Clock;
use crate::crdt::Stamp;
use crate::state::{Key, Replica, RestampPlan};

/// How far beyond the newest stamp a peer may take an own write must be stamped to be
/// re-stamped (ms): writes less far ahead are taken as they are once the peers' clocks reach
/// them, within this time. A clock a little ahead may be measured against a slow peer (in a
/// partition, a mesh of two), so only a clear lead is acted on.
pub const RESTAMP_MARGIN_MS: u64 = 10_000;

/// An own write re-stamped: the same write, value and key, now at the lower stamp `new` (`old`
/// was issued beyond what any peer takes).
#[derive(Debug, Clone, PartialEq)]
pub struct Restamped {
    pub key: Key,
    pub old: Stamp,
    pub new: Stamp,
}

/// What `restamp_ahead` did.
#[derive(Debug, Clone, PartialEq)]
pub enum RestampOutcome {
    /// No own write (and not the clock) is that far ahead.
    NotAhead,
    /// Other nodes' writes held here are that far ahead too: this node's clock is behind
    /// the mesh rather than ahead, so nothing was re-stamped.
    WallClockBehind { foreign_max_time: u64 },
    /// Re-stamped, oldest first; `newest_ahead_time` is the newest stamp time replaced.
    Restamped {
        restamped: Vec<Restamped>,
        newest_ahead_time: u64,
    },
}

/// As stamp times for `clock` at wall time `wall_ms` (corrected): beyond which own writes are
/// re-stamped, and what the new stamps go above (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestampLimits {
    pub beyond: u64,
    pub above: u64,
}

impl RestampLimits {
    pub fn of(clock: &Clock, wall_ms: u64) -> RestampLimits {
        let taken = clock.corrected(wall_ms) + 2 * clock.max_offset_ms();
        RestampLimits {
            beyond: Stamp::time_from_unix_ms(taken + RESTAMP_MARGIN_MS),
            above: Stamp::time_from_unix_ms(taken),
        }
    }
}

/// Re-stamps own writes stamped beyond `RestampLimits::beyond` (as `Replica::plan_restamp`
/// plans it) and rewinds the clock; the caller holds the replica, so no write races it.
pub fn restamp_ahead(clock: &Clock, wall_ms: u64, replica: &mut Replica) -> RestampOutcome {
    let limits = RestampLimits::of(clock, wall_ms);
    if clock.floor_time() <= limits.beyond && replica.max_stamp_time() <= limits.beyond {
        return RestampOutcome::NotAhead;
    }
    let (keys, newest_ahead_time, floor_time) = match replica.plan_restamp(limits.beyond) {
        RestampPlan::Nothing => return RestampOutcome::NotAhead,
        RestampPlan::WallClockBehind { foreign_max_time } => {
            return RestampOutcome::WallClockBehind { foreign_max_time }
        }
        RestampPlan::Restamp {
            keys,
            newest_ahead_time,
            floor_time,
        } => (keys, newest_ahead_time, floor_time),
    };
    clock.rewind(floor_time);
    let me = clock.node();
    // Above every other node's write ever held here too: a write the old stamp superseded
    // was held here, and its writer may have run ahead beyond the tolerance.
    let mut next_time = limits.above.max(replica.merged_stamp_time());
    let restamped = keys
        .into_iter()
        .filter_map(|key| {
            let old = replica.get(&key)?.stamp;
            let time = (next_time + 1).max(clock.stamp_at(wall_ms).time);
            if time >= old.time {
                return None;
            }
            next_time = time;
            let new = replica.restamp_own(&key, Stamp::new(time, me))?.stamp;
            Some(Restamped { key, old, new })
        })
        .collect();
    RestampOutcome::Restamped {
        restamped,
        newest_ahead_time,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use officemesh_types::MacAddr;

    use super::*;
    use crate::crdt::NodeId;
    use crate::state::{Entry, PersonInfo, Value};

    const T0: u64 = 1_767_225_600_000;

    fn key() -> Key {
        Key::Person {
            name: "ada".into(),
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
        }
    }

    fn person(by: &str) -> Option<Value> {
        Some(Value::Person(PersonInfo {
            added_by: by.into(),
        }))
    }

    fn at(ms: u64, node: NodeId) -> Stamp {
        Stamp::new(Stamp::time_from_unix_ms(ms), node)
    }

    #[test]
    fn a_re_stamp_goes_above_a_write_of_a_node_ahead_beyond_the_tolerance_it_superseded() {
        // Found by the field-fault campaign (seed 96571): a peer 2.3 s ahead (beyond the 500 ms
        // tolerance, not yet measured) wrote; this node, 40 s ahead, took it and replaced it
        // with its own write; re-stamped just above "now + 2 × max offset", the write went
        // below the peer's, which every other node kept: replicas differed for good.
        let (me, peer) = (NodeId(1), NodeId(3));
        let clock = Clock::new(me, Duration::from_millis(500));
        let mut replica = Replica::new(me);
        let theirs = Entry {
            key: key(),
            value: person("peer"),
            stamp: at(T0 + 2_300, peer),
            version: 1,
        };
        assert!(replica.merge(theirs.clone()));
        let wall = T0 + 40_000;
        let old = at(wall, me);
        clock.raise_floor(old.time);
        replica.write(key(), person("me"), old).expect("write");
        clock.set_correction_ms(40_000);
        let RestampOutcome::Restamped { restamped, .. } = restamp_ahead(&clock, wall, &mut replica)
        else {
            panic!("expected a re-stamp");
        };
        let [Restamped { new, .. }] = restamped.as_slice() else {
            panic!("{restamped:?}");
        };
        assert!(*new > theirs.stamp, "{new} is not above {}", theirs.stamp);
        assert!(*new < old, "lowered");
        assert!(
            RestampLimits::of(&clock, wall).above < theirs.stamp.time,
            "the tolerance alone would have gone below it"
        );
        // The clock itself follows the mesh's time (for other keys).
        assert!(clock.stamp_at(wall).time < theirs.stamp.time);
    }
}
