//! [`SharedMapping`]: a symbol interner for many threads, after MORK's bucketed design.
//!
//! Byte strings map to [`Symbol`]s and back through two arrays of [`BUCKETS`] tries, each
//! behind its own `RwLock` and padded to a cache line so that neighbouring locks do not
//! share one:
//!
//! * *bytes → symbol*: the bucket is chosen by a Pearson hash of the first
//!   [`PEARSON_BOUND`] bytes, so lookups of different strings mostly take different
//!   locks, and a lookup takes only a read lock.
//! * *symbol → bytes*: a symbol's top byte names the [`ThreadPermission`] that issued it,
//!   and the bucket is that permission's. A writer thread therefore writes only its own
//!   reverse bucket.
//!
//! A thread that inserts holds a `ThreadPermission`: one of [`BUCKETS`] slots, each owning
//! the range of symbols whose top byte is its index. The permission counts its symbols
//! itself (no shared counter on the insert path) and, when dropped, records where it
//! stopped so that the next holder of the slot goes on from there.
//!
//! Inserting first looks the string up under a read lock; only if it is absent does it
//! take the bucket's write lock, look again (another thread may have inserted it
//! meanwhile) and insert.

use crate::map::PathMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The number of buckets (and of thread permissions).
pub const BUCKETS: usize = 128;
/// How many leading bytes of a string choose its bucket.
pub const PEARSON_BOUND: usize = 8;

/// An interned string's id. The top byte names the permission that issued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Symbol(pub u64);

impl Symbol {
    /// The index of the permission that issued this symbol.
    pub fn permission(self) -> usize {
        (self.0 >> 56) as usize
    }
}

/// No thread permission is free: [`BUCKETS`] are held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionsExhausted;

impl fmt::Display for PermissionsExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "all {BUCKETS} interner thread permissions are held")
    }
}

impl std::error::Error for PermissionsExhausted {}

/// A Pearson permutation of 0..=255, built at compile time by a Fisher-Yates shuffle
/// driven by a fixed linear congruential generator.
const PEARSON: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut i = 255;
    while i > 0 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((x >> 33) % (i as u64 + 1)) as usize;
        let tmp = t[i];
        t[i] = t[j];
        t[j] = tmp;
        i -= 1;
    }
    t
};

/// The Pearson hash (Pearson 1990, "Fast hashing of variable-length text strings") of the
/// first [`PEARSON_BOUND`] bytes of `s`.
pub fn pearson(s: &[u8]) -> u8 {
    let mut h = s.len() as u8;
    for &b in s.iter().take(PEARSON_BOUND) {
        h = PEARSON[(h ^ b) as usize];
    }
    h
}

#[repr(align(64))]
struct Aligned<T>(T);

/// One cache-line-aligned, locked trie.
type Bucket<T> = Aligned<RwLock<PathMap<T>>>;

/// A bucketed, thread-safe interner; see the [module documentation](self).
///
/// ```
/// use ebb_trie::intern::SharedMapping;
/// let m = SharedMapping::new();
/// let mut p = m.permission().unwrap();
/// let a = p.intern(b"alpha");
/// assert_eq!(p.intern(b"alpha"), a);
/// assert_eq!(m.symbol(b"alpha"), Some(a));
/// assert_eq!(m.bytes(a).as_deref(), Some(&b"alpha"[..]));
/// ```
pub struct SharedMapping {
    to_symbol: Box<[Bucket<Symbol>]>,
    to_bytes: Box<[Bucket<Box<[u8]>>]>,
    /// Per permission slot: bit 63 set while held; the low 56 bits count the symbols the
    /// slot has issued.
    slots: Box<[Aligned<AtomicU64>]>,
}

const HELD: u64 = 1 << 63;
const COUNT_MASK: u64 = (1 << 56) - 1;

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // Each critical section is one trie insert, after which the trie is consistent, so a
    // panic inside one leaves nothing half-done: poisoning is ignored.
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Default for SharedMapping {
    fn default() -> Self {
        SharedMapping::new()
    }
}

impl SharedMapping {
    /// An empty interner.
    pub fn new() -> SharedMapping {
        SharedMapping {
            to_symbol: (0..BUCKETS)
                .map(|_| Aligned(RwLock::new(PathMap::new())))
                .collect(),
            to_bytes: (0..BUCKETS)
                .map(|_| Aligned(RwLock::new(PathMap::new())))
                .collect(),
            slots: (0..BUCKETS).map(|_| Aligned(AtomicU64::new(0))).collect(),
        }
    }

    fn bucket(s: &[u8]) -> usize {
        pearson(s) as usize % BUCKETS
    }

