//! Per-thread magazines: the allocation fast path without a locked instruction.
//!
//! A [`Local`] keeps, per size class, a *magazine*: one bitmap word's worth of free slots
//! of the class's `current_partial` slab, claimed from the shared bitmap with a single CAS
//! that takes every free bit of the word. Allocating pops a bit from the magazine (plain
//! arithmetic) and publishes the slot's generation with a `Release` store; freeing a slot
//! of the magazine's own word pushes the bit back locally after the generation CAS. So an
//! alloc/free pair on a warm magazine costs one locked instruction (the CAS that elects
//! the single winner among concurrent frees of one handle), against three to five on the
//! shared path.
//!
//! While a magazine holds bits, its slab counts them as claimed, so the slab can be neither
//! recycled nor re-assigned: the magazine's (slab, word) always names the incarnation it
//! was filled from. A magazine is flushed (its bits released to the shared bitmap) when
//! it is refilled, when its epoch is found closed, on [`Local::flush`] and on drop. An
//! epoch's slabs held by a live `Local` that is never used again are recycled only when
//! that `Local` flushes: call [`Local::flush`] before relying on `epoch_close` for RSS.

use crate::alloc::SlabAlloc;
use crate::counters::ClassCounters;
use crate::epoch::EpochId;
use crate::error::{Error, Result};
use crate::handle::RawHandle;
use crate::slab::{Chunk, SLOTS_PER_WORD, owner_tag};
use crate::sync::Ordering::{Acquire, Relaxed};
use std::ptr::NonNull;

#[derive(Default)]
struct Magazine<'a> {
    /// Where the bits live; `None` when the magazine is empty.
    chunk: Option<&'a Chunk>,
    index: usize,
    slab: u32,
    epoch: u64,
    word: usize,
    /// Objects per slab of the magazine's class.
    cap: usize,
    /// Claimed slots not handed out, as bits of `word`. Non-zero whenever `chunk` is set.
    mask: u64,
    /// Allocations served since the last report to the shared counters.
    hits: u64,
}

/// A thread's cache in front of a [`SlabAlloc`]; see the module docs.
///
/// Not `Sync`: it is one thread's. It may move to another thread.
pub struct Local<'a> {
    alloc: &'a SlabAlloc,
    mags: Box<[Magazine<'a>]>,
}

impl SlabAlloc {
    /// A per-thread magazine cache over this allocator.
    pub fn local(&self) -> Local<'_> {
        Local {
            alloc: self,
            mags: (0..self.class_count())
                .map(|_| Magazine::default())
                .collect(),
        }
    }
}

