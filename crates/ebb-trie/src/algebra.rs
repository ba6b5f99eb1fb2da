//! Whole-trie algebra: join (union), meet (intersection), subtract and restrict.
//!
//! Each operation walks the two tries together, position by position, where a position is
//! a node and how many bytes of its prefix lie above it. Where the two sides diverge, or
//! where only one side goes on, the subtrie of that side is taken *whole*: its `Arc` is
//! cloned, not its contents (a shallow copy of one node is made only when the position
//! sits inside a compressed prefix). Where both sides hold the same `Arc` at the same
//! position, the result is that `Arc` (for join, meet and restrict) or nothing (for
//! subtract) without looking further: the structure two snapshots share is never walked.
//! The work is therefore proportional to the part of the tries that differ, and the result
//! shares everything else with its inputs. Results are in canonical form (see `node`).
//!
//! Values combine through [`Lattice`]; the trie operations obey the lattice laws the value
//! type obeys (the integration tests check idempotence, commutativity, associativity and
//! absorption for `()` and the integer lattices).

use crate::map::{PathMap, prepend};
use crate::node::{Node, Prefix, lcp};
use std::collections::BTreeSet;

/// A value type with a join (least upper bound) and a meet (greatest lower bound).
///
/// `meet` may return `None` for the bottom element: the key then leaves the intersection.
/// For the trie operations to obey the lattice laws, `join` and `meet` must: idempotent
/// (`a.join(a) == a`, `a.meet(a) == Some(a)`), commutative, associative, and absorbing
/// (`a.join(&a.meet(b)?) == a`, `a.meet(&a.join(b)) == Some(a)`).
pub trait Lattice: Clone {
    /// The least upper bound of `self` and `other`.
    fn join(&self, other: &Self) -> Self;
    /// The greatest lower bound, or `None` for the bottom element.
    fn meet(&self, other: &Self) -> Option<Self>;
}

impl Lattice for () {
    fn join(&self, _: &()) {}
    fn meet(&self, _: &()) -> Option<()> {
        Some(())
    }
}

impl Lattice for bool {
    /// `||`.
    fn join(&self, other: &bool) -> bool {
        *self || *other
    }
    /// `&&`, with `false` as the bottom (no value).
    fn meet(&self, other: &bool) -> Option<bool> {
        (*self && *other).then_some(true)
    }
}

macro_rules! int_lattice {
    ($($t:ty)*) => {$(
        impl Lattice for $t {
            /// The larger.
            fn join(&self, other: &$t) -> $t {
                (*self).max(*other)
            }
            /// The smaller.
            fn meet(&self, other: &$t) -> Option<$t> {
                Some((*self).min(*other))
            }
        }
    )*};
}
int_lattice!(u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize);

impl<T: Ord + Clone> Lattice for BTreeSet<T> {
    /// Union.
    fn join(&self, other: &Self) -> Self {
        self.union(other).cloned().collect()
    }
    /// Intersection; the empty set is the bottom.
    fn meet(&self, other: &Self) -> Option<Self> {
        let s: BTreeSet<T> = self.intersection(other).cloned().collect();
        (!s.is_empty()).then_some(s)
    }
}

impl<V: Lattice> Lattice for PathMap<V> {
    /// [`PathMap::join`].
    fn join(&self, other: &Self) -> Self {
        PathMap::join(self, other)
    }
    /// [`PathMap::meet`]; the empty map is the bottom.
    fn meet(&self, other: &Self) -> Option<Self> {
        let m = PathMap::meet(self, other);
        (!m.is_empty()).then_some(m)
    }
}

/// Whether two nodes, possibly of different value types, are one allocation.
fn same<V, W>(a: &Node<V>, b: &Node<W>) -> bool {
    a.addr() == b.addr()
}

/// A node with prefix `prefix`, no value and the two given children.
fn fork<V>(prefix: &[u8], x: (u8, Node<V>), y: (u8, Node<V>)) -> Node<V> {
    let kids = if x.0 < y.0 { vec![x, y] } else { vec![y, x] };
    Node::from_parts(Prefix::new(prefix), None, kids)
}

/// A node built from parts that may break canonical form (no value and fewer than two
/// children): repaired, or `None` if empty.
fn build<V: Clone>(prefix: &[u8], value: Option<V>, kids: Vec<(u8, Node<V>)>) -> Option<Node<V>> {
    let mut n = Node::from_parts(Prefix::new(prefix), value, kids);
    n.normalize().then_some(n)
}

