//! Regression tests: one module per bug class found in ebb-slab, each a test that fails
//! when its fix is removed. The module names say what they guard.

mod config_bounds;
mod initial_generation_errors;
mod leaked_guards;
mod max_slabs_served_exactly;
mod refused_free_keeps_no_state;
mod typed_slab_drop_panics;

use ebb_slab::{HandleParts, RawHandle};

/// `h` with its parts changed by `f`.
pub fn forge(h: RawHandle, f: impl FnOnce(&mut HandleParts)) -> RawHandle {
    let mut p = h.parts().unwrap();
    f(&mut p);
    RawHandle::new(p)
}
