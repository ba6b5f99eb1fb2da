//! Per-thread magazines: the allocation fast path without a locked instruction.
//!
//! A [`Local`] keeps, per size class, a *magazine*: one bitmap word's worth of free slots
//! of the class's `current_partial` slab, claimed from the shared bitmap with a single CAS
//! that takes every free bit of the word. Allocating pops a bit from the magazine (plain
//! arithmetic) and publishes the slot's generation, with this `Local`'s owner tag, with a
//! `Release` store; freeing a slot of the magazine's own word pushes the bit back locally
//! after the generation election. The election is biased to the allocating `Local` (see
//! `bias.rs`): its free of a slot carrying its tag is a plain store after a compiler
//! fence, and only another thread's free of that slot pays (a CAS and a `membarrier`). So
//! an alloc/free pair on a warm magazine has no locked instruction, and a concurrent double
//! free is still answered with [`Error::DoubleFree`] for all but one caller. Where
//! `membarrier` is missing, frees use the CAS (one locked instruction per pair).
//!
//! While a magazine holds bits, its slab counts them as claimed, so the slab can be neither
//! recycled nor re-assigned: the magazine's (slab, word) always names the incarnation it
//! was filled from. A magazine is flushed (its bits released to the shared bitmap) when
//! it is refilled, when its epoch is found closed, on [`Local::flush`] and on drop.
//!
//! Frees of other slabs' slots (a random object of a large working set, say) are killed at
//! once and kept, bit still claimed, in the class's *stash*: up to [`STASH_CAP`] slots of
//! one open epoch, which the class's next allocations in that epoch issue again (most
//! recently freed first, one load and one store of the slot word) before any refill from
//! the shared bitmap. So a free that misses the magazine costs the election and a push,
//! with no read-modify-write of the slab's bitmap or `claimed` count, no reattach of a
//! detached slab under the pair's mutex, and the allocation after it no refill. A free that
//! finds the stash full first returns its older half to the shared bitmap, sorted so that
//! the slots of one bitmap word go back with one `fetch_or` and one `fetch_sub`. A stashed
//! slot is killed: stale and doubly freed handles into it are refused as for any freed
//! slot, and nobody else writes its slot word until this `Local` issues or releases it.
//!
//! Frees the stash does not take (a slot of a closed epoch, or of another open epoch while
//! the stash holds slots) are released a bitmap word at a time: the bits of consecutive
//! frees into one word wait in the `Local` and go back together when a free lands in
//! another word, on [`Local::flush`] and on drop.
//!
//! An epoch's slabs held by a live `Local` that is never used again (in a magazine, its
//! stash or among its deferred frees) are recycled only when that `Local` flushes: call
//! [`Local::flush`] before relying on `epoch_close` for RSS. A stash whose epoch closed is
//! also emptied by the class's next allocation in that epoch or free in another.

use crate::alloc::{Freer, Killed, SlabAlloc};
use crate::bias::{MAX_BACKOFF, MIN_BACKOFF, OWNER_SHIFT, Record};
use crate::counters::ClassCounters;
use crate::epoch::EpochId;
use crate::error::{Error, Result};
use crate::handle::{
    GEN_SHIFT, HandleParts, MAX_GENERATION, RawHandle, SLAB_KEY_MASK, SLAB_SHIFT, SLOT_SHIFT,
};
use crate::slab::{Chunk, GEN_MASK, HEADER_SIZE, LIVE, SLOTS_PER_WORD, owner_tag, tag_epoch};
use crate::sync::Ordering::{Acquire, Relaxed, Release};
use crate::sync::{AtomicU32, AtomicU64};
use std::ptr::NonNull;

/// The `key` of an empty magazine: no handle's `bits & SLAB_KEY_MASK` equals it (the mask
/// leaves the generation and slot bits clear).
const NO_KEY: u64 = u64::MAX;

