//! Integration tests of ebb-slab, one binary (modules below).

mod stress;
