//! A thread's retired objects in bags stamped with what they wait for: the thread-local
//! side of EBR (an epoch) and QSBR (a grace period, where bags are called batches).
//! Hazard pointers keep one flat list instead.
//!
//! What a stamp means and when a bag is due are the scheme's: it seals with its own stamp
//! and reclaims with its own readiness predicate. This module only keeps the bags and
//! reuses their allocations.

use crate::retired::{Counters, Garbage, Retired, reclaim_all};
use core::cell::{Cell, RefCell};
use core::mem;
use std::collections::VecDeque;

/// Emptied bag allocations kept for reuse per thread.
const SPARE_BAGS: usize = 4;

/// Retired objects stamped, after their unlink, with the epoch or grace period they wait
/// for.
pub(crate) struct Bag {
    pub(crate) stamp: u64,
    pub(crate) items: Vec<Retired>,
}

impl Garbage for Bag {
    unsafe fn reclaim_counted(self, counters: &Counters) {
        // SAFETY: the caller guarantees every object of the bag is unreachable.
        unsafe { reclaim_all(self.items, counters) };
    }
}

/// A thread's bags: the open one, which fills up to `CAP` objects, the sealed ones
/// (oldest first), and emptied allocations for the next open bags.
pub(crate) struct Bags<const CAP: usize> {
    /// Retired objects not yet sealed.
    open: RefCell<Vec<Retired>>,
    /// Sealed bags, oldest first (stamps never decrease).
    sealed: RefCell<VecDeque<Bag>>,
    /// `sealed.len()`, readable without a borrow (on fast paths).
    sealed_len: Cell<usize>,
    /// Emptied bag allocations, reused by `seal`.
    spare: RefCell<Vec<Vec<Retired>>>,
}

impl<const CAP: usize> Bags<CAP> {
    pub(crate) fn new() -> Self {
        Bags {
            open: RefCell::new(Vec::with_capacity(CAP)),
            sealed: RefCell::new(VecDeque::new()),
            sealed_len: Cell::new(0),
            spare: RefCell::new(Vec::new()),
        }
    }

    /// Adds `r` to the open bag; true when that filled it (time to seal).
    #[inline]
    pub(crate) fn push(&self, r: Retired) -> bool {
        let mut b = self.open.borrow_mut();
        b.push(r);
        b.len() >= CAP
    }

    /// Seals the open bag, if it holds anything, with the stamp that `stamp` returns (it
    /// runs once the objects left the open bag, and only then).
    pub(crate) fn seal(&self, stamp: impl FnOnce() -> u64) {
        if self.open.borrow().is_empty() {
            return;
        }
        // The next bag reuses the allocation of one already freed.
        let fresh = self
            .spare
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(CAP));
        let items = mem::replace(&mut *self.open.borrow_mut(), fresh);
        let stamp = stamp();
        let mut s = self.sealed.borrow_mut();
        s.push_back(Bag { stamp, items });
        self.sealed_len.set(s.len());
    }

    /// The stamp of the oldest sealed bag.
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.sealed.borrow().front().map(|b| b.stamp)
    }

    /// Sealed bags, read without a borrow.
    #[inline(always)]
    pub(crate) fn sealed_len(&self) -> usize {
        self.sealed_len.get()
    }

    /// Reclaims sealed bags, oldest first, while `due` accepts their stamps, and counts
    /// them in `counters`; keeps their allocations for reuse.
    ///
    /// # Safety
    ///
    /// * Every object of a sealed bag whose stamp `due` accepts is unreachable by every
    ///   thread.
    pub(crate) unsafe fn reclaim_due(&self, due: impl Fn(u64) -> bool, counters: &Counters) {
        let ready: Vec<Bag> = {
            let mut s = self.sealed.borrow_mut();
            let n = s.iter().take_while(|b| due(b.stamp)).count();
            let ready = s.drain(..n).collect();
            self.sealed_len.set(s.len());
            ready
        };
        // No borrow is held while drop functions run: they may retire more objects.
        for b in ready {
            // SAFETY: the caller guarantees that `due` accepts only unreachable bags.
            let empty = unsafe { reclaim_all(b.items, counters) };
            let mut spare = self.spare.borrow_mut();
            if spare.len() < SPARE_BAGS {
                spare.push(empty);
            }
        }
    }

    /// Objects retired and not reclaimed yet.
    pub(crate) fn pending(&self) -> usize {
        self.open.borrow().len()
            + self
                .sealed
                .borrow()
                .iter()
                .map(|b| b.items.len())
                .sum::<usize>()
    }

    /// Takes every sealed bag (the thread exits; they become orphans).
    pub(crate) fn take_sealed(&self) -> VecDeque<Bag> {
        self.sealed_len.set(0);
        mem::take(&mut *self.sealed.borrow_mut())
    }
}
