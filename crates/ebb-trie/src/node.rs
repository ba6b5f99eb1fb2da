//! Trie nodes: one reference-counted allocation per node, of one of four kinds, behind an
//! eight-byte tagged handle ([`Node`]).
//!
//! A node stands for the path that leads to it *plus* its own `prefix`: the bytes every key
//! below it shares. The node's value, if any, belongs to the path that ends exactly after
//! the prefix; each child hangs under one more byte, its key in the child table, followed
//! by the child's own prefix.
//!
//! Kinds (the tag in the handle's low three bits says which `Arc` it holds):
//!
//! * [`Leaf`]: a prefix and a value, no children (for `V = u64`: 24 bytes, a 40-byte `Arc`
//!   allocation);
//! * [`Small<V, 4>`] and [`Small<V, 15>`]: a prefix, an optional value, the sorted child
//!   bytes and the child handles, all inline; the byte is found with a SWAR search over
//!   eight key bytes at a time, so a level costs one allocation visited;
//! * [`Dense`]: more than 15 children: a 256-bit bitmap (with per-word rank bases) and the
//!   child handles in byte order in a `Vec`, found by one population count.
//!
//! Canonical form, kept by every mutation: a node other than the root of an empty map has
//! a value or at least two children; a node without a value never has exactly one child
//! (it is merged with that child, concatenating the prefixes). The shape of a trie is
//! therefore a function of its key set, except for the table kind, which has hysteresis.
//!
//! Nodes are shared: a mutation goes through [`Arc::make_mut`] on the node's own kind,
//! which copies a shared node shallowly (its children's handles are cloned, not the
//! children) before changing it. A node reachable from two maps is therefore never written.
//!
//! A fifth tag, *empty*, holds no allocation: a node without value or children. It exists
//! only transiently inside a mutation (as a placeholder while parts move between kinds)
//! and reads as a node with nothing in it.

use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::Arc;

/// Prefixes up to this length are stored inside the node.
pub(crate) const INLINE_PREFIX: usize = 14;

const LEAF: usize = 0;
const SMALL4: usize = 1;
const SMALL16: usize = 2;
const DENSE: usize = 3;
const EMPTY: usize = 4;
const TAG_MASK: usize = 7;

/// A [`Small<V, MID_MAX>`] table becomes [`Dense`] above this many children. Fifteen, not
/// sixteen: for `V = u64` that makes the node 168 bytes, a 192-byte malloc chunk, not 208.
const MID_MAX: usize = 15;
const _: () = assert!(
    MID_MAX > 4,
    "`Kind` tells the two small kinds apart by size"
);
/// A dense table shrinks back to a [`Small<V, MID_MAX>`] at this many children or fewer.
const DENSE_MIN: usize = 12;
/// A [`Small<V, MID_MAX>`] shrinks back to a [`Small<V, 4>`] at this many children or fewer.
const MID_MIN: usize = 3;

// === impl Prefix ===

/// A node's compressed path: inline up to [`INLINE_PREFIX`] bytes, else one heap block
/// behind a thin pointer (so the whole field is 16 bytes and a long prefix is one
/// dependent load away, not two).
pub(crate) enum Prefix {
    /// `bytes[..len]` is the prefix; `len <= INLINE_PREFIX`.
    Inline { len: u8, bytes: [u8; INLINE_PREFIX] },
    /// A prefix longer than [`INLINE_PREFIX`]: `ptr` is the start of a `Box<[u8]>` of
    /// `len` bytes that this value owns (made by `Box::into_raw`).
    Heap { len: u32, ptr: NonNull<u8> },
}

// SAFETY: a `Prefix` owns its bytes exclusively (the heap block is freed by its `Drop` and
// copied by its `Clone`), like a `Box<[u8]>`, which is `Send` and `Sync`.
unsafe impl Send for Prefix {}
// SAFETY: as above; `&Prefix` only reads the bytes.
unsafe impl Sync for Prefix {}

impl Prefix {
    pub(crate) const EMPTY: Prefix = Prefix::Inline {
        len: 0,
        bytes: [0; INLINE_PREFIX],
    };

    pub(crate) fn new(s: &[u8]) -> Prefix {
        if s.len() <= INLINE_PREFIX {
            let mut bytes = [0; INLINE_PREFIX];
            bytes[..s.len()].copy_from_slice(s);
            Prefix::Inline {
                len: s.len() as u8,
                bytes,
            }
        } else {
            let len = u32::try_from(s.len()).expect("a key longer than 4 GiB");
            let b: Box<[u8]> = s.into();
            let ptr = NonNull::new(Box::into_raw(b).cast::<u8>()).expect("Box is non-null");
            Prefix::Heap { len, ptr }
        }
    }

    /// `a ++ [b] ++ c`.
    pub(crate) fn join3(a: &[u8], b: u8, c: &[u8]) -> Prefix {
        let mut v = Vec::with_capacity(a.len() + 1 + c.len());
        v.extend_from_slice(a);
        v.push(b);
        v.extend_from_slice(c);
        Prefix::new(&v)
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Prefix::Inline { len, bytes } => &bytes[..*len as usize],
            // SAFETY: `ptr` is the start of the owned `Box<[u8]>` of `len` bytes (the
            // variant's invariant), alive as long as `self`.
            Prefix::Heap { len, ptr } => unsafe {
                std::slice::from_raw_parts(ptr.as_ptr(), *len as usize)
            },
        }
    }
}

impl Clone for Prefix {
    fn clone(&self) -> Prefix {
        match self {
            Prefix::Inline { len, bytes } => Prefix::Inline {
                len: *len,
                bytes: *bytes,
            },
            Prefix::Heap { .. } => Prefix::new(self.as_slice()),
        }
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        if let Prefix::Heap { len, ptr } = *self {
            let raw = std::ptr::slice_from_raw_parts_mut(ptr.as_ptr(), len as usize);
            // SAFETY: `raw` is the `Box<[u8]>` this value owns (made by `Box::into_raw`
            // with this length), freed exactly once, here.
            drop(unsafe { Box::from_raw(raw) });
        }
    }
}

