//! Pointers for lock-free code under an EBR [`Guard`]: [`Atomic`] (the shared location),
//! [`Shared`] (a pointer loaded under a guard, valid for the guard's lifetime) and
//! [`Owned`] (a uniquely owned heap object, not yet published).
//!
//! A `Shared<'g, T>` cannot outlive the guard `'g` it was loaded under, so the borrow
//! checker enforces the rule of epoch reclamation: a reference is used only while pinned.

use super::Guard;
use crate::sync::atomic::{AtomicPtr, Ordering};
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};

// === impl Pointer ===

/// A pointer that can be stored into an [`Atomic`]: [`Owned`] or [`Shared`].
pub trait Pointer<T> {
    /// Gives up the pointer as a raw one (ownership, if any, moves into the `Atomic`).
    fn into_raw(self) -> *mut T;

    /// Rebuilds the pointer from [`Pointer::into_raw`]'s result.
    ///
    /// # Safety
    ///
    /// * `raw` came from `Self::into_raw` and was not used to rebuild a pointer since.
    unsafe fn from_raw(raw: *mut T) -> Self;
}

// === impl Atomic ===

/// A shared location holding a pointer to a `T` that was allocated by [`Owned::new`].
pub struct Atomic<T> {
    ptr: AtomicPtr<T>,
    _owns: PhantomData<Box<T>>,
}

// SAFETY: an `Atomic<T>` hands out `&T` to many threads and moves `T` between threads
// (retired objects are dropped by whoever reclaims them), like `Arc<T>`.
unsafe impl<T: Send + Sync> Send for Atomic<T> {}
// SAFETY: see above.
unsafe impl<T: Send + Sync> Sync for Atomic<T> {}

impl<T> Atomic<T> {
    /// A null pointer.
    pub fn null() -> Atomic<T> {
        Atomic {
            ptr: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// A pointer to a new heap object holding `value`.
    pub fn new(value: T) -> Atomic<T> {
        Atomic::from(Owned::new(value))
    }

    /// Loads the pointer; the result is valid while `guard` lives.
    #[inline]
    pub fn load<'g>(&self, ord: Ordering, _guard: &'g Guard<'_>) -> Shared<'g, T> {
        Shared::from_ptr(self.ptr.load(ord))
    }

    /// Stores `new` (an `Owned` moves in; a `Shared` is copied in).
    pub fn store<P: Pointer<T>>(&self, new: P, ord: Ordering) {
        self.ptr.store(new.into_raw(), ord);
    }

    /// Swaps in `new` and returns the previous pointer.
    pub fn swap<'g, P: Pointer<T>>(
        &self,
        new: P,
        ord: Ordering,
        _guard: &'g Guard<'_>,
    ) -> Shared<'g, T> {
        Shared::from_ptr(self.ptr.swap(new.into_raw(), ord))
    }

    /// Stores `new` if the location holds `current`. On failure `new` is handed back.
    pub fn compare_exchange<'g, P: Pointer<T>>(
        &self,
        current: Shared<'_, T>,
        new: P,
        success: Ordering,
        failure: Ordering,
        _guard: &'g Guard<'_>,
    ) -> Result<Shared<'g, T>, CompareExchangeError<'g, T, P>> {
        let raw = new.into_raw();
        match self
            .ptr
            .compare_exchange(current.ptr, raw, success, failure)
        {
            Ok(_) => Ok(Shared::from_ptr(raw)),
            Err(now) => Err(CompareExchangeError {
                current: Shared::from_ptr(now),
                // SAFETY: `raw` came from `into_raw` just above and was not stored.
                new: unsafe { P::from_raw(raw) },
            }),
        }
    }

    /// Takes the object out of an `Atomic` that nobody else can reach any more (in a data
    /// structure's `Drop`).
    ///
    /// # Safety
    ///
    /// * No other thread accesses the location or the object, now or later.
    pub unsafe fn into_owned(self) -> Option<Owned<T>> {
        // Relaxed: the caller guarantees exclusive access.
        let p = self.ptr.load(Ordering::Relaxed);
        // SAFETY: non-null pointers in an `Atomic` come from `Owned::into_raw`.
        NonNull::new(p).map(|ptr| unsafe { Owned::from_raw(ptr.as_ptr()) })
    }
}

impl<T> From<Owned<T>> for Atomic<T> {
    fn from(o: Owned<T>) -> Self {
        Atomic {
            ptr: AtomicPtr::new(o.into_raw()),
            _owns: PhantomData,
        }
    }
}

impl<T> Default for Atomic<T> {
    fn default() -> Self {
        Atomic::null()
    }
}

impl<T> fmt::Debug for Atomic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Atomic")
            .field(&self.ptr.load(Ordering::Relaxed))
            .finish()
    }
}

