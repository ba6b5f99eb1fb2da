//! Unit tests of the allocator as a whole (the handle and config modules test themselves).

use crate::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Loop counts shrink under Miri.
const fn n(full: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { full }
}

fn small() -> SlabConfig {
    SlabConfig {
        max_slabs: 64,
        epochs: 4,
        ..SlabConfig::default()
    }
}

fn forge(h: RawHandle, f: impl FnOnce(&mut HandleParts)) -> RawHandle {
    let mut p = h.parts().unwrap();
    f(&mut p);
    RawHandle::new(p)
}

#[test]
fn size_classes_map_sizes() {
    let a = SlabAlloc::with_config(small()).unwrap();
    assert_eq!(a.class_for_size(0), Ok(0));
    assert_eq!(a.class_for_size(64), Ok(0));
    assert_eq!(a.class_for_size(65), Ok(1));
    assert_eq!(a.class_for_size(100), Ok(2));
    assert_eq!(a.class_for_size(768), Ok(7));
    assert_eq!(
        a.class_for_size(769),
        Err(Error::SizeTooLarge { size: 769 })
    );
    assert_eq!(a.class_size(3), Ok(192));
    assert_eq!(a.class_capacity(0), Ok(63));
}

#[test]
fn alloc_write_read_free() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let hs: Vec<_> = (0..n(500, 80))
        .map(|i| (i, a.alloc(64 + (i % 3) * 100).unwrap()))
        .collect();
    for &(i, h) in &hs {
        let p = a.get_ptr(h).unwrap();
        // SAFETY: `h` is live and ours; every class holds at least 8 bytes.
        unsafe { p.cast::<u64>().as_ptr().write(i as u64) };
    }
    for &(i, h) in &hs {
        // SAFETY: as above.
        let v = unsafe { a.get_ptr(h).unwrap().cast::<u64>().as_ptr().read() };
        assert_eq!(v, i as u64);
        assert_eq!(a.free(h), Ok(()));
    }
    let ptrs: std::collections::HashSet<_> = hs.iter().map(|&(_, h)| h).collect();
    assert_eq!(ptrs.len(), hs.len(), "handles are distinct");
}

#[test]
fn stale_and_double_free_are_refused() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let h = a.alloc(64).unwrap();
    a.free(h).unwrap();
    assert_eq!(a.free(h), Err(Error::DoubleFree));
    assert_eq!(a.validate(h), Err(Error::Stale));
    assert_eq!(a.get_ptr(h), Err(Error::Stale));
    // The slot is reused with a new generation; the old handle still does not reach it.
    let h2 = a.alloc(64).unwrap();
    let (p1, p2) = (h.parts().unwrap(), h2.parts().unwrap());
    assert_eq!((p1.slab, p1.slot), (p2.slab, p2.slot));
    assert_eq!(p2.generation, p1.generation + 1);
    assert_eq!(a.validate(h), Err(Error::Stale));
    assert_eq!(a.free(h), Err(Error::DoubleFree));
    assert_eq!(a.validate(h2), Ok(()));
    a.free(h2).unwrap();
}

#[test]
fn forged_handles_get_their_errors() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let h = a.alloc(64).unwrap();
    assert_eq!(
        a.validate(RawHandle::from_bits(0)),
        Err(Error::BadVersion { found: 0 })
    );
    let bad_version = RawHandle::from_bits(h.to_bits() & !3 | 2);
    assert_eq!(a.free(bad_version), Err(Error::BadVersion { found: 2 }));
    assert_eq!(
        a.free(forge(h, |p| p.class = 200)),
        Err(Error::UnknownClass { class: 200 })
    );
    assert_eq!(
        a.free(forge(h, |p| p.slab = 64)),
        Err(Error::SlabOutOfRange { slab: 64 })
    );
    assert_eq!(
        a.free(forge(h, |p| p.slab = 40)),
        Err(Error::UnknownSlab { slab: 40 })
    );
    assert_eq!(
        a.free(forge(h, |p| p.slot = 63)),
        Err(Error::SlotOutOfRange {
            slot: 63,
            capacity: 63
        })
    );
    assert_eq!(
        a.free(forge(h, |p| p.class = 1)),
        Err(Error::ClassMismatch { handle: 1, slab: 0 })
    );
    assert_eq!(
        a.free(forge(h, |p| p.generation += 5)),
        Err(Error::ForgedGeneration)
    );
    // A free slot at its current generation was never issued either.
    assert_eq!(
        a.validate(forge(h, |p| p.slot += 1)),
        Err(Error::ForgedGeneration)
    );
    // None of that touched the real object.
    assert_eq!(a.free(h), Ok(()));
}

#[test]
fn concurrent_double_free_has_one_winner() {
    let a = SlabAlloc::with_config(small()).unwrap();
    for _ in 0..n(200, 4) {
        let h = a.alloc(128).unwrap();
        let wins = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| match a.free(h) {
                    Ok(()) => {
                        wins.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => assert_eq!(e, Error::DoubleFree),
                });
            }
        });
        assert_eq!(wins.load(Ordering::Relaxed), 1);
    }
}

#[test]
fn generation_wrap_retires_the_slot() {
    let cfg = SlabConfig {
        initial_generation: MAX_GENERATION - 1,
        ..small()
    };
    let a = SlabAlloc::with_config(cfg).unwrap();
    let h1 = a.alloc(768).unwrap();
    assert_eq!(h1.parts().unwrap().generation, MAX_GENERATION - 1);
    a.free(h1).unwrap();
    let h2 = a.alloc(768).unwrap();
    let p2 = h2.parts().unwrap();
    assert_eq!((p2.slot, p2.generation), (0, MAX_GENERATION));
    a.free(h2).unwrap();
    assert_eq!(a.counters(7).unwrap().retired_slots, 1);
    // Slot 0 is retired: the next allocation takes slot 1, and no old handle revives.
    let h3 = a.alloc(768).unwrap();
    assert_eq!(h3.parts().unwrap().slot, 1);
    for old in [h1, h2] {
        assert_eq!(a.validate(old), Err(Error::Stale));
        assert_eq!(a.free(old), Err(Error::DoubleFree));
    }
    // A forged handle with a wrapped generation for the retired slot is refused too: its
    // generation is below the first one ever issued.
    assert_eq!(
        a.validate(forge(h2, |p| p.generation = 0)),
        Err(Error::ForgedGeneration)
    );
    // The slab still empties and recycles (retired slot excluded), and is reused
    // without the retired slot.
    a.free(h3).unwrap();
    let e = a.epoch_current();
    a.epoch_close(e).unwrap();
    let e2 = a.epoch_advance().unwrap();
    let hs: Vec<_> = (0..4).map(|_| a.alloc_in(e2, 768).unwrap()).collect();
    assert!(
        hs.iter()
            .all(|h| h.parts().unwrap().slot != 0 || h.parts().unwrap().slab != 0)
    );
}

#[test]
fn epochs_open_close_and_refuse_reuse() {
    let a = SlabAlloc::with_config(SlabConfig {
        epochs: 2,
        ..small()
    })
    .unwrap();
    let e0 = a.epoch_current();
    assert_eq!(e0, EpochId(0));
    let e1 = a.epoch_advance().unwrap();
    assert_eq!(a.epoch_current(), e1);
    // Slot of e0 is needed for epoch 2, but e0 is still open.
    assert_eq!(a.epoch_advance(), Err(Error::EpochNotClosed { epoch: e0 }));
    let h = a.alloc_in(e0, 64).unwrap();
    a.epoch_close(e0).unwrap();
    assert_eq!(a.alloc_in(e0, 64), Err(Error::EpochNotOpen { epoch: e0 }));
    assert_eq!(a.epoch_close(e0), Err(Error::EpochNotOpen { epoch: e0 }));
    // Live objects of a closed epoch stay valid.
    assert_eq!(a.validate(h), Ok(()));
    let e2 = a.epoch_advance().unwrap();
    assert_eq!(e2, EpochId(2));
    // EpochId(0) names the old occupant of slot 0: still refused.
    assert_eq!(a.alloc_in(e0, 64), Err(Error::EpochNotOpen { epoch: e0 }));
    assert_eq!(
        a.alloc_in(EpochId(7), 64),
        Err(Error::EpochNotOpen { epoch: EpochId(7) })
    );
    a.alloc_in(e2, 64).unwrap();
    // Freeing the last object of the closed epoch recycles its slab.
    let before = a.counters(0).unwrap().empty_slab_recycled;
    a.free(h).unwrap();
    assert_eq!(a.counters(0).unwrap().empty_slab_recycled, before + 1);
}

