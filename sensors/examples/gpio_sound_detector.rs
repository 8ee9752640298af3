//! gpio_sound_detector: the share of loud time from a sound detector module's digital output
//! (KY-038, LM393 boards) on GPIO17, as the agent would.
//!
//! Wiring: VCC → pin 1 (3.3 V), GND → pin 6, DO → pin 11 (GPIO17). Turn the module's
//! potentiometer until its LED just stays off in a quiet room.
//! The user must be in the `gpio` group.
//!
//! Run: `cargo run -p officemesh-sensors --example gpio_sound_detector`

use officemesh_sensors::SensorSpec;

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// BCM number of the pin DO is wired to.
    const DETECTOR_PIN: u8 = 17;
    common::read_five_times(&SensorSpec {
        gpio_pin: Some(DETECTOR_PIN),
        ..common::spec("gpio-sound")
    })
}
