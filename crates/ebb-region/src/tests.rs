//! Unit tests; they run under Miri with smaller counts.

use crate::*;
use std::cell::Cell;
use std::sync::Arc;

/// Scales a count down under Miri.
fn n(native: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { native }
}

#[derive(Clone, Copy, Debug, Trace)]
struct Cons {
    car: i64,
    cdr: Option<RPtr<Cons>>,
}

#[derive(Clone, Copy, Trace)]
struct Node {
    val: u32,
    kids: RSlice<RPtr<Node>>,
}

#[derive(Trace)]
struct Cyc {
    id: u32,
    next: Cell<Option<RPtr<Cyc>>>,
}

#[derive(Clone, Copy, Trace)]
enum Val {
    Int(i64),
    Str(RStr),
    Pair(RPtr<Val>, RPtr<Val>),
    Nil,
}

fn small() -> RegionConfig {
    RegionConfig::new().block_size(1024).unwrap()
}

fn list(r: &Region, len: usize) -> RPtr<Cons> {
    let mut l = r.alloc(Cons { car: 0, cdr: None });
    for i in 1..len {
        l = r.alloc(Cons {
            car: i as i64,
            cdr: Some(l),
        });
    }
    l
}

fn sum_list(r: &Region, mut p: Option<RPtr<Cons>>) -> (usize, i64) {
    let (mut len, mut sum) = (0, 0);
    while let Some(c) = p {
        let cell = r.get(c).unwrap();
        len += 1;
        sum += cell.car;
        p = cell.cdr;
    }
    (len, sum)
}

#[test]
fn alloc_and_read_across_blocks() {
    let r = Region::with_config(small());
    let k = n(2000, 200);
    let ps: Vec<_> = (0..k).map(|i| r.alloc(i as u64)).collect();
    assert!(r.block_count() > 1, "1 KiB blocks hold ~120 words");
    for (i, p) in ps.iter().enumerate() {
        assert_eq!(*r.get(*p).unwrap(), i as u64);
    }
    assert_eq!(r.used_bytes(), k * 8);
}

#[test]
fn large_and_aligned_objects() {
    #[derive(Clone, Copy, Trace)]
    #[repr(align(64))]
    struct A64(u8);
    let r = Region::with_config(small());
    let big = r.alloc([7u8; 3000]);
    assert!(r.get(big).unwrap().iter().all(|&b| b == 7));
    let a = r.alloc(A64(3));
    assert_eq!(a.addr() % 64, 0);
    assert_eq!(r.get(a).unwrap().0, 3);
    let s = r.alloc_slice_with(1000, |i| i as u32);
    assert_eq!(r.slice(s).unwrap()[999], 999);
}

/// `used_bytes` counts object bytes (sizes rounded to words) and nothing else: not the
/// padding before over-aligned objects, not block headers, across block changes and
/// large objects.
#[test]
fn used_bytes_counts_objects_only() {
    #[derive(Clone, Copy, Trace)]
    #[repr(align(64))]
    struct A64(u8);
    let r = Region::with_config(small());
    assert_eq!(r.used_bytes(), 0);
    let mut want = 0;
    for i in 0..n(300, 60) {
        match i % 5 {
            0 => {
                r.alloc(A64(1));
                want += 64;
            }
            1 => {
                r.alloc([1u8; 3]);
                want += 8;
            }
            2 if i % 50 == 2 => {
                r.alloc([0u8; 3000]);
                want += 3000;
            }
            _ => {
                r.alloc(i as u64);
                want += 8;
            }
        }
        assert_eq!(r.used_bytes(), want, "after allocation {i}");
    }
    assert!(r.block_count() > 3);
}

#[test]
fn block_size_is_checked() {
    assert_eq!(
        RegionConfig::new().block_size(1000).unwrap_err(),
        BlockSizeError(1000)
    );
    assert!(RegionConfig::new().block_size(512).is_err());
    assert!(BlockPool::new(1 << 30, 1).is_err());
}