/// The length of the longest common prefix of `a` and `b`.
#[inline]
pub(crate) fn lcp(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    // Eight bytes at a time: the first differing byte is found from the XOR's low zeros.
    while i + 8 <= n {
        let x = u64::from_le_bytes(a[i..i + 8].try_into().unwrap())
            ^ u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        if x != 0 {
            return i + (x.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// `key` with `p` cut off its front, if it starts with `p`.
#[inline]
fn strip<'k>(p: &[u8], key: &'k [u8]) -> Option<&'k [u8]> {
    // `lcp` compares eight bytes at a time inline, where `==` would call memcmp.
    if key.len() < p.len() || lcp(p, key) < p.len() {
        return None;
    }
    Some(&key[p.len()..])
}

/// The index of `b` in `keys[..len]` (distinct bytes), by SWAR: eight bytes at a time,
/// the lowest zero byte of `chunk ^ splat(b)` (exact for the lowest; the bytes above a true
/// zero may be flagged falsely, and the keys are distinct, so only the lowest counts).
#[inline]
fn find_byte(keys: &[u8], len: usize, b: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let splat = LO.wrapping_mul(u64::from(b));
    let mut i = 0;
    while i < len {
        let chunk = if i + 8 <= keys.len() {
            u64::from_le_bytes(keys[i..i + 8].try_into().unwrap())
        } else {
            let mut w = [0u8; 8];
            let n = keys.len() - i;
            w[..n].copy_from_slice(&keys[i..]);
            // Padding that cannot match: the complement of `b`.
            for x in &mut w[n..] {
                *x = !b;
            }
            u64::from_le_bytes(w)
        };
        let x = chunk ^ splat;
        let z = x.wrapping_sub(LO) & !x & HI;
        if z != 0 {
            let at = i + (z.trailing_zeros() / 8) as usize;
            return (at < len).then_some(at);
        }
        i += 8;
    }
    None
}

/// A hint to start loading the cache line that holds `p` (it changes nothing the program
/// observes, and `p` need not be dereferenceable). On x86-64 outside Miri it is one
/// `prefetcht0`; elsewhere it compiles to nothing.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: `prefetcht0` is a hint: it never faults and reads nothing the program can
    // see, whatever the address; SSE, which provides it, is in the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = p;
}

// === the node kinds ===

/// A node without children.
#[derive(Clone)]
pub(crate) struct Leaf<V> {
    prefix: Prefix,
    value: V,
}

/// A node with up to `N` children, all inline: `keys[..len]` ascending, `kids[i]` the
/// child under `keys[i]` for `i < len`, empty handles above.
///
/// The fields are in the order a lookup reads them (`repr(C)`): the prefix, the length
/// and the key bytes are adjacent (32 bytes for `N = 15`, on one cache line with the
/// `Arc` counts for half the addresses glibc hands out), then the handles, then the
/// value, which a lookup passing through reads never. The default layout puts the key
/// bytes after the handles, so a lookup touched one more line.
#[derive(Clone)]
#[repr(C)]
pub(crate) struct Small<V, const N: usize> {
    prefix: Prefix,
    len: u8,
    keys: [u8; N],
    kids: [Node<V>; N],
    value: Option<V>,
}

/// A node with many children: bit `b` of `bits` is set iff byte `b` has a child, and
/// `kids` holds the children in ascending byte order, so the child of `b` is at the rank
/// of `b` (the set bits below it).
#[derive(Clone)]
pub(crate) struct Dense<V> {
    prefix: Prefix,
    bits: Bitmap,
    value: Option<V>,
    /// Exactly sized (a `Box`, not a `Vec`: no spare capacity, 16 bytes, not 24).
    kids: Box<[Node<V>]>,
}

/// A set of bytes as 256 bits, with the number of set bits below each 64-bit word kept
/// beside them, so that a rank costs one population count (the baseline x86-64 target has
/// no `popcnt` instruction, and a software count per word is a dozen instructions).
#[derive(Clone, Default)]
pub(crate) struct Bitmap {
    pub(crate) words: [u64; 4],
    /// `base[w]` is the number of set bits in `words[..w]` (at most 192: fits a byte).
    base: [u8; 4],
}

impl Bitmap {
    fn reindex(&mut self) {
        let mut acc = 0u32;
        for w in 0..4 {
            self.base[w] = acc as u8;
            acc += self.words[w].count_ones();
        }
    }

    fn set(&mut self, b: u8) {
        self.words[(b >> 6) as usize] |= 1 << (b & 63);
        self.reindex();
    }

    fn clear(&mut self, b: u8) {
        self.words[(b >> 6) as usize] &= !(1 << (b & 63));
        self.reindex();
    }

    /// The number of set bits below `b`, if `b` is set.
    #[inline]
    fn rank(&self, b: u8) -> Option<usize> {
        let w = (b >> 6) as usize;
        let bit = 1u64 << (b & 63);
        let word = self.words[w];
        if word & bit == 0 {
            return None;
        }
        Some(self.base[w] as usize + (word & (bit - 1)).count_ones() as usize)
    }

    /// The number of set bits below `b`, set or not.
    fn rank_below(&self, b: u8) -> usize {
        let w = (b >> 6) as usize;
        let bit = 1u64 << (b & 63);
        self.base[w] as usize + (self.words[w] & (bit - 1)).count_ones() as usize
    }

    /// The first set bit `>= from` (`from <= 255`).
    fn next_from(&self, from: u16) -> Option<u8> {
        let mut w = (from >> 6) as usize;
        let mut word = self.words[w] & (!0u64 << (from & 63));
        loop {
            if word != 0 {
                return Some((w * 64) as u8 + word.trailing_zeros() as u8);
            }
            w += 1;
            if w == 4 {
                return None;
            }
            word = self.words[w];
        }
    }
}

impl<V, const N: usize> Small<V, N> {
    fn empty(prefix: Prefix, value: Option<V>) -> Self {
        Small {
            prefix,
            len: 0,
            keys: [0; N],
            value,
            kids: std::array::from_fn(|_| Node::empty()),
        }
    }

    #[inline]
    fn find(&self, b: u8) -> Option<usize> {
        find_byte(&self.keys, self.len as usize, b)
    }

    fn next_from(&self, from: u16) -> Option<(u8, &Node<V>)> {
        let n = self.len as usize;
        let i = self.keys[..n].iter().position(|&k| u16::from(k) >= from)?;
        Some((self.keys[i], &self.kids[i]))
    }

    /// Puts children, given in ascending byte order, into an empty table that has room
    /// for them: each goes to the next slot, with no search and no shifting.
    fn fill(&mut self, kids: Vec<(u8, Node<V>)>) {
        assert!(
            self.len == 0 && kids.len() <= N,
            "fill needs an empty table with room"
        );
        for (i, (b, n)) in kids.into_iter().enumerate() {
            debug_assert!(i == 0 || self.keys[i - 1] < b, "children out of order");
            self.keys[i] = b;
            self.kids[i] = n;
            self.len += 1;
        }
    }

    /// Adds a child under a byte that has none; there must be room.
    fn insert(&mut self, b: u8, node: Node<V>) {
        let n = self.len as usize;
        debug_assert!(n < N && self.find(b).is_none());
        let i = self.keys[..n].iter().position(|&k| k > b).unwrap_or(n);
        self.keys.copy_within(i..n, i + 1);
        self.kids[i..=n].rotate_right(1);
        self.keys[i] = b;
        self.kids[i] = node;
        self.len += 1;
    }

    fn remove(&mut self, b: u8) -> Option<Node<V>> {
        let n = self.len as usize;
        let i = self.find(b)?;
        let out = std::mem::take(&mut self.kids[i]);
        self.keys.copy_within(i + 1..n, i);
        self.kids[i..n].rotate_left(1);
        self.len -= 1;
        Some(out)
    }

    fn drain(&mut self) -> Vec<(u8, Node<V>)> {
        let n = self.len as usize;
        self.len = 0;
        self.keys[..n]
            .iter()
            .zip(self.kids.iter_mut())
            .map(|(&k, c)| (k, std::mem::take(c)))
            .collect()
    }
}

// A table is dropped when its last handle goes, and dropping it releases each child: a
// reference-count decrement on a line that is often not in the cache. Starting all those
// loads first lets them overlap instead of coming one after another.
impl<V, const N: usize> Drop for Small<V, N> {
    fn drop(&mut self) {
        for k in &self.kids[..self.len as usize] {
            k.prefetch_header();
        }
    }
}

impl<V> Drop for Dense<V> {
    fn drop(&mut self) {
        for k in self.kids.iter() {
            k.prefetch_header();
        }
    }
}

impl<V> Dense<V> {
    fn drain(&mut self) -> Vec<(u8, Node<V>)> {
        let mut out = Vec::with_capacity(self.kids.len());
        let mut kids = std::mem::take(&mut self.kids).into_vec().into_iter();
        for (w, &word) in self.bits.words.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let b = (w * 64) as u8 + word.trailing_zeros() as u8;
                out.push((b, kids.next().expect("one child per set bit")));
                word &= word - 1;
            }
        }
        self.bits = Bitmap::default();
        out
    }
}

