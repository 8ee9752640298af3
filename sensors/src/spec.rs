//! `SensorSpec`, one `[[sensors]]` entry of the agent's config, and [`build_sensor`], which turns
//! it into a polled [`Sensor`] with its processing applied.
//!
//! Bus drivers (I2C, SPI, GPIO) need the `rpi` cargo feature; without it they fail with
//! [`SensorError::Unsupported`] naming the feature. sysfs drivers (DHT via IIO, DS18B20 via
//! 1-wire) and `sim` work in every build. This module never opens a bus itself: the `rpi`
//! module does.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::processing::{ProcessedSensor, Processing, PublishPolicy};
use crate::reading::Quantity;
use crate::sim::SimSensor;
use crate::sysfs::{DhtIio, Ds18b20, RetryPolicy};
use crate::{Sensor, SensorError};

/// One `[[sensors]]` entry. Every key but `driver`/`name` has a default; unknown keys are refused.
/// Keys that do not apply to the driver are ignored (see `docs/sensors.md` for which apply).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SensorSpec {
    /// The driver: `sim`, `bme280`, `sht3x`, `sht4x`, `dht11`, `dht22`, `ds18b20`,
    /// `mcp3008-sound`, `ads1115-sound`, `gpio-sound`.
    pub driver: String,
    /// Unique on this node; part of every reading's key.
    pub name: String,
    /// How often the sensor is read.
    pub poll_interval_s: u64,
    /// Seed of a simulated sensor (default: derived from the node and sensor names).
    pub seed: Option<u64>,
    /// I2C bus number (`/dev/i2c-N`); bus 1 is on header pins 3 (SDA) and 5 (SCL).
    pub i2c_bus: u8,
    /// 7-bit I2C address; default: the part's usual one (BME280 0x76, SHT3x/4x 0x44,
    /// ADS1115 0x48).
    pub i2c_address: Option<u8>,
    /// SPI bus number (`/dev/spidevB.C`).
    pub spi_bus: u8,
    /// SPI chip select (CE0 = 0, CE1 = 1).
    pub spi_chip_select: u8,
    /// SPI clock; the MCP3008 handles 1.35 MHz at 3.3 V.
    pub spi_clock_hz: u32,
    /// ADC input the microphone is wired to (MCP3008: 0–7, ADS1115: 0–3).
    pub adc_channel: u8,
    /// BCM GPIO number of a digital sound detector's output.
    pub gpio_pin: Option<u8>,
    /// True when the detector's output is low while it hears sound.
    pub active_low: bool,
    /// sysfs device: `""` = the first one found, an id (`iio:device0`, `28-0316a2795dff`) or an
    /// absolute path to the device directory.
    pub device: String,
    /// Sound: how long one reading listens.
    pub sample_window_ms: u64,
    /// Sound: how many samples are taken in that window.
    pub sample_count: u32,
    /// Sound: the level in dB a full-scale peak-to-peak signal corresponds to (calibrate
    /// against a sound meter, then fine-tune with `[sensors.sound] offset`).
    pub full_scale_db: f64,
    /// sysfs drivers: extra attempts after a failed read (DHT reads fail often).
    pub retries: u32,
    /// sysfs drivers: wait before the first retry; doubles on each further retry.
    pub retry_backoff_ms: u64,
    /// Processing of temperature values.
    pub temperature: Processing,
    /// Processing of humidity values.
    pub humidity: Processing,
    /// Processing of sound values.
    pub sound: Processing,
}

impl Default for SensorSpec {
    fn default() -> Self {
        SensorSpec {
            driver: "sim".into(),
            name: "desk".into(),
            poll_interval_s: 10,
            seed: None,
            i2c_bus: 1,
            i2c_address: None,
            spi_bus: 0,
            spi_chip_select: 0,
            spi_clock_hz: 1_000_000,
            adc_channel: 0,
            gpio_pin: None,
            active_low: false,
            device: String::new(),
            sample_window_ms: 500,
            sample_count: 250,
            full_scale_db: 90.0,
            retries: 3,
            retry_backoff_ms: 500,
            temperature: Processing::default(),
            humidity: Processing::default(),
            sound: Processing::default(),
        }
    }
}

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
            DriverKind::Sim => &Quantity::ALL,
            DriverKind::Bme280
            | DriverKind::Sht3x
            | DriverKind::Sht4x
            | DriverKind::Dht11
            | DriverKind::Dht22 => &[Quantity::Temperature, Quantity::Humidity],
            DriverKind::Ds18b20 => &[Quantity::Temperature],
            DriverKind::Mcp3008Sound | DriverKind::Ads1115Sound | DriverKind::GpioSound => {
                &[Quantity::Sound]
            }
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
}

impl SensorSpec {
    /// The driver this entry names.
    pub fn driver_kind(&self) -> Result<DriverKind, SensorError> {
        DriverKind::parse(&self.driver).ok_or_else(|| {
            let known: Vec<&str> = DriverKind::ALL.iter().map(|kind| kind.as_str()).collect();
            SensorError::Config(format!(
                "sensor '{}': unknown driver '{}' (known: {})",
                self.name,
                self.driver,
                known.join(", ")
            ))
        })
    }