#[test]
fn foreign_and_freed_pointers_are_errors() {
    let a = Region::new();
    let b = Region::new();
    let pa = a.alloc(1u64);
    assert_eq!(
        b.get(pa).unwrap_err(),
        RegionError::Foreign {
            pointer: a.id(),
            region: b.id()
        }
    );
    let sa = a.alloc_str("hi");
    assert!(b.str(sa).is_err());
    assert_eq!(a.str(sa).unwrap(), "hi");
    drop(a);
    // The region is freed; its pointer is still refused by every live region.
    assert!(matches!(b.get(pa), Err(RegionError::Foreign { .. })));
    assert!(b.handle().get(pa).is_err());
}

#[test]
fn handles_keep_the_region_alive() {
    let c = RegionCounter::new();
    let r = Region::with_config(RegionConfig::new().counter(c.clone()));
    let p = r.alloc(5u32);
    let h = r.handle();
    let h2 = h.clone();
    assert_eq!(h.counts(), (3, 0));
    drop(r);
    assert_eq!(c.live(), 1);
    let t = std::thread::spawn(move || *h2.get(p).unwrap());
    assert_eq!(t.join().unwrap(), 5);
    assert_eq!(c.live(), 1);
    drop(h);
    assert_eq!((c.created(), c.freed()), (1, 1));
}

#[test]
fn no_region_is_freed_while_tethered() {
    let c = RegionCounter::new();
    // Atomic tether.
    let r = Region::with_config(RegionConfig::new().counter(c.clone()));
    let p = r.alloc(9u8);
    let t = r.tether();
    drop(r);
    assert_eq!(c.live(), 1);
    assert_eq!(*t.get(p).unwrap(), 9);
    drop(t);
    assert_eq!(c.live(), 0);

    // Local tether: freed at the thread's second quiescent point after the last untether.
    let r = Region::with_config(RegionConfig::new().counter(c.clone()));
    let p = r.alloc(10u8);
    let h = r.handle();
    drop(r);
    let t1 = h.tether_local();
    let t2 = h.tether_local();
    assert_eq!(h.counts(), (1, 1), "the cache holds one atomic tether");
    drop(h);
    assert_eq!(quiescent(), 0, "live local tethers: nothing let go");
    assert_eq!(*t2.get(p).unwrap(), 10);
    drop(t1);
    drop(t2);
    assert_eq!(c.live(), 1, "the cache still holds it");
    assert_eq!(
        quiescent(),
        0,
        "tethered since the last quiescent point: kept"
    );
    assert_eq!(c.live(), 1, "second chance");
    assert_eq!(quiescent(), 1);
    assert_eq!(c.live(), 0);
}

#[test]
fn local_tethers_are_let_go_at_thread_exit() {
    // A thread's cache entries (idle ones) are let go when the thread exits, without a
    // quiescent point.
    let c = RegionCounter::new();
    let r = Region::with_config(RegionConfig::new().counter(c.clone()));
    let p = r.alloc(12u32);
    let h = r.into_handle();
    let h2 = h.clone();
    let v = std::thread::spawn(move || {
        let t = h2.tether_local();
        let v = *t.get(p).unwrap();
        drop(t);
        assert_eq!(h2.counts().1, 1, "the cache entry's atomic tether");
        v
    })
    .join()
    .unwrap();
    assert_eq!(v, 12);
    assert_eq!(h.counts(), (1, 0), "the exiting thread let its entry go");
    drop(h);
    assert_eq!(c.live(), 0);

    // A local tether taken and dropped by another thread-local's destructor, after the
    // cache's guard has run, is an atomic tether or an entry that the thread keeps: the
    // region stays readable while it is held, and nothing is freed twice.
    struct Late(std::cell::Cell<Option<(RegionHandle, RPtr<u32>)>>);
    impl Drop for Late {
        fn drop(&mut self) {
            if let Some((h, p)) = self.0.take() {
                let t = h.tether_local();
                assert_eq!(*t.get(p).unwrap(), 13);
                drop(t);
                // A second one in the same teardown, for an entry the cache may hold.
                let t = h.tether_local();
                assert_eq!(*t.get(p).unwrap(), 13);
            }
        }
    }
    std::thread_local! {
        static LATE: Late = const { Late(std::cell::Cell::new(None)) };
    }
    let r = Region::with_config(RegionConfig::new().counter(c.clone()));
    let p = r.alloc(13u32);
    let h = r.into_handle();
    let h2 = h.clone();
    std::thread::spawn(move || {
        // Registered before the cache's guard: on Linux destroyed after it.
        LATE.with(|l| l.0.set(Some((h2.clone(), p))));
        let t = h2.tether_local();
        assert_eq!(*t.get(p).unwrap(), 13);
    })
    .join()
    .unwrap();
    drop(h);
    // In either order of the two destructors the late tethers are gone by the thread's
    // end: after the guard, they were atomic; before it, the guard let the entry go.
    assert_eq!(c.live(), 0);
}

