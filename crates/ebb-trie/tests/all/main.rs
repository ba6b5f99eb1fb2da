//! Integration tests of ebb-trie, one module per part, with `BTreeMap<Vec<u8>, V>` as the
//! model wherever there is one.

mod algebra;
mod model;
mod zipper;
