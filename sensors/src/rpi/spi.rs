//! The SPI glue between rppal and the drivers: [`PiSpi`] forwards embedded-hal transactions to
//! an `SpiDevice` (rppal's `SimpleHalSpiDevice` on a Pi) and turns its errors into an
//! [`OsBusError`] naming `/dev/spidevB.C`, the OS error kept.
//!
//! rppal maps `Operation::TransferInPlace` to a read-only segment (its `src/spi/hal.rs`): the
//! chip receives zeros. Drivers must use `Operation::Transfer(read, write)`; the tests drive
//! this glue with `simbus::RppalSpiDevice`, a fake with the same mapping. Holds no chip knowledge.
//!
//! [`FrameBus`] is the batched path for ADCs that convert once per chip-select cycle (MCP3008):
//! many frames in ONE spidev message (one ioctl), chip select released between frames and the
//! kernel sleeping the gap. [`PiSpiFrames`] does it with rppal's `Spi::transfer_segments`; a
//! plain [`PiSpi`] falls back to one transaction per frame.

use embedded_hal::spi::{ErrorType, Operation, SpiDevice};

pub use crate::drivers::frame_bus::{FrameBus, MAX_FRAMES};
use crate::drivers::{BusFault, OsBusError};

/// The fallback: one embedded-hal transaction (one ioctl through rppal) per frame, the gap
/// left to the caller's pacing.
impl<S: SpiDevice + Send + 'static> FrameBus for PiSpi<S>
where
    S::Error: BusFault,
{
    fn transfer_frames(
        &mut self,
        read: &mut [u8],
        write: &[u8],
        frame: usize,
        _gap_us: u16,
    ) -> Result<(), OsBusError> {
        for (read, write) in read
            .chunks_mut(frame.max(1))
            .zip(write.chunks(frame.max(1)))
        {
            self.transaction(&mut [Operation::Transfer(read, write)])?;
        }
        Ok(())
    }

    fn messages(&self) -> u64 {
        self.transactions
    }
}

/// An SPI device for the drivers: errors name the device file and keep the OS error.
pub struct PiSpi<S> {
    device: S,
    path: String,
    transactions: u64,
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
            transactions: 0,
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
        self.transactions += 1;
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

/// rppal's `Spi` with the batched path: [`FrameBus`] through `Spi::transfer_segments` (one
/// `SPI_IOC_MESSAGE` ioctl), errors naming the device file.
#[cfg(feature = "rpi")]
pub struct PiSpiFrames {
    spi: rppal::spi::Spi,
    path: String,
    messages: u64,
}

#[cfg(feature = "rpi")]
impl PiSpiFrames {
    pub fn new(spi: rppal::spi::Spi, path: impl Into<String>) -> Self {
        PiSpiFrames {
            spi,
            path: path.into(),
            messages: 0,
        }
    }
}

#[cfg(feature = "rpi")]
impl FrameBus for PiSpiFrames {
    fn transfer_frames(
        &mut self,
        read: &mut [u8],
        write: &[u8],
        frame: usize,
        gap_us: u16,
    ) -> Result<(), OsBusError> {
        let frame = frame.max(1);
        let mut segments: Vec<rppal::spi::Segment<'_, '_>> = read
            .chunks_mut(frame)
            .zip(write.chunks(frame))
            .map(|(read, write)| {
                let mut segment = rppal::spi::Segment::new(read, write);
                segment.set_ss_change(true);
                segment.set_delay(gap_us);
                segment
            })
            .collect();
        // After the last frame spidev deselects anyway; cs_change there would keep it selected.
        if let Some(last) = segments.last_mut() {
            last.set_ss_change(false);
        }
        self.messages += 1;
        self.spi
            .transfer_segments(&segments)
            .map_err(|err| OsBusError::new(self.path.clone(), err.into_io_error()))
    }

    fn messages(&self) -> u64 {
        self.messages
    }
}
