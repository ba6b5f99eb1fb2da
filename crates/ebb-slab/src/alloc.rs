//! The allocator: epochs, size classes, the lock-free fast path and the mutex slow path.
//!
//! # Fast path
//!
//! Every (epoch, class) pair has a `current_partial` slab id, published with a `Release`
//! store under the pair's mutex and read with `Acquire`, so a thread that sees the id
//! also sees the slab's initialized header and owner tag. An allocation claims a free bit
//! of that slab's bitmap with one CAS (`Acquire` on success: it synchronizes with the
//! `Release` of whoever freed the slot, so the previous object's writes and the slot's
//! advanced generation are visible), then re-reads the slab's owner tag: a thread that
//! loaded `current_partial` long ago may be claiming a bit of a slab that was since
//! recycled and re-assigned; if the tag changed it gives the bit back and retries. After
//! the claim, `claimed` (the slab's count of bits not free in the shared bitmap) grows.
//!
//! # Slow path
//!
//! When `current_partial` is missing or full, the thread takes the pair's mutex, and if
//! `current_partial` is still what it saw, detaches the full slab and publishes the next
//! partial slab, a cached one or a fresh one. A detach sets the `DETACHED` flag in every
//! bitmap word with `fetch_or` and looks at the old values: a free that raced with it
//! either happened before its word's `fetch_or` (the detacher sees the free bit and keeps
//! the slab) or after (the freer's own `fetch_or` returns the flag and the freer, under the
//! mutex, puts the slab back on the partial list). Both sides are read-modify-writes of one
//! word, so they are totally ordered and exactly one side sees the other: no full slab
//! with a free slot is lost, and none is listed twice.
//!
//! # Epoch close and recycling
//!
//! `epoch_close` marks the epoch closed (new allocations are refused), takes every slab of
//! the epoch off its lists and marks it orphaned. An orphaned slab is recycled by whoever
//! brings its `claimed` count to zero: the closer (which checks with an `AcqRel` RMW after
//! storing the orphan state) or the last free (an `AcqRel` `fetch_sub`, then an `Acquire`
//! load of the state). The two RMWs on `claimed` are ordered, and the later one
//! synchronizes with the earlier, so at least one of them sees both "orphan" and "zero".
//! Recycling itself claims every bitmap word with a CAS from "all free" to "none free", so
//! it cannot race with a thread still holding a claimed bit, and two recyclers cannot both
//! win. The recycled slab goes to its class's cache (pages kept or returned by policy) or,
//! past the cache capacity, to the overflow list (pages returned).
//!
//! # Handles
//!
//! See [`crate::handle`] and the crate docs: per-slot generations, bumped by the `free`
//! that wins a CAS, make a handle name exactly one object in the allocator's history.

use crate::bias::{self, OWNER_MASK, Owners, REVOKING, Record, TAG_MASK};
use crate::config::{ReclaimPolicy, SlabConfig};
use crate::counters::{ClassCounters, PerfCounters};
use crate::epoch::EpochId;
use crate::error::{Error, Result};
use crate::handle::{HandleParts, MAX_GENERATION, RawHandle};
use crate::slab::*;
use crate::sync::{
    self, AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Mutex, Ordering::*,
};
use crossbeam_utils::CachePadded;
use std::ptr::NonNull;

const E_FREE: u64 = 0;
const E_OPEN: u64 = 1;
const E_CLOSING: u64 = 2;

static NEXT_INSTANCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Geometry of one size class.
pub(crate) struct ClassInfo {
    pub(crate) size: u32,
    pub(crate) cap: u16,
    pub(crate) words: u8,
    pub(crate) masks: [u64; WORDS],
}

/// The lists of one (epoch, class) pair, guarded by its mutex.
#[derive(Default)]
struct Lists {
    /// Slabs in state PARTIAL, most recently listed last.
    partial: Vec<u32>,
    /// Every slab assigned to the pair (current, partial and full).
    owned: Vec<u32>,
}

struct EpochClass {
    /// `slab id + 1` of the `current_partial` slab, 0 for none.
    current: CachePadded<AtomicU32>,
    lists: Mutex<Lists>,
}

#[derive(Default)]
struct SlabCache {
    cached: Vec<u32>,
    overflow: Vec<u32>,
}

/// A boxed slice of `n` elements made by `f`, or [`Error::OutOfMemory`] when the heap
/// cannot hold it (the tables `with_config` sizes from the configuration).
pub(crate) fn try_boxed<T>(n: usize, f: impl FnMut(usize) -> T) -> Result<Box<[T]>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::OutOfMemory)?;
    v.extend((0..n).map(f));
    Ok(v.into_boxed_slice())
}

/// Who is freeing, which decides how the slot word's election runs (see [`crate::bias`]).
#[derive(Clone, Copy)]
pub(crate) enum Freer<'r> {
    /// Any thread: a CAS elects the winner; a slot biased to a `Local` is revoked.
    Shared,
    /// Under `Local::free_owned`'s contract (no concurrent free): a load and a store.
    Owned,
    /// The `Local` holding an owner tag (`bits` = `tag << OWNER_SHIFT`, `rec` its record):
    /// a plain store for slots biased to that tag, as `Shared` for every other slot.
    Owner { rec: &'r Record, bits: u32 },
}

/// A slot whose `free` won the generation CAS; the slot is not yet back in the bitmap.
pub(crate) struct Killed<'a> {
    pub(crate) chunk: &'a Chunk,
    pub(crate) index: usize,
    pub(crate) parts: HandleParts,
    pub(crate) retired: bool,
}

/// An epoch-partitioned slab allocator of fixed size classes, addressed by
/// generation-checked 64-bit handles.
///
/// All operations take `&self` and may run from any number of threads. For the fastest
/// path give each thread a [`Local`](crate::Local) (see [`SlabAlloc::local`]).
pub struct SlabAlloc {
    instance: u64,
    cfg: SlabConfig,
    classes: Box<[ClassInfo]>,
    /// `(size + 7) / 8` -> class index.
    lookup: Box<[u8]>,
    slabs_per_chunk: usize,
    /// log2 of `slabs_per_chunk` (a power of two).
    chunk_shift: u32,
    /// `epochs - 1` (epochs is a power of two).
    epoch_mask: u64,
    chunks: Box<[AtomicPtr<Chunk>]>,
    /// Fresh slabs handed out so far (statistics).
    created: AtomicU32,
    /// Per class, the chunk fresh slabs come from; the number of chunks mapped so far.
    grow: Mutex<(Vec<Option<u32>>, u32)>,
    /// Per epoch slot: `id << 2 | E_*`.
    epochs: Box<[CachePadded<AtomicU64>]>,
    current_epoch: AtomicU64,
    /// Set (for good) by the first `epoch_advance`, before it opens epoch 1. While it reads
    /// false every slab ever assigned belongs to epoch 0 (see [`Self::only_epoch_zero`]).
    advanced: AtomicBool,
    epoch_lock: Mutex<()>,
    /// Indexed `epoch_slot * classes + class`.
    pairs: Box<[EpochClass]>,
    caches: Box<[Mutex<SlabCache>]>,
    counters: Box<[CachePadded<ClassCounters>]>,
    policy: AtomicU8,
    /// Owner tags of `Local`s and their records (see [`crate::bias`]).
    owners: Owners,
}