impl<'a> Local<'a> {
    /// The allocator behind this cache.
    pub fn allocator(&self) -> &'a SlabAlloc {
        self.alloc
    }

    /// Allocates `size` bytes in the current epoch.
    #[inline]
    pub fn alloc(&mut self, size: usize) -> Result<RawHandle> {
        let epoch = self.alloc.epoch_current();
        self.alloc_in(epoch, size)
    }

    /// Allocates `size` bytes in `epoch`.
    #[inline]
    pub fn alloc_in(&mut self, epoch: EpochId, size: usize) -> Result<RawHandle> {
        let class = self.alloc.class_for_size(size)?;
        self.alloc_class_in(epoch, class)
    }

    /// Allocates one object of `class` in `epoch`.
    #[inline]
    pub fn alloc_class_in(&mut self, epoch: EpochId, class: u8) -> Result<RawHandle> {
        self.alloc_ptr_in(epoch, class).map(|(h, _)| h)
    }

    /// Allocates one object of `class` in `epoch` and returns its handle and address
    /// (what [`SlabAlloc::get_ptr`] would return, without validating the fresh handle
    /// again). The pointer carries the same contract as `get_ptr`'s.
    #[inline]
    pub fn alloc_ptr_in(&mut self, epoch: EpochId, class: u8) -> Result<(RawHandle, NonNull<u8>)> {
        let alloc = self.alloc;
        let m = self
            .mags
            .get_mut(class as usize)
            .ok_or(Error::UnknownClass { class })?;
        if !alloc.epoch_is_open(epoch) {
            if m.epoch == epoch.0 {
                Self::flush_one(alloc, m, class);
            }
            return Err(Error::EpochNotOpen { epoch });
        }
        if let (Some(chunk), true) = (m.chunk, m.epoch == epoch.0) {
            let bit = m.mask.trailing_zeros() as usize;
            m.mask &= m.mask - 1;
            m.hits += 1;
            let slot = m.word * SLOTS_PER_WORD + bit;
            let h = alloc.issue(chunk, m.index, m.slab, slot, class);
            let p = alloc.slot_ptr(chunk, m.index, slot, class);
            if m.mask == 0 {
                m.chunk = None;
            }
            return Ok((h, p));
        }
        self.refill(epoch, class)
    }

    #[cold]
    fn refill(&mut self, epoch: EpochId, class: u8) -> Result<(RawHandle, NonNull<u8>)> {
        let alloc = self.alloc;
        let m = &mut self.mags[class as usize];
        Self::flush_one(alloc, m, class);
        let tag = owner_tag(epoch.0, class);
        loop {
            let cur = alloc.pair_current(epoch, class).load(Acquire);
            if cur == 0 {
                ClassCounters::bump(&alloc.counters_of(class).current_partial_null);
                alloc.refill(epoch, class, 0)?;
                continue;
            }
            let slab = cur - 1;
            let (chunk, index) = alloc.chunk(slab).expect("published slabs exist");
            let Some((word, mask)) = alloc.claim(chunk, index, tag, class, true) else {
                ClassCounters::bump(&alloc.counters_of(class).current_partial_full);
                alloc.refill(epoch, class, cur)?;
                continue;
            };
            let bit = mask.trailing_zeros() as usize;
            let rest = mask & (mask - 1);
            *m = Magazine {
                chunk: (rest != 0).then_some(chunk),
                index,
                slab,
                epoch: epoch.0,
                word,
                cap: alloc.class_capacity(class)?,
                mask: rest,
                hits: 1,
            };
            let slot = word * SLOTS_PER_WORD + bit;
            let h = alloc.issue(chunk, index, slab, slot, class);
            return Ok((h, alloc.slot_ptr(chunk, index, slot, class)));
        }
    }

    /// Frees `h`'s object; errors as [`SlabAlloc::free`].
    #[inline]
    pub fn free(&mut self, h: RawHandle) -> Result<()> {
        self.free_as(h, false)
    }

    /// Frees `h`'s object like [`free`](Self::free), but without the CAS that elects one
    /// winner among concurrent frees of the same handle: the slot word is validated with a
    /// load and killed with a store, so a warm alloc/free pair has no locked instruction.
    /// Stale, forged and sequential double frees are still refused with their errors.
    ///
    /// This is the contract `GlobalAlloc::dealloc` already imposes on its callers, and what
    /// an owner-token API (a handle that cannot be copied) guarantees by construction.
    ///
    /// # Safety
    ///
    /// - No other thread frees `h` (through any `Local`, [`SlabAlloc::free`] or this
    ///   method) while this call runs. Two racing frees could otherwise both succeed and
    ///   hand the slot out twice.
    #[inline]
    pub unsafe fn free_owned(&mut self, h: RawHandle) -> Result<()> {
        self.free_as(h, true)
    }

    #[inline]
    fn free_as(&mut self, h: RawHandle, owned: bool) -> Result<()> {
        let alloc = self.alloc;
        let p = h.parts()?;
        // A handle into the magazine's own slab skips the registry lookup: the magazine
        // already holds the chunk, and its class and capacity.
        if let Some(m) = self.mags.get_mut(p.class as usize)
            && let Some(chunk) = m.chunk
            && m.slab == p.slab
            && (p.slot as usize) < m.cap
        {
            let k = SlabAlloc::kill_located(chunk, m.index, p, owned)?;
            let slot = p.slot as usize;
            if !k.retired && m.word == slot / SLOTS_PER_WORD {
                m.mask |= 1 << (slot % SLOTS_PER_WORD);
            } else {
                alloc.finish_free(k);
            }
            return Ok(());
        }
        let k = alloc.kill_as(h, owned)?;
        let slot = k.parts.slot as usize;
        if !k.retired
            && let Some(m) = self.mags.get_mut(k.parts.class as usize)
            && m.chunk.is_some()
            && m.slab == k.parts.slab
            && m.word == slot / SLOTS_PER_WORD
        {
            // The slot's bit is claimed (by this incarnation, which the magazine pins);
            // keeping it local keeps it claimed.
            m.mask |= 1 << (slot % SLOTS_PER_WORD);
            return Ok(());
        }
        alloc.finish_free(k);
        Ok(())
    }

    /// Releases every magazine's slots to the shared bitmap and reports the counters.
    pub fn flush(&mut self) {
        let alloc = self.alloc;
        for (class, m) in self.mags.iter_mut().enumerate() {
            Self::flush_one(alloc, m, class as u8);
        }
    }

    fn flush_one(alloc: &SlabAlloc, m: &mut Magazine<'a>, class: u8) {
        if m.hits != 0 {
            alloc
                .counters_of(class)
                .fast_path_allocs
                .fetch_add(m.hits, Relaxed);
            m.hits = 0;
        }
        if let Some(chunk) = m.chunk.take() {
            alloc.release(chunk, m.index, m.word, m.mask);
            m.mask = 0;
        }
    }
}

impl Drop for Local<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

impl std::fmt::Debug for Local<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("alloc", &self.alloc.instance_id())
            .finish_non_exhaustive()
    }
}
