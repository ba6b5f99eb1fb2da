//! Unit tests that run under Miri too (`cargo +nightly miri test -p ebb-smr --lib`).

use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::testing::{Canary, RcuCell, TreiberStack};
use crate::{Smr, SmrError, SmrGuard, SmrHandle, ebr, hp, qsbr};
use std::sync::Arc as StdArc;
use std::sync::atomic::AtomicBool;

/// Scales iteration counts down under Miri.
const fn n(full: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { full }
}

// === generic: one data structure, three schemes ===

fn stack_round_trip<S: Smr>(domain: S) {
    let drops = AtomicUsize::new(0);
    let stack = TreiberStack::new();
    let count = n(1000, 20);
    {
        let mut h = domain.register();
        for i in 0..count {
            stack.push(i);
        }
        let mut sum = 0;
        for _ in 0..count {
            let mut g = h.pin();
            sum += stack.pop(&mut g).unwrap();
        }
        assert_eq!(sum, count * (count - 1) / 2);
        assert!(stack.pop(&mut h.pin()).is_none());
        h.quiescent();
        h.flush();
        let cell = RcuCell::new(domain.id(), 1, &drops);
        for v in 2..10 {
            cell.write(&h.pin(), v, &drops).unwrap();
            assert_eq!(cell.read(&mut h.pin()).unwrap(), v);
            h.quiescent();
        }
        drop(cell);
    }
    // Every node and canary retired through the handle is freed at the latest when the
    // domain goes away.
    let s = domain.stats();
    assert_eq!(s.retired_objects, (count + 8) as u64);
    drop(domain);
    assert_eq!(drops.load(Ordering::Relaxed), 9);
}

#[test]
fn treiber_stack_and_rcu_cell_under_every_scheme() {
    stack_round_trip(qsbr::Domain::new());
    stack_round_trip(ebr::Domain::new());
    stack_round_trip(hp::Domain::new());
}

fn concurrent_rcu_cell<S: Smr>(domain: S) {
    let drops = StdArc::new(AtomicUsize::new(0));
    let cell = StdArc::new(RcuCell::new(domain.id(), 0, &drops));
    let writes = n(2000, 30) as u64;
    let stop = StdArc::new(AtomicBool::new(false));
    let reader = {
        let (domain, cell, stop) = (domain.clone(), cell.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut h = domain.register();
            let mut last = 0;
            while !stop.load(Ordering::Relaxed) {
                let v = cell.read(&mut h.pin()).unwrap();
                assert!(v >= last, "values only grow");
                last = v;
                h.quiescent();
            }
        })
    };
    {
        let mut h = domain.register();
        for v in 1..=writes {
            cell.write(&h.pin(), v, &drops).unwrap();
            h.quiescent();
        }
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap();
        h.flush();
    }
    drop(cell);
    drop(domain);
    assert_eq!(drops.load(Ordering::Relaxed) as u64, writes + 1);
}

#[test]
fn concurrent_rcu_cell_under_every_scheme() {
    concurrent_rcu_cell(qsbr::Domain::new());
    concurrent_rcu_cell(ebr::Domain::new());
    concurrent_rcu_cell(hp::Domain::new());
}

fn foreign_guard_is_refused<S: Smr>(a: S, b: S) {
    let drops = AtomicUsize::new(0);
    let cell = RcuCell::new(a.id(), 1, &drops);
    let hb = b.register();
    let mut g = hb.pin();
    assert_eq!(
        cell.read(&mut g),
        Err(SmrError::ForeignDomain {
            expected: a.id(),
            found: b.id()
        })
    );
    assert!(cell.write(&g, 2, &drops).is_err());
    assert_eq!(g.domain_id(), hb.domain_id());
}

#[test]
fn guard_of_another_domain_is_an_error() {
    foreign_guard_is_refused(qsbr::Domain::new(), qsbr::Domain::new());
    foreign_guard_is_refused(ebr::Domain::new(), ebr::Domain::new());
    foreign_guard_is_refused(hp::Domain::new(), hp::Domain::new());
}

