//! Regression tests: one module per bug class found in ebb-smr, each a test that fails
//! when its fix is removed. The module names say what they guard.

mod hp_stats_count_threads;
mod leaked_guards;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A box that counts its drops, for checking when a scheme frees.
pub struct Counted(pub Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A fresh counted box, as a raw pointer ready to publish.
pub fn counted(drops: &Arc<AtomicUsize>) -> *mut Counted {
    Box::into_raw(Box::new(Counted(drops.clone())))
}
