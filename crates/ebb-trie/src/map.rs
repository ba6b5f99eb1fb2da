//! [`PathMap`]: the map type, its iterators and prefix views.

use crate::node::{Node, Prefix, lcp};
use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `PathMap::len_cache` when the length is not known.
const UNKNOWN: usize = usize::MAX;

/// A map from byte strings to `V`, stored as a path-compressed trie whose nodes are shared
/// through [`Arc`](std::sync::Arc).
///
/// * `clone` is O(1): it clones one `Arc`. The two maps then share every node; a write to
///   either copies only the nodes on the written path ([`Arc::make_mut`](std::sync::Arc::make_mut)), so a clone is a
///   snapshot.
/// * Keys are ordered bytewise (as `[u8]`'s `Ord`); iteration, [`range`](Self::range) and
///   [`prefix`](Self::prefix) follow that order.
/// * `len` is O(1) after point updates. After whole-trie operations that splice shared
///   subtries ([`join`](Self::join), [`graft`](Self::graft) and the like) the length is
///   not known until the next `len`, which counts the values once and caches the count.
///
/// ```
/// use ebb_trie::PathMap;
/// let mut m = PathMap::new();
/// m.insert(b"one", 1);
/// m.insert(b"only", 2);
/// let snapshot = m.clone();
/// m.insert(b"two", 3);
/// assert_eq!(m.get(b"only"), Some(&2));
/// assert_eq!(snapshot.len(), 2);
/// let keys: Vec<Vec<u8>> = m.prefix(b"on").iter().map(|(k, _)| k).collect();
/// assert_eq!(keys, [b"one".to_vec(), b"only".to_vec()]);
/// ```
pub struct PathMap<V> {
    /// `None` for the empty map; otherwise a canonical node (see `node`).
    pub(crate) root: Option<Node<V>>,
    /// The number of values, or `UNKNOWN`. A cache of a function of `root`, which `&self`
    /// cannot change, so `Relaxed` suffices: any value a thread reads is correct or
    /// `UNKNOWN`.
    len_cache: AtomicUsize,
}

impl<V> Default for PathMap<V> {
    fn default() -> Self {
        PathMap::new()
    }
}

impl<V> Clone for PathMap<V> {
    /// O(1): the clone shares every node with `self`.
    fn clone(&self) -> Self {
        PathMap {
            root: self.root.clone(),
            len_cache: AtomicUsize::new(self.len_cache.load(Ordering::Relaxed)),
        }
    }
}

impl<V> PathMap<V> {
    /// The empty map.
    pub const fn new() -> PathMap<V> {
        PathMap {
            root: None,
            len_cache: AtomicUsize::new(0),
        }
    }

    pub(crate) fn from_root(root: Option<Node<V>>) -> PathMap<V> {
        let len = if root.is_none() { 0 } else { UNKNOWN };
        PathMap {
            root,
            len_cache: AtomicUsize::new(len),
        }
    }

    pub(crate) fn set_root(&mut self, root: Option<Node<V>>) {
        self.len_cache = AtomicUsize::new(if root.is_none() { 0 } else { UNKNOWN });
        self.root = root;
    }

