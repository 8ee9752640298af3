//! Simulated buses that fail and map operations the way rppal 0.22.1 and the Linux drivers do,
//! with chip models behind them, so the Pi glue and the drivers are tested against what a Pi
//! does rather than against what the embedded-hal traits promise; the sound sampler bench runs
//! on them too.
//!
//! - [`RppalSpiDevice`]: an `SpiDevice` with rppal's segment mapping (`src/spi/hal.rs`):
//!   `TransferInPlace` and `Read` become read-only segments (the chip receives zeros),
//!   `Transfer` is full duplex over the shorter buffer, chip select stays low for the whole
//!   transaction. [`SimMcp3008`] is a bit-level MCP3008 behind it.
//! - [`RppalSpiBus`]: rppal's `Spi::transfer_segments` as `rpi::spi::FrameBus`: one message
//!   (one ioctl) of `Segment::new(read, write)` segments, chip select released between them,
//!   and the call blocks for the message's time on the wire plus its gaps, as the ioctl does.
//! - [`SimI2cBus`]: an `rpi::i2c::RawI2c` like rppal's `I2c` on `/dev/i2c-N`: a missing device
//!   fails with EREMOTEIO (what i2c-bcm2835 returns on a NACK), an address held by a kernel
//!   driver fails `set_slave_address` with EBUSY, and a fault can be injected. [`SimBme280`]
//!   and [`SimAds1115`] are register-level chip models.
//!
//! Never touches a device file; nothing in the agent uses it outside tests and benches.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex};

use embedded_hal::spi::{self, ErrorType, Operation, SpiDevice};

use crate::rpi::i2c::RawI2c;

/// A chip on an SPI bus: sees MOSI bytes while chip select is low and answers on MISO.
pub trait SpiChip: Send + 'static {
    /// Chip select went low.
    fn select(&mut self);
    /// One byte clocked: `mosi` in, the returned byte out.
    fn exchange(&mut self, mosi: u8) -> u8;
}

/// An `SpiDevice` that maps operations to transfers exactly as rppal 0.22.1's
/// `SimpleHalSpiDevice` does.
pub struct RppalSpiDevice<C> {
    chip: C,
}

impl<C: SpiChip> RppalSpiDevice<C> {
    pub fn new(chip: C) -> Self {
        RppalSpiDevice { chip }
    }

    /// The chip, to inspect what it saw.
    pub fn into_chip(self) -> C {
        self.chip
    }
}

impl<C: SpiChip> ErrorType for RppalSpiDevice<C> {
    type Error = spi::ErrorKind;
}

impl<C: SpiChip> SpiDevice for RppalSpiDevice<C> {
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), Self::Error> {
        self.chip.select();
        for operation in operations.iter_mut() {
            match operation {
                // rppal: Segment::with_read — nothing is written, MOSI stays low.
                Operation::Read(read) => read.iter_mut().for_each(|b| *b = self.chip.exchange(0)),
                Operation::Write(write) => write.iter().for_each(|&b| {
                    self.chip.exchange(b);
                }),
                // rppal: Segment::new(read, write) — the length of the shorter buffer.
                Operation::Transfer(read, write) => {
                    for (r, &w) in read.iter_mut().zip(write.iter()) {
                        *r = self.chip.exchange(w);
                    }
                }
                // rppal: Segment::with_settings(Some(buffer), None, …) — read-only: the bytes
                // in the buffer are never sent, the chip receives zeros.
                Operation::TransferInPlace(buffer) => {
                    buffer.iter_mut().for_each(|b| *b = self.chip.exchange(0))
                }
                Operation::DelayNs(_) => {}
            }
        }
        Ok(())
    }
}

/// rppal's `Spi` seen through `transfer_segments` (see the module doc), counting messages.
pub struct RppalSpiBus<C> {
    chip: C,
    clock_hz: u32,
    messages: u64,
}

impl<C: SpiChip> RppalSpiBus<C> {
    /// A bus clocked at `clock_hz` (the time a message blocks follows from it).
    pub fn new(chip: C, clock_hz: u32) -> Self {
        RppalSpiBus {
            chip,
            clock_hz: clock_hz.max(1),
            messages: 0,
        }
    }

    /// The chip, to inspect what it saw.
    pub fn into_chip(self) -> C {
        self.chip
    }
}

