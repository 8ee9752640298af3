//! sound_sampler_bench: the sound sampler's rate and CPU cost on this machine, against
//! simulated buses that behave like rppal's (no hardware needed). Prints figures; asserts none.
//!
//! 1. Unpaced: how many samples per second the sampler takes through the MCP3008 driver and the
//!    Pi SPI glue when the bus costs nothing — the sampler's own ceiling.
//! 2. Paced: a `SoundMeter` at its default 8000 samples/s (MCP3008) and 860 samples/s
//!    (ADS1115) for 10 s each: the rate reached (counted in whole 500 ms windows, so within
//!    one window of the truth) and the process CPU it cost.
//!
//! On a Pi the bus adds its own time per conversion (spidev ioctl, I2C transfer); the agent
//! logs the rate it reaches there (`RUST_LOG=officemesh_sensors=debug`, "sound interval").
//!
//! Run: `cargo run --release -p officemesh-sensors --example sound_sampler_bench`

use std::time::{Duration, Instant};

use officemesh_sensors::drivers::ads1115::Ads1115;
use officemesh_sensors::drivers::mcp3008::Mcp3008;
use officemesh_sensors::drivers::sound::{SoundMeter, SoundSettings, WindowSampler};
use officemesh_sensors::drivers::StdDelay;
use officemesh_sensors::rpi::i2c::PiI2c;
use officemesh_sensors::rpi::spi::PiSpi;
use officemesh_sensors::simbus::{RppalSpiDevice, SimAds1115, SimI2cBus, SimMcp3008};
use officemesh_sensors::Sensor;

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

fn mcp3008() -> Mcp3008<PiSpi<RppalSpiDevice<SimMcp3008>>> {
    let chip = SimMcp3008::sine(0, 440.0, 200.0, 511.5, 8000);
    Mcp3008::new(PiSpi::new(RppalSpiDevice::new(chip), "/dev/spidev0.0"), 0)
}

fn unpaced() {
    let mut sampler = WindowSampler::new("bench", mcp3008(), 4000);
    let cpu = cpu_seconds();
    let started = Instant::now();
    let mut windows = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        if sampler.next_window(&mut || {}).is_ok() {
            windows += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let samples = windows as f64 * 4000.0;
    println!(
        "unpaced mcp3008 (sim bus): {:.0} samples/s, {:.2} µs CPU per sample",
        samples / wall,
        (cpu_seconds() - cpu) * 1e6 / samples
    );
}

fn paced(label: &str, mut meter: SoundMeter, seconds: u64) {
    // Let the first window fill, then measure a steady interval.
    let _ = meter.read();
    let cpu = cpu_seconds();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let level = meter.read().map(|m| m[0].value).unwrap_or(f64::NAN);
    let wall = started.elapsed().as_secs_f64();
    let used = cpu_seconds() - cpu;
    let stats = meter.last_stats();
    println!(
        "{label}: {:.0} samples/s reached, {} windows, CPU {:.1} % of one core, Leq {level:.1} dBFS",
        stats.map(|s| s.rate_hz()).unwrap_or(0.0),
        stats.map(|s| s.windows).unwrap_or(0),
        100.0 * used / wall
    );
}

fn main() {
    unpaced();
    let settings = SoundSettings {
        window_ms: 500,
        rate_hz: 8000,
        calibration_db: 0.0,
    };
    paced(
        "mcp3008 paced at 8000/s",
        SoundMeter::start("bench", mcp3008(), settings),
        10,
    );
    let bus = SimI2cBus::new();
    bus.attach(
        0x48,
        SimAds1115::new(i16::MAX, |n| {
            (12000.0 + 4000.0 * (n as f64 * 2.0 * std::f64::consts::PI * 440.0 / 860.0).sin())
                as i16
        }),
    );
    let adc = Ads1115::new(PiI2c::new(bus, "/dev/i2c-1"), 0x48, 0, StdDelay);
    paced(
        "ads1115 paced at 860/s",
        SoundMeter::start(
            "bench",
            adc,
            SoundSettings {
                rate_hz: 860,
                ..settings
            },
        ),
        10,
    );
}
