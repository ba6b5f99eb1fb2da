//! Epoch-based reclamation (EBR), the model of crossbeam-epoch.
//!
//! # The algorithm
//!
//! Keir Fraser, "Practical lock-freedom" (PhD thesis, Cambridge, 2004), §5.2.3. A global
//! epoch counter advances one step at a time. A thread *pins* itself before touching
//! shared objects by announcing the epoch it saw, and unpins afterwards. The global epoch
//! can step from `e` to `e + 1` only when every pinned thread announced `e`. An object
//! unlinked and then stamped with epoch `e` is unreachable to every thread once the epoch
//! reached `e + 2`: each thread pinned then pinned after the step to `e + 1`, which came
//! after the unlink.
//!
//! * [`Handle::pin`]: read the global epoch, store `(epoch << 1) | 1` into the thread's
//!   cache-padded record, and a [light fence](crate::fence): a compiler fence when the
//!   process has `membarrier`, so pinning costs a thread-local load, a global load that
//!   hits the cache, and a plain store. Nested pins only count. Unpinning is one
//!   `Release` store of 0.
//! * [`Guard::retire`] (or [`Guard::defer_destroy`]) pushes onto a thread-local bag; a
//!   full bag is stamped with the current epoch and moved to the thread's limbo list.
//!   When the thread next unpins, it tries one step of the epoch: a walk over the
//!   records and, unless one of them visibly lags (then the step fails at once), one
//!   [heavy fence](crate::fence) (`membarrier`) and a second walk. Bags two epochs old
//!   are freed by their owner; there is no global garbage queue, so retiring threads
//!   never contend on one.
//! * A thread that exits hands its limbo to the domain; the next collector frees it once
//!   its epoch is old enough, or the domain frees it when it drops.
//!
//! Pointers for use under a guard are [`Atomic`], [`Shared`] and [`Owned`], the tagged types
//! every scheme shares ([`crate::tagged`]).
//!
//! # What it cannot bound
//!
//! A thread that stays pinned stops the epoch: garbage of every thread then grows without
//! bound (see [`Stats::pending_bytes`]) until it unpins. Hazard pointers ([`crate::hp`])
//! bound it.
//!
//! # Leaked guards
//!
//! A [`Guard`] leaked with `mem::forget` never unpins: its thread stays pinned for as long
//! as its [`Handle`] lives, so the epoch stops and every thread's garbage accumulates, as
//! with a thread that stays pinned. Memory stays safe (a pinned thread only delays frees),
//! and dropping the handle ends it: a guard borrows its handle, so when the handle drops
//! no guard can still be used, and the handle unpins its record before releasing it.

/// The guard-bound pointer types, shared with the other schemes ([`crate::tagged`]): an EBR
/// guard protects whatever it loads, so [`Atomic::load`] may name any slot (`0`) and
/// [`Atomic::load_unprotected`] is as safe to dereference as a protected load.
pub use crate::tagged::{Atomic, CompareExchangeError, Owned, Pointer, Shared};

use crate::bags::{Bag, Bags};
use crate::fence;
use crate::registry::{Node, Registry};
use crate::retired::{Counters, Orphans, Retired, Totals, call_box};
use crate::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use crate::sync::{Arc, yield_now};
use crate::{DomainId, SmrError, Stats};
use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use crossbeam_utils::CachePadded;

/// Objects per bag; one bag is sealed (and one advance tried) per this many retires. Large,
/// because each advance issues one `membarrier` (see `hp::RETIRE_MIN` for its cost).
/// (Small under the checkers, so that their runs advance and free often.)
const BAG_CAP: usize = if cfg!(any(miri, ebb_loom)) {
    2
} else if cfg!(ebb_sanitize) {
    8
} else {
    512
};
/// Sealed bags past which a thread collects even while pinned.
const LIMBO_EAGER: usize = 16;
/// Low bit of a record's epoch word: the thread is pinned.
const PINNED: u64 = 1;

// === impl Record ===

#[derive(Default)]
struct Record {
    /// `(epoch << 1) | PINNED` while the owner is pinned, 0 otherwise. Owner-written.
    epoch: AtomicU64,
    counters: Counters,
}

