//! i2c_bme280: reads a Bosch BME280 (temperature, humidity) on I2C bus 1, as the agent would.
//!
//! Wiring: VIN → pin 1 (3.3 V), GND → pin 6, SDA → pin 3 (GPIO2), SCL → pin 5 (GPIO3).
//! SDO to GND = address 0x76 (default), SDO to 3.3 V = 0x77.
//! config.txt: `dtparam=i2c_arm=on`; the user must be in the `i2c` group.
//! Check it answers first: `i2cdetect -y 1` shows 76 or 77.
//!
//! Run: `cargo run -p officemesh-sensors --features rpi --example i2c_bme280 -- [0x77]`

use std::time::Duration;

use officemesh_sensors::{build_sensor, SensorSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    use officemesh_sensors::drivers::bme280::DEFAULT_ADDRESS;
    let address = parse_address(std::env::args().nth(1), DEFAULT_ADDRESS)?;
    let spec = SensorSpec {
        driver: "bme280".into(),
        name: "example".into(),
        i2c_address: Some(address),
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

/// Parses `0x77` / `119`, or returns the default.
fn parse_address(arg: Option<String>, default: u8) -> Result<u8, Box<dyn std::error::Error>> {
    match arg {
        None => Ok(default),
        Some(text) => match text.strip_prefix("0x") {
            Some(hex) => Ok(u8::from_str_radix(hex, 16)?),
            None => Ok(text.parse()?),
        },
    }
}
