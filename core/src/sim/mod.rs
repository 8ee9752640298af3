//! Deterministic simulator: many `Node`s in one process, driven from a seed through a
//! simulated network (latency, loss, partitions, crash/restart, clock skew). Used by the tests
//! and the `gossip` bench (feature `sim`). Must not touch sockets, the wall clock or the
//! global RNG.
//!
//! Each node is a `Node` driven exactly as the agent's `mesh` drives it (`on_tick`,
//! `on_early_round`, `on_message`, `on_leave`), so the production glue runs here too: the
//! codec on every hop (byte counts are real), the publish limit (every applied write is
//! durable here: the limit is the replica's own counter), the clock guard and the clock floor.
//! Every simulated connection speaks this build's newest protocol (`PROTOCOL_VERSION`); mixed
//! protocols are `node::tests`' and the agent's rolling-upgrade test's.
//! Each node's random source is seeded from the simulation's. Each node has its own `Replica`; a crash keeps
//! what the store would have persisted (entries, watermarks, the safety state as JSON) and
//! drops the node's in-memory state; a restart rebuilds the replica from that persisted form and
//! starts a new `Node` on it (its clock floored at the replica's newest stamp, as at boot). Clocks can jump forward and back, and a node's disk can be full
//! (its writes fail, unacknowledged). Writes are stamped by the node's own `Clock` at its wall
//! time (true time plus its skew: `Clock::stamp_at`, as the agent's `Clock::now`), so a node
//! whose clock runs ahead of the mesh stamps with the correction, and the re-stamps its rounds
//! make (`Effects::restamped`) move the acknowledged write's record to its new stamp
//! (`Sim::restamped` counts them). The checks the tests assert (convergence, lost writes) are
//! in `checks`.
//! The events in every node's `Effects` (peers' transitions, clocks, exchanges) are kept in
//! order (`Sim::events`), the same the agent records in `/v1/events`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::clock::Clock;
use crate::crdt::NodeId;
use crate::gossip::{GossipCore, MessageKind, PROTOCOL_VERSION};
use crate::node::{Effects, Envelope, Node, Refusal, Restamped};
use crate::state::{Entry, Key, Replica, StaleWrite, Value};

pub mod checks;
pub mod field;
mod parts;
#[cfg(test)]
mod tests;

use parts::Persisted;
pub use parts::{NetStats, SimConfig, SimEvent, WriteRecord, EPOCH_MS};

/// One simulated node.
struct SimNode {
    id: NodeId,
    addr: String,
    /// `None` while crashed.
    node: Option<Node>,
    replica: Replica,
    /// What the node had persisted when it crashed.
    disk: Option<Persisted>,
    /// Writes fail (as on a full SD card): nothing is applied or acknowledged.
    disk_full: bool,
    skew_ms: i64,
    next_tick_ms: u64,
    /// When its planned early round is to start (simulated time), if one is planned.
    early_round_ms: Option<u64>,
}

impl Clone for SimNode {
    fn clone(&self) -> Self {
        SimNode {
            id: self.id,
            addr: self.addr.clone(),
            node: self.node.as_ref().map(Node::fork),
            replica: self.replica.clone(),
            disk: self.disk.clone(),
            disk_full: self.disk_full,
            skew_ms: self.skew_ms,
            next_tick_ms: self.next_tick_ms,
            early_round_ms: self.early_round_ms,
        }
    }
}

/// A new `Node` for node `id` at `addr` on `replica` (its clock floored at the replica's
/// newest stamp, as the agent's is at boot), its random source seeded from `rng`.
fn new_node(
    cfg: &SimConfig,
    (id, addr): (NodeId, &str),
    seeds: Vec<String>,
    rng: &mut StdRng,
    replica: &Replica,
) -> Node {
    let core = GossipCore::new(id, addr.to_string(), cfg.params.clone(), seeds);
    let clock = Clock::new(id, Duration::from_millis(cfg.max_clock_offset_ms));
    clock.raise_floor(replica.max_stamp_time());
    Node::new(core, StdRng::seed_from_u64(rng.gen()), Arc::new(clock))
}

