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
    /// Whether `self.join(other)` equals `self` (that is, `other <= self`). When it says
    /// `true`, a trie join may return `self`'s node, shared, instead of building an equal
    /// copy. Returning `false` is always correct (the default); returning `true` when the
    /// join differs from `self` makes the trie join wrong.
    fn join_is_self(&self, other: &Self) -> bool {
        let _ = other;
        false
    }
    /// Whether `self.meet(other)` is `Some` of a value equal to `self` (that is,
    /// `self <= other` and `self` is not the bottom), used and defaulted like
    /// [`Lattice::join_is_self`].
    fn meet_is_self(&self, other: &Self) -> bool {
        let _ = other;
        false
    }
}

impl Lattice for () {
    fn join(&self, _: &()) {}
    fn meet(&self, _: &()) -> Option<()> {
        Some(())
    }
    fn join_is_self(&self, _: &()) -> bool {
        true
    }
    fn meet_is_self(&self, _: &()) -> bool {
        true
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
    fn join_is_self(&self, other: &bool) -> bool {
        *self || !*other
    }
    fn meet_is_self(&self, other: &bool) -> bool {
        *self && *other
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
            fn join_is_self(&self, other: &$t) -> bool {
                *self >= *other
            }
            fn meet_is_self(&self, other: &$t) -> bool {
                *self <= *other
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
    fn join_is_self(&self, other: &Self) -> bool {
        other.is_subset(self)
    }
    fn meet_is_self(&self, other: &Self) -> bool {
        !self.is_empty() && self.is_subset(other)
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

/// Starts loading the children of `a` and `b` under the bytes both have (the ones a meet
/// recurses into): their counts and the start of their payloads, which the meet reads
/// (prefixes compared, values met) before it clones one.
fn prefetch_common<V>(a: &Node<V>, b: &Node<V>) {
    let (ma, mb) = (a.mask(), b.mask());
    for w in 0..4 {
        let mut both = ma[w] & mb[w];
        while both != 0 {
            let byte = (w * 64) as u8 + both.trailing_zeros() as u8;
            if let (Some(x), Some(y)) = (a.child(byte), b.child(byte)) {
                x.prefetch_node();
                y.prefetch_node();
            }
            both &= both - 1;
        }
    }
}

/// What one step of [`join_pos`] or [`meet_pos`] produced: a new node, or one side's node
/// at its position, unchanged. The caller takes an unchanged side by reference (a clone of
/// its handle when the position is a node boundary), so that where the result equals an
/// input, the input's nodes are the result's and its parent can be reused in turn.
enum Out<V> {
    New(Node<V>),
    /// The result is `a` from offset `ao`.
    A,
    /// The result is `b` from offset `bo`.
    B,
    /// The result is both (they are equal there): the parent may count it as either
    /// side's, so that a tie does not stop the reuse of the side the parent keeps.
    Both,
}

/// Tags a merged child as the one `a` has under its byte (see [`Kids`]).
const FROM_A: u8 = 1;
/// Tags a merged child as the one `b` has under its byte.
const FROM_B: u8 = 2;

impl<V: Clone> Out<V> {
    fn node(self, a: &Node<V>, ao: usize, b: &Node<V>, bo: usize) -> Node<V> {
        match self {
            Out::New(n) => n,
            Out::A => a.trimmed(ao),
            Out::B => b.trimmed(bo),
            // A clone of the handle where one side is at a node's start, not a copy.
            Out::Both if ao != 0 && bo == 0 => b.clone(),
            Out::Both => a.trimmed(ao),
        }
    }

    /// Which sides' child this result (of the step under one byte, both at offset 0) is.
    fn from(&self) -> u8 {
        match self {
            Out::New(_) => 0,
            Out::A => FROM_A,
            Out::B => FROM_B,
            Out::Both => FROM_A | FROM_B,
        }
    }
}

/// The children of a node being merged, and how many of them are `a`'s child under their
/// byte (tagged `FROM_A`) and how many `b`'s (`FROM_B`; a child may be both).
struct Kids<V> {
    kids: Vec<(u8, Node<V>)>,
    of_a: usize,
    of_b: usize,
}

impl<V: Clone> Kids<V> {
    fn with_capacity(n: usize) -> Self {
        Kids {
            kids: Vec::with_capacity(n),
            of_a: 0,
            of_b: 0,
        }
    }

    fn push(&mut self, b: u8, node: Node<V>, from: u8) {
        self.kids.push((b, node));
        self.of_a += usize::from(from & FROM_A != 0);
        self.of_b += usize::from(from & FROM_B != 0);
    }

    /// Whether these are exactly `n`'s children, given that `of_side` of them are `n`'s
    /// child under their byte (the bytes are distinct, so equal counts mean equal sets).
    fn all_of(&self, n: &Node<V>, of_side: usize) -> bool {
        of_side == self.kids.len() && self.kids.len() == n.kid_count()
    }

    /// What a merged node whose value is `a`'s (`a_keeps`) or `b`'s (`b_keeps`) is.
    fn outcome(&self, a: &Node<V>, a_keeps: bool, b: &Node<V>, b_keeps: bool) -> Option<Out<V>> {
        let is_a = a_keeps && self.all_of(a, self.of_a);
        let is_b = b_keeps && self.all_of(b, self.of_b);
        match (is_a, is_b) {
            (true, true) => Some(Out::Both),
            (true, false) => Some(Out::A),
            (false, true) => Some(Out::B),
            (false, false) => None,
        }
    }
}

fn join_pos<V: Lattice>(a: &Node<V>, ao: usize, b: &Node<V>, bo: usize) -> Out<V> {
    if ao == bo && Node::ptr_eq(a, b) {
        return Out::Both;
    }
    let pa = &a.prefix()[ao..];
    let pb = &b.prefix()[bo..];
    let c = lcp(pa, pb);
    match (c < pa.len(), c < pb.len()) {
        (true, true) => Out::New(fork(
            &pa[..c],
            (pa[c], a.trimmed(ao + c + 1)),
            (pb[c], b.trimmed(bo + c + 1)),
        )),
        (false, false) => {
            // Every child of both is cloned or recursed into: start all their loads now.
            a.prefetch_children();
            b.prefetch_children();
            let mut kids = Kids::with_capacity(a.kid_count() + b.kid_count());
            let mut ia = a.kids().peekable();
            let mut ib = b.kids().peekable();
            loop {
                match (ia.peek().copied(), ib.peek().copied()) {
                    (None, None) => break,
                    (Some((x, ca)), Some((y, cb))) if x == y => {
                        let r = join_pos(ca, 0, cb, 0);
                        let from = r.from();
                        kids.push(x, r.node(ca, 0, cb, 0), from);
                        ia.next();
                        ib.next();
                    }
                    (Some((x, ca)), Some((y, _))) if x < y => {
                        kids.push(x, ca.clone(), FROM_A);
                        ia.next();
                    }
                    (Some((x, ca)), None) => {
                        kids.push(x, ca.clone(), FROM_A);
                        ia.next();
                    }
                    (_, Some((y, cb))) => {
                        kids.push(y, cb.clone(), FROM_B);
                        ib.next();
                    }
                }
            }
            // Where the result equals one side's node (that side's value, and its
            // children as the very allocations), that node is the result.
            let (va, vb) = (a.value(), b.value());
            let a_keeps = match (va, vb) {
                (Some(x), Some(y)) => x.join_is_self(y),
                (_, None) => true,
                (None, Some(_)) => false,
            };
            let b_keeps = match (va, vb) {
                (Some(x), Some(y)) => y.join_is_self(x),
                (None, _) => true,
                (Some(_), None) => false,
            };
            if let Some(out) = kids.outcome(a, a_keeps, b, b_keeps) {
                return out;
            }
            let value = match (va, vb) {
                (Some(x), Some(y)) => Some(x.join(y)),
                (Some(x), None) | (None, Some(x)) => Some(x.clone()),
                (None, None) => None,
            };
            Out::New(build(pa, value, kids.kids).expect("a join of non-empty nodes is not empty"))
        }
        (false, true) => {
            // `a` is at a node boundary; `b` goes on under `pb[c]` (no value of `b` here).
            let byte = pb[c];
            let child = match a.child(byte) {
                Some(ca) => match join_pos(ca, 0, b, bo + c + 1) {
                    // `a`'s child absorbs `b`: `a` is the result.
                    Out::A | Out::Both => return Out::A,
                    r => r.node(ca, 0, b, bo + c + 1),
                },
                None => b.trimmed(bo + c + 1),
            };
            Out::New(Node::from_parts(
                Prefix::new(pa),
                a.value().cloned(),
                with_child(a, byte, Some(child)),
            ))
        }
        (true, false) => {
            let byte = pa[c];
            let child = match b.child(byte) {
                Some(cb) => match join_pos(a, ao + c + 1, cb, 0) {
                    Out::B | Out::Both => return Out::B,
                    r => r.node(a, ao + c + 1, cb, 0),
                },
                None => a.trimmed(ao + c + 1),
            };
            Out::New(Node::from_parts(
                Prefix::new(pb),
                b.value().cloned(),
                with_child(b, byte, Some(child)),
            ))
        }
    }
}

fn meet_pos<V: Lattice>(a: &Node<V>, ao: usize, b: &Node<V>, bo: usize) -> Option<Out<V>> {
    if ao == bo && Node::ptr_eq(a, b) {
        return Some(Out::Both);
    }
    let pa = &a.prefix()[ao..];
    let pb = &b.prefix()[bo..];
    let c = lcp(pa, pb);
    match (c < pa.len(), c < pb.len()) {
        (true, true) => None,
        (false, false) => {
            let mut kids = Kids::with_capacity(a.kid_count().min(b.kid_count()));
            // The children under bytes both sides have are recursed into: start their
            // loads now.
            if a.kid_count() > 1 && b.kid_count() > 1 {
                prefetch_common(a, b);
            }
            // Walk the smaller table, probe the other.
            let mut visit = |x: u8, ca: &Node<V>, cb: &Node<V>| {
                if let Some(r) = meet_pos(ca, 0, cb, 0) {
                    let from = r.from();
                    kids.push(x, r.node(ca, 0, cb, 0), from);
                }
            };
            if a.kid_count() <= b.kid_count() {
                for (x, ca) in a.kids() {
                    if let Some(cb) = b.child(x) {
                        visit(x, ca, cb);
                    }
                }
            } else {
                for (x, cb) in b.kids() {
                    if let Some(ca) = a.child(x) {
                        visit(x, ca, cb);
                    }
                }
            }
            // Where the result equals one side's node, that node is the result.
            let (va, vb) = (a.value(), b.value());
            let keeps = |x: Option<&V>, y: Option<&V>| match (x, y) {
                (Some(x), Some(y)) => x.meet_is_self(y),
                (None, _) => true,
                (Some(_), None) => false,
            };
            if let Some(out) = kids.outcome(a, keeps(va, vb), b, keeps(vb, va)) {
                return Some(out);
            }
            let value = match (va, vb) {
                (Some(x), Some(y)) => x.meet(y),
                _ => None,
            };
            build(pa, value, kids.kids).map(Out::New)
        }
        (false, true) => {
            // `a` is at a node boundary inside `b`'s prefix: `a`'s value here is not in `b`.
            let byte = pb[c];
            let ca = a.child(byte)?;
            match meet_pos(ca, 0, b, bo + c + 1)? {
                // All of `b` from under `byte` on: all of `b` from here.
                Out::B | Out::Both => Some(Out::B),
                r => {
                    let r = r.node(ca, 0, b, bo + c + 1);
                    Some(Out::New(prepend(&[pa, &[byte]].concat(), r)))
                }
            }
        }
        (true, false) => {
            let byte = pa[c];
            let cb = b.child(byte)?;
            match meet_pos(a, ao + c + 1, cb, 0)? {
                Out::A | Out::Both => Some(Out::A),
                r => {
                    let r = r.node(a, ao + c + 1, cb, 0);
                    Some(Out::New(prepend(&pa[..=c], r)))
                }
            }
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
            (Some(a), Some(b)) => Some(join_pos(a, 0, b, 0).node(a, 0, b, 0)),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        PathMap::from_root(root)
    }

    /// The keys both maps hold, with the values' [`Lattice::meet`] (a key whose meet is
    /// `None` is left out).
    pub fn meet(&self, other: &PathMap<V>) -> PathMap<V> {
        let root = match (&self.root, &other.root) {
            (Some(a), Some(b)) => meet_pos(a, 0, b, 0).map(|r| r.node(a, 0, b, 0)),
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

    /// A `u32` under `max`/`min` that keeps the trait's default `join_is_self` and
    /// `meet_is_self` (always `false`): the trie operations must then rebuild, not reuse.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Plain(u32);

    impl Lattice for Plain {
        fn join(&self, other: &Plain) -> Plain {
            Plain(self.0.max(other.0))
        }
        fn meet(&self, other: &Plain) -> Option<Plain> {
            Some(Plain(self.0.min(other.0)))
        }
    }

    fn entries<V: Clone>(m: &PathMap<V>) -> Vec<(Vec<u8>, V)> {
        m.assert_canonical();
        m.iter().map(|(k, v)| (k, v.clone())).collect()
    }

    /// `(keys, with big values)` and `(every third key, with small values)`, built
    /// separately, so that no node of one is an allocation of the other.
    fn dominating_pair<V: Clone>(n: u32, big: V, small: V) -> (PathMap<V>, PathMap<V>) {
        let key = |i: u32| format!("k/{}/{}", i % 7, i);
        let a: PathMap<V> = (0..n).map(|i| (key(i), big.clone())).collect();
        let b: PathMap<V> = (0..n)
            .filter(|i| i % 3 == 0)
            .map(|i| (key(i), small.clone()))
            .collect();
        (a, b)
    }

    #[test]
    fn join_returns_the_dominating_side_shared() {
        let n = if cfg!(miri) { 60 } else { 600 };
        let (a, b) = dominating_pair(n, 9u32, 1u32);
        assert_eq!(
            a.shared_nodes_with(&[&b]).0,
            0,
            "built apart, nothing shared"
        );
        // `b <= a` everywhere: the join is `a`, and every node of it is `a`'s.
        for j in [a.join(&b), b.join(&a)] {
            assert_eq!(entries(&j), entries(&a));
            let (shared, total) = j.shared_nodes_with(&[&a]);
            assert_eq!(shared, total, "{shared} of {total} nodes are a's");
            assert!(Node::ptr_eq(
                j.root.as_ref().unwrap(),
                a.root.as_ref().unwrap()
            ));
        }
        // One key of `b` above `a`'s value: only the nodes on its path are new.
        let mut b2 = b.clone();
        b2.insert(b"k/0/0", 20);
        let j = a.join(&b2);
        assert_eq!(j.get(b"k/0/0"), Some(&20));
        assert_eq!(j.len(), a.len());
        let (shared, total) = j.shared_nodes_with(&[&a]);
        assert!(
            total - shared >= 1 && total - shared <= 4,
            "{shared} of {total} nodes are a's"
        );
    }

    #[test]
    fn join_without_is_self_rebuilds_the_overlap() {
        let n = if cfg!(miri) { 60 } else { 600 };
        let (a, b) = dominating_pair(n, Plain(9), Plain(1));
        let j = a.join(&b);
        assert_eq!(entries(&j), entries(&a));
        let (shared, total) = j.shared_nodes_with(&[&a, &b]);
        // The leaves only `a` has are taken whole, but every node on a path to a key of
        // `b` is rebuilt, the root included.
        assert!(shared < total, "{shared} of {total}");
        assert!(!Node::ptr_eq(
            j.root.as_ref().unwrap(),
            a.root.as_ref().unwrap()
        ));
        let (shared_u32, total_u32) = {
            let (a, b) = dominating_pair(n, 9u32, 1u32);
            a.join(&b).shared_nodes_with(&[&a])
        };
        assert_eq!(total_u32, total);
        assert!(
            shared < shared_u32,
            "{shared} shared without is_self, {shared_u32} with"
        );
    }

    #[test]
    fn meet_returns_the_smaller_side_shared() {
        let n = if cfg!(miri) { 60 } else { 600 };
        let (a, b) = dominating_pair(n, 9u32, 1u32);
        // `b`'s keys are a subset of `a`'s and its values are below: the meet is `b`.
        for m in [a.meet(&b), b.meet(&a)] {
            assert_eq!(entries(&m), entries(&b));
            let (shared, total) = m.shared_nodes_with(&[&b]);
            assert_eq!(shared, total, "{shared} of {total} nodes are b's");
        }
        // With values that do not say they are below, the equal result is rebuilt.
        let (a, b) = dominating_pair(n, Plain(9), Plain(1));
        let m = a.meet(&b);
        assert_eq!(entries(&m), entries(&b));
        let (shared, total) = m.shared_nodes_with(&[&a, &b]);
        assert_eq!(shared, 0, "{shared} of {total}");
        // A meet that lowers one value of `b` rebuilds only the path to it.
        let (a, b) = dominating_pair(n, 9u32, 1u32);
        let mut a2 = a.clone();
        a2.insert(b"k/0/0", 0);
        let m = a2.meet(&b);
        assert_eq!(m.get(b"k/0/0"), Some(&0));
        let (shared, total) = m.shared_nodes_with(&[&b]);
        assert!(
            total - shared >= 1 && total - shared <= 4,
            "{shared} of {total} nodes are b's"
        );
    }

    #[test]
    fn is_self_agrees_with_join_and_meet() {
        fn check<V: Lattice + PartialEq + std::fmt::Debug>(vals: &[V]) {
            for x in vals {
                for y in vals {
                    assert_eq!(x.join_is_self(y), x.join(y) == *x, "{x:?} join {y:?}");
                    assert_eq!(
                        x.meet_is_self(y),
                        x.meet(y).as_ref() == Some(x),
                        "{x:?} meet {y:?}"
                    );
                }
            }
        }
        check(&[()]);
        check(&[false, true]);
        check(&[0u8, 1, 200, 255]);
        check(&[i64::MIN, -1, 0, 1, i64::MAX]);
        let sets: Vec<BTreeSet<u8>> = [&[][..], &[1], &[2], &[1, 2], &[1, 2, 3]]
            .iter()
            .map(|s| s.iter().copied().collect())
            .collect();
        check(&sets);
        // The defaults are `false`, which is always correct.
        assert!(!Plain(3).join_is_self(&Plain(1)));
        assert!(!Plain(1).meet_is_self(&Plain(3)));
    }
}