#[test]
#[should_panic(expected = "out of range")]
fn protect_slot_out_of_range_panics() {
    let d = hp::Domain::new();
    let h = d.register();
    let p = crate::AtomicPtr::<u8>::new(core::ptr::null_mut());
    h.pin().protect(4, &p);
}

// === QSBR ===

#[test]
fn qsbr_synchronize_waits_for_online_readers() {
    let d = qsbr::Domain::new();
    let reported = StdArc::new(AtomicBool::new(false));
    let mut me = d.register();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let t = {
        let (d, reported) = (d.clone(), reported.clone());
        std::thread::spawn(move || {
            let mut h = d.register();
            ready_tx.send(()).unwrap();
            // Stay online, not quiescent, for a while, then report.
            std::thread::sleep(std::time::Duration::from_millis(20));
            reported.store(true, Ordering::SeqCst);
            h.quiescent();
        })
    };
    ready_rx.recv().unwrap();
    me.synchronize().unwrap();
    // The grace period could only end after the other thread reported (or exited).
    assert!(reported.load(Ordering::SeqCst));
    t.join().unwrap();
}

#[test]
fn qsbr_offline_threads_do_not_hold_grace_periods() {
    let d = qsbr::Domain::new();
    let mut a = d.register();
    let mut b = d.register_for_test_on_other_owner();
    b.offline(|_| a.synchronize().unwrap());
    // Back online: `b` counts again and has not reported, so a non-blocking flush of
    // a's batch cannot free it yet; a quiescent state of `b` lets it.
    let drops = AtomicUsize::new(0);
    // SAFETY: a fresh canary, unreachable, retired once.
    unsafe { a.retire(Canary::boxed(1, &drops), Canary::drop_fn) };
    a.flush();
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    b.quiescent();
    a.quiescent();
    a.flush();
    assert_eq!(drops.load(Ordering::Relaxed), 1);
}

#[test]
fn qsbr_synchronize_from_an_online_thread_is_an_error() {
    let d = qsbr::Domain::new();
    let mut h = d.register();
    assert_eq!(d.synchronize(), Err(SmrError::WouldDeadlock));
    h.offline(|_| assert_eq!(d.synchronize(), Ok(())));
    // Two online handles of one thread: each would wait for the other.
    let mut h2 = d.register();
    assert_eq!(h.synchronize(), Err(SmrError::WouldDeadlock));
    assert_eq!(h.barrier(), Err(SmrError::WouldDeadlock));
    h2.offline(|off| {
        assert_eq!(off.synchronize(), Err(SmrError::WouldDeadlock));
        assert_eq!(h.synchronize(), Ok(()));
    });
    drop(h2);
    assert_eq!(h.synchronize(), Ok(()));
    // Another domain is unaffected.
    assert_eq!(qsbr::Domain::new().synchronize(), Ok(()));
    assert!(SmrError::WouldDeadlock.to_string().contains("deadlock"));
}

#[test]
fn qsbr_defer_and_barrier_run_callbacks() {
    let d = qsbr::Domain::new();
    let mut h = d.register();
    let ran = StdArc::new(AtomicUsize::new(0));
    for _ in 0..n(300, 5) {
        let ran = ran.clone();
        h.defer(move || {
            ran.fetch_add(1, Ordering::Relaxed);
        });
    }
    h.barrier().unwrap();
    assert_eq!(ran.load(Ordering::Relaxed), n(300, 5));
    assert_eq!(h.pending(), 0);
    let s = d.stats();
    assert_eq!(s.pending_objects, 0);
    assert_eq!(s.reclaimed_objects, n(300, 5) as u64);
    assert!(s.grace_periods >= 1);
}