// === impl SlabAlloc: construction and geometry ===

impl SlabAlloc {
    /// An allocator with the default configuration.
    pub fn new() -> SlabAlloc {
        SlabAlloc::with_config(SlabConfig::default()).expect("the default configuration is valid")
    }

    /// An allocator with `cfg`, after [`SlabConfig::validate`].
    pub fn with_config(cfg: SlabConfig) -> Result<SlabAlloc> {
        cfg.validate()?;
        // Every table below is sized from the configuration, so each is allocated
        // fallibly: a configuration the machine cannot hold is `OutOfMemory`, not an abort.
        let classes: Box<[ClassInfo]> = try_boxed(cfg.size_classes.len(), |i| {
            let size = cfg.size_classes[i];
            let cap = cfg.capacity_of(size);
            ClassInfo {
                size,
                cap: cap as u16,
                words: cap.div_ceil(SLOTS_PER_WORD) as u8,
                masks: full_masks(cap),
            }
        })?;
        let largest = *cfg.size_classes.last().expect("validated non-empty") as usize;
        let lookup = try_boxed(largest.div_ceil(8) + 1, |q| {
            let size = (q * 8) as u32;
            cfg.size_classes
                .iter()
                .position(|&c| c >= size)
                .expect("size <= largest") as u8
        })?;
        // Each class takes slab ids a chunk at a time: small enough that every class can
        // have one chunk within `max_slabs`, at most 1 MiB of slabs (fewer under loom and
        // Miri, which back chunks with the heap).
        let base = if cfg!(ebb_loom) {
            2
        } else if cfg!(miri) {
            64
        } else {
            ((1usize << 20) / cfg.slab_size).max(1)
        };
        let share = (cfg.max_slabs as usize / classes.len()).max(1);
        let slabs_per_chunk = base.min(1 << share.ilog2());
        let nchunks = (cfg.max_slabs as usize).div_ceil(slabs_per_chunk);
        let nclasses = classes.len();
        let nepochs = cfg.epochs as usize;
        let epochs: Box<[_]> = try_boxed(nepochs, |i| {
            CachePadded::new(AtomicU64::new(if i == 0 { E_OPEN } else { E_FREE }))
        })?;
        let chunks = try_boxed(nchunks, |_| AtomicPtr::new(std::ptr::null_mut()))?;
        let pairs = try_boxed(nepochs * nclasses, |_| EpochClass {
            current: CachePadded::new(AtomicU32::new(0)),
            lists: Mutex::new(Lists::default()),
        })?;
        let caches = try_boxed(nclasses, |_| Mutex::new(SlabCache::default()))?;
        let counters = try_boxed(nclasses, |_| CachePadded::new(ClassCounters::default()))?;
        Ok(SlabAlloc {
            instance: NEXT_INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            policy: AtomicU8::new(cfg.policy as u8),
            classes,
            lookup,
            slabs_per_chunk,
            chunk_shift: slabs_per_chunk.trailing_zeros(),
            epoch_mask: cfg.epochs as u64 - 1,
            chunks,
            created: AtomicU32::new(0),
            grow: Mutex::new((vec![None; nclasses], 0)),
            epochs,
            current_epoch: AtomicU64::new(0),
            advanced: AtomicBool::new(false),
            epoch_lock: Mutex::new(()),
            pairs,
            caches,
            counters,
            owners: Owners::new(cfg.biased_frees),
            cfg,
        })
    }

    /// The configuration this allocator was built with.
    pub fn config(&self) -> &SlabConfig {
        &self.cfg
    }

    /// A process-unique id of this allocator instance.
    pub fn instance_id(&self) -> u64 {
        self.instance
    }

    /// The class that serves `size` bytes, or [`Error::SizeTooLarge`].
    #[inline]
    pub fn class_for_size(&self, size: usize) -> Result<u8> {
        self.lookup
            .get(size.div_ceil(8))
            .copied()
            .ok_or(Error::SizeTooLarge { size })
    }

    /// Object size of `class`.
    pub fn class_size(&self, class: u8) -> Result<usize> {
        Ok(self.class(class)?.size as usize)
    }

    /// Objects per slab of `class`.
    pub fn class_capacity(&self, class: u8) -> Result<usize> {
        Ok(self.class(class)?.cap as usize)
    }

    /// Number of size classes.
    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// The reclamation policy now in force.
    pub fn policy(&self) -> ReclaimPolicy {
        if self.policy.load(Relaxed) == ReclaimPolicy::RssFirst as u8 {
            ReclaimPolicy::RssFirst
        } else {
            ReclaimPolicy::LatencyFirst
        }
    }

    /// Switches the reclamation policy; it applies to slabs recycled from now on.
    pub fn set_policy(&self, p: ReclaimPolicy) {
        // Relaxed: the policy is a hint read at recycling time; no data depends on it.
        self.policy.store(p as u8, Relaxed);
    }

    /// A snapshot of `class`'s performance counters.
    pub fn counters(&self, class: u8) -> Result<PerfCounters> {
        self.class(class)?;
        Ok(self.counters[class as usize].snapshot())
    }

    /// Slabs created so far (fresh ones; cached slabs are reused, not counted again).
    pub fn slabs_created(&self) -> u32 {
        self.created.load(Relaxed)
    }

    /// Every slab ever created (for `TypedSlab`'s drop).
    pub(crate) fn all_slabs(&self) -> impl Iterator<Item = (&Chunk, usize)> {
        self.chunks.iter().flat_map(|c| {
            // SAFETY: as in `chunk`: a non-null entry is a live leaked `Box<Chunk>`.
            let chunk = unsafe { c.load(Acquire).as_ref() };
            chunk
                .into_iter()
                .flat_map(|ch| (0..ch.used.load(Acquire) as usize).map(move |i| (ch, i)))
        })
    }

    #[inline]
    pub(crate) fn class(&self, class: u8) -> Result<&ClassInfo> {
        self.classes
            .get(class as usize)
            .ok_or(Error::UnknownClass { class })
    }

    #[inline]
    pub(crate) fn counters_of(&self, class: u8) -> &ClassCounters {
        &self.counters[class as usize]
    }

    /// The chunk holding slab `slab` and the slab's index in it, if it was ever created.
    #[inline]
    pub(crate) fn chunk(&self, slab: u32) -> Option<(&Chunk, usize)> {
        let c = self.chunks.get((slab >> self.chunk_shift) as usize)?;
        // Acquire: pairs with the Release store in `fresh_slab`, so the chunk's metadata
        // is initialized before we read it.
        let p = c.load(Acquire);
        // SAFETY: a non-null entry is a `Box<Chunk>` leaked by `fresh_slab` and freed only
        // in `Drop`, which `&self` excludes.
        let chunk = unsafe { p.as_ref()? };
        Some((chunk, slab as usize & (self.slabs_per_chunk - 1)))
    }

