//! Segments, pages, the page map and the shared pool.
//!
//! A *segment* is 4 MiB of address space aligned to 4 MiB, split into 64 *slices* of
//! 64 KiB. Slice 0 holds the segment's header: the descriptor of every page and the
//! per-object allocation bits, so metadata lives in memory the heap mapped itself and a
//! pointer finds its page with a mask and a shift. A *page* is a span of 1 slice (classes
//! up to 8 KiB) or 16 slices aligned to 16 (1 MiB, larger classes), carved into blocks of
//! one class. A *large* object has a mapping of its own, also starting on a 4 MiB
//! boundary, with a small header at its start.
//!
//! The *page map* has one byte per 4 MiB region of the 47-bit address space (32 MiB
//! reserved, touched only where the heap maps): 0 for a region the heap does not own,
//! `e > 0` when the header of the mapping covering the pointer lies `e - 1` regions
//! below. It answers "is this pointer mine?" for `free` from C.
//!
//! The *pool* (segments with free slices, pages abandoned by exited threads, the heap
//! descriptors) is shared and guarded by one spin lock, taken only on slow paths.

use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

use super::class::{self, NUM_CLASSES};
use super::numa::{self, ANY};
use super::os;
use super::thread::Heap;

pub(crate) const SEG_SHIFT: usize = 22;
pub(crate) const SEG_SIZE: usize = 1 << SEG_SHIFT;
pub(crate) const SEG_MASK: usize = SEG_SIZE - 1;
pub(crate) const SLICE_SHIFT: usize = 16;
pub(crate) const SLICE_SIZE: usize = 1 << SLICE_SHIFT;
pub(crate) const SLICES: usize = SEG_SIZE / SLICE_SIZE;

pub(crate) const SMALL_MAGIC: u64 = 0x6562_6273_6567_0001; // "ebbseg" + 1
pub(crate) const LARGE_MAGIC: u64 = 0x6562_626c_6172_0002; // "ebblar" + 2

/// Words of allocation bits per page: one bit per block, 4096 blocks at most (a 64 KiB
/// page of 16-byte blocks).
pub(crate) const BIT_WORDS: usize = 64;

/// Where a page is queued in its heap.
pub(crate) const Q_NONE: u8 = 0;
pub(crate) const Q_AVAIL: u8 = 1;
pub(crate) const Q_FULL: u8 = 2;
pub(crate) const Q_EMPTY: u8 = 3;

/// The owner of a page whose thread has exited and which waits in the pool's abandoned
/// list for another heap (or `collect`) to take it.
pub(crate) const ABANDONED: *mut Heap = ptr::without_provenance_mut(3);

/// A page descriptor. Fields without an atomic type belong to the owning heap's thread
/// alone (or to whoever holds the pool lock while the page is abandoned or free); the
/// atomic ones are also read by other threads: `heap` and `thread_free` by every free,
/// the geometry and the bits by a checked free from another thread.
///
/// The descriptor is aligned to a cache line and its first line holds everything a
/// `malloc` or `free` of the owner reads or writes besides the allocation bits: the
/// local list, the owner, the geometry a checked free needs (`start`, `magic`,
/// `cap_shared`, `stride`) and the counters. `thread_free`, written by other threads'
/// CAS, lives in the second line with the list links, so a remote push does not take
/// the owner's line away; the bits start on the third.
#[repr(C, align(64))]
pub(crate) struct Page {
    /// The local free list (next pointer in each block's first word).
    pub(crate) free: *mut u8,
    /// The owning heap, [`ABANDONED`], or null while the span is free.
    pub(crate) heap: AtomicPtr<Heap>,
    /// The address of block 0 (the span's first byte).
    pub(crate) start: AtomicUsize,
    /// The block-index multiplier ([`class::magic_of`] of the block size); 0 while the
    /// span is free, which makes every offset fail [`Page::block_of`].
    pub(crate) magic: AtomicU64,
    /// Blocks handed out and not yet freed to the owner (frees waiting in `thread_free`
    /// still count).
    pub(crate) used: u32,
    pub(crate) stride: AtomicU32,
    /// The capacity for readers other than the owner; 0 while the span is free.
    pub(crate) cap_shared: AtomicU32,
    /// Blocks at index `bump` and above have never been handed out.
    pub(crate) bump: u32,
    pub(crate) capacity: u32,
    pub(crate) class: u8,
    pub(crate) queue: u8,
    /// The span read as zero when the page was set up (fresh mapping or decommitted), so
    /// blocks at `bump` and above are still zero.
    pub(crate) fresh: bool,
    /// Slices in the span (1 or 16); 0 while the descriptor is unused.
    pub(crate) slices: u8,
    pub(crate) empty_since: u64,
    /// Frees from other threads: a stack pushed with CAS and taken whole with `swap`.
    pub(crate) thread_free: AtomicPtr<u8>,
    pub(crate) next: *mut Page,
    pub(crate) prev: *mut Page,
    /// The class, for other threads (the hint a cross-thread push sets); beside
    /// `thread_free`, whose line the push holds anyway.
    pub(crate) class_shared: AtomicU8,
    /// One bit per block, set while the block is allocated. Written by the owner alone
    /// (plain load and store, no read-modify-write), read by checked frees.
    pub(crate) bits: Bits,
}

