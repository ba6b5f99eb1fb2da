//! The one place that chooses between loom's model-checked primitives and std's.
//!
//! Everything in the crate imports atomics, `Arc`, `Mutex` and thread helpers from here.
//! Under `--cfg ebb_loom` they are loom's, so that the loom models in `loom_tests` explore
//! every interleaving the memory model allows; otherwise they are std's re-exports and cost
//! nothing. The cfg carries ebb's own prefix so that a user's `--cfg loom` does not flip it.

#[cfg(ebb_loom)]
pub(crate) use loom::sync::{Arc, Mutex, atomic};

#[cfg(not(ebb_loom))]
pub(crate) use std::sync::{Arc, Mutex, atomic};

/// Gives way to other threads while waiting for a grace period. Under loom this is a
/// scheduling point, so a model with a spinning waiter still terminates.
pub(crate) fn yield_now() {
    #[cfg(ebb_loom)]
    loom::thread::yield_now();
    #[cfg(not(ebb_loom))]
    std::thread::yield_now();
}

/// A number that identifies the calling thread among the threads alive now (used to
/// detect a thread that would wait for itself). Never 0.
#[cfg(not(ebb_loom))]
pub(crate) fn thread_token() -> usize {
    std::thread_local! {
        static TOKEN: u8 = const { 0 };
    }
    // The address of a thread-local is unique among live threads; it may be reused only
    // after its thread exited, and every record a thread owns is released before that.
    TOKEN.with(|t| t as *const u8 as usize)
}

/// A number that identifies the calling thread among the threads alive now. Never 0.
#[cfg(ebb_loom)]
pub(crate) fn thread_token() -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    loom::thread::current().id().hash(&mut h);
    (h.finish() as usize) | 1
}