    #[inline]
    fn pair(&self, epoch: EpochId, class: u8) -> &EpochClass {
        let slot = (epoch.0 & self.epoch_mask) as usize;
        &self.pairs[slot * self.classes.len() + class as usize]
    }

    #[inline]
    pub(crate) fn pair_current(&self, epoch: EpochId, class: u8) -> &AtomicU32 {
        &self.pair(epoch, class).current
    }

    #[inline]
    pub(crate) fn epoch_word(&self, epoch: EpochId) -> &AtomicU64 {
        &self.epochs[(epoch.0 & self.epoch_mask) as usize]
    }
}

impl Default for SlabAlloc {
    fn default() -> Self {
        SlabAlloc::new()
    }
}

impl std::fmt::Debug for SlabAlloc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlabAlloc")
            .field("instance", &self.instance)
            .field("epoch", &self.epoch_current())
            .field("slabs_created", &self.slabs_created())
            .field("policy", &self.policy())
            .finish_non_exhaustive()
    }
}

// === impl SlabAlloc: epochs ===

impl SlabAlloc {
    /// The epoch new allocations go to by default.
    pub fn epoch_current(&self) -> EpochId {
        EpochId(self.current_epoch.load(Acquire))
    }

    /// Opens the next epoch and makes it current. The previous ones stay open until
    /// closed. Fails with [`Error::EpochNotClosed`] when the ring slot the new epoch
    /// needs still holds an epoch that was never closed.
    pub fn epoch_advance(&self) -> Result<EpochId> {
        let _g = sync::lock(&self.epoch_lock);
        let next = self.current_epoch.load(Relaxed) + 1;
        let word = self.epoch_word(EpochId(next));
        let w = word.load(Relaxed);
        if w & 3 != E_FREE {
            return Err(Error::EpochNotClosed {
                epoch: EpochId(w >> 2),
            });
        }
        // Release: allocators that read this word (Acquire) see the slot's lists as left
        // by the last close (published under the same locks anyway).
        // Before the open: whoever sees a slab of the new epoch sees the flag.
        self.advanced.store(true, Release);
        word.store(next << 2 | E_OPEN, Release);
        self.current_epoch.store(next, Release);
        Ok(EpochId(next))
    }

    /// True while no epoch but 0 was ever opened, so that every slab assigned so far
    /// belongs to epoch 0. A caller that holds a slot killed or issued after the slot's
    /// slab was assigned (and so ordered after that assignment, through the slot word's
    /// Release/Acquire) and reads true here knows the slab's epoch is 0: a slab of a later
    /// epoch is assigned after that epoch opened, which is after the flag was set.
    #[inline]
    pub(crate) fn only_epoch_zero(&self) -> bool {
        !self.advanced.load(Acquire)
    }

    /// Whether `epoch` accepts allocations.
    #[inline]
    pub fn epoch_is_open(&self, epoch: EpochId) -> bool {
        // Acquire: orders the reads of the pair's `current_partial` after the open.
        epoch.0 < 1 << 61 && self.epoch_word(epoch).load(Acquire) == Self::open_word(epoch)
    }

    /// The value of `epoch`'s ring word while it is open.
    #[inline]
    pub(crate) const fn open_word(epoch: EpochId) -> u64 {
        epoch.0 << 2 | E_OPEN
    }

    #[inline]
    pub(crate) fn check_open(&self, epoch: EpochId) -> Result<()> {
        if self.epoch_is_open(epoch) {
            Ok(())
        } else {
            Err(Error::EpochNotOpen { epoch })
        }
    }

    /// Closes `epoch`: it refuses allocations from now on, its empty slabs are recycled
    /// now (pages returned to the OS under [`ReclaimPolicy::RssFirst`]), and each of its
    /// other slabs is recycled by the free that empties it. Live objects stay valid.
    /// Returns the number of slabs recycled by this call.
    ///
    /// An allocation that raced with the close may still land in the epoch; it is then
    /// ordered before the close. Closing the current epoch is allowed: allocations into
    /// it then fail until [`epoch_advance`](Self::epoch_advance).
    pub fn epoch_close(&self, epoch: EpochId) -> Result<usize> {
        let _g = sync::lock(&self.epoch_lock);
        let word = self.epoch_word(epoch);
        if !self.epoch_is_open(epoch) {
            return Err(Error::EpochNotOpen { epoch });
        }
        word.store(epoch.0 << 2 | E_CLOSING, Release);
        let mut recycled = 0;
        for class in 0..self.classes.len() as u8 {
            let pair = self.pair(epoch, class);
            let mut lists = sync::lock(&pair.lists);
            pair.current.store(0, Release);
            lists.partial.clear();
            for slab in std::mem::take(&mut lists.owned) {
                let (chunk, i) = self.chunk(slab).expect("owned slabs exist");
                let h = chunk.header(i);
                for w in &h.bits {
                    w.fetch_and(!DETACHED, Relaxed);
                }
                // Release/AcqRel: see the module docs; the RMW on `claimed` orders the
                // orphan state before any later free's `fetch_sub`.
                chunk.metas[i].state.store(S_ORPHAN, Release);
                if h.claimed.fetch_add(0, AcqRel) == 0 && self.try_recycle(chunk, i) {
                    recycled += 1;
                }
            }
        }
        word.store(epoch.0 << 2 | E_FREE, Release);
        Ok(recycled)
    }

    /// Recycles the empty slabs of an open `epoch` that are not its `current_partial`,
    /// keeping the epoch open (what a reusable domain does at every exit). Returns the
    /// number of slabs recycled.
    pub fn epoch_trim(&self, epoch: EpochId) -> Result<usize> {
        self.check_open(epoch)?;
        let mut recycled = 0;
        for class in 0..self.classes.len() as u8 {
            let pair = self.pair(epoch, class);
            let mut lists = sync::lock(&pair.lists);
            let current = pair.current.load(Relaxed);
            let Lists { partial, owned } = &mut *lists;
            partial.retain(|&slab| {
                if slab + 1 == current {
                    return true;
                }
                let (chunk, i) = self.chunk(slab).expect("listed slabs exist");
                if chunk.header(i).claimed.load(Acquire) == 0 && self.claim_all(chunk, i) {
                    chunk.metas[i].state.store(S_ORPHAN, Relaxed);
                    self.finish_recycle(chunk, i, slab);
                    owned.retain(|&s| s != slab);
                    recycled += 1;
                    false
                } else {
                    true
                }
            });
        }
        Ok(recycled)
    }
}

// === impl SlabAlloc: bulk release ===

