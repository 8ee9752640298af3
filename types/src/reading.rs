//! Measurement types shared by every driver and by the agent's replicated state.
//! Pure data: no I/O, no clocks.

use serde::{Deserialize, Serialize};

/// What a measurement measures. The unit is fixed per quantity so values compare across Pis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// Air temperature in degrees Celsius.
    Temperature,
    /// Relative humidity in percent.
    Humidity,
    /// Sound level: the Leq of the poll interval in dBFS plus the sensor's `calibration_db`
    /// (dB SPL once calibrated).
    Sound,
    /// Share of time a digital sound detector heard sound over its threshold, in percent: an
    /// activity/occupancy signal, not a level (a comparator module cannot measure dB).
    SoundActivity,
}

impl Quantity {
    /// All quantities, in display order.
    pub const ALL: [Quantity; 4] = [
        Quantity::Temperature,
        Quantity::Humidity,
        Quantity::Sound,
        Quantity::SoundActivity,
    ];

    /// The unit values of this quantity are expressed in.
    pub fn unit(self) -> &'static str {
        match self {
            Quantity::Temperature => "°C",
            Quantity::Humidity => "%",
            Quantity::Sound => "dB",
            Quantity::SoundActivity => "%",
        }
    }

    /// The name used in keys, URLs and config (`temperature`, `humidity`, `sound`).
    pub fn as_str(self) -> &'static str {
        match self {
            Quantity::Temperature => "temperature",
            Quantity::Humidity => "humidity",
            Quantity::Sound => "sound",
            Quantity::SoundActivity => "sound_activity",
        }
    }

    /// Home Assistant's `device_class` for values of this quantity; `None` for sound activity,
    /// a percentage no device class describes (it is not `sound_pressure`).
    pub fn ha_device_class(self) -> Option<&'static str> {
        match self {
            Quantity::Temperature => Some("temperature"),
            Quantity::Humidity => Some("humidity"),
            Quantity::Sound => Some("sound_pressure"),
            Quantity::SoundActivity => None,
        }
    }

    /// Parses a quantity name, accepting the short forms people type (`temp`, `hum`, `noise`).
    pub fn parse(text: &str) -> Option<Quantity> {
        match text.trim().to_ascii_lowercase().as_str() {
            "temperature" | "temp" => Some(Quantity::Temperature),
            "humidity" | "hum" => Some(Quantity::Humidity),
            "sound" | "noise" => Some(Quantity::Sound),
            "sound_activity" | "activity" => Some(Quantity::SoundActivity),
            _ => None,
        }
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value of one quantity, as a driver produced it (after the driver's own conversion).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub quantity: Quantity,
    pub value: f64,
}

impl Measurement {
    pub fn new(quantity: Quantity, value: f64) -> Self {
        Measurement { quantity, value }
    }
}
