//! Trie nodes: a compressed path, an optional value and a child table of one of two kinds.
//!
//! A node stands for the path that leads to it *plus* its own `prefix`: the bytes every key
//! below it shares. The node's value, if any, belongs to the path that ends exactly after
//! the prefix; each child hangs under one more byte, its key in the child table, followed
//! by the child's own prefix.
//!
//! Canonical form, kept by every mutation: a node other than the root of an empty map has
//! a value or at least two children; a node without a value never has exactly one child
//! (it is merged with that child, concatenating the prefixes). The shape of a trie is
//! therefore a function of its key set, except for the child-table kind, which has
//! hysteresis between [`Kids::Small`] and [`Kids::Dense`].
//!
//! Nodes are shared through [`Arc`]; a mutation goes through [`Arc::make_mut`], which
//! copies a shared node shallowly (its children's `Arc`s are cloned, not the children)
//! before changing it. A node reachable from two maps is therefore never written.

use std::sync::Arc;

/// The number of children a [`Kids::Small`] table holds before it becomes dense.
pub(crate) const SMALL_MAX: usize = 4;
/// A dense table shrinks back to a small one when it has this many children or fewer.
pub(crate) const DENSE_MIN: usize = 3;
/// Prefixes up to this length are stored inside the node.
pub(crate) const INLINE_PREFIX: usize = 14;

// === impl Prefix ===

/// A node's compressed path: inline up to [`INLINE_PREFIX`] bytes, else behind one thin
/// pointer, so that the whole field is 16 bytes.
#[derive(Clone)]
pub(crate) enum Prefix {
    /// `bytes[..len]` is the prefix; `len <= INLINE_PREFIX`.
    Inline { len: u8, bytes: [u8; INLINE_PREFIX] },
    /// A prefix longer than [`INLINE_PREFIX`].
    Heap(Box<Box<[u8]>>),
}

