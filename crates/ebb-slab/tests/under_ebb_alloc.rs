//! ebb-slab's integration tests again, with `EbbAlloc` as the test binary's global
//! allocator: the handle layer's chunks, registries and magazines (which come from the
//! global heap) then live on the page heap.

use ebb_slab::EbbAlloc;

#[global_allocator]
static GLOBAL: EbbAlloc = EbbAlloc::new();

#[path = "all/stress.rs"]
mod stress;
