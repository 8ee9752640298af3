//! What Sensirion's SHT3x and SHT4x share: the CRC-8 over each 16-bit word (polynomial 0x31,
//! init 0xFF, no reflection, no final XOR), the 6-byte "T word, CRC, RH word, CRC" answer, the
//! temperature formula, and the one measurement transfer (command, wait, read, check).
//! Holds no command codes, timings or humidity formulas: those differ per family and stay in
//! `sht3x` / `sht4x`, which own the bus.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::BusFault;
use crate::reading::{Measurement, Quantity};
use crate::SensorError;

/// CRC-8 as in the SHT3x/SHT4x datasheets; `crc8(&[0xBE, 0xEF]) == 0x92`.
pub fn crc8(data: &[u8]) -> u8 {
    let mut crc: u8 = 0xFF;
    for byte in data {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x31
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A word of a measurement answer whose CRC does not match (`what`: temperature or humidity).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} CRC mismatch (got {got:#04x}, expected {expected:#04x}): check the wiring and pull-ups"
)]
pub struct CrcMismatch {
    pub what: &'static str,
    pub got: u8,
    pub expected: u8,
}

/// The two raw words of a measurement answer, each checked against its CRC.
pub fn parse_measurement(answer: &[u8; 6]) -> Result<(u16, u16), CrcMismatch> {
    let word = |offset: usize, what: &'static str| {
        let pair = [answer[offset], answer[offset + 1]];
        let expected = crc8(&pair);
        if expected != answer[offset + 2] {
            return Err(CrcMismatch {
                what,
                got: answer[offset + 2],
                expected,
            });
        }
        Ok(u16::from_be_bytes(pair))
    };
    Ok((word(0, "temperature")?, word(3, "humidity")?))
}

/// Temperature in °C from a raw word: `-45 + 175 * raw / 65535` (both families).
pub fn temperature_celsius(raw: u16) -> f64 {
    -45.0 + 175.0 * f64::from(raw) / 65535.0
}

/// One measurement on `i2c`: writes `command` to `address`, waits `wait_ms`, reads the 6-byte
/// answer and checks both CRCs. Gives the raw (temperature, humidity) words; errors name `device`.
pub(crate) fn measure_raw<I: I2c, D: DelayNs>(
    device: &str,
    i2c: &mut I,
    delay: &mut D,
    address: u8,
    command: &[u8],
    wait_ms: u32,
) -> Result<(u16, u16), SensorError>
where
    I::Error: BusFault,
{
    i2c.write(address, command)
        .map_err(|e| super::i2c_failure(device, address, e))?;
    delay.delay_ms(wait_ms);
    let mut answer = [0u8; 6];
    i2c.read(address, &mut answer)
        .map_err(|e| super::i2c_failure(device, address, e))?;
    parse_measurement(&answer).map_err(|mismatch| SensorError::BadData {
        device: device.to_string(),
        detail: mismatch.to_string(),
    })
}

/// A reading of both families: temperature in °C, then relative humidity in %.
pub(crate) fn temperature_and_humidity(temperature: f64, humidity: f64) -> Vec<Measurement> {
    vec![
        Measurement::new(Quantity::Temperature, temperature),
        Measurement::new(Quantity::Humidity, humidity),
    ]
}

/// The answer a sensor would send for two raw words (used by tests to build mock responses).
pub fn encode_measurement(temperature: u16, humidity: u16) -> [u8; 6] {
    let t = temperature.to_be_bytes();
    let h = humidity.to_be_bytes();
    [t[0], t[1], crc8(&t), h[0], h[1], crc8(&h)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_datasheet_example() {
        // SHT3x datasheet table 19 / SHT4x datasheet section 4.4: CRC(0xBEEF) = 0x92.
        assert_eq!(crc8(&[0xBE, 0xEF]), 0x92);
        assert_eq!(crc8(&[0x00, 0x00]), 0x81);
    }

    #[test]
    fn parse_checks_each_word() {
        let good = encode_measurement(0x6666, 0x8000);
        assert_eq!(parse_measurement(&good), Ok((0x6666, 0x8000)));
        let mut bad_t = good;
        bad_t[2] ^= 1;
        assert!(parse_measurement(&bad_t)
            .expect_err("bad crc")
            .to_string()
            .contains("temperature"));
        let mut bad_h = good;
        bad_h[4] ^= 0x40;
        assert!(parse_measurement(&bad_h)
            .expect_err("bad crc")
            .to_string()
            .contains("humidity"));
    }

    #[test]
    fn temperature_formula_end_points() {
        assert_eq!(temperature_celsius(0), -45.0);
        assert_eq!(temperature_celsius(0xFFFF), 130.0);
        assert!((temperature_celsius(0x6666) - 25.0).abs() < 0.001);
    }
}