#[test]
fn hazard_pointer_and_epoch_tethers() {
    let c = RegionCounter::new();
    let d = ebb_smr::hp::Domain::new();
    let hh = d.register();
    let r = Region::with_config(RegionConfig::new().hazard_pointers(&d).counter(c.clone()));
    let p = r.alloc(11u16);
    let h = r.into_handle();
    let t = h.tether_hp(&hh).unwrap();
    drop(h);
    smr::collect_hp(&d);
    assert_eq!(c.live(), 1, "protected by the hazard pointer");
    assert_eq!(*t.get(p).unwrap(), 11);
    drop(t);
    smr::collect_hp(&d);
    assert_eq!(c.live(), 0);

    let e = ebb_smr::ebr::Domain::new();
    let eh = e.register();
    let r = Region::with_config(RegionConfig::new().epochs(&e).counter(c.clone()));
    let p = r.alloc(12u16);
    let h = r.into_handle();
    // Wrong strategy / domain are errors.
    assert_eq!(h.tether_hp(&hh).unwrap_err(), RegionError::WrongStrategy);
    let e2 = ebb_smr::ebr::Domain::new();
    assert_eq!(
        h.tether_epoch(&e2.register()).unwrap_err(),
        RegionError::WrongStrategy
    );
    let t = h.tether_epoch(&eh).unwrap();
    drop(h);
    smr::collect_epochs(&e);
    assert_eq!(c.live(), 1, "protected by the pinned epoch");
    assert_eq!(*t.get(p).unwrap(), 12);
    drop(t);
    smr::collect_epochs(&e);
    assert_eq!(c.live(), 0);
}

#[test]
fn tether_on_a_released_slot_is_an_error() {
    let d = ebb_smr::hp::Domain::new();
    let hh = d.register();
    let r = Region::with_config(RegionConfig::new().hazard_pointers(&d));
    let p = r.alloc(1u8);
    let slot = RegionSlot::new(r.into_handle());
    {
        let t = slot.tether_hp(&hh).unwrap();
        assert_eq!(*t.get(p).unwrap(), 1);
    }
    assert!(slot.release());
    assert!(!slot.release());
    assert_eq!(slot.tether_hp(&hh).unwrap_err(), RegionError::Released);
    // A slot of another strategy refuses before touching the region.
    let imm = RegionSlot::new(Region::new().into_handle());
    assert_eq!(imm.tether_hp(&hh).unwrap_err(), RegionError::WrongStrategy);
    let e = ebb_smr::ebr::Domain::new();
    let eh = e.register();
    let r = Region::with_config(RegionConfig::new().epochs(&e));
    let slot = RegionSlot::new(r.into_handle());
    assert!(slot.tether_epoch(&eh).is_ok());
    slot.release();
    assert_eq!(slot.tether_epoch(&eh).unwrap_err(), RegionError::Released);
}

