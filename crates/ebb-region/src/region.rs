//! Regions: the control block, the owner that allocates, the shared handle that reads.
//!
//! A region is a chain of blocks ([`crate::block`]) filled by a bump pointer. Its
//! *region control block* ([`Rcb`]) holds the chain, one atomic word of references (low
//! 32 bits: handles, counting the owning [`Region`]; high 32 bits: atomic tethers), the
//! list of regions it has adopted or spliced in, and how it is reclaimed (at once, or
//! through an ebb-smr hazard-pointer or epoch domain, see [`crate::smr`]). The region is
//! freed when that word reaches zero: the last handle and the last tether are gone.
//!
//! # Region pointers
//!
//! Objects refer to one another with [`RPtr`], an address plus the id of the region that
//! allocated it. Ids come from a 64-bit counter and are never reused. A pointer is
//! dereferenced only through a [`Region`], [`RegionHandle`] or tether, which keeps its
//! region alive and checks that the pointer's id is its own or one of the regions it
//! absorbed (adopted whole, or spliced; spliced ids are accepted only for addresses inside
//! the spliced blocks). A pointer from a freed region, or from a region the reader does
//! not hold, is answered with [`RegionError::Foreign`]: no reader can hold a freed region,
//! so a matching id proves the object is alive.
//!
//! # Drop
//!
//! Regions never run destructors: allocating a type that needs `Drop` is refused at
//! compile time (a `const` assertion on `needs_drop`). Region objects own nothing outside
//! the region; strings and vectors are [`RSlice`]s allocated in the region too.

use crate::block::{Block, BlockPool, BlockSizeError, DEFAULT_BLOCK_SIZE, HEADER};
use crate::smr::Reclaim;
use crate::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::trace::Trace;
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::Arc;

/// One handle (or the owner) in [`Rcb::refs`].
pub(crate) const HANDLE: u64 = 1;
/// One atomic tether in [`Rcb::refs`].
pub(crate) const TETHER: u64 = 1 << 32;

/// Errors of region pointer access and of operations between regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionError {
    /// The pointer belongs to a region the reader does not hold (another region, or one
    /// that has been freed).
    Foreign {
        /// Id of the region the pointer came from.
        pointer: u64,
        /// Id of the region it was used with.
        region: u64,
    },
    /// Source and destination of an operation between regions are the same region.
    SameRegion,
    /// The region is shared (other handles or tethers exist) where sole ownership is
    /// needed (splicing).
    Shared,
    /// A tether was requested from a released region (an empty [`crate::RegionSlot`]).
    Released,
    /// A tether strategy was used with a region built for another one, or with a handle of
    /// another ebb-smr domain.
    WrongStrategy,
    /// An allocation too large for any block (or an alignment over 4 KiB).
    TooLarge,
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionError::Foreign { pointer, region } => write!(
                f,
                "pointer of region {pointer} used with region {region}, which does not hold it"
            ),
            RegionError::SameRegion => f.write_str("source and destination are the same region"),
            RegionError::Shared => f.write_str("the region has other handles or tethers"),
            RegionError::Released => f.write_str("the region has been released"),
            RegionError::WrongStrategy => {
                f.write_str("tether strategy or domain does not match the region's")
            }
            RegionError::TooLarge => f.write_str("allocation too large or too aligned"),
        }
    }
}

impl std::error::Error for RegionError {}

// === impl RPtr ===

/// A pointer to a `T` in a region: an address and the id of the region that allocated it.
///
/// Made only by allocation (and by transmigration, which rewrites copies). It is plain
/// data, `Copy`, `Send` and `Sync`; reading through it goes through
/// [`Region::get`], [`RegionHandle::get`] or a tether, which check the id.
#[repr(C)]
pub struct RPtr<T> {
    pub(crate) ptr: NonNull<T>,
    pub(crate) region: u64,
}

impl<T> Clone for RPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RPtr<T> {}

impl<T> PartialEq for RPtr<T> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr && self.region == other.region
    }
}
impl<T> Eq for RPtr<T> {}

impl<T> fmt::Debug for RPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RPtr({:p} in region {})", self.ptr, self.region)
    }
}

// SAFETY: an `RPtr` is an address and an id; it is never dereferenced except through a
// reader that holds its region and requires `T: Sync` when shared across threads.
unsafe impl<T> Send for RPtr<T> {}
// SAFETY: as for `Send`.
unsafe impl<T> Sync for RPtr<T> {}

