//! Bosch BME280 temperature and humidity over I2C, in forced mode (one conversion per read, the
//! datasheet's "weather monitoring" setting: 1× oversampling, filter off). The compensation is
//! the datasheet's 32-bit integer code (BST-BME280-DS002 section 4.2.3 and 8.2). Pressure is
//! converted by the chip but not reported: no quantity for it here.
//!
//! Every (re)initialisation — the first read, and the read after any bus error or implausible
//! value — soft-resets the chip, re-reads the chip id and calibration, and writes the config
//! register, so a chip that browned out or was re-plugged is set up from scratch. A NACK at the
//! configured address probes the other one (0x76 ↔ 0x77) and says what answered.
//! Address 0x76 (SDO to GND) or 0x77 (SDO to VDDIO).

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{Error as _, ErrorKind, I2c};

use super::BusFault;
use crate::reading::{Measurement, Quantity};
use crate::{Sensor, SensorError};

/// The default address (SDO to GND); many breakout boards use 0x77.
pub const DEFAULT_ADDRESS: u8 = 0x76;
/// Register holding the chip id.
pub const REG_CHIP_ID: u8 = 0xD0;
/// The BME280's chip id; a BMP280 (no humidity) answers 0x58.
pub const CHIP_ID_BME280: u8 = 0x60;
/// BMP280 chip id, refused with a clear message.
pub const CHIP_ID_BMP280: u8 = 0x58;
/// First calibration block: dig_T1..dig_P9, (0xA0 unused), dig_H1 — 26 bytes.
pub const REG_CALIB_00: u8 = 0x88;
/// Second calibration block: dig_H2..dig_H6 — 7 bytes.
pub const REG_CALIB_26: u8 = 0xE1;
/// Soft reset register; writing [`RESET_WORD`] resets the chip like a power-on.
pub const REG_RESET: u8 = 0xE0;
/// The only value that triggers a soft reset.
pub const RESET_WORD: u8 = 0xB6;
/// Start-up time after a reset before the chip answers (datasheet table 1: 2 ms).
pub const STARTUP_MS: u32 = 2;
/// Config register: standby time, IIR filter, 3-wire SPI; written only in sleep mode.
pub const REG_CONFIG: u8 = 0xF5;
/// t_sb = 0.5 ms (unused in forced mode), filter off, SPI 3-wire off: weather monitoring.
pub const CONFIG_FILTER_OFF: u8 = 0x00;
/// The temperature range the part is specified for (datasheet table 1).
pub const TEMPERATURE_RANGE: std::ops::RangeInclusive<f64> = -40.0..=85.0;
/// Humidity oversampling; takes effect after the next write to ctrl_meas.
pub const REG_CTRL_HUM: u8 = 0xF2;
/// Temperature/pressure oversampling and mode.
pub const REG_CTRL_MEAS: u8 = 0xF4;
/// First data register: press_msb..hum_lsb — 8 bytes.
pub const REG_DATA: u8 = 0xF7;
/// osrs_h = ×1.
pub const CTRL_HUM_X1: u8 = 0b001;
/// osrs_t = ×1, osrs_p = ×1, mode = forced.
pub const CTRL_MEAS_X1_FORCED: u8 = (0b001 << 5) | (0b001 << 2) | 0b01;
/// Maximum conversion time at ×1/×1/×1 (datasheet 9.1: 9.3 ms), rounded up.
pub const MEASURE_TIME_MS: u32 = 10;
/// The value of a temperature ADC word when the measurement was skipped.
const ADC_T_SKIPPED: i32 = 0x80000;
/// The value of a humidity ADC word when the measurement was skipped.
const ADC_H_SKIPPED: i32 = 0x8000;

/// The factory trimming parameters used by the compensation (pressure ones are not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calibration {
    pub dig_t1: u16,
    pub dig_t2: i16,
    pub dig_t3: i16,
    pub dig_h1: u8,
    pub dig_h2: i16,
    pub dig_h3: u8,
    pub dig_h4: i16,
    pub dig_h5: i16,
    pub dig_h6: i8,
}

