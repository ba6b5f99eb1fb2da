//! Transmigration: moving an object graph from one region into another.
//!
//! # The copying collector ([`transmigrate`])
//!
//! A Cheney-style copy driven by [`Trace`] metadata, with three of the seed's ideas:
//!
//! * **Explicit worklist.** Copying an object pushes `(copy, scan function)`; the loop
//!   pops and scans until the list is empty, so a ten-million-cell list uses no stack.
//! * **Tail loop.** The child copied *last* while scanning an object is not pushed but
//!   scanned next, directly: a list's `cdr` (the last field) is followed by a loop that
//!   never touches the worklist.
//! * **Bitmap over the source's words.** One bit per 8-byte word of each source block the
//!   graph reaches (materialised block by block on first touch) says whether the object
//!   starting there has been copied; a forwarding table beside it, indexed the same way
//!   and never cleared (the bit says whether an entry is valid), gives its copy. Sharing
//!   and cycles are preserved: a second path to an object finds its bit set and points at
//!   the same copy. The block of a source object is found by masking its address (blocks
//!   are aligned to their size); its slot is that of one of the two blocks looked up last,
//!   or found in a small table from block base to slot ([`BlockMap`]), the block's header
//!   being read only when the graph first reaches it. Pointers that the source accepts but
//!   that lie outside its own blocks (into regions it adopted or spliced) go through a
//!   small hash map.
//! * **Prefetching.** An object copied by its own allocation has its children's source
//!   objects and bitmap and forwarding entries prefetched at once ([`Prefetcher`]); in a
//!   large source it then waits in a short FIFO (the delay line, [`Tables::delay`]) before
//!   it is scanned, so that the cache misses of several objects' children overlap.
//!
//! A pointer the source does not accept (into a third region, or a freed one) stops the
//! copy with [`RegionError::Foreign`]; what was copied before stays in the destination,
//! unreachable, until it is freed.
//!
//! # Without copying
//!
//! * [`adopt`]: the destination takes the whole source region (O(1)); its pointers stay
//!   valid through the destination.
//! * [`splice`]: the blocks the graph occupies move into the destination's keeping; the
//!   source's other blocks return to the pool. Costs a read-only traversal, no copy.
//! * [`Evacuation`]: incremental copying; reads go through the evacuation, which forwards
//!   pointers to copies already made and reads the source for the rest, until the bitmap
//!   covers the graph and the source is freed.
//! * [`evacuate`]: the adaptive evacuator, choosing among them by size ([`Thresholds`]).
//!
//! [`transmigrate_naive`] is the baseline the seed replaces: recursive, with a
//! `HashMap` of visited objects. It overflows the stack on deep graphs; it is kept for the
//! benchmark.

use crate::block::{Block, HEADER, header_of};
use crate::region::{RPtr, RSlice, Region, RegionError};
use crate::trace::{Trace, Tracer};
use std::any::TypeId;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};

const NO_SLOT: u32 = u32::MAX;

/// Asks the CPU to bring the line at `p` into its caches (a hint: no architectural
/// read, no fault, whatever the address). A no-op off x86-64 and under Miri.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: `prefetcht0` neither reads memory architecturally nor faults, for any
    // address; SSE is part of the x86-64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = p;
}

/// One pending scan: a copy in the destination whose pointer fields still point into
/// the source.
#[derive(Clone, Copy)]
struct Item {
    obj: *mut u8,
    len: usize,
    scan: &'static Scanner,
}

