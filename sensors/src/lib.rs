//! officemesh hardware layer: what a Pi can measure and see, behind small traits.
//!
//! - [`reading`]: the measurement types every driver produces (`Quantity`, `Measurement`).
//! - [`Sensor`]: the one trait every driver implements; the agent polls it and never sees a bus.
//! - [`sim`]: simulated sensors and simulated network devices, deterministic for a seed, so the
//!   agent runs with live-looking data on a laptop.
//! - [`presence`]: neighbour (MAC ↔ IP) observations, the `PresenceScanner` trait, the kernel
//!   neighbour-table scanner (`NeighborScanner`) and the debouncing `PresenceTracker`.
//! - [`kind`]: `DriverKind`, what each driver needs from the Pi and reports.
//! - [`spec`]: `SensorSpec` (one `[[sensors]]` config entry), its defaults and validation, and
//!   `check_unique_devices` (no two entries on one bus address).
//! - [`build`]: `build_sensor`, a spec to a polled sensor.
//! - [`processing`]: calibration, smoothing, rounding (`ProcessedSensor`) and `PublishPolicy`.
//! - [`drivers`]: bus drivers generic over embedded-hal 1.x (BME280, SHT3x, SHT4x, MCP3008,
//!   ADS1115, digital sound detector); they compile and test on any host.
//! - [`sysfs`]: kernel-driver sensors read from files (DHT11/22 via IIO, DS18B20 via 1-wire).
//! - [`doctor`]: checks of what people usually get wrong on a Pi, each with a fix.
//! - `rpi` (feature `rpi`, on by default): opens the Pi's real buses with rppal and hands them
//!   to `drivers` through thin glue that keeps the OS error; also probes I2C addresses for the
//!   doctor. rppal builds on any Linux host, so every Linux build has the bus drivers and a Pi
//!   config on another machine fails on the missing device, not on the build.
//! - [`simbus`]: simulated buses that behave like rppal's (its SPI segment mapping, its I2C
//!   errno on a NACK) with chip models behind them, for tests and the sound sampler bench.
//!
//! This crate never depends on tokio, SQLite or the agent: it measures and returns values.

pub mod build;
pub mod doctor;
pub mod drivers;
pub mod kind;
pub mod presence;
pub mod processing;
pub mod reading;
pub mod rpi;
pub mod sim;
pub mod simbus;
pub mod spec;
pub mod sync;
pub mod sysfs;

pub use build::build_sensor;
pub use doctor::{run_checks, Check};
pub use kind::DriverKind;
pub use presence::{
    MacAddr, MacParseError, Neighbor, NeighborScanner, PresenceEvent, PresenceScanner,
    PresenceTracker,
};
pub use processing::{
    ProcessedSensor, Processing, ProcessingError, PublishPolicy, Smoothing, TwoPoint,
};
pub use reading::{Measurement, Quantity};
pub use spec::{check_unique_devices, SensorSpec};

/// Why a sensor read failed. Each variant says what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    /// The bus or device file could not be used (permissions, missing overlay, unplugged wire).
    #[error("{device}: {source} (check wiring, the config.txt overlay and group membership)")]
    Io {
        device: String,
        #[source]
        source: std::io::Error,
    },
    /// A bus transfer failed: what failed (naming the device file and address), what to try,
    /// and the OS error itself (errno kept, so EIO/EBUSY/EREMOTEIO stay recognisable).
    #[error("{device}: {what} — {fix} ({source})")]
    Bus {
        device: String,
        what: String,
        fix: String,
        #[source]
        source: std::io::Error,
    },
    /// The device answered with data that failed its own check (CRC, out of range).
    #[error("{device}: bad data: {detail}")]
    BadData { device: String, detail: String },
    /// An analog input that carries no signal at all (flat or stuck at a rail): an unplugged
    /// or dead microphone module or ADC, not a quiet room.
    #[error("{device}: no signal: {detail}")]
    NoSignal { device: String, detail: String },
    /// The device did not answer in time; transient for DHT-type sensors.
    #[error("{device}: timed out")]
    Timeout { device: String },
    /// The configuration names something this build cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// The configuration entry is invalid; the message names the sensor and the key.
    #[error("{0}")]
    Config(String),
}

/// A sensor the agent can poll. Implementations own their bus handle and keep no global state.
pub trait Sensor: Send {
    /// The configured name of this sensor (`[[sensors]] name`), unique on one node.
    fn name(&self) -> &str;
    /// The driver kind as written in config (`"bme280"`, `"sim"`, ...).
    fn driver(&self) -> &str;
    /// Take one reading now. May block for the sensor's conversion time (milliseconds).
    fn read(&mut self) -> Result<Vec<Measurement>, SensorError>;
}