/// One class's magazine. The fields both fast paths read come first; everything is
/// derived once at refill, so a warm alloc or free touches no shared metadata but the
/// slot word (and the epoch's ring word, read-only). Two cache lines (128 bytes), so that
/// indexing by class is a shift.
#[repr(align(64))]
struct Magazine<'a> {
    /// `bits & SLAB_KEY_MASK` of every handle into the magazine's slab (slab id, class,
    /// version), or [`NO_KEY`] when the magazine is empty. One compare tells a free that
    /// its handle's slab is the magazine's.
    key: u64,
    /// Claimed slots not handed out, as bits of `word`, besides `hot`.
    mask: u64,
    /// The slot this thread freed last into the magazine, if not handed out again, as
    /// the handle its next allocation will return (the freed handle with the generation
    /// the free stored), or 0 (never a handle: the version bits are non-zero).
    /// Allocating it needs no load of the slot word (nobody else writes the word of a
    /// slot whose bit is claimed), and a free makes it with one addition, which keeps
    /// the alloc/free dependency chain short.
    /// `mask != 0 || hot != 0` whenever `key != NO_KEY`.
    hot: u64,
    /// The first slot of `word` (`word * SLOTS_PER_WORD`).
    base_slot: usize,
    /// Object size of the class.
    size: usize,
    /// The slab's first object (dangling while the magazine is empty).
    objects: NonNull<u8>,
    /// The slab's slot words, one per object slot of the class (empty while the
    /// magazine is): the bounds check of `words.get(slot)` is the capacity check.
    words: &'a [AtomicU32],
    /// Where the bits live; `None` when the magazine is empty.
    chunk: Option<&'a Chunk>,
    /// The ring word of `epoch`, and its value while `epoch` is open; `open` is
    /// `u64::MAX` (never a ring word's value) while the magazine is empty, so the one
    /// compare of an allocation checks both.
    epoch_word: &'a AtomicU64,
    open: u64,
    epoch: u64,
    /// Allocations served since the last report to the shared counters.
    hits: u64,
    /// The slab's index in `chunk`.
    index: usize,
    /// The owner-tag bits allocations from this magazine store (0: unbiased).
    bias: u32,
}

impl<'a> Magazine<'a> {
    fn empty(alloc: &'a SlabAlloc) -> Magazine<'a> {
        Magazine {
            key: NO_KEY,
            mask: 0,
            hot: 0,
            base_slot: 0,
            size: 0,
            objects: NonNull::dangling(),
            words: &[],
            chunk: None,
            epoch_word: alloc.epoch_word(EpochId(0)),
            // Never a ring word's value (those end in a state below 3).
            open: u64::MAX,
            epoch: 0,
            hits: 0,
            index: 0,
            bias: 0,
        }
    }

    /// The magazine's slab id (meaningful while it is not empty).
    fn slab(&self) -> u32 {
        (self.key >> SLAB_SHIFT) as u32
    }

    /// The magazine's bitmap word.
    fn word(&self) -> usize {
        self.base_slot / SLOTS_PER_WORD
    }

    /// Marks the magazine empty (its bits were all handed out or released).
    #[inline]
    fn clear(&mut self) {
        self.key = NO_KEY;
        self.chunk = None;
        self.open = u64::MAX;
        self.mask = 0;
        self.hot = 0;
    }
}

/// The most killed slots one class's stash keeps; a free that finds it full first returns
/// its older half to the shared bitmap.
const STASH_CAP: usize = 128;

/// A killed slot whose bitmap bit this cache still holds, ready to be issued again.
#[derive(Clone, Copy)]
struct Stashed<'a> {
    chunk: &'a Chunk,
    /// The slab's id.
    slab: u32,
    /// The slab's index in `chunk` (`pos >> 8`) and the slot (`pos as u8`).
    pos: u32,
}

impl Stashed<'_> {
    fn index(&self) -> usize {
        (self.pos >> 8) as usize
    }

    fn slot(&self) -> usize {
        self.pos as u8 as usize
    }
}

/// One class's stash: slots this cache freed outside its magazine's word, all in slabs of
/// `epoch`, kept claimed so that its next allocations of the class in `epoch` reuse them
/// (most recently freed first) without touching the shared bitmap or the pair's lists.
struct Stash<'a> {
    epoch: u64,
    slots: Vec<Stashed<'a>>,
}

/// Slots of one bitmap word that this cache freed outside its magazines and stash, and has
/// not yet returned to the shared bitmap (see `Local::free_slow`).
struct Deferred<'a> {
    chunk: Option<&'a Chunk>,
    index: usize,
    word: usize,
    mask: u64,
}

