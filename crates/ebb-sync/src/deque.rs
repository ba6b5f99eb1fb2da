//! The Chase-Lev work-stealing deque (D. Chase and Y. Lev, "Dynamic Circular
//! Work-Stealing Deque", SPAA 2005) with the C11 memory orderings proved correct by
//! N. M. Lê, A. Pop, A. Cohen and F. Zappa Nardelli, "Correct and Efficient
//! Work-Stealing for Weak Memory Models" (PPoPP 2013, figure 1).
//!
//! The owner ([`Worker`]) pushes and pops at the bottom; thieves ([`Stealer`]) take from
//! the top with one compare-and-swap. The circular buffer doubles when full; the old
//! buffer is retired through ebb-smr, since a thief may still be reading it (thieves
//! protect the buffer they read, which under hazard pointers is one protection per
//! steal).
//!
//! Orderings, as in the paper: `push` writes the slot, issues a release fence and stores
//! `bottom` relaxed; `pop` stores `bottom - 1`, issues a `SeqCst` fence and reads `top`,
//! racing thieves with a `SeqCst` compare-and-swap only for the last element; `steal`
//! loads `top` (acquire), a `SeqCst` fence, `bottom` (acquire), the buffer, the slot, and
//! claims it with a `SeqCst` compare-and-swap on `top`.
//!
//! A thief needs its guard only for the buffer: `top` and `bottom` are integers, and the
//! element is claimed by the compare-and-swap whatever buffer was read. So
//! [`Stealer::steal`] reads `top`, the fence and `bottom` before it pins the default EBR
//! domain, and pins (then loads the buffer under the guard) only when the deque held an
//! element: an empty deque is answered without touching the thread's EBR record, and the
//! fence does not follow the pin's store to that record. [`Stealer::steal_with`] runs
//! the same two halves under the caller's guard.
//!
//! # The speculative read, made race-free
//!
//! A thief reads slot `top` before its compare-and-swap decides whether the element is
//! its own, and that read can overlap the owner overwriting the same slot after the
//! buffer wrapped (the owner may reuse it once other thieves moved `top` past it). The
//! paper makes slot accesses relaxed atomics. This deque does the same for any `T`: a
//! slot is `ceil(size_of::<T>() / size_of::<usize>())` atomic words, the owner writes an
//! element word by word with relaxed stores and every reader copies it word by word with
//! relaxed loads into a `MaybeUninit<T>` (an "atomic memcpy", the shape of the C++
//! proposal P1478 and Rust RFC 3301). Racing accesses are then atomic, so there is no
//! data race in the Rust memory model; a copy that lost the race may mix words of two
//! elements, and it is dropped as a `MaybeUninit` without ever being read as a `T`. Only
//! the reader whose compare-and-swap on `top` won calls `assume_init`, and the words it
//! copied are those of the element the owner wrote before the `bottom` that the thief
//! saw (release fence, acquire load), which no later write can have replaced before the
//! compare-and-swap succeeded (the owner reuses a slot only for index `top + cap` or
//! later). The words are `AtomicPtr<()>`, so pointers inside `T` keep their provenance
//! through the copy (Miri's strict-provenance mode checks that).
//!
//! The remaining gap: a word is copied as a pointer value, so a `T` with uninitialised
//! bytes (padding, the unused payload of an enum variant) copies those bytes through a
//! typed load, which the abstract machine does not define until a byte-wise atomic copy
//! (RFC 3301) exists. Machine code is the same either way (a `mov` per word); Miri
//! checks the padding-free element types the tests and the executor use.
//!
//! Word copies cost nothing for word-sized `T` (one `mov`, as the volatile read did);
//! the loom models track every slot word as a loom atomic.

use crate::sync::atomic::{self, AtomicIsize, AtomicPtr, Ordering};
use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{ManuallyDrop, MaybeUninit, size_of};
use core::ptr;
use crossbeam_utils::CachePadded;
use ebb_smr::{DomainId, Smr, SmrError, SmrGuard};
use std::sync::Arc;

/// The first buffer's capacity (small under the checkers, so that they see it grow).
const MIN_CAP: usize = if cfg!(any(miri, ebb_loom)) { 2 } else { 64 };
/// Most elements one batch steal moves.
const MAX_BATCH: usize = 32;

