//! A free that a `Local` refuses changes no state. Were the owner's announcement of a
//! biased free to survive a refused free, then once the `Local` issued exactly the refused
//! handle, every free of that live object from another thread would step aside
//! (`DoubleFree`) and leave the slot unfreeable.

use crate::forge;
use ebb_slab::{Error, RawHandle, SlabAlloc, SlabConfig};

fn config() -> SlabConfig {
    SlabConfig {
        max_slabs: 64,
        epochs: 4,
        ..SlabConfig::default()
    }
}

/// Frees `h` from another thread, through the shared path and through another `Local`.
fn remote_free(a: &SlabAlloc, h: RawHandle, via_local: bool) -> Result<(), Error> {
    std::thread::scope(|s| {
        s.spawn(|| {
            if via_local {
                a.local().free(h)
            } else {
                a.free(h)
            }
        })
        .join()
        .unwrap()
    })
}

/// The live object behind a handle the `Local` once refused can be freed by anyone.
fn refused_then_reissued(refused: impl Fn(&SlabAlloc, RawHandle) -> RawHandle, via_local: bool) {
    let a = SlabAlloc::with_config(config()).unwrap();
    let e = a.epoch_advance().unwrap();
    let mut l = a.local();
    // Warm the magazine so that its allocations are biased where the process biases.
    let warm: Vec<_> = (0..4).map(|_| l.alloc_in(e, 64).unwrap()).collect();
    let h = l.alloc_in(e, 64).unwrap();
    l.free(h).unwrap();
    let ahead = refused(&a, h);
    assert_eq!(l.free(ahead), Err(Error::ForgedGeneration));
    // The magazine hands the slot out again under exactly that handle.
    let h2 = l.alloc_in(e, 64).unwrap();
    assert_eq!(h2, ahead);
    assert_eq!(remote_free(&a, h2, via_local), Ok(()));
    assert_eq!(a.validate(h2), Err(Error::Stale));
    assert_eq!(l.free(h2), Err(Error::DoubleFree));
    for w in warm {
        assert_eq!(remote_free(&a, w, !via_local), Ok(()));
    }
    // Everything was freed, so closing the epoch recycles its slab.
    drop(l);
    assert_eq!(a.epoch_close(e), Ok(1));
}

#[test]
fn forged_generation_then_reissue_shared_free() {
    refused_then_reissued(|_, h| forge(h, |p| p.generation += 1), false);
}

#[test]
fn forged_generation_then_reissue_other_local() {
    refused_then_reissued(|_, h| forge(h, |p| p.generation += 1), true);
}

/// The same with the refused handle taken from another allocator, which issued the same
/// bits.
#[test]
fn foreign_handle_then_reissue() {
    refused_then_reissued(
        |_, _| {
            let b = SlabAlloc::with_config(config()).unwrap();
            let e = b.epoch_advance().unwrap();
            let mut bl = b.local();
            let _warm: Vec<_> = (0..4).map(|_| bl.alloc_in(e, 64).unwrap()).collect();
            let hb = bl.alloc_in(e, 64).unwrap();
            bl.free(hb).unwrap();
            bl.alloc_in(e, 64).unwrap()
        },
        false,
    );
}

/// Every other refusal through a `Local` leaves the object freeable too: a stale handle,
/// a double free, a wrong class and a slot out of range, each followed by a remote free.
#[test]
fn every_refused_local_free_leaves_the_object_freeable() {
    let a = SlabAlloc::with_config(config()).unwrap();
    let mut l = a.local();
    let _warm: Vec<_> = (0..4).map(|_| l.alloc(64).unwrap()).collect();
    for round in 0..8 {
        let h = l.alloc(64).unwrap();
        let bad = match round % 4 {
            0 => forge(h, |p| p.class = 1),
            1 => forge(h, |p| p.slot = 250),
            2 => forge(h, |p| p.generation += 5),
            _ => forge(h, |p| p.slab = 63),
        };
        assert!(l.free(bad).is_err(), "round {round}");
        assert_eq!(remote_free(&a, h, round % 2 == 0), Ok(()), "round {round}");
    }
}
