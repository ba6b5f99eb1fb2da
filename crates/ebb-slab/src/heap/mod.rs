//! The page heap: a general-purpose allocator addressed by pointer, and [`EbbAlloc`], its
//! [`GlobalAlloc`] face.
//!
//! Memory comes from the OS in 4 MiB *segments* (64 slices of 64 KiB; slice 0 is the
//! segment's header with every page descriptor) and, above [`MAX_CLASS_SIZE`], from a
//! mapping per object, unmapped on free. Small and medium requests go to one of
//! [`NUM_CLASSES`] size classes (spacing at most 12.5% above 64 bytes), each served from
//! *pages* owned by a thread heap: a thread allocates and frees its own objects with plain
//! loads and stores, frees from other threads go to a per-page atomic list collected in
//! batches. All metadata lives in memory the heap maps itself; the heap never calls the
//! global allocator, so it can be the global allocator. `docs/global.md` in the
//! repository has the design note.
//!
//! ```
//! use std::alloc::{GlobalAlloc, Layout};
//! use ebb_slab::EbbAlloc;
//!
//! static A: EbbAlloc = EbbAlloc::new();
//! let layout = Layout::from_size_align(100, 64).unwrap();
//! // SAFETY: the layout has a non-zero size; the block is freed with the same layout.
//! unsafe {
//!     let p = A.alloc(layout);
//!     assert!(!p.is_null() && (p as usize).is_multiple_of(64));
//!     p.write_bytes(1, 100);
//!     A.dealloc(p, layout);
//! }
//! assert!(EbbAlloc::stats().mapped_bytes > 0);
//! ```

mod class;
mod numa;
mod os;
mod segment;
pub(crate) mod tfree;
mod thread;

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;
use core::sync::atomic::Ordering;

pub use class::{MAX_CLASS_SIZE, NUM_CLASSES};
pub use numa::{
    MAX_CPUS, MAX_NODES, NumaError, NumaPolicy, NumaSource, NumaState, NumaStats, SysFile,
};

use segment::{LARGE_MAGIC, SEG_MASK, SEG_SIZE, SMALL_MAGIC};

