//! Unit tests (shrunk under Miri), drop-counter tests and bounded stress tests, each run
//! under every scheme.

use crate::deque::{Steal, Worker};
use crate::queue::{MsQueue, Queue, SEGMENT};
use crate::rcu::RcuCell;
use crate::stack::TreiberStack;
use ebb_smr::{Smr, SmrError, SmrHandle, ebr, hp, qsbr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

/// Scales counts down under Miri.
const fn n(full: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { full }
}

/// Runs `f` once per scheme, each with a fresh domain.
macro_rules! every_scheme {
    ($f:ident) => {
        $f(qsbr::Domain::new());
        $f(ebr::Domain::new());
        $f(hp::Domain::new());
    };
}

/// Counts its drops; the id tells which value it was.
struct Counted {
    id: usize,
    drops: Arc<Vec<AtomicU8>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let prev = self.drops[self.id].fetch_add(1, Ordering::Relaxed);
        assert_eq!(prev, 0, "value {} dropped twice", self.id);
    }
}

fn counters(k: usize) -> Arc<Vec<AtomicU8>> {
    Arc::new((0..k).map(|_| AtomicU8::new(0)).collect())
}

fn all_dropped_once(d: &[AtomicU8]) {
    for (i, c) in d.iter().enumerate() {
        assert_eq!(
            c.load(Ordering::Relaxed),
            1,
            "value {i} dropped {} times",
            c.load(Ordering::Relaxed)
        );
    }
}

// === stack ===

fn stack_basics<S: Smr>(domain: S) {
    let s: TreiberStack<usize, S> = TreiberStack::with_domain(&domain);
    let mut h = domain.register();
    assert!(s.is_empty());
    assert_eq!(s.pop_with(&h.pin()), Ok(None));
    for i in 0..n(200, 10) {
        s.push_with(&h.pin(), i).unwrap();
    }
    assert_eq!(s.len(), n(200, 10));
    for i in (0..n(200, 10)).rev() {
        assert_eq!(s.pop_with(&h.pin()), Ok(Some(i)));
        h.quiescent();
    }
    assert!(s.is_empty());
    assert_eq!(s.pop_with(&h.pin()), Ok(None));
    h.barrier().unwrap();
}

#[test]
fn stack_lifo_under_every_scheme() {
    every_scheme!(stack_basics);
}

fn stack_drops<S: Smr>(domain: S) {
    let k = n(100, 8);
    let d = counters(k);
    let mut h = domain.register();
    {
        let s: TreiberStack<Counted, S> = TreiberStack::with_domain(&domain);
        for id in 0..k {
            s.push_node(Counted {
                id,
                drops: d.clone(),
            });
        }
        for _ in 0..k / 2 {
            drop(s.pop_with(&h.pin()).unwrap().unwrap());
        }
    }
    h.quiescent();
    h.barrier().unwrap();
    all_dropped_once(&d);
}

#[test]
fn stack_drops_each_remaining_value_once_under_every_scheme() {
    every_scheme!(stack_drops);
}

#[test]
fn foreign_guards_are_refused() {
    let a = ebr::Domain::new();
    let b = ebr::Domain::new();
    let hb = b.register();
    let s: TreiberStack<u8, ebr::Domain> = TreiberStack::with_domain(&a);
    assert!(matches!(
        s.pop_with(&hb.pin()),
        Err(SmrError::ForeignDomain { .. })
    ));
    assert!(s.push_with(&hb.pin(), 1).is_err());
    let q: Queue<u8, ebr::Domain> = Queue::with_domain(&a);
    assert!(q.push_with(&hb.pin(), 1).is_err());
    assert!(q.pop_with(&hb.pin()).is_err());
    assert!(q.len_with(&hb.pin()).is_err());
    let m: MsQueue<u8, ebr::Domain> = MsQueue::with_domain(&a);
    assert!(m.push_with(&hb.pin(), 1).is_err());
    assert!(m.pop_with(&hb.pin()).is_err());
    let w: Worker<u8, ebr::Domain> = Worker::with_domain(&a);
    assert!(w.push_with(&hb.pin(), 1).is_err());
    assert!(w.stealer().steal_with(&hb.pin()).is_err());
    let c: RcuCell<u8, ebr::Domain> = RcuCell::with_domain(&a, 1);
    assert!(c.load(&mut hb.pin()).is_err());
    assert!(c.store_with(&hb.pin(), 2).is_err());
    // Nothing was pushed through the refused guards.
    let ha = a.register();
    assert_eq!(q.pop_with(&ha.pin()), Ok(None));
    assert_eq!(m.pop_with(&ha.pin()), Ok(None));
    assert_eq!(*c.load(&mut ha.pin()).unwrap(), 1);
}

#[test]
#[should_panic(expected = "belongs to another domain")]
fn default_methods_refuse_a_structure_of_another_domain() {
    let other = ebr::Domain::new();
    let q: Queue<u8> = Queue::with_domain(&other);
    q.push(1);
}

#[test]
#[should_panic(expected = "belongs to another domain")]
fn steal_refuses_an_empty_deque_of_another_domain() {
    let other = ebr::Domain::new();
    let w: Worker<u8> = Worker::with_domain(&other);
    // An empty deque is answered before any pin, and the domain is still checked.
    let _ = w.stealer().steal();
}

#[test]
#[should_panic(expected = "belongs to another domain")]
fn steal_refuses_a_deque_of_another_domain() {
    let other = ebr::Domain::new();
    let w: Worker<u8> = Worker::with_domain(&other);
    w.push_with(&other.register().pin(), 1).unwrap();
    let _ = w.stealer().steal();
}

// === queues ===

fn queue_fifo<S: Smr>(domain: S) {
    let q: Queue<usize, S> = Queue::with_domain(&domain);
    let m: MsQueue<usize, S> = MsQueue::with_domain(&domain);
    let mut h = domain.register();
    let count = SEGMENT * 3 + 1;
    assert_eq!(q.pop_with(&h.pin()), Ok(None));
    assert_eq!(m.pop_with(&h.pin()), Ok(None));
    for i in 0..count {
        q.push_with(&h.pin(), i).unwrap();
        m.push_with(&h.pin(), i).unwrap();
    }
    assert_eq!(q.len_with(&h.pin()), Ok(count));
    assert_eq!(m.len(), count);
    for i in 0..count {
        assert_eq!(q.pop_with(&h.pin()), Ok(Some(i)));
        assert_eq!(m.pop_with(&h.pin()), Ok(Some(i)));
        h.quiescent();
    }
    assert_eq!(q.pop_with(&h.pin()), Ok(None));
    assert_eq!(m.pop_with(&h.pin()), Ok(None));
    assert_eq!(q.len_with(&h.pin()), Ok(0));
    assert!(m.is_empty());
    h.barrier().unwrap();
}

#[test]
fn queues_fifo_across_segments_under_every_scheme() {
    every_scheme!(queue_fifo);
}

