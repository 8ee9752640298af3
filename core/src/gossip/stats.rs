//! Gossip counters: rounds, messages and bytes by kind and direction, and the things refused or
//! repaired (stamps beyond the clock guard, foreign clusters, resets, GC).
//!
//! Plain data. Must not touch: anything else.

use std::collections::BTreeMap;

use serde::Serialize;

use super::message::MessageKind;

/// Messages and bytes of one kind in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    pub messages: u64,
    pub bytes: u64,
}

/// What a gossip core has done since it started.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GossipStats {
    /// Rounds started (`tick` calls that sent something or could have).
    pub rounds: u64,
    /// Early rounds started (`early_round`: something new to pass on before the next tick).
    pub early_rounds: u64,
    /// Messages produced, by kind; bytes as reported by the transport (`note_sent_bytes`).
    pub sent: BTreeMap<MessageKind, Traffic>,
    /// Messages handled, by kind; bytes as reported by the transport (`note_received_bytes`).
    pub received: BTreeMap<MessageKind, Traffic>,
    /// Entries not applied because their stamp was beyond the clock's accept limit.
    pub rejected_stamps: u64,
    /// Delta chunks refused as malformed or built on a watermark we no longer hold.
    pub refused_chunks: u64,
    /// Entries merged from peers (that won).
    pub entries_merged: u64,
    /// Messages refused because they came from another cluster.
    pub bad_cluster: u64,
    /// Peers told to reset (they were behind our tombstone GC).
    pub resets_sent: u64,
    /// Times this node reset itself.
    pub resets_done: u64,
    /// Tombstones garbage-collected.
    pub tombstones_collected: u64,
    /// Dead or departed members forgotten.
    pub members_forgotten: u64,
    /// Messages the transport could not decode (`note_decode_error`).
    pub decode_errors: u64,
}

impl GossipStats {
    pub(crate) fn count_sent(&mut self, kind: MessageKind) {
        self.sent.entry(kind).or_default().messages += 1;
    }

    pub(crate) fn count_received(&mut self, kind: MessageKind) {
        self.received.entry(kind).or_default().messages += 1;
    }

    /// Total bytes sent, all kinds.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.values().map(|t| t.bytes).sum()
    }

    /// Total messages sent, all kinds.
    pub fn messages_sent(&self) -> u64 {
        self.sent.values().map(|t| t.messages).sum()
    }
}
