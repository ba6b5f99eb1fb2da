//! [`Map`]: a read-mostly concurrent hash map. Reads are lock-free and write nothing
//! shared; writers lock one of 64 stripes (by hash) and never block readers.
//!
//! The table is an array of bucket pointers; a bucket is immutable once published and
//! holds up to four `Arc<(K, V)>` entries inline (more spill into a vector), each beside
//! its key's hash, so that a lookup dereferences only the entry whose hash matches. A write
//! locks the stripe of its key's hash, which covers whole buckets (a table has at least
//! as many buckets as there are stripes, both powers of two), copies the one bucket it
//! changes (the `Arc`s, not the keys or values), publishes the copy with one atomic
//! store and retires the old bucket through ebb-smr. Writers of different stripes run in
//! parallel. When a stripe holds more than four entries per bucket of its share, the
//! writer locks every stripe in order and, if the map holds more than one entry per
//! bucket, rebuilds the table at twice the buckets: the new table is published by pointer
//! swap, then every bucket pointer of the old table is cleared before the old buckets
//! and table are retired, so a reader still walking the old table finds a cleared slot
//! and restarts on the new one (a hazard-pointer reader could otherwise validate a
//! bucket that was already retired).
//!
//! Reads take two protections (table, bucket). [`get`](Map::get_with) returns a
//! reference valid while the guard is borrowed; iteration ([`for_each_with`]) is weakly
//! consistent: each bucket is a snapshot, but writes to buckets already visited or not
//! yet visited may or may not be seen.
//!
//! [`for_each_with`]: Map::for_each_with

use crate::sync::atomic::{AtomicPtr, Ordering};
use core::borrow::Borrow;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::marker::PhantomData;
use core::ptr;
use crossbeam_utils::CachePadded;
use ebb_smr::{DomainId, Smr, SmrError, SmrGuard};
use std::collections::hash_map::RandomState;
use std::sync::{Arc, Mutex, MutexGuard};

/// Writer stripes, and the fewest buckets a table has.
const STRIPES: usize = if cfg!(any(miri, ebb_loom)) { 2 } else { 64 };

/// Entries kept in the bucket itself (the table keeps at most two per bucket on average,
/// so a bucket rarely spills): a reader goes from the bucket pointer straight to an
/// entry, and a write allocates one bucket, not a bucket and a vector buffer.
const INLINE: usize = 4;

/// An entry as a bucket holds it: the key's hash beside the shared entry, so that a
/// lookup compares hashes within the bucket and dereferences only the entry that
/// matches (one cache miss per lookup in a large map, not one per entry of the bucket),
/// and a table rebuild needs no rehash.
type Slot<K, V> = (u64, Arc<(K, V)>);

/// An immutable bucket once published: entries `inline` first (filled from the front),
/// then `spill`.
struct Bucket<K, V> {
    inline: [Option<Slot<K, V>>; INLINE],
    spill: Vec<Slot<K, V>>,
}

impl<K, V> Clone for Bucket<K, V> {
    fn clone(&self) -> Self {
        Bucket {
            inline: self.inline.clone(),
            spill: self.spill.clone(),
        }
    }
}

impl<K, V> Bucket<K, V> {
    fn len(&self) -> usize {
        self.iter().count()
    }

    fn new() -> Self {
        Bucket {
            inline: Default::default(),
            spill: Vec::new(),
        }
    }

    #[inline]
    fn iter(&self) -> impl Iterator<Item = &Slot<K, V>> {
        self.inline
            .iter()
            .map_while(Option::as_ref)
            .chain(self.spill.iter())
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot<K, V>> {
        self.inline
            .iter_mut()
            .map_while(Option::as_mut)
            .chain(self.spill.iter_mut())
    }

    /// The entry of `key`, whose hash is `h`.
    #[inline]
    fn find<Q>(&self, h: u64, key: &Q) -> Option<&(K, V)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.iter()
            .find(|(eh, e)| *eh == h && e.0.borrow() == key)
            .map(|(_, e)| &**e)
    }