#[test]
fn close_recycles_empty_slabs_into_cache_then_overflow() {
    let a = SlabAlloc::with_config(SlabConfig {
        cache_capacity: 2,
        ..small()
    })
    .unwrap();
    let e = a.epoch_advance().unwrap();
    let hs: Vec<_> = (0..63 * 5).map(|_| a.alloc_in(e, 64).unwrap()).collect();
    let c = a.counters(0).unwrap();
    assert_eq!(c.new_slab_count, 5);
    assert_eq!(c.list_move_partial_to_full, 4);
    for h in hs {
        a.free(h).unwrap();
    }
    assert_eq!(a.epoch_close(e), Ok(5));
    let c = a.counters(0).unwrap();
    assert_eq!((c.empty_slab_recycled, c.empty_slab_overflowed), (2, 3));
    // New epochs reuse the recycled slabs before creating any.
    let created = a.slabs_created();
    let e2 = a.epoch_advance().unwrap();
    let hs: Vec<_> = (0..63 * 5).map(|_| a.alloc_in(e2, 64).unwrap()).collect();
    assert_eq!(a.slabs_created(), created);
    for h in hs {
        a.free(h).unwrap();
    }
}

#[test]
fn full_slab_returns_to_partial_on_free() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let hs: Vec<_> = (0..64).map(|_| a.alloc(64).unwrap()).collect();
    assert_eq!(a.counters(0).unwrap().list_move_partial_to_full, 1);
    a.free(hs[3]).unwrap();
    assert_eq!(a.counters(0).unwrap().list_move_full_to_partial, 1);
    // Fill the second slab; the next allocation goes back to the first one's free slot.
    let more: Vec<_> = (0..62).map(|_| a.alloc(64).unwrap()).collect();
    let again = a.alloc(64).unwrap();
    let p = again.parts().unwrap();
    let p3 = hs[3].parts().unwrap();
    assert_eq!((p.slab, p.slot), (p3.slab, p3.slot));
    let c = a.counters(0).unwrap();
    assert!(
        c.slow_path_hits >= 3 && c.current_partial_full >= 2,
        "{c:?}"
    );
    for h in hs.into_iter().chain(more).chain([again]) {
        let _ = a.free(h);
    }
}

#[test]
fn local_magazines_allocate_and_free() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let e = a.epoch_current();
    {
        let mut l = a.local();
        let mut hs = Vec::new();
        for i in 0..n(1000, 100) {
            let h = l.alloc(64).unwrap();
            // SAFETY: live and ours.
            unsafe { a.get_ptr(h).unwrap().cast::<usize>().as_ptr().write(i) };
            hs.push(h);
            if i % 3 == 0 {
                let h = hs.swap_remove(i % hs.len());
                l.free(h).unwrap();
                assert_eq!(l.free(h), Err(Error::DoubleFree));
                assert_eq!(a.free(h), Err(Error::DoubleFree));
            }
        }
        // Frees through the shared path and another Local mix freely.
        let mut other = a.local();
        for (i, h) in hs.into_iter().enumerate() {
            match i % 3 {
                0 => a.free(h).unwrap(),
                1 => other.free(h).unwrap(),
                _ => l.free(h).unwrap(),
            }
        }
        assert!(a.counters(0).unwrap().fast_path_allocs < n(1000, 100) as u64);
    }
    // Dropped Locals flushed: counters are complete and close recycles everything.
    assert_eq!(a.counters(0).unwrap().fast_path_allocs, n(1000, 100) as u64);
    let recycled = a.epoch_close(e).unwrap();
    assert!(recycled >= 1);
    assert_eq!(
        a.counters(0).unwrap().empty_slab_recycled as usize,
        recycled
    );
}

#[test]
fn local_refuses_closed_epoch_and_flushes() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let e = a.epoch_advance().unwrap();
    let mut l = a.local();
    let h = l.alloc_in(e, 64).unwrap();
    l.free(h).unwrap();
    // The magazine still holds the slab's bits: close cannot recycle it yet.
    assert_eq!(a.epoch_close(e), Ok(0));
    assert_eq!(l.alloc_in(e, 64), Err(Error::EpochNotOpen { epoch: e }));
    // That refusal flushed the magazine, which recycled the orphaned slab.
    assert_eq!(a.counters(0).unwrap().empty_slab_recycled, 1);
}

#[test]
fn domains_close_and_trim() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let e = {
        let d = a.domain().unwrap();
        let h = d.alloc(128).unwrap();
        a.free(h).unwrap();
        d.epoch()
    };
    assert_eq!(a.alloc_in(e, 64), Err(Error::EpochNotOpen { epoch: e }));
    assert_eq!(a.counters(2).unwrap().empty_slab_recycled, 1);

    let frame = a.epoch_advance().unwrap();
    let mut d = ReusableDomain::wrap(&a, frame);
    for _ in 0..3 {
        let s = d.enter();
        let hs: Vec<_> = (0..100).map(|_| s.alloc(256).unwrap()).collect();
        for h in hs {
            a.free(h).unwrap();
        }
    }
    // Each exit trimmed the empty non-current slabs; the epoch is still open.
    assert!(a.counters(4).unwrap().empty_slab_recycled >= 1);
    assert!(a.epoch_is_open(frame));
    assert!(d.force_close().is_ok());
    assert!(!a.epoch_is_open(frame));
}

#[test]
fn typed_slab_insert_get_remove() {
    let s: TypedSlab<(u64, String)> = TypedSlab::with_config(small()).unwrap();
    let mut h = s.insert((1, "one".into())).unwrap();
    assert_eq!(s.get(&h).unwrap().1, "one");
    s.get_mut(&mut h).unwrap().0 = 11;
    let h2 = s.insert((2, "two".into())).unwrap();
    assert_ne!(h, h2);
    assert_eq!(s.remove(h).unwrap(), (11, "one".into()));
    assert_eq!(s.get(&h2).unwrap().0, 2);
    let other: TypedSlab<(u64, String)> = TypedSlab::with_config(small()).unwrap();
    assert_eq!(other.get(&h2).err(), Some(Error::WrongAllocator));
    let raw = h2.into_raw();
    // SAFETY: `raw` came from `into_raw` and is rebuilt once.
    let h2 = unsafe { s.from_raw(raw) };
    assert_eq!(s.remove(h2).unwrap().1, "two");
}

#[test]
fn typed_slab_drops_what_it_holds() {
    use std::rc::Rc;
    let rc = Rc::new(());
    {
        let s: TypedSlab<Rc<()>> = TypedSlab::with_config(small()).unwrap();
        let hs: Vec<_> = (0..n(300, 40))
            .map(|_| s.insert(rc.clone()).unwrap())
            .collect();
        assert_eq!(Rc::strong_count(&rc), n(300, 40) + 1);
        for h in hs.into_iter().step_by(2) {
            drop(s.remove(h).unwrap());
        }
    }
    assert_eq!(Rc::strong_count(&rc), 1);
    let big: TypedSlab<[u8; 5000]> = TypedSlab::with_config(small()).unwrap();
    let h = big.insert([9; 5000]).unwrap();
    assert_eq!(big.get(&h).unwrap()[4999], 9);
}