impl<T> RPtr<T> {
    /// Id of the region that allocated the object.
    pub fn region_id(&self) -> u64 {
        self.region
    }

    /// The address, for identity comparisons (never dereferenceable without a reader).
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr().addr()
    }
}

/// A slice of `T` in a region (see [`RPtr`]): address, length and region id.
#[repr(C)]
pub struct RSlice<T> {
    pub(crate) ptr: NonNull<T>,
    pub(crate) len: usize,
    pub(crate) region: u64,
}

impl<T> Clone for RSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RSlice<T> {}

impl<T> fmt::Debug for RSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RSlice({:p}, len {} in region {})",
            self.ptr, self.len, self.region
        )
    }
}

// SAFETY: as for `RPtr`.
unsafe impl<T> Send for RSlice<T> {}
// SAFETY: as for `RPtr`.
unsafe impl<T> Sync for RSlice<T> {}

impl<T> RSlice<T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the slice has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Id of the region that allocated the slice.
    pub fn region_id(&self) -> u64 {
        self.region
    }
}

/// A UTF-8 string in a region.
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub struct RStr(pub(crate) RSlice<u8>);

impl RStr {
    /// The bytes of the string.
    pub fn as_bytes(&self) -> RSlice<u8> {
        self.0
    }
}

// === impl Rcb ===

/// An absorbed region: adopted whole, or some of its blocks spliced in.
pub(crate) struct Member {
    next: *mut Member,
    kind: MemberKind,
}

enum MemberKind {
    /// The adopted region, kept alive by this handle.
    Adopted(RegionHandle),
    /// Blocks taken from a consumed region: its pointers are accepted inside them.
    Spliced {
        id: u64,
        /// Sorted by base address.
        blocks: Vec<Block>,
        pool: Arc<BlockPool>,
    },
}

/// Allocation state of the chain: touched only by the owning [`Region`] (which is not
/// `Sync`) or by whoever frees the control block.
pub(crate) struct Chain {
    /// The blocks, in allocation order; `blocks[i]`'s header says index `i`.
    pub(crate) blocks: Vec<Block>,
}

/// Counts regions created and freed, for tests and tools (see [`RegionConfig::counter`]).
#[derive(Debug, Default)]
pub struct RegionCounter {
    created: std::sync::atomic::AtomicUsize,
    freed: std::sync::atomic::AtomicUsize,
}

impl RegionCounter {
    /// A new counter, to share between the regions it should count.
    pub fn new() -> Arc<RegionCounter> {
        Arc::new(RegionCounter::default())
    }
    /// Regions created with this counter.
    pub fn created(&self) -> usize {
        self.created.load(std::sync::atomic::Ordering::Acquire)
    }
    /// Regions freed (their memory handed back) among them.
    pub fn freed(&self) -> usize {
        self.freed.load(std::sync::atomic::Ordering::Acquire)
    }
    /// Regions created and not yet freed.
    pub fn live(&self) -> usize {
        self.created() - self.freed()
    }
}

/// The reference word of a control block, aligned (and so padded) to two cache lines,
/// the unit the adjacent-line prefetcher pulls in.
#[repr(align(128))]
pub(crate) struct RefWord(AtomicU64);

impl std::ops::Deref for RefWord {
    type Target = AtomicU64;
    #[inline]
    fn deref(&self) -> &AtomicU64 {
        &self.0
    }
}

/// The region control block.
pub(crate) struct Rcb {
    pub(crate) id: u64,
    pub(crate) block_size: usize,
    /// Low 32 bits: handles (the owner counts as one); high 32 bits: atomic tethers. The
    /// region is released when the word reaches zero. On a cache line of its own: atomic
    /// tethers on other cores write it, and the read-mostly fields beside it (the id that
    /// every read checks) would otherwise miss on each of those writes.
    pub(crate) refs: RefWord,
    pub(crate) pool: Arc<BlockPool>,
    pub(crate) chain: UnsafeCell<Chain>,
    /// Head of the list of absorbed regions; pushed by the owner (Release), read by any
    /// reader (Acquire); nodes live until the control block is freed.
    members: AtomicPtr<Member>,
    pub(crate) reclaim: Reclaim,
    /// Points to this control block until the region is released, then null: the cell
    /// that hazard-pointer tethers protect (see [`crate::smr`]).
    pub(crate) cell: ebb_smr::AtomicPtr<Rcb>,
    counter: Option<Arc<RegionCounter>>,
    /// Number of absorbed regions (for the adaptive evacuator's statistics).
    absorbed: AtomicUsize,
}

