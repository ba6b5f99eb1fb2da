//! Guard-bound pointers with tag bits, for every scheme: [`Atomic`] (the shared location),
//! [`Shared`] (a pointer loaded under a guard, valid for the guard's lifetime) and
//! [`Owned`] (a uniquely owned heap object, not yet published).
//!
//! They are generic over [`SmrGuard`] (and re-exported as [`crate::ebr`]'s pointer types):
//! [`Atomic::load`] protects through [`SmrGuard::protect_shared`] in a caller-chosen slot
//! (hazard pointers need one per pointer held), and the `Shared<'g, T>` it returns cannot
//! outlive the guard borrow `'g`.
//!
//! # Tags
//!
//! A pointer to `T` has `align_of::<T>()` as a factor of its address, so its
//! [`TAG_BITS`](Atomic::TAG_BITS) low bits are free for a *tag* (a deletion mark in a
//! Harris list, a state bit). [`Shared::tag`] reads it, [`Shared::with_tag`] sets it, and
//! the tag travels with the pointer through `store`, `swap` and `compare_exchange`
//! (which compares tag bits too). Protection strips the tag: a hazard cell holds the
//! object's own address, which is what a scan compares against retired objects, so a
//! marked pointer protects its target like an unmarked one. Tags are set with
//! `map_addr`, so provenance is kept (the module passes Miri's strict-provenance check).
//!
//! # What stays the caller's
//!
//! `Shared::deref` is `unsafe`: the types cannot know that a location's objects are
//! retired only through this guard's domain, nor (under hazard pointers) that the slot was
//! not reused for another pointer since the load. Retiring takes an unlinked pointer
//! ([`retire_box`]).

use crate::sync::atomic::{AtomicPtr, Ordering};
use crate::{SmrGuard, untagged};
use core::fmt;
use core::marker::PhantomData;
use core::mem;
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};

/// The tag bits available in a pointer to `T`.
#[inline(always)]
const fn tag_mask<T>() -> usize {
    mem::align_of::<T>() - 1
}

/// `ptr` with its tag bits replaced by `tag` (masked to the available bits).
#[inline(always)]
fn compose<T>(ptr: *mut T, tag: usize) -> *mut T {
    ptr.map_addr(|a| (a & !tag_mask::<T>()) | (tag & tag_mask::<T>()))
}

// === impl Pointer ===

/// A pointer that can be stored into an [`Atomic`]: [`Owned`] or [`Shared`].
pub trait Pointer<T> {
    /// Gives up the pointer as a raw, possibly tagged one (ownership, if any, moves into
    /// the `Atomic`).
    fn into_raw(self) -> *mut T;

    /// Rebuilds the pointer from [`Pointer::into_raw`]'s result.
    ///
    /// # Safety
    ///
    /// * `raw` came from `Self::into_raw` and was not used to rebuild a pointer since.
    unsafe fn from_raw(raw: *mut T) -> Self;
}

// === impl Atomic ===