/// Writes `ebb: <msg> (0x<addr>)` to standard error and aborts, as glibc does for a
/// corrupted heap. Used for double frees and frees of pointers the heap never handed out.
#[cold]
pub(crate) fn fatal(msg: &[u8], addr: usize) -> ! {
    let mut buf = [0u8; 256];
    let mut n = 0;
    for &b in b"ebb: "
        .iter()
        .chain(msg.iter().take(200))
        .chain(b" (0x".iter())
    {
        buf[n] = b;
        n += 1;
    }
    let mut digits = [0u8; 16];
    for (i, d) in digits.iter_mut().enumerate() {
        let v = (addr >> ((15 - i) * 4)) & 0xf;
        *d = b"0123456789abcdef"[v];
    }
    let first = digits.iter().position(|&d| d != b'0').unwrap_or(15);
    for &d in &digits[first..] {
        buf[n] = d;
        n += 1;
    }
    buf[n] = b')';
    buf[n + 1] = b'\n';
    os::write_stderr(&buf[..n + 2]);
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// The global allocator built on the page heap.
///
/// ```
/// use ebb_slab::EbbAlloc;
/// #[global_allocator]
/// static GLOBAL: EbbAlloc = EbbAlloc::new();
/// # fn main() { let v = vec![1u8; 100]; assert_eq!(v.len(), 100); }
/// ```
///
/// All instances share one heap (the process's), so any number of `EbbAlloc` values may
/// exist; `new` is `const` so the static needs no runtime initialisation, and the heap
/// sets itself up on first use, before `main` if need be.
#[derive(Debug, Clone, Copy, Default)]
pub struct EbbAlloc {
    /// The NUMA policy asked for, encoded (0 for none).
    numa: u32,
}

impl EbbAlloc {
    /// The allocator (a handle to the process's page heap). Its NUMA placement comes from
    /// `EBB_NUMA` when set (see [`NumaPolicy::parse`]).
    pub const fn new() -> Self {
        EbbAlloc { numa: 0 }
    }

    /// The allocator, asking for NUMA placement `policy`. The process's policy is fixed
    /// when the heap maps its first memory: the policy of the first `EbbAlloc` to allocate
    /// wins over `EBB_NUMA`; one given later changes nothing. [`HeapStats::numa`] says
    /// what was applied.
    ///
    /// ```
    /// use ebb_slab::{EbbAlloc, heap::NumaPolicy};
    /// #[global_allocator]
    /// static GLOBAL: EbbAlloc = EbbAlloc::with_numa(NumaPolicy::Local);
    /// # fn main() { let v = vec![1u8; 100]; assert_eq!(v.len(), 100);
    /// # assert_eq!(EbbAlloc::stats().numa.policy, Some(NumaPolicy::Local)); }
    /// ```
    pub const fn with_numa(policy: NumaPolicy) -> Self {
        EbbAlloc {
            numa: numa::encode(Some(policy)),
        }
    }

    /// Returns to the OS, now, every page of the calling thread's heap and of the shared
    /// heaps (the fallback heap, pages abandoned by exited threads) that holds no live
    /// object, and the spare segment. Other live threads' empty pages are returned by
    /// their own slow paths after [`PURGE_DELAY_MS`].
    pub fn collect() {
        thread::collect_now();
    }

    /// Runs `f` in a *phase*: the calling thread's allocations during `f` come from a
    /// heap of the phase's own, and when `f` returns (or unwinds) the pages of that heap
    /// holding no live object go back to the OS at once. Objects that outlive the phase
    /// stay where they are and stay valid; they are freed as usual, from any thread, and
    /// each of their pages is returned (or reused by a thread needing a page of its size
    /// class) once its last object is freed.
    ///
    /// A phase covers the calling thread only: other threads, including threads spawned
    /// in `f`, allocate from their own heaps, and phases on several threads at once are
    /// independent. Phases nest: an inner phase's heap is given up when the inner phase
    /// ends, and the outer phase's heap is the thread's again. Objects allocated before
    /// the phase may be freed in it. A thread without a heap of its own (in a
    /// thread-local destructor after its heap has been given up) runs `f` without a
    /// phase.
    ///
    /// ```
    /// use ebb_slab::EbbAlloc;
    /// #[global_allocator]
    /// static GLOBAL: EbbAlloc = EbbAlloc::new();
    /// # fn main() {
    /// let kept = EbbAlloc::phase(|| {
    ///     let scratch: Vec<Vec<u8>> = (0..10_000).map(|i| vec![i as u8; 200]).collect();
    ///     scratch[7].clone() // survives the phase
    /// });
    /// assert_eq!(kept, vec![7u8; 200]);
    /// # }
    /// ```
    pub fn phase<R>(f: impl FnOnce() -> R) -> R {
        struct End(Option<(*mut thread::Heap, *mut thread::Heap)>);
        impl Drop for End {
            fn drop(&mut self) {
                if let Some((outer, inner)) = self.0 {
                    // SAFETY: the pair came from `phase_begin` on this thread (the guard
                    // is not `Send`), phases nest with the call stack, and `drop` runs
                    // once.
                    unsafe { thread::phase_end(outer, inner) };
                }
            }
        }
        let _end = End(thread::phase_begin());
        f()
    }

    /// A snapshot of the heap's counters. Counters are updated without synchronisation
    /// between threads, so a snapshot taken while other threads allocate is approximate.
    pub fn stats() -> HeapStats {
        stats()
    }
}

/// How long (milliseconds) an empty page waits before its memory is returned to the OS.
pub const PURGE_DELAY_MS: u64 = thread::PURGE_DELAY_MS;

/// One size class in [`HeapStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// The class's block size in bytes.
    pub size: usize,
    /// Objects allocated and not yet freed (frees still queued from other threads count as
    /// live until collected).
    pub live_objects: u64,
    /// Pages (64 KiB or 1 MiB spans) currently set up for the class.
    pub pages: usize,
}

