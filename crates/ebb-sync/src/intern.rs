//! String interning with lock-free lookups: bytes in, a stable `u32`-sized [`Symbol`]
//! out, and back.
//!
//! Two tables share one store of interned bytes and differ in their index:
//!
//! * [`CowInterner`]: the index is a `HashMap` that an insert *copies*, extends and
//!   publishes with one atomic pointer swap, retiring the old copy through ebb-smr (the
//!   copy-on-write design of liburcu-style RCU tables). Lookups are one protected load and
//!   a hash-map probe; an insert costs O(symbols).
//! * [`Interner`]: the index is an open-addressing table of atomic words that only grows.
//!   An insert writes one word (Release) into a free slot; when the table is half full it
//!   is rebuilt at twice the size, published by pointer swap and the old one retired.
//!   Lookups are the same lock-free probe; an insert costs amortized O(1).
//!
//! In both, writers take a mutex among themselves (they never block readers). Every
//! symbol has a 16-byte entry in grow-only chunks; the entry holds the bytes of a symbol of
//! up to 15 bytes and points at a box for a longer one. Neither chunks nor boxes are moved or
//! freed before the table drops, so [`resolve`](Interner::resolve) needs no guard and its
//! `&[u8]` lives as long as the table. Both are generic over the reclamation scheme: QSBR by default, as
//! the read-mostly case wants, or hazard pointers (the symbol-table variant) or EBR.
//!
//! Hashing is a fast multiply-rotate hash over 8-byte words, keyed per table from std's
//! `RandomState`, so that one table's collisions do not carry over to another.

use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use core::fmt;
use core::hash::{BuildHasher, Hash, Hasher};
use core::marker::PhantomData;
use core::ptr;
use ebb_smr::{DomainId, Smr, SmrError, SmrGuard};
use std::collections::HashMap;
use std::sync::Mutex;

/// An interned string's id: dense (`0, 1, 2, ...` in insertion order), `u32`-sized, and
/// valid for the life of the table that issued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(u32);

impl Symbol {
    /// The id as a number.
    pub fn as_u32(self) -> u32 {
        self.0
    }

    /// A symbol from its number; [`resolve`](Interner::resolve) answers `None` for one
    /// the table never issued.
    pub fn from_u32(id: u32) -> Symbol {
        Symbol(id)
    }
}

/// Why an intern failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InternError {
    /// The guard belongs to another domain.
    Smr(SmrError),
    /// The table holds `u32::MAX` symbols, the most a `Symbol` can name.
    Full,
}

impl From<SmrError> for InternError {
    fn from(e: SmrError) -> Self {
        InternError::Smr(e)
    }
}

impl fmt::Display for InternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InternError::Smr(e) => e.fmt(f),
            InternError::Full => f.write_str("the intern table holds u32::MAX symbols"),
        }
    }
}

impl std::error::Error for InternError {}

// === hashing ===

/// Multiply-rotate hashing over 8-byte words (the FxHash recipe), seeded.
#[derive(Clone, Copy)]
struct Seed(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl Seed {
    fn random() -> Seed {
        // A loom model must replay the same way each run: a fixed seed there.
        if cfg!(ebb_loom) {
            return Seed(K);
        }
        Seed(std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64) | 1)
    }

    #[inline]
    fn hash(self, b: &[u8]) -> u64 {
        let mut h = self.0 ^ (b.len() as u64).wrapping_mul(K);
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            h = (h.rotate_left(5) ^ le64(c)).wrapping_mul(K);
        }
        let r = chunks.remainder();
        if !r.is_empty() {
            // The tail as one word, read in place: a slice of 8 bytes or more rereads the
            // last 8 (overlapping the final chunk), a shorter one is read in two
            // overlapping halves. Which bytes land where depends only on the length,
            // which is hashed in above, so equal slices still hash equally; copying the
            // tail into a zeroed buffer instead costs a `memcpy` call and a stalled
            // store-to-load forward on every short key.
            let w = if b.len() >= 8 {
                le64(&b[b.len() - 8..])
            } else {
                tail_word(r)
            };
            h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        }
        // Final avalanche, so that the high bits (the slot tag) and the low bits (the
        // slot index) both depend on every byte.
        h ^= h >> 29;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^ (h >> 32)
    }
}