/// The result of a steal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steal<T> {
    /// The deque was empty.
    Empty,
    /// An element (or, for batch steals, at least one) was taken.
    Success(T),
    /// A race with the owner or another thief was lost: try again.
    Retry,
}

impl<T> Steal<T> {
    /// `Some` for [`Steal::Success`].
    pub fn success(self) -> Option<T> {
        match self {
            Steal::Success(v) => Some(v),
            _ => None,
        }
    }

    /// True for [`Steal::Empty`].
    pub fn is_empty(&self) -> bool {
        matches!(self, Steal::Empty)
    }

    /// True for [`Steal::Retry`].
    pub fn is_retry(&self) -> bool {
        matches!(self, Steal::Retry)
    }
}

/// `n` null slot words from zeroed memory: the allocator hands a large buffer out as
/// pages that are zero already, so a grown buffer costs no pass that writes every word
/// before the copy.
#[cfg(not(ebb_loom))]
fn null_words(n: usize) -> Box<[AtomicPtr<()>]> {
    let b = Box::<[AtomicPtr<()>]>::new_zeroed_slice(n);
    // SAFETY: `AtomicPtr<()>` has the bit validity of `*mut ()`, and all-zero bytes are
    // the null pointer.
    unsafe { b.assume_init() }
}

/// `n` null slot words (loom's atomics are not plain words: built one by one).
#[cfg(ebb_loom)]
fn null_words(n: usize) -> Box<[AtomicPtr<()>]> {
    (0..n).map(|_| AtomicPtr::new(ptr::null_mut())).collect()
}

/// Bytes in one slot word.
const WORD: usize = size_of::<*mut ()>();

struct Buffer<T> {
    mask: usize,
    /// `cap * Self::WORDS` words; slot `i` is words `i * WORDS .. (i + 1) * WORDS`.
    words: Box<[AtomicPtr<()>]>,
    _elements: PhantomData<T>,
}

impl<T> Buffer<T> {
    /// Words per slot.
    const WORDS: usize = size_of::<T>().div_ceil(WORD);

    fn boxed(cap: usize) -> *mut Buffer<T> {
        debug_assert!(cap.is_power_of_two());
        Box::into_raw(Box::new(Buffer {
            mask: cap - 1,
            words: null_words(cap * Self::WORDS),
            _elements: PhantomData,
        }))
    }

    fn cap(&self) -> usize {
        self.mask + 1
    }

    /// The words of slot `i` (index taken modulo the capacity).
    #[inline(always)]
    fn slot(&self, i: isize) -> &[AtomicPtr<()>] {
        let start = (i as usize & self.mask) * Self::WORDS;
        // SAFETY: `i & mask < cap`, and the box holds `cap * WORDS` words.
        unsafe { self.words.get_unchecked(start..start + Self::WORDS) }
    }

    /// Moves `v` into slot `i`, word by word with relaxed stores (see "The speculative
    /// read" in the module docs). Overwrites without dropping: the owner writes only
    /// indices no one else can claim (`>= bottom`), whose old contents were moved out.
    #[inline(always)]
    fn write(&self, i: isize, v: T) {
        let v = ManuallyDrop::new(v);
        let src = (&*v as *const T).cast::<u8>();
        for (k, w) in self.slot(i).iter().enumerate() {
            let n = WORD.min(size_of::<T>() - k * WORD);
            let mut word: *mut () = ptr::null_mut();
            // SAFETY: bytes `k * WORD .. k * WORD + n` lie inside `*v`; `word` has room
            // for `n <= WORD` bytes; a byte copy keeps the provenance of pointer bytes.
            unsafe {
                ptr::copy_nonoverlapping(
                    src.add(k * WORD),
                    (&mut word as *mut *mut ()).cast::<u8>(),
                    n,
                )
            };
            w.store(word, Ordering::Relaxed);
        }
    }

