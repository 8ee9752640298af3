//! gpio_sound_detector: the share of loud time from a sound detector module's digital output
//! (KY-038, LM393 boards) on GPIO17, as the agent would.
//!
//! Wiring: VCC → pin 1 (3.3 V), GND → pin 6, DO → pin 11 (GPIO17). Turn the module's
//! potentiometer until its LED just stays off in a quiet room.
//! The user must be in the `gpio` group.
//!
//! Run: `cargo run -p officemesh-sensors --features rpi --example gpio_sound_detector`

use std::time::Duration;

use officemesh_sensors::{build_sensor, SensorSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// BCM number of the pin DO is wired to.
    const DETECTOR_PIN: u8 = 17;
    let spec = SensorSpec {
        driver: "gpio-sound".into(),
        name: "example".into(),
        gpio_pin: Some(DETECTOR_PIN),
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
