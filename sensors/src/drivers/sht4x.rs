//! Sensirion SHT4x (SHT40/41/45) temperature and humidity over I2C: one high-precision
//! measurement per read (datasheet section 4.5, command 0xFD, at most 8.3 ms), CRC-checked.
//! Address 0x44 (SHT4x-A) or 0x45/0x46 for the B/C variants.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::sensirion::{measure_raw, temperature_and_humidity, temperature_celsius};
use super::BusFault;
use crate::reading::Measurement;
use crate::{Sensor, SensorError};

/// The default address of the SHT4x-A variants.
pub const DEFAULT_ADDRESS: u8 = 0x44;
/// Measure T & RH with high precision (high repeatability).
pub const CMD_MEASURE_HIGH_PRECISION: u8 = 0xFD;
/// Maximum measurement duration at high precision, rounded up (datasheet table 4).
pub const MEASURE_TIME_MS: u32 = 10;

/// Relative humidity in % from a raw word: `-6 + 125 * raw / 65535`, cropped to 0–100 as the
/// datasheet (section 4.6) recommends.
pub fn humidity_percent(raw: u16) -> f64 {
    (-6.0 + 125.0 * f64::from(raw) / 65535.0).clamp(0.0, 100.0)
}

/// An SHT4x on an I2C bus.
pub struct Sht4x<I, D> {
    name: String,
    i2c: I,
    delay: D,
    address: u8,
}

impl<I: I2c, D: DelayNs> Sht4x<I, D>
where
    I::Error: BusFault,
{
    pub fn new(name: &str, i2c: I, delay: D, address: u8) -> Self {
        Sht4x {
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
            &[CMD_MEASURE_HIGH_PRECISION],
            MEASURE_TIME_MS,
        )?;
        Ok((temperature_celsius(raw_t), humidity_percent(raw_h)))
    }

    /// Gives the bus back (tests call `done()` on a mock).
    pub fn release(self) -> I {
        self.i2c
    }
}

impl<I: I2c + Send, D: DelayNs + Send> Sensor for Sht4x<I, D>
where
    I::Error: BusFault,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &str {
        "sht4x"
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
    fn high_precision_measurement_converts_per_datasheet() {
        // 0x6666 → 25.00 °C; 0x8000 → -6 + 125·32768/65535 = 56.50 %RH.
        let expectations = [
            Transaction::write(0x44, vec![0xFD]),
            Transaction::read(0x44, encode_measurement(0x6666, 0x8000).to_vec()),
        ];
        let mut sensor = Sht4x::new("desk", Mock::new(&expectations), NoopDelay::new(), 0x44);
        let readings = sensor.read().expect("good answer");
        assert!((readings[0].value - 25.0).abs() < 0.01, "{readings:?}");
        assert!((readings[1].value - 56.5).abs() < 0.01, "{readings:?}");
        sensor.release().done();
    }

    #[test]
    fn humidity_is_cropped_to_physical_range() {
        assert_eq!(humidity_percent(0), 0.0);
        assert_eq!(humidity_percent(0xFFFF), 100.0);
        assert!((humidity_percent(0x0D00) - 0.348).abs() < 0.001);
    }

    #[test]
    fn crc_failure_is_bad_data() {
        let mut answer = encode_measurement(0x6666, 0x8000);
        answer[0] ^= 0x10;
        let expectations = [
            Transaction::write(0x44, vec![0xFD]),
            Transaction::read(0x44, answer.to_vec()),
        ];
        let mut sensor = Sht4x::new("desk", Mock::new(&expectations), NoopDelay::new(), 0x44);
        assert!(matches!(sensor.read(), Err(SensorError::BadData { .. })));
        sensor.release().done();
    }
}
