//! ebb: memory management for concurrent Rust.
//!
//! This facade re-exports ebb's crates, each behind a cargo feature of the same name:
//!
//! | feature | crate | what it is |
//! | --- | --- | --- |
//! | `smr` | [`ebb_smr`] as [`smr`] | safe memory reclamation: QSBR, EBR, hazard pointers |
//! | `slab` | [`ebb_slab`] as [`slab`] | epoch-partitioned slab allocator with checked handles |
//! | `sync` (not default) | `ebb_sync` as `sync` | lock-free collections: stack, queues, work-stealing deque and executor, RCU cell, map, intern tables |
#![no_std]

#[cfg(feature = "smr")]
#[doc(inline)]
pub use ebb_smr as smr;

#[cfg(feature = "slab")]
#[doc(inline)]
pub use ebb_slab as slab;

#[cfg(feature = "sync")]
#[doc(inline)]
pub use ebb_sync as sync;
