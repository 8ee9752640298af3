//! Per-sensor processing of what a driver measured: calibration (offset, two-point linear),
//! smoothing (moving average or median over a window) and rounding, applied by
//! [`ProcessedSensor`], a wrapper around any [`Sensor`]; and [`PublishPolicy`], the pure rule the
//! agent consults before writing a reading (on change beyond a delta, or a heartbeat).
//!
//! Two corrections follow physics rather than arithmetic: a temperature correction also
//! corrects the relative humidity of the same reading so the dew point stays the same (a
//! sensor warmed by the Pi reads the right water content but a too-low RH), and sound levels
//! are smoothed as energies (`10·log10(mean(10^(L/10)))`), never by averaging dB.
//!
//! Pure arithmetic: no I/O, no clocks (elapsed time is passed in), no knowledge of buses.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::reading::{Measurement, Quantity};
use crate::{Sensor, SensorError};

/// How the values of one quantity of one sensor are processed (`[sensors.temperature]` etc.).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Processing {
    /// Added after the two-point correction (e.g. `-1.5` for a sensor warmed by the Pi's CPU).
    pub offset: f64,
    /// Two-point linear calibration against a reference instrument; applied before `offset`.
    pub two_point: Option<TwoPoint>,
    /// Decimal places kept; none = as measured.
    pub decimals: Option<u32>,
    /// Smoothing over the last few readings.
    pub smoothing: Smoothing,
    /// Publish only when the value moved more than this since the last published one.
    pub publish_delta: Option<f64>,
    /// Publish at least this often even when the value did not move (seconds).
    pub heartbeat_s: Option<u64>,
}

/// Two readings of the sensor (`raw_*`) and what a reference instrument said at the same time.
/// Values are mapped linearly through the two points (and extrapolated beyond them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoPoint {
    pub raw_low: f64,
    pub raw_high: f64,
    pub reference_low: f64,
    pub reference_high: f64,
}

/// Smoothing over a window of the most recent readings (the window includes the new one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Smoothing {
    /// Every reading as measured.
    #[default]
    None,
    /// Mean of the last N readings.
    MovingAverage(usize),
    /// Median of the last N readings: ignores single spikes (DHT glitches, door slams).
    Median(usize),
}

/// A processing value serde accepts but the arithmetic cannot use; the message names the key
/// (the caller prefixes the section).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProcessingError {
    #[error("offset must be a finite number")]
    Offset,
    #[error("two_point values must be finite numbers")]
    TwoPointNotFinite,
    #[error("two_point.raw_low and raw_high must differ")]
    TwoPointSameRaw,
    #[error("decimals must be at most 6")]
    Decimals,
    #[error("smoothing window must be at least 1")]
    WindowEmpty,
    #[error("smoothing window must be at most 1000")]
    WindowTooLong,
    #[error("publish_delta must be a number >= 0")]
    PublishDelta,
    #[error("heartbeat_s must be greater than 0")]
    Heartbeat,
}

impl Processing {
    /// Checks values serde cannot; the message names the key (prefixed by the caller).
    pub fn validate(&self) -> Result<(), ProcessingError> {
        if !self.offset.is_finite() {
            return Err(ProcessingError::Offset);
        }
        if let Some(points) = &self.two_point {
            let all = [
                points.raw_low,
                points.raw_high,
                points.reference_low,
                points.reference_high,
            ];
            if all.iter().any(|value| !value.is_finite()) {
                return Err(ProcessingError::TwoPointNotFinite);
            }
            if points.raw_low == points.raw_high {
                return Err(ProcessingError::TwoPointSameRaw);
            }
        }
        if let Some(decimals) = self.decimals {
            if decimals > 6 {
                return Err(ProcessingError::Decimals);
            }
        }
        match self.smoothing {
            Smoothing::MovingAverage(0) | Smoothing::Median(0) => {
                return Err(ProcessingError::WindowEmpty)
            }
            Smoothing::MovingAverage(window) | Smoothing::Median(window) if window > 1000 => {
                return Err(ProcessingError::WindowTooLong)
            }
            _ => {}
        }
        if let Some(delta) = self.publish_delta {
            if !(delta.is_finite() && delta >= 0.0) {
                return Err(ProcessingError::PublishDelta);
            }
        }
        if self.heartbeat_s == Some(0) {
            return Err(ProcessingError::Heartbeat);
        }
        Ok(())
    }

