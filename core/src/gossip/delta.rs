//! Digests and deltas over a `Replica`: the advertised watermarks and their hash, GC floors and
//! the "you fell behind the GC horizon" test, building a delta for a peer (per origin, version
//! order, no gaps, most-behind origin first, cut to a byte budget) and applying one (with the
//! clock's accept limit).
//!
//! Pure. Must not touch: members, sockets, clocks (the accept limit is passed in).

use std::collections::BTreeMap;

use super::members::first_u64;
use super::message::{Chunk, Delta, DigestItem, Skipped};
use crate::crdt::{NodeId, Stamp};
use crate::state::Replica;

/// Per origin, the highest version of a tombstone garbage-collected here (or adopted from the
/// peer that reset us), and the newest stamp of such a tombstone (the same on every node of a
/// partition side once they collected the same tombstones).
#[derive(Debug, Clone, PartialEq)]
pub struct Floors {
    pub by_origin: BTreeMap<NodeId, u64>,
    pub gc_mark: Stamp,
}

impl Default for Floors {
    fn default() -> Self {
        Floors {
            by_origin: BTreeMap::new(),
            gc_mark: Stamp::ZERO,
        }
    }
}

impl Floors {
    pub fn get(&self, origin: NodeId) -> u64 {
        self.by_origin.get(&origin).copied().unwrap_or(0)
    }

    pub fn raise(&mut self, origin: NodeId, version: u64) {
        let slot = self.by_origin.entry(origin).or_insert(0);
        *slot = (*slot).max(version);
    }

    /// Adopts every floor of `other` (max).
    pub fn adopt(&mut self, floors: &[(NodeId, u64)], gc_mark: Stamp) {
        for &(origin, floor) in floors {
            self.raise(origin, floor);
        }
        self.gc_mark = self.gc_mark.max(gc_mark);
    }

    pub fn to_vec(&self) -> Vec<(NodeId, u64)> {
        self.by_origin.iter().map(|(o, f)| (*o, *f)).collect()
    }

    /// True when a node with digest `items` may hold entries that a tombstone we collected
    /// would have deleted: for some origin it holds neither the versions up to our floor nor a
    /// floor as high (which it would have adopted on a reset).
    pub fn is_ahead_of(&self, items: &[DigestItem]) -> bool {
        let theirs: BTreeMap<NodeId, (u64, u64)> = items
            .iter()
            .map(|i| (i.origin, (i.watermark, i.floor)))
            .collect();
        self.by_origin.iter().any(|(origin, &floor)| {
            let (watermark, their_floor) = theirs.get(origin).copied().unwrap_or((0, 0));
            lacks_collected(floor, watermark, their_floor)
        })
    }

    /// Like `is_ahead_of`, but only for the origins `items` lists (a peer's wants: origins it
    /// does not list may be ones it holds whole).
    pub fn is_ahead_of_listed(&self, items: &[DigestItem]) -> bool {
        items
            .iter()
            .any(|item| lacks_collected(self.get(item.origin), item.watermark, item.floor))
    }

    /// Drops the tombstones of `replica` stamped before `before_time`, raising the floors to
    /// what was dropped. Returns how many were dropped.
    pub fn collect_tombstones(&mut self, replica: &mut Replica, before_time: u64) -> usize {
        let dropped: Vec<(NodeId, u64, Stamp)> = replica
            .entries()
            .filter(|e| replica.collectable(e, before_time))
            .map(|e| (e.origin(), e.version, e.stamp))
            .collect();
        for &(origin, version, stamp) in &dropped {
            self.raise(origin, version);
            self.gc_mark = self.gc_mark.max(stamp);
        }
        replica.gc_tombstones(before_time)
    }
}

/// True when a node at `watermark` with floor `their_floor` for an origin may hold entries a
/// tombstone we collected (our `floor` there) would have deleted.
fn lacks_collected(floor: u64, watermark: u64, their_floor: u64) -> bool {
    floor > 0 && watermark < floor && their_floor < floor
}

/// The watermarks this node advertises: its replica's, zeros left out (a reset zeroes them).
pub fn advertised(replica: &Replica) -> BTreeMap<NodeId, u64> {
    replica
        .digest()
        .iter()
        .filter(|(_, wm)| **wm > 0)
        .map(|(o, w)| (*o, *w))
        .collect()
}

/// Hash of advertised watermarks: equal on nodes that agree on every origin.
pub fn hash_of(watermarks: &BTreeMap<NodeId, u64>) -> u64 {
    let mut hasher = blake3::Hasher::new();
    for (origin, wm) in watermarks {
        hasher.update(&origin.0.to_le_bytes());
        hasher.update(&wm.to_le_bytes());
    }
    first_u64(hasher.finalize().as_bytes())
}

