//! `SensorSpec`, one `[[sensors]]` entry of the agent's config: its keys, the defaults that
//! depend on the driver (office polling and publish rules for temperature/humidity parts), its
//! validation, and [`check_unique_devices`], which refuses two entries on one bus address.
//! Pure data and checks: never opens a device (`build` and `rpi` do).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::kind::{DriverKind, Interface};
use crate::processing::{Processing, PublishPolicy};
use crate::reading::Quantity;
use crate::sysfs::RetryPolicy;
use crate::SensorError;

/// One `[[sensors]]` entry. Every key but `driver`/`name` has a default; unknown keys are refused.
/// Keys that do not apply to the driver are ignored (see `docs/sensors.md` for which apply).
/// Parsed through [`SpecFile`], which fills the driver-dependent defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "SpecFile")]
pub struct SensorSpec {
    /// The driver: `sim`, `bme280`, `sht3x`, `sht4x`, `dht11`, `dht22`, `ds18b20`,
    /// `mcp3008-sound`, `ads1115-sound`, `gpio-sound`.
    pub driver: String,
    /// Unique on this node; part of every reading's key.
    pub name: String,
    /// How often the sensor is read (and, for sound, the Leq interval). Default: 30 s for
    /// temperature/humidity parts, 10 s otherwise.
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
    /// Sound: the RMS window (analog) or the detector's counting window (gpio-sound).
    pub sample_window_ms: u64,
    /// gpio-sound: how many pin samples are taken in that window.
    pub sample_count: u32,
    /// Analog sound: samples per second the sampler aims for; default: the driver's (MCP3008
    /// 8000 (4000 on the armv6 build), ADS1115 860, its fastest data rate). The rate reached is logged.
    pub sample_rate_hz: Option<u32>,
    /// Analog sound: dB SPL of a 0 dBFS signal, added to the measured Leq in dBFS. 0 publishes
    /// dBFS (uncalibrated); see "Calibrating a microphone" in docs/sensors.md.
    pub calibration_db: f64,
    /// Replaced by `calibration_db`; kept only to refuse it with a pointer to the new key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_scale_db: Option<f64>,
    /// sysfs drivers: extra attempts after a failed read (DHT reads fail often).
    pub retries: u32,
    /// sysfs drivers: wait before the first retry; doubles on each further retry.
    pub retry_backoff_ms: u64,
    /// Processing of temperature values.
    pub temperature: Processing,
    /// Processing of humidity values.
    pub humidity: Processing,
    /// Processing of sound values (the level, or a detector's activity percentage).
    pub sound: Processing,
}

/// Poll interval of temperature/humidity parts when the entry gives none.
pub const OFFICE_POLL_INTERVAL_S: u64 = 30;
/// Poll interval of every other driver when the entry gives none.
pub const DEFAULT_POLL_INTERVAL_S: u64 = 10;
/// Temperature/humidity parts publish at least this often when the value does not move.
pub const OFFICE_HEARTBEAT_S: u64 = 300;
/// Temperature/humidity parts publish when the temperature moved more than this (°C).
pub const OFFICE_TEMPERATURE_DELTA: f64 = 0.1;
/// Temperature/humidity parts publish when the humidity moved more than this (%RH).
pub const OFFICE_HUMIDITY_DELTA: f64 = 1.0;

impl Default for SensorSpec {
    fn default() -> Self {
        SpecFile::default().into()
    }
}

/// The file form of a [`SensorSpec`]: the same keys, with `None` where the default depends on
/// the driver. Only serde sees it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SpecFile {
    driver: String,
    name: String,
    poll_interval_s: Option<u64>,
    seed: Option<u64>,
    i2c_bus: u8,
    i2c_address: Option<u8>,
    spi_bus: u8,
    spi_chip_select: u8,
    spi_clock_hz: u32,
    adc_channel: u8,
    gpio_pin: Option<u8>,
    active_low: bool,
    device: String,
    sample_window_ms: u64,
    sample_count: u32,
    sample_rate_hz: Option<u32>,
    calibration_db: f64,
    full_scale_db: Option<f64>,
    retries: u32,
    retry_backoff_ms: u64,
    temperature: Processing,
    humidity: Processing,
    sound: Processing,
}