    /// The calibrated value of one raw reading (two-point, then offset).
    pub fn calibrate(&self, raw: f64) -> f64 {
        let corrected = match &self.two_point {
            Some(points) => {
                let slope = (points.reference_high - points.reference_low)
                    / (points.raw_high - points.raw_low);
                points.reference_low + (raw - points.raw_low) * slope
            }
            None => raw,
        };
        corrected + self.offset
    }

    /// `value` rounded to `decimals` places (unchanged when none are set).
    pub fn round(&self, value: f64) -> f64 {
        match self.decimals {
            Some(decimals) => {
                let scale = 10f64.powi(decimals as i32);
                (value * scale).round() / scale
            }
            None => value,
        }
    }

    /// The publish rule these settings describe.
    pub fn publish_policy(&self) -> PublishPolicy {
        PublishPolicy {
            delta: self.publish_delta,
            heartbeat: self.heartbeat_s.map(Duration::from_secs),
        }
    }
}

/// When a new value is worth writing to the replicated state. With neither rule set, every
/// reading is published. Pure: the caller passes the last published value and the time since.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PublishPolicy {
    /// Publish when the value moved strictly more than this.
    pub delta: Option<f64>,
    /// Publish when at least this long passed since the last publication.
    pub heartbeat: Option<Duration>,
}

impl PublishPolicy {
    /// True when `new` should be published, given the last published value (`None`: nothing was
    /// published yet) and the time `elapsed` since that publication.
    pub fn should_publish(&self, previous: Option<f64>, new: f64, elapsed: Duration) -> bool {
        let Some(previous) = previous else {
            return true;
        };
        if self.delta.is_none() && self.heartbeat.is_none() {
            return true;
        }
        let moved = self
            .delta
            .is_some_and(|delta| (new - previous).abs() > delta);
        let heartbeat_due = self.heartbeat.is_some_and(|period| elapsed >= period);
        moved || heartbeat_due
    }
}

/// The recent values one quantity is smoothed over.
#[derive(Debug, Clone)]
struct Smoother {
    kind: Smoothing,
    window: VecDeque<f64>,
    /// Values are levels in dB: the moving average is taken over their energies.
    decibels: bool,
}

impl Smoother {
    fn new(kind: Smoothing, decibels: bool) -> Self {
        Smoother {
            kind,
            window: VecDeque::new(),
            decibels,
        }
    }

    /// Adds `value` and returns the smoothed value.
    fn push(&mut self, value: f64) -> f64 {
        let size = match self.kind {
            Smoothing::None => return value,
            Smoothing::MovingAverage(size) | Smoothing::Median(size) => size.max(1),
        };
        self.window.push_back(value);
        while self.window.len() > size {
            self.window.pop_front();
        }
        match self.kind {
            Smoothing::Median(_) => median(self.window.iter().copied()),
            _ if self.decibels => {
                let energy = self
                    .window
                    .iter()
                    .map(|level| 10f64.powf(level / 10.0))
                    .sum::<f64>()
                    / self.window.len() as f64;
                10.0 * energy.log10()
            }
            _ => self.window.iter().sum::<f64>() / self.window.len() as f64,
        }
    }
}

/// The median of finite values (mean of the middle two for an even count).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut sorted: Vec<f64> = values.collect();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// One quantity's settings and its smoothing state.
#[derive(Debug, Clone)]
struct Stage {
    processing: Processing,
    smoother: Smoother,
}

impl Stage {
    fn new(processing: Processing, decibels: bool) -> Self {
        let smoother = Smoother::new(processing.smoothing, decibels);
        Stage {
            processing,
            smoother,
        }
    }

    /// Smooths and rounds a value already calibrated.
    fn finish(&mut self, calibrated: f64) -> f64 {
        let smoothed = self.smoother.push(calibrated);
        self.processing.round(smoothed)
    }
}

