//! Sensors whose kernel driver does the bus work and exposes values as sysfs files:
//! DHT11/DHT22 through the IIO `dht11` driver ([`DhtIio`]) and DS18B20 through 1-wire
//! ([`Ds18b20`]). These work in every build (no rppal).
//!
//! What they share lives here: the retry loop with backoff ([`RetryPolicy`]), reading a
//! "thousandths" integer file, and classifying errors as transient (EIO, ETIMEDOUT, EAGAIN, a
//! failed check) or not (missing device). A read that still fails after its retries returns the
//! error and keeps the last good value ([`DhtIio::last_good`]); the agent then marks the
//! published value stale. Garbage is never returned as a value.
//! Paths are always under a root passed in, so tests use fixture directories.

mod dht_iio;
mod ds18b20;

use std::io;
use std::path::Path;
use std::time::Duration;

pub use dht_iio::DhtIio;
pub use ds18b20::{parse_w1_slave, Ds18b20, W1Error};

use crate::SensorError;

/// How often a failed sysfs read is tried again, and how long to wait in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Extra attempts after the first one.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based): backoff · 2^retry, capped at 10 s.
    pub fn wait_before(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.min(16);
        self.backoff
            .saturating_mul(factor)
            .min(Duration::from_secs(10))
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the retries are used up. `pause` is
/// called with the wait before each retry (the real one sleeps; tests swap fixtures in it).
pub(crate) fn with_retries<T>(
    policy: RetryPolicy,
    pause: &mut dyn FnMut(Duration),
    mut attempt: impl FnMut() -> Result<T, SensorError>,
) -> Result<T, SensorError> {
    let mut retry = 0;
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(err) if retry < policy.retries && is_transient(&err) => {
                pause(policy.wait_before(retry));
                retry += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// True for failures that a later read may not have: bus timing (EIO, ETIMEDOUT, EAGAIN),
/// failed checks. A missing device or a permission problem is not retried.
pub(crate) fn is_transient(err: &SensorError) -> bool {
    match err {
        SensorError::Io { source, .. } | SensorError::Bus { source, .. } => {
            matches!(
                source.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) || source.raw_os_error() == Some(nix::errno::Errno::EIO as i32)
        }
        SensorError::BadData { .. } | SensorError::Timeout { .. } => true,
        SensorError::Unsupported(_) | SensorError::Config(_) | SensorError::NoSignal { .. } => {
            false
        }
    }
}

/// Reads a file holding one integer in thousandths (`23125` → 23.125).
pub(crate) fn read_thousandths(device: &str, path: &Path) -> Result<f64, SensorError> {
    let text = std::fs::read_to_string(path).map_err(|source| SensorError::Io {
        // The source stays the OS error itself, so EIO/ETIMEDOUT are recognised for retries.
        device: format!("{device} ({})", path.display()),
        source,
    })?;
    let trimmed = text.trim();
    let raw: i64 = trimmed.parse().map_err(|_| SensorError::BadData {
        device: device.to_string(),
        detail: format!("{} holds '{trimmed}', not an integer", path.display()),
    })?;
    Ok(raw as f64 / 1000.0)
}

/// A sleep, the production `pause`.
pub(crate) fn sleep(duration: Duration) {
    std::thread::sleep(duration);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            retries: 5,
            backoff: Duration::from_millis(500),
        };
        assert_eq!(policy.wait_before(0), Duration::from_millis(500));
        assert_eq!(policy.wait_before(2), Duration::from_secs(2));
        assert_eq!(policy.wait_before(30), Duration::from_secs(10));
    }

    #[test]
    fn retries_transient_errors_only() {
        let policy = RetryPolicy {
            retries: 2,
            backoff: Duration::from_millis(1),
        };
        let mut waits = Vec::new();
        let mut calls = 0;
        let result: Result<(), SensorError> = with_retries(policy, &mut |d| waits.push(d), || {
            calls += 1;
            Err(SensorError::Io {
                device: "dht".into(),
                source: io::Error::from_raw_os_error(nix::errno::Errno::EIO as i32),
            })
        });
        assert!(result.is_err());
        assert_eq!(calls, 3);
        assert_eq!(
            waits,
            vec![Duration::from_millis(1), Duration::from_millis(2)]
        );

        let mut calls = 0;
        let result: Result<(), SensorError> = with_retries(policy, &mut |_| {}, || {
            calls += 1;
            Err(SensorError::Io {
                device: "dht".into(),
                source: io::Error::from(io::ErrorKind::NotFound),
            })
        });
        assert!(result.is_err());
        assert_eq!(calls, 1, "a missing device is not retried");
    }
}
