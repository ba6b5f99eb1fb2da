//! Zippers: cursors that move along the paths of a trie.
//!
//! * [`ReadZipper`] borrows a trie and keeps the stack of nodes above its focus, so that
//!   moving down by a byte, reading the value or the child bytes at the focus costs O(1)
//!   and moving up costs nothing but popping. The focus may sit in the middle of a
//!   compressed prefix, or on a path the trie does not hold ([`ReadZipper::path_exists`]
//!   says which). Values come back as `&'a V`, borrowed from the trie rather than from the
//!   zipper, so they stay valid while the zipper moves on; [`Witness`] does the same for
//!   an owned handle.
//! * [`WriteZipper`] edits the trie at its focus: values, whole subtries (graft, take,
//!   remove branches) and lattice joins into the focus.
//! * [`ZipperHead`] shares one `&mut PathMap` among threads: it hands out write zippers at
//!   *exclusive* paths (no two live zippers at paths of which one is a prefix of the
//!   other) and read snapshots, refusing a conflicting request with a [`PathConflict`]
//!   that names the paths in the way. A head write zipper *detaches* the subtrie at its
//!   path (O(path length), sharing its nodes) and works on it without any lock; dropping
//!   the zipper grafts the subtrie back. Disjoint writers therefore run in parallel and
//!   meet only on the head's mutex, twice per zipper.

use crate::Lattice;
use crate::map::{Iter, PathMap};
use crate::node::Node;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

// === impl ReadZipper ===

struct RFrame<'a, V> {
    node: &'a Node<V>,
    /// Bytes of the node's prefix that lie above the zipper's origin (non-zero only for
    /// the first frame).
    skip: usize,
    /// The path position where `prefix[skip..]` begins.
    start: usize,
}

/// A read-only cursor over a trie; see the [module documentation](self).
///
/// ```
/// use ebb_trie::PathMap;
/// let m: PathMap<u32> = [(&b"ab"[..], 1), (b"abc", 2), (b"abd", 3)].into_iter().collect();
/// let mut z = m.read_zipper();
/// z.descend_to(b"ab");
/// assert_eq!(z.val(), Some(&1));
/// assert_eq!(z.child_bytes(), b"cd");
/// z.descend_to_byte(b'd');
/// let v = z.val();
/// z.reset();
/// assert_eq!(v, Some(&3)); // still valid: it borrows the map, not the zipper
/// ```
pub struct ReadZipper<'a, V> {
    /// Frames from the origin down to the deepest node on `path[..matched]`; empty only
    /// for an empty trie. Invariant: for the top frame, `start <= matched` and
    /// `matched - start <= prefix.len() - skip`.
    stack: Vec<RFrame<'a, V>>,
    /// The focus, relative to the origin.
    path: Vec<u8>,
    /// `path[..matched]` is a position in the trie; `path[matched..]` is not.
    matched: usize,
}

