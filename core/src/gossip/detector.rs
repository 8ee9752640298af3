//! Phi-accrual failure detector (Hayashibara et al. 2004, as Cassandra and chitchat use it) on the
//! arrival times of one member's heartbeat increases.
//!
//! Uses the exponential-distribution form `phi = elapsed / mean interval` (chitchat's), with a
//! prior of a few round-length intervals so a new member is not suspected at once. Pure: times
//! are passed in. Must not touch: clocks, the member table.

use std::collections::VecDeque;

/// Intervals remembered per member.
const WINDOW: usize = 100;
/// Weight of the prior (one round interval) in the mean, in samples.
const PRIOR_SAMPLES: f64 = 4.0;

/// Arrival history of one member's heartbeat.
#[derive(Debug, Clone)]
pub struct ArrivalWindow {
    intervals: VecDeque<u64>,
    sum: u64,
    last_arrival_ms: u64,
}

impl ArrivalWindow {
    /// A window whose last arrival is `now_ms` (the member was just learned of or came back).
    pub fn new(now_ms: u64) -> Self {
        ArrivalWindow {
            intervals: VecDeque::new(),
            sum: 0,
            last_arrival_ms: now_ms,
        }
    }

    pub fn last_arrival_ms(&self) -> u64 {
        self.last_arrival_ms
    }

    /// Records a heartbeat increase seen at `now_ms`.
    pub fn arrived(&mut self, now_ms: u64) {
        let interval = now_ms.saturating_sub(self.last_arrival_ms);
        self.last_arrival_ms = self.last_arrival_ms.max(now_ms);
        if self.intervals.len() == WINDOW {
            if let Some(old) = self.intervals.pop_front() {
                self.sum -= old;
            }
        }
        self.intervals.push_back(interval);
        self.sum += interval;
    }

    /// Mean interval, blended with a prior of `prior_ms`.
    pub fn mean_ms(&self, prior_ms: u64) -> f64 {
        (self.sum as f64 + prior_ms as f64 * PRIOR_SAMPLES)
            / (self.intervals.len() as f64 + PRIOR_SAMPLES)
    }

    /// Suspicion level at `now_ms`: 0 right after an arrival, growing with silence.
    pub fn phi(&self, now_ms: u64, prior_ms: u64) -> f64 {
        let elapsed = now_ms.saturating_sub(self.last_arrival_ms) as f64;
        elapsed / self.mean_ms(prior_ms).max(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phi_grows_with_silence_relative_to_the_usual_interval() {
        let mut window = ArrivalWindow::new(0);
        for t in 1..=50 {
            window.arrived(t * 1000);
        }
        let last = 50_000;
        assert!(window.phi(last, 1000) < 0.01);
        let phi_3 = window.phi(last + 3000, 1000);
        let phi_9 = window.phi(last + 9000, 1000);
        assert!(
            (2.9..3.1).contains(&phi_3),
            "phi after 3 intervals: {phi_3}"
        );
        assert!(phi_9 > 8.0, "phi after 9 intervals: {phi_9}");
    }

    #[test]
    fn a_member_heard_of_just_now_uses_the_prior() {
        let window = ArrivalWindow::new(10_000);
        assert_eq!(window.phi(12_000, 1000), 2.0);
    }
}
