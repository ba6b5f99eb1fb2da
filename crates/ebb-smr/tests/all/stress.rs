//! Bounded multi-threaded stress: readers, writers and reclamation under every scheme.
//!
//! Objects are poisoned canaries: the drop function checks and overwrites a magic value
//! and counts the drop; it does not free the memory but moves it to a quarantine freed at
//! the end, so that a premature reclamation is seen by a reader as a poisoned magic (not
//! as a use of reused memory). Checks: no reader ever sees a poisoned object, every
//! retired object is dropped exactly once, nothing is left behind.

use ebb_smr::{AtomicPtr, Smr, SmrGuard, SmrHandle};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ALIVE: u64 = 0x5AFE_5AFE_5AFE_5AFE;
const DEAD: u64 = 0xDEAD_BEEF_DEAD_BEEF;

/// Where canaries report.
pub struct Ctx {
    drops: AtomicUsize,
    created: AtomicUsize,
    double_drops: AtomicUsize,
    quarantine: Mutex<Vec<usize>>,
}

pub struct Canary {
    magic: AtomicU64,
    value: u64,
    ctx: *const Ctx,
}

impl Ctx {
    pub fn new() -> Arc<Ctx> {
        Arc::new(Ctx {
            drops: AtomicUsize::new(0),
            created: AtomicUsize::new(0),
            double_drops: AtomicUsize::new(0),
            quarantine: Mutex::new(Vec::new()),
        })
    }

    pub fn canary(self: &Arc<Self>, value: u64) -> *mut Canary {
        self.created.fetch_add(1, Ordering::Relaxed);
        Box::into_raw(Box::new(Canary {
            magic: AtomicU64::new(ALIVE),
            value,
            ctx: Arc::as_ptr(self),
        }))
    }

    pub fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }

    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    /// Frees the quarantine; every thread that could read the canaries has finished.
    pub fn free_quarantine(&self) {
        for p in self.quarantine.lock().unwrap().drain(..) {
            // SAFETY: each quarantined canary is a box freed once, after all threads ended.
            drop(unsafe { Box::from_raw(p as *mut Canary) });
        }
    }
}

/// Reads through a protected pointer; panics on a poisoned object.
pub fn check(p: *const Canary) -> u64 {
    // SAFETY: canaries are only freed from the quarantine at the very end.
    let c = unsafe { &*p };
    let m = c.magic.load(Ordering::Relaxed);
    assert_eq!(m, ALIVE, "read an object that was already reclaimed");
    c.value
}

/// Drop function: poison, count, quarantine.
///
/// # Safety
///
/// `p` is a canary of a live `Ctx`.
pub unsafe fn poison(p: *mut Canary) {
    // SAFETY: canaries and their context outlive every drop.
    let c = unsafe { &*p };
    // SAFETY: as above.
    let ctx = unsafe { &*c.ctx };
    if c.magic.swap(DEAD, Ordering::Relaxed) != ALIVE {
        ctx.double_drops.fetch_add(1, Ordering::Relaxed);
    }
    ctx.drops.fetch_add(1, Ordering::SeqCst);
    ctx.quarantine.lock().unwrap().push(p as usize);
}

