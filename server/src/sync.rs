//! Locking without poisoning: a panic while a `std::sync::Mutex` was held
//! must not take the server down with it, so every lock here recovers the
//! guard ([`LockExt::locked`], [`RwLockExt::read_locked`],
//! [`RwLockExt::write_locked`]). The data behind these locks is plain state
//! (counters, histories, conditions) that stays consistent at every await-free
//! step, so the recovered value is safe to use.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// [`Mutex::lock`] that recovers the guard from a poisoned lock.
pub trait LockExt<T> {
    /// Locks, recovering from poisoning.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> LockExt<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// [`RwLock::read`] and [`RwLock::write`] that recover from poisoning.
pub trait RwLockExt<T> {
    /// Locks for reading, recovering from poisoning.
    fn read_locked(&self) -> RwLockReadGuard<'_, T>;
    /// Locks for writing, recovering from poisoning.
    fn write_locked(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T> RwLockExt<T> for RwLock<T> {
    fn read_locked(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_locked(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_locks() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        *m.locked() += 1;
        assert_eq!(*m.locked(), 2);
    }
}