/// How to scan an [`Item`]: the scan function, and the type it scans (`T` for
/// `scan_one::<T>`, `[T]` for `scan_slice::<T>`).
struct Scanner {
    scan: unsafe fn(&mut Copier<'_>, *mut u8, usize),
    ty: TypeId,
}

/// The scanner of an empty [`Tables::next`] (never called).
static NO_SCAN: Scanner = Scanner {
    scan: scan_none,
    ty: TypeId::of::<()>(),
};

// Forwarding tables reused across transmigrations on a thread (their entries are valid
// only where the bitmap says so, so they are never cleared).
#[cfg(not(ebb_loom))]
std::thread_local! {
    static SCRATCH: std::cell::Cell<Vec<*mut u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Forwarding storage kept for reuse: at most 8M entries (64 MiB).
const SCRATCH_KEEP: usize = 8 << 20;

/// Mirroring, and the delay line, are used only for sources of at least this many
/// blocks.
const MIRROR_MIN_BLOCKS: usize = 32;
/// Length of the delay line (a power of two): a fresh compact copy is scanned about this
/// many copies after it was made.
const DELAY: usize = 8;
/// Mirrored destination blocks allowed beyond twice the bytes copied into them.
const MIRROR_SLACK_BLOCKS: usize = 16;

fn take_scratch() -> Vec<*mut u8> {
    #[cfg(not(ebb_loom))]
    {
        SCRATCH.try_with(|s| s.take()).unwrap_or_default()
    }
    #[cfg(ebb_loom)]
    Vec::new()
}

fn give_scratch(v: Vec<*mut u8>) {
    if v.capacity() <= SCRATCH_KEEP {
        #[cfg(not(ebb_loom))]
        let _ = SCRATCH.try_with(|s| s.set(v));
    }
}

/// Source block base address -> slot, by open addressing with linear probing: a lookup
/// reads this table (a few KiB for a few hundred blocks, kept in the cache) instead of the
/// block's header, which for a graph spread over a large source is on a page of its own
/// and often a TLB miss.
struct BlockMap {
    /// `(base, slot)`; `base` 0 marks an empty entry (no block starts at address 0).
    entries: Vec<(usize, u32)>,
    /// `log2(entries.len())`.
    bits: u32,
    len: usize,
    /// `log2(block_size)`: bases are multiples of the block size.
    shift: u32,
}

impl BlockMap {
    fn new(blocks: usize, block_size: usize) -> BlockMap {
        let bits = (2 * blocks.max(8)).next_power_of_two().trailing_zeros();
        BlockMap {
            entries: vec![(0, 0); 1 << bits],
            bits,
            len: 0,
            shift: block_size.trailing_zeros(),
        }
    }

    #[inline(always)]
    fn home(&self, base: usize) -> usize {
        // Fibonacci hashing of the block number.
        let h = ((base >> self.shift) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> (u64::BITS - self.bits)) as usize
    }

    /// The slot of the block at `base`, if it has one.
    #[inline(always)]
    fn get(&self, base: usize) -> Option<usize> {
        let mask = self.entries.len() - 1;
        let mut i = self.home(base);
        loop {
            let (b, s) = self.entries[i];
            if b == base {
                return Some(s as usize);
            }
            if b == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Records `base -> slot` (`base` not present, non-zero).
    fn insert(&mut self, base: usize, slot: u32) {
        if 2 * (self.len + 1) > self.entries.len() {
            let old = std::mem::take(&mut self.entries);
            self.bits += 1;
            self.entries = vec![(0, 0); 1 << self.bits];
            self.len = 0;
            for (b, s) in old {
                if b != 0 {
                    self.insert(b, s);
                }
            }
        }
        let mask = self.entries.len() - 1;
        let mut i = self.home(base);
        while self.entries[i].0 != 0 {
            i = (i + 1) & mask;
        }
        self.entries[i] = (base, slot);
        self.len += 1;
    }
}

/// How the copies of one source block's objects are placed.
#[derive(Clone, Copy)]
struct Slot {
    /// A destination block of the same size whose object at offset `o` is the copy of
    /// the source object at offset `o` (forwarding by arithmetic); null when the block's
    /// objects are copied compactly and forwarded through `fwd`.
    mirror: *mut u8,
    /// Start of this slot's entries in `fwd` (compact slots only).
    fwd: usize,
}

/// The copier's state: the bitmap, forwarding tables and worklist.
pub(crate) struct Tables {
    src_id: u64,
    dst_id: u64,
    block_size: usize,
    /// Words per source block (`block_size / 8`).
    wpb: usize,
    /// Source block index -> slot in `slot`/`bits`, or `NO_SLOT` until first touched.
    slots: Vec<u32>,
    /// Source block base address -> slot, for the blocks that have one.
    map: BlockMap,
    slot: Vec<Slot>,
    /// The base addresses of the two source blocks looked up last, and their slots
    /// (`last` the most recent): a parent and its children often lie in two blocks,
    /// and a graph with back edges (a child pointing at its parent) alternates
    /// between them.
    last_base: usize,
    last_slot: usize,
    prev_base: usize,
    prev_slot: usize,
    /// `wpb / 64` words per slot.
    bits: Vec<u64>,
    /// `wpb` entries per compact slot: the copy of the object starting at that word.
    fwd: Vec<*mut u8>,
    /// Used length of `fwd` (its `len` may be larger: reused scratch).
    fwd_used: usize,
    /// Whether source blocks may be mirrored (same block sizes, a large source).
    mirror_ok: bool,
    /// Mirrored blocks, and bytes copied into them.
    mirrored: usize,
    mirror_bytes: usize,
    /// Part of `mirror_bytes` already counted in the destination's used bytes (the rest
    /// is counted when a run returns).
    mirror_counted: usize,
    /// Copies of objects outside the source's own blocks, by source address.
    outside: HashMap<usize, *mut u8>,
    work: Vec<Item>,
    /// The delay line: fresh compact copies of a large source, oldest at `delay_head`,
    /// `delay_len` of them. Their children's source objects were prefetched when they
    /// were copied; a copy leaves the line for the worklist's top when `DELAY` newer
    /// ones have entered, so that those prefetches have had time to land.
    delay: [Item; DELAY],
    delay_head: usize,
    delay_len: usize,
    /// Whether fresh compact copies go through the delay line (a large source).
    delayed: bool,
    /// The object `run` scans next, before the worklist, and its type: the child copied
    /// last by a scan through the `Copier` tracer (the root, slices), or the child that
    /// [`scan_one`]'s loop hands back (another type, or the budget spent). `scan_one`
    /// keeps its own next child in a local while it loops. `next.obj` is null when there
    /// is none; it is null whenever a scan function starts.
    next: Item,
    next_ty: TypeId,
    error: Option<RegionError>,
    /// Objects copied.
    pub(crate) objects: usize,
    /// Bytes copied by allocation (`bytes()` adds the mirrored ones).
    compact_bytes: usize,
}

impl Tables {
    fn new(src: &Region, dst: &Region) -> Tables {
        let bs = src.block_size();
        let mut fwd = take_scratch();
        fwd.clear();
        let blocks = src.block_count();
        Tables {
            src_id: src.id(),
            dst_id: dst.id(),
            block_size: bs,
            wpb: bs / 8,
            slots: vec![NO_SLOT; blocks],
            map: BlockMap::new(blocks, bs),
            slot: Vec::new(),
            last_base: 0,
            last_slot: 0,
            prev_base: 0,
            prev_slot: 0,
            bits: Vec::new(),
            fwd,
            fwd_used: 0,
            mirror_ok: dst.block_size() == bs && blocks >= MIRROR_MIN_BLOCKS,
            mirrored: 0,
            mirror_bytes: 0,
            mirror_counted: 0,
            outside: HashMap::new(),
            work: Vec::new(),
            delay: [Item {
                obj: ptr::null_mut(),
                len: 0,
                scan: &NO_SCAN,
            }; DELAY],
            delay_head: 0,
            delay_len: 0,
            delayed: blocks >= MIRROR_MIN_BLOCKS,
            next: Item {
                obj: ptr::null_mut(),
                len: 0,
                scan: &NO_SCAN,
            },
            next_ty: TypeId::of::<()>(),
            error: None,
            objects: 0,
            compact_bytes: 0,
        }
    }

    /// The slot of the source object at `addr` and the object's word in the slot.
    ///
    /// # Safety
    ///
    /// * `addr` is the start of an object in one of the source's own blocks, and the
    ///   source is alive.
    #[inline(always)]
    unsafe fn index(&mut self, addr: *const u8, dst: &Region) -> (usize, usize) {
        let off = addr.addr() & (self.block_size - 1);
        let base = addr.addr() - off;
        if base == self.last_base {
            return (self.last_slot, off >> 3);
        }
        let s = if base == self.prev_base {
            self.prev_slot
        } else {
            // SAFETY: the caller's obligation.
            unsafe { self.index_slow(addr, dst) }
        };
        self.prev_base = self.last_base;
        self.prev_slot = self.last_slot;
        self.last_base = base;
        self.last_slot = s;
        (s, off >> 3)
    }

    /// # Safety
    ///
    /// * As for [`index`](Self::index).
    #[inline(never)]
    unsafe fn index_slow(&mut self, addr: *const u8, dst: &Region) -> usize {
        if let Some(s) = self.map.get(addr.addr() & !(self.block_size - 1)) {
            return s;
        }
        let h = header_of(addr, self.block_size);
        // SAFETY: the caller says `addr` is in a live source block; objects start in the
        // first `block_size` bytes of their block, so `h` is its header.
        let (bi, bytes) = unsafe { ((*h).index, (*h).bytes) };
        match self.slots.get(bi) {
            Some(&s) if s != NO_SLOT => s as usize,
            // SAFETY: `h` is the header of a live source block of `bytes` bytes.
            _ => unsafe { self.new_slot(h.cast(), bi, bytes, dst) },
        }
    }

    /// # Safety
    ///
    /// * `block` is the base of the live source block `bi` of `bytes` bytes.
    #[cold]
    unsafe fn new_slot(
        &mut self,
        block: *const u8,
        bi: usize,
        bytes: usize,
        dst: &Region,
    ) -> usize {
        if bi >= self.slots.len() {
            // A block allocated after the copy began (by an incremental evacuation's
            // owner): grow the map.
            self.slots.resize(bi + 1, NO_SLOT);
        }
        let slot = self.slot.len();
        self.slots[bi] = u32::try_from(slot).expect("fewer than 4G source blocks");
        self.map.insert(block.addr(), slot as u32);
        self.bits.resize(self.bits.len() + self.wpb / 64, 0);
        // Mirror an ordinary block while the mirrored blocks stay at most twice what was
        // copied into them, plus a slack: the waste is bounded, and a dense graph (the
        // common case for a large result) is copied without forwarding-table traffic.
        let bs = self.block_size;
        if self.mirror_ok
            && bytes == bs
            && (self.mirrored + 1) * bs <= 2 * self.mirror_bytes + MIRROR_SLACK_BLOCKS * bs
        {
            self.mirrored += 1;
            let mirror = dst.push_block().as_ptr();
            // The whole block is copied now, in one streaming copy: the objects the graph
            // reaches in it are then scanned in place, and the rest (unreachable, or the
            // block's unused tail) is dead data in the destination, within the bound.
            // SAFETY: `block` is a live source block of `bs` bytes (caller) and `mirror`
            // a fresh destination block of `bs` bytes; the bytes after the headers are
            // copied as they are (possibly uninitialised, which an untyped copy keeps).
            // Nothing writes the source while the copy runs: the owner is copying, and
            // other threads only read (`Trace` types have no shared interior mutability).
            unsafe { ptr::copy_nonoverlapping(block.add(HEADER), mirror.add(HEADER), bs - HEADER) };
            self.slot.push(Slot { mirror, fwd: 0 });
            return slot;
        }
        self.slot.push(Slot {
            mirror: ptr::null_mut(),
            fwd: self.fwd_used,
        });
        self.fwd_used += self.wpb;
        if self.fwd.len() < self.fwd_used {
            self.fwd.resize(self.fwd_used, ptr::null_mut());
        }
        slot
    }

    #[inline(always)]
    fn test(&self, s: usize, w: usize) -> bool {
        let w = s * self.wpb + w;
        self.bits[w >> 6] & (1 << (w & 63)) != 0
    }

    /// The copy of word `w`'s object of slot `s` (whose bit is set).
    #[inline(always)]
    fn copy_of(&self, s: usize, w: usize) -> *mut u8 {
        let slot = self.slot[s];
        if slot.mirror.is_null() {
            self.fwd[slot.fwd + w]
        } else {
            slot.mirror.wrapping_add(w << 3)
        }
    }

    /// The copy of the source object at `addr`, if it has been made (for any accepted
    /// pointer; `None` also for pointers of other regions).
    ///
    /// # Safety
    ///
    /// * If `id` is the source's, `addr` is an object start in a live source block.
    unsafe fn forwarded(&self, id: u64, addr: *const u8) -> Option<*mut u8> {
        if id == self.src_id {
            let h = header_of(addr, self.block_size);
            // SAFETY: the caller's obligation: `h` is the header of a live source block.
            let bi = unsafe { (*h).index };
            // A block the copy has not reached has no slot (and nothing copied).
            let s = *self.slots.get(bi).filter(|&&s| s != NO_SLOT)? as usize;
            let w = (addr.addr() & (self.block_size - 1)) >> 3;
            self.test(s, w).then(|| self.copy_of(s, w))
        } else {
            self.outside.get(&addr.addr()).copied()
        }
    }

    /// Prefetches what forwarding the source object at `addr` will read: the object
    /// itself and, if its block already has a slot, the slot's bitmap word and its
    /// forwarding entry (compact slot) or its copy (mirrored slot).
    ///
    /// # Safety
    ///
    /// * `addr` is the start of an object in one of the source's own blocks, and the
    ///   source is alive.
    #[inline(always)]
    unsafe fn prefetch_source(&self, addr: *const u8) {
        prefetch(addr);
        if let Some(s) = self.map.get(addr.addr() & !(self.block_size - 1)) {
            let w = (addr.addr() & (self.block_size - 1)) >> 3;
            let b = s * self.wpb + w;
            prefetch(self.bits.as_ptr().wrapping_add(b >> 6));
            let slot = self.slot[s];
            if slot.mirror.is_null() {
                prefetch(self.fwd.as_ptr().wrapping_add(slot.fwd + w));
            } else {
                prefetch(slot.mirror.wrapping_add(w << 3));
            }
        }
    }

    /// Bytes copied.
    pub(crate) fn bytes(&self) -> usize {
        self.compact_bytes + self.mirror_bytes
    }

    /// Every object reachable so far has been copied and scanned.
    pub(crate) fn done(&self) -> bool {
        self.work.is_empty() && self.next.obj.is_null() && self.delay_len == 0
    }

    /// Puts a fresh copy into the delay line; the oldest moves to the worklist's top
    /// when the line is full.
    #[inline(always)]
    fn delay(&mut self, item: Item) {
        if self.delay_len == DELAY {
            let old = std::mem::replace(&mut self.delay[self.delay_head], item);
            self.delay_head = (self.delay_head + 1) % DELAY;
            self.work.push(old);
        } else {
            self.delay[(self.delay_head + self.delay_len) % DELAY] = item;
            self.delay_len += 1;
        }
    }

    /// The oldest item of the delay line, if any.
    fn undelay(&mut self) -> Option<Item> {
        if self.delay_len == 0 {
            return None;
        }
        let item = self.delay[self.delay_head];
        self.delay_head = (self.delay_head + 1) % DELAY;
        self.delay_len -= 1;
        Some(item)
    }
}

impl Drop for Tables {
    fn drop(&mut self) {
        give_scratch(std::mem::take(&mut self.fwd));
    }
}

/// The bitmap word a scan last tested and set, held outside `Tables::bits` (in registers,
/// when the scan loop is inlined) so that consecutive objects of one word do not each
/// wait for the previous object's store to the word. `Tables::bits[idx]` is stale until
/// [`flush`](Self::flush), which every holder calls before returning to code that reads
/// the bitmap.
struct BitCache {
    /// Index in `Tables::bits`, or `usize::MAX` for none.
    idx: usize,
    val: u64,
}

impl BitCache {
    const EMPTY: BitCache = BitCache {
        idx: usize::MAX,
        val: 0,
    };

    #[inline(always)]
    fn flush(&mut self, bits: &mut [u64]) {
        if self.idx != usize::MAX {
            bits[self.idx] = self.val;
            self.idx = usize::MAX;
        }
    }
}

/// How [`Copier::forward`] obtained a copy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Got {
    /// Copied before (found in the bitmap or the outside map).
    Before,
    /// Just now, by its own allocation and copy: its bytes are in the cache.
    Copied,
    /// Just now, in a mirrored block (copied with the block when the slot was made).
    Mirrored,
}

/// The tracer that copies: the tables plus the two regions.
struct Copier<'a> {
    t: &'a mut Tables,
    src: &'a Region,
    dst: &'a Region,
    /// Regions whose pointers are left as they are (see [`transmigrate_keeping`]).
    keep: Option<&'a dyn Fn(u64) -> bool>,
    /// Objects that may still be scanned in this run.
    budget: usize,
}

impl Copier<'_> {
    /// Copies `bytes` bytes at `from` (an object of the source, accepted, not yet copied)
    /// into the destination; returns the copy or records an error.
    ///
    /// # Safety
    ///
    /// * `from` is the start of a live object of `bytes` bytes aligned to `align`.
    #[inline(always)]
    unsafe fn copy_bytes(
        &mut self,
        from: *const u8,
        bytes: usize,
        align: usize,
    ) -> Option<*mut u8> {
        match self.dst.alloc_raw(bytes, align) {
            Ok(to) => {
                // SAFETY: `from` is live for `bytes` (caller); `to` is a fresh allocation of
                // at least `bytes` in another region, so they do not overlap.
                unsafe { ptr::copy_nonoverlapping(from, to, bytes) };
                self.t.objects += 1;
                self.t.compact_bytes += bytes;
                Some(to)
            }
            Err(e) => {
                self.t.error.get_or_insert(e);
                None
            }
        }
    }

    /// Where a source pointer is forwarded, copying its object if it is the first visit,
    /// and how the copy was obtained. `None` when the pointer is left as it is (a
    /// destination pointer, or an error).
    ///
    /// # Safety
    ///
    /// * `addr`, if accepted by the source, is the start of a live object of `bytes`
    ///   bytes.
    #[inline(always)]
    unsafe fn forward(
        &mut self,
        id: u64,
        addr: *const u8,
        bytes: usize,
        align: usize,
        bc: &mut BitCache,
    ) -> Option<(*mut u8, Got)> {
        if id == self.t.src_id {
            // SAFETY: the pointer carries the source's id, so it was made by allocation in
            // one of the source's own blocks (splicing consumes its source), which are alive.
            let (s, w) = unsafe { self.t.index(addr, self.dst) };
            let b = s * self.t.wpb + w;
            if b >> 6 != bc.idx {
                bc.flush(&mut self.t.bits);
                bc.idx = b >> 6;
                bc.val = self.t.bits[b >> 6];
            }
            let bit = 1 << (b & 63);
            if bc.val & bit != 0 {
                return Some((self.t.copy_of(s, w), Got::Before));
            }
            let mirror = self.t.slot[s].mirror;
            let got = if mirror.is_null() {
                // SAFETY: the caller's obligation.
                let c = unsafe { self.copy_bytes(addr, bytes, align) }?;
                let f = self.t.slot[s].fwd + w;
                self.t.fwd[f] = c;
                (c, Got::Copied)
            } else {
                // The mirrored block is as large and as aligned as the source block and
                // holds a copy of all of it (made when the slot was created), so the copy
                // of the object is at its own offset, aligned as it was; its bit was clear,
                // so it has not been scanned yet.
                self.t.objects += 1;
                self.t.mirror_bytes += bytes;
                (mirror.wrapping_add(w << 3), Got::Mirrored)
            };
            bc.val |= bit;
            Some(got)
        } else if id == self.t.dst_id || self.keep.is_some_and(|k| k(id)) {
            None
        } else if self.src.rcb().accepts(id, addr.addr()) {
            if let Some(&c) = self.t.outside.get(&addr.addr()) {
                return Some((c, Got::Before));
            }
            // SAFETY: accepted by the source: the object lives in a region it keeps alive.
            let c = unsafe { self.copy_bytes(addr, bytes, align) }?;
            self.t.outside.insert(addr.addr(), c);
            Some((c, Got::Copied))
        } else {
            self.t.error.get_or_insert(RegionError::Foreign {
                pointer: id,
                region: self.t.src_id,
            });
            None
        }
    }

    /// Forwards the pointer field `p` and rewrites it; returns the scan the copy needs if
    /// it was made just now (and has pointer fields), and whether it was copied alone.
    #[inline(always)]
    fn edge_item<T: Trace>(&mut self, p: &mut RPtr<T>, bc: &mut BitCache) -> Option<(Item, bool)> {
        // SAFETY: an `RPtr<T>` points to the start of a `T` in its region.
        let (c, got) = unsafe {
            self.forward(
                p.region,
                p.ptr.as_ptr().cast(),
                size_of::<T>(),
                align_of::<T>(),
                bc,
            )
        }?;
        if T::HAS_EDGES && got == Got::Copied {
            // The copy's children are forwarded when it is scanned: start their source
            // reads now, while its bytes are in the cache, so that the misses of several
            // children overlap (and, through the delay line, land before the scan).
            let mut pf = Prefetcher { t: self.t };
            // SAFETY: `c` is a copy of a `T` made just now, not yet scanned or referenced
            // anywhere else; nothing else accesses it meanwhile.
            unsafe { &mut *c.cast::<T>() }.trace(&mut pf);
        }
        // SAFETY: `c` is a non-null destination allocation holding a copy of the `T`.
        p.ptr = unsafe { NonNull::new_unchecked(c.cast()) };
        p.region = self.t.dst_id;
        (T::HAS_EDGES && got != Got::Before).then_some((
            Item {
                obj: c,
                len: 1,
                scan: const {
                    &Scanner {
                        scan: scan_one::<T>,
                        ty: TypeId::of::<T>(),
                    }
                },
            },
            got == Got::Copied,
        ))
    }

    /// As [`edge_item`](Self::edge_item), for a slice field.
    #[inline(always)]
    fn slice_item<T: Trace>(
        &mut self,
        s: &mut RSlice<T>,
        bc: &mut BitCache,
    ) -> Option<(Item, bool)> {
        if s.len == 0 {
            s.region = self.t.dst_id;
            return None;
        }
        // SAFETY: an `RSlice<T>` points to the start of `len` `T`s in its region.
        let (c, got) = unsafe {
            self.forward(
                s.region,
                s.ptr.as_ptr().cast(),
                size_of::<T>() * s.len,
                align_of::<T>(),
                bc,
            )
        }?;
        // SAFETY: `c` is a non-null destination allocation holding the copy.
        s.ptr = unsafe { NonNull::new_unchecked(c.cast()) };
        s.region = self.t.dst_id;
        (T::HAS_EDGES && got != Got::Before).then_some((
            Item {
                obj: c,
                len: s.len,
                scan: const {
                    &Scanner {
                        scan: scan_slice::<T>,
                        ty: TypeId::of::<[T]>(),
                    }
                },
            },
            got == Got::Copied,
        ))
    }

    /// Schedules a pending scan: a copy made alone from a large source goes into the delay
    /// line; any other becomes `next` (scanned next), the previous `next` going onto the
    /// worklist.
    #[inline(always)]
    fn schedule(
        t: &mut Tables,
        next: &mut Item,
        next_ty: &mut TypeId,
        item: (Item, bool),
        ty: TypeId,
    ) {
        let (item, copied) = item;
        if copied && t.delayed {
            t.delay(item);
            return;
        }
        let prev = std::mem::replace(next, item);
        if !prev.obj.is_null() {
            t.work.push(prev);
        }
        *next_ty = ty;
    }

    /// Scans until the worklist is empty, or `budget` objects have been scanned.
    fn run(&mut self, budget: usize) {
        self.scan_all(budget);
        self.count_mirrored();
    }

    /// Counts the bytes copied into mirrored blocks since the last call in the
    /// destination's used bytes (once per run rather than once per object).
    fn count_mirrored(&mut self) {
        self.dst
            .add_used(self.t.mirror_bytes - self.t.mirror_counted);
        self.t.mirror_counted = self.t.mirror_bytes;
    }

    fn scan_all(&mut self, budget: usize) {
        self.budget = budget;
        while self.budget > 0 && self.t.error.is_none() {
            let item = if self.t.next.obj.is_null() {
                match self.t.work.pop().or_else(|| self.t.undelay()) {
                    Some(i) => i,
                    None => return,
                }
            } else {
                let i = self.t.next;
                self.t.next.obj = ptr::null_mut();
                i
            };
            // SAFETY: items are pushed by `forward` with the scan function of the type
            // (and length) it copied into `obj`, a destination object owned by this copy.
            unsafe { (item.scan.scan)(self, item.obj, item.len) };
            self.budget -= 1;
        }
    }
}

/// Scans one copied `T`, then, while the child copied last is another `T` (a list's
/// tail), that child: the tail loop runs here with the type known, without returning to
/// [`Copier::run`]'s indirect call. At a leaf it goes on with the worklist's top when
/// that is another `T`, as `run` would. The child to scan next is kept in a local
/// [`Scan`] rather than in the tables, so that the loop carries it in a register.
///
/// # Safety
///
/// * `obj` is a destination copy of a `T` that nothing else references yet mutably.
unsafe fn scan_one<T: Trace>(c: &mut Copier<'_>, obj: *mut u8, _len: usize) {
    let mut obj = obj;
    let mut sc = Scan {
        c,
        next: Item {
            obj: ptr::null_mut(),
            len: 0,
            scan: &NO_SCAN,
        },
        next_ty: TypeId::of::<()>(),
        bc: BitCache::EMPTY,
    };
    loop {
        // SAFETY: the caller's obligation (for the first object), and `forward`'s for
        // the next: a valid `T` copy, exclusively ours while scanning.
        unsafe { &mut *obj.cast::<T>() }.trace(&mut sc);
        let next = sc.next;
        if next.obj.is_null() {
            // No child to follow (a leaf): go on with the worklist's top, as `run` would,
            // if it is another `T` (its scanner's type is `T` only for `scan_one::<T>`).
            match sc.c.t.work.last() {
                Some(top)
                    if top.scan.ty == TypeId::of::<T>()
                        && sc.c.budget > 1
                        && sc.c.t.error.is_none() =>
                {
                    obj = top.obj;
                    sc.c.t.work.pop();
                    sc.c.budget -= 1;
                    continue;
                }
                _ => break,
            }
        }
        // `next_ty` is the type of `next`'s object: another `T`. One object of the
        // budget is kept for the scan that `run` counts on return. Otherwise `run` scans
        // it next (`Tables::next` is empty while a scan function runs).
        if sc.next_ty != TypeId::of::<T>() || sc.c.budget <= 1 || sc.c.t.error.is_some() {
            sc.c.t.next = next;
            sc.c.t.next_ty = sc.next_ty;
            break;
        }
        sc.c.budget -= 1;
        sc.next.obj = ptr::null_mut();
        obj = next.obj;
    }
    sc.bc.flush(&mut sc.c.t.bits);
}

/// The tracer of [`scan_one`]: forwards through the copier, and keeps the child to scan
/// next.
struct Scan<'s, 'a> {
    c: &'s mut Copier<'a>,
    next: Item,
    next_ty: TypeId,
    bc: BitCache,
}

impl Tracer for Scan<'_, '_> {
    #[inline(always)]
    fn edge<T: Trace>(&mut self, p: &mut RPtr<T>) {
        if let Some(item) = self.c.edge_item(p, &mut self.bc) {
            Copier::schedule(
                self.c.t,
                &mut self.next,
                &mut self.next_ty,
                item,
                TypeId::of::<T>(),
            );
        }
    }

