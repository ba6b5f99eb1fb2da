//! Treiber's lock-free stack (R. K. Treiber, "Systems Programming: Coping with
//! Parallelism", IBM RJ 5118, 1986) with nodes reclaimed through ebb-smr.
//!
//! `push` links a new node with one compare-and-swap on `head`; `pop` protects `head`,
//! reads its `next` and swings `head` to it. A node is retired once unlinked, so no
//! popper can read a freed node, and a protected node cannot be reused: the reclamation
//! scheme also rules out ABA on `head`.

use crate::sync::atomic::{AtomicIsize, AtomicPtr, Ordering};
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr;
use crossbeam_utils::CachePadded;
use ebb_smr::{DomainId, Smr, SmrError, SmrGuard};

struct Node<T> {
    value: ManuallyDrop<T>,
    next: *mut Node<T>,
}

/// Frees a node whose value was moved out.
///
/// # Safety
///
/// `p` came from `Box::into_raw`, no thread can reach it any more (it was unlinked and
/// retired, and its grace period is over), and it is freed once.
unsafe fn free_node<T>(p: *mut Node<T>) {
    // SAFETY: nodes are boxes, and the value is `ManuallyDrop` (moved out by `pop`).
    drop(unsafe { Box::from_raw(p) });
}

/// A lock-free LIFO stack, its nodes reclaimed by the scheme `S` (EBR by default).
///
/// Methods ending in `_with` take a guard of the stack's domain (any scheme); the plain
/// ones, on an EBR stack made by [`new`](TreiberStack::new), pin the default EBR domain
/// for the call.
pub struct TreiberStack<T, S: Smr = ebb_smr::ebr::Domain> {
    head: CachePadded<AtomicPtr<Node<T>>>,
    len: CachePadded<AtomicIsize>,
    domain: DomainId,
    _scheme: PhantomData<(S, Box<T>)>,
}

// SAFETY: values move between threads through the stack (pushed on one, popped or dropped
// on another) and are never shared: `T: Send` suffices.
unsafe impl<T: Send, S: Smr> Send for TreiberStack<T, S> {}
// SAFETY: as above; `&TreiberStack` only moves values in and out.
unsafe impl<T: Send, S: Smr> Sync for TreiberStack<T, S> {}

impl<T, S: Smr> TreiberStack<T, S> {
    /// An empty stack whose nodes are reclaimed through `domain`.
    pub fn with_domain(domain: &S) -> Self {
        TreiberStack {
            head: CachePadded::new(AtomicPtr::new(ptr::null_mut())),
            len: CachePadded::new(AtomicIsize::new(0)),
            domain: domain.id(),
            _scheme: PhantomData,
        }
    }

    /// Pushes `value`. Needs no guard: it never reads a node it did not allocate.
    pub fn push_node(&self, value: T) {
        let n = Box::into_raw(Box::new(Node {
            value: ManuallyDrop::new(value),
            next: ptr::null_mut(),
        }));
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `n` is not published yet; it is ours.
            unsafe { (*n).next = head };
            // Release: the node's contents are visible to whoever pops it.
            match self
                .head
                .compare_exchange_weak(head, n, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        self.len.fetch_add(1, Ordering::Relaxed);
    }

    /// Pops the most recently pushed value, `None` at once when empty.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the stack's domain.
    #[inline]
    pub fn pop_with<G: SmrGuard>(&self, guard: &G) -> Result<Option<T>, SmrError> {
        guard.check_domain(self.domain)?;
        loop {
            let head = guard.protect_shared(0, &self.head);
            if head.is_null() {
                return Ok(None);
            }
            // SAFETY: `head` is protected, so not freed; `next` is immutable once the
            // node is published.
            let next = unsafe { (*head).next };
            // Acquire: we take the value out of the node, written before its Release push.
            if self
                .head
                .compare_exchange_weak(head, next, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                self.len.fetch_sub(1, Ordering::Relaxed);
                // SAFETY: we unlinked `head`, so we alone take its value; it is then
                // retired once, through the stack's domain (checked above).
                unsafe {
                    let v = ptr::read(&*(*head).value);
                    guard.retire(head, free_node::<T>);
                    return Ok(Some(v));
                }
            }
        }
    }

    /// Pushes through a guard, for symmetry with [`pop_with`](TreiberStack::pop_with).
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the stack's domain.
    pub fn push_with<G: SmrGuard>(&self, guard: &G, value: T) -> Result<(), SmrError> {
        guard.check_domain(self.domain)?;
        self.push_node(value);
        Ok(())
    }

    /// Values on the stack, an estimate while other threads push or pop.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed).max(0) as usize
    }

    /// True if the stack held no value at the moment of the load.
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::Relaxed).is_null()
    }

    /// The domain the stack's nodes are retired into.
    pub fn domain_id(&self) -> DomainId {
        self.domain
    }
}

#[cfg(not(ebb_loom))]
impl<T> TreiberStack<T> {
    /// An empty stack reclaimed through the default EBR domain.
    pub fn new() -> Self {
        TreiberStack::with_domain(ebb_smr::ebr::default_domain())
    }

    /// Pushes `value`.
    pub fn push(&self, value: T) {
        self.push_node(value);
    }

    /// Pops the most recently pushed value, `None` at once when empty.
    ///
    /// # Panics
    ///
    /// If the stack was made with [`with_domain`](TreiberStack::with_domain) for an EBR
    /// domain other than the default one (use [`pop_with`](TreiberStack::pop_with)).
    pub fn pop(&self) -> Option<T> {
        ebb_smr::ebr::with_guard(|g| self.pop_with(g)).expect(crate::DEFAULT_DOMAIN_ONLY)
    }
}

#[cfg(not(ebb_loom))]
impl<T> Default for TreiberStack<T> {
    fn default() -> Self {
        TreiberStack::new()
    }
}

impl<T, S: Smr> Drop for TreiberStack<T, S> {
    fn drop(&mut self) {
        let mut p = self.head.load(Ordering::Relaxed);
        while !p.is_null() {
            // SAFETY: `&mut self`: the nodes still linked are ours alone, and popped ones
            // are unlinked (retired separately).
            let mut b = unsafe { Box::from_raw(p) };
            p = b.next;
            // SAFETY: a value still on the stack was never moved out.
            unsafe { ManuallyDrop::drop(&mut b.value) };
        }
    }
}

impl<T, S: Smr> fmt::Debug for TreiberStack<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TreiberStack")
            .field("len", &self.len())
            .field("domain", &self.domain)
            .finish()
    }
}
