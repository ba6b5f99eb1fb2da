//! Blocks and the pool they come from.
//!
//! A block is `size` bytes aligned to `size` (a power of two), so the block holding an
//! object is found by masking the object's address. Its first [`HEADER`] bytes are a
//! [`Header`]: the owning region's id and the block's index in that region's chain, which
//! transmigration uses to find a source object's bitmap words in O(1).
//!
//! Fresh memory costs a page fault per 4 KiB on first touch, about as much as copying
//! into it, so blocks are recycled through a [`BlockPool`] that keeps freed blocks and can
//! pre-fault new ones ([`BlockPool::prefault`]). Every raw allocation of block memory
//! goes through [`raw_alloc`] and [`raw_free`] in this module.

use std::alloc::{self, Layout};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, OnceLock};

/// Bytes at the start of each block taken by its [`Header`] (a cache line, so that the
/// first object starts aligned for any type of alignment up to 64).
pub(crate) const HEADER: usize = 64;

/// The smallest block size a region accepts.
pub const MIN_BLOCK_SIZE: usize = 1 << 10;
/// The largest block size a region accepts.
pub const MAX_BLOCK_SIZE: usize = 1 << 24;
/// The default block size: 64 KiB.
pub const DEFAULT_BLOCK_SIZE: usize = 64 << 10;

/// The header at the start of every block.
#[repr(C)]
pub(crate) struct Header {
    /// Id of the region whose chain holds the block (rewritten when a block is spliced
    /// into another region).
    pub(crate) region: u64,
    /// Index of the block in its region's chain.
    pub(crate) index: usize,
    /// Bytes of the block (a multiple of the region's block size; more than one block
    /// size only for a block holding one large object).
    pub(crate) bytes: usize,
}

/// One block owned by a region's chain. Not `Clone`: it is freed exactly once, by
/// [`BlockPool::put`].
#[derive(Debug)]
pub(crate) struct Block {
    /// Start of the block; `bytes` bytes, aligned to the pool's block size.
    pub(crate) base: NonNull<u8>,
    /// Length in bytes (`== pool.block_size()` for ordinary blocks).
    pub(crate) bytes: usize,
    /// Carved from one of its pool's slabs ([`BlockPool::prefault`]): never freed alone,
    /// always kept by the pool, freed with the slab when the pool is dropped.
    pub(crate) slab: bool,
}

// SAFETY: a `Block` is an owned allocation with no thread affinity.
unsafe impl Send for Block {}

impl Block {
    /// Writes the header.
    pub(crate) fn set_header(&self, region: u64, index: usize) {
        // SAFETY: `base` is the start of a live allocation of at least `HEADER` bytes,
        // aligned to at least 1 KiB, owned by this block; nothing else aliases the header.
        unsafe {
            self.base.as_ptr().cast::<Header>().write(Header {
                region,
                index,
                bytes: self.bytes,
            })
        }
    }
}

/// The header of the block of `block_size` bytes that holds `addr`, if `addr` lies in
/// the first `block_size` bytes of a block of a region of that block size (reading it is
/// the caller's obligation).
pub(crate) fn header_of(addr: *const u8, block_size: usize) -> *const Header {
    let base = addr.map_addr(|a| a & !(block_size - 1));
    base.cast()
}

/// A pool of free blocks of one size, shared by the regions that use it.
///
/// Blocks returned by regions are kept (up to `max_cached`) and handed out again before
/// any new memory is allocated; [`prefault`](Self::prefault) allocates blocks ahead of
/// time and touches every page, so that a region filling them pays no page faults. The
/// pool hands out its free blocks last in, first out. Prefaulted blocks are always kept
/// (they are freed with their slab when the pool is dropped), so the free list holds at
/// most `max_cached` blocks besides them.
#[derive(Debug)]
pub struct BlockPool {
    block_size: usize,
    max_cached: usize,
    free: Mutex<Vec<Block>>,
    /// The contiguous allocations that [`prefault`](Self::prefault) carved blocks from;
    /// freed when the pool is dropped, when every block is back in `free`.
    slabs: Mutex<Vec<Block>>,
}

/// Error building a pool or a region with an invalid block size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSizeError(pub usize);

impl std::fmt::Display for BlockSizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "block size {} is not a power of two in {MIN_BLOCK_SIZE}..={MAX_BLOCK_SIZE}",
            self.0
        )
    }
}

impl std::error::Error for BlockSizeError {}

