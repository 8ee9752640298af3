//! Sound level from an analog microphone module sampled by an ADC: the peak-to-peak swing of the
//! samples over a window, in dB relative to the ADC's full scale plus a calibration constant.
//! [`level_db`] is the pure conversion; [`SoundMeter`] drives any [`AdcSampler`] over a window.

use embedded_hal::delay::DelayNs;

use crate::reading::{Measurement, Quantity};
use crate::{Sensor, SensorError};

/// An ADC channel a microphone is wired to.
pub trait AdcSampler {
    /// The driver name as written in config (`mcp3008-sound`).
    const DRIVER: &'static str;
    /// One conversion, in counts.
    fn sample(&mut self, device: &str) -> Result<i32, SensorError>;
    /// The largest possible peak-to-peak swing in counts.
    fn full_scale(&self) -> f64;
}

/// The level in dB of a window of samples: `full_scale_db + 20·log10(peak_to_peak / full_scale)`.
/// A silent window (no swing) counts as one count of swing, so the level stays finite. `None`
/// for an empty window.
pub fn level_db(samples: &[i32], full_scale: f64, full_scale_db: f64) -> Option<f64> {
    let max = samples.iter().max()?;
    let min = samples.iter().min()?;
    let peak_to_peak = f64::from((max - min).max(1));
    Some(full_scale_db + 20.0 * (peak_to_peak / full_scale).log10())
}

/// Samples an ADC over a window and reports the sound level in dB.
pub struct SoundMeter<A, D> {
    name: String,
    adc: A,
    delay: D,
    sample_count: u32,
    interval_us: u32,
    full_scale_db: f64,
}

impl<A: AdcSampler, D: DelayNs> SoundMeter<A, D> {
    /// `sample_count` samples spread over `window_ms`; `full_scale_db` is the level a full-scale
    /// swing corresponds to.
    pub fn new(
        name: &str,
        adc: A,
        delay: D,
        sample_count: u32,
        window_ms: u64,
        full_scale_db: f64,
    ) -> Self {
        let sample_count = sample_count.max(1);
        let interval_us = (window_ms.saturating_mul(1000) / u64::from(sample_count))
            .min(u64::from(u32::MAX)) as u32;
        SoundMeter {
            name: name.to_string(),
            adc,
            delay,
            sample_count,
            interval_us,
            full_scale_db,
        }
    }

    /// The samples of one window.
    pub fn sample_window(&mut self) -> Result<Vec<i32>, SensorError> {
        let mut samples = Vec::with_capacity(self.sample_count as usize);
        for index in 0..self.sample_count {
            if index > 0 {
                self.delay.delay_us(self.interval_us);
            }
            samples.push(self.adc.sample(&self.name)?);
        }
        Ok(samples)
    }

    /// Gives the ADC back (tests check their mock).
    pub fn release(self) -> A {
        self.adc
    }
}

impl<A: AdcSampler + Send, D: DelayNs + Send> Sensor for SoundMeter<A, D> {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &str {
        A::DRIVER
    }

    fn read(&mut self) -> Result<Vec<Measurement>, SensorError> {
        let samples = self.sample_window()?;
        let level =
            level_db(&samples, self.adc.full_scale(), self.full_scale_db).ok_or_else(|| {
                SensorError::BadData {
                    device: self.name.clone(),
                    detail: "no samples".into(),
                }
            })?;
        Ok(vec![Measurement::new(Quantity::Sound, level)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_is_relative_to_full_scale() {
        assert_eq!(level_db(&[0, 1023], 1023.0, 90.0), Some(90.0));
        let half = level_db(&[256, 767, 500], 1022.0, 90.0).expect("samples");
        assert!((half - (90.0 - 6.0206)).abs() < 0.001, "{half}");
        let tenth = level_db(&[-50, 50], 1000.0, 80.0).expect("samples");
        assert!((tenth - 60.0).abs() < 1e-9, "{tenth}");
    }

    #[test]
    fn silence_stays_finite_and_empty_is_none() {
        let silent = level_db(&[512; 10], 1023.0, 90.0).expect("samples");
        assert!((silent - (90.0 - 60.198)).abs() < 0.01, "{silent}");
        assert_eq!(level_db(&[], 1023.0, 90.0), None);
    }
}
