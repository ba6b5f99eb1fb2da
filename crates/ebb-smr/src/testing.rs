//! Generic lock-free structures written once against [`Smr`] and used by the unit tests
//! and the loom models under every scheme: the shape ebb-sync builds on.

use crate::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use crate::{DomainId, SmrError, SmrGuard};
use core::mem::ManuallyDrop;
use core::ptr;

/// The canary's value while the object is alive.
pub(crate) const ALIVE: u64 = 0xA11C_E5A1_1CE5_A11C;
/// Written by the drop function.
pub(crate) const DEAD: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// A heap object whose drop function poisons it and counts the drop.
pub(crate) struct Canary {
    pub(crate) magic: core::cell::Cell<u64>,
    pub(crate) value: u64,
    drops: *const AtomicUsize,
}

impl Canary {
    pub(crate) fn boxed(value: u64, drops: &AtomicUsize) -> *mut Canary {
        Box::into_raw(Box::new(Canary {
            magic: core::cell::Cell::new(ALIVE),
            value,
            drops,
        }))
    }

    /// Reads through a protected pointer, asserting the object is alive.
    pub(crate) fn check(p: *const Canary) -> u64 {
        // SAFETY: callers pass protected, non-null pointers.
        let c = unsafe { &*p };
        assert_eq!(c.magic.get(), ALIVE, "read a reclaimed object");
        c.value
    }

    /// Drop function: poisons, counts, frees.
    ///
    /// # Safety
    ///
    /// `p` came from [`Canary::boxed`], is unreachable, and is dropped once.
    pub(crate) unsafe fn drop_fn(p: *mut Canary) {
        // SAFETY: the caller guarantees a live, unreachable box.
        let b = unsafe { Box::from_raw(p) };
        assert_eq!(b.magic.get(), ALIVE, "dropped twice");
        b.magic.set(DEAD);
        // SAFETY: the counter outlives every canary in the tests.
        unsafe { &*b.drops }.fetch_add(1, Ordering::Relaxed);
        // Keep the poisoned bytes visible to a racing reader under the checkers by not
        // freeing through a second path: the Box frees once here.
        drop(b);
    }
}

// === impl RcuCell ===

/// A value published through one pointer: readers load a snapshot, writers swap in a new
/// value and retire the old one.
pub(crate) struct RcuCell {
    ptr: AtomicPtr<Canary>,
    domain: DomainId,
}

impl RcuCell {
    pub(crate) fn new(domain: DomainId, value: u64, drops: &AtomicUsize) -> Self {
        RcuCell {
            ptr: AtomicPtr::new(Canary::boxed(value, drops)),
            domain,
        }
    }

    /// Reads the current value under `guard`.
    pub(crate) fn read<G: SmrGuard>(&self, guard: &mut G) -> Result<u64, SmrError> {
        guard.check_domain(self.domain)?;
        let p = guard.protect(0, &self.ptr);
        Ok(Canary::check(p))
    }

    /// Publishes `value` and retires the previous one.
    pub(crate) fn write<G: SmrGuard>(
        &self,
        guard: &G,
        value: u64,
        drops: &AtomicUsize,
    ) -> Result<(), SmrError> {
        guard.check_domain(self.domain)?;
        // AcqRel: Release publishes the new canary; Acquire gets the old one's contents
        // before retiring it.
        let old = self.ptr.swap(Canary::boxed(value, drops), Ordering::AcqRel);
        // SAFETY: `old` is unlinked by the swap, retired once, and a `Canary` box.
        unsafe { guard.retire(old, Canary::drop_fn) };
        Ok(())
    }
}

impl Drop for RcuCell {
    fn drop(&mut self) {
        let p = self.ptr.load(Ordering::Relaxed);
        // SAFETY: `&mut self`: nobody else can reach the current value.
        unsafe { Canary::drop_fn(p) };
    }
}

// === impl TreiberStack ===

struct Node<T> {
    value: ManuallyDrop<T>,
    next: *mut Node<T>,
}

/// Treiber's lock-free stack (IBM RJ 5118, 1986), reclamation-agnostic.
pub(crate) struct TreiberStack<T> {
    head: AtomicPtr<Node<T>>,
}

// SAFETY: values move between threads through the stack.
unsafe impl<T: Send> Sync for TreiberStack<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for TreiberStack<T> {}

unsafe fn free_node<T>(p: *mut Node<T>) {
    // SAFETY: nodes are boxes; the value was moved out by `pop` (ManuallyDrop).
    drop(unsafe { Box::from_raw(p) });
}

impl<T> TreiberStack<T> {
    pub(crate) fn new() -> Self {
        TreiberStack {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    pub(crate) fn push(&self, value: T) {
        let n = Box::into_raw(Box::new(Node {
            value: ManuallyDrop::new(value),
            next: ptr::null_mut(),
        }));
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `n` is not published yet.
            unsafe { (*n).next = head };
            // Release: the node's contents are visible to whoever pops it.
            match self
                .head
                .compare_exchange(head, n, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    pub(crate) fn pop<G: SmrGuard>(&self, guard: &mut G) -> Option<T> {
        loop {
            let head = guard.protect(0, &self.head);
            if head.is_null() {
                return None;
            }
            // SAFETY: `head` is protected, hence not freed; `next` never changes after
            // publication. The ABA problem cannot arise: a protected node is not reused.
            let next = unsafe { (*head).next };
            // Acquire on success: we take the value out of the node.
            if self
                .head
                .compare_exchange(head, next, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                // SAFETY: we unlinked `head`; only we take its value; then it is retired.
                unsafe {
                    let v = ptr::read(&*(*head).value);
                    guard.retire(head, free_node::<T>);
                    return Some(v);
                }
            }
        }
    }
}

impl<T> Drop for TreiberStack<T> {
    fn drop(&mut self) {
        let mut p = self.head.load(Ordering::Relaxed);
        while !p.is_null() {
            // SAFETY: `&mut self`: the remaining nodes are ours alone.
            let mut b = unsafe { Box::from_raw(p) };
            p = b.next;
            // SAFETY: the value was never taken out of a node still on the stack.
            unsafe { ManuallyDrop::drop(&mut b.value) };
        }
    }
}
