//! Hazard pointers, after Maged Michael, "Hazard Pointers: Safe Memory Reclamation for
//! Lock-Free Objects" (IEEE TPDS 15(6), 2004).
//!
//! # The algorithm
//!
//! Each thread owns a few single-writer, multi-reader *hazard cells*. Before using a
//! pointer it loaded from shared memory, a reader publishes it in a cell and re-loads the
//! source: if the source still holds the same pointer, the object was not yet unlinked
//! when the cell became visible, so a reclaimer that scans afterwards will see the cell.
//! A retiring thread keeps unlinked objects in a private list; when the list reaches a
//! threshold `R`, it *scans*: collects every non-null cell of every thread, sorts them,
//! and frees each retired object not among them.
//!
//! * [`Guard::protect`] is the validation loop: store the pointer into the cell
//!   (`Release`), a [light fence](crate::fence) (a compiler fence when the process has
//!   `membarrier`), re-load the source (`Acquire`), repeat until both loads agree.
//!   Michael's algorithm needs a full fence there; the scan's heavy fence pays for it.
//! * Cells are reused: every thread's record holds 8 cells, two blocks of 4. A guard takes
//!   a free block from a bit mask in the handle (the thread-local cache) when it is
//!   created and gives it back on drop, so `protect` itself claims nothing. A thread with
//!   more than two guards alive at once takes another record from the domain; records
//!   of exited threads are reused.
//! * [`Handle::retire`] appends to the thread's list and scans when it holds
//!   `R = max(512, 2·H)` objects, `H` being the number of cells in the domain. A scan frees
//!   all but at most `H` objects (only protected ones survive), so every scan frees at
//!   least `R - H >= H` objects: amortized constant work per retire.
//! * A thread that exits scans once more and hands the survivors (at most `H`) to the
//!   domain; the next scan of any thread adopts them.
//!
//! # Leaked guards
//!
//! A [`Guard`] leaked with `mem::forget` keeps its cells published, so the objects it
//! protected are not freed while its [`Handle`] lives (at most four per leaked guard, and
//! the guard's block of cells is not reused: later guards take others). Dropping the
//! handle clears every cell of its records before releasing them: a guard borrows its
//! handle, so none can be used after the handle drops.
//!
//! # What it bounds
//!
//! Whatever readers do, even stalled forever while holding protections, each live thread
//! holds fewer than `R` retired objects and the orphans are at most `H`: garbage is
//! O(threads × cells) ([`Domain::garbage_bound`]). The price is the per-pointer
//! protection on the read side and the ordering work on every retire scan.

use crate::fence;
use crate::registry::{Node, Registry};
use crate::retired::{Counters, Orphans, Retired, Totals, reclaim_all};
use crate::sync::Arc;
use crate::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::{DomainId, SmrError, Stats};
use core::cell::{Cell, RefCell};
use core::fmt;
use core::marker::PhantomData;
use core::mem;
use core::ptr::{self, NonNull};

/// Hazard cells per record.
pub const CELLS_PER_RECORD: usize = 8;
/// The smallest retire-list length that triggers a scan. Each scan issues one `membarrier`,
/// which interrupts every CPU running one of our threads; in a virtual machine whose host
/// is busy that can take tens of microseconds, so scans are kept rare.
/// (Small under the checkers, so that their runs scan often.)
const RETIRE_MIN: usize = if cfg!(any(miri, ebb_loom)) {
    2
} else if cfg!(ebb_sanitize) {
    8
} else {
    512
};
/// Protection slots per guard.
const SLOTS: usize = 4;
/// `Guard::map` of a fresh guard: slot `i` uses cell `i`.
const IDENTITY_MAP: u8 = 0b11_10_01_00;

// === impl Record ===

#[derive(Default)]
struct Record {
    /// The owner's hazard cells; null when unused. Owner-written.
    cells: [AtomicPtr<()>; CELLS_PER_RECORD],
    counters: Counters,
}

// === impl Global ===

