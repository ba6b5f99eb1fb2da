//! The `slab` suite (being built; see the crate's issue).

use crate::{Config, Sink};

/// Runs the suite.
pub fn run(_cfg: &Config, _sink: &mut Sink) -> Result<(), String> {
    Err("the slab suite is not built yet".into())
}
