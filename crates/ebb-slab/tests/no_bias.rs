//! The unbiased election, forced for the whole process with `EBB_SLAB_NO_BIAS=1` before
//! any allocator exists: its own test binary (`harness = false`, so `main` runs before
//! any other thread), since the choice is made once per process. Every free then elects
//! its winner with the CAS; concurrent double frees still have exactly one winner.

use ebb_slab::{Error, SlabAlloc, SlabConfig};
use std::sync::atomic::{AtomicUsize, Ordering};

fn main() {
    // SAFETY: set before any other thread of this process exists and before any allocator
    // decides whether to bias.
    unsafe { std::env::set_var("EBB_SLAB_NO_BIAS", "1") };
    let a = SlabAlloc::new();
    assert!(!a.biased_frees());
    // Asking for biasing in the configuration does not override the process's choice.
    let b = SlabAlloc::with_config(SlabConfig {
        biased_frees: true,
        ..SlabConfig::default()
    })
    .unwrap();
    assert!(!b.biased_frees());

    let mut l = a.local();
    for round in 0..200 {
        let h = l.alloc(64).unwrap();
        let wins = AtomicUsize::new(0);
        let go = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                go.wait();
                match a.local().free(h) {
                    Ok(()) => _ = wins.fetch_add(1, Ordering::Relaxed),
                    Err(e) => assert_eq!(e, Error::DoubleFree, "round {round}"),
                }
            });
            go.wait();
            match l.free(h) {
                Ok(()) => _ = wins.fetch_add(1, Ordering::Relaxed),
                Err(e) => assert_eq!(e, Error::DoubleFree, "round {round}"),
            }
        });
        assert_eq!(wins.load(Ordering::Relaxed), 1, "round {round}");
        assert_eq!(a.validate(h), Err(Error::Stale));
    }
    assert_eq!(a.counters(0).unwrap().bias_revocations, 0);
    println!("EBB_SLAB_NO_BIAS=1: 200 racing double frees, one winner each, no revocation");
}