// === impl Node ===

/// The tag of each node kind, so that a handle's tag always matches the `Arc` made.
trait Kind {
    const TAG: usize;
}
impl<V> Kind for Leaf<V> {
    const TAG: usize = LEAF;
}
impl<V, const N: usize> Kind for Small<V, N> {
    const TAG: usize = if N == 4 { SMALL4 } else { SMALL16 };
}
impl<V> Kind for Dense<V> {
    const TAG: usize = DENSE;
}

/// `a`'s payload pointer (it keeps `a`'s count) with `tag` in its low bits.
fn tagged<T>(a: Arc<T>, tag: usize) -> NonNull<u8> {
    let raw = Arc::into_raw(a).cast_mut().cast::<u8>();
    debug_assert_eq!(raw.addr() & TAG_MASK, 0);
    NonNull::new(raw.map_addr(|a| a | tag)).expect("Arc is non-null")
}

/// A handle to one trie node: an `Arc` of one of the kinds, its kind in the low three bits
/// of the pointer (the `Arc` payloads are 8-aligned), or the empty node. Cloning clones the
/// `Arc`; it is eight bytes, so that a child slot costs no more than a plain pointer.
pub(crate) struct Node<V> {
    /// Invariant: `addr & TAG_MASK` is one of the five tags; for every tag but `EMPTY`,
    /// `addr & !TAG_MASK` is a pointer obtained from `Arc::into_raw` of an `Arc` of that
    /// kind (`Arc<Leaf<V>>`, `Arc<Small<V, 4>>`, `Arc<Small<V, MID_MAX>>`, `Arc<Dense<V>>`),
    /// whose one strong count this handle owns.
    ptr: NonNull<u8>,
    _own: PhantomData<Arc<Leaf<V>>>,
}

// SAFETY: a `Node` is an `Arc` of one of its kinds, each of which holds `V`s, `Prefix`es
// and `Node`s: it is `Send` and `Sync` exactly when those `Arc`s are, i.e. when `V` is
// `Send + Sync`.
unsafe impl<V: Send + Sync> Send for Node<V> {}
// SAFETY: as above.
unsafe impl<V: Send + Sync> Sync for Node<V> {}

