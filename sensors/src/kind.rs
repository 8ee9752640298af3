//! `DriverKind`, the drivers this crate knows, with what each needs from the Pi ([`Interface`]),
//! the quantities it reports and its default I2C address. It also holds each part's limits
//! (such as the highest rate it converts at). Pure data: no I/O, no config parsing,
//! no knowledge of how a driver is built.

use crate::reading::Quantity;

/// The drivers this crate knows, parsed from `SensorSpec::driver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    Sim,
    Bme280,
    Sht3x,
    Sht4x,
    Dht11,
    Dht22,
    Ds18b20,
    Mcp3008Sound,
    Ads1115Sound,
    GpioSound,
}

/// What a driver needs from the Pi; drives build errors and the doctor's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    None,
    I2c,
    Spi,
    Gpio,
    Iio,
    OneWire,
}

/// Built for ARMv6 (the armv6 build runs ARMv5TE code: no `v7` target feature).
const SINGLE_CORE_ARMV6: bool = cfg!(all(target_arch = "arm", not(target_feature = "v7")));

impl DriverKind {
    /// Every driver, in the order the docs list them.
    pub const ALL: [DriverKind; 10] = [
        DriverKind::Sim,
        DriverKind::Bme280,
        DriverKind::Sht3x,
        DriverKind::Sht4x,
        DriverKind::Dht11,
        DriverKind::Dht22,
        DriverKind::Ds18b20,
        DriverKind::Mcp3008Sound,
        DriverKind::Ads1115Sound,
        DriverKind::GpioSound,
    ];

    /// The name used in config.
    pub fn as_str(self) -> &'static str {
        match self {
            DriverKind::Sim => "sim",
            DriverKind::Bme280 => "bme280",
            DriverKind::Sht3x => "sht3x",
            DriverKind::Sht4x => "sht4x",
            DriverKind::Dht11 => "dht11",
            DriverKind::Dht22 => "dht22",
            DriverKind::Ds18b20 => "ds18b20",
            DriverKind::Mcp3008Sound => "mcp3008-sound",
            DriverKind::Ads1115Sound => "ads1115-sound",
            DriverKind::GpioSound => "gpio-sound",
        }
    }

    /// Parses a config driver name (case-insensitive).
    pub fn parse(text: &str) -> Option<DriverKind> {
        let lower = text.trim().to_ascii_lowercase();
        DriverKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == lower)
    }

    /// The kernel interface the driver goes through.
    pub fn interface(self) -> Interface {
        match self {
            DriverKind::Sim => Interface::None,
            DriverKind::Bme280 | DriverKind::Sht3x | DriverKind::Sht4x => Interface::I2c,
            DriverKind::Ads1115Sound => Interface::I2c,
            DriverKind::Mcp3008Sound => Interface::Spi,
            DriverKind::GpioSound => Interface::Gpio,
            DriverKind::Dht11 | DriverKind::Dht22 => Interface::Iio,
            DriverKind::Ds18b20 => Interface::OneWire,
        }
    }

    /// The quantities the driver reports.
    pub fn quantities(self) -> &'static [Quantity] {
        match self {
            DriverKind::Sim => &[Quantity::Temperature, Quantity::Humidity, Quantity::Sound],
            DriverKind::Bme280
            | DriverKind::Sht3x
            | DriverKind::Sht4x
            | DriverKind::Dht11
            | DriverKind::Dht22 => &[Quantity::Temperature, Quantity::Humidity],
            DriverKind::Ds18b20 => &[Quantity::Temperature],
            DriverKind::Mcp3008Sound | DriverKind::Ads1115Sound => &[Quantity::Sound],
            DriverKind::GpioSound => &[Quantity::SoundActivity],
        }
    }

    /// The I2C address used when the config gives none.
    pub fn default_i2c_address(self) -> Option<u8> {
        match self {
            DriverKind::Bme280 => Some(0x76),
            DriverKind::Sht3x | DriverKind::Sht4x => Some(0x44),
            DriverKind::Ads1115Sound => Some(0x48),
            _ => None,
        }
    }

    /// True for the temperature/humidity parts that get the office defaults (30 s polling, a
    /// publish delta and a heartbeat). `sim` is not one: it keeps publishing every reading.
    pub fn is_climate_part(self) -> bool {
        matches!(
            self,
            DriverKind::Bme280
                | DriverKind::Sht3x
                | DriverKind::Sht4x
                | DriverKind::Dht11
                | DriverKind::Dht22
                | DriverKind::Ds18b20
        )
    }

    /// The shortest time the part needs between two reads (DHT22: 2 s, DHT11: 1 s, per their
    /// datasheets); zero for the others.
    pub fn min_read_interval(self) -> std::time::Duration {
        match self {
            DriverKind::Dht22 => std::time::Duration::from_secs(2),
            DriverKind::Dht11 => std::time::Duration::from_secs(1),
            _ => std::time::Duration::ZERO,
        }
    }

    /// The analog sampler's default rate: the ADS1115's fastest data rate (860 SPS); for the
    /// MCP3008 a rate a Pi's spidev sustains with CPU to spare (see docs/performance.md).
    ///
    /// MCP3008: 8000/s, but 4000/s on a 32-bit ARM without ARMv7 (the armv6 build for a Pi
    /// 1/Zero/Zero W, one ARM1176 core that also runs gossip, presence and the API): 4 kHz
    /// still covers speech (up to 2 kHz) and keeps the sampler a few % of that core
    /// (docs/performance.md, "Sound sampler").
    pub fn default_sample_rate_hz(self) -> u32 {
        match self {
            DriverKind::Ads1115Sound => 860,
            _ if SINGLE_CORE_ARMV6 => 4000,
            _ => 8000,
        }
    }

    /// The highest rate the part converts at (ADS1115 860 SPS; MCP3008 75 ksps at 2.7 V).
    pub fn max_sample_rate_hz(self) -> u32 {
        match self {
            DriverKind::Ads1115Sound => 860,
            _ => 75_000,
        }
    }
}
