//! [`Map`]: a read-mostly concurrent hash map. Reads are lock-free and write nothing
//! shared; writers lock one of 64 stripes (by hash) and never block readers.
//!
//! # Layout
//!
//! The table is one allocation: a header (the slot mask) followed by a power-of-two
//! array of slots, open-addressed with linear probing. A slot is one word:
//!
//! * `EMPTY` (null): never used; a probe that reaches it stops.
//! * `TOMBSTONE`: its entry was removed; probes go past it and an insert may reuse it.
//! * `MOVED`: the table was replaced by a larger one; a reader that sees it restarts on
//!   the current table.
//! * an entry pointer: a boxed, immutable `(K, V)` aligned to 16 bytes, whose four free
//!   low bits carry the top four bits of the key's hash (a *tag*). A probe dereferences
//!   only the entries whose tag matches (one in sixteen of the others), so a lookup is
//!   one hop from the slot to the entry, as in an open-addressed table of pointers.
//!
//! A slot never goes back to `EMPTY`, which keeps linear probing's invariant for
//! concurrent readers: between a key's home slot and the slot that holds it, no slot is
//! empty.
//!
//! # Writes
//!
//! A write locks the stripe of its key's hash (`h % 64`). Only that stripe's writers
//! ever change a slot that holds one of its keys: a replace or an update stores the new
//! entry into the key's slot, a remove stores `TOMBSTONE`; the replaced entry is retired
//! through ebb-smr, so readers that loaded it keep a valid `&V` until their guard ends.
//! Keys of different stripes share probe sequences, so a free slot (`EMPTY` or
//! `TOMBSTONE`) is claimed with a compare-and-swap; a writer that loses the race probes
//! again. An entry is replaced, never mutated, so readers need no lock and write nothing.
//!
//! When the used slots (entries and tombstones) pass three quarters of the table, the
//! writer locks every stripe in order and rebuilds the table at a size that leaves it
//! at most half full (rehashing each key; tombstones are dropped). The new table is
//! published by pointer swap, then every slot of the old one is set to `MOVED` before
//! the old table is retired: a reader still probing the old table either validates an
//! entry that is not yet retired (an entry is retired only by a writer of the new table,
//! after this) or finds `MOVED` and restarts. (Under hazard pointers a reader validates
//! its entry against the slot it loaded it from; without the `MOVED` marks, that slot
//! could keep an entry that the new table had already replaced and retired.)
//!
//! Reads take two protections (table, entry). [`get`](Map::get_with) returns a
//! reference valid while the guard is borrowed; iteration ([`for_each_with`]) is weakly
//! consistent: writes to slots already visited or not yet visited may or may not be
//! seen, and if the table is replaced mid-walk the walk restarts on the new table, so
//! an entry may be passed to the callback twice.
//!
//! [`for_each_with`]: Map::for_each_with

use crate::stripes::{Counts, Stripes};
use crate::sync::MutexGuard;
use crate::sync::atomic::{AtomicPtr, Ordering};
use core::alloc::Layout;
use core::borrow::Borrow;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::marker::PhantomData;
use core::ptr;
use ebb_smr::{DomainId, Smr, SmrError, SmrGuard};
use std::collections::hash_map::RandomState;

/// The fewest slots a table has (small under the model checkers so that their few
/// inserts rebuild the table).
const MIN_SLOTS: usize = if cfg!(any(miri, ebb_loom)) { 4 } else { 64 };

/// Tag bits in an entry pointer (the entry's alignment is `1 << TAG_BITS`).
const TAG_BITS: u32 = 4;
const TAG_MASK: usize = (1 << TAG_BITS) - 1;

/// Slot words that are not entries (their address part is 0).
const EMPTY: usize = 0;
const TOMBSTONE: usize = 1;
const MOVED: usize = 2;

/// An entry: immutable once published; replaced as a whole.
#[repr(C, align(16))]
struct Entry<K, V> {
    key: K,
    value: V,
}

const _: () = assert!(core::mem::align_of::<Entry<u8, u8>>() == 1 << TAG_BITS);