impl<'a, V> ReadZipper<'a, V> {
    pub(crate) fn new(at: Option<(&'a Node<V>, usize)>) -> ReadZipper<'a, V> {
        ReadZipper {
            stack: at
                .map(|(node, skip)| RFrame {
                    node,
                    skip,
                    start: 0,
                })
                .into_iter()
                .collect(),
            path: Vec::new(),
            matched: 0,
        }
    }

    /// The focus, relative to where the zipper started.
    pub fn path(&self) -> &[u8] {
        &self.path
    }

    /// Whether the trie holds the focus path (as a key or a prefix of one).
    pub fn path_exists(&self) -> bool {
        !self.stack.is_empty() && self.matched == self.path.len()
    }

    /// The top frame's remaining prefix and how much of it `path[..matched]` consumed.
    fn top(&self) -> Option<(&'a Node<V>, &'a [u8], usize)> {
        let f = self.stack.last()?;
        let node: &'a Node<V> = f.node;
        Some((node, &node.prefix()[f.skip..], self.matched - f.start))
    }

    /// Extends `matched` along `path` as far as the trie goes.
    fn extend(&mut self) {
        while self.matched < self.path.len() {
            let Some((node, rem, used)) = self.top() else {
                return;
            };
            let want = self.path[self.matched];
            if used < rem.len() {
                if rem[used] != want {
                    return;
                }
                self.matched += 1;
            } else {
                let Some(child) = self.stack.last().and_then(|_| node.child(want)) else {
                    return;
                };
                self.matched += 1;
                self.stack.push(RFrame {
                    node: child,
                    skip: 0,
                    start: self.matched,
                });
            }
        }
    }

    /// Moves the focus down by `bytes`.
    pub fn descend_to(&mut self, bytes: impl AsRef<[u8]>) {
        let grow = self.matched == self.path.len();
        self.path.extend_from_slice(bytes.as_ref());
        if grow {
            self.extend();
        }
    }

    /// Moves the focus down by one byte.
    pub fn descend_to_byte(&mut self, b: u8) {
        self.descend_to([b]);
    }

    /// Moves the focus up by `n` bytes; returns `false` (and stops at the origin) if the
    /// focus is less than `n` bytes deep.
    pub fn ascend(&mut self, n: usize) -> bool {
        let ok = n <= self.path.len();
        let len = self.path.len().saturating_sub(n);
        self.path.truncate(len);
        self.matched = self.matched.min(len);
        while self.stack.len() > 1 && self.stack.last().is_some_and(|f| f.start > self.matched) {
            self.stack.pop();
        }
        ok
    }

    /// Moves the focus back to the origin.
    pub fn reset(&mut self) {
        self.ascend(self.path.len());
    }

    /// Moves the focus to `path` (relative to the origin), keeping what the old and new
    /// paths share.
    pub fn move_to_path(&mut self, path: impl AsRef<[u8]>) {
        let path = path.as_ref();
        let common = crate::node::lcp(&self.path, path);
        self.ascend(self.path.len() - common);
        self.descend_to(&path[common..]);
    }

    /// The value at the focus. It borrows the trie, not the zipper.
    pub fn val(&self) -> Option<&'a V> {
        if !self.path_exists() {
            return None;
        }
        let (node, rem, used) = self.top()?;
        if used == rem.len() {
            node.value()
        } else {
            None
        }
    }

    /// Whether the focus holds a value.
    pub fn is_val(&self) -> bool {
        self.val().is_some()
    }

    /// A handle that keeps the value at the focus alive on its own (it holds the node's
    /// `Arc`), for use after the trie's borrow ends.
    pub fn witness(&self) -> Option<Witness<V>> {
        self.val()?;
        Some(Witness {
            node: self.stack.last()?.node.clone(),
        })
    }

    /// The bytes that extend the focus to a path the trie holds, ascending, as a 256-bit
    /// mask.
    pub fn child_mask(&self) -> [u64; 4] {
        let mut m = [0u64; 4];
        if !self.path_exists() {
            return m;
        }
        let Some((node, rem, used)) = self.top() else {
            return m;
        };
        if used < rem.len() {
            let b = rem[used];
            m[(b >> 6) as usize] |= 1 << (b & 63);
            m
        } else {
            node.mask()
        }
    }

    /// The bytes that extend the focus, ascending.
    pub fn child_bytes(&self) -> Vec<u8> {
        let m = self.child_mask();
        (0..=255u8)
            .filter(|&b| m[(b >> 6) as usize] & (1 << (b & 63)) != 0)
            .collect()
    }

    /// How many bytes extend the focus.
    pub fn child_count(&self) -> usize {
        self.child_mask()
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum()
    }

    /// The values at and below the focus, in order, with their paths relative to the
    /// focus.
    pub fn iter(&self) -> Iter<'a, V> {
        if !self.path_exists() {
            return Iter::empty();
        }
        match (self.stack.last(), self.top()) {
            (Some(f), Some((_, _, used))) => Iter::over(&[], f.node, f.skip + used),
            _ => Iter::empty(),
        }
    }

    /// Moves to the next path after the focus, in key order and within the zipper's
    /// origin, that holds a value; returns `false` (focus unchanged) when there is none.
    pub fn to_next_val(&mut self) -> bool {
        let Some(first) = self.stack.first() else {
            return false;
        };
        let origin = Iter::over(&[], first.node, first.skip);
        let next = origin.seek_after(&self.path);
        match next {
            Some(k) => {
                self.move_to_path(&k);
                true
            }
            None => false,
        }
    }
}

/// Keeps one value of a trie alive through the `Arc` of its node; see
/// [`ReadZipper::witness`].
pub struct Witness<V> {
    node: Node<V>,
}

impl<V> Witness<V> {
    /// The value this witness keeps.
    pub fn value(&self) -> &V {
        self.node
            .value()
            .expect("a witness is only made for a node with a value")
    }
}

