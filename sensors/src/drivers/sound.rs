//! Sound level from an analog microphone module sampled by an ADC, measured honestly: a
//! sampler thread reads the ADC continuously at a paced rate the bus sustains, takes the RMS of
//! each window (DC bias removed), and each poll reports the equivalent continuous level (Leq)
//! of every window since the last poll — energy-averaged, never an average of dB — in dBFS
//! plus `calibration_db` (dB SPL of a 0 dBFS signal).
//!
//! The arithmetic ([`window_mean_square`], [`dbfs`], [`LeqAccumulator`], [`energy_average_db`])
//! is pure; [`WindowSampler`] takes one window from any [`AdcSampler`]; [`SoundMeter`] owns the
//! thread. 0 dBFS is the RMS of a full-scale sine (AES17), so a sine swinging over the ADC's
//! whole range reads 0 dBFS and a square wave +3 dBFS.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::reading::{Measurement, Quantity};
use crate::{Sensor, SensorError};

/// An ADC channel a microphone is wired to.
pub trait AdcSampler: Send + 'static {
    /// The driver name as written in config (`mcp3008-sound`).
    const DRIVER: &'static str;
    /// Prepares the ADC for continuous sampling (after start and after any error).
    fn start(&mut self, _device: &str) -> Result<(), SensorError> {
        Ok(())
    }
    /// One conversion, in counts.
    fn sample(&mut self, device: &str) -> Result<i32, SensorError>;
    /// Conversions taken per [`AdcSampler::sample_block`] call (1: one at a time, paced).
    fn block_len(&self) -> usize {
        1
    }
    /// Fills `out` (at most `block_len()` long) with conversions started `spacing` apart where
    /// the bus can space them itself (one bus message); the default takes them one by one and
    /// leaves the spacing to the caller's pacer.
    fn sample_block(
        &mut self,
        device: &str,
        out: &mut [i32],
        _spacing: Duration,
    ) -> Result<(), SensorError> {
        for slot in out.iter_mut() {
            *slot = self.sample(device)?;
        }
        Ok(())
    }
    /// The full span of the input in counts (1023 for 10 bits); a full-scale sine swings over it.
    fn full_scale(&self) -> f64;
}

/// The mean square of a window of samples around their own mean (the module's DC bias, about
/// half the supply, is removed). `None` for an empty window.
pub fn window_mean_square(samples: &[i32]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let count = samples.len() as f64;
    let mean = samples.iter().map(|&s| f64::from(s)).sum::<f64>() / count;
    Some(
        samples
            .iter()
            .map(|&s| (f64::from(s) - mean).powi(2))
            .sum::<f64>()
            / count,
    )
}

/// A mean square in dBFS: relative to a full-scale sine, whose amplitude is half the span and
/// whose mean square is amplitude²/2. Silence (0) is floored at one count's quantisation noise
/// (1/12 count²) so the level stays finite.
pub fn dbfs(mean_square: f64, full_scale: f64) -> f64 {
    let amplitude = full_scale / 2.0;
    let reference = amplitude * amplitude / 2.0;
    10.0 * (mean_square.max(1.0 / 12.0) / reference).log10()
}

/// Levels in dB averaged as energies: `10·log10(mean(10^(L/10)))`. `None` when empty.
pub fn energy_average_db(levels: &[f64]) -> Option<f64> {
    if levels.is_empty() {
        return None;
    }
    let energy = levels.iter().map(|l| 10f64.powf(l / 10.0)).sum::<f64>() / levels.len() as f64;
    Some(10.0 * energy.log10())
}

/// The windows of one publish interval: their energies, summed, for the Leq.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LeqAccumulator {
    energy_sum: f64,
    windows: u64,
    max_mean_square: f64,
}

impl LeqAccumulator {
    /// Adds one window's mean square (equal-length windows, so each weighs the same).
    pub fn add_window(&mut self, mean_square: f64) {
        self.energy_sum += mean_square;
        self.windows += 1;
        self.max_mean_square = self.max_mean_square.max(mean_square);
    }

    /// How many windows were added.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// The mean square over all windows (the Leq's energy); `None` before the first window.
    pub fn mean_square(&self) -> Option<f64> {
        (self.windows > 0).then(|| self.energy_sum / self.windows as f64)
    }