/// The first 8 bytes of `b` (at least 8 long) as a little-endian word.
#[inline(always)]
fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

/// 1 to 7 bytes as one word: two overlapping 4-byte reads from 4 bytes on, else the
/// first, middle and last byte.
#[inline(always)]
fn tail_word(r: &[u8]) -> u64 {
    let n = r.len();
    debug_assert!((1..8).contains(&n));
    if n >= 4 {
        let lo = u32::from_le_bytes(r[..4].try_into().expect("4 bytes"));
        let hi = u32::from_le_bytes(r[n - 4..].try_into().expect("4 bytes"));
        u64::from(lo) | (u64::from(hi) << 32)
    } else {
        u64::from(r[0]) | (u64::from(r[n / 2]) << 8) | (u64::from(r[n - 1]) << 16)
    }
}

/// `a == b`, without a `memcmp` call for keys of up to 16 bytes (the common case of an
/// identifier table): equal lengths, then two overlapping word compares.
#[inline(always)]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n > 16 {
        return a == b;
    }
    if n >= 8 {
        return le64(a) == le64(b) && le64(&a[n - 8..]) == le64(&b[n - 8..]);
    }
    if n == 0 {
        return true;
    }
    tail_word(a) == tail_word(b)
}

// === the store of interned bytes ===

/// Symbols in chunk 0; chunk `k` holds `BASE << k`.
const BASE: usize = 64;
const CHUNKS: usize = 27;

/// Bytes of up to this many are kept inside the symbol's [`Entry`].
const INLINE: usize = 15;

/// An entry's last byte for a symbol kept in a box (an inline one has its length there,
/// at most [`INLINE`]).
const BOXED: u8 = 0xff;

/// One symbol's bytes in 16 bytes, aligned to 16, so four entries share a cache line and
/// none straddles two:
///
/// * a symbol of up to [`INLINE`] bytes is held in bytes `0..15`, zero padded, with its
///   length in byte 15: a lookup's compare reads the entry's one line and nothing else;
/// * a longer one is a leaked box: its pointer in bytes `0..8`, its length in the low 56
///   bits of the little-endian word at `8..16`, whose top byte (byte 15) is [`BOXED`].
///
/// Written once, by the writer holding the mutex, before the symbol is published (see
/// [`Store::push`]); read only after an Acquire that pairs with that publication. Keeping
/// the entry at 16 bytes (rather than a pointer, a length and an inline buffer) halves the
/// store's footprint, so that more of a table's entries stay in the core's cache.
#[repr(C, align(16))]
struct Entry {
    raw: UnsafeCell<[u8; 16]>,
}

// loom's cells carry their own tracking state; the layout holds for the real build.
#[cfg(not(ebb_loom))]
const _: () = assert!(size_of::<Entry>() == 16);

impl Entry {
    fn empty() -> Entry {
        Entry {
            raw: UnsafeCell::new([0; 16]),
        }
    }

    /// Writes `bytes` into this unpublished entry (boxing them if longer than
    /// [`INLINE`]).
    ///
    /// # Safety
    ///
    /// The entry is not published: no reader can reach it until a later Release.
    unsafe fn write(&self, bytes: &[u8]) {
        self.raw.with_mut(|p| {
            let p = p.cast::<u8>();
            // SAFETY: the entry is ours alone (caller) and 16 bytes long, aligned to 16;
            // `bytes` is the caller's, so it cannot overlap the entry.
            unsafe {
                if bytes.len() <= INLINE {
                    ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
                    *p.add(15) = bytes.len() as u8;
                } else {
                    let b = Box::into_raw(Box::<[u8]>::from(bytes)).cast::<u8>();
                    p.cast::<*mut u8>().write(b);
                    let w = bytes.len() as u64 | (u64::from(BOXED) << 56);
                    p.add(8).cast::<[u8; 8]>().write(w.to_le_bytes());
                }
            }
        })
    }

    /// The symbol's bytes.
    ///
    /// # Safety
    ///
    /// The entry was written by [`Entry::write`], and that write happens before this call
    /// (a Release/Acquire pair); the returned slice lives as long as the entry does (an
    /// inline symbol's bytes are the entry's, a boxed one's box is freed only with the
    /// store).
    #[inline(always)]
    unsafe fn bytes<'a>(&self) -> &'a [u8] {
        // SAFETY: forwarded (caller); the parts name `len` initialized bytes that nothing
        // writes again while the entry lives.
        unsafe {
            let (p, len) = self.parts();
            core::slice::from_raw_parts(p, len)
        }
    }