fn queue_drops<S: Smr>(domain: S) {
    let k = SEGMENT * 2 + 3;
    let (d1, d2) = (counters(k), counters(k));
    let mut h = domain.register();
    {
        let q: Queue<Counted, S> = Queue::with_domain(&domain);
        let m: MsQueue<Counted, S> = MsQueue::with_domain(&domain);
        for id in 0..k {
            q.push_with(
                &h.pin(),
                Counted {
                    id,
                    drops: d1.clone(),
                },
            )
            .unwrap();
            m.push_with(
                &h.pin(),
                Counted {
                    id,
                    drops: d2.clone(),
                },
            )
            .unwrap();
        }
        // Stop inside a segment (under Miri's two-slot segments too): its popped slots
        // still read FULL, and the queue's drop must skip them.
        for _ in 0..k / 2 + 2 {
            drop(q.pop_with(&h.pin()).unwrap().unwrap());
            drop(m.pop_with(&h.pin()).unwrap().unwrap());
        }
    }
    h.quiescent();
    h.barrier().unwrap();
    all_dropped_once(&d1);
    all_dropped_once(&d2);
}

#[test]
fn queues_drop_each_remaining_value_once_under_every_scheme() {
    every_scheme!(queue_drops);
}

/// The operations a stress test needs from either queue.
trait Mpmc<S: Smr>: Send + Sync {
    fn push(&self, h: &S::Handle, v: (usize, usize));
    fn pop(&self, h: &S::Handle) -> Option<(usize, usize)>;
}

impl<S: Smr> Mpmc<S> for Queue<(usize, usize), S> {
    fn push(&self, h: &S::Handle, v: (usize, usize)) {
        self.push_with(&h.pin(), v).unwrap()
    }
    fn pop(&self, h: &S::Handle) -> Option<(usize, usize)> {
        self.pop_with(&h.pin()).unwrap()
    }
}

impl<S: Smr> Mpmc<S> for MsQueue<(usize, usize), S> {
    fn push(&self, h: &S::Handle, v: (usize, usize)) {
        self.push_with(&h.pin(), v).unwrap()
    }
    fn pop(&self, h: &S::Handle) -> Option<(usize, usize)> {
        self.pop_with(&h.pin()).unwrap()
    }
}