    /// The Leq in dBFS for an ADC of `full_scale` counts.
    pub fn leq_dbfs(&self, full_scale: f64) -> Option<f64> {
        self.mean_square().map(|ms| dbfs(ms, full_scale))
    }

    /// The loudest window in dBFS (Lmax with the window as time weighting).
    pub fn max_dbfs(&self, full_scale: f64) -> Option<f64> {
        (self.windows > 0).then(|| dbfs(self.max_mean_square, full_scale))
    }
}

/// How a [`SoundMeter`] samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SoundSettings {
    /// Length of one RMS window.
    pub window_ms: u64,
    /// Target samples per second; the sampler runs slower if the bus cannot keep up.
    pub rate_hz: u32,
    /// dB SPL of a 0 dBFS signal, added to every level (0 = publish dBFS).
    pub calibration_db: f64,
}

impl SoundSettings {
    /// Samples in one window at the target rate (at least 2).
    pub fn window_len(&self) -> usize {
        let samples = u64::from(self.rate_hz).saturating_mul(self.window_ms) / 1000;
        samples.clamp(2, 1 << 20) as usize
    }
}

/// Keeps a sampler at its target rate: sleeps only when more than a millisecond ahead, so a
/// fast bus is read in short bursts and a slow one as fast as it goes.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate_hz: f64,
    started: Instant,
    taken: u64,
}

impl Pacer {
    pub fn new(rate_hz: u32) -> Self {
        Pacer {
            rate_hz: f64::from(rate_hz.max(1)),
            started: Instant::now(),
            taken: 0,
        }
    }

    /// Counts one sample and sleeps if the sampler is ahead of its rate.
    pub fn after_sample(&mut self) {
        self.after_samples(1);
    }

    /// Counts `n` samples and sleeps if the sampler is ahead of its rate. Behind, it never
    /// spins: the next bus call blocks (a batched bus sleeps in the kernel).
    pub fn after_samples(&mut self, n: usize) {
        self.taken += n as u64;
        let due = self.started.elapsed().as_secs_f64() * self.rate_hz;
        let ahead = self.taken as f64 - due;
        if ahead > self.rate_hz / 1000.0 {
            std::thread::sleep(Duration::from_secs_f64(ahead / self.rate_hz));
        }
    }

    /// Starts counting again (after an error pause).
    pub fn restart(&mut self) {
        self.started = Instant::now();
        self.taken = 0;
    }
}

/// Takes windows of samples from an ADC and returns their mean squares.
pub struct WindowSampler<A> {
    name: String,
    adc: A,
    buffer: Vec<i32>,
    window_len: usize,
    spacing: Duration,
    started: bool,
}

impl<A: AdcSampler> WindowSampler<A> {
    /// Windows of `window_len` samples taken at `rate_hz`.
    pub fn new(name: &str, adc: A, window_len: usize, rate_hz: u32) -> Self {
        WindowSampler {
            name: name.to_string(),
            adc,
            buffer: Vec::with_capacity(window_len),
            window_len: window_len.max(2),
            spacing: Duration::from_secs_f64(1.0 / f64::from(rate_hz.max(1))),
            started: false,
        }
    }

    /// One window's mean square, `pace(n)` called after each block of `n` samples. An error
    /// drops the partial window, and the ADC is started again on the next call. A window that
    /// never moves or sits at a rail is [`SensorError::NoSignal`] (an unplugged microphone).
    pub fn next_window(&mut self, pace: &mut dyn FnMut(usize)) -> Result<f64, SensorError> {
        if !self.started {
            self.adc.start(&self.name)?;
            self.started = true;
        }
        self.buffer.clear();
        let block = self.adc.block_len().max(1);
        while self.buffer.len() < self.window_len {
            let from = self.buffer.len();
            let n = block.min(self.window_len - from);
            self.buffer.resize(from + n, 0);
            let spacing = self.spacing;
            if let Err(err) = self
                .adc
                .sample_block(&self.name, &mut self.buffer[from..], spacing)
            {
                self.started = false;
                return Err(err);
            }
            pace(n);
        }
        if let Some(detail) = super::sound_signal::no_signal(&self.buffer, self.adc.full_scale()) {
            return Err(SensorError::NoSignal {
                device: self.name.clone(),
                detail,
            });
        }
        window_mean_square(&self.buffer).ok_or_else(|| SensorError::BadData {
            device: self.name.clone(),
            detail: "empty window".into(),
        })
    }

