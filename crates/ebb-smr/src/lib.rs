//! Safe memory reclamation: QSBR, epoch-based reclamation and hazard pointers behind one
//! interface.
//!
//! A lock-free data structure unlinks a node with one atomic operation, but cannot free
//! it then: another thread may have loaded the pointer a moment earlier and still be
//! reading through it. A *reclamation scheme* decides when the last such reader is gone.
//! This crate offers three, each a [`Smr`] domain:
//!
//! | scheme | read side | what it cannot bound |
//! |---|---|---|
//! | [`qsbr`] (McKenney & Slingwine; liburcu-qsbr) | nothing at all; each thread calls `quiescent()` now and then | garbage, while any online thread does not report |
//! | [`ebr`] (Fraser 2004; crossbeam-epoch) | `pin()`: a thread-local store and a compiler fence | garbage, while any thread stays pinned |
//! | [`hp`] (Michael 2004) | `protect()`: a store, a compiler fence and a re-load per pointer | nothing: garbage ≤ O(threads × slots) |
//!
//! Readers of all three issue no `SeqCst` fence and no locked instruction: the crate's
//! [asymmetric fences](fence) make the reclaimer pay with a process-wide `membarrier`
//! instead (with a portable fallback).
//!
//! # One interface
//!
//! Code generic over the scheme uses three traits: a shared domain ([`Smr`]) registers a
//! per-thread [`SmrHandle`], which `pin`s an [`SmrGuard`]; the guard `protect`s pointer
//! loads (in up to [`SmrGuard::SLOTS`] slots at once) and `retire`s unlinked objects.
//!
//! ```
//! use ebb_smr::{Smr, SmrGuard, SmrHandle};
//! use std::sync::atomic::{AtomicPtr, Ordering};
//!
//! /// Reads the current value of a published `u64`, under any scheme.
//! fn read<S: Smr>(handle: &S::Handle, cell: &AtomicPtr<u64>) -> u64 {
//!     let mut guard = handle.pin();
//!     let p = guard.protect(0, cell);
//!     // SAFETY: `p` is protected by slot 0 of `guard` until the guard drops.
//!     unsafe { *p }
//! }
//!
//! /// Publishes a new value and retires the old one.
//! fn write<S: Smr>(handle: &S::Handle, cell: &AtomicPtr<u64>, v: u64) {
//!     let old = cell.swap(Box::into_raw(Box::new(v)), Ordering::AcqRel);
//!     let guard = handle.pin();
//!     // SAFETY: `old` came from `Box::into_raw` and is unlinked: no new reader finds it.
//!     unsafe { guard.retire(old, ebb_smr::drop_box::<u64>) };
//! }
//!
//! fn demo<S: Smr>(domain: S) {
//!     let mut h = domain.register();
//!     let cell = AtomicPtr::new(Box::into_raw(Box::new(1u64)));
//!     write::<S>(&h, &cell, 2);
//!     assert_eq!(read::<S>(&h, &cell), 2);
//!     h.quiescent();
//!     h.flush();
//!     // SAFETY: no other thread uses the cell any more.
//!     drop(unsafe { Box::from_raw(cell.load(Ordering::Relaxed)) });
//! }
//!
//! demo(ebb_smr::qsbr::Domain::new());
//! demo(ebb_smr::ebr::Domain::new());
//! demo(ebb_smr::hp::Domain::new());
//! ```
//!
//! Every domain counts what it holds: [`Smr::stats`] returns pending objects and bytes,
//! grace periods (QSBR), epochs (EBR) or scans (HP) completed, and objects reclaimed.
//!
//! # What the types forbid
//!
//! A handle is its thread's registration, so it is not `Send`; a guard borrows its handle,
//! so it cannot outlive it; a QSBR handle cannot read while it is offline. Each of these is
//! a compile error, checked here:
//!
//! ```compile_fail
//! fn send<T: Send>(_: T) {}
//! send(ebb_smr::qsbr::Domain::new().register());
//! ```
//! ```compile_fail
//! fn send<T: Send>(_: T) {}
//! send(ebb_smr::ebr::Domain::new().register());
//! ```
//! ```compile_fail
//! fn send<T: Send>(_: T) {}
//! send(ebb_smr::hp::Domain::new().register());
//! ```
//! ```compile_fail,E0597
//! let domain = ebb_smr::ebr::Domain::new();
//! let guard = {
//!     let handle = domain.register();
//!     handle.pin()
//! }; // error[E0597]: `handle` does not live long enough
//! drop(guard);
//! ```
//! ```compile_fail,E0597
//! use ebb_smr::SmrHandle;
//! let domain = ebb_smr::hp::Domain::new();
//! let guard = {
//!     let handle = domain.register();
//!     SmrHandle::pin(&handle)
//! };
//! drop(guard);
//! ```
//! ```compile_fail,E0502
//! let domain = ebb_smr::qsbr::Domain::new();
//! let mut handle = domain.register();
//! handle.offline(|_| {
//!     let _guard = handle.read(); // error[E0502]: `handle` is borrowed mutably by `offline`
//! });
//! ```
//! ```compile_fail,E0382
//! let domain = ebb_smr::qsbr::Domain::new();
//! let handle = domain.register();
//! std::mem::forget(handle.into_offline());
//! let _guard = handle.read(); // error[E0382]: the handle moved into the offline state
//! ```
//!
//! Leaking a guard with `mem::forget` is safe in every scheme; what it costs (a stopped
//! epoch, protections held until the handle drops) is in each module's "Leaked guards".
//!
//! # Soundness and checking
//!
//! The crate is model-checked with loom (`--cfg ebb_loom`), runs its unit tests under
//! Miri, and has a multi-threaded stress test with poisoned canaries; see `docs/smr.md`.
#![warn(missing_docs)]

