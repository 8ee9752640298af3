//! TI ADS1115, a 4-channel 16-bit ADC on I2C, sampling an analog microphone module in
//! continuous-conversion mode at 860 samples/s (datasheet section 9.6.3, config register).
//! The config is written when sampling starts (and again after any bus error); the first
//! conversion after it is discarded: the part returns the stale result of the previous setting
//! (often a full-scale spike) until its first conversion under the new config completes.
//! Address 0x48 (ADDR to GND), 0x49 (VDD), 0x4A (SDA), 0x4B (SCL).

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::sound::AdcSampler;
use super::BusFault;
use crate::SensorError;

/// The default address (ADDR to GND).
pub const DEFAULT_ADDRESS: u8 = 0x48;
/// Conversion result register.
pub const REG_CONVERSION: u8 = 0x00;
/// Configuration register.
pub const REG_CONFIG: u8 = 0x01;
/// MUX = AINx versus GND: 0b100 + channel, bits 14:12.
const MUX_SINGLE_ENDED_BASE: u16 = 0b100 << 12;
/// PGA = ±4.096 V full scale (bits 11:9 = 001): a 3.3 V microphone module fits.
const PGA_4_096V: u16 = 0b001 << 9;
/// MODE = continuous conversion (bit 8 = 0).
const MODE_CONTINUOUS: u16 = 0;
/// DR = 860 samples per second (bits 7:5 = 111).
const DR_860_SPS: u16 = 0b111 << 5;
/// COMP_QUE = comparator disabled (bits 1:0 = 11).
const COMP_DISABLED: u16 = 0b11;
/// One conversion at 860 SPS takes 1.163 ms; the first valid one is ready after two.
pub const SETTLE_US: u32 = 2 * 1163;
/// Largest positive conversion result (single-ended inputs never go below 0).
pub const FULL_SCALE: i16 = i16::MAX;

/// The config register value for continuous single-ended conversion of `channel` (0–3).
pub fn config(channel: u8) -> u16 {
    MUX_SINGLE_ENDED_BASE
        | (u16::from(channel & 0x03) << 12)
        | PGA_4_096V
        | MODE_CONTINUOUS
        | DR_860_SPS
        | COMP_DISABLED
}

/// One channel of an ADS1115.
pub struct Ads1115<I, D> {
    i2c: I,
    address: u8,
    channel: u8,
    delay: D,
}

impl<I: I2c, D: DelayNs> Ads1115<I, D>
where
    I::Error: BusFault,
{
    pub fn new(i2c: I, address: u8, channel: u8, delay: D) -> Self {
        Ads1115 {
            i2c,
            address,
            channel: channel & 0x03,
            delay,
        }
    }

    /// Writes the config (continuous, 860 SPS), waits for the first conversion under it and
    /// throws away the stale result the part gives first.
    pub fn configure(&mut self, device: &str) -> Result<(), SensorError> {
        let [high, low] = config(self.channel).to_be_bytes();
        self.i2c
            .write(self.address, &[REG_CONFIG, high, low])
            .map_err(|e| super::i2c_failure(device, self.address, e))?;
        self.delay.delay_us(SETTLE_US);
        self.read_conversion(device).map(|_| ())
    }

    /// The latest conversion, in counts.
    pub fn read_conversion(&mut self, device: &str) -> Result<i16, SensorError> {
        let mut answer = [0u8; 2];
        self.i2c
            .write_read(self.address, &[REG_CONVERSION], &mut answer)
            .map_err(|e| super::i2c_failure(device, self.address, e))?;
        Ok(i16::from_be_bytes(answer))
    }

    /// Gives the bus back (tests call `done()` on a mock).
    pub fn release(self) -> I {
        self.i2c
    }
}

impl<I: I2c + Send + 'static, D: DelayNs + Send + 'static> AdcSampler for Ads1115<I, D>
where
    I::Error: BusFault,
{
    const DRIVER: &'static str = "ads1115-sound";

    fn start(&mut self, device: &str) -> Result<(), SensorError> {
        self.configure(device)
    }

    fn sample(&mut self, device: &str) -> Result<i32, SensorError> {
        self.read_conversion(device).map(i32::from)
    }

    /// Single-ended inputs span 0..32767 (±4.096 V range, 0–3.3 V used).
    fn full_scale(&self) -> f64 {
        f64::from(FULL_SCALE)
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    use super::*;
    use crate::drivers::sound::WindowSampler;
    use crate::rpi::i2c::PiI2c;
    use crate::simbus::{SimAds1115, SimI2cBus};

    #[test]
    fn config_register_bits() {
        // AIN0/GND, ±4.096 V, continuous, 860 SPS, comparator off.
        assert_eq!(config(0), 0x42E3);
        assert_eq!(config(3), 0x72E3);
    }

    #[test]
    fn configures_discards_the_first_conversion_then_samples() {
        let expectations = [
            Transaction::write(0x49, vec![0x01, 0x52, 0xE3]),
            Transaction::write_read(0x49, vec![0x00], vec![0x7F, 0xFF]),
            Transaction::write_read(0x49, vec![0x00], vec![0x40, 0x00]),
            Transaction::write_read(0x49, vec![0x00], vec![0x20, 0x00]),
        ];
        let adc = Ads1115::new(Mock::new(&expectations), 0x49, 1, NoopDelay::new());
        let mut sampler = WindowSampler::new("mic", adc, 2, 860);
        let mean_square = sampler.next_window(&mut |_| {}).expect("two samples");
        // Samples 0x4000 and 0x2000 only (the 0x7FFF spike was thrown away): ±4096 around 12288.
        assert_eq!(mean_square, 4096.0 * 4096.0);
        sampler.release().release().done();
    }

    #[test]
    fn the_first_read_spike_never_reaches_a_window() {
        // Through the Pi glue on a bus like rppal's: the part answers a full-scale spike first.
        let bus = SimI2cBus::new();
        // A quiet room: mid-scale, one count of noise (±1 around 16001).
        bus.attach(
            0x48,
            SimAds1115::new(i16::MAX, |n| 16000 + 2 * (n % 2) as i16),
        );
        let adc = Ads1115::new(
            PiI2c::new(bus.clone(), "/dev/i2c-1"),
            0x48,
            0,
            NoopDelay::new(),
        );
        let mut sampler = WindowSampler::new("mic", adc, 100, 860);
        assert_eq!(sampler.next_window(&mut |_| {}).expect("window"), 1.0);
    }

    #[test]
    fn a_bus_error_keeps_the_os_error_and_reconfigures() {
        let bus = SimI2cBus::new();
        bus.attach(
            0x48,
            SimAds1115::new(i16::MAX, |n| 12000 + (n % 2) as i16 * 100),
        );
        let adc = Ads1115::new(
            PiI2c::new(bus.clone(), "/dev/i2c-1"),
            0x48,
            0,
            NoopDelay::new(),
        );
        let mut sampler = WindowSampler::new("mic", adc, 4, 860);
        sampler.next_window(&mut |_| {}).expect("first window");
        bus.fail_next(nix::errno::Errno::EIO as i32);
        match sampler.next_window(&mut |_| {}) {
            Err(SensorError::Bus { source, what, .. }) => {
                assert_eq!(source.raw_os_error(), Some(nix::errno::Errno::EIO as i32));
                assert!(what.contains("/dev/i2c-1"), "{what}");
            }
            other => panic!("expected a bus error, got {other:?}"),
        }
        // Next window: config written again, its spike discarded, samples alternate 0/100.
        assert_eq!(sampler.next_window(&mut |_| {}).expect("recovered"), 2500.0);
    }
}