/// A failed [`Atomic::compare_exchange`]: what the location held, and `new` handed back.
pub struct CompareExchangeError<'g, T, P: Pointer<T>> {
    /// The pointer found in the location.
    pub current: Shared<'g, T>,
    /// The pointer that was not stored.
    pub new: P,
}

impl<T, P: Pointer<T>> fmt::Debug for CompareExchangeError<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompareExchangeError")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

// === impl Shared ===

/// A pointer loaded under a guard; valid (if non-null and not retired before the load)
/// for the guard's lifetime `'g`.
pub struct Shared<'g, T> {
    ptr: *mut T,
    _guard: PhantomData<(&'g (), *const T)>,
}

impl<T> Clone for Shared<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Shared<'_, T> {}

impl<T> PartialEq for Shared<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl<T> Eq for Shared<'_, T> {}

impl<'g, T> Shared<'g, T> {
    fn from_ptr(ptr: *mut T) -> Self {
        Shared {
            ptr,
            _guard: PhantomData,
        }
    }

    /// A null pointer.
    pub fn null() -> Self {
        Shared::from_ptr(ptr::null_mut())
    }

    /// True if null.
    pub fn is_null(&self) -> bool {
        self.ptr.is_null()
    }

    /// The raw pointer.
    pub fn as_raw(&self) -> *const T {
        self.ptr
    }

    /// Dereferences the pointer for the guard's lifetime.
    ///
    /// # Safety
    ///
    /// * The pointer is non-null and was loaded from an `Atomic` whose objects are retired
    ///   only through this guard's domain.
    pub unsafe fn deref(&self) -> &'g T {
        // SAFETY: the caller guarantees a valid object; the pin keeps it alive for 'g.
        unsafe { &*self.ptr }
    }

    /// Like [`deref`](Shared::deref), `None` for null.
    ///
    /// # Safety
    ///
    /// As [`Shared::deref`], except that the pointer may be null.
    pub unsafe fn as_ref(&self) -> Option<&'g T> {
        // SAFETY: as `deref`.
        unsafe { self.ptr.as_ref() }
    }

    /// Takes ownership of the object.
    ///
    /// # Safety
    ///
    /// * Non-null, unreachable by any other thread, and not retired.
    pub unsafe fn into_owned(self) -> Owned<T> {
        // SAFETY: the caller guarantees unique ownership of an `Owned` allocation.
        unsafe { Owned::from_raw(self.ptr) }
    }
}

impl<T> Pointer<T> for Shared<'_, T> {
    fn into_raw(self) -> *mut T {
        self.ptr
    }

    unsafe fn from_raw(raw: *mut T) -> Self {
        Shared::from_ptr(raw)
    }
}

impl<T> fmt::Debug for Shared<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Shared").field(&self.ptr).finish()
    }
}

// === impl Owned ===

/// A uniquely owned heap object (a `Box`), ready to be published into an [`Atomic`].
pub struct Owned<T> {
    ptr: NonNull<T>,
    _owns: PhantomData<T>,
}

// SAFETY: `Owned<T>` is a `Box<T>`.
unsafe impl<T: Send> Send for Owned<T> {}
// SAFETY: `Owned<T>` is a `Box<T>`.
unsafe impl<T: Sync> Sync for Owned<T> {}

impl<T> Owned<T> {
    /// Allocates `value` on the heap.
    pub fn new(value: T) -> Owned<T> {
        Owned {
            ptr: NonNull::from(Box::leak(Box::new(value))),
            _owns: PhantomData,
        }
    }

    /// Publishes nothing: turns the box into a `Shared` valid for `'g` (the caller then
    /// stores it somewhere or destroys it).
    pub fn into_shared<'g>(self, _guard: &'g Guard<'_>) -> Shared<'g, T> {
        Shared::from_ptr(self.into_raw())
    }

    /// The boxed value.
    pub fn into_box(self) -> Box<T> {
        // SAFETY: the pointer came from `Box::leak` and ownership moves out of `self`.
        unsafe { Box::from_raw(self.into_raw()) }
    }
}

impl<T> Pointer<T> for Owned<T> {
    fn into_raw(self) -> *mut T {
        let p = self.ptr.as_ptr();
        core::mem::forget(self);
        p
    }

    unsafe fn from_raw(raw: *mut T) -> Self {
        debug_assert!(!raw.is_null());
        Owned {
            // SAFETY: the caller passes a pointer from `into_raw`, which is never null.
            ptr: unsafe { NonNull::new_unchecked(raw) },
            _owns: PhantomData,
        }
    }
}

impl<T> Deref for Owned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `ptr` is a live, uniquely owned allocation.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for Owned<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: `ptr` is a live, uniquely owned allocation, and `&mut self` is unique.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the allocation came from `Box` and is owned by `self` alone.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

impl<T: fmt::Debug> fmt::Debug for Owned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Owned").field(&**self).finish()
    }
}