#[macro_use]
mod macros;

mod bags;
mod registry;
mod retired;
mod sync;

pub mod ebr;
pub mod fence;
pub mod hp;
pub mod qsbr;
pub mod tagged;

#[cfg(all(test, ebb_loom))]
mod loom;
#[cfg(all(test, not(ebb_loom)))]
mod testing;
#[cfg(all(test, not(ebb_loom)))]
mod tests;

pub use retired::drop_box;

/// The atomic pointer type the interface protects (std's, or loom's under `ebb_loom`).
pub type AtomicPtr<T> = sync::atomic::AtomicPtr<T>;

use core::fmt;

/// Counters of one domain, summed over its threads at the moment of the call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Objects retired and not yet reclaimed.
    pub pending_objects: u64,
    /// `size_of` of the objects retired and not yet reclaimed.
    pub pending_bytes: u64,
    /// Objects ever retired.
    pub retired_objects: u64,
    /// Objects ever reclaimed (their drop function has run).
    pub reclaimed_objects: u64,
    /// `size_of` of the objects ever reclaimed.
    pub reclaimed_bytes: u64,
    /// QSBR: grace periods started; EBR: global epochs advanced; HP: scans of the hazard
    /// pointers.
    pub grace_periods: u64,
    /// Per-thread records ever allocated (the largest number of threads registered at
    /// once; exited threads' records are reused).
    pub threads: usize,
}

/// Identifies a domain, to check that a handle or guard belongs to the right one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DomainId(usize);

impl DomainId {
    fn next() -> DomainId {
        // Not modelled under loom: identities are not part of any protocol.
        static NEXT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(1);
        DomainId(NEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed))
    }
}

/// Misuse that the crate detects instead of deadlocking or corrupting memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmrError {
    /// The calling thread would wait for itself: it holds a handle of this domain that is
    /// online (QSBR), so the grace period could never end.
    WouldDeadlock,
    /// A handle or guard of one domain was used with an object or domain of another.
    ForeignDomain {
        /// The domain that was expected.
        expected: DomainId,
        /// The domain of the handle or guard that was passed.
        found: DomainId,
    },
}

