//! Integration tests of ebb-region: property tests of transmigration and the ten-million
//! cell list.

mod graphs;
mod long_list;