    pub(crate) fn adjust_len(&mut self, delta: isize) {
        let l = self.len_cache.get_mut();
        if *l != UNKNOWN {
            *l = l.wrapping_add_signed(delta);
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        let l = self.len_cache.load(Ordering::Relaxed);
        if l != UNKNOWN {
            return l;
        }
        let n = self.root.as_ref().map_or(0, |r| r.count());
        self.len_cache.store(n, Ordering::Relaxed);
        n
    }

    /// Whether the map holds no value.
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// The value at `key`.
    #[inline]
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<&V> {
        self.root.as_ref()?.get(key.as_ref())
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> bool {
        self.get(key).is_some()
    }

    /// Whether some key starts with `prefix` (the empty prefix: whether the map is
    /// non-empty).
    pub fn contains_prefix(&self, prefix: impl AsRef<[u8]>) -> bool {
        self.root
            .as_ref()
            .is_some_and(|r| r.descend(prefix.as_ref()).is_some())
    }

    /// All entries in key order.
    pub fn iter(&self) -> Iter<'_, V> {
        let mut it = Iter::empty();
        if let Some(r) = &self.root {
            it.push_whole(r, 0);
        }
        it
    }

    /// All keys in order.
    pub fn keys(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// All values in key order, without building the keys.
    pub fn values(&self) -> Values<'_, V> {
        Values {
            stack: self.root.as_ref().into_iter().collect(),
            kids: Vec::new(),
        }
    }

    /// Calls `f` on every entry in key order, passing the key as a borrowed slice (no
    /// allocation per entry, unlike [`iter`](Self::iter)).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &V)) {
        fn walk<V>(n: &Node<V>, path: &mut Vec<u8>, f: &mut impl FnMut(&[u8], &V)) {
            let base = path.len();
            path.extend_from_slice(n.prefix());
            if let Some(v) = n.value() {
                f(path, v);
            }
            for (b, c) in n.kids() {
                path.push(b);
                walk(c, path, f);
                path.pop();
            }
            path.truncate(base);
        }
        if let Some(r) = &self.root {
            walk(r, &mut Vec::new(), &mut f);
        }
    }

    /// The entries whose keys lie in `range`, in order.
    ///
    /// ```
    /// use ebb_trie::PathMap;
    /// let m: PathMap<u32> = [(b"a", 1), (b"b", 2), (b"c", 3)].into_iter().collect();
    /// let got: Vec<u32> = m.range(b"b".as_slice()..).map(|(_, v)| *v).collect();
    /// assert_eq!(got, [2, 3]);
    /// ```
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter<'_, V> {
        let end = match range.end_bound() {
            Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
            Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut it = Iter::empty();
        if let Some(r) = &self.root {
            match range.start_bound() {
                Bound::Unbounded => it.push_whole(r, 0),
                Bound::Included(k) => it.seek(r, k.as_ref(), true),
                Bound::Excluded(k) => it.seek(r, k.as_ref(), false),
            }
        }
        it.end = end;
        it
    }

    /// Panics unless every node is in canonical form (a value, or at least two children)
    /// and the cached length is right. For tests.
    #[doc(hidden)]
    pub fn assert_canonical(&self) {
        fn walk<V>(n: &Node<V>) -> usize {
            let kids = n.kid_count();
            assert!(
                n.value().is_some() || kids >= 2,
                "a node without a value has {kids} children"
            );
            assert!(!n.is_empty(), "an empty node is kept");
            let mut count = usize::from(n.value().is_some());
            for (_, c) in n.kids() {
                count += walk(c);
            }
            count
        }
        let n = self.root.as_ref().map_or(0, walk);
        let cached = self.len_cache.load(Ordering::Relaxed);
        assert!(
            cached == UNKNOWN || cached == n,
            "cached len {cached}, counted {n}"
        );
    }

    /// A read-only view of the keys that start with `prefix`.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> PrefixView<'_, V> {
        let prefix = prefix.as_ref();
        PrefixView {
            at: self.root.as_ref().and_then(|r| r.descend(prefix)),
            prefix: prefix.to_vec(),
        }
    }
}