    /// The ADC's full span in counts.
    pub fn full_scale(&self) -> f64 {
        self.adc.full_scale()
    }

    /// Gives the ADC back (tests inspect their fake).
    pub fn release(self) -> A {
        self.adc
    }
}

/// What the sampler thread hands to `read`: the windows since the last read, the last error,
/// and how many samples it took in how long (the rate reached).
#[derive(Debug, Default)]
struct Shared {
    leq: LeqAccumulator,
    error: Option<SensorError>,
    samples: u64,
    since: Option<Instant>,
}

/// The sampler's throughput since the last read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerStats {
    /// Samples taken.
    pub samples: u64,
    /// Over this long.
    pub elapsed: Duration,
    /// Complete windows.
    pub windows: u64,
}

impl SamplerStats {
    /// Samples per second reached.
    pub fn rate_hz(&self) -> f64 {
        self.samples as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// An analog sound sensor: a sampler thread and the Leq since the last read.
pub struct SoundMeter {
    name: String,
    driver: &'static str,
    full_scale: f64,
    settings: SoundSettings,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    last_stats: Option<SamplerStats>,
}

/// How long the sampler waits after an error before starting the ADC again.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

impl SoundMeter {
    /// Starts sampling `adc` on a thread of its own; stops when the meter is dropped.
    pub fn start<A: AdcSampler>(name: &str, adc: A, settings: SoundSettings) -> Self {
        let full_scale = adc.full_scale();
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = WindowSampler::new(name, adc, settings.window_len(), settings.rate_hz);
        let thread = {
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("sound-{name}"))
                .spawn(move || sample_until_stopped(sampler, settings.rate_hz, &shared, &stop))
                .ok()
        };
        SoundMeter {
            name: name.to_string(),
            driver: A::DRIVER,
            full_scale,
            settings,
            shared,
            stop,
            thread,
            last_stats: None,
        }
    }

    /// The throughput of the interval the last `read` reported on.
    pub fn last_stats(&self) -> Option<SamplerStats> {
        self.last_stats
    }

    /// Takes what the sampler gathered since the last call, waiting up to `wait` for the first
    /// complete window.
    fn take(&mut self, wait: Duration) -> Result<(LeqAccumulator, SamplerStats), SensorError> {
        let (lock, ready) = &*self.shared;
        let guard = crate::sync::lock(lock);
        let (mut guard, _) = ready
            .wait_timeout_while(guard, wait, |state| {
                state.leq.windows() == 0 && state.error.is_none()
            })
            .unwrap_or_else(|poison| poison.into_inner());
        let now = Instant::now();
        let stats = SamplerStats {
            samples: guard.samples,
            elapsed: guard.since.map(|since| now - since).unwrap_or_default(),
            windows: guard.leq.windows(),
        };
        let leq = std::mem::take(&mut guard.leq);
        let error = guard.error.take();
        guard.samples = 0;
        guard.since = Some(now);
        drop(guard);
        match error {
            Some(err) if leq.windows() == 0 => Err(err),
            Some(err) => {
                tracing::debug!(sensor = %self.name, error = %err, "sound sampler recovered");
                Ok((leq, stats))
            }
            None => Ok((leq, stats)),
        }
    }
}

/// The sampler thread: windows into the shared accumulator until `stop`.
fn sample_until_stopped<A: AdcSampler>(
    mut sampler: WindowSampler<A>,
    rate_hz: u32,
    shared: &(Mutex<Shared>, Condvar),
    stop: &AtomicBool,
) {
    let (lock, ready) = shared;
    let mut pacer = Pacer::new(rate_hz);
    let mut taken = 0u64;
    if let Ok(mut state) = lock.lock() {
        state.since = Some(Instant::now());
    }
    while !stop.load(Ordering::Relaxed) {
        let result = sampler.next_window(&mut |n| {
            taken += n as u64;
            pacer.after_samples(n);
        });
        let mut state = crate::sync::lock(lock);
        state.samples += std::mem::take(&mut taken);
        let failed = match result {
            Ok(mean_square) => {
                state.leq.add_window(mean_square);
                false
            }
            Err(err) => {
                state.error = Some(err);
                true
            }
        };
        drop(state);
        ready.notify_all();
        if failed {
            pause_unless_stopped(ERROR_PAUSE, stop);
            pacer.restart();
        }
    }
}

/// Sleeps `duration` in short steps, returning early when `stop` is set.
fn pause_unless_stopped(duration: Duration, stop: &AtomicBool) {
    let until = Instant::now() + duration;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for SoundMeter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Sensor for SoundMeter {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &str {
        self.driver
    }

    fn read(&mut self) -> Result<Vec<Measurement>, SensorError> {
        if self.thread.is_none() {
            return Err(SensorError::Unsupported(format!(
                "{}: the sampler thread could not be started",
                self.name
            )));
        }
        let wait = Duration::from_millis(self.settings.window_ms.saturating_mul(2)) + ERROR_PAUSE;
        let (leq, stats) = self.take(wait)?;
        self.last_stats = Some(stats);
        let level = leq
            .leq_dbfs(self.full_scale)
            .ok_or_else(|| SensorError::Timeout {
                device: self.name.clone(),
            })?;
        tracing::debug!(
            sensor = %self.name,
            rate_hz = stats.rate_hz(),
            windows = stats.windows,
            leq_dbfs = level,
            "sound interval"
        );
        Ok(vec![Measurement::new(
            Quantity::Sound,
            level + self.settings.calibration_db,
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full-scale sine over a span of `full_scale` counts, sampled `n` times over whole periods.
    fn sine(n: usize, periods: usize, amplitude: f64, offset: f64) -> Vec<i32> {
        (0..n)
            .map(|i| {
                let phase = 2.0 * std::f64::consts::PI * (periods * i) as f64 / n as f64;
                (offset + amplitude * phase.sin()).round() as i32
            })
            .collect()
    }

    #[test]
    fn full_scale_sine_is_zero_dbfs_and_half_is_minus_six() {
        let full = window_mean_square(&sine(8000, 50, 16000.0, 16000.0)).expect("samples");
        assert!(dbfs(full, 32000.0).abs() < 0.01, "{}", dbfs(full, 32000.0));
        let half = window_mean_square(&sine(8000, 50, 8000.0, 16000.0)).expect("samples");
        assert!((dbfs(half, 32000.0) + 6.0206).abs() < 0.01);
        // A square wave over the full span: +3.01 dBFS.
        let square: Vec<i32> = (0..1000)
            .map(|i| if i % 2 == 0 { 0 } else { 32000 })
            .collect();
        let ms = window_mean_square(&square).expect("samples");
        assert!((dbfs(ms, 32000.0) - 3.0103).abs() < 0.001);
    }

    #[test]
    fn dc_bias_does_not_count_and_silence_stays_finite() {
        let biased = window_mean_square(&[512; 100]).expect("samples");
        assert_eq!(biased, 0.0);
        let floor = dbfs(biased, 1023.0);
        assert!(floor.is_finite() && floor < -60.0, "{floor}");
        assert_eq!(window_mean_square(&[]), None);
    }

    #[test]
    fn leq_averages_energy_not_decibels() {
        // One window at 0 dBFS and one at −20 dBFS: the Leq is −2.6 dBFS, not −10.
        let reference = 1000.0f64.powi(2) / 2.0;
        let mut leq = LeqAccumulator::default();
        leq.add_window(reference);
        leq.add_window(reference / 100.0);
        let level = leq.leq_dbfs(2000.0).expect("two windows");
        assert!((level - 10.0 * (0.505f64).log10()).abs() < 1e-9, "{level}");
        assert!((level + 2.97).abs() < 0.01, "{level}");
        assert_eq!(leq.max_dbfs(2000.0), Some(0.0));
        let averaged = energy_average_db(&[0.0, -20.0]).expect("levels");
        assert!((averaged - level).abs() < 1e-9);
        assert_eq!(LeqAccumulator::default().leq_dbfs(2000.0), None);
    }

    #[test]
    fn window_length_follows_rate_and_window() {
        let settings = SoundSettings {
            window_ms: 125,
            rate_hz: 8000,
            calibration_db: 0.0,
        };
        assert_eq!(settings.window_len(), 1000);
        let tiny = SoundSettings {
            window_ms: 1,
            rate_hz: 100,
            ..settings
        };
        assert_eq!(tiny.window_len(), 2);
    }
}