impl SlabAlloc {
    /// Closes `epoch` and frees every object still live in it, at once: the bulk free
    /// `mi_heap_destroy` does for a heap. Every handle into the epoch is refused from then
    /// on ([`Error::Stale`] from [`get_ptr`](Self::get_ptr) and
    /// [`validate`](Self::validate), [`Error::DoubleFree`] from [`free`](Self::free)),
    /// and the epoch's slabs go back to their class caches (past a cache's capacity to
    /// the overflow list), their pages returned to the OS under
    /// [`ReclaimPolicy::RssFirst`] and always past the cache capacity. Returns the number
    /// of slabs released. A second release of the same epoch, or a release of an epoch
    /// that is closed or was never opened, is [`Error::EpochNotOpen`].
    ///
    /// It takes the allocator by `&mut`: no [`Local`](crate::Local), domain or other
    /// thread can be using it meanwhile (share the allocator in an `Arc` and release
    /// through [`Arc::get_mut`](std::sync::Arc::get_mut) once the workers are done), so
    /// no free, validation or allocation can race with the release, and every use after
    /// it sees it. A `Local` leaked with `mem::forget` never touches its slabs again, so
    /// the slots it held are simply released with the rest.
    ///
    /// # Cost
    ///
    /// Per slab of the epoch: a move to the cache list and, under `RssFirst`, its share of
    /// one `madvise` per run of consecutive slabs; per slot, a plain, vectorisable store
    /// to the slab's off-page slot word, which kills the object as a `free` would (its
    /// generation advances, or the slot retires at the wrap). No object page is touched
    /// and no locked instruction runs per object. The slab headers are rewritten when a
    /// slab is next assigned, as for any cached slab.
    pub fn epoch_release(&mut self, epoch: EpochId) -> Result<usize> {
        self.check_open(epoch)?;
        let word = epoch.0 << 2;
        self.epoch_word(epoch).store(word | E_CLOSING, Release);
        let rss = self.policy() == ReclaimPolicy::RssFirst;
        let mut released = 0;
        let mut run: Option<(&Chunk, usize, usize)> = None;
        for class in 0..self.classes.len() as u8 {
            let pair = self.pair(epoch, class);
            let owned = {
                let mut lists = sync::lock(&pair.lists);
                pair.current.store(0, Relaxed);
                lists.partial.clear();
                std::mem::take(&mut lists.owned)
            };
            if owned.is_empty() {
                continue;
            }
            let cap = self.classes[class as usize].cap as usize;
            let mut retired = 0u64;
            let (mut recycled, mut overflowed) = (0u64, 0u64);
            let mut cache = sync::lock(&self.caches[class as usize]);
            for &slab in &owned {
                let (chunk, i) = self.chunk(slab).expect("owned slabs exist");
                // SAFETY: `&mut self`: no other thread can reach the allocator, so nobody
                // else touches the slot words, and whoever uses it next is ordered after
                // this call by whatever handed them the allocator back.
                retired += u64::from(unsafe { chunk.kill_all_slots(i, cap) });
                let meta = &chunk.metas[i];
                meta.state.store(S_CACHED, Relaxed);
                meta.owner.store(0, Relaxed);
                let keep = cache.cached.len() < self.cfg.cache_capacity;
                if keep {
                    cache.cached.push(slab);
                    recycled += 1;
                } else {
                    cache.overflow.push(slab);
                    overflowed += 1;
                }
                if rss || !keep {
                    // Coalesce consecutive slabs of one chunk into one `madvise`.
                    run = match run {
                        Some((c, start, n)) if std::ptr::eq(c, chunk) && start + n == i => {
                            Some((c, start, n + 1))
                        }
                        other => {
                            if let Some((c, start, n)) = other {
                                c.discard_run(start, n);
                            }
                            Some((chunk, i, 1))
                        }
                    };
                }
            }
            drop(cache);
            released += owned.len();
            let counters = self.counters_of(class);
            counters.retired_slots.fetch_add(retired, Relaxed);
            counters.empty_slab_recycled.fetch_add(recycled, Relaxed);
            counters
                .empty_slab_overflowed
                .fetch_add(overflowed, Relaxed);
        }
        if let Some((c, start, n)) = run {
            c.discard_run(start, n);
        }
        self.epoch_word(epoch).store(word | E_FREE, Release);
        Ok(released)
    }

    /// The address of every live object of open `epoch` (for `TypedSlab::epoch_release`,
    /// which drops them before the release).
    pub(crate) fn live_objects_in(&mut self, epoch: EpochId) -> Result<Vec<NonNull<u8>>> {
        self.check_open(epoch)?;
        let mut live = Vec::new();
        for class in 0..self.classes.len() as u8 {
            let cap = self.classes[class as usize].cap as usize;
            let lists = sync::lock(&self.pair(epoch, class).lists);
            for &slab in &lists.owned {
                let (chunk, i) = self.chunk(slab).expect("owned slabs exist");
                for (slot, w) in chunk.slot_words(i, cap).iter().enumerate() {
                    // Relaxed: `&mut self`, as in `epoch_release`.
                    if w.load(Relaxed) & (LIVE | RETIRED) == LIVE {
                        live.push(self.slot_ptr(chunk, i, slot, class));
                    }
                }
            }
        }
        Ok(live)
    }
}

// === impl SlabAlloc: allocation ===

impl SlabAlloc {
    /// Allocates `size` bytes in the current epoch.
    #[inline]
    pub fn alloc(&self, size: usize) -> Result<RawHandle> {
        self.alloc_in(self.epoch_current(), size)
    }

    /// Allocates `size` bytes in `epoch`.
    #[inline]
    pub fn alloc_in(&self, epoch: EpochId, size: usize) -> Result<RawHandle> {
        self.alloc_class_in(epoch, self.class_for_size(size)?)
    }

    /// Allocates one object of `class` in `epoch` through the shared bitmap (one CAS in
    /// the common case).
    pub fn alloc_class_in(&self, epoch: EpochId, class: u8) -> Result<RawHandle> {
        self.class(class)?;
        self.check_open(epoch)?;
        let tag = owner_tag(epoch.0, class);
        let pair = self.pair(epoch, class);
        loop {
            let cur = pair.current.load(Acquire);
            if cur == 0 {
                ClassCounters::bump(&self.counters_of(class).current_partial_null);
                self.refill(epoch, class, 0)?;
                continue;
            }
            let slab = cur - 1;
            let (chunk, i) = self.chunk(slab).expect("published slabs exist");
            match self.claim(chunk, i, tag, class, false) {
                Some((w, bit)) => {
                    ClassCounters::bump(&self.counters_of(class).fast_path_allocs);
                    let slot = w * SLOTS_PER_WORD + bit.trailing_zeros() as usize;
                    return Ok(self.issue(chunk, i, slab, slot, class, 0));
                }
                None => {
                    ClassCounters::bump(&self.counters_of(class).current_partial_full);
                    self.refill(epoch, class, cur)?;
                }
            }
        }
    }

