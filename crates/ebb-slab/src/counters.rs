//! Per-class performance counters.
//!
//! Each class has one cache-padded block of relaxed atomic counters: they are statistics,
//! read with no ordering promise relative to the allocator's other state, so `Relaxed`
//! is enough and the padding keeps classes from sharing a line. The hot paths count in
//! batches ([`Local`](crate::Local) adds its fast-path hits when it refills or flushes),
//! so a counter never adds a locked instruction per allocation.

use crate::sync::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        #[derive(Default)]
        pub(crate) struct ClassCounters {
            $(pub(crate) $name: AtomicU64,)*
        }

        /// A snapshot of one class's counters.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct PerfCounters {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl ClassCounters {
            pub(crate) fn snapshot(&self) -> PerfCounters {
                PerfCounters { $($name: self.$name.load(Relaxed),)* }
            }
        }
    };
}

counters! {
    /// Allocations that entered the mutex-protected slow path.
    slow_path_hits,
    /// Slabs newly assigned to an (epoch, class): fresh ones and ones taken from the cache.
    new_slab_count,
    /// A full `current_partial` slab detached from its epoch's lists.
    list_move_partial_to_full,
    /// A free into a detached full slab put it back on the partial list.
    list_move_full_to_partial,
    /// The fast path found no `current_partial` slab.
    current_partial_null,
    /// The fast path found `current_partial` full.
    current_partial_full,
    /// Empty slabs recycled into the class cache.
    empty_slab_recycled,
    /// Empty slabs recycled onto the overflow list (cache at capacity).
    empty_slab_overflowed,
    /// Allocations served without a lock (shared bitmap CAS or a `Local` magazine).
    fast_path_allocs,
    /// Slots retired because their generation would have wrapped.
    retired_slots,
    /// Frees of a slot biased to another thread's `Local` (each costs a `membarrier`; see
    /// the crate's `bias` module docs in `docs/slab.md`).
    bias_revocations,
}

impl ClassCounters {
    #[inline]
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }
}
