//! Atomic and thread-local tethers.
//!
//! A tether keeps a region alive while a thread works in it, like a handle, but is meant
//! to be taken and dropped often (every access of a runtime's value).
//!
//! * [`Tether`] (the baseline): one atomic add on the control block's reference word, one
//!   atomic subtract to drop. Every thread tethering the region writes the same cache line.
//! * [`LocalTether`]: each thread keeps a small cache of the regions it has tethered. The
//!   first tether of a region by a thread takes one atomic tether for the cache entry;
//!   later tethers and untethers of that region by that thread only bump a thread-local
//!   count. The cache drops its atomic tethers at *quiescent points* ([`quiescent`]),
//!   when the thread holds no local tether on them and has taken none since the previous
//!   quiescent point: the QSBR idea applied to tethers, with a second chance for regions
//!   in use, so that a region a thread tethers all the time keeps its entry instead of
//!   dropping and retaking its atomic tether (two writes of the shared reference word) at
//!   every quiescent point. A region tethered by a thread's cache outlives its last local
//!   tether until that thread's second quiescent point after it (or exit). The cache has
//!   no destructor (its thread-local slot is reached without a state check); a separate
//!   guard thread-local lets its entries go at thread exit.
//!
//! Hazard-pointer and epoch tethers are in [`crate::smr`].

use crate::region::{RPtr, RSlice, Rcb, Region, RegionError, RegionHandle, TETHER, drop_ref};
use crate::sync::atomic::Ordering;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// Adds one atomic tether to a control block the caller keeps alive.
fn add_tether(rcb: NonNull<Rcb>) {
    // Relaxed: the caller's live reference keeps the count above zero.
    // SAFETY: the caller holds a reference, so the control block is alive.
    let prev = unsafe { rcb.as_ref() }
        .refs
        .fetch_add(TETHER, Ordering::Relaxed);
    assert!(prev >> 32 < 0xffff_fff0, "too many tethers on one region");
}

// === impl Tether ===

/// An atomic tether: `Send + Sync`, keeps the region alive until dropped.
pub struct Tether {
    rcb: NonNull<Rcb>,
}

// SAFETY: a tether reads only `Sync` objects and touches the control block's atomics.
unsafe impl Send for Tether {}
// SAFETY: as above.
unsafe impl Sync for Tether {}

impl fmt::Debug for Tether {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tether")
            .field("region", &self.id())
            .finish()
    }
}

impl Drop for Tether {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the tether owns one tether reference and does not use `rcb` after.
        unsafe { drop_ref(self.rcb, TETHER) };
    }
}

impl Tether {
    fn rcb(&self) -> &Rcb {
        // SAFETY: the tether's reference keeps the control block alive.
        unsafe { self.rcb.as_ref() }
    }

    /// The region's id.
    pub fn id(&self) -> u64 {
        self.rcb().id
    }

    /// Reads an object of the tethered region.
    pub fn get<T: Sync>(&self, p: RPtr<T>) -> Result<&T, RegionError> {
        // SAFETY: the control block lives while `self` is borrowed.
        unsafe { self.rcb().read(p) }
    }

    /// Reads a slice of the tethered region.
    pub fn slice<T: Sync>(&self, s: RSlice<T>) -> Result<&[T], RegionError> {
        // SAFETY: as in `get`.
        unsafe { self.rcb().read_slice(s) }
    }
}

impl RegionHandle {
    /// An atomic tether on this region.
    #[inline]
    pub fn tether(&self) -> Tether {
        add_tether(self.rcb);
        Tether { rcb: self.rcb }
    }

    /// A thread-local tether on this region (see [`LocalTether`]).
    #[inline]
    pub fn tether_local(&self) -> LocalTether {
        LocalTether::new(self.rcb)
    }
}

impl Region {
    /// An atomic tether on this region.
    pub fn tether(&self) -> Tether {
        add_tether(self.rcb_ptr());
        Tether {
            rcb: self.rcb_ptr(),
        }
    }
}

// === impl TetherCache ===

/// Entries in each thread's cache.
pub(crate) const CACHE_ENTRIES: usize = 8;