    /// The symbol's bytes as a pointer (into the entry, or the box with its provenance)
    /// and a length.
    ///
    /// # Safety
    ///
    /// As [`bytes`](Entry::bytes).
    #[inline(always)]
    unsafe fn parts(&self) -> (*const u8, usize) {
        self.raw.with(|p| {
            let p = p.cast::<u8>();
            // SAFETY: the entry was written before this read and is never written again
            // (caller); it is 16 bytes aligned to 16, so the reads are aligned and in
            // bounds; a boxed entry holds a pointer written as a pointer, so reading it
            // back keeps its provenance.
            unsafe {
                let tag = *p.add(15);
                if tag != BOXED {
                    (p, tag as usize)
                } else {
                    let b = p.cast::<*const u8>().read();
                    let w = u64::from_le_bytes(p.add(8).cast::<[u8; 8]>().read());
                    (b, (w & ((1 << 56) - 1)) as usize)
                }
            }
        })
    }
}

/// Grow-only storage: symbol `s` lives in chunk `k`, offset `o` with
/// `s + BASE = (BASE << k) + o`. Written by the one writer holding the writers' mutex;
/// an entry is complete before `len` (Release) makes it visible.
struct Store {
    chunks: [AtomicPtr<Entry>; CHUNKS],
    len: AtomicU32,
}

fn locate(s: u32) -> (usize, usize) {
    let i = s as usize + BASE;
    let k = (usize::BITS - 1 - i.leading_zeros()) as usize - BASE.trailing_zeros() as usize;
    (k, i - (BASE << k))
}

impl Store {
    fn new() -> Store {
        Store {
            chunks: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            len: AtomicU32::new(0),
        }
    }

    /// The bytes of `s`, if it was issued.
    #[inline]
    fn get(&self, s: u32) -> Option<&[u8]> {
        // Acquire: pairs with `push`'s Release, so the entry and its bytes are visible.
        if s >= self.len.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: issued symbols have a written entry in an allocated chunk.
        Some(unsafe { self.get_unchecked(s) })
    }

    /// # Safety
    ///
    /// `s` was issued, and its issue happens before this call (a Release/Acquire pair).
    #[inline(always)]
    unsafe fn get_unchecked(&self, s: u32) -> &[u8] {
        let (k, o) = locate(s);
        let c = self.chunks[k].load(Ordering::Relaxed);
        // SAFETY: the chunk and entry exist and were written before the issue (caller);
        // entries are neither moved nor freed before the store drops.
        unsafe { (*c.add(o)).bytes() }
    }

    /// Appends `bytes` as the next symbol. Writers only (the mutex is held).
    fn push(&self, bytes: &[u8]) -> Result<u32, InternError> {
        let s = self.len.load(Ordering::Relaxed);
        if s == u32::MAX {
            return Err(InternError::Full);
        }
        let (k, o) = locate(s);
        let mut c = self.chunks[k].load(Ordering::Relaxed);
        if c.is_null() {
            let chunk: Box<[Entry]> = (0..BASE << k).map(|_| Entry::empty()).collect();
            c = Box::into_raw(chunk).cast::<Entry>();
            self.chunks[k].store(c, Ordering::Relaxed);
        }
        // SAFETY: offset `o` is inside chunk `k`; the entry of a symbol not yet issued is
        // reached by no reader before the Release below, and only the writer writes.
        unsafe { (*c.add(o)).write(bytes) };
        // Release: readers that see the new length (or the index word naming `s`, which
        // is stored after this) see the entry.
        self.len.store(s + 1, Ordering::Release);
        Ok(s)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let n = self.len.load(Ordering::Relaxed);
        for s in 0..n {
            let (k, o) = locate(s);
            // SAFETY: `&mut self`: every issued entry is ours and was written; the bytes of
            // a symbol longer than `INLINE` are a leaked box of its length, freed once
            // (shorter ones live in the entry and go with the chunk).
            unsafe {
                let (p, len) = (*self.chunks[k].load(Ordering::Relaxed).add(o)).parts();
                if len > INLINE {
                    drop(Box::from_raw(ptr::slice_from_raw_parts_mut(
                        p.cast_mut(),
                        len,
                    )));
                }
            }
        }
        for (k, c) in self.chunks.iter().enumerate() {
            let c = c.load(Ordering::Relaxed);
            if !c.is_null() {
                // SAFETY: allocated in `push` as a boxed slice of `BASE << k` entries.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(c, BASE << k)) });
            }
        }
    }
}