/// A borrowed node, by kind.
enum View<'a, V> {
    Leaf(&'a Leaf<V>),
    S4(&'a Small<V, 4>),
    S16(&'a Small<V, MID_MAX>),
    Dense(&'a Dense<V>),
    Empty,
}

/// A node borrowed for writing, by kind (unshared: `Arc::make_mut` has run).
enum Mut<'a, V> {
    Leaf(&'a mut Leaf<V>),
    S4(&'a mut Small<V, 4>),
    S16(&'a mut Small<V, MID_MAX>),
    Dense(&'a mut Dense<V>),
    Empty,
}

/// A node's parts, moved out of it.
pub(crate) struct Parts<V> {
    pub(crate) prefix: Prefix,
    pub(crate) value: Option<V>,
    /// Ascending by byte.
    pub(crate) kids: Vec<(u8, Node<V>)>,
}

impl<V> Default for Node<V> {
    fn default() -> Self {
        Node::empty()
    }
}

impl<V> Node<V> {
    /// The empty node (no allocation).
    pub(crate) fn empty() -> Node<V> {
        Node {
            ptr: NonNull::new(std::ptr::without_provenance_mut(EMPTY)).expect("non-zero"),
            _own: PhantomData,
        }
    }

    fn from_arc<T: Kind>(a: Arc<T>) -> Node<V> {
        Node {
            ptr: tagged(a, T::TAG),
            _own: PhantomData,
        }
    }

    #[inline]
    fn tag(&self) -> usize {
        self.ptr.as_ptr().addr() & TAG_MASK
    }

    #[inline]
    fn base(&self) -> *mut u8 {
        self.ptr.as_ptr().map_addr(|a| a & !TAG_MASK)
    }

    /// Whether this is the empty node.
    pub(crate) fn is_empty(&self) -> bool {
        self.tag() == EMPTY
    }

    #[inline]
    fn view(&self) -> View<'_, V> {
        let p = self.base();
        // SAFETY: by the field's invariant `p` is the payload of a live `Arc` of the kind
        // the tag names, kept alive by the count `self` owns; it is only written through
        // `make_mut` (below), which needs `&mut self`, so shared borrows tied to `&self`
        // never overlap a write.
        unsafe {
            match self.tag() {
                LEAF => View::Leaf(&*p.cast::<Leaf<V>>()),
                SMALL4 => View::S4(&*p.cast::<Small<V, 4>>()),
                SMALL16 => View::S16(&*p.cast::<Small<V, MID_MAX>>()),
                DENSE => View::Dense(&*p.cast::<Dense<V>>()),
                _ => View::Empty,
            }
        }
    }

    /// The node of kind `T` (the tag's kind), unshared first.
    ///
    /// # Safety
    ///
    /// `T` must be the kind the tag names (`self` is not empty).
    unsafe fn make_mut_as<T: Kind + Clone>(&mut self) -> &mut T {
        debug_assert_eq!(self.tag(), T::TAG);
        // SAFETY: by the caller's contract and the field invariant, `base` came from
        // `Arc::<T>::into_raw` and `self` owns one count, which the rebuilt `Arc` now
        // holds; it goes back into `self.ptr` below, so it is neither dropped nor leaked.
        let mut arc = unsafe { Arc::from_raw(self.base().cast::<T>().cast_const()) };
        let p: *mut T = Arc::make_mut(&mut arc);
        // Not `*self = ...`: that would drop the old handle, whose count `arc` took over.
        self.ptr = tagged(arc, T::TAG);
        // SAFETY: `make_mut` left the `Arc` unique (no other strong or weak count), so
        // nothing else can read or write `*p` while the returned borrow of `self` lives;
        // the allocation stays alive because `self` owns it.
        unsafe { &mut *p }
    }

    /// The value at the end of this node's prefix.
    #[inline]
    pub(crate) fn value(&self) -> Option<&V> {
        match self.view() {
            View::Leaf(l) => Some(&l.value),
            View::S4(s) => s.value.as_ref(),
            View::S16(s) => s.value.as_ref(),
            View::Dense(d) => d.value.as_ref(),
            View::Empty => None,
        }
    }

    #[inline]
    pub(crate) fn prefix(&self) -> &[u8] {
        match self.view() {
            View::Leaf(l) => l.prefix.as_slice(),
            View::S4(s) => s.prefix.as_slice(),
            View::S16(s) => s.prefix.as_slice(),
            View::Dense(d) => d.prefix.as_slice(),
            View::Empty => &[],
        }
    }

    #[inline]
    pub(crate) fn child(&self, b: u8) -> Option<&Node<V>> {
        match self.view() {
            View::S4(s) => s.find(b).map(|i| &s.kids[i]),
            View::S16(s) => s.find(b).map(|i| &s.kids[i]),
            View::Dense(d) => d.bits.rank(b).map(|r| &d.kids[r]),
            View::Leaf(_) | View::Empty => None,
        }
    }

    #[inline]
    pub(crate) fn kid_count(&self) -> usize {
        match self.view() {
            View::S4(s) => s.len as usize,
            View::S16(s) => s.len as usize,
            View::Dense(d) => d.kids.len(),
            View::Leaf(_) | View::Empty => 0,
        }
    }

    /// The first child whose byte is `>= from` (`from` may be 256: none).
    pub(crate) fn next_kid(&self, from: u16) -> Option<(u8, &Node<V>)> {
        if from > 255 {
            return None;
        }
        match self.view() {
            View::S4(s) => s.next_from(from),
            View::S16(s) => s.next_from(from),
            View::Dense(d) => {
                let b = d.bits.next_from(from)?;
                Some((b, &d.kids[d.bits.rank(b)?]))
            }
            View::Leaf(_) | View::Empty => None,
        }
    }

    /// The children in ascending byte order.
    pub(crate) fn kids(&self) -> KidsIter<'_, V> {
        KidsIter {
            node: self,
            idx: 0,
            next: 0,
        }
    }

    /// Starts loading the first cache line of every child (its reference counts and the
    /// start of its payload), ahead of a loop that will clone, drop or read them all, so
    /// that those loads overlap.
    #[inline]
    pub(crate) fn prefetch_children(&self) {
        let kids: &[Node<V>] = match self.view() {
            View::S4(s) => &s.kids[..s.len as usize],
            View::S16(s) => &s.kids[..s.len as usize],
            View::Dense(d) => &d.kids,
            View::Leaf(_) | View::Empty => &[],
        };
        for k in kids {
            k.prefetch_header();
        }
    }

    /// Starts loading the cache line with this node's `Arc` counts, which sit just before
    /// the payload (two words). A prefetch needs no dereferenceable address, so the
    /// computed address is only a hint and `wrapping_sub` keeps it defined.
    #[inline]
    pub(crate) fn prefetch_header(&self) {
        if self.tag() != EMPTY {
            prefetch(self.base().cast_const().wrapping_sub(16));
        }
    }

    /// Starts loading the lines a walk that reads this node touches first: the `Arc`
    /// counts (the 16 bytes before the payload) and the line holding `base + 16` (the
    /// payload's first 24 bytes hold a leaf's prefix and, for a word-sized `V`, its
    /// value). A payload need not sit on the counts' line: a `u64` leaf is a 40-byte
    /// allocation at a 16-byte-aligned address, so for half the addresses it spans two
    /// lines; in the other half the second hint names the line of the first and costs a
    /// hit. For walks that compare nodes (`meet`), not for ones that only clone or drop
    /// them, which need the counts alone (`prefetch_header`).
    #[inline]
    pub(crate) fn prefetch_node(&self) {
        if self.tag() != EMPTY {
            let p = self.base().cast_const();
            prefetch(p.wrapping_sub(16));
            prefetch(p.wrapping_add(16));
        }
    }

    /// The set of child bytes as a 256-bit mask.
    pub(crate) fn mask(&self) -> [u64; 4] {
        match self.view() {
            View::Dense(d) => d.bits.words,
            _ => {
                let mut m = [0u64; 4];
                for (b, _) in self.kids() {
                    m[(b >> 6) as usize] |= 1 << (b & 63);
                }
                m
            }
        }
    }

    /// Whether two handles are one allocation (or both empty).
    pub(crate) fn ptr_eq(a: &Node<V>, b: &Node<V>) -> bool {
        a.ptr == b.ptr
    }

    /// The allocation's address with its tag, for identity across value types.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr().addr()
    }

    /// Finds the node whose path (from this node's start) ends exactly at `key` or passes
    /// through it: returns the node and how many bytes of its prefix `key` consumed.
    pub(crate) fn descend<'a>(&'a self, mut key: &[u8]) -> Option<(&'a Node<V>, usize)> {
        let mut node = self;
        loop {
            let p = node.prefix();
            if key.len() <= p.len() {
                return (p[..key.len()] == *key).then_some((node, key.len()));
            }
            if key[..p.len()] != *p {
                return None;
            }
            key = &key[p.len()..];
            node = node.child(key[0])?;
            key = &key[1..];
        }
    }

    /// The value stored at `key`, relative to this node's start.
    #[inline]
    pub(crate) fn get<'a>(&'a self, mut key: &[u8]) -> Option<&'a V> {
        let mut node: &'a Node<V> = self;
        loop {
            key = match node.view() {
                View::Leaf(l) => {
                    let p = l.prefix.as_slice();
                    return (p.len() == key.len() && lcp(p, key) == p.len()).then_some(&l.value);
                }
                View::S4(s) => {
                    key = strip(s.prefix.as_slice(), key)?;
                    let Some((&b, rest)) = key.split_first() else {
                        return s.value.as_ref();
                    };
                    node = &s.kids[s.find(b)?];
                    rest
                }
                View::S16(s) => {
                    key = strip(s.prefix.as_slice(), key)?;
                    let Some((&b, rest)) = key.split_first() else {
                        return s.value.as_ref();
                    };
                    node = &s.kids[s.find(b)?];
                    rest
                }
                View::Dense(d) => {
                    key = strip(d.prefix.as_slice(), key)?;
                    let Some((&b, rest)) = key.split_first() else {
                        return d.value.as_ref();
                    };
                    node = &d.kids[d.bits.rank(b)?];
                    rest
                }
                View::Empty => return None,
            };
        }
    }

    /// The number of values in this subtrie.
    pub(crate) fn count(&self) -> usize {
        let mut n = usize::from(self.value().is_some());
        for (_, c) in self.kids() {
            n += c.count();
        }
        n
    }

    /// A node from parts, of the kind the number of children calls for (the empty node if
    /// there is neither value nor child). Canonical form is the caller's business.
    pub(crate) fn from_parts(prefix: Prefix, value: Option<V>, kids: Vec<(u8, Node<V>)>) -> Self {
        debug_assert!(kids.windows(2).all(|w| w[0].0 < w[1].0));
        match kids.len() {
            0 => match value {
                Some(value) => Node::from_arc(Arc::new(Leaf { prefix, value })),
                None => Node::empty(),
            },
            1..=4 => {
                let mut s = Small::<V, 4>::empty(prefix, value);
                s.fill(kids);
                Node::from_arc(Arc::new(s))
            }
            5..=MID_MAX => {
                let mut s = Small::<V, MID_MAX>::empty(prefix, value);
                s.fill(kids);
                Node::from_arc(Arc::new(s))
            }
            _ => {
                let mut bits = Bitmap::default();
                let mut ptrs = Vec::with_capacity(kids.len());
                for (b, n) in kids {
                    bits.words[(b >> 6) as usize] |= 1 << (b & 63);
                    ptrs.push(n);
                }
                bits.reindex();
                Node::from_arc(Arc::new(Dense {
                    prefix,
                    bits,
                    value,
                    kids: ptrs.into_boxed_slice(),
                }))
            }
        }
    }

    pub(crate) fn leaf(suffix: &[u8], value: V) -> Node<V> {
        Node::from_arc(Arc::new(Leaf {
            prefix: Prefix::new(suffix),
            value,
        }))
    }
}

