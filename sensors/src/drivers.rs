//! Bus drivers, generic over embedded-hal 1.x traits (`i2c::I2c`, `spi::SpiDevice`,
//! `digital::InputPin`, `delay::DelayNs`), so they compile and are tested on any host against
//! embedded-hal-mock transactions built from datasheet values. Each driver implements
//! [`Sensor`](crate::Sensor). Opening the Pi's real buses is the `rpi` module's job, not this one's.
//!
//! - [`bme280`]: Bosch BME280 temperature/humidity (I2C), integer compensation from the datasheet.
//! - [`sht3x`], [`sht4x`]: Sensirion temperature/humidity (I2C), CRC-checked ([`sensirion`]).
//! - [`mcp3008`], [`ads1115`]: ADCs sampling an analog microphone for [`sound`] levels.
//! - [`digital_sound`]: a sound detector's digital output, reported as the share of loud samples.

pub mod ads1115;
pub mod bme280;
pub mod digital_sound;
pub mod mcp3008;
pub mod sensirion;
pub mod sht3x;
pub mod sht4x;
pub mod sound;

use crate::SensorError;

/// A bus error as a [`SensorError::Io`] naming the device (embedded-hal errors carry only a kind).
pub(crate) fn bus_error(device: &str, bus: &str, kind: impl std::fmt::Debug) -> SensorError {
    SensorError::Io {
        device: device.to_string(),
        source: std::io::Error::other(format!("{bus} transfer failed: {kind:?}")),
    }
}

/// [`bus_error`] for an I2C error.
pub(crate) fn i2c_error<E: embedded_hal::i2c::Error>(device: &str, err: E) -> SensorError {
    bus_error(device, "I2C", err.kind())
}

/// [`bus_error`] for an SPI error.
pub(crate) fn spi_error<E: embedded_hal::spi::Error>(device: &str, err: E) -> SensorError {
    bus_error(device, "SPI", err.kind())
}

/// A delay that sleeps the calling thread: drivers run on the agent's blocking threads.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdDelay;

impl embedded_hal::delay::DelayNs for StdDelay {
    fn delay_ns(&mut self, ns: u32) {
        std::thread::sleep(std::time::Duration::from_nanos(u64::from(ns)));
    }
}