/// Producers push `(producer, seq)`; consumers check that each producer's values reach
/// them in increasing order; at the end every value was taken exactly once.
fn mpmc_stress<S: Smr, Q: Mpmc<S> + 'static>(domain: S, q: Arc<Q>) {
    let (producers, consumers, per) = (2, 2, n(20_000, 60));
    let seen: Arc<Vec<AtomicU8>> = counters(producers * per);
    let done = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for p in 0..producers {
        let (q, domain, done) = (q.clone(), domain.clone(), done.clone());
        threads.push(std::thread::spawn(move || {
            let mut h = domain.register();
            for s in 0..per {
                q.push(&h, (p, s));
                if s % 64 == 0 {
                    h.quiescent();
                }
            }
            done.fetch_add(1, Ordering::Release);
        }));
    }
    for _ in 0..consumers {
        let (q, domain, done, seen) = (q.clone(), domain.clone(), done.clone(), seen.clone());
        threads.push(std::thread::spawn(move || {
            let mut h = domain.register();
            let mut last = vec![None::<usize>; producers];
            loop {
                let finished = done.load(Ordering::Acquire) == producers;
                match q.pop(&h) {
                    Some((p, s)) => {
                        assert!(
                            last[p].is_none_or(|l| l < s),
                            "producer {p}: {s} after {:?}",
                            last[p]
                        );
                        last[p] = Some(s);
                        let prev = seen[p * per + s].fetch_add(1, Ordering::Relaxed);
                        assert_eq!(prev, 0, "({p}, {s}) popped twice");
                    }
                    None if finished => break,
                    None => std::thread::yield_now(),
                }
                h.quiescent();
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    all_dropped_once(&seen);
}

fn queue_stress<S: Smr>(domain: S) {
    mpmc_stress(
        domain.clone(),
        Arc::new(Queue::<(usize, usize), S>::with_domain(&domain)),
    );
    mpmc_stress(
        domain.clone(),
        Arc::new(MsQueue::<(usize, usize), S>::with_domain(&domain)),
    );
}

#[test]
fn queues_lose_nothing_duplicate_nothing_keep_producer_order() {
    every_scheme!(queue_stress);
}

// === deque ===

fn deque_basics<S: Smr>(domain: S) {
    let mut h = domain.register();
    let w: Worker<usize, S> = Worker::with_domain(&domain);
    let st = w.stealer();
    assert_eq!(w.pop(), None);
    assert_eq!(st.steal_with(&h.pin()), Ok(Steal::Empty));
    let k = n(300, 12);
    for i in 0..k {
        w.push_with(&h.pin(), i).unwrap();
    }
    assert_eq!(w.len(), k);
    assert_eq!(st.steal_with(&h.pin()), Ok(Steal::Success(0)));
    assert_eq!(w.pop(), Some(k - 1));
    // A batch moves up to half into another worker.
    let w2: Worker<usize, S> = Worker::with_domain(&domain);
    assert_eq!(st.steal_batch_with(&h.pin(), &w2), Ok(Steal::Success(())));
    let moved = w2.len();
    assert!(moved >= 1 && moved <= (k - 2).div_ceil(2), "moved {moved}");
    assert_eq!(w.len() + moved, k - 2);
    let first = st
        .steal_batch_and_pop_with(&h.pin(), &w2)
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(first, 1 + moved);
    let mut rest = Vec::new();
    while let Some(v) = w.pop() {
        rest.push(v);
    }
    while let Some(v) = w2.pop() {
        rest.push(v);
    }
    rest.push(0);
    rest.push(k - 1);
    rest.push(first);
    rest.sort_unstable();
    assert_eq!(rest, (0..k).collect::<Vec<_>>());
    drop((w, w2, st));
    h.quiescent();
    h.barrier().unwrap();
}

#[test]
fn deque_lifo_fifo_growth_and_batches_under_every_scheme() {
    every_scheme!(deque_basics);
}

fn deque_drops<S: Smr>(domain: S) {
    let k = n(200, 10);
    let d = counters(k);
    let mut h = domain.register();
    {
        let w: Worker<Counted, S> = Worker::with_domain(&domain);
        let st = w.stealer();
        for id in 0..k {
            w.push_with(
                &h.pin(),
                Counted {
                    id,
                    drops: d.clone(),
                },
            )
            .unwrap();
        }
        drop(w.pop());
        drop(st.steal_with(&h.pin()).unwrap());
        drop(w);
        // The stealer keeps the deque alive; its drop drops the rest.
    }
    h.quiescent();
    h.barrier().unwrap();
    all_dropped_once(&d);
}

#[test]
fn deque_drops_each_remaining_value_once_under_every_scheme() {
    every_scheme!(deque_drops);
}

/// The owner pushes and pops, two thieves steal (singly and in batches into their own
/// deques): every task is taken exactly once.
fn deque_stress<S: Smr>(domain: S) {
    let tasks = n(50_000, 80);
    let taken = counters(tasks);
    let w: Worker<usize, S> = Worker::with_domain(&domain);
    let stop = Arc::new(AtomicBool::new(false));
    let mut thieves = Vec::new();
    for t in 0..2 {
        let (st, domain, stop, taken) = (w.stealer(), domain.clone(), stop.clone(), taken.clone());
        thieves.push(std::thread::spawn(move || {
            let mut h = domain.register();
            let mine: Worker<usize, S> = Worker::with_domain(&domain);
            loop {
                let stopping = stop.load(Ordering::Acquire);
                let r = if t == 0 {
                    st.steal_with(&h.pin()).unwrap()
                } else {
                    st.steal_batch_and_pop_with(&h.pin(), &mine).unwrap()
                };
                match r {
                    Steal::Success(v) => {
                        taken[v].fetch_add(1, Ordering::Relaxed);
                    }
                    Steal::Empty if stopping => break,
                    _ => std::thread::yield_now(),
                }
                while let Some(v) = mine.pop() {
                    taken[v].fetch_add(1, Ordering::Relaxed);
                }
                h.quiescent();
            }
        }));
    }
    let mut h = domain.register();
    for i in 0..tasks {
        w.push_with(&h.pin(), i).unwrap();
        if i % 3 == 0
            && let Some(v) = w.pop()
        {
            taken[v].fetch_add(1, Ordering::Relaxed);
        }
        h.quiescent();
    }
    while let Some(v) = w.pop() {
        taken[v].fetch_add(1, Ordering::Relaxed);
    }
    stop.store(true, Ordering::Release);
    for t in thieves {
        t.join().unwrap();
    }
    all_dropped_once(&taken);
}

#[test]
#[cfg_attr(
    ebb_sanitize,
    ignore = "TSan does not model the standalone fences of the Lê et al. orderings, so it \
              misses the owner-to-thief happens-before edge; Miri runs this test"
)]
fn deque_takes_every_task_exactly_once() {
    every_scheme!(deque_stress);
}

/// Every element is pushed before the thieves start, so the owner never writes a slot a
/// thief may read: the race-free part of the protocol, which Miri and TSan can check.
fn deque_without_wraparound<S: Smr>(domain: S) {
    let tasks = n(2_000, 40);
    let taken = counters(tasks);
    let w: Worker<usize, S> = Worker::with_domain(&domain);
    let mut h = domain.register();
    for i in 0..tasks {
        w.push_with(&h.pin(), i).unwrap();
    }
    let thieves: Vec<_> = (0..2)
        .map(|_| {
            let (st, domain, taken) = (w.stealer(), domain.clone(), taken.clone());
            std::thread::spawn(move || {
                let mut h = domain.register();
                loop {
                    match st.steal_with(&h.pin()).unwrap() {
                        Steal::Success(v) => {
                            taken[v].fetch_add(1, Ordering::Relaxed);
                        }
                        Steal::Empty => break,
                        Steal::Retry => std::thread::yield_now(),
                    }
                    h.quiescent();
                }
            })
        })
        .collect();
    while let Some(v) = w.pop() {
        taken[v].fetch_add(1, Ordering::Relaxed);
    }
    for t in thieves {
        t.join().unwrap();
    }
    h.quiescent();
    all_dropped_once(&taken);
}

#[test]
fn deque_thieves_race_the_owner_without_wraparound() {
    every_scheme!(deque_without_wraparound);
}

// === RCU cell ===

fn rcu_basics<S: Smr>(domain: S) {
    let k = n(50, 6);
    let d = counters(k);
    let mut h = domain.register();
    {
        let c: RcuCell<Counted, S> = RcuCell::with_domain(
            &domain,
            Counted {
                id: 0,
                drops: d.clone(),
            },
        );
        for id in 1..k - 2 {
            c.store_with(
                &h.pin(),
                Counted {
                    id,
                    drops: d.clone(),
                },
            )
            .unwrap();
            assert_eq!(c.load(&mut h.pin()).unwrap().id, id);
            h.quiescent();
        }
        // compare_and_swap succeeds against the current value, fails against a stale one.
        let mut g = h.pin();
        let cur: *const Counted = c.load(&mut g).unwrap();
        drop(g);
        let g = h.pin();
        // SAFETY: not retired: nothing stored since the load on this thread.
        let cur = unsafe { &*cur };
        let r = c
            .compare_and_swap(
                &g,
                cur,
                Counted {
                    id: k - 2,
                    drops: d.clone(),
                },
            )
            .unwrap();
        assert!(r.is_ok());
        let stale = c
            .compare_and_swap(
                &g,
                cur,
                Counted {
                    id: k - 1,
                    drops: d.clone(),
                },
            )
            .unwrap();
        let back = stale.unwrap_err();
        assert_eq!(back.id, k - 1);
        drop(back);
        drop(g);
        h.quiescent();
    }
    h.barrier().unwrap();
    all_dropped_once(&d);
}

#[test]
fn rcu_cell_store_cas_drop_once_under_every_scheme() {
    every_scheme!(rcu_basics);
}

fn rcu_concurrent<S: Smr>(domain: S) {
    let c: Arc<RcuCell<u64, S>> = Arc::new(RcuCell::with_domain(&domain, 0));
    let (threads, per) = (2, n(2_000, 20));
    let ts: Vec<_> = (0..threads)
        .map(|_| {
            let (c, domain) = (c.clone(), domain.clone());
            std::thread::spawn(move || {
                let mut h = domain.register();
                for _ in 0..per {
                    c.rcu(&h.pin(), |v| v + 1).unwrap();
                    let v = *c.load(&mut h.pin()).unwrap();
                    assert!(v >= 1);
                    h.quiescent();
                }
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    let h = domain.register();
    assert_eq!(*c.load(&mut h.pin()).unwrap(), (threads * per) as u64);
}

#[test]
fn rcu_cell_updates_are_never_lost() {
    every_scheme!(rcu_concurrent);
}

// === the default-domain methods ===

#[test]
fn default_domain_methods() {
    let q = Queue::new();
    let m = MsQueue::new();
    let s = TreiberStack::new();
    for i in 0..10 {
        q.push(i);
        m.push(i);
        s.push(i);
    }
    assert_eq!(q.len(), 10);
    assert!(!q.is_empty());
    assert_eq!(q.pop(), Some(0));
    assert_eq!(m.pop(), Some(0));
    assert_eq!(s.pop(), Some(9));
    let w = Worker::new();
    let st = w.stealer();
    for i in 0..100 {
        w.push(i);
    }
    assert_eq!(st.steal(), Steal::Success(0));
    let w2 = Worker::new();
    assert_eq!(st.steal_batch(&w2), Steal::Success(()));
    assert!(w2.pop().is_some());
    assert!(st.steal_batch_and_pop(&w2).success().is_some());
    let c = RcuCell::new(String::from("a"));
    c.store(String::from("b"));
    c.update(|s| format!("{s}c"));
    assert_eq!(c.read(|s| s.clone()), "bc");
    assert_eq!(c.into_inner(), "bc");
}

// === intern tables ===

fn intern_round_trip<S: Smr>(domain: S) {
    use crate::intern::{CowInterner, Interner, Symbol};
    let a: Interner<S> = Interner::with_domain(&domain);
    let c: CowInterner<S> = CowInterner::with_domain(&domain);
    let mut h = domain.register();
    let k = n(3_000, 40);
    let words: Vec<String> = (0..k).map(|i| format!("symbol_{i}")).collect();
    for (i, w) in words.iter().enumerate() {
        let g = h.pin();
        assert_eq!(a.get_with(&g, w.as_bytes()), Ok(None));
        let s = a.intern_with(&g, w.as_bytes()).unwrap();
        assert_eq!(
            s.as_u32() as usize,
            i,
            "symbols are dense, in insertion order"
        );
        assert_eq!(
            a.intern_with(&g, w.as_bytes()),
            Ok(s),
            "interning twice gives one symbol"
        );
        let t = c.intern_with(&g, w.as_bytes()).unwrap();
        assert_eq!(t, s);
        drop(g);
        h.quiescent();
    }
    for (i, w) in words.iter().enumerate() {
        let g = h.pin();
        let s = a.get_with(&g, w.as_bytes()).unwrap().unwrap();
        assert_eq!(s.as_u32() as usize, i);
        assert_eq!(a.resolve(s), Some(w.as_bytes()));
        assert_eq!(c.get_with(&g, w.as_bytes()), Ok(Some(s)));
        assert_eq!(c.resolve(s), Some(w.as_bytes()));
    }
    assert_eq!(a.len(), k);
    assert_eq!(c.len(), k);
    // A symbol never issued resolves to nothing; the empty string is a symbol like any.
    assert_eq!(a.resolve(Symbol::from_u32(k as u32)), None);
    assert_eq!(c.resolve(Symbol::from_u32(u32::MAX)), None);
    let e = a.intern_with(&h.pin(), b"").unwrap();
    assert_eq!(a.resolve(e), Some(&b""[..]));
    h.quiescent();
    h.barrier().unwrap();
}

#[test]
fn intern_tables_round_trip_under_every_scheme() {
    every_scheme!(intern_round_trip);
}

/// Keys of every length around the hash's word size and the inline-entry limit, each
/// beside variants that differ in one byte, in their length only, or in trailing zero
/// bytes: all get distinct symbols, are found again and resolve to their bytes.
#[test]
fn intern_keys_of_every_length_and_near_misses() {
    use crate::intern::{CowInterner, Interner};
    let d = qsbr::Domain::new();
    let a: Interner<qsbr::Domain> = Interner::with_domain(&d);
    let c: CowInterner<qsbr::Domain> = CowInterner::with_domain(&d);
    let mut h = d.register();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let top = n(40, 18);
    for len in 0..=top {
        let base: Vec<u8> = (0..len).map(|i| (i * 7 + len + 1) as u8).collect();
        keys.push(base.clone());
        for j in 0..len {
            let mut v = base.clone();
            v[j] ^= 0x80;
            keys.push(v);
        }
    }
    // Zero padding must not make keys equal: "", "\0", "\0\0", ...; and "x", "x\0".
    for len in 1..=top {
        keys.push(vec![0; len]);
        let mut v = vec![b'x'];
        v.resize(len + 1, 0);
        keys.push(v);
    }
    keys.sort();
    keys.dedup();
    let mut syms = Vec::new();
    for k in &keys {
        {
            let g = h.pin();
            assert_eq!(
                a.get_with(&g, k),
                Ok(None),
                "{k:?} found before it was interned"
            );
            let s = a.intern_with(&g, k).unwrap();
            assert_eq!(c.intern_with(&g, k), Ok(s));
            syms.push(s);
        }
        h.quiescent();
    }
    assert_eq!(a.len(), keys.len(), "every key got its own symbol");
    for (k, &s) in keys.iter().zip(&syms) {
        let g = h.pin();
        assert_eq!(a.get_with(&g, k), Ok(Some(s)));
        assert_eq!(c.get_with(&g, k), Ok(Some(s)));
        assert_eq!(a.resolve(s), Some(&k[..]));
        assert_eq!(c.resolve(s), Some(&k[..]));
    }
    drop(h);
}

#[test]
fn intern_tables_refuse_foreign_guards() {
    use crate::intern::{CowInterner, InternError, Interner};
    let a = qsbr::Domain::new();
    let b = qsbr::Domain::new();
    let hb = b.register();
    let i: Interner<qsbr::Domain> = Interner::with_domain(&a);
    let c: CowInterner<qsbr::Domain> = CowInterner::with_domain(&a);
    assert!(i.get_with(&hb.pin(), b"x").is_err());
    assert!(matches!(
        i.intern_with(&hb.pin(), b"x"),
        Err(InternError::Smr(_))
    ));
    assert!(matches!(
        c.intern_with(&hb.pin(), b"x"),
        Err(InternError::Smr(_))
    ));
    assert!(i.is_empty() && c.is_empty());
}

/// Readers look up symbols while writers intern new ones: every reader finds each symbol
/// once it was interned (by any thread) with the same id, and the ids are dense.
fn intern_concurrent<S: Smr>(domain: S) {
    use crate::intern::Interner;
    let t: Arc<Interner<S>> = Arc::new(Interner::with_domain(&domain));
    let per = n(2_000, 30);
    let threads: Vec<_> = (0..2)
        .map(|id| {
            let (t, domain) = (t.clone(), domain.clone());
            std::thread::spawn(move || {
                let mut h = domain.register();
                let mut mine = Vec::new();
                for i in 0..per {
                    // Both threads intern the shared words; each also interns its own.
                    let shared = format!("shared_{i}");
                    let own = format!("own_{id}_{i}");
                    let g = h.pin();
                    let s1 = t.intern_with(&g, shared.as_bytes()).unwrap();
                    let s2 = t.intern_with(&g, own.as_bytes()).unwrap();
                    assert_eq!(t.resolve(s1), Some(shared.as_bytes()));
                    assert_eq!(t.get_with(&g, own.as_bytes()), Ok(Some(s2)));
                    mine.push((shared, s1));
                    drop(g);
                    h.quiescent();
                }
                mine
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for (a, b) in results[0].iter().zip(&results[1]) {
        assert_eq!(a, b, "two threads interning one word got different symbols");
    }
    assert_eq!(t.len(), per * 3);
    let mut ids: Vec<u32> = (0..t.len() as u32).collect();
    ids.retain(|&s| t.resolve(crate::intern::Symbol::from_u32(s)).is_some());
    assert_eq!(ids.len(), per * 3);
}

#[test]
fn intern_table_concurrent_interns_agree() {
    every_scheme!(intern_concurrent);
}

// === map ===

fn map_basics<S: Smr>(domain: S) {
    use crate::map::Map;
    let m: Map<u64, String, S> = Map::with_domain(&domain);
    let mut h = domain.register();
    let k = n(500, 20) as u64;
    for i in 0..k {
        assert_eq!(m.insert_with(&h.pin(), i, format!("v{i}")), Ok(true));
        h.quiescent();
    }
    assert_eq!(m.len(), k as usize);
    assert_eq!(
        m.insert_with(&h.pin(), 3, "three".into()),
        Ok(false),
        "replacing is not new"
    );
    assert_eq!(m.len(), k as usize);
    for i in 0..k {
        let mut g = h.pin();
        let want = if i == 3 {
            "three".to_string()
        } else {
            format!("v{i}")
        };
        assert_eq!(
            m.get_with(&mut g, &i).unwrap().map(|s| s.as_str()),
            Some(want.as_str())
        );
        drop(g);
        assert_eq!(m.get_cloned_with(&h.pin(), &i), Ok(Some(want)));
    }
    assert_eq!(m.get_cloned_with(&h.pin(), &k), Ok(None));
    assert_eq!(m.update_with(&h.pin(), &5, |v| format!("{v}!")), Ok(true));
    assert_eq!(
        m.update_with(&h.pin(), &k, |_| unreachable!("absent key")),
        Ok(false)
    );
    assert_eq!(m.get_cloned_with(&h.pin(), &5), Ok(Some("v5!".into())));
    assert_eq!(m.remove_with(&h.pin(), &5), Ok(true));
    assert_eq!(m.remove_with(&h.pin(), &5), Ok(false));
    assert_eq!(m.get_cloned_with(&h.pin(), &5), Ok(None));
    let mut seen = Vec::new();
    m.for_each_with(&h.pin(), |k, _| seen.push(*k)).unwrap();
    seen.sort_unstable();
    assert_eq!(seen, (0..k).filter(|&i| i != 5).collect::<Vec<_>>());
    h.quiescent();
    h.barrier().unwrap();
}

#[test]
fn map_get_insert_remove_update_iterate_under_every_scheme() {
    every_scheme!(map_basics);
}

fn map_drops<S: Smr>(domain: S) {
    use crate::map::Map;
    let k = n(100, 10);
    // Values 0..k inserted, k..2k replace them, then half removed.
    let d = counters(2 * k);
    let mut h = domain.register();
    {
        let m: Map<usize, Counted, S> = Map::with_domain(&domain);
        for id in 0..k {
            m.insert_with(
                &h.pin(),
                id,
                Counted {
                    id,
                    drops: d.clone(),
                },
            )
            .unwrap();
        }
        for id in 0..k {
            m.insert_with(
                &h.pin(),
                id,
                Counted {
                    id: k + id,
                    drops: d.clone(),
                },
            )
            .unwrap();
            h.quiescent();
        }
        for id in 0..k / 2 {
            m.remove_with(&h.pin(), &id).unwrap();
        }
    }
    h.quiescent();
    h.barrier().unwrap();
    all_dropped_once(&d);
}

#[test]
fn map_drops_each_value_once_under_every_scheme() {
    every_scheme!(map_drops);
}

/// Writers insert `key -> key * 2` and update to `key * 2 + 1`; readers only ever see one
/// of those two values for a key they find.
fn map_concurrent<S: Smr>(domain: S) {
    use crate::map::Map;
    let m: Arc<Map<u64, u64, S>> = Arc::new(Map::with_domain(&domain));
    let k = n(3_000, 30) as u64;
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (m, domain, stop) = (m.clone(), domain.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut h = domain.register();
                let mut i = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let key = i % k;
                    if let Some(&v) = m.get_with(&mut h.pin(), &key).unwrap() {
                        assert!(v == key * 2 || v == key * 2 + 1, "key {key}: {v}");
                    }
                    i += 1;
                    h.quiescent();
                }
            })
        })
        .collect();
    let mut h = domain.register();
    for key in 0..k {
        m.insert_with(&h.pin(), key, key * 2).unwrap();
        m.update_with(&h.pin(), &key, |v| v + 1).unwrap();
        h.quiescent();
    }
    stop.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(m.len(), k as usize);
    for key in 0..k {
        assert_eq!(m.get_cloned_with(&h.pin(), &key), Ok(Some(key * 2 + 1)));
    }
}

#[test]
fn map_readers_see_only_written_values() {
    every_scheme!(map_concurrent);
}

/// Random inserts, replaces and removes over a small key range (so that removals leave
/// tombstones that inserts reuse and rebuilds clear), checked step by step against a
/// `HashMap`; the table stays within a bounded size under the churn.
fn map_model<S: Smr>(domain: S) {
    use crate::map::Map;
    use std::collections::HashMap;
    let m: Map<u32, u64, S> = Map::with_domain(&domain);
    let mut model: HashMap<u32, u64> = HashMap::new();
    let mut h = domain.register();
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let keys = n(300, 12) as u64;
    let mut peak = 0;
    for step in 0..n(20_000, 300) as u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = (x % keys) as u32;
        match (x >> 32) % 3 {
            0 | 1 => assert_eq!(
                m.insert_with(&h.pin(), k, step),
                Ok(model.insert(k, step).is_none()),
                "insert {k}"
            ),
            _ => assert_eq!(
                m.remove_with(&h.pin(), &k),
                Ok(model.remove(&k).is_some()),
                "remove {k}"
            ),
        }
        let probe = ((x >> 16) % keys) as u32;
        assert_eq!(
            m.get_cloned_with(&h.pin(), &probe),
            Ok(model.get(&probe).copied())
        );
        assert_eq!(m.len(), model.len());
        peak = peak.max(m.capacity());
        h.quiescent();
    }
    let mut seen = Vec::new();
    m.for_each_with(&h.pin(), |k, v| seen.push((*k, *v)))
        .unwrap();
    seen.sort_unstable();
    let mut want: Vec<_> = model.into_iter().collect();
    want.sort_unstable();
    assert_eq!(seen, want);
    // Rebuilds keep the table at most half full after each one, from a floor of 64
    // slots: churn over `keys` keys never needs more than 4x `keys` slots.
    assert!(
        peak <= (4 * keys as usize).next_power_of_two().max(64),
        "table grew to {peak} slots for {keys} keys"
    );
    h.quiescent();
    h.barrier().unwrap();
}

#[test]
fn map_matches_a_hashmap_model_under_every_scheme() {
    every_scheme!(map_model);
}

/// `get_or_insert_with` from several threads on the same keys: each key is inserted by
/// exactly one call, every caller sees the inserted value, and the losers' values are
/// dropped (every value made is dropped once, the map's when the map drops).
fn map_get_or_insert<S: Smr>(domain: S) {
    use crate::map::Map;
    let keys = n(2_000, 20);
    let threads = 3;
    let made = counters(keys * threads);
    let next = Arc::new(AtomicUsize::new(0));
    {
        let m: Arc<Map<usize, Counted, S>> = Arc::new(Map::with_domain(&domain));
        let inserted: Vec<usize> = (0..threads)
            .map(|_| {
                let (m, domain, made, next) =
                    (m.clone(), domain.clone(), made.clone(), next.clone());
                std::thread::spawn(move || {
                    let mut h = domain.register();
                    let mut mine = 0;
                    for k in 0..keys {
                        let mut g = h.pin();
                        let (v, new) = m
                            .get_or_insert_with(&mut g, k, || Counted {
                                id: next.fetch_add(1, Ordering::Relaxed),
                                drops: made.clone(),
                            })
                            .unwrap();
                        assert!(v.id < keys * threads);
                        mine += new as usize;
                        drop(g);
                        h.quiescent();
                    }
                    h.barrier().unwrap();
                    mine
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert_eq!(
            inserted.iter().sum::<usize>(),
            keys,
            "each key inserted once"
        );
        assert_eq!(m.len(), keys);
        let mut h = domain.register();
        // Every later call finds the same value.
        for k in 0..keys {
            let first = m.get_with(&mut h.pin(), &k).unwrap().map(|c| c.id);
            let mut g = h.pin();
            let (v, new) = m
                .get_or_insert_with(&mut g, k, || unreachable!("present"))
                .unwrap();
            assert!(!new);
            assert_eq!(Some(v.id), first);
            drop(g);
            assert_eq!(m.contains_key_with(&h.pin(), &k), Ok(true));
        }
        assert_eq!(m.contains_key_with(&h.pin(), &keys), Ok(false));
        h.barrier().unwrap();
    }
    let made_n = next.load(Ordering::Relaxed);
    for (i, d) in made.iter().enumerate() {
        let want = u8::from(i < made_n);
        assert_eq!(d.load(Ordering::Relaxed), want, "value {i}");
    }
}

#[test]
fn map_get_or_insert_inserts_each_key_once_under_every_scheme() {
    every_scheme!(map_get_or_insert);
}

#[test]
fn map_refuses_foreign_guards() {
    use crate::map::Map;
    let a = qsbr::Domain::new();
    let b = qsbr::Domain::new();
    let hb = b.register();
    let m: Map<u8, u8, qsbr::Domain> = Map::with_domain(&a);
    assert!(m.insert_with(&hb.pin(), 1, 1).is_err());
    assert!(m.get_cloned_with(&hb.pin(), &1).is_err());
    assert!(m.remove_with(&hb.pin(), &1).is_err());
    assert!(m.for_each_with(&hb.pin(), |_, _| ()).is_err());
    assert!(m.contains_key_with(&hb.pin(), &1).is_err());
    assert!(
        m.get_or_insert_with(&mut hb.pin(), 1, || unreachable!("refused first"))
            .is_err()
    );
    assert!(m.is_empty());
}

// === word map ===

/// Random inserts, replaces, updates and removes over a small key range (removals leave
/// dead slots that rebuilds clear), checked step by
/// step against a `HashMap`; the table stays within a bounded size under the churn.
fn word_map_model<S: Smr>(domain: S) {
    use crate::word_map::WordMap;
    use std::collections::HashMap;
    let m: WordMap<u32, u64, S> = WordMap::with_domain(&domain);
    let mut model: HashMap<u32, u64> = HashMap::new();
    let mut h = domain.register();
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let keys = n(300, 12) as u64;
    let mut peak = 0;
    for step in 0..n(20_000, 300) as u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Keys spread over the whole u32 range, so that their bits (not small integers)
        // are compared.
        let k = ((x % keys) as u32).wrapping_mul(0x9E37_79B9);
        match (x >> 32) % 4 {
            0 | 1 => assert_eq!(
                m.insert_with(&h.pin(), k, step),
                Ok(model.insert(k, step)),
                "insert {k}"
            ),
            2 => assert_eq!(
                m.update_with(&h.pin(), k, |v| v ^ step),
                Ok(model.get_mut(&k).map(|v| {
                    *v ^= step;
                    *v
                })),
                "update {k}"
            ),
            _ => assert_eq!(
                m.remove_with(&h.pin(), k),
                Ok(model.remove(&k)),
                "remove {k}"
            ),
        }
        let probe = (((x >> 16) % keys) as u32).wrapping_mul(0x9E37_79B9);
        assert_eq!(m.get_with(&h.pin(), probe), Ok(model.get(&probe).copied()));
        assert_eq!(
            m.contains_key_with(&h.pin(), probe),
            Ok(model.contains_key(&probe))
        );
        assert_eq!(m.len(), model.len());
        peak = peak.max(m.capacity());
        h.quiescent();
    }
    let mut seen = Vec::new();
    m.for_each_with(&h.pin(), |k, v| seen.push((k, v))).unwrap();
    seen.sort_unstable();
    let mut want: Vec<_> = model.into_iter().collect();
    want.sort_unstable();
    assert_eq!(seen, want);
    // Rebuilds keep the table at most half full after each one, from a floor of 64
    // slots: churn over `keys` keys never needs more than 4x `keys` slots.
    assert!(
        peak <= (4 * keys as usize).next_power_of_two().max(64),
        "table grew to {peak} slots for {keys} keys"
    );
    h.quiescent();
    h.barrier().unwrap();
}

#[test]
fn word_map_matches_a_hashmap_model_under_every_scheme() {
    every_scheme!(word_map_model);
}

/// Keys whose bits differ only in the high half, and the extreme values of signed keys:
/// the map compares all 64 bits.
#[test]
fn word_map_keeps_keys_apart_by_all_their_bits() {
    use crate::word_map::WordMap;
    let d = qsbr::Domain::new();
    let mut h = d.register();
    let m: WordMap<u64, i64, qsbr::Domain> = WordMap::with_domain(&d);
    let keys = [
        0,
        1,
        1 << 32,
        (1 << 32) | 1,
        u64::MAX,
        u64::MAX - 1,
        1 << 63,
    ];
    for (i, &k) in keys.iter().enumerate() {
        assert_eq!(m.insert_with(&h.pin(), k, -(i as i64)), Ok(None));
    }
    for (i, &k) in keys.iter().enumerate() {
        assert_eq!(m.get_with(&h.pin(), k), Ok(Some(-(i as i64))), "key {k:#x}");
    }
    let s: WordMap<i64, bool, qsbr::Domain> = WordMap::with_domain(&d);
    for k in [i64::MIN, -1, 0, i64::MAX] {
        assert_eq!(s.insert_with(&h.pin(), k, k < 0), Ok(None));
    }
    for k in [i64::MIN, -1, 0, i64::MAX] {
        assert_eq!(s.get_with(&h.pin(), k), Ok(Some(k < 0)));
    }
    assert_eq!(s.get_with(&h.pin(), 1), Ok(None));
    h.quiescent();
}

/// Writers insert `key -> key * 2`, update it to `key * 2 + 1`, and remove and re-insert
/// every third key (into a new slot) while readers look keys up: a reader only
/// ever sees one of the values written for the key it asked for, across rebuilds.
fn word_map_concurrent<S: Smr>(domain: S) {
    use crate::word_map::WordMap;
    let m: Arc<WordMap<u64, u64, S>> = Arc::new(WordMap::with_domain(&domain));
    let k = n(3_000, 30) as u64;
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (m, domain, stop) = (m.clone(), domain.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut h = domain.register();
                let mut i = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let key = i % k;
                    if let Some(v) = m.get_with(&h.pin(), key).unwrap() {
                        assert!(v == key * 2 || v == key * 2 + 1, "key {key}: {v}");
                    }
                    i += 1;
                    h.quiescent();
                }
            })
        })
        .collect();
    let mut h = domain.register();
    for key in 0..k {
        assert_eq!(m.insert_with(&h.pin(), key, key * 2), Ok(None));
        assert_eq!(
            m.update_with(&h.pin(), key, |v| v + 1),
            Ok(Some(key * 2 + 1))
        );
        if key % 3 == 0 {
            assert_eq!(m.remove_with(&h.pin(), key), Ok(Some(key * 2 + 1)));
            assert_eq!(m.insert_with(&h.pin(), key, key * 2 + 1), Ok(None));
        }
        h.quiescent();
    }
    stop.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(m.len(), k as usize);
    for key in 0..k {
        assert_eq!(m.get_with(&h.pin(), key), Ok(Some(key * 2 + 1)));
    }
    h.quiescent();
    h.barrier().unwrap();
}

#[test]
fn word_map_readers_see_only_written_values() {
    every_scheme!(word_map_concurrent);
}

/// Several threads insert disjoint key ranges and `get_or_insert_with` shared keys at
/// once (writers of different stripes race for free slots and for rebuilds): every key
/// is found afterwards, each shared key was inserted by exactly one call, and every
/// caller saw the value that won.
fn word_map_writers_race<S: Smr>(domain: S) {
    use crate::word_map::WordMap;
    let m: Arc<WordMap<u64, u64, S>> = Arc::new(WordMap::with_domain(&domain));
    let per = n(4_000, 40) as u64;
    let threads = 3u64;
    let made = Arc::new(AtomicUsize::new(0));
    let results: Vec<Vec<u64>> = (0..threads)
        .map(|t| {
            let (m, domain, made) = (m.clone(), domain.clone(), made.clone());
            std::thread::spawn(move || {
                let mut h = domain.register();
                let mut seen = Vec::new();
                for i in 0..per {
                    let own = (t + 1) << 40 | i;
                    assert_eq!(m.insert_with(&h.pin(), own, i), Ok(None));
                    let (v, new) = m
                        .get_or_insert_with(&h.pin(), i, || {
                            made.fetch_add(1, Ordering::Relaxed);
                            t
                        })
                        .unwrap();
                    assert!(!new || v == t);
                    seen.push(v);
                    h.quiescent();
                }
                h.barrier().unwrap();
                seen
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(
        made.load(Ordering::Relaxed),
        per as usize,
        "each shared key made once"
    );
    let h = domain.register();
    for i in 0..per {
        let v = m.get_with(&h.pin(), i).unwrap().expect("shared key");
        for r in &results {
            assert_eq!(r[i as usize], v, "every caller saw the winner");
        }
        for t in 0..threads {
            assert_eq!(m.get_with(&h.pin(), (t + 1) << 40 | i), Ok(Some(i)));
        }
    }
    assert_eq!(m.len(), (per * (threads + 1)) as usize);
}

#[test]
fn word_map_writers_race_for_slots_under_every_scheme() {
    every_scheme!(word_map_writers_race);
}

#[test]
fn word_map_refuses_foreign_guards() {
    use crate::word_map::WordMap;
    let a = qsbr::Domain::new();
    let b = qsbr::Domain::new();
    let hb = b.register();
    let m: WordMap<u8, u8, qsbr::Domain> = WordMap::with_domain(&a);
    let e = |r: Result<Option<u8>, SmrError>| {
        assert!(matches!(r, Err(SmrError::ForeignDomain { .. })), "{r:?}");
    };
    e(m.insert_with(&hb.pin(), 1, 1));
    e(m.get_with(&hb.pin(), 1));
    e(m.remove_with(&hb.pin(), 1));
    e(m.update_with(&hb.pin(), 1, |v| v));
    assert!(m.for_each_with(&hb.pin(), |_, _| ()).is_err());
    assert!(m.contains_key_with(&hb.pin(), 1).is_err());
    assert!(
        m.get_or_insert_with(&hb.pin(), 1, || unreachable!("refused first"))
            .is_err()
    );
    assert!(m.is_empty());
}

// === executor ===

mod executor {
    use super::n;
    use crate::executor::{Executor, Graph, GraphError, TaskId, join};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn fib(k: u64) -> u64 {
        if k < 2 {
            return k;
        }
        let (a, b) = join(|| fib(k - 1), || fib(k - 2));
        a + b
    }

    #[test]
    #[cfg_attr(
        ebb_sanitize,
        ignore = "TSan does not model the standalone fences of the deque's orderings (deque.rs); Miri runs this test"
    )]
    fn join_computes_in_parallel_and_outside_the_pool() {
        let ex = Executor::new(2);
        assert_eq!(ex.workers(), 2);
        let k = if cfg!(miri) { 8 } else { 20 };
        let want = (0..k).fold((0u64, 1u64), |(a, b), _| (b, a + b)).0;
        assert_eq!(ex.install(|| fib(k)), want);
        assert_eq!(ex.join(|| 1, || 2), (1, 2));
        // Outside any executor, join runs both closures on the caller.
        assert_eq!(fib(10), 55);
    }

    #[test]
    #[cfg_attr(
        ebb_sanitize,
        ignore = "TSan does not model the standalone fences of the deque's orderings (deque.rs); Miri runs this test"
    )]
    fn scope_tasks_borrow_and_all_finish() {
        let ex = Executor::new(2);
        let data: Vec<usize> = (0..n(1000, 20)).collect();
        let sum = AtomicUsize::new(0);
        ex.scope(|s| {
            for chunk in data.chunks(7) {
                let sum = &sum;
                s.spawn(move |s| {
                    let part: usize = chunk.iter().sum();
                    // Nested spawn through the scope handed to the task.
                    s.spawn(move |_| {
                        sum.fetch_add(part, Ordering::Relaxed);
                    });
                });
            }
        });
        assert_eq!(sum.into_inner(), data.iter().sum::<usize>());
    }

    #[test]
    #[cfg_attr(
        ebb_sanitize,
        ignore = "TSan does not model the standalone fences of the deque's orderings (deque.rs); Miri runs this test"
    )]
    fn panics_propagate_to_the_caller() {
        let ex = Executor::new(2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ex.join(|| 1, || -> u32 { panic!("task b failed") })
        }));
        let msg = r.unwrap_err();
        assert_eq!(msg.downcast_ref::<&str>(), Some(&"task b failed"));
        let ran = AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ex.scope(|s| {
                for i in 0..10 {
                    let ran = &ran;
                    s.spawn(move |_| {
                        ran.fetch_add(1, Ordering::Relaxed);
                        if i == 3 {
                            panic!("scoped task failed");
                        }
                    });
                }
            })
        }));
        assert!(r.is_err());
        assert_eq!(ran.load(Ordering::Relaxed), 10, "the other tasks still ran");
        // The executor still works after panics.
        assert_eq!(ex.install(|| 5), 5);
        // A graph task's panic skips the tasks after it and reaches the caller.
        let after = AtomicUsize::new(0);
        let mut g = Graph::new();
        let a = g.add(&[], || panic!("graph task failed")).unwrap();
        g.add(&[a], || {
            after.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ex.run(g)));
        assert!(r.is_err());
        assert_eq!(
            after.load(Ordering::Relaxed),
            0,
            "a successor of a failed task ran"
        );
    }

    #[test]
    fn graph_rejects_unknown_predecessors() {
        let mut g = Graph::new();
        let a = g.add(&[], || ()).unwrap();
        let bogus = {
            let mut other = Graph::new();
            other.add(&[], || ()).unwrap();
            other.add(&[], || ()).unwrap()
        };
        assert_eq!(
            g.add(&[a, bogus], || ()),
            Err(GraphError::UnknownTask(bogus))
        );
        assert_eq!(g.len(), 1);
        let _: TaskId = a;
    }

    #[test]
    fn graph_refuses_tasks_and_edges_past_its_limit() {
        let mut g = Graph::with_limit(3);
        let a = g.add(&[], || ()).unwrap();
        let b = g.add(&[a, a], || ()).unwrap();
        // Two edges used: a task after two more would need four.
        assert_eq!(g.add(&[a, b], || ()), Err(GraphError::Full));
        let c = g.add(&[b], || ()).unwrap();
        // Three tasks: the limit.
        assert_eq!(g.add(&[], || ()), Err(GraphError::Full));
        assert_eq!(g.len(), 3);
        let _ = c;
        Executor::new(1).run(g);
    }

    /// Closures of every storage class (zero-sized, in the arena across chunk ends,
    /// boxed because large or over-aligned) run once each, and those of a graph that is
    /// dropped unrun, or skipped after a panic, are dropped once each.
    #[test]
    fn graph_closures_run_or_drop_exactly_once() {
        struct Count<'a>(&'a AtomicUsize);
        impl Drop for Count<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        #[repr(align(64))]
        struct Aligned(#[allow(dead_code)] u8);
        let (ran, dropped) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let tasks = n(3000, 1200);
        let build = || {
            let mut g = Graph::new();
            let mut prev: Option<TaskId> = None;
            for i in 0..tasks {
                let (ran, dropped) = (&ran, &dropped);
                let after: Vec<TaskId> = prev.into_iter().collect();
                let id = match i % 4 {
                    0 => g.add(&after, || ()),
                    1 => {
                        let (big, c) = ([i as u8; 17_000], Count(dropped));
                        g.add(&after, move || {
                            let _c = c;
                            assert_eq!(big[16_999], i as u8);
                            ran.fetch_add(1, Ordering::Relaxed);
                        })
                    }
                    2 => {
                        let (al, c) = (Aligned(i as u8), Count(dropped));
                        g.add(&after, move || {
                            let _c = c;
                            assert_eq!(al.0, i as u8);
                            ran.fetch_add(1, Ordering::Relaxed);
                        })
                    }
                    _ => {
                        let (odd, c) = ([i as u8; 37], Count(dropped));
                        g.add(&after, move || {
                            let _c = c;
                            assert_eq!(odd[36], i as u8);
                            ran.fetch_add(1, Ordering::Relaxed);
                        })
                    }
                }
                .unwrap();
                prev = Some(id);
            }
            g
        };
        let with_closure = tasks - tasks.div_ceil(4);
        Executor::new(2).run(build());
        assert_eq!(ran.load(Ordering::Relaxed), with_closure);
        assert_eq!(dropped.load(Ordering::Relaxed), with_closure);
        drop(build());
        assert_eq!(
            ran.load(Ordering::Relaxed),
            with_closure,
            "a dropped graph ran"
        );
        assert_eq!(dropped.load(Ordering::Relaxed), 2 * with_closure);
        // A panic in the first task skips, and drops, all the others.
        let mut g = build();
        g.add(&[], || panic!("first")).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Executor::new(1).run(g)));
        assert!(r.is_err());
        assert_eq!(dropped.load(Ordering::Relaxed), 3 * with_closure);
        assert_eq!(
            ran.load(Ordering::Relaxed),
            with_closure,
            "a skipped task ran"
        );
    }

    /// A wavefront DAG: cell (i, j) after (i-1, j) and (i, j-1); each task checks that
    /// its predecessors finished, and records its own finish.
    #[test]
    #[cfg_attr(
        ebb_sanitize,
        ignore = "TSan does not model the standalone fences of the deque's orderings (deque.rs); Miri runs this test"
    )]
    fn graph_runs_every_task_after_its_predecessors() {
        let ex = Executor::new(3);
        let side = n(60, 6);
        let done: Vec<AtomicUsize> = (0..side * side).map(|_| AtomicUsize::new(0)).collect();
        let order = AtomicUsize::new(1);
        let violations = Mutex::new(Vec::new());
        let mut g = Graph::new();
        let mut ids = Vec::with_capacity(side * side);
        for i in 0..side {
            for j in 0..side {
                let mut after = Vec::new();
                if i > 0 {
                    after.push(ids[(i - 1) * side + j]);
                }
                if j > 0 {
                    after.push(ids[i * side + j - 1]);
                }
                let (done, order, violations) = (&done, &order, &violations);
                let id = g
                    .add(&after, move || {
                        let preds = [
                            (i > 0).then(|| (i - 1) * side + j),
                            (j > 0).then(|| i * side + j - 1),
                        ];
                        for p in preds.into_iter().flatten() {
                            if done[p].load(Ordering::Acquire) == 0 {
                                violations.lock().unwrap().push((i, j, p));
                            }
                        }
                        done[i * side + j]
                            .store(order.fetch_add(1, Ordering::Relaxed), Ordering::Release);
                    })
                    .unwrap();
                ids.push(id);
            }
        }
        ex.run(g);
        assert!(
            violations.lock().unwrap().is_empty(),
            "{:?}",
            violations.lock().unwrap()
        );
        assert!(
            done.iter().all(|d| d.load(Ordering::Relaxed) != 0),
            "a task did not run"
        );
    }
}