    /// Claims free bits of slab `i`: the lowest one, or (`all`) every free bit of the
    /// first word that has any. Returns the word and the claimed mask. Gives the bits
    /// back and returns `None` if the slab no longer belongs to `tag`.
    #[inline]
    pub(crate) fn claim(
        &self,
        chunk: &Chunk,
        i: usize,
        tag: u64,
        class: u8,
        all: bool,
    ) -> Option<(usize, u64)> {
        let h = chunk.header(i);
        let words = self.classes[class as usize].words as usize;
        for w in 0..words {
            let mut v = h.bits[w].load(Relaxed);
            while v & SLOT_BITS != 0 {
                let free = v & SLOT_BITS;
                let take = if all {
                    free
                } else {
                    free & free.wrapping_neg()
                };
                // Acquire on success: synchronizes with the Release of the free (or the
                // slab initialization) that made these bits free.
                match h.bits[w].compare_exchange_weak(v, v & !take, Acquire, Relaxed) {
                    Ok(_) => {
                        h.claimed.fetch_add(take.count_ones(), Relaxed);
                        // Relaxed is enough: the Acquire above made the owner tag stored
                        // before these bits were published visible.
                        if chunk.metas[i].owner.load(Relaxed) != tag {
                            self.release(chunk, i, w, take);
                            return None;
                        }
                        return Some((w, take));
                    }
                    Err(now) => v = now,
                }
            }
        }
        None
    }

    /// Turns a claimed slot into a live object and its handle; `bias` is the owner-tag
    /// bits its word carries (`tag << OWNER_SHIFT` of the issuing `Local`, or 0).
    #[inline]
    pub(crate) fn issue(
        &self,
        chunk: &Chunk,
        i: usize,
        slab: u32,
        slot: usize,
        class: u8,
        bias: u32,
    ) -> RawHandle {
        let sw = chunk.slot_word(i, slot);
        // Relaxed: the slot is ours (its bit is claimed); the free that set this word
        // happens-before our claim through the bitmap's Release/Acquire.
        let g = sw.load(Relaxed);
        debug_assert_eq!(g & (LIVE | RETIRED), 0, "claimed a live or retired slot");
        // Release: a validator that reads LIVE also reads everything before the issue.
        sw.store(g | LIVE | bias, Release);
        RawHandle::new(HandleParts {
            slab,
            generation: g & GEN_MASK,
            slot: slot as u8,
            class,
        })
    }

    /// The address of slot `slot` of slab `i` in `class`.
    #[inline]
    pub(crate) fn slot_ptr(&self, chunk: &Chunk, i: usize, slot: usize, class: u8) -> NonNull<u8> {
        let size = self.classes[class as usize].size as usize;
        debug_assert!(slot < self.classes[class as usize].cap as usize);
        // SAFETY: slot < cap, so the object lies inside the slab.
        unsafe { chunk.slab(i).add(HEADER_SIZE + slot * size) }
    }

    /// The slow path: under the pair's mutex, replaces `observed` as `current_partial`
    /// (unless someone already did) with a partial, cached or fresh slab.
    #[cold]
    pub(crate) fn refill(&self, epoch: EpochId, class: u8, observed: u32) -> Result<()> {
        let counters = self.counters_of(class);
        ClassCounters::bump(&counters.slow_path_hits);
        let pair = self.pair(epoch, class);
        let mut lists = sync::lock(&pair.lists);
        // Under the mutex: `epoch_close` stores CLOSING before it takes this mutex, so we
        // either see it here or publish before the close clears our slab.
        self.check_open(epoch)?;
        if pair.current.load(Relaxed) != observed {
            return Ok(());
        }
        if observed != 0 {
            let slab = observed - 1;
            let (chunk, i) = self.chunk(slab).expect("published slabs exist");
            if !self.detach(chunk, i, class) {
                return Ok(()); // a free raced in: the slab has room again
            }
            ClassCounters::bump(&counters.list_move_partial_to_full);
            pair.current.store(0, Release);
        }
        let tag = owner_tag(epoch.0, class);
        let next = match lists.partial.pop() {
            Some(slab) => slab,
            None => {
                let slab = self.new_slab(tag, class)?;
                ClassCounters::bump(&counters.new_slab_count);
                lists.owned.push(slab);
                slab
            }
        };
        let (chunk, i) = self.chunk(next).expect("listed slabs exist");
        chunk.metas[i].state.store(S_CURRENT, Relaxed);
        // Release: publishes the slab's initialized header and owner tag.
        pair.current.store(next + 1, Release);
        Ok(())
    }

    /// Marks slab `i` detached if it has no free bit; see the module docs.
    fn detach(&self, chunk: &Chunk, i: usize, class: u8) -> bool {
        let h = chunk.header(i);
        let words = self.classes[class as usize].words as usize;
        let mut room = false;
        for w in &h.bits[..words] {
            // AcqRel RMW: totally ordered with every free's fetch_or on the same word.
            room |= w.fetch_or(DETACHED, AcqRel) & SLOT_BITS != 0;
        }
        if room {
            for w in &h.bits[..words] {
                w.fetch_and(!DETACHED, Relaxed);
            }
            return false;
        }
        chunk.metas[i].state.store(S_FULL, Relaxed);
        true
    }

    /// A slab for `tag`: from the class cache, its overflow list, or fresh.
    fn new_slab(&self, tag: u64, class: u8) -> Result<u32> {
        loop {
            let reuse = {
                let mut c = sync::lock(&self.caches[class as usize]);
                c.cached.pop().or_else(|| c.overflow.pop())
            };
            let Some(slab) = reuse else { break };
            let (chunk, i) = self.chunk(slab).expect("cached slabs exist");
            if self.init_slab(chunk, i, slab, tag, class) {
                return Ok(slab);
            }
            // Every slot retired: the slab leaves circulation for good.
        }
        let slab = self.fresh_slab(class)?;
        let (chunk, i) = self.chunk(slab).expect("just created");
        // SAFETY: the slab is fresh, so nothing else refers to its header.
        unsafe {
            chunk
                .slab(i)
                .cast::<SlabHeader>()
                .as_ptr()
                .write(SlabHeader::new())
        };
        self.init_slab(chunk, i, slab, tag, class);
        Ok(slab)
    }

    /// Assigns slab `i` to `tag`: owner, header, then (Release) its free bits. Returns
    /// false if every slot of the class is retired.
    fn init_slab(&self, chunk: &Chunk, i: usize, slab: u32, tag: u64, class: u8) -> bool {
        let meta = &chunk.metas[i];
        let masks = self.unretired_masks(chunk, i);
        if masks.iter().all(|&m| m == 0) {
            return false;
        }
        // Release: `reattach` reads the tag with Acquire; claimers read it after their
        // Acquire CAS on the bits stored below.
        meta.owner.store(tag, Release);
        meta.state.store(S_PARTIAL, Relaxed);
        let h = chunk.header(i);
        h.slab_id.store(slab, Relaxed);
        h.class.store(class as u32, Relaxed);
        h.claimed.store(0, Relaxed);
        for (w, m) in h.bits.iter().zip(masks) {
            // Release: a claimer's Acquire CAS sees the owner tag and counters above.
            w.store(m, Release);
        }
        true
    }