struct Global {
    registry: Registry<Record>,
    /// Survivors of exited threads' last scan (at most `H`).
    orphans: Orphans<Retired>,
    scans: AtomicU64,
    /// Handles registered now, and the most ever registered at once (`Stats::threads`;
    /// a thread holding many guards takes extra records, which are not threads).
    threads: AtomicUsize,
    peak_threads: AtomicUsize,
    id: DomainId,
}

impl Global {
    /// Hazard cells in the domain (`H`).
    fn cells(&self) -> usize {
        self.registry.len() * CELLS_PER_RECORD
    }

    /// Retire-list length that triggers a scan (`R`).
    fn threshold(&self) -> usize {
        RETIRE_MIN.max(2 * self.cells())
    }
}

// === impl Domain ===

/// A hazard-pointer domain. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Domain {
    global: Arc<Global>,
}

impl Domain {
    /// A new, empty domain.
    pub fn new() -> Domain {
        fence::init();
        Domain {
            global: Arc::new(Global {
                registry: Registry::new(),
                orphans: Orphans::new(),
                scans: AtomicU64::new(0),
                threads: AtomicUsize::new(0),
                peak_threads: AtomicUsize::new(0),
                id: DomainId::next(),
            }),
        }
    }

    /// Registers the calling thread (takes a record of [`CELLS_PER_RECORD`] cells).
    pub fn register(&self) -> Handle {
        let primary = self.global.registry.acquire();
        // Relaxed: a statistic; no protocol reads it.
        let now = self.global.threads.fetch_add(1, Ordering::Relaxed) + 1;
        self.global.peak_threads.fetch_max(now, Ordering::Relaxed);
        Handle {
            global: self.global.clone(),
            primary,
            // SAFETY: `acquire` returns a live node that stays alive with the registry.
            cells: unsafe { primary.as_ref() }.record().cells.as_ptr(),
            direct_busy: Cell::new(false),
            free_blocks: Cell::new(((1 << BLOCKS_PER_RECORD) - 1) & !1),
            extra: RefCell::new(Extra::default()),
            retired: RefCell::new(Vec::new()),
            scratch: RefCell::new(Vec::new()),
            _not_send: PhantomData,
        }
    }

    /// The most objects the domain can hold retired-but-unfreed right now, whatever its
    /// readers do: `T·R + H` for `T` records, `H = T·8` cells and `R = max(512, 2H)`.
    pub fn garbage_bound(&self) -> usize {
        let records = self.global.registry.len();
        records * self.global.threshold() + self.global.cells()
    }

    /// Hazard records in the domain: one per thread registered at once, plus the extra
    /// records of threads that held more than two guards at once.
    pub fn records(&self) -> usize {
        self.global.registry.len()
    }

    /// The domain's counters (`grace_periods` = scans; `threads` = the most handles
    /// registered at once, not counting the extra records of threads holding more than
    /// two guards).
    pub fn stats(&self) -> Stats {
        Totals::sum(self.global.registry.records().map(|r| &r.counters)).into_stats(
            self.global.scans.load(Ordering::Relaxed),
            self.global.peak_threads.load(Ordering::Relaxed),
        )
    }

    /// This domain's identity.
    pub fn id(&self) -> DomainId {
        self.global.id
    }
}

impl Domain {
    /// Protects the object `src` points to with a protection of its own that outlives any
    /// stack frame: the [`Held`] owns a hazard record of the domain (taken from the
    /// registry, reused after it drops), is `Send`, and keeps the object from being freed
    /// until it drops. For long-lived references (a tether held by another structure);
    /// a guard is far cheaper for everything scoped.
    ///
    /// Leaking a `Held` leaks its record and keeps its object alive; memory stays safe.
    /// Returns `None` (holding nothing) when `src` is null.
    pub fn hold<T>(&self, src: &AtomicPtr<T>) -> Option<Held<T>> {
        let node = self.global.registry.acquire();
        // SAFETY: `acquire` returns a live node, ours until released; it lives as long as
        // the registry, which the `Held` keeps alive through `global`.
        let cell = &unsafe { node.as_ref() }.record().cells[0];
        let mut p = src.load(Ordering::Relaxed);
        loop {
            // Release/light fence/Acquire re-load: Michael's validation, as in `protect`.
            cell.store(crate::untagged(p).cast(), Ordering::Release);
            fence::light();
            let q = src.load(Ordering::Acquire);
            if q == p {
                break;
            }
            p = q;
        }
        if crate::untagged(p).is_null() {
            cell.store(ptr::null_mut(), Ordering::Release);
            // SAFETY: the node came from `acquire`, its cells are clear, released once.
            unsafe { self.global.registry.release(node) };
            return None;
        }
        Some(Held {
            global: self.global.clone(),
            node,
            ptr: p,
        })
    }
}