/// A thread's cache in front of a [`SlabAlloc`]; see the module docs.
///
/// Not `Sync`: it is one thread's. It may move to another thread.
pub struct Local<'a> {
    alloc: &'a SlabAlloc,
    mags: Box<[Magazine<'a>]>,
    /// Per class, killed slots kept claimed for reuse (see [`Stash`]).
    stash: Box<[Stash<'a>]>,
    /// Freed slots of another slab (or word), released a word at a time.
    deferred: Deferred<'a>,
    /// `tag << OWNER_SHIFT` for the owner tag held, 0 for none.
    tag_bits: u32,
    /// The tag's record (tag 1's, unused, without a tag).
    rec: &'a Record,
    /// The owner tag held (1..=31), or 0.
    pub(crate) tag: u32,
    /// The tag record's revocation count at the last refill.
    seen_revoked: u64,
    /// Allocations this cache has reported (its magazines' hits, added up at each flush).
    served: u64,
    /// Allocations are unbiased until `served` reaches this.
    unbiased_until: u64,
    /// Allocations made unbiased after the next revocation seen.
    backoff: u64,
}

impl SlabAlloc {
    /// A per-thread magazine cache over this allocator.
    pub fn local(&self) -> Local<'_> {
        let tag = self.owners().acquire().unwrap_or(0);
        Local {
            alloc: self,
            mags: (0..self.class_count())
                .map(|_| Magazine::empty(self))
                .collect(),
            stash: (0..self.class_count())
                .map(|_| Stash {
                    epoch: 0,
                    slots: Vec::new(),
                })
                .collect(),
            deferred: Deferred {
                chunk: None,
                index: 0,
                word: 0,
                mask: 0,
            },
            tag_bits: tag << OWNER_SHIFT,
            rec: self.owners().record(tag.max(1)),
            tag,
            // A previous holder's revocations are not this cache's.
            seen_revoked: self.owners().record(tag.max(1)).revoked.load(Relaxed),
            served: 0,
            unbiased_until: 0,
            backoff: 0,
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
    #[inline(always)]
    pub fn alloc_ptr_in(&mut self, epoch: EpochId, class: u8) -> Result<(RawHandle, NonNull<u8>)> {
        if let Some(m) = self.mags.get_mut(class as usize)
            && m.epoch == epoch.0
            // Acquire: as in `epoch_is_open`. The magazine was filled for this epoch id
            // while the word said open; the word still saying so means the epoch has not
            // started closing (a closed ring slot is reopened only for a later id). An
            // empty magazine's `open` matches no ring word.
            && m.epoch_word.load(Acquire) == m.open
        {
            m.hits += 1;
            let (slot, g, sw, h);
            if m.hot != 0 {
                h = RawHandle::from_bits(m.hot);
                m.hot = 0;
                slot = (h.to_bits() >> SLOT_SHIFT) as u8 as usize;
                g = (h.to_bits() >> GEN_SHIFT) as u32 & GEN_MASK;
                // SAFETY: `hot` was made by a free whose `words.get(slot)` succeeded, in
                // this incarnation of the magazine (`clear` empties `hot`).
                sw = unsafe { m.words.get_unchecked(slot) };
                debug_assert_eq!(sw.load(Relaxed), g, "a hot slot's word is as freed");
            } else {
                let bit = m.mask.trailing_zeros() as usize;
                m.mask &= m.mask - 1;
                slot = m.base_slot + bit;
                // SAFETY: the magazine's bits are slots of the class's word masks, so
                // `slot < cap`, and an active magazine has `cap` words.
                sw = unsafe { m.words.get_unchecked(slot) };
                // Relaxed: the slot is ours (its bit is claimed); the free that set this
                // word happens-before our claim (through the bitmap's Release/Acquire, or
                // program order when this thread's free pushed the bit back).
                g = sw.load(Relaxed);
                debug_assert_eq!(g & !GEN_MASK, 0, "claimed a live or retired slot");
                h = RawHandle::from_bits(
                    m.key | (u64::from(g & GEN_MASK) << GEN_SHIFT) | ((slot as u64) << SLOT_SHIFT),
                );
            }
            // Release: a validator that reads LIVE also reads everything before the issue.
            // The owner tag lets this `Local` free the slot without a locked instruction.
            sw.store(g | LIVE | m.bias, Release);
            debug_assert_eq!(
                h.parts().map(|p| (p.slab, p.slot as usize, p.class)),
                Ok((m.slab(), slot, class))
            );
            // SAFETY: `slot < cap` (the magazine's bits are slots of the class's word
            // masks), so the object lies inside the magazine's slab, whose first object is
            // at `objects` (the magazine is not empty: `open` matched).
            let p = unsafe { m.objects.add(slot * m.size) };
            // `hot` is 0 here on both branches.
            if m.mask == 0 {
                m.clear();
            }
            return Ok((h, p));
        }
        self.alloc_slow(epoch, class)
    }

    #[cold]
    #[inline(never)]
    fn alloc_slow(&mut self, epoch: EpochId, class: u8) -> Result<(RawHandle, NonNull<u8>)> {
        let alloc = self.alloc;
        let m = self
            .mags
            .get_mut(class as usize)
            .ok_or(Error::UnknownClass { class })?;
        if !alloc.epoch_is_open(epoch) {
            if m.epoch == epoch.0 {
                self.served += Self::flush_one(alloc, m, class);
            }
            if let Some(st) = self.stash.get_mut(class as usize)
                && st.epoch == epoch.0
            {
                Self::spill(alloc, &mut st.slots, usize::MAX);
            }
            return Err(Error::EpochNotOpen { epoch });
        }
        if let Some(st) = self.stash.get_mut(class as usize)
            && st.epoch == epoch.0
            && let Some(s) = st.slots.pop()
        {
            m.hits += 1;
            let bias = self.next_bias();
            return Ok(Self::issue_stashed(alloc, s, class, bias));
        }
        self.refill(epoch, class)
    }

    /// Issues a stashed slot: its bit is this cache's, and its slot word says the
    /// generation this cache's own free stored (nobody else writes the word of a slot that
    /// is neither live nor free in the bitmap: a stale free's election fails first, and
    /// recycling needs every bit back in the bitmap).
    fn issue_stashed(
        alloc: &SlabAlloc,
        s: Stashed<'a>,
        class: u8,
        bias: u32,
    ) -> (RawHandle, NonNull<u8>) {
        let (index, slot) = (s.index(), s.slot());
        let sw = s.chunk.slot_word(index, slot);
        // Relaxed: this thread's kill wrote the word (program order), and no other thread
        // writes it while the bit is held.
        let g = sw.load(Relaxed);
        debug_assert_eq!(g & !GEN_MASK, 0, "a stashed slot is free, not retired");
        // Release: a validator that reads LIVE also reads everything before the issue.
        sw.store(g | LIVE | bias, Release);
        let h = RawHandle::new(HandleParts {
            slab: s.slab,
            generation: g & GEN_MASK,
            slot: slot as u8,
            class,
        });
        (h, alloc.slot_ptr(s.chunk, index, slot, class))
    }

    /// Returns the oldest `n` (at most all) stashed slots to the shared bitmap, one
    /// `release` per bitmap word they share.
    fn spill(alloc: &SlabAlloc, slots: &mut Vec<Stashed<'a>>, n: usize) {
        let n = n.min(slots.len());
        if n == 0 {
            return;
        }
        let out = &mut slots[..n];
        let key = |s: &Stashed<'_>| {
            (
                std::ptr::from_ref(s.chunk).addr(),
                s.index(),
                s.slot() / SLOTS_PER_WORD,
            )
        };
        out.sort_unstable_by_key(key);
        let mut i = 0;
        while i < n {
            let k = key(&out[i]);
            let mut mask = 0u64;
            let mut j = i;
            while j < n && key(&out[j]) == k {
                mask |= 1 << (out[j].slot() % SLOTS_PER_WORD);
                j += 1;
            }
            alloc.release(out[i].chunk, k.1, k.2, mask);
            i = j;
        }
        slots.drain(..n);
    }

    fn refill(&mut self, epoch: EpochId, class: u8) -> Result<(RawHandle, NonNull<u8>)> {
        let alloc = self.alloc;
        self.served += Self::flush_one(alloc, &mut self.mags[class as usize], class);
        let bias = self.next_bias();
        let m = &mut self.mags[class as usize];
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
            let key = RawHandle::new(HandleParts {
                slab,
                generation: 0,
                slot: 0,
                class,
            })
            .to_bits();
            *m = Magazine {
                key,
                mask: rest,
                hot: 0,
                base_slot: word * SLOTS_PER_WORD,
                size: alloc.class_size(class)?,
                // SAFETY: the slab's header and objects lie inside the chunk's mapping.
                objects: unsafe { chunk.at(chunk.slab_offset(index) + HEADER_SIZE) },
                words: chunk.slot_words(index, alloc.class_capacity(class)?),
                chunk: Some(chunk),
                epoch_word: alloc.epoch_word(epoch),
                open: SlabAlloc::open_word(epoch),
                epoch: epoch.0,
                hits: 1,
                index,
                bias,
            };
            if rest == 0 {
                m.clear();
            }
            let slot = word * SLOTS_PER_WORD + bit;
            // The magazine's first object carries the magazine's bias, as the rest do.
            let h = alloc.issue(chunk, index, slab, slot, class, bias);
            return Ok((h, alloc.slot_ptr(chunk, index, slot, class)));
        }
    }

    /// The owner-tag bits the next magazine allocates with: none without a tag, and none
    /// for the next `backoff` allocations after another thread revoked one of this tag's
    /// slots (`backoff` doubles with each revocation seen, from [`MIN_BACKOFF`] up to
    /// [`MAX_BACKOFF`]). Counted in allocations, not refills: a producer whose objects are
    /// freed elsewhere refills often, with the few slots its consumers gave back.
    fn next_bias(&mut self) -> u32 {
        if self.tag_bits == 0 {
            return 0;
        }
        let revoked = self.rec.revoked.load(Relaxed);
        if revoked != self.seen_revoked {
            self.seen_revoked = revoked;
            self.backoff = (self.backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
            self.unbiased_until = self.served + self.backoff;
        }
        if self.served < self.unbiased_until {
            0
        } else {
            self.tag_bits
        }
    }

    /// How this cache's frees run the election: the biased owner's path while it holds a
    /// tag, the CAS otherwise.
    #[inline(always)]
    fn freer(&self) -> Freer<'a> {
        if self.tag_bits != 0 {
            Freer::Owner {
                rec: self.rec,
                bits: self.tag_bits,
            }
        } else {
            Freer::Shared
        }
    }

    /// Frees `h`'s object; errors as [`SlabAlloc::free`]. Of concurrent frees of one
    /// handle exactly one succeeds and the others get [`Error::DoubleFree`]. A slot this
    /// `Local` allocated is freed with a plain store (see the module docs); another
    /// thread's slot costs a CAS, and one still biased to its allocating `Local` a
    /// `membarrier` as well.
    #[inline(always)]
    pub fn free(&mut self, h: RawHandle) -> Result<()> {
        self.free_as::<false>(h)
    }

    /// Frees `h`'s object like [`free`](Self::free), but without the election among
    /// concurrent frees of the same handle: the slot word is validated with a load and
    /// killed with a store, whoever allocated it, and no owner announcement is made. Stale,
    /// forged and sequential double frees are still refused with their errors. (`free`
    /// itself needs no locked instruction for slots this `Local` allocated, where
    /// `membarrier` works; this method also skips that path's announcement store, and needs
    /// no `membarrier` anywhere.)
    ///
    /// This is the contract `GlobalAlloc::dealloc` already imposes on its callers, and what
    /// an owner-token API (a handle that cannot be copied) guarantees by construction.
    ///
    /// # Safety
    ///
    /// - No other thread frees `h` (through any `Local`, [`SlabAlloc::free`] or this
    ///   method) while this call runs. Two racing frees could otherwise both succeed and
    ///   hand the slot out twice.
    #[inline(always)]
    pub unsafe fn free_owned(&mut self, h: RawHandle) -> Result<()> {
        self.free_as::<true>(h)
    }

    /// The free of a handle into the magazine's own slab (the common case) inline; every
    /// other handle, and the generation wrap, in `free_slow`.
    #[inline(always)]
    fn free_as<const OWNED: bool>(&mut self, h: RawHandle) -> Result<()> {
        let bits = h.to_bits();
        // A plain store for slots biased to this `Local` (or under `free_owned`'s
        // contract), the CAS election otherwise.
        let freer = if OWNED { Freer::Owned } else { self.freer() };
        let class = (bits >> crate::handle::CLASS_SHIFT) as u8;
        if let Some(m) = self.mags.get_mut(class as usize)
            // Same slab id, class and version as the magazine's (never true when empty).
            && bits & SLAB_KEY_MASK == m.key
        {
            let slot = (bits >> SLOT_SHIFT) as u8 as usize;
            let generation = (bits >> GEN_SHIFT) as u32 & GEN_MASK;
            // `words` has one word per slot of the class: `get` is the capacity check.
            if generation != MAX_GENERATION
                && let Some(sw) = m.words.get(slot)
            {
                self.alloc
                    .kill_word(sw, generation, generation + 1, bits, class, freer)?;
                let off = slot.wrapping_sub(m.base_slot);
                if off < SLOTS_PER_WORD {
                    // The slot's bit is claimed (by this incarnation, which the magazine
                    // pins); keeping it local keeps it claimed. The last freed slot goes
                    // to `hot` with the generation just stored (the previous one, if
                    // any, to the mask).
                    if m.hot != 0 {
                        m.mask |= 1 << (Self::hot_slot(m.hot) - m.base_slot);
                    }
                    // `generation < MAX_GENERATION`: the addition stays in its field.
                    m.hot = bits + (1 << GEN_SHIFT);
                } else {
                    Self::release_other(self.alloc, m, slot, generation);
                }
                return Ok(());
            }
        }
        self.free_slow(h, OWNED)
    }

    /// The slot of a `Magazine::hot` handle.
    #[inline(always)]
    fn hot_slot(hot: u64) -> usize {
        (hot >> SLOT_SHIFT) as u8 as usize
    }

    /// A killed slot of the magazine's slab outside its word: back to the shared bitmap.
    #[cold]
    #[inline(never)]
    fn release_other(alloc: &SlabAlloc, m: &Magazine<'a>, slot: usize, generation: u32) {
        let chunk = m.chunk.expect("an active magazine has its chunk");
        alloc.finish_free(Killed {
            chunk,
            index: m.index,
            parts: HandleParts {
                slab: m.slab(),
                generation,
                slot: slot as u8,
                class: chunk.class,
            },
            retired: false,
        });
    }

    #[cold]
    #[inline(never)]
    fn free_slow(&mut self, h: RawHandle, owned: bool) -> Result<()> {
        let alloc = self.alloc;
        let freer = if owned { Freer::Owned } else { self.freer() };
        let k = alloc.kill_as(h, freer)?;
        let slot = k.parts.slot as usize;
        if !k.retired
            && let Some(m) = self.mags.get_mut(k.parts.class as usize)
            && m.chunk.is_some()
            && m.slab() == k.parts.slab
            && m.word() == slot / SLOTS_PER_WORD
        {
            // The slot's bit is claimed (by this incarnation, which the magazine pins);
            // keeping it local keeps it claimed.
            m.mask |= 1 << (slot % SLOTS_PER_WORD);
            return Ok(());
        }
        if k.retired {
            alloc.finish_free(k);
            return Ok(());
        }
        // The slab's epoch: 0 while the allocator never opened another (which spares the
        // off-page load under a random working set), its owner tag's otherwise. Relaxed:
        // the slot's bit is still claimed, so the slab cannot be recycled or re-assigned,
        // and its owner tag was published before the bit (see `claim`); this thread's kill
        // is ordered after the slot's issue, which is after that claim.
        let epoch = if alloc.only_epoch_zero() {
            0
        } else {
            tag_epoch(k.chunk.metas[k.index].owner.load(Relaxed))
        };
        if let Some(st) = self.stash.get_mut(k.parts.class as usize)
            && alloc.epoch_is_open(EpochId(epoch))
        {
            if st.epoch != epoch && !st.slots.is_empty() {
                if alloc.epoch_is_open(EpochId(st.epoch)) {
                    Self::defer(alloc, &mut self.deferred, &k);
                    return Ok(());
                }
                Self::spill(alloc, &mut st.slots, usize::MAX);
            }
            if st.slots.len() >= STASH_CAP {
                Self::spill(alloc, &mut st.slots, STASH_CAP / 2);
            }
            st.epoch = epoch;
            st.slots.push(Stashed {
                chunk: k.chunk,
                slab: k.parts.slab,
                pos: (k.index as u32) << 8 | slot as u32,
            });
            return Ok(());
        }
        Self::defer(alloc, &mut self.deferred, &k);
        Ok(())
    }

    /// Keeps killed slot `k` among the deferred frees of its bitmap word.
    fn defer(alloc: &SlabAlloc, d: &mut Deferred<'a>, k: &Killed<'a>) {
        let slot = k.parts.slot as usize;
        // A slot of another slab or word, typically one another thread allocated: its bit
        // waits here with the other freed slots of its bitmap word, and the word goes back
        // with one `fetch_or` and one `fetch_sub` when a free lands in another word (or on
        // `flush`), instead of two locked instructions per free. The slot is killed
        // already: stale and doubly freed handles are refused as before; its bit stays
        // claimed a little longer, which keeps the slab from being recycled meanwhile.
        let (word, bit) = (slot / SLOTS_PER_WORD, 1 << (slot % SLOTS_PER_WORD));
        if d.chunk.is_some_and(|c| std::ptr::eq(c, k.chunk)) && d.index == k.index && d.word == word
        {
            d.mask |= bit;
        } else {
            Self::release_deferred(alloc, d);
            *d = Deferred {
                chunk: Some(k.chunk),
                index: k.index,
                word,
                mask: bit,
            };
        }
    }

    /// Returns the deferred word's slots to the shared bitmap.
    fn release_deferred(alloc: &SlabAlloc, d: &mut Deferred<'a>) {
        if let Some(chunk) = d.chunk.take() {
            alloc.release(chunk, d.index, d.word, d.mask);
        }
    }

    /// Releases every magazine's slots, and the slots it freed outside them (its stash and
    /// deferred frees), to the shared bitmap, and reports the counters.
    pub fn flush(&mut self) {
        let alloc = self.alloc;
        Self::release_deferred(alloc, &mut self.deferred);
        for st in self.stash.iter_mut() {
            Self::spill(alloc, &mut st.slots, usize::MAX);
        }
        for (class, m) in self.mags.iter_mut().enumerate() {
            self.served += Self::flush_one(alloc, m, class as u8);
        }
    }

    /// Releases one magazine's slots and reports its hits; returns the hits reported.
    fn flush_one(alloc: &SlabAlloc, m: &mut Magazine<'a>, class: u8) -> u64 {
        let hits = m.hits;
        if m.hits != 0 {
            alloc
                .counters_of(class)
                .fast_path_allocs
                .fetch_add(m.hits, Relaxed);
            m.hits = 0;
        }
        if let Some(chunk) = m.chunk {
            let mut mask = m.mask;
            if m.hot != 0 {
                mask |= 1 << (Self::hot_slot(m.hot) - m.base_slot);
            }
            alloc.release(chunk, m.index, m.word(), mask);
        }
        m.clear();
        hits
    }
}

// SAFETY: a `Local` is one thread's cache, used through `&mut self` only, and may move to
// another thread: `objects` points into the allocator's chunk memory, which is shared by
// every thread that holds `&SlabAlloc` (the `&Chunk` beside it is `Send` for the same
// reason); the biased election is correct whichever thread runs the owner's side, since the
// revoker's barrier reaches every thread of the process.
unsafe impl Send for Local<'_> {}

impl Drop for Local<'_> {
    fn drop(&mut self) {
        self.flush();
        if self.tag != 0 {
            // This cache's frees are over; the tag's slots stay biased to it, for its next
            // holder.
            self.alloc.owners().release(self.tag);
        }
    }
}

impl std::fmt::Debug for Local<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("alloc", &self.alloc.instance_id())
            .finish_non_exhaustive()
    }
}
