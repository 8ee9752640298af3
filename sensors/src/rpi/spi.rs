//! The SPI glue between rppal and the drivers: [`PiSpi`] forwards embedded-hal transactions to
//! an `SpiDevice` (rppal's `SimpleHalSpiDevice` on a Pi) and turns its errors into an
//! [`OsBusError`] naming `/dev/spidevB.C`, the OS error kept.
//!
//! rppal maps `Operation::TransferInPlace` to a read-only segment (its `src/spi/hal.rs`): the
//! chip receives zeros. Drivers must use `Operation::Transfer(read, write)`; the tests drive
//! this glue with `simbus::RppalSpiDevice`, a fake with the same mapping. Holds no chip knowledge.

use embedded_hal::spi::{ErrorType, Operation, SpiDevice};

use crate::drivers::{BusFault, OsBusError};

/// An SPI device for the drivers: errors name the device file and keep the OS error.
pub struct PiSpi<S> {
    device: S,
    path: String,
}

impl<S: SpiDevice> PiSpi<S>
where
    S::Error: BusFault,
{
    /// Wraps an opened device; `path` is its device file (`/dev/spidev0.0`).
    pub fn new(device: S, path: impl Into<String>) -> Self {
        PiSpi {
            device,
            path: path.into(),
        }
    }

    /// Gives the device back (tests inspect their fake).
    pub fn release(self) -> S {
        self.device
    }
}

impl<S: SpiDevice> ErrorType for PiSpi<S>
where
    S::Error: BusFault,
{
    type Error = OsBusError;
}

impl<S: SpiDevice> SpiDevice for PiSpi<S>
where
    S::Error: BusFault,
{
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), Self::Error> {
        self.device
            .transaction(operations)
            .map_err(|err| OsBusError::new(self.path.clone(), err.into_io_error()))
    }
}

#[cfg(feature = "rpi")]
impl BusFault for rppal::spi::Error {
    fn into_io_error(self) -> std::io::Error {
        match self {
            rppal::spi::Error::Io(source) => source,
            other => std::io::Error::new(std::io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}
