//! What every device example shares: a spec named "example" for a driver, and the loop that
//! builds the sensor the way the agent does (`build_sensor`) and prints five reads, 2 s apart.
//! Included with `mod common;`; Cargo does not build `examples/common/mod.rs` as an example.
//! Holds no device settings: each example names its own pins, addresses and channels.

use std::time::Duration;

use officemesh_sensors::{build_sensor, SensorSpec};

/// A spec named "example" for `driver`, every other field at its default.
pub fn spec(driver: &str) -> SensorSpec {
    SensorSpec {
        driver: driver.into(),
        name: "example".into(),
        ..SensorSpec::default()
    }
}

/// Builds the sensor for `spec` and prints its measurements (or the read error) five times,
/// 2 s apart. Fails only when the sensor cannot be built.
pub fn read_five_times(spec: &SensorSpec) -> Result<(), Box<dyn std::error::Error>> {
    let mut sensor = build_sensor(spec, 0)?;
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