#[test]
fn transmigrate_list_and_free_the_source() {
    let c = RegionCounter::new();
    let src = Region::with_config(small().counter(c.clone()));
    let k = n(5000, 300);
    let l = list(&src, k);
    let dst = Region::with_config(small().counter(c.clone()));
    let (copy, (objs, bytes)) = transmigrate_counted(&src, l, &dst).unwrap();
    assert_eq!((objs, bytes), (k, k * size_of::<Cons>()));
    drop(src);
    assert_eq!(c.live(), 1);
    assert_eq!(copy.region_id(), dst.id());
    assert_eq!(sum_list(&dst, Some(copy)), (k, (k * (k - 1) / 2) as i64));
}

#[test]
fn sharing_is_preserved() {
    let src = Region::with_config(small());
    let shared = src.alloc(Node {
        val: 7,
        kids: src.alloc_slice(&[]),
    });
    let kids = src.alloc_slice(&[shared, shared]);
    let a = src.alloc(Node { val: 1, kids });
    let root = src.alloc(Node {
        val: 0,
        kids: src.alloc_slice(&[a, shared]),
    });
    let dst = Region::new();
    for naive in [false, true] {
        let (r, _) = if naive {
            (transmigrate_naive(&src, root, &dst).unwrap(), ())
        } else {
            (transmigrate(&src, root, &dst).unwrap(), ())
        };
        let rn = dst.get(r).unwrap();
        let k = dst.slice(rn.kids).unwrap();
        let an = dst.get(k[0]).unwrap();
        let ak = dst.slice(an.kids).unwrap();
        assert_eq!(ak[0], ak[1]);
        assert_eq!(ak[0], k[1], "one copy of the shared node");
        assert_eq!(dst.get(k[1]).unwrap().val, 7);
        assert_ne!(k[1], shared);
    }
}

#[test]
fn cycles_are_preserved() {
    let src = Region::with_config(small());
    let k = n(100, 20) as u32;
    let first = src.alloc(Cyc {
        id: 0,
        next: Cell::new(None),
    });
    let mut prev = first;
    for i in 1..k {
        let c = src.alloc(Cyc {
            id: i,
            next: Cell::new(None),
        });
        src.get(prev).unwrap().next.set(Some(c));
        prev = c;
    }
    src.get(prev).unwrap().next.set(Some(first));
    let dst = Region::new();
    let copy = transmigrate(&src, first, &dst).unwrap();
    let mut p = copy;
    for i in 0..k {
        let c = dst.get(p).unwrap();
        assert_eq!(c.id, i);
        p = c.next.get().unwrap();
    }
    assert_eq!(p, copy, "the cycle closes on the copy");
}

#[test]
fn enums_strings_and_slices() {
    let src = Region::new();
    let s = src.alloc(Val::Str(src.alloc_str("héllo")));
    let i = src.alloc(Val::Int(4));
    let p = src.alloc(Val::Pair(s, i));
    let nil = src.alloc(Val::Nil);
    let root = src.alloc(Val::Pair(p, nil));
    let dst = Region::new();
    let r = transmigrate(&src, root, &dst).unwrap();
    drop(src);
    let Val::Pair(p, nil) = *dst.get(r).unwrap() else {
        panic!()
    };
    assert!(matches!(dst.get(nil).unwrap(), Val::Nil));
    let Val::Pair(s, i) = *dst.get(p).unwrap() else {
        panic!()
    };
    let Val::Str(s) = *dst.get(s).unwrap() else {
        panic!()
    };
    assert_eq!(dst.str(s).unwrap(), "héllo");
    assert!(matches!(dst.get(i).unwrap(), Val::Int(4)));
}

#[test]
fn third_region_pointers_are_refused() {
    let src = Region::new();
    let third = Region::new();
    let t = third.alloc(Cons { car: 1, cdr: None });
    let root = src.alloc(Cons {
        car: 0,
        cdr: Some(t),
    });
    let dst = Region::new();
    let e = RegionError::Foreign {
        pointer: third.id(),
        region: src.id(),
    };
    assert_eq!(transmigrate(&src, root, &dst).unwrap_err(), e);
    assert_eq!(transmigrate_naive(&src, root, &dst).unwrap_err(), e);
    assert!(
        transmigrate(&src, t, &dst)
            .unwrap_err()
            .to_string()
            .contains("does not hold it")
    );
    assert_eq!(
        transmigrate(&src, root, &src).unwrap_err(),
        RegionError::SameRegion
    );
    let (src, err) = splice(src, root, &dst).unwrap_err();
    assert_eq!(err, e);
    drop(src);
}