    fn push(&mut self, e: Slot<K, V>) {
        match self.inline.iter_mut().find(|s| s.is_none()) {
            Some(s) => *s = Some(e),
            None => self.spill.push(e),
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&Slot<K, V>) -> bool) {
        let old = core::mem::replace(self, Bucket::new());
        for e in old.inline.into_iter().flatten().chain(old.spill) {
            if keep(&e) {
                self.push(e);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.inline[0].is_none()
    }
}

struct Table<K, V> {
    buckets: Box<[AtomicPtr<Bucket<K, V>>]>,
}

impl<K, V> Table<K, V> {
    fn boxed(n: usize) -> *mut Table<K, V> {
        Box::into_raw(Box::new(Table {
            buckets: (0..n).map(|_| AtomicPtr::new(ptr::null_mut())).collect(),
        }))
    }
}

unsafe fn free_bucket<K, V>(p: *mut Bucket<K, V>) {
    // SAFETY: buckets are boxes.
    drop(unsafe { Box::from_raw(p) });
}

unsafe fn free_table<K, V>(p: *mut Table<K, V>) {
    // SAFETY: tables are boxes; their bucket pointers were cleared or are owned elsewhere.
    drop(unsafe { Box::from_raw(p) });
}

/// A read-mostly concurrent map (see the [module docs](self)), reclaimed through `S`
/// (QSBR by default: the seed's registry and module map report quiescent states between
/// steps).
pub struct Map<K, V, S: Smr = ebb_smr::qsbr::Domain, H = RandomState> {
    table: AtomicPtr<Table<K, V>>,
    /// Writer stripes: a write locks the stripe of its key's hash (`h % STRIPES`), which
    /// covers whole buckets because a table has at least `STRIPES` buckets (a power of
    /// two) and a bucket is `h % buckets`. Each counts the entries of its stripe. Growth
    /// locks every stripe, in order.
    writers: Box<[CachePadded<Mutex<usize>>]>,
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
    /// An empty map retiring replaced buckets into `domain`.
    pub fn with_domain(domain: &S) -> Self {
        Map::with_domain_and_hasher(domain, RandomState::new())
    }
}

impl<K, V, S: Smr, H> Map<K, V, S, H> {
    /// An empty map with the hasher `hasher`.
    pub fn with_domain_and_hasher(domain: &S, hasher: H) -> Self {
        Map {
            table: AtomicPtr::new(Table::boxed(STRIPES)),
            writers: (0..STRIPES)
                .map(|_| CachePadded::new(Mutex::new(0)))
                .collect(),
            hasher,
            domain: domain.id(),
            _owns: PhantomData,
        }
    }

    /// Entries now: exact while no write runs (the stripes' counts, summed one stripe at
    /// a time), an estimate otherwise.
    pub fn len(&self) -> usize {
        self.writers
            .iter()
            .map(|w| *w.lock().unwrap_or_else(|e| e.into_inner()))
            .sum()
    }

    /// Locks the writer stripe of hash `h`.
    fn lock(&self, h: u64) -> MutexGuard<'_, usize> {
        self.writers[(h as usize) & (STRIPES - 1)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// True when [`len`](Map::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K, V, S, H> Map<K, V, S, H>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: Smr,
    H: BuildHasher,
{
    #[inline]
    fn slot(&self, n: usize, h: u64) -> usize {
        (h as usize) & (n - 1)
    }

    /// Finds the bucket of hash `h` under `guard` (slot 0: table, slot 1: bucket).
    #[inline]
    fn bucket<'g, G: SmrGuard>(&self, guard: &'g G, h: u64) -> Option<&'g Bucket<K, V>> {
        loop {
            let t = guard.protect_shared(0, &self.table);
            // SAFETY: protected; tables are retired only after being replaced.
            let t = unsafe { &*t };
            let i = self.slot(t.buckets.len(), h);
            let b = guard.protect_shared(1, &t.buckets[i]);
            if !b.is_null() {
                // SAFETY: protected, and validated in a table slot that was not yet
                // cleared, so not yet retired.
                return Some(unsafe { &*b });
            }
            // Null: an empty bucket, or a table being retired: check which.
            if ptr::eq(self.table.load(Ordering::Acquire), t) {
                return None;
            }
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
        Ok(self.bucket(g, h).and_then(|b| b.find(h, key)).map(|e| &e.1))
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
        let r = self
            .bucket(guard, h)
            .and_then(|b| b.find(h, key))
            .map(|e| e.1.clone());
        guard.reset(1);
        guard.reset(0);
        Ok(r)
    }

    /// Copies bucket `i` of the current table through `edit` and publishes the copy;
    /// returns the replaced bucket (null if there was none), for the caller to retire
    /// once it released its stripe. Writers only (the stripe of `h` is held, so no other
    /// writer changes bucket `i` and no growth replaces the table).
    fn rewrite<R>(
        &self,
        h: u64,
        edit: impl FnOnce(&mut Bucket<K, V>) -> R,
    ) -> (R, *mut Bucket<K, V>) {
        // SAFETY: the current table; only writers (we) replace it.
        let t = unsafe { &*self.table.load(Ordering::Acquire) };
        let i = self.slot(t.buckets.len(), h);
        let old = t.buckets[i].load(Ordering::Acquire);
        let mut copy: Bucket<K, V> = if old.is_null() {
            Bucket::new()
        } else {
            // SAFETY: the current bucket, which only we (the writer) can retire.
            unsafe { (*old).clone() }
        };
        let r = edit(&mut copy);
        let new = if copy.is_empty() {
            ptr::null_mut()
        } else {
            Box::into_raw(Box::new(copy))
        };
        // Release: the copy's entries are visible to readers that load it.
        t.buckets[i].store(new, Ordering::Release);
        (r, old)
    }

    /// Retires a bucket replaced by `rewrite`.
    fn retire_bucket<G: SmrGuard>(guard: &G, old: *mut Bucket<K, V>) {
        if !old.is_null() {
            // SAFETY: unlinked by `rewrite`'s store; retired once, through the map's
            // domain (checked by every caller).
            unsafe { guard.retire(old, free_bucket::<K, V>) };
        }
    }

    /// Locks every stripe and doubles the buckets if the map still holds more than one
    /// entry per bucket (a stripe asked for it: see `insert_with`).
    #[cold]
    fn grow_locked<G: SmrGuard>(&self, guard: &G) {
        let all: Vec<MutexGuard<'_, usize>> = self
            .writers
            .iter()
            .map(|w| w.lock().unwrap_or_else(|e| e.into_inner()))
            .collect();
        let len: usize = all.iter().map(|g| **g).sum();
        // SAFETY: the current table; only writers replace it, and we hold every stripe.
        let buckets = unsafe { (&*self.table.load(Ordering::Acquire)).buckets.len() };
        if len > buckets {
            self.grow(guard);
        }
        drop(all);
    }

    /// Doubles the buckets (see the [module docs](self)). Every stripe is held.
    fn grow<G: SmrGuard>(&self, guard: &G) {
        let old = self.table.load(Ordering::Acquire);
        // SAFETY: the current table; only writers (we) replace it.
        let o = unsafe { &*old };
        let n = o.buckets.len() * 2;
        let mut fresh: Vec<Bucket<K, V>> = (0..n).map(|_| Bucket::new()).collect();
        for b in o.buckets.iter() {
            let p = b.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: a current bucket.
                for (h, e) in unsafe { &*p }.iter() {
                    fresh[self.slot(n, *h)].push((*h, e.clone()));
                }
            }
        }
        let new = Table::<K, V>::boxed(n);
        // SAFETY: ours until published.
        let t = unsafe { &*new };
        for (slot, b) in t.buckets.iter().zip(fresh) {
            if !b.is_empty() {
                slot.store(Box::into_raw(Box::new(b)), Ordering::Relaxed);
            }
        }
        // Release: the new table and its buckets are visible to readers that load it.
        self.table.store(new, Ordering::Release);
        for b in o.buckets.iter() {
            // Clear first, so that no reader can validate the bucket afterwards.
            let p = b.swap(ptr::null_mut(), Ordering::AcqRel);
            if !p.is_null() {
                // SAFETY: unreachable now (cleared, and the old table is unlinked).
                unsafe { guard.retire(p, free_bucket::<K, V>) };
            }
        }
        // SAFETY: unlinked; its bucket slots are all cleared.
        unsafe { guard.retire(old, free_table::<K, V>) };
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
        let entry = Arc::new((key, value));
        let mut count = self.lock(h);
        let (new, old) = self.rewrite(h, |b| {
            if let Some(e) = b.iter_mut().find(|(eh, e)| *eh == h && e.0 == entry.0) {
                e.1 = entry;
                false
            } else {
                b.push((h, entry));
                true
            }
        });
        let mut grow = false;
        if new {
            *count += 1;
            // SAFETY: the current table (our stripe is held).
            let buckets = unsafe { (&*self.table.load(Ordering::Relaxed)).buckets.len() };
            // This stripe holds more than four entries per bucket of its share: check
            // the whole map (two per bucket on average is the aim).
            grow = *count * STRIPES > buckets * 4;
        }
        drop(count);
        Self::retire_bucket(guard, old);
        if grow {
            self.grow_locked(guard);
        }
        Ok(new)
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
        let mut count = self.lock(h);
        let (gone, old) = self.rewrite(h, |b| {
            let before = b.len();
            b.retain(|(eh, e)| *eh != h || e.0.borrow() != key);
            before != b.len()
        });
        if gone {
            *count -= 1;
        }
        drop(count);
        Self::retire_bucket(guard, old);
        Ok(gone)
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
        let stripe = self.lock(h);
        let (found, old) = self.rewrite(h, |b| {
            match b.iter_mut().find(|(eh, e)| *eh == h && e.0.borrow() == key) {
                Some((_, e)) => {
                    *e = Arc::new((e.0.clone(), f(&e.1)));
                    true
                }
                None => false,
            }
        });
        drop(stripe);
        Self::retire_bucket(guard, old);
        Ok(found)
    }

    /// Calls `f` on every entry, bucket by bucket (weakly consistent: see the
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
            let t = unsafe { &*t };
            for slot in t.buckets.iter() {
                let b = guard.protect_shared(1, slot);
                if b.is_null() {
                    if !ptr::eq(self.table.load(Ordering::Acquire), t) {
                        // The table was replaced mid-walk: entries seen so far may be seen
                        // again; restart (weak consistency, documented).
                        continue 'restart;
                    }
                    continue;
                }
                // SAFETY: protected and validated in a live slot.
                for (_, e) in unsafe { &*b }.iter() {
                    f(&e.0, &e.1);
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
        // SAFETY: `&mut self`: the current table and its buckets are ours; replaced ones
        // were retired.
        unsafe {
            for b in (*t).buckets.iter() {
                let p = b.load(Ordering::Relaxed);
                if !p.is_null() {
                    free_bucket(p);
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