    /// A copy of slot `i`, word by word with relaxed loads. It is a `T` only for whoever
    /// owns index `i` (a lost race may have copied words of two elements).
    #[inline(always)]
    fn read(&self, i: isize) -> MaybeUninit<T> {
        let mut out = MaybeUninit::<T>::uninit();
        let dst = out.as_mut_ptr().cast::<u8>();
        for (k, w) in self.slot(i).iter().enumerate() {
            let n = WORD.min(size_of::<T>() - k * WORD);
            let word = w.load(Ordering::Relaxed);
            // SAFETY: bytes `k * WORD .. k * WORD + n` lie inside `out`; `word` holds at
            // least `n` bytes.
            unsafe {
                ptr::copy_nonoverlapping(
                    (&word as *const *mut ()).cast::<u8>(),
                    dst.add(k * WORD),
                    n,
                )
            };
        }
        out
    }

    /// Copies slot `i` of `self` into slot `i` of `to` without materialising a `T` (the
    /// owner's growth: the element stays readable in both buffers, and exactly one
    /// party takes index `i`).
    fn copy_slot(&self, to: &Buffer<T>, i: isize) {
        for (a, b) in self.slot(i).iter().zip(to.slot(i)) {
            b.store(a.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

/// Frees a retired buffer (its slots are `MaybeUninit`: copies already moved on).
///
/// # Safety
///
/// `p` came from `Box::into_raw`, no thread can reach it any more (it was unlinked and
/// retired, and its grace period is over), and it is freed once.
unsafe fn free_buffer<T>(p: *mut Buffer<T>) {
    // SAFETY: buffers are boxes.
    drop(unsafe { Box::from_raw(p) });
}

/// `top` and `bottom` share a cache line: every steal and every pop reads both, so on
/// one line each operation moves one line between the owner's and a thief's cores
/// instead of two. The buffer pointer, which changes only when the buffer grows, has a
/// line of its own.
#[repr(C)]
struct Inner<T> {
    top: AtomicIsize,
    bottom: AtomicIsize,
    buffer: CachePadded<AtomicPtr<Buffer<T>>>,
    domain: DomainId,
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        let (t, b) = (
            self.top.load(Ordering::Relaxed),
            self.bottom.load(Ordering::Relaxed),
        );
        let buf = self.buffer.load(Ordering::Relaxed);
        // SAFETY: the last handle is gone: the live elements `t..b` of the current
        // buffer are ours to drop, once; retired buffers were handed to the domain.
        unsafe {
            for i in t..b {
                (*buf).read(i).assume_init_drop();
            }
            free_buffer(buf);
        }
    }
}

/// The owner's end of a work-stealing deque: push and pop at the bottom (LIFO). `Send`
/// but not `Sync`: one thread at a time owns it.
pub struct Worker<T, S: Smr = ebb_smr::ebr::Domain> {
    inner: Arc<Inner<T>>,
    /// The owner's copy of `inner.buffer` (only the owner replaces it).
    buffer: Cell<*mut Buffer<T>>,
    _scheme: PhantomData<S>,
}

// SAFETY: the worker moves to another thread with its elements (`T: Send`); it is not
// `Sync` (`Cell`), so one thread at a time acts as the owner.
unsafe impl<T: Send, S: Smr> Send for Worker<T, S> {}

/// A thief's end of a work-stealing deque: steals from the top (FIFO). Clone it for
/// every thief.
pub struct Stealer<T, S: Smr = ebb_smr::ebr::Domain> {
    inner: Arc<Inner<T>>,
    _scheme: PhantomData<S>,
}

// SAFETY: thieves move elements out to their own thread (`T: Send`); every shared access
// goes through atomics or a protected buffer.
unsafe impl<T: Send, S: Smr> Send for Stealer<T, S> {}
// SAFETY: as above.
unsafe impl<T: Send, S: Smr> Sync for Stealer<T, S> {}

impl<T, S: Smr> Clone for Stealer<T, S> {
    fn clone(&self) -> Self {
        Stealer {
            inner: self.inner.clone(),
            _scheme: PhantomData,
        }
    }
}

impl<T, S: Smr> Worker<T, S> {
    /// A new, empty deque whose old buffers are retired into `domain`.
    pub fn with_domain(domain: &S) -> Self {
        let buf = Buffer::boxed(MIN_CAP);
        Worker {
            inner: Arc::new(Inner {
                top: AtomicIsize::new(0),
                bottom: AtomicIsize::new(0),
                buffer: CachePadded::new(AtomicPtr::new(buf)),
                domain: domain.id(),
            }),
            buffer: Cell::new(buf),
            _scheme: PhantomData,
        }
    }

    /// A thief's handle on this deque.
    pub fn stealer(&self) -> Stealer<T, S> {
        Stealer {
            inner: self.inner.clone(),
            _scheme: PhantomData,
        }
    }

    /// True when `push` must grow the buffer first (then it needs a guard).
    #[inline(always)]
    fn full(&self) -> bool {
        let b = self.inner.bottom.load(Ordering::Relaxed);
        let t = self.inner.top.load(Ordering::Acquire);
        // SAFETY: the owner's buffer is alive while the owner holds it.
        let cap = unsafe { (*self.buffer.get()).cap() };
        b.wrapping_sub(t) >= cap as isize
    }

    /// Pushes at the bottom; `guard` retires the old buffer if the deque grows.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the deque's domain.
    pub fn push_with<G: SmrGuard>(&self, guard: &G, value: T) -> Result<(), SmrError> {
        guard.check_domain(self.inner.domain)?;
        if self.full() {
            self.grow(guard);
        }
        self.push_unchecked(value);
        Ok(())
    }

    /// Pushes when the buffer has room (checked by the caller).
    #[inline(always)]
    fn push_unchecked(&self, value: T) {
        let b = self.inner.bottom.load(Ordering::Relaxed);
        // SAFETY: the owner's buffer is alive. Slot `b` is past `bottom`, so no thief
        // claims it (a thief may still copy its old words; all accesses are atomic).
        unsafe { (*self.buffer.get()).write(b, value) };
        // Release: the slot's contents are visible to a thief that sees the new bottom.
        atomic::fence(Ordering::Release);
        self.inner
            .bottom
            .store(b.wrapping_add(1), Ordering::Relaxed);
    }

    /// Doubles the buffer, copying the live elements, and retires the old one.
    #[cold]
    fn grow<G: SmrGuard>(&self, guard: &G) {
        let b = self.inner.bottom.load(Ordering::Relaxed);
        let t = self.inner.top.load(Ordering::Acquire);
        let old = self.buffer.get();
        // SAFETY: the owner's buffer is alive.
        let new = Buffer::<T>::boxed(unsafe { (*old).cap() } * 2);
        for i in t..b {
            // SAFETY: both buffers are alive (the owner's and a fresh one). The old
            // buffer keeps its words for thieves still reading it; exactly one party
            // takes each index.
            unsafe { (*old).copy_slot(&*new, i) };
        }
        self.buffer.set(new);
        // Release: thieves that load the new buffer see its copied slots.
        self.inner.buffer.store(new, Ordering::Release);
        // SAFETY: `old` is no longer reachable from `inner.buffer`; retired once, through
        // the deque's domain (checked by the caller).
        unsafe { guard.retire(old, free_buffer::<T>) };
    }

    /// Pops the most recently pushed element (LIFO), `None` when empty.
    pub fn pop(&self) -> Option<T> {
        let inner = &*self.inner;
        let b = inner.bottom.load(Ordering::Relaxed).wrapping_sub(1);
        let buf = self.buffer.get();
        inner.bottom.store(b, Ordering::Relaxed);
        // SeqCst: the store of `bottom` and the load of `top` are ordered against a
        // thief's load of `top` and `bottom` (its own SeqCst fence).
        atomic::fence(Ordering::SeqCst);
        let t = inner.top.load(Ordering::Relaxed);
        if t.wrapping_sub(b) > 0 {
            // Empty: restore `bottom`.
            inner.bottom.store(b.wrapping_add(1), Ordering::Relaxed);
            return None;
        }
        if t != b {
            // More than one element: no thief can reach index `b`.
            // SAFETY: index `b` is ours alone; the owner's buffer is alive.
            return Some(unsafe { (*buf).read(b).assume_init() });
        }
        // The last element: race the thieves for it.
        let won = inner
            .top
            .compare_exchange(t, t.wrapping_add(1), Ordering::SeqCst, Ordering::Relaxed)
            .is_ok();
        inner.bottom.store(b.wrapping_add(1), Ordering::Relaxed);
        if won {
            // SAFETY: the compare-and-swap gave us index `b`.
            Some(unsafe { (*buf).read(b).assume_init() })
        } else {
            None
        }
    }

    /// Elements in the deque, an estimate while thieves steal.
    pub fn len(&self) -> usize {
        let b = self.inner.bottom.load(Ordering::Relaxed);
        let t = self.inner.top.load(Ordering::Relaxed);
        b.wrapping_sub(t).max(0) as usize
    }

    /// True when [`len`](Worker::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(not(ebb_loom))]
impl<T> Worker<T> {
    /// A new, empty deque using the default EBR domain.
    pub fn new() -> Self {
        Worker::with_domain(ebb_smr::ebr::default_domain())
    }

    /// Pushes at the bottom (pins the default EBR domain only to grow).
    ///
    /// # Panics
    ///
    /// If the deque belongs to an EBR domain other than the default one (use
    /// [`push_with`](Worker::push_with)).
    #[inline]
    pub fn push(&self, value: T) {
        if self.full() {
            ebb_smr::ebr::with_guard(|g| {
                g.check_domain(self.inner.domain)
                    .expect(crate::DEFAULT_DOMAIN_ONLY);
                self.grow(g)
            });
        }
        self.push_unchecked(value);
    }
}

#[cfg(not(ebb_loom))]
impl<T> Default for Worker<T> {
    fn default() -> Self {
        Worker::new()
    }
}

impl<T, S: Smr> Stealer<T, S> {
    /// Steals the oldest element.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the deque's domain.
    #[inline]
    pub fn steal_with<G: SmrGuard>(&self, guard: &G) -> Result<Steal<T>, SmrError> {
        guard.check_domain(self.inner.domain)?;
        Ok(match self.front() {
            None => Steal::Empty,
            // SAFETY: the guard's domain was checked above.
            Some(t) => unsafe { self.take(guard, t) },
        })
    }

    /// The first half of a steal, which needs no guard: loads `top`, a `SeqCst` fence
    /// and `bottom`, and returns `top` when the deque held an element (`None` for
    /// [`Steal::Empty`]).
    #[inline(always)]
    pub(crate) fn front(&self) -> Option<isize> {
        let inner = &*self.inner;
        // Acquire: pairs with the compare-and-swap of an earlier steal.
        let t = inner.top.load(Ordering::Acquire);
        // SeqCst: see `Worker::pop`.
        atomic::fence(Ordering::SeqCst);
        // Acquire: the slots below `bottom` are visible (the owner's release fence).
        let b = inner.bottom.load(Ordering::Acquire);
        (b.wrapping_sub(t) > 0).then_some(t)
    }

    /// The second half of a steal: copies slot `t` out of the buffer (protected by
    /// `guard`) and claims index `t` with a compare-and-swap on `top`. `t` came from
    /// [`front`](Stealer::front): the buffer is loaded only now, after `bottom`, as in
    /// the paper.
    ///
    /// # Safety
    ///
    /// `guard` belongs to the deque's domain (else it does not protect the buffer).
    #[inline(always)]
    pub(crate) unsafe fn take<G: SmrGuard>(&self, guard: &G, t: isize) -> Steal<T> {
        let inner = &*self.inner;
        let buf = guard.protect_shared(0, &inner.buffer);
        // SAFETY: the buffer is protected. The copy is atomic word by word and becomes a
        // `T` only if the compare-and-swap below gives us index `t`.
        let v = unsafe { (*buf).read(t) };
        if inner
            .top
            .compare_exchange(t, t.wrapping_add(1), Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            guard.reset(0);
            return Steal::Retry;
        }
        guard.reset(0);
        // SAFETY: index `t` is ours, and the words copied are the element the owner
        // wrote there before the `bottom` we loaded: the owner rewrites slot `t` only for
        // index `t + cap`, after `top` passed `t`, which our compare-and-swap saw not yet.
        Steal::Success(unsafe { v.assume_init() })
    }

    /// Steals up to half of the elements (at most 32) into `dest`, one compare-and-swap
    /// each as crossbeam-deque does for its LIFO flavour (a single compare-and-swap over
    /// many indices could race the owner's uncontended `pop`).
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of this deque's domain or of
    /// `dest`'s.
    pub fn steal_batch_with<G: SmrGuard>(
        &self,
        guard: &G,
        dest: &Worker<T, S>,
    ) -> Result<Steal<()>, SmrError> {
        guard.check_domain(dest.inner.domain)?;
        let first = match self.steal_with(guard)? {
            Steal::Success(v) => v,
            Steal::Empty => return Ok(Steal::Empty),
            Steal::Retry => return Ok(Steal::Retry),
        };
        dest.push_with(guard, first)?;
        self.steal_more(guard, dest);
        Ok(Steal::Success(()))
    }

    /// Steals up to half of the elements: returns the first and moves the others (at most
    /// 31) into `dest`.
    ///
    /// # Errors
    ///
    /// As [`steal_batch_with`](Stealer::steal_batch_with).
    pub fn steal_batch_and_pop_with<G: SmrGuard>(
        &self,
        guard: &G,
        dest: &Worker<T, S>,
    ) -> Result<Steal<T>, SmrError> {
        guard.check_domain(dest.inner.domain)?;
        let first = self.steal_with(guard)?;
        if let Steal::Success(_) = first {
            self.steal_more(guard, dest);
        }
        Ok(first)
    }

    /// After one successful steal: keeps stealing into `dest` while more than the
    /// elements taken so far remain, up to half of them.
    fn steal_more<G: SmrGuard>(&self, guard: &G, dest: &Worker<T, S>) {
        let want = (self.len() / 2).min(MAX_BATCH - 1);
        for _ in 0..want {
            match self.steal_with(guard) {
                Ok(Steal::Success(v)) => {
                    // The domain was checked by the caller.
                    let _ = dest.push_with(guard, v);
                }
                _ => break,
            }
        }
    }

    /// Elements in the deque, an estimate.
    pub fn len(&self) -> usize {
        let t = self.inner.top.load(Ordering::Relaxed);
        let b = self.inner.bottom.load(Ordering::Relaxed);
        b.wrapping_sub(t).max(0) as usize
    }

    /// True when [`len`](Stealer::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(not(ebb_loom))]
impl<T> Stealer<T> {
    /// Steals the oldest element (pins the default EBR domain for the call).
    ///
    /// # Panics
    ///
    /// If the deque belongs to an EBR domain other than the default one (use
    /// [`steal_with`](Stealer::steal_with)).
    #[inline]
    pub fn steal(&self) -> Steal<T> {
        // An empty deque is answered without pinning: no buffer is read. (The domain is
        // still checked, so that a deque of another domain panics whatever it holds.)
        let Some(t) = self.front() else {
            assert!(
                self.inner.domain == ebb_smr::ebr::default_domain().id(),
                "{}",
                crate::DEFAULT_DOMAIN_ONLY
            );
            return Steal::Empty;
        };
        ebb_smr::ebr::with_guard(|g| {
            g.check_domain(self.inner.domain)
                .expect(crate::DEFAULT_DOMAIN_ONLY);
            // SAFETY: the guard's domain was checked on the line above.
            unsafe { self.take(g, t) }
        })
    }

    /// Steals up to half of the elements into `dest` (see
    /// [`steal_batch_with`](Stealer::steal_batch_with)).
    ///
    /// # Panics
    ///
    /// As [`steal`](Stealer::steal).
    pub fn steal_batch(&self, dest: &Worker<T>) -> Steal<()> {
        ebb_smr::ebr::with_guard(|g| self.steal_batch_with(g, dest))
            .expect(crate::DEFAULT_DOMAIN_ONLY)
    }

    /// Steals up to half of the elements, returning one and moving the rest into `dest`.
    ///
    /// # Panics
    ///
    /// As [`steal`](Stealer::steal).
    pub fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
        ebb_smr::ebr::with_guard(|g| self.steal_batch_and_pop_with(g, dest))
            .expect(crate::DEFAULT_DOMAIN_ONLY)
    }
}

impl<T, S: Smr> fmt::Debug for Worker<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker").field("len", &self.len()).finish()
    }
}

impl<T, S: Smr> fmt::Debug for Stealer<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stealer").field("len", &self.len()).finish()
    }
}
