//! [`WordMap`]: a read-mostly concurrent hash map whose keys and values are one machine
//! word each (ids, handles, offsets, counters). Its table holds the keys and values
//! themselves, so a lookup reads one slot where [`Map`](crate::Map) follows a pointer to
//! a boxed entry: at 100k keys that second, dependent cache miss is most of a `Map`
//! lookup's time.
//!
//! # Layout
//!
//! One allocation per table: a header (the slot mask and the slots' offset), a control byte
//! per slot, then the slots, 16 bytes each (the key's bits and the value's bits, two
//! atomic words). Open addressing with linear probing over the control bytes, which are
//! dense (a 64-byte line covers 64 slots), so a probe touches the control line and then
//! the one slot whose tag matches. A control byte is:
//!
//! * `EMPTY` (0): never used in this table; a probe that reaches it stops.
//! * `BUSY`: a writer claimed the slot and is writing its key; probes go past it.
//! * `FULL | LIVE | tag`: the slot holds its key and a value; the tag is the top six bits
//!   of the key's hash, so a probe compares only one key in 64 of the others.
//! * `FULL | tag` (dead): the key was removed. Every probe goes past a dead slot and no
//!   write ever changes it again; an insert of the same key takes a free slot further
//!   along, and the next rebuild drops the dead slots.
//!
//! # Why a reader needs no version check
//!
//! Within one table a slot's key never changes once published (it is written before the
//! `Release` store of its control byte), and a slot is written only while it is live:
//! once dead it is never written again. A value is one atomic word, stored with `Release`
//! and loaded with `Acquire`. A reader loads the control byte (`Acquire`), compares the
//! key, and loads the value; the value it reads was stored while the key was live in that
//! slot, and is the value current when it read the control byte or one stored since, so
//! each `get` is linearizable without the seqlock a multi-word value would need. (Were a
//! removed key's slot revived, a reader that had seen it live before the remove could
//! read the revived value before the revive was published.) Slots never go back to
//! `EMPTY`, which keeps linear probing's invariant for concurrent readers: between a
//! key's home slot and its live slot no slot is empty.
//!
//! # Writes and rebuilds
//!
//! A write locks the stripe of its key's hash (`h % 64`, as in [`Map`](crate::Map)).
//! Only that stripe's writers touch a slot holding one of its keys; a free slot is
//! claimed from `EMPTY` with a compare-and-swap, since keys of different stripes share
//! probe sequences. Writes allocate nothing and retire nothing. When the used slots (live
//! and dead) pass seven eighths of the table, the writer locks every stripe in order,
//! copies the live keys into a table at most 7/16 full (probes scan dense control bytes,
//! so a high load costs little, as in SwissTable), publishes it with a pointer swap
//! and retires the old table through ebb-smr. No writer changes the old table after
//! that (every writer holds a stripe and reads the current table under it), so a reader
//! still probing the old one reads the map as it was at the swap, which its lookup may
//! return (the swap happened during the lookup). A reader protects only the table:
//! [`get_with`](WordMap::get_with) costs one protection under hazard pointers and none
//! under QSBR.
//!
//! Iteration ([`for_each_with`](WordMap::for_each_with)) walks the table the walk started
//! on: each key once, with its value at some moment of the walk.

use crate::stripes::{Counts, Stripes};
use crate::sync::MutexGuard;
use crate::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, Ordering};
use core::alloc::Layout;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::marker::PhantomData;
use core::ptr;
use ebb_smr::{DomainId, Smr, SmrError, SmrGuard};
use std::collections::hash_map::RandomState;

/// A type that round-trips through one 64-bit word: a [`WordMap`] stores its keys and
/// values as their bits.
///
/// The contract (a safe one: breaking it gives wrong answers, never undefined behaviour):
/// `from_bits(x.to_bits()) == x`, and for keys, `x == y` exactly when
/// `x.to_bits() == y.to_bits()` (the map compares keys by their bits).
///
/// ```
/// use ebb_sync::word_map::Word;
///
/// #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct NodeId(u32);
///
/// impl Word for NodeId {
///     fn to_bits(self) -> u64 {
///         u64::from(self.0)
///     }
///     fn from_bits(bits: u64) -> Self {
///         NodeId(bits as u32)
///     }
/// }
/// assert_eq!(NodeId::from_bits(NodeId(7).to_bits()), NodeId(7));
/// ```
pub trait Word: Copy + Send + Sync + 'static {
    /// The bits of `self`.
    fn to_bits(self) -> u64;
    /// The value whose bits are `bits` (only ever called on bits `to_bits` returned).
    fn from_bits(bits: u64) -> Self;
}

