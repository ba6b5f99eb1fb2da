//! Generations below `initial_generation` were never issued, so a handle carrying one is
//! forged, not stale.

use crate::forge;
use ebb_slab::{Error, SlabAlloc, SlabConfig};

#[test]
fn generations_below_the_first_are_forged() {
    let a = SlabAlloc::with_config(SlabConfig {
        initial_generation: 1000,
        max_slabs: 16,
        ..SlabConfig::default()
    })
    .unwrap();
    let h = a.alloc(64).unwrap();
    assert_eq!(h.parts().unwrap().generation, 1000);
    let low = forge(h, |p| p.generation = 5);
    let ahead = forge(h, |p| p.generation = 1001);
    assert_eq!(a.validate(low), Err(Error::ForgedGeneration));
    assert_eq!(a.free(low), Err(Error::ForgedGeneration));
    assert_eq!(a.validate(ahead), Err(Error::ForgedGeneration));
    a.free(h).unwrap();
    // Now 1000 was issued and freed: stale and a double free; 5 is still forged.
    assert_eq!(a.validate(h), Err(Error::Stale));
    assert_eq!(a.free(h), Err(Error::DoubleFree));
    assert_eq!(a.free(low), Err(Error::ForgedGeneration));
    assert_eq!(a.validate(ahead), Err(Error::ForgedGeneration));
}