/// One thread's cache of tethered regions: each entry owns one atomic tether on its
/// region and counts the thread's live [`LocalTether`]s on it.
///
/// The cache has no `Drop` of its own, so that the thread-local holding it is a plain
/// thread-local slot: reaching it checks no registration or teardown state, and it stays
/// usable until the thread is gone. A separate guard ([`CacheGuard`]), registered when the
/// cache first takes an atomic tether, lets the entries go at thread exit.
pub(crate) struct TetherCache {
    regions: [Cell<Option<NonNull<Rcb>>>; CACHE_ENTRIES],
    /// Live local tethers per entry. A `u64`, so that no count of takes (leaked tethers
    /// included: one instruction each) can wrap it to zero under a live tether.
    counts: [Cell<u64>; CACHE_ENTRIES],
    /// Tethered since the last quiescent point (the entry's second chance).
    used: [Cell<bool>; CACHE_ENTRIES],
    /// [`UNGUARDED`], [`GUARDED`] or [`TORN_DOWN`]: whether the cache may take a new
    /// atomic tether (only while a guard will let it go).
    state: Cell<u8>,
}

/// No exit guard registered yet.
const UNGUARDED: u8 = 0;
/// The thread's exit guard is registered: new entries will be let go at exit.
const GUARDED: u8 = 1;
/// The exit guard has run (or cannot be registered): no new entries.
const TORN_DOWN: u8 = 2;

impl TetherCache {
    pub(crate) const fn new() -> TetherCache {
        TetherCache {
            regions: [const { Cell::new(None) }; CACHE_ENTRIES],
            counts: [const { Cell::new(0) }; CACHE_ENTRIES],
            used: [const { Cell::new(false) }; CACHE_ENTRIES],
            state: Cell::new(UNGUARDED),
        }
    }

    /// A cache whose entries the caller lets go itself (with [`flush`](Self::flush)); for
    /// the loom models, which have no thread-local guard.
    #[cfg(all(test, ebb_loom))]
    pub(crate) fn unguarded() -> TetherCache {
        let c = TetherCache::new();
        c.state.set(GUARDED);
        c
    }

    /// Counts one local tether on `rcb` (which the caller keeps alive); returns its entry,
    /// or `None` when every entry is busy or the thread's cache is torn down (the caller
    /// then takes an atomic tether).
    #[inline]
    pub(crate) fn tether(&self, rcb: NonNull<Rcb>) -> Option<usize> {
        for i in 0..CACHE_ENTRIES {
            if self.regions[i].get() == Some(rcb) {
                self.counts[i].set(self.counts[i].get() + 1);
                self.used[i].set(true);
                return Some(i);
            }
        }
        self.tether_new(rcb)
    }

    /// Takes an entry for a region the cache does not hold.
    #[cold]
    fn tether_new(&self, rcb: NonNull<Rcb>) -> Option<usize> {
        if self.state.get() != GUARDED && !self.guard() {
            return None;
        }
        let i = match (0..CACHE_ENTRIES).find(|&i| self.regions[i].get().is_none()) {
            Some(i) => i,
            None => self.evict_idle()?,
        };
        add_tether(rcb);
        self.regions[i].set(Some(rcb));
        self.counts[i].set(1);
        self.used[i].set(true);
        Some(i)
    }

    /// Registers the thread's exit guard; false if the thread is tearing down its
    /// thread-locals (the cache then takes no new entry: nothing would let it go).
    #[cfg(not(ebb_loom))]
    fn guard(&self) -> bool {
        let ok = self.state.get() == UNGUARDED && GUARD.try_with(|_| ()).is_ok();
        self.state.set(if ok { GUARDED } else { TORN_DOWN });
        ok
    }

    #[cfg(ebb_loom)]
    fn guard(&self) -> bool {
        false
    }

    /// Drops the atomic tether of one idle entry, to make room.
    fn evict_idle(&self) -> Option<usize> {
        let i = (0..CACHE_ENTRIES).find(|&i| self.counts[i].get() == 0)?;
        self.drop_entry(i);
        Some(i)
    }

    fn drop_entry(&self, i: usize) {
        if let Some(r) = self.regions[i].take() {
            // SAFETY: the entry owned one tether reference on `r`; the entry is cleared,
            // so it is dropped once.
            unsafe { drop_ref(r, TETHER) };
        }
    }

    /// The region of entry `i`, if any (for the loom models).
    #[cfg(all(test, ebb_loom))]
    pub(crate) fn entry(&self, i: usize) -> Option<NonNull<Rcb>> {
        self.regions[i].get()
    }

    /// Ends one local tether counted in entry `i`.
    #[inline]
    pub(crate) fn untether(&self, i: usize) {
        let c = self.counts[i].get();
        debug_assert!(c > 0);
        self.counts[i].set(c - 1);
    }

