//! Reconnect delays: capped exponential backoff with "equal jitter" (half the delay fixed, half
//! random), because rumqttc retries at once by itself (rumqtt #703, #918). Pure: the random
//! number is passed in; no clock, no sleeping.

use std::time::Duration;

/// The delay before reconnect attempt `attempt` (0 = the first retry): the ceiling
/// `min(max_ms, min_ms · 2^attempt)`, of which the first half is always waited and the second
/// half scaled by `unit` (a random number in `[0, 1]`).
pub fn delay_ms(attempt: u32, min_ms: u64, max_ms: u64, unit: f64) -> u64 {
    let max_ms = max_ms.max(min_ms);
    let ceiling = min_ms.saturating_mul(1u64 << attempt.min(63)).min(max_ms);
    let half = ceiling / 2;
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    half + ((ceiling - half) as f64 * unit).round() as u64
}

/// Counts failed attempts and gives the next delay; `reset` after a successful connection.
#[derive(Debug, Clone)]
pub struct Backoff {
    min_ms: u64,
    max_ms: u64,
    attempt: u32,
}

impl Backoff {
    pub fn new(min_ms: u64, max_ms: u64) -> Self {
        Backoff {
            min_ms,
            max_ms,
            attempt: 0,
        }
    }

    /// The delay before the next attempt, given a random `unit` in `[0, 1]`.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let delay = delay_ms(self.attempt, self.min_ms, self.max_ms, unit);
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(delay)
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// After a connection succeeded: the next failure waits `min_ms`-ish again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_within_the_jitter_band() {
        let mut backoff = Backoff::new(1000, 60_000);
        let mut ceilings = Vec::new();
        for _ in 0..12 {
            let low = backoff.clone().next_delay(0.0).as_millis() as u64;
            let high = backoff.clone().next_delay(1.0).as_millis() as u64;
            assert_eq!(low * 2, high, "lower edge is half the ceiling");
            ceilings.push(high);
            backoff.next_delay(0.5);
        }
        assert_eq!(
            ceilings,
            vec![
                1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000, 60_000,
                60_000
            ]
        );
        assert_eq!(backoff.attempts(), 12);
        backoff.reset();
        assert_eq!(backoff.next_delay(1.0), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_spreads_within_the_band_and_bad_input_is_clamped() {
        assert_eq!(delay_ms(2, 100, 10_000, 0.25), 200 + 50);
        assert_eq!(delay_ms(2, 100, 10_000, 7.0), 400);
        assert_eq!(delay_ms(2, 100, 10_000, -1.0), 200);
        assert_eq!(delay_ms(2, 100, 10_000, f64::NAN), 200);
        // Huge attempt counts and a max below the min never overflow or go under the min.
        assert_eq!(delay_ms(u32::MAX, 100, 10_000, 1.0), 10_000);
        assert_eq!(delay_ms(3, 500, 10, 1.0), 500);
    }
}
