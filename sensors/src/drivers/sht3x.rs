//! Sensirion SHT3x (SHT30/31/35) temperature and humidity over I2C: one single-shot,
//! high-repeatability measurement without clock stretching per read (datasheet section 4.3,
//! command 0x2400, at most 15.5 ms), CRC-checked. Address 0x44 (ADDR low) or 0x45.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::sensirion::{measure_raw, temperature_and_humidity, temperature_celsius};
use super::BusFault;
use crate::reading::Measurement;
use crate::{Sensor, SensorError};

/// The default address (ADDR pin to GND).
pub const DEFAULT_ADDRESS: u8 = 0x44;
/// Single shot, high repeatability, clock stretching disabled.
pub const CMD_MEASURE_HIGH_REPEATABILITY: [u8; 2] = [0x24, 0x00];
/// Maximum measurement duration at high repeatability, rounded up (datasheet table 4).
pub const MEASURE_TIME_MS: u32 = 16;

/// Relative humidity in % from a raw word: `100 * raw / 65535` (datasheet section 4.13).
pub fn humidity_percent(raw: u16) -> f64 {
    100.0 * f64::from(raw) / 65535.0
}

/// An SHT3x on an I2C bus.
pub struct Sht3x<I, D> {
    name: String,
    i2c: I,
    delay: D,
    address: u8,
}

impl<I: I2c, D: DelayNs> Sht3x<I, D>
where
    I::Error: BusFault,
{
    pub fn new(name: &str, i2c: I, delay: D, address: u8) -> Self {
        Sht3x {
            name: name.to_string(),
            i2c,
            delay,
            address,
        }
    }

    /// One measurement: (°C, %RH).
    pub fn measure(&mut self) -> Result<(f64, f64), SensorError> {
        let (raw_t, raw_h) = measure_raw(
            &self.name,
            &mut self.i2c,
            &mut self.delay,
            self.address,
            &CMD_MEASURE_HIGH_REPEATABILITY,
            MEASURE_TIME_MS,
        )?;
        Ok((temperature_celsius(raw_t), humidity_percent(raw_h)))
    }

    /// Gives the bus back (tests call `done()` on a mock).
    pub fn release(self) -> I {
        self.i2c
    }
}

impl<I: I2c + Send, D: DelayNs + Send> Sensor for Sht3x<I, D>
where
    I::Error: BusFault,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &str {
        "sht3x"
    }

    fn read(&mut self) -> Result<Vec<Measurement>, SensorError> {
        let (temperature, humidity) = self.measure()?;
        Ok(temperature_and_humidity(temperature, humidity))
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    use super::*;
    use crate::drivers::sensirion::encode_measurement;

    #[test]
    fn single_shot_measurement_converts_per_datasheet() {
        // 0x6666 → -45 + 175·26214/65535 = 25.00 °C; 0x8000 → 100·32768/65535 = 50.00 %RH.
        let expectations = [
            Transaction::write(0x44, vec![0x24, 0x00]),
            Transaction::read(0x44, encode_measurement(0x6666, 0x8000).to_vec()),
        ];
        let mut sensor = Sht3x::new("desk", Mock::new(&expectations), NoopDelay::new(), 0x44);
        let readings = sensor.read().expect("good answer");
        assert!((readings[0].value - 25.0).abs() < 0.01, "{readings:?}");
        assert!((readings[1].value - 50.0).abs() < 0.01, "{readings:?}");
        sensor.release().done();
    }

    #[test]
    fn crc_failure_is_bad_data_not_a_value() {
        let mut answer = encode_measurement(0x6666, 0x8000);
        answer[5] ^= 0xFF;
        let expectations = [
            Transaction::write(0x45, vec![0x24, 0x00]),
            Transaction::read(0x45, answer.to_vec()),
        ];
        let mut sensor = Sht3x::new("desk", Mock::new(&expectations), NoopDelay::new(), 0x45);
        assert!(matches!(sensor.read(), Err(SensorError::BadData { .. })));
        sensor.release().done();
    }

    #[test]
    fn nack_is_a_bus_error_naming_the_sensor_and_address() {
        use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
        let expectations = [Transaction::write(0x44, vec![0x24, 0x00])
            .with_error(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))];
        let mut sensor = Sht3x::new("hall", Mock::new(&expectations), NoopDelay::new(), 0x44);
        let err = sensor.read().expect_err("nack");
        assert!(matches!(err, SensorError::Bus { .. }));
        let text = err.to_string();
        assert!(
            text.contains("hall") && text.contains("no device at 0x44"),
            "{text}"
        );
        sensor.release().done();
    }
}