// === impl Interner (grow-only open addressing) ===

/// One index word: `(hash >> 32) << 32 | (symbol + 1)`; 0 is an empty slot.
struct Index {
    mask: usize,
    slots: Box<[AtomicU64]>,
}

impl Index {
    fn boxed(cap: usize) -> *mut Index {
        Box::into_raw(Box::new(Index {
            mask: cap - 1,
            slots: (0..cap).map(|_| AtomicU64::new(0)).collect(),
        }))
    }
}

/// Frees a retired index.
///
/// # Safety
///
/// `p` came from `Box::into_raw`, no thread can reach it any more (it was unlinked and
/// retired, and its grace period is over), and it is freed once.
unsafe fn free_index(p: *mut Index) {
    // SAFETY: indexes are boxes.
    drop(unsafe { Box::from_raw(p) });
}

/// Writers' state, under the mutex.
struct Writer {
    /// Words in the current index.
    used: usize,
}

/// The intern table with cheap inserts: a grow-only open-addressing index of atomic words
/// (see the [module docs](self)), old indexes retired through `S` (QSBR by default).
pub struct Interner<S: Smr = ebb_smr::qsbr::Domain> {
    index: AtomicPtr<Index>,
    store: Store,
    seed: Seed,
    writer: Mutex<Writer>,
    domain: DomainId,
    _scheme: PhantomData<S>,
}

// SAFETY: all shared state is atomic or behind the mutex; the byte store is grow-only.
unsafe impl<S: Smr> Send for Interner<S> {}
// SAFETY: as above.
unsafe impl<S: Smr> Sync for Interner<S> {}

impl<S: Smr> Interner<S> {
    /// An empty table retiring its outgrown indexes into `domain`.
    pub fn with_domain(domain: &S) -> Self {
        Interner {
            index: AtomicPtr::new(Index::boxed(if cfg!(miri) {
                2
            } else if cfg!(ebb_loom) {
                4
            } else {
                64
            })),
            store: Store::new(),
            seed: Seed::random(),
            writer: Mutex::new(Writer { used: 0 }),
            domain: domain.id(),
            _scheme: PhantomData,
        }
    }

    #[inline]
    fn probe(&self, idx: &Index, h: u64, bytes: &[u8]) -> Option<u32> {
        let tag = h >> 32;
        let mut i = h as usize & idx.mask;
        loop {
            // Acquire: pairs with the writer's Release, so the symbol's entry is visible.
            let w = idx.slots[i].load(Ordering::Acquire);
            if w == 0 {
                return None;
            }
            if w >> 32 == tag {
                let s = (w as u32).wrapping_sub(1);
                // SAFETY: the word was stored after the symbol was issued (Acquire above).
                if bytes_eq(unsafe { self.store.get_unchecked(s) }, bytes) {
                    return Some(s);
                }
            }
            i = (i + 1) & idx.mask;
        }
    }

    /// The symbol of `bytes`, if interned: lock-free.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the table's domain.
    #[inline]
    pub fn get_with<G: SmrGuard>(
        &self,
        guard: &G,
        bytes: &[u8],
    ) -> Result<Option<Symbol>, SmrError> {
        guard.check_domain(self.domain)?;
        let h = self.seed.hash(bytes);
        let idx = guard.protect_shared(0, &self.index);
        // SAFETY: protected; indexes are retired only after being replaced.
        let r = self.probe(unsafe { &*idx }, h, bytes).map(Symbol);
        guard.reset(0);
        Ok(r)
    }

