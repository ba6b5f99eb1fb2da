//! Slab memory: the on-page header with its allocation bitmap, the off-page metadata that
//! must survive `madvise(MADV_DONTNEED)`, and the chunks of slabs they live in.
//!
//! # Layout
//!
//! A slab is `slab_size` bytes aligned to `slab_size`, so masking any object pointer
//! finds its header (the later `GlobalAlloc` needs exactly that):
//!
//! ```text
//! offset 0            64                 64 + size      64 + cap*size
//! +-------------------+------------------+----- ... ----+--------------+
//! | SlabHeader (64 B) | object 0         | object 1 ... | unused tail  |
//! | bitmap, id, owner |                  |              |              |
//! +-------------------+------------------+----- ... ----+--------------+
//! ```
//!
//! The bitmap has [`WORDS`] words of 63 slot bits each (1 = free) plus a `DETACHED` flag in
//! bit 63 of every word (see [`crate::alloc`] for the protocol that uses it).
//!
//! The per-slot generations, the slab's owner tag (epoch and class) and its list state are
//! kept off-page in [`SlabMeta`] and a generation array: `MADV_DONTNEED` zero-fills the
//! slab's pages, and a stale handle must still meet the generation it was issued with
//! advanced, never a reset one.
//!
//! # Memory
//!
//! Slabs are carved from chunks mapped with `mmap` and never unmapped while the allocator
//! lives, so validating any in-range handle, or touching the header of any slab that was
//! ever published, is always an access to mapped memory. Under Miri and loom, which model
//! neither `mmap` nor `madvise`, the same helper takes chunks from the heap and
//! `discard` is a no-op.

use crate::sync::{AtomicU8, AtomicU32, AtomicU64};
use std::ptr::NonNull;

/// Bytes reserved for the header at the start of every slab.
pub(crate) const HEADER_SIZE: usize = 64;
/// Most slots a slab can have (the handle's 8-bit slot field).
pub(crate) const MAX_SLOTS: usize = 256;
/// Slot bits per bitmap word; bit 63 is the `DETACHED` flag.
pub(crate) const SLOTS_PER_WORD: usize = 63;
/// Bitmap words in a header.
pub(crate) const WORDS: usize = MAX_SLOTS.div_ceil(SLOTS_PER_WORD);
/// Bit 63 of every bitmap word: set while the slab is detached as full.
pub(crate) const DETACHED: u64 = 1 << 63;
/// The slot bits of a bitmap word.
pub(crate) const SLOT_BITS: u64 = !DETACHED;

// === slot words ===
//
// One `AtomicU32` per slot, off-page: `generation | LIVE` while the slot holds an
// object, `generation` while it is free, `RETIRED` forever once its generation is spent.

/// Generation bits of a slot word.
pub(crate) const GEN_MASK: u32 = (1 << 24) - 1;
/// Set while the slot holds an object.
pub(crate) const LIVE: u32 = 1 << 24;
/// The slot's generations are exhausted; it is never handed out again.
pub(crate) const RETIRED: u32 = 1 << 25;

// === slab states (SlabMeta::state) ===

/// Never assigned.
pub(crate) const S_UNUSED: u8 = 0;
/// Published as some (epoch, class)'s `current_partial`.
pub(crate) const S_CURRENT: u8 = 1;
/// On some (epoch, class)'s partial list.
pub(crate) const S_PARTIAL: u8 = 2;
/// Detached as full; the first free that sees `DETACHED` puts it back.
pub(crate) const S_FULL: u8 = 3;
/// Its epoch closed; recycled by whoever sees it empty.
pub(crate) const S_ORPHAN: u8 = 4;
/// In a class cache or overflow list, every bitmap bit claimed by the recycler.
pub(crate) const S_CACHED: u8 = 5;

/// The on-page header. Zeroed memory is a valid header (no free slots), which is what a
/// slab whose pages were discarded reads as.
#[repr(C, align(64))]
pub(crate) struct SlabHeader {
    /// Allocation bitmap: slot bits (1 = free) and the `DETACHED` flag.
    pub(crate) bits: [AtomicU64; WORDS],
    /// Registry index of this slab (for pointer-to-handle lookups by masking).
    pub(crate) slab_id: AtomicU32,
    /// Class served now (a copy of the owner tag's class, for the same lookups).
    pub(crate) class: AtomicU32,
    /// Bits not free in `bits` (held by objects or by `Local` magazines), give or take
    /// claims and releases in flight; whoever brings it to 0 in an orphaned slab tries to
    /// recycle it.
    pub(crate) claimed: AtomicU32,
}