impl Calibration {
    /// Decodes the two calibration blocks (datasheet table 16).
    pub fn from_registers(block1: &[u8; 26], block2: &[u8; 7]) -> Self {
        let u16_at = |i: usize| u16::from_le_bytes([block1[i], block1[i + 1]]);
        let i16_at = |i: usize| i16::from_le_bytes([block1[i], block1[i + 1]]);
        // dig_H4 = 0xE4[7:0] << 4 | 0xE5[3:0]; dig_H5 = 0xE6[7:0] << 4 | 0xE5[7:4] (signed 12-bit
        // values whose sign comes from the high byte).
        let e4 = i16::from(block2[3] as i8);
        let e5 = i16::from(block2[4]);
        let e6 = i16::from(block2[5] as i8);
        Calibration {
            dig_t1: u16_at(0),
            dig_t2: i16_at(2),
            dig_t3: i16_at(4),
            dig_h1: block1[25],
            dig_h2: i16::from_le_bytes([block2[0], block2[1]]),
            dig_h3: block2[2],
            dig_h4: (e4 << 4) | (e5 & 0x0F),
            dig_h5: (e6 << 4) | (e5 >> 4),
            dig_h6: block2[6] as i8,
        }
    }

    /// `t_fine`, the fine temperature both compensations use (datasheet 4.2.3). Computed in
    /// 64 bits so garbage from a bad wire cannot overflow; equal to the 32-bit code otherwise.
    pub fn t_fine(&self, adc_t: i32) -> i32 {
        let adc_t = i64::from(adc_t);
        let t1 = i64::from(self.dig_t1);
        let t2 = i64::from(self.dig_t2);
        let t3 = i64::from(self.dig_t3);
        let var1 = (((adc_t >> 3) - (t1 << 1)) * t2) >> 11;
        let var2 = (((((adc_t >> 4) - t1) * ((adc_t >> 4) - t1)) >> 12) * t3) >> 14;
        (var1 + var2) as i32
    }

    /// Temperature in °C (the datasheet returns hundredths: "5123 equals 51.23 DegC").
    pub fn temperature_celsius(&self, adc_t: i32) -> f64 {
        let hundredths = (i64::from(self.t_fine(adc_t)) * 5 + 128) >> 8;
        hundredths as f64 / 100.0
    }

    /// Relative humidity in % (the datasheet returns Q22.10: "47445 represents 46.333 %RH").
    pub fn humidity_percent(&self, adc_h: i32, t_fine: i32) -> f64 {
        let h1 = i64::from(self.dig_h1);
        let h2 = i64::from(self.dig_h2);
        let h3 = i64::from(self.dig_h3);
        let h4 = i64::from(self.dig_h4);
        let h5 = i64::from(self.dig_h5);
        let h6 = i64::from(self.dig_h6);
        let adc_h = i64::from(adc_h);
        let x = i64::from(t_fine) - 76800;
        let first = ((adc_h << 14) - (h4 << 20) - (h5 * x) + 16384) >> 15;
        let second = ((((((x * h6) >> 10) * (((x * h3) >> 11) + 32768)) >> 10) + 2_097_152) * h2
            + 8192)
            >> 14;
        let mut v = first * second;
        v -= ((((v >> 15) * (v >> 15)) >> 7) * h1) >> 4;
        let v = v.clamp(0, 419_430_400);
        (v >> 12) as f64 / 1024.0
    }
}

/// The raw ADC words of one measurement (20-bit temperature, 16-bit humidity).
pub fn decode_data(data: &[u8; 8]) -> (i32, i32) {
    let adc_t = (i32::from(data[3]) << 12) | (i32::from(data[4]) << 4) | (i32::from(data[5]) >> 4);
    let adc_h = (i32::from(data[6]) << 8) | i32::from(data[7]);
    (adc_t, adc_h)
}

/// A BME280 on an I2C bus. Initialised on the first measurement (so a sensor plugged in after
/// start is picked up) and again after any failure.
pub struct Bme280<I, D> {
    name: String,
    i2c: I,
    delay: D,
    address: u8,
    calibration: Option<Calibration>,
}

/// The other address a BME280 can have (SDO to the other rail).
pub fn other_address(address: u8) -> u8 {
    if address == 0x77 {
        0x76
    } else {
        0x77
    }
}

