//! Loom models of the collections (`--cfg ebb_loom`; see docs/DEVELOPING.md). Each model
//! is a handful of operations on two or three threads; their preemption bound is capped
//! at 2 to keep CI inside its budget (`LOOM_MAX_PREEMPTIONS` lower than that still wins;
//! at 3 the eight models pass in about a minute on 2 cores).
//!
//! Payloads poison themselves on drop through a loom `UnsafeCell`, so a read racing a
//! premature drop is reported as a causality violation.

use crate::deque::{Steal, Worker};
use crate::queue::{MsQueue, Queue};
use crate::rcu::RcuCell;
use crate::stack::TreiberStack;
use ebb_smr::{Smr, SmrHandle, ebr, hp, qsbr};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    eprintln!("loom model: {name}");
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(b.preemption_bound.unwrap_or(2).min(2));
    b.check(f);
}

const ALIVE: u64 = 0x600D;

/// A value whose drop poisons it (a tracked write) and counts.
struct Payload {
    v: UnsafeCell<u64>,
    drops: Arc<AtomicUsize>,
}

// SAFETY: shared between model threads on purpose; loom checks every access to `v`.
unsafe impl Sync for Payload {}

impl Payload {
    fn new(v: u64, drops: &Arc<AtomicUsize>) -> Self {
        Payload {
            v: UnsafeCell::new(v | (ALIVE << 32)),
            drops: drops.clone(),
        }
    }