const _: () = assert!(std::mem::size_of::<SlabHeader>() == HEADER_SIZE);

impl SlabHeader {
    pub(crate) fn new() -> SlabHeader {
        SlabHeader {
            bits: std::array::from_fn(|_| AtomicU64::new(0)),
            slab_id: AtomicU32::new(0),
            class: AtomicU32::new(0),
            claimed: AtomicU32::new(0),
        }
    }
}

/// Off-page state of one slab.
pub(crate) struct SlabMeta {
    /// `owner_tag(epoch, class)` while assigned; 0 while unused or cached.
    pub(crate) owner: AtomicU64,
    /// One of the `S_*` states; changed under the owning (epoch, class) lock, except
    /// ORPHAN -> CACHED, which only the thread that claimed every bitmap bit performs.
    pub(crate) state: AtomicU8,
}

impl SlabMeta {
    fn new() -> SlabMeta {
        SlabMeta {
            owner: AtomicU64::new(0),
            state: AtomicU8::new(S_UNUSED),
        }
    }
}

/// The owner tag of slabs assigned to `epoch` (an id) and `class`; never 0.
#[inline]
pub(crate) fn owner_tag(epoch: u64, class: u8) -> u64 {
    ((epoch + 1) << 8) | class as u64
}

/// The epoch id of an owner tag (meaningless for 0).
#[inline]
pub(crate) fn tag_epoch(tag: u64) -> u64 {
    (tag >> 8).wrapping_sub(1)
}

/// The slot word a free of `w`'s object leaves (`w` itself if it holds none), and 1 if
/// that free retires the slot.
#[inline(always)]
fn killed_word(w: u32) -> (u32, u32) {
    let generation = w & GEN_MASK;
    if w & LIVE == 0 || w & RETIRED != 0 {
        (w, 0)
    } else if generation == GEN_MASK {
        (RETIRED, 1)
    } else {
        (generation + 1, 0)
    }
}

/// Bitmap mask of the first `cap` slots, per word.
pub(crate) fn full_masks(cap: usize) -> [u64; WORDS] {
    std::array::from_fn(|w| {
        let lo = w * SLOTS_PER_WORD;
        let n = cap.saturating_sub(lo).min(SLOTS_PER_WORD);
        if n == 0 { 0 } else { (1u64 << n) - 1 }
    })
}

/// Slot words per cache line.
const WORDS_PER_LINE: usize = 16;

/// One cache line of slot words.
#[repr(C, align(64))]
struct GenLine([AtomicU32; WORDS_PER_LINE]);

// A slice of lines is a contiguous array of slot words (see `Chunk::slot_words`).
const _: () =
    assert!(std::mem::size_of::<GenLine>() == WORDS_PER_LINE * std::mem::size_of::<AtomicU32>());

// === impl Chunk ===

/// `slabs` consecutive slabs of one size class with their metadata. Created on demand,
/// freed only when the allocator is dropped. Slabs never change class (a recycled slab
/// goes back to its class's cache), so the slot words are sized for that class.
///
/// Everything a handle validation reads (class, capacity, object size, the slot words'
/// and slabs' addresses) sits in the first cache line.
#[repr(C, align(64))]
pub(crate) struct Chunk {
    /// The size class of every slab in the chunk.
    pub(crate) class: u8,
    /// Slabs handed out so far (a prefix of the chunk); only grows.
    pub(crate) used: AtomicU32,
    /// Object slots per slab (the class's capacity).
    pub(crate) cap: u32,
    /// Object size of the class.
    pub(crate) size: u32,
    /// First slab; aligned to `slab_size`; `slabs * slab_size` bytes, mapped until drop.
    base: NonNull<u8>,
    /// The slot words, `lines_per_slab` cache lines per slab, so that threads working in
    /// different slabs never CAS words of one line.
    gens: Box<[GenLine]>,
    lines_per_slab: usize,
    slab_size: usize,
    len: usize,
    pub(crate) metas: Box<[SlabMeta]>,
}

// SAFETY: `base` is only an address of memory the chunk owns; all shared state reached
// through it is atomic.
unsafe impl Send for Chunk {}
// SAFETY: as above; `&Chunk` gives access to atomics only.
unsafe impl Sync for Chunk {}