/// A protection owned by a value instead of a guard (see [`Domain::hold`]).
pub struct Held<T> {
    global: Arc<Global>,
    node: NonNull<Node<Record>>,
    /// As loaded (tag included); its untagged address is published in cell 0.
    ptr: *mut T,
}

// SAFETY: the record is owned by this value alone, and any thread may clear and release
// it; the protected `T` is shared (`&T`), so `T: Sync` suffices.
unsafe impl<T: Sync> Send for Held<T> {}
// SAFETY: `&Held` gives only `&T`.
unsafe impl<T: Sync> Sync for Held<T> {}

impl<T> Held<T> {
    /// The protected pointer, as loaded (tag included).
    pub fn as_ptr(&self) -> *mut T {
        self.ptr
    }

    /// The protected object.
    ///
    /// # Safety
    ///
    /// * Every non-null pointer stored in the source location pointed to a valid `T`
    ///   until retired, and was retired through this domain only.
    pub unsafe fn get(&self) -> &T {
        // SAFETY: the caller guarantees validity until retirement; our published cell
        // keeps a scan from freeing it while `self` lives.
        unsafe { &*crate::untagged(self.ptr) }
    }
}

impl<T> Drop for Held<T> {
    fn drop(&mut self) {
        // SAFETY: our node lives as long as the registry, which `self.global` keeps.
        let r = unsafe { self.node.as_ref() }.record();
        // Release: our reads through the pointer happen before a scan that frees it.
        r.cells[0].store(ptr::null_mut(), Ordering::Release);
        // SAFETY: the node came from `acquire` in `hold` and is released once, clean.
        unsafe { self.global.registry.release(self.node) };
    }
}

impl<T> fmt::Debug for Held<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("hp::Held").field(&self.ptr).finish()
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("hp::Domain")
            .field("id", &self.global.id)
            .field("stats", &self.stats())
            .finish()
    }
}

domain_common!("hazard-pointer");

// === impl Handle ===

/// Records beyond the first, taken when a thread holds more than two guards at once.
#[derive(Default)]
struct Extra {
    nodes: Vec<NonNull<Node<Record>>>,
    /// Free blocks of `SLOTS` cells in those records.
    free: Vec<*const AtomicPtr<()>>,
}

/// Blocks of `SLOTS` cells in a record.
const BLOCKS_PER_RECORD: usize = CELLS_PER_RECORD / SLOTS;
/// `Guard::block` of a block that belongs to an extra record.
const EXTRA_BLOCK: u8 = u8::MAX;

/// A thread's registration with a hazard-pointer [`Domain`]. Not `Send`.
pub struct Handle {
    global: Arc<Global>,
    /// Our first record; its counters are this thread's.
    primary: NonNull<Node<Record>>,
    /// The primary record's cells (cached: the hot path needs nothing else).
    cells: *const AtomicPtr<()>,
    /// True while block 0 of the primary record (cells `0..SLOTS`) is taken. The first
    /// guard of the thread takes it; `pin` and `drop` write constants here, so that no
    /// chain of dependent loads and stores runs through consecutive guards.
    direct_busy: Cell<bool>,
    /// Bit `b` set: block `b` (cells `b*SLOTS..(b+1)*SLOTS`) of the primary record is
    /// free, for nested guards (bit 0 is never set: block 0 is `direct_busy`'s). With
    /// `direct_busy` this is the thread-local cache of hazard slots: a guard takes a whole
    /// block at `pin`, so `protect` never has to claim a cell.
    free_blocks: Cell<u32>,
    extra: RefCell<Extra>,
    /// Retired objects not yet freed.
    retired: RefCell<Vec<Retired>>,
    /// Reused buffer for the hazards collected by a scan.
    scratch: RefCell<Vec<usize>>,
    _not_send: PhantomData<*mut ()>,
}

