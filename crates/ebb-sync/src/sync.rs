//! The one place that chooses between loom's model-checked primitives and std's (as in
//! ebb-smr): under `--cfg ebb_loom` every atomic and `UnsafeCell` of the crate is loom's,
//! so the models in `loom_tests` explore the interleavings the memory model allows.

#[cfg(ebb_loom)]
pub(crate) use loom::sync::atomic;

#[cfg(not(ebb_loom))]
pub(crate) use std::sync::atomic;

/// Locks that loom models (writers of [`Map`](crate::Map) hold one across atomics).
#[cfg(ebb_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(ebb_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// An `UnsafeCell` with loom's closure API, so that loom tracks every access.
#[cfg(ebb_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// An `UnsafeCell` with loom's closure API (std's cell underneath, no cost).
#[cfg(not(ebb_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(ebb_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(v: T) -> Self {
        UnsafeCell(core::cell::UnsafeCell::new(v))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Gives way while waiting (a scheduling point under loom).
#[inline]
pub(crate) fn spin() {
    #[cfg(ebb_loom)]
    loom::thread::yield_now();
    #[cfg(not(ebb_loom))]
    core::hint::spin_loop();
}