impl BlockPool {
    /// A pool of blocks of `block_size` bytes that keeps at most `max_cached` free ones
    /// besides the prefaulted ones.
    pub fn new(block_size: usize, max_cached: usize) -> Result<Arc<BlockPool>, BlockSizeError> {
        if !block_size.is_power_of_two() || !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size)
        {
            return Err(BlockSizeError(block_size));
        }
        Ok(Arc::new(BlockPool {
            block_size,
            max_cached,
            free: Mutex::new(Vec::new()),
            slabs: Mutex::new(Vec::new()),
        }))
    }

    /// The process-wide pool of [`DEFAULT_BLOCK_SIZE`] blocks (keeps up to 64 MiB free).
    pub fn global() -> &'static Arc<BlockPool> {
        static GLOBAL: OnceLock<Arc<BlockPool>> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            BlockPool::new(DEFAULT_BLOCK_SIZE, (64 << 20) / DEFAULT_BLOCK_SIZE)
                .expect("the default block size is valid")
        })
    }

    /// Bytes per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Free blocks held now.
    pub fn cached(&self) -> usize {
        self.lock().len()
    }

    /// Allocates blocks until `n` are free in the pool (at most `max_cached`), touching
    /// every 4 KiB page of each so that later use takes no first-touch fault.
    ///
    /// The new blocks are carved from one contiguous allocation (a slab) and handed out
    /// in ascending address order, so that a region filling them one after another
    /// writes one ascending run of memory, which the hardware prefetchers follow from
    /// block to block (separate allocations leave gaps that restart their streams at every
    /// block). The pool keeps these blocks until it is dropped, whatever `max_cached`.
    pub fn prefault(&self, n: usize) {
        let n = n.min(self.max_cached);
        let k = n.saturating_sub(self.cached());
        if k == 0 {
            return;
        }
        let bytes = self
            .block_size
            .checked_mul(k)
            .expect("prefaulted bytes fit in usize");
        let slab = raw_alloc(bytes, self.block_size);
        touch(&slab);
        let base = slab.base;
        self.slabs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(slab);
        let mut free = self.lock();
        // Highest first: the free list is popped from its end.
        for j in (0..k).rev() {
            free.push(Block {
                // SAFETY: `j * block_size < bytes`: inside the slab, a live allocation
                // that the pool frees only when it is dropped.
                base: unsafe { base.add(j * self.block_size) },
                bytes: self.block_size,
                slab: true,
            });
        }
    }

    /// A block of `block_size` bytes: a cached one, else a fresh allocation.
    pub(crate) fn get(&self) -> Block {
        if let Some(b) = self.lock().pop() {
            return b;
        }
        raw_alloc(self.block_size, self.block_size)
    }

    /// A block of `bytes` bytes (a multiple of `block_size`, larger than one block) for a
    /// large object; never cached.
    pub(crate) fn get_large(&self, bytes: usize) -> Block {
        raw_alloc(bytes, self.block_size)
    }

    /// Takes a block back: kept if it is a slab block, or an ordinary block and there is
    /// room; else freed.
    pub(crate) fn put(&self, b: Block) {
        if b.slab {
            self.lock().push(b);
            return;
        }
        if b.bytes == self.block_size {
            let mut free = self.lock();
            if free.len() < self.max_cached {
                free.push(b);
                return;
            }
        }
        raw_free(b, self.block_size);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Block>> {
        // A panic while holding the lock cannot leave the vector inconsistent.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for BlockPool {
    fn drop(&mut self) {
        let align = self.block_size;
        for b in self
            .free
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            // Slab blocks go with their slab: every block of a pool is back in `free`
            // when the pool is dropped (regions and spliced blocks hold the pool).
            if !b.slab {
                raw_free(b, align);
            }
        }
        for s in self
            .slabs
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            raw_free(s, align);
        }
    }
}

/// Writes one byte per 4 KiB page so the kernel maps each page now.
fn touch(b: &Block) {
    let mut off = 0;
    while off < b.bytes {
        // SAFETY: `off < bytes`: inside the block's allocation, which we own exclusively.
        unsafe { b.base.as_ptr().add(off).write_volatile(0) };
        off += 4096;
    }
}

/// Allocates `bytes` bytes aligned to `align`: the one place block memory is allocated.
fn raw_alloc(bytes: usize, align: usize) -> Block {
    let layout = Layout::from_size_align(bytes, align).expect("block layout is valid");
    // SAFETY: `layout` has a non-zero size (at least MIN_BLOCK_SIZE).
    let p = unsafe { alloc::alloc(layout) };
    let Some(base) = NonNull::new(p) else {
        alloc::handle_alloc_error(layout)
    };
    Block {
        base,
        bytes,
        slab: false,
    }
}

/// Frees a block allocated by [`raw_alloc`] with the same alignment (not a slab block).
fn raw_free(b: Block, align: usize) {
    debug_assert!(!b.slab, "a slab block is freed with its slab");
    let layout = Layout::from_size_align(b.bytes, align).expect("block layout is valid");
    // SAFETY: `b` came from `raw_alloc(b.bytes, align)` and is freed once (a `Block` is
    // not `Clone`, and `put`/`Drop` consume it).
    unsafe { alloc::dealloc(b.base.as_ptr(), layout) };
}
