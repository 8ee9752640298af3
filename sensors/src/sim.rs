//! Simulated sensors and devices: plausible office series, deterministic for a seed.
//!
//! `SimSensor` produces temperature, humidity and sound that drift slowly around a room's
//! baseline with a daily rhythm; `SimNetwork` is a handful of phones and laptops that arrive and
//! leave. Both advance one step per call, so the same seed gives the same series on every run.
//! Nothing here reads the wall clock or the global RNG.

use std::net::{IpAddr, Ipv4Addr};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::presence::{MacAddr, Neighbor, PresenceScanner};
use crate::reading::{Measurement, Quantity};
use crate::{Sensor, SensorError};

/// A simulated temperature / humidity / sound sensor.
pub struct SimSensor {
    name: String,
    rng: StdRng,
    step: u64,
    /// Steps per simulated day; with the agent's default 10 s poll, 8640 steps = one day.
    steps_per_day: u64,
    temperature: f64,
    humidity: f64,
    base_temperature: f64,
}

impl SimSensor {
    /// A sensor named `name`; `seed` picks the room's baseline and the noise.
    pub fn new(name: &str, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let base_temperature = 20.5 + rng.gen_range(-1.5..1.5);
        let humidity = 40.0 + rng.gen_range(-5.0..5.0);
        SimSensor {
            name: name.to_string(),
            rng,
            step: 0,
            steps_per_day: 8640,
            temperature: base_temperature,
            humidity,
            base_temperature,
        }
    }

    /// Sets how many read steps make one simulated day (for fast demos and tests).
    pub fn with_steps_per_day(mut self, steps_per_day: u64) -> Self {
        self.steps_per_day = steps_per_day.max(1);
        self
    }

    fn day_phase(&self) -> f64 {
        (self.step % self.steps_per_day) as f64 / self.steps_per_day as f64
    }
}

impl Sensor for SimSensor {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &str {
        "sim"
    }

    fn read(&mut self) -> Result<Vec<Measurement>, SensorError> {
        let phase = self.day_phase();
        // Office hours warm the room and make it louder: a bump centred on early afternoon.
        let occupancy = (-((phase - 0.58) * 6.0).powi(2)).exp();
        let target_temperature = self.base_temperature + 2.0 * occupancy;
        self.temperature +=
            0.05 * (target_temperature - self.temperature) + self.rng.gen_range(-0.05..0.05);
        self.humidity = (self.humidity + self.rng.gen_range(-0.2..0.2)
            - 0.01 * (self.humidity - 42.0))
            .clamp(15.0, 85.0);
        let sound = 32.0 + 25.0 * occupancy + self.rng.gen_range(0.0..8.0);
        self.step += 1;
        Ok(vec![
            Measurement::new(Quantity::Temperature, round2(self.temperature)),
            Measurement::new(Quantity::Humidity, round2(self.humidity)),
            Measurement::new(Quantity::Sound, round2(sound)),
        ])
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// One simulated device on the network.
#[derive(Debug, Clone)]
struct SimDevice {
    mac: MacAddr,
    ip: IpAddr,
    present: bool,
}

/// A simulated office network: devices that come and go, one step per scan.
pub struct SimNetwork {
    rng: StdRng,
    devices: Vec<SimDevice>,
}

impl SimNetwork {
    /// `device_count` devices with MACs and IPs derived from `seed`; about half start present.
    pub fn new(seed: u64, device_count: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_0ff1_ce00);
        let devices = (0..device_count)
            .map(|index| {
                // Globally administered, unicast: a stable vendor-style MAC (02 bit clear).
                let mut mac = [0u8; 6];
                rng.fill(&mut mac[..]);
                mac[0] &= 0b1111_1100;
                let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100 + (index % 150) as u8));
                SimDevice {
                    mac: MacAddr(mac),
                    ip,
                    present: rng.gen_bool(0.5),
                }
            })
            .collect();
        SimNetwork { rng, devices }
    }

    /// The MACs of every simulated device, present or not (for demos that register people).
    pub fn macs(&self) -> Vec<MacAddr> {
        self.devices.iter().map(|device| device.mac).collect()
    }
}

impl PresenceScanner for SimNetwork {
    fn scan(&mut self) -> Result<Vec<Neighbor>, SensorError> {
        for device in &mut self.devices {
            // Rare flips: a device stays for many scans, like a person at their desk.
            if self.rng.gen_bool(0.03) {
                device.present = !device.present;
            }
        }
        Ok(self
            .devices
            .iter()
            .filter(|device| device.present)
            .map(|device| Neighbor {
                mac: device.mac,
                ip: device.ip,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_series_and_values_are_plausible() {
        let mut first = SimSensor::new("desk", 7);
        let mut second = SimSensor::new("desk", 7);
        for _ in 0..500 {
            let a = first.read().expect("sim never fails");
            let b = second.read().expect("sim never fails");
            assert_eq!(a, b);
            for m in a {
                let ok = match m.quantity {
                    Quantity::Temperature => (10.0..35.0).contains(&m.value),
                    Quantity::Humidity => (15.0..=85.0).contains(&m.value),
                    Quantity::Sound => (25.0..80.0).contains(&m.value),
                    Quantity::SoundActivity => false,
                };
                assert!(ok, "implausible {m:?}");
            }
        }
        let mut other = SimSensor::new("desk", 8);
        assert_ne!(other.read().ok(), SimSensor::new("desk", 7).read().ok());
    }

    #[test]
    fn network_devices_come_and_go_deterministically() {
        let mut a = SimNetwork::new(1, 8);
        let mut b = SimNetwork::new(1, 8);
        let mut seen_counts = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let scan_a = a.scan().expect("sim never fails");
            assert_eq!(scan_a, b.scan().expect("sim never fails"));
            seen_counts.insert(scan_a.len());
            assert!(scan_a.iter().all(|n| !n.mac.is_locally_administered()));
        }
        assert!(
            seen_counts.len() > 1,
            "presence should change over 200 scans"
        );
    }
}