impl<'a, V> Iter<'a, V> {
    /// The first key strictly after `key` in this iterator's sequence.
    fn seek_after(mut self, key: &[u8]) -> Option<Vec<u8>> {
        loop {
            self.advance()?;
            if self.key() > key {
                return Some(self.key().to_vec());
            }
        }
    }
}

// === impl WriteZipper ===

/// Where a [`WriteZipper`] writes.
enum Target<'a, V> {
    /// Straight into a borrowed map.
    Map(&'a mut PathMap<V>),
    /// Into a subtrie detached from a [`ZipperHead`]'s map, grafted back on drop.
    Head {
        sub: PathMap<V>,
        head: &'a (dyn Release<V> + Sync + 'a),
        claim: u64,
        at: Vec<u8>,
    },
}

/// A cursor that edits a trie at its focus; see the [module documentation](self).
///
/// ```
/// use ebb_trie::PathMap;
/// let mut m = PathMap::new();
/// let mut z = m.write_zipper_at_path(b"users/");
/// z.descend_to(b"ada");
/// z.set_val(36);
/// z.ascend(3);
/// z.descend_to(b"bob");
/// z.set_val(41);
/// drop(z);
/// assert_eq!(m.get(b"users/bob"), Some(&41));
/// assert_eq!(m.len(), 2);
/// ```
pub struct WriteZipper<'a, V: Clone> {
    target: Target<'a, V>,
    /// The key of the focus in the target map: `origin ++ path`.
    full: Vec<u8>,
    origin_len: usize,
}

impl<'a, V: Clone> WriteZipper<'a, V> {
    fn map(&mut self) -> &mut PathMap<V> {
        match &mut self.target {
            Target::Map(m) => m,
            Target::Head { sub, .. } => sub,
        }
    }

    fn map_ref(&self) -> &PathMap<V> {
        match &self.target {
            Target::Map(m) => m,
            Target::Head { sub, .. } => sub,
        }
    }

    /// The focus, relative to where the zipper started.
    pub fn path(&self) -> &[u8] {
        &self.full[self.origin_len..]
    }

    /// Moves the focus down by `bytes`.
    pub fn descend_to(&mut self, bytes: impl AsRef<[u8]>) {
        self.full.extend_from_slice(bytes.as_ref());
    }

    /// Moves the focus down by one byte.
    pub fn descend_to_byte(&mut self, b: u8) {
        self.full.push(b);
    }

    /// Moves the focus up by `n` bytes; returns `false` (and stops at the origin) if the
    /// focus is less than `n` bytes deep.
    pub fn ascend(&mut self, n: usize) -> bool {
        let depth = self.full.len() - self.origin_len;
        self.full
            .truncate(self.origin_len + depth.saturating_sub(n));
        n <= depth
    }

    /// Moves the focus back to the origin.
    pub fn reset(&mut self) {
        self.full.truncate(self.origin_len);
    }

    /// Moves the focus to `path`, relative to the origin.
    pub fn move_to_path(&mut self, path: impl AsRef<[u8]>) {
        self.reset();
        self.descend_to(path);
    }

    /// The value at the focus.
    pub fn val(&self) -> Option<&V> {
        self.map_ref().get(&self.full)
    }

    /// The value at the focus, mutably.
    pub fn val_mut(&mut self) -> Option<&mut V> {
        let WriteZipper { target, full, .. } = self;
        match target {
            Target::Map(m) => m.get_mut(full),
            Target::Head { sub, .. } => sub.get_mut(full),
        }
    }

    /// Puts a value at the focus; returns the one it replaces.
    pub fn set_val(&mut self, v: V) -> Option<V> {
        let key = std::mem::take(&mut self.full);
        let old = self.map().insert(&key, v);
        self.full = key;
        old
    }

    /// Removes the value at the focus (not the paths below it).
    pub fn remove_val(&mut self) -> Option<V> {
        let key = std::mem::take(&mut self.full);
        let old = self.map().remove(&key);
        self.full = key;
        old
    }

    /// The subtrie at the focus, as a map of its own sharing nodes with this one.
    pub fn subtrie(&self) -> PathMap<V> {
        self.map_ref().subtrie(&self.full)
    }

    /// Replaces the subtrie at the focus (its value included) with `sub`, sharing `sub`'s
    /// nodes; returns what was there.
    pub fn graft(&mut self, sub: &PathMap<V>) -> PathMap<V> {
        self.graft_map(sub.clone())
    }

