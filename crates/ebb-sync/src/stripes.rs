//! The writer stripes of the two maps ([`Map`](crate::Map), [`WordMap`](crate::WordMap)):
//! a write locks the stripe of its key's hash, so writers of different keys rarely wait
//! for each other; a rebuild locks every stripe, in order, so it never deadlocks with
//! another rebuild. Each stripe counts its keys, which `len` sums and the rebuild check
//! reads.

use crate::sync::{Mutex, MutexGuard};
use crossbeam_utils::CachePadded;

/// Stripes (few under the model checkers, so that their few keys share them).
pub(crate) const STRIPES: usize = if cfg!(any(miri, ebb_loom)) { 2 } else { 64 };

/// A stripe's counts.
#[derive(Default)]
pub(crate) struct Counts {
    /// Live keys of this stripe.
    pub(crate) live: usize,
    /// Slots this stripe's writers took from `EMPTY` (live keys and the slots their
    /// removals left behind), until a rebuild.
    pub(crate) used: usize,
}

impl Counts {
    /// True when this stripe's share of the used slots says a table of `slots` slots may
    /// be fuller than `num / den`: the writer should check the whole map.
    #[inline]
    pub(crate) fn may_pass(&self, slots: usize, num: usize, den: usize) -> bool {
        self.used * STRIPES * den > slots * num
    }
}

/// The stripes, each on its own cache line.
pub(crate) struct Stripes(Box<[CachePadded<Mutex<Counts>>]>);

impl Stripes {
    pub(crate) fn new() -> Stripes {
        Stripes(
            (0..STRIPES)
                .map(|_| CachePadded::new(Mutex::new(Counts::default())))
                .collect(),
        )
    }

    /// Locks stripe `i` (a writer that panicked left its counts consistent: they change
    /// only after the slot they count).
    fn lock_at(&self, i: usize) -> MutexGuard<'_, Counts> {
        self.0[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks the stripe of hash `h`.
    #[inline]
    pub(crate) fn lock(&self, h: u64) -> MutexGuard<'_, Counts> {
        self.lock_at((h as usize) & (STRIPES - 1))
    }

    /// Locks one stripe (any): enough to keep a rebuild from replacing the table.
    pub(crate) fn lock_one(&self) -> MutexGuard<'_, Counts> {
        self.lock_at(0)
    }

    /// Locks every stripe, in order.
    pub(crate) fn lock_all(&self) -> Vec<MutexGuard<'_, Counts>> {
        (0..STRIPES).map(|i| self.lock_at(i)).collect()
    }

    /// Live keys, summed one stripe at a time: exact while no write runs.
    pub(crate) fn live(&self) -> usize {
        (0..STRIPES).map(|i| self.lock_at(i).live).sum()
    }
}