#[test]
fn adopt_keeps_pointers_valid() {
    let c = RegionCounter::new();
    let a = Region::with_config(small().counter(c.clone()));
    let l = list(&a, n(500, 50));
    let b = Region::with_config(RegionConfig::new().counter(c.clone()));
    adopt(&b, a);
    assert_eq!(c.live(), 2);
    assert_eq!(sum_list(&b, Some(l)).0, n(500, 50));
    assert_eq!(b.absorbed(), 1);
    // A region that adopted `b` reads `a`'s pointers too (transitively).
    let z = Region::new();
    adopt(&z, b);
    assert!(z.get(l).is_ok());
    // Transmigrating from the adopter copies through the small map.
    let d = Region::new();
    let copy = transmigrate(&z, l, &d).unwrap();
    drop(z);
    assert_eq!(c.live(), 0);
    assert_eq!(sum_list(&d, Some(copy)).0, n(500, 50));
}

#[test]
fn splice_moves_only_the_graph_blocks() {
    let pool = BlockPool::new(1024, 1000).unwrap();
    let src = Region::with_config(RegionConfig::new().pool(pool.clone()));
    let garbage: Vec<_> = (0..300).map(|i| src.alloc([i as u64; 4])).collect();
    let l = list(&src, n(200, 40));
    let more: Vec<_> = (0..300).map(|i| src.alloc([i as u64; 4])).collect();
    let blocks = src.block_count();
    let dst = Region::new();
    let h = src.handle();
    let (src, e) = splice(src, l, &dst).unwrap_err();
    assert_eq!(e, RegionError::Shared, "a handle is alive");
    drop(h);
    let before = pool.cached();
    let root = splice(src, l, &dst).unwrap();
    let freed = pool.cached() - before;
    assert!(
        freed > 0 && freed < blocks,
        "{freed} of {blocks} blocks went back"
    );
    assert_eq!(sum_list(&dst, Some(root)).0, n(200, 40));
    assert!(dst.get(garbage[0]).is_err(), "garbage block was freed");
    assert!(dst.get(more[299]).is_err());

    // A hazard-pointer region may be read by tethers it does not count: never spliced.
    let d = ebb_smr::hp::Domain::new();
    let src = Region::with_config(RegionConfig::new().hazard_pointers(&d));
    let l = list(&src, 3);
    let (src, e) = splice(src, l, &dst).unwrap_err();
    assert_eq!(e, RegionError::Shared);
    drop(src);
    smr::collect_hp(&d);
}

#[test]
fn incremental_evacuation() {
    let c = RegionCounter::new();
    let src = Region::with_config(small().counter(c.clone()));
    let k = n(300, 40);
    let l = list(&src, k);
    let mut ev = Evacuation::start(src, l).unwrap();
    assert_eq!(ev.evacuated(), 1);
    assert!(!ev.step(10).unwrap());
    // The proxy reads the evacuated prefix from copies and the rest from the source.
    let mut p = Some(ev.root());
    let mut len = 0;
    while let Some(x) = p {
        p = ev.get(x).unwrap().cdr;
        len += 1;
    }
    assert_eq!(len, k);
    let dst = Region::new();
    assert!(
        dst.get(ev.root()).is_err(),
        "copies are staged until finish"
    );
    let root = ev.finish(&dst).unwrap();
    assert_eq!(c.live(), 0, "source freed");
    assert_eq!(sum_list(&dst, Some(root)), (k, (k * (k - 1) / 2) as i64));
}