    /// Creates a slab of `class`, mapping a new chunk for the class when needed.
    fn fresh_slab(&self, class: u8) -> Result<u32> {
        let mut g = sync::lock(&self.grow);
        let (current, mapped) = &mut *g;
        if let Some(c) = current[class as usize] {
            let (chunk, _) = self.chunk(c << self.chunk_shift).expect("mapped chunk");
            let used = chunk.used.load(Relaxed);
            // The last chunk may be cut short by `max_slabs`: ids stop at `max_slabs - 1`.
            if (used as usize) < self.slabs_per_chunk
                && (c << self.chunk_shift | used) < self.cfg.max_slabs
            {
                // Release: `locate` (Acquire) accepts the id only after this.
                chunk.used.store(used + 1, Release);
                self.created.fetch_add(1, Relaxed);
                return Ok(c << self.chunk_shift | used);
            }
        }
        let c = *mapped;
        // A chunk is mapped while its first id is below `max_slabs`, so exactly
        // `max_slabs` slabs can be made, whatever `slabs_per_chunk` divides.
        if c as usize >= self.chunks.len()
            || c as u64 * self.slabs_per_chunk as u64 >= self.cfg.max_slabs as u64
        {
            return Err(Error::OutOfSlabs);
        }
        let chunk = Chunk::new(
            class,
            self.slabs_per_chunk,
            self.cfg.slab_size,
            (
                self.classes[class as usize].cap as usize,
                self.classes[class as usize].size,
            ),
            self.cfg.initial_generation,
        )
        .ok_or(Error::OutOfMemory)?;
        chunk.used.store(1, Relaxed);
        // Release: pairs with the Acquire in `chunk`.
        self.chunks[c as usize].store(Box::into_raw(Box::new(chunk)), Release);
        *mapped += 1;
        current[class as usize] = Some(c);
        self.created.fetch_add(1, Relaxed);
        Ok(c << self.chunk_shift)
    }

    /// The class's full masks without the slots of slab `i` retired at a generation wrap
    /// (read from the slot words; slow paths only).
    fn unretired_masks(&self, chunk: &Chunk, i: usize) -> [u64; WORDS] {
        let ci = &self.classes[chunk.class as usize];
        let mut masks = ci.masks;
        for slot in 0..ci.cap as usize {
            // Acquire: pairs with the retiring free's AcqRel CAS.
            if chunk.slot_word(i, slot).load(Acquire) & RETIRED != 0 {
                masks[slot / SLOTS_PER_WORD] &= !(1 << (slot % SLOTS_PER_WORD));
            }
        }
        masks
    }
}

// === impl SlabAlloc: handles and free ===

impl SlabAlloc {
    /// Checks everything a handle says that does not depend on the slot's state.
    #[inline]
    fn locate(&self, h: RawHandle) -> Result<(&Chunk, usize, HandleParts)> {
        let p = h.parts()?;
        let ci = self.class(p.class)?;
        if p.slab >= self.cfg.max_slabs {
            return Err(Error::SlabOutOfRange { slab: p.slab });
        }
        if p.slot as u16 >= ci.cap {
            return Err(Error::SlotOutOfRange {
                slot: p.slot,
                capacity: ci.cap,
            });
        }
        let (chunk, i) = self
            .chunk(p.slab)
            // Acquire: pairs with the Release in `fresh_slab`.
            .filter(|&(c, i)| i < c.used.load(Acquire) as usize)
            .ok_or(Error::UnknownSlab { slab: p.slab })?;
        if chunk.class != p.class {
            return Err(Error::ClassMismatch {
                handle: p.class,
                slab: chunk.class,
            });
        }
        Ok((chunk, i, p))
    }

    /// The error for a handle of generation `hgen` meeting slot word `w`. Out of line: it
    /// runs only on the error paths, and keeping it out keeps the inlined fast paths small.
    #[cold]
    #[inline(never)]
    pub(crate) fn classify(&self, w: u32, hgen: u32, freeing: bool) -> Error {
        let old = if freeing {
            Error::DoubleFree
        } else {
            Error::Stale
        };
        if w & !OWNER_MASK == hgen | LIVE {
            // Still live, under another thread's revocation: that free is the one that
            // can win, so this one is the double free.
            return old;
        }
        // A slot's generations start at `initial_generation` and only grow: those issued
        // so far are `initial..current` (and `current` too while it is live, handled
        // above), or `initial..=MAX_GENERATION` once the slot retired at the wrap.
        if hgen < self.cfg.initial_generation {
            return Error::ForgedGeneration; // below the first generation ever issued
        }
        if w & RETIRED != 0 || hgen < w & GEN_MASK {
            old // the generation was issued, and its object freed
        } else {
            Error::ForgedGeneration // never issued yet
        }
    }

    /// Validates `h` and returns the address of its object.
    ///
    /// `locate` checked the class against the slab's, which never changes; the slot word
    /// equal to `generation | LIVE` (with any owner tag) proves this object is live, since
    /// a (slab, slot, generation) triple is issued at most once.
    ///
    /// The common case, a live handle, is checked with what the handle's chunk holds in
    /// one cache line: the chunk exists, its class is the handle's, the slot is below its
    /// capacity, and the slot word says `generation | LIVE`. That implies every other
    /// check of `locate` (the slab was handed out and is below `max_slabs`: a slot word of
    /// any other slab never leaves its initial, free generation). Anything else takes
    /// [`resolve_slow`](Self::resolve_slow) for the exact error.
    #[inline]
    pub(crate) fn resolve(&self, h: RawHandle) -> Result<(NonNull<u8>, HandleParts)> {
        let p = h.parts()?;
        if let Some((chunk, i)) = self.chunk(p.slab)
            && chunk.class == p.class
            && u32::from(p.slot) < chunk.cap
        {
            let w = chunk.slot_word(i, p.slot as usize).load(Acquire);
            if w & !OWNER_MASK == p.generation | LIVE {
                // SAFETY: slot < cap, so the object lies inside slab `i`, which lies inside
                // the chunk's mapping (`i` is below the chunk's slab count by `chunk`).
                let obj = unsafe {
                    chunk
                        .slab(i)
                        .add(HEADER_SIZE + p.slot as usize * chunk.size as usize)
                };
                return Ok((obj, p));
            }
        }
        self.resolve_slow(h)
    }

    /// [`resolve`](Self::resolve) with every check of `locate`, for the handles its fast
    /// check refuses.
    #[cold]
    #[inline(never)]
    fn resolve_slow(&self, h: RawHandle) -> Result<(NonNull<u8>, HandleParts)> {
        let (chunk, i, p) = self.locate(h)?;
        let sw = chunk.slot_word(i, p.slot as usize);
        let w = sw.load(Acquire);
        if w & !OWNER_MASK != p.generation | LIVE {
            return Err(self.classify(w, p.generation, false));
        }
        let size = self.classes[p.class as usize].size as usize;
        // SAFETY: slot < cap, so the object lies inside the slab.
        let obj = unsafe { chunk.slab(i).add(HEADER_SIZE + p.slot as usize * size) };
        Ok((obj, p))
    }

