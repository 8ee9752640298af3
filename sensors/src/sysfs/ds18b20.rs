//! DS18B20 through the kernel's 1-wire driver (`dtoverlay=w1-gpio,gpiopin=4`): each sensor is
//! `/sys/bus/w1/devices/28-<serial>/`, with `temperature` (milli-°C, newer kernels) or
//! `w1_slave` (two lines: the scratchpad with `crc=.. YES|NO`, then `t=<milli-°C>`). A `NO`
//! CRC, the 85 °C power-on value, an all-zero scratchpad and out-of-range values are refused
//! and retried. An all-zero scratchpad passes the CRC (the CRC of zeros is 0) and reads 0 °C,
//! but no DS18B20 sends one: its config byte always has bits 0–4 set and byte 5 is 0xFF
//! (datasheet figure 9). It is what a DQ line held low (short, missing power) reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{read_thousandths, with_retries, RetryPolicy};
use crate::reading::{Measurement, Quantity};
use crate::{Sensor, SensorError};

/// The 1-wire family code of the DS18B20.
pub const FAMILY_PREFIX: &str = "28-";
/// The scratchpad's power-on reset value, read when a conversion did not happen.
const POWER_ON_MILLI_C: i64 = 85_000;

/// Why a DS18B20 reading is not usable (retried by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum W1Error {
    #[error("w1_slave is empty")]
    Empty,
    #[error("CRC check failed ('{0}')")]
    Crc(String),
    #[error(
        "all-zero scratchpad (passes the CRC but no DS18B20 sends it): DQ is held low — check \
         for a short, the 3.3 V supply and the 4.7 kΩ pull-up"
    )]
    AllZero,
    #[error("w1_slave has no temperature line")]
    NoTemperatureLine,
    #[error("no 't=' in '{0}'")]
    NoValue(String),
    #[error("'{0}' is not a temperature")]
    NotANumber(String),
    #[error("85 °C power-on value: the conversion did not run (power?)")]
    PowerOn,
    #[error("{0} m°C is outside the DS18B20's range")]
    OutOfRange(i64),
}

/// The temperature in °C from a `w1_slave` file, or why it is not usable.
pub fn parse_w1_slave(text: &str) -> Result<f64, W1Error> {
    let mut lines = text.lines();
    let crc_line = lines.next().ok_or(W1Error::Empty)?;
    if !crc_line.trim_end().ends_with("YES") {
        return Err(W1Error::Crc(crc_line.trim().to_string()));
    }
    if is_all_zero_scratchpad(crc_line) {
        return Err(W1Error::AllZero);
    }
    let value_line = lines.next().ok_or(W1Error::NoTemperatureLine)?;
    let raw = value_line
        .split("t=")
        .nth(1)
        .ok_or_else(|| W1Error::NoValue(value_line.trim().to_string()))?;
    let milli: i64 = raw
        .trim()
        .parse()
        .map_err(|_| W1Error::NotANumber(raw.trim().to_string()))?;
    check_range(milli)
}

/// True when the scratchpad bytes before `:` on the CRC line are all 00.
fn is_all_zero_scratchpad(crc_line: &str) -> bool {
    let bytes = crc_line.split(':').next().unwrap_or_default();
    let mut words = bytes.split_whitespace().peekable();
    words.peek().is_some() && words.all(|word| word == "00")
}

/// Refuses the power-on value and anything outside the part's range (-55..125 °C).
fn check_range(milli: i64) -> Result<f64, W1Error> {
    if milli == POWER_ON_MILLI_C {
        return Err(W1Error::PowerOn);
    }
    if !(-55_000..=125_000).contains(&milli) {
        return Err(W1Error::OutOfRange(milli));
    }
    Ok(milli as f64 / 1000.0)
}

/// A DS18B20 on the 1-wire bus.
pub struct Ds18b20 {
    name: String,
    /// `<root>/sys`.
    sys: PathBuf,
    /// `""` (first `28-*` found), a device id (`28-0316a2795dff`) or an absolute path.
    device: String,
    retry: RetryPolicy,
    pause: Box<dyn FnMut(Duration) + Send>,
    last_good: Option<f64>,
}

impl Ds18b20 {
    /// A DS18B20 under `sys` (normally `/sys`). Nothing is opened until the first read.
    pub fn new(name: &str, sys: &Path, device: &str, retry: RetryPolicy) -> Self {
        Ds18b20 {
            name: name.to_string(),
            sys: sys.to_path_buf(),
            device: device.to_string(),
            retry,
            pause: Box::new(super::sleep),
            last_good: None,
        }
    }

    /// Replaces the sleep between retries (tests use it to change fixtures mid-read).
    pub fn with_pause(mut self, pause: impl FnMut(Duration) + Send + 'static) -> Self {
        self.pause = Box::new(pause);
        self
    }

    /// The last temperature read successfully, kept when later reads fail.
    pub fn last_good(&self) -> Option<f64> {
        self.last_good
    }

    /// The device directory: the configured one, or the first `28-*` device.
    pub fn device_dir(&self) -> Result<PathBuf, SensorError> {
        let devices = self.sys.join("bus/w1/devices");
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
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(FAMILY_PREFIX)
            })
            .map(|entry| entry.path())
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
                    "no DS18B20 (28-*) under {}: add `dtoverlay=w1-gpio,gpiopin=4` (your pin) to \
                     config.txt, check the 4.7 kΩ pull-up, and reboot",
                    devices.display()
                ),
                ),
            })
    }

    fn read_once(&self) -> Result<f64, SensorError> {
        let dir = self.device_dir()?;
        let simple = dir.join("temperature");
        if simple.exists() {
            let value = read_thousandths(&self.name, &simple)?;
            // 0 °C may be an all-zero scratchpad: `w1_slave` shows which.
            let slave = std::fs::read_to_string(dir.join("w1_slave")).unwrap_or_default();
            if value == 0.0 && slave.lines().next().is_some_and(is_all_zero_scratchpad) {
                return Err(SensorError::BadData {
                    device: self.name.clone(),
                    detail: W1Error::AllZero.to_string(),
                });
            }
            return check_range((value * 1000.0).round() as i64).map_err(|error| {
                SensorError::BadData {
                    device: self.name.clone(),
                    detail: error.to_string(),
                }
            });
        }
        let path = dir.join("w1_slave");
        let text = std::fs::read_to_string(&path).map_err(|source| SensorError::Io {
            device: format!("{} ({})", self.name, path.display()),
            source,
        })?;
        parse_w1_slave(&text).map_err(|error| SensorError::BadData {
            device: self.name.clone(),
            detail: error.to_string(),
        })
    }
}

impl Sensor for Ds18b20 {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &str {
        "ds18b20"
    }

    fn read(&mut self) -> Result<Vec<Measurement>, SensorError> {
        let retry = self.retry;
        let mut pause = std::mem::replace(&mut self.pause, Box::new(|_| {}));
        let result = with_retries(retry, &mut *pause, || self.read_once());
        self.pause = pause;
        let value = result?;
        self.last_good = Some(value);
        Ok(vec![Measurement::new(Quantity::Temperature, value)])
    }
}
