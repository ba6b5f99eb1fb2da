//! An epoch-partitioned slab allocator with generation-checked 64-bit handles and
//! explicit RSS reclamation: the ZNS-Slab design, in Rust.
//!
//! # Model
//!
//! Objects come in fixed [size classes](SlabConfig::size_classes) and live in
//! page-aligned *slabs* (4 KiB by default) carved from `mmap`'d chunks that are never
//! unmapped while the allocator lives. Allocations are grouped by *epoch* (a request, a
//! frame, a batch): [`SlabAlloc::epoch_close`] refuses further allocations into an epoch
//! and recycles its empty slabs, returning their pages to the OS under
//! [`ReclaimPolicy::RssFirst`]; [`SlabAlloc::epoch_release`] closes an epoch and frees
//! its live objects with it, in one pass over its slabs' metadata. Objects are named by a [`RawHandle`]
//! (`slab_id:22 | generation:24 | slot:8 | class:8 | version:2`) or, for Rust values, by
//! an owning [`Handle<T>`] of a [`TypedSlab<T>`].
//!
//! ```
//! use ebb_slab::{Error, SlabAlloc};
//!
//! let slab = SlabAlloc::new();
//! let epoch = slab.epoch_advance()?;
//! let h = slab.alloc_in(epoch, 100)?;          // served by the 128-byte class
//! let p = slab.get_ptr(h)?;                    // validated address
//! // SAFETY: `h` is live and ours; the object has 128 bytes.
//! unsafe { p.as_ptr().write_bytes(7, 128) };
//! slab.free(h)?;
//! assert_eq!(slab.free(h), Err(Error::DoubleFree));
//! assert_eq!(slab.validate(h), Err(Error::Stale));
//! slab.epoch_close(epoch)?;
//! # Ok::<(), Error>(())
//! ```
//!
//! # Why no handle ever resolves to another object
//!
//! Every slot has its own 24-bit generation, kept off-page (so `MADV_DONTNEED` cannot
//! reset it). A handle carries the generation its slot had when the object was allocated;
//! `free` moves the slot word from `generation | LIVE` to `generation + 1` in an election
//! (a CAS, or the biased protocol of a [`Local`]'s own slots), so of concurrent frees
//! exactly one wins and every later use of the handle sees a newer generation. The seed's per-slab generation alone would let a handle to a freed slot
//! resolve to the next object allocated in that slot while the slab stays in use.
//! Generations only grow; a slot whose generation would wrap past 2^24 - 1 is retired
//! for good instead, so an old handle can never become valid again. Thus the triple
//! (slab, slot, generation) is issued at most once in the allocator's life, and a handle
//! resolves only while its own object is live. A slab serves one size class for its whole
//! life (recycled slabs return to their class's cache), and the handle's class is checked
//! against it, so a handle forged with the right triple and a wrong class is refused too.
//!
//! # What the types forbid
//!
//! A [`Local`] is one thread's cache: it may move to another thread, but not be shared
//! (`!Sync`); it borrows its allocator, and a domain scope borrows its domain, so neither
//! outlives what it borrows. Each is a compile error, checked here:
//!
//! ```compile_fail
//! fn sync<T: Sync>(_: &T) {}
//! let slab = ebb_slab::SlabAlloc::new();
//! sync(&slab.local());
//! ```
//! ```compile_fail,E0597
//! let local = {
//!     let slab = ebb_slab::SlabAlloc::new();
//!     slab.local()
//! }; // error[E0597]: `slab` does not live long enough
//! drop(local);
//! ```
//! ```compile_fail,E0499
//! let slab = ebb_slab::SlabAlloc::new();
//! let e = slab.epoch_advance().unwrap();
//! let mut domain = ebb_slab::ReusableDomain::wrap(&slab, e);
//! let a = domain.enter();
//! let b = domain.enter(); // error[E0499]: one scope at a time
//! drop((a, b));
//! ```
//! ```compile_fail,E0502
//! let mut slab = ebb_slab::SlabAlloc::new();
//! let e = slab.epoch_advance().unwrap();
//! let mut local = slab.local();
//! let h = local.alloc_in(e, 64).unwrap();
//! slab.epoch_release(e).unwrap(); // error[E0502]: the `Local` still borrows `slab`
//! local.free(h).unwrap();
//! ```
//!
//! Leaking a [`Local`], an [`EpochDomain`] or a [`DomainScope`] with `mem::forget` is
//! safe: what it costs is memory left unrecycled (the `Local`'s claimed slots, the
//! domain's open epoch), never a dangling object.
//!
//! # Crate layout
//!
//! - [`handle`]: bit layout ([`HandleLayout`], [`DefaultLayout`]) and [`RawHandle`].
//! - [`SlabAlloc`]: epochs, the shared fast path, the slow path, free and validation.
//! - [`Local`]: per-thread magazines, the fast path without a locked instruction.
//! - [`EpochDomain`], [`ReusableDomain`]: RAII epoch scopes.
//! - [`TypedSlab`], [`Handle`]: the typed layer.
//! - [`PerfCounters`]: per-class counters; [`rss_bytes`]: the process's RSS.
//! - [`heap`]: the page heap addressed by pointer and [`EbbAlloc`], a `GlobalAlloc`.
//!
//! `docs/slab.md` in the repository has the full design note and the measurements.

mod alloc;
mod bias;
mod config;
mod counters;
mod domain;
mod epoch;
mod error;
pub mod handle;
pub mod heap;
mod local;
mod slab;
mod sync;
mod typed;

/// The crate README, compiled as a doctest so that its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(all(test, ebb_loom))]
mod loom_tests;
#[cfg(all(test, not(ebb_loom)))]
mod tests;

pub use alloc::SlabAlloc;
pub use config::{
    DEFAULT_SIZE_CLASSES, DEFAULT_SIZE_CLASSES_USIZE, MAX_EPOCH_CLASSES, MAX_EPOCHS, ReclaimPolicy,
    SlabConfig,
};
pub use counters::PerfCounters;
pub use domain::{DomainScope, EpochDomain, ReusableDomain};
pub use epoch::EpochId;
pub use error::{Error, Result};
pub use handle::{DefaultLayout, HandleLayout, HandleParts, MAX_GENERATION, RawHandle};
pub use heap::{ClassStats, EbbAlloc, HeapStats};
pub use local::Local;
pub use typed::{Handle, TypedSlab};

/// The process's resident set size in bytes, read from `/proc/self/statm` (Linux); `None`
/// where that file is missing or unreadable.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    #[cfg(not(miri))]
    {
        // SAFETY: sysconf reads a system constant and has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 {
            return p as u64;
        }
    }
    4096
}
