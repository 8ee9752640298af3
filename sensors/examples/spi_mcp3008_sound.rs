//! spi_mcp3008_sound: sound level from an analog microphone module on channel 0 of a
//! Microchip MCP3008 on SPI0 CE0, as the agent would.
//!
//! Wiring: MCP3008 VDD and VREF → pin 1 (3.3 V), AGND and DGND → pin 6, CLK → pin 23 (GPIO11),
//! DOUT → pin 21 (GPIO9, MISO), DIN → pin 19 (GPIO10, MOSI), CS → pin 24 (GPIO8, CE0).
//! Microphone OUT → CH0.
//! config.txt: `dtparam=spi=on`; the user must be in the `spi` group.
//!
//! Run: `cargo run -p officemesh-sensors --features rpi --example spi_mcp3008_sound`

use std::time::Duration;

use officemesh_sensors::{build_sensor, SensorSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = SensorSpec {
        driver: "mcp3008-sound".into(),
        name: "example".into(),
        spi_bus: 0,
        spi_chip_select: 0,
        adc_channel: 0,
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