impl Prefix {
    pub(crate) fn new(s: &[u8]) -> Prefix {
        if s.len() <= INLINE_PREFIX {
            let mut bytes = [0; INLINE_PREFIX];
            bytes[..s.len()].copy_from_slice(s);
            Prefix::Inline {
                len: s.len() as u8,
                bytes,
            }
        } else {
            Prefix::Heap(Box::new(s.into()))
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
            Prefix::Heap(b) => b,
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

// === impl Kids ===

/// A node's child table.
#[derive(Clone)]
pub(crate) enum Kids<V> {
    /// Up to [`SMALL_MAX`] children; `keys[..len]` sorted ascending, `ptrs[i]` is `Some`
    /// exactly for `i < len`.
    Small {
        len: u8,
        keys: [u8; SMALL_MAX],
        ptrs: [Option<Arc<Node<V>>>; SMALL_MAX],
    },
    /// Any number of children: bit `b` of `bits` is set iff byte `b` has a child, and
    /// `ptrs` holds the children in ascending byte order, so the child of `b` is at the
    /// rank of `b` (the set bits below it).
    Dense {
        bits: Bitmap,
        ptrs: Vec<Arc<Node<V>>>,
    },
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

    pub(crate) fn set(&mut self, b: u8) {
        self.words[(b >> 6) as usize] |= 1 << (b & 63);
        self.reindex();
    }

    pub(crate) fn clear(&mut self, b: u8) {
        self.words[(b >> 6) as usize] &= !(1 << (b & 63));
        self.reindex();
    }

    /// The number of set bits below `b`, if `b` is set.
    #[inline]
    pub(crate) fn rank(&self, b: u8) -> Option<usize> {
        let w = (b >> 6) as usize;
        let bit = 1u64 << (b & 63);
        let word = self.words[w];
        if word & bit == 0 {
            return None;
        }
        Some(self.base[w] as usize + (word & (bit - 1)).count_ones() as usize)
    }
}

impl<V> Kids<V> {
    pub(crate) fn empty_small() -> Kids<V> {
        Kids::Small {
            len: 0,
            keys: [0; SMALL_MAX],
            ptrs: [const { None }; SMALL_MAX],
        }
    }

    /// A table of children given in ascending byte order.
    pub(crate) fn from_sorted(kids: Vec<(u8, Arc<Node<V>>)>) -> Kids<V> {
        debug_assert!(kids.windows(2).all(|w| w[0].0 < w[1].0));
        if kids.len() <= SMALL_MAX {
            let mut t = Kids::empty_small();
            if let Kids::Small { len, keys, ptrs } = &mut t {
                for (i, (b, n)) in kids.into_iter().enumerate() {
                    keys[i] = b;
                    ptrs[i] = Some(n);
                    *len += 1;
                }
            }
            t
        } else {
            let mut bits = Bitmap::default();
            let mut ptrs = Vec::with_capacity(kids.len());
            for (b, n) in kids {
                bits.words[(b >> 6) as usize] |= 1 << (b & 63);
                ptrs.push(n);
            }
            bits.reindex();
            Kids::Dense { bits, ptrs }
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Kids::Small { len, .. } => *len as usize,
            Kids::Dense { ptrs, .. } => ptrs.len(),
        }
    }

    #[inline]
    pub(crate) fn get(&self, b: u8) -> Option<&Arc<Node<V>>> {
        match self {
            Kids::Small { len, keys, ptrs } => {
                let n = *len as usize;
                for i in 0..n {
                    if keys[i] == b {
                        return ptrs[i].as_ref();
                    }
                }
                None
            }
            Kids::Dense { bits, ptrs } => bits.rank(b).map(|r| &ptrs[r]),
        }
    }

    pub(crate) fn get_mut(&mut self, b: u8) -> Option<&mut Arc<Node<V>>> {
        match self {
            Kids::Small { len, keys, ptrs } => {
                let n = *len as usize;
                let i = keys[..n].iter().position(|&k| k == b)?;
                ptrs[i].as_mut()
            }
            Kids::Dense { bits, ptrs } => bits.rank(b).map(move |r| &mut ptrs[r]),
        }
    }

    /// The first child whose byte is `>= from` (`from` may be 256: none).
    pub(crate) fn next_from(&self, from: u16) -> Option<(u8, &Arc<Node<V>>)> {
        if from > 255 {
            return None;
        }
        match self {
            Kids::Small { len, keys, ptrs } => {
                let n = *len as usize;
                let i = keys[..n].iter().position(|&k| u16::from(k) >= from)?;
                Some((keys[i], ptrs[i].as_ref()?))
            }
            Kids::Dense { bits, ptrs } => {
                let mut w = (from >> 6) as usize;
                let mut word = bits.words[w] & (!0u64 << (from & 63));
                loop {
                    if word != 0 {
                        let b = (w * 64) as u8 + word.trailing_zeros() as u8;
                        let r = bits.rank(b)?;
                        return Some((b, &ptrs[r]));
                    }
                    w += 1;
                    if w == 4 {
                        return None;
                    }
                    word = bits.words[w];
                }
            }
        }
    }

    /// The children in ascending byte order.
    pub(crate) fn iter(&self) -> KidsIter<'_, V> {
        KidsIter {
            kids: self,
            next: 0,
        }
    }

    /// The set of child bytes as a 256-bit mask.
    pub(crate) fn mask(&self) -> [u64; 4] {
        match self {
            Kids::Small { len, keys, .. } => {
                let mut m = [0u64; 4];
                for &b in &keys[..*len as usize] {
                    m[(b >> 6) as usize] |= 1 << (b & 63);
                }
                m
            }
            Kids::Dense { bits, .. } => bits.words,
        }
    }

    /// Adds a child under a byte that has none.
    pub(crate) fn insert(&mut self, b: u8, node: Arc<Node<V>>) {
        match self {
            Kids::Small { len, keys, ptrs } => {
                let n = *len as usize;
                debug_assert!(!keys[..n].contains(&b));
                if n < SMALL_MAX {
                    let i = keys[..n].iter().position(|&k| k > b).unwrap_or(n);
                    keys.copy_within(i..n, i + 1);
                    ptrs[i..=n].rotate_right(1);
                    keys[i] = b;
                    ptrs[i] = Some(node);
                    *len += 1;
                } else {
                    let mut all: Vec<(u8, Arc<Node<V>>)> = keys[..n]
                        .iter()
                        .zip(ptrs.iter_mut())
                        .filter_map(|(&k, p)| p.take().map(|p| (k, p)))
                        .collect();
                    let i = all.iter().position(|(k, _)| *k > b).unwrap_or(n);
                    all.insert(i, (b, node));
                    *self = Kids::from_sorted(all);
                }
            }
            Kids::Dense { bits, ptrs } => {
                debug_assert!(bits.rank(b).is_none());
                bits.set(b);
                let r = bits.rank(b).expect("bit just set");
                ptrs.insert(r, node);
            }
        }
    }

    /// Removes and returns the child under `b`.
    pub(crate) fn remove(&mut self, b: u8) -> Option<Arc<Node<V>>> {
        match self {
            Kids::Small { len, keys, ptrs } => {
                let n = *len as usize;
                let i = keys[..n].iter().position(|&k| k == b)?;
                let out = ptrs[i].take();
                keys.copy_within(i + 1..n, i);
                ptrs[i..n].rotate_left(1);
                *len -= 1;
                out
            }
            Kids::Dense { bits, ptrs } => {
                let r = bits.rank(b)?;
                bits.clear(b);
                let out = ptrs.remove(r);
                if ptrs.len() <= DENSE_MIN {
                    let rest: Vec<(u8, Arc<Node<V>>)> = {
                        let mut bytes = Vec::with_capacity(ptrs.len());
                        for (w, &word) in bits.words.iter().enumerate() {
                            let mut word = word;
                            while word != 0 {
                                bytes.push((w * 64) as u8 + word.trailing_zeros() as u8);
                                word &= word - 1;
                            }
                        }
                        bytes.into_iter().zip(std::mem::take(ptrs)).collect()
                    };
                    *self = Kids::from_sorted(rest);
                }
                Some(out)
            }
        }
    }

    /// Takes the only child out of a table of one.
    pub(crate) fn take_only(&mut self) -> (u8, Arc<Node<V>>) {
        debug_assert_eq!(self.len(), 1);
        let (b, _) = self.next_from(0).expect("one child");
        let n = self.remove(b).expect("one child");
        (b, n)
    }
}

/// The children of a table in ascending byte order.
pub(crate) struct KidsIter<'a, V> {
    kids: &'a Kids<V>,
    next: u16,
}

impl<'a, V> Iterator for KidsIter<'a, V> {
    type Item = (u8, &'a Arc<Node<V>>);
    fn next(&mut self) -> Option<Self::Item> {
        let (b, n) = self.kids.next_from(self.next)?;
        self.next = u16::from(b) + 1;
        Some((b, n))
    }
}

// === impl Node ===

/// One trie node; see the module documentation for its meaning and canonical form.
#[derive(Clone)]
pub(crate) struct Node<V> {
    pub(crate) prefix: Prefix,
    pub(crate) kids: Option<Box<Kids<V>>>,
    pub(crate) value: Option<V>,
}

impl<V> Node<V> {
    pub(crate) fn leaf(suffix: &[u8], value: V) -> Node<V> {
        Node {
            prefix: Prefix::new(suffix),
            kids: None,
            value: Some(value),
        }
    }