/// The full digest: watermarks and floors, every origin that has either.
pub fn items(watermarks: &BTreeMap<NodeId, u64>, floors: &Floors) -> Vec<DigestItem> {
    let mut all: BTreeMap<NodeId, DigestItem> = watermarks
        .iter()
        .map(|(&origin, &watermark)| {
            (
                origin,
                DigestItem {
                    origin,
                    watermark,
                    floor: 0,
                },
            )
        })
        .collect();
    for (&origin, &floor) in &floors.by_origin {
        all.entry(origin)
            .or_insert(DigestItem {
                origin,
                watermark: 0,
                floor: 0,
            })
            .floor = floor;
    }
    all.into_values().collect()
}

/// Origins where `mine` is ahead of a peer's full digest, with the peer's watermark.
pub fn peer_behind(mine: &BTreeMap<NodeId, u64>, peer: &[DigestItem]) -> Vec<(NodeId, u64)> {
    let theirs: BTreeMap<NodeId, u64> = peer.iter().map(|i| (i.origin, i.watermark)).collect();
    mine.iter()
        .filter_map(|(origin, &wm)| {
            let their = theirs.get(origin).copied().unwrap_or(0);
            (wm > their).then_some((*origin, their))
        })
        .collect()
}

/// Origins where a peer (full digest) is ahead of `mine`, with our watermark and floor: what we
/// ask it for.
pub fn we_want(
    mine: &BTreeMap<NodeId, u64>,
    floors: &Floors,
    peer: &[DigestItem],
) -> Vec<DigestItem> {
    peer.iter()
        .filter_map(|i| {
            let wm = mine.get(&i.origin).copied().unwrap_or(0);
            (i.watermark > wm).then_some(DigestItem {
                origin: i.origin,
                watermark: wm,
                floor: floors.get(i.origin),
            })
        })
        .collect()
}

/// Builds the delta for a peer that holds origin `o` up to `wants[o]`: per origin our entries
/// above it in version order, the most-behind origin first, cut to `budget` bytes of entries
/// without gaps (at least one entry is sent so a huge entry cannot stall an origin).
pub fn build(replica: &Replica, wants: &[(NodeId, u64)], budget: usize) -> Delta {
    let mut order: Vec<(NodeId, u64, u64)> = wants
        .iter()
        .filter_map(|&(origin, their)| {
            let ours = replica.watermark(origin);
            (ours > their).then_some((origin, their, ours))
        })
        .collect();
    order.sort_by(|a, b| (b.2 - b.1).cmp(&(a.2 - a.1)).then(a.0.cmp(&b.0)));
    let mut delta = Delta::default();
    let mut used = 0usize;
    for (origin, their, ours) in order {
        let mut entries = Vec::new();
        let mut cut = false;
        // Never past our watermark: an entry held beyond it (a replacing write a chunk named
        // for a version it skips) is not a claim on the versions before it.
        for entry in replica
            .entries_after(origin, their)
            .take_while(|e| e.version <= ours)
        {
            let size = super::wire::entry_size(entry);
            if size > crate::state::limits::MAX_ENTRY_BYTES {
                // Never sendable (written before the limits existed): skipped, not a stall.
                continue;
            }
            if used.saturating_add(size) > budget && used > 0 {
                cut = true;
                break;
            }
            used = used.saturating_add(size);
            entries.push(entry.clone());
        }
        let last = entries.last().map(|e| e.version);
        if cut {
            delta.truncated = true;
            if let Some(last) = last {
                let chunk = with_skipped(replica, origin, their, last, entries, &mut used);
                delta.chunks.push(chunk);
            }
            break;
        }
        let complete_to = last.unwrap_or(0).max(ours);
        let chunk = with_skipped(replica, origin, their, complete_to, entries, &mut used);
        if chunk.complete_to < complete_to {
            delta.truncated = true;
        }
        delta.chunks.push(chunk);
    }
    delta
}

/// The chunk of `origin` after `their` up to `complete_to`, naming each version it skips
/// because a write of another origin replaced it (`Chunk::skipped`, protocol 3 on). A skipped
/// version whose replacing write cannot be sent yet (an own write not yet shown to peers, or
/// one too large to send) ends the chunk before it, so no receiver passes it without that
/// write.
fn with_skipped(
    replica: &Replica,
    origin: NodeId,
    their: u64,
    complete_to: u64,
    mut entries: Vec<crate::state::Entry>,
    used: &mut usize,
) -> Chunk {
    let mut complete_to = complete_to;
    let mut skipped = Vec::new();
    for (version, by) in replica.skipped_between(origin, their, complete_to) {
        let unpublished = by.version > 0 && by.version > replica.watermark(by.origin());
        let size = super::wire::entry_size(&by);
        if unpublished || size > crate::state::limits::MAX_ENTRY_BYTES {
            complete_to = version - 1;
            entries.retain(|e| e.version < version);
            break;
        }
        *used = used.saturating_add(size);
        skipped.push(Skipped { version, by });
    }
    Chunk {
        origin,
        after: their,
        complete_to,
        entries,
        skipped,
    }
}