/// The policy set at run time decides what the next `epoch_close` does with a recycled
/// slab's pages: kept (its bytes survive) or discarded (they read as zero).
#[cfg(not(miri))]
#[test]
fn policy_switches_at_run_time() {
    let a = SlabAlloc::with_config(small()).unwrap();
    assert_eq!(a.policy(), ReclaimPolicy::default_policy());
    // Fills one object with 0xAB, frees it, closes its epoch (recycling its slab into the
    // cache), and returns the object's first byte as it reads afterwards.
    let cycle = |policy: ReclaimPolicy| {
        a.set_policy(policy);
        assert_eq!(a.policy(), policy);
        let e = a.epoch_advance().unwrap();
        let h = a.alloc_in(e, 64).unwrap();
        let p = a.get_ptr(h).unwrap();
        // SAFETY: live and ours; 64 bytes.
        unsafe { p.as_ptr().write_bytes(0xAB, 64) };
        a.free(h).unwrap();
        assert_eq!(a.epoch_close(e), Ok(1));
        // SAFETY: slab memory stays mapped while the allocator lives, and nothing else
        // allocates from `a`: reading the freed bytes races with nobody.
        unsafe { p.as_ptr().read_volatile() }
    };
    assert_eq!(cycle(ReclaimPolicy::LatencyFirst), 0xAB, "pages kept");
    assert_eq!(
        cycle(ReclaimPolicy::RssFirst),
        0,
        "pages returned to the OS"
    );
    assert_eq!(cycle(ReclaimPolicy::LatencyFirst), 0xAB, "kept again");
}

/// Tests that read the process's RSS take this, so that they do not see each other's
/// memory come and go.
#[cfg(not(miri))]
static RSS_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(not(miri))]
#[test]
fn rss_first_close_returns_pages() {
    let _rss = RSS_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let a = SlabAlloc::with_config(SlabConfig {
        policy: ReclaimPolicy::RssFirst,
        ..SlabConfig::default()
    })
    .unwrap();
    let e = a.epoch_advance().unwrap();
    let before = rss_bytes().unwrap();
    // 64 MiB of 512-byte objects, touched.
    let hs: Vec<_> = (0..131072)
        .map(|_| {
            let h = a.alloc_in(e, 512).unwrap();
            // SAFETY: live and ours; 512 bytes.
            unsafe { a.get_ptr(h).unwrap().as_ptr().write_bytes(1, 512) };
            h
        })
        .collect();
    let peak = rss_bytes().unwrap();
    for h in hs {
        a.free(h).unwrap();
    }
    a.epoch_close(e).unwrap();
    let after = rss_bytes().unwrap();
    assert!(peak > before + (48 << 20), "{before} -> {peak}");
    assert!(
        after < peak - (48 << 20),
        "peak {peak}, after close {after}"
    );
}

#[test]
fn errors_display() {
    let msgs = [
        Error::Stale.to_string(),
        Error::DoubleFree.to_string(),
        Error::EpochNotClosed { epoch: EpochId(3) }.to_string(),
        Error::SlotOutOfRange {
            slot: 9,
            capacity: 5,
        }
        .to_string(),
    ];
    assert!(msgs[0].contains("stale") && msgs[1].contains("double free"));
    assert!(msgs[2].contains("#3") && msgs[3].contains('9'));
    let e: Box<dyn std::error::Error> = Box::new(Error::OutOfSlabs);
    assert!(!e.to_string().is_empty());
}

#[test]
fn slab_ids_run_out_cleanly() {
    let a = SlabAlloc::with_config(SlabConfig {
        max_slabs: 2,
        ..SlabConfig::default()
    })
    .unwrap();
    let hs: Vec<_> = (0..10).map_while(|_| a.alloc(768).ok()).collect();
    assert_eq!(hs.len(), 10);
    assert_eq!(
        (0..100).map(|_| a.alloc(768)).find(|r| r.is_err()),
        Some(Err(Error::OutOfSlabs))
    );
}

#[cfg(not(miri))]
#[test]
fn rss_tracks_touched_memory() {
    let _rss = RSS_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    const LEN: usize = 64 << 20;
    let before = rss_bytes().unwrap();
    // 64 MiB mapped directly (not through the global allocator, which may keep freed
    // memory resident: sanitizers quarantine it), every page written, then unmapped.
    // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    // SAFETY: `p..p + LEN` is the mapping just made, readable and writable.
    unsafe { p.cast::<u8>().write_bytes(1, LEN) };
    let peak = rss_bytes().unwrap();
    // SAFETY: the mapping made above, unmapped once; nothing refers to it afterwards.
    assert_eq!(unsafe { libc::munmap(p, LEN) }, 0);
    let after = rss_bytes().unwrap();
    assert!(peak >= before + (48 << 20), "{before} -> {peak}");
    assert!(after <= peak - (48 << 20), "{peak} -> {after}");
}

#[test]
fn pointers_map_back_to_handles() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let hs: Vec<_> = (0..100)
        .map(|i| a.alloc(64 + (i % 4) * 150).unwrap())
        .collect();
    for &h in &hs {
        let p = a.get_ptr(h).unwrap();
        // SAFETY: `p` came from `get_ptr` of this allocator.
        assert_eq!(unsafe { a.handle_of_ptr(p) }, Ok(h));
        // SAFETY: as above; one byte in is still inside the slab.
        let inner = unsafe { a.handle_of_ptr(p.add(1)) };
        assert!(
            matches!(inner, Err(Error::SlotOutOfRange { .. })),
            "{inner:?}"
        );
    }
    let p = a.get_ptr(hs[7]).unwrap();
    a.free(hs[7]).unwrap();
    // SAFETY: `p` still lies in a slab of this allocator.
    assert_eq!(unsafe { a.handle_of_ptr(p) }, Err(Error::Stale));
    let mut l = a.local();
    let e = a.epoch_current();
    let (h, p) = l.alloc_ptr_in(e, 2).unwrap();
    // SAFETY: `p` came from `alloc_ptr_in` of this allocator.
    assert_eq!(unsafe { a.handle_of_ptr(p) }, Ok(h));
}

