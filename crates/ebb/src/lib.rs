//! ebb: memory management for concurrent Rust.
//!
//! This facade re-exports ebb's crates, each behind a cargo feature of the same name:
//!
//! | feature | crate | what it is |
//! | --- | --- | --- |
//! | `smr` | [`ebb_smr`] as [`smr`] | safe memory reclamation: QSBR, EBR, hazard pointers |
//! | `slab` | [`ebb_slab`] as [`slab`] | epoch-partitioned slab allocator with checked handles |
//! | `sync` | `ebb_sync` as `sync` | lock-free collections: stack, queues, work-stealing deque and executor, RCU cell, maps (boxed entries; word-sized keys and values in place), intern tables |
//! | `trie` | `ebb_trie` as `trie` | Arc trie with zippers, trie algebra, file form, interner |
//! | `region` | [`ebb_region`] as [`region`], and [`lisp`] | region arenas, tethering, transmigration; a small Lisp on regions |
#![no_std]

#[cfg(feature = "smr")]
#[doc(inline)]
pub use ebb_smr as smr;

#[cfg(feature = "slab")]
#[doc(inline)]
pub use ebb_slab as slab;

#[cfg(feature = "region")]
#[doc(inline)]
pub use ebb_region as region;
#[cfg(feature = "sync")]
#[doc(inline)]
pub use ebb_sync as sync;
#[cfg(feature = "trie")]
#[doc(inline)]
pub use ebb_trie as trie;

#[cfg(feature = "region")]
pub mod lisp;

/// ebb-slab's page heap as a global allocator: `#[global_allocator] static A: ebb::EbbAlloc
/// = ebb::EbbAlloc::new();`.
#[cfg(feature = "slab")]
pub use ebb_slab::EbbAlloc;
