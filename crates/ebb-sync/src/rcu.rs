//! [`RcuCell`]: one value published through an atomic pointer, read-copy-update style.
//!
//! Readers load the current value under a guard and read it in place; writers publish a
//! new boxed value with one atomic swap (or compare-and-swap) and retire the old one
//! through ebb-smr, which drops it once no reader can still hold it.
//!
//! # `Send`, `Sync` and drops
//!
//! * Readers on many threads hold `&T` at once, so sharing the cell needs `T: Sync`.
//! * A retired value is dropped by whichever thread reclaims it, possibly after the cell
//!   itself is gone, so writing needs `T: Send + 'static`; `RcuCell<T>` is `Send` and
//!   `Sync` when `T: Send + Sync`.
//! * Every value ever stored is dropped exactly once: the current one when the cell
//!   drops, each replaced one when its grace period ends (at the latest when the domain
//!   drops); a value handed back by a failed `compare_and_swap` is returned to the caller,
//!   never dropped by the cell.

use crate::sync::atomic::{AtomicPtr, Ordering};
use core::fmt;
use core::marker::PhantomData;
use ebb_smr::{DomainId, Smr, SmrError, SmrGuard};

/// A value readers load without locks and writers replace by pointer swap; old values
/// are reclaimed through `S` (EBR by default). See the [module docs](self).
pub struct RcuCell<T, S: Smr = ebb_smr::ebr::Domain> {
    ptr: AtomicPtr<T>,
    domain: DomainId,
    _owns: PhantomData<(Box<T>, S)>,
}

// SAFETY: readers on several threads share `&T` (`T: Sync`); values are dropped on the
// reclaiming thread (`T: Send`).
unsafe impl<T: Send + Sync, S: Smr> Send for RcuCell<T, S> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync, S: Smr> Sync for RcuCell<T, S> {}

impl<T, S: Smr> RcuCell<T, S> {
    /// A cell holding `value`, retiring replaced values into `domain`.
    pub fn with_domain(domain: &S, value: T) -> Self {
        RcuCell {
            ptr: AtomicPtr::new(Box::into_raw(Box::new(value))),
            domain: domain.id(),
            _owns: PhantomData,
        }
    }

    /// The current value, borrowed for as long as the guard is (the guard is borrowed
    /// mutably, so that under hazard pointers its slot cannot protect anything else).
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the cell's domain.
    #[inline(always)]
    pub fn load<'g, G: SmrGuard>(&self, guard: &'g mut G) -> Result<&'g T, SmrError> {
        guard.check_domain(self.domain)?;
        let p = guard.protect(0, &self.ptr);
        // SAFETY: never null; protected by slot 0 of `guard`, which stays borrowed for
        // 'g; values are retired only through the cell's domain (checked above).
        Ok(unsafe { &*p })
    }

    /// The domain replaced values are retired into.
    pub fn domain_id(&self) -> DomainId {
        self.domain
    }

    /// Consumes the cell and returns its current value.
    pub fn into_inner(self) -> T {
        let p = self.ptr.load(Ordering::Relaxed);
        core::mem::forget(self);
        // SAFETY: we own the cell, hence its current box.
        *unsafe { Box::from_raw(p) }
    }
}