impl<V: Clone> Node<V> {
    fn get_mut(&mut self) -> Mut<'_, V> {
        // SAFETY: each call names the kind its tag stands for.
        unsafe {
            match self.tag() {
                LEAF => Mut::Leaf(self.make_mut_as::<Leaf<V>>()),
                SMALL4 => Mut::S4(self.make_mut_as::<Small<V, 4>>()),
                SMALL16 => Mut::S16(self.make_mut_as::<Small<V, MID_MAX>>()),
                DENSE => Mut::Dense(self.make_mut_as::<Dense<V>>()),
                _ => Mut::Empty,
            }
        }
    }

    /// Moves the node's parts out (copying them if the node is shared), leaving `self`
    /// empty.
    pub(crate) fn take_parts(&mut self) -> Parts<V> {
        let this = std::mem::take(self);
        let tag = this.tag();
        let this = ManuallyDrop::new(this);
        let base = this.base();
        // SAFETY: (every arm) `base` came from `Arc::into_raw` of the tag's kind and
        // `this` owned one count, now moved into the rebuilt `Arc` (`this` is not dropped).
        unsafe {
            match tag {
                LEAF => {
                    let a = Arc::from_raw(base.cast::<Leaf<V>>().cast_const());
                    let l = Arc::unwrap_or_clone(a);
                    Parts {
                        prefix: l.prefix,
                        value: Some(l.value),
                        kids: Vec::new(),
                    }
                }
                SMALL4 => {
                    let a = Arc::from_raw(base.cast::<Small<V, 4>>().cast_const());
                    let mut s = Arc::unwrap_or_clone(a);
                    let kids = s.drain();
                    Parts {
                        prefix: std::mem::replace(&mut s.prefix, Prefix::EMPTY),
                        value: s.value.take(),
                        kids,
                    }
                }
                SMALL16 => {
                    let a = Arc::from_raw(base.cast::<Small<V, MID_MAX>>().cast_const());
                    let mut s = Arc::unwrap_or_clone(a);
                    let kids = s.drain();
                    Parts {
                        prefix: std::mem::replace(&mut s.prefix, Prefix::EMPTY),
                        value: s.value.take(),
                        kids,
                    }
                }
                DENSE => {
                    let a = Arc::from_raw(base.cast::<Dense<V>>().cast_const());
                    let mut d = Arc::unwrap_or_clone(a);
                    let kids = d.drain();
                    Parts {
                        prefix: std::mem::replace(&mut d.prefix, Prefix::EMPTY),
                        value: d.value.take(),
                        kids,
                    }
                }
                _ => Parts {
                    prefix: Prefix::EMPTY,
                    value: None,
                    kids: Vec::new(),
                },
            }
        }
    }

    /// Replaces the node's prefix.
    pub(crate) fn set_prefix(&mut self, p: Prefix) {
        match self.get_mut() {
            Mut::Leaf(l) => l.prefix = p,
            Mut::S4(s) => s.prefix = p,
            Mut::S16(s) => s.prefix = p,
            Mut::Dense(d) => d.prefix = p,
            Mut::Empty => {}
        }
    }

    /// The value, mutably.
    pub(crate) fn value_mut(&mut self) -> Option<&mut V> {
        match self.get_mut() {
            Mut::Leaf(l) => Some(&mut l.value),
            Mut::S4(s) => s.value.as_mut(),
            Mut::S16(s) => s.value.as_mut(),
            Mut::Dense(d) => d.value.as_mut(),
            Mut::Empty => None,
        }
    }

    /// Sets the value, returning the old one.
    pub(crate) fn set_value(&mut self, v: V) -> Option<V> {
        match self.get_mut() {
            Mut::Leaf(l) => Some(std::mem::replace(&mut l.value, v)),
            Mut::S4(s) => s.value.replace(v),
            Mut::S16(s) => s.value.replace(v),
            Mut::Dense(d) => d.value.replace(v),
            Mut::Empty => {
                *self = Node::leaf(b"", v);
                None
            }
        }
    }

    /// Takes the value out. A leaf becomes the empty node (not canonical: the caller
    /// normalizes).
    pub(crate) fn take_value(&mut self) -> Option<V> {
        match self.get_mut() {
            Mut::Leaf(_) => self.take_parts().value,
            Mut::S4(s) => s.value.take(),
            Mut::S16(s) => s.value.take(),
            Mut::Dense(d) => d.value.take(),
            Mut::Empty => None,
        }
    }

    /// The child under `b`, mutably (this node unshared first).
    pub(crate) fn child_mut(&mut self, b: u8) -> Option<&mut Node<V>> {
        self.child(b)?;
        match self.get_mut() {
            Mut::S4(s) => s.find(b).map(|i| &mut s.kids[i]),
            Mut::S16(s) => s.find(b).map(|i| &mut s.kids[i]),
            Mut::Dense(d) => d.bits.rank(b).map(|r| &mut d.kids[r]),
            Mut::Leaf(_) | Mut::Empty => None,
        }
    }

    /// Adds a child under a byte that has none, growing the table's kind if it is full.
    pub(crate) fn add_child(&mut self, b: u8, node: Node<V>) {
        debug_assert!(self.child(b).is_none());
        match self.get_mut() {
            Mut::S4(s) if (s.len as usize) < 4 => return s.insert(b, node),
            Mut::S16(s) if (s.len as usize) < MID_MAX => return s.insert(b, node),
            Mut::Dense(d) => {
                let r = d.bits.rank_below(b);
                d.bits.set(b);
                let mut kids = std::mem::take(&mut d.kids).into_vec();
                kids.reserve_exact(1);
                kids.insert(r, node);
                d.kids = kids.into_boxed_slice();
                return;
            }
            _ => {}
        }
        let mut parts = self.take_parts();
        let i = parts.kids.partition_point(|(k, _)| *k < b);
        parts.kids.insert(i, (b, node));
        *self = Node::from_parts(parts.prefix, parts.value, parts.kids);
    }

    /// Removes and returns the child under `b`, shrinking the table's kind when it has few
    /// children left (a node left with none and no value is the empty node).
    pub(crate) fn remove_child(&mut self, b: u8) -> Option<Node<V>> {
        self.child(b)?;
        let (out, left) = match self.get_mut() {
            Mut::S4(s) => (s.remove(b), s.len as usize),
            Mut::S16(s) => {
                let out = s.remove(b);
                if s.len as usize > MID_MIN {
                    return out;
                }
                (out, s.len as usize)
            }
            Mut::Dense(d) => {
                let r = d.bits.rank(b)?;
                d.bits.clear(b);
                let mut kids = std::mem::take(&mut d.kids).into_vec();
                let out = kids.remove(r);
                d.kids = kids.into_boxed_slice();
                if d.kids.len() > DENSE_MIN {
                    return Some(out);
                }
                (Some(out), d.kids.len())
            }
            Mut::Leaf(_) | Mut::Empty => return None,
        };
        let rebuild = self.tag() != SMALL4 || (left == 0 && self.value().is_some());
        if rebuild {
            let parts = self.take_parts();
            *self = Node::from_parts(parts.prefix, parts.value, parts.kids);
        }
        out
    }

    /// This node with the first `skip` bytes of its prefix cut off: a clone of the handle
    /// when `skip == 0`, else a shallow copy.
    pub(crate) fn trimmed(&self, skip: usize) -> Node<V> {
        let mut n = self.clone();
        if skip > 0 {
            let p = Prefix::new(&self.prefix()[skip..]);
            n.set_prefix(p);
        }
        n
    }

    /// Splits the prefix at `c < prefix.len()`: this node keeps `prefix[..c]`, no value,
    /// and one child under `prefix[c]` holding the rest (not canonical: the caller adds a
    /// value or a child).
    pub(crate) fn split(&mut self, c: usize) {
        let mut parts = self.take_parts();
        let p = parts.prefix.as_slice();
        debug_assert!(c < p.len());
        let byte = p[c];
        let upper = Prefix::new(&p[..c]);
        parts.prefix = Prefix::new(&p[c + 1..]);
        let lower = Node::from_parts(parts.prefix, parts.value, parts.kids);
        *self = Node::from_parts(upper, None, vec![(byte, lower)]);
    }

    /// Restores canonical form at a node whose value or children just shrank. Returns
    /// `false` if the node is now empty and must be removed by its parent.
    pub(crate) fn normalize(&mut self) -> bool {
        let kids = self.kid_count();
        if self.value().is_none() {
            if kids == 0 {
                *self = Node::empty();
                return false;
            }
            if kids == 1 {
                let mut parts = self.take_parts();
                let (b, mut child) = parts.kids.pop().expect("one child");
                let p = Prefix::join3(parts.prefix.as_slice(), b, child.prefix());
                child.set_prefix(p);
                *self = child;
                return true;
            }
        } else if kids == 0 && self.tag() != LEAF {
            let parts = self.take_parts();
            *self = Node::from_parts(parts.prefix, parts.value, parts.kids);
        }
        true
    }

    /// Puts `value` at `key` (relative to this node's start), returning the old value.
    pub(crate) fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        let mut node = self;
        let mut key = key;
        loop {
            let p = node.prefix();
            let c = lcp(p, key);
            let plen = p.len();
            if c < plen {
                node.split(c);
            }
            let rest = &key[c..];
            let Some((&b, tail)) = rest.split_first() else {
                return node.set_value(value);
            };
            if node.child(b).is_none() {
                node.add_child(b, Node::leaf(tail, value));
                return None;
            }
            node = node.child_mut(b).expect("child just found");
            key = tail;
        }
    }

    /// Removes the value at `key`, which must be present (so that no shared node on a
    /// path without it is copied). Returns the value and whether this node survives.
    pub(crate) fn remove_present(&mut self, key: &[u8]) -> (Option<V>, bool) {
        let p = self.prefix().len();
        let rest = &key[p..];
        let out = match rest.split_first() {
            None => self.take_value(),
            Some((&b, tail)) => {
                let child = self.child_mut(b).expect("key is present");
                let (v, alive) = child.remove_present(tail);
                if !alive {
                    self.remove_child(b);
                }
                v
            }
        };
        let alive = self.normalize();
        (out, alive)
    }

    /// The value at `key`, mutably, copying shared nodes on the way only when it exists.
    pub(crate) fn get_mut_present(&mut self, key: &[u8]) -> Option<&mut V> {
        let p = self.prefix().len();
        let rest = &key[p..];
        match rest.split_first() {
            None => self.value_mut(),
            Some((&b, tail)) => self.child_mut(b)?.get_mut_present(tail),
        }
    }
}

