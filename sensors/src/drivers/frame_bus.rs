//! [`FrameBus`]: equal SPI frames in ONE message (one spidev ioctl), chip select released
//! between frames, for ADCs that convert once per chip-select cycle (the MCP3008 sampler).
//! The trait only; `rpi::spi` implements it over rppal and `simbus` over a chip model.

use super::OsBusError;

/// Most frames in one message: spidev takes at most 511 transfers per SPI_IOC_MESSAGE and
/// `bufsiz` (4096) bytes in all.
pub const MAX_FRAMES: usize = 256;

/// Equal frames in one SPI message: frame `i` sends `write[i*f..(i+1)*f]` while reading as
/// many bytes into `read`, then chip select goes high (spidev's `cs_change`) and the bus waits
/// `gap_us` before the next frame (the kernel sleeps for gaps over 10 µs: no spinning).
pub trait FrameBus: Send + 'static {
    /// One message of `write.len() / frame` frames (`read` as long as `write`).
    fn transfer_frames(
        &mut self,
        read: &mut [u8],
        write: &[u8],
        frame: usize,
        gap_us: u16,
    ) -> Result<(), OsBusError>;
    /// SPI messages (ioctls) sent so far.
    fn messages(&self) -> u64;
}