/// `node`'s children with the one under `b` replaced by `child` (or removed).
fn with_child<V: Clone>(node: &Node<V>, b: u8, child: Option<Node<V>>) -> Vec<(u8, Node<V>)> {
    let mut out: Vec<(u8, Node<V>)> = Vec::with_capacity(node.kid_count() + 1);
    let mut placed = false;
    for (kb, c) in node.kids() {
        if kb == b {
            placed = true;
            if let Some(ch) = &child {
                out.push((b, ch.clone()));
            }
            continue;
        }
        if kb > b && !placed {
            placed = true;
            if let Some(ch) = &child {
                out.push((b, ch.clone()));
            }
        }
        out.push((kb, c.clone()));
    }
    if !placed && let Some(ch) = child {
        out.push((b, ch));
    }
    out
}

fn join_pos<V: Lattice>(a: &Node<V>, ao: usize, b: &Node<V>, bo: usize) -> Node<V> {
    if ao == bo && Node::ptr_eq(a, b) {
        return a.trimmed(ao);
    }
    let pa = &a.prefix()[ao..];
    let pb = &b.prefix()[bo..];
    let c = lcp(pa, pb);
    match (c < pa.len(), c < pb.len()) {
        (true, true) => fork(
            &pa[..c],
            (pa[c], a.trimmed(ao + c + 1)),
            (pb[c], b.trimmed(bo + c + 1)),
        ),
        (false, false) => {
            let value = match (a.value(), b.value()) {
                (Some(x), Some(y)) => Some(x.join(y)),
                (Some(x), None) | (None, Some(x)) => Some(x.clone()),
                (None, None) => None,
            };
            let mut kids: Vec<(u8, Node<V>)> = Vec::with_capacity(a.kid_count() + b.kid_count());
            let mut ia = Some(a.kids().peekable());
            let mut ib = Some(b.kids().peekable());
            loop {
                let na = ia.as_mut().and_then(|i| i.peek().copied());
                let nb = ib.as_mut().and_then(|i| i.peek().copied());
                match (na, nb) {
                    (None, None) => break,
                    (Some((x, ca)), Some((y, cb))) if x == y => {
                        kids.push((x, join_pos(ca, 0, cb, 0)));
                        ia.as_mut().map(|i| i.next());
                        ib.as_mut().map(|i| i.next());
                    }
                    (Some((x, ca)), Some((y, _))) if x < y => {
                        kids.push((x, ca.clone()));
                        ia.as_mut().map(|i| i.next());
                    }
                    (Some((x, ca)), None) => {
                        kids.push((x, ca.clone()));
                        ia.as_mut().map(|i| i.next());
                    }
                    (_, Some((y, cb))) => {
                        kids.push((y, cb.clone()));
                        ib.as_mut().map(|i| i.next());
                    }
                }
            }
            build(pa, value, kids).expect("a join of non-empty nodes is not empty")
        }
        (false, true) => {
            // `a` is at a node boundary; `b` goes on under `pb[c]`.
            let byte = pb[c];
            let child = match a.child(byte) {
                Some(ca) => join_pos(ca, 0, b, bo + c + 1),
                None => b.trimmed(bo + c + 1),
            };
            Node::from_parts(
                Prefix::new(pa),
                a.value().cloned(),
                with_child(a, byte, Some(child)),
            )
        }
        (true, false) => {
            let byte = pa[c];
            let child = match b.child(byte) {
                Some(cb) => join_pos(a, ao + c + 1, cb, 0),
                None => a.trimmed(ao + c + 1),
            };
            Node::from_parts(
                Prefix::new(pb),
                b.value().cloned(),
                with_child(b, byte, Some(child)),
            )
        }
    }
}