impl<T: Send + Sync + 'static, S: Smr> RcuCell<T, S> {
    /// Publishes `value`; the previous value is dropped after a grace period.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the cell's domain (`value` is
    /// dropped then).
    pub fn store_with<G: SmrGuard>(&self, guard: &G, value: T) -> Result<(), SmrError> {
        guard.check_domain(self.domain)?;
        // AcqRel: Release publishes the new value; Acquire orders the old one's contents
        // before its retirement.
        let old = self
            .ptr
            .swap(Box::into_raw(Box::new(value)), Ordering::AcqRel);
        // SAFETY: unlinked by the swap, retired once, a `Box` (so `drop_box` frees it);
        // `T: Send + 'static` may be dropped on any thread at any later time.
        unsafe { guard.retire(old, ebb_smr::drop_box::<T>) };
        Ok(())
    }

    /// Publishes `new` if the cell still holds `current` (compared by identity: the
    /// reference a `load` returned). On failure `new` comes back in `Err`.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the cell's domain.
    pub fn compare_and_swap<G: SmrGuard>(
        &self,
        guard: &G,
        current: &T,
        new: T,
    ) -> Result<Result<(), T>, SmrError> {
        guard.check_domain(self.domain)?;
        let cur = current as *const T as *mut T;
        let n = Box::into_raw(Box::new(new));
        match self
            .ptr
            .compare_exchange(cur, n, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(prev) => {
                // `prev` (the word the cell held, with the box's own provenance), not
                // `cur` (derived from a shared reference), is what gets freed.
                // SAFETY: the cell's value, unlinked now; retired once.
                unsafe { guard.retire(prev, ebb_smr::drop_box::<T>) };
                Ok(Ok(()))
            }
            // SAFETY: `n` was never published.
            Err(_) => Ok(Err(*unsafe { Box::from_raw(n) })),
        }
    }

    /// Read-copy-update: computes `f(&current)` and publishes it if the value did not
    /// change meanwhile, retrying otherwise (`f` may run several times).
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the cell's domain.
    pub fn rcu<G: SmrGuard>(&self, guard: &G, mut f: impl FnMut(&T) -> T) -> Result<(), SmrError> {
        guard.check_domain(self.domain)?;
        loop {
            let cur = guard.protect_shared(0, &self.ptr);
            // SAFETY: never null; protected by slot 0 until the next iteration protects
            // again, after `f`'s borrow ended.
            let new = f(unsafe { &*cur });
            let n = Box::into_raw(Box::new(new));
            match self
                .ptr
                .compare_exchange(cur, n, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // SAFETY: unlinked by the compare-and-swap, retired once.
                    unsafe { guard.retire(cur, ebb_smr::drop_box::<T>) };
                    return Ok(());
                }
                Err(_) => {
                    // SAFETY: `n` was never published; this drops the losing copy.
                    drop(unsafe { Box::from_raw(n) });
                }
            }
        }
    }
}

#[cfg(not(ebb_loom))]
impl<T: Send + Sync + 'static> RcuCell<T> {
    /// A cell in the default EBR domain.
    pub fn new(value: T) -> Self {
        RcuCell::with_domain(ebb_smr::ebr::default_domain(), value)
    }

    /// Runs `f` on the current value (pinning the default EBR domain for the call).
    ///
    /// # Panics
    ///
    /// If the cell belongs to an EBR domain other than the default one (use
    /// [`load`](RcuCell::load)).
    #[inline]
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        ebb_smr::ebr::with_guard(|g| {
            g.check_domain(self.domain)
                .expect(crate::DEFAULT_DOMAIN_ONLY);
            // Acquire: the value's contents, published with Release.
            let p = self.ptr.load(Ordering::Acquire);
            // SAFETY: never null; the pin keeps it alive until `with_guard` returns.
            f(unsafe { &*p })
        })
    }

    /// Publishes `value` (see [`store_with`](RcuCell::store_with)).
    ///
    /// # Panics
    ///
    /// As [`read`](RcuCell::read).
    pub fn store(&self, value: T) {
        ebb_smr::ebr::with_guard(|g| self.store_with(g, value)).expect(crate::DEFAULT_DOMAIN_ONLY)
    }

    /// Read-copy-update through the default EBR domain (see [`rcu`](RcuCell::rcu)).
    ///
    /// # Panics
    ///
    /// As [`read`](RcuCell::read).
    pub fn update(&self, f: impl FnMut(&T) -> T) {
        ebb_smr::ebr::with_guard(|g| self.rcu(g, f)).expect(crate::DEFAULT_DOMAIN_ONLY)
    }
}

impl<T, S: Smr> Drop for RcuCell<T, S> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: the current value is ours alone; replaced values were
        // retired and are the domain's to drop.
        drop(unsafe { Box::from_raw(self.ptr.load(Ordering::Relaxed)) });
    }
}

impl<T, S: Smr> fmt::Debug for RcuCell<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RcuCell")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}