/// The allocation bits of a page, on a cache line of their own.
#[repr(C, align(64))]
pub(crate) struct Bits(pub(crate) [AtomicU64; BIT_WORDS]);

const _: () = assert!(core::mem::offset_of!(Page, thread_free) == 64);
const _: () = assert!(core::mem::offset_of!(Page, bits) == 128);

impl Page {
    /// A descriptor that is never a real page: a heap's current page for a class it has
    /// no page of, so that the fast path fails into the slow path without a null check.
    #[allow(clippy::declare_interior_mutable_const)]
    pub(crate) const EMPTY: Page = Page {
        free: ptr::null_mut(),
        used: 0,
        bump: 0,
        capacity: 0,
        class: 0,
        queue: Q_NONE,
        fresh: false,
        slices: 0,
        next: ptr::null_mut(),
        prev: ptr::null_mut(),
        empty_since: 0,
        start: AtomicUsize::new(0),
        stride: AtomicU32::new(0),
        cap_shared: AtomicU32::new(0),
        magic: AtomicU64::new(0),
        heap: AtomicPtr::new(ptr::null_mut()),
        thread_free: AtomicPtr::new(ptr::null_mut()),
        class_shared: AtomicU8::new(0),
        bits: Bits([const { AtomicU64::new(0) }; BIT_WORDS]),
    };

    /// The index of the block at `p` (which lies in this page's span).
    #[inline]
    pub(crate) fn index_of(&self, p: usize) -> usize {
        let off = (p - self.start.load(Ordering::Relaxed)) as u64;
        ((off * self.magic.load(Ordering::Relaxed)) >> 40) as usize
    }

    /// The index of the block starting at `p`, or `None` when `p` is not the start of a
    /// block of this page (below the span, inside a block, in the span's tail past the
    /// last block, or any address while the descriptor is unused).
    ///
    /// One multiply decides both the index and the divisibility: with `m` =
    /// `ceil(2^40 / s)` for the block size `s`, the product `off * m` has
    /// `floor(off / s)` above bit 40 and, below it, a fraction that is less than `m`
    /// exactly when `s` divides `off` (for `off < 2^20` and `s <= 2^18`, see
    /// [`class::split_index`]). An unused descriptor has `m = 0` and capacity 0, so
    /// nothing passes.
    #[inline]
    pub(crate) fn block_of(&self, p: usize) -> Option<usize> {
        let off = p.wrapping_sub(self.start.load(Ordering::Relaxed));
        let m = self.magic.load(Ordering::Relaxed);
        let cap = self.cap_shared.load(Ordering::Relaxed) as usize;
        if off >= class::MAX_SPAN {
            return None;
        }
        let i = class::split_index(off as u64, m)?;
        if i < cap { Some(i) } else { None }
    }

    #[inline]
    fn bit_word(&self, i: usize) -> &AtomicU64 {
        debug_assert!(i < BIT_WORDS * 64);
        // The mask keeps the access in bounds without a panic branch; every caller
        // passes an index below the page's capacity (at most BIT_WORDS * 64).
        &self.bits.0[(i >> 6) & (BIT_WORDS - 1)]
    }

    /// Whether block `i` is marked allocated.
    #[inline]
    pub(crate) fn bit(&self, i: usize) -> bool {
        self.bit_word(i).load(Ordering::Relaxed) & (1 << (i & 63)) != 0
    }