    #[inline(always)]
    fn slice<T: Trace>(&mut self, s: &mut RSlice<T>) {
        if let Some(item) = self.c.slice_item(s, &mut self.bc) {
            // A slice is never scanned by `scan_one`: its type is not any `T`'s.
            Copier::schedule(
                self.c.t,
                &mut self.next,
                &mut self.next_ty,
                item,
                TypeId::of::<[T]>(),
            );
        }
    }
}

/// The scan function of an empty [`Tables::next`] (never called).
///
/// # Safety
///
/// * None: it does nothing.
unsafe fn scan_none(_: &mut Copier<'_>, _: *mut u8, _: usize) {}

/// Scans a copied slice of `len` `T`s.
///
/// # Safety
///
/// * As for [`scan_one`], for `len` elements.
unsafe fn scan_slice<T: Trace>(c: &mut Copier<'_>, obj: *mut u8, len: usize) {
    // SAFETY: the caller's obligation.
    let s = unsafe { std::slice::from_raw_parts_mut(obj.cast::<T>(), len) };
    for v in s {
        v.trace(c);
    }
}

/// Visits a fresh copy's pointer fields to prefetch their targets (see
/// [`Tables::prefetch_source`]); writes nothing.
struct Prefetcher<'a> {
    t: &'a Tables,
}

impl Tracer for Prefetcher<'_> {
    #[inline(always)]
    fn edge<T: Trace>(&mut self, p: &mut RPtr<T>) {
        if p.region == self.t.src_id {
            // SAFETY: the pointer carries the source's id, so it was made by allocation in
            // one of the source's own blocks, which are alive (as in `Copier::forward`).
            unsafe { self.t.prefetch_source(p.ptr.as_ptr().cast()) };
        }
    }