impl<V: Clone> PathMap<V> {
    /// Puts `value` at `key`, returning the value it replaces.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: V) -> Option<V> {
        let key = key.as_ref();
        let old = match &mut self.root {
            None => {
                self.root = Some(Node::leaf(key, value));
                None
            }
            Some(r) => r.insert(key, value),
        };
        if old.is_none() {
            self.adjust_len(1);
        }
        old
    }

    /// The value at `key`, mutably. Copies the shared nodes on its path (and only then,
    /// and only if the key is present).
    pub fn get_mut(&mut self, key: impl AsRef<[u8]>) -> Option<&mut V> {
        let key = key.as_ref();
        if !self.contains_key(key) {
            return None;
        }
        self.root.as_mut()?.get_mut_present(key)
    }

    /// Removes the value at `key` and returns it. Shared nodes are copied only when the
    /// key is present.
    pub fn remove(&mut self, key: impl AsRef<[u8]>) -> Option<V> {
        let key = key.as_ref();
        if !self.contains_key(key) {
            return None;
        }
        let root = self.root.as_mut()?;
        let (v, alive) = root.remove_present(key);
        if !alive {
            self.root = None;
        }
        self.adjust_len(-1);
        v
    }

    /// Removes every value.
    pub fn clear(&mut self) {
        self.set_root(None);
    }

    /// The keys under `prefix` as a map of their own (the prefix cut off), sharing nodes
    /// with `self`: O(length of the prefix).
    pub fn subtrie(&self, prefix: impl AsRef<[u8]>) -> PathMap<V> {
        let root = self
            .root
            .as_ref()
            .and_then(|r| r.descend(prefix.as_ref()))
            .map(|(n, off)| n.trimmed(off));
        PathMap::from_root(root)
    }

    /// Replaces everything under `prefix` with `sub` (whose keys are relative to
    /// `prefix`), returning what was there. Shares `sub`'s nodes: O(length of the prefix).
    pub fn graft(&mut self, prefix: impl AsRef<[u8]>, sub: PathMap<V>) -> PathMap<V> {
        let prefix = prefix.as_ref();
        if sub.root.is_none() && !self.contains_prefix(prefix) {
            return PathMap::new();
        }
        let old = replace_at(&mut self.root, prefix, sub.root);
        let root = self.root.take();
        self.set_root(root);
        PathMap::from_root(old)
    }

    /// Removes everything under `prefix` and returns it, relative to `prefix`.
    pub fn take_subtrie(&mut self, prefix: impl AsRef<[u8]>) -> PathMap<V> {
        self.graft(prefix, PathMap::new())
    }

    /// Removes every key that starts with `prefix`; returns whether there was one.
    pub fn remove_prefix(&mut self, prefix: impl AsRef<[u8]>) -> bool {
        !self.take_subtrie(prefix).is_empty()
    }
}

/// `bytes ++ n`, as a node: `n` itself when `bytes` is empty.
pub(crate) fn prepend<V: Clone>(bytes: &[u8], mut n: Node<V>) -> Node<V> {
    if !bytes.is_empty() {
        let mut p = bytes.to_vec();
        p.extend_from_slice(n.prefix());
        n.set_prefix(Prefix::new(&p));
    }
    n
}

/// `n` with the first `skip` bytes of its prefix removed, reusing `n`'s allocation when
/// it is not shared.
pub(crate) fn trim_owned<V: Clone>(mut n: Node<V>, skip: usize) -> Node<V> {
    if skip > 0 {
        let p = Prefix::new(&n.prefix()[skip..]);
        n.set_prefix(p);
    }
    n
}

/// Replaces the subtrie under `key` in `slot` by `new` (relative to `key`); returns the
/// old subtrie (relative to `key`). Keeps canonical form.
pub(crate) fn replace_at<V: Clone>(
    slot: &mut Option<Node<V>>,
    key: &[u8],
    new: Option<Node<V>>,
) -> Option<Node<V>> {
    let Some(node) = slot else {
        *slot = new.map(|n| prepend(key, n));
        return None;
    };
    let p = node.prefix();
    let c = lcp(p, key);
    let plen = p.len();
    if c == key.len() {
        // Everything in this node lies under `key`.
        let old = slot.take().map(|n| trim_owned(n, c));
        *slot = new.map(|n| prepend(key, n));
        return old;
    }
    if c < plen {
        // `key` leaves this node's prefix: nothing lies under it.
        if let Some(new) = new {
            node.split(c);
            node.add_child(key[c], prepend(&key[c + 1..], new));
        }
        return None;
    }
    // `key` continues past this node's prefix, under byte `key[c]`.
    let b = key[c];
    if new.is_none() && node.child(b).is_none() {
        return None;
    }
    let mut child = node.remove_child(b);
    let old = replace_at(&mut child, &key[c + 1..], new);
    if let Some(child) = child {
        node.add_child(b, child);
    }
    if !node.normalize() {
        *slot = None;
    }
    old
}

