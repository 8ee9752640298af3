//! [`build_sensor`]: turns a validated [`SensorSpec`] into a polled [`Sensor`] with its
//! processing applied, picking the simulated, sysfs or Pi-bus implementation. Opens nothing
//! itself: bus devices are opened by the `rpi` module, sysfs devices on every read.

use std::path::Path;

use crate::kind::DriverKind;
use crate::processing::ProcessedSensor;
use crate::sim::SimSensor;
use crate::spec::SensorSpec;
use crate::sysfs::{DhtIio, Ds18b20};
use crate::{Sensor, SensorError};

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

/// Without the `rpi` feature (on by default; off only for non-Linux builds) bus drivers say so.
#[cfg(not(feature = "rpi"))]
fn build_bus_sensor(spec: &SensorSpec, kind: DriverKind) -> Result<Box<dyn Sensor>, SensorError> {
    Err(SensorError::Unsupported(format!(
        "sensor '{}': driver '{}' needs the Raspberry Pi buses, which this build leaves out \
         (built with --no-default-features); build with the default features on Linux",
        spec.name,
        kind.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SensorSpec, toml::de::Error> {
        toml::from_str(text)
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

    /// A Pi config on a host without the device fails on the device (naming it and the fix),
    /// never on the build.
    #[cfg(feature = "rpi")]
    #[test]
    fn bus_drivers_fail_on_the_missing_device_naming_it() {
        let cases = [
            ("bme280", "i2c_bus = 57", "/dev/i2c-57"),
            ("sht4x", "i2c_bus = 57", "/dev/i2c-57"),
            ("ads1115-sound", "i2c_bus = 57", "/dev/i2c-57"),
            (
                "mcp3008-sound",
                "spi_bus = 6\nspi_chip_select = 2",
                "/dev/spidev6.2",
            ),
        ];
        for (driver, keys, path) in cases {
            if Path::new(path).exists() {
                eprintln!("skipping {driver}: {path} exists on this machine");
                continue;
            }
            let spec = parse(&format!("driver = '{driver}'\nname = 'x'\n{keys}")).expect(driver);
            let err = match build_sensor(&spec, 0) {
                Err(err) => err.to_string(),
                Ok(_) => panic!("{driver}: opened {path}, which does not exist"),
            };
            assert!(
                err.contains(&format!("cannot open {path}")),
                "{driver}: {err}"
            );
            assert!(
                err.contains("os error 2"),
                "{driver}: the OS error is kept: {err}"
            );
            assert!(err.contains("config.txt"), "{driver}: no fix in {err}");
        }
    }
}