    #[inline(always)]
    fn slice<T: Trace>(&mut self, s: &mut RSlice<T>) {
        if s.len != 0 && s.region == self.t.src_id {
            // SAFETY: as in `edge`.
            unsafe { self.t.prefetch_source(s.ptr.as_ptr().cast()) };
        }
    }
}

impl Tracer for Copier<'_> {
    #[inline(always)]
    fn edge<T: Trace>(&mut self, p: &mut RPtr<T>) {
        let mut bc = BitCache::EMPTY;
        let item = self.edge_item(p, &mut bc);
        bc.flush(&mut self.t.bits);
        if let Some(item) = item {
            let t = &mut *self.t;
            let mut next = t.next;
            let mut next_ty = t.next_ty;
            Copier::schedule(t, &mut next, &mut next_ty, item, TypeId::of::<T>());
            t.next = next;
            t.next_ty = next_ty;
        }
    }

    #[inline(always)]
    fn slice<T: Trace>(&mut self, s: &mut RSlice<T>) {
        let mut bc = BitCache::EMPTY;
        let item = self.slice_item(s, &mut bc);
        bc.flush(&mut self.t.bits);
        if let Some(item) = item {
            let t = &mut *self.t;
            let mut next = t.next;
            let mut next_ty = t.next_ty;
            // A slice is never scanned by `scan_one`: its type is not any `T`'s.
            Copier::schedule(t, &mut next, &mut next_ty, item, TypeId::of::<[T]>());
            t.next = next;
            t.next_ty = next_ty;
        }
    }
}