    /// The handle of the live object at `ptr`, found by masking `ptr` to its slab's
    /// alignment and reading the slab header (the lookup a pointer-based `free` needs).
    /// Refuses a freed object ([`Error::Stale`]), a pointer into a slab that is not where its
    /// header says ([`Error::UnknownSlab`]) and a pointer that is not the start of an object
    /// slot ([`Error::SlotOutOfRange`]).
    ///
    /// # Safety
    ///
    /// - `ptr` points into a slab of this allocator (for instance, it was returned by
    ///   [`get_ptr`](Self::get_ptr) or [`Local::alloc_ptr_in`](crate::Local::alloc_ptr_in)),
    ///   whether or not its object is still live.
    pub unsafe fn handle_of_ptr(&self, ptr: NonNull<u8>) -> Result<RawHandle> {
        let addr = ptr.as_ptr().addr();
        let base = addr & !(self.cfg.slab_size - 1);
        // Keeps `ptr`'s provenance (the chunk's), so this is a plain in-bounds pointer.
        let hp = ptr.as_ptr().with_addr(base).cast::<SlabHeader>();
        // SAFETY: the caller guarantees `ptr` lies in one of our slabs, which are aligned
        // to `slab_size`, start with a header and stay mapped while `self` lives; a
        // discarded slab's header reads as zeros, which is a valid header.
        let header = unsafe { &*hp };
        let slab = header.slab_id.load(Acquire);
        let (chunk, i) = self
            .chunk(slab)
            .filter(|&(c, i)| i < c.used.load(Acquire) as usize)
            .filter(|&(c, i)| c.slab(i).as_ptr() as usize == base)
            .ok_or(Error::UnknownSlab { slab })?;
        let ci = &self.classes[chunk.class as usize];
        let off = (addr - base).wrapping_sub(HEADER_SIZE);
        let slot = off / ci.size as usize;
        if addr - base < HEADER_SIZE
            || !off.is_multiple_of(ci.size as usize)
            || slot >= ci.cap as usize
        {
            return Err(Error::SlotOutOfRange {
                slot: slot.min(255) as u8,
                capacity: ci.cap,
            });
        }
        let w = chunk.slot_word(i, slot).load(Acquire);
        if w & LIVE == 0 || w & RETIRED != 0 {
            return Err(Error::Stale);
        }
        Ok(RawHandle::new(HandleParts {
            slab,
            generation: w & GEN_MASK,
            slot: slot as u8,
            class: chunk.class,
        }))
    }

    /// Checks that `h` names a live object.
    #[inline]
    pub fn validate(&self, h: RawHandle) -> Result<()> {
        self.resolve(h).map(|_| ())
    }

    /// The address of `h`'s object (`class_size` bytes, 8-aligned), after validation.
    ///
    /// The pointer stays dereferenceable (the memory is never unmapped while `self`
    /// lives), but the object is the caller's only until someone frees `h`: reading or
    /// writing through it after that is a logic error the allocator cannot see.
    #[inline]
    pub fn get_ptr(&self, h: RawHandle) -> Result<NonNull<u8>> {
        self.resolve(h).map(|(p, _)| p)
    }

