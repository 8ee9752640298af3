//! The member table: every node this one knows of (itself included), its address, incarnation,
//! heartbeat counter, graceful-leave flag and failure-detector window; the compact heartbeat
//! forms gossiped between peers whose member lists agree; and garbage collection of nodes dead
//! or gone longer than the grace period.
//!
//! Pure: times are passed in. Must not touch: the replica, messages' transport.

use std::collections::BTreeMap;

use super::detector::ArrivalWindow;
use super::message::MemberInfo;
use crate::crdt::NodeId;
pub use crate::peer::MemberStatus;

/// One known node.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: NodeId,
    pub addr: String,
    pub incarnation: u64,
    pub heartbeat: u64,
    pub left: bool,
    pub window: ArrivalWindow,
    /// When this node first saw it dead or left (for GC), if it is.
    pub gone_since_ms: Option<u64>,
    /// When contacting it first failed (transport report), cleared by any message from it.
    pub unreachable_since_ms: Option<u64>,
}

impl Member {
    fn info(&self) -> MemberInfo {
        MemberInfo {
            id: self.id,
            addr: self.addr.clone(),
            incarnation: self.incarnation,
            heartbeat: self.heartbeat,
            left: self.left,
        }
    }
}

/// A garbage-collected member, remembered for a grace period so that stale gossip from peers
/// that have not collected it yet does not bring it back.
#[derive(Debug, Clone, Copy)]
struct Forgotten {
    incarnation: u64,
    heartbeat: u64,
    at_ms: u64,
}

/// Thresholds the status uses.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub interval_ms: u64,
    pub suspect_phi: f64,
    pub dead_phi: f64,
}

/// The member table.
#[derive(Debug, Clone)]
pub struct Members {
    me: NodeId,
    members: BTreeMap<NodeId, Member>,
    forgotten: BTreeMap<NodeId, Forgotten>,
    cached_hash: Option<u64>,
}

impl Members {
    /// A table holding only this node.
    pub fn new(me: NodeId, addr: String) -> Self {
        let mut members = BTreeMap::new();
        members.insert(
            me,
            Member {
                id: me,
                addr,
                incarnation: 0,
                heartbeat: 0,
                left: false,
                window: ArrivalWindow::new(0),
                gone_since_ms: None,
                unreachable_since_ms: None,
            },
        );
        Members {
            me,
            members,
            forgotten: BTreeMap::new(),
            cached_hash: None,
        }
    }

    fn me_mut(&mut self) -> Option<&mut Member> {
        self.members.get_mut(&self.me)
    }

    /// Sets this run's incarnation.
    pub fn set_incarnation(&mut self, incarnation: u64) {
        if let Some(me) = self.me_mut() {
            me.incarnation = incarnation;
        }
        self.cached_hash = None;
    }

    /// Bumps this node's heartbeat (once per round).
    pub fn bump_self(&mut self) {
        if let Some(me) = self.me_mut() {
            me.heartbeat += 1;
        }
    }

    /// Marks this node as having left.
    pub fn leave_self(&mut self) {
        if let Some(me) = self.me_mut() {
            me.left = true;
            me.heartbeat += 1;
        }
        self.cached_hash = None;
    }

    pub fn get(&self, id: NodeId) -> Option<&Member> {
        self.members.get(&id)
    }