impl Default for SpecFile {
    fn default() -> Self {
        SpecFile {
            driver: "sim".into(),
            name: "desk".into(),
            poll_interval_s: None,
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
            sample_rate_hz: None,
            calibration_db: 0.0,
            full_scale_db: None,
            retries: 3,
            retry_backoff_ms: 500,
            temperature: Processing::default(),
            humidity: Processing::default(),
            sound: Processing::default(),
        }
    }
}

impl From<SpecFile> for SensorSpec {
    fn from(file: SpecFile) -> Self {
        let office = DriverKind::parse(&file.driver).is_some_and(DriverKind::is_climate_part);
        let mut temperature = file.temperature;
        let mut humidity = file.humidity;
        if office {
            office_publish_defaults(&mut temperature, OFFICE_TEMPERATURE_DELTA);
            office_publish_defaults(&mut humidity, OFFICE_HUMIDITY_DELTA);
        }
        let default_poll = if office {
            OFFICE_POLL_INTERVAL_S
        } else {
            DEFAULT_POLL_INTERVAL_S
        };
        SensorSpec {
            driver: file.driver,
            name: file.name,
            poll_interval_s: file.poll_interval_s.unwrap_or(default_poll),
            seed: file.seed,
            i2c_bus: file.i2c_bus,
            i2c_address: file.i2c_address,
            spi_bus: file.spi_bus,
            spi_chip_select: file.spi_chip_select,
            spi_clock_hz: file.spi_clock_hz,
            adc_channel: file.adc_channel,
            gpio_pin: file.gpio_pin,
            active_low: file.active_low,
            device: file.device,
            sample_window_ms: file.sample_window_ms,
            sample_count: file.sample_count,
            sample_rate_hz: file.sample_rate_hz,
            calibration_db: file.calibration_db,
            full_scale_db: file.full_scale_db,
            retries: file.retries,
            retry_backoff_ms: file.retry_backoff_ms,
            temperature,
            humidity,
            sound: file.sound,
        }
    }
}

