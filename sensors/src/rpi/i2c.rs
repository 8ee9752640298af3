//! The I2C glue between rppal and the drivers: [`RawI2c`], the few calls of rppal's `I2c` the
//! glue makes (set the address, read, write, write-then-read with a repeated start), and
//! [`PiI2c`], which implements embedded-hal's `I2c` over any `RawI2c` and turns each failure
//! into an [`OsBusError`] naming `/dev/i2c-N` with the OS error kept.
//!
//! Generic over `RawI2c` so tests drive it with a fake that fails the way rppal does
//! (`simbus::SimI2cBus`). Holds no chip knowledge.

use std::io;

use embedded_hal::i2c::{ErrorType, I2c, Operation};

use crate::drivers::OsBusError;

/// The calls of rppal's `I2c` this glue uses, each returning the OS error on failure.
pub trait RawI2c: Send {
    /// Selects the device (`ioctl(I2C_SLAVE)`: EBUSY when a kernel driver holds it).
    fn set_slave_address(&mut self, address: u16) -> io::Result<()>;
    /// A plain read; the bytes received.
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize>;
    /// A plain write; the bytes sent.
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize>;
    /// A write then a read with a repeated start (`ioctl(I2C_RDWR)`).
    fn write_read(&mut self, write: &[u8], read: &mut [u8]) -> io::Result<()>;
    /// An SMBus quick write (address and W bit, then stop): what `i2cdetect` sends; every chip
    /// here acknowledges it without side effects. Only the doctor's probe uses it.
    fn quick_write(&mut self) -> io::Result<()>;
}

/// An I2C bus for the drivers: errors name the device file and keep the OS error.
pub struct PiI2c<R> {
    raw: R,
    path: String,
}

impl<R: RawI2c> PiI2c<R> {
    /// Wraps an opened bus; `path` is its device file (`/dev/i2c-1`).
    pub fn new(raw: R, path: impl Into<String>) -> Self {
        PiI2c {
            raw,
            path: path.into(),
        }
    }

    fn fail(&self, source: io::Error) -> OsBusError {
        OsBusError::new(self.path.clone(), source)
    }

    /// Gives the raw bus back (tests inspect their fake).
    pub fn release(self) -> R {
        self.raw
    }
}

/// A read that returned fewer bytes than asked for.
fn short_read(got: usize, wanted: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("short read: {got} of {wanted} bytes"),
    )
}

impl<R: RawI2c> ErrorType for PiI2c<R> {
    type Error = OsBusError;
}

impl<R: RawI2c> I2c for PiI2c<R> {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        self.raw
            .set_slave_address(u16::from(address))
            .map_err(|e| self.fail(e))?;
        // A write followed by a read is one combined transfer (repeated start), as the
        // datasheets draw register reads; anything else goes one message at a time.
        if let [Operation::Write(write), Operation::Read(read)] = operations {
            return self.raw.write_read(write, read).map_err(|e| self.fail(e));
        }
        for operation in operations.iter_mut() {
            match operation {
                Operation::Read(buffer) => {
                    let wanted = buffer.len();
                    let got = self.raw.read(buffer).map_err(|e| self.fail(e))?;
                    if got < wanted {
                        return Err(self.fail(short_read(got, wanted)));
                    }
                }
                Operation::Write(buffer) => {
                    self.raw.write(buffer).map_err(|e| self.fail(e))?;
                }
            }
        }
        Ok(())
    }
}

/// rppal's error as the OS error it wraps (or an `InvalidInput` one for its own checks).
#[cfg(feature = "rpi")]
pub(crate) fn rppal_i2c_io(err: rppal::i2c::Error) -> io::Error {
    match err {
        rppal::i2c::Error::Io(source) => source,
        other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
    }
}

#[cfg(feature = "rpi")]
impl RawI2c for rppal::i2c::I2c {
    fn set_slave_address(&mut self, address: u16) -> io::Result<()> {
        rppal::i2c::I2c::set_slave_address(self, address).map_err(rppal_i2c_io)
    }
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        rppal::i2c::I2c::read(self, buffer).map_err(rppal_i2c_io)
    }
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        rppal::i2c::I2c::write(self, buffer).map_err(rppal_i2c_io)
    }
    fn write_read(&mut self, write: &[u8], read: &mut [u8]) -> io::Result<()> {
        rppal::i2c::I2c::write_read(self, write, read).map_err(rppal_i2c_io)
    }
    fn quick_write(&mut self) -> io::Result<()> {
        rppal::i2c::I2c::smbus_quick_command(self, false).map_err(rppal_i2c_io)
    }
}