/// A sequential model check: random operation sequences against a shadow model of which
/// handles are live, which epochs are open and what each object holds.
#[cfg(not(miri))]
mod model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Alloc { class: u8, epoch: u8, local: bool },
        Free { idx: usize, local: bool },
        Validate { idx: usize },
        Advance,
        Close { epoch: u8 },
        Trim,
        Flush,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..8, 0u8..4, any::<bool>()).prop_map(|(class, epoch, local)| Op::Alloc { class, epoch, local }),
            4 => (any::<usize>(), any::<bool>()).prop_map(|(idx, local)| Op::Free { idx, local }),
            2 => any::<usize>().prop_map(|idx| Op::Validate { idx }),
            1 => Just(Op::Advance),
            1 => (0u8..4).prop_map(|epoch| Op::Close { epoch }),
            1 => Just(Op::Trim),
            1 => Just(Op::Flush),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn matches_the_model(ops in proptest::collection::vec(op(), 1..400)) {
            let a = SlabAlloc::with_config(SlabConfig { cache_capacity: 2, ..small() }).unwrap();
            let mut local = a.local();
            // (handle, tag, live)
            let mut objs: Vec<(RawHandle, u64, bool)> = Vec::new();
            // Open epochs, oldest first.
            let mut open: Vec<EpochId> = vec![a.epoch_current()];
            let mut next_tag = 1u64;
            for op in ops {
                match op {
                    Op::Alloc { class, epoch, local: use_local } => {
                        let e = open.get(epoch as usize).copied().unwrap_or(EpochId(1000));
                        let r = if use_local {
                            local.alloc_ptr_in(e, class).map(|(h, _)| h)
                        } else {
                            a.alloc_class_in(e, class)
                        };
                        if !open.contains(&e) {
                            prop_assert_eq!(r, Err(Error::EpochNotOpen { epoch: e }));
                            continue;
                        }
                        match r {
                            Ok(h) => {
                                prop_assert!(objs.iter().all(|o| !o.2 || o.0 != h));
                                let p = a.get_ptr(h).unwrap();
                                // SAFETY: a fresh object of at least 64 bytes, ours.
                                unsafe { p.cast::<u64>().as_ptr().write(next_tag) };
                                objs.push((h, next_tag, true));
                                next_tag += 1;
                            }
                            Err(Error::OutOfSlabs) => {}
                            Err(e) => prop_assert!(false, "alloc failed: {e}"),
                        }
                    }
                    Op::Free { idx, local: use_local } if !objs.is_empty() => {
                        let i = idx % objs.len();
                        let (h, _, live) = objs[i];
                        let r = if use_local { local.free(h) } else { a.free(h) };
                        if live {
                            prop_assert_eq!(r, Ok(()));
                            objs[i].2 = false;
                        } else {
                            prop_assert_eq!(r, Err(Error::DoubleFree));
                        }
                    }
                    Op::Validate { idx } if !objs.is_empty() => {
                        let (h, tag, live) = objs[idx % objs.len()];
                        if live {
                            let p = a.get_ptr(h).unwrap();
                            // SAFETY: live and ours.
                            let got = unsafe { p.cast::<u64>().as_ptr().read() };
                            prop_assert_eq!(got, tag, "handle resolved to another object");
                        } else {
                            prop_assert_eq!(a.validate(h), Err(Error::Stale));
                        }
                    }
                    Op::Advance => match a.epoch_advance() {
                        Ok(e) => open.push(e),
                        Err(Error::EpochNotClosed { epoch }) => {
                            prop_assert!(open.contains(&epoch));
                            prop_assert_eq!(epoch.0 % 4, (a.epoch_current().0 + 1) % 4);
                        }
                        Err(e) => prop_assert!(false, "advance failed: {e}"),
                    },
                    Op::Close { epoch } => {
                        if let Some(&e) = open.get(epoch as usize) {
                            prop_assert!(a.epoch_close(e).is_ok());
                            open.retain(|&x| x != e);
                            prop_assert_eq!(a.alloc_in(e, 64), Err(Error::EpochNotOpen { epoch: e }));
                        }
                    }
                    Op::Trim => {
                        for &e in &open {
                            prop_assert!(a.epoch_trim(e).is_ok());
                        }
                    }
                    Op::Flush => local.flush(),
                    _ => {}
                }
            }
            // Everything live is still intact, and frees once.
            for (h, tag, live) in objs {
                if live {
                    let p = a.get_ptr(h).unwrap();
                    // SAFETY: live and ours.
                    prop_assert_eq!(unsafe { p.cast::<u64>().as_ptr().read() }, tag);
                    prop_assert_eq!(local.free(h), Ok(()));
                }
                prop_assert_eq!(a.free(h), Err(Error::DoubleFree));
            }
        }
    }
}

#[test]
fn owned_free_still_validates() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let e = a.epoch_current();
    let mut l = a.local();
    let hs: Vec<_> = (0..200).map(|_| l.alloc_ptr_in(e, 0).unwrap().0).collect();
    for &h in &hs {
        // SAFETY: this thread is the only one freeing these handles.
        assert_eq!(unsafe { l.free_owned(h) }, Ok(()));
    }
    for &h in &hs {
        // SAFETY: as above; the frees are sequential, so they are refused, not raced.
        assert_eq!(unsafe { l.free_owned(h) }, Err(Error::DoubleFree));
        assert_eq!(a.validate(h), Err(Error::Stale));
    }
    let h = l.alloc_ptr_in(e, 0).unwrap().0;
    // SAFETY: as above.
    let forged = unsafe { l.free_owned(forge(h, |p| p.generation += 3)) };
    assert_eq!(forged, Err(Error::ForgedGeneration));
    // SAFETY: as above.
    assert_eq!(unsafe { l.free_owned(h) }, Ok(()));
}

/// The magazine's inline free (a handle whose slab, class and version match the magazine's)
/// refuses every bad handle with the same error as the shared path, for both frees.
#[test]
fn local_fast_free_refuses_bad_handles() {
    for owned in [false, true] {
        let a = SlabAlloc::with_config(small()).unwrap();
        let e = a.epoch_current();
        let mut l = a.local();
        let free = |l: &mut Local<'_>, h| {
            if owned {
                // SAFETY: this thread is the only one freeing these handles.
                unsafe { l.free_owned(h) }
            } else {
                l.free(h)
            }
        };
        let (h, _) = l.alloc_ptr_in(e, 0).unwrap();
        let cap = a.class_capacity(0).unwrap() as u16;
        let bad = [
            (
                forge(h, |p| p.slot = 255),
                Error::SlotOutOfRange {
                    slot: 255,
                    capacity: cap,
                },
            ),
            (forge(h, |p| p.generation += 1), Error::ForgedGeneration),
            // A slot the magazine holds but never handed out.
            (forge(h, |p| p.slot += 1), Error::ForgedGeneration),
            (
                forge(h, |p| p.class = 1),
                Error::ClassMismatch { handle: 1, slab: 0 },
            ),
            (
                RawHandle::from_bits(h.to_bits() & !3),
                Error::BadVersion { found: 0 },
            ),
            (
                RawHandle::from_bits(h.to_bits() | 3),
                Error::BadVersion { found: 3 },
            ),
        ];
        for (b, err) in bad {
            assert_eq!(free(&mut l, b), Err(err), "{owned} {b:?}");
        }
        assert_eq!(a.validate(h), Ok(()));
        assert_eq!(free(&mut l, h), Ok(()));
        assert_eq!(free(&mut l, h), Err(Error::DoubleFree));
        // The slot comes back from the magazine at the next generation.
        let (h2, _) = l.alloc_ptr_in(e, 0).unwrap();
        let (p, p2) = (h.parts().unwrap(), h2.parts().unwrap());
        assert_eq!(
            (p2.slab, p2.slot, p2.generation),
            (p.slab, p.slot, p.generation + 1)
        );
        assert_eq!(free(&mut l, h), Err(Error::DoubleFree));
        assert_eq!(a.validate(h2), Ok(()));
        assert_eq!(free(&mut l, h2), Ok(()));
    }
}

/// The generation wrap through a `Local`: the slot retires, old handles stay dead.
#[test]
fn local_generation_wrap_retires_the_slot() {
    for owned in [false, true] {
        let cfg = SlabConfig {
            initial_generation: MAX_GENERATION - 1,
            ..small()
        };
        let a = SlabAlloc::with_config(cfg).unwrap();
        let e = a.epoch_current();
        let mut l = a.local();
        let free = |l: &mut Local<'_>, h| {
            if owned {
                // SAFETY: this thread is the only one freeing these handles.
                unsafe { l.free_owned(h) }
            } else {
                l.free(h)
            }
        };
        let h1 = l.alloc_ptr_in(e, 0).unwrap().0;
        free(&mut l, h1).unwrap();
        let h2 = l.alloc_ptr_in(e, 0).unwrap().0;
        let (p1, p2) = (h1.parts().unwrap(), h2.parts().unwrap());
        assert_eq!((p2.slot, p2.generation), (p1.slot, MAX_GENERATION));
        free(&mut l, h2).unwrap();
        assert_eq!(a.counters(0).unwrap().retired_slots, 1);
        let h3 = l.alloc_ptr_in(e, 0).unwrap().0;
        assert_ne!(h3.parts().unwrap().slot, p1.slot);
        for old in [h1, h2] {
            assert_eq!(a.validate(old), Err(Error::Stale));
            assert_eq!(free(&mut l, old), Err(Error::DoubleFree));
        }
        free(&mut l, h3).unwrap();
    }
}

// === biased slots (see `bias.rs`) ===