impl<I: I2c, D: DelayNs> Bme280<I, D>
where
    I::Error: BusFault,
{
    pub fn new(name: &str, i2c: I, delay: D, address: u8) -> Self {
        Bme280 {
            name: name.to_string(),
            i2c,
            delay,
            address,
            calibration: None,
        }
    }

    fn write_read(&mut self, register: u8, buffer: &mut [u8]) -> Result<(), SensorError> {
        self.i2c
            .write_read(self.address, &[register], buffer)
            .map_err(|e| super::i2c_failure(&self.name, self.address, e))
    }

    fn write_register(&mut self, register: u8, value: u8) -> Result<(), SensorError> {
        self.i2c
            .write(self.address, &[register, value])
            .map_err(|e| super::i2c_failure(&self.name, self.address, e))
    }

    /// What answers at the other address, as the fix for a NACK at ours.
    fn probe_other_address(&mut self) -> String {
        let other = other_address(self.address);
        let mut id = [0u8];
        match self.i2c.write_read(other, &[REG_CHIP_ID], &mut id) {
            Ok(()) if id[0] == CHIP_ID_BME280 => format!(
                "is it at {other:#04x}? A BME280 answers there: set i2c_address = {other:#04x}"
            ),
            Ok(()) if id[0] == CHIP_ID_BMP280 => {
                format!("is it at {other:#04x}? A BMP280 (chip id 0x58, no humidity) answers there")
            }
            Ok(()) => format!(
                "is it at {other:#04x}? Something with chip id {:#04x} (not a BME280) answers \
                 there",
                id[0]
            ),
            Err(_) => format!(
                "is it at {other:#04x}? Nothing answers there either: check the wiring (SDA, \
                 SCL, 3.3 V, GND) and `i2cdetect -y 1`"
            ),
        }
    }

    /// Soft reset, chip id, calibration, config register: the chip from a known state.
    fn initialise(&mut self) -> Result<Calibration, SensorError> {
        if let Err(err) = self.i2c.write(self.address, &[REG_RESET, RESET_WORD]) {
            let nack = matches!(err.kind(), ErrorKind::NoAcknowledge(_));
            let failure = super::i2c_failure(&self.name, self.address, err);
            return Err(if nack {
                let hint = self.probe_other_address();
                super::with_fix(failure, hint)
            } else {
                failure
            });
        }
        self.delay.delay_ms(STARTUP_MS);
        let mut id = [0u8];
        self.write_read(REG_CHIP_ID, &mut id)?;
        match id[0] {
            CHIP_ID_BME280 => {}
            CHIP_ID_BMP280 => {
                return Err(SensorError::BadData {
                    device: self.name.clone(),
                    detail: "this is a BMP280 (chip id 0x58), which has no humidity sensor; \
                             use a BME280"
                        .into(),
                })
            }
            other => {
                return Err(SensorError::BadData {
                    device: self.name.clone(),
                    detail: format!(
                        "chip id {other:#04x} is not a BME280 (0x60): wrong address or part?"
                    ),
                })
            }
        }
        let mut block1 = [0u8; 26];
        self.write_read(REG_CALIB_00, &mut block1)?;
        let mut block2 = [0u8; 7];
        self.write_read(REG_CALIB_26, &mut block2)?;
        self.write_register(REG_CONFIG, CONFIG_FILTER_OFF)?;
        Ok(Calibration::from_registers(&block1, &block2))
    }

    fn measure_with(&mut self, calibration: Calibration) -> Result<(f64, f64), SensorError> {
        self.write_register(REG_CTRL_HUM, CTRL_HUM_X1)?;
        self.write_register(REG_CTRL_MEAS, CTRL_MEAS_X1_FORCED)?;
        self.delay.delay_ms(MEASURE_TIME_MS);
        let mut data = [0u8; 8];
        self.write_read(REG_DATA, &mut data)?;
        let (adc_t, adc_h) = decode_data(&data);
        if adc_t == ADC_T_SKIPPED || adc_h == ADC_H_SKIPPED {
            // Also what a chip that reset since its initialisation answers.
            return Err(SensorError::BadData {
                device: self.name.clone(),
                detail: "measurement skipped (the chip reset?); it is set up again next read"
                    .into(),
            });
        }
        let t_fine = calibration.t_fine(adc_t);
        let temperature = calibration.temperature_celsius(adc_t);
        if !TEMPERATURE_RANGE.contains(&temperature) {
            return Err(SensorError::BadData {
                device: self.name.clone(),
                detail: format!(
                    "{temperature} °C is outside the BME280's −40…85 °C: bad wiring or a \
                     corrupted calibration; it is set up again next read"
                ),
            });
        }
        Ok((temperature, calibration.humidity_percent(adc_h, t_fine)))
    }

    /// One forced-mode measurement: (°C, %RH). Any failure drops the calibration, so the next
    /// read resets the chip and reads it again.
    pub fn measure(&mut self) -> Result<(f64, f64), SensorError> {
        let calibration = match self.calibration {
            Some(calibration) => calibration,
            None => self.initialise()?,
        };
        match self.measure_with(calibration) {
            Ok(values) => {
                self.calibration = Some(calibration);
                Ok(values)
            }
            Err(err) => {
                self.calibration = None;
                Err(err)
            }
        }
    }

    /// Gives the bus back (tests call `done()` on a mock).
    pub fn release(self) -> I {
        self.i2c
    }
}