/// Copies the graph reachable from `root` out of `src` into `dst` and returns the copy of
/// the root. Shared objects are copied once, cycles are preserved.
///
/// Errors: [`RegionError::SameRegion`] if `src` is `dst`; [`RegionError::Foreign`] if `root`
/// or a pointer reachable from it belongs to neither `src` (or what it absorbed) nor `dst`.
pub fn transmigrate<T: Trace>(
    src: &Region,
    root: RPtr<T>,
    dst: &Region,
) -> Result<RPtr<T>, RegionError> {
    let (r, _) = transmigrate_counted(src, root, dst)?;
    Ok(r)
}

/// As [`transmigrate`], also returning the objects and bytes copied.
pub fn transmigrate_counted<T: Trace>(
    src: &Region,
    root: RPtr<T>,
    dst: &Region,
) -> Result<(RPtr<T>, (usize, usize)), RegionError> {
    if src.id() == dst.id() {
        return Err(RegionError::SameRegion);
    }
    src.get(root)?;
    let mut t = Tables::new(src, dst);
    let mut root = root;
    let mut c = Copier {
        t: &mut t,
        src,
        dst,
        keep: None,
        budget: 0,
    };
    c.edge(&mut root);
    c.run(usize::MAX);
    match t.error {
        Some(e) => Err(e),
        None => Ok((root, (t.objects, t.bytes()))),
    }
}