macro_rules! word_int {
    ($($t:ty),*) => {$(
        impl Word for $t {
            #[inline(always)]
            fn to_bits(self) -> u64 {
                self as u64
            }
            #[inline(always)]
            fn from_bits(bits: u64) -> Self {
                bits as $t
            }
        }
    )*};
}

word_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl Word for bool {
    #[inline(always)]
    fn to_bits(self) -> u64 {
        u64::from(self)
    }
    #[inline(always)]
    fn from_bits(bits: u64) -> Self {
        bits != 0
    }
}

/// The fewest slots a table has (small under the model checkers so that their few
/// inserts rebuild the table).
const MIN_SLOTS: usize = if cfg!(any(miri, ebb_loom)) { 4 } else { 64 };

/// Control bytes.
const EMPTY: u8 = 0;
const BUSY: u8 = 1;
const FULL: u8 = 0x80;
const LIVE: u8 = 0x40;

/// The tag of hash `h`: its top six bits (the home slot uses the low ones).
#[inline(always)]
fn tag(h: u64) -> u8 {
    (h >> 58) as u8
}

/// A slot: the key's and the value's bits.
#[repr(C, align(16))]
struct Slot {
    key: AtomicU64,
    value: AtomicU64,
}

/// The header of a table; `mask + 1` control bytes and as many slots follow it in the
/// same allocation.
#[repr(C)]
struct Table {
    mask: usize,
    /// The offset of the first slot (the control bytes start right after the header).
    slots: usize,
    /// Written when the table is freed, read by every reader that protected it: under
    /// loom a read racing the free is reported.
    #[cfg(ebb_loom)]
    alive: crate::sync::UnsafeCell<bool>,
}

/// Where the parts of a table of `n` slots lie.
struct Parts {
    layout: Layout,
    ctrl: usize,
    slots: usize,
}

impl Table {
    fn parts(n: usize) -> Parts {
        let (l, ctrl) = Layout::new::<Table>()
            .extend(Layout::array::<AtomicU8>(n).expect("table size overflows"))
            .expect("table size overflows");
        let (layout, slots) = l
            .extend(Layout::array::<Slot>(n).expect("table size overflows"))
            .expect("table size overflows");
        Parts {
            layout,
            ctrl,
            slots,
        }
    }

    /// A table of `n` (a power of two) empty slots.
    fn alloc(n: usize) -> *mut Table {
        debug_assert!(n.is_power_of_two());
        let p = Self::parts(n);
        // SAFETY: the layout has a non-zero size (the header).
        let base = unsafe { std::alloc::alloc(p.layout) };
        if base.is_null() {
            std::alloc::handle_alloc_error(p.layout);
        }
        let t = base.cast::<Table>();
        debug_assert_eq!(p.ctrl, size_of::<Table>());
        // SAFETY: `base` is a fresh allocation of `p.layout`: the header at 0, `n` control
        // bytes at `p.ctrl` and `n` slots at `p.slots`, each written once here before
        // anyone can see the table.
        unsafe {
            t.write(Table {
                mask: n - 1,
                slots: p.slots,
                #[cfg(ebb_loom)]
                alive: crate::sync::UnsafeCell::new(true),
            });
            let c = base.add(p.ctrl).cast::<AtomicU8>();
            let s = base.add(p.slots).cast::<Slot>();
            for i in 0..n {
                c.add(i).write(AtomicU8::new(EMPTY));
                s.add(i).write(Slot {
                    key: AtomicU64::new(0),
                    value: AtomicU64::new(0),
                });
            }
        }
        t
    }

    /// The control bytes and slots of table `t`.
    ///
    /// # Safety
    ///
    /// `t` came from [`Table::alloc`] and is not freed during `'a`.
    #[inline(always)]
    unsafe fn view<'a>(t: *const Table) -> (&'a [AtomicU8], &'a [Slot]) {
        // SAFETY: the caller's contract; the header was written before the table was
        // published (Release) and never changes; the parts were initialised by `alloc`,
        // the control bytes right after the header (`parts` puts them there: their
        // alignment is 1) and the slots at the offset the header records.
        unsafe {
            #[cfg(ebb_loom)]
            (*t).alive
                .with(|a| assert!(*a, "a table was read after it was freed"));
            let n = (*t).mask + 1;
            let base = t.cast::<u8>();
            (
                core::slice::from_raw_parts(base.add(size_of::<Table>()).cast(), n),
                core::slice::from_raw_parts(base.add((*t).slots).cast(), n),
            )
        }
    }
}