impl Handle {
    #[inline(always)]
    fn record(&self) -> &Record {
        // SAFETY: the node lives as long as the registry, which `self.global` keeps alive.
        unsafe { self.primary.as_ref() }.record()
    }

    /// A guard with [`SLOTS`](crate::SmrGuard::SLOTS) protection slots, backed by a block
    /// of hazard cells taken from the thread's cache.
    ///
    /// The guard is built here, inline, from two scalars whichever path found its block:
    /// the out-of-line path for nested guards returns `(base, block)` in registers rather
    /// than a whole `Guard` through memory. A guard written through memory would live on
    /// the stack, and every `protect` would re-load its slot map (a byte load from the
    /// middle of the wider store that initialized it) and update its used-mask in memory;
    /// built here, the guard's fields stay in registers once `pin`, `protect` and `drop`
    /// are inlined: an iteration of a loop that pins, protects once, reads and drops runs
    /// 39 instructions on x86-64 this way, 59 with the guard in memory
    /// (docs/benchmarks/notes/smr.md).
    #[inline]
    pub fn pin(&self) -> Guard<'_> {
        let (base, block) = if !self.direct_busy.get() {
            self.direct_busy.set(true);
            (self.cells, 0)
        } else {
            self.pin_nested()
        };
        Guard {
            handle: self,
            base,
            used: Cell::new(0),
            map: Cell::new(IDENTITY_MAP),
            block,
        }
    }

    /// The block (its first cell, and its index or `EXTRA_BLOCK`) for a guard taken while
    /// another guard of the thread is alive.
    #[inline(never)]
    fn pin_nested(&self) -> (*const AtomicPtr<()>, u8) {
        let m = self.free_blocks.get();
        if m != 0 {
            let b = m.trailing_zeros() as usize;
            self.free_blocks.set(m & (m - 1));
            (self.cells.wrapping_add(b * SLOTS), b as u8)
        } else {
            (self.claim_extra_block(), EXTRA_BLOCK)
        }
    }

    /// A block of cells from an extra record (more than two guards alive at once).
    #[cold]
    fn claim_extra_block(&self) -> *const AtomicPtr<()> {
        let mut x = self.extra.borrow_mut();
        if let Some(b) = x.free.pop() {
            return b;
        }
        let node = self.global.registry.acquire();
        x.nodes.push(node);
        // SAFETY: the node is live for the registry's lifetime and now ours. The pointer
        // is to the whole array, so that each block's pointer may reach all of its cells
        // (one made from `&cells[i]` may only reach cell `i`).
        let cells = unsafe { node.as_ref() }.record().cells.as_ptr();
        x.free
            .extend((1..BLOCKS_PER_RECORD).map(|b| cells.wrapping_add(b * SLOTS)));
        cells
    }

    /// Returns a guard's block (its cells already cleared) to the cache.
    #[inline(always)]
    fn release_block(&self, block: u8, base: *const AtomicPtr<()>) {
        if block == 0 {
            self.direct_busy.set(false);
        } else if block != EXTRA_BLOCK {
            self.free_blocks.set(self.free_blocks.get() | (1 << block));
        } else {
            self.extra.borrow_mut().free.push(base);
        }
    }

    /// Retires `ptr`: `drop(ptr)` runs once no hazard cell holds it. Scans when the
    /// thread's list reaches the threshold.
    ///
    /// # Safety
    ///
    /// As [`SmrGuard::retire`](crate::SmrGuard::retire).
    pub unsafe fn retire<T>(&self, ptr: *mut T, drop: unsafe fn(*mut T)) {
        // SAFETY: forwarded from the caller.
        let r = unsafe { Retired::new(ptr, drop) };
        self.record().counters.on_retire(r.bytes());
        let n = {
            let mut l = self.retired.borrow_mut();
            l.push(r);
            l.len()
        };
        if n >= self.global.threshold() {
            self.scan();
        }
    }

    /// Scans now: frees every retired object that no hazard cell protects.
    pub fn flush(&self) {
        self.scan();
    }

    /// Objects this thread retired and has not freed yet.
    pub fn pending(&self) -> usize {
        self.retired.borrow().len()
    }

    /// True when a cell of this handle's records holds a pointer: a guard of this handle
    /// was leaked (`&mut self` callers have no live guard).
    fn own_cells_published(&self) -> bool {
        let x = self.extra.borrow();
        x.nodes.iter().chain(Some(&self.primary)).any(|n| {
            // SAFETY: our nodes live as long as the registry, which `self.global` keeps.
            unsafe { n.as_ref() }
                .record()
                .cells
                .iter()
                .any(|c| !c.load(Ordering::Relaxed).is_null())
        })
    }

    /// Waits until every hazard cell of the domain that held a pointer at the call has
    /// been cleared or changed (see [`SmrHandle::synchronize`](crate::SmrHandle::synchronize)).
    ///
    /// # Errors
    ///
    /// [`SmrError::WouldDeadlock`] if a guard of this handle was leaked with its cells
    /// still published.
    pub fn synchronize(&mut self) -> Result<(), SmrError> {
        if self.own_cells_published() {
            return Err(SmrError::WouldDeadlock);
        }
        // As in `scan`: every protection validated before this point is visible below.
        fence::heavy();
        let mut held = Vec::new();
        for r in self.global.registry.records() {
            for c in &r.cells {
                let p = c.load(Ordering::Acquire);
                if !p.is_null() {
                    held.push((c, p));
                }
            }
        }
        for (c, p) in held {
            // Acquire: the reader's accesses under the old protection happen before us.
            while c.load(Ordering::Acquire) == p {
                crate::sync::yield_now();
            }
        }
        Ok(())
    }

    /// Scans until every object this thread retired is freed, yielding while readers
    /// still protect some.
    ///
    /// # Errors
    ///
    /// [`SmrError::WouldDeadlock`] if a guard of this handle was leaked with its cells
    /// still published (what it protects could never be freed).
    pub fn barrier(&mut self) -> Result<(), SmrError> {
        if self.own_cells_published() {
            return Err(SmrError::WouldDeadlock);
        }
        loop {
            self.scan();
            if self.pending() == 0 {
                return Ok(());
            }
            crate::sync::yield_now();
        }
    }

    /// The domain this handle belongs to.
    pub fn domain_id(&self) -> DomainId {
        self.global.id
    }

    fn scan(&self) {
        let mut list = mem::take(&mut *self.retired.borrow_mut());
        // Adopt every orphan: they are retired objects like ours.
        list.append(&mut self.global.orphans.try_take(|_| true));
        // Pairs with every reader's light fence between its cell store and its
        // validating re-load: a reader whose re-load saw the object still linked has its
        // cell visible below; one whose re-load comes later sees the unlink (made before
        // this point) and retries.
        fence::heavy();
        let mut hazards = mem::take(&mut *self.scratch.borrow_mut());
        hazards.clear();
        for r in self.global.registry.records() {
            for c in &r.cells {
                // Acquire: pairs with the Release that cleared or replaced the cell, so a
                // reader's accesses under an old protection happen before our free.
                let p = c.load(Ordering::Acquire);
                if !p.is_null() {
                    hazards.push(p as usize);
                }
            }
        }
        hazards.sort_unstable();
        let (keep, free): (Vec<Retired>, Vec<Retired>) = list
            .into_iter()
            .partition(|r| hazards.binary_search(&r.addr()).is_ok());
        *self.scratch.borrow_mut() = hazards;
        // Survivors go back first: drop functions below may retire more objects.
        self.retired.borrow_mut().extend(keep);
        self.global.scans.fetch_add(1, Ordering::Relaxed);
        // SAFETY: no hazard cell held these objects after they were unlinked (heavy fence
        // argument above), and no new protection can validate an unlinked pointer.
        unsafe { reclaim_all(free, &self.record().counters) };
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let x = mem::take(&mut *self.extra.borrow_mut());
        // Guards borrow the handle, so none is alive now; a leaked one (`mem::forget`)
        // left its protections published. Clear every cell, so that the scan below can
        // free what they held and the records are released clean.
        for n in x.nodes.iter().chain(Some(&self.primary)) {
            // SAFETY: our nodes live as long as the registry, which `self.global` keeps.
            for c in &unsafe { n.as_ref() }.record().cells {
                // Release: as in `Guard::reset`.
                c.store(ptr::null_mut(), Ordering::Release);
            }
        }
        self.scan();
        self.global
            .orphans
            .adopt(mem::take(&mut *self.retired.borrow_mut()));
        self.global.threads.fetch_sub(1, Ordering::Relaxed);
        for n in x.nodes.into_iter().chain(Some(self.primary)) {
            // SAFETY: every node came from `acquire` and is released once; no guard is
            // alive (they borrow the handle) and every cell was cleared above.
            unsafe { self.global.registry.release(n) };
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("hp::Handle")
            .field("domain", &self.global.id)
            .field("pending", &self.pending())
            .finish()
    }
}

