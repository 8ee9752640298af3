//! The Raspberry Pi backend: opens the real I2C, SPI and GPIO devices with rppal (cargo feature
//! `rpi`, on by default; rppal builds on any Linux host) and hands them to the generic
//! [`drivers`] through thin glue ([`i2c::PiI2c`], [`spi::PiSpi`]) that names the device file and
//! keeps the OS error. Holds no driver logic and no chip knowledge.
//!
//! Opening fails with [`SensorError::Bus`] naming the device file and the fix when the bus is not
//! enabled in `config.txt`, the user lacks the `i2c`/`spi`/`gpio` group, or the machine is not
//! a Pi (see `officemesh doctor` and `docs/sensors.md`).
//!
//! [`drivers`]: crate::drivers

pub mod i2c;
pub mod probe;
pub mod spi;

#[cfg(feature = "rpi")]
pub use open::build;

#[cfg(feature = "rpi")]
mod open {
    use rppal::gpio::Gpio;
    use rppal::i2c::I2c;
    use rppal::spi::{Bus, Mode, SlaveSelect, Spi};

    use super::i2c::PiI2c;
    use super::spi::PiSpiFrames;
    use crate::drivers::ads1115::Ads1115;
    use crate::drivers::bme280::Bme280;
    use crate::drivers::digital_sound::DigitalSoundDetector;
    use crate::drivers::mcp3008::Mcp3008;
    use crate::drivers::sht3x::Sht3x;
    use crate::drivers::sht4x::Sht4x;
    use crate::drivers::sound::{SoundMeter, SoundSettings};
    use crate::drivers::StdDelay;
    use crate::kind::DriverKind;
    use crate::spec::SensorSpec;
    use crate::{Sensor, SensorError};

    /// Builds a bus sensor on the Pi's real devices.
    pub fn build(spec: &SensorSpec, kind: DriverKind) -> Result<Box<dyn Sensor>, SensorError> {
        let name = spec.name.as_str();
        let address = spec.i2c_address_or_default(kind).unwrap_or(0);
        let sound = SoundSettings {
            window_ms: spec.sample_window_ms,
            rate_hz: spec.sample_rate_or_default(kind),
            calibration_db: spec.calibration_db,
        };
        let sensor: Box<dyn Sensor> = match kind {
            DriverKind::Bme280 => Box::new(Bme280::new(name, open_i2c(spec)?, StdDelay, address)),
            DriverKind::Sht3x => Box::new(Sht3x::new(name, open_i2c(spec)?, StdDelay, address)),
            DriverKind::Sht4x => Box::new(Sht4x::new(name, open_i2c(spec)?, StdDelay, address)),
            DriverKind::Ads1115Sound => Box::new(SoundMeter::start(
                name,
                Ads1115::new(open_i2c(spec)?, address, spec.adc_channel, StdDelay),
                sound,
            )),
            DriverKind::Mcp3008Sound => Box::new(SoundMeter::start(
                name,
                Mcp3008::new(open_spi(spec)?, spec.adc_channel).with_clock_hz(spec.spi_clock_hz),
                sound,
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

    /// An open failure as [`SensorError::Io`]: the sensor, the device file, the OS error, and
    /// the fix.
    fn open_error(spec: &SensorSpec, path: &str, fix: &str, source: std::io::Error) -> SensorError {
        SensorError::Io {
            device: format!("sensor '{}': cannot open {path}", spec.name),
            source: std::io::Error::new(source.kind(), format!("{source}; {fix}")),
        }
    }

    /// The fix for a device file that cannot be opened, by the OS error.
    fn open_fix(source: &std::io::Error, enable: &str, group: &str) -> String {
        match source.kind() {
            std::io::ErrorKind::PermissionDenied => format!(
                "add the user to the `{group}` group (sudo usermod -aG {group} $USER) and restart"
            ),
            _ => format!(
                "enable it with `{enable}` in /boot/firmware/config.txt and reboot, or fix \
                 i2c_bus/spi_bus in the config (`officemesh doctor` checks it)"
            ),
        }
    }

    fn open_i2c(spec: &SensorSpec) -> Result<PiI2c<I2c>, SensorError> {
        let path = format!("/dev/i2c-{}", spec.i2c_bus);
        match I2c::with_bus(spec.i2c_bus) {
            Ok(bus) => Ok(PiI2c::new(bus, path)),
            Err(err) => {
                let source = super::i2c::rppal_i2c_io(err);
                let fix = open_fix(&source, "dtparam=i2c_arm=on", "i2c");
                Err(open_error(spec, &path, &fix, source))
            }
        }
    }

    fn open_spi(spec: &SensorSpec) -> Result<PiSpiFrames, SensorError> {
        let path = format!("/dev/spidev{}.{}", spec.spi_bus, spec.spi_chip_select);
        let invalid = |what: String| {
            open_error(
                spec,
                &path,
                "use spi_bus 0–6 and spi_chip_select 0–2",
                std::io::Error::new(std::io::ErrorKind::InvalidInput, what),
            )
        };
        let bus = match spec.spi_bus {
            0 => Bus::Spi0,
            1 => Bus::Spi1,
            2 => Bus::Spi2,
            3 => Bus::Spi3,
            4 => Bus::Spi4,
            5 => Bus::Spi5,
            6 => Bus::Spi6,
            other => return Err(invalid(format!("no SPI bus {other}"))),
        };
        let chip_select = match spec.spi_chip_select {
            0 => SlaveSelect::Ss0,
            1 => SlaveSelect::Ss1,
            2 => SlaveSelect::Ss2,
            other => return Err(invalid(format!("no chip select {other}"))),
        };
        // The MCP3008 samples on rising edges with the clock idle low: SPI mode 0.
        match Spi::new(bus, chip_select, spec.spi_clock_hz, Mode::Mode0) {
            Ok(spi) => Ok(PiSpiFrames::new(spi, path)),
            Err(err) => {
                let source = crate::drivers::BusFault::into_io_error(err);
                let fix = open_fix(&source, "dtparam=spi=on", "spi");
                Err(open_error(spec, &path, &fix, source))
            }
        }
    }

    fn open_input_pin(spec: &SensorSpec) -> Result<rppal::gpio::InputPin, SensorError> {
        let pin = spec.gpio_pin.ok_or_else(|| {
            SensorError::Config(format!("sensor '{}': gpio_pin missing", spec.name))
        })?;
        let what = format!("GPIO {pin}");
        let gpio_error = |err: rppal::gpio::Error| {
            let source = match err {
                rppal::gpio::Error::Io(source) => source,
                rppal::gpio::Error::PermissionDenied(path) => std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{path}: permission denied"),
                ),
                rppal::gpio::Error::UnknownModel => std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not a Raspberry Pi (rppal cannot identify the model)",
                ),
                other => std::io::Error::other(other.to_string()),
            };
            let fix = open_fix(&source, "a Raspberry Pi OS kernel (/dev/gpiomem)", "gpio");
            open_error(spec, &what, &fix, source)
        };
        let gpio = Gpio::new().map_err(gpio_error)?;
        Ok(gpio.get(pin).map_err(gpio_error)?.into_input())
    }
}
