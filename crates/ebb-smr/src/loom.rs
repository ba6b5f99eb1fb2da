//! Loom models: every interleaving (up to `LOOM_MAX_PREEMPTIONS`) of small races, per
//! scheme. Run with
//! `RUSTFLAGS="--cfg ebb_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p ebb-smr --profile loom --lib loom`
//! (one scheme: `... --lib loom::ebr`).
//!
//! Objects are canaries whose payload sits in a loom `UnsafeCell`: a read that is not
//! ordered before the drop function's poisoning write is reported as a data race, which
//! is exactly the safety property of a reclamation scheme. Drop functions poison but do
//! not free; the model frees every canary at its end, so a premature drop shows up as a
//! race or a failed assertion instead of undefined behaviour in the checker itself.

use crate::sync::Arc;
use crate::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use crate::{Smr, SmrGuard, SmrHandle};
use ::loom::cell::UnsafeCell;
use ::loom::sync::Mutex;

const ALIVE: u64 = 0x600D;
const DEAD: u64 = 0xDEAD;

/// Runs a named model (the name shows in the failure output).
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    eprintln!("loom model: {name}");
    ::loom::model(f);
}

struct Canary {
    payload: UnsafeCell<u64>,
    drops: Arc<AtomicUsize>,
}

fn canary(drops: &Arc<AtomicUsize>) -> *mut Canary {
    Box::into_raw(Box::new(Canary {
        payload: UnsafeCell::new(ALIVE),
        drops: drops.clone(),
    }))
}

/// Reads the payload through a protected pointer.
fn read(p: *const Canary) {
    // SAFETY: canaries are freed only at the end of the model.
    let c = unsafe { &*p };
    // SAFETY: loom checks that this read does not race with the poisoning write.
    c.payload
        .with(|v| assert_eq!(unsafe { *v }, ALIVE, "read after reclaim"));
}

/// Drop function: poisons (a write loom checks against every read), counts.
unsafe fn poison(p: *mut Canary) {
    // SAFETY: canaries are freed only at the end of the model.
    let c = unsafe { &*p };
    c.payload.with_mut(|v| {
        // SAFETY: loom checks exclusivity of this write.
        unsafe {
            assert_eq!(*v, ALIVE, "reclaimed twice");
            *v = DEAD;
        }
    });
    c.drops.fetch_add(1, Ordering::Relaxed);
}