    /// Marks block `i` allocated. Owner only.
    #[inline]
    pub(crate) fn set_bit(&self, i: usize) {
        let w = self.bit_word(i);
        w.store(
            w.load(Ordering::Relaxed) | (1 << (i & 63)),
            Ordering::Relaxed,
        );
    }

    /// Marks block `i` free. Owner only.
    #[inline]
    pub(crate) fn clear_bit(&self, i: usize) {
        let w = self.bit_word(i);
        w.store(
            w.load(Ordering::Relaxed) & !(1 << (i & 63)),
            Ordering::Relaxed,
        );
    }
}

/// The header in slice 0 of every segment.
#[repr(C)]
pub(crate) struct Segment {
    pub(crate) magic: u64,
    /// Bit `i` set while slice `i` belongs to a page (bit 0, the header, always). Pool
    /// lock.
    used_slices: u64,
    next: *mut Segment,
    prev: *mut Segment,
    in_list: bool,
    /// The node the segment is placed on under a per-node NUMA policy, else `numa::ANY`.
    node: u8,
    /// For each slice, the index of the first slice of the page it belongs to.
    pub(crate) slice_head: [AtomicU8; SLICES],
    pub(crate) pages: [Page; SLICES],
}

const _: () = assert!(core::mem::size_of::<Segment>() <= SLICE_SIZE);

/// The header at the start of a large object's mapping.
#[repr(C)]
pub(crate) struct Large {
    pub(crate) magic: u64,
    /// The address handed out.
    pub(crate) user: AtomicUsize,
    /// The mapping's length (a multiple of the OS page).
    pub(crate) map_len: AtomicUsize,
}

/// Bytes from a large mapping's start to its object for an alignment of `align`.
#[inline]
pub(crate) fn large_offset(align: usize) -> usize {
    align.max(64)
}

// ---------------------------------------------------------------------------------------
// A spin lock that can be taken around fork and released in the child.

/// A test-and-test-and-set lock that yields the CPU while it waits. Its state is one
/// word, so `pthread_atfork` handlers can take it before `fork` and reset it in the child.
pub(crate) struct SpinLock(AtomicBool);

impl SpinLock {
    pub(crate) const fn new() -> Self {
        SpinLock(AtomicBool::new(false))
    }

    pub(crate) fn lock(&self) {
        let mut spins = 0u32;
        while self
            .0
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.0.load(Ordering::Relaxed) {
                spins += 1;
                if spins < 64 {
                    core::hint::spin_loop();
                } else {
                    // SAFETY: sched_yield has no preconditions.
                    unsafe { libc::sched_yield() };
                }
            }
        }
    }

    pub(crate) fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }

    /// Resets the lock in a forked child, where its holder (the forking thread) is this one.
    pub(crate) fn reset(&self) {
        self.0.store(false, Ordering::Release);
    }
}

// ---------------------------------------------------------------------------------------
// The page map.

const MAP_REGIONS: usize = 1 << (47 - SEG_SHIFT);
static MAP: AtomicPtr<AtomicU8> = AtomicPtr::new(ptr::null_mut());

/// The page map, mapping it on first use. Called with the pool lock held or before any
/// segment exists; `None` if the reservation fails.
fn map_table() -> Option<*mut AtomicU8> {
    let m = MAP.load(Ordering::Acquire);
    if !m.is_null() {
        return Some(m);
    }
    MAP_LOCK.lock();
    let mut m = MAP.load(Ordering::Acquire);
    if m.is_null() {
        match os::map(MAP_REGIONS, true) {
            Some(p) => {
                m = p.cast();
                MAP.store(m, Ordering::Release);
            }
            None => {
                MAP_LOCK.unlock();
                return None;
            }
        }
    }
    MAP_LOCK.unlock();
    Some(m)
}

static MAP_LOCK: SpinLock = SpinLock::new();

/// The lock guarding the page map's creation (taken around `fork`).
pub(crate) fn map_lock() -> &'static SpinLock {
    &MAP_LOCK
}

/// Records that the mapping whose header is at `base` also covers the region of `p`.
fn map_set(base: usize, p: usize, table: *mut AtomicU8) {
    let (rb, rp) = (base >> SEG_SHIFT, p >> SEG_SHIFT);
    debug_assert!(rp >= rb && rp - rb < 255 && rp < MAP_REGIONS);
    // SAFETY: `rp` is below MAP_REGIONS (user addresses are below 2^47), so the entry is
    // inside the reservation.
    unsafe { (*table.add(rp)).store((rp - rb + 1) as u8, Ordering::Release) };
}

