//! Safe code may leak any guard (`mem::forget`). A leaked guard must never make memory
//! unsafe, never make a later `Drop` panic, and cost no more than each scheme documents.

use crate::{Counted, counted};
use ebb_smr::{AtomicPtr, Smr, SmrError, SmrGuard, SmrHandle, drop_box, ebr, hp, qsbr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// QSBR: a handle leaked while offline holds no grace period, and a writer on the same
/// thread still reclaims. (Reading through a leaked offline state is a compile error; see
/// the `compile_fail` examples in the crate docs.)
#[test]
fn qsbr_leaked_offline_handle_holds_no_grace_period() {
    let d = qsbr::Domain::new();
    // Leaked as far as the domain can tell: never dropped until the end of the test (so
    // that LeakSanitizer runs stay clean), and never online again.
    let mut leaked = std::mem::ManuallyDrop::new(d.register().into_offline());
    let drops = Arc::new(AtomicUsize::new(0));
    let mut w = d.register();
    // SAFETY: a fresh box, unreachable, retired once.
    unsafe { w.retire(counted(&drops), drop_box::<Counted>) };
    w.barrier().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // SAFETY: dropped once, and not used afterwards.
    unsafe { std::mem::ManuallyDrop::drop(&mut leaked) };
}

/// QSBR: a panic inside `offline` brings the handle back online while unwinding, so it
/// counts again for grace periods (a synchronize from its thread would now wait for it).
#[test]
fn qsbr_offline_closure_that_panics_goes_back_online() {
    let d = qsbr::Domain::new();
    let mut h = d.register();
    let r = catch_unwind(AssertUnwindSafe(|| {
        h.offline(|off| {
            assert_eq!(off.synchronize(), Ok(()));
            panic!("a blocking call failed");
        })
    }));
    assert!(r.is_err());
    assert_eq!(d.synchronize(), Err(SmrError::WouldDeadlock));
    h.offline(|_| assert_eq!(d.synchronize(), Ok(())));
    let h = h.into_offline();
    assert_eq!(d.synchronize(), Ok(()));
    let _h = h.online();
    assert_eq!(d.synchronize(), Err(SmrError::WouldDeadlock));
}

/// EBR: a leaked guard keeps its thread pinned while its handle lives (nothing retired
/// meanwhile is freed), and dropping the handle neither panics nor leaves the epoch stuck.
#[test]
fn ebr_leaked_guard_stops_the_epoch_until_its_handle_drops() {
    let d = ebr::Domain::new();
    let leaky = d.register();
    std::mem::forget(leaky.pin());
    assert!(leaky.is_pinned());
    let drops = Arc::new(AtomicUsize::new(0));
    let mut w = d.register();
    const N: usize = 5000;
    for _ in 0..N {
        let g = w.pin();
        // SAFETY: a fresh box, unreachable, retired once.
        unsafe { g.retire(counted(&drops), drop_box::<Counted>) };
    }
    for _ in 0..4 {
        SmrHandle::flush(&mut w);
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "the leaked pin holds the epoch"
    );
    drop(leaky);
    for _ in 0..4 {
        SmrHandle::flush(&mut w);
    }
    assert_eq!(drops.load(Ordering::SeqCst), N, "the epoch moved on");
    assert_eq!(d.stats().pending_objects, 0);
}

/// Hazard pointers: a leaked guard keeps what it protected until its handle drops; the
/// handle then clears its cells, and the next scan frees the object.
#[test]
fn hp_leaked_guard_protects_until_its_handle_drops() {
    let d = hp::Domain::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let cell = AtomicPtr::new(counted(&drops));
    let leaky = d.register();
    let mut g = leaky.pin();
    let p = g.protect(0, &cell);
    std::mem::forget(g);
    let w = d.register();
    let old = cell.swap(counted(&drops), Ordering::AcqRel);
    assert_eq!(old, p);
    // SAFETY: unlinked by the swap, retired once.
    unsafe { w.retire(old, drop_box::<Counted>) };
    w.flush();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "still protected by the leaked guard"
    );
    // The leaked guard's block is not reused: new guards of the handle still work.
    {
        let mut g2 = leaky.pin();
        assert!(!g2.protect(1, &cell).is_null());
    }
    drop(leaky);
    w.flush();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "freed once the handle dropped"
    );
    drop(w);
    // SAFETY: no thread uses the cell any more.
    drop(unsafe { Box::from_raw(cell.load(Ordering::Relaxed)) });
}

/// Every scheme through the generic interface: leak a guard that protects an object, drop
/// its handle, and the domain goes on reclaiming everything retired afterwards.
fn generic_leak_then_reclaim<S: Smr>(domain: S) {
    let drops = Arc::new(AtomicUsize::new(0));
    let cell = AtomicPtr::new(counted(&drops));
    {
        let leaky = domain.register();
        let mut g = leaky.pin();
        let _ = g.protect(0, &cell);
        std::mem::forget(g);
    }
    let mut w = domain.register();
    const N: usize = 1000;
    for _ in 0..N {
        let old = cell.swap(counted(&drops), Ordering::AcqRel);
        let g = w.pin();
        // SAFETY: unlinked by the swap, retired once.
        unsafe { g.retire(old, drop_box::<Counted>) };
        drop(g);
        w.quiescent();
    }
    for _ in 0..4 {
        w.quiescent();
        w.flush();
    }
    assert_eq!(drops.load(Ordering::SeqCst), N);
    drop(w);
    // SAFETY: no thread uses the cell any more.
    drop(unsafe { Box::from_raw(cell.load(Ordering::Relaxed)) });
}

#[test]
fn generic_leaked_guards_qsbr() {
    generic_leak_then_reclaim(qsbr::Domain::new());
}

#[test]
fn generic_leaked_guards_ebr() {
    generic_leak_then_reclaim(ebr::Domain::new());
}

#[test]
fn generic_leaked_guards_hp() {
    generic_leak_then_reclaim(hp::Domain::new());
}