/// Frees a table.
///
/// # Safety
///
/// `t` came from [`Table::alloc`], is unreachable, and is freed once.
unsafe fn free_table(t: *mut Table) {
    // SAFETY: the caller's contract: the table is ours; its atomics are dropped in place
    // (for the model checker's sake) and the layout is the one `alloc` used, recomputed
    // from the slot count.
    unsafe {
        #[cfg(ebb_loom)]
        (*t).alive.with_mut(|a| *a = false);
        let n = (*t).mask + 1;
        let p = Table::parts(n);
        let base = t.cast::<u8>();
        ptr::drop_in_place(ptr::slice_from_raw_parts_mut(
            base.add(p.ctrl).cast::<AtomicU8>(),
            n,
        ));
        ptr::drop_in_place(ptr::slice_from_raw_parts_mut(
            base.add(p.slots).cast::<Slot>(),
            n,
        ));
        ptr::drop_in_place(t);
        std::alloc::dealloc(base, p.layout);
    }
}

/// Where a writer's probe for a key ended.
enum Probe {
    /// The key's live slot.
    Found(usize),
    /// The key has no slot; the first `EMPTY` slot of its probe sequence, if any.
    Absent(Option<usize>),
}

/// A read-mostly concurrent map from word-sized keys to word-sized values (see the
/// [module docs](self)), whose replaced tables are reclaimed through `S` (QSBR by
/// default, as for [`Map`](crate::Map)).
///
/// ```
/// use ebb_smr::{Smr, SmrHandle, qsbr};
/// use ebb_sync::WordMap;
///
/// let domain = qsbr::Domain::new();
/// let ids: WordMap<u64, u32> = WordMap::with_domain(&domain);
/// let mut h = domain.register();
/// assert_eq!(ids.insert_with(&h.pin(), 42, 7).unwrap(), None);
/// assert_eq!(ids.insert_with(&h.pin(), 42, 8).unwrap(), Some(7));
/// assert_eq!(ids.get_with(&h.pin(), 42).unwrap(), Some(8));
/// assert_eq!(ids.remove_with(&h.pin(), 42).unwrap(), Some(8));
/// assert_eq!(ids.get_with(&h.pin(), 42).unwrap(), None);
/// h.quiescent();
/// ```
pub struct WordMap<K, V, S: Smr = ebb_smr::qsbr::Domain, H = RandomState> {
    table: AtomicPtr<Table>,
    /// Writer stripes: a write locks the stripe of its key's hash (`h % STRIPES`). A
    /// rebuild locks every stripe, in order.
    writers: Stripes,
    hasher: H,
    domain: DomainId,
    _owns: PhantomData<(K, V, S)>,
}

impl<K, V, S: Smr> WordMap<K, V, S> {
    /// An empty map retiring replaced tables into `domain`.
    pub fn with_domain(domain: &S) -> Self {
        WordMap::with_domain_and_hasher(domain, RandomState::new())
    }
}

impl<K, V, S: Smr, H> WordMap<K, V, S, H> {
    /// An empty map with the hasher `hasher`.
    pub fn with_domain_and_hasher(domain: &S, hasher: H) -> Self {
        WordMap {
            table: AtomicPtr::new(Table::alloc(MIN_SLOTS)),
            writers: Stripes::new(),
            hasher,
            domain: domain.id(),
            _owns: PhantomData,
        }
    }

    /// Live keys now: exact while no write runs (the stripes' counts, summed one stripe at
    /// a time), an estimate otherwise.
    pub fn len(&self) -> usize {
        self.writers.live()
    }

    /// True when [`len`](WordMap::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots in the current table (at most seven eighths are used).
    pub fn capacity(&self) -> usize {
        // Holding one stripe keeps any rebuild from replacing (and retiring) the table.
        let _w = self.writers.lock_one();
        // SAFETY: the current table, not retired while a stripe is held.
        unsafe { (*self.table.load(Ordering::Acquire)).mask + 1 }
    }