fn next_id() -> u64 {
    // Not modelled under loom: ids are not part of any protocol. Ids start at 1.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Rcb {
    /// True when a pointer with region id `id` at `addr` may be read by a holder of this
    /// region: its own id, an adopted region's (transitively), or a spliced one's inside
    /// the spliced blocks.
    pub(crate) fn accepts(&self, id: u64, addr: usize) -> bool {
        if id == self.id {
            return true;
        }
        self.accepts_member(id, addr)
    }

    #[cold]
    fn accepts_member(&self, id: u64, addr: usize) -> bool {
        let mut stack: Vec<&Rcb> = vec![self];
        while let Some(r) = stack.pop() {
            // Acquire: pairs with the Release push in `push_member`, so the node's fields
            // are visible.
            let mut m = r.members.load(Ordering::Acquire);
            while !m.is_null() {
                // SAFETY: member nodes are freed only with their control block, which the
                // caller holds alive (and adopted ones are kept alive by their handle).
                let node = unsafe { &*m };
                match &node.kind {
                    MemberKind::Adopted(h) => {
                        let inner = h.rcb();
                        if inner.id == id {
                            return true;
                        }
                        stack.push(inner);
                    }
                    MemberKind::Spliced {
                        id: sid, blocks, ..
                    } => {
                        if *sid == id {
                            let i = blocks.partition_point(|b| b.base.as_ptr().addr() <= addr);
                            if i > 0 {
                                let b = &blocks[i - 1];
                                if addr < b.base.as_ptr().addr() + b.bytes {
                                    return true;
                                }
                            }
                        }
                    }
                }
                m = node.next;
            }
        }
        false
    }

    /// Pushes an absorbed region. Only the owner calls it (the owner is not `Sync`, so
    /// pushes never race with each other; readers may walk the list meanwhile).
    fn push_member(&self, kind: MemberKind) {
        let node = Box::into_raw(Box::new(Member {
            next: self.members.load(Ordering::Relaxed),
            kind,
        }));
        // Release: publishes the node's fields to readers that Acquire-load the head.
        self.members.store(node, Ordering::Release);
        self.absorbed.fetch_add(1, Ordering::Relaxed);
    }

    /// Checks a pointer against this region and returns the reference.
    ///
    /// # Safety
    ///
    /// * The control block stays alive for `'a`.
    #[inline]
    pub(crate) unsafe fn read<'a, T>(&self, p: RPtr<T>) -> Result<&'a T, RegionError> {
        if self.accepts(p.region, p.ptr.as_ptr().addr()) {
            // SAFETY: `p` was made by allocating a `T` in region `p.region` (or by
            // transmigration writing a valid `T` there); that region is alive because the
            // caller keeps this control block alive for `'a`, and this one is that region or
            // keeps its memory (adopted handle or spliced blocks). Region memory is never
            // written through a shared path except by interior mutability inside `T`.
            Ok(unsafe { p.ptr.as_ref() })
        } else {
            Err(RegionError::Foreign {
                pointer: p.region,
                region: self.id,
            })
        }
    }

    /// As [`read`](Self::read), for slices.
    ///
    /// # Safety
    ///
    /// * The control block stays alive for `'a`.
    #[inline]
    pub(crate) unsafe fn read_slice<'a, T>(&self, s: RSlice<T>) -> Result<&'a [T], RegionError> {
        if s.len == 0 {
            // An empty slice refers to no memory: it reads the same through any region.
            return Ok(&[]);
        }
        if self.accepts(s.region, s.ptr.as_ptr().addr()) {
            // SAFETY: as in `read`: `s` was made by allocating `len` `T`s in region
            // `s.region`, which is alive for `'a`.
            Ok(unsafe { std::slice::from_raw_parts(s.ptr.as_ptr(), s.len) })
        } else {
            Err(RegionError::Foreign {
                pointer: s.region,
                region: self.id,
            })
        }
    }
}

