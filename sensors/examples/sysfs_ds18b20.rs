//! sysfs_ds18b20: reads a DS18B20 through the kernel's 1-wire driver, as the agent would.
//!
//! Wiring: VDD → pin 1 (3.3 V), GND → pin 6, DQ → pin 7 (GPIO4), 4.7 kΩ pull-up DQ–3.3 V.
//! config.txt: `dtoverlay=w1-gpio,gpiopin=4`, then reboot; the sensor appears as
//! /sys/bus/w1/devices/28-<serial>/. No group is needed.
//!
//! Run: `cargo run -p officemesh-sensors --features rpi --example sysfs_ds18b20`

use std::time::Duration;

use officemesh_sensors::{build_sensor, SensorSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = SensorSpec {
        driver: "ds18b20".into(),
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
