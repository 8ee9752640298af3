//! Last-writer-wins register ordered by `Stamp`.

use serde::{Deserialize, Serialize};

use super::{Lattice, Stamp};

/// A value and the stamp of the write that set it. The write with the greater stamp wins; since
/// stamps carry the writer's node id, two different writes never tie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LwwRegister<T> {
    pub value: T,
    pub stamp: Stamp,
}

impl<T> LwwRegister<T> {
    pub fn new(value: T, stamp: Stamp) -> Self {
        LwwRegister { value, stamp }
    }

    /// Sets the value if `stamp` is newer than the current one; returns true when it was.
    pub fn set(&mut self, value: T, stamp: Stamp) -> bool {
        if stamp > self.stamp {
            self.value = value;
            self.stamp = stamp;
            true
        } else {
            false
        }
    }
}

impl<T: Clone> Lattice for LwwRegister<T> {
    fn join(&mut self, other: &Self) -> bool {
        self.set(other.value.clone(), other.stamp)
    }
}