/// The owner-tag bits of `h`'s slot word.
fn owner_bits(a: &SlabAlloc, h: RawHandle) -> u32 {
    let p = h.parts().unwrap();
    let (chunk, i) = a.chunk(p.slab).unwrap();
    chunk.slot_word(i, p.slot as usize).load(Ordering::Relaxed) & crate::bias::OWNER_MASK
}

/// Asserts that no two of `hs` name the same slot.
fn assert_distinct_slots(hs: &[RawHandle]) {
    let mut slots: Vec<_> = hs
        .iter()
        .map(|h| {
            let p = h.parts().unwrap();
            (p.slab, p.slot)
        })
        .collect();
    slots.sort_unstable();
    slots.dedup();
    assert_eq!(slots.len(), hs.len(), "a slot was handed out twice");
}

/// True when this process biases slots. Otherwise checks that it has a reason not to
/// (no `membarrier`, or `EBB_SLAB_NO_BIAS` set), that allocations really carry no owner
/// tag, and says loudly that the biased assertions of the calling test were skipped.
fn biasing_or_skip() -> bool {
    let expected = !crate::bias::disabled_by_env() && crate::bias::membarrier_available();
    assert_eq!(crate::bias::enabled(), expected);
    if expected {
        return true;
    }
    let a = SlabAlloc::with_config(small()).unwrap();
    assert!(!a.biased_frees());
    let mut l = a.local();
    let hs: Vec<_> = (0..n(200, 70)).map(|_| l.alloc(64).unwrap()).collect();
    assert!(hs.iter().all(|&h| owner_bits(&a, h) == 0));
    // Straight to the stream, past the test harness's capture, so the skip shows in the
    // output of a passing run.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: biasing is off in this process (no membarrier, or EBB_SLAB_NO_BIAS set); \
         checked that slots are unbiased instead"
    );
    false
}

/// Allocates from `l` until a handle comes out biased (a `Local` whose slots were revoked
/// allocates unbiased for a while); where the process does not bias, the first handle
/// (the tests that use this check what holds either way: one winner per race, one free
/// per object).
fn biased_alloc(a: &SlabAlloc, l: &mut Local<'_>) -> RawHandle {
    if !crate::bias::enabled() {
        return l.alloc(64).unwrap();
    }
    loop {
        let h = l.alloc(64).unwrap();
        if owner_bits(a, h) != 0 {
            return h;
        }
    }
}

#[test]
fn owner_frees_its_biased_slots_without_revocation() {
    if !biasing_or_skip() {
        return;
    }
    let a = SlabAlloc::with_config(small()).unwrap();
    let mut l = a.local();
    let mut hs: Vec<_> = (0..n(500, 70)).map(|_| l.alloc(64).unwrap()).collect();
    assert!(hs.iter().filter(|&&h| owner_bits(&a, h) != 0).count() > hs.len() / 2);
    // Frees of the magazine's word and of older words alike take the owner's path.
    hs.reverse();
    for &h in &hs {
        l.free(h).unwrap();
        assert_eq!(l.free(h), Err(Error::DoubleFree));
        assert_eq!(a.free(h), Err(Error::DoubleFree));
        assert_eq!(a.validate(h), Err(Error::Stale));
    }
    assert_eq!(a.counters(0).unwrap().bias_revocations, 0);
}

#[test]
fn every_allocation_of_a_fresh_local_is_biased() {
    if !biasing_or_skip() {
        return;
    }
    let a = SlabAlloc::with_config(small()).unwrap();
    let mut l = a.local();
    // The first allocation of each magazine (the refill's) carries the tag like the
    // rest, so the owner frees every one of them with the plain store.
    let hs: Vec<_> = (0..n(500, 70)).map(|_| l.alloc(64).unwrap()).collect();
    let tag = owner_bits(&a, hs[0]);
    assert_ne!(tag, 0);
    assert!(hs.iter().all(|&h| owner_bits(&a, h) == tag));
    for &h in &hs {
        l.free(h).unwrap();
        assert_eq!(l.free(h), Err(Error::DoubleFree));
    }
    assert_eq!(a.counters(0).unwrap().bias_revocations, 0);
}

#[test]
fn owner_free_of_an_unbiased_slot_skips_the_announcement() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let mut l = a.local();
    // Slots of the shared path are unbiased: a `Local` with a tag frees them with the
    // shared CAS election, and its record's `busy` is never written for them.
    let hs: Vec<_> = (0..n(200, 40)).map(|_| a.alloc(64).unwrap()).collect();
    assert!(hs.iter().all(|&h| owner_bits(&a, h) == 0));
    let busy =
        |l: &Local<'_>| (l.tag != 0).then(|| a.owners().record(l.tag).busy.load(Ordering::Relaxed));
    // A biased free first leaves its handle in `busy` (where biasing is on), so a free
    // that announced and withdrew would show as a change.
    let h0 = l.alloc(64).unwrap();
    l.free(h0).unwrap();
    let before = busy(&l);
    if crate::bias::enabled() {
        assert_eq!(before, Some(h0.to_bits()));
    }
    for &h in &hs {
        l.free(h).unwrap();
        assert_eq!(busy(&l), before);
        // Exact double-free detection is unchanged: the second free loses.
        assert_eq!(l.free(h), Err(Error::DoubleFree));
        assert_eq!(a.free(h), Err(Error::DoubleFree));
        assert_eq!(a.validate(h), Err(Error::Stale));
    }
    assert_eq!(busy(&l), before);
    // A handle of a slot biased to another `Local` is a remote free for `l`: it revokes
    // (where biasing is on) and wins once.
    let mut other = a.local();
    let h = biased_alloc(&a, &mut other);
    assert_eq!(l.free(h), Ok(()));
    assert_eq!(busy(&l), before);
    assert_eq!(other.free(h), Err(Error::DoubleFree));
    assert_eq!(l.free(h), Err(Error::DoubleFree));
}

#[test]
fn remote_free_revokes_a_biased_slot_once() {
    if !biasing_or_skip() {
        return;
    }
    let a = SlabAlloc::with_config(small()).unwrap();
    let mut l = a.local();
    let h = biased_alloc(&a, &mut l);
    let g = owner_bits(&a, h);
    // Validation and lookups see a biased slot as live.
    assert_eq!(a.validate(h), Ok(()));
    // SAFETY: the pointer comes from this allocator.
    assert_eq!(unsafe { a.handle_of_ptr(a.get_ptr(h).unwrap()) }, Ok(h));
    // Another thread's free revokes the bias and wins; the owner then loses.
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(a.free(h), Ok(())));
    });
    assert_eq!(a.counters(0).unwrap().bias_revocations, 1);
    assert_eq!(l.free(h), Err(Error::DoubleFree));
    assert_eq!(a.validate(h), Err(Error::Stale));
    // A second `Local` is a remote too: it holds another tag.
    let h2 = biased_alloc(&a, &mut l);
    let mut other = a.local();
    assert_eq!(other.free(h2), Ok(()));
    assert_eq!(a.counters(0).unwrap().bias_revocations, 2);
    assert_eq!(l.free(h2), Err(Error::DoubleFree));
    // ... and frees of its own biased slots are plain.
    let h3 = biased_alloc(&a, &mut other);
    assert_ne!(owner_bits(&a, h3), g);
    other.free(h3).unwrap();
    assert_eq!(a.counters(0).unwrap().bias_revocations, 2);
}