    #[inline]
    pub(crate) fn child(&self, b: u8) -> Option<&Arc<Node<V>>> {
        self.kids.as_ref()?.get(b)
    }

    #[inline]
    pub(crate) fn kid_count(&self) -> usize {
        self.kids.as_ref().map_or(0, |k| k.len())
    }

    pub(crate) fn next_kid(&self, from: u16) -> Option<(u8, &Arc<Node<V>>)> {
        self.kids.as_ref()?.next_from(from)
    }

    /// Finds the node whose path (from this node's start) ends exactly at `key` or passes
    /// through it: returns the node and how many bytes of its prefix `key` consumed.
    pub(crate) fn descend<'a>(
        self: &'a Arc<Self>,
        mut key: &[u8],
    ) -> Option<(&'a Arc<Self>, usize)> {
        let mut node = self;
        loop {
            let p = node.prefix.as_slice();
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
    pub(crate) fn get<'a>(self: &'a Arc<Self>, mut key: &[u8]) -> Option<&'a V> {
        let mut node: &'a Node<V> = self;
        loop {
            let p = node.prefix.as_slice();
            if !p.is_empty() {
                // `lcp` compares eight bytes at a time inline, where `==` would call memcmp.
                if key.len() < p.len() || lcp(p, key) < p.len() {
                    return None;
                }
                key = &key[p.len()..];
            }
            match key.split_first() {
                None => return node.value.as_ref(),
                Some((&b, rest)) => {
                    node = node.child(b)?;
                    key = rest;
                }
            }
        }
    }

    /// The number of values in this subtrie.
    pub(crate) fn count(&self) -> usize {
        let mut n = usize::from(self.value.is_some());
        if let Some(k) = &self.kids {
            for (_, c) in k.iter() {
                n += c.count();
            }
        }
        n
    }

    /// This node with the first `skip` bytes of its prefix cut off, as an `Arc`: the same
    /// `Arc` when `skip == 0`, else a shallow copy.
    pub(crate) fn trimmed(self: &Arc<Self>, skip: usize) -> Arc<Self>
    where
        V: Clone,
    {
        if skip == 0 {
            return Arc::clone(self);
        }
        Arc::new(Node {
            prefix: Prefix::new(&self.prefix.as_slice()[skip..]),
            kids: self.kids.clone(),
            value: self.value.clone(),
        })
    }
}

impl<V: Clone> Node<V> {
    /// Restores canonical form at a node whose value or children just shrank. Returns
    /// `false` if the node is now empty and must be removed by its parent.
    pub(crate) fn normalize(&mut self) -> bool {
        let kids = self.kid_count();
        if self.value.is_none() {
            if kids == 0 {
                return false;
            }
            if kids == 1 {
                let (b, child) = self.kids.as_mut().expect("one child").take_only();
                let child = Arc::try_unwrap(child).unwrap_or_else(|a| (*a).clone());
                self.prefix = Prefix::join3(self.prefix.as_slice(), b, child.prefix.as_slice());
                self.value = child.value;
                self.kids = child.kids;
                return true;
            }
        }
        if kids == 0 {
            self.kids = None;
        }
        true
    }

