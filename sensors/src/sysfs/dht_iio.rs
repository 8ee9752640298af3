//! DHT11/DHT22 through the kernel's IIO `dht11` driver (`dtoverlay=dht11,gpiopin=N`): values in
//! `/sys/bus/iio/devices/iio:deviceN/in_temp_input` (milli-°C) and
//! `in_humidityrelative_input` (milli-%RH). The kernel bit-bangs the protocol and fails often
//! (EIO, ETIMEDOUT): reads are retried with backoff, implausible values are refused, and the
//! last good value is kept. The part needs time between reads (DHT22: 2 s, DHT11: 1 s, per
//! their datasheets): retries wait at least that long, and a read sooner than that after the
//! previous attempt first waits out the rest.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{read_thousandths, with_retries, RetryPolicy};
use crate::kind::DriverKind;
use crate::reading::{Measurement, Quantity};
use crate::{Sensor, SensorError};

/// The IIO device name the kernel's DHT driver registers (for DHT11 and DHT22 alike).
pub const IIO_NAME: &str = "dht11";

/// A DHT11 or DHT22 read through IIO.
pub struct DhtIio {
    name: String,
    kind: DriverKind,
    /// `<root>/sys`.
    sys: PathBuf,
    /// `""` (first DHT found), an id (`iio:device0`) or an absolute path.
    device: String,
    retry: RetryPolicy,
    pause: Box<dyn FnMut(Duration) + Send>,
    last_good: Option<Vec<Measurement>>,
    /// When the part was last asked for a reading.
    last_attempt: Option<Instant>,
}

impl DhtIio {
    /// A DHT sensor under `sys` (normally `/sys`). Nothing is opened until the first read.
    pub fn new(name: &str, kind: DriverKind, sys: &Path, device: &str, retry: RetryPolicy) -> Self {
        DhtIio {
            name: name.to_string(),
            kind,
            sys: sys.to_path_buf(),
            device: device.to_string(),
            retry,
            pause: Box::new(super::sleep),
            last_good: None,
            last_attempt: None,
        }
    }

    /// Replaces the sleep between retries (tests use it to change fixtures mid-read).
    pub fn with_pause(mut self, pause: impl FnMut(Duration) + Send + 'static) -> Self {
        self.pause = Box::new(pause);
        self
    }

    /// The last values read successfully, kept when later reads fail.
    pub fn last_good(&self) -> Option<&[Measurement]> {
        self.last_good.as_deref()
    }

    /// The device directory: the configured one, or the first IIO device named `dht11`.
    pub fn device_dir(&self) -> Result<PathBuf, SensorError> {
        let devices = self.sys.join("bus/iio/devices");
        if self.device.starts_with('/') {
            return Ok(PathBuf::from(&self.device));
        }
        if !self.device.is_empty() {
            return Ok(devices.join(&self.device));
        }
        let mut candidates: Vec<PathBuf> = std::fs::read_dir(&devices)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                std::fs::read_to_string(path.join("name")).is_ok_and(|name| name.trim() == IIO_NAME)
            })
            .collect();
        candidates.sort();
        candidates
            .into_iter()
            .next()
            .ok_or_else(|| SensorError::Io {
                device: self.name.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "no DHT device under {}: add `dtoverlay=dht11,gpiopin=4` (your pin) to \
                     config.txt and reboot",
                        devices.display()
                    ),
                ),
            })
    }

    /// The plausible range of (°C, %RH) for this part; outside it a read is garbage.
    fn plausible(&self) -> (std::ops::RangeInclusive<f64>, std::ops::RangeInclusive<f64>) {
        match self.kind {
            DriverKind::Dht11 => (0.0..=60.0, 5.0..=95.0),
            _ => (-40.0..=80.0, 0.0..=100.0),
        }
    }

    fn read_once(&self) -> Result<Vec<Measurement>, SensorError> {
        let dir = self.device_dir()?;
        let temperature = read_thousandths(&self.name, &dir.join("in_temp_input"))?;
        let humidity = read_thousandths(&self.name, &dir.join("in_humidityrelative_input"))?;
        let (t_range, h_range) = self.plausible();
        if !t_range.contains(&temperature) || !h_range.contains(&humidity) {
            return Err(SensorError::BadData {
                device: self.name.clone(),
                detail: format!(
                    "implausible reading {temperature} °C / {humidity} %RH for a {}",
                    self.kind.as_str()
                ),
            });
        }
        Ok(vec![
            Measurement::new(Quantity::Temperature, temperature),
            Measurement::new(Quantity::Humidity, humidity),
        ])
    }
}

impl Sensor for DhtIio {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &str {
        self.kind.as_str()
    }

    fn read(&mut self) -> Result<Vec<Measurement>, SensorError> {
        let min_interval = self.kind.min_read_interval();
        let retry = RetryPolicy {
            backoff: self.retry.backoff.max(min_interval),
            ..self.retry
        };
        let mut pause = std::mem::replace(&mut self.pause, Box::new(|_| {}));
        if let Some(since) = self.last_attempt.map(|at| at.elapsed()) {
            if since < min_interval {
                pause(min_interval - since);
            }
        }
        let result = with_retries(retry, &mut *pause, || self.read_once());
        self.last_attempt = Some(Instant::now());
        self.pause = pause;
        if let Ok(values) = &result {
            self.last_good = Some(values.clone());
        }
        result
    }
}
