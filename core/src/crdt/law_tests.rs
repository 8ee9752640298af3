//! Property tests of the lattice laws: join is commutative, associative and idempotent, and
//! replicas that receive the same updates in any order, with duplicates, converge.

use proptest::prelude::*;

use super::*;

fn stamp() -> impl Strategy<Value = Stamp> {
    (0u64..50, 0u64..4).prop_map(|(time, node)| Stamp::new(time, NodeId(node)))
}

/// Registers whose value is a function of the stamp, as in real use: one write, one stamp.
fn lww() -> impl Strategy<Value = LwwRegister<u64>> {
    stamp().prop_map(|s| LwwRegister::new(s.time * 10 + s.node.0, s))
}

fn lww_map() -> impl Strategy<Value = LwwMap<u8, u64>> {
    proptest::collection::vec((0u8..6, stamp()), 0..12).prop_map(|ops| {
        let mut map = LwwMap::new();
        for (key, s) in ops {
            // Everything is determined by (key, stamp): equal stamps mean the same write, as
            // with real HLC stamps, which are unique per write.
            if (s.time + s.node.0 + key as u64) % 3 != 0 {
                map.insert(key, s.time * 100 + s.node.0 * 10 + key as u64, s);
            } else {
                map.remove(key, s);
            }
        }
        map
    })
}

fn joined<L: Lattice + Clone>(a: &L, b: &L) -> L {
    let mut out = a.clone();
    out.join(b);
    out
}

macro_rules! lattice_laws {
    ($name:ident, $strategy:expr) => {
        mod $name {
            use super::*;
            proptest! {
                #[test]
                fn commutative(a in $strategy, b in $strategy) {
                    prop_assert_eq!(joined(&a, &b), joined(&b, &a));
                }
                #[test]
                fn associative(a in $strategy, b in $strategy, c in $strategy) {
                    prop_assert_eq!(joined(&joined(&a, &b), &c), joined(&a, &joined(&b, &c)));
                }
                #[test]
                fn idempotent(a in $strategy) {
                    let mut twice = a.clone();
                    prop_assert!(!twice.join(&a), "joining with itself must not change it");
                    prop_assert_eq!(twice, a);
                }
            }
        }
    };
}

lattice_laws!(lww_register, lww());
lattice_laws!(max_register, (0u64..100).prop_map(MaxRegister));
lattice_laws!(lww_map_laws, lww_map());

proptest! {
    /// Replicas fed the same set of updates in different orders, with duplicates, end equal.
    #[test]
    fn lww_map_replicas_converge_under_reordering_and_duplication(
        updates in proptest::collection::vec(lww_map(), 1..6),
        order_a in proptest::collection::vec(0usize..100, 1..20),
        order_b in proptest::collection::vec(0usize..100, 1..20),
    ) {
        let mut a = LwwMap::new();
        let mut b = LwwMap::new();
        // Each replica sees a random sequence (with repeats) and then every update once more.
        for i in order_a { a.join(&updates[i % updates.len()]); }
        for i in order_b { b.join(&updates[i % updates.len()]); }
        for u in updates.iter().rev() { a.join(u); }
        for u in &updates { b.join(u); }
        prop_assert_eq!(a, b);
    }
}

#[test]
fn tombstone_hides_value_and_gc_only_drops_old_tombstones() {
    let mut map: LwwMap<&str, u8> = LwwMap::new();
    map.insert("alice", 1, Stamp::new(1, NodeId(1)));
    map.remove("alice", Stamp::new(2, NodeId(2)));
    map.insert("bob", 2, Stamp::new(3, NodeId(1)));
    map.remove("carol", Stamp::new(9, NodeId(1)));
    assert_eq!(map.get(&"alice"), None);
    assert!(
        !map.insert("alice", 3, Stamp::new(1, NodeId(3))),
        "an older write must lose"
    );
    assert_eq!(map.tombstone_count(), 2);
    assert_eq!(map.gc_tombstones(Stamp::new(5, NodeId(0))), 1);
    assert_eq!(map.tombstone_count(), 1);
    assert_eq!(map.get(&"bob"), Some(&2));
}