/// Saturation vapour pressure over water in hPa (Magnus formula, Sonntag 1990 constants:
/// 6.112 hPa, 17.62, 243.12 °C; within 0.1 % from −45 to 60 °C).
pub fn saturation_vapour_pressure(celsius: f64) -> f64 {
    6.112 * (17.62 * celsius / (243.12 + celsius)).exp()
}

/// The relative humidity at `corrected` °C of air measured at `measured` °C and `humidity` %:
/// the same water content (dew point), at the corrected temperature. Capped at 0–100 %.
pub fn humidity_at_corrected_temperature(humidity: f64, measured: f64, corrected: f64) -> f64 {
    let ratio = saturation_vapour_pressure(measured) / saturation_vapour_pressure(corrected);
    (humidity * ratio).clamp(0.0, 100.0)
}

/// The dew point in °C of air at `celsius` and `humidity` % (Magnus formula inverted).
pub fn dew_point(celsius: f64, humidity: f64) -> f64 {
    let gamma = (humidity.max(1e-9) / 100.0).ln() + 17.62 * celsius / (243.12 + celsius);
    243.12 * gamma / (17.62 - gamma)
}

/// A sensor whose readings are calibrated, smoothed and rounded per quantity. A non-finite value
/// from the driver is refused (the read fails) rather than published or fed to the smoother.
pub struct ProcessedSensor {
    inner: Box<dyn Sensor>,
    temperature: Stage,
    humidity: Stage,
    sound: Stage,
    activity: Stage,
}

impl ProcessedSensor {
    /// Wraps `inner` with the processing for each quantity.
    pub fn new(
        inner: Box<dyn Sensor>,
        temperature: Processing,
        humidity: Processing,
        sound: Processing,
    ) -> Self {
        ProcessedSensor {
            inner,
            temperature: Stage::new(temperature, false),
            humidity: Stage::new(humidity, false),
            activity: Stage::new(sound.clone(), false),
            sound: Stage::new(sound, true),
        }
    }

    fn stage(&mut self, quantity: Quantity) -> &mut Stage {
        match quantity {
            Quantity::Temperature => &mut self.temperature,
            Quantity::Humidity => &mut self.humidity,
            Quantity::Sound => &mut self.sound,
            Quantity::SoundActivity => &mut self.activity,
        }
    }
}

impl Sensor for ProcessedSensor {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn driver(&self) -> &str {
        self.inner.driver()
    }