/// What applying a delta did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Entries that won and are now held.
    pub merged: usize,
    /// Entries refused because their stamp is beyond the accept limit (retried later).
    pub rejected_stamps: usize,
    /// Per origin, the newest stamp time held back for being beyond the accept limit.
    pub ahead: BTreeMap<NodeId, u64>,
    /// Origins with a chunk taken whole (up to its `complete_to`, nothing held back).
    pub caught_up: Vec<NodeId>,
    /// Entries refused because they break a limit of `state::limits` (key and why), skipped
    /// without stopping their chunk.
    pub refused_entries: Vec<String>,
    /// Chunks refused as malformed (entry of another origin, versions out of order) or stale
    /// (built after a watermark we no longer hold).
    pub refused_chunks: usize,
}

impl Applied {
    /// Nothing was held back.
    pub fn is_clean(&self) -> bool {
        self.rejected_stamps == 0 && self.refused_chunks == 0
    }
}

/// Applies a delta: merges each chunk's entries in order, then raises each origin's watermark
/// to what was fully received. An entry stamped after `accept_limit_time` stops its chunk
/// there; so does a skipped version whose replacing write this replica does not hold once
/// every chunk was merged (the write was held back, or the sender collected it and we never
/// had it): the hole would otherwise be claimed without the write that made it.
pub fn apply(replica: &mut Replica, delta: &Delta, accept_limit_time: u64) -> Applied {
    let mut out = Applied::default();
    let mut reach = Vec::with_capacity(delta.chunks.len());
    for chunk in &delta.chunks {
        if replica.watermark(chunk.origin) < chunk.after {
            out.refused_chunks += 1;
            continue;
        }
        let reached = merge_chunk(replica, chunk, accept_limit_time, &mut out);
        reach.push((chunk, reached));
    }
    for (chunk, reached) in reach {
        let reached = pass_skipped(replica, chunk, reached, accept_limit_time, &mut out);
        if reached == chunk.complete_to {
            out.caught_up.push(chunk.origin);
        }
        replica.received_up_to(chunk.origin, reached);
    }
    out
}

/// Merges one chunk's entries in order; returns the version it was received up to (before
/// its skipped versions are checked).
fn merge_chunk(
    replica: &mut Replica,
    chunk: &Chunk,
    accept_limit_time: u64,
    out: &mut Applied,
) -> u64 {
    let mut reached = chunk.complete_to;
    let mut previous = chunk.after;
    let mut refused = false;
    for entry in &chunk.entries {
        if entry.origin() != chunk.origin
            || entry.version <= previous
            || entry.version > chunk.complete_to
        {
            refused = true;
            break;
        }
        if entry.stamp.time > accept_limit_time {
            out.rejected_stamps += 1;
            let newest = chunk
                .entries
                .iter()
                .map(|e| e.stamp.time)
                .max()
                .unwrap_or(entry.stamp.time);
            let slot = out.ahead.entry(chunk.origin).or_insert(0);
            *slot = (*slot).max(newest);
            reached = entry.version - 1;
            break;
        }
        previous = entry.version;
        if let Err(err) = crate::state::limits::check_entry(&entry.key, entry.value.as_ref()) {
            let key = crate::state::key::preview(&entry.key.to_string());
            out.refused_entries.push(format!("{key} ({err})"));
            continue;
        }
        if replica.merge(entry.clone()) {
            out.merged += 1;
        }
    }
    if refused {
        out.refused_chunks += 1;
        reached = previous;
    }
    reached
}

/// Checks the chunk's skipped versions up to `reached`: each is passed once this replica holds
/// its replacing write or a newer one (merging the one the chunk names, unless it is stamped
/// beyond the accept limit or is a collected tombstone, which cannot be merged); the first
/// that is not stops the chunk before it. Passed ones are remembered so this node names them
/// in turn. Returns how far the chunk was received.
fn pass_skipped(
    replica: &mut Replica,
    chunk: &Chunk,
    reached: u64,
    accept_limit_time: u64,
    out: &mut Applied,
) -> u64 {
    let mut previous = chunk.after;
    for skipped in &chunk.skipped {
        let version = skipped.version;
        if version <= previous || version > reached {
            // Out of order or past what was received: ignore the rest.
            break;
        }
        previous = version;
        let by = &skipped.by;
        if !replica.covers(&by.key, by.stamp) {
            if by.version == 0 {
                return version - 1;
            }
            if by.stamp.time > accept_limit_time {
                out.rejected_stamps += 1;
                let slot = out.ahead.entry(by.origin()).or_insert(0);
                *slot = (*slot).max(by.stamp.time);
                return version - 1;
            }
            // A write that breaks a limit is passed, as in a chunk (never sendable anyway).
            if crate::state::limits::check_entry(&by.key, by.value.as_ref()).is_ok()
                && replica.merge(by.clone())
            {
                out.merged += 1;
            }
        }
        if by.origin() != chunk.origin {
            replica.note_superseded(chunk.origin, version, &by.key);
        }
    }
    reached
}
