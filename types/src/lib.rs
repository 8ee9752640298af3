//! officemesh's vocabulary below the drivers: the words the sensors, the core and the agent
//! share, in a crate with no dependency beyond serde and thiserror.
//!
//! - [`reading`]: `Quantity` (what is measured, its unit) and `Measurement` (one value of one).
//! - [`mac`]: `MacAddr` (strict parsing, because people type MACs into chat), `MacParseError`.
//! - [`sync`]: lock-poison recovery (`lock`), the one copy.
//!
//! Must not touch: buses, files, sockets, clocks (pure data and `std::sync`).

pub mod mac;
pub mod reading;
pub mod sync;

pub use mac::{MacAddr, MacParseError};
pub use reading::{Measurement, Quantity};
pub use sync::lock;