    /// Locks the writer stripe of hash `h`.
    fn lock(&self, h: u64) -> MutexGuard<'_, Counts> {
        self.writers.lock(h)
    }

    /// The current table, for a writer (it holds a stripe, so no rebuild replaces the
    /// table meanwhile).
    #[inline]
    fn writer_table<'a>(
        &'a self,
        _stripe: &MutexGuard<'a, Counts>,
    ) -> (&'a [AtomicU8], &'a [Slot]) {
        // SAFETY: a table is replaced only by a rebuild, which holds every stripe, and it
        // is retired after that; the caller holds a stripe for `'a`.
        unsafe { Table::view(self.table.load(Ordering::Acquire)) }
    }
}

/// A writer's probe for the key with bits `kb` and hash `h`.
fn probe(ctrl: &[AtomicU8], slots: &[Slot], h: u64, kb: u64) -> Probe {
    let want = tag(h);
    let mask = ctrl.len() - 1;
    let mut i = (h as usize) & mask;
    for _ in 0..ctrl.len() {
        let c = ctrl[i].load(Ordering::Acquire);
        if c == EMPTY {
            return Probe::Absent(Some(i));
        }
        // Only this stripe's writers publish this key, and we hold the stripe: its live
        // slot, if any, is published (never `BUSY`). Dead slots are passed.
        if c == FULL | LIVE | want && slots[i].key.load(Ordering::Relaxed) == kb {
            return Probe::Found(i);
        }
        i = (i + 1) & mask;
    }
    Probe::Absent(None)
}