fn meet_pos<V: Lattice>(a: &Node<V>, ao: usize, b: &Node<V>, bo: usize) -> Option<Node<V>> {
    if ao == bo && Node::ptr_eq(a, b) {
        return Some(a.trimmed(ao));
    }
    let pa = &a.prefix()[ao..];
    let pb = &b.prefix()[bo..];
    let c = lcp(pa, pb);
    match (c < pa.len(), c < pb.len()) {
        (true, true) => None,
        (false, false) => {
            let value = match (a.value(), b.value()) {
                (Some(x), Some(y)) => x.meet(y),
                _ => None,
            };
            let mut kids = Vec::new();
            // Walk the smaller table, probe the other.
            if a.kid_count() <= b.kid_count() {
                for (x, ca) in a.kids() {
                    if let Some(r) = b.child(x).and_then(|cb| meet_pos(ca, 0, cb, 0)) {
                        kids.push((x, r));
                    }
                }
            } else {
                for (x, cb) in b.kids() {
                    if let Some(r) = a.child(x).and_then(|ca| meet_pos(ca, 0, cb, 0)) {
                        kids.push((x, r));
                    }
                }
            }
            build(pa, value, kids)
        }
        (false, true) => {
            let byte = pb[c];
            let r = meet_pos(a.child(byte)?, 0, b, bo + c + 1)?;
            Some(prepend(&[pa, &[byte]].concat(), r))
        }
        (true, false) => {
            let byte = pa[c];
            let r = meet_pos(a, ao + c + 1, b.child(byte)?, 0)?;
            Some(prepend(&pa[..=c], r))
        }
    }
}

fn subtract_pos<V: Clone, W>(a: &Node<V>, ao: usize, b: &Node<W>, bo: usize) -> Option<Node<V>> {
    if ao == bo && same(a, b) {
        return None;
    }
    let pa = &a.prefix()[ao..];
    let pb = &b.prefix()[bo..];
    let c = lcp(pa, pb);
    match (c < pa.len(), c < pb.len()) {
        (true, true) => Some(a.trimmed(ao)),
        (false, false) => {
            let value = if b.value().is_some() {
                None
            } else {
                a.value().cloned()
            };
            let mut kids = Vec::with_capacity(a.kid_count());
            for (x, ca) in a.kids() {
                match b.child(x) {
                    Some(cb) => {
                        if let Some(r) = subtract_pos(ca, 0, cb, 0) {
                            kids.push((x, r));
                        }
                    }
                    None => kids.push((x, ca.clone())),
                }
            }
            build(pa, value, kids)
        }
        (false, true) => {
            let byte = pb[c];
            let Some(ca) = a.child(byte) else {
                return Some(a.trimmed(ao));
            };
            let r = subtract_pos(ca, 0, b, bo + c + 1);
            build(pa, a.value().cloned(), with_child(a, byte, r))
        }
        (true, false) => {
            let byte = pa[c];
            let Some(cb) = b.child(byte) else {
                return Some(a.trimmed(ao));
            };
            let r = subtract_pos(a, ao + c + 1, cb, 0)?;
            Some(prepend(&pa[..=c], r))
        }
    }
}

fn restrict_pos<V: Clone, W>(a: &Node<V>, ao: usize, b: &Node<W>, bo: usize) -> Option<Node<V>> {
    if ao == bo && same(a, b) {
        return Some(a.trimmed(ao));
    }
    let pa = &a.prefix()[ao..];
    let pb = &b.prefix()[bo..];
    let c = lcp(pa, pb);
    if c < pa.len() && c < pb.len() {
        return None;
    }
    if c == pb.len() {
        // `b` is at a node boundary.
        if b.value().is_some() {
            // Every key of `a` from here on has this prefix in `b`.
            return Some(a.trimmed(ao));
        }
        if c == pa.len() {
            let mut kids = Vec::new();
            for (x, ca) in a.kids() {
                if let Some(r) = b.child(x).and_then(|cb| restrict_pos(ca, 0, cb, 0)) {
                    kids.push((x, r));
                }
            }
            return build(pa, None, kids);
        }
        let byte = pa[c];
        let r = restrict_pos(a, ao + c + 1, b.child(byte)?, 0)?;
        return Some(prepend(&pa[..=c], r));
    }
    // `a` is at a node boundary inside `b`'s prefix: `a`'s value here has no prefix in `b`.
    let byte = pb[c];
    let r = restrict_pos(a.child(byte)?, 0, b, bo + c + 1)?;
    Some(prepend(&[pa, &[byte]].concat(), r))
}

