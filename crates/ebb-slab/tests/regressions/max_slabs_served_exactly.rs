//! An allocator creates exactly `max_slabs` slabs, whatever `max_slabs` is; with a value
//! that is not a power of two too, not only up to the power of two below.

use ebb_slab::{Error, SlabAlloc, SlabConfig};

fn serves(max_slabs: u32, classes: Vec<u32>) {
    let a = SlabAlloc::with_config(SlabConfig {
        max_slabs,
        size_classes: classes,
        ..SlabConfig::default()
    })
    .unwrap();
    let mut l = a.local();
    let mut n = 0usize;
    let err = loop {
        match l.alloc(768) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err, Error::OutOfSlabs);
    assert_eq!(a.slabs_created(), max_slabs, "max_slabs {max_slabs}");
    let per_slab = a.config().capacity_of(768);
    assert_eq!(n, max_slabs as usize * per_slab, "max_slabs {max_slabs}");
}

#[test]
fn one_class_gets_every_slab() {
    for m in [1, 2, 3, 767, 1000, 1024] {
        serves(m, vec![768]);
    }
}

#[test]
fn the_last_class_of_eight_gets_every_slab() {
    for m in [3, 767, 1000] {
        serves(m, ebb_slab::DEFAULT_SIZE_CLASSES.to_vec());
    }
}