#[test]
fn adaptive_evacuator_picks_by_size() {
    let th = Thresholds::new(1 << 10, 1 << 14);
    let dst = Region::new();
    let s = Region::with_config(small());
    let l = list(&s, 10);
    assert_eq!(evacuate(s, l, &dst, th).unwrap().1, Evacuated::Copied);
    let s = Region::with_config(small());
    let l = list(&s, 200);
    let (r, how) = evacuate(s, l, &dst, th).unwrap();
    assert_eq!(how, Evacuated::Spliced);
    assert_eq!(sum_list(&dst, Some(r)).0, 200);
    let s = Region::with_config(small());
    let l = list(&s, 1000);
    let (r, how) = evacuate(s, l, &dst, th).unwrap();
    assert_eq!(how, Evacuated::Adopted);
    assert_eq!(sum_list(&dst, Some(r)).0, 1000);
}

#[test]
fn pool_recycles_and_prefaults() {
    let pool = BlockPool::new(4096, 8).unwrap();
    pool.prefault(3);
    assert_eq!(pool.cached(), 3);
    let r = Region::with_config(RegionConfig::new().pool(pool.clone()));
    r.alloc([0u8; 100]);
    assert_eq!(pool.cached(), 2);
    drop(r);
    assert_eq!(pool.cached(), 3);
    pool.prefault(100);
    assert_eq!(pool.cached(), 8, "capped at max_cached");
}

#[test]
fn prefaulted_blocks_are_adjacent_and_keep_their_order() {
    // Blocks of 4 KiB, objects of 1 KiB: three objects a block (after the header).
    let pool = BlockPool::new(4096, 4).unwrap();
    pool.prefault(4);
    let bases = |pool: &Arc<BlockPool>| {
        let r = Region::with_config(RegionConfig::new().pool(pool.clone()));
        let v: Vec<usize> = (0..9)
            .map(|i| r.get(r.alloc([i as u8; 1024])).unwrap() as *const _ as usize & !4095)
            .collect();
        assert_eq!(*r.get(r.alloc(7u8)).unwrap(), 7, "a fourth block");
        v
    };
    let first = bases(&pool);
    assert_eq!(
        first[3],
        first[0] + 4096,
        "the second block follows the first"
    );
    assert_eq!(first[6], first[3] + 4096);
    assert_eq!(pool.cached(), 4, "all back");
    assert_eq!(
        bases(&pool),
        first,
        "the next region takes them in the same order"
    );

    // Slab blocks are always kept; other blocks only while fewer than `max_cached` are
    // free. Six blocks: four from the slab, two fresh, given back last first.
    let r = Region::with_config(RegionConfig::new().pool(pool.clone()));
    for i in 0..18 {
        r.alloc([i as u8; 1024]);
    }
    assert_eq!(pool.cached(), 0);
    drop(r);
    assert_eq!(
        pool.cached(),
        6,
        "both fresh blocks came back to a list with room"
    );
    let r = Region::with_config(RegionConfig::new().pool(pool.clone()));
    for i in 0..27 {
        r.alloc([i as u8; 1024]); // nine blocks: the six, three more fresh
    }
    assert_eq!(pool.cached(), 0);
    drop(r);
    // Given back last first: four fresh blocks fill the list to `max_cached`, the fifth
    // is freed, the slab's four are kept.
    assert_eq!(pool.cached(), 8);
    drop(pool);
}

#[test]
fn deep_list_uses_no_stack() {
    // 10M under the integration test; here enough to overflow a recursive copy of a small
    // thread's stack, which the worklist does not use.
    let k = n(200_000, 2_000);
    let t = std::thread::Builder::new()
        .stack_size(64 << 10)
        .spawn(move || {
            let src = Region::new();
            let l = list(&src, k);
            let dst = Region::new();
            let c = transmigrate(&src, l, &dst).unwrap();
            sum_list(&dst, Some(c)).0
        })
        .unwrap();
    assert_eq!(t.join().unwrap(), k);
}

#[test]
fn types_are_send_and_sync_as_documented() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<RegionHandle>();
    send_sync::<Tether>();
    send_sync::<RPtr<Cyc>>();
    send::<Region>();
    let _ = Arc::new(());
}