    /// The I2C address to use: the configured one or the part's default.
    pub fn i2c_address_or_default(&self, kind: DriverKind) -> Option<u8> {
        self.i2c_address.or(kind.default_i2c_address())
    }

    /// The processing settings of one quantity.
    pub fn processing(&self, quantity: Quantity) -> &Processing {
        match quantity {
            Quantity::Temperature => &self.temperature,
            Quantity::Humidity => &self.humidity,
            Quantity::Sound => &self.sound,
        }
    }

    /// When a new value of `quantity` should be published (see [`PublishPolicy`]).
    pub fn publish_policy(&self, quantity: Quantity) -> PublishPolicy {
        self.processing(quantity).publish_policy()
    }

    /// The retry settings of sysfs drivers.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            retries: self.retries,
            backoff: std::time::Duration::from_millis(self.retry_backoff_ms),
        }
    }

    /// Checks what serde cannot: the driver name, ranges, and processing settings.
    pub fn validate(&self) -> Result<(), SensorError> {
        let fail = |message: String| {
            Err(SensorError::Config(format!(
                "sensor '{}': {message}",
                self.name
            )))
        };
        let kind = self.driver_kind()?;
        if self.poll_interval_s == 0 {
            return fail("poll_interval_s must be greater than 0".into());
        }
        if let Some(address) = self.i2c_address {
            if !(0x03..=0x77).contains(&address) {
                return fail(format!(
                    "i2c_address {address:#04x} is not a 7-bit device address (0x03–0x77)"
                ));
            }
        }
        let max_channel = match kind {
            DriverKind::Mcp3008Sound => 7,
            DriverKind::Ads1115Sound => 3,
            _ => u8::MAX,
        };
        if self.adc_channel > max_channel {
            return fail(format!(
                "adc_channel {} does not exist on the {} (0–{max_channel})",
                self.adc_channel, self.driver
            ));
        }
        if kind == DriverKind::GpioSound && self.gpio_pin.is_none() {
            return fail("driver gpio-sound needs gpio_pin (the BCM number)".into());
        }
        if self.sample_count == 0 || self.sample_window_ms == 0 {
            return fail("sample_count and sample_window_ms must be greater than 0".into());
        }
        if !self.full_scale_db.is_finite() {
            return fail("full_scale_db must be a finite number".into());
        }
        for quantity in Quantity::ALL {
            if let Err(message) = self.processing(quantity).validate() {
                return fail(format!("[sensors.{quantity}] {message}"));
            }
        }
        Ok(())
    }
}

/// Builds the sensor `spec` describes, with its processing applied. `default_seed` seeds a
/// simulated sensor whose entry has no `seed`. Bus devices are opened here; sysfs devices are
/// looked up on every read, so a sensor plugged in later is picked up.
pub fn build_sensor(spec: &SensorSpec, default_seed: u64) -> Result<Box<dyn Sensor>, SensorError> {
    build_sensor_at(spec, default_seed, Path::new("/"))
}

/// [`build_sensor`] with sysfs under `root` instead of `/` (tests use a fixture directory).
pub fn build_sensor_at(
    spec: &SensorSpec,
    default_seed: u64,
    root: &Path,
) -> Result<Box<dyn Sensor>, SensorError> {
    spec.validate()?;
    let kind = spec.driver_kind()?;
    let inner: Box<dyn Sensor> = match kind {
        DriverKind::Sim => Box::new(SimSensor::new(
            &spec.name,
            spec.seed.unwrap_or(default_seed),
        )),
        DriverKind::Dht11 | DriverKind::Dht22 => Box::new(DhtIio::new(
            &spec.name,
            kind,
            &root.join("sys"),
            &spec.device,
            spec.retry_policy(),
        )),
        DriverKind::Ds18b20 => Box::new(Ds18b20::new(
            &spec.name,
            &root.join("sys"),
            &spec.device,
            spec.retry_policy(),
        )),
        DriverKind::Bme280
        | DriverKind::Sht3x
        | DriverKind::Sht4x
        | DriverKind::Mcp3008Sound
        | DriverKind::Ads1115Sound
        | DriverKind::GpioSound => build_bus_sensor(spec, kind)?,
    };
    Ok(Box::new(ProcessedSensor::new(
        inner,
        spec.temperature.clone(),
        spec.humidity.clone(),
        spec.sound.clone(),
    )))
}

#[cfg(feature = "rpi")]
fn build_bus_sensor(spec: &SensorSpec, kind: DriverKind) -> Result<Box<dyn Sensor>, SensorError> {
    crate::rpi::build(spec, kind)
}

