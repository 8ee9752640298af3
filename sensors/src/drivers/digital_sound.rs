//! A sound detector's digital output (KY-038/LM393-style modules: the on-board comparator
//! drives the pin while sound exceeds the potentiometer's threshold). The level reported is
//! the share of samples over a window that were loud, in percent (0–100), as
//! `Quantity::SoundActivity`: an activity signal with its own unit, never a level in dB.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::InputPin;

use super::BusFault;
use crate::reading::{Measurement, Quantity};
use crate::{Sensor, SensorError};

/// Samples a detector pin over a window.
pub struct DigitalSoundDetector<P, D> {
    name: String,
    pin: P,
    delay: D,
    active_low: bool,
    sample_count: u32,
    interval_us: u32,
}

impl<P: InputPin, D: DelayNs> DigitalSoundDetector<P, D>
where
    P::Error: BusFault,
{
    /// `sample_count` samples over `window_ms`; `active_low` when the pin is low while loud.
    pub fn new(
        name: &str,
        pin: P,
        delay: D,
        active_low: bool,
        sample_count: u32,
        window_ms: u64,
    ) -> Self {
        let sample_count = sample_count.max(1);
        let interval_us = (window_ms.saturating_mul(1000) / u64::from(sample_count))
            .min(u64::from(u32::MAX)) as u32;
        DigitalSoundDetector {
            name: name.to_string(),
            pin,
            delay,
            active_low,
            sample_count,
            interval_us,
        }
    }

    /// The share of loud samples in one window, in percent.
    pub fn loud_percent(&mut self) -> Result<f64, SensorError> {
        let mut loud = 0u32;
        for index in 0..self.sample_count {
            if index > 0 {
                self.delay.delay_us(self.interval_us);
            }
            let high = self
                .pin
                .is_high()
                .map_err(|e| super::gpio_failure(&self.name, e))?;
            if high != self.active_low {
                loud += 1;
            }
        }
        Ok(100.0 * f64::from(loud) / f64::from(self.sample_count))
    }

    /// Gives the pin back (tests call `done()` on a mock).
    pub fn release(self) -> P {
        self.pin
    }
}

impl<P: InputPin + Send, D: DelayNs + Send> Sensor for DigitalSoundDetector<P, D>
where
    P::Error: BusFault,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &str {
        "gpio-sound"
    }

    fn read(&mut self) -> Result<Vec<Measurement>, SensorError> {
        Ok(vec![Measurement::new(
            Quantity::SoundActivity,
            self.loud_percent()?,
        )])
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};

    use super::*;

    fn pin(states: &[State]) -> Mock {
        let expectations: Vec<Transaction> = states
            .iter()
            .map(|state| Transaction::get(*state))
            .collect();
        Mock::new(&expectations)
    }

    #[test]
    fn share_of_loud_samples_active_high_and_low() {
        use State::{High, Low};
        let states = [High, Low, Low, High, Low, Low, Low, Low];
        let mut detector =
            DigitalSoundDetector::new("door", pin(&states), NoopDelay::new(), false, 8, 80);
        assert_eq!(
            detector.read().expect("pin reads"),
            vec![Measurement::new(Quantity::SoundActivity, 25.0)]
        );
        detector.release().done();

        let mut inverted =
            DigitalSoundDetector::new("door", pin(&states), NoopDelay::new(), true, 8, 80);
        assert_eq!(inverted.loud_percent().expect("pin reads"), 75.0);
        inverted.release().done();
    }
}
