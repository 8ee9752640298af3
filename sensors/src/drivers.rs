//! Bus drivers, generic over embedded-hal 1.x traits (`i2c::I2c`, `spi::SpiDevice`,
//! `digital::InputPin`, `delay::DelayNs`), so they compile and are tested on any host against
//! embedded-hal-mock transactions built from datasheet values. Each driver implements
//! [`Sensor`](crate::Sensor). Opening the Pi's real buses is the `rpi` module's job, not this one's.
//! Bus errors go through `BusFault`; the Pi glue's `OsBusError` keeps the OS error and names
//! the device file.
//!
//! - [`bme280`]: Bosch BME280 temperature/humidity (I2C), integer compensation from the datasheet.
//! - [`sht3x`], [`sht4x`]: Sensirion temperature/humidity (I2C), CRC-checked ([`sensirion`]).
//! - [`mcp3008`], [`ads1115`]: ADCs sampling an analog microphone for [`sound`] levels.
//! - [`digital_sound`]: a sound detector's digital output, reported as the share of loud samples.

pub mod ads1115;
pub mod bme280;
pub mod digital_sound;
pub mod frame_bus;
pub mod mcp3008;
pub mod sensirion;
pub mod sht3x;
pub mod sht4x;
pub mod sound;
pub mod sound_signal;

use std::io;

use embedded_hal::{digital, i2c, spi};

use crate::SensorError;

/// What a bus error can say beyond its embedded-hal kind: the OS error behind it and the device
/// file it came from. The Pi glue's [`OsBusError`] carries both; mock and infallible errors
/// make an OS-less error from their kind. Drivers require it of their bus's error type so no
/// errno is lost on the way to the user.
pub trait BusFault: std::fmt::Debug {
    /// The OS error behind this bus error (errno kept), or one describing its kind.
    fn into_io_error(self) -> io::Error;
    /// The device file (`/dev/i2c-1`), when known.
    fn bus_path(&self) -> Option<&str> {
        None
    }
}

/// A bus error from the kernel: the OS error of a read, write or ioctl on a device file, as the
/// Pi glue reports it. Its embedded-hal kind comes from the errno (EREMOTEIO/ENXIO: no
/// acknowledge, EIO: bus error, EAGAIN: arbitration loss).
#[derive(Debug)]
pub struct OsBusError {
    /// The device file (`/dev/i2c-1`, `/dev/spidev0.0`, `GPIO 17`).
    pub path: String,
    pub source: io::Error,
}

impl OsBusError {
    pub fn new(path: impl Into<String>, source: io::Error) -> Self {
        OsBusError {
            path: path.into(),
            source,
        }
    }

    fn errno(&self) -> Option<nix::errno::Errno> {
        self.source.raw_os_error().map(nix::errno::Errno::from_raw)
    }
}

impl std::fmt::Display for OsBusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.source)
    }
}

impl BusFault for OsBusError {
    fn into_io_error(self) -> io::Error {
        self.source
    }
    fn bus_path(&self) -> Option<&str> {
        Some(&self.path)
    }
}

impl i2c::Error for OsBusError {
    fn kind(&self) -> i2c::ErrorKind {
        use nix::errno::Errno;
        match self.errno() {
            Some(Errno::EREMOTEIO | Errno::ENXIO) => {
                i2c::ErrorKind::NoAcknowledge(i2c::NoAcknowledgeSource::Address)
            }
            Some(Errno::EIO) => i2c::ErrorKind::Bus,
            Some(Errno::EAGAIN) => i2c::ErrorKind::ArbitrationLoss,
            _ => i2c::ErrorKind::Other,
        }
    }
}

impl spi::Error for OsBusError {
    fn kind(&self) -> spi::ErrorKind {
        spi::ErrorKind::Other
    }
}

impl digital::Error for OsBusError {
    fn kind(&self) -> digital::ErrorKind {
        digital::ErrorKind::Other
    }
}