impl Chunk {
    /// Maps `slabs` slabs of `slab_size` bytes for `class`, with `slots_per_slab` objects
    /// of `size` bytes and as many slot words each, all at generation
    /// `initial_generation`.
    pub(crate) fn new(
        class: u8,
        slabs: usize,
        slab_size: usize,
        (slots_per_slab, size): (usize, u32),
        initial_generation: u32,
    ) -> Option<Chunk> {
        let len = slabs * slab_size;
        let lines_per_slab = slots_per_slab.div_ceil(WORDS_PER_LINE);
        // The tables first (fallibly), then the mapping, so that a failure leaks nothing.
        let metas = crate::alloc::try_boxed(slabs, |_| SlabMeta::new()).ok()?;
        let gens = crate::alloc::try_boxed(slabs * lines_per_slab, |_| {
            GenLine(std::array::from_fn(|_| AtomicU32::new(initial_generation)))
        })
        .ok()?;
        let base = map(len, slab_size)?;
        Some(Chunk {
            class,
            used: AtomicU32::new(0),
            cap: slots_per_slab as u32,
            size,
            base,
            len,
            slab_size,
            metas,
            gens,
            lines_per_slab,
        })
    }

    /// The slab at index `i` of this chunk.
    #[inline]
    pub(crate) fn slab(&self, i: usize) -> NonNull<u8> {
        debug_assert!(i * self.slab_size < self.len);
        // SAFETY: `i * slab_size < len`, so the offset stays inside the mapping.
        unsafe { self.base.add(i * self.slab_size) }
    }

    /// The header of slab `i`.
    #[inline]
    pub(crate) fn header(&self, i: usize) -> &SlabHeader {
        // SAFETY: every slab starts with a header-sized, 64-aligned region that stays mapped
        // while `self` lives; zeroed bytes are a valid `SlabHeader` (atomics of 0) and it
        // is only ever accessed through atomics.
        unsafe { self.slab(i).cast::<SlabHeader>().as_ref() }
    }

    /// The slot word of slot `slot` of slab `i`.
    #[inline]
    pub(crate) fn slot_word(&self, i: usize, slot: usize) -> &AtomicU32 {
        &self.gens[i * self.lines_per_slab + slot / WORDS_PER_LINE].0[slot % WORDS_PER_LINE]
    }

    /// The first `n` slot words of slab `i`, as one slice (word `s` is slot `s`'s).
    ///
    /// Panics if `n` exceeds the slab's words (`lines_per_slab * WORDS_PER_LINE`).
    #[inline]
    pub(crate) fn slot_words(&self, i: usize, n: usize) -> &[AtomicU32] {
        let lines = &self.gens[i * self.lines_per_slab..(i + 1) * self.lines_per_slab];
        assert!(n <= lines.len() * WORDS_PER_LINE);
        // `GenLine` is `repr(C)` with one field, an array of `WORDS_PER_LINE` `AtomicU32`,
        // and no padding (asserted at compile time).
        // SAFETY: so `lines` is a contiguous, initialized array of `lines.len() *
        // WORDS_PER_LINE` slot words, of which we borrow the first `n` for as long as `self`.
        unsafe { std::slice::from_raw_parts(lines.as_ptr().cast::<AtomicU32>(), n) }
    }

    /// The byte at offset `off` of the chunk's slab memory.
    ///
    /// # Safety
    ///
    /// - `off < slabs * slab_size` (the offset stays inside the mapping).
    #[inline(always)]
    pub(crate) unsafe fn at(&self, off: usize) -> NonNull<u8> {
        debug_assert!(off < self.len);
        // SAFETY: the caller keeps `off` inside the mapping of `len` bytes.
        unsafe { self.base.add(off) }
    }

    /// Byte offset of slab `i` from the chunk's start.
    #[inline]
    pub(crate) fn slab_offset(&self, i: usize) -> usize {
        i * self.slab_size
    }

    /// Returns the pages of slab `i` to the OS (its contents read as zero afterwards).
    pub(crate) fn discard(&self, i: usize) {
        discard(self.slab(i), self.slab_size);
    }

    /// Returns the pages of slabs `i..i + n` to the OS with one call.
    pub(crate) fn discard_run(&self, i: usize, n: usize) {
        debug_assert!((i + n) * self.slab_size <= self.len);
        discard(self.slab(i), n * self.slab_size);
    }