#[test]
fn qsbr_exited_thread_leaks_nothing() {
    let d = qsbr::Domain::new();
    let drops = StdArc::new(AtomicUsize::new(0));
    let mut blocker = d.register();
    let t = {
        let (d, drops) = (d.clone(), drops.clone());
        std::thread::spawn(move || {
            let h = d.register();
            for i in 0..n(500, 7) {
                // SAFETY: fresh canaries, unreachable, retired once.
                unsafe { h.retire(Canary::boxed(i as u64, &drops), Canary::drop_fn) };
            }
            // Exits while `blocker` holds the grace periods: the batches are orphaned.
        })
    };
    t.join().unwrap();
    assert!(d.stats().pending_objects > 0);
    blocker.quiescent();
    blocker.barrier().unwrap();
    assert_eq!(drops.load(Ordering::Relaxed), n(500, 7));
    assert_eq!(d.stats().pending_objects, 0);
    // The record is reused by the next thread.
    let records = d.stats().threads;
    std::thread::spawn({
        let d = d.clone();
        move || drop(d.register())
    })
    .join()
    .unwrap();
    assert_eq!(d.stats().threads, records);
}

#[test]
fn qsbr_stalled_reader_grows_garbage_then_drains() {
    let d = qsbr::Domain::new();
    let drops = AtomicUsize::new(0);
    let mut writer = d.register();
    let mut stalled = d.register_for_test_on_other_owner();
    let count = n(1000, 10);
    for i in 0..count {
        // SAFETY: fresh canaries, unreachable, retired once.
        unsafe { writer.retire(Canary::boxed(i as u64, &drops), Canary::drop_fn) };
        writer.quiescent();
    }
    writer.flush();
    let s = d.stats();
    assert_eq!(
        s.pending_objects, count as u64,
        "nothing freed while a reader stalls"
    );
    assert_eq!(s.pending_bytes, (count * size_of::<Canary>()) as u64);
    stalled.quiescent();
    writer.quiescent();
    writer.flush();
    assert_eq!(d.stats().pending_objects, 0);
    assert_eq!(drops.load(Ordering::Relaxed), count);
}

impl qsbr::Domain {
    /// Registers a handle that the deadlock check attributes to no thread, to drive two
    /// "threads" from one test thread.
    fn register_for_test_on_other_owner(&self) -> qsbr::Handle {
        let h = self.register();
        h.set_owner_for_test(usize::MAX);
        h
    }
}

// === EBR ===

#[test]
fn ebr_nested_pins_and_epoch_advance() {
    let d = ebr::Domain::new();
    let h = d.register();
    assert!(!h.is_pinned());
    {
        let _a = h.pin();
        let _b = h.pin();
        assert!(h.is_pinned());
    }
    assert!(!h.is_pinned());
    // The outer guard may drop first: the thread stays pinned until the last guard.
    let a = h.pin();
    let b = h.pin();
    let c = h.pin();
    drop(a);
    assert!(h.is_pinned());
    drop(c);
    assert!(h.is_pinned());
    let e = d.epoch();
    h.flush();
    h.flush();
    assert!(d.epoch() <= e + 1, "a pinned thread holds the epoch");
    drop(b);
    assert!(!h.is_pinned());
    let e = d.epoch();
    h.flush();
    assert!(d.epoch() > e, "an unpinned domain advances");
    assert!(d.stats().grace_periods >= 1);
}

#[test]
fn ebr_stalled_reader_grows_garbage_then_drains() {
    let d = ebr::Domain::new();
    let drops = AtomicUsize::new(0);
    let writer = d.register();
    let reader = d.register();
    let count = n(2000, 12);
    let g = reader.pin();
    for i in 0..count {
        let wg = writer.pin();
        // SAFETY: fresh canaries, unreachable, retired once.
        unsafe { wg.retire(Canary::boxed(i as u64, &drops), Canary::drop_fn) };
    }
    writer.flush();
    writer.flush();
    // The pinned reader holds the epoch: at most one step, so nothing is two steps old.
    assert_eq!(d.stats().pending_objects, count as u64);
    drop(g);
    writer.flush();
    writer.flush();
    writer.flush();
    assert_eq!(d.stats().pending_objects, 0);
    assert_eq!(drops.load(Ordering::Relaxed), count);
}

