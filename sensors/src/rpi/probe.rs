//! Probing I2C addresses for `officemesh doctor`: select the address (EBUSY when a kernel
//! driver is bound to it) and send an SMBus quick write, as `i2cdetect` does. [`probe_address`]
//! works on any [`RawI2c`] (tests use `simbus::SimI2cBus`); [`LinuxI2cProbe`] opens
//! `/dev/i2c-N` with rppal. Sends nothing else: no register is read or written.

use std::io;

use super::i2c::RawI2c;
use crate::drivers::is_busy;

/// What answered at one address.
#[derive(Debug)]
pub enum ProbeOutcome {
    /// A device acknowledged its address.
    Answered,
    /// Nothing acknowledged (EREMOTEIO/ENXIO).
    NoAnswer(io::Error),
    /// A kernel driver holds the address (EBUSY from `I2C_SLAVE`).
    Busy(io::Error),
    /// The bus device file could not be opened.
    BusMissing(io::Error),
    /// Any other failure (EIO: wiring, pull-ups).
    Failed(io::Error),
}

/// Probes one address on one bus.
pub trait I2cProbe {
    fn probe(&mut self, bus: u8, address: u8) -> ProbeOutcome;
}

/// Probes `address` on an opened bus.
pub fn probe_address<R: RawI2c>(raw: &mut R, address: u8) -> ProbeOutcome {
    if let Err(err) = raw.set_slave_address(u16::from(address)) {
        return if is_busy(&err) {
            ProbeOutcome::Busy(err)
        } else {
            ProbeOutcome::Failed(err)
        };
    }
    match raw.quick_write() {
        Ok(()) => ProbeOutcome::Answered,
        Err(err) => {
            let nack = [nix::errno::Errno::EREMOTEIO, nix::errno::Errno::ENXIO]
                .iter()
                .any(|errno| err.raw_os_error() == Some(*errno as i32));
            if nack {
                ProbeOutcome::NoAnswer(err)
            } else {
                ProbeOutcome::Failed(err)
            }
        }
    }
}

/// Probes the real `/dev/i2c-N` with rppal.
#[cfg(feature = "rpi")]
#[derive(Debug, Default)]
pub struct LinuxI2cProbe;

#[cfg(feature = "rpi")]
impl I2cProbe for LinuxI2cProbe {
    fn probe(&mut self, bus: u8, address: u8) -> ProbeOutcome {
        match rppal::i2c::I2c::with_bus(bus) {
            Ok(mut raw) => probe_address(&mut raw, address),
            Err(err) => ProbeOutcome::BusMissing(super::i2c::rppal_i2c_io(err)),
        }
    }
}
