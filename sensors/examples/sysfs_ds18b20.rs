//! sysfs_ds18b20: reads a DS18B20 through the kernel's 1-wire driver, as the agent would.
//!
//! Wiring: VDD → pin 1 (3.3 V), GND → pin 6, DQ → pin 7 (GPIO4), 4.7 kΩ pull-up DQ–3.3 V.
//! config.txt: `dtoverlay=w1-gpio,gpiopin=4`, then reboot; the sensor appears as
//! /sys/bus/w1/devices/28-<serial>/. No group is needed.
//!
//! Run: `cargo run -p officemesh-sensors --example sysfs_ds18b20`

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::read_five_times(&common::spec("ds18b20"))
}