    /// The symbol of `bytes`, interning it if new.
    ///
    /// # Errors
    ///
    /// [`InternError::Smr`] for a guard of another domain; [`InternError::Full`] when
    /// the table holds `u32::MAX` symbols.
    pub fn intern_with<G: SmrGuard>(&self, guard: &G, bytes: &[u8]) -> Result<Symbol, InternError> {
        if let Some(s) = self.get_with(guard, bytes)? {
            return Ok(s);
        }
        let h = self.seed.hash(bytes);
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        // Only writers replace the index, and we are the writer.
        let mut idx = self.index.load(Ordering::Acquire);
        // SAFETY: the current index, which only we could retire.
        if let Some(s) = self.probe(unsafe { &*idx }, h, bytes) {
            return Ok(Symbol(s));
        }
        // SAFETY: as above.
        let cap = unsafe { (*idx).mask } + 1;
        if (w.used + 1) * 2 > cap {
            idx = self.grow(guard, idx, cap * 2);
        }
        let s = self.store.push(bytes)?;
        // SAFETY: the current index.
        let ix = unsafe { &*idx };
        let mut i = h as usize & ix.mask;
        while ix.slots[i].load(Ordering::Relaxed) != 0 {
            i = (i + 1) & ix.mask;
        }
        // Release: the symbol's entry (stored before) is visible to a reader that finds
        // this word.
        ix.slots[i].store(((h >> 32) << 32) | (s as u64 + 1), Ordering::Release);
        w.used += 1;
        Ok(Symbol(s))
    }

    /// Rebuilds the index at `cap` slots, publishes it and retires the old one.
    #[cold]
    fn grow<G: SmrGuard>(&self, guard: &G, old: *mut Index, cap: usize) -> *mut Index {
        let new = Index::boxed(cap);
        // SAFETY: `new` is ours until published; `old` is the current index.
        let (n, o) = unsafe { (&*new, &*old) };
        for slot in o.slots.iter() {
            let w = slot.load(Ordering::Relaxed);
            if w != 0 {
                let s = (w as u32).wrapping_sub(1);
                // SAFETY: issued symbols.
                let h = self.seed.hash(unsafe { self.store.get_unchecked(s) });
                let mut i = h as usize & n.mask;
                while n.slots[i].load(Ordering::Relaxed) != 0 {
                    i = (i + 1) & n.mask;
                }
                n.slots[i].store(w, Ordering::Relaxed);
            }
        }
        // Release: the new index's words are visible to readers that load it.
        self.index.store(new, Ordering::Release);
        // SAFETY: `old` is unreachable now; retired once, through our domain (checked by
        // `get_with` in the caller).
        unsafe { guard.retire(old, free_index) };
        new
    }

    /// The bytes of `sym`, `None` if this table never issued it. No guard needed: bytes
    /// are never moved or freed before the table drops.
    #[inline]
    pub fn resolve(&self, sym: Symbol) -> Option<&[u8]> {
        self.store.get(sym.0)
    }

    /// Symbols issued so far.
    pub fn len(&self) -> usize {
        self.store.len.load(Ordering::Acquire) as usize
    }

    /// True if no symbol was issued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The domain outgrown indexes are retired into.
    pub fn domain_id(&self) -> DomainId {
        self.domain
    }
}

impl<S: Smr> Drop for Interner<S> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: the current index is ours; old ones were retired.
        unsafe { free_index(self.index.load(Ordering::Relaxed)) };
    }
}

impl<S: Smr> fmt::Debug for Interner<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interner")
            .field("len", &self.len())
            .finish()
    }
}

// === impl CowInterner (copy the whole index per insert) ===

/// A key of the copied `HashMap`: an interned byte string, by content.
#[derive(Clone, Copy)]
struct Key {
    ptr: *const u8,
    len: usize,
}