/// Drops one reference (`amount` is [`HANDLE`] or [`TETHER`]); releases the region when it
/// was the last.
///
/// # Safety
///
/// * The caller owns one reference of kind `amount` to `rcb` and does not use `rcb` after.
pub(crate) unsafe fn drop_ref(rcb: NonNull<Rcb>, amount: u64) {
    // SAFETY: the caller's reference keeps the control block alive until this decrement.
    let prev = unsafe { rcb.as_ref() }
        .refs
        .fetch_sub(amount, Ordering::Release);
    debug_assert!(prev >= amount, "reference count underflow");
    if prev == amount {
        // Acquire: every other holder's accesses happen before the release below.
        crate::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: the count reached zero: no handle or tether remains, and none can be
        // made (they are made only from a live one). We own the control block now.
        unsafe { crate::smr::release(rcb) };
    }
}

/// Frees a released control block and its blocks, then those of regions it adopted that
/// it held last (iteratively: a long chain of adoptions does not recurse).
///
/// # Safety
///
/// * `rcb` came from `Box::into_raw` in [`Region::with_config`], its count is zero and no
///   reader can reach it (for hazard-pointer and epoch regions: the grace period is over).
pub(crate) unsafe fn free_rcb(rcb: NonNull<Rcb>) {
    let mut work = vec![rcb];
    while let Some(r) = work.pop() {
        // SAFETY: the caller (or the loop, for adopted regions whose count it brought to
        // zero) owns `r` exclusively; it came from `Box::into_raw`.
        let b = unsafe { Box::from_raw(r.as_ptr()) };
        let Rcb {
            pool,
            chain,
            members,
            counter,
            ..
        } = *b;
        // Last block first: the pool hands out last in, first out, so the next region
        // takes these blocks in the order this one did (ascending, for a prefaulted
        // slab: see `BlockPool::prefault`).
        for blk in chain.into_inner().blocks.into_iter().rev() {
            pool.put(blk);
        }
        let mut m = members.into_inner();
        while !m.is_null() {
            // SAFETY: nodes came from `Box::into_raw` in `push_member` and are freed here
            // once, with their control block.
            let node = unsafe { Box::from_raw(m) };
            m = node.next;
            match node.kind {
                MemberKind::Adopted(h) => {
                    let inner = h.rcb;
                    std::mem::forget(h);
                    // SAFETY: `h` owned one handle reference, which we now drop by hand;
                    // `inner` is not used after unless the count reached zero.
                    let prev = unsafe { inner.as_ref() }
                        .refs
                        .fetch_sub(HANDLE, Ordering::Release);
                    if prev == HANDLE {
                        crate::sync::atomic::fence(Ordering::Acquire);
                        // SAFETY: count reached zero; we own `inner`.
                        if unsafe { crate::smr::release_deferred(inner) } {
                            work.push(inner);
                        }
                    }
                }
                MemberKind::Spliced { blocks, pool, .. } => {
                    for blk in blocks {
                        pool.put(blk);
                    }
                }
            }
        }
        if let Some(c) = counter {
            c.freed.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
    }
}

// === impl RegionConfig ===

/// How to build a region.
#[derive(Clone, Debug, Default)]
pub struct RegionConfig {
    pub(crate) pool: Option<Arc<BlockPool>>,
    pub(crate) reclaim: Reclaim,
    pub(crate) counter: Option<Arc<RegionCounter>>,
}

impl RegionConfig {
    /// The default: 64 KiB blocks from [`BlockPool::global`], freed at once on release.
    pub fn new() -> RegionConfig {
        RegionConfig::default()
    }

    /// Blocks of `block_size` bytes from a new private pool keeping up to 16 MiB free.
    pub fn block_size(mut self, block_size: usize) -> Result<RegionConfig, BlockSizeError> {
        if block_size == DEFAULT_BLOCK_SIZE {
            self.pool = None;
        } else {
            self.pool = Some(BlockPool::new(
                block_size,
                ((16 << 20) / block_size).max(4),
            )?);
        }
        Ok(self)
    }

    /// Blocks from `pool`.
    pub fn pool(mut self, pool: Arc<BlockPool>) -> RegionConfig {
        self.pool = Some(pool);
        self
    }

    /// Counts this region in `counter` (created on build, freed on release).
    pub fn counter(mut self, counter: Arc<RegionCounter>) -> RegionConfig {
        self.counter = Some(counter);
        self
    }
}

// === impl Region ===

/// The owner of a region: allocates in it and reads it. `Send`, not `Sync` (allocation
/// bumps a pointer without synchronisation). Counts as one handle; dropping it releases
/// that reference (the region lives on while handles or tethers remain).
pub struct Region {
    rcb: NonNull<Rcb>,
    /// Next free byte of the current block; null before the first allocation.
    cur: Cell<*mut u8>,
    /// End of the current block (address); 0 before the first allocation, so that the
    /// first one takes the slow path.
    end: Cell<usize>,
    /// The region's id, as its pointers carry it (a copy of the control block's, so that
    /// an allocation does not load the control block).
    id: u64,
    /// Address of the first object of the current block's run (the cursor when the block
    /// was taken, after its header); 0 before the first allocation.
    run_start: Cell<usize>,
    /// Alignment padding inside the current run (allocations aligned above a word).
    pad: Cell<usize>,
    /// Object bytes outside the current run: earlier blocks, large objects, blocks
    /// written by the copier. With the run's bytes (`cur - run_start - pad`) this is
    /// [`used_bytes`](Region::used_bytes); the fast path keeps no counter of its own.
    done: Cell<usize>,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: the owner's state (`cur`, `end`, the chain) is touched only through `&Region`,
// which cannot be shared across threads (`Region` is not `Sync`); moving the owner to
// another thread moves all of it. The control block's shared parts are atomics.
unsafe impl Send for Region {}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Region")
            .field("id", &self.id())
            .field("used", &self.used_bytes())
            .field("blocks", &self.block_count())
            .finish()
    }
}