fn map_clear(p: usize) {
    let table = MAP.load(Ordering::Acquire);
    if table.is_null() {
        return;
    }
    let r = p >> SEG_SHIFT;
    // SAFETY: as in map_set.
    unsafe { (*table.add(r)).store(0, Ordering::Release) };
}

/// The start of the heap mapping (segment or large object) covering `p`, if any.
#[inline]
pub(crate) fn owner_base(p: usize) -> Option<usize> {
    let r = p >> SEG_SHIFT;
    if r >= MAP_REGIONS {
        return None;
    }
    let table = MAP.load(Ordering::Acquire);
    if table.is_null() {
        return None;
    }
    // SAFETY: `r < MAP_REGIONS`, inside the reservation.
    let e = unsafe { (*table.add(r)).load(Ordering::Acquire) } as usize;
    if e == 0 {
        return None;
    }
    Some((r - (e - 1)) << SEG_SHIFT)
}

// ---------------------------------------------------------------------------------------
// The pool.

/// Everything shared between heaps, under [`POOL_LOCK`].
pub(crate) struct Pool {
    /// Segments with at least one free slice.
    partial: *mut Segment,
    /// One wholly free segment kept mapped to absorb churn.
    spare: *mut Segment,
    /// Pages of exited threads' heaps, per class, linked through `Page::next`.
    pub(crate) abandoned: [*mut Page; NUM_CLASSES],
    /// Heap descriptors not in use, linked through `Heap::next_free`.
    pub(crate) free_heaps: *mut Heap,
    /// Bump area for new heap descriptors.
    pub(crate) heap_area: usize,
    pub(crate) heap_area_end: usize,
}

pub(crate) struct PoolCell(UnsafeCell<Pool>);
// SAFETY: the pool is only accessed with POOL_LOCK held.
unsafe impl Sync for PoolCell {}

pub(crate) static POOL: PoolCell = PoolCell(UnsafeCell::new(Pool {
    partial: ptr::null_mut(),
    spare: ptr::null_mut(),
    abandoned: [ptr::null_mut(); NUM_CLASSES],
    free_heaps: ptr::null_mut(),
    heap_area: 0,
    heap_area_end: 0,
}));
pub(crate) static POOL_LOCK: SpinLock = SpinLock::new();

/// Mapped bytes: segments and large objects.
pub(crate) static MAPPED_BYTES: AtomicUsize = AtomicUsize::new(0);
/// Bytes of segments' slices in pages (including headers).
pub(crate) static SPAN_BYTES: AtomicUsize = AtomicUsize::new(0);
pub(crate) static LARGE_LIVE: AtomicUsize = AtomicUsize::new(0);
pub(crate) static LARGE_BYTES: AtomicUsize = AtomicUsize::new(0);
pub(crate) static SEGMENTS: AtomicUsize = AtomicUsize::new(0);
/// Per class: pages (spans) currently set up for it.
pub(crate) static CLASS_PAGES: [AtomicUsize; NUM_CLASSES] =
    [const { AtomicUsize::new(0) }; NUM_CLASSES];

impl PoolCell {
    /// The pool.
    ///
    /// # Safety
    /// POOL_LOCK is held, and the reference is dropped before it is released.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get(&self) -> &mut Pool {
        // SAFETY: the caller holds the lock, so this is the only reference.
        unsafe { &mut *self.0.get() }
    }
}

fn list_remove(pool: &mut Pool, s: *mut Segment) {
    // SAFETY: `s` is a live segment in the partial list (in_list), all under the lock.
    unsafe {
        if !(*s).prev.is_null() {
            (*(*s).prev).next = (*s).next;
        } else {
            pool.partial = (*s).next;
        }
        if !(*s).next.is_null() {
            (*(*s).next).prev = (*s).prev;
        }
        (*s).next = ptr::null_mut();
        (*s).prev = ptr::null_mut();
        (*s).in_list = false;
    }
}

fn list_push(pool: &mut Pool, s: *mut Segment) {
    // SAFETY: `s` is a live segment not in the list, under the lock.
    unsafe {
        (*s).prev = ptr::null_mut();
        (*s).next = pool.partial;
        if !pool.partial.is_null() {
            (*pool.partial).prev = s;
        }
        pool.partial = s;
        (*s).in_list = true;
    }
}