    /// Kills every live object of slab `i` at once: each of its first `n` slot words
    /// that says `generation | LIVE` (with any owner tag) moves to `generation + 1`, or to
    /// `RETIRED` at the wrap, exactly as a `free` of it would; free and retired words are
    /// left as they are. Returns the number of slots retired.
    ///
    /// A pass over the slab's off-page slot words only (no object page is touched), with
    /// plain loads and stores the compiler can vectorise.
    ///
    /// # Safety
    ///
    /// - No other thread reads or writes slab `i`'s slot words during the call, and what
    ///   they read afterwards is ordered after it (the caller holds the allocator by
    ///   `&mut`).
    pub(crate) unsafe fn kill_all_slots(&self, i: usize, n: usize) -> u32 {
        let words = self.slot_words(i, n);
        #[cfg(not(ebb_loom))]
        {
            // SAFETY: `AtomicU32` has the size, alignment and bit validity of `u32`, and
            // its `UnsafeCell` allows writing through a pointer derived from `&`; the
            // caller guarantees no other access to these words while the slice lives.
            let plain = unsafe {
                std::slice::from_raw_parts_mut(words.as_ptr().cast::<u32>().cast_mut(), n)
            };
            let mut retired = 0;
            for w in plain {
                let (next, r) = killed_word(*w);
                *w = next;
                retired += r;
            }
            retired
        }
        #[cfg(ebb_loom)]
        {
            use crate::sync::Ordering::Relaxed;
            let mut retired = 0;
            for w in words {
                let (next, r) = killed_word(w.load(Relaxed));
                w.store(next, Relaxed);
                retired += r;
            }
            retired
        }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` came from `map(len, slab_size)`, and the allocator drops a
        // chunk only when no handle or `Local` can reach it any more.
        unsafe { unmap(self.base, self.len, self.slab_size) }
    }
}

// === memory backing ===

#[cfg(not(any(miri, ebb_loom)))]
fn map(len: usize, align: usize) -> Option<NonNull<u8>> {
    let total = len + align;
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches
    // no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    let start = p as usize;
    let aligned = (start + align - 1) & !(align - 1);
    let head = aligned - start;
    let tail = total - head - len;
    // SAFETY: the head and tail ranges lie inside the mapping just made and nothing
    // refers to them; unmapping them leaves `[aligned, aligned + len)` mapped.
    unsafe {
        if head > 0 {
            libc::munmap(p, head);
        }
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
    }
    NonNull::new(aligned as *mut u8)
}

/// # Safety
///
/// - `base` and `len` come from one `map(len, align)` call, and nothing uses the range
///   afterwards.
#[cfg(not(any(miri, ebb_loom)))]
unsafe fn unmap(base: NonNull<u8>, len: usize, _align: usize) {
    // SAFETY: the caller guarantees the range is ours and unused.
    unsafe { libc::munmap(base.as_ptr().cast(), len) };
}

#[cfg(not(any(miri, ebb_loom)))]
fn discard(p: NonNull<u8>, len: usize) {
    // SAFETY: `p..p+len` is one slab inside a live mapping; MADV_DONTNEED on private
    // anonymous memory only makes its pages read as zero on next touch, which is a valid
    // state for the slab (a zeroed header has no free slots).
    unsafe { libc::madvise(p.as_ptr().cast(), len, libc::MADV_DONTNEED) };
}

#[cfg(any(miri, ebb_loom))]
fn map(len: usize, align: usize) -> Option<NonNull<u8>> {
    let layout = std::alloc::Layout::from_size_align(len, align).ok()?;
    // SAFETY: `layout` has a non-zero size (at least one slab).
    NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
}

/// # Safety
///
/// - `base` and `len` come from one `map(len, align)` call, and nothing uses the range
///   afterwards.
#[cfg(any(miri, ebb_loom))]
unsafe fn unmap(base: NonNull<u8>, len: usize, align: usize) {
    let layout = std::alloc::Layout::from_size_align(len, align).expect("layout was valid at map");
    // SAFETY: the caller guarantees `base` came from `alloc_zeroed(layout)`.
    unsafe { std::alloc::dealloc(base.as_ptr(), layout) };
}

#[cfg(any(miri, ebb_loom))]
fn discard(_p: NonNull<u8>, _len: usize) {}
