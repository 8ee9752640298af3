//! Max register: the value only grows (heartbeats, last-seen times).

use serde::{Deserialize, Serialize};

use super::Lattice;

/// Holds the greatest value ever set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct MaxRegister<T>(pub T);

impl<T: Ord + Copy> MaxRegister<T> {
    /// Raises the value to `value` if it is greater; returns true when it was.
    pub fn raise(&mut self, value: T) -> bool {
        if value > self.0 {
            self.0 = value;
            true
        } else {
            false
        }
    }
}

impl<T: Ord + Copy> Lattice for MaxRegister<T> {
    fn join(&mut self, other: &Self) -> bool {
        self.raise(other.0)
    }
}