/// The tag of hash `h`: its top bits (the home slot uses the low ones).
#[inline(always)]
fn tag(h: u64) -> usize {
    (h >> (64 - TAG_BITS)) as usize
}

/// A sentinel slot word (`EMPTY`, `TOMBSTONE`, `MOVED`) as a pointer.
#[inline(always)]
fn sentinel<K, V>(w: usize) -> *mut Entry<K, V> {
    ptr::without_provenance_mut(w)
}

/// What a slot word holds.
enum Word<K, V> {
    Empty,
    Tombstone,
    Moved,
    /// An entry and its tag.
    Entry(*mut Entry<K, V>, usize),
}

#[inline(always)]
fn decode<K, V>(w: *mut Entry<K, V>) -> Word<K, V> {
    let a = w.addr();
    if a > TAG_MASK {
        Word::Entry(w.map_addr(|a| a & !TAG_MASK), a & TAG_MASK)
    } else if a == EMPTY {
        Word::Empty
    } else if a == TOMBSTONE {
        Word::Tombstone
    } else {
        Word::Moved
    }
}

/// The header of a table; `mask + 1` slots follow it in the same allocation.
#[repr(C)]
struct Table<K, V> {
    mask: usize,
    _slots: PhantomData<AtomicPtr<Entry<K, V>>>,
}

impl<K, V> Table<K, V> {
    /// The layout of a table of `n` slots, and the offset of its first slot.
    fn layout(n: usize) -> (Layout, usize) {
        Layout::new::<Table<K, V>>()
            .extend(Layout::array::<AtomicPtr<Entry<K, V>>>(n).expect("table size overflows"))
            .expect("table size overflows")
    }

    /// A table of `n` (a power of two) empty slots.
    fn alloc(n: usize) -> *mut Table<K, V> {
        debug_assert!(n.is_power_of_two());
        let (layout, off) = Self::layout(n);
        // SAFETY: the layout has a non-zero size (the header).
        let p = unsafe { std::alloc::alloc(layout) };
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let t = p.cast::<Table<K, V>>();
        // SAFETY: `p` is a fresh allocation of `layout`: the header at 0 and `n` slots at
        // `off`, each written once here before anyone can see the table.
        unsafe {
            t.write(Table {
                mask: n - 1,
                _slots: PhantomData,
            });
            let s = p.add(off).cast::<AtomicPtr<Entry<K, V>>>();
            for i in 0..n {
                s.add(i).write(AtomicPtr::new(ptr::null_mut()));
            }
        }
        t
    }

    /// The slots of table `t`.
    ///
    /// # Safety
    ///
    /// `t` came from [`Table::alloc`] and is not freed during `'a`.
    #[inline(always)]
    unsafe fn slots<'a>(t: *const Table<K, V>) -> &'a [AtomicPtr<Entry<K, V>>] {
        // SAFETY: the caller's contract; `mask` was written before the table was
        // published (Release) and never changes; the slots were initialised by `alloc`.
        unsafe {
            let n = (*t).mask + 1;
            let off = Self::layout_offset();
            core::slice::from_raw_parts(t.cast::<u8>().add(off).cast(), n)
        }
    }

    /// The offset of the first slot (independent of the slot count).
    #[inline(always)]
    const fn layout_offset() -> usize {
        let h = core::mem::size_of::<Table<K, V>>();
        let a = core::mem::align_of::<AtomicPtr<Entry<K, V>>>();
        h.div_ceil(a) * a
    }
}

/// Frees a table (not the entries its slots point to).
///
/// # Safety
///
/// `t` came from [`Table::alloc`], is unreachable, and is freed once.
unsafe fn free_table<K, V>(t: *mut Table<K, V>) {
    // SAFETY: the caller's contract: the table is ours; its slots are initialised atomics
    // (dropped in place for the model checker's sake) and the layout is the one `alloc`
    // used, recomputed from the slot count.
    unsafe {
        let n = (*t).mask + 1;
        let (layout, off) = Table::<K, V>::layout(n);
        debug_assert_eq!(off, Table::<K, V>::layout_offset());
        let s = t.cast::<u8>().add(off).cast::<AtomicPtr<Entry<K, V>>>();
        ptr::drop_in_place(ptr::slice_from_raw_parts_mut(s, n));
        std::alloc::dealloc(t.cast(), layout);
    }
}