/// A bag stamped `e` (the epoch read after its unlinks) is due once the epoch reached
/// `e + 2`: every thread pinned then pinned after the step to `e + 1`.
fn due(stamp: u64, epoch: u64) -> bool {
    stamp + 2 <= epoch
}

// === impl Global ===

struct Global {
    epoch: CachePadded<AtomicU64>,
    registry: Registry<Record>,
    /// Limbo of exited threads.
    orphans: Orphans<Bag>,
    /// Successful epoch advances.
    advances: AtomicU64,
    id: DomainId,
}

impl Global {
    /// Tries to advance the epoch by one; returns the epoch afterwards.
    fn try_advance(&self) -> u64 {
        let g = self.epoch.load(Ordering::Acquire);
        // A thread already seen pinned in an older epoch makes the step fail whatever the
        // fence would show (failing is always safe), so skip the `membarrier` then: a
        // reader that is descheduled while pinned would otherwise cost one per attempt.
        // Relaxed: only a hint; the check that allows the step comes after the fence.
        let lagging = self.registry.records().any(|r| {
            let l = r.epoch.load(Ordering::Relaxed);
            l & PINNED != 0 && l >> 1 != g
        });
        if lagging {
            return g;
        }
        // Pairs with every reader's light fence after it stored its pinned epoch: each
        // pinned thread's announcement is visible below, or its loads come after this
        // point and see what happened before it.
        fence::heavy();
        for r in self.registry.records() {
            // Acquire: pairs with the Release store of pin/unpin, so everything the
            // thread read before (earlier critical sections) happens before our frees.
            let l = r.epoch.load(Ordering::Acquire);
            if l & PINNED != 0 && l >> 1 != g {
                return g;
            }
        }
        // AcqRel: Acquire continues the release sequences headed by the `fetch_add(0)`
        // seals (their unlinks happen before this step); Release hands all of that to
        // readers who load the new epoch with Acquire.
        match self
            .epoch
            .compare_exchange(g, g + 1, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                self.advances.fetch_add(1, Ordering::Relaxed);
                g + 1
            }
            Err(now) => now,
        }
    }

    /// Frees orphaned bags that are two epochs old.
    fn reclaim_orphans(&self, epoch: u64, counters: &Counters) {
        // SAFETY: two epoch steps happened after each bag `due` accepts was stamped.
        unsafe { self.orphans.reclaim_due(|b| due(b.stamp, epoch), counters) };
    }
}

// === impl Domain ===

/// An EBR domain (crossbeam's `Collector`). Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Domain {
    global: Arc<Global>,
}

impl Domain {
    /// A new domain at epoch 0.
    pub fn new() -> Domain {
        fence::init();
        Domain {
            global: Arc::new(Global {
                epoch: CachePadded::new(AtomicU64::new(0)),
                registry: Registry::new(),
                orphans: Orphans::new(),
                advances: AtomicU64::new(0),
                id: DomainId::next(),
            }),
        }
    }

    /// Registers the calling thread.
    pub fn register(&self) -> Handle {
        Handle {
            global: self.global.clone(),
            node: self.global.registry.acquire(),
            pinned: Cell::new(false),
            nested: Cell::new(0),
            outer_dropped: Cell::new(false),
            collect_due: Cell::new(false),
            bags: Bags::new(),
            _not_send: PhantomData,
        }
    }

    /// The current global epoch.
    pub fn epoch(&self) -> u64 {
        self.global.epoch.load(Ordering::Relaxed)
    }

    /// The domain's counters (`grace_periods` = epochs advanced).
    pub fn stats(&self) -> Stats {
        Totals::sum(self.global.registry.records().map(|r| &r.counters)).into_stats(
            self.global.advances.load(Ordering::Relaxed),
            self.global.registry.len(),
        )
    }

    /// This domain's identity.
    pub fn id(&self) -> DomainId {
        self.global.id
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ebr::Domain")
            .field("id", &self.global.id)
            .field("epoch", &self.epoch())
            .field("stats", &self.stats())
            .finish()
    }
}

