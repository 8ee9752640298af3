//! Lock-poison recovery in one place: every `Mutex` in officemesh guards data that stays
//! consistent at every await-free step, so a panic in another holder leaves nothing half-done
//! and the lock is taken anyway (a poisoned lock must not take a whole node down).
//!
//! Must not touch: anything but `std::sync`.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering the guard if a panicking holder poisoned it.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_recovered_with_its_data() {
        let mutex = std::sync::Arc::new(Mutex::new(41));
        let poisoner = mutex.clone();
        let _ = std::thread::spawn(move || {
            let mut guard = lock(&poisoner);
            *guard += 1;
            panic!("poison it");
        })
        .join();
        assert!(mutex.is_poisoned());
        assert_eq!(*lock(&mutex), 42);
    }
}