    /// [`graft`](Self::graft), consuming `sub`.
    pub fn graft_map(&mut self, sub: PathMap<V>) -> PathMap<V> {
        let key = std::mem::take(&mut self.full);
        let old = self.map().graft(&key, sub);
        self.full = key;
        old
    }

    /// Removes the subtrie at the focus (its value included) and returns it.
    pub fn take_subtrie(&mut self) -> PathMap<V> {
        self.graft_map(PathMap::new())
    }

    /// Removes every path strictly below the focus, keeping the focus's own value;
    /// returns whether there was one.
    pub fn remove_branches(&mut self) -> bool {
        let mut sub = self.take_subtrie();
        let v = sub.remove([]);
        let had = !sub.is_empty();
        if let Some(v) = v {
            self.set_val(v);
        }
        had
    }

    /// Joins `other` into the subtrie at the focus (keys of `other` relative to it).
    pub fn join_into(&mut self, other: &PathMap<V>)
    where
        V: Lattice,
    {
        let here = self.subtrie();
        self.graft_map(here.join(other));
    }

    /// Intersects the subtrie at the focus with `other`.
    pub fn meet_into(&mut self, other: &PathMap<V>)
    where
        V: Lattice,
    {
        let here = self.subtrie();
        self.graft_map(here.meet(other));
    }

    /// Removes from the subtrie at the focus the keys `other` holds.
    pub fn subtract_into<W>(&mut self, other: &PathMap<W>) {
        let here = self.subtrie();
        self.graft_map(here.subtract(other));
    }
}

impl<V: Clone> Drop for WriteZipper<'_, V> {
    fn drop(&mut self) {
        if let Target::Head {
            sub,
            head,
            claim,
            at,
        } = &mut self.target
        {
            head.give_back(*claim, at, std::mem::take(sub));
        }
    }
}

// === impl ZipperHead ===

/// A request that [`ZipperHead`] refused because live zippers hold overlapping paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathConflict {
    /// The path that was asked for.
    pub requested: Vec<u8>,
    /// The paths of the live zippers in the way: each is a prefix or an extension of
    /// `requested`.
    pub conflicting: Vec<Vec<u8>>,
}

impl fmt::Display for PathConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "path {:?} overlaps live zipper paths",
            self.requested.escape_ascii().to_string()
        )?;
        for p in &self.conflicting {
            write!(f, " {:?}", p.escape_ascii().to_string())?;
        }
        Ok(())
    }
}

impl std::error::Error for PathConflict {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

struct Claim {
    id: u64,
    kind: Kind,
    path: Vec<u8>,
}

#[derive(Default)]
struct Claims {
    next: u64,
    live: Vec<Claim>,
}

/// What a head zipper calls when it drops.
trait Release<V> {
    fn give_back(&self, claim: u64, at: &[u8], sub: PathMap<V>);
    fn release(&self, claim: u64);
}

/// Hands out zippers over one map to many threads; see the [module
/// documentation](self).
///
/// ```
/// use ebb_trie::PathMap;
/// let mut m: PathMap<u32> = PathMap::new();
/// let head = m.zipper_head();
/// std::thread::scope(|s| {
///     for t in 0..4u8 {
///         let head = &head;
///         s.spawn(move || {
///             let mut z = head.write_zipper_at_exclusive_path([b'a' + t]).unwrap();
///             for i in 0..10u8 {
///                 z.move_to_path([i]);
///                 z.set_val(u32::from(t) * 10 + u32::from(i));
///             }
///         });
///     }
/// });
/// drop(head);
/// assert_eq!(m.len(), 40);
/// assert_eq!(m.get([b'c', 5]), Some(&25));
/// ```
pub struct ZipperHead<'m, V> {
    map: Mutex<&'m mut PathMap<V>>,
    claims: Mutex<Claims>,
}

