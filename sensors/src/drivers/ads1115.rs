//! TI ADS1115, a 4-channel 16-bit ADC on I2C, sampling an analog microphone module in
//! continuous-conversion mode at 860 samples/s (datasheet section 9.6.3, config register).
//! The config is written once; each sample reads the conversion register.
//! Address 0x48 (ADDR to GND), 0x49 (VDD), 0x4A (SDA), 0x4B (SCL).

use embedded_hal::i2c::I2c;

use super::sound::AdcSampler;
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
pub struct Ads1115<I> {
    i2c: I,
    address: u8,
    channel: u8,
    configured: bool,
}

impl<I: I2c> Ads1115<I> {
    pub fn new(i2c: I, address: u8, channel: u8) -> Self {
        Ads1115 {
            i2c,
            address,
            channel: channel & 0x03,
            configured: false,
        }
    }

    /// The latest conversion, in counts (configuring continuous mode first if needed).
    pub fn read_conversion(&mut self, device: &str) -> Result<i16, SensorError> {
        if !self.configured {
            let [high, low] = config(self.channel).to_be_bytes();
            self.i2c
                .write(self.address, &[REG_CONFIG, high, low])
                .map_err(|e| super::i2c_error(device, e))?;
            self.configured = true;
        }
        let mut answer = [0u8; 2];
        let result = self
            .i2c
            .write_read(self.address, &[REG_CONVERSION], &mut answer);
        if let Err(err) = result {
            // A chip that lost power forgets its config: write it again next time.
            self.configured = false;
            return Err(super::i2c_error(device, err));
        }
        Ok(i16::from_be_bytes(answer))
    }

    /// Gives the bus back (tests call `done()` on a mock).
    pub fn release(self) -> I {
        self.i2c
    }
}

impl<I: I2c> AdcSampler for Ads1115<I> {
    const DRIVER: &'static str = "ads1115-sound";

    fn sample(&mut self, device: &str) -> Result<i32, SensorError> {
        self.read_conversion(device).map(i32::from)
    }

    fn full_scale(&self) -> f64 {
        f64::from(FULL_SCALE)
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    use super::*;
    use crate::drivers::sound::SoundMeter;
    use crate::Sensor;

    #[test]
    fn config_register_bits() {
        // AIN0/GND, ±4.096 V, continuous, 860 SPS, comparator off.
        assert_eq!(config(0), 0x42E3);
        assert_eq!(config(3), 0x72E3);
    }

    #[test]
    fn configures_once_then_reads_conversions() {
        let expectations = [
            Transaction::write(0x49, vec![0x01, 0x52, 0xE3]),
            Transaction::write_read(0x49, vec![0x00], vec![0x40, 0x00]),
            Transaction::write_read(0x49, vec![0x00], vec![0x20, 0x00]),
        ];
        let adc = Ads1115::new(Mock::new(&expectations), 0x49, 1);
        let mut meter = SoundMeter::new("mic", adc, NoopDelay::new(), 2, 10, 90.0);
        let readings = meter.read().expect("two samples");
        // 0x4000 − 0x2000 = 8192 of 32767 → 90 + 20·log10(0.25) ≈ 77.96 dB.
        let expected = 90.0 + 20.0 * (8192.0f64 / 32767.0).log10();
        assert!((readings[0].value - expected).abs() < 1e-9, "{readings:?}");
        meter.release().release().done();
    }

    #[test]
    fn bus_error_forces_reconfiguration() {
        use embedded_hal::i2c::ErrorKind;
        let expectations = [
            Transaction::write(0x48, vec![0x01, 0x42, 0xE3]),
            Transaction::write_read(0x48, vec![0x00], vec![0x00, 0x00]).with_error(ErrorKind::Bus),
            Transaction::write(0x48, vec![0x01, 0x42, 0xE3]),
            Transaction::write_read(0x48, vec![0x00], vec![0x12, 0x34]),
        ];
        let mut adc = Ads1115::new(Mock::new(&expectations), 0x48, 0);
        assert!(adc.read_conversion("mic").is_err());
        assert_eq!(adc.read_conversion("mic").expect("recovered"), 0x1234);
        adc.release().done();
    }
}