/// A snapshot of the page heap, from [`EbbAlloc::stats`].
#[derive(Debug, Clone, Copy)]
pub struct HeapStats {
    /// Per size class, ascending.
    pub classes: [ClassStats; NUM_CLASSES],
    /// Bytes mapped from the OS: segments, large objects, heap descriptors.
    pub mapped_bytes: usize,
    /// Bytes of spans set up as pages plus segment headers: an upper bound on the small
    /// objects' resident memory.
    pub committed_bytes: usize,
    /// Bytes in live small and medium objects (live objects times block size).
    pub allocated_bytes: usize,
    /// Large objects live, and the bytes of their mappings.
    pub large_objects: usize,
    /// Bytes mapped for large objects.
    pub large_bytes: usize,
    /// Segments mapped.
    pub segments: usize,
    /// Thread heaps in use (a thread in a phase has two).
    pub heaps: usize,
    /// Phases running now ([`EbbAlloc::phase`]), on every thread.
    pub phases: usize,
    /// NUMA placement: the policy, the nodes, and whether it is applied or a no-op and why.
    pub numa: NumaStats,
}

fn stats() -> HeapStats {
    let mut classes = [ClassStats::default(); NUM_CLASSES];
    let mut allocs = [0u64; NUM_CLASSES];
    let mut frees = [0u64; NUM_CLASSES];
    let mut h = thread::ALL_HEAPS.load(Ordering::Acquire);
    while !h.is_null() {
        // SAFETY: heap descriptors are never unmapped; counters are atomics.
        unsafe {
            for c in 0..NUM_CLASSES {
                allocs[c] += (*h).allocs[c].load(Ordering::Relaxed);
                frees[c] += (*h).frees[c].load(Ordering::Relaxed);
            }
            h = (*h).all_next;
        }
    }
    let mut allocated = 0;
    for (c, cs) in classes.iter_mut().enumerate() {
        cs.size = class::size_of(c);
        let f = frees[c] + thread::SWEPT_FREES[c].load(Ordering::Relaxed);
        cs.live_objects = allocs[c].saturating_sub(f);
        cs.pages = segment::CLASS_PAGES[c].load(Ordering::Relaxed);
        allocated += cs.live_objects as usize * cs.size;
    }
    HeapStats {
        classes,
        mapped_bytes: segment::MAPPED_BYTES.load(Ordering::Relaxed),
        committed_bytes: segment::SPAN_BYTES.load(Ordering::Relaxed),
        allocated_bytes: allocated,
        large_objects: segment::LARGE_LIVE.load(Ordering::Relaxed),
        large_bytes: segment::LARGE_BYTES.load(Ordering::Relaxed),
        segments: segment::SEGMENTS.load(Ordering::Relaxed),
        heaps: thread::HEAPS_LIVE.load(Ordering::Relaxed),
        phases: thread::PHASES_LIVE.load(Ordering::Relaxed),
        numa: numa::stats(),
    }
}

// ---------------------------------------------------------------------------------------
// The allocation API by pointer, shared by EbbAlloc and the C malloc.

/// Allocates `size` bytes aligned to `align` (a power of two); null when memory is
/// exhausted or the request cannot be represented. `size` 0 is served as 1.
#[inline(always)]
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    alloc_in(size, align, false, 0)
}

/// As [`alloc`], with the bytes zeroed (fresh pages from the OS are not written again).
#[inline(always)]
pub fn alloc_zeroed(size: usize, align: usize) -> *mut u8 {
    alloc_in(size, align, true, 0)
}

/// Allocation with `numa`, an encoded policy request its cold paths pass on.
#[inline(always)]
fn alloc_in(size: usize, align: usize, zero: bool, numa: u32) -> *mut u8 {
    debug_assert!(align.is_power_of_two());
    match class::class_for(size, align) {
        Some(c) => thread::alloc_class(c, zero, numa),
        None => {
            numa::request(numa);
            segment::large_alloc(size.max(1), align)
        }
    }
}

/// The start of the heap mapping holding `p`, when `p` is the heap's.
#[inline]
fn base_of(p: *mut u8, align: usize) -> usize {
    if align < SEG_SIZE {
        p as usize & !SEG_MASK
    } else {
        segment::owner_base(p as usize).unwrap_or(0)
    }
}