/// The first run of `n` free slices (aligned to `n`) in `used`, if any.
fn find_run(used: u64, n: usize) -> Option<usize> {
    if n == 1 {
        let free = !used;
        return if free == 0 {
            None
        } else {
            Some(free.trailing_zeros() as usize)
        };
    }
    let mask = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    let mut i = n; // slice 0 is the header, so runs start at n, 2n, ...
    while i + n <= SLICES {
        if used & (mask << i) == 0 {
            return Some(i);
        }
        i += n;
    }
    None
}

/// Takes a span of `n` slices (1 or 16) from the pool and returns its first page
/// descriptor, or null when memory is exhausted. The descriptor's `fresh` is set (the
/// span reads as zero). With `node` other than [`ANY`] the span comes from a segment
/// placed on that node. Pool lock held.
pub(crate) fn take_span(pool: &mut Pool, n: usize, node: u8) -> *mut Page {
    let mut s = pool.partial;
    while !s.is_null() {
        // SAFETY: segments in the list are live.
        let (used, snode) = unsafe { ((*s).used_slices, (*s).node) };
        if (node == ANY || snode == node)
            && let Some(i) = find_run(used, n)
        {
            return claim(pool, s, i, n);
        }
        // SAFETY: as above.
        s = unsafe { (*s).next };
    }
    let s = if !pool.spare.is_null() {
        let s = pool.spare;
        pool.spare = ptr::null_mut();
        // SAFETY: the spare segment is live, wholly free and decommitted past its header,
        // so a new policy on its slices places every page faulted in later.
        unsafe {
            if node != ANY && (*s).node != node {
                numa::place(
                    (s as usize + SLICE_SIZE) as *mut u8,
                    SEG_SIZE - SLICE_SIZE,
                    node,
                );
                (*s).node = node;
            }
        }
        s
    } else {
        match new_segment(node) {
            Some(s) => s,
            None => return ptr::null_mut(),
        }
    };
    list_push(pool, s);
    let i = find_run(1, n).expect("an empty segment fits any span");
    claim(pool, s, i, n)
}

fn claim(pool: &mut Pool, s: *mut Segment, i: usize, n: usize) -> *mut Page {
    let mask = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 } << i;
    // SAFETY: `s` is live and under the lock; slices i..i+n are free.
    unsafe {
        (*s).used_slices |= mask;
        for k in i..i + n {
            (*s).slice_head[k].store(i as u8, Ordering::Relaxed);
        }
        if (*s).used_slices == u64::MAX {
            list_remove(pool, s);
        }
        let page = ptr::addr_of_mut!((*s).pages[i]);
        (*page).slices = n as u8;
        (*page).fresh = true;
        (*page)
            .start
            .store(s as usize + i * SLICE_SIZE, Ordering::Relaxed);
        SPAN_BYTES.fetch_add(n * SLICE_SIZE, Ordering::Relaxed);
        page
    }
}

fn new_segment(node: u8) -> Option<*mut Segment> {
    let table = map_table()?;
    let p = os::map_aligned(SEG_SIZE, SEG_SIZE)?;
    // Placed before the header below touches its first page.
    numa::place(p, SEG_SIZE, node);
    let s = p.cast::<Segment>();
    // SAFETY: fresh zeroed mapping, all-zero is a valid Segment apart from the fields set
    // here.
    unsafe {
        (*s).magic = SMALL_MAGIC;
        (*s).used_slices = 1;
        (*s).node = node;
    }
    map_set(p as usize, p as usize, table);
    MAPPED_BYTES.fetch_add(SEG_SIZE, Ordering::Relaxed);
    SPAN_BYTES.fetch_add(SLICE_SIZE, Ordering::Relaxed);
    SEGMENTS.fetch_add(1, Ordering::Relaxed);
    Some(s)
}