    /// A quiescent point: drops the atomic tether of every entry with no live local
    /// tether and no tether taken since the previous quiescent point (and clears the
    /// others' mark). Returns how many regions it let go.
    pub(crate) fn flush(&self) -> usize {
        self.release(false)
    }

    /// Drops the entries with no live local tether: all of them if `all`, else those
    /// not used since the last quiescent point.
    fn release(&self, all: bool) -> usize {
        let mut n = 0;
        for i in 0..CACHE_ENTRIES {
            if self.counts[i].get() == 0 && self.regions[i].get().is_some() {
                if self.used[i].replace(false) && !all {
                    continue;
                }
                self.drop_entry(i);
                n += 1;
            }
        }
        n
    }

    /// Thread exit: lets go of every idle entry and takes no new one. Entries with live
    /// local tethers (possible only if a `LocalTether` was leaked or is dropped later in
    /// thread-local teardown) keep their tether: leaked, not freed.
    #[cfg(not(ebb_loom))]
    fn tear_down(&self) {
        self.state.set(TORN_DOWN);
        self.release(true);
    }
}

#[cfg(not(ebb_loom))]
std::thread_local! {
    /// No drop glue: a plain thread-local slot, reachable without a state check.
    static CACHE: TetherCache = const { TetherCache::new() };
    /// Registered by the cache's first entry; its drop at thread exit lets the entries go.
    static GUARD: CacheGuard = const { CacheGuard };
}

/// Lets the thread's cache go when the thread's thread-locals are destroyed.
#[cfg(not(ebb_loom))]
struct CacheGuard;

#[cfg(not(ebb_loom))]
impl Drop for CacheGuard {
    fn drop(&mut self) {
        CACHE.with(TetherCache::tear_down);
    }
}

/// A quiescent point for this thread's tether cache: lets go of the regions it holds no
/// [`LocalTether`] on. Returns how many it let go. A thread that never calls it keeps
/// up to 8 regions alive until it exits.
#[cfg(not(ebb_loom))]
pub fn quiescent() -> usize {
    CACHE.with(TetherCache::flush)
}

// === impl LocalTether ===

/// A thread-local tether: not `Send`; costs no atomic operation when this thread's cache
/// already holds the region.
pub struct LocalTether {
    rcb: NonNull<Rcb>,
    /// Cache entry, or `usize::MAX` for an atomic tether taken because the cache was full
    /// (or torn down).
    entry: usize,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for LocalTether {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalTether")
            .field("region", &self.rcb().id)
            .finish()
    }
}

impl LocalTether {
    #[cfg(not(ebb_loom))]
    #[inline]
    fn new(rcb: NonNull<Rcb>) -> LocalTether {
        let entry = CACHE.with(|c| c.tether(rcb)).unwrap_or_else(|| {
            add_tether(rcb);
            usize::MAX
        });
        LocalTether {
            rcb,
            entry,
            _not_send: PhantomData,
        }
    }

    #[cfg(ebb_loom)]
    fn new(rcb: NonNull<Rcb>) -> LocalTether {
        add_tether(rcb);
        LocalTether {
            rcb,
            entry: usize::MAX,
            _not_send: PhantomData,
        }
    }

    fn rcb(&self) -> &Rcb {
        // SAFETY: the cache entry (or our own atomic tether) keeps the control block alive
        // while this tether lives: an entry is dropped only with a zero count.
        unsafe { self.rcb.as_ref() }
    }

    /// The region's id.
    pub fn id(&self) -> u64 {
        self.rcb().id
    }

    /// Reads an object of the tethered region.
    pub fn get<T: Sync>(&self, p: RPtr<T>) -> Result<&T, RegionError> {
        // SAFETY: the control block lives while `self` is borrowed.
        unsafe { self.rcb().read(p) }
    }
}

impl Drop for LocalTether {
    #[inline]
    fn drop(&mut self) {
        if self.entry == usize::MAX {
            // SAFETY: we own one tether reference and do not use `rcb` after.
            unsafe { drop_ref(self.rcb, TETHER) };
            return;
        }
        // The cache has no drop glue, so it is reachable for as long as this thread runs
        // (thread-local teardown included, where its entry keeps its count).
        #[cfg(not(ebb_loom))]
        CACHE.with(|c| c.untether(self.entry));
    }
}