impl fmt::Display for SmrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmrError::WouldDeadlock => f.write_str(
                "waiting for a grace period from a thread that is online in the same domain \
                 would deadlock",
            ),
            SmrError::ForeignDomain { expected, found } => write!(
                f,
                "handle or guard of domain {found:?} used with domain {expected:?}"
            ),
        }
    }
}

impl std::error::Error for SmrError {}

/// A reclamation domain: shared by every thread that reads or retires objects it guards.
///
/// Cloning a domain gives another reference to the same domain (an `Arc`).
pub trait Smr: Clone + Send + Sync + 'static {
    /// A thread's registration with the domain.
    type Handle: SmrHandle;

    /// True when the scheme frees nothing unless every registered thread reports
    /// quiescent states ([`SmrHandle::quiescent`]) regularly: QSBR. Generic code that
    /// runs a loop on behalf of its caller (a worker thread, a benchmark) reads it to know
    /// that it must report them itself.
    const NEEDS_QUIESCENT: bool = <Self::Handle as SmrHandle>::NEEDS_QUIESCENT;

    /// Registers the calling thread. The handle is not `Send`: it stays on this thread and
    /// unregisters it when dropped, handing what it could not reclaim yet to the domain.
    fn register(&self) -> Self::Handle;

    /// The domain's counters, summed over its threads now.
    fn stats(&self) -> Stats;

    /// This domain's identity.
    fn id(&self) -> DomainId;
}

/// A thread's registration with a domain (see [`Smr::register`]).
pub trait SmrHandle {
    /// A read-side critical section.
    type Guard<'h>: SmrGuard
    where
        Self: 'h;

    /// See [`Smr::NEEDS_QUIESCENT`]: true for QSBR, whose grace periods wait for every
    /// online handle's next [`quiescent`](SmrHandle::quiescent).
    const NEEDS_QUIESCENT: bool = false;

    /// Enters a read-side critical section; it ends when the guard drops.
    fn pin(&self) -> Self::Guard<'_>;

    /// Declares that this thread holds no reference obtained under this handle (QSBR's
    /// quiescent state; EBR and HP use it to reclaim what is due). `&mut self` proves no
    /// guard is alive. Threads of a QSBR domain must call it regularly.
    fn quiescent(&mut self);

    /// Reclaims everything this thread retired whose grace period is over, without
    /// blocking.
    fn flush(&mut self);

    /// The domain this handle is registered with.
    fn domain_id(&self) -> DomainId;

    /// Objects this thread retired (or deferred) and has not reclaimed yet.
    fn pending(&self) -> usize;

    /// Waits until every read-side critical section that other threads had open at the
    /// call has ended (a grace period). QSBR: every online thread passed a quiescent
    /// state; EBR: the epoch stepped twice; HP: every hazard cell that held a pointer at
    /// the call was cleared or changed (a reader that re-protects the very same pointer
    /// each time can delay the return; unlinked pointers fail re-validation, so this
    /// only concerns pointers still published).
    ///
    /// # Errors
    ///
    /// [`SmrError::WouldDeadlock`] when the wait could never end because of this thread
    /// itself: another online QSBR handle of the same domain, or a guard of this handle
    /// leaked with `mem::forget` (it stays pinned, or keeps its hazard cells published).
    fn synchronize(&mut self) -> Result<(), SmrError>;

    /// Reclaims everything this thread retired, waiting (yielding) for as long as that
    /// takes; afterwards [`pending`](SmrHandle::pending) is 0. Tests and shutdown paths
    /// use it to make reclamation deterministic.
    ///
    /// # Errors
    ///
    /// As [`synchronize`](SmrHandle::synchronize); nothing is waited for then.
    fn barrier(&mut self) -> Result<(), SmrError>;
}

/// A read-side critical section: protects loads and retires unlinked objects.
pub trait SmrGuard {
    /// Protection slots each guard offers (`slot` in `0..SLOTS`). Hazard pointers need one
    /// per pointer held at the same time; the other schemes protect everything at once.
    const SLOTS: usize = 4;