/// Returns the span of `page` (used == 0, queued nowhere, already decommitted when
/// `decommitted`) to its segment. Pool lock held.
pub(crate) fn release_span(pool: &mut Pool, page: *mut Page, decommitted: bool) {
    let seg = (page as usize & !SEG_MASK) as *mut Segment;
    // SAFETY: `page` is a descriptor inside a live segment's header, under the lock.
    unsafe {
        let n = (*page).slices as usize;
        let i =
            ((page as usize) - ptr::addr_of!((*seg).pages) as usize) / core::mem::size_of::<Page>();
        let c = (*page).class as usize;
        CLASS_PAGES[c].fetch_sub(1, Ordering::Relaxed);
        SPAN_BYTES.fetch_sub(n * SLICE_SIZE, Ordering::Relaxed);
        if !decommitted {
            os::decommit((seg as usize + i * SLICE_SIZE) as *mut u8, n * SLICE_SIZE);
        }
        (*page).heap.store(ptr::null_mut(), Ordering::Relaxed);
        (*page).magic.store(0, Ordering::Relaxed);
        (*page).cap_shared.store(0, Ordering::Relaxed);
        (*page)
            .thread_free
            .store(ptr::null_mut(), Ordering::Relaxed);
        (*page).slices = 0;
        (*page).free = ptr::null_mut();
        (*page).queue = Q_NONE;
        let mask = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 } << i;
        (*seg).used_slices &= !mask;
        if !(*seg).in_list {
            list_push(pool, seg);
        }
        if (*seg).used_slices == 1 {
            list_remove(pool, seg);
            if pool.spare.is_null() {
                pool.spare = seg;
            } else {
                free_segment(seg);
            }
        }
    }
}

/// Unmaps a wholly free segment.
///
/// # Safety
/// `seg` holds no page and is in no list.
unsafe fn free_segment(seg: *mut Segment) {
    map_clear(seg as usize);
    // SAFETY: the segment is ours, wholly free and unreachable.
    unsafe { os::unmap(seg.cast(), SEG_SIZE) };
    MAPPED_BYTES.fetch_sub(SEG_SIZE, Ordering::Relaxed);
    SPAN_BYTES.fetch_sub(SLICE_SIZE, Ordering::Relaxed);
    SEGMENTS.fetch_sub(1, Ordering::Relaxed);
}

/// Unmaps the spare segment, if any. Pool lock held.
pub(crate) fn drop_spare(pool: &mut Pool) {
    if !pool.spare.is_null() {
        let s = pool.spare;
        pool.spare = ptr::null_mut();
        // SAFETY: the spare segment is wholly free and in no list.
        unsafe { free_segment(s) };
    }
}

/// Sets up `page` for class `c` (its span already claimed).
///
/// # Safety
/// The caller owns `page` (just taken from the pool or from its own empty list) and no
/// block of it is live.
pub(crate) unsafe fn init_page(page: *mut Page, c: usize, heap: *mut Heap) {
    let size = class::size_of(c);
    // SAFETY: the caller owns the descriptor.
    unsafe {
        let span = (*page).slices as usize * SLICE_SIZE;
        let cap = (span / size) as u32;
        (*page).class = c as u8;
        (*page).capacity = cap;
        (*page).bump = 0;
        (*page).used = 0;
        (*page).free = ptr::null_mut();
        (*page).queue = Q_NONE;
        (*page).next = ptr::null_mut();
        (*page).prev = ptr::null_mut();
        (*page).stride.store(size as u32, Ordering::Relaxed);
        (*page).class_shared.store(c as u8, Ordering::Relaxed);
        (*page).cap_shared.store(cap, Ordering::Relaxed);
        (*page)
            .magic
            .store(class::magic_of(size), Ordering::Relaxed);
        (*page).heap.store(heap, Ordering::Release);
    }
    CLASS_PAGES[c].fetch_add(1, Ordering::Relaxed);
}

/// The page descriptor for a pointer inside the small segment at `seg`.
///
/// # Safety
/// `seg` is a live segment's base and `p` lies inside it.
#[inline]
pub(crate) unsafe fn page_of(seg: usize, p: usize) -> *mut Page {
    let s = seg as *mut Segment;
    // The masks keep both indexes in bounds without a branch; for `p` inside the segment
    // they change nothing (and a checked free's `Page::block_of` refuses an address that
    // is not inside the page found).
    let slice = ((p - seg) >> SLICE_SHIFT) & (SLICES - 1);
    // SAFETY: the caller guarantees `s` is a live segment header.
    unsafe {
        let head = (*s).slice_head[slice].load(Ordering::Relaxed) as usize & (SLICES - 1);
        ptr::addr_of_mut!((*s).pages[head])
    }
}

// ---------------------------------------------------------------------------------------
// Large objects.