/// Runs `readers` + `writers` threads over `cells` shared pointers for at most `budget`
/// (and at most `max_writes` writes per writer), then checks the invariants.
pub fn stress<S: Smr>(domain: S, readers: usize, writers: usize, budget: Duration) {
    const CELLS: usize = 4;
    // Fewer under the sanitizers, whose instrumented runs are 5-20x slower.
    let max_writes: u64 = if cfg!(ebb_sanitize) {
        50_000
    } else if cfg!(debug_assertions) {
        1_000_000
    } else {
        5_000_000
    };
    let ctx = Ctx::new();
    let cells: Arc<Vec<AtomicPtr<Canary>>> = Arc::new(
        (0..CELLS)
            .map(|i| AtomicPtr::new(ctx.canary(i as u64)))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + budget;
    let mut threads = Vec::new();
    for r in 0..readers {
        let (domain, cells, stop, reads) =
            (domain.clone(), cells.clone(), stop.clone(), reads.clone());
        threads.push(std::thread::spawn(move || {
            let mut h = domain.register();
            let mut n = 0u64;
            let mut i = r;
            while !stop.load(Ordering::Relaxed) {
                {
                    let mut g = h.pin();
                    // Two protections at once, as a list traversal would hold.
                    let a = g.protect(0, &cells[i % CELLS]);
                    let b = g.protect(1, &cells[(i + 1) % CELLS]);
                    check(a);
                    check(b);
                    std::hint::spin_loop();
                    check(a);
                }
                n += 1;
                i = i.wrapping_add(1);
                if n.is_multiple_of(16) {
                    h.quiescent();
                }
                if n.is_multiple_of(4096) {
                    // Let the writers run on a busy machine.
                    std::thread::yield_now();
                }
            }
            reads.fetch_add(n, Ordering::Relaxed);
        }));
    }
    for w in 0..writers {
        let (domain, cells, ctx) = (domain.clone(), cells.clone(), ctx.clone());
        threads.push(std::thread::spawn(move || {
            let mut h = domain.register();
            let mut x = (w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            for k in 0..max_writes {
                if k % 256 == 0 && Instant::now() >= deadline {
                    break;
                }
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let cell = &cells[(x % CELLS as u64) as usize];
                let old = cell.swap(ctx.canary(k), Ordering::AcqRel);
                {
                    let g = h.pin();
                    // SAFETY: unlinked by the swap, retired once, a canary of `ctx`.
                    unsafe { g.retire(old, poison) };
                }
                h.quiescent();
            }
            h.flush();
        }));
    }
    // Writers stop by themselves; then the readers are told to stop.
    let writers_handles: Vec<_> = threads.drain(readers..).collect();
    for t in writers_handles {
        t.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) > 0 || readers == 0);
    let before_drop = domain.stats();
    assert!(before_drop.retired_objects > 0);
    drop(domain);
    // The cells' current values were never retired: drop them by hand.
    for c in cells.iter() {
        // SAFETY: every thread finished; the value is unreachable from now on.
        unsafe { poison(c.load(Ordering::Relaxed)) };
    }
    assert_eq!(
        ctx.double_drops.load(Ordering::Relaxed),
        0,
        "an object was dropped twice"
    );
    assert_eq!(
        ctx.drops(),
        ctx.created(),
        "every object dropped exactly once"
    );
    ctx.free_quarantine();
}

fn budget() -> Duration {
    Duration::from_millis(if cfg!(ebb_sanitize) {
        400
    } else if cfg!(debug_assertions) {
        700
    } else {
        1000
    })
}

#[test]
fn stress_qsbr() {
    stress(ebb_smr::qsbr::Domain::new(), 2, 2, budget());
}

#[test]
fn stress_ebr() {
    stress(ebb_smr::ebr::Domain::new(), 2, 2, budget());
}

#[test]
fn stress_hp() {
    stress(ebb_smr::hp::Domain::new(), 2, 2, budget());
}

#[test]
fn stress_with_threads_coming_and_going() {
    // Threads register, retire and exit while others read: orphans and record reuse.
    fn churn<S: Smr>(domain: S) {
        let ctx = Ctx::new();
        let cell = Arc::new(AtomicPtr::new(ctx.canary(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (domain, cell, stop) = (domain.clone(), cell.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut h = domain.register();
                while !stop.load(Ordering::Relaxed) {
                    check(h.pin().protect(0, &cell));
                    h.quiescent();
                }
            })
        };
        for round in 0..20u64 {
            let ts: Vec<_> = (0..2)
                .map(|_| {
                    let (domain, cell, ctx) = (domain.clone(), cell.clone(), ctx.clone());
                    std::thread::spawn(move || {
                        let mut h = domain.register();
                        for k in 0..100 {
                            let old = cell.swap(ctx.canary(round * 1000 + k), Ordering::AcqRel);
                            // SAFETY: unlinked by the swap, retired once.
                            unsafe { h.pin().retire(old, poison) };
                            h.quiescent();
                        }
                    })
                })
                .collect();
            for t in ts {
                t.join().unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap();
        assert!(domain.stats().threads <= 4, "records are reused");
        drop(domain);
        // SAFETY: every thread finished.
        unsafe { poison(cell.load(Ordering::Relaxed)) };
        assert_eq!(ctx.drops(), ctx.created());
        assert_eq!(ctx.double_drops.load(Ordering::Relaxed), 0);
        ctx.free_quarantine();
    }
    churn(ebb_smr::qsbr::Domain::new());
    churn(ebb_smr::ebr::Domain::new());
    churn(ebb_smr::hp::Domain::new());
}

#[test]
fn fence_mode_is_reported() {
    // Linux CI machines normally support membarrier; either mode must pass the stress.
    let m = ebb_smr::fence::mode();
    assert_eq!(m, ebb_smr::fence::mode());
}