#[test]
fn concurrent_owner_and_remote_frees_have_one_winner() {
    let a = SlabAlloc::with_config(small()).unwrap();
    for round in 0..n(300, 4) {
        // A fresh `Local` each round: one whose slots were revoked allocates unbiased for
        // a while (`revoked_owner_backs_off_biasing`).
        let mut l = a.local();
        let h = biased_alloc(&a, &mut l);
        let go = std::sync::Barrier::new(3);
        let wins = AtomicUsize::new(0);
        let l = &mut l;
        std::thread::scope(|s| {
            // Two remotes: the shared free and another `Local`.
            for remote in 0..2 {
                let (a, go, wins) = (&a, &go, &wins);
                s.spawn(move || {
                    go.wait();
                    let r = if remote == 0 {
                        a.free(h)
                    } else {
                        a.local().free(h)
                    };
                    match r {
                        Ok(()) => _ = wins.fetch_add(1, Ordering::Relaxed),
                        Err(e) => assert_eq!(e, Error::DoubleFree, "round {round}"),
                    }
                });
            }
            go.wait();
            match l.free(h) {
                Ok(()) => _ = wins.fetch_add(1, Ordering::Relaxed),
                Err(e) => assert_eq!(e, Error::DoubleFree, "round {round}"),
            }
        });
        assert_eq!(wins.load(Ordering::Relaxed), 1, "round {round}");
        assert_eq!(a.validate(h), Err(Error::Stale));
    }
    // No slot was handed out twice: every live handle below is distinct and resolves.
    let mut l = a.local();
    let live: Vec<_> = (0..n(400, 40)).map(|_| l.alloc(64).unwrap()).collect();
    assert_distinct_slots(&live);
    for h in live {
        l.free(h).unwrap();
    }
}

#[test]
fn revoked_owner_backs_off_biasing() {
    if !biasing_or_skip() {
        return;
    }
    let a = SlabAlloc::with_config(small()).unwrap();
    let mut l = a.local();
    // A producer/consumer pattern: everything `l` allocates is freed elsewhere.
    let rounds = n(20, 6);
    let per = 200;
    let mut revoked = Vec::new();
    let mut total = 0;
    for _ in 0..rounds {
        let hs: Vec<_> = (0..per).map(|_| l.alloc(64).unwrap()).collect();
        std::thread::scope(|s| {
            s.spawn(|| {
                for h in hs {
                    a.free(h).unwrap();
                }
            });
        });
        let now = a.counters(0).unwrap().bias_revocations;
        revoked.push(now - total);
        total = now;
    }
    let first = revoked[0];
    assert!(
        first > 0,
        "the first round's slots were biased: {revoked:?}"
    );
    // Each revocation seen at a refill doubles the unbiased stretch that follows, so the
    // later rounds revoke far less than the first on average.
    let late = &revoked[rounds / 2..];
    let mean = late.iter().sum::<u64>() / late.len() as u64;
    assert!(mean * 2 < first, "{revoked:?}");
}

#[test]
fn owner_tags_are_unique_and_reused() {
    // Each `Local` below pins a slab of its own.
    let a = SlabAlloc::with_config(SlabConfig {
        max_slabs: 128,
        ..small()
    })
    .unwrap();
    // More `Local`s than tags: the extra ones free with the CAS.
    let mut ls: Vec<_> = (0..n(70, 40)).map(|_| a.local()).collect();
    let mut tags: Vec<_> = ls.iter().map(|l| l.tag).filter(|&t| t != 0).collect();
    let tagged = tags.len();
    tags.sort_unstable();
    tags.dedup();
    assert_eq!(tags.len(), tagged, "no tag is held twice");
    if crate::bias::enabled() {
        assert_eq!(tagged, crate::bias::TAGS);
    } else {
        assert_eq!(tagged, 0);
    }
    for l in &mut ls {
        let h = l.alloc(64).unwrap();
        let h2 = l.alloc(64).unwrap();
        l.free(h).unwrap();
        l.free(h2).unwrap();
        assert_eq!(l.free(h2), Err(Error::DoubleFree));
    }
    // A biased slot outlives its `Local`; the tag's next holder frees it plainly, any
    // other thread revokes it.
    let mut first = ls.remove(0);
    let h = biased_alloc(&a, &mut first);
    let tag = first.tag;
    drop(first);
    drop(ls);
    let mut next = a.local();
    assert_eq!(next.tag, tag);
    let before = a.counters(0).unwrap().bias_revocations;
    next.free(h).unwrap();
    assert_eq!(a.counters(0).unwrap().bias_revocations, before);
    assert_eq!(a.free(h), Err(Error::DoubleFree));
}

#[test]
fn biasing_can_be_turned_off_per_allocator() {
    let a = SlabAlloc::with_config(SlabConfig {
        biased_frees: false,
        ..small()
    })
    .unwrap();
    assert!(!a.biased_frees());
    let mut l = a.local();
    assert_eq!(l.tag, 0);
    let hs: Vec<_> = (0..n(200, 40)).map(|_| l.alloc(64).unwrap()).collect();
    assert!(hs.iter().all(|&h| owner_bits(&a, h) == 0));
    // Frees from anywhere use the CAS: correct, and nothing to revoke.
    std::thread::scope(|s| {
        s.spawn(|| {
            for &h in &hs[..hs.len() / 2] {
                a.free(h).unwrap();
            }
        });
    });
    for &h in &hs[hs.len() / 2..] {
        l.free(h).unwrap();
    }
    for &h in &hs {
        assert_eq!(l.free(h), Err(Error::DoubleFree));
    }
    assert_eq!(a.counters(0).unwrap().bias_revocations, 0);
    // The default allocator biases wherever the process can.
    assert_eq!(SlabAlloc::new().biased_frees(), crate::bias::enabled());
}

#[test]
fn frees_of_other_slabs_are_stashed_then_released() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let e = a.epoch_current();
    let mut producer = a.local();
    let hs: Vec<_> = (0..n(300, 130))
        .map(|_| producer.alloc(64).unwrap())
        .collect();
    drop(producer);
    let slabs = a.slabs_created() as usize;
    assert!(slabs >= 2);
    let mut consumer = a.local();
    for &h in &hs {
        consumer.free(h).unwrap();
        // Killed at once, whatever happens to its bit.
        assert_eq!(a.validate(h), Err(Error::Stale));
        assert_eq!(consumer.free(h), Err(Error::DoubleFree));
        assert_eq!(a.free(h), Err(Error::DoubleFree));
    }
    // The consumer's stash still holds the bits of the last frees (at least half the
    // stash, at most all of it): closing the epoch recycles every other slab, and the
    // consumer's flush the rest.
    let recycled = a.epoch_close(e).unwrap();
    assert!(recycled >= 1 && recycled < slabs, "{recycled} of {slabs}");
    consumer.flush();
    let c = a.counters(0).unwrap();
    assert_eq!(
        (c.empty_slab_recycled + c.empty_slab_overflowed) as usize,
        slabs
    );
    // Nothing was released twice: a new epoch gets every slot back exactly once.
    let e2 = a.epoch_advance().unwrap();
    let again: Vec<_> = (0..hs.len())
        .map(|_| consumer.alloc_in(e2, 64).unwrap())
        .collect();
    assert_distinct_slots(&again);
}

// === epoch_release ===

/// Handles of every kind into one epoch: shared allocations, a `Local`'s (biased where the
/// process allows it), some already freed, across classes and several slabs each.
fn fill_epoch(a: &SlabAlloc, e: EpochId) -> (Vec<RawHandle>, Vec<RawHandle>) {
    let mut live = Vec::new();
    let mut freed = Vec::new();
    for i in 0..n(400, 60) {
        let h = a.alloc_in(e, [64, 200, 768][i % 3]).unwrap();
        // SAFETY: live and ours; every class here has at least 64 bytes.
        unsafe { a.get_ptr(h).unwrap().as_ptr().write_bytes(0xa5, 64) };
        live.push(h);
    }
    let mut l = a.local();
    for i in 0..n(400, 60) {
        let class = (i % 3) as u8;
        let (h, _) = l.alloc_ptr_in(e, class).unwrap();
        if i % 5 == 0 {
            l.free(h).unwrap();
            freed.push(h);
        } else {
            live.push(h);
        }
    }
    for h in live.drain(..n(50, 6)).collect::<Vec<_>>() {
        a.free(h).unwrap();
        freed.push(h);
    }
    (live, freed)
}