impl<C: SpiChip> crate::drivers::frame_bus::FrameBus for RppalSpiBus<C> {
    fn transfer_frames(
        &mut self,
        read: &mut [u8],
        write: &[u8],
        frame: usize,
        gap_us: u16,
    ) -> Result<(), crate::drivers::OsBusError> {
        self.messages += 1;
        let frames = read
            .chunks_mut(frame.max(1))
            .zip(write.chunks(frame.max(1)));
        let mut wire = std::time::Duration::ZERO;
        for (read, write) in frames {
            // Segment::new(read, write): full duplex over the shorter buffer; cs_change: the
            // chip is deselected after it and selected again for the next.
            self.chip.select();
            for (r, &w) in read.iter_mut().zip(write.iter()) {
                *r = self.chip.exchange(w);
            }
            let bits = 8.0 * read.len().min(write.len()) as f64;
            wire += std::time::Duration::from_secs_f64(bits / f64::from(self.clock_hz))
                + std::time::Duration::from_micros(u64::from(gap_us));
        }
        // The ioctl returns when the last frame is out: the caller's thread waits (asleep).
        std::thread::sleep(wire);
        Ok(())
    }

    fn messages(&self) -> u64 {
        self.messages
    }
}

/// The analog inputs of a simulated MCP3008: `(channel, conversion index) → counts`.
pub type Mcp3008Input = Box<dyn FnMut(usize, u64) -> u16 + Send>;

/// An MCP3008 modelled bit by bit (datasheet figure 6-1): it waits for a start bit, takes
/// SGL/DIFF and D2..D0, samples, sends a null bit and B9..B0, MSB first. DOUT reads 0 while
/// the chip drives nothing.
pub struct SimMcp3008 {
    input: Mcp3008Input,
    /// Bits clocked since select; None before the start bit.
    config_bits: Option<Vec<bool>>,
    /// Bits still to send (null bit then B9..B0), with the clocks to wait first.
    output: Vec<bool>,
    conversions: u64,
}

impl SimMcp3008 {
    /// A chip whose inputs read `input(channel, conversion index)` (clamped to 10 bits).
    pub fn new(input: impl FnMut(usize, u64) -> u16 + Send + 'static) -> Self {
        SimMcp3008 {
            input: Box::new(input),
            config_bits: None,
            output: Vec::new(),
            conversions: 0,
        }
    }

    /// A sine of `frequency_hz` on `channel` (others at 0), sampled at `sample_rate_hz`.
    pub fn sine(
        channel: usize,
        frequency_hz: f64,
        amplitude: f64,
        offset: f64,
        sample_rate_hz: u32,
    ) -> Self {
        let step = 2.0 * std::f64::consts::PI * frequency_hz / f64::from(sample_rate_hz.max(1));
        SimMcp3008::new(move |ch, index| {
            if ch != channel {
                return 0;
            }
            let value = offset + amplitude * (step * index as f64).sin();
            value.round().clamp(0.0, 1023.0) as u16
        })
    }

    /// Conversions started so far.
    pub fn conversions(&self) -> u64 {
        self.conversions
    }

    fn clock_bit(&mut self, mosi: bool) -> bool {
        let out = if self.output.is_empty() {
            false
        } else {
            self.output.remove(0)
        };
        match &mut self.config_bits {
            None if mosi => self.config_bits = Some(Vec::new()),
            None => {}
            Some(bits) if bits.len() < 4 => {
                bits.push(mosi);
                if bits.len() == 4 {
                    let channel = bits[1..]
                        .iter()
                        .fold(0usize, |acc, &b| (acc << 1) | usize::from(b));
                    let value = (self.input)(channel, self.conversions).min(1023);
                    self.conversions += 1;
                    // One clock to sample, then the null bit, then B9..B0.
                    self.output = vec![false, false];
                    self.output
                        .extend((0..10).rev().map(|bit| value & (1 << bit) != 0));
                }
            }
            Some(_) => {}
        }
        out
    }
}

impl SpiChip for SimMcp3008 {
    fn select(&mut self) {
        self.config_bits = None;
        self.output.clear();
    }

    fn exchange(&mut self, mosi: u8) -> u8 {
        (0..8).rev().fold(0u8, |miso, bit| {
            let out = self.clock_bit(mosi & (1 << bit) != 0);
            (miso << 1) | u8::from(out)
        })
    }
}