fn overlaps(a: &[u8], b: &[u8]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a lock is held leaves the map and the claims consistent (each
    // critical section is one graft or one list edit), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<'m, V: Clone + Send + Sync> ZipperHead<'m, V> {
    /// A head over `map`, which stays borrowed until the head drops.
    pub fn new(map: &'m mut PathMap<V>) -> ZipperHead<'m, V> {
        ZipperHead {
            map: Mutex::new(map),
            claims: Mutex::new(Claims::default()),
        }
    }

    fn claim(&self, kind: Kind, path: &[u8], check: bool) -> Result<u64, PathConflict> {
        let mut c = lock(&self.claims);
        if check {
            let conflicting: Vec<Vec<u8>> = c
                .live
                .iter()
                .filter(|l| {
                    (kind == Kind::Write || l.kind == Kind::Write) && overlaps(&l.path, path)
                })
                .map(|l| l.path.clone())
                .collect();
            if !conflicting.is_empty() {
                return Err(PathConflict {
                    requested: path.to_vec(),
                    conflicting,
                });
            }
        }
        let id = c.next;
        c.next += 1;
        c.live.push(Claim {
            id,
            kind,
            path: path.to_vec(),
        });
        Ok(id)
    }

    fn write_zipper(&self, claim: u64, path: &[u8]) -> WriteZipper<'_, V> {
        let sub = lock(&self.map).take_subtrie(path);
        WriteZipper {
            target: Target::Head {
                sub,
                head: self,
                claim,
                at: path.to_vec(),
            },
            full: Vec::new(),
            origin_len: 0,
        }
    }

    /// A write zipper whose origin is `path`, if no live zipper of this head is at a path
    /// that is a prefix or an extension of `path`. The zipper owns the subtrie at `path`
    /// until it drops.
    pub fn write_zipper_at_exclusive_path(
        &self,
        path: impl AsRef<[u8]>,
    ) -> Result<WriteZipper<'_, V>, PathConflict> {
        let path = path.as_ref();
        let id = self.claim(Kind::Write, path, true)?;
        Ok(self.write_zipper(id, path))
    }

    /// A write zipper at `path` without the exclusivity check.
    ///
    /// # Safety
    ///
    /// * While the returned zipper lives, no other zipper of this head may be live at a
    ///   path that is a prefix or an extension of `path`.
    ///
    /// Breaking this does not make this implementation read freed or out-of-bounds
    /// memory, but the overlapping zippers then work on separate detached copies and the
    /// last to drop overwrites the others' writes: the map's contents are unspecified.
    pub unsafe fn write_zipper_at_exclusive_path_unchecked(
        &self,
        path: impl AsRef<[u8]>,
    ) -> WriteZipper<'_, V> {
        let path = path.as_ref();
        let id = self
            .claim(Kind::Write, path, false)
            .expect("an unchecked claim never conflicts");
        self.write_zipper(id, path)
    }

    /// A read-only snapshot of the subtrie at `path`, if no live write zipper of this
    /// head is at a path that is a prefix or an extension of `path`. Any number of
    /// readers may overlap.
    pub fn read_zipper_at_path(
        &self,
        path: impl AsRef<[u8]>,
    ) -> Result<HeadReader<'_, V>, PathConflict> {
        let path = path.as_ref();
        let id = self.claim(Kind::Read, path, true)?;
        let snapshot = lock(&self.map).subtrie(path);
        Ok(HeadReader {
            snapshot,
            head: self,
            claim: id,
        })
    }

    /// The paths of the live zippers, in the order they were made.
    pub fn live_paths(&self) -> Vec<Vec<u8>> {
        lock(&self.claims)
            .live
            .iter()
            .map(|c| c.path.clone())
            .collect()
    }
}

impl<V: Clone + Send + Sync> Release<V> for ZipperHead<'_, V> {
    fn give_back(&self, claim: u64, at: &[u8], sub: PathMap<V>) {
        lock(&self.map).graft(at, sub);
        self.release(claim);
    }

    fn release(&self, claim: u64) {
        lock(&self.claims).live.retain(|c| c.id != claim);
    }
}

/// A read-only snapshot handed out by [`ZipperHead::read_zipper_at_path`]; its claim on
/// the path ends when it drops.
pub struct HeadReader<'h, V> {
    snapshot: PathMap<V>,
    head: &'h (dyn Release<V> + Sync + 'h),
    claim: u64,
}

impl<V> HeadReader<'_, V> {
    /// The subtrie at the reader's path, as a map.
    pub fn map(&self) -> &PathMap<V> {
        &self.snapshot
    }

    /// A zipper over the snapshot.
    pub fn zipper(&self) -> ReadZipper<'_, V> {
        self.snapshot.read_zipper()
    }
}

impl<V> Drop for HeadReader<'_, V> {
    fn drop(&mut self) {
        self.head.release(self.claim);
    }
}

// === zipper constructors ===