#[test]
fn large_objects_transmigrate() {
    // Objects bigger than a block live in blocks of their own; the bitmap still finds
    // them through the header at the start of their block.
    #[derive(Clone, Copy, Trace)]
    struct Big {
        pad: [u64; 300],
        next: Option<RPtr<Big>>,
        items: RSlice<RPtr<Cons>>,
    }
    let src = Region::with_config(small());
    let cells: Vec<_> = (0..200)
        .map(|i| src.alloc(Cons { car: i, cdr: None }))
        .collect();
    let items = src.alloc_slice(&cells);
    let a = src.alloc(Big {
        pad: [1; 300],
        next: None,
        items,
    });
    let b = src.alloc(Big {
        pad: [2; 300],
        next: Some(a),
        items,
    });
    let dst = Region::with_config(small());
    let (c, (objs, _)) = transmigrate_counted(&src, b, &dst).unwrap();
    assert_eq!(objs, 2 + 1 + 200, "two Bigs, one shared slice, 200 cells");
    drop(src);
    let cb = dst.get(c).unwrap();
    let ca = dst.get(cb.next.unwrap()).unwrap();
    assert_eq!((cb.pad[299], ca.pad[0]), (2, 1));
    assert_eq!(cb.items.region_id(), dst.id());
    let xs = dst.slice(ca.items).unwrap();
    assert_eq!(dst.get(xs[199]).unwrap().car, 199);
}

#[test]
fn large_sources_are_mirrored_block_for_block() {
    // A dense list over many 1 KiB blocks: its blocks are mirrored, so every copy sits at
    // its original offset in its block (a compacting copy of the list, made head first,
    // would reverse the order and shift every offset).
    let src = Region::with_config(small());
    let len = n(4000, 2000);
    let l = list(&src, len);
    let dst = Region::with_config(small());
    let (c, (objects, bytes)) = transmigrate_counted(&src, l, &dst).unwrap();
    assert_eq!((objects, bytes), (len, len * size_of::<Cons>()));
    assert_eq!(dst.used_bytes(), bytes);
    let (mut a, mut b) = (Some(l), Some(c));
    while let (Some(x), Some(y)) = (a, b) {
        assert_eq!(x.addr() % 1024, y.addr() % 1024);
        assert_eq!(src.get(x).unwrap().car, dst.get(y).unwrap().car);
        a = src.get(x).unwrap().cdr;
        b = dst.get(y).unwrap().cdr;
    }
    assert!(a.is_none() && b.is_none());
    drop(src);
    assert_eq!(sum_list(&dst, Some(c)), (len, (len * (len - 1) / 2) as i64));

    // Sharing and a cycle across mirrored and compact blocks, with garbage between the
    // reachable objects (every third node is unreachable).
    let src = Region::with_config(small());
    let k = n(3000, 1500);
    let nodes: Vec<RPtr<Cyc>> = (0..k)
        .map(|i| {
            src.alloc(Cyc {
                id: i as u32,
                next: Cell::new(None),
            })
        })
        .collect();
    let live: Vec<usize> = (0..k).filter(|i| i % 3 != 1).collect();
    for w in live.windows(2) {
        src.get(nodes[w[0]]).unwrap().next.set(Some(nodes[w[1]]));
    }
    let last = *live.last().unwrap();
    src.get(nodes[last]).unwrap().next.set(Some(nodes[0]));
    let dst = Region::with_config(small());
    let (c, (objects, _)) = transmigrate_counted(&src, nodes[0], &dst).unwrap();
    assert_eq!(objects, live.len());
    let mut p = c;
    for &i in &live {
        let cell = dst.get(p).unwrap();
        assert_eq!(cell.id as usize, i);
        p = cell.next.get().unwrap();
    }
    assert_eq!(p, c, "the cycle closes on the root's copy");

    // The incremental evacuation mirrors too, and its proxy reads mirrored copies.
    let l2 = list(&src, len);
    let mut ev = Evacuation::start(src, l2).unwrap();
    ev.step(len / 2).unwrap();
    let mut p = Some(ev.root());
    let mut seen = 0;
    while let Some(x) = p {
        p = ev.get(x).unwrap().cdr;
        seen += 1;
    }
    assert_eq!(seen, len);
    let r = ev.finish(&dst).unwrap();
    assert_eq!(sum_list(&dst, Some(r)).0, len);
}