domain_common!("EBR");

/// Pins the calling thread in the [default domain](default_domain) (through a handle
/// registered lazily per thread) and runs `f` under the guard.
#[cfg(not(ebb_loom))]
pub fn with_guard<R>(f: impl FnOnce(&Guard<'_>) -> R) -> R {
    std::thread_local! {
        static HANDLE: Handle = default_domain().register();
    }
    HANDLE.with(|h| f(&h.pin()))
}

// === impl Handle ===

/// A thread's registration with an EBR [`Domain`]. Not `Send`; unregisters on drop.
pub struct Handle {
    global: Arc<Global>,
    /// Our record; owned by this handle until drop.
    node: NonNull<Node<Record>>,
    /// True while the thread is pinned (some guard of this handle is alive).
    pinned: Cell<bool>,
    /// Guards alive besides the one that pinned.
    nested: Cell<usize>,
    /// The guard that pinned dropped while nested ones were alive: the last of those
    /// unpins. (The fast path writes only constants to these cells, so consecutive
    /// pins form no chain of dependent loads and stores.)
    outer_dropped: Cell<bool>,
    /// A bag was sealed while pinned: collect at the next unpin.
    collect_due: Cell<bool>,
    /// Retired objects: the bag not yet stamped and the stamped ones (the limbo list).
    bags: Bags<BAG_CAP>,
    _not_send: PhantomData<*mut ()>,
}

impl Handle {
    #[inline(always)]
    fn record(&self) -> &Record {
        // SAFETY: the node lives as long as the registry, which `self.global` keeps alive.
        unsafe { self.node.as_ref() }.record()
    }

    /// Pins the thread; it stays pinned until every guard of this handle dropped.
    #[inline]
    pub fn pin(&self) -> Guard<'_> {
        if self.pinned.get() {
            self.nested.set(self.nested.get() + 1);
            return Guard {
                handle: self,
                outer: false,
            };
        }
        self.pinned.set(true);
        {
            // Acquire: pairs with the AcqRel step to this epoch, so every unlink that
            // happened before that step is visible to our loads.
            let e = self.global.epoch.load(Ordering::Acquire);
            // Release: our earlier critical sections happen before an advancer's Acquire
            // of this value (it frees what they read only after).
            self.record()
                .epoch
                .store((e << 1) | PINNED, Ordering::Release);
            // Store-then-load: our announcement must be visible before our next loads of
            // shared pointers. The advancer's heavy fence pays for it.
            fence::light();
        }
        Guard {
            handle: self,
            outer: true,
        }
    }

    /// Ends the critical section.
    #[inline]
    fn unpin(&self) {
        self.pinned.set(false);
        // Release: our reads in the critical section happen before the advancer's
        // Acquire of this store, hence before any free it allows.
        self.record().epoch.store(0, Ordering::Release);
        if self.collect_due.get() {
            self.collect_due.set(false);
            self.collect();
        }
    }

    /// True while a guard of this handle is alive.
    pub fn is_pinned(&self) -> bool {
        self.pinned.get()
    }

    /// Stamps the current bag, tries to advance the epoch (twice) and frees what is due.
    pub fn flush(&self) {
        self.seal();
        self.global.try_advance();
        self.collect();
    }

    /// Objects this thread retired and has not freed yet.
    pub fn pending(&self) -> usize {
        self.bags.pending()
    }

    /// Waits until every thread pinned at the call has unpinned: the epoch stepped twice
    /// (every pinned thread had announced the first new epoch before the second step).
    ///
    /// # Errors
    ///
    /// [`SmrError::WouldDeadlock`] if this handle is pinned: `&mut self` proves no live
    /// guard, so a guard was leaked and the epoch cannot step past this thread.
    pub fn synchronize(&mut self) -> Result<(), SmrError> {
        if self.pinned.get() {
            return Err(SmrError::WouldDeadlock);
        }
        let start = self.global.epoch.load(Ordering::Acquire);
        while self.global.try_advance() < start + 2 {
            yield_now();
        }
        Ok(())
    }

    /// Frees everything this thread retired, advancing the epoch (and waiting for pinned
    /// threads) as often as needed.
    ///
    /// # Errors
    ///
    /// As [`synchronize`](Handle::synchronize).
    pub fn barrier(&mut self) -> Result<(), SmrError> {
        if self.pinned.get() {
            return Err(SmrError::WouldDeadlock);
        }
        loop {
            self.flush();
            if self.bags.pending() == 0 {
                return Ok(());
            }
            yield_now();
        }
    }

    /// The domain this handle belongs to.
    pub fn domain_id(&self) -> DomainId {
        self.global.id
    }

    /// Defers `drop(ptr)` until no pinned thread can hold it.
    ///
    /// # Safety
    ///
    /// As [`SmrGuard::retire`](crate::SmrGuard::retire).
    unsafe fn retire<T>(&self, ptr: *mut T, drop: unsafe fn(*mut T)) {
        // SAFETY: forwarded from the caller.
        let r = unsafe { Retired::new(ptr, drop) };
        self.record().counters.on_retire(r.bytes());
        if self.bags.push(r) {
            self.seal();
            // We are pinned (retiring needs a guard), and our own announcement would stop
            // the epoch after one step; collect when the outermost guard unpins instead,
            // when both steps a bag needs can be taken at once.
            self.collect_due.set(true);
            // A long critical section that retires a lot still frees older bags.
            if self.bags.sealed_len() > LIMBO_EAGER {
                self.collect();
            }
        }
    }

    /// Stamps the current bag with the epoch and moves it to limbo.
    fn seal(&self) {
        // An RMW rather than a load: it reads the latest epoch (a stale, smaller stamp
        // would free too early), and with Release it heads a release sequence that the
        // advancer's AcqRel CAS continues, so our unlinks happen before the next step.
        self.bags
            .seal(|| self.global.epoch.fetch_add(0, Ordering::AcqRel));
    }

    /// Advances the epoch if our oldest bag needs it, then frees bags two epochs old.
    fn collect(&self) {
        let oldest = self.bags.oldest();
        let mut g = self.global.epoch.load(Ordering::Acquire);
        if oldest.is_some_and(|e| !due(e, g)) || self.global.orphans.any() {
            // One step per collection: a bag is then freed two seals after its own. Each
            // step costs a `membarrier`, which interrupts every CPU running one of our
            // threads (microseconds in a VM), so taking both steps at once would buy
            // latency with a measurable share of retire throughput.
            g = self.global.try_advance();
        }
        let counters = &self.record().counters;
        // SAFETY: the epoch advanced twice since each bag `due` accepts was stamped, so
        // every thread pinned now pinned after its objects were unlinked.
        unsafe { self.bags.reclaim_due(|e| due(e, g), counters) };
        self.global.reclaim_orphans(g, counters);
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Guards borrow the handle, so none is alive now; a handle that is still pinned
        // had a guard leaked (`mem::forget`), which can never run again. Unpin for it, so
        // that the record is released clean and the epoch moves on.
        if self.pinned.get() {
            self.nested.set(0);
            self.outer_dropped.set(false);
            self.unpin();
        }
        self.seal();
        self.global.try_advance();
        self.collect();
        self.global.orphans.adopt(self.bags.take_sealed());
        // SAFETY: the node came from `acquire` in `register` and is released once; the
        // record is unpinned (no guard is alive) and not touched again.
        unsafe { self.global.registry.release(self.node) };
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ebr::Handle")
            .field("domain", &self.global.id)
            .field("pinned", &self.is_pinned())
            .field("pending", &self.pending())
            .finish()
    }
}

