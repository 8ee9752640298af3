//! officemesh hardware layer: what a Pi can measure and see, behind small traits.
//!
//! - [`reading`]: the measurement types every driver produces (`Quantity`, `Measurement`).
//! - [`Sensor`]: the one trait every driver implements; the agent polls it and never sees a bus.
//! - [`sim`]: simulated sensors and simulated network devices, deterministic for a seed, so the
//!   agent runs with live-looking data on a laptop.
//! - [`presence`]: neighbour (MAC ↔ IP) observations and the `PresenceScanner` trait.
//!
//! This crate never depends on tokio, SQLite or the agent: it measures and returns values.

pub mod presence;
pub mod reading;
pub mod sim;

pub use presence::{MacAddr, MacParseError, Neighbor, PresenceScanner};
pub use reading::{Measurement, Quantity};

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
    /// The device answered with data that failed its own check (CRC, out of range).
    #[error("{device}: bad data: {detail}")]
    BadData { device: String, detail: String },
    /// The device did not answer in time; transient for DHT-type sensors.
    #[error("{device}: timed out")]
    Timeout { device: String },
    /// The configuration names something this build cannot do.
    #[error("{0}")]
    Unsupported(String),
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