/// A message on the wire.
#[derive(Debug, Clone)]
struct InFlight {
    from: usize,
    to: usize,
    bytes: Vec<u8>,
}

/// The simulator. Cloning it forks the whole world (benchmarks warm up once, then fork).
#[derive(Clone)]
pub struct Sim {
    cfg: SimConfig,
    rng: StdRng,
    now_ms: u64,
    nodes: Vec<SimNode>,
    by_addr: HashMap<String, usize>,
    queue: BTreeMap<(u64, u64), InFlight>,
    seq: u64,
    cut: HashSet<(usize, usize)>,
    writes: Vec<WriteRecord>,
    /// Own writes the nodes' rounds re-stamped (their clocks ran ahead of the mesh's).
    restamped: u64,
    /// Every node's events (peers' transitions, clocks, exchanges), in order.
    events: Vec<SimEvent>,
    net: NetStats,
}

impl Sim {
    /// Builds the mesh; every node's core starts at simulated time 0 with a random tick phase.
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let mut nodes = Vec::with_capacity(cfg.nodes);
        let mut used = HashSet::new();
        let seeds: Vec<String> = (0..cfg.seed_nodes.min(cfg.nodes)).map(addr_of).collect();
        for i in 0..cfg.nodes {
            let id = if cfg.random_ids {
                loop {
                    let id = rng.gen::<u64>();
                    if id != 0 && used.insert(id) {
                        break NodeId(id);
                    }
                }
            } else {
                NodeId(i as u64 + 1)
            };
            let skew = if cfg.max_skew_ms == 0 {
                0
            } else {
                rng.gen_range(-(cfg.max_skew_ms as i64)..=cfg.max_skew_ms as i64)
            };
            let addr = addr_of(i);
            let replica = Replica::new(id);
            let node = new_node(&cfg, (id, &addr), seeds.clone(), &mut rng, &replica);
            nodes.push(SimNode {
                id,
                node: Some(node),
                addr,
                replica,
                disk: None,
                disk_full: false,
                skew_ms: skew,
                next_tick_ms: rng.gen_range(0..cfg.params.interval_ms.max(1)),
                early_round_ms: None,
            });
        }
        let by_addr = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.addr.clone(), i))
            .collect();
        Sim {
            cfg,
            rng,
            now_ms: 0,
            nodes,
            by_addr,
            queue: BTreeMap::new(),
            seq: 0,
            cut: HashSet::new(),
            writes: Vec::new(),
            restamped: 0,
            events: Vec::new(),
            net: NetStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Simulated time since the start (ms).
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The simulation's random source (for scenario choices, so they replay from the seed).
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Replaces the random sources, the simulation's and every node's (to fork a warmed-up
    /// world into independent runs).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = StdRng::seed_from_u64(seed);
        for n in &mut self.nodes {
            if let Some(node) = n.node.as_mut() {
                node.reseed(StdRng::seed_from_u64(self.rng.gen()));
            }
        }
    }

    /// Replaces a node's replica (to preload state); its node id must be the node's.
    pub fn set_replica(&mut self, node: usize, replica: Replica) {
        assert_eq!(replica.me(), self.nodes[node].id, "replica of another node");
        let n = &mut self.nodes[node];
        if let Some(running) = n.node.as_ref() {
            running.clock().raise_floor(replica.max_stamp_time());
        }
        n.replica = replica;
    }

    /// Resets the network counters.
    pub fn reset_net_stats(&mut self) {
        self.net = NetStats::default();
    }

    /// True when every running node knows every node (itself included).
    pub fn members_converged(&self) -> bool {
        let n = self.nodes.len();
        self.nodes
            .iter()
            .filter_map(|node| node.node.as_ref())
            .all(|node| node.gossip().known_members() == n)
    }

    pub fn set_loss(&mut self, loss: f64) {
        self.cfg.loss = loss;
    }

    pub fn node_id(&self, node: usize) -> NodeId {
        self.nodes[node].id
    }

    pub fn replica(&self, node: usize) -> &Replica {
        &self.nodes[node].replica
    }

    pub fn core(&self, node: usize) -> Option<&GossipCore> {
        self.nodes[node].node.as_ref().map(Node::gossip)
    }

    pub fn is_up(&self, node: usize) -> bool {
        self.nodes[node].node.is_some()
    }

    /// The events every node's `Effects` carried so far, in simulated time order (as the
    /// agent records them in `/v1/events`).
    pub fn events(&self) -> &[SimEvent] {
        &self.events
    }

    pub fn net(&self) -> &NetStats {
        &self.net
    }

    pub fn writes(&self) -> &[WriteRecord] {
        &self.writes
    }

    /// How many own writes the nodes' rounds re-stamped so far (`Effects::restamped`: a node
    /// whose clock ran ahead of the mesh's median, corrected).
    pub fn restamped(&self) -> u64 {
        self.restamped
    }

    /// A node's wall clock (ms since the Unix epoch), skew included.
    pub fn node_time_ms(&self, node: usize) -> u64 {
        (EPOCH_MS as i64 + self.now_ms as i64 + self.nodes[node].skew_ms) as u64
    }

    /// Writes `value` (None: delete) for `key` on `node`, stamped by the node's `Clock` at its
    /// wall time (as the agent's `Clock::now`: corrected while it runs ahead of the mesh), or
    /// above the key's own stamp (`Replica::stamp_for_write`, as the agent's `StateHandle`).
    /// Returns the entry, or None when the node is down, its disk is full or the replica
    /// refuses the stamp as stale (the agent does not acknowledge such a write either).
    pub fn write(&mut self, node: usize, key: Key, value: Option<Value>) -> Option<Entry> {
        if self.nodes[node].disk_full {
            return None;
        }
        let wall = self.node_time_ms(node);
        let n = &mut self.nodes[node];
        let stamp = n.node.as_ref()?.clock().stamp_at(wall);
        let stamp = n.replica.stamp_for_write(&key, stamp);
        let deleted = value.is_none();
        let result: Result<Entry, StaleWrite> = n.replica.write(key.clone(), value, stamp);
        let entry = result.ok()?;
        self.writes.push(WriteRecord {
            node,
            key,
            stamp: entry.stamp,
            deleted,
        });
        self.plan_early_round(node);
        Some(entry)
    }

    /// Follows the re-stamps of `node`'s round: each is the same acknowledged write, now at a
    /// lower stamp, so its record moves to the new stamp, and so do the records of the node's
    /// earlier writes of that key it superseded (stamped between the two: they are lost only
    /// if it is).
    fn follow_restamps(&mut self, node: usize, restamped: &[Restamped]) {
        for Restamped { key, old, new } in restamped {
            self.restamped += 1;
            let covered = self
                .writes
                .iter_mut()
                .filter(|w| w.node == node && w.key == *key && *new < w.stamp && w.stamp <= *old);
            for record in covered {
                record.stamp = *new;
            }
        }
    }

    /// Crashes a node: what it persisted (entries, watermarks, safety state) survives, the
    /// core's memory does not.
    pub fn crash(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        if n.node.take().is_some() {
            n.disk = Some(Persisted::save(&n.replica));
        }
    }

    /// Makes a node's writes fail (`true`, as on a full disk: not applied, not acknowledged)
    /// or succeed again.
    pub fn set_disk_full(&mut self, node: usize, full: bool) {
        self.nodes[node].disk_full = full;
    }

    /// Jumps a node's wall clock by `delta_ms` (forward or back), as NTP stepping it or
    /// someone's `date -s` would. Its HLC stays above its last stamp.
    pub fn jump_clock(&mut self, node: usize, delta_ms: i64) {
        self.nodes[node].skew_ms += delta_ms;
    }

    /// A node's clock offset from true simulated time (ms).
    pub fn skew_ms(&self, node: usize) -> i64 {
        self.nodes[node].skew_ms
    }

    /// Restarts a crashed node from its disk copy with a fresh core.
    pub fn restart(&mut self, node: usize) {
        let seeds: Vec<String> = (0..self.cfg.seed_nodes.min(self.nodes.len()))
            .map(addr_of)
            .collect();
        let interval = self.cfg.params.interval_ms.max(1);
        let phase = self.rng.gen_range(0..interval);
        let now = self.now_ms;
        let n = &mut self.nodes[node];
        if n.node.is_some() {
            return;
        }
        if let Some(disk) = n.disk.take() {
            let (replica, parsed) = disk.load(n.id);
            n.replica = replica;
            if !parsed {
                // Counted with the decode errors, which every invariant test checks.
                self.net.decode_errors += 1;
            }
        }
        n.node = Some(new_node(
            &self.cfg,
            (n.id, &n.addr),
            seeds,
            &mut self.rng,
            &n.replica,
        ));
        n.next_tick_ms = now + phase;
        n.early_round_ms = None;
    }

    /// Cuts every link between nodes of different groups (nodes in no group keep their links).
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        for (gi, a) in groups.iter().enumerate() {
            for b in groups.iter().skip(gi + 1) {
                for &x in a {
                    for &y in b {
                        self.cut_link(x, y);
                    }
                }
            }
        }
    }

    pub fn cut_link(&mut self, a: usize, b: usize) {
        self.cut.insert((a.min(b), a.max(b)));
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    fn linked(&self, a: usize, b: usize) -> bool {
        !self.cut.contains(&(a.min(b), a.max(b)))
    }

    fn send(&mut self, from: usize, to: usize, bytes: Vec<u8>, kind: MessageKind) {
        self.net.messages += 1;
        self.net.bytes += bytes.len() as u64;
        let slot = self.net.by_kind.entry(kind).or_default();
        slot.0 += 1;
        slot.1 += bytes.len() as u64;
        let lost = self.cfg.loss > 0.0 && self.rng.gen_bool(self.cfg.loss.min(1.0));
        if lost || !self.linked(from, to) || !self.is_up(to) {
            self.net.dropped += 1;
            return;
        }
        let (lo, hi) = self.cfg.latency_ms;
        let latency = if hi > lo {
            self.rng.gen_range(lo..=hi)
        } else {
            lo
        };
        self.seq += 1;
        self.queue.insert(
            (self.now_ms + latency, self.seq),
            InFlight { from, to, bytes },
        );
    }

    fn deliver(&mut self, message: InFlight) {
        let InFlight { from, to, bytes } = message;
        if !self.is_up(to) || !self.linked(from, to) {
            self.net.dropped += 1;
            return;
        }
        let now = self.node_time_ms(to);
        let from_addr = self.nodes[from].addr.clone();
        let n = &mut self.nodes[to];
        let Some(node) = n.node.as_mut() else {
            return;
        };
        node.set_publish_limit(Some(n.replica.own_counter()));
        let effects = node.on_message(now, &from_addr, &bytes, PROTOCOL_VERSION, &mut n.replica);
        let undecodable = |r: &Refusal| matches!(r, Refusal::Undecodable { .. });
        if effects.refusals.iter().any(undecodable) {
            self.net.decode_errors += 1;
            return;
        }
        self.send_effects(to, effects);
        self.plan_early_round(to);
    }

    /// As the agent does after a merge or a local write: starts an early round on `node` now
    /// if it says one is due (it learned or wrote something since its last round), or
    /// schedules it for when it will be.
    fn plan_early_round(&mut self, node: usize) {
        let now = self.node_time_ms(node);
        let sim_now = self.now_ms;
        let n = &mut self.nodes[node];
        let Some(running) = n.node.as_mut() else {
            return;
        };
        running.set_publish_limit(Some(n.replica.own_counter()));
        let (effects, at) = running.on_early_round(now, &mut n.replica);
        n.early_round_ms = at.map(|at| sim_now + at.saturating_sub(now));
        self.send_effects(node, effects);
    }

    /// Keeps `node`'s events and puts its messages on the wire (an unknown address is a drop).
    fn send_effects(&mut self, node: usize, effects: Effects) {
        let at_ms = self.now_ms;
        let events = effects.events.into_iter();
        self.events
            .extend(events.map(|event| SimEvent { at_ms, node, event }));
        for Envelope { to, kind, bytes } in effects.messages {
            match self.by_addr.get(&to).copied() {
                Some(to) => self.send(node, to, bytes, kind),
                None => self.net.dropped += 1,
            }
        }
    }

    fn tick(&mut self, node: usize) {
        let now = self.node_time_ms(node);
        let n = &mut self.nodes[node];
        n.next_tick_ms += self.cfg.params.interval_ms.max(1);
        let Some(running) = n.node.as_mut() else {
            return;
        };
        running.set_publish_limit(Some(n.replica.own_counter()));
        let mut effects = running.on_tick(now, &mut n.replica);
        let restamped = std::mem::take(&mut effects.restamped);
        self.follow_restamps(node, &restamped);
        self.send_effects(node, effects);
    }

    /// Makes `node` leave gracefully (it then stays silent).
    pub fn leave(&mut self, node: usize) {
        let now = self.node_time_ms(node);
        let n = &mut self.nodes[node];
        let Some(running) = n.node.as_mut() else {
            return;
        };
        running.set_publish_limit(Some(n.replica.own_counter()));
        let effects = running.on_leave(now, &mut n.replica);
        self.send_effects(node, effects);
    }

    /// Runs until simulated time `until_ms`: ticks and deliveries in time order.
    pub fn run_until(&mut self, until_ms: u64) {
        loop {
            let next_message = self.queue.keys().next().map(|k| k.0);
            // A node's next round: its tick, or a planned early round if sooner.
            let next_tick = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.node.is_some())
                .map(|(i, n)| (n.next_tick_ms.min(n.early_round_ms.unwrap_or(u64::MAX)), i))
                .min();
            let tick_first = match (next_tick, next_message) {
                (Some((t, _)), Some(m)) => t <= m,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let at = if tick_first {
                next_tick.map_or(u64::MAX, |t| t.0)
            } else {
                next_message.unwrap_or(u64::MAX)
            };
            if at > until_ms {
                break;
            }
            self.now_ms = self.now_ms.max(at);
            if tick_first {
                if let Some((at, node)) = next_tick {
                    if self.nodes[node].early_round_ms == Some(at)
                        && at < self.nodes[node].next_tick_ms
                    {
                        self.plan_early_round(node);
                    } else {
                        self.tick(node);
                    }
                }
            } else if let Some((_, message)) = self.queue.pop_first() {
                self.deliver(message);
            }
        }
        self.now_ms = self.now_ms.max(until_ms);
        // Crashed nodes keep their tick schedule in step so a restart is not a burst.
        let interval = self.cfg.params.interval_ms.max(1);
        for n in &mut self.nodes {
            if n.node.is_none() {
                while n.next_tick_ms <= self.now_ms {
                    n.next_tick_ms += interval;
                }
            }
        }
    }

    /// Runs `rounds` more round intervals.
    pub fn run_rounds(&mut self, rounds: u64) {
        let until = self.now_ms + rounds * self.cfg.params.interval_ms;
        self.run_until(until);
    }
}

/// The simulated gossip address of node `i`.
pub fn addr_of(i: usize) -> String {
    format!(
        "10.{}.{}.{}:7420",
        (i >> 16) & 0xff,
        (i >> 8) & 0xff,
        i & 0xff
    )
}