impl Default for Region {
    fn default() -> Self {
        Region::new()
    }
}

impl Region {
    /// A region with the default configuration.
    pub fn new() -> Region {
        Region::with_config(RegionConfig::default())
    }

    /// A region built as `cfg` says.
    pub fn with_config(cfg: RegionConfig) -> Region {
        let pool = cfg.pool.unwrap_or_else(|| BlockPool::global().clone());
        if let Some(c) = &cfg.counter {
            c.created.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        let rcb = Box::into_raw(Box::new(Rcb {
            id: next_id(),
            block_size: pool.block_size(),
            refs: RefWord(AtomicU64::new(HANDLE)),
            pool,
            chain: UnsafeCell::new(Chain { blocks: Vec::new() }),
            members: AtomicPtr::new(ptr::null_mut()),
            reclaim: cfg.reclaim,
            cell: ebb_smr::AtomicPtr::new(ptr::null_mut()),
            counter: cfg.counter,
            absorbed: AtomicUsize::new(0),
        }));
        // SAFETY: just allocated; nobody else sees it yet.
        unsafe { (*rcb).cell.store(rcb, Ordering::Relaxed) };
        Region {
            // SAFETY: `Box::into_raw` never returns null.
            rcb: unsafe { NonNull::new_unchecked(rcb) },
            cur: Cell::new(ptr::null_mut()),
            end: Cell::new(0),
            // SAFETY: just initialised above.
            id: unsafe { (*rcb).id },
            run_start: Cell::new(0),
            pad: Cell::new(0),
            done: Cell::new(0),
            _not_sync: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn rcb(&self) -> &Rcb {
        // SAFETY: the owner holds a handle reference: the control block is alive.
        unsafe { self.rcb.as_ref() }
    }

    pub(crate) fn rcb_ptr(&self) -> NonNull<Rcb> {
        self.rcb
    }

    /// The chain, for reading (no allocation may happen while the borrow lives).
    pub(crate) fn chain(&self) -> &Chain {
        // SAFETY: only the owner mutates the chain, through `&self` methods that do not
        // return or hold a borrow of it across calls; `Region` is not `Sync`.
        unsafe { &*self.rcb().chain.get() }
    }

    /// This region's id (the id its pointers carry).
    #[inline]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes of the region's blocks.
    pub fn block_size(&self) -> usize {
        self.rcb().block_size
    }

    /// Bytes allocated to objects so far (without padding and headers).
    pub fn used_bytes(&self) -> usize {
        self.done.get() + (self.cur.get().addr() - self.run_start.get()) - self.pad.get()
    }

    /// Closes the current run: its object bytes move to `done`.
    fn close_run(&self) {
        self.done.set(self.used_bytes());
        self.pad.set(0);
    }

    /// Blocks in the chain.
    pub fn block_count(&self) -> usize {
        self.chain().blocks.len()
    }

    /// Regions absorbed by [`adopt`](crate::adopt) or [`splice`](crate::splice).
    pub fn absorbed(&self) -> usize {
        self.rcb().absorbed.load(Ordering::Relaxed)
    }

    /// True when this owner is the region's only reference (no handle, no tether).
    pub fn is_unique(&self) -> bool {
        self.rcb().refs.load(Ordering::Acquire) == HANDLE
    }

    /// A `Send + Sync` handle that keeps the region alive and reads it.
    pub fn handle(&self) -> RegionHandle {
        RegionHandle::from_rcb_ref(self.rcb)
    }

    /// Gives up the right to allocate: the owner becomes a plain handle.
    pub fn into_handle(self) -> RegionHandle {
        let rcb = self.rcb;
        std::mem::forget(self);
        RegionHandle { rcb }
    }

    /// Allocates `size` bytes aligned to `align` (a power of two, at most 4 KiB) and
    /// returns their address; at least 8 bytes and 8-byte aligned, so that objects are
    /// word-aligned for the transmigration bitmap. Memory is uninitialised.
    #[inline]
    pub(crate) fn alloc_raw(&self, size: usize, align: usize) -> Result<*mut u8, RegionError> {
        let align = align.max(8);
        let size = size.max(1).next_multiple_of(8);
        let cur = self.cur.get();
        // `cur` is always word-aligned (sizes are whole words), so only larger alignments
        // round; `align` is a constant once inlined.
        let start = if align == 8 {
            cur.addr()
        } else {
            cur.addr().next_multiple_of(align)
        };
        // Before the first allocation `cur` and `end` are 0: the test fails for any size.
        if start + size <= self.end.get() {
            let p = cur.with_addr(start);
            if align != 8 {
                self.pad.set(self.pad.get() + (start - cur.addr()));
            }
            // SAFETY: `start + size <= end` is inside the current block, which the chain owns.
            self.cur.set(unsafe { p.add(size) });
            return Ok(p);
        }
        self.alloc_slow(size, align)
    }

    #[cold]
    fn alloc_slow(&self, size: usize, align: usize) -> Result<*mut u8, RegionError> {
        let bs = self.block_size();
        if align > 4096 {
            return Err(RegionError::TooLarge);
        }
        let rcb = self.rcb();
        // SAFETY: only the owner touches the chain; no borrow of it is held elsewhere.
        let chain = unsafe { &mut *rcb.chain.get() };
        let need = HEADER.next_multiple_of(align) + size;
        if need > bs {
            // A block of its own for a large object: its single object starts in the first
            // `bs` bytes, so masking the object's address still finds the header.
            let bytes = need
                .checked_next_multiple_of(bs)
                .ok_or(RegionError::TooLarge)?;
            if bytes > (1 << 40) {
                return Err(RegionError::TooLarge);
            }
            self.done.set(self.done.get() + size);
            let blk = rcb.pool.get_large(bytes);
            blk.set_header(rcb.id, chain.blocks.len());
            // SAFETY: `HEADER` rounded up to `align` is inside the block (bytes > need).
            let p = unsafe { blk.base.as_ptr().add(HEADER.next_multiple_of(align)) };
            chain.blocks.push(blk);
            return Ok(p);
        }
        let blk = rcb.pool.get();
        blk.set_header(rcb.id, chain.blocks.len());
        let base = blk.base.as_ptr();
        // SAFETY: `need <= bs`: the object and header fit in the block.
        let p = unsafe { base.add(HEADER.next_multiple_of(align)) };
        self.close_run();
        self.run_start.set(p.addr());
        // SAFETY: as above, `p + size <= base + bs`.
        self.cur.set(unsafe { p.add(size) });
        self.end.set(base.addr() + bs);
        chain.blocks.push(blk);
        Ok(p)
    }

    /// Allocates `value` in the region. Types that need `Drop` are refused at compile time:
    ///
    /// ```compile_fail
    /// #[derive(ebb_region::Trace)]
    /// struct Noisy(u8);
    /// impl Drop for Noisy {
    ///     fn drop(&mut self) {}
    /// }
    /// let r = ebb_region::Region::new();
    /// r.alloc(Noisy(1)); // error: region objects cannot need Drop
    /// ```
    #[inline]
    pub fn alloc<T: Trace>(&self, value: T) -> RPtr<T> {
        self.try_alloc(value).expect("allocation fits a block")
    }

    /// As [`alloc`](Self::alloc), with an error for a type too large or too aligned.
    #[inline]
    pub fn try_alloc<T: Trace>(&self, value: T) -> Result<RPtr<T>, RegionError> {
        const {
            assert!(
                !std::mem::needs_drop::<T>(),
                "region objects cannot need Drop"
            )
        };
        let p = self.alloc_raw(size_of::<T>(), align_of::<T>())?.cast::<T>();
        // SAFETY: `p` is fresh, aligned and large enough for a `T`, owned by the region.
        unsafe { p.write(value) };
        Ok(RPtr {
            // SAFETY: `alloc_raw` never returns null.
            ptr: unsafe { NonNull::new_unchecked(p) },
            region: self.id(),
        })
    }

    /// Allocates a copy of `items`.
    pub fn alloc_slice<T: Trace + Copy>(&self, items: &[T]) -> RSlice<T> {
        self.alloc_slice_with(items.len(), |i| items[i])
    }

    /// Allocates a slice of `len` elements, `f(i)` at index `i`.
    pub fn alloc_slice_with<T: Trace>(
        &self,
        len: usize,
        mut f: impl FnMut(usize) -> T,
    ) -> RSlice<T> {
        const {
            assert!(
                !std::mem::needs_drop::<T>(),
                "region objects cannot need Drop"
            )
        };
        if len == 0 {
            return RSlice {
                ptr: NonNull::dangling(),
                len: 0,
                region: self.id(),
            };
        }
        let bytes = size_of::<T>()
            .checked_mul(len)
            .expect("slice size overflows");
        let p = self
            .alloc_raw(bytes, align_of::<T>())
            .expect("allocation fits a block")
            .cast::<T>();
        for i in 0..len {
            // SAFETY: `i < len`: inside the fresh allocation of `len` `T`s. If `f` panics
            // the elements written stay in the region (no destructors to run).
            unsafe { p.add(i).write(f(i)) };
        }
        RSlice {
            // SAFETY: `alloc_raw` never returns null.
            ptr: unsafe { NonNull::new_unchecked(p) },
            len,
            region: self.id(),
        }
    }

    /// Allocates a copy of `s`.
    pub fn alloc_str(&self, s: &str) -> RStr {
        RStr(self.alloc_slice(s.as_bytes()))
    }

    /// Reads the object `p` points to, if `p` belongs to this region (or one it absorbed).
    #[inline]
    pub fn get<T>(&self, p: RPtr<T>) -> Result<&T, RegionError> {
        // SAFETY: `&self` keeps the owner's reference, hence the control block, alive.
        unsafe { self.rcb().read(p) }
    }

    /// Reads a slice of this region.
    #[inline]
    pub fn slice<T>(&self, s: RSlice<T>) -> Result<&[T], RegionError> {
        // SAFETY: as in `get`.
        unsafe { self.rcb().read_slice(s) }
    }

    /// Reads a string of this region.
    pub fn str(&self, s: RStr) -> Result<&str, RegionError> {
        let b = self.slice(s.0)?;
        // SAFETY: an `RStr` is made only by `alloc_str` from a `&str` (or by copying one
        // byte for byte in transmigration), so its bytes are UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(b) })
    }

    /// Pushes an absorbed region (adopt/splice).
    pub(crate) fn absorb_adopted(&self, h: RegionHandle) {
        self.rcb().push_member(MemberKind::Adopted(h));
    }

    pub(crate) fn absorb_spliced(&self, id: u64, mut blocks: Vec<Block>, pool: Arc<BlockPool>) {
        blocks.sort_by_key(|b| b.base.as_ptr().addr());
        self.rcb()
            .push_member(MemberKind::Spliced { id, blocks, pool });
    }

    /// Takes an ordinary block from the pool into the chain without allocating from it,
    /// and returns its base: transmigration fills it at the offsets its objects had in a
    /// source block of the same size (see `crate::transmigrate`). The bump cursor is left
    /// in its own block.
    pub(crate) fn push_block(&self) -> NonNull<u8> {
        let rcb = self.rcb();
        // SAFETY: only the owner touches the chain; no borrow of it is held elsewhere.
        let chain = unsafe { &mut *rcb.chain.get() };
        let blk = rcb.pool.get();
        blk.set_header(rcb.id, chain.blocks.len());
        let base = blk.base;
        chain.blocks.push(blk);
        base
    }

    /// Counts `bytes` more allocated to objects (written into a block from
    /// [`push_block`](Self::push_block)).
    #[inline]
    pub(crate) fn add_used(&self, bytes: usize) {
        self.done.set(self.done.get() + bytes);
    }

    /// Takes the chain out of a uniquely owned region (for splicing); the region is left
    /// empty and its allocation cursor reset.
    pub(crate) fn take_blocks(&self) -> Vec<Block> {
        self.cur.set(ptr::null_mut());
        self.end.set(0);
        self.run_start.set(0);
        self.pad.set(0);
        self.done.set(0);
        // SAFETY: only the owner touches the chain.
        let chain = unsafe { &mut *self.rcb().chain.get() };
        std::mem::take(&mut chain.blocks)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the owner holds one handle reference and does not use `rcb` after.
        unsafe { drop_ref(self.rcb, HANDLE) };
    }
}

// === impl RegionHandle ===

/// A shared reference to a region: `Send + Sync`, `Clone` (one atomic increment); reads
/// the region's objects of `Sync` types; keeps the region alive.
pub struct RegionHandle {
    pub(crate) rcb: NonNull<Rcb>,
}

// SAFETY: a handle only reads `Sync` objects and touches the control block's atomics.
unsafe impl Send for RegionHandle {}
// SAFETY: as above.
unsafe impl Sync for RegionHandle {}

impl fmt::Debug for RegionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegionHandle")
            .field("id", &self.id())
            .finish()
    }
}

impl Clone for RegionHandle {
    fn clone(&self) -> Self {
        RegionHandle::from_rcb_ref(self.rcb)
    }
}

impl Drop for RegionHandle {
    fn drop(&mut self) {
        // SAFETY: the handle owns one handle reference and does not use `rcb` after.
        unsafe { drop_ref(self.rcb, HANDLE) };
    }
}

impl RegionHandle {
    /// A new handle to a control block the caller keeps alive.
    pub(crate) fn from_rcb_ref(rcb: NonNull<Rcb>) -> RegionHandle {
        // Relaxed: the caller's live reference keeps the count above zero (as `Arc::clone`).
        // SAFETY: the caller holds a reference, so the control block is alive.
        let prev = unsafe { rcb.as_ref() }
            .refs
            .fetch_add(HANDLE, Ordering::Relaxed);
        assert!(
            prev & 0xffff_ffff < 0xffff_fff0,
            "too many handles to one region"
        );
        RegionHandle { rcb }
    }