impl<V> Clone for Node<V> {
    fn clone(&self) -> Self {
        let p = self.base();
        // SAFETY: by the field invariant `p` came from `Arc::into_raw` of the tag's kind
        // and is alive (we own a count); the new handle owns the count added here.
        unsafe {
            match self.tag() {
                LEAF => Arc::increment_strong_count(p.cast::<Leaf<V>>().cast_const()),
                SMALL4 => Arc::increment_strong_count(p.cast::<Small<V, 4>>().cast_const()),
                SMALL16 => Arc::increment_strong_count(p.cast::<Small<V, MID_MAX>>().cast_const()),
                DENSE => Arc::increment_strong_count(p.cast::<Dense<V>>().cast_const()),
                _ => {}
            }
        }
        Node {
            ptr: self.ptr,
            _own: PhantomData,
        }
    }
}

impl<V> Drop for Node<V> {
    fn drop(&mut self) {
        let p = self.base();
        // SAFETY: by the field invariant `p` came from `Arc::into_raw` of the tag's kind
        // and `self` owns one count, given up here exactly once.
        unsafe {
            match self.tag() {
                LEAF => drop(Arc::from_raw(p.cast::<Leaf<V>>().cast_const())),
                SMALL4 => drop(Arc::from_raw(p.cast::<Small<V, 4>>().cast_const())),
                SMALL16 => drop(Arc::from_raw(p.cast::<Small<V, MID_MAX>>().cast_const())),
                DENSE => drop(Arc::from_raw(p.cast::<Dense<V>>().cast_const())),
                _ => {}
            }
        }
    }
}