/// Tasks released while the graph's roots are still being pushed run once: a long chain
/// whose head starts running before the starter reached the chain's end.
#[test]
#[cfg_attr(
    ebb_sanitize,
    ignore = "TSan does not model the standalone fences of the deque's orderings (deque.rs); \
              Miri runs this test"
)]
fn graph_tasks_released_during_start_run_once() {
    use crate::executor::{Executor, Graph};
    use std::sync::atomic::{AtomicU8, Ordering};
    let ex = Executor::new(2);
    let len = n(200_000, 100);
    let runs: Vec<AtomicU8> = (0..len).map(|_| AtomicU8::new(0)).collect();
    let mut g = Graph::new();
    let mut prev = None;
    for i in 0..len {
        let runs = &runs;
        let after: Vec<_> = prev.into_iter().collect();
        prev = Some(
            g.add(&after, move || {
                runs[i].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap(),
        );
    }
    ex.run(g);
    assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 1));
}

/// A graph run with `run_and_clear` comes back empty with its storage: the second and
/// third graphs built in it, the same size, allocate no new closure chunk and keep the
/// node vector's capacity, and every task of every round runs once, in order. A panic
/// leaves the graph empty and usable.
#[test]
#[cfg_attr(
    ebb_sanitize,
    ignore = "TSan does not model the standalone fences of the deque's orderings (deque.rs); \
              Miri runs this test"
)]
fn graph_run_and_clear_reuses_storage() {
    use crate::executor::{Executor, Graph};
    let ex = Executor::new(2);
    let tasks = n(3_000, 40);
    // Declared before the graph, whose closures borrow them.
    let sums: [AtomicUsize; 3] = Default::default();
    let lasts: [AtomicUsize; 3] = Default::default();
    let ran = AtomicUsize::new(0);
    let mut g = Graph::new();
    let mut storage = None;
    for round in 0..3u64 {
        let (sum, last) = (&sums[round as usize], &lasts[round as usize]);
        let mut prev = None;
        for i in 0..tasks {
            // A chain: each task checks that its predecessor ran, and a closure with a
            // 512-byte capture so that the tasks span several chunks.
            let pad = [round; 64];
            let after: Vec<_> = prev.into_iter().collect();
            prev = Some(
                g.add(&after, move || {
                    assert_eq!(last.swap(i + 1, Ordering::Relaxed), i, "out of order");
                    sum.fetch_add(pad[0] as usize + 1, Ordering::Relaxed);
                })
                .unwrap(),
            );
        }
        assert_eq!(g.len(), tasks);
        let before = g.storage();
        ex.run_and_clear(&mut g);
        assert!(g.is_empty());
        assert_eq!(sum.load(Ordering::Relaxed), tasks * (round as usize + 1));
        assert_eq!(g.storage(), before, "run_and_clear keeps the storage");
        match storage {
            None => storage = Some(before),
            Some(s) => assert_eq!(before, s, "round {round} allocated new storage"),
        }
    }
    assert!(storage.unwrap().1 > 1, "the closures span several chunks");
    // A panic: resumed, and the graph is empty (its storage dropped) and usable.
    g.add(&[], || panic!("task failed")).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ex.run_and_clear(&mut g)));
    assert!(r.is_err());
    assert!(g.is_empty());
    assert_eq!(g.storage(), (0, 0));
    g.add(&[], || {
        ran.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    ex.run_and_clear(&mut g);
    assert_eq!(ran.load(Ordering::Relaxed), 1);
}