    /// Takes a free thread permission.
    pub fn permission(&self) -> Result<ThreadPermission<'_>, PermissionsExhausted> {
        for (i, slot) in self.slots.iter().enumerate() {
            let cur = slot.0.load(Ordering::Relaxed);
            // Acquire pairs with the Release in `ThreadPermission::drop`: the new holder
            // sees the count its predecessor stored.
            if cur & HELD == 0
                && slot
                    .0
                    .compare_exchange(cur, cur | HELD, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return Ok(ThreadPermission {
                    map: self,
                    index: i,
                    next: cur & COUNT_MASK,
                });
            }
        }
        Err(PermissionsExhausted)
    }

    /// The symbol of `s`, if interned.
    pub fn symbol(&self, s: impl AsRef<[u8]>) -> Option<Symbol> {
        let s = s.as_ref();
        read(&self.to_symbol[Self::bucket(s)].0).get(s).copied()
    }

    /// Calls `f` with the bytes of `sym`, borrowed under the bucket's read lock.
    pub fn with_bytes<R>(&self, sym: Symbol, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let b = self.to_bytes.get(sym.permission())?;
        read(&b.0).get(sym.0.to_be_bytes()).map(|v| f(v))
    }

    /// The bytes of `sym`, copied.
    pub fn bytes(&self, sym: Symbol) -> Option<Vec<u8>> {
        self.with_bytes(sym, <[u8]>::to_vec)
    }

    /// The number of interned strings (takes every read lock in turn).
    pub fn len(&self) -> usize {
        self.to_symbol.iter().map(|b| read(&b.0).len()).sum()
    }

    /// Whether nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The right to intern new strings, with a range of symbols of its own; see
/// [`SharedMapping::permission`].
pub struct ThreadPermission<'a> {
    map: &'a SharedMapping,
    index: usize,
    next: u64,
}

impl ThreadPermission<'_> {
    /// The symbol of `s`, interning it if it is new.
    pub fn intern(&mut self, s: impl AsRef<[u8]>) -> Symbol {
        let s = s.as_ref();
        let bucket = &self.map.to_symbol[SharedMapping::bucket(s)].0;
        if let Some(sym) = read(bucket).get(s) {
            return *sym;
        }
        let mut w = write(bucket);
        if let Some(sym) = w.get(s) {
            return *sym;
        }
        assert!(
            self.next <= COUNT_MASK,
            "permission {} ran out of symbols",
            self.index
        );
        let sym = Symbol(((self.index as u64) << 56) | self.next);
        self.next += 1;
        // The reverse entry goes in first, so that a thread that finds the symbol can
        // resolve it. This permission's own bucket: no other thread writes it.
        write(&self.map.to_bytes[self.index].0).insert(sym.0.to_be_bytes(), s.into());
        w.insert(s, sym);
        sym
    }

    /// This permission's slot index (the top byte of its symbols).
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for ThreadPermission<'_> {
    fn drop(&mut self) {
        // Release: the next holder's Acquire sees the count.
        self.map.slots[self.index]
            .0
            .store(self.next, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_table_is_a_permutation() {
        let mut seen = [false; 256];
        for &x in &PEARSON {
            assert!(!seen[x as usize]);
            seen[x as usize] = true;
        }
        // Only the first PEARSON_BOUND bytes count.
        assert_eq!(pearson(b"abcdefgh-tail-one"), pearson(b"abcdefgh-tail-two"));
    }

    #[test]
    fn permissions_are_exclusive_and_resume() {
        let m = SharedMapping::new();
        let mut held: Vec<ThreadPermission<'_>> =
            (0..BUCKETS).map(|_| m.permission().unwrap()).collect();
        assert_eq!(m.permission().err(), Some(PermissionsExhausted));
        let mut p = held.pop().unwrap();
        let i = p.index();
        let a = p.intern(b"x");
        drop(p);
        let mut p = m.permission().unwrap();
        assert_eq!(p.index(), i);
        let b = p.intern(b"y");
        assert_eq!(b.0, a.0 + 1, "the slot resumes its count");
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn threads_intern_consistently() {
        let m = SharedMapping::new();
        let n = if cfg!(miri) { 20 } else { 2000 };
        let syms: Vec<Vec<Symbol>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut p = m.permission().unwrap();
                        (0..n)
                            .map(|i| p.intern(format!("sym{i}")))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // Every thread got the same symbol for each string.
        for v in &syms[1..] {
            assert_eq!(v, &syms[0]);
        }
        assert_eq!(m.len(), n);
        for (i, s) in syms[0].iter().enumerate() {
            assert_eq!(m.bytes(*s), Some(format!("sym{i}").into_bytes()));
        }
    }
}
