//! Microchip MCP3008, an 8-channel 10-bit ADC on SPI, used to sample an analog microphone
//! module. One conversion is one 3-byte transfer (datasheet section 6.1, figure 6-1):
//! `[0x01 (start bit), SGL/DIFF·D2·D1·D0 in the high nibble, don't care]`; the answer's last
//! 10 bits are the result (B9..B8 in byte 1, B7..B0 in byte 2).
//!
//! The conversion is a full-duplex `Operation::Transfer(read, write)`: the chip must receive the
//! command while it answers. Not `transfer_in_place`: rppal maps that to a read-only segment, so
//! the chip would receive zeros and never start a conversion (tested against
//! `simbus::RppalSpiDevice`, which maps operations the way rppal 0.22.1 does).

use embedded_hal::spi::SpiDevice;

use super::sound::AdcSampler;
use super::BusFault;
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

impl<S: SpiDevice> Mcp3008<S>
where
    S::Error: BusFault,
{
    pub fn new(spi: S, channel: u8) -> Self {
        Mcp3008 {
            spi,
            channel: channel & 0x07,
        }
    }

    /// One single-ended conversion of the channel, 0–1023.
    pub fn read_channel(&mut self, device: &str) -> Result<u16, SensorError> {
        let mut answer = [0u8; 3];
        self.spi
            .transfer(&mut answer, &command(self.channel))
            .map_err(|e| super::spi_failure(device, e))?;
        Ok(result(&answer))
    }

    /// Gives the SPI device back (tests call `done()` on a mock).
    pub fn release(self) -> S {
        self.spi
    }
}

impl<S: SpiDevice + Send + 'static> AdcSampler for Mcp3008<S>
where
    S::Error: BusFault,
{
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
    use embedded_hal_mock::eh1::spi::{Mock, Transaction};

    use super::*;
    use crate::drivers::sound::WindowSampler;
    use crate::rpi::spi::PiSpi;
    use crate::simbus::{RppalSpiDevice, SimMcp3008};

    #[test]
    fn command_frames_match_the_datasheet() {
        assert_eq!(command(0), [0x01, 0x80, 0x00]);
        assert_eq!(command(5), [0x01, 0xD0, 0x00]);
        assert_eq!(command(7), [0x01, 0xF0, 0x00]);
    }

    #[test]
    fn three_byte_full_duplex_transfer_gives_the_ten_bit_result() {
        // Undefined high bits set on purpose: only B9..B0 count. 0b10_1001_1010 = 666.
        let expectations = [
            Transaction::transaction_start(),
            Transaction::transfer(command(3).to_vec(), vec![0xFF, 0xFA, 0x9A]),
            Transaction::transaction_end(),
        ];
        let mut adc = Mcp3008::new(Mock::new(&expectations), 3);
        assert_eq!(adc.read_channel("mic").expect("transfer"), 666);
        adc.release().done();
    }

    /// Through the Pi glue and a bus that maps operations like rppal 0.22.1's
    /// `SimpleHalSpiDevice`, the chip sees the command and converts. With `transfer_in_place`
    /// it would receive zeros (no start bit) and this reads 0.
    #[test]
    fn converts_through_a_bus_that_maps_like_rppal() {
        let chip = SimMcp3008::new(|channel, _| [100, 200, 300, 666, 0, 0, 0, 1023][channel]);
        let bus = PiSpi::new(RppalSpiDevice::new(chip), "/dev/spidev0.0");
        let mut adc = Mcp3008::new(bus, 3);
        assert_eq!(adc.read_channel("mic").expect("transfer"), 666);
        let mut adc = Mcp3008::new(adc.release(), 7);
        assert_eq!(adc.read_channel("mic").expect("transfer"), 1023);
        let chip = adc.release().release().into_chip();
        assert_eq!(chip.conversions(), 2, "each read started one conversion");
    }

    #[test]
    fn an_in_place_transfer_through_rppal_never_reaches_the_chip() {
        // The old driver's call, shown failing on the rppal-like bus: the class of bug the
        // test above guards against.
        let chip = SimMcp3008::new(|_, _| 666);
        let mut bus = RppalSpiDevice::new(chip);
        let mut buffer = command(3);
        bus.transfer_in_place(&mut buffer).expect("transfer");
        assert_eq!(result(&buffer), 0);
        assert_eq!(bus.into_chip().conversions(), 0);
    }

    #[test]
    fn a_sine_on_the_input_reads_its_level() {
        // Half-scale sine around mid-scale: −6 dBFS.
        let chip = SimMcp3008::sine(0, 1000.0, 255.75, 511.5, 8000);
        let adc = Mcp3008::new(RppalSpiDevice::new(chip), 0);
        let mut sampler = WindowSampler::new("mic", adc, 8000);
        let mean_square = sampler.next_window(&mut || {}).expect("window");
        let level = crate::drivers::sound::dbfs(mean_square, sampler.full_scale());
        assert!((level + 6.02).abs() < 0.1, "{level}");
    }
}