/// Frees an entry.
///
/// # Safety
///
/// `e` came from `Box::into_raw`, is unreachable, and is freed once.
unsafe fn free_entry<K, V>(e: *mut Entry<K, V>) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(e) });
}

/// A read-mostly concurrent map (see the [module docs](self)), reclaimed through `S`
/// (QSBR by default: the seed's registry and module map report quiescent states between
/// steps).
pub struct Map<K, V, S: Smr = ebb_smr::qsbr::Domain, H = RandomState> {
    table: AtomicPtr<Table<K, V>>,
    /// Writer stripes: a write locks the stripe of its key's hash (`h % STRIPES`). A
    /// rebuild locks every stripe, in order.
    writers: Stripes,
    hasher: H,
    domain: DomainId,
    _owns: PhantomData<(Box<(K, V)>, S)>,
}

// SAFETY: readers share `&K`/`&V` across threads (`Sync`); entries are dropped by the
// reclaiming thread (`Send`).
unsafe impl<K: Send + Sync, V: Send + Sync, S: Smr, H: Send> Send for Map<K, V, S, H> {}
// SAFETY: as above; the hasher is shared by readers.
unsafe impl<K: Send + Sync, V: Send + Sync, S: Smr, H: Sync> Sync for Map<K, V, S, H> {}

impl<K, V, S: Smr> Map<K, V, S> {
    /// An empty map retiring replaced entries into `domain`.
    pub fn with_domain(domain: &S) -> Self {
        Map::with_domain_and_hasher(domain, RandomState::new())
    }
}

impl<K, V, S: Smr, H> Map<K, V, S, H> {
    /// An empty map with the hasher `hasher`.
    pub fn with_domain_and_hasher(domain: &S, hasher: H) -> Self {
        Map {
            table: AtomicPtr::new(Table::alloc(MIN_SLOTS)),
            writers: Stripes::new(),
            hasher,
            domain: domain.id(),
            _owns: PhantomData,
        }
    }

    /// Entries now: exact while no write runs (the stripes' counts, summed one stripe at
    /// a time), an estimate otherwise.
    pub fn len(&self) -> usize {
        self.writers.live()
    }

    /// True when [`len`](Map::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots in the current table (its capacity; at most three quarters are used).
    pub fn capacity(&self) -> usize {
        // Holding one stripe keeps any rebuild from replacing (and retiring) the table.
        let _w = self.writers.lock_one();
        // SAFETY: the current table, not retired while a stripe is held; its mask is
        // immutable.
        unsafe { (*self.table.load(Ordering::Acquire)).mask + 1 }
    }

    /// Locks the writer stripe of hash `h`.
    fn lock(&self, h: u64) -> MutexGuard<'_, Counts> {
        self.writers.lock(h)
    }
}

/// Where a writer's probe for a key ended.
enum Probe<K, V> {
    /// The key's slot and its current entry.
    Found(usize, *mut Entry<K, V>),
    /// The key is absent; the first free slot of its probe sequence and what it holds
    /// (`EMPTY` or `TOMBSTONE`), if the sequence has one.
    Absent(Option<(usize, usize)>),
}

/// What [`Map::place`] did with a new entry.
enum Placed<K, V> {
    /// It replaced this entry (unlinked, for the caller to retire).
    Replaced(*mut Entry<K, V>),
    /// The key was present and `replace` was false: this is its entry, protected.
    Present(*mut Entry<K, V>),
    /// It went into a free slot.
    Inserted,
}

