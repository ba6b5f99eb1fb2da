//! Integration tests of ebb-smr: one binary, one module per theme.

mod stalled;
mod stress;
