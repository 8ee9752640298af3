//! sound_sampler_bench: the sound sampler's SPI transactions per second and CPU per second of
//! audio, before (one SPI transaction and one pacing step per sample) and after (one SPI
//! message of 128 conversions, the gaps slept by the bus) side by side, against simulated
//! buses that behave like rppal's (no hardware needed). Prints figures; asserts none.
//!
//! Each row is a `SoundMeter` run for 10 s at the given rate: samples/s reached (whole 500 ms
//! windows), SPI transactions per second (each one ioctl on a Pi), and the process CPU per
//! second of audio. The simulated buses make no system calls: on a Pi every transaction adds
//! a kernel entry (spidev ioctl) on top of these CPU figures, so the transaction count is the
//! figure that carries over. The ADS1115 row is the I2C sampler at its 860/s.
//!
//! Run: `cargo run --release -p officemesh-sensors --example sound_sampler_bench`

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use officemesh_sensors::drivers::ads1115::Ads1115;
use officemesh_sensors::drivers::mcp3008::Mcp3008;
use officemesh_sensors::drivers::sound::{AdcSampler, SoundMeter, SoundSettings};
use officemesh_sensors::drivers::{OsBusError, StdDelay};
use officemesh_sensors::rpi::i2c::PiI2c;
use officemesh_sensors::rpi::spi::{FrameBus, PiSpi};
use officemesh_sensors::simbus::{RppalSpiBus, RppalSpiDevice, SimAds1115, SimI2cBus, SimMcp3008};
use officemesh_sensors::{Sensor, SensorError};

/// CPU seconds (user + system) this process used so far, from /proc/self/stat (USER_HZ = 100).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the state field.
    (ticks(11) + ticks(12)) / 100.0
}

/// A bus that counts the SPI messages (transactions) it carries.
struct Counted<B> {
    bus: B,
    count: Arc<AtomicUsize>,
}

impl<B: FrameBus> FrameBus for Counted<B> {
    fn transfer_frames(
        &mut self,
        read: &mut [u8],
        write: &[u8],
        frame: usize,
        gap_us: u16,
    ) -> Result<(), OsBusError> {
        let before = self.bus.messages();
        let result = self.bus.transfer_frames(read, write, frame, gap_us);
        let sent = usize::try_from(self.bus.messages() - before).unwrap_or(usize::MAX);
        self.count.fetch_add(sent, Ordering::Relaxed);
        result
    }

    fn messages(&self) -> u64 {
        self.bus.messages()
    }
}

/// The sampler as it was: one conversion per call, paced per sample.
struct OneByOne<A>(A);

impl<A: AdcSampler> AdcSampler for OneByOne<A> {
    const DRIVER: &'static str = A::DRIVER;
    fn sample(&mut self, device: &str) -> Result<i32, SensorError> {
        self.0.sample(device)
    }
    fn full_scale(&self) -> f64 {
        self.0.full_scale()
    }
}

fn chip(rate: u32) -> SimMcp3008 {
    SimMcp3008::sine(0, 440.0, 200.0, 511.5, rate)
}

fn paced(label: &str, mut meter: SoundMeter, transactions: &AtomicUsize, seconds: u64) {
    // Let the first window fill, then measure a steady interval.
    let _ = meter.read();
    let cpu = cpu_seconds();
    let sent = transactions.load(Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let level = meter.read().map(|m| m[0].value).unwrap_or(f64::NAN);
    let wall = started.elapsed().as_secs_f64();
    let used = cpu_seconds() - cpu;
    let sent = transactions.load(Ordering::Relaxed) - sent;
    let stats = meter.last_stats();
    println!(
        "{label:<34} {:>6.0} samples/s  {:>7.0} SPI transactions/s  {:>6.1} ms CPU per s of audio  Leq {level:.1} dBFS",
        stats.map(|s| s.rate_hz()).unwrap_or(0.0),
        sent as f64 / wall,
        1000.0 * used / wall,
    );
}

fn mcp3008_rows(rate_hz: u32, seconds: u64) {
    let settings = SoundSettings {
        window_ms: 500,
        rate_hz,
        calibration_db: 0.0,
    };
    let count = Arc::new(AtomicUsize::new(0));
    let before = Counted {
        bus: PiSpi::new(RppalSpiDevice::new(chip(rate_hz)), "/dev/spidev0.0"),
        count: count.clone(),
    };
    let adc = OneByOne(Mcp3008::new(before, 0));
    paced(
        &format!("mcp3008 {rate_hz}/s before (per sample)"),
        SoundMeter::start("bench", adc, settings),
        &count,
        seconds,
    );
    let count = Arc::new(AtomicUsize::new(0));
    let after = Counted {
        bus: RppalSpiBus::new(chip(rate_hz), 1_000_000),
        count: count.clone(),
    };
    let adc = Mcp3008::new(after, 0).with_clock_hz(1_000_000);
    paced(
        &format!("mcp3008 {rate_hz}/s after (128 per message)"),
        SoundMeter::start("bench", adc, settings),
        &count,
        seconds,
    );
}

fn main() {
    mcp3008_rows(8000, 10);
    mcp3008_rows(4000, 10);
    let bus = SimI2cBus::new();
    bus.attach(
        0x48,
        SimAds1115::new(i16::MAX, |n| {
            (12000.0 + 4000.0 * (n as f64 * 2.0 * std::f64::consts::PI * 440.0 / 860.0).sin())
                as i16
        }),
    );
    let adc = Ads1115::new(PiI2c::new(bus, "/dev/i2c-1"), 0x48, 0, StdDelay);
    let settings = SoundSettings {
        window_ms: 500,
        rate_hz: 860,
        calibration_db: 0.0,
    };
    let none = AtomicUsize::new(0);
    paced(
        "ads1115 860/s (I2C, no SPI)",
        SoundMeter::start("bench", adc, settings),
        &none,
        10,
    );
}