/// Frees `p`.
///
/// # Safety
/// `p` was returned by this heap ([`alloc`], [`alloc_zeroed`], [`realloc`]) with an
/// alignment of at most `align` and is not used again.
#[inline]
pub unsafe fn free(p: *mut u8, align: usize) {
    // SAFETY: the caller guarantees `p` is a live object of ours, so `base_of` is the
    // start of its segment or large mapping, whose first word is the magic.
    unsafe { free_at(p, base_of(p, align)) }
}

/// Why [`check`] refused a pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPointer {
    /// The heap never handed out this address (not in its memory, or not the start of a
    /// block).
    NotOurs,
    /// The block is already free.
    DoubleFree,
}

/// Checks that `p` is the start of a live object of this heap (the page map, the page's
/// geometry and the object's allocation bit); the object's usable size on success.
///
/// The check reads only the heap's own memory. It is exact for objects freed by the
/// calling thread; a block freed by another thread and still queued for its owner
/// counts as live until the owner collects it.
pub fn check(p: *mut u8) -> Result<usize, BadPointer> {
    let (base, page, _) = locate(p)?;
    if page.is_null() {
        // SAFETY: `locate` found the large object whose header is at `base`.
        Ok(unsafe { segment::large_usable(base) })
    } else {
        // SAFETY: `locate` found `p` in `page`, a descriptor in a live segment header.
        Ok(unsafe { (*page).stride.load(Ordering::Relaxed) as usize })
    }
}

/// What [`check`] finds: the mapping's start, the page (null for a large object) and
/// the block's index in its page.
#[inline(always)]
fn locate(p: *mut u8) -> Result<(usize, *mut segment::Page, usize), BadPointer> {
    let a = p as usize;
    let base = segment::owner_base(a).ok_or(BadPointer::NotOurs)?;
    // SAFETY: the page map says `base` starts a live heap mapping, whose header is mapped.
    unsafe {
        let magic = *(base as *const u64);
        if magic == SMALL_MAGIC {
            // The descriptor of the page holding `a`. A pointer into slice 0 (the
            // header) finds `pages[0]`, which is never a page (slice 0 is never claimed):
            // its multiplier and capacity are 0, so `block_of` refuses it. The geometry
            // (start, multiplier, capacity) is on the descriptor's first line; one
            // multiply gives the index and rejects interior pointers.
            let page = segment::page_of(base, a);
            let i = (*page).block_of(a).ok_or(BadPointer::NotOurs)?;
            if !(*page).bit(i) {
                return Err(BadPointer::DoubleFree);
            }
            Ok((base, page, i))
        } else {
            // SAFETY: as above.
            locate_large(base, a, magic)
        }
    }
}

/// [`locate`] for a mapping that is not a small segment: a large object whose address is
/// `a`, or an error.
///
/// # Safety
/// `base` starts a live heap mapping and `magic` is its first word.
#[cold]
unsafe fn locate_large(
    base: usize,
    a: usize,
    magic: u64,
) -> Result<(usize, *mut segment::Page, usize), BadPointer> {
    if magic != LARGE_MAGIC {
        return Err(BadPointer::NotOurs);
    }
    let h = base as *const segment::Large;
    // SAFETY: the caller guarantees `base` starts a live mapping; with this magic it is
    // a large object's, whose header is a `Large`.
    if unsafe { (*h).user.load(Ordering::Relaxed) } != a {
        return Err(BadPointer::NotOurs);
    }
    Ok((base, ptr::null_mut(), 0))
}

/// The bytes usable at `p`, at least the size it was allocated with.
///
/// # Safety
/// `p` is a live object of this heap allocated with an alignment of at most `align`.
pub unsafe fn usable_size(p: *mut u8, align: usize) -> usize {
    let base = base_of(p, align);
    // SAFETY: as in `free`.
    unsafe {
        if *(base as *const u64) == SMALL_MAGIC {
            let page = segment::page_of(base, p as usize);
            (*page).stride.load(Ordering::Relaxed) as usize
        } else {
            segment::large_usable(base)
        }
    }
}

