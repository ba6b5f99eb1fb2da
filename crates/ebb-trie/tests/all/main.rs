//! Integration tests of ebb-trie, one module per part, with `BTreeMap<Vec<u8>, V>` as the
//! model wherever there is one.

mod algebra;
mod file;
mod model;
mod snapshot;
mod zipper;