#[test]
fn release_refuses_every_handle_into_the_epoch() {
    let mut a = SlabAlloc::with_config(SlabConfig {
        max_slabs: 256,
        ..small()
    })
    .unwrap();
    let e = a.epoch_advance().unwrap();
    let other = a.epoch_advance().unwrap();
    let keep = a.alloc_in(other, 100).unwrap();
    let (live, freed) = fill_epoch(&a, e);
    let released = a.epoch_release(e).unwrap();
    assert!(released >= 3, "every class had a slab: {released}");
    for &h in live.iter().chain(&freed) {
        assert_eq!(a.validate(h), Err(Error::Stale));
        assert_eq!(a.get_ptr(h), Err(Error::Stale));
        assert_eq!(a.free(h), Err(Error::DoubleFree));
    }
    // Another epoch's object is untouched.
    assert_eq!(a.validate(keep), Ok(()));
    // The epoch is closed: no allocation lands in it, and a second release is refused.
    assert_eq!(a.alloc_in(e, 64), Err(Error::EpochNotOpen { epoch: e }));
    assert_eq!(a.epoch_release(e), Err(Error::EpochNotOpen { epoch: e }));
    assert_eq!(a.epoch_close(e), Err(Error::EpochNotOpen { epoch: e }));
    // The slabs are reused (no new slab needed) and the old handles stay refused: none of
    // them names one of the new objects.
    let created = a.slabs_created();
    let e2 = a.epoch_advance().unwrap();
    let mut l = a.local();
    let new: Vec<_> = live
        .iter()
        .map(|h| l.alloc_ptr_in(e2, h.parts().unwrap().class).unwrap().0)
        .collect();
    drop(l);
    assert_eq!(a.slabs_created(), created, "released slabs were reused");
    for &h in live.iter().chain(&freed) {
        assert_eq!(a.validate(h), Err(Error::Stale));
        assert!(!new.contains(&h));
    }
    for &h in &new {
        a.free(h).unwrap();
    }
    assert_eq!(a.validate(keep), Ok(()));
}

#[test]
fn release_of_closed_or_unopened_epochs_is_refused() {
    let mut a = SlabAlloc::with_config(small()).unwrap();
    let e = a.epoch_advance().unwrap();
    let h = a.alloc_in(e, 64).unwrap();
    a.epoch_close(e).unwrap();
    assert_eq!(a.epoch_release(e), Err(Error::EpochNotOpen { epoch: e }));
    // The close kept the object valid; the refused release changed nothing.
    assert_eq!(a.validate(h), Ok(()));
    let never = EpochId(e.0 + 2);
    assert_eq!(
        a.epoch_release(never),
        Err(Error::EpochNotOpen { epoch: never })
    );
    // An empty open epoch releases no slab.
    let e2 = a.epoch_advance().unwrap();
    assert_eq!(a.epoch_release(e2), Ok(0));
    // Its ring slot is free again: the ring of 4 epochs wraps past it.
    a.epoch_close(EpochId(0)).unwrap();
    for _ in 0..4 {
        let x = a.epoch_advance().unwrap();
        a.epoch_close(x).unwrap();
    }
}