/// As [`transmigrate`], but pointers into the regions `keep` names (by id) are left as
/// they are instead of refused: for a runtime whose values may point into outer regions
/// that outlive `dst` (a caller's caller). Such pointers read through `dst` are still
/// refused ([`RegionError::Foreign`]); the caller reads them through their own region.
pub fn transmigrate_keeping<T: Trace>(
    src: &Region,
    root: RPtr<T>,
    dst: &Region,
    keep: &dyn Fn(u64) -> bool,
) -> Result<RPtr<T>, RegionError> {
    if src.id() == dst.id() {
        return Err(RegionError::SameRegion);
    }
    if root.region != src.id() {
        if keep(root.region) || root.region == dst.id() {
            return Ok(root);
        }
        src.get(root)?;
    }
    let mut t = Tables::new(src, dst);
    let mut root = root;
    let mut c = Copier {
        t: &mut t,
        src,
        dst,
        keep: Some(keep),
        budget: 0,
    };
    c.edge(&mut root);
    c.run(usize::MAX);
    match t.error {
        Some(e) => Err(e),
        None => Ok(root),
    }
}

// === naive baseline ===

struct Naive<'a> {
    src: &'a Region,
    dst: &'a Region,
    seen: HashMap<usize, *mut u8>,
    error: Option<RegionError>,
}

impl Naive<'_> {
    /// Copies `bytes` at `addr` unless seen; recurses into the copy with `scan`.
    fn visit(
        &mut self,
        id: u64,
        addr: *const u8,
        bytes: usize,
        align: usize,
        len: usize,
        scan: unsafe fn(&mut Naive<'_>, *mut u8, usize),
    ) -> Option<*mut u8> {
        if id == self.dst.id() {
            return None;
        }
        if !self.src.rcb().accepts(id, addr.addr()) {
            self.error.get_or_insert(RegionError::Foreign {
                pointer: id,
                region: self.src.id(),
            });
            return None;
        }
        if let Some(&c) = self.seen.get(&addr.addr()) {
            return Some(c);
        }
        let to = match self.dst.alloc_raw(bytes, align) {
            Ok(p) => p,
            Err(e) => {
                self.error.get_or_insert(e);
                return None;
            }
        };
        // SAFETY: accepted by the source: a live object of `bytes` bytes; `to` is fresh.
        unsafe { ptr::copy_nonoverlapping(addr, to, bytes) };
        self.seen.insert(addr.addr(), to);
        // SAFETY: `to` holds a copy of the object `scan` expects, ours alone.
        unsafe { scan(self, to, len) };
        Some(to)
    }
}

/// # Safety
///
/// * `obj` is a copy of a `T` owned by the naive copier.
unsafe fn naive_one<T: Trace>(n: &mut Naive<'_>, obj: *mut u8, _len: usize) {
    // SAFETY: the caller's obligation.
    unsafe { &mut *obj.cast::<T>() }.trace(n);
}

/// # Safety
///
/// * `obj` is a copy of `len` `T`s owned by the naive copier.
unsafe fn naive_slice<T: Trace>(n: &mut Naive<'_>, obj: *mut u8, len: usize) {
    // SAFETY: the caller's obligation.
    for v in unsafe { std::slice::from_raw_parts_mut(obj.cast::<T>(), len) } {
        v.trace(n);
    }
}

impl Tracer for Naive<'_> {
    fn edge<T: Trace>(&mut self, p: &mut RPtr<T>) {
        let id = self.dst.id();
        if let Some(c) = self.visit(
            p.region,
            p.ptr.as_ptr().cast(),
            size_of::<T>(),
            align_of::<T>(),
            1,
            naive_one::<T>,
        ) {
            // SAFETY: `c` is a non-null destination allocation holding the copy.
            p.ptr = unsafe { NonNull::new_unchecked(c.cast()) };
            p.region = id;
        }
    }

    fn slice<T: Trace>(&mut self, s: &mut RSlice<T>) {
        let id = self.dst.id();
        if s.len == 0 {
            s.region = id;
            return;
        }
        if let Some(c) = self.visit(
            s.region,
            s.ptr.as_ptr().cast(),
            size_of::<T>() * s.len,
            align_of::<T>(),
            s.len,
            naive_slice::<T>,
        ) {
            // SAFETY: as in `edge`.
            s.ptr = unsafe { NonNull::new_unchecked(c.cast()) };
            s.region = id;
        }
    }
}