    /// Loads `src` and protects the object it points to until the guard drops or `slot`
    /// protects another pointer. The load is `Acquire`.
    ///
    /// # Panics
    ///
    /// If `slot >= Self::SLOTS`.
    fn protect<T>(&mut self, slot: usize, src: &AtomicPtr<T>) -> *mut T;

    /// [`protect`](SmrGuard::protect) through a shared borrow, so that several pointers
    /// loaded under one guard can be held at once (the shape [`tagged::Atomic::load`]
    /// needs). Protecting another pointer in the same `slot` ends the protection of the
    /// previous one, which the borrow checker does not see: callers keep one live
    /// pointer per slot.
    ///
    /// `src` may hold a *tagged* pointer (low bits below `align_of::<T>()` set, see
    /// [`tagged`]); the word is returned as loaded, tag included, and the object it
    /// points to, tag stripped, is what gets protected.
    ///
    /// # Panics
    ///
    /// If `slot >= Self::SLOTS`.
    fn protect_shared<T>(&self, slot: usize, src: &AtomicPtr<T>) -> *mut T;

    /// Ends the protection held in `slot` (hazard pointers clear the cell; the other
    /// schemes protect everything until the guard drops, so it does nothing there).
    ///
    /// # Panics
    ///
    /// If `slot >= Self::SLOTS`.
    #[inline(always)]
    fn reset(&self, slot: usize) {
        check_slot(slot, Self::SLOTS);
    }

    /// Moves the protection held in `from` to `to`, without a window in which the object
    /// is unprotected: `to` protects what `from` protected, and `from` is free for the
    /// next load (hand-over-hand traversal keeps two slots this way). Nothing to do for
    /// the schemes that protect everything at once.
    ///
    /// # Panics
    ///
    /// If either slot is `>= Self::SLOTS`.
    #[inline(always)]
    fn transfer(&self, from: usize, to: usize) {
        check_slot(from, Self::SLOTS);
        check_slot(to, Self::SLOTS);
    }

    /// Retires `ptr`: `drop(ptr)` runs once no thread can hold a protected reference to it.
    ///
    /// # Safety
    ///
    /// * `ptr` is unreachable from shared memory: no thread can load it anew.
    /// * `ptr` is retired once.
    /// * `drop(ptr)` is sound to call exactly once, on any thread, at any later time.
    unsafe fn retire<T>(&self, ptr: *mut T, drop: unsafe fn(*mut T));

    /// Runs `f` once no thread can hold a reference protected before this call (after a
    /// grace period), on whichever thread reclaims it.
    fn defer<F: FnOnce() + Send + 'static>(&self, f: F) {
        // SAFETY: the box is ours alone (nobody else can load it), it is retired once,
        // `F: Send` may run on any thread, and `call_box` consumes the box once.
        unsafe { self.retire(Box::into_raw(Box::new(f)), retired::call_box::<F>) };
    }

    /// The domain this guard belongs to.
    fn domain_id(&self) -> DomainId;

    /// `Ok` when this guard belongs to `expected`, else [`SmrError::ForeignDomain`]: a data
    /// structure calls it to refuse guards of a domain other than its own.
    fn check_domain(&self, expected: DomainId) -> Result<(), SmrError> {
        let found = self.domain_id();
        if found == expected {
            Ok(())
        } else {
            Err(SmrError::ForeignDomain { expected, found })
        }
    }
}

/// `ptr` with its tag bits (those below `align_of::<T>()`) cleared: the address of the
/// object a tagged pointer points to. Hazard pointers publish and compare this.
#[inline(always)]
pub fn untagged<T>(ptr: *mut T) -> *mut T {
    ptr.map_addr(|a| a & !(core::mem::align_of::<T>() - 1))
}

/// Checks the slot index of [`SmrGuard::protect`].
#[inline(always)]
#[track_caller]
fn check_slot(slot: usize, slots: usize) {
    assert!(
        slot < slots,
        "protection slot {slot} out of range 0..{slots}"
    );
}
