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
    /// Sound level in dB (calibrated per sensor), or share of loud time for digital detectors.
    Sound,
}

impl Quantity {
    /// All quantities, in display order.
    pub const ALL: [Quantity; 3] = [Quantity::Temperature, Quantity::Humidity, Quantity::Sound];

    /// The unit values of this quantity are expressed in.
    pub fn unit(self) -> &'static str {
        match self {
            Quantity::Temperature => "°C",
            Quantity::Humidity => "%",
            Quantity::Sound => "dB",
        }
    }

    /// The name used in keys, URLs and config (`temperature`, `humidity`, `sound`).
    pub fn as_str(self) -> &'static str {
        match self {
            Quantity::Temperature => "temperature",
            Quantity::Humidity => "humidity",
            Quantity::Sound => "sound",
        }
    }

    /// Parses a quantity name, accepting the short forms people type (`temp`, `hum`, `noise`).
    pub fn parse(text: &str) -> Option<Quantity> {
        match text.trim().to_ascii_lowercase().as_str() {
            "temperature" | "temp" => Some(Quantity::Temperature),
            "humidity" | "hum" => Some(Quantity::Humidity),
            "sound" | "noise" => Some(Quantity::Sound),
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