impl<K, V, S, H> WordMap<K, V, S, H>
where
    K: Word + Hash,
    V: Word,
    S: Smr,
    H: BuildHasher,
{
    /// The value bits of the key with bits `kb` and hash `h`, read in the table
    /// protected in slot 0 of `guard`.
    #[inline]
    fn find<G: SmrGuard>(&self, guard: &G, h: u64, kb: u64) -> Option<u64> {
        let want = tag(h);
        let t = guard.protect_shared(0, &self.table);
        // SAFETY: protected; tables are retired only after being replaced.
        let (ctrl, slots) = unsafe { Table::view(t) };
        let mask = ctrl.len() - 1;
        let mut i = (h as usize) & mask;
        // The key's slot is most often its home slot or the next few, in the same line:
        // start loading that line while the control byte is read, so that the two
        // dependent misses of a cold lookup overlap.
        prefetch(slots[i..].as_ptr().cast());
        for _ in 0..ctrl.len() {
            // Acquire: the key (and a fresh slot's value) written before the control
            // byte's Release store are visible.
            let c = ctrl[i].load(Ordering::Acquire);
            if c == EMPTY {
                return None;
            }
            if c == FULL | LIVE | want {
                let s = &slots[i];
                if s.key.load(Ordering::Relaxed) == kb {
                    // The key is live in one slot at a time: this is the answer.
                    let v = Some(s.value.load(Ordering::Acquire));
                    // SAFETY: still protected (the guard is borrowed).
                    #[cfg(ebb_loom)]
                    unsafe {
                        Table::view(t)
                    };
                    return v;
                }
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// The value of `key`.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    #[inline]
    pub fn get_with<G: SmrGuard>(&self, guard: &G, key: K) -> Result<Option<V>, SmrError> {
        guard.check_domain(self.domain)?;
        let h = self.hasher.hash_one(key);
        let r = self.find(guard, h, key.to_bits());
        guard.reset(0);
        Ok(r.map(V::from_bits))
    }

    /// True if `key` is in the map.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    pub fn contains_key_with<G: SmrGuard>(&self, guard: &G, key: K) -> Result<bool, SmrError> {
        Ok(self.get_with(guard, key)?.is_some())
    }

    /// Runs `f` on the value of `key` (`None` if absent) under the key's writer stripe,
    /// and stores what it returns: `Some(v)` inserts or replaces, `None` removes (or
    /// leaves absent). Returns the value before. Every write goes through here; `f` runs
    /// once, with the stripe held from the probe that decides what it sees until its
    /// result is published.
    fn write<G: SmrGuard>(
        &self,
        guard: &G,
        key: K,
        f: impl FnOnce(Option<V>) -> Option<V>,
    ) -> Result<Option<V>, SmrError> {
        guard.check_domain(self.domain)?;
        let h = self.hasher.hash_one(key);
        let kb = key.to_bits();
        let want = tag(h);
        let mut f = Some(f);
        loop {
            let mut counts = self.lock(h);
            let (ctrl, slots) = self.writer_table(&counts);
            // Only this stripe's writers publish this key, and the stripe stays held from
            // here to the end of the write: a failed claim probes again under it.
            let i = loop {
                match probe(ctrl, slots, h, kb) {
                    Probe::Found(i) => {
                        let s = &slots[i];
                        let old = V::from_bits(s.value.load(Ordering::Relaxed));
                        let f = f.take().expect("`f` runs once");
                        match f(Some(old)) {
                            // Release: what the writer wrote before is visible to a reader
                            // that loads this value.
                            Some(v) => s.value.store(v.to_bits(), Ordering::Release),
                            None => {
                                // Dead for good: the slot is never written again.
                                ctrl[i].store(FULL | want, Ordering::Release);
                                counts.live -= 1;
                            }
                        }
                        return Ok(Some(old));
                    }
                    Probe::Absent(Some(i)) => {
                        // Another stripe's writer may claim the same slot: CAS. The loser
                        // probes again (the slot now holds another stripe's key).
                        if ctrl[i]
                            .compare_exchange(EMPTY, BUSY, Ordering::Acquire, Ordering::Relaxed)
                            .is_ok()
                        {
                            break Some(i);
                        }
                    }
                    Probe::Absent(None) => break None,
                }
            };
            let Some(i) = i else {
                // No free slot on the whole probe sequence (the stripes' shares of the
                // used slots are checked one stripe at a time): rebuild, then retry.
                drop(counts);
                self.rebuild_if_needed(guard, true);
                continue;
            };
            slots[i].key.store(kb, Ordering::Relaxed);
            let f = f.take().expect("`f` runs once");
            let live = match f(None) {
                Some(v) => {
                    slots[i].value.store(v.to_bits(), Ordering::Relaxed);
                    counts.live += 1;
                    LIVE
                }
                // Nothing to store (the key was absent and stays so), but the slot is no
                // longer `EMPTY`: it is published dead, until the next rebuild.
                None => 0,
            };
            // Release: the key and value are visible to a reader that sees the slot.
            ctrl[i].store(FULL | live | want, Ordering::Release);
            counts.used += 1;
            // This stripe's share of the used slots says the table may be seven eighths
            // full: check the whole map.
            let rebuild = counts.may_pass(ctrl.len(), 7, 8);
            drop(counts);
            if rebuild {
                self.rebuild_if_needed(guard, false);
            }
            return Ok(None);
        }
    }

    /// Inserts `key -> value`; returns the value it replaced, if any.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    pub fn insert_with<G: SmrGuard>(
        &self,
        guard: &G,
        key: K,
        value: V,
    ) -> Result<Option<V>, SmrError> {
        self.write(guard, key, |_| Some(value))
    }

    /// Removes `key`; returns its value if it was present.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    pub fn remove_with<G: SmrGuard>(&self, guard: &G, key: K) -> Result<Option<V>, SmrError> {
        // An absent key takes no slot: look before locking.
        if self.get_with(guard, key)?.is_none() {
            return Ok(None);
        }
        self.write(guard, key, |_| None)
    }

    /// Replaces the value of `key` with `f(old)` under the key's writer stripe (so
    /// concurrent updates of one key never lose one another); returns the new value, or
    /// `None` (and does not call `f`) if the key is absent.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    pub fn update_with<G: SmrGuard>(
        &self,
        guard: &G,
        key: K,
        f: impl FnOnce(V) -> V,
    ) -> Result<Option<V>, SmrError> {
        if self.get_with(guard, key)?.is_none() {
            return Ok(None);
        }
        let mut new = None;
        self.write(guard, key, |old| {
            new = old.map(f);
            new
        })?;
        Ok(new)
    }

    /// The value of `key`, inserting `make()` first if the key is absent; and whether this
    /// call inserted it. `make` runs under the key's writer stripe, only when the key is
    /// absent there, so two callers never both insert; it must not write to this map (the
    /// stripe is held).
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain (`make` is not
    /// called).
    pub fn get_or_insert_with<G: SmrGuard>(
        &self,
        guard: &G,
        key: K,
        make: impl FnOnce() -> V,
    ) -> Result<(V, bool), SmrError> {
        if let Some(v) = self.get_with(guard, key)? {
            return Ok((v, false));
        }
        let mut made = None;
        let old = self.write(guard, key, |old| {
            if old.is_some() {
                return old;
            }
            made = Some(make());
            made
        })?;
        Ok(match (old, made) {
            (Some(v), _) => (v, false),
            (None, Some(v)) => (v, true),
            (None, None) => unreachable!("`make` runs when the key is absent"),
        })
    }

    /// Locks every stripe and rebuilds the table if its used slots pass seven eighths
    /// (or, with `force`, always): see the [module docs](self).
    #[cold]
    fn rebuild_if_needed<G: SmrGuard>(&self, guard: &G, force: bool) {
        let mut all = self.writers.lock_all();
        let used: usize = all.iter().map(|c| c.used).sum();
        let live: usize = all.iter().map(|c| c.live).sum();
        let old = self.table.load(Ordering::Acquire);
        // SAFETY: the current table; only writers replace it, and we hold every stripe.
        let (oc, os) = unsafe { Table::view(old) };
        if !force && used * 8 <= oc.len() * 7 {
            return;
        }
        // At most 7/16 full afterwards.
        let n = (live * 8 / 7 + 1).next_power_of_two().max(MIN_SLOTS);
        let new = Table::alloc(n);
        // SAFETY: ours until published.
        let (nc, ns) = unsafe { Table::view(new) };
        for (c, s) in oc.iter().zip(os) {
            let c = c.load(Ordering::Relaxed);
            if c & (FULL | LIVE) != FULL | LIVE {
                continue;
            }
            let kb = s.key.load(Ordering::Relaxed);
            let h = self.hasher.hash_one(K::from_bits(kb));
            let mut i = (h as usize) & (n - 1);
            while nc[i].load(Ordering::Relaxed) != EMPTY {
                i = (i + 1) & (n - 1);
            }
            ns[i].key.store(kb, Ordering::Relaxed);
            ns[i]
                .value
                .store(s.value.load(Ordering::Relaxed), Ordering::Relaxed);
            nc[i].store(c, Ordering::Relaxed);
        }
        for c in all.iter_mut() {
            c.used = c.live;
        }
        // Release: the new table and its slots are visible to readers that load it.
        self.table.store(new, Ordering::Release);
        // SAFETY: unlinked (no writer reads it after this: they hold a stripe and load the
        // current table); it owns nothing else; retired once.
        unsafe { guard.retire(old, free_table) };
        drop(all);
    }

    /// Calls `f` on every live key and its value, in the table the walk starts on (see
    /// the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the map's domain.
    pub fn for_each_with<G: SmrGuard>(
        &self,
        guard: &G,
        mut f: impl FnMut(K, V),
    ) -> Result<(), SmrError> {
        guard.check_domain(self.domain)?;
        let t = guard.protect_shared(0, &self.table);
        // SAFETY: protected.
        let (ctrl, slots) = unsafe { Table::view(t) };
        for (c, s) in ctrl.iter().zip(slots) {
            if ctrl_live(c.load(Ordering::Acquire)) {
                f(
                    K::from_bits(s.key.load(Ordering::Relaxed)),
                    V::from_bits(s.value.load(Ordering::Acquire)),
                );
            }
        }
        guard.reset(0);
        Ok(())
    }
}

/// A hint to start loading the cache line that holds `p` (it changes nothing the program
/// observes, and `p` need not be dereferenceable). On x86-64 outside Miri and loom it is
/// one `prefetcht0`; elsewhere it compiles to nothing.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(miri), not(ebb_loom)))]
    // SAFETY: `prefetcht0` is a hint: it never faults and reads nothing the program can
    // see, whatever the address; SSE, which provides it, is in the x86-64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri), not(ebb_loom))))]
    let _ = p;
}

#[inline(always)]
fn ctrl_live(c: u8) -> bool {
    c & (FULL | LIVE) == FULL | LIVE
}

impl<K, V, S: Smr, H> Drop for WordMap<K, V, S, H> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: the current table is ours; replaced tables were retired.
        unsafe { free_table(self.table.load(Ordering::Relaxed)) };
    }
}

impl<K, V, S: Smr, H> fmt::Debug for WordMap<K, V, S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WordMap").field("len", &self.len()).finish()
    }
}
