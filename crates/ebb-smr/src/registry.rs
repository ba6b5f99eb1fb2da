//! The per-domain list of per-thread records.
//!
//! A record is the part of a thread's state that other threads read: its announced epoch,
//! its hazard pointers, its counters. Records live in an intrusive, append-only, lock-free
//! singly linked list and are never freed while the domain lives: a thread that exits
//! marks its record free and the next thread to register takes it over. Scanners therefore
//! walk the list without any protection of their own, and the list's length is bounded by
//! the largest number of threads that were ever registered at once.

use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use core::ptr::{self, NonNull};
use crossbeam_utils::CachePadded;

/// One node of the list: the record and the bookkeeping to reuse it.
pub(crate) struct Node<R> {
    /// The record, padded so that two threads' records never share a cache line.
    record: CachePadded<R>,
    /// True while a handle owns this record.
    in_use: AtomicBool,
    /// The next node; written once, before the node is published.
    next: *const Node<R>,
}

/// An append-only list of records, reused after their owners exit.
pub(crate) struct Registry<R> {
    head: AtomicPtr<Node<R>>,
    /// Records ever allocated (the list's length).
    len: AtomicUsize,
}

// SAFETY: the registry hands out `&R` to any thread and moves no `R` between threads, so
// it is Send/Sync exactly when `R` is Sync (records are made of atomics).
unsafe impl<R: Sync> Send for Registry<R> {}
// SAFETY: see above; all shared mutation goes through atomics.
unsafe impl<R: Sync> Sync for Registry<R> {}

impl<R: Default> Registry<R> {
    pub(crate) fn new() -> Self {
        Registry {
            head: AtomicPtr::new(ptr::null_mut()),
            len: AtomicUsize::new(0),
        }
    }

    /// Takes a free record, or appends a new one. The caller owns it until [`release`].
    ///
    /// [`release`]: Registry::release
    pub(crate) fn acquire(&self) -> NonNull<Node<R>> {
        for node in self.nodes() {
            // SAFETY: nodes are never freed while `self` lives.
            let n = unsafe { node.as_ref() };
            // Acquire: the previous owner's last writes to the record (made before its
            // Release in `release`) are visible to the new owner.
            if !n.in_use.load(Ordering::Relaxed)
                && n.in_use
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return node;
            }
        }
        let node = Box::into_raw(Box::new(Node {
            record: CachePadded::new(R::default()),
            in_use: AtomicBool::new(true),
            next: ptr::null(),
        }));
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `node` is not published yet, so this thread owns it exclusively.
            unsafe { (*node).next = head };
            // Release: a scanner that reaches the node through `head` sees its initialized
            // record and `next`.
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        self.len.fetch_add(1, Ordering::Relaxed);
        // SAFETY: Box::into_raw never returns null.
        unsafe { NonNull::new_unchecked(node) }
    }

    /// Returns a record taken by [`acquire`](Registry::acquire) to the free pool.
    ///
    /// # Safety
    ///
    /// * `node` came from `self.acquire()` and was not released since.
    /// * The caller no longer uses the record as its own.
    pub(crate) unsafe fn release(&self, node: NonNull<Node<R>>) {
        // SAFETY: the caller guarantees that `node` is a live node of this registry.
        let n = unsafe { node.as_ref() };
        // Release: pairs with the Acquire in `acquire` of the next owner.
        n.in_use.store(false, Ordering::Release);
    }

    /// Records ever allocated.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Every node, in use or not.
    pub(crate) fn nodes(&self) -> Nodes<'_, R> {
        Nodes {
            // Acquire: pairs with the Release that published the head node.
            next: self.head.load(Ordering::Acquire),
            _registry: core::marker::PhantomData,
        }
    }

    /// Every record, in use or not (a free record holds no announcement).
    pub(crate) fn records(&self) -> impl Iterator<Item = &R> {
        // SAFETY: nodes live as long as the registry, which `self` borrows.
        self.nodes().map(|n| unsafe { &*n.as_ptr() }.record())
    }
}

impl<R> Node<R> {
    pub(crate) fn record(&self) -> &R {
        &self.record
    }

    pub(crate) fn in_use(&self) -> bool {
        self.in_use.load(Ordering::Acquire)
    }
}

/// Iterator over the nodes of a registry.
pub(crate) struct Nodes<'a, R> {
    next: *mut Node<R>,
    _registry: core::marker::PhantomData<&'a Registry<R>>,
}

impl<R> Iterator for Nodes<'_, R> {
    type Item = NonNull<Node<R>>;

    fn next(&mut self) -> Option<Self::Item> {
        let node = NonNull::new(self.next)?;
        // SAFETY: a published node is never freed while the registry lives, and its
        // `next` was written before the Release that published it.
        self.next = unsafe { node.as_ref() }.next as *mut Node<R>;
        Some(node)
    }
}

impl<R> Drop for Registry<R> {
    fn drop(&mut self) {
        let mut p = self.head.load(Ordering::Relaxed);
        while !p.is_null() {
            // SAFETY: `&mut self` proves that no handle or scanner uses any node, and each
            // node was allocated by `Box::new` in `acquire` and is freed exactly once here.
            let node = unsafe { Box::from_raw(p) };
            p = node.next as *mut Node<R>;
        }
    }
}

#[cfg(all(test, not(ebb_loom)))]
mod tests {
    use super::*;

    #[test]
    fn released_records_are_reused() {
        let r: Registry<AtomicUsize> = Registry::new();
        let a = r.acquire();
        let b = r.acquire();
        assert_ne!(a, b);
        assert_eq!(r.len(), 2);
        // SAFETY: `b` came from `acquire` and is released once.
        unsafe { r.release(b) };
        let c = r.acquire();
        assert_eq!(b, c);
        assert_eq!(r.len(), 2);
        assert_eq!(r.records().count(), 2);
        // SAFETY: both came from `acquire` and are released once.
        unsafe {
            r.release(a);
            r.release(c);
        }
    }
}