#[test]
fn ebr_atomic_shared_owned() {
    use ebr::{Atomic, Owned};
    let d = ebr::Domain::new();
    let h = d.register();
    let a = Atomic::new(1u64);
    {
        let g = h.pin();
        let cur = a.load(0, &g);
        // SAFETY: `a` only holds `Owned` boxes retired through `d`.
        assert_eq!(unsafe { *cur.deref() }, 1);
        let fail = a
            .compare_exchange(
                ebr::Shared::null(),
                Owned::new(5),
                Ordering::AcqRel,
                Ordering::Acquire,
                &g,
            )
            .unwrap_err();
        assert_eq!(fail.current, cur);
        assert_eq!(*fail.new, 5);
        let new = a
            .compare_exchange(cur, fail.new, Ordering::AcqRel, Ordering::Acquire, &g)
            .unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { new.as_ref() }, Some(&5));
        // SAFETY: `cur` was unlinked by the CAS and is destroyed once.
        unsafe { g.defer_destroy(cur) };
        let old = a.swap(Owned::new(9), Ordering::AcqRel, &g);
        // SAFETY: as above.
        unsafe { g.defer_destroy(old) };
        let ran = StdArc::new(AtomicBool::new(false));
        let r = ran.clone();
        g.defer(move || r.store(true, Ordering::Relaxed));
        g.flush();
    }
    h.flush();
    h.flush();
    h.flush();
    assert_eq!(d.stats().pending_objects, 0);
    // SAFETY: nobody else uses `a`.
    assert_eq!(*unsafe { a.into_owned() }.unwrap().into_box(), 9);
}

#[test]
fn ebr_exited_thread_leaks_nothing() {
    let d = ebr::Domain::new();
    let drops = StdArc::new(AtomicUsize::new(0));
    let reader = d.register();
    let g = reader.pin();
    std::thread::spawn({
        let (d, drops) = (d.clone(), drops.clone());
        move || {
            let h = d.register();
            for i in 0..n(300, 5) {
                // SAFETY: fresh canaries, unreachable, retired once.
                unsafe {
                    h.pin()
                        .retire(Canary::boxed(i as u64, &drops), Canary::drop_fn)
                };
            }
        }
    })
    .join()
    .unwrap();
    assert_eq!(d.stats().pending_objects, n(300, 5) as u64);
    drop(g);
    for _ in 0..4 {
        reader.flush();
    }
    assert_eq!(drops.load(Ordering::Relaxed), n(300, 5));
    // Whatever is left when the last reference goes is freed by the domain.
    let d2 = ebr::Domain::new();
    let drops2 = StdArc::new(AtomicUsize::new(0));
    {
        let h = d2.register();
        let _pinned = h.pin();
        // SAFETY: as above.
        unsafe { h.pin().retire(Canary::boxed(0, &drops2), Canary::drop_fn) };
    }
    drop(d2);
    assert_eq!(drops2.load(Ordering::Relaxed), 1);
}

#[cfg(not(miri))]
#[test]
fn ebr_default_domain() {
    let e = ebr::with_guard(|g| g.handle().domain_id());
    assert_eq!(e, ebr::default_domain().id());
    assert_ne!(qsbr::default_domain().id(), hp::default_domain().id());
}

// === HP ===

#[test]
fn hp_protected_object_survives_scans() {
    let d = hp::Domain::new();
    let drops = AtomicUsize::new(0);
    let reader = d.register();
    let writer = d.register();
    let src = crate::AtomicPtr::new(Canary::boxed(0, &drops));
    let mut g = reader.pin();
    let p = g.protect(0, &src);
    let old = src.swap(Canary::boxed(1, &drops), Ordering::AcqRel);
    assert_eq!(old, p);
    // SAFETY: unlinked by the swap, retired once.
    unsafe { writer.retire(old, Canary::drop_fn) };
    for i in 0..n(500, 10) {
        // SAFETY: fresh canaries, unreachable, retired once.
        unsafe { writer.retire(Canary::boxed(i as u64, &drops), Canary::drop_fn) };
    }
    writer.flush();
    assert_eq!(Canary::check(p), 0, "still protected");
    assert_eq!(d.stats().pending_objects, 1);
    assert!(d.stats().pending_objects as usize <= d.garbage_bound());
    drop(g);
    writer.flush();
    assert_eq!(d.stats().pending_objects, 0);
    // SAFETY: the last canary is ours.
    unsafe { Canary::drop_fn(src.load(Ordering::Relaxed)) };
    assert_eq!(drops.load(Ordering::Relaxed), n(500, 10) + 2);
}