    fn get(&self) -> u64 {
        // SAFETY: loom checks this read against the poisoning write in `drop`.
        let w = self.v.with(|p| unsafe { *p });
        assert_eq!(w >> 32, ALIVE, "read a dropped value");
        w & 0xffff_ffff
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        // SAFETY: loom checks exclusivity of this write.
        self.v.with_mut(|p| unsafe {
            assert_eq!(*p >> 32, ALIVE, "dropped twice");
            *p = 0;
        });
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

// === stack: a push racing a pop, under hazard pointers ===

#[test]
fn loom_stack_push_pop_hp() {
    model("stack push/pop (hp)", || {
        let domain = hp::Domain::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let s = Arc::new(TreiberStack::<Payload, hp::Domain>::with_domain(&domain));
        s.push_node(Payload::new(1, &drops));
        let t = {
            let (s, domain) = (s.clone(), domain.clone());
            loom::thread::spawn(move || {
                let h = domain.register();
                let v = s.pop_with(&h.pin()).unwrap().map(|p| p.get());
                h.flush();
                v
            })
        };
        s.push_node(Payload::new(2, &drops));
        let h = domain.register();
        let mine = s.pop_with(&h.pin()).unwrap().map(|p| p.get());
        let theirs = t.join().unwrap();
        let mut got: Vec<u64> = [mine, theirs].into_iter().flatten().collect();
        while let Some(p) = s.pop_with(&h.pin()).unwrap() {
            got.push(p.get());
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        drop(h);
        drop(s);
        drop(domain);
        assert_eq!(drops.load(Ordering::Relaxed), 2);
    });
}

// === queues: a push crossing a segment boundary racing a pop ===

fn queue_model<S: Smr>(make: fn() -> S) {
    let domain = make();
    let drops = Arc::new(AtomicUsize::new(0));
    let q = Arc::new(Queue::<Payload, S>::with_domain(&domain));
    let h = domain.register();
    // SEGMENT is 2 under loom: the second push below fills the first segment, the third
    // appends a new one.
    q.push_with(&h.pin(), Payload::new(1, &drops)).unwrap();
    let t = {
        let (q, domain, drops) = (q.clone(), domain.clone(), drops.clone());
        loom::thread::spawn(move || {
            let h = domain.register();
            q.push_with(&h.pin(), Payload::new(2, &drops)).unwrap();
            q.push_with(&h.pin(), Payload::new(3, &drops)).unwrap();
        })
    };
    let first = q.pop_with(&h.pin()).unwrap().map(|p| p.get());
    assert_eq!(
        first,
        Some(1),
        "FIFO: the value pushed first comes out first"
    );
    let second = q.pop_with(&h.pin()).unwrap().map(|p| p.get());
    t.join().unwrap();
    let mut rest = Vec::new();
    while let Some(p) = q.pop_with(&h.pin()).unwrap() {
        rest.push(p.get());
    }
    // The other thread's values come out in its order.
    let got: Vec<u64> = second.into_iter().chain(rest).collect();
    assert_eq!(got, [2, 3]);
    drop(h);
    drop(q);
    drop(domain);
    assert_eq!(drops.load(Ordering::Relaxed), 3);
}

/// A pop racing two pushes into one segment, and the queue dropped with what is left: a
/// popped slot keeps its FULL state, so the drop must skip the slots dequeuers claimed
/// (a second drop of the popped payload poisons it) and drop every other value once.
fn queue_drop_model<S: Smr>(make: fn() -> S) {
    let domain = make();
    let drops = Arc::new(AtomicUsize::new(0));
    let q = Arc::new(Queue::<Payload, S>::with_domain(&domain));
    let t = {
        let (q, domain, drops) = (q.clone(), domain.clone(), drops.clone());
        loom::thread::spawn(move || {
            let h = domain.register();
            q.push_with(&h.pin(), Payload::new(1, &drops)).unwrap();
            q.push_with(&h.pin(), Payload::new(2, &drops)).unwrap();
        })
    };
    let h = domain.register();
    let got = q.pop_with(&h.pin()).unwrap().map(|p| p.get());
    t.join().unwrap();
    // Either the queue was empty, or the first value came out first.
    assert!(got.is_none() || got == Some(1), "popped {got:?}");
    drop(h);
    drop(q);
    drop(domain);
    assert_eq!(drops.load(Ordering::Relaxed), 2);
}

/// Two pushes racing, then a pop that knows the second push returned (a Release/Acquire
/// flag): the pop must not answer empty. With `first` in the queue beforehand (and
/// popped), the two pushes fill the first segment's last slot and start a second one;
/// without it they share one segment. Either way the slot the pop looks at first may
/// still be in its enqueuer's hands while the other value is published after it: the
/// pop must find that slot claimed (the enqueue index is past it), give it up after its
/// patience, and go on to the published value. (A head-slot empty check must keep this
/// true: one without a mark for out-of-order publication, or without looking for a
/// linked next segment, fails these models.)
fn queue_out_of_order_model<S: Smr>(make: fn() -> S, first: bool) {
    let domain = make();
    let drops = Arc::new(AtomicUsize::new(0));
    let q = Arc::new(Queue::<Payload, S>::with_domain(&domain));
    let h = domain.register();
    if first {
        q.push_with(&h.pin(), Payload::new(9, &drops)).unwrap();
        let v = q.pop_with(&h.pin()).unwrap().map(|p| p.get());
        assert_eq!(v, Some(9));
    }
    let done = Arc::new(AtomicBool::new(false));
    let spawn_push = |v: u64, flag: Option<Arc<AtomicBool>>| {
        let (q, domain, drops) = (q.clone(), domain.clone(), drops.clone());
        loom::thread::spawn(move || {
            let h = domain.register();
            q.push_with(&h.pin(), Payload::new(v, &drops)).unwrap();
            if let Some(f) = flag {
                f.store(true, Ordering::Release);
            }
        })
    };
    let t1 = spawn_push(1, None);
    let t2 = spawn_push(2, Some(done.clone()));
    let mut got = Vec::new();
    if done.load(Ordering::Acquire) {
        let v = q.pop_with(&h.pin()).unwrap().map(|p| p.get());
        assert!(v.is_some(), "pop answered empty after a push had returned");
        got.extend(v);
    }
    t1.join().unwrap();
    t2.join().unwrap();
    while let Some(p) = q.pop_with(&h.pin()).unwrap() {
        got.push(p.get());
    }
    got.sort_unstable();
    assert_eq!(got, [1, 2]);
    drop(h);
    drop(q);
    drop(domain);
    assert_eq!(drops.load(Ordering::Relaxed), if first { 3 } else { 2 });
}

#[test]
fn loom_queue_out_of_order_one_segment_ebr() {
    model("queue out-of-order publication, one segment (ebr)", || {
        queue_out_of_order_model(ebr::Domain::new, false)
    });
}

#[test]
fn loom_queue_out_of_order_two_segments_ebr() {
    model("queue out-of-order publication, two segments (ebr)", || {
        queue_out_of_order_model(ebr::Domain::new, true)
    });
}

#[test]
fn loom_queue_drop_with_values_left_ebr() {
    model("queue drop with values left (ebr)", || {
        queue_drop_model(ebr::Domain::new)
    });
}

#[test]
fn loom_queue_segment_boundary_ebr() {
    model("queue segment boundary (ebr)", || {
        queue_model(ebr::Domain::new)
    });
}

#[test]
fn loom_queue_segment_boundary_hp() {
    model("queue segment boundary (hp)", || {
        queue_model(hp::Domain::new)
    });
}

#[test]
fn loom_ms_queue_push_pop_hp() {
    model("ms queue push/pop (hp)", || {
        let domain = hp::Domain::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let q = Arc::new(MsQueue::<Payload, hp::Domain>::with_domain(&domain));
        let h = domain.register();
        q.push_with(&h.pin(), Payload::new(1, &drops)).unwrap();
        let t = {
            let (q, domain, drops) = (q.clone(), domain.clone(), drops.clone());
            loom::thread::spawn(move || {
                let h = domain.register();
                q.push_with(&h.pin(), Payload::new(2, &drops)).unwrap();
                let v = q.pop_with(&h.pin()).unwrap().map(|p| p.get());
                h.flush();
                v
            })
        };
        let mine = q.pop_with(&h.pin()).unwrap().map(|p| p.get());
        let theirs = t.join().unwrap();
        let mut got: Vec<u64> = [mine, theirs].into_iter().flatten().collect();
        while let Some(p) = q.pop_with(&h.pin()).unwrap() {
            got.push(p.get());
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        drop(h);
        drop(q);
        drop(domain);
        assert_eq!(drops.load(Ordering::Relaxed), 2);
    });
}

// === deque: growth while a thief steals; a steal racing the owner's last pop ===

#[test]
fn loom_deque_growth_with_a_thief() {
    model("deque growth with a thief (ebr)", || {
        let domain = ebr::Domain::new();
        let w = Worker::<u64, ebr::Domain>::with_domain(&domain);
        let st = w.stealer();
        let h = domain.register();
        w.push_with(&h.pin(), 1).unwrap();
        w.push_with(&h.pin(), 2).unwrap();
        let t = {
            let domain = domain.clone();
            loom::thread::spawn(move || {
                let h = domain.register();
                st.steal_with(&h.pin()).unwrap()
            })
        };
        // The buffer holds 2 under loom: this push grows it while the thief may read the
        // old one.
        w.push_with(&h.pin(), 3).unwrap();
        let mut got = Vec::new();
        while let Some(v) = w.pop() {
            got.push(v);
        }
        match t.join().unwrap() {
            Steal::Success(v) => {
                assert_eq!(v, 1, "a thief takes the oldest");
                got.push(v);
            }
            // The owner may have popped everything first, or won the race for an element.
            Steal::Empty | Steal::Retry => {}
        }
        // Whoever lost a race took nothing: together they took each element once.
        got.sort_unstable();
        assert_eq!(got, [1, 2, 3]);
    });
}

#[test]
fn loom_deque_growth_with_a_late_pinning_thief() {
    model(
        "deque growth with a thief that pins after reading bottom (ebr)",
        || {
            let domain = ebr::Domain::new();
            let w = Worker::<u64, ebr::Domain>::with_domain(&domain);
            let st = w.stealer();
            let h = domain.register();
            w.push_with(&h.pin(), 1).unwrap();
            w.push_with(&h.pin(), 2).unwrap();
            let t = {
                let domain = domain.clone();
                loom::thread::spawn(move || {
                    let h = domain.register();
                    // The shape of `Stealer::steal`: `top`, the fence and `bottom` unpinned,
                    // then the pin, the buffer and the compare-and-swap.
                    match st.front() {
                        None => Steal::Empty,
                        // SAFETY: `h` was registered with the deque's domain.
                        Some(t) => unsafe { st.take(&h.pin(), t) },
                    }
                })
            };
            // Grows the 2-slot buffer and retires the old one while the thief may be between
            // its load of `bottom` and its pin.
            w.push_with(&h.pin(), 3).unwrap();
            let mut got = Vec::new();
            while let Some(v) = w.pop() {
                got.push(v);
            }
            // Collect what can be collected, so that a buffer freed too early is a use after
            // free that loom reports.
            drop(h);
            if let Steal::Success(v) = t.join().unwrap() {
                assert_eq!(v, 1, "a thief takes the oldest");
                got.push(v);
            }
            got.sort_unstable();
            assert_eq!(got, [1, 2, 3]);
        },
    );
}

#[test]
fn loom_deque_steal_races_last_pop() {
    model("deque steal vs last pop (hp)", || {
        let domain = hp::Domain::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let w = Worker::<Payload, hp::Domain>::with_domain(&domain);
        let st = w.stealer();
        let h = domain.register();
        w.push_with(&h.pin(), Payload::new(7, &drops)).unwrap();
        let t = {
            let domain = domain.clone();
            loom::thread::spawn(move || {
                let h = domain.register();
                st.steal_with(&h.pin()).unwrap().success().map(|p| p.get())
            })
        };
        let mine = w.pop().map(|p| p.get());
        let theirs = t.join().unwrap();
        // A lost race answers Retry (counted as nothing); exactly one side has the value,
        // unless the thief retried, when the owner must have it.
        let got: Vec<u64> = [mine, theirs].into_iter().flatten().collect();
        assert_eq!(
            got,
            [7],
            "exactly one of owner and thief takes the last element"
        );
        drop(w);
        drop(h);
        drop(domain);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    });
}

// === RCU cell: a reader racing a store ===

fn rcu_model<S: Smr>(make: fn() -> S) {
    let domain = make();
    let drops = Arc::new(AtomicUsize::new(0));
    let c = Arc::new(RcuCell::<Payload, S>::with_domain(
        &domain,
        Payload::new(1, &drops),
    ));
    let t = {
        let (c, domain) = (c.clone(), domain.clone());
        loom::thread::spawn(move || {
            let mut h = domain.register();
            let v = c.load(&mut h.pin()).unwrap().get();
            h.quiescent();
            v
        })
    };
    let mut h = domain.register();
    c.store_with(&h.pin(), Payload::new(2, &drops)).unwrap();
    h.quiescent();
    h.flush();
    let v = t.join().unwrap();
    assert!(v == 1 || v == 2);
    drop(h);
    drop(c);
    drop(domain);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        2,
        "each value dropped exactly once"
    );
}

#[test]
fn loom_rcu_cell_read_vs_store_hp() {
    model("rcu cell read vs store (hp)", || rcu_model(hp::Domain::new));
}

#[test]
fn loom_rcu_cell_read_vs_store_qsbr() {
    model("rcu cell read vs store (qsbr)", || {
        rcu_model(qsbr::Domain::new)
    });
}

// === intern table: a lookup racing the publication of a new symbol ===
//
// The index holds 4 slots under loom; the third insert grows it (republish + retire).

fn intern_model<S: Smr>(make: fn() -> S) {
    use crate::intern::Interner;
    let domain = make();
    let t = Arc::new(Interner::<S>::with_domain(&domain));
    let mut h = domain.register();
    let a = t.intern_with(&h.pin(), b"a").unwrap();
    let r = {
        let (t, domain) = (t.clone(), domain.clone());
        loom::thread::spawn(move || {
            let mut h = domain.register();
            let found = t.get_with(&h.pin(), b"a").unwrap();
            let b = t.get_with(&h.pin(), b"b").unwrap();
            if let Some(b) = b {
                assert_eq!(t.resolve(b), Some(&b"b"[..]), "a published symbol resolves");
            }
            h.quiescent();
            found
        })
    };
    let b = t.intern_with(&h.pin(), b"b").unwrap();
    let c = t.intern_with(&h.pin(), b"c").unwrap();
    assert_eq!(t.resolve(c), Some(&b"c"[..]));
    h.quiescent();
    h.flush();
    assert_eq!(
        r.join().unwrap(),
        Some(a),
        "a symbol stays findable across a republish"
    );
    assert_ne!(a, b);
    assert_eq!(t.resolve(b), Some(&b"b"[..]));
}

#[test]
fn loom_intern_publish_hp() {
    model("intern publish (hp)", || intern_model(hp::Domain::new));
}

#[test]
fn loom_intern_publish_qsbr() {
    model("intern publish (qsbr)", || intern_model(qsbr::Domain::new));
}

// === map: a reader racing a rebuild and a replace; two stripes racing for a slot ===
//
// Under loom the map has 2 stripes and tables start at 4 slots. The hasher below maps
// each key to a chosen hash, so the models fix which stripe (bit 0), home slot (bits 0-1)
// and tag (top bits, 0 here) every key has.

#[derive(Default, Clone)]
struct Chosen;

struct ChosenHasher(u64);

impl core::hash::Hasher for ChosenHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("the models hash u64 keys")
    }
    fn write_u64(&mut self, k: u64) {
        // key -> hash: 0..=3 hash to themselves; 4 hashes to 4 (stripe 0, home 0).
        self.0 = k;
    }
}

impl core::hash::BuildHasher for Chosen {
    type Hasher = ChosenHasher;
    fn build_hasher(&self) -> ChosenHasher {
        ChosenHasher(0)
    }
}

/// Keys 0, 1, 2 are in a 4-slot table. The writer inserts key 3 (the fourth used slot
/// of four: the table is rebuilt at 16 slots and the old one's slots marked `MOVED`),
/// then replaces key 1's value (retiring the entry the reader may hold). The reader
/// looks key 1 up and reads its value: 1 or 11, never a dropped one.
fn map_rebuild_model<S: Smr>(make: fn() -> S) {
    use crate::map::Map;
    let domain = make();
    let drops = Arc::new(AtomicUsize::new(0));
    let m = Arc::new(Map::<u64, Payload, S, Chosen>::with_domain_and_hasher(
        &domain, Chosen,
    ));
    let mut h = domain.register();
    for k in 0..3 {
        m.insert_with(&h.pin(), k, Payload::new(k, &drops)).unwrap();
    }
    let r = {
        let (m, domain) = (m.clone(), domain.clone());
        loom::thread::spawn(move || {
            let mut h = domain.register();
            let v = m.get_with(&mut h.pin(), &1).unwrap().map(|p| p.get());
            h.quiescent();
            h.flush();
            v
        })
    };
    m.insert_with(&h.pin(), 3, Payload::new(3, &drops)).unwrap();
    m.insert_with(&h.pin(), 1, Payload::new(11, &drops))
        .unwrap();
    h.quiescent();
    h.flush();
    let v = r.join().unwrap();
    assert!(v == Some(1) || v == Some(11), "reader saw {v:?}");
    assert_eq!(m.len(), 4);
    assert_eq!(
        m.get_with(&mut h.pin(), &1).unwrap().map(|p| p.get()),
        Some(11)
    );
    drop(m);
    h.quiescent();
    h.barrier().unwrap();
    assert_eq!(drops.load(Ordering::Relaxed), 5, "every value dropped once");
}

#[test]
fn loom_map_reader_vs_rebuild_hp() {
    model("map reader vs rebuild (hp)", || {
        map_rebuild_model(hp::Domain::new)
    });
}

#[test]
fn loom_map_reader_vs_rebuild_qsbr() {
    model("map reader vs rebuild (qsbr)", || {
        map_rebuild_model(qsbr::Domain::new)
    });
}

/// Key 0 sits in slot 0. Key 4 (stripe 0, home 0) and key 1 (stripe 1, home 1) are
/// inserted by two writers holding different stripes; both want slot 1, which a
/// compare-and-swap gives to one of them, and the other probes on. Both keys are found
/// afterwards.
#[test]
fn loom_map_stripes_race_for_a_slot_hp() {
    model("map stripes race for a slot (hp)", || {
        use crate::map::Map;
        let domain = hp::Domain::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let m = Arc::new(
            Map::<u64, Payload, hp::Domain, Chosen>::with_domain_and_hasher(&domain, Chosen),
        );
        let mut h = domain.register();
        m.insert_with(&h.pin(), 0, Payload::new(0, &drops)).unwrap();
        let w = {
            let (m, domain, drops) = (m.clone(), domain.clone(), drops.clone());
            loom::thread::spawn(move || {
                let h = domain.register();
                assert_eq!(
                    m.insert_with(&h.pin(), 1, Payload::new(1, &drops)),
                    Ok(true)
                );
                h.flush();
            })
        };
        assert_eq!(
            m.insert_with(&h.pin(), 4, Payload::new(4, &drops)),
            Ok(true)
        );
        w.join().unwrap();
        for k in [0, 1, 4] {
            assert_eq!(
                m.get_with(&mut h.pin(), &k).unwrap().map(|p| p.get()),
                Some(k)
            );
        }
        assert_eq!(m.len(), 3);
        drop(m);
        h.barrier().unwrap();
        assert_eq!(drops.load(Ordering::Relaxed), 3);
    });
}

// === word map: a reader racing a rebuild, a remove and a revive; stripes racing ===
//
// The same chosen hashes as the map's models (tag 0, stripe = bit 0, home = bits 0-1).

/// Keys 0, 1, 2 are in a 4-slot table. The writer inserts key 3 (the table is rebuilt at
/// 16 slots and the old one retired), replaces key 1's value, removes key 1 and inserts
/// it again (into a new slot: the dead one is never written again). The reader looks key
/// 1 up twice: each answer is a
/// value key 1 had during the lookup (1, 11, absent, 21), the second never older than
/// the first, and neither read touches a freed table.
fn word_map_model<S: Smr>(make: fn() -> S) {
    use crate::word_map::WordMap;
    let domain = make();
    let m = Arc::new(WordMap::<u64, u64, S, Chosen>::with_domain_and_hasher(
        &domain, Chosen,
    ));
    let mut h = domain.register();
    for k in 0..3 {
        m.insert_with(&h.pin(), k, k).unwrap();
    }
    let r = {
        let (m, domain) = (m.clone(), domain.clone());
        loom::thread::spawn(move || {
            let mut h = domain.register();
            let a = m.get_with(&h.pin(), 1).unwrap();
            let b = m.get_with(&h.pin(), 1).unwrap();
            h.quiescent();
            h.flush();
            (a, b)
        })
    };
    m.insert_with(&h.pin(), 3, 3).unwrap();
    assert_eq!(m.insert_with(&h.pin(), 1, 11), Ok(Some(1)));
    assert_eq!(m.remove_with(&h.pin(), 1), Ok(Some(11)));
    assert_eq!(m.insert_with(&h.pin(), 1, 21), Ok(None));
    h.quiescent();
    h.flush();
    let (a, b) = r.join().unwrap();
    let order = |v: Option<u64>| match v {
        Some(1) => 0,
        Some(11) => 1,
        None => 2,
        Some(21) => 3,
        other => panic!("reader saw {other:?}"),
    };
    assert!(order(a) <= order(b), "reader saw {a:?} then {b:?}");
    assert_eq!(m.len(), 4);
    assert_eq!(m.get_with(&h.pin(), 1), Ok(Some(21)));
    drop(m);
    h.quiescent();
    h.barrier().unwrap();
}

#[test]
fn loom_word_map_reader_vs_rebuild_and_reinsert_hp() {
    model("word map reader vs rebuild and reinsert (hp)", || {
        word_map_model(hp::Domain::new)
    });
}

#[test]
fn loom_word_map_reader_vs_rebuild_and_reinsert_qsbr() {
    model("word map reader vs rebuild and reinsert (qsbr)", || {
        word_map_model(qsbr::Domain::new)
    });
}

/// Key 0 sits in slot 0. Key 4 (stripe 0, home 0) and key 1 (stripe 1, home 1) are
/// inserted by two writers holding different stripes; both want slot 1, which a
/// compare-and-swap gives to one of them, and the other probes on. Both keys are found
/// afterwards, with their values.
#[test]
fn loom_word_map_stripes_race_for_a_slot_hp() {
    model("word map stripes race for a slot (hp)", || {
        use crate::word_map::WordMap;
        let domain = hp::Domain::new();
        let m = Arc::new(
            WordMap::<u64, u64, hp::Domain, Chosen>::with_domain_and_hasher(&domain, Chosen),
        );
        let mut h = domain.register();
        m.insert_with(&h.pin(), 0, 100).unwrap();
        let w = {
            let (m, domain) = (m.clone(), domain.clone());
            loom::thread::spawn(move || {
                let h = domain.register();
                assert_eq!(m.insert_with(&h.pin(), 1, 101), Ok(None));
                h.flush();
            })
        };
        assert_eq!(m.insert_with(&h.pin(), 4, 104), Ok(None));
        w.join().unwrap();
        for k in [0, 1, 4] {
            assert_eq!(m.get_with(&h.pin(), k), Ok(Some(100 + k)));
        }
        assert_eq!(m.len(), 3);
        drop(m);
        h.barrier().unwrap();
    });
}
