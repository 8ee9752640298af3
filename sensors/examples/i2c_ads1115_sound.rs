//! i2c_ads1115_sound: sound level from an analog microphone module (MAX4466, MAX9814) on
//! input A0 of a TI ADS1115 on I2C bus 1, as the agent would.
//!
//! Wiring: ADS1115 VDD → pin 1 (3.3 V), GND → pin 6, SDA → pin 3, SCL → pin 5, ADDR → GND
//! (0x48). Microphone VCC → 3.3 V, GND → GND, OUT → A0.
//! config.txt: `dtparam=i2c_arm=on`; the user must be in the `i2c` group.
//! Clap near the microphone: the level should jump by 20–40 dB.
//!
//! Run: `cargo run -p officemesh-sensors --example i2c_ads1115_sound`

use officemesh_sensors::SensorSpec;

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    use officemesh_sensors::drivers::ads1115::DEFAULT_ADDRESS;
    common::read_five_times(&SensorSpec {
        i2c_address: Some(DEFAULT_ADDRESS),
        adc_channel: 0,
        ..common::spec("ads1115-sound")
    })
}