#[test]
fn release_after_concurrent_use_is_ordered_after_it() {
    // Workers allocate and free into the epoch through the shared allocator, then hand it
    // back (the scope ends); the release sees everything they did, and every handle they
    // made is refused afterwards. A release while any of them still borrows the allocator
    // does not compile (see the crate docs).
    let mut a = SlabAlloc::with_config(SlabConfig {
        max_slabs: 256,
        ..small()
    })
    .unwrap();
    let e = a.epoch_advance().unwrap();
    let handles: Vec<Vec<RawHandle>> = std::thread::scope(|s| {
        let a = &a;
        let workers: Vec<_> = (0..2)
            .map(|t| {
                s.spawn(move || {
                    let mut l = a.local();
                    let mut mine = Vec::new();
                    for i in 0..n(300, 40) {
                        let (h, _) = l.alloc_ptr_in(e, ((i + t) % 2) as u8).unwrap();
                        mine.push(h);
                        if i % 3 == 0 {
                            // Frees of the other class's objects: deferred and remote frees.
                            let victim = mine.swap_remove(mine.len() / 2);
                            l.free(victim).unwrap();
                        }
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    a.epoch_release(e).unwrap();
    for &h in handles.iter().flatten() {
        assert_eq!(a.validate(h), Err(Error::Stale));
        assert_eq!(a.free(h), Err(Error::DoubleFree));
    }
    // The allocator is fully usable again from several threads.
    let arc = std::sync::Arc::new(a);
    let e2 = arc.epoch_advance().unwrap();
    std::thread::scope(|s| {
        for _ in 0..2 {
            let arc = &arc;
            s.spawn(move || {
                let mut l = arc.local();
                let hs: Vec<_> = (0..n(200, 20))
                    .map(|_| l.alloc_ptr_in(e2, 0).unwrap().0)
                    .collect();
                for h in hs {
                    l.free(h).unwrap();
                }
            });
        }
    });
    let mut a = std::sync::Arc::into_inner(arc).unwrap();
    assert!(a.epoch_release(e2).is_ok());
}

#[test]
fn release_retires_slots_at_the_generation_wrap() {
    let mut a = SlabAlloc::with_config(SlabConfig {
        initial_generation: MAX_GENERATION,
        ..small()
    })
    .unwrap();
    let e = a.epoch_advance().unwrap();
    let hs: Vec<_> = (0..3).map(|_| a.alloc_in(e, 768).unwrap()).collect();
    a.free(hs[1]).unwrap(); // retired by its free
    a.epoch_release(e).unwrap();
    assert_eq!(a.counters(7).unwrap().retired_slots, 3);
    for &h in &hs {
        assert_eq!(a.validate(h), Err(Error::Stale));
    }
    // The retired slots are never handed out again.
    let e2 = a.epoch_advance().unwrap();
    let again: Vec<_> = (0..3).map(|_| a.alloc_in(e2, 768).unwrap()).collect();
    for h in &again {
        let p = h.parts().unwrap();
        assert!(
            p.slot >= 3 || p.slab != hs[0].parts().unwrap().slab,
            "{p:?}"
        );
    }
}

#[test]
fn typed_release_drops_the_epochs_values_once() {
    use std::rc::Rc;
    let rc = Rc::new(());
    let mut s: TypedSlab<Rc<()>> = TypedSlab::with_config(small()).unwrap();
    let e = s.epoch_advance().unwrap();
    let other = s.epoch_advance().unwrap();
    let hs: Vec<_> = (0..n(300, 30))
        .map(|_| s.insert_in(e, rc.clone()).unwrap())
        .collect();
    let kept = s.insert_in(other, rc.clone()).unwrap();
    let mut hs = hs.into_iter();
    for h in hs.by_ref().take(10) {
        drop(s.remove(h).unwrap());
    }
    assert_eq!(Rc::strong_count(&rc), n(300, 30) - 10 + 2);
    assert!(s.epoch_release(e).unwrap() >= 1);
    assert_eq!(
        Rc::strong_count(&rc),
        2,
        "every value of the epoch dropped once"
    );
    for h in hs {
        assert_eq!(s.get(&h).err(), Some(Error::Stale));
        assert_eq!(s.remove(h).err(), Some(Error::DoubleFree));
    }
    assert!(Rc::ptr_eq(s.get(&kept).unwrap(), &rc));
    assert_eq!(s.epoch_release(e), Err(Error::EpochNotOpen { epoch: e }));
    drop(s); // drops `kept`'s value, not the released ones again
    assert_eq!(Rc::strong_count(&rc), 1);
}

#[test]
fn typed_release_survives_a_panicking_drop() {
    use std::sync::atomic::AtomicUsize;
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Bomb(bool);
    impl Drop for Bomb {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
            if self.0 {
                panic!("bomb");
            }
        }
    }
    let mut s: TypedSlab<Bomb> = TypedSlab::with_config(small()).unwrap();
    let e = s.epoch_advance().unwrap();
    let hs: Vec<_> = (0..n(100, 12))
        .map(|i| s.insert_in(e, Bomb(i == 3)).unwrap())
        .collect();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.epoch_release(e)));
    assert!(r.is_err(), "the panic propagates");
    assert_eq!(
        DROPS.load(Ordering::Relaxed),
        n(100, 12),
        "the rest were dropped"
    );
    // The epoch was released while the panic unwound.
    for h in &hs {
        assert_eq!(s.get(h).err(), Some(Error::Stale));
    }
    assert_eq!(s.epoch_release(e), Err(Error::EpochNotOpen { epoch: e }));
    drop(s);
    assert_eq!(
        DROPS.load(Ordering::Relaxed),
        n(100, 12),
        "none dropped twice"
    );
}

#[cfg(not(miri))]
#[test]
fn rss_first_release_returns_pages_of_live_objects() {
    let _rss = RSS_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let mut a = SlabAlloc::with_config(SlabConfig {
        policy: ReclaimPolicy::RssFirst,
        ..SlabConfig::default()
    })
    .unwrap();
    let e = a.epoch_advance().unwrap();
    let before = rss_bytes().unwrap();
    // 64 MiB of 512-byte objects, touched and left live.
    let hs: Vec<_> = (0..131072)
        .map(|_| {
            let h = a.alloc_in(e, 512).unwrap();
            // SAFETY: live and ours; 512 bytes.
            unsafe { a.get_ptr(h).unwrap().as_ptr().write_bytes(1, 512) };
            h
        })
        .collect();
    let peak = rss_bytes().unwrap();
    a.epoch_release(e).unwrap();
    let after = rss_bytes().unwrap();
    assert!(peak > before + (48 << 20), "{before} -> {peak}");
    assert!(
        after < peak - (48 << 20),
        "peak {peak}, after release {after}"
    );
    assert_eq!(a.validate(hs[0]), Err(Error::Stale));
}

// === the stash ===

#[test]
fn stashed_slots_are_reused_and_stay_dead() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let e = a.epoch_current();
    let mut l = a.local();
    // Two slabs' worth: the first slab's slots are outside the magazine's slab.
    let cap = a.class_capacity(0).unwrap();
    let mut hs: Vec<_> = (0..cap * 2).map(|_| l.alloc(64).unwrap()).collect();
    let first = hs[0].parts().unwrap().slab;
    let freed: Vec<_> = hs.drain(..5).collect();
    for &h in &freed {
        l.free(h).unwrap();
        assert_eq!(a.validate(h), Err(Error::Stale));
    }
    // Drain the magazine, then the next allocations come from the stash, newest first,
    // one generation on.
    let slow = a.counters(0).unwrap().slow_path_hits;
    let mut again = Vec::new();
    while again.len() < freed.len() {
        let h = l.alloc(64).unwrap();
        if h.parts().unwrap().slab == first {
            again.push(h);
        } else {
            hs.push(h);
        }
    }
    assert_eq!(a.counters(0).unwrap().slow_path_hits, slow, "no refill");
    for (old, new) in freed.iter().rev().zip(&again) {
        let (o, n) = (old.parts().unwrap(), new.parts().unwrap());
        assert_eq!(
            (o.slab, o.slot, o.generation + 1),
            (n.slab, n.slot, n.generation)
        );
        // The old handle stays dead under every entry point.
        assert_eq!(a.validate(*old), Err(Error::Stale));
        assert_eq!(a.free(*old), Err(Error::DoubleFree));
        assert_eq!(l.free(*old), Err(Error::DoubleFree));
        // SAFETY: live and ours.
        unsafe { a.get_ptr(*new).unwrap().as_ptr().write(7) };
    }
    hs.extend(again);
    assert_distinct_slots(&hs);
    for h in hs {
        l.free(h).unwrap();
    }
    drop(l);
    // Everything went back: the close recycles every slab.
    assert_eq!(a.epoch_close(e).unwrap(), a.slabs_created() as usize);
}

#[test]
fn stash_overflow_and_epochs_keep_slots_apart() {
    let a = SlabAlloc::with_config(SlabConfig {
        max_slabs: 256,
        ..small()
    })
    .unwrap();
    let e1 = a.epoch_current();
    let e2 = a.epoch_advance().unwrap();
    let count = n(1000, 300);
    // Objects of both epochs, allocated by one `Local`, freed by another in shuffled order
    // (every free misses the freeing `Local`'s magazine): the stash overflows many times
    // and meets slots of the other epoch.
    let mut producer = a.local();
    let mut hs: Vec<(EpochId, RawHandle)> = (0..count)
        .map(|i| {
            let e = if i % 4 == 0 { e2 } else { e1 };
            (e, producer.alloc_in(e, 64).unwrap())
        })
        .collect();
    drop(producer);
    let mut x = 0x9e37_79b9u64;
    for i in (1..hs.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        hs.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut l = a.local();
    let mut live = Vec::new();
    for (k, &(e, h)) in hs.iter().enumerate() {
        l.free(h).unwrap();
        assert_eq!(l.free(h), Err(Error::DoubleFree));
        if k % 3 == 0 {
            live.push((e, l.alloc_in(e, 64).unwrap()));
        }
    }
    let handles: Vec<_> = live.iter().map(|&(_, h)| h).collect();
    assert_distinct_slots(&handles);
    // Each allocation landed in its own epoch: releasing e1 kills exactly e1's objects.
    drop(l);
    let mut a = a;
    a.epoch_release(e1).unwrap();
    for &(e, h) in &live {
        let want = if e == e1 { Err(Error::Stale) } else { Ok(()) };
        assert_eq!(a.validate(h), want);
    }
    for &(e, h) in &live {
        if e == e2 {
            a.free(h).unwrap();
        }
    }
    assert_eq!(a.epoch_close(e2).map(|r| r > 0), Ok(true));
}

#[test]
fn closed_epochs_stash_is_released() {
    let a = SlabAlloc::with_config(small()).unwrap();
    let e = a.epoch_advance().unwrap();
    let cap = a.class_capacity(0).unwrap();
    let mut l = a.local();
    let hs: Vec<_> = (0..cap * 2).map(|_| l.alloc_in(e, 64).unwrap()).collect();
    // The first slab's slots go to the stash, the second's back to the magazine.
    for &h in &hs {
        l.free(h).unwrap();
    }
    // Stash and magazine pin both slabs.
    assert_eq!(a.epoch_close(e), Ok(0));
    // The refused allocation empties both; the orphaned slabs are recycled.
    assert_eq!(l.alloc_in(e, 64), Err(Error::EpochNotOpen { epoch: e }));
    assert_eq!(a.counters(0).unwrap().empty_slab_recycled, 2);
}

#[test]
fn frees_into_a_closed_epoch_zero_are_not_stashed() {
    // No epoch but 0 was ever opened: the stash knows every slab's epoch without reading
    // it, and must still see that epoch 0 is closed.
    let a = SlabAlloc::with_config(small()).unwrap();
    let e = a.epoch_current();
    let cap = a.class_capacity(0).unwrap();
    let mut l = a.local();
    let hs: Vec<_> = (0..cap * 2).map(|_| l.alloc_in(e, 64).unwrap()).collect();
    assert_eq!(a.epoch_close(e), Ok(0));
    // The first slab's objects, then one of the second's: the first slab's word goes back
    // when the free lands in another word, and its last free recycles the orphaned slab.
    for &h in &hs[..=cap] {
        l.free(h).unwrap();
    }
    assert_eq!(a.counters(0).unwrap().empty_slab_recycled, 1);
    assert_eq!(l.alloc_in(e, 64), Err(Error::EpochNotOpen { epoch: e }));
    for &h in &hs[cap + 1..] {
        l.free(h).unwrap();
    }
    l.flush();
    assert_eq!(a.counters(0).unwrap().empty_slab_recycled, 2);
}