#[test]
fn hp_more_protections_than_one_record_holds() {
    let d = hp::Domain::new();
    let h = d.register();
    let values: Vec<u64> = (0..12).collect();
    let srcs: Vec<crate::AtomicPtr<u64>> = values
        .iter()
        .map(|v| crate::AtomicPtr::new(v as *const u64 as *mut u64))
        .collect();
    let mut guards: Vec<hp::Guard<'_>> = (0..3).map(|_| h.pin()).collect();
    for (i, s) in srcs.iter().enumerate() {
        let p = guards[i / 4].protect(i % 4, s);
        // SAFETY: points into `values`, alive for the whole test.
        assert_eq!(unsafe { *p }, i as u64);
    }
    assert_eq!(d.records(), 2, "a second record was taken");
    assert_eq!(d.stats().threads, 1, "by the same thread");
    guards[0].reset(1);
    drop(guards);
    // The cells went back to the cache: more guards need no more records.
    let mut g = h.pin();
    let mut g2 = h.pin();
    for i in 0..4 {
        g.protect(i, &srcs[i]);
        g2.protect(i, &srcs[i + 4]);
    }
    let mut g3 = h.pin();
    g3.protect(0, &srcs[8]);
    assert_eq!(d.records(), 2);
}

#[test]
fn hp_exited_thread_garbage_is_adopted() {
    let d = hp::Domain::new();
    let drops = StdArc::new(AtomicUsize::new(0));
    let src = StdArc::new(crate::AtomicPtr::new(Canary::boxed(0, &drops)));
    let reader = d.register();
    let mut g = reader.pin();
    let p = g.protect(0, &src);
    std::thread::spawn({
        let (d, drops, src) = (d.clone(), drops.clone(), src.clone());
        move || {
            let h = d.register();
            let old = src.swap(Canary::boxed(1, &drops), Ordering::AcqRel);
            // SAFETY: unlinked by the swap, retired once.
            unsafe { h.retire(old, Canary::drop_fn) };
        }
    })
    .join()
    .unwrap();
    assert_eq!(Canary::check(p), 0);
    assert_eq!(d.stats().pending_objects, 1, "orphaned while protected");
    drop(g);
    reader.flush();
    assert_eq!(d.stats().pending_objects, 0);
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    // SAFETY: the last canary is ours.
    unsafe { Canary::drop_fn(src.load(Ordering::Relaxed)) };
}

#[test]
fn hp_garbage_stays_bounded_with_a_stalled_reader() {
    let d = hp::Domain::new();
    let drops = AtomicUsize::new(0);
    let reader = d.register();
    let writer = d.register();
    let src = crate::AtomicPtr::new(Canary::boxed(0, &drops));
    let mut g = reader.pin();
    g.protect(0, &src);
    let mut peak = 0;
    for i in 0..n(5000, 40) {
        let old = src.swap(Canary::boxed(i as u64, &drops), Ordering::AcqRel);
        // SAFETY: unlinked by the swap, retired once.
        unsafe { writer.retire(old, Canary::drop_fn) };
        peak = peak.max(d.stats().pending_objects);
    }
    assert!(
        peak as usize <= d.garbage_bound(),
        "{peak} > {}",
        d.garbage_bound()
    );
    drop(g);
    writer.flush();
    // SAFETY: the last canary is ours.
    unsafe { Canary::drop_fn(src.load(Ordering::Relaxed)) };
    assert_eq!(d.stats().pending_objects, 0);
}