impl<V: Clone, K: AsRef<[u8]>> FromIterator<(K, V)> for PathMap<V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = PathMap::new();
        m.extend(iter);
        m
    }
}

impl<V: Clone, K: AsRef<[u8]>> Extend<(K, V)> for PathMap<V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<V: PartialEq> PartialEq for PathMap<V> {
    /// Equal when both hold the same keys with equal values.
    fn eq(&self, other: &Self) -> bool {
        match (&self.root, &other.root) {
            (Some(a), Some(b)) if Node::ptr_eq(a, b) => true,
            _ => self.iter().eq(other.iter()),
        }
    }
}

impl<V: Eq> Eq for PathMap<V> {}

impl<V: fmt::Debug> fmt::Debug for PathMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (k.escape_ascii().to_string(), v)))
            .finish()
    }
}

// === impl Iter ===

struct Frame<'a, V> {
    node: &'a Node<V>,
    /// The next child byte to visit (256: none left).
    next: u16,
    /// The length of the path up to the end of this node's prefix.
    path_end: usize,
    /// Whether this node's value is still to be yielded.
    value_pending: bool,
}

/// An iterator over entries in key order, yielding each key as an owned `Vec<u8>`.
pub struct Iter<'a, V> {
    stack: Vec<Frame<'a, V>>,
    path: Vec<u8>,
    end: Bound<Vec<u8>>,
}

impl<'a, V> Iter<'a, V> {
    pub(crate) fn empty() -> Iter<'a, V> {
        Iter {
            stack: Vec::new(),
            path: Vec::new(),
            end: Bound::Unbounded,
        }
    }

    /// Starts at `node`, whose prefix from byte `skip` on follows the current path.
    pub(crate) fn push_whole(&mut self, node: &'a Node<V>, skip: usize) {
        self.path.extend_from_slice(&node.prefix()[skip..]);
        self.stack.push(Frame {
            node,
            next: 0,
            path_end: self.path.len(),
            value_pending: true,
        });
    }

    /// An iterator over the subtrie at `node` (from byte `skip` of its prefix), its keys
    /// prefixed with `base`.
    pub(crate) fn over(base: &[u8], node: &'a Node<V>, skip: usize) -> Iter<'a, V> {
        let mut it = Iter::empty();
        it.path.extend_from_slice(base);
        it.push_whole(node, skip);
        it
    }

    /// Positions the iterator at the first key `>= start` (`> start` unless `inclusive`).
    fn seek(&mut self, mut node: &'a Node<V>, mut key: &[u8], inclusive: bool) {
        loop {
            let p = node.prefix();
            let c = lcp(p, key);
            if c == key.len() {
                // Every key here extends `start`; only an exact match may be excluded.
                self.path.extend_from_slice(p);
                self.stack.push(Frame {
                    node,
                    next: 0,
                    path_end: self.path.len(),
                    value_pending: c < p.len() || inclusive,
                });
                return;
            }
            if c < p.len() {
                if p[c] > key[c] {
                    self.path.extend_from_slice(p);
                    self.stack.push(Frame {
                        node,
                        next: 0,
                        path_end: self.path.len(),
                        value_pending: true,
                    });
                }
                // Else every key here is below `start`: nothing to push; the parent
                // frames continue after this subtrie.
                return;
            }
            // The prefix matched and `start` goes on: this node's value is below `start`.
            let b = key[c];
            self.path.extend_from_slice(p);
            self.stack.push(Frame {
                node,
                next: u16::from(b) + 1,
                path_end: self.path.len(),
                value_pending: false,
            });
            match node.child(b) {
                Some(child) => {
                    self.path.push(b);
                    node = child;
                    key = &key[c + 1..];
                }
                None => return,
            }
        }
    }

    fn past_end(&self) -> bool {
        match &self.end {
            Bound::Unbounded => false,
            Bound::Included(e) => self.path.as_slice() > e.as_slice(),
            Bound::Excluded(e) => self.path.as_slice() >= e.as_slice(),
        }
    }

    /// Advances to the next entry, leaving its key in `self.path`.
    pub(crate) fn advance(&mut self) -> Option<&'a V> {
        loop {
            let top = self.stack.last_mut()?;
            if top.value_pending {
                top.value_pending = false;
                if let Some(v) = top.node.value() {
                    self.path.truncate(top.path_end);
                    if self.past_end() {
                        self.stack.clear();
                        return None;
                    }
                    return Some(v);
                }
            }
            match top.node.next_kid(top.next) {
                Some((b, child)) => {
                    top.next = u16::from(b) + 1;
                    let end = top.path_end;
                    self.path.truncate(end);
                    self.path.push(b);
                    self.push_whole(child, 0);
                }
                None => {
                    self.stack.pop();
                }
            }
        }
    }

    /// The key of the entry `advance` last returned.
    pub(crate) fn key(&self) -> &[u8] {
        &self.path
    }
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (Vec<u8>, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        let v = self.advance()?;
        Some((self.path.clone(), v))
    }
}