/// The naive transmigration the seed replaces: a recursive deep copy with a `HashMap` of
/// visited objects. Same results as [`transmigrate`], but the recursion is as deep as
/// the graph: a long list overflows the stack. Kept for the benchmark.
pub fn transmigrate_naive<T: Trace>(
    src: &Region,
    root: RPtr<T>,
    dst: &Region,
) -> Result<RPtr<T>, RegionError> {
    if src.id() == dst.id() {
        return Err(RegionError::SameRegion);
    }
    src.get(root)?;
    let mut n = Naive {
        src,
        dst,
        seen: HashMap::new(),
        error: None,
    };
    let mut root = root;
    n.edge(&mut root);
    match n.error {
        Some(e) => Err(e),
        None => Ok(root),
    }
}

// === adopt and splice ===

/// Whole-region ownership transfer: `dst` takes `src` (O(1), no copy). Pointers of `src`
/// stay valid and are read through `dst`; `src`'s memory lives as long as `dst` (and any
/// other handle of `src`).
pub fn adopt(dst: &Region, src: Region) {
    dst.absorb_adopted(src.into_handle());
}

/// Visits the fields of a source object for [`Marker`].
type MarkFn = unsafe fn(&mut Marker<'_>, *const u8, usize);

/// Marks the source blocks a graph occupies (read-only traversal).
struct Marker<'a> {
    src: &'a Region,
    dst_id: u64,
    seen: Vec<u64>,
    wpb: usize,
    used_blocks: Vec<bool>,
    work: Vec<(*const u8, usize, MarkFn)>,
    error: Option<RegionError>,
}

impl Marker<'_> {
    fn visit(&mut self, id: u64, addr: *const u8, len: usize, scan: Option<MarkFn>) {
        if id == self.dst_id {
            return;
        }
        if id != self.src.id() {
            self.error.get_or_insert(RegionError::Foreign {
                pointer: id,
                region: self.src.id(),
            });
            return;
        }
        let bs = self.src.block_size();
        let h = header_of(addr, bs);
        // SAFETY: the pointer carries the source's id: an object start in one of its live
        // blocks, whose header `h` is.
        let bi = unsafe { (*h).index };
        let w = bi * self.wpb + ((addr.addr() & (bs - 1)) >> 3);
        if self.seen[w >> 6] & (1 << (w & 63)) != 0 {
            return;
        }
        self.seen[w >> 6] |= 1 << (w & 63);
        self.used_blocks[bi] = true;
        if let Some(scan) = scan {
            self.work.push((addr, len, scan));
        }
    }

    fn run(&mut self) {
        while let Some((addr, len, scan)) = self.work.pop() {
            if self.error.is_some() {
                return;
            }
            // SAFETY: pushed by `visit` with the scan function of the object's type.
            unsafe { scan(self, addr, len) };
        }
    }
}

/// Visits the fields of a source `T` through a bitwise copy (the source is shared, so
/// the tracer's `&mut` cannot point into it).
///
/// # Safety
///
/// * `addr` is the start of a live `T`.
unsafe fn mark_one<T: Trace>(m: &mut Marker<'_>, addr: *const u8, _len: usize) {
    let mut tmp = MaybeUninit::<T>::uninit();
    // SAFETY: `addr` holds a valid `T` (caller); `Trace` guarantees a bitwise copy is a
    // valid independent value, and it has no `Drop` (allocation refuses such types).
    unsafe { ptr::copy_nonoverlapping(addr.cast::<T>(), tmp.as_mut_ptr(), 1) };
    // SAFETY: initialised just above.
    unsafe { tmp.assume_init_mut() }.trace(m);
}

/// As [`mark_one`], for `len` elements.
///
/// # Safety
///
/// * `addr` is the start of `len` live `T`s.
unsafe fn mark_slice<T: Trace>(m: &mut Marker<'_>, addr: *const u8, len: usize) {
    for i in 0..len {
        // SAFETY: element `i < len` of the caller's slice.
        unsafe { mark_one::<T>(m, addr.cast::<T>().add(i).cast(), 1) };
    }
}

impl Tracer for Marker<'_> {
    fn edge<T: Trace>(&mut self, p: &mut RPtr<T>) {
        let scan = T::HAS_EDGES.then_some(mark_one::<T> as MarkFn);
        self.visit(p.region, p.ptr.as_ptr().cast(), 1, scan);
    }
    fn slice<T: Trace>(&mut self, s: &mut RSlice<T>) {
        if s.len == 0 {
            return;
        }
        let scan = T::HAS_EDGES.then_some(mark_slice::<T> as MarkFn);
        self.visit(s.region, s.ptr.as_ptr().cast(), s.len, scan);
    }
}

/// Splicing: moves the blocks of `src` that hold the graph reachable from `root` into
/// `dst`'s keeping and frees the rest; `root` (and every pointer of the graph) stays
/// valid, read through `dst`. Needs sole ownership of `src` (no other handle or tether,
/// and not a hazard-pointer or epoch region, whose tethers are not counted) and a graph that stays inside `src`'s own blocks (or points into `dst`); otherwise
/// `src` is handed back with the error.
pub fn splice<T: Trace>(
    src: Region,
    root: RPtr<T>,
    dst: &Region,
) -> Result<RPtr<T>, (Region, RegionError)> {
    if src.id() == dst.id() {
        return Err((src, RegionError::SameRegion));
    }
    // Hazard-pointer and epoch tethers do not count in the reference word, so a region
    // reclaimed through ebb-smr might be read by one: its blocks cannot be freed early.
    if !src.is_unique() || src.absorbed() != 0 || src.reclaim_name() != "immediate" {
        return Err((src, RegionError::Shared));
    }
    if let Err(e) = src.get(root) {
        return Err((src, e));
    }
    let nblocks = src.block_count();
    let wpb = src.block_size() / 8;
    let mut m = Marker {
        src: &src,
        dst_id: dst.id(),
        seen: vec![0; (nblocks * wpb).div_ceil(64)],
        wpb,
        used_blocks: vec![false; nblocks],
        work: Vec::new(),
        error: None,
    };
    let mut r = root;
    m.edge(&mut r);
    m.run();
    if let Some(e) = m.error {
        return Err((src, e));
    }
    let used = m.used_blocks;
    let blocks = src.take_blocks();
    let pool = src.rcb().pool.clone();
    let mut keep: Vec<Block> = Vec::new();
    for (i, b) in blocks.into_iter().enumerate() {
        if used[i] {
            keep.push(b);
        } else {
            pool.put(b);
        }
    }
    dst.absorb_spliced(src.id(), keep, pool);
    drop(src);
    Ok(root)
}

// === incremental evacuation ===