// === impl Guard ===

/// A pinned critical section of an EBR [`Handle`]; unpins on drop (outermost guard).
pub struct Guard<'h> {
    handle: &'h Handle,
    /// This guard pinned the thread (the others are nested in it).
    outer: bool,
}

impl Guard<'_> {
    /// Defers `drop(ptr)` until every thread pinned now has unpinned.
    ///
    /// # Safety
    ///
    /// As [`SmrGuard::retire`](crate::SmrGuard::retire).
    pub unsafe fn retire<T>(&self, ptr: *mut T, drop: unsafe fn(*mut T)) {
        // SAFETY: forwarded from the caller.
        unsafe { self.handle.retire(ptr, drop) }
    }

    /// Defers dropping the `Owned` box behind `shared`.
    ///
    /// # Safety
    ///
    /// * `shared` is unreachable from shared memory and destroyed once.
    /// * It points to an allocation made by [`Owned::new`].
    pub unsafe fn defer_destroy<T>(&self, shared: Shared<'_, T>) {
        // SAFETY: forwarded; `Owned` allocates with `Box`, which `drop_box` frees, and
        // `as_raw` strips the tag, so the drop function gets the allocation's own address.
        unsafe { self.handle.retire(shared.as_raw(), crate::drop_box::<T>) }
    }

    /// Defers running `f` until every thread pinned now has unpinned.
    pub fn defer<F: FnOnce() + Send + 'static>(&self, f: F) {
        // SAFETY: the box is ours alone, `F: Send` may run anywhere, `call_box` consumes
        // it once.
        unsafe {
            self.handle
                .retire(Box::into_raw(Box::new(f)), call_box::<F>)
        };
    }

    /// Stamps this thread's bag and tries to reclaim (crossbeam's `Guard::flush`).
    pub fn flush(&self) {
        self.handle.flush();
    }

    /// The handle this guard pins.
    pub fn handle(&self) -> &Handle {
        self.handle
    }
}

