//! spi_mcp3008_sound: sound level from an analog microphone module on channel 0 of a
//! Microchip MCP3008 on SPI0 CE0, as the agent would.
//!
//! Wiring: MCP3008 VDD and VREF → pin 1 (3.3 V), AGND and DGND → pin 6, CLK → pin 23 (GPIO11),
//! DOUT → pin 21 (GPIO9, MISO), DIN → pin 19 (GPIO10, MOSI), CS → pin 24 (GPIO8, CE0).
//! Microphone OUT → CH0.
//! config.txt: `dtparam=spi=on`; the user must be in the `spi` group.
//!
//! Run: `cargo run -p officemesh-sensors --example spi_mcp3008_sound`

use officemesh_sensors::SensorSpec;

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::read_five_times(&SensorSpec {
        spi_bus: 0,
        spi_chip_select: 0,
        adc_channel: 0,
        ..common::spec("mcp3008-sound")
    })
}