    /// Puts `value` at `key` (relative to this node's start), returning the old value.
    pub(crate) fn insert(self: &mut Arc<Self>, key: &[u8], value: V) -> Option<V> {
        let n = Arc::make_mut(self);
        let p = n.prefix.as_slice();
        let c = lcp(p, key);
        if c < p.len() {
            // Split: this node keeps `p[..c]`; its old contents move one level down.
            let lower = Node {
                prefix: Prefix::new(&p[c + 1..]),
                kids: n.kids.take(),
                value: n.value.take(),
            };
            let byte = p[c];
            n.prefix = Prefix::new(&p[..c]);
            let mut kids = Kids::empty_small();
            kids.insert(byte, Arc::new(lower));
            n.kids = Some(Box::new(kids));
        }
        let rest = &key[c..];
        match rest.split_first() {
            None => n.value.replace(value),
            Some((&b, tail)) => {
                let kids = n.kids.get_or_insert_with(|| Box::new(Kids::empty_small()));
                match kids.get_mut(b) {
                    Some(child) => child.insert(tail, value),
                    None => {
                        kids.insert(b, Arc::new(Node::leaf(tail, value)));
                        None
                    }
                }
            }
        }
    }

    /// Removes the value at `key`, which must be present (so that no shared node on a
    /// path without it is copied). Returns the value and whether this node survives.
    pub(crate) fn remove_present(self: &mut Arc<Self>, key: &[u8]) -> (Option<V>, bool) {
        let n = Arc::make_mut(self);
        let p = n.prefix.len_hint();
        let rest = &key[p..];
        let out = match rest.split_first() {
            None => n.value.take(),
            Some((&b, tail)) => {
                let kids = n.kids.as_mut().expect("key is present");
                let child = kids.get_mut(b).expect("key is present");
                let (v, alive) = child.remove_present(tail);
                if !alive {
                    kids.remove(b);
                }
                v
            }
        };
        let alive = n.normalize();
        (out, alive)
    }

    /// The value at `key`, mutably, copying shared nodes on the way only when it exists.
    pub(crate) fn get_mut_present(self: &mut Arc<Self>, key: &[u8]) -> Option<&mut V> {
        let n = Arc::make_mut(self);
        let p = n.prefix.len_hint();
        let rest = &key[p..];
        match rest.split_first() {
            None => n.value.as_mut(),
            Some((&b, tail)) => n.kids.as_mut()?.get_mut(b)?.get_mut_present(tail),
        }
    }
}

impl Prefix {
    #[inline]
    pub(crate) fn len_hint(&self) -> usize {
        match self {
            Prefix::Inline { len, .. } => *len as usize,
            Prefix::Heap(b) => b.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_compact() {
        assert_eq!(std::mem::size_of::<Prefix>(), 16);
        assert_eq!(std::mem::size_of::<Node<u64>>(), 40);
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
    fn kids_grow_to_dense_and_shrink_back() {
        let mut k: Kids<u32> = Kids::empty_small();
        for b in [200u8, 3, 77, 9, 150, 0, 255] {
            k.insert(b, Arc::new(Node::leaf(b"", u32::from(b))));
        }
        assert!(matches!(k, Kids::Dense { .. }));
        let order: Vec<u8> = k.iter().map(|(b, _)| b).collect();
        assert_eq!(order, vec![0, 3, 9, 77, 150, 200, 255]);
        for b in [0u8, 3, 9, 77, 150, 200, 255] {
            assert_eq!(k.get(b).unwrap().value, Some(u32::from(b)));
        }
        assert!(k.get(4).is_none());
        for b in [3u8, 255, 0, 150] {
            assert!(k.remove(b).is_some());
        }
        assert!(matches!(k, Kids::Small { .. }));
        let order: Vec<u8> = k.iter().map(|(b, _)| b).collect();
        assert_eq!(order, vec![9, 77, 200]);
        assert_eq!(k.next_from(78).map(|(b, _)| b), Some(200));
        assert!(k.next_from(201).is_none());
        assert!(k.remove(1).is_none());
    }

    #[test]
    fn long_prefixes_go_to_the_heap() {
        let p = Prefix::new(b"a prefix longer than fourteen bytes");
        assert!(matches!(p, Prefix::Heap(_)));
        assert_eq!(p.as_slice(), b"a prefix longer than fourteen bytes");
        assert_eq!(Prefix::join3(b"ab", b'c', b"de").as_slice(), b"abcde");
    }
}