    /// Wins the right to free `h`'s object: the one election that moves its slot word
    /// from `generation | LIVE` to the next generation (or to RETIRED at the wrap). Of
    /// concurrent frees of one handle exactly one gets here; the others get
    /// [`Error::DoubleFree`].
    #[inline]
    pub(crate) fn kill(&self, h: RawHandle) -> Result<Killed<'_>> {
        self.kill_as(h, Freer::Shared)
    }

    /// [`kill`](Self::kill), with the election `freer` runs.
    ///
    /// As in [`resolve`](Self::resolve), the election runs after the checks of the
    /// handle's chunk alone: it succeeds only on a word that says `generation | LIVE`,
    /// which no slot of a slab never handed out does. A refused free changes nothing, and
    /// gets `locate`'s error where the handle has one, the election's otherwise.
    #[inline]
    pub(crate) fn kill_as(&self, h: RawHandle, freer: Freer<'_>) -> Result<Killed<'_>> {
        let parts = h.parts()?;
        if let Some((chunk, index)) = self.chunk(parts.slab)
            && chunk.class == parts.class
            && u32::from(parts.slot) < chunk.cap
        {
            return self
                .kill_located(chunk, index, parts, h.to_bits(), freer)
                .map_err(|e| self.locate(h).err().unwrap_or(e));
        }
        let (chunk, index, parts) = self.locate(h)?;
        self.kill_located(chunk, index, parts, h.to_bits(), freer)
    }

    /// [`kill`](Self::kill) of a handle already located: `parts` (of handle `bits`) names
    /// slab `index` of `chunk`, `parts.class` is the chunk's class and `parts.slot` below
    /// its capacity.
    #[inline]
    pub(crate) fn kill_located<'s>(
        &'s self,
        chunk: &'s Chunk,
        index: usize,
        parts: HandleParts,
        bits: u64,
        freer: Freer<'_>,
    ) -> Result<Killed<'s>> {
        let sw = chunk.slot_word(index, parts.slot as usize);
        let retired = parts.generation == MAX_GENERATION;
        let next = if retired {
            RETIRED
        } else {
            parts.generation + 1
        };
        self.kill_word(sw, parts.generation, next, bits, parts.class, freer)?;
        Ok(Killed {
            chunk,
            index,
            parts,
            retired,
        })
    }

    /// The election on slot word `sw` for the handle `bits` of `generation`: on success the
    /// word says `next`.
    #[inline(always)]
    pub(crate) fn kill_word(
        &self,
        sw: &AtomicU32,
        generation: u32,
        next: u32,
        bits: u64,
        class: u8,
        freer: Freer<'_>,
    ) -> Result<()> {
        let live = generation | LIVE;
        match freer {
            Freer::Owned => {
                // The caller guarantees nobody frees this object concurrently, so no
                // election is needed: a load to validate (any owner tag: no revocation can
                // be running), a store to kill. Acquire/Release as below.
                let now = sw.load(Acquire);
                if now & !OWNER_MASK != live || now & REVOKING != 0 {
                    return Err(self.classify(now, generation, true));
                }
                sw.store(next, Release);
                return Ok(());
            }
            Freer::Owner { rec, bits: tag } => {
                match bias::owner_kill(rec, sw, live | tag, next, bits) {
                    Ok(true) => return Ok(()),
                    Ok(false) => return Err(Error::DoubleFree),
                    // Unbiased or biased to another tag: the shared election below.
                    Err(now) if now & !OWNER_MASK == live && now & REVOKING == 0 => {}
                    Err(now) => return Err(self.classify(now, generation, true)),
                }
            }
            Freer::Shared => {}
        }
        // AcqRel: Release hands the object's last writes to the next claimer (through the
        // bitmap's Release); Acquire makes a failed CAS's value, used to classify the
        // error, at least as new as the handle's issue.
        match sw.compare_exchange(live, next, AcqRel, Acquire) {
            Ok(_) => Ok(()),
            Err(now) => self.kill_contended(sw, now, generation, next, bits, class),
        }
    }

    /// The CAS of a free failed with `now`: revoke a slot biased to a `Local`, or classify.
    #[cold]
    #[inline(never)]
    fn kill_contended(
        &self,
        sw: &AtomicU32,
        now: u32,
        generation: u32,
        next: u32,
        bits: u64,
        class: u8,
    ) -> Result<()> {
        let live = generation | LIVE;
        if now & !OWNER_MASK != live || now & TAG_MASK == 0 || now & REVOKING != 0 {
            return Err(self.classify(now, generation, true));
        }
        ClassCounters::bump(&self.counters_of(class).bias_revocations);
        if bias::revoke(&self.owners, sw, now, next, bits) {
            Ok(())
        } else {
            Err(Error::DoubleFree)
        }
    }

    /// The owner tags of this allocator's `Local`s.
    pub(crate) fn owners(&self) -> &Owners {
        &self.owners
    }

    /// Whether this allocator's `Local`s free their own slots without a locked instruction
    /// (the biased election): [`SlabConfig::biased_frees`], where the process has
    /// `membarrier` and `EBB_SLAB_NO_BIAS` is unset.
    pub fn biased_frees(&self) -> bool {
        self.owners.enabled()
    }

    /// The address of a killed slot's object.
    pub(crate) fn object_ptr(&self, k: &Killed<'_>) -> NonNull<u8> {
        let size = self.classes[k.parts.class as usize].size as usize;
        // SAFETY: the slot was validated (< cap), so the object lies inside the slab.
        unsafe {
            k.chunk
                .slab(k.index)
                .add(HEADER_SIZE + k.parts.slot as usize * size)
        }
    }

    /// Returns a killed slot to the shared bitmap (or retires it).
    pub(crate) fn finish_free(&self, k: Killed<'_>) {
        let slot = k.parts.slot as usize;
        let (w, bit) = (slot / SLOTS_PER_WORD, 1u64 << (slot % SLOTS_PER_WORD));
        if k.retired {
            // The slot word now says RETIRED; its bit stays claimed forever.
            ClassCounters::bump(&self.counters_of(k.parts.class).retired_slots);
            self.uncount(k.chunk, k.index, 1);
        } else {
            self.release(k.chunk, k.index, w, bit);
        }
    }

    /// Frees `h`'s object. Stale, doubly freed and forged handles are refused with the
    /// matching [`Error`], and change nothing.
    pub fn free(&self, h: RawHandle) -> Result<()> {
        let k = self.kill(h)?;
        self.finish_free(k);
        Ok(())
    }

    /// Puts claimed bits back into the shared bitmap.
    pub(crate) fn release(&self, chunk: &Chunk, i: usize, w: usize, mask: u64) {
        let h = chunk.header(i);
        // Release: the next claimer (Acquire CAS) sees our writes and slot words.
        let old = h.bits[w].fetch_or(mask, Release);
        if old & DETACHED != 0 {
            self.reattach(chunk, i);
        }
        self.uncount(chunk, i, mask.count_ones());
    }

    /// Lowers `claimed` by `n`; whoever brings it to zero in an orphaned slab recycles it.
    fn uncount(&self, chunk: &Chunk, i: usize, n: u32) {
        // AcqRel: see the module docs (orphan state versus last free).
        if chunk.header(i).claimed.fetch_sub(n, AcqRel) == n
            && chunk.metas[i].state.load(Acquire) == S_ORPHAN
        {
            self.try_recycle(chunk, i);
        }
    }

    /// A free saw `DETACHED`: put the slab back on its partial list, once.
    #[cold]
    fn reattach(&self, chunk: &Chunk, i: usize) {
        let meta = &chunk.metas[i];
        let tag = meta.owner.load(Acquire);
        if tag == 0 {
            return;
        }
        let class = chunk.class;
        let pair = self.pair(EpochId(tag_epoch(tag)), class);
        let mut lists = sync::lock(&pair.lists);
        if meta.owner.load(Relaxed) != tag || meta.state.load(Relaxed) != S_FULL {
            return; // someone else reattached, or the epoch closed
        }
        let h = chunk.header(i);
        for w in &h.bits {
            w.fetch_and(!DETACHED, Relaxed);
        }
        meta.state.store(S_PARTIAL, Relaxed);
        lists.partial.push(h.slab_id.load(Relaxed));
        ClassCounters::bump(&self.counters_of(class).list_move_full_to_partial);
    }

    /// Claims every free bit of slab `i` if all its (unretired) slots are free.
    fn claim_all(&self, chunk: &Chunk, i: usize) -> bool {
        let masks = self.unretired_masks(chunk, i);
        let h = chunk.header(i);
        for w in 0..self.classes[chunk.class as usize].words as usize {
            if masks[w] == 0 {
                continue;
            }
            // Acquire: the recycler takes over the slots, after their last frees.
            if h.bits[w]
                .compare_exchange(masks[w], 0, Acquire, Relaxed)
                .is_err()
            {
                for (b, m) in h.bits[..w].iter().zip(masks) {
                    b.fetch_or(m, Release);
                }
                return false;
            }
        }
        true
    }

    /// Recycles orphaned slab `i` if it is empty; true if this call did.
    fn try_recycle(&self, chunk: &Chunk, i: usize) -> bool {
        let meta = &chunk.metas[i];
        if meta.state.load(Acquire) != S_ORPHAN || !self.claim_all(chunk, i) {
            return false;
        }
        // We hold every bit, so no other recycler can get here for this incarnation.
        let slab = chunk.header(i).slab_id.load(Relaxed);
        self.finish_recycle(chunk, i, slab);
        true
    }

    /// Moves a slab whose bits we all hold into its class cache or overflow list.
    fn finish_recycle(&self, chunk: &Chunk, i: usize, slab: u32) {
        let meta = &chunk.metas[i];
        let class = chunk.class;
        meta.state.store(S_CACHED, Relaxed);
        // Release: a late `reattach` (Acquire) sees the slab as unowned and does nothing.
        meta.owner.store(0, Release);
        let counters = self.counters_of(class);
        let mut c = sync::lock(&self.caches[class as usize]);
        if c.cached.len() < self.cfg.cache_capacity {
            if self.policy() == ReclaimPolicy::RssFirst {
                chunk.discard(i);
            }
            c.cached.push(slab);
            ClassCounters::bump(&counters.empty_slab_recycled);
        } else {
            chunk.discard(i);
            c.overflow.push(slab);
            ClassCounters::bump(&counters.empty_slab_overflowed);
        }
    }
}

impl Drop for SlabAlloc {
    fn drop(&mut self) {
        for c in self.chunks.iter() {
            let p = c.swap(std::ptr::null_mut(), Relaxed);
            if !p.is_null() {
                // SAFETY: `p` came from `Box::into_raw` in `fresh_slab`; `&mut self`
                // proves no handle check or `Local` can reach it any more.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}
