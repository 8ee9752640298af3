//! i2c_sht3x: reads a Sensirion SHT3x (SHT30/31/35) on I2C bus 1, as the agent would.
//!
//! Wiring: VIN → pin 1 (3.3 V), GND → pin 6, SDA → pin 3 (GPIO2), SCL → pin 5 (GPIO3).
//! ADDR to GND = 0x44 (default), ADDR to 3.3 V = 0x45.
//! config.txt: `dtparam=i2c_arm=on`; the user must be in the `i2c` group.
//!
//! Run: `cargo run -p officemesh-sensors --example i2c_sht3x`

use officemesh_sensors::SensorSpec;

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    use officemesh_sensors::drivers::sht3x::DEFAULT_ADDRESS;
    common::read_five_times(&SensorSpec {
        i2c_address: Some(DEFAULT_ADDRESS),
        ..common::spec("sht3x")
    })
}