/// A shared location holding a possibly tagged pointer to a `T` allocated by
/// [`Owned::new`], readable under a guard of any scheme.
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
    /// Low bits of a pointer to `T` free for a tag: `log2(align_of::<T>())`.
    pub const TAG_BITS: u32 = mem::align_of::<T>().trailing_zeros();

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

    /// Loads the pointer (`Acquire`) and protects its target in `slot` of `guard`; the
    /// result is valid while `guard` lives and `slot` protects nothing else.
    ///
    /// # Panics
    ///
    /// If `slot >= G::SLOTS`.
    #[inline(always)]
    pub fn load<'g, G: SmrGuard>(&self, slot: usize, guard: &'g G) -> Shared<'g, T> {
        Shared::from_ptr(guard.protect_shared(slot, &self.ptr))
    }

    /// Loads the pointer without protecting it: good for comparing (as the `current` of a
    /// `compare_exchange`) or reading the tag, never for dereferencing under hazard
    /// pointers.
    #[inline(always)]
    pub fn load_unprotected<'g, G: SmrGuard>(&self, ord: Ordering, _guard: &'g G) -> Shared<'g, T> {
        Shared::from_ptr(self.ptr.load(ord))
    }

    /// Stores `new` (an `Owned` moves in; a `Shared` is copied in), tag included.
    pub fn store<P: Pointer<T>>(&self, new: P, ord: Ordering) {
        self.ptr.store(new.into_raw(), ord);
    }

    /// Swaps in `new` and returns the previous pointer (unprotected; the caller that
    /// unlinked it owns its retirement).
    pub fn swap<'g, P: Pointer<T>, G: SmrGuard>(
        &self,
        new: P,
        ord: Ordering,
        _guard: &'g G,
    ) -> Shared<'g, T> {
        Shared::from_ptr(self.ptr.swap(new.into_raw(), ord))
    }

    /// Stores `new` if the location holds `current`, tag bits included. On failure `new`
    /// is handed back with what the location held.
    pub fn compare_exchange<'g, P: Pointer<T>, G: SmrGuard>(
        &self,
        current: Shared<'_, T>,
        new: P,
        success: Ordering,
        failure: Ordering,
        _guard: &'g G,
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

    /// Sets tag bits `tag` (OR) in place and returns the previous pointer (a CAS loop, so
    /// that it runs under loom too): how a Harris list marks a node deleted.
    pub fn fetch_or_tag<'g, G: SmrGuard>(
        &self,
        tag: usize,
        ord: Ordering,
        _guard: &'g G,
    ) -> Shared<'g, T> {
        let tag = tag & tag_mask::<T>();
        let mut cur = self.ptr.load(Ordering::Relaxed);
        loop {
            let new = cur.map_addr(|a| a | tag);
            match self
                .ptr
                .compare_exchange_weak(cur, new, ord, Ordering::Relaxed)
            {
                Ok(_) => return Shared::from_ptr(cur),
                Err(now) => cur = now,
            }
        }
    }

    /// Takes the object out of an `Atomic` that nobody else can reach any more (in a data
    /// structure's `Drop`); the tag is dropped.
    ///
    /// # Safety
    ///
    /// * No other thread accesses the location or the object, now or later, and the
    ///   object was not retired.
    pub unsafe fn into_owned(self) -> Option<Owned<T>> {
        // Relaxed: the caller guarantees exclusive access.
        let p = untagged(self.ptr.load(Ordering::Relaxed));
        // SAFETY: non-null pointers in an `Atomic` come from `Owned::into_raw`.
        NonNull::new(p).map(|ptr| unsafe { Owned::from_raw(ptr.as_ptr()) })
    }

    /// The raw location (for code that protects through [`SmrGuard::protect`]).
    pub fn as_atomic_ptr(&self) -> &AtomicPtr<T> {
        &self.ptr
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
    /// The pointer found in the location (unprotected).
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

/// A possibly tagged pointer loaded under a guard; valid (if non-null, protected, and not
/// retired before the load) for the guard's lifetime `'g`.
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
    #[inline(always)]
    fn from_ptr(ptr: *mut T) -> Self {
        Shared {
            ptr,
            _guard: PhantomData,
        }
    }

    /// A null pointer (tag 0).
    pub fn null() -> Self {
        Shared::from_ptr(ptr::null_mut())
    }

    /// True if the pointer, tag stripped, is null.
    #[inline(always)]
    pub fn is_null(&self) -> bool {
        untagged(self.ptr).is_null()
    }

    /// The raw pointer, tag stripped.
    #[inline(always)]
    pub fn as_raw(&self) -> *mut T {
        untagged(self.ptr)
    }

    /// The tag bits.
    #[inline(always)]
    pub fn tag(&self) -> usize {
        self.ptr.addr() & tag_mask::<T>()
    }

    /// The same pointer with tag `tag` (masked to [`Atomic::TAG_BITS`] bits).
    #[inline(always)]
    pub fn with_tag(&self, tag: usize) -> Self {
        Shared::from_ptr(compose(self.ptr, tag))
    }

    /// Dereferences the pointer for the guard's lifetime.
    ///
    /// # Safety
    ///
    /// * The pointer is non-null and was loaded by [`Atomic::load`] from an `Atomic` whose
    ///   objects are retired only through this guard's domain, and the slot it was loaded
    ///   in has protected nothing else since.
    #[inline(always)]
    pub unsafe fn deref(&self) -> &'g T {
        // SAFETY: the caller guarantees a valid, protected object.
        unsafe { &*self.as_raw() }
    }

    /// Like [`deref`](Shared::deref), `None` for null.
    ///
    /// # Safety
    ///
    /// As [`Shared::deref`], except that the pointer may be null.
    #[inline(always)]
    pub unsafe fn as_ref(&self) -> Option<&'g T> {
        // SAFETY: as `deref`.
        unsafe { self.as_raw().as_ref() }
    }

    /// Takes ownership of the object (the tag is dropped).
    ///
    /// # Safety
    ///
    /// * Non-null, unreachable by any other thread, and not retired.
    pub unsafe fn into_owned(self) -> Owned<T> {
        // SAFETY: the caller guarantees unique ownership of an `Owned` allocation.
        unsafe { Owned::from_raw(self.as_raw()) }
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
        f.debug_struct("Shared")
            .field("ptr", &self.as_raw())
            .field("tag", &self.tag())
            .finish()
    }
}

