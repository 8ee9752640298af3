//! i2c_bme280: reads a Bosch BME280 (temperature, humidity) on I2C bus 1, as the agent would.
//!
//! Wiring: VIN → pin 1 (3.3 V), GND → pin 6, SDA → pin 3 (GPIO2), SCL → pin 5 (GPIO3).
//! SDO to GND = address 0x76 (default), SDO to 3.3 V = 0x77.
//! config.txt: `dtparam=i2c_arm=on`; the user must be in the `i2c` group.
//! Check it answers first: `i2cdetect -y 1` shows 76 or 77.
//!
//! Run: `cargo run -p officemesh-sensors --example i2c_bme280 -- [0x77]`

use officemesh_sensors::SensorSpec;

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    use officemesh_sensors::drivers::bme280::DEFAULT_ADDRESS;
    let address = parse_address(std::env::args().nth(1), DEFAULT_ADDRESS)?;
    common::read_five_times(&SensorSpec {
        i2c_address: Some(address),
        ..common::spec("bme280")
    })
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