impl Key {
    fn bytes(&self) -> &[u8] {
        // SAFETY: keys point into the store, which outlives every index.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl PartialEq for Key {
    fn eq(&self, o: &Key) -> bool {
        self.bytes() == o.bytes()
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.bytes().hash(h)
    }
}

impl core::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

/// `BuildHasher` for the copied map: the table's seeded hash, through `Hasher`.
#[derive(Clone, Copy)]
struct SeedBuild(Seed);

struct SeedHasher {
    seed: Seed,
    h: u64,
}

impl Hasher for SeedHasher {
    fn write(&mut self, b: &[u8]) {
        self.h ^= self.seed.hash(b);
    }
    fn write_usize(&mut self, _: usize) {
        // The length prefix of `[u8]`'s `Hash`: already mixed in by `Seed::hash`.
    }
    fn finish(&self) -> u64 {
        self.h
    }
}

impl BuildHasher for SeedBuild {
    type Hasher = SeedHasher;
    fn build_hasher(&self) -> SeedHasher {
        SeedHasher { seed: self.0, h: 0 }
    }
}

type CowMap = HashMap<Key, u32, SeedBuild>;

/// Frees a retired copy of the map.
///
/// # Safety
///
/// `p` came from `Box::into_raw`, no thread can reach it any more (it was unlinked and
/// retired, and its grace period is over), and it is freed once.
unsafe fn free_map(p: *mut CowMap) {
    // SAFETY: maps are boxes.
    drop(unsafe { Box::from_raw(p) });
}

/// The copy-on-write intern table (see the [module docs](self)): each insert copies the
/// whole index, so inserts cost O(symbols); old copies are retired through `S` (QSBR by
/// default).
pub struct CowInterner<S: Smr = ebb_smr::qsbr::Domain> {
    map: AtomicPtr<CowMap>,
    store: Store,
    writer: Mutex<()>,
    domain: DomainId,
    _scheme: PhantomData<S>,
}

// SAFETY: as for `Interner`: atomics, a mutex, and a grow-only store; keys are raw
// pointers into that store.
unsafe impl<S: Smr> Send for CowInterner<S> {}
// SAFETY: as above.
unsafe impl<S: Smr> Sync for CowInterner<S> {}

impl<S: Smr> CowInterner<S> {
    /// An empty table retiring replaced index copies into `domain`.
    pub fn with_domain(domain: &S) -> Self {
        let map = CowMap::with_hasher(SeedBuild(Seed::random()));
        CowInterner {
            map: AtomicPtr::new(Box::into_raw(Box::new(map))),
            store: Store::new(),
            writer: Mutex::new(()),
            domain: domain.id(),
            _scheme: PhantomData,
        }
    }

    /// The symbol of `bytes`, if interned: lock-free.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the table's domain.
    #[inline]
    pub fn get_with<G: SmrGuard>(
        &self,
        guard: &G,
        bytes: &[u8],
    ) -> Result<Option<Symbol>, SmrError> {
        guard.check_domain(self.domain)?;
        let m = guard.protect_shared(0, &self.map);
        // SAFETY: protected; copies are retired only after being replaced.
        let r = unsafe { &*m }.get(bytes).copied().map(Symbol);
        guard.reset(0);
        Ok(r)
    }

    /// The symbol of `bytes`, interning it if new: copies the index, inserts, publishes
    /// the copy with one atomic swap and retires the old one.
    ///
    /// # Errors
    ///
    /// As [`Interner::intern_with`].
    pub fn intern_with<G: SmrGuard>(&self, guard: &G, bytes: &[u8]) -> Result<Symbol, InternError> {
        if let Some(s) = self.get_with(guard, bytes)? {
            return Ok(s);
        }
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.map.load(Ordering::Acquire);
        // SAFETY: the current copy, which only writers (we) replace.
        let cur = unsafe { &*old };
        if let Some(&s) = cur.get(bytes) {
            return Ok(Symbol(s));
        }
        let s = self.store.push(bytes)?;
        let mut copy = cur.clone();
        // SAFETY: just issued.
        let b = unsafe { self.store.get_unchecked(s) };
        copy.insert(
            Key {
                ptr: b.as_ptr(),
                len: b.len(),
            },
            s,
        );
        // AcqRel: Release publishes the copy (and the symbol's entry before it).
        let prev = self
            .map
            .swap(Box::into_raw(Box::new(copy)), Ordering::AcqRel);
        debug_assert_eq!(prev, old);
        // SAFETY: unlinked by the swap, retired once, through our domain (checked).
        unsafe { guard.retire(prev, free_map) };
        Ok(Symbol(s))
    }

    /// The bytes of `sym`, `None` if this table never issued it.
    #[inline]
    pub fn resolve(&self, sym: Symbol) -> Option<&[u8]> {
        self.store.get(sym.0)
    }

    /// Symbols issued so far.
    pub fn len(&self) -> usize {
        self.store.len.load(Ordering::Acquire) as usize
    }

    /// True if no symbol was issued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S: Smr> Drop for CowInterner<S> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: the current copy is ours; old ones were retired.
        unsafe { free_map(self.map.load(Ordering::Relaxed)) };
    }
}

impl<S: Smr> fmt::Debug for CowInterner<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CowInterner")
            .field("len", &self.len())
            .finish()
    }
}
