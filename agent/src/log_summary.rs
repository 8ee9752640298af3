//! `LogSummary`: repeated warnings (refused gossip connections, too many inbound connections,
//! refused stamps, failed commits) logged at most once per source per minute, with how many
//! were left out since the last line — so a flood cannot fill an SD card with logs.
//!
//! Holds only counters keyed by (what, source); it never logs itself (the caller does, with
//! the count it is given). Must not touch: sockets, the replica, the store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// How long one source's repeated warning stays summarized.
pub const SUMMARY_WINDOW: Duration = Duration::from_secs(60);
/// Sources tracked at once; beyond it, new sources share one slot (`"others"`).
const MAX_SOURCES: usize = 1024;

#[derive(Debug)]
struct Slot {
    since: Instant,
    left_out: u64,
}

/// Per (what, source) rate limit for warnings.
#[derive(Debug)]
pub struct LogSummary {
    window: Duration,
    slots: Mutex<HashMap<(&'static str, String), Slot>>,
}

impl Default for LogSummary {
    fn default() -> Self {
        LogSummary::new(SUMMARY_WINDOW)
    }
}

impl LogSummary {
    pub fn new(window: Duration) -> LogSummary {
        LogSummary {
            window,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// One occurrence of warning `what` from `source` (an IP, a peer id). `Some(n)`: log it
    /// now, saying `n` more were left out since the last line; `None`: stay quiet.
    pub fn admit(&self, what: &'static str, source: &str) -> Option<u64> {
        self.admit_at(what, source, Instant::now())
    }

    fn admit_at(&self, what: &'static str, source: &str, now: Instant) -> Option<u64> {
        let mut slots = lock(&self.slots);
        if slots.len() >= MAX_SOURCES && !slots.contains_key(&(what, source.to_string())) {
            let window = self.window;
            slots.retain(|_, slot| now.duration_since(slot.since) < window);
        }
        let source = if slots.len() >= MAX_SOURCES {
            "others"
        } else {
            source
        };
        match slots.get_mut(&(what, source.to_string())) {
            Some(slot) if now.duration_since(slot.since) < self.window => {
                slot.left_out += 1;
                None
            }
            Some(slot) => {
                let left_out = slot.left_out;
                *slot = Slot {
                    since: now,
                    left_out: 0,
                };
                Some(left_out)
            }
            None => {
                slots.insert(
                    (what, source.to_string()),
                    Slot {
                        since: now,
                        left_out: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_source_per_window_with_the_count_left_out() {
        let summary = LogSummary::new(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(summary.admit_at("refused", "10.0.0.1", start), Some(0));
        for _ in 0..2999 {
            assert_eq!(summary.admit_at("refused", "10.0.0.1", start), None);
        }
        assert_eq!(summary.admit_at("refused", "10.0.0.2", start), Some(0));
        assert_eq!(summary.admit_at("other", "10.0.0.1", start), Some(0));
        let later = start + Duration::from_secs(61);
        assert_eq!(summary.admit_at("refused", "10.0.0.1", later), Some(2999));
        assert_eq!(summary.admit_at("refused", "10.0.0.1", later), None);
    }

    #[test]
    fn many_sources_share_a_bounded_table() {
        let summary = LogSummary::new(Duration::from_secs(60));
        let now = Instant::now();
        let logged = (0..5000)
            .filter(|i| {
                summary
                    .admit_at("refused", &format!("10.0.{i}"), now)
                    .is_some()
            })
            .count();
        assert!(logged <= MAX_SOURCES + 1, "{logged}");
        assert!(lock(&summary.slots).len() <= MAX_SOURCES + 1);
    }
}
