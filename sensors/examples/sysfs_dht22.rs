//! sysfs_dht22: reads a DHT22 (AM2302) through the kernel's IIO dht11 driver, with retries,
//! as the agent would. (A DHT11 works the same with driver "dht11".)
//!
//! Wiring: VCC → pin 1 (3.3 V), GND → pin 6, DATA → pin 7 (GPIO4), 10 kΩ pull-up DATA–3.3 V.
//! config.txt: `dtoverlay=dht11,gpiopin=4`, then reboot; values appear under
//! /sys/bus/iio/devices/iio:device0/. No group is needed.
//!
//! Run: `cargo run -p officemesh-sensors --features rpi --example sysfs_dht22`

use std::time::Duration;

use officemesh_sensors::{build_sensor, SensorSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = SensorSpec {
        driver: "dht22".into(),
        name: "example".into(),
        ..SensorSpec::default()
    };
    let mut sensor = build_sensor(&spec, 0)?;
    println!(
        "reading {} ({}) five times, 2 s apart",
        sensor.name(),
        sensor.driver()
    );
    for _ in 0..5 {
        match sensor.read() {
            Ok(measurements) => {
                for m in measurements {
                    println!(
                        "  {:<12} {:>8.2} {}",
                        m.quantity,
                        m.value,
                        m.quantity.unit()
                    );
                }
            }
            Err(err) => println!("  read failed: {err}"),
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    Ok(())
}