    /// Every member except this node.
    pub fn others(&self) -> impl Iterator<Item = &Member> {
        let me = self.me;
        self.members.values().filter(move |m| m.id != me)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// The member with gossip address `addr`, if any.
    pub fn by_addr(&self, addr: &str) -> Option<&Member> {
        self.members.values().find(|m| m.addr == addr)
    }

    /// Hash of the member list (ids, addresses, incarnations, leave flags; not heartbeats).
    pub fn hash(&mut self) -> u64 {
        if let Some(hash) = self.cached_hash {
            return hash;
        }
        let mut hasher = blake3::Hasher::new();
        for m in self.members.values() {
            hasher.update(&m.id.0.to_le_bytes());
            hasher.update(&m.incarnation.to_le_bytes());
            hasher.update(&[u8::from(m.left)]);
            hasher.update(&(m.addr.len() as u64).to_le_bytes());
            hasher.update(m.addr.as_bytes());
        }
        let hash = first_u64(hasher.finalize().as_bytes());
        self.cached_hash = Some(hash);
        hash
    }

    /// Heartbeat counters in node-id order.
    pub fn dense(&self) -> Vec<u64> {
        self.members.values().map(|m| m.heartbeat).collect()
    }

    /// The whole list.
    pub fn full(&self) -> Vec<MemberInfo> {
        self.members.values().map(Member::info).collect()
    }

    /// Counters of ours newer than `theirs` (a dense list over the same member list).
    pub fn newer_than(&self, theirs: &[u64]) -> Vec<(u32, u64)> {
        self.members
            .values()
            .zip(theirs)
            .enumerate()
            .filter(|(_, (m, &hb))| m.heartbeat > hb)
            .map(|(i, (m, _))| (i as u32, m.heartbeat))
            .collect()
    }

    /// Applies a dense list over the same member list. Returns how many counters advanced.
    pub fn merge_dense(&mut self, now_ms: u64, counters: &[u64]) -> usize {
        let me = self.me;
        let mut advanced = 0;
        for (m, &hb) in self.members.values_mut().zip(counters) {
            if m.id != me && hb > m.heartbeat {
                m.heartbeat = hb;
                arrived(m, now_ms);
                advanced += 1;
            }
        }
        advanced
    }

    /// Applies sparse counters over the same member list.
    pub fn merge_sparse(&mut self, now_ms: u64, newer: &[(u32, u64)]) -> usize {
        let ids: Vec<NodeId> = self.members.keys().copied().collect();
        let mut advanced = 0;
        for &(index, hb) in newer {
            let Some(id) = ids.get(index as usize) else {
                continue;
            };
            if *id == self.me {
                continue;
            }
            if let Some(m) = self.members.get_mut(id) {
                if hb > m.heartbeat {
                    m.heartbeat = hb;
                    arrived(m, now_ms);
                    advanced += 1;
                }
            }
        }
        advanced
    }

    /// Applies a whole list. Returns true if the member list (not just heartbeats) changed.
    pub fn merge_full(&mut self, now_ms: u64, infos: &[MemberInfo]) -> bool {
        let mut changed = false;
        for info in infos {
            changed |= self.merge_info(now_ms, info);
        }
        changed
    }

    fn merge_info(&mut self, now_ms: u64, info: &MemberInfo) -> bool {
        if info.id == self.me {
            return false;
        }
        match self.members.get_mut(&info.id) {
            Some(m) => {
                let newer = (info.incarnation, info.heartbeat) > (m.incarnation, m.heartbeat);
                let mut list_changed = false;
                if info.incarnation > m.incarnation {
                    m.incarnation = info.incarnation;
                    m.left = info.left;
                    m.addr = info.addr.clone();
                    list_changed = true;
                } else if info.incarnation == m.incarnation {
                    if info.left && !m.left {
                        m.left = true;
                        list_changed = true;
                    }
                    if newer && info.addr != m.addr {
                        m.addr = info.addr.clone();
                        list_changed = true;
                    }
                }
                if newer {
                    m.heartbeat = info.heartbeat;
                    arrived(m, now_ms);
                }
                if list_changed {
                    self.cached_hash = None;
                }
                list_changed
            }
            None => {
                if let Some(gone) = self.forgotten.get(&info.id) {
                    if (info.incarnation, info.heartbeat) <= (gone.incarnation, gone.heartbeat) {
                        return false;
                    }
                }
                self.forgotten.remove(&info.id);
                self.members.insert(
                    info.id,
                    Member {
                        id: info.id,
                        addr: info.addr.clone(),
                        incarnation: info.incarnation,
                        heartbeat: info.heartbeat,
                        left: info.left,
                        window: ArrivalWindow::new(now_ms),
                        gone_since_ms: None,
                        unreachable_since_ms: None,
                    },
                );
                self.cached_hash = None;
                true
            }
        }
    }

    /// A node messaged us directly: it exists, at `addr`, and is reachable.
    pub fn heard_from(&mut self, now_ms: u64, id: NodeId, addr: &str) {
        if id == self.me {
            return;
        }
        match self.members.get_mut(&id) {
            Some(m) => {
                m.unreachable_since_ms = None;
                if m.addr != addr && !addr.is_empty() {
                    m.addr = addr.to_string();
                    self.cached_hash = None;
                }
            }
            None => {
                self.forgotten.remove(&id);
                self.members.insert(
                    id,
                    Member {
                        id,
                        addr: addr.to_string(),
                        incarnation: 0,
                        heartbeat: 0,
                        left: false,
                        window: ArrivalWindow::new(now_ms),
                        gone_since_ms: None,
                        unreachable_since_ms: None,
                    },
                );
                self.cached_hash = None;
            }
        }
    }

    /// The transport could not reach `addr`.
    pub fn unreachable(&mut self, now_ms: u64, addr: &str) {
        let me = self.me;
        for m in self.members.values_mut() {
            if m.id != me && m.addr == addr && m.unreachable_since_ms.is_none() {
                m.unreachable_since_ms = Some(now_ms);
            }
        }
    }

    /// The status of `m` at `now_ms`.
    pub fn status(&self, m: &Member, now_ms: u64, t: &Thresholds) -> MemberStatus {
        if m.left {
            return MemberStatus::Left;
        }
        if m.id == self.me {
            return MemberStatus::Alive;
        }
        let phi = m.window.phi(now_ms, t.interval_ms);
        if phi >= t.dead_phi {
            MemberStatus::Dead
        } else if phi >= t.suspect_phi {
            MemberStatus::Suspect
        } else {
            MemberStatus::Alive
        }
    }

    /// Records when members went dead or left, and forgets those gone longer than `grace_ms`
    /// (and forgotten ones after another `grace_ms`). Returns how many were forgotten.
    pub fn collect_gone(&mut self, now_ms: u64, t: &Thresholds, grace_ms: u64) -> usize {
        let statuses: Vec<(NodeId, MemberStatus)> = self
            .others()
            .map(|m| (m.id, self.status(m, now_ms, t)))
            .collect();
        let mut expired = Vec::new();
        for (id, status) in statuses {
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            if status.is_live() {
                m.gone_since_ms = None;
                continue;
            }
            let since = *m.gone_since_ms.get_or_insert(now_ms);
            if now_ms.saturating_sub(since) > grace_ms {
                expired.push(id);
            }
        }
        for id in &expired {
            if let Some(m) = self.members.remove(id) {
                self.forgotten.insert(
                    *id,
                    Forgotten {
                        incarnation: m.incarnation,
                        heartbeat: m.heartbeat,
                        at_ms: now_ms,
                    },
                );
            }
        }
        if !expired.is_empty() {
            self.cached_hash = None;
        }
        self.forgotten
            .retain(|_, f| now_ms.saturating_sub(f.at_ms) <= grace_ms);
        expired.len()
    }
}

/// A member's heartbeat advanced at `now_ms`: feed the detector; a member back from the dead
/// starts a fresh window (its silence is not a usual interval).
fn arrived(m: &mut Member, now_ms: u64) {
    if m.gone_since_ms.take().is_some() {
        m.window = ArrivalWindow::new(now_ms);
    } else {
        m.window.arrived(now_ms);
    }
}

/// The first 8 bytes of a hash as a number.
pub fn first_u64(bytes: &[u8; 32]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}