impl<I: I2c + Send, D: DelayNs + Send> Sensor for Bme280<I, D>
where
    I::Error: BusFault,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &str {
        "bme280"
    }

    fn read(&mut self) -> Result<Vec<Measurement>, SensorError> {
        let (temperature, humidity) = self.measure()?;
        Ok(vec![
            Measurement::new(Quantity::Temperature, temperature),
            Measurement::new(Quantity::Humidity, humidity),
        ])
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    use super::*;
    use crate::rpi::i2c::PiI2c;
    use crate::simbus::{Bme280Log, SimBme280, SimI2cBus};

    /// Datasheet section 8.2 example: dig_T1 = 27504, dig_T2 = 26435, dig_T3 = -1000 (and the
    /// pressure example's dig_P1..P9); humidity trimming values typical of real parts.
    fn calibration_blocks() -> ([u8; 26], [u8; 7]) {
        let mut block1 = [0u8; 26];
        let words: [i32; 12] = [
            27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000,
        ];
        for (index, word) in words.iter().enumerate() {
            let bytes = (*word as u16).to_le_bytes();
            block1[index * 2] = bytes[0];
            block1[index * 2 + 1] = bytes[1];
        }
        block1[25] = 75; // dig_H1
                         // dig_H2 = 362, dig_H3 = 0, dig_H4 = 324 (0x144), dig_H5 = 50 (0x032), dig_H6 = 30.
        let block2 = [0x6A, 0x01, 0x00, 0x14, 0x24, 0x03, 30];
        (block1, block2)
    }

    /// The datasheet's floating-point humidity compensation (section 8.1), used as an
    /// independent check of the integer code.
    fn humidity_double(c: &Calibration, adc_h: f64, t_fine: f64) -> f64 {
        let mut var_h = t_fine - 76800.0;
        var_h = (adc_h - (f64::from(c.dig_h4) * 64.0 + f64::from(c.dig_h5) / 16384.0 * var_h))
            * (f64::from(c.dig_h2) / 65536.0
                * (1.0
                    + f64::from(c.dig_h6) / 67108864.0
                        * var_h
                        * (1.0 + f64::from(c.dig_h3) / 67108864.0 * var_h)));
        var_h *= 1.0 - f64::from(c.dig_h1) * var_h / 524288.0;
        var_h.clamp(0.0, 100.0)
    }

    #[test]
    fn calibration_decodes_the_register_layout() {
        let (block1, block2) = calibration_blocks();
        let c = Calibration::from_registers(&block1, &block2);
        assert_eq!((c.dig_t1, c.dig_t2, c.dig_t3), (27504, 26435, -1000));
        assert_eq!((c.dig_h1, c.dig_h2, c.dig_h3), (75, 362, 0));
        assert_eq!((c.dig_h4, c.dig_h5, c.dig_h6), (324, 50, 30));
        // Negative dig_H4/H5 take their sign from the high byte: 0xE4 = 0xFF → -16 + nibble.
        let negative = Calibration::from_registers(&block1, &[0, 0, 0, 0xFF, 0xF1, 0xFF, 0]);
        assert_eq!((negative.dig_h4, negative.dig_h5), (-15, -1));
    }

    #[test]
    fn temperature_matches_the_datasheet_example() {
        let (block1, block2) = calibration_blocks();
        let c = Calibration::from_registers(&block1, &block2);
        // adc_T = 519888 → t_fine = 128422 → T = 2508 → 25.08 °C.
        assert_eq!(c.t_fine(519_888), 128_422);
        assert_eq!(c.temperature_celsius(519_888), 25.08);
    }

    #[test]
    fn integer_humidity_agrees_with_the_floating_point_formula() {
        let (block1, block2) = calibration_blocks();
        let c = Calibration::from_registers(&block1, &block2);
        let t_fine = c.t_fine(519_888);
        for adc_h in [20_000, 26_000, 30_000, 34_000, 40_000] {
            let integer = c.humidity_percent(adc_h, t_fine);
            let double = humidity_double(&c, f64::from(adc_h), f64::from(t_fine));
            assert!(
                (integer - double).abs() < 0.01,
                "adc_h {adc_h}: integer {integer} vs double {double}"
            );
        }
    }

    #[test]
    fn forced_measurement_transactions() {
        let (block1, block2) = calibration_blocks();
        // adc_T = 519888 = 0x7EED0 → msb 0x7E, lsb 0xED, xlsb 0x00; adc_H = 0x6A00.
        let data = vec![0x50, 0x00, 0x00, 0x7E, 0xED, 0x00, 0x6A, 0x00];
        let expectations = [
            Transaction::write(0x77, vec![0xE0, 0xB6]),
            Transaction::write_read(0x77, vec![0xD0], vec![0x60]),
            Transaction::write_read(0x77, vec![0x88], block1.to_vec()),
            Transaction::write_read(0x77, vec![0xE1], block2.to_vec()),
            Transaction::write(0x77, vec![0xF5, 0x00]),
            Transaction::write(0x77, vec![0xF2, 0x01]),
            Transaction::write(0x77, vec![0xF4, 0x25]),
            Transaction::write_read(0x77, vec![0xF7], data.clone()),
            // The second read reuses the calibration.
            Transaction::write(0x77, vec![0xF2, 0x01]),
            Transaction::write(0x77, vec![0xF4, 0x25]),
            Transaction::write_read(0x77, vec![0xF7], data),
        ];
        let mut sensor = Bme280::new("desk", Mock::new(&expectations), NoopDelay::new(), 0x77);
        for _ in 0..2 {
            let readings = sensor.read().expect("good answer");
            assert_eq!(readings[0], Measurement::new(Quantity::Temperature, 25.08));
            let c = Calibration::from_registers(&block1, &block2);
            let expected = humidity_double(&c, f64::from(0x6A00), f64::from(c.t_fine(519_888)));
            assert!((readings[1].value - expected).abs() < 0.01, "{readings:?}");
            assert!((0.0..=100.0).contains(&readings[1].value));
        }
        sensor.release().done();
    }

    #[test]
    fn a_bmp280_is_refused_with_a_clear_message() {
        let expectations = [
            Transaction::write(0x76, vec![0xE0, 0xB6]),
            Transaction::write_read(0x76, vec![0xD0], vec![0x58]),
        ];
        let mut sensor = Bme280::new("desk", Mock::new(&expectations), NoopDelay::new(), 0x76);
        let err = sensor.read().expect_err("bmp280");
        assert!(err.to_string().contains("BMP280"), "{err}");
        sensor.release().done();
    }

    /// The datasheet example chip (25.08 °C) behind the Pi glue on a bus that fails like
    /// rppal's `/dev/i2c-1`.
    fn pi_bus_with_chip_at(address: u8) -> (SimI2cBus, SimBme280) {
        let (block1, block2) = calibration_blocks();
        let chip = SimBme280::new(block1, block2, [0x50, 0, 0, 0x7E, 0xED, 0x00, 0x6A, 0x00]);
        let bus = SimI2cBus::new();
        bus.attach(address, chip.clone());
        (bus, chip)
    }

    fn pi_sensor(bus: &SimI2cBus, address: u8) -> Bme280<PiI2c<SimI2cBus>, NoopDelay> {
        Bme280::new(
            "desk",
            PiI2c::new(bus.clone(), "/dev/i2c-1"),
            NoopDelay::new(),
            address,
        )
    }

    fn bus_error(err: SensorError) -> (String, std::io::Error) {
        let text = err.to_string();
        match err {
            SensorError::Bus { source, .. } => (text, source),
            other => panic!("expected a bus error, got {other:?}"),
        }
    }

    #[test]
    fn a_nack_names_the_bus_keeps_the_errno_and_finds_the_chip_at_the_other_address() {
        let (bus, _chip) = pi_bus_with_chip_at(0x77);
        let mut sensor = pi_sensor(&bus, 0x76);
        let (text, source) = bus_error(sensor.read().expect_err("nothing at 0x76"));
        assert!(
            text.contains("no device at 0x76 on /dev/i2c-1 — is it at 0x77? A BME280 answers"),
            "{text}"
        );
        assert!(text.contains("i2c_address = 0x77"), "{text}");
        assert_eq!(source.raw_os_error(), Some(121), "EREMOTEIO kept");

        bus.detach(0x77);
        let (text, _) = bus_error(sensor.read().expect_err("nothing anywhere"));
        assert!(text.contains("Nothing answers there either"), "{text}");
    }

    #[test]
    fn an_address_held_by_a_kernel_driver_says_so() {
        let (bus, _chip) = pi_bus_with_chip_at(0x76);
        bus.hold_by_kernel(0x76);
        let (text, source) = bus_error(pi_sensor(&bus, 0x76).read().expect_err("EBUSY"));
        assert!(text.contains("held by a kernel driver"), "{text}");
        assert!(super::super::is_busy(&source));
    }

    #[test]
    fn every_initialisation_resets_and_configures_and_a_reset_chip_is_set_up_again() {
        let (bus, chip) = pi_bus_with_chip_at(0x76);
        let mut sensor = pi_sensor(&bus, 0x76);
        assert_eq!(sensor.read().expect("read")[0].value, 25.08);
        assert_eq!(sensor.read().expect("read")[0].value, 25.08);
        assert_eq!(
            chip.log(),
            Bme280Log {
                soft_resets: 1,
                config_writes: 1,
                forced_measurements: 2
            }
        );
        // A glitch on the wire: EIO on the next transfer (the ctrl_hum write).
        bus.fail_next(nix::errno::Errno::EIO as i32);
        let (_, source) = bus_error(sensor.read().expect_err("EIO"));
        assert_eq!(source.raw_os_error(), Some(nix::errno::Errno::EIO as i32));
        // The next read soft-resets, re-reads the calibration and writes the config again.
        assert_eq!(sensor.read().expect("recovered")[0].value, 25.08);
        assert_eq!(chip.log().soft_resets, 2);
        assert_eq!(chip.log().config_writes, 2);
    }

    #[test]
    fn an_unplugged_chip_fails_and_is_picked_up_again_when_plugged_back() {
        let (bus, chip) = pi_bus_with_chip_at(0x76);
        let mut sensor = pi_sensor(&bus, 0x76);
        sensor.read().expect("plugged");
        bus.detach(0x76);
        let (text, _) = bus_error(sensor.read().expect_err("unplugged"));
        assert!(text.contains("no device at 0x76"), "{text}");
        chip.power_cycle();
        bus.attach(0x76, chip.clone());
        assert_eq!(sensor.read().expect("plugged back")[0].value, 25.08);
        assert_eq!(chip.log().soft_resets, 2, "set up from scratch");
    }

    #[test]
    fn implausible_temperatures_are_refused_and_the_chip_set_up_again() {
        let (block1, block2) = calibration_blocks();
        // adc_T = 0xFFFFF (all ones, a floating bus): far above 85 °C with these trimming values.
        let chip = SimBme280::new(block1, block2, [0xFF; 8]);
        let bus = SimI2cBus::new();
        bus.attach(0x76, chip.clone());
        let mut sensor = pi_sensor(&bus, 0x76);
        let err = sensor.read().expect_err("out of range");
        assert!(err.to_string().contains("outside the BME280"), "{err}");
        sensor.read().expect_err("still out of range");
        assert_eq!(chip.log().soft_resets, 2);
    }
}
