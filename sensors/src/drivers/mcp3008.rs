//! Microchip MCP3008, an 8-channel 10-bit ADC on SPI, used to sample an analog microphone
//! module. One conversion is one 3-byte transfer (datasheet section 6.1, figure 6-1):
//! `[0x01 (start bit), SGL/DIFF·D2·D1·D0 in the high nibble, don't care]`; the answer's last
//! 10 bits are the result (B9..B8 in byte 1, B7..B0 in byte 2).
//!
//! The conversion is a full-duplex `Operation::Transfer(read, write)`: the chip must receive the
//! command while it answers. Not `transfer_in_place`: rppal maps that to a read-only segment, so
//! the chip would receive zeros and never start a conversion (tested against
//! `simbus::RppalSpiDevice`, which maps operations the way rppal 0.22.1 does).
//!
//! The chip converts once per chip-select cycle, so the sound sampler takes [`BLOCK`]
//! conversions as one SPI message ([`FrameBus`]: one ioctl, chip select released between the
//! 3-byte frames, the kernel sleeping the gap that spaces them at the sample rate) instead of
//! one ioctl and one sleep per sample.

use std::time::Duration;

use super::frame_bus::FrameBus;
use super::sound::AdcSampler;
use crate::SensorError;

/// Conversions per SPI message when sampling sound (≥ 64; 128 × 3 bytes fits spidev's buffer).
pub const BLOCK: usize = 128;
const _: () = assert!(BLOCK >= 64 && BLOCK <= super::frame_bus::MAX_FRAMES);
/// Bits clocked per conversion (three bytes).
const FRAME_BITS: u32 = 24;
/// Per-frame time the kernel and controller add beyond the bits (chip-select toggling, setup).
const FRAME_OVERHEAD: Duration = Duration::from_micros(10);

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
    clock_hz: u32,
    commands: Vec<u8>,
    answers: Vec<u8>,
}

impl<S: FrameBus> Mcp3008<S> {
    /// The chip on `spi` (clocked at 1 MHz unless [`Mcp3008::with_clock_hz`] says otherwise).
    pub fn new(spi: S, channel: u8) -> Self {
        Mcp3008 {
            spi,
            channel: channel & 0x07,
            clock_hz: 1_000_000,
            commands: Vec::new(),
            answers: Vec::new(),
        }
    }

    /// The bus clock (`spi_clock_hz`), for the time each conversion's frame takes.
    pub fn with_clock_hz(mut self, clock_hz: u32) -> Self {
        self.clock_hz = clock_hz.max(1);
        self
    }

    /// One single-ended conversion of the channel, 0–1023.
    pub fn read_channel(&mut self, device: &str) -> Result<u16, SensorError> {
        let mut answer = [0u8; 3];
        self.spi
            .transfer_frames(&mut answer, &command(self.channel), 3, 0)
            .map_err(|e| super::spi_failure(device, e))?;
        Ok(result(&answer))
    }

    /// `out.len()` conversions in one SPI message, started `spacing` apart.
    pub fn read_block(
        &mut self,
        device: &str,
        out: &mut [i32],
        spacing: Duration,
    ) -> Result<(), SensorError> {
        let frame = command(self.channel);
        self.commands.clear();
        (0..out.len()).for_each(|_| self.commands.extend_from_slice(&frame));
        self.answers.clear();
        self.answers.resize(self.commands.len(), 0);
        let wire = Duration::from_secs_f64(f64::from(FRAME_BITS) / f64::from(self.clock_hz));
        // 90 % of the idle time: the block runs a little ahead and the sampler's pacer sleeps
        // off the lead once per block (the kernel's sleeps overshoot; a lag is never made up).
        let gap = spacing.saturating_sub(wire + FRAME_OVERHEAD).as_micros() * 9 / 10;
        self.spi
            .transfer_frames(
                &mut self.answers,
                &self.commands,
                3,
                u16::try_from(gap).unwrap_or(u16::MAX),
            )
            .map_err(|e| super::spi_failure(device, e))?;
        for (slot, answer) in out.iter_mut().zip(self.answers.chunks_exact(3)) {
            *slot = i32::from(result(&[answer[0], answer[1], answer[2]]));
        }
        Ok(())
    }

    /// SPI messages (ioctls) sent so far.
    pub fn messages(&self) -> u64 {
        self.spi.messages()
    }

    /// Gives the SPI device back (tests call `done()` on a mock).
    pub fn release(self) -> S {
        self.spi
    }
}