/// A chip on an I2C bus at one address, seen through plain reads and writes.
pub trait SimI2cDevice: Send {
    /// A write message (register pointer, then data).
    fn write(&mut self, bytes: &[u8]);
    /// A read message from the register pointer.
    fn read(&mut self, buffer: &mut [u8]);
}

#[derive(Default)]
struct I2cState {
    devices: BTreeMap<u8, Box<dyn SimI2cDevice>>,
    held_by_kernel: BTreeSet<u8>,
    address: u16,
    fail_next: Vec<i32>,
    messages: u64,
}

/// A simulated `/dev/i2c-N` that fails as rppal's `I2c` does. Clones share the bus.
#[derive(Clone, Default)]
pub struct SimI2cBus {
    state: Arc<Mutex<I2cState>>,
}

impl SimI2cBus {
    pub fn new() -> Self {
        SimI2cBus::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, I2cState> {
        crate::sync::lock(&self.state)
    }

    /// Puts `device` at `address`.
    pub fn attach(&self, address: u8, device: impl SimI2cDevice + 'static) -> &Self {
        self.state().devices.insert(address, Box::new(device));
        self
    }

    /// Removes the device at `address` (unplugged).
    pub fn detach(&self, address: u8) {
        self.state().devices.remove(&address);
    }

    /// Marks `address` as bound to a kernel driver: selecting it fails with EBUSY.
    pub fn hold_by_kernel(&self, address: u8) {
        self.state().held_by_kernel.insert(address);
    }

    /// The next message fails with this errno (EIO = 5 for a glitch on the wire).
    pub fn fail_next(&self, errno: i32) {
        self.state().fail_next.push(errno);
    }

    /// Messages sent so far (a write-read counts as one).
    pub fn messages(&self) -> u64 {
        self.state().messages
    }

    fn with_device<T>(&mut self, act: impl FnOnce(&mut dyn SimI2cDevice) -> T) -> io::Result<T> {
        let mut state = self.state();
        state.messages += 1;
        if let Some(errno) = state.fail_next.pop() {
            return Err(io::Error::from_raw_os_error(errno));
        }
        let address = state.address as u8;
        match state.devices.get_mut(&address) {
            Some(device) => Ok(act(device.as_mut())),
            // i2c-bcm2835 (and RP1's designware) report a NACK as EREMOTEIO.
            None => Err(io::Error::from_raw_os_error(
                nix::errno::Errno::EREMOTEIO as i32,
            )),
        }
    }
}

impl RawI2c for SimI2cBus {
    fn set_slave_address(&mut self, address: u16) -> io::Result<()> {
        let mut state = self.state();
        if address <= 0xFF && state.held_by_kernel.contains(&(address as u8)) {
            return Err(io::Error::from_raw_os_error(
                nix::errno::Errno::EBUSY as i32,
            ));
        }
        state.address = address;
        Ok(())
    }

    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let len = buffer.len();
        self.with_device(|device| device.read(buffer))?;
        Ok(len)
    }

    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        self.with_device(|device| device.write(buffer))?;
        Ok(buffer.len())
    }

    fn write_read(&mut self, write: &[u8], read: &mut [u8]) -> io::Result<()> {
        self.with_device(|device| {
            device.write(write);
            device.read(read);
        })
    }

    fn quick_write(&mut self) -> io::Result<()> {
        self.with_device(|_| ())
    }
}

/// A register file with an auto-incrementing pointer, the shape of most I2C chips.
#[derive(Debug, Clone)]
struct Registers {
    bytes: [u8; 256],
    pointer: u8,
}

impl Registers {
    fn new() -> Self {
        Registers {
            bytes: [0; 256],
            pointer: 0,
        }
    }

    fn read(&mut self, buffer: &mut [u8]) {
        for byte in buffer.iter_mut() {
            *byte = self.bytes[usize::from(self.pointer)];
            self.pointer = self.pointer.wrapping_add(1);
        }
    }
}

/// What a simulated BME280 was asked to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bme280Log {
    pub soft_resets: u32,
    pub config_writes: u32,
    pub forced_measurements: u32,
}

/// A BME280 at register level: chip id, the two calibration blocks, soft reset (0xB6 to 0xE0),
/// ctrl_hum/ctrl_meas/config, and data registers that read "skipped" (0x80000 / 0x8000) until a
/// forced measurement ran. Clones share the chip.
#[derive(Clone)]
pub struct SimBme280 {
    inner: Arc<Mutex<(Registers, Bme280Log, [u8; 8])>>,
}