// === impl Guard ===

/// Up to four hazard pointers of one [`Handle`]; clears them on drop.
pub struct Guard<'h> {
    handle: &'h Handle,
    /// The guard's block of `SLOTS` cells: slot `i` is `base + i`.
    base: *const AtomicPtr<()>,
    /// Bit `c` set: cell `c` of the block published a pointer that must be cleared.
    used: Cell<u8>,
    /// Which cell of the block each slot uses: bits `2i..2i+2` hold slot `i`'s cell.
    /// [`transfer`](Guard::transfer) swaps two entries instead of copying a pointer
    /// between cells, because a scan reads the cells one after another: a copy from a
    /// cell it has yet to read into one it has already read would hide the object from
    /// it (loom found that race).
    map: Cell<u8>,
    /// Index of the block in the primary record, or `EXTRA_BLOCK`.
    block: u8,
}

impl Guard<'_> {
    /// The block's cell `slot` maps to (`slot < SLOTS`, checked by callers).
    #[inline(always)]
    fn phys(&self, slot: usize) -> usize {
        ((self.map.get() >> (2 * slot)) & 3) as usize
    }

    #[inline(always)]
    fn cell_at(&self, c: usize) -> &AtomicPtr<()> {
        // SAFETY: `c < SLOTS` (a map entry or a bit of `used`) and the block belongs to a
        // record of this handle, alive as long as the registry, which the handle keeps.
        unsafe { &*self.base.add(c) }
    }

    /// Loads `src` and protects the result in `slot` (Michael's validation loop). The
    /// pointer stays protected until the guard drops or `slot` is reused or reset.
    ///
    /// A tagged pointer (low bits below `align_of::<T>()` set) is returned as loaded; the
    /// cell holds its [untagged](crate::untagged) address, which is what scans compare
    /// against retired objects.
    ///
    /// # Panics
    ///
    /// If `slot >= 4`.
    #[inline]
    pub fn protect<T>(&mut self, slot: usize, src: &AtomicPtr<T>) -> *mut T {
        self.protect_shared(slot, src)
    }

    /// [`protect`](Guard::protect) through a shared borrow (see
    /// [`SmrGuard::protect_shared`](crate::SmrGuard::protect_shared)).
    ///
    /// # Panics
    ///
    /// If `slot >= 4`.
    #[inline]
    pub fn protect_shared<T>(&self, slot: usize, src: &AtomicPtr<T>) -> *mut T {
        crate::check_slot(slot, SLOTS);
        let c = self.phys(slot);
        self.used.set(self.used.get() | (1 << c));
        let cell = self.cell_at(c);
        // Relaxed: the value is only a candidate; the validating load below decides.
        let mut p = src.load(Ordering::Relaxed);
        loop {
            // Release: this store may overwrite an earlier protection of the same slot;
            // our reads through that pointer must happen before a scanner that reads the
            // new value (Acquire) and frees the old object. (Loom found this: with Relaxed,
            // a slot reused by a retrying `pop` races with the reuse of the node it left.)
            // The light fence then orders the store before the re-load below. The tag is
            // stripped: a scan matches the object's own address.
            cell.store(crate::untagged(p).cast(), Ordering::Release);
            fence::light();
            // Acquire: the object's contents, published with Release, are visible.
            let q = src.load(Ordering::Acquire);
            if q == p {
                return p;
            }
            p = q;
        }
    }

    /// Stops protecting whatever `slot` protects.
    ///
    /// # Panics
    ///
    /// If `slot >= 4`.
    pub fn reset(&self, slot: usize) {
        crate::check_slot(slot, SLOTS);
        let c = self.phys(slot);
        let used = self.used.get();
        if used & (1 << c) != 0 {
            self.used.set(used & !(1 << c));
            // Release: our reads through the old pointer happen before a scan that sees
            // the cleared cell (Acquire) and frees the object.
            self.cell_at(c).store(ptr::null_mut(), Ordering::Release);
        }
    }

    /// Moves the protection of slot `from` to slot `to` (see
    /// [`SmrGuard::transfer`](crate::SmrGuard::transfer)): `to` ends its own protection
    /// and takes over `from`'s cell, and `from` gets `to`'s cleared cell. No cell is
    /// written with the protected pointer, so the object stays visible to every scan.
    ///
    /// # Panics
    ///
    /// If either slot is `>= 4`.
    pub fn transfer(&self, from: usize, to: usize) {
        crate::check_slot(from, SLOTS);
        crate::check_slot(to, SLOTS);
        if from == to {
            return;
        }
        self.reset(to);
        let (cf, ct) = (self.phys(from), self.phys(to));
        let m = self.map.get() & !(3 << (2 * from)) & !(3 << (2 * to));
        self.map
            .set(m | ((ct as u8) << (2 * from)) | ((cf as u8) << (2 * to)));
    }

    /// Retires through the guard's handle; see [`Handle::retire`].
    ///
    /// # Safety
    ///
    /// As [`Handle::retire`].
    pub unsafe fn retire<T>(&self, ptr: *mut T, drop: unsafe fn(*mut T)) {
        // SAFETY: forwarded from the caller.
        unsafe { self.handle.retire(ptr, drop) }
    }

    /// The handle this guard belongs to.
    pub fn handle(&self) -> &Handle {
        self.handle
    }
}