/// With every thread reporting regularly, garbage is reclaimed while the run goes on,
/// not only at the end.
fn reclaims_during_the_run<S: Smr>(domain: S) {
    let drops = StdArc::new(AtomicUsize::new(0));
    let cell = StdArc::new(RcuCell::new(domain.id(), 0, &drops));
    let stop = StdArc::new(AtomicBool::new(false));
    let progress = StdArc::new(AtomicUsize::new(0));
    let reader = {
        let (domain, cell, stop, progress) =
            (domain.clone(), cell.clone(), stop.clone(), progress.clone());
        std::thread::spawn(move || {
            let mut h = domain.register();
            while !stop.load(Ordering::Relaxed) {
                cell.read(&mut h.pin()).unwrap();
                h.quiescent();
                progress.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // The reader must make progress now and then (on a loaded machine it may not be
    // scheduled for milliseconds, which holds QSBR's grace periods, as documented).
    let reader_moved = || {
        let p = progress.load(Ordering::Relaxed);
        while progress.load(Ordering::Relaxed) == p {
            std::thread::yield_now();
        }
    };
    reader_moved();
    let writes = n(20_000, 300) as u64;
    let mut h = domain.register();
    for v in 1..=writes {
        cell.write(&h.pin(), v, &drops).unwrap();
        h.quiescent();
        if v % 256 == 0 {
            reader_moved();
        }
    }
    let during = drops.load(Ordering::Relaxed) as u64;
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert!(
        during > writes / 2,
        "only {during} of {writes} reclaimed during the run"
    );
    // What is still pending is freed when the handle and the domain drop, and the canaries
    // count themselves in `drops`: drop both while `drops` is alive.
    drop(h);
    drop(domain);
}

#[test]
fn every_scheme_reclaims_during_the_run() {
    reclaims_during_the_run(qsbr::Domain::new());
    reclaims_during_the_run(ebr::Domain::new());
    reclaims_during_the_run(hp::Domain::new());
}

// === the extended generic interface: tags, shared protection, transfer, defer ===

/// Counts its drops.
struct Counted(StdArc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Aligned to 8, so that pointers to it have three tag bits.
#[repr(align(8))]
struct Aligned(u64);

fn tags_round_trip<S: Smr>(domain: S) {
    use crate::tagged::{Atomic, Owned, retire_box};
    assert_eq!(Atomic::<Aligned>::TAG_BITS, 3);
    assert_eq!(Atomic::<u8>::TAG_BITS, 0);
    let mut h = domain.register();
    let a = Atomic::from(Owned::new(Aligned(5)).with_tag(3));
    {
        let g = h.pin();
        let s = a.load(0, &g);
        assert_eq!(s.tag(), 3);
        // SAFETY: loaded and protected under `g`; nothing retires it meanwhile.
        assert_eq!(unsafe { s.deref() }.0, 5);
        // A compare-exchange compares the tag too: the untagged pointer does not match.
        let err = a
            .compare_exchange(
                s.with_tag(0),
                s.with_tag(1),
                Ordering::AcqRel,
                Ordering::Acquire,
                &g,
            )
            .unwrap_err();
        assert_eq!(err.current, s);
        let ok = a
            .compare_exchange(s, s.with_tag(1), Ordering::AcqRel, Ordering::Acquire, &g)
            .unwrap();
        assert_eq!(ok.tag(), 1);
        let before = a.fetch_or_tag(4, Ordering::AcqRel, &g);
        assert_eq!(before.tag(), 1);
        assert_eq!(a.load(1, &g).tag(), 5);
        // Tags beyond the alignment are masked off.
        assert_eq!(s.with_tag(0xff).tag(), 7);
        assert_eq!(s.with_tag(0xff).as_raw(), s.as_raw());
        let old = a.swap(Owned::new(Aligned(6)), Ordering::AcqRel, &g);
        assert_eq!(old.tag(), 5);
        // SAFETY: `old` was unlinked by the swap, retired once, and came from `Owned`.
        unsafe { retire_box(&g, old) };
    }
    h.quiescent();
    h.barrier().unwrap();
    assert_eq!(h.pending(), 0);
    // SAFETY: no other thread uses `a`.
    let last = unsafe { a.into_owned() }.unwrap();
    assert_eq!(last.0, 6);
    assert_eq!(last.tag(), 0);
}

#[test]
fn tagged_pointers_under_every_scheme() {
    tags_round_trip(qsbr::Domain::new());
    tags_round_trip(ebr::Domain::new());
    tags_round_trip(hp::Domain::new());
}

#[test]
fn hp_protects_the_target_of_a_tagged_pointer() {
    use crate::tagged::{Atomic, Owned, retire_box};
    let domain = hp::Domain::new();
    let drops = StdArc::new(AtomicUsize::new(0));
    let a = Atomic::from(Owned::new(Counted(drops.clone())).with_tag(1));
    let reader = domain.register();
    let writer = domain.register();
    let g = reader.pin();
    let s = a.load(0, &g);
    assert_eq!(s.tag(), 1);
    {
        let wg = writer.pin();
        let old = a.swap(Owned::new(Counted(drops.clone())), Ordering::AcqRel, &wg);
        // SAFETY: unlinked by the swap, retired once, an `Owned` allocation.
        unsafe { retire_box(&wg, old) };
    }
    writer.flush();
    assert_eq!(
        drops.load(Ordering::Relaxed),
        0,
        "a tagged protection did not hold"
    );
    drop(g);
    writer.flush();
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    // SAFETY: no other thread uses `a`.
    drop(unsafe { a.into_owned() });
    assert_eq!(drops.load(Ordering::Relaxed), 2);
}

#[test]
fn hp_transfer_and_reset_move_and_end_protection() {
    use crate::tagged::{Atomic, Owned, retire_box};
    let domain = hp::Domain::new();
    let drops = StdArc::new(AtomicUsize::new(0));
    let a = Atomic::new(Counted(drops.clone()));
    let b = Atomic::new(Counted(drops.clone()));
    let reader = domain.register();
    let writer = domain.register();
    let g = reader.pin();
    let _first = a.load(1, &g);
    SmrGuard::transfer(&g, 1, 0);
    // Slot 1 is free again: protecting `b` there must not unprotect `a`'s object.
    let _second = b.load(1, &g);
    {
        let wg = writer.pin();
        let old = a.swap(Owned::new(Counted(drops.clone())), Ordering::AcqRel, &wg);
        // SAFETY: unlinked by the swap, retired once, an `Owned` allocation.
        unsafe { retire_box(&wg, old) };
    }
    writer.flush();
    assert_eq!(
        drops.load(Ordering::Relaxed),
        0,
        "transfer dropped the protection"
    );
    SmrGuard::reset(&g, 0);
    writer.flush();
    assert_eq!(
        drops.load(Ordering::Relaxed),
        1,
        "reset did not end the protection"
    );
    drop(g);
    // SAFETY: no other thread uses them.
    unsafe {
        drop(a.into_owned());
        drop(b.into_owned());
    }
    assert_eq!(drops.load(Ordering::Relaxed), 3);
}

#[test]
#[should_panic(expected = "protection slot 4 out of range")]
fn transfer_slot_out_of_range_panics() {
    let domain = ebr::Domain::new();
    let h = domain.register();
    SmrGuard::transfer(&h.pin(), 0, 4);
}

fn defer_and_barrier<S: Smr>(domain: S) {
    let ran = StdArc::new(AtomicUsize::new(0));
    let mut h = domain.register();
    for _ in 0..n(300, 10) {
        let r = ran.clone();
        h.pin().defer(move || {
            r.fetch_add(1, Ordering::Relaxed);
        });
    }
    h.quiescent();
    h.barrier().unwrap();
    assert_eq!(h.pending(), 0);
    assert_eq!(ran.load(Ordering::Relaxed), n(300, 10));
    h.synchronize().unwrap();
}

#[test]
fn defer_barrier_synchronize_under_every_scheme() {
    const {
        assert!(<qsbr::Domain as Smr>::NEEDS_QUIESCENT);
        assert!(!<ebr::Domain as Smr>::NEEDS_QUIESCENT);
        assert!(!<hp::Domain as Smr>::NEEDS_QUIESCENT);
    }
    defer_and_barrier(qsbr::Domain::new());
    defer_and_barrier(ebr::Domain::new());
    defer_and_barrier(hp::Domain::new());
}

#[test]
fn synchronize_with_a_leaked_guard_is_an_error() {
    let e = ebr::Domain::new();
    let mut h = e.register();
    std::mem::forget(SmrHandle::pin(&h));
    assert_eq!(SmrHandle::synchronize(&mut h), Err(SmrError::WouldDeadlock));
    assert_eq!(SmrHandle::barrier(&mut h), Err(SmrError::WouldDeadlock));
    let d = hp::Domain::new();
    let cell = crate::AtomicPtr::new(Box::into_raw(Box::new(1u64)));
    let mut h = d.register();
    {
        let mut g = h.pin();
        g.protect(0, &cell);
        std::mem::forget(g);
    }
    assert_eq!(SmrHandle::synchronize(&mut h), Err(SmrError::WouldDeadlock));
    assert_eq!(SmrHandle::barrier(&mut h), Err(SmrError::WouldDeadlock));
    drop(h);
    // SAFETY: never published to another thread.
    drop(unsafe { Box::from_raw(cell.load(Ordering::Relaxed)) });
}

fn synchronize_waits_for_a_reader<S: Smr>(domain: S) {
    let cell = StdArc::new(crate::AtomicPtr::new(Box::into_raw(Box::new(7u64))));
    let inside = StdArc::new(AtomicBool::new(false));
    let done = StdArc::new(AtomicBool::new(false));
    let t = {
        let (domain, cell, inside, done) =
            (domain.clone(), cell.clone(), inside.clone(), done.clone());
        std::thread::spawn(move || {
            let mut h = domain.register();
            {
                let g = h.pin();
                let _p = g.protect_shared(0, &cell);
                inside.store(true, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(30));
                done.store(true, Ordering::SeqCst);
            }
            h.quiescent();
        })
    };
    while !inside.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let mut h = domain.register();
    h.synchronize().unwrap();
    assert!(
        done.load(Ordering::SeqCst),
        "synchronize returned inside a reader's section"
    );
    t.join().unwrap();
    drop(h);
    // SAFETY: both threads are done with the cell.
    drop(unsafe { Box::from_raw(cell.load(Ordering::Relaxed)) });
}

#[test]
#[cfg_attr(miri, ignore = "sleeps; covered natively")]
fn synchronize_waits_for_readers_under_every_scheme() {
    synchronize_waits_for_a_reader(qsbr::Domain::new());
    synchronize_waits_for_a_reader(ebr::Domain::new());
    synchronize_waits_for_a_reader(hp::Domain::new());
}

#[test]
fn hp_held_protection_outlives_its_frame_and_crosses_threads() {
    use crate::tagged::{Atomic, Owned, retire_box};
    let domain = hp::Domain::new();
    let drops = StdArc::new(AtomicUsize::new(0));
    let a = Atomic::from(Owned::new(Counted(drops.clone())).with_tag(1));
    let held = domain.hold(a.as_atomic_ptr()).expect("non-null");
    let writer = domain.register();
    {
        let wg = writer.pin();
        let old = a.swap(Owned::new(Counted(drops.clone())), Ordering::AcqRel, &wg);
        // SAFETY: unlinked by the swap, retired once, an `Owned` allocation.
        unsafe { retire_box(&wg, old) };
    }
    writer.flush();
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    // The protection moves to another thread and ends there.
    std::thread::spawn(move || {
        // SAFETY: the object is protected by `held` and retired through `domain`.
        let _v = unsafe { held.get() };
        drop(held);
    })
    .join()
    .unwrap();
    writer.flush();
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    let null = crate::AtomicPtr::<u64>::new(core::ptr::null_mut());
    assert!(domain.hold(&null).is_none());
    // SAFETY: no other thread uses `a`.
    drop(unsafe { a.into_owned() });
}