impl<S: FrameBus> AdcSampler for Mcp3008<S> {
    const DRIVER: &'static str = "mcp3008-sound";

    fn sample(&mut self, device: &str) -> Result<i32, SensorError> {
        self.read_channel(device).map(i32::from)
    }

    fn block_len(&self) -> usize {
        BLOCK
    }

    fn sample_block(
        &mut self,
        device: &str,
        out: &mut [i32],
        spacing: Duration,
    ) -> Result<(), SensorError> {
        self.read_block(device, out, spacing)
    }

    fn full_scale(&self) -> f64 {
        f64::from(FULL_SCALE)
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal::spi::SpiDevice;
    use embedded_hal_mock::eh1::spi::{Mock, Transaction};

    use super::*;
    use crate::drivers::sound::WindowSampler;
    use crate::rpi::spi::PiSpi;
    use crate::simbus::{RppalSpiBus, RppalSpiDevice, SimMcp3008};

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
        let mut adc = Mcp3008::new(PiSpi::new(Mock::new(&expectations), "/dev/spidev0.0"), 3);
        assert_eq!(adc.read_channel("mic").expect("transfer"), 666);
        adc.release().release().done();
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
        let adc = Mcp3008::new(RppalSpiBus::new(chip, 4_000_000), 0);
        let mut sampler = WindowSampler::new("mic", adc, 8000, 80_000);
        let mean_square = sampler.next_window(&mut |_| {}).expect("window");
        let level = crate::drivers::sound::dbfs(mean_square, sampler.full_scale());
        assert!((level + 6.02).abs() < 0.1, "{level}");
    }

    /// The batched path through a bus that behaves like rppal's `transfer_segments`: one
    /// message per block, and chip select released between frames, so every frame is a
    /// conversion of its own (held low, the chip would convert once and then send zeros).
    #[test]
    fn a_block_is_one_message_of_separate_conversions() {
        let chip = SimMcp3008::new(|channel, index| (channel as u16) * 100 + index as u16);
        let mut adc = Mcp3008::new(RppalSpiBus::new(chip, 4_000_000), 2);
        let mut block = vec![0i32; BLOCK];
        adc.read_block("mic", &mut block, Duration::ZERO)
            .expect("block");
        let expected: Vec<i32> = (0..BLOCK as i32).map(|i| 200 + i).collect();
        assert_eq!(block, expected);
        assert_eq!(adc.messages(), 1, "one ioctl for {BLOCK} conversions");
        let chip = adc.release().into_chip();
        assert_eq!(chip.conversions(), BLOCK as u64);
    }

    #[test]
    fn a_window_takes_one_message_per_block() {
        let chip = SimMcp3008::sine(0, 440.0, 200.0, 511.5, 4000);
        let adc = Mcp3008::new(RppalSpiBus::new(chip, 4_000_000), 0);
        let mut sampler = WindowSampler::new("mic", adc, 1000, 200_000);
        sampler.next_window(&mut |_| {}).expect("window");
        let adc = sampler.release();
        assert_eq!(
            adc.messages(),
            8,
            "1000 samples in blocks of {BLOCK}: 8 messages"
        );
    }

    /// An unplugged module: the input floats to a constant. The meter reports `no signal`, not
    /// a quiet room; plugged back in (a live signal), it reads a level again.
    #[test]
    fn an_unplugged_microphone_reports_no_signal() {
        use crate::drivers::sound::{SoundMeter, SoundSettings};
        use crate::Sensor;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;

        let plugged = Arc::new(AtomicBool::new(false));
        let input = plugged.clone();
        let chip = SimMcp3008::new(move |_, index| {
            if input.load(Ordering::Relaxed) {
                512 + (index % 7) as u16 * 20
            } else {
                0
            }
        });
        let settings = SoundSettings {
            window_ms: 50,
            rate_hz: 4000,
            calibration_db: 0.0,
        };
        let adc = Mcp3008::new(RppalSpiBus::new(chip, 1_000_000), 0);
        let mut meter = SoundMeter::start("mic", adc, settings);
        match meter.read() {
            Err(err @ SensorError::NoSignal { .. }) => {
                assert!(err.to_string().starts_with("mic: no signal: "), "{err}")
            }
            other => panic!("expected no signal, got {other:?}"),
        }
        plugged.store(true, Ordering::Relaxed);
        let level = (0..20)
            .find_map(|_| meter.read().ok())
            .expect("a level once the signal is back");
        assert!(level[0].value > -40.0, "{level:?}");
    }
}