    fn read(&mut self) -> Result<Vec<Measurement>, SensorError> {
        let raw = self.inner.read()?;
        if let Some(bad) = raw.iter().find(|m| !m.value.is_finite()) {
            return Err(SensorError::BadData {
                device: self.inner.name().to_string(),
                detail: format!("{} is {}", bad.quantity, bad.value),
            });
        }
        // The temperature correction of this reading, for the humidity's dew-point correction.
        let temperature = raw
            .iter()
            .find(|m| m.quantity == Quantity::Temperature)
            .map(|m| (m.value, self.temperature.processing.calibrate(m.value)));
        Ok(raw
            .into_iter()
            .map(|m| {
                let mut calibrated = m.value;
                if let (Quantity::Humidity, Some((measured, corrected))) = (m.quantity, temperature)
                {
                    calibrated = humidity_at_corrected_temperature(m.value, measured, corrected);
                }
                let stage = self.stage(m.quantity);
                let calibrated = stage.processing.calibrate(calibrated);
                Measurement::new(m.quantity, stage.finish(calibrated))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sensor that returns a scripted list of temperature values, one per read.
    struct Scripted {
        values: Vec<f64>,
        next: usize,
    }

    impl Sensor for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn driver(&self) -> &str {
            "test"
        }
        fn read(&mut self) -> Result<Vec<Measurement>, SensorError> {
            let value = self.values[self.next];
            self.next += 1;
            Ok(vec![
                Measurement::new(Quantity::Temperature, value),
                Measurement::new(Quantity::Humidity, value),
            ])
        }
    }

    fn scripted(values: &[f64]) -> Box<dyn Sensor> {
        Box::new(Scripted {
            values: values.to_vec(),
            next: 0,
        })
    }

    fn temperatures(sensor: &mut ProcessedSensor, reads: usize) -> Vec<f64> {
        (0..reads)
            .map(|_| {
                let measurements = sensor.read().expect("scripted read");
                measurements
                    .iter()
                    .find(|m| m.quantity == Quantity::Temperature)
                    .expect("temperature present")
                    .value
            })
            .collect()
    }

    #[test]
    fn two_point_then_offset_maps_reference_points() {
        let processing = Processing {
            two_point: Some(TwoPoint {
                raw_low: 10.0,
                raw_high: 30.0,
                reference_low: 11.0,
                reference_high: 29.0,
            }),
            offset: 0.5,
            ..Processing::default()
        };
        assert!((processing.calibrate(10.0) - 11.5).abs() < 1e-9);
        assert!((processing.calibrate(30.0) - 29.5).abs() < 1e-9);
        assert!((processing.calibrate(20.0) - 20.5).abs() < 1e-9);
        // Extrapolates beyond the points along the same line (slope 0.9).
        assert!((processing.calibrate(40.0) - 38.5).abs() < 1e-9);
    }

    #[test]
    fn median_ignores_a_spike_and_moving_average_does_not() {
        let spiky = [20.0, 20.2, 85.0, 20.4, 20.6];
        let mut median = ProcessedSensor::new(
            scripted(&spiky),
            Processing {
                smoothing: Smoothing::Median(3),
                ..Processing::default()
            },
            Processing::default(),
            Processing::default(),
        );
        assert_eq!(
            temperatures(&mut median, 5),
            vec![20.0, 20.1, 20.2, 20.4, 20.6]
        );

        let mut average = ProcessedSensor::new(
            scripted(&[1.0, 2.0, 3.0, 4.0]),
            Processing {
                smoothing: Smoothing::MovingAverage(2),
                decimals: Some(1),
                ..Processing::default()
            },
            Processing::default(),
            Processing::default(),
        );
        assert_eq!(temperatures(&mut average, 4), vec![1.0, 1.5, 2.5, 3.5]);
    }

    #[test]
    fn processing_is_per_quantity_and_rounds_last() {
        let mut sensor = ProcessedSensor::new(
            scripted(&[21.234_56]),
            Processing {
                offset: -1.0,
                decimals: Some(1),
                ..Processing::default()
            },
            Processing {
                decimals: Some(3),
                ..Processing::default()
            },
            Processing::default(),
        );
        let measurements = sensor.read().expect("scripted read");
        // The humidity follows the −1 °C correction (same dew point): 21.23 % at 21.23 °C is
        // 22.58 % at 20.23 °C.
        let expected_rh = humidity_at_corrected_temperature(21.234_56, 21.234_56, 20.234_56);
        assert!((expected_rh - 22.58).abs() < 0.01, "{expected_rh}");
        assert_eq!(
            measurements,
            vec![
                Measurement::new(Quantity::Temperature, 20.2),
                Measurement::new(Quantity::Humidity, (expected_rh * 1000.0).round() / 1000.0),
            ]
        );
        assert_eq!(sensor.name(), "scripted");
    }

    #[test]
    fn a_temperature_offset_keeps_the_dew_point() {
        // Tabulated saturation pressure over water (CRC Handbook): 31.69 hPa at 25 °C, 28.10 hPa
        // at 23 °C; Magnus is within 0.3 % of both. 25 °C / 50 % has a dew point of 13.85 °C.
        assert!((saturation_vapour_pressure(25.0) / 31.69 - 1.0).abs() < 0.003);
        assert!((saturation_vapour_pressure(23.0) / 28.10 - 1.0).abs() < 0.003);
        assert!((dew_point(25.0, 50.0) - 13.85).abs() < 0.01);
        let corrected = humidity_at_corrected_temperature(50.0, 25.0, 23.0);
        assert!((corrected - 56.38).abs() < 0.01, "{corrected}");
        assert!((dew_point(23.0, corrected) - dew_point(25.0, 50.0)).abs() < 1e-9);
        // Near saturation the result is capped, never over 100 %.
        assert_eq!(humidity_at_corrected_temperature(95.0, 25.0, 20.0), 100.0);
        // Two-point calibration counts too, and no correction leaves the humidity alone.
        let mut sensor = ProcessedSensor::new(
            scripted(&[25.0]),
            Processing {
                offset: -2.0,
                ..Processing::default()
            },
            Processing::default(),
            Processing::default(),
        );
        let values = sensor.read().expect("read");
        assert_eq!(values[0].value, 23.0);
        assert!((dew_point(23.0, values[1].value) - dew_point(25.0, 25.0)).abs() < 1e-9);
        let mut plain = ProcessedSensor::new(
            scripted(&[25.0]),
            Processing::default(),
            Processing::default(),
            Processing::default(),
        );
        assert_eq!(plain.read().expect("read")[1].value, 25.0);
    }

    #[test]
    fn sound_is_smoothed_as_energy() {
        let mut smoother = Smoother::new(Smoothing::MovingAverage(2), true);
        smoother.push(60.0);
        // 60 and 80 dB average to 77.0 dB as energies (the dB mean would say 70).
        let averaged = smoother.push(80.0);
        assert!((averaged - 77.0329).abs() < 1e-3, "{averaged}");
        let mut plain = Smoother::new(Smoothing::MovingAverage(2), false);
        plain.push(60.0);
        assert_eq!(plain.push(80.0), 70.0);
    }

    #[test]
    fn non_finite_values_are_refused_not_smoothed() {
        let mut sensor = ProcessedSensor::new(
            scripted(&[20.0, f64::NAN, 22.0]),
            Processing {
                smoothing: Smoothing::MovingAverage(5),
                ..Processing::default()
            },
            Processing::default(),
            Processing::default(),
        );
        assert_eq!(temperatures(&mut sensor, 1), vec![20.0]);
        assert!(matches!(sensor.read(), Err(SensorError::BadData { .. })));
        assert_eq!(temperatures(&mut sensor, 1), vec![21.0]);
    }

    #[test]
    fn publish_policy_on_delta_and_heartbeat() {
        let every = PublishPolicy::default();
        assert!(every.should_publish(Some(20.0), 20.0, Duration::ZERO));

        let policy = Processing {
            publish_delta: Some(0.2),
            heartbeat_s: Some(300),
            ..Processing::default()
        }
        .publish_policy();
        assert!(
            policy.should_publish(None, 20.0, Duration::ZERO),
            "first value"
        );
        assert!(!policy.should_publish(Some(20.0), 20.2, Duration::from_secs(10)));
        assert!(policy.should_publish(Some(20.0), 20.25, Duration::from_secs(10)));
        assert!(policy.should_publish(Some(20.0), 19.7, Duration::from_secs(10)));
        assert!(!policy.should_publish(Some(20.0), 20.0, Duration::from_secs(299)));
        assert!(policy.should_publish(Some(20.0), 20.0, Duration::from_secs(300)));

        let heartbeat_only = PublishPolicy {
            delta: None,
            heartbeat: Some(Duration::from_secs(60)),
        };
        assert!(!heartbeat_only.should_publish(Some(1.0), 50.0, Duration::from_secs(59)));
        assert!(heartbeat_only.should_publish(Some(1.0), 1.0, Duration::from_secs(60)));
    }

    #[test]
    fn validation_names_the_problem() {
        let cases = [
            (
                Processing {
                    smoothing: Smoothing::Median(0),
                    ..Processing::default()
                },
                "window",
            ),
            (
                Processing {
                    two_point: Some(TwoPoint {
                        raw_low: 1.0,
                        raw_high: 1.0,
                        reference_low: 0.0,
                        reference_high: 2.0,
                    }),
                    ..Processing::default()
                },
                "two_point",
            ),
            (
                Processing {
                    heartbeat_s: Some(0),
                    ..Processing::default()
                },
                "heartbeat_s",
            ),
            (
                Processing {
                    publish_delta: Some(-1.0),
                    ..Processing::default()
                },
                "publish_delta",
            ),
        ];
        for (processing, word) in cases {
            let err = processing.validate().expect_err(word).to_string();
            assert!(err.contains(word), "{err}");
        }
        assert_eq!(Processing::default().validate(), Ok(()));
    }
}