/// Maps a large object of `size` bytes aligned to `align`; null on failure.
pub(crate) fn large_alloc(size: usize, align: usize) -> *mut u8 {
    let Some(table) = map_table() else {
        return ptr::null_mut();
    };
    let off = large_offset(align);
    if align > SEG_SIZE && align / SEG_SIZE >= 255 {
        return ptr::null_mut();
    }
    let Some(len) = off
        .checked_add(size)
        .and_then(|n| n.checked_add(os::OS_PAGE - 1))
        .map(|n| n & !(os::OS_PAGE - 1))
    else {
        return ptr::null_mut();
    };
    if len > isize::MAX as usize {
        return ptr::null_mut();
    }
    let Some(base) = os::map_aligned(len, align.max(SEG_SIZE)) else {
        return ptr::null_mut();
    };
    numa::place(base, len, numa::want_node());
    let user = base as usize + off;
    let h = base.cast::<Large>();
    // SAFETY: fresh zeroed mapping of at least 64 bytes.
    unsafe {
        (*h).magic = LARGE_MAGIC;
        (*h).user.store(user, Ordering::Relaxed);
        (*h).map_len.store(len, Ordering::Relaxed);
    }
    map_set(base as usize, base as usize, table);
    if user >> SEG_SHIFT != base as usize >> SEG_SHIFT {
        map_set(base as usize, user, table);
    }
    MAPPED_BYTES.fetch_add(len, Ordering::Relaxed);
    LARGE_LIVE.fetch_add(1, Ordering::Relaxed);
    LARGE_BYTES.fetch_add(len, Ordering::Relaxed);
    user as *mut u8
}

/// Unmaps the large object whose header is at `base`.
///
/// # Safety
/// `base` is a live large mapping's header and its object is not used again.
pub(crate) unsafe fn large_free(base: usize) {
    let h = base as *mut Large;
    // SAFETY: the caller guarantees the header is live.
    let (user, len) = unsafe {
        (
            (*h).user.load(Ordering::Relaxed),
            (*h).map_len.load(Ordering::Relaxed),
        )
    };
    if user >> SEG_SHIFT != base >> SEG_SHIFT {
        map_clear(user);
    }
    map_clear(base);
    MAPPED_BYTES.fetch_sub(len, Ordering::Relaxed);
    LARGE_LIVE.fetch_sub(1, Ordering::Relaxed);
    LARGE_BYTES.fetch_sub(len, Ordering::Relaxed);
    // SAFETY: the object is dead and the mapping is ours.
    unsafe { os::unmap(base as *mut u8, len) };
}

/// Bytes usable at the large object whose header is at `base`.
///
/// # Safety
/// `base` is a live large mapping's header.
pub(crate) unsafe fn large_usable(base: usize) -> usize {
    let h = base as *const Large;
    // SAFETY: the caller guarantees the header is live.
    unsafe { base + (*h).map_len.load(Ordering::Relaxed) - (*h).user.load(Ordering::Relaxed) }
}

/// Resizes the large object at `base` in place to hold `new_size` bytes, if its mapping
/// can shrink or grow where it is.
///
/// # Safety
/// `base` is a live large mapping's header.
pub(crate) unsafe fn large_resize(base: usize, new_size: usize) -> bool {
    let h = base as *mut Large;
    // SAFETY: the caller guarantees the header is live.
    unsafe {
        let user = (*h).user.load(Ordering::Relaxed);
        let old = (*h).map_len.load(Ordering::Relaxed);
        let Some(need) = (user - base)
            .checked_add(new_size)
            .and_then(|n| n.checked_add(os::OS_PAGE - 1))
            .map(|n| n & !(os::OS_PAGE - 1))
        else {
            return false;
        };
        if need <= old {
            // Shrink: give back the tail when it is more than a quarter of the mapping.
            if (old - need) * 4 > old {
                os::unmap((base + need) as *mut u8, old - need);
                (*h).map_len.store(need, Ordering::Relaxed);
                MAPPED_BYTES.fetch_sub(old - need, Ordering::Relaxed);
                LARGE_BYTES.fetch_sub(old - need, Ordering::Relaxed);
            }
            return true;
        }
        // Grow by at least an eighth so that a chain of small growths stays linear.
        let want = need.max(old + old / 8).next_multiple_of(os::OS_PAGE);
        for target in [want, need] {
            if os::grow_in_place(base as *mut u8, old, target) {
                (*h).map_len.store(target, Ordering::Relaxed);
                MAPPED_BYTES.fetch_add(target - old, Ordering::Relaxed);
                LARGE_BYTES.fetch_add(target - old, Ordering::Relaxed);
                return true;
            }
        }
        false
    }
}
