//! A byte-keyed trie whose nodes are shared through [`Arc`](std::sync::Arc), with
//! copy-on-write updates, zippers, whole-trie algebra, a read-only memory-mapped file form
//! and a bucketed symbol interner.
//!
//! * [`PathMap`]: the map. Path-compressed; two child-table kinds (a small sorted table of
//!   up to four children, a 256-bit bitmap with a rank-indexed array above that); O(1)
//!   `clone`, after which a write copies only the nodes on its path.
//! * [`zipper`]: cursors over a trie ([`ReadZipper`], [`WriteZipper`]) and the
//!   [`ZipperHead`], which hands out write zippers at disjoint paths to many threads.
//! * [`Lattice`] and [`PathMap::join`], [`PathMap::meet`], [`PathMap::subtract`],
//!   [`PathMap::restrict`]: set algebra on whole tries that reuses shared subtries.
//!
//! The design note is `docs/trie.md` in the repository.
#![warn(missing_docs)]

mod algebra;
pub mod file;
pub mod intern;
mod map;
mod node;
pub mod zipper;

pub use algebra::Lattice;
pub use map::{Iter, PathMap, PrefixView, Values};
pub use zipper::{PathConflict, ReadZipper, WriteZipper, ZipperHead};
