//! sysfs_dht22: reads a DHT22 (AM2302) through the kernel's IIO dht11 driver, with retries,
//! as the agent would. (A DHT11 works the same with driver "dht11".)
//!
//! Wiring: VCC → pin 1 (3.3 V), GND → pin 6, DATA → pin 7 (GPIO4), 10 kΩ pull-up DATA–3.3 V.
//! config.txt: `dtoverlay=dht11,gpiopin=4`, then reboot; values appear under
//! /sys/bus/iio/devices/iio:device0/. No group is needed.
//!
//! Run: `cargo run -p officemesh-sensors --example sysfs_dht22`

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::read_five_times(&common::spec("dht22"))
}