    pub(crate) fn rcb(&self) -> &Rcb {
        // SAFETY: the handle's reference keeps the control block alive.
        unsafe { self.rcb.as_ref() }
    }

    /// The region's id.
    pub fn id(&self) -> u64 {
        self.rcb().id
    }

    /// Handles (with the owner) and atomic tethers held now.
    pub fn counts(&self) -> (u32, u32) {
        let w = self.rcb().refs.load(Ordering::Acquire);
        (w as u32, (w >> 32) as u32)
    }

    /// Reads the object `p` points to, if `p` belongs to this region.
    #[inline]
    pub fn get<T: Sync>(&self, p: RPtr<T>) -> Result<&T, RegionError> {
        // SAFETY: `&self` keeps the handle's reference alive for the borrow.
        unsafe { self.rcb().read(p) }
    }

    /// Reads a slice of this region.
    #[inline]
    pub fn slice<T: Sync>(&self, s: RSlice<T>) -> Result<&[T], RegionError> {
        // SAFETY: as in `get`.
        unsafe { self.rcb().read_slice(s) }
    }

    /// Reads a string of this region.
    pub fn str(&self, s: RStr) -> Result<&str, RegionError> {
        let b = self.slice(s.0)?;
        // SAFETY: as in `Region::str`.
        Ok(unsafe { std::str::from_utf8_unchecked(b) })
    }
}
