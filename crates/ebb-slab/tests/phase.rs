//! `EbbAlloc::phase` with `EbbAlloc` as this binary's global allocator: memory allocated
//! and freed in a phase is returned when it ends; objects outliving it stay valid and are
//! freed later, on this thread and on another; nested phases; phases on several threads;
//! a panicking phase. The parts share the heap's global counters, so they run one after
//! the other in one test (no other test thread allocates meanwhile).

use ebb_slab::EbbAlloc;

#[global_allocator]
static GLOBAL: EbbAlloc = EbbAlloc::new();

fn committed() -> usize {
    EbbAlloc::stats().committed_bytes
}

const MIB: usize = 1 << 20;

/// Allocates about `bytes` in objects of 24..=2000 bytes, each filled with its index.
fn scratch(bytes: usize) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mut total = 0;
    let mut i = 0usize;
    while total < bytes {
        let n = 24 + (i * 7919) % 1977;
        v.push(vec![i as u8; n]);
        total += n;
        i += 1;
    }
    v
}

fn memory_freed_in_a_phase_is_returned() {
    EbbAlloc::collect();
    let before = committed();
    let rss_before = ebb_slab::rss_bytes();
    let peak_in_phase = EbbAlloc::phase(|| {
        let v = scratch(32 * MIB);
        assert!(v.iter().enumerate().all(|(i, x)| x[0] == i as u8));
        let peak = committed();
        drop(v);
        peak
    });
    assert!(
        peak_in_phase >= before + 32 * MIB,
        "{peak_in_phase} {before}"
    );
    let after = committed();
    // Everything the phase held is back; what remains is this thread's own heap's noise.
    assert!(
        after < before + 2 * MIB,
        "before {before} in phase {peak_in_phase} after {after}"
    );
    // (Not under a sanitizer, whose shadow memory for the phase's pages stays resident.)
    if let (Some(a), Some(b), false) = (rss_before, ebb_slab::rss_bytes(), cfg!(ebb_sanitize)) {
        assert!(b < a + 8 * MIB as u64, "rss before {a} after {b}");
    }
    assert_eq!(EbbAlloc::stats().phases, 0);
}

fn without_a_phase_the_pages_wait() {
    // The contrast: the same work outside a phase leaves empty pages with the thread's heap
    // (up to eight per heap, and its current pages), until its slow paths or `collect`
    // return them.
    EbbAlloc::collect();
    let before = committed();
    drop(scratch(32 * MIB));
    let after = committed();
    EbbAlloc::collect();
    let collected = committed();
    assert!(after > collected, "after {after} collected {collected}");
    assert!(collected < before + 2 * MIB);
}

fn survivors_stay_valid_and_are_returned_once_freed() {
    EbbAlloc::collect();
    let before = committed();
    let (kept_here, kept_there) = EbbAlloc::phase(|| {
        let mut v = scratch(16 * MIB);
        // One object in 50 survives: their pages cannot go back yet.
        let mut here = Vec::new();
        let mut there = Vec::new();
        for (i, x) in v.drain(..).enumerate() {
            match i % 100 {
                0 => here.push((i, x)),
                50 => there.push((i, x)),
                _ => {}
            }
        }
        (here, there)
    });
    let held = committed();
    assert!(
        held > before + MIB,
        "survivors' pages stay: {held} {before}"
    );
    for (i, x) in kept_here.iter().chain(kept_there.iter()) {
        assert!(x.iter().all(|&b| b == *i as u8));
    }
    // Half freed on another thread, half here.
    std::thread::spawn(move || {
        for (i, x) in kept_there {
            assert_eq!(x[x.len() - 1], i as u8);
            drop(x);
        }
    })
    .join()
    .unwrap();
    drop(kept_here);
    EbbAlloc::collect();
    let after = committed();
    assert!(
        after < before + 2 * MIB,
        "before {before} held {held} after {after}"
    );
}

fn nested_phases() {
    EbbAlloc::collect();
    let before = committed();
    let outer_obj = vec![1u8; 300];
    let (a, b) = EbbAlloc::phase(|| {
        assert_eq!(EbbAlloc::stats().phases, 1);
        let a = vec![2u8; 500];
        let b = EbbAlloc::phase(|| {
            assert_eq!(EbbAlloc::stats().phases, 2);
            let junk = scratch(8 * MIB);
            // An object from before the phases, freed inside the inner one.
            drop(outer_obj);
            let b = vec![3u8; 700];
            drop(junk);
            b
        });
        assert_eq!(EbbAlloc::stats().phases, 1);
        let more = scratch(8 * MIB);
        drop(more);
        (a, b)
    });
    assert_eq!(EbbAlloc::stats().phases, 0);
    assert!(a.iter().all(|&x| x == 2) && b.iter().all(|&x| x == 3));
    drop((a, b));
    EbbAlloc::collect();
    assert!(committed() < before + 2 * MIB);
}

fn phases_on_several_threads() {
    let rounds = 20;
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let hs: Vec<_> = (0..4)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for r in 0..rounds {
                    let kept = EbbAlloc::phase(|| {
                        let v = scratch(MIB);
                        let mut kept = v[r % v.len()].clone();
                        kept[0] = (t * rounds + r) as u8;
                        kept
                    });
                    // The survivor goes to the main thread, which frees it.
                    tx.send(kept).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut seen = 0;
    for v in rx {
        assert!(v.len() >= 24);
        seen += 1;
    }
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(seen, 4 * rounds);
    assert_eq!(EbbAlloc::stats().phases, 0);
}

fn a_panicking_phase_ends() {
    let r = std::panic::catch_unwind(|| {
        EbbAlloc::phase(|| {
            let _v = scratch(MIB);
            panic!("in a phase");
        })
    });
    assert!(r.is_err());
    assert_eq!(EbbAlloc::stats().phases, 0);
    let v = vec![5u8; 1000];
    assert_eq!(v[999], 5);
}

#[test]
fn phases() {
    memory_freed_in_a_phase_is_returned();
    without_a_phase_the_pages_wait();
    survivors_stay_valid_and_are_returned_once_freed();
    nested_phases();
    phases_on_several_threads();
    a_panicking_phase_ends();
    memory_freed_in_a_phase_is_returned();
}