/// Retires the `Owned` allocation behind `shared` through `guard`.
///
/// # Safety
///
/// * `shared` is unreachable from shared memory (no thread can load it anew) and is
///   retired or destroyed once.
/// * It points to an allocation made by [`Owned::new`].
pub unsafe fn retire_box<T, G: SmrGuard>(guard: &G, shared: Shared<'_, T>) {
    // SAFETY: forwarded; `Owned` allocates with `Box`, which `drop_box` frees; the tag is
    // stripped, so the drop function gets the allocation's own address.
    unsafe { guard.retire(shared.as_raw(), crate::drop_box::<T>) }
}

// === impl Owned ===

/// A uniquely owned heap object (a `Box`) with a tag, ready to be published.
pub struct Owned<T> {
    /// Tagged; the allocation is `untagged(ptr)`.
    ptr: NonNull<T>,
    _owns: PhantomData<T>,
}

// SAFETY: `Owned<T>` is a `Box<T>`.
unsafe impl<T: Send> Send for Owned<T> {}
// SAFETY: `Owned<T>` is a `Box<T>`.
unsafe impl<T: Sync> Sync for Owned<T> {}

impl<T> Owned<T> {
    /// Allocates `value` on the heap (tag 0).
    pub fn new(value: T) -> Owned<T> {
        Owned {
            ptr: NonNull::from(Box::leak(Box::new(value))),
            _owns: PhantomData,
        }
    }

    /// The same box with tag `tag` (masked to [`Atomic::TAG_BITS`] bits).
    pub fn with_tag(self, tag: usize) -> Owned<T> {
        let p = compose(self.into_raw(), tag);
        // SAFETY: `p` is our allocation with another tag; ownership moves back.
        unsafe { Owned::from_raw(p) }
    }

    /// The tag bits.
    pub fn tag(&self) -> usize {
        self.ptr.as_ptr().addr() & tag_mask::<T>()
    }

    /// Turns the box into a `Shared` valid for `'g`: the caller then publishes it or
    /// destroys it.
    pub fn into_shared<'g, G: SmrGuard>(self, _guard: &'g G) -> Shared<'g, T> {
        Shared::from_ptr(self.into_raw())
    }

    /// The boxed value.
    pub fn into_box(self) -> Box<T> {
        // SAFETY: the allocation came from `Box::leak` and ownership moves out of `self`.
        unsafe { Box::from_raw(untagged(self.into_raw())) }
    }

    #[inline(always)]
    fn alloc(&self) -> *mut T {
        untagged(self.ptr.as_ptr())
    }
}

impl<T> Pointer<T> for Owned<T> {
    fn into_raw(self) -> *mut T {
        let p = self.ptr.as_ptr();
        mem::forget(self);
        p
    }

    unsafe fn from_raw(raw: *mut T) -> Self {
        debug_assert!(!untagged(raw).is_null());
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
        // SAFETY: the allocation is live and uniquely owned.
        unsafe { &*self.alloc() }
    }
}

impl<T> DerefMut for Owned<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the allocation is live, uniquely owned, and `&mut self` is unique.
        unsafe { &mut *self.alloc() }
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the allocation came from `Box` and is owned by `self` alone.
        drop(unsafe { Box::from_raw(self.alloc()) });
    }
}

impl<T: fmt::Debug> fmt::Debug for Owned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Owned")
            .field("value", &**self)
            .field("tag", &self.tag())
            .finish()
    }
}