/// An incremental transmigration: the root is copied at once, the rest a budget at a
/// time by [`step`](Self::step).
///
/// Copies go into a *staging* region that only the evacuation can read, because a copy
/// still waiting for its scan holds source pointers and is written by the scan. Until the
/// evacuation is done, [`get`](Self::get) is the forwarding proxy: it reads the copy of an
/// object already evacuated and the source object otherwise (the evacuation bitmap says
/// which). [`finish`](Self::finish) evacuates the rest, frees the source and hands the
/// staging region to the destination by [`adopt`] (O(1)).
pub struct Evacuation<T> {
    src: Region,
    staging: Region,
    tables: Tables,
    root: RPtr<T>,
}

impl<T> std::fmt::Debug for Evacuation<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evacuation")
            .field("src", &self.src.id())
            .field("copied", &self.tables.objects)
            .field("done", &self.tables.done())
            .finish()
    }
}

impl<T: Trace> Evacuation<T> {
    /// Starts evacuating the graph of `root` out of `src`: copies the root only.
    pub fn start(src: Region, root: RPtr<T>) -> Result<Evacuation<T>, (Region, RegionError)> {
        if let Err(e) = src.get(root) {
            return Err((src, e));
        }
        let staging = Region::with_config(crate::RegionConfig::new().pool(src.rcb().pool.clone()));
        let mut tables = Tables::new(&src, &staging);
        let mut root = root;
        let mut c = Copier {
            t: &mut tables,
            src: &src,
            dst: &staging,
            keep: None,
            budget: 0,
        };
        c.edge(&mut root);
        c.count_mirrored();
        if let Some(e) = tables.error {
            return Err((src, e));
        }
        Ok(Evacuation {
            src,
            staging,
            tables,
            root,
        })
    }

    /// Evacuates up to `budget` more objects. Returns true when the whole graph has been
    /// evacuated.
    pub fn step(&mut self, budget: usize) -> Result<bool, RegionError> {
        let mut c = Copier {
            t: &mut self.tables,
            src: &self.src,
            dst: &self.staging,
            keep: None,
            budget: 0,
        };
        c.run(budget);
        if let Some(e) = self.tables.error {
            return Err(e);
        }
        Ok(self.tables.done())
    }

    /// True when the whole graph has been evacuated.
    pub fn done(&self) -> bool {
        self.tables.done()
    }

    /// Objects evacuated so far.
    pub fn evacuated(&self) -> usize {
        self.tables.objects
    }

    /// The root, as the proxy reads it.
    pub fn root(&self) -> RPtr<T> {
        self.root
    }

    /// The forwarding proxy: reads `p` (a pointer found in an object this proxy returned,
    /// or in the source) as of now: the copy if `p`'s object has been evacuated, else the
    /// source object. Fields of what it returns may point into the source or the staging
    /// region; read them through `get` again.
    pub fn get<U>(&mut self, p: RPtr<U>) -> Result<&U, RegionError> {
        if p.region == self.staging.id() {
            return self.staging.get(p);
        }
        self.src.get(p)?;
        // SAFETY: `p` is accepted by the source (checked above), so if it carries the
        // source's id it is an object start in a live source block.
        match unsafe { self.tables.forwarded(p.region, p.ptr.as_ptr().cast()) } {
            Some(c) => {
                // SAFETY: `c` is the staging copy of `p`'s object, a `U`, alive with
                // `self.staging`; `&mut self` keeps `step` from writing it meanwhile.
                Ok(unsafe { &*c.cast::<U>() })
            }
            None => self.src.get(p),
        }
    }

    /// Evacuates whatever is left, frees the source, and has `dst` adopt the copies;
    /// returns the root, read through `dst`.
    pub fn finish(mut self, dst: &Region) -> Result<RPtr<T>, RegionError> {
        while !self.step(usize::MAX)? {}
        let Evacuation {
            src,
            staging,
            tables,
            root,
        } = self;
        drop(tables);
        drop(src);
        adopt(dst, staging);
        Ok(root)
    }
}

// === adaptive evacuator ===

/// Size thresholds of the adaptive evacuator ([`evacuate`]), in bytes of the source
/// region's used memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// At or below: copy ([`transmigrate`]).
    pub copy_max: usize,
    /// Above `copy_max`, up to this: splice if the source is not shared, else copy.
    /// Above it: adopt the whole region (O(1)).
    pub splice_max: usize,
}

impl Thresholds {
    /// Thresholds with the given bounds.
    pub fn new(copy_max: usize, splice_max: usize) -> Thresholds {
        Thresholds {
            copy_max,
            splice_max: splice_max.max(copy_max),
        }
    }
}

impl Default for Thresholds {
    /// 64 KiB and 4 MiB (see docs/region.md for the measurements behind them).
    fn default() -> Self {
        Thresholds::new(64 << 10, 4 << 20)
    }
}

/// What [`evacuate`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evacuated {
    /// The graph was copied.
    Copied,
    /// The graph's blocks were spliced in.
    Spliced,
    /// The whole source region was adopted.
    Adopted,
}

/// The adaptive evacuator: moves the graph of `root` from `src` into `dst` by the
/// cheapest of copy, splice and adopt for the source's size (see [`Thresholds`]), and
/// returns the root as read through `dst`.
pub fn evacuate<T: Trace>(
    src: Region,
    root: RPtr<T>,
    dst: &Region,
    th: Thresholds,
) -> Result<(RPtr<T>, Evacuated), RegionError> {
    let used = src.used_bytes();
    if used <= th.copy_max {
        let r = transmigrate(&src, root, dst)?;
        return Ok((r, Evacuated::Copied));
    }
    if used <= th.splice_max {
        return match splice(src, root, dst) {
            Ok(r) => Ok((r, Evacuated::Spliced)),
            Err((src, RegionError::Shared)) => {
                transmigrate(&src, root, dst).map(|r| (r, Evacuated::Copied))
            }
            Err((_, e)) => Err(e),
        };
    }
    src.get(root)?;
    if src.id() == dst.id() {
        return Err(RegionError::SameRegion);
    }
    adopt(dst, src);
    Ok((root, Evacuated::Adopted))
}

#[cfg(test)]
mod block_map_tests {
    use super::BlockMap;

    #[test]
    fn block_map_grows_and_finds_every_block() {
        let bs = 1 << 16;
        let mut m = BlockMap::new(1, bs);
        let bases: Vec<usize> = (1..200).map(|i| i * 7919 * bs).collect();
        for (i, &b) in bases.iter().enumerate() {
            assert_eq!(m.get(b), None);
            m.insert(b, i as u32);
        }
        for (i, &b) in bases.iter().enumerate() {
            assert_eq!(m.get(b), Some(i));
        }
        assert_eq!(m.get(3 * bs), None);
        assert!(m.entries.len() >= 2 * bases.len());
    }
}
