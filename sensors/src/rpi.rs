//! The Raspberry Pi backend (cargo feature `rpi`): opens the real I2C, SPI and GPIO devices with
//! rppal and hands them, through rppal's embedded-hal 1.x impls, to the generic [`drivers`].
//! This is the only module that touches rppal; it holds no driver logic.
//!
//! Opening fails with [`SensorError::Io`] when the bus is not enabled in `config.txt` or the
//! user lacks the `i2c`/`spi`/`gpio` group (see `officemesh doctor` and `docs/sensors.md`).
//!
//! [`drivers`]: crate::drivers

use rppal::gpio::Gpio;
use rppal::i2c::I2c;
use rppal::spi::{Bus, Mode, SimpleHalSpiDevice, SlaveSelect, Spi};

use crate::drivers::ads1115::Ads1115;
use crate::drivers::bme280::Bme280;
use crate::drivers::digital_sound::DigitalSoundDetector;
use crate::drivers::mcp3008::Mcp3008;
use crate::drivers::sht3x::Sht3x;
use crate::drivers::sht4x::Sht4x;
use crate::drivers::sound::SoundMeter;
use crate::drivers::StdDelay;
use crate::spec::{DriverKind, SensorSpec};
use crate::{Sensor, SensorError};

/// Builds a bus sensor on the Pi's real devices.
pub fn build(spec: &SensorSpec, kind: DriverKind) -> Result<Box<dyn Sensor>, SensorError> {
    let name = spec.name.as_str();
    let address = spec.i2c_address_or_default(kind).unwrap_or(0);
    let sensor: Box<dyn Sensor> = match kind {
        DriverKind::Bme280 => Box::new(Bme280::new(name, open_i2c(spec)?, StdDelay, address)),
        DriverKind::Sht3x => Box::new(Sht3x::new(name, open_i2c(spec)?, StdDelay, address)),
        DriverKind::Sht4x => Box::new(Sht4x::new(name, open_i2c(spec)?, StdDelay, address)),
        DriverKind::Ads1115Sound => Box::new(SoundMeter::new(
            name,
            Ads1115::new(open_i2c(spec)?, address, spec.adc_channel),
            StdDelay,
            spec.sample_count,
            spec.sample_window_ms,
            spec.full_scale_db,
        )),
        DriverKind::Mcp3008Sound => Box::new(SoundMeter::new(
            name,
            Mcp3008::new(SimpleHalSpiDevice::new(open_spi(spec)?), spec.adc_channel),
            StdDelay,
            spec.sample_count,
            spec.sample_window_ms,
            spec.full_scale_db,
        )),
        DriverKind::GpioSound => Box::new(DigitalSoundDetector::new(
            name,
            open_input_pin(spec)?,
            StdDelay,
            spec.active_low,
            spec.sample_count,
            spec.sample_window_ms,
        )),
        other => {
            return Err(SensorError::Unsupported(format!(
                "sensor '{name}': driver '{}' is not a bus driver",
                other.as_str()
            )))
        }
    };
    Ok(sensor)
}

/// An rppal error as [`SensorError::Io`] naming the sensor and what was opened.
fn open_error(spec: &SensorSpec, what: &str, err: impl std::fmt::Display) -> SensorError {
    SensorError::Io {
        device: spec.name.clone(),
        source: std::io::Error::other(format!("cannot open {what}: {err}")),
    }
}

fn open_i2c(spec: &SensorSpec) -> Result<I2c, SensorError> {
    I2c::with_bus(spec.i2c_bus)
        .map_err(|err| open_error(spec, &format!("/dev/i2c-{}", spec.i2c_bus), err))
}

fn open_spi(spec: &SensorSpec) -> Result<Spi, SensorError> {
    let what = format!("/dev/spidev{}.{}", spec.spi_bus, spec.spi_chip_select);
    let bus = match spec.spi_bus {
        0 => Bus::Spi0,
        1 => Bus::Spi1,
        2 => Bus::Spi2,
        3 => Bus::Spi3,
        4 => Bus::Spi4,
        5 => Bus::Spi5,
        6 => Bus::Spi6,
        other => return Err(open_error(spec, &what, format!("no SPI bus {other}"))),
    };
    let chip_select = match spec.spi_chip_select {
        0 => SlaveSelect::Ss0,
        1 => SlaveSelect::Ss1,
        2 => SlaveSelect::Ss2,
        other => return Err(open_error(spec, &what, format!("no chip select {other}"))),
    };
    // The MCP3008 samples on rising edges with the clock idle low: SPI mode 0.
    Spi::new(bus, chip_select, spec.spi_clock_hz, Mode::Mode0)
        .map_err(|err| open_error(spec, &what, err))
}

fn open_input_pin(spec: &SensorSpec) -> Result<rppal::gpio::InputPin, SensorError> {
    let pin = spec
        .gpio_pin
        .ok_or_else(|| SensorError::Config(format!("sensor '{}': gpio_pin missing", spec.name)))?;
    let what = format!("GPIO {pin}");
    let gpio = Gpio::new().map_err(|err| open_error(spec, &what, err))?;
    Ok(gpio
        .get(pin)
        .map_err(|err| open_error(spec, &what, err))?
        .into_input())
}