impl Drop for Guard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let mut used = self.used.get();
        while used != 0 {
            let c = used.trailing_zeros() as usize;
            used &= used - 1;
            // Release: as in `reset`.
            self.cell_at(c).store(ptr::null_mut(), Ordering::Release);
        }
        self.handle.release_block(self.block, self.base);
    }
}

impl fmt::Debug for Guard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("hp::Guard")
            .field("domain", &self.handle.global.id)
            .finish_non_exhaustive()
    }
}

// === impl the generic interface ===

impl crate::SmrHandle for Handle {
    type Guard<'h> = Guard<'h>;

    #[inline]
    fn pin(&self) -> Guard<'_> {
        Handle::pin(self)
    }

    fn quiescent(&mut self) {}

    fn flush(&mut self) {
        self.scan();
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
    const SLOTS: usize = SLOTS;

    #[inline]
    fn protect<T>(&mut self, slot: usize, src: &AtomicPtr<T>) -> *mut T {
        Guard::protect_shared(self, slot, src)
    }

    #[inline]
    fn protect_shared<T>(&self, slot: usize, src: &AtomicPtr<T>) -> *mut T {
        Guard::protect_shared(self, slot, src)
    }

    #[inline]
    fn reset(&self, slot: usize) {
        Guard::reset(self, slot)
    }

    #[inline]
    fn transfer(&self, from: usize, to: usize) {
        Guard::transfer(self, from, to)
    }

    unsafe fn retire<T>(&self, ptr: *mut T, drop: unsafe fn(*mut T)) {
        // SAFETY: forwarded from the caller.
        unsafe { self.handle.retire(ptr, drop) }
    }

    fn domain_id(&self) -> DomainId {
        self.handle.global.id
    }
}