#[cfg(not(feature = "rpi"))]
fn build_bus_sensor(spec: &SensorSpec, kind: DriverKind) -> Result<Box<dyn Sensor>, SensorError> {
    let bus = match kind.interface() {
        Interface::Spi => "SPI",
        Interface::Gpio => "GPIO",
        _ => "I2C",
    };
    Err(SensorError::Unsupported(format!(
        "sensor '{}': driver '{}' needs the Raspberry Pi {bus} bus, which this build does not \
         include; build with the `rpi` feature (`cargo build --release --features \
         officemesh-sensors/rpi`)",
        spec.name,
        kind.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processing::Smoothing;

    fn parse(text: &str) -> Result<SensorSpec, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_and_full_entry_parse() {
        let spec = parse("").expect("empty entry is valid");
        assert_eq!(spec, SensorSpec::default());
        assert_eq!(spec.poll_interval_s, 10);

        let spec = parse(
            r#"
            driver = "bme280"
            name = "window"
            i2c_address = 0x77
            [temperature]
            offset = -1.5
            decimals = 1
            smoothing = { median = 5 }
            publish_delta = 0.2
            heartbeat_s = 300
            [humidity]
            two_point = { raw_low = 33.0, raw_high = 75.0, reference_low = 32.8, reference_high = 75.3 }
            smoothing = { moving_average = 3 }
            "#,
        )
        .expect("full entry parses");
        assert_eq!(spec.driver_kind().expect("known"), DriverKind::Bme280);
        assert_eq!(spec.i2c_address_or_default(DriverKind::Bme280), Some(0x77));
        assert_eq!(spec.temperature.smoothing, Smoothing::Median(5));
        assert_eq!(spec.humidity.smoothing, Smoothing::MovingAverage(3));
        assert_eq!(
            spec.publish_policy(Quantity::Temperature).heartbeat,
            Some(std::time::Duration::from_secs(300))
        );
        spec.validate().expect("valid");
    }

    #[test]
    fn unknown_keys_are_refused_at_every_level() {
        assert!(parse("i2c_adress = 0x76").is_err());
        assert!(parse("[temperature]\nofset = 1.0").is_err());
        assert!(parse("[temperature]\nsmoothing = { mean = 3 }").is_err());
    }

    #[test]
    fn validation_names_sensor_and_key() {
        let cases = [
            ("driver = 'bme680'", "unknown driver"),
            ("driver = 'gpio-sound'", "gpio_pin"),
            ("driver = 'mcp3008-sound'\nadc_channel = 8", "adc_channel"),
            ("i2c_address = 0x80", "i2c_address"),
            ("[sound]\nsmoothing = { median = 0 }", "[sensors.sound]"),
            ("poll_interval_s = 0", "poll_interval_s"),
        ];
        for (text, word) in cases {
            let spec = parse(&format!("name = 'hall'\n{text}")).expect(text);
            let err = spec.validate().expect_err(text).to_string();
            assert!(err.contains(word) && err.contains("hall"), "{text} → {err}");
        }
    }

    #[test]
    fn sim_uses_default_seed_unless_configured() {
        let spec = SensorSpec::default();
        let mut a = build_sensor(&spec, 1).expect("sim builds");
        let mut b = build_sensor(&spec, 1).expect("sim builds");
        let mut c = build_sensor(&spec, 2).expect("sim builds");
        let first = a.read().expect("sim reads");
        assert_eq!(first, b.read().expect("sim reads"));
        assert_ne!(first, c.read().expect("sim reads"));
        let seeded = SensorSpec {
            seed: Some(1),
            ..SensorSpec::default()
        };
        let mut d = build_sensor(&seeded, 99).expect("sim builds");
        assert_eq!(first, d.read().expect("sim reads"));
        assert_eq!(a.driver(), "sim");
    }

    #[test]
    fn processing_is_applied_to_built_sensors() {
        let spec = parse("seed = 5\n[temperature]\noffset = 100.0\ndecimals = 0").expect("parses");
        let mut plain = build_sensor(
            &SensorSpec {
                seed: Some(5),
                ..SensorSpec::default()
            },
            0,
        )
        .expect("sim builds");
        let mut shifted = build_sensor(&spec, 0).expect("sim builds");
        let plain_t = plain.read().expect("reads")[0].value;
        let shifted_t = shifted.read().expect("reads")[0].value;
        assert_eq!(shifted_t, (plain_t + 100.0).round());
    }

    #[cfg(not(feature = "rpi"))]
    #[test]
    fn bus_drivers_name_the_feature_without_rpi() {
        for driver in ["bme280", "sht3x", "sht4x", "mcp3008-sound", "ads1115-sound"] {
            let spec = SensorSpec {
                driver: driver.into(),
                ..SensorSpec::default()
            };
            match build_sensor(&spec, 0) {
                Err(SensorError::Unsupported(message)) => {
                    assert!(
                        message.contains("rpi") && message.contains(driver),
                        "{message}"
                    )
                }
                Err(other) => panic!("{driver}: unexpected error {other}"),
                Ok(_) => panic!("{driver}: built without the rpi feature"),
            }
        }
    }
}
