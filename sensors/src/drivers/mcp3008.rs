//! Microchip MCP3008, an 8-channel 10-bit ADC on SPI, used to sample an analog microphone
//! module. One conversion is one 3-byte transfer (datasheet section 6.1, figure 6-1):
//! `[0x01 (start bit), SGL/DIFF·D2·D1·D0 in the high nibble, don't care]`; the answer's last
//! 10 bits are the result (B9..B8 in byte 1, B7..B0 in byte 2).

use embedded_hal::spi::SpiDevice;

use super::sound::AdcSampler;
use crate::SensorError;

/// The start bit, alone in the first byte so the result lands byte-aligned.
pub const START: u8 = 0x01;
/// Single-ended mode bit (SGL/DIFF = 1), in the second byte's high nibble.
pub const SINGLE_ENDED: u8 = 0x80;
/// Largest conversion result.
pub const FULL_SCALE: u16 = 1023;

/// The bytes sent for one single-ended conversion of `channel` (0–7).
pub fn command(channel: u8) -> [u8; 3] {
    [START, SINGLE_ENDED | ((channel & 0x07) << 4), 0x00]
}

/// The 10-bit result in an answer; the other bits are undefined (null bit, high-Z) and masked.
pub fn result(answer: &[u8; 3]) -> u16 {
    (u16::from(answer[1] & 0x03) << 8) | u16::from(answer[2])
}

/// One channel of an MCP3008.
pub struct Mcp3008<S> {
    spi: S,
    channel: u8,
}

impl<S: SpiDevice> Mcp3008<S> {
    pub fn new(spi: S, channel: u8) -> Self {
        Mcp3008 {
            spi,
            channel: channel & 0x07,
        }
    }

    /// One single-ended conversion of the channel, 0–1023.
    pub fn read_channel(&mut self, device: &str) -> Result<u16, SensorError> {
        let mut buffer = command(self.channel);
        self.spi
            .transfer_in_place(&mut buffer)
            .map_err(|e| super::spi_error(device, e))?;
        Ok(result(&buffer))
    }

    /// Gives the SPI device back (tests call `done()` on a mock).
    pub fn release(self) -> S {
        self.spi
    }
}

impl<S: SpiDevice> AdcSampler for Mcp3008<S> {
    const DRIVER: &'static str = "mcp3008-sound";

    fn sample(&mut self, device: &str) -> Result<i32, SensorError> {
        self.read_channel(device).map(i32::from)
    }

    fn full_scale(&self) -> f64 {
        f64::from(FULL_SCALE)
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::spi::{Mock, Transaction};

    use super::*;
    use crate::drivers::sound::SoundMeter;
    use crate::Sensor;

    fn conversion(channel: u8, answer: [u8; 3]) -> Vec<Transaction<u8>> {
        vec![
            Transaction::transaction_start(),
            Transaction::transfer_in_place(command(channel).to_vec(), answer.to_vec()),
            Transaction::transaction_end(),
        ]
    }

    #[test]
    fn command_frames_match_the_datasheet() {
        assert_eq!(command(0), [0x01, 0x80, 0x00]);
        assert_eq!(command(5), [0x01, 0xD0, 0x00]);
        assert_eq!(command(7), [0x01, 0xF0, 0x00]);
    }

    #[test]
    fn three_byte_transfer_gives_the_ten_bit_result() {
        // Undefined high bits set on purpose: only B9..B0 count. 0b10_1001_1010 = 666.
        let expectations = conversion(3, [0xFF, 0xFA, 0x9A]);
        let mut adc = Mcp3008::new(Mock::new(&expectations), 3);
        assert_eq!(adc.read_channel("mic").expect("transfer"), 666);
        adc.release().done();
    }

    #[test]
    fn sound_meter_reports_peak_to_peak_in_db() {
        // Samples 256, 767, 512: peak-to-peak 511 of 1023 → full_scale_db − 6.02 dB.
        let mut expectations = conversion(0, [0x00, 0x01, 0x00]);
        expectations.extend(conversion(0, [0x00, 0x02, 0xFF]));
        expectations.extend(conversion(0, [0x00, 0x02, 0x00]));
        let adc = Mcp3008::new(Mock::new(&expectations), 0);
        let mut meter = SoundMeter::new("mic", adc, NoopDelay::new(), 3, 30, 90.0);
        let readings = meter.read().expect("three samples");
        assert_eq!(readings.len(), 1);
        let expected = 90.0 + 20.0 * (511.0f64 / 1023.0).log10();
        assert!((readings[0].value - expected).abs() < 1e-9, "{readings:?}");
        assert_eq!(meter.driver(), "mcp3008-sound");
        meter.release().release().done();
    }
}
