//! The one place that chooses between loom's model-checked primitives and std's.
//!
//! The region control block's counters, the member list and the tether caches import
//! their atomics from here. Under `--cfg ebb_loom` they are loom's, so the models in
//! `loom_tests` explore every interleaving; otherwise they are std's and cost nothing.

#[cfg(ebb_loom)]
pub(crate) use loom::sync::atomic;

#[cfg(not(ebb_loom))]
pub(crate) use std::sync::atomic;
