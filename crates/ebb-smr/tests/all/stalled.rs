//! A reader stalls inside its critical section while writers retire: hazard pointers keep
//! garbage under their bound; EBR and QSBR let it grow (as documented) and drain it once
//! the reader moves on. Observed through the domains' counters.

use crate::stress::{Ctx, check, poison};
use ebb_smr::{AtomicPtr, Smr, SmrGuard, SmrHandle, ebr, hp, qsbr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};

const WRITES: u64 = 20_000;

/// Returns (peak pending objects while stalled, pending after the reader resumed).
fn stalled<S: Smr>(domain: S, writers: usize) -> (u64, u64) {
    let ctx = Ctx::new();
    let cell = Arc::new(AtomicPtr::new(ctx.canary(0)));
    let stalled_in = Arc::new(Barrier::new(writers + 1));
    let writers_done = Arc::new(Barrier::new(writers + 1));
    let resumed = Arc::new(Barrier::new(writers + 1));
    let ws: Vec<_> = (0..writers)
        .map(|_| {
            let (domain, cell, ctx) = (domain.clone(), cell.clone(), ctx.clone());
            let (stalled_in, writers_done, resumed) =
                (stalled_in.clone(), writers_done.clone(), resumed.clone());
            std::thread::spawn(move || {
                let mut h = domain.register();
                stalled_in.wait();
                let mut peak = 0;
                for k in 0..WRITES {
                    let old = cell.swap(ctx.canary(k), Ordering::AcqRel);
                    // SAFETY: unlinked by the swap, retired once.
                    unsafe { h.pin().retire(old, poison) };
                    h.quiescent();
                    if k % 64 == 0 {
                        peak = peak.max(domain.stats().pending_objects);
                    }
                }
                h.flush();
                peak = peak.max(domain.stats().pending_objects);
                writers_done.wait();
                resumed.wait();
                // The reader moved on: a few more rounds of reclamation drain everything.
                for _ in 0..4 {
                    h.quiescent();
                    h.flush();
                }
                peak
            })
        })
        .collect();
    let mut reader = domain.register();
    {
        let mut g = reader.pin();
        let p = g.protect(0, &cell);
        stalled_in.wait();
        writers_done.wait();
        check(p);
    }
    reader.quiescent();
    reader.flush();
    resumed.wait();
    let peak = ws.into_iter().map(|t| t.join().unwrap()).max().unwrap();
    reader.quiescent();
    reader.flush();
    let after = domain.stats().pending_objects;
    drop(reader);
    drop(domain);
    // SAFETY: every thread finished.
    unsafe { poison(cell.load(Ordering::Relaxed)) };
    assert_eq!(ctx.drops(), ctx.created());
    ctx.free_quarantine();
    (peak, after)
}

#[test]
fn stalled_reader_hp_garbage_is_bounded() {
    let d = hp::Domain::new();
    let (peak, after) = stalled(d.clone(), 2);
    // Three threads registered: the bound of three records.
    assert!(
        peak as usize <= d.garbage_bound(),
        "peak {peak} > bound {}",
        d.garbage_bound()
    );
    assert!(
        peak < WRITES / 4,
        "peak {peak} is far below what was retired"
    );
    assert_eq!(after, 0);
}

#[test]
fn stalled_reader_ebr_garbage_grows_then_drains() {
    let (peak, after) = stalled(ebr::Domain::new(), 2);
    assert!(
        peak >= WRITES,
        "everything retired while the reader was pinned is held: {peak}"
    );
    assert_eq!(after, 0);
}

#[test]
fn stalled_reader_qsbr_garbage_grows_then_drains() {
    let (peak, after) = stalled(qsbr::Domain::new(), 2);
    assert!(
        peak >= WRITES,
        "nothing is reclaimed while the reader does not report: {peak}"
    );
    assert_eq!(after, 0);
}