/// Resizes the object at `p` (allocated with alignment `align`) to `new_size` bytes,
/// in place when its block or mapping allows, else by moving it; null (and `p` still
/// live) when memory is exhausted.
///
/// # Safety
/// `p` is a live object of this heap allocated with an alignment of at most `align`,
/// and is not used again unless null is returned.
pub unsafe fn realloc(p: *mut u8, align: usize, new_size: usize) -> *mut u8 {
    // SAFETY: forwarded from the caller.
    unsafe { realloc_at(p, base_of(p, align), align, new_size) }
}

/// Frees `p` after [`check`]ing it; the error when it is not a live object of this heap
/// (then nothing is changed).
///
/// # Safety
/// If `p` is a live object of this heap, nothing uses it after this call.
#[inline(always)]
pub unsafe fn free_checked(p: *mut u8) -> Result<(), BadPointer> {
    let (base, page, i) = locate(p)?;
    // SAFETY: `locate` found `p` to be block `i` of `page` with its allocation bit set
    // (or the large object at `base`).
    unsafe {
        if page.is_null() {
            segment::large_free(base);
        } else {
            thread::free_checked_block(page, p, i);
        }
    }
    Ok(())
}

/// Resizes `p` (any alignment, found from the page map) to `new_size` bytes aligned to
/// 16 if it moves, after [`check`]ing it. `Ok(null)` when memory is exhausted (and `p`
/// is still live).
///
/// # Safety
/// If `p` is a live object of this heap, nothing uses it after this call unless the call
/// returns `Ok(null)` or an error.
pub unsafe fn realloc_checked(p: *mut u8, new_size: usize) -> Result<*mut u8, BadPointer> {
    let (base, _, _) = locate(p)?;
    // SAFETY: `check` found `p` live with its mapping at `base`.
    Ok(unsafe { realloc_at(p, base, 16, new_size) })
}

/// # Safety
/// `p` is live and `base` is the start of its segment or large mapping.
#[inline]
unsafe fn free_at(p: *mut u8, base: usize) {
    // SAFETY: the caller guarantees `base` starts a live mapping holding `p`.
    unsafe {
        if *(base as *const u64) == SMALL_MAGIC {
            thread::free_block(segment::page_of(base, p as usize), p);
        } else {
            segment::large_free(base);
        }
    }
}

/// # Safety
/// As [`realloc`], with `base` the start of `p`'s mapping.
unsafe fn realloc_at(p: *mut u8, base: usize, align: usize, new_size: usize) -> *mut u8 {
    let new_size = new_size.max(1);
    // SAFETY: the caller guarantees `p` is live in the mapping at `base`.
    unsafe {
        let old = if *(base as *const u64) == SMALL_MAGIC {
            let page = segment::page_of(base, p as usize);
            let stride = (*page).stride.load(Ordering::Relaxed) as usize;
            if new_size <= stride && (p as usize).is_multiple_of(align) {
                // Stay unless the new size belongs to a class more than one doubling lower.
                let c = class::class_for_size(stride);
                match class::class_for(new_size, align) {
                    Some(nc) if nc + 8 >= c => return p,
                    _ => {}
                }
            }
            stride
        } else {
            if new_size > MAX_CLASS_SIZE
                && (p as usize).is_multiple_of(align)
                && segment::large_resize(base, new_size)
            {
                return p;
            }
            segment::large_usable(base)
        };
        let q = alloc_in(new_size, align, false, 0);
        if q.is_null() {
            return q;
        }
        ptr::copy_nonoverlapping(p, q, old.min(new_size));
        free_at(p, base);
        q
    }
}

// SAFETY: every method returns memory of the requested size and alignment that no other
// live allocation overlaps (blocks are handed out once until freed; large objects have
// mappings of their own), or null; `dealloc`/`realloc` accept exactly what `alloc`
// returned. The heap never calls the global allocator.
unsafe impl GlobalAlloc for EbbAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        alloc_in(layout.size(), layout.align(), false, self.numa)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        alloc_in(layout.size(), layout.align(), true, self.numa)
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: GlobalAlloc's contract: `p` came from this allocator with `layout`.
        unsafe { free(p, layout.align()) }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract, as for dealloc.
        unsafe { realloc(p, layout.align(), new_size) }
    }
}

#[cfg(all(test, not(miri)))]
mod tests;
