//! Safe code may leak any guard (`mem::forget`). A leaked epoch domain, domain scope or
//! `Local` must leave the allocator safe and usable; what it costs is what stays
//! unrecycled.

use ebb_slab::{Error, ReusableDomain, SlabAlloc, SlabConfig};

fn alloc() -> SlabAlloc {
    SlabAlloc::with_config(SlabConfig {
        max_slabs: 64,
        epochs: 4,
        ..SlabConfig::default()
    })
    .unwrap()
}

/// A leaked `EpochDomain` leaves its epoch open; it can still be closed by hand.
#[test]
fn leaked_epoch_domain_leaves_its_epoch_open() {
    let a = alloc();
    let d = a.domain().unwrap();
    let e = d.epoch();
    let h = d.alloc(64).unwrap();
    std::mem::forget(d);
    assert!(a.epoch_is_open(e));
    a.free(h).unwrap();
    assert_eq!(a.epoch_close(e), Ok(1));
}

/// A leaked `DomainScope` skips one trim; a leaked `ReusableDomain` leaves its epoch open.
#[test]
fn leaked_reusable_domain_and_scope() {
    let a = alloc();
    let e = a.epoch_advance().unwrap();
    let mut d = ReusableDomain::wrap(&a, e);
    let s = d.enter();
    let h = s.alloc(64).unwrap();
    std::mem::forget(s);
    a.free(h).unwrap();
    {
        let s = d.enter();
        let h = s.alloc(64).unwrap();
        a.free(h).unwrap();
    }
    std::mem::forget(d);
    assert!(a.epoch_is_open(e));
    assert!(a.epoch_close(e).is_ok());
}

/// A leaked `Local` keeps its magazine's slots claimed and its owner tag held; objects it
/// allocated can still be freed by anyone, once each, and other `Local`s work.
#[test]
fn leaked_local_leaves_its_objects_freeable() {
    let a = alloc();
    let mut l = a.local();
    let hs: Vec<_> = (0..100).map(|_| l.alloc(64).unwrap()).collect();
    // Leaked as far as the allocator can tell: never dropped until the end of the test (so
    // that LeakSanitizer runs stay clean), and never used again.
    let mut l = std::mem::ManuallyDrop::new(l);
    let mut other = a.local();
    for &h in &hs {
        assert_eq!(other.free(h), Ok(()));
        assert_eq!(a.free(h), Err(Error::DoubleFree));
    }
    let h = other.alloc(64).unwrap();
    other.free(h).unwrap();
    // SAFETY: dropped once, and not used afterwards.
    unsafe { std::mem::ManuallyDrop::drop(&mut l) };
}