#[derive(Trace)]
struct Bin {
    id: u32,
    l: Cell<Option<RPtr<Bin>>>,
    r: Cell<Option<RPtr<Bin>>>,
}

/// A binary tree of `k` nodes over many 1 KiB blocks, allocated in a shuffled order (so
/// that its blocks are copied compactly, through the delay line and the prefetches), with
/// every fifth right child replaced by an earlier node (shared) and every leaf's left
/// child pointing back at the root (cycles).
fn scattered_tree(src: &Region, k: usize) -> Vec<RPtr<Bin>> {
    let mut order: Vec<usize> = (0..k).collect();
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for i in (1..k).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut nodes = vec![None; k];
    for &i in &order {
        nodes[i] = Some(src.alloc(Bin {
            id: i as u32,
            l: Cell::new(None),
            r: Cell::new(None),
        }));
    }
    let nodes: Vec<RPtr<Bin>> = nodes.into_iter().map(Option::unwrap).collect();
    for i in 0..k {
        let b = src.get(nodes[i]).unwrap();
        let (l, r) = (2 * i + 1, 2 * i + 2);
        if l < k {
            b.l.set(Some(nodes[l]));
        } else {
            b.l.set(Some(nodes[0]));
        }
        if r < k {
            b.r.set(Some(if i % 5 == 4 { nodes[i / 2] } else { nodes[r] }));
        }
    }
    nodes
}

/// Checks that the graph from `b` in `dst` has the shape of the graph from `a` in `src`:
/// same ids, and one copy per source node (sharing and cycles kept). Returns the nodes.
fn same_graph(src: &Region, a: RPtr<Bin>, dst: &Region, b: RPtr<Bin>) -> usize {
    let mut map = std::collections::HashMap::new();
    let mut stack = vec![(a, b)];
    while let Some((x, y)) = stack.pop() {
        if let Some(&prev) = map.get(&x.addr()) {
            assert_eq!(prev, y.addr(), "one copy per node");
            continue;
        }
        map.insert(x.addr(), y.addr());
        let (xs, ys) = (src.get(x).unwrap(), dst.get(y).unwrap());
        assert_eq!(xs.id, ys.id);
        for (p, q) in [(xs.l.get(), ys.l.get()), (xs.r.get(), ys.r.get())] {
            assert_eq!(p.is_some(), q.is_some());
            if let (Some(p), Some(q)) = (p, q) {
                stack.push((p, q));
            }
        }
    }
    map.len()
}

#[test]
fn scattered_graphs_copy_through_the_delay_line() {
    let src = Region::with_config(small());
    let k = n(20_000, 900);
    let nodes = scattered_tree(&src, k);
    assert!(src.block_count() >= 32, "a large source");
    let dst = Region::with_config(small());
    let (c, (objects, bytes)) = transmigrate_counted(&src, nodes[0], &dst).unwrap();
    let reached = same_graph(&src, nodes[0], &dst, c);
    assert_eq!(objects, reached);
    assert_eq!(bytes, reached * size_of::<Bin>());
    assert_eq!(dst.used_bytes(), bytes);

    // Incrementally, one object per step: the delay line holds scans across steps.
    let dst2 = Region::with_config(small());
    let mut ev = Evacuation::start(src, nodes[0]).unwrap();
    let mut steps = 0;
    while !ev.step(1).unwrap() {
        steps += 1;
        assert!(steps <= 2 * reached, "the evacuation ends");
    }
    assert_eq!(ev.evacuated(), reached);
    let r = ev.finish(&dst2).unwrap();
    assert_eq!(same_graph(&dst, c, &dst2, r), reached);
}