/// The children of a node in ascending byte order. Each step is O(1): `idx` is the slot of
/// the next child (a small table's keys are sorted and a dense table's handles are in byte
/// order, so slot order is byte order), and for a dense table `next` is the bitmap position
/// its byte is searched from (at most four words), with no rank to compute.
pub(crate) struct KidsIter<'a, V> {
    node: &'a Node<V>,
    idx: usize,
    next: u16,
}

impl<'a, V> Iterator for KidsIter<'a, V> {
    type Item = (u8, &'a Node<V>);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let i = self.idx;
        let out = match self.node.view() {
            View::S4(s) => (i < s.len as usize).then(|| (s.keys[i], &s.kids[i])),
            View::S16(s) => (i < s.len as usize).then(|| (s.keys[i], &s.kids[i])),
            View::Dense(d) => {
                if i >= d.kids.len() {
                    return None;
                }
                let b = d.bits.next_from(self.next).expect("one set bit per child");
                self.next = u16::from(b) + 1;
                Some((b, &d.kids[i]))
            }
            View::Leaf(_) | View::Empty => None,
        };
        if out.is_some() {
            self.idx += 1;
        }
        out
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.node.kid_count() - self.idx;
        (left, Some(left))
    }
}

impl<V> ExactSizeIterator for KidsIter<'_, V> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_compact() {
        assert_eq!(std::mem::size_of::<Prefix>(), 16);
        assert_eq!(std::mem::size_of::<Node<u64>>(), 8);
        assert_eq!(std::mem::size_of::<Leaf<u64>>(), 24);
        assert_eq!(std::mem::size_of::<Small<u64, 4>>(), 72);
        assert_eq!(std::mem::size_of::<Small<u64, MID_MAX>>(), 168);
        assert_eq!(std::mem::size_of::<Dense<u64>>(), 88);
        assert_eq!(std::mem::align_of::<Leaf<u8>>() % 8, 0);
    }

    #[test]
    fn lcp_finds_first_difference() {
        assert_eq!(lcp(b"", b"abc"), 0);
        assert_eq!(lcp(b"abcdefghij", b"abcdefghik"), 9);
        assert_eq!(lcp(b"abcdefgh", b"abcdefgh"), 8);
        assert_eq!(lcp(b"abcdefgh", b"abcdefg"), 7);
        assert_eq!(lcp(b"xbc", b"abc"), 0);
    }

    #[test]
    fn find_byte_checks_only_the_live_keys() {
        let keys = [1u8, 5, 9, 200, 7, 7, 7, 7, 3, 4, 0, 0, 0, 0, 0, 0];
        assert_eq!(find_byte(&keys, 4, 200), Some(3));
        assert_eq!(find_byte(&keys, 4, 7), None);
        assert_eq!(find_byte(&keys, 10, 4), Some(9));
        assert_eq!(find_byte(&keys, 10, 0), None);
        assert_eq!(find_byte(&keys[..4], 4, 1), Some(0));
        assert_eq!(find_byte(&keys[..4], 3, 200), None);
        for b in 0..=255u8 {
            let want = keys[..10].iter().position(|&k| k == b);
            assert_eq!(find_byte(&keys, 10, b), want, "{b}");
        }
    }

    #[test]
    fn kids_grow_through_every_kind_and_shrink_back() {
        let mut n: Node<u32> = Node::leaf(b"ab", 1);
        let bytes: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(97)).collect();
        for &b in &bytes {
            n.add_child(b, Node::leaf(b"", u32::from(b)));
            let shared = n.clone();
            assert_eq!(shared.child(b).and_then(|c| c.value()), Some(&u32::from(b)));
        }
        assert_eq!(n.tag(), DENSE);
        let mut sorted = bytes.clone();
        sorted.sort_unstable();
        let order: Vec<u8> = n.kids().map(|(b, _)| b).collect();
        assert_eq!(order, sorted);
        assert!(n.child(1).is_none());
        for (i, &b) in bytes.iter().enumerate() {
            let snapshot = n.clone();
            assert!(n.remove_child(b).is_some());
            assert_eq!(snapshot.kid_count(), bytes.len() - i);
            assert_eq!(n.kid_count(), bytes.len() - i - 1);
            for &c in &bytes[i + 1..] {
                assert_eq!(n.child(c).and_then(|c| c.value()), Some(&u32::from(c)));
            }
        }
        // A node with a value and no child left is a leaf again.
        assert_eq!(n.tag(), LEAF);
        assert!(n.normalize());
        assert_eq!(n.prefix(), b"ab");
        assert_eq!(n.take_value(), Some(1));
        assert!(!n.normalize());
        assert!(n.is_empty());
    }

    #[test]
    fn from_parts_fills_tables_in_order() {
        // Every table size, through each kind: the children given in byte order land in
        // slot order, each findable, and iteration gives them back in order.
        let bytes: Vec<u8> = (0..=255u8).filter(|b| b % 5 != 1).collect();
        for n in 1..=40usize {
            let picked: Vec<u8> = bytes.iter().step_by(3).take(n).copied().collect();
            assert_eq!(picked.len(), n);
            let kids: Vec<(u8, Node<u32>)> = picked
                .iter()
                .map(|&b| (b, Node::leaf(&[b, b], u32::from(b))))
                .collect();
            let node = Node::from_parts(Prefix::new(b"p"), Some(7), kids);
            let want_tag = match n {
                1..=4 => SMALL4,
                5..=MID_MAX => SMALL16,
                _ => DENSE,
            };
            assert_eq!(node.tag(), want_tag, "{n} children");
            assert_eq!(node.kid_count(), n);
            let it = node.kids();
            assert_eq!(it.len(), n);
            let got: Vec<(u8, u32, Vec<u8>)> = it
                .map(|(b, c)| (b, *c.value().unwrap(), c.prefix().to_vec()))
                .collect();
            let want: Vec<(u8, u32, Vec<u8>)> = picked
                .iter()
                .map(|&b| (b, u32::from(b), vec![b, b]))
                .collect();
            assert_eq!(got, want, "{n} children");
            for b in 0..=255u8 {
                let want = picked.contains(&b).then_some(u32::from(b));
                assert_eq!(node.child(b).and_then(|c| c.value()).copied(), want);
                assert_eq!(node.get(&[b'p', b, b, b]), want.as_ref());
            }
            // The iterator stops and stays stopped.
            let mut it = node.kids();
            for _ in 0..n {
                assert!(it.next().is_some());
            }
            assert_eq!(it.len(), 0);
            assert!(it.next().is_none() && it.next().is_none());
            // Prefetch hints change nothing (and are no-ops under Miri).
            node.prefetch_children();
            node.prefetch_header();
            node.prefetch_node();
            Node::<u32>::empty().prefetch_children();
            Node::<u32>::empty().prefetch_header();
            Node::<u32>::empty().prefetch_node();
        }
    }

    #[test]
    #[should_panic(expected = "fill needs an empty table with room")]
    fn fill_refuses_too_many_children() {
        let mut s = Small::<u32, 4>::empty(Prefix::EMPTY, None);
        s.fill((0..5u8).map(|b| (b, Node::leaf(b"", 0))).collect());
    }

    #[test]
    fn dropping_shared_tables_keeps_the_children_alive() {
        // A table's `Drop` touches its children (prefetch) before they are released; a
        // child still held elsewhere must survive its parent.
        let kids: Vec<(u8, Node<u32>)> = (0..20u8).map(|b| (b, Node::leaf(b"x", 1))).collect();
        let keep: Vec<Node<u32>> = kids.iter().map(|(_, c)| c.clone()).collect();
        let dense = Node::from_parts(Prefix::EMPTY, None, kids);
        let small = Node::from_parts(Prefix::EMPTY, None, vec![(3, keep[3].clone())]);
        drop(dense);
        drop(small);
        assert!(
            keep.iter()
                .all(|c| c.value() == Some(&1) && c.prefix() == b"x")
        );
    }

    #[test]
    fn long_prefixes_go_to_the_heap() {
        let p = Prefix::new(b"a prefix longer than fourteen bytes");
        assert!(matches!(p, Prefix::Heap { .. }));
        assert_eq!(p.clone().as_slice(), b"a prefix longer than fourteen bytes");
        assert_eq!(Prefix::join3(b"ab", b'c', b"de").as_slice(), b"abcde");
    }
}
