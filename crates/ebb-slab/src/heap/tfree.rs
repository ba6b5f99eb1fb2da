//! The thread-free list protocol, shared by the heap and its loom model.
//!
//! A page's thread-free list is a stack of free blocks linked through their first words,
//! headed by one atomic pointer. A thread freeing into a page it does not own links its
//! blocks into a private chain (plain stores: the blocks are still its own) and publishes
//! the whole chain with one CAS whose success is a *release*: it writes the old head into
//! the chain's tail, then swings the head from that old value to the chain's first block.
//! The owner takes the whole stack with one *acquire* `swap` to null, which makes every
//! link and every byte the pushers wrote before their CAS visible, and walks it with plain
//! loads. No block is ever popped singly, so there is no ABA: a head a pusher read can be
//! taken meanwhile, and then its CAS fails and it retries with the new head.
//!
//! The functions are generic over the head's atomic type and the link accessors so that
//! the loom model in `loom_tests` checks this code with loom's atomics and cells.

/// The head of a thread-free list.
pub(crate) trait Head {
    /// The current head (relaxed: only a guess for the CAS).
    fn peek(&self) -> *mut u8;
    /// CAS from `old` to `new`, release on success; the current head on failure.
    fn publish(&self, old: *mut u8, new: *mut u8) -> Result<(), *mut u8>;
    /// Swaps in null, acquire; the list taken.
    fn take(&self) -> *mut u8;
}

impl Head for core::sync::atomic::AtomicPtr<u8> {
    #[inline]
    fn peek(&self) -> *mut u8 {
        self.load(core::sync::atomic::Ordering::Relaxed)
    }
    #[inline]
    fn publish(&self, old: *mut u8, new: *mut u8) -> Result<(), *mut u8> {
        use core::sync::atomic::Ordering::{Relaxed, Release};
        self.compare_exchange_weak(old, new, Release, Relaxed)
            .map(|_| ())
    }
    #[inline]
    fn take(&self) -> *mut u8 {
        self.swap(core::ptr::null_mut(), core::sync::atomic::Ordering::Acquire)
    }
}

#[cfg(ebb_loom)]
impl Head for loom::sync::atomic::AtomicPtr<u8> {
    fn peek(&self) -> *mut u8 {
        self.load(loom::sync::atomic::Ordering::Relaxed)
    }
    fn publish(&self, old: *mut u8, new: *mut u8) -> Result<(), *mut u8> {
        use loom::sync::atomic::Ordering::{Relaxed, Release};
        self.compare_exchange_weak(old, new, Release, Relaxed)
            .map(|_| ())
    }
    fn take(&self) -> *mut u8 {
        self.swap(core::ptr::null_mut(), loom::sync::atomic::Ordering::Acquire)
    }
}

/// Publishes the chain `head ..= tail` (linked through `set_next`, which writes a block's
/// link) onto the list `tf`.
///
/// # Safety
/// The chain's blocks belong to the caller until the CAS succeeds, and `set_next` may
/// write the tail's link.
#[inline]
pub(crate) unsafe fn push<H: Head>(
    tf: &H,
    head: *mut u8,
    tail: *mut u8,
    set_next: impl Fn(*mut u8, *mut u8),
) {
    let mut old = tf.peek();
    loop {
        set_next(tail, old);
        match tf.publish(old, head) {
            Ok(()) => return,
            Err(cur) => old = cur,
        }
    }
}