impl SimBme280 {
    /// A chip with `calibration` blocks (0x88.., 0xE1..) that measures `data` (0xF7..0xFE).
    pub fn new(block1: [u8; 26], block2: [u8; 7], data: [u8; 8]) -> Self {
        let mut registers = Registers::new();
        registers.bytes[0xD0] = 0x60;
        registers.bytes[0x88..0x88 + 26].copy_from_slice(&block1);
        registers.bytes[0xE1..0xE1 + 7].copy_from_slice(&block2);
        let chip = SimBme280 {
            inner: Arc::new(Mutex::new((registers, Bme280Log::default(), data))),
        };
        chip.power_cycle();
        chip
    }

    /// Power lost and back: control registers cleared, data reads "skipped".
    pub fn power_cycle(&self) {
        let mut inner = crate::sync::lock(&self.inner);
        let registers = &mut inner.0;
        registers.bytes[0xF2] = 0;
        registers.bytes[0xF4] = 0;
        registers.bytes[0xF5] = 0;
        registers.bytes[0xF7..0xFF].copy_from_slice(&[0x80, 0, 0, 0x80, 0, 0, 0x80, 0]);
    }

    /// What the chip was asked to do.
    pub fn log(&self) -> Bme280Log {
        crate::sync::lock(&self.inner).1
    }
}

impl SimI2cDevice for SimBme280 {
    fn write(&mut self, bytes: &[u8]) {
        let Some((&register, values)) = bytes.split_first() else {
            return;
        };
        let chip = self.clone();
        let mut inner = crate::sync::lock(&self.inner);
        inner.0.pointer = register;
        let Some(&value) = values.first() else {
            return;
        };
        match register {
            0xE0 if value == 0xB6 => {
                inner.1.soft_resets += 1;
                drop(inner);
                chip.power_cycle();
            }
            0xF5 => {
                inner.0.bytes[0xF5] = value;
                inner.1.config_writes += 1;
            }
            0xF4 => {
                inner.0.bytes[0xF4] = value;
                if value & 0b11 == 0b01 {
                    inner.1.forced_measurements += 1;
                    let data = inner.2;
                    inner.0.bytes[0xF7..0xFF].copy_from_slice(&data);
                }
            }
            0xF2 => inner.0.bytes[0xF2] = value,
            _ => {}
        }
    }

    fn read(&mut self, buffer: &mut [u8]) {
        let mut inner = crate::sync::lock(&self.inner);
        inner.0.read(buffer);
    }
}

/// The analog input of a simulated ADS1115: conversion index → counts.
pub type Ads1115Input = Box<dyn FnMut(u64) -> i16 + Send>;

/// An ADS1115 in continuous mode: a config write (0x01) starts conversions; the first read of
/// the conversion register (0x00) after it returns `spike` — the stale result the real part
/// gives before its first conversion under the new config completes.
pub struct SimAds1115 {
    input: Ads1115Input,
    pointer: u8,
    config: u16,
    pending_spike: Option<i16>,
    spike: i16,
    conversions: u64,
}

impl SimAds1115 {
    pub fn new(spike: i16, input: impl FnMut(u64) -> i16 + Send + 'static) -> Self {
        SimAds1115 {
            input: Box::new(input),
            pointer: 0,
            config: 0x8583,
            pending_spike: None,
            spike,
            conversions: 0,
        }
    }
}

impl SimI2cDevice for SimAds1115 {
    fn write(&mut self, bytes: &[u8]) {
        if let Some(&register) = bytes.first() {
            self.pointer = register;
        }
        if let [0x01, high, low] = bytes {
            self.config = u16::from_be_bytes([*high, *low]);
            self.pending_spike = Some(self.spike);
        }
    }

    fn read(&mut self, buffer: &mut [u8]) {
        let word = match self.pointer {
            0x01 => self.config,
            _ => match self.pending_spike.take() {
                Some(spike) => spike as u16,
                None => {
                    self.conversions += 1;
                    (self.input)(self.conversions) as u16
                }
            },
        };
        for (slot, byte) in buffer.iter_mut().zip(word.to_be_bytes()) {
            *slot = byte;
        }
    }
}