impl<V: Lattice> PathMap<V> {
    /// The union of the two maps; where both hold a key, the values' [`Lattice::join`].
    pub fn join(&self, other: &PathMap<V>) -> PathMap<V> {
        let root = match (&self.root, &other.root) {
            (Some(a), Some(b)) => Some(join_pos(a, 0, b, 0)),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        PathMap::from_root(root)
    }

    /// The keys both maps hold, with the values' [`Lattice::meet`] (a key whose meet is
    /// `None` is left out).
    pub fn meet(&self, other: &PathMap<V>) -> PathMap<V> {
        let root = match (&self.root, &other.root) {
            (Some(a), Some(b)) => meet_pos(a, 0, b, 0),
            _ => None,
        };
        PathMap::from_root(root)
    }

    /// `*self = self.join(other)`.
    pub fn join_with(&mut self, other: &PathMap<V>) {
        *self = self.join(other);
    }
}

impl<V: Clone> PathMap<V> {
    /// The entries of `self` whose keys `other` does not hold.
    pub fn subtract<W>(&self, other: &PathMap<W>) -> PathMap<V> {
        let root = match (&self.root, &other.root) {
            (Some(a), Some(b)) => subtract_pos(a, 0, b, 0),
            (a, _) => a.clone(),
        };
        PathMap::from_root(root)
    }

    /// The entries of `self` whose keys have a prefix (themselves included) that `other`
    /// holds as a key.
    pub fn restrict<W>(&self, other: &PathMap<W>) -> PathMap<V> {
        let root = match (&self.root, &other.root) {
            (Some(a), Some(b)) => restrict_pos(a, 0, b, 0),
            _ => None,
        };
        PathMap::from_root(root)
    }

    /// How many of this map's nodes are allocations that one of `others` also holds, and
    /// how many nodes it has in all: the structure an operation reused. For tests and
    /// measurements; O(size of all the maps).
    #[doc(hidden)]
    pub fn shared_nodes_with(&self, others: &[&PathMap<V>]) -> (usize, usize) {
        fn collect<V>(n: &Node<V>, set: &mut std::collections::HashSet<usize>) {
            if set.insert(n.addr()) {
                for (_, c) in n.kids() {
                    collect(c, set);
                }
            }
        }
        fn nodes<V>(n: &Node<V>) -> usize {
            1 + n.kids().map(|(_, c)| nodes(c)).sum::<usize>()
        }
        fn walk<V>(n: &Node<V>, set: &std::collections::HashSet<usize>) -> (usize, usize) {
            if set.contains(&n.addr()) {
                let all = nodes(n);
                return (all, all);
            }
            let mut out = (0, 1);
            for (_, c) in n.kids() {
                let (s, t) = walk(c, set);
                out.0 += s;
                out.1 += t;
            }
            out
        }
        let mut set = std::collections::HashSet::new();
        for o in others {
            if let Some(r) = &o.root {
                collect(r, &mut set);
            }
        }
        self.root.as_ref().map_or((0, 0), |r| walk(r, &set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(keys: &[&[u8]]) -> PathMap<()> {
        keys.iter().map(|k| (k, ())).collect()
    }

    fn keys(m: &PathMap<()>) -> Vec<Vec<u8>> {
        m.assert_canonical();
        m.keys().collect()
    }

    #[test]
    fn set_operations() {
        let a = set(&[b"abc", b"abd", b"b", b"", b"xyz"]);
        let b = set(&[b"abc", b"ab", b"b", b"bz", b"xy"]);
        assert_eq!(
            keys(&a.join(&b)),
            [&b""[..], b"ab", b"abc", b"abd", b"b", b"bz", b"xy", b"xyz"]
        );
        assert_eq!(keys(&a.meet(&b)), [&b"abc"[..], b"b"]);
        assert_eq!(keys(&a.subtract(&b)), [&b""[..], b"abd", b"xyz"]);
        assert_eq!(keys(&a.restrict(&b)), [&b"abc"[..], b"abd", b"b", b"xyz"]);
        assert!(a.meet(&PathMap::new()).is_empty());
        assert_eq!(a.subtract(&PathMap::<u8>::new()), a);
    }

    #[test]
    fn join_of_snapshots_reuses_shared_nodes() {
        let n = if cfg!(miri) { 100 } else { 2000 };
        let a: PathMap<u32> = (0u32..n).map(|i| (format!("k/{i}"), i)).collect();
        let mut b = a.clone();
        b.insert(b"k/new", 7);
        let j = a.join(&b);
        assert_eq!(j.len(), n as usize + 1);
        let (shared, total) = j.shared_nodes_with(&[&a, &b]);
        // Only the nodes on the path to the one new key are new.
        assert!(total - shared <= 8, "{shared} of {total} nodes shared");
        let (shared, total) = a.meet(&b).shared_nodes_with(&[&a]);
        assert!(total - shared <= 8, "{shared} of {total} nodes shared");
        assert_eq!(b.subtract(&a).len(), 1);
    }
}