/// An iterator over values in key order.
pub struct Values<'a, V> {
    stack: Vec<&'a Node<V>>,
    kids: Vec<&'a Node<V>>,
}

impl<'a, V> Iterator for Values<'a, V> {
    type Item = &'a V;
    fn next(&mut self) -> Option<&'a V> {
        loop {
            let n = self.stack.pop()?;
            self.kids.extend(n.kids().map(|(_, c)| c));
            self.stack.extend(self.kids.drain(..).rev());
            if let Some(v) = n.value() {
                return Some(v);
            }
        }
    }
}

// === impl PrefixView ===

/// The part of a [`PathMap`] whose keys start with a prefix; see [`PathMap::prefix`].
pub struct PrefixView<'a, V> {
    /// The node the prefix ends in and how many of its prefix bytes the prefix consumed.
    at: Option<(&'a Node<V>, usize)>,
    prefix: Vec<u8>,
}

impl<'a, V> PrefixView<'a, V> {
    /// The view's prefix.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The value at `prefix ++ suffix`.
    pub fn get(&self, suffix: impl AsRef<[u8]>) -> Option<&'a V> {
        let (n, off) = self.at?;
        let suffix = suffix.as_ref();
        let rest = &n.prefix()[off..];
        let tail = suffix.strip_prefix(rest)?;
        match tail.split_first() {
            None => n.value(),
            Some((&b, t)) => n.child(b)?.get(t),
        }
    }

    /// Whether no key starts with the prefix.
    pub fn is_empty(&self) -> bool {
        self.at.is_none()
    }

    /// The number of keys that start with the prefix (counted: O(size of the view)).
    pub fn len(&self) -> usize {
        self.at.map_or(0, |(n, _)| n.count())
    }

    /// The view's entries in key order, with whole keys (prefix included).
    pub fn iter(&self) -> Iter<'a, V> {
        match self.at {
            None => Iter::empty(),
            Some((n, off)) => Iter::over(&self.prefix, n, off),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &PathMap<u32>) -> Vec<Vec<u8>> {
        m.keys().collect()
    }

    #[test]
    fn insert_get_remove_split_and_merge() {
        let mut m = PathMap::new();
        assert_eq!(m.insert(b"romane", 1), None);
        assert_eq!(m.insert(b"romanus", 2), None);
        assert_eq!(m.insert(b"romulus", 3), None);
        assert_eq!(m.insert(b"rom", 4), None);
        assert_eq!(m.insert(b"", 5), None);
        assert_eq!(m.insert(b"romane", 6), Some(1));
        assert_eq!(m.len(), 5);
        assert_eq!(m.get(b"romane"), Some(&6));
        assert_eq!(m.get(b"roma"), None);
        assert_eq!(m.get(b"romanes"), None);
        assert_eq!(m.get(b""), Some(&5));
        assert_eq!(
            keys(&m),
            [&b""[..], b"rom", b"romane", b"romanus", b"romulus"]
        );
        assert_eq!(m.remove(b"roma"), None);
        assert_eq!(m.remove(b"rom"), Some(4));
        assert_eq!(m.remove(b""), Some(5));
        assert_eq!(m.remove(b"romanus"), Some(2));
        assert_eq!(keys(&m), [&b"romane"[..], b"romulus"]);
        assert_eq!(m.remove(b"romulus"), Some(3));
        // One key left: the root is a single leaf again.
        let r = m.root.as_ref().unwrap();
        assert_eq!(r.prefix(), b"romane");
        assert_eq!(r.kid_count(), 0);
        assert_eq!(m.remove(b"romane"), Some(6));
        assert!(m.is_empty());
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn clone_is_a_snapshot() {
        let mut a: PathMap<u32> = (0u32..50).map(|i| (i.to_be_bytes(), i)).collect();
        let b = a.clone();
        a.insert(7u32.to_be_bytes(), 700);
        a.remove(8u32.to_be_bytes());
        *a.get_mut(9u32.to_be_bytes()).unwrap() = 900;
        assert_eq!(b.get(7u32.to_be_bytes()), Some(&7));
        assert_eq!(b.get(8u32.to_be_bytes()), Some(&8));
        assert_eq!(b.get(9u32.to_be_bytes()), Some(&9));
        assert_eq!(a.get(9u32.to_be_bytes()), Some(&900));
        assert_eq!(b.len(), 50);
        assert_eq!(a.len(), 49);
    }

    #[test]
    fn range_and_prefix() {
        let m: PathMap<u32> = [&b"a"[..], b"ab", b"abc", b"abd", b"b", b"ba", b"c"]
            .iter()
            .enumerate()
            .map(|(i, k)| (k, i as u32))
            .collect();
        let r: Vec<Vec<u8>> = m
            .range(b"ab".as_slice()..=b"b".as_slice())
            .map(|(k, _)| k)
            .collect();
        assert_eq!(r, [&b"ab"[..], b"abc", b"abd", b"b"]);
        let r: Vec<Vec<u8>> = m
            .range::<&[u8], _>((
                Bound::Excluded(b"ab".as_slice()),
                Bound::Excluded(b"ba".as_slice()),
            ))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(r, [&b"abc"[..], b"abd", b"b"]);
        let r: Vec<Vec<u8>> = m.range(b"abca".as_slice()..).map(|(k, _)| k).collect();
        assert_eq!(r, [&b"abd"[..], b"b", b"ba", b"c"]);
        let v = m.prefix(b"ab");
        assert_eq!(v.len(), 3);
        assert_eq!(v.get(b"c"), Some(&2));
        assert_eq!(v.get(b""), Some(&1));
        let ks: Vec<Vec<u8>> = v.iter().map(|(k, _)| k).collect();
        assert_eq!(ks, [&b"ab"[..], b"abc", b"abd"]);
        assert!(m.prefix(b"abx").is_empty());
        assert_eq!(
            m.values().copied().collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5, 6]
        );
    }

    #[test]
    fn graft_and_take_subtrie_share_nodes() {
        let mut m: PathMap<u32> = [(&b"x/1"[..], 1), (b"x/2", 2), (b"y/1", 3)]
            .into_iter()
            .collect();
        let sub = m.take_subtrie(b"x/");
        assert_eq!(sub.len(), 2);
        assert_eq!(sub.get(b"1"), Some(&1));
        assert_eq!(m.len(), 1);
        m.graft(b"z", sub.clone());
        assert_eq!(m.get(b"z2"), Some(&2));
        assert_eq!(m.len(), 3);
        let again = m.subtrie(b"z");
        assert_eq!(again, sub);
        assert!(m.remove_prefix(b"y"));
        assert!(!m.remove_prefix(b"y"));
        assert_eq!(m.len(), 2);
    }
}