impl<K, V, S, H> Map<K, V, S, H>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: Smr,
    H: BuildHasher,
{
    /// Finds the entry of `key` (hash `h`) under `guard` (slot 0: table, slot 1: entry).
    #[inline]
    fn find<'g, G: SmrGuard, Q>(&self, guard: &'g G, h: u64, key: &Q) -> Option<&'g Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let want = tag(h);
        'restart: loop {
            let t = guard.protect_shared(0, &self.table);
            // SAFETY: protected; tables are retired only after being replaced.
            let slots = unsafe { Table::slots(t) };
            let mask = slots.len() - 1;
            let mut i = (h as usize) & mask;
            for _ in 0..slots.len() {
                let slot = &slots[i];
                // Acquire: an entry's contents are visible once its pointer is.
                match decode(slot.load(Ordering::Acquire)) {
                    Word::Empty => return None,
                    Word::Moved => continue 'restart,
                    Word::Entry(_, tg) if tg == want => {
                        match decode(guard.protect_shared(1, slot)) {
                            Word::Entry(e, tg) if tg == want => {
                                // SAFETY: protected, and validated in a slot that was
                                // not yet `MOVED`, so not retired (module docs).
                                let e = unsafe { &*e };
                                if e.key.borrow() == key {
                                    return Some(e);
                                }
                            }
                            Word::Moved => continue 'restart,
                            Word::Empty => return None,
                            _ => {}
                        }
                    }
                    _ => {}
                }
                i = (i + 1) & mask;
            }
            return None;
        }
    }

    /// The value of `key`, borrowed for as long as the guard is.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    #[inline]
    pub fn get_with<'g, G: SmrGuard, Q>(
        &self,
        guard: &'g mut G,
        key: &Q,
    ) -> Result<Option<&'g V>, SmrError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        guard.check_domain(self.domain)?;
        let g: &'g G = guard;
        let h = self.hasher.hash_one(key);
        Ok(self.find(g, h, key).map(|e| &e.value))
    }

    /// A clone of the value of `key` (the guard is free again afterwards).
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    #[inline]
    pub fn get_cloned_with<G: SmrGuard, Q>(&self, guard: &G, key: &Q) -> Result<Option<V>, SmrError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        guard.check_domain(self.domain)?;
        let h = self.hasher.hash_one(key);
        let r = self.find(guard, h, key).map(|e| e.value.clone());
        guard.reset(1);
        guard.reset(0);
        Ok(r)
    }

    /// The current table, for a writer (it holds a stripe, so no rebuild replaces the
    /// table meanwhile).
    #[inline]
    fn writer_table<'a>(
        &'a self,
        _stripe: &MutexGuard<'a, Counts>,
    ) -> &'a [AtomicPtr<Entry<K, V>>] {
        // SAFETY: a table is replaced only by a rebuild, which holds every stripe, and it
        // is retired after that; the caller holds a stripe for `'a`.
        unsafe { Table::slots(self.table.load(Ordering::Acquire)) }
    }

    /// A writer's probe for `key` (hash `h`) in `slots`. Entries of other stripes'
    /// keys may be replaced and retired meanwhile, so each compared entry is protected
    /// (slot 1 of `guard`).
    fn probe<G: SmrGuard, Q>(
        guard: &G,
        slots: &[AtomicPtr<Entry<K, V>>],
        h: u64,
        key: &Q,
    ) -> Probe<K, V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let want = tag(h);
        let mask = slots.len() - 1;
        let mut i = (h as usize) & mask;
        let mut free = None;
        for _ in 0..slots.len() {
            let slot = &slots[i];
            match decode(guard.protect_shared(1, slot)) {
                Word::Empty => return Probe::Absent(Some(free.unwrap_or((i, EMPTY)))),
                Word::Tombstone => {
                    free.get_or_insert((i, TOMBSTONE));
                }
                // SAFETY: protected and validated in the current table.
                Word::Entry(e, tg) if tg == want && unsafe { &*e }.key.borrow() == key => {
                    return Probe::Found(i, e);
                }
                // `MOVED` cannot appear in the table a writer holds.
                _ => {}
            }
            i = (i + 1) & mask;
        }
        Probe::Absent(free)
    }

    /// Ends a write: releases the stripe, then the protection of slot 1, then retires the
    /// entry the write unlinked, if any; returns whether there was one.
    fn finish<G: SmrGuard>(
        guard: &G,
        stripe: MutexGuard<'_, Counts>,
        unlinked: Option<*mut Entry<K, V>>,
    ) -> bool {
        drop(stripe);
        guard.reset(1);
        if let Some(old) = unlinked {
            Self::retire_entry(guard, old);
        }
        unlinked.is_some()
    }

    /// Claims the free slot `i` of `slots`, which held `was` (`EMPTY` or `TOMBSTONE`), for
    /// `word`, counting it in the writer's stripe. False if another stripe's writer took
    /// the slot first. Returns whether the stripe's count asks for a rebuild check.
    fn claim(
        counts: &mut Counts,
        slots: &[AtomicPtr<Entry<K, V>>],
        i: usize,
        was: usize,
        word: *mut Entry<K, V>,
    ) -> Option<bool> {
        // Another stripe's writer may claim the same free slot: CAS.
        slots[i]
            .compare_exchange(sentinel(was), word, Ordering::Release, Ordering::Relaxed)
            .ok()?;
        counts.live += 1;
        if was != EMPTY {
            return Some(false);
        }
        counts.used += 1;
        // This stripe's share of the used slots says the table may be three quarters
        // full: check the whole map.
        Some(counts.may_pass(slots.len(), 3, 4))
    }

    /// Retires an entry unlinked by a writer.
    fn retire_entry<G: SmrGuard>(guard: &G, e: *mut Entry<K, V>) {
        // SAFETY: unlinked (its slot now holds another word, and every other table it
        // was in is `MOVED`); retired once, through the map's domain (checked by every
        // caller).
        unsafe { guard.retire(e, free_entry::<K, V>) };
    }

    /// Inserts `key -> value`; returns true if the key was new (an existing entry is
    /// replaced, and the old one dropped after a grace period).
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    pub fn insert_with<G: SmrGuard>(&self, guard: &G, key: K, value: V) -> Result<bool, SmrError> {
        guard.check_domain(self.domain)?;
        let h = self.hasher.hash_one(&key);
        let e = Box::into_raw(Box::new(Entry { key, value }));
        let placed = self.place(guard, h, e, true);
        guard.reset(1);
        Ok(match placed {
            Placed::Replaced(old) => {
                Self::retire_entry(guard, old);
                false
            }
            Placed::Present(_) => unreachable!("`place` replaces a present key when asked to"),
            Placed::Inserted => true,
        })
    }

    /// Publishes `e`, an entry not yet published whose key has hash `h`, under the key's
    /// stripe: into a free slot if the key is absent (`Inserted`), or over the key's entry
    /// if `replace` (`Replaced`, the old entry for the caller to retire), or not at all
    /// (`Present`, the key's entry, protected in slot 1; `e` stays the caller's). Without
    /// `replace` the caller keeps a reference to the result, so an `Inserted` entry is
    /// protected in slot 1 before the stripe is released (a later replace cannot retire
    /// it under the caller).
    fn place<G: SmrGuard>(
        &self,
        guard: &G,
        h: u64,
        e: *mut Entry<K, V>,
        replace: bool,
    ) -> Placed<K, V> {
        let word = e.map_addr(|a| a | tag(h));
        loop {
            let mut counts = self.lock(h);
            let slots = self.writer_table(&counts);
            // SAFETY: `e` is the caller's until published.
            let key = unsafe { &(*e).key };
            match Self::probe(guard, slots, h, key) {
                Probe::Found(i, old) => {
                    if !replace {
                        // `old` is protected (slot 1) by the probe, so it stays valid
                        // after the stripe is released even if it is replaced and retired.
                        return Placed::Present(old);
                    }
                    // Only this stripe's writers change a slot holding one of its keys.
                    // Release: the new entry's contents are visible to its readers.
                    slots[i].store(word, Ordering::Release);
                    return Placed::Replaced(old);
                }
                Probe::Absent(Some((i, was))) => {
                    let Some(rebuild) = Self::claim(&mut counts, slots, i, was, word) else {
                        continue;
                    };
                    if !replace {
                        // Until the stripe is released no other writer can replace the
                        // new entry, so this protection validates at once.
                        let p = guard.protect_shared(1, &slots[i]);
                        debug_assert_eq!(p, word);
                    }
                    drop(counts);
                    if rebuild {
                        // A rebuild moves the entry and never retires it: the protection
                        // holds.
                        self.rebuild_if_needed(guard, false);
                    }
                    return Placed::Inserted;
                }
                Probe::Absent(None) => {
                    // No free slot on the whole probe sequence: rebuild, then retry.
                    drop(counts);
                    guard.reset(1);
                    self.rebuild_if_needed(guard, true);
                }
            }
        }
    }

    /// The value of `key`, inserting `make()` first if the key is absent. Returns the
    /// value, borrowed for as long as the guard is, and whether this call inserted it.
    /// The key is checked and the entry claimed under the key's writer stripe, so two
    /// callers never both insert; `make` runs outside it (it may use the map), only
    /// after a lock-free look found the key absent, and its value is dropped if another
    /// writer inserts the key first.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain (`make` is not
    /// called).
    pub fn get_or_insert_with<'g, G: SmrGuard>(
        &self,
        guard: &'g mut G,
        key: K,
        make: impl FnOnce() -> V,
    ) -> Result<(&'g V, bool), SmrError> {
        guard.check_domain(self.domain)?;
        let g: &'g G = guard;
        let h = self.hasher.hash_one(&key);
        if let Some(e) = self.find(g, h, &key) {
            return Ok((&e.value, false));
        }
        let made = Box::into_raw(Box::new(Entry { key, value: make() }));
        match self.place(g, h, made, false) {
            Placed::Present(e) => {
                // Inserted since the lock-free look.
                // SAFETY: ours, never published.
                drop(unsafe { Box::from_raw(made) });
                // SAFETY: protected in slot 1 and validated in the current table.
                Ok((&unsafe { &*e }.value, false))
            }
            // SAFETY: published by `place` and protected (slot 1) since.
            Placed::Inserted => Ok((&unsafe { &*made }.value, true)),
            Placed::Replaced(_) => unreachable!("`place` replaces only when asked to"),
        }
    }

    /// True if `key` is in the map.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    pub fn contains_key_with<G: SmrGuard, Q>(&self, guard: &G, key: &Q) -> Result<bool, SmrError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        guard.check_domain(self.domain)?;
        let h = self.hasher.hash_one(key);
        let r = self.find(guard, h, key).is_some();
        guard.reset(1);
        guard.reset(0);
        Ok(r)
    }

    /// Removes `key`; returns true if it was present.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    pub fn remove_with<G: SmrGuard, Q>(&self, guard: &G, key: &Q) -> Result<bool, SmrError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        guard.check_domain(self.domain)?;
        let h = self.hasher.hash_one(key);
        let mut counts = self.lock(h);
        let slots = self.writer_table(&counts);
        let r = match Self::probe(guard, slots, h, key) {
            Probe::Found(i, old) => {
                slots[i].store(sentinel(TOMBSTONE), Ordering::Release);
                counts.live -= 1;
                Some(old)
            }
            Probe::Absent(_) => None,
        };
        Ok(Self::finish(guard, counts, r))
    }

    /// Replaces the value of `key` with `f(&old)`; returns false (and does not call `f`)
    /// if the key is absent.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    pub fn update_with<G: SmrGuard, Q>(
        &self,
        guard: &G,
        key: &Q,
        f: impl FnOnce(&V) -> V,
    ) -> Result<bool, SmrError>
    where
        K: Borrow<Q> + Clone,
        Q: Hash + Eq + ?Sized,
    {
        guard.check_domain(self.domain)?;
        let h = self.hasher.hash_one(key);
        let counts = self.lock(h);
        let slots = self.writer_table(&counts);
        let r = match Self::probe(guard, slots, h, key) {
            Probe::Found(i, old) => {
                // SAFETY: the key's current entry; only we (its stripe's writer) can
                // retire it.
                let o = unsafe { &*old };
                let e = Box::into_raw(Box::new(Entry {
                    key: o.key.clone(),
                    value: f(&o.value),
                }));
                slots[i].store(e.map_addr(|a| a | tag(h)), Ordering::Release);
                Some(old)
            }
            Probe::Absent(_) => None,
        };
        Ok(Self::finish(guard, counts, r))
    }

    /// Locks every stripe and rebuilds the table if its used slots pass three quarters
    /// (or, with `force`, always): see the [module docs](self).
    #[cold]
    fn rebuild_if_needed<G: SmrGuard>(&self, guard: &G, force: bool) {
        let mut all = self.writers.lock_all();
        let used: usize = all.iter().map(|c| c.used).sum();
        let live: usize = all.iter().map(|c| c.live).sum();
        let old = self.table.load(Ordering::Acquire);
        // SAFETY: the current table; only writers replace it, and we hold every stripe.
        let o = unsafe { Table::slots(old) };
        if !force && used * 4 <= o.len() * 3 {
            return;
        }
        // At most half full afterwards, never smaller than now unless mostly tombstones.
        let n = (live * 2 + 1).next_power_of_two().max(MIN_SLOTS);
        let new = Table::<K, V>::alloc(n);
        // SAFETY: ours until published.
        let t = unsafe { Table::slots(new) };
        for slot in o {
            if let Word::Entry(e, tg) = decode(slot.load(Ordering::Acquire)) {
                // SAFETY: a current entry (every stripe is held: none is retired now).
                let h = self.hasher.hash_one(&unsafe { &*e }.key);
                let mut i = (h as usize) & (n - 1);
                while !t[i].load(Ordering::Relaxed).is_null() {
                    i = (i + 1) & (n - 1);
                }
                t[i].store(e.map_addr(|a| a | tg), Ordering::Relaxed);
            }
        }
        for c in all.iter_mut() {
            c.used = c.live;
        }
        // Release: the new table and its slots are visible to readers that load it.
        self.table.store(new, Ordering::Release);
        for slot in o {
            // Every old slot is marked before the stripes are released, so no reader can
            // validate an entry there once a writer of the new table may retire it.
            slot.swap(sentinel(MOVED), Ordering::AcqRel);
        }
        // SAFETY: unlinked; it owns no entry (they moved to the new table); retired once.
        unsafe { guard.retire(old, free_table::<K, V>) };
        drop(all);
    }

    /// Calls `f` on every entry, slot by slot (weakly consistent: see the
    /// [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    pub fn for_each_with<G: SmrGuard>(
        &self,
        guard: &G,
        mut f: impl FnMut(&K, &V),
    ) -> Result<(), SmrError> {
        guard.check_domain(self.domain)?;
        'restart: loop {
            let t = guard.protect_shared(0, &self.table);
            // SAFETY: protected.
            let slots = unsafe { Table::slots(t) };
            for slot in slots {
                match decode(guard.protect_shared(1, slot)) {
                    Word::Entry(e, _) => {
                        // SAFETY: protected and validated in a slot not yet `MOVED`.
                        let e = unsafe { &*e };
                        f(&e.key, &e.value);
                    }
                    // The table was replaced mid-walk: restart on the new one (weak
                    // consistency, documented).
                    Word::Moved => continue 'restart,
                    _ => {}
                }
            }
            guard.reset(1);
            guard.reset(0);
            return Ok(());
        }
    }
}

impl<K, V, S: Smr, H> Drop for Map<K, V, S, H> {
    fn drop(&mut self) {
        let t = self.table.load(Ordering::Relaxed);
        // SAFETY: `&mut self`: the current table and its entries are ours; replaced
        // entries and tables were retired.
        unsafe {
            for slot in Table::slots(t) {
                if let Word::Entry(e, _) = decode(slot.load(Ordering::Relaxed)) {
                    free_entry(e);
                }
            }
            free_table(t);
        }
    }
}

impl<K, V, S: Smr, H> fmt::Debug for Map<K, V, S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map").field("len", &self.len()).finish()
    }
}
