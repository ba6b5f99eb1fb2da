//! Region arenas for language runtimes: bump allocation in pooled blocks, checked region
//! pointers, four tethering strategies, and bitmap-driven transmigration.
//!
//! A [`Region`] allocates objects of [`Trace`] types in a chain of fixed-size blocks
//! (64 KiB by default) taken from a [`BlockPool`] of recycled, pre-faultable blocks. It is
//! owned by one thread at a time (`Send`, not `Sync`) and shared with readers through
//! [`RegionHandle`]s (`Send + Sync`); it is freed when its last handle and last tether are
//! gone. Objects point to each other with [`RPtr`]/[`RSlice`], which carry their region's
//! id: every read is checked, so a pointer of another or a freed region is an error
//! ([`RegionError::Foreign`]), never a dangling read.
//!
//! ```
//! use ebb_region::{RPtr, Region, Trace, transmigrate};
//!
//! #[derive(Clone, Copy, Trace)]
//! struct Cons {
//!     car: i64,
//!     cdr: Option<RPtr<Cons>>,
//! }
//!
//! let callee = Region::new();
//! let mut list = None;
//! for i in (0..3).rev() {
//!     list = Some(callee.alloc(Cons { car: i, cdr: list }));
//! }
//! let caller = Region::new();
//! let copy = transmigrate(&callee, list.unwrap(), &caller).unwrap();
//! drop(callee); // the copy lives in `caller`
//! let (mut sum, mut p) = (0, Some(copy));
//! while let Some(c) = p {
//!     let cell = caller.get(c).unwrap();
//!     sum += cell.car;
//!     p = cell.cdr;
//! }
//! assert_eq!(sum, 3);
//! ```
//!
//! * Tethers: [`Tether`] (one atomic counter), [`LocalTether`] (thread-local caches
//!   flushed at [`quiescent`] points), [`HpTether`] and [`EpochTether`] (ebb-smr hazard
//!   pointers and epochs; see [`smr`]).
//! * Moving graphs between regions: [`transmigrate`] (worklist, tail loop, bitmap),
//!   [`adopt`] (O(1)), [`splice`], [`Evacuation`] (incremental, with a forwarding proxy),
//!   [`evacuate`] (adaptive), and [`transmigrate_naive`] (the baseline).
//!
//! Values that need `Drop` cannot be allocated (a compile-time error): regions free their
//! memory without running destructors. The design note is `docs/region.md`.

// Lets `#[derive(Trace)]`'s `::ebb_region` paths resolve inside this crate's own tests.
extern crate self as ebb_region;

mod block;
mod region;
pub mod smr;
mod sync;
mod tether;
mod trace;
mod transmigrate;

#[cfg(all(test, ebb_loom))]
mod loom_tests;
#[cfg(all(test, not(ebb_loom)))]
mod tests;

pub use block::{BlockPool, BlockSizeError, DEFAULT_BLOCK_SIZE, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE};
pub use ebb_region_derive::Trace;
pub use region::{
    RPtr, RSlice, RStr, Region, RegionConfig, RegionCounter, RegionError, RegionHandle,
};
pub use smr::{EpochTether, HpTether, RegionSlot};
#[cfg(not(ebb_loom))]
pub use tether::quiescent;
pub use tether::{LocalTether, Tether};
pub use trace::{Trace, Tracer};
pub use transmigrate::{
    Evacuated, Evacuation, Thresholds, adopt, evacuate, splice, transmigrate, transmigrate_counted,
    transmigrate_keeping, transmigrate_naive,
};
