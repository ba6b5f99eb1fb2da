//! The one place that chooses between loom's and std's synchronization primitives.
//!
//! Everything else in the crate imports atomics and `Mutex` from here, so that building
//! with `RUSTFLAGS="--cfg ebb_loom"` runs the same code under loom's model checker. The
//! cfg carries ebb's own prefix so that a user's `--cfg loom` does not flip it.

#[cfg(ebb_loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering, fence},
};

#[cfg(not(ebb_loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering},
};

/// Only the fallback fences of `bias` use it, under Miri.
#[cfg(all(miri, not(ebb_loom)))]
pub(crate) use std::sync::atomic::fence;

/// Locks `m`, ignoring poisoning: every critical section in this crate leaves its data
/// consistent before anything in it can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