impl<V> PathMap<V> {
    /// A read zipper at the root.
    pub fn read_zipper(&self) -> ReadZipper<'_, V> {
        ReadZipper::new(self.root.as_ref().map(|r| (r, 0)))
    }

    /// A read zipper whose origin is `path` (it cannot ascend above it).
    pub fn read_zipper_at_path(&self, path: impl AsRef<[u8]>) -> ReadZipper<'_, V> {
        ReadZipper::new(self.root.as_ref().and_then(|r| r.descend(path.as_ref())))
    }
}

impl<V: Clone> PathMap<V> {
    /// A write zipper at the root.
    pub fn write_zipper(&mut self) -> WriteZipper<'_, V> {
        self.write_zipper_at_path([])
    }

    /// A write zipper whose origin is `path`.
    pub fn write_zipper_at_path(&mut self, path: impl AsRef<[u8]>) -> WriteZipper<'_, V> {
        let full = path.as_ref().to_vec();
        WriteZipper {
            origin_len: full.len(),
            full,
            target: Target::Map(self),
        }
    }
}

impl<V: Clone + Send + Sync> PathMap<V> {
    /// A [`ZipperHead`] over this map.
    pub fn zipper_head(&mut self) -> ZipperHead<'_, V> {
        ZipperHead::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PathMap<u32> {
        [
            (&b"abc"[..], 1),
            (b"abd", 2),
            (b"ab", 3),
            (b"x", 4),
            (b"abcdefghijklmnopqrstuvwxyz", 5),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn read_zipper_moves_inside_prefixes() {
        let m = sample();
        let mut z = m.read_zipper();
        assert_eq!(z.child_bytes(), b"ax");
        z.descend_to(b"a");
        assert!(z.path_exists());
        assert_eq!(z.val(), None);
        assert_eq!(z.child_bytes(), b"b");
        z.descend_to_byte(b'b');
        assert_eq!(z.val(), Some(&3));
        z.descend_to(b"cdefg");
        assert!(z.path_exists());
        assert_eq!(z.child_bytes(), b"h");
        z.descend_to(b"zz");
        assert!(!z.path_exists());
        assert_eq!(z.child_count(), 0);
        assert!(z.ascend(2));
        assert!(z.path_exists());
        z.move_to_path(b"abd");
        assert_eq!(z.val(), Some(&2));
        let w = z.witness().unwrap();
        assert!(!z.ascend(10));
        assert_eq!(z.path(), b"");
        assert_eq!(*w.value(), 2);
        let keys: Vec<Vec<u8>> = {
            let mut z = m.read_zipper_at_path(b"ab");
            let mut out = vec![z.path().to_vec()];
            while z.to_next_val() {
                out.push(z.path().to_vec());
            }
            out
        };
        assert_eq!(keys, [&b""[..], b"c", b"cdefghijklmnopqrstuvwxyz", b"d"]);
    }

    #[test]
    fn empty_map_zipper() {
        let m: PathMap<u32> = PathMap::new();
        let mut z = m.read_zipper();
        assert!(!z.path_exists());
        z.descend_to(b"q");
        assert_eq!(z.val(), None);
        assert!(!z.to_next_val());
        assert_eq!(z.iter().count(), 0);
    }

    #[test]
    fn head_refuses_overlaps_and_names_them() {
        let mut m = sample();
        let head = m.zipper_head();
        let a = head.write_zipper_at_exclusive_path(b"ab").unwrap();
        let e = head.write_zipper_at_exclusive_path(b"abc").err().unwrap();
        assert_eq!(e.conflicting, vec![b"ab".to_vec()]);
        let e = head.write_zipper_at_exclusive_path(b"a").err().unwrap();
        assert_eq!(e.requested, b"a".to_vec());
        assert!(head.read_zipper_at_path(b"abd").is_err());
        let r = head.read_zipper_at_path(b"x").unwrap();
        let r2 = head.read_zipper_at_path(b"").err().unwrap();
        assert_eq!(r2.conflicting, vec![b"ab".to_vec()]);
        assert!(head.write_zipper_at_exclusive_path(b"x").is_err());
        assert_eq!(r.map().get(b""), Some(&4));
        drop(a);
        let b = head.write_zipper_at_exclusive_path(b"abc").unwrap();
        drop(b);
        drop(r);
        assert!(head.live_paths().is_empty());
        drop(head);
        assert_eq!(m, sample());
    }
}