/// Frees the canaries of a finished model.
fn free_all(ps: &[*mut Canary]) {
    for &p in ps {
        // SAFETY: every thread of the model has finished; each canary is freed once.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Raw pointers crossing into model threads.
#[derive(Clone, Copy)]
struct SendPtr(*mut Canary);
// SAFETY: the canaries are shared on purpose; loom checks every access.
unsafe impl Send for SendPtr {}

// === publish / read / retire ===

fn publish_read_retire<S: Smr>(make: fn() -> S) {
    let domain = make();
    let drops = Arc::new(AtomicUsize::new(0));
    let (c0, c1) = (canary(&drops), canary(&drops));
    let cell = Arc::new(AtomicPtr::new(c0));
    let reader = {
        let (domain, cell) = (domain.clone(), cell.clone());
        ::loom::thread::spawn(move || {
            let mut h = domain.register();
            {
                let mut g = h.pin();
                read(g.protect(0, &cell));
            }
            h.quiescent();
        })
    };
    {
        let mut h = domain.register();
        let old = cell.swap(c1, Ordering::AcqRel);
        // SAFETY: unlinked by the swap, retired once; `poison` is sound on any thread.
        unsafe { h.pin().retire(old, poison) };
        h.quiescent();
        h.flush();
        reader.join().unwrap();
        h.flush();
        h.flush();
    }
    drop(domain);
    assert_eq!(drops.load(Ordering::Relaxed), 1, "reclaimed exactly once");
    free_all(&[c0, c1]);
}

// === ABA on a Treiber stack whose nodes are recycled by the drop function ===

/// A stack node; `value` is read by poppers and rewritten on reuse.
struct Node {
    value: UnsafeCell<u64>,
    next: UnsafeCell<*mut Node>,
}

/// Nodes come from and go back to a pool, so a node reclaimed too early is *reused* at
/// the same address: the ABA scenario that reclamation must prevent.
struct Stack {
    head: AtomicPtr<Node>,
    pool: Mutex<Vec<*mut Node>>,
}

// SAFETY: nodes are shared on purpose; loom checks every access to their cells.
unsafe impl Send for Stack {}
// SAFETY: as above.
unsafe impl Sync for Stack {}

thread_local! {
    static POOL: core::cell::Cell<*const Stack> = const { core::cell::Cell::new(core::ptr::null()) };
}

impl Stack {
    fn push(&self, v: u64) {
        let n = self
            .pool
            .lock()
            .unwrap()
            .pop()
            .expect("pool sized for the model");
        // SAFETY: a node in the pool is reachable by nobody (that is what reclamation
        // guarantees); loom reports a race otherwise.
        unsafe {
            (*n).value.with_mut(|p| *p = v);
        }
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `n` is not published yet.
            unsafe { (*n).next.with_mut(|p| *p = head) };
            match self
                .head
                .compare_exchange(head, n, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    fn pop<G: SmrGuard>(&self, g: &mut G, recycle: unsafe fn(*mut Node)) -> Option<u64> {
        loop {
            let head = g.protect(0, &self.head);
            if head.is_null() {
                return None;
            }
            // SAFETY: protected; loom checks the read against a recycling write.
            let next = unsafe { (*head).next.with(|p| *p) };
            if self
                .head
                .compare_exchange(head, next, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                // SAFETY: protected and unlinked by us; retired once.
                let v = unsafe { (*head).value.with(|p| *p) };
                // SAFETY: unlinked; `recycle` returns it to the pool once.
                unsafe { g.retire(head, recycle) };
                return Some(v);
            }
        }
    }
}

fn aba<S: Smr>(make: fn() -> S) {
    let domain = make();
    let nodes: Vec<*mut Node> = (0..3)
        .map(|_| {
            Box::into_raw(Box::new(Node {
                value: UnsafeCell::new(0),
                next: UnsafeCell::new(core::ptr::null_mut()),
            }))
        })
        .collect();
    let stack = Arc::new(Stack {
        head: AtomicPtr::new(core::ptr::null_mut()),
        pool: Mutex::new(nodes.clone()),
    });
    stack.push(1);
    stack.push(2);
    // The drop function recycles into the pool of the stack registered for the thread
    // that runs it (a drop function has no context argument).
    unsafe fn recycle(n: *mut Node) {
        POOL.with(|p| {
            // SAFETY: each model thread sets POOL before it can reclaim.
            let s = unsafe { &*p.get() };
            s.pool.lock().unwrap().push(n);
        });
    }
    let t = {
        let (domain, stack) = (domain.clone(), stack.clone());
        ::loom::thread::spawn(move || {
            POOL.with(|p| p.set(&*stack));
            let mut h = domain.register();
            let v = stack.pop(&mut h.pin(), recycle);
            h.quiescent();
            h.flush();
            drop(h);
            v
        })
    };
    POOL.with(|p| p.set(&*stack));
    let mut h = domain.register();
    let a = stack.pop(&mut h.pin(), recycle);
    let b = stack.pop(&mut h.pin(), recycle);
    h.quiescent();
    h.flush();
    // Reuses a reclaimed node if there is one: with premature reclamation this is the
    // node the other thread is about to CAS on.
    stack.push(3);
    let c = t.join().unwrap();
    let mut left = Vec::new();
    while let Some(v) = stack.pop(&mut h.pin(), recycle) {
        left.push(v);
    }
    let mut all: Vec<u64> = [a, b, c].into_iter().flatten().chain(left).collect();
    all.sort_unstable();
    assert_eq!(all, vec![1, 2, 3], "every value popped exactly once");
    drop(h);
    drop(domain);
    POOL.with(|p| p.set(core::ptr::null()));
    drop(stack);
    for n in nodes {
        // SAFETY: the model is over; each node is freed once.
        drop(unsafe { Box::from_raw(n) });
    }
}

// === a thread exits while another reclaims ===

fn exit_during_reclaim<S: Smr>(make: fn() -> S) {
    let domain = make();
    let drops = Arc::new(AtomicUsize::new(0));
    let (c0, c1) = (canary(&drops), canary(&drops));
    let cell = Arc::new(AtomicPtr::new(c0));
    let writer = {
        let (domain, cell) = (domain.clone(), cell.clone());
        let c1 = SendPtr(c1);
        ::loom::thread::spawn(move || {
            let h = domain.register();
            let old = cell.swap({ c1 }.0, Ordering::AcqRel);
            // SAFETY: unlinked by the swap, retired once.
            unsafe { h.pin().retire(old, poison) };
            // Exits at once: what is not reclaimed yet is orphaned to the domain.
        })
    };
    let mut h = domain.register();
    {
        let mut g = h.pin();
        read(g.protect(0, &cell));
    }
    h.quiescent();
    h.flush();
    writer.join().unwrap();
    h.flush();
    h.flush();
    h.flush();
    drop(h);
    drop(domain);
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    free_all(&[c0, c1]);
}

/// The models under qsbr.
// === a tagged pointer protects its target ===

/// As `publish_read_retire`, with the published pointer tagged (its low bit set) and the
/// reader holding it through `protect_shared` then moving it to another slot: the scan must
/// match the untagged address, and the transferred protection must hold throughout.
fn tagged_publish_read_retire<S: Smr>(make: fn() -> S) {
    let domain = make();
    let drops = Arc::new(AtomicUsize::new(0));
    let (c0, c1) = (canary(&drops), canary(&drops));
    let tag = |p: *mut Canary| p.map_addr(|a| a | 1);
    let cell = Arc::new(AtomicPtr::new(tag(c0)));
    let reader = {
        let (domain, cell) = (domain.clone(), cell.clone());
        ::loom::thread::spawn(move || {
            let mut h = domain.register();
            {
                let g = h.pin();
                let p = g.protect_shared(1, &cell);
                assert_eq!(p.addr() & 1, 1, "the tag is returned as loaded");
                g.transfer(1, 0);
                read(crate::untagged(p));
            }
            h.quiescent();
        })
    };
    {
        let mut h = domain.register();
        let old = crate::untagged(cell.swap(tag(c1), Ordering::AcqRel));
        // SAFETY: unlinked by the swap, retired once; `poison` is sound on any thread.
        unsafe { h.pin().retire(old, poison) };
        h.quiescent();
        h.flush();
        reader.join().unwrap();
    }
    drop(domain);
    assert_eq!(drops.load(Ordering::Relaxed), 1, "reclaimed exactly once");
    free_all(&[c0, c1]);
}

mod qsbr {
    use super::model;

    #[test]
    fn publish_read_retire() {
        model("qsbr publish/read/retire", || {
            super::publish_read_retire(crate::qsbr::Domain::new)
        });
    }

    #[test]
    fn aba() {
        model("qsbr aba", || super::aba(crate::qsbr::Domain::new));
    }

    #[test]
    fn exit_during_reclaim() {
        model("qsbr exit during reclaim", || {
            super::exit_during_reclaim(crate::qsbr::Domain::new)
        });
    }

    /// A reader comes back online (the store-then-load race of QSBR) and reads while a
    /// writer retires and reclaims; the writer also waits out a grace period with
    /// `synchronize`, which must not wait for the offline reader.
    #[test]
    fn offline_online() {
        use super::{Arc, AtomicPtr, AtomicUsize, Ordering, canary, free_all, poison, read};
        model("qsbr offline/online", || {
            let domain = crate::qsbr::Domain::new();
            let drops = Arc::new(AtomicUsize::new(0));
            let (c0, c1) = (canary(&drops), canary(&drops));
            let cell = Arc::new(AtomicPtr::new(c0));
            let off = domain.register().into_offline();
            let t = {
                let (domain, cell) = (domain.clone(), cell.clone());
                let c1 = super::SendPtr(c1);
                ::loom::thread::spawn(move || {
                    let mut h = domain.register();
                    let old = cell.swap({ c1 }.0, Ordering::AcqRel);
                    // SAFETY: unlinked by the swap, retired once.
                    unsafe { h.retire(old, poison) };
                    h.flush();
                })
            };
            let mut reader = off.online();
            {
                let mut g = crate::SmrHandle::pin(&reader);
                read(crate::SmrGuard::protect(&mut g, 0, &*cell));
            }
            reader.quiescent();
            t.join().unwrap();
            reader.barrier().unwrap();
            drop(reader);
            drop(domain);
            assert_eq!(drops.load(Ordering::Relaxed), 1);
            free_all(&[c0, c1]);
        });
    }
}

/// The models under ebr.
mod ebr {
    use super::model;

    #[test]
    fn publish_read_retire() {
        model("ebr publish/read/retire", || {
            super::publish_read_retire(crate::ebr::Domain::new)
        });
    }

    #[test]
    fn aba() {
        model("ebr aba", || super::aba(crate::ebr::Domain::new));
    }

    #[test]
    fn exit_during_reclaim() {
        model("ebr exit during reclaim", || {
            super::exit_during_reclaim(crate::ebr::Domain::new)
        });
    }
}

/// The models under hp.
mod hp {
    use super::model;

    #[test]
    fn publish_read_retire() {
        model("hp publish/read/retire", || {
            super::publish_read_retire(crate::hp::Domain::new)
        });
    }

    #[test]
    fn aba() {
        model("hp aba", || super::aba(crate::hp::Domain::new));
    }

    #[test]
    fn tagged_publish_read_retire() {
        model("hp tagged publish/read/retire", || {
            super::tagged_publish_read_retire(crate::hp::Domain::new)
        });
    }

    #[test]
    fn exit_during_reclaim() {
        model("hp exit during reclaim", || {
            super::exit_during_reclaim(crate::hp::Domain::new)
        });
    }
}