impl BusFault for i2c::ErrorKind {
    fn into_io_error(self) -> io::Error {
        io::Error::other(format!("I2C {self}"))
    }
}

impl BusFault for spi::ErrorKind {
    fn into_io_error(self) -> io::Error {
        io::Error::other(format!("SPI {self}"))
    }
}

impl BusFault for digital::ErrorKind {
    fn into_io_error(self) -> io::Error {
        io::Error::other(format!("GPIO {self}"))
    }
}

impl BusFault for std::convert::Infallible {
    fn into_io_error(self) -> io::Error {
        match self {}
    }
}

#[cfg(test)]
impl BusFault for embedded_hal_mock::eh1::MockError {
    fn into_io_error(self) -> io::Error {
        io::Error::other(format!("{self:?}"))
    }
}

/// True when the OS error says a kernel driver holds the address (EBUSY from I2C_SLAVE).
pub fn is_busy(source: &io::Error) -> bool {
    source.raw_os_error() == Some(nix::errno::Errno::EBUSY as i32)
}

/// An I2C error of `sensor` talking to `address`, explained: a NACK is "no device at 0x76 on
/// /dev/i2c-1", EBUSY names the kernel driver problem; the OS error is kept as the source.
pub(crate) fn i2c_failure<E: i2c::Error + BusFault>(
    sensor: &str,
    address: u8,
    err: E,
) -> SensorError {
    let bus = err.bus_path().unwrap_or("the I2C bus").to_string();
    let nack = matches!(err.kind(), i2c::ErrorKind::NoAcknowledge(_));
    let source = err.into_io_error();
    let (what, fix) = if nack {
        (
            format!("no device at {address:#04x} on {bus}"),
            "check the wiring (SDA, SCL, 3.3 V, GND) and the address (`i2cdetect -y 1`)".into(),
        )
    } else if is_busy(&source) {
        (
            format!("{address:#04x} on {bus} is held by a kernel driver"),
            "remove the `dtoverlay=i2c-sensor,…` line for this part from config.txt and reboot \
             (`officemesh doctor` names the driver)"
                .into(),
        )
    } else {
        (
            format!("I2C transfer with {address:#04x} on {bus} failed"),
            "check the wiring and pull-ups; a loose wire gives EIO or a timeout".to_string(),
        )
    };
    SensorError::Bus {
        device: sensor.to_string(),
        what,
        fix,
        source,
    }
}

/// `err` with its fix replaced (a driver that knows better, e.g. the BME280's other address).
pub(crate) fn with_fix(err: SensorError, better: String) -> SensorError {
    match err {
        SensorError::Bus {
            device,
            what,
            source,
            ..
        } => SensorError::Bus {
            device,
            what,
            fix: better,
            source,
        },
        other => other,
    }
}

/// An SPI error of `sensor`, with the OS error kept.
pub(crate) fn spi_failure<E: BusFault>(sensor: &str, err: E) -> SensorError {
    let bus = err.bus_path().unwrap_or("the SPI bus").to_string();
    SensorError::Bus {
        device: sensor.to_string(),
        what: format!("SPI transfer on {bus} failed"),
        fix: "check `dtparam=spi=on` in config.txt and the wiring".into(),
        source: err.into_io_error(),
    }
}

/// A GPIO error of `sensor`, with the OS error kept.
pub(crate) fn gpio_failure<E: BusFault>(sensor: &str, err: E) -> SensorError {
    let pin = err.bus_path().unwrap_or("the GPIO pin").to_string();
    SensorError::Bus {
        device: sensor.to_string(),
        what: format!("reading {pin} failed"),
        fix: "check gpio_pin (a BCM number) and the `gpio` group".into(),
        source: err.into_io_error(),
    }
}

/// A delay that sleeps the calling thread: drivers run on the agent's blocking threads.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdDelay;

impl embedded_hal::delay::DelayNs for StdDelay {
    fn delay_ns(&mut self, ns: u32) {
        std::thread::sleep(std::time::Duration::from_nanos(u64::from(ns)));
    }
}