/// A delta and a heartbeat for a climate quantity whose entry sets neither publish rule.
fn office_publish_defaults(processing: &mut Processing, delta: f64) {
    if processing.publish_delta.is_none() && processing.heartbeat_s.is_none() {
        processing.publish_delta = Some(delta);
        processing.heartbeat_s = Some(OFFICE_HEARTBEAT_S);
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

    /// The analog sampler's target rate: the configured one or the driver's default.
    pub fn sample_rate_or_default(&self, kind: DriverKind) -> u32 {
        self.sample_rate_hz
            .unwrap_or_else(|| kind.default_sample_rate_hz())
    }

    /// The processing settings of one quantity.
    pub fn processing(&self, quantity: Quantity) -> &Processing {
        match quantity {
            Quantity::Temperature => &self.temperature,
            Quantity::Humidity => &self.humidity,
            Quantity::Sound | Quantity::SoundActivity => &self.sound,
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

    /// The device this entry occupies on a shared bus, as text (`/dev/i2c-1 address 0x76`), for
    /// the duplicate check; `None` for drivers that share nothing (sim, sysfs).
    pub fn bus_slot(&self) -> Option<String> {
        let kind = self.driver_kind().ok()?;
        match kind.interface() {
            Interface::I2c => Some(format!(
                "/dev/i2c-{} address {:#04x}",
                self.i2c_bus,
                self.i2c_address_or_default(kind)?
            )),
            Interface::Spi => Some(format!(
                "/dev/spidev{}.{}",
                self.spi_bus, self.spi_chip_select
            )),
            Interface::Gpio => Some(format!("GPIO {}", self.gpio_pin?)),
            Interface::None | Interface::Iio | Interface::OneWire => None,
        }
    }

    /// Checks what serde cannot: the driver name, ranges, and processing settings.
    pub fn validate(&self) -> Result<(), SensorError> {
        let kind = self.driver_kind()?;
        if self.poll_interval_s == 0 {
            return Err(self.invalid("poll_interval_s must be greater than 0".into()));
        }
        let min_interval = kind.min_read_interval().as_secs();
        if self.poll_interval_s < min_interval {
            return Err(self.invalid(format!(
                "poll_interval_s must be at least {min_interval} for a {} (it needs that long \
                 between reads)",
                kind.as_str()
            )));
        }
        self.check_wiring(kind)?;
        self.check_sampling(kind)?;
        for quantity in Quantity::ALL {
            if let Err(message) = self.processing(quantity).validate() {
                return Err(self.invalid(format!("[sensors.{quantity}] {message}")));
            }
        }
        Ok(())
    }

    /// Where the chip is: a 7-bit I2C address, an ADC channel the converter has, a GPIO pin
    /// where the driver needs one.
    fn check_wiring(&self, kind: DriverKind) -> Result<(), SensorError> {
        if let Some(address) = self.i2c_address {
            if !(0x03..=0x77).contains(&address) {
                return Err(self.invalid(format!(
                    "i2c_address {address:#04x} is not a 7-bit device address (0x03–0x77)"
                )));
            }
        }
        let max_channel = match kind {
            DriverKind::Mcp3008Sound => 7,
            DriverKind::Ads1115Sound => 3,
            _ => u8::MAX,
        };
        if self.adc_channel > max_channel {
            return Err(self.invalid(format!(
                "adc_channel {} does not exist on the {} (0–{max_channel})",
                self.adc_channel, self.driver
            )));
        }
        if kind == DriverKind::GpioSound && self.gpio_pin.is_none() {
            return Err(self.invalid("driver gpio-sound needs gpio_pin (the BCM number)".into()));
        }
        Ok(())
    }

    /// How sound is sampled: counts, window, rate within the chip's, the calibration.
    fn check_sampling(&self, kind: DriverKind) -> Result<(), SensorError> {
        if self.sample_count == 0 || self.sample_window_ms == 0 {
            return Err(
                self.invalid("sample_count and sample_window_ms must be greater than 0".into())
            );
        }
        if let Some(rate) = self.sample_rate_hz {
            let max = kind.max_sample_rate_hz();
            if rate == 0 || rate > max {
                return Err(self.invalid(format!(
                    "sample_rate_hz {rate} is outside 1–{max} for a {}",
                    kind.as_str()
                )));
            }
        }
        if self.full_scale_db.is_some() {
            return Err(self.invalid(
                "full_scale_db was replaced by calibration_db (the dB SPL of a 0 dBFS signal; \
                 see \"Calibrating a microphone\" in docs/sensors.md)"
                    .into(),
            ));
        }
        if !self.calibration_db.is_finite() {
            return Err(self.invalid("calibration_db must be a finite number".into()));
        }
        Ok(())
    }

    /// A configuration error naming this sensor.
    fn invalid(&self, message: String) -> SensorError {
        SensorError::Config(format!("sensor '{}': {message}", self.name))
    }
}

/// Refuses two entries on one bus device (the same I2C bus and address, SPI chip select or
/// GPIO pin): both would read the same chip, or fight over it. Call it wherever the list of
/// specs of one node is built.
pub fn check_unique_devices(specs: &[SensorSpec]) -> Result<(), SensorError> {
    let mut owners: BTreeMap<String, &str> = BTreeMap::new();
    for spec in specs {
        let Some(slot) = spec.bus_slot() else {
            continue;
        };
        if let Some(first) = owners.insert(slot.clone(), &spec.name) {
            return Err(SensorError::Config(format!(
                "sensors '{first}' and '{}' both use {slot}: give one of them another \
                 i2c_address/bus (or remove the duplicate entry)",
                spec.name
            )));
        }
    }
    Ok(())
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
    fn climate_parts_get_office_defaults_unless_configured() {
        let spec = parse("driver = 'bme280'").expect("parses");
        assert_eq!(spec.poll_interval_s, OFFICE_POLL_INTERVAL_S);
        let policy = spec.publish_policy(Quantity::Temperature);
        assert_eq!(policy.delta, Some(OFFICE_TEMPERATURE_DELTA));
        assert_eq!(
            policy.heartbeat,
            Some(std::time::Duration::from_secs(OFFICE_HEARTBEAT_S))
        );
        assert_eq!(
            spec.publish_policy(Quantity::Humidity).delta,
            Some(OFFICE_HUMIDITY_DELTA)
        );
        // An explicit rule or interval wins; sim and sound keep publishing every reading.
        let spec =
            parse("driver = 'sht4x'\npoll_interval_s = 60\n[temperature]\nheartbeat_s = 120")
                .expect("parses");
        assert_eq!(spec.poll_interval_s, 60);
        assert_eq!(spec.temperature.publish_delta, None);
        assert_eq!(spec.temperature.heartbeat_s, Some(120));
        for driver in ["sim", "mcp3008-sound"] {
            let spec = parse(&format!("driver = '{driver}'")).expect("parses");
            assert_eq!(spec.poll_interval_s, DEFAULT_POLL_INTERVAL_S);
            assert_eq!(
                spec.publish_policy(Quantity::Temperature),
                PublishPolicy::default()
            );
        }
    }

    #[test]
    fn part_limits_and_replaced_keys_are_refused() {
        let cases = [
            ("driver = 'dht22'\npoll_interval_s = 1", "at least 2"),
            (
                "driver = 'ads1115-sound'\nsample_rate_hz = 2000",
                "sample_rate_hz",
            ),
            (
                "driver = 'mcp3008-sound'\nsample_rate_hz = 0",
                "sample_rate_hz",
            ),
            (
                "driver = 'mcp3008-sound'\nfull_scale_db = 90.0",
                "calibration_db",
            ),
            (
                "driver = 'mcp3008-sound'\ncalibration_db = nan",
                "calibration_db",
            ),
        ];
        for (text, word) in cases {
            let spec = parse(&format!("name = 'hall'\n{text}")).expect(text);
            let err = spec.validate().expect_err(text).to_string();
            assert!(err.contains(word) && err.contains("hall"), "{text} → {err}");
        }
        let spec = parse("driver = 'ads1115-sound'").expect("parses");
        assert_eq!(spec.sample_rate_or_default(DriverKind::Ads1115Sound), 860);
        spec.validate().expect("defaults are valid");
    }

    #[test]
    fn two_entries_on_one_bus_device_are_refused() {
        let table: toml::Table = toml::from_str(
            r#"
            [[sensors]]
            driver = "bme280"
            name = "desk"
            [[sensors]]
            driver = "sht4x"
            name = "window"
            i2c_address = 0x76
            [[sensors]]
            driver = "bme280"
            name = "other-bus"
            i2c_bus = 3
            "#,
        )
        .expect("toml");
        let specs: Vec<SensorSpec> = table["sensors"].clone().try_into().expect("specs");
        let err = check_unique_devices(&specs)
            .expect_err("0x76 twice")
            .to_string();
        assert!(
            err.contains("desk")
                && err.contains("window")
                && err.contains("/dev/i2c-1 address 0x76"),
            "{err}"
        );
        check_unique_devices(&[specs[0].clone(), specs[2].clone()]).expect("different buses");
        let sims = [SensorSpec::default(), SensorSpec::default()];
        check_unique_devices(&sims).expect("sim shares no bus");
        let spi = SensorSpec {
            driver: "mcp3008-sound".into(),
            ..SensorSpec::default()
        };
        let err = check_unique_devices(&[spi.clone(), spi]).expect_err("CE0 twice");
        assert!(err.to_string().contains("/dev/spidev0.0"), "{err}");
    }
}