impl Drop for Guard<'_> {
    #[inline]
    fn drop(&mut self) {
        let h = self.handle;
        if self.outer {
            if h.nested.get() == 0 {
                h.unpin();
            } else {
                h.outer_dropped.set(true);
            }
        } else {
            let n = h.nested.get() - 1;
            h.nested.set(n);
            if n == 0 && h.outer_dropped.get() {
                h.outer_dropped.set(false);
                h.unpin();
            }
        }
    }
}

impl fmt::Debug for Guard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ebr::Guard")
            .field("domain", &self.handle.global.id)
            .finish()
    }
}

// === impl the generic interface ===

impl crate::SmrHandle for Handle {
    type Guard<'h> = Guard<'h>;

    #[inline]
    fn pin(&self) -> Guard<'_> {
        Handle::pin(self)
    }

    fn quiescent(&mut self) {
        // Not needed for safety; a convenient moment to free bags that are already due
        // (without paying for an advance: that happens when a bag is sealed).
        let front = self.bags.oldest();
        if front.is_some_and(|e| due(e, self.global.epoch.load(Ordering::Relaxed))) {
            self.collect();
        }
    }

    fn flush(&mut self) {
        Handle::flush(self);
        Handle::flush(self);
    }

    fn domain_id(&self) -> DomainId {
        self.global.id
    }

    fn pending(&self) -> usize {
        Handle::pending(self)
    }

    fn synchronize(&mut self) -> Result<(), SmrError> {
        Handle::synchronize(self)
    }

    fn barrier(&mut self) -> Result<(), SmrError> {
        Handle::barrier(self)
    }
}

impl crate::SmrGuard for Guard<'_> {
    #[inline(always)]
    fn protect<T>(&mut self, slot: usize, src: &AtomicPtr<T>) -> *mut T {
        crate::check_slot(slot, Self::SLOTS);
        // Acquire: the object's contents are visible; the pin protects it.
        src.load(Ordering::Acquire)
    }

    #[inline(always)]
    fn protect_shared<T>(&self, slot: usize, src: &AtomicPtr<T>) -> *mut T {
        crate::check_slot(slot, Self::SLOTS);
        // Acquire: as in `protect`.
        src.load(Ordering::Acquire)
    }

    unsafe fn retire<T>(&self, ptr: *mut T, drop: unsafe fn(*mut T)) {
        // SAFETY: forwarded from the caller.
        unsafe { self.handle.retire(ptr, drop) }
    }

    fn domain_id(&self) -> DomainId {
        self.handle.global.id
    }
}
