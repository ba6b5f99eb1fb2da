//! The `sync` suite: ebb-sync's collections against their peers, each through the API a
//! user would call (peers at their fastest documented one).
//!
//! * `intern_lookup_hot` / `intern_lookup_uniform` (`ops_per_sec`): 10,000 symbols; every
//!   thread looks up one hot key, or keys drawn uniformly. `ebb` is `Interner` under QSBR
//!   (a quiescent state every 100 lookups, inside the loop), `ebb-cow` the copy-on-write
//!   `CowInterner`, `ebb-hp` `Interner` under hazard pointers; peers: `Mutex<HashMap>`,
//!   `RwLock<HashMap>`, lasso's `ThreadedRodeo` with its default hasher (SipHash) and
//!   with ahash (`lasso-ahash`, the faster hasher lasso documents; ebb's tables hash with
//!   their own multiply-rotate hash), `DashMap<String, u32>`; `key-fetch` draws the key
//!   and loads its bytes with no table: the harness's own cost, the floor.
//! * `intern_insert_1k` / `_100k` / `_1m` (`ops_per_sec`): the threads intern disjoint
//!   fresh strings into an empty table until it holds N symbols. `ebb-cow` copies the
//!   whole table per insert, so it runs the 1k size only (at 100k one insert copies a
//!   100k-entry map: the run would take minutes).
//! * `map_read90_{100,100k}` / `map_read70_{100,100k}` (`ops_per_sec`): a map of 100 or
//!   100k `u64` keys; each operation reads a uniform key, or (10% / 30%) inserts one.
//!   `ebb` is `Map` under QSBR (any key and value, one boxed entry each), `ebb-word`
//!   `WordMap` under QSBR (word-sized keys and values held in the table, as every peer
//!   here holds them); peers `Mutex<HashMap>`, `RwLock<HashMap>`, dashmap,
//!   papaya (a guard renewed every 100 operations, as QSBR's quiescent interval).
//! * `rcu_read` (`ns_per_op`): every thread loads a snapshot of a 64-byte value and sums
//!   it, while one extra thread stores a new value every millisecond. `ebb` is `RcuCell`
//!   under QSBR, `ebb-ebr` / `ebb-hp` the same cell under EBR and hazard pointers; peers
//!   arc-swap's `ArcSwap::load` and `RwLock<Arc<T>>` (read, clone the `Arc`);
//!   `plain-load` reads and sums a value nothing replaces, unprotected: the floor.
//! * `queue_mpmc` (`ops_per_sec`, pushes plus pops): `threads / 2` producers and as many
//!   consumers (one thread alternating at 1); `queue_spsc`: one producer, one consumer,
//!   run at 2 threads only. `ebb` is `Queue`, `ebb-ms` `MsQueue`; peers crossbeam's
//!   `SegQueue` and `Mutex<VecDeque>`.
//! * `deque_steal` (`ops_per_sec`, elements through the deque): the owner pushes 64 and
//!   pops 32 per round, the other threads steal. `ebb` vs crossbeam-deque.
//! * `stack` (`ops_per_sec`): each thread pushes and pops. `ebb` vs `Mutex<Vec>`.
//! * `dag_forkjoin` (`wall_s`): a binary fork-join tree of 2^20 leaves (`join`), on an
//!   executor of `threads` workers. `ebb` vs rayon's `join` on a pool of `threads`.
//! * `dag_wavefront` (`wall_s`): a 1000x1000 grid, each cell after its left and upper
//!   neighbours: `ebb` builds a `Graph`; `ebb-reuse` builds it into the storage of the
//!   previous round's graph (`Executor::run_and_clear`; the first of its rounds maps
//!   the memory); `rayon` runs the same dependency counting in a `rayon::scope`. All
//!   include building the work.
//!
//! Repeat lengths: a repeat of the lookup, map, queue, deque and stack workloads lasts
//! roughly 50-250 ms in a full run at the rates they run at on a 2-vCPU machine (fixed
//! counts, sized from measured rates); `rcu_read`, whose implementations differ by 100x per read, sizes each
//! implementation's count with a pilot run to about 120 ms.

use crate::harness::{Config, Sink, Stat, interleaved, repeat, run_parallel, sized_ops};
use dashmap::DashMap;
use ebb_smr::{Smr, SmrHandle, ebr, hp, qsbr};
use ebb_sync::{CowInterner, Interner, Map, MsQueue, Queue, RcuCell, TreiberStack, WordMap};
use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

const QUIESCE_EVERY: u64 = 100;

/// Runs the suite.
pub fn run(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    if cfg.wants("intern_lookup_hot") || cfg.wants("intern_lookup_uniform") {
        intern_lookup(cfg, sink);
    }
    for (name, n) in [
        ("intern_insert_1k", 1_000u64),
        ("intern_insert_100k", 100_000),
        ("intern_insert_1m", 1_000_000),
    ] {
        if cfg.wants(name) {
            intern_insert(cfg, sink, name, cfg.scale(n, n.min(100_000)));
        }
    }
    for (name, writes, keys) in [
        ("map_read90_100", 10, 100u64),
        ("map_read90_100k", 10, 100_000),
        ("map_read70_100", 30, 100),
        ("map_read70_100k", 30, 100_000),
    ] {
        if cfg.wants(name) {
            map_mix(cfg, sink, name, writes, keys);
        }
    }
    if cfg.wants("rcu_read") {
        rcu_read(cfg, sink);
    }
    if cfg.wants("queue_mpmc") {
        queue(cfg, sink, "queue_mpmc", cfg.threads);
    }
    if cfg.wants("queue_spsc") && cfg.threads == 2 {
        queue(cfg, sink, "queue_spsc", 2);
    }
    if cfg.wants("deque_steal") {
        deque_steal(cfg, sink);
    }
    if cfg.wants("stack") {
        stack(cfg, sink);
    }
    if cfg.wants("dag_forkjoin") {
        dag_forkjoin(cfg, sink);
    }
    if cfg.wants("dag_wavefront") {
        dag_wavefront(cfg, sink);
    }
    Ok(())
}

/// xorshift64*, per thread.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn throughput(
    cfg: &Config,
    ops_per_thread: u64,
    threads: usize,
    body: impl Fn(usize) + Sync,
) -> Stat {
    repeat(cfg.repeats, || {
        let d = run_parallel(threads, &body);
        (threads as u64 * ops_per_thread) as f64 / d.as_secs_f64()
    })
}

// === intern ===

fn words(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}_{i}")).collect()
}

fn intern_lookup(cfg: &Config, sink: &mut Sink) {
    let syms = words(10_000, "symbol");
    // At 10-30 ns a lookup, about 100 ms a repeat.
    let ops = cfg.scale(4_000_000, 100_000);
    let t = cfg.threads;
    let pick =
        |hot: bool, r: &mut dyn FnMut() -> u64| if hot { 5000 } else { (r() % 10_000) as usize };
    let q = qsbr::Domain::new();
    let ebb: Interner<qsbr::Domain> = Interner::with_domain(&q);
    let cow: CowInterner<qsbr::Domain> = CowInterner::with_domain(&q);
    let hpd = hp::Domain::new();
    let ebb_hp: Interner<hp::Domain> = Interner::with_domain(&hpd);
    let mut mutex = HashMap::new();
    let lasso = lasso::ThreadedRodeo::default();
    let lasso_ahash: lasso::ThreadedRodeo<lasso::Spur, ahash::RandomState> =
        lasso::ThreadedRodeo::with_hasher(ahash::RandomState::new());
    let dash = DashMap::new();
    {
        let h = q.register();
        let hh = hpd.register();
        for (i, s) in syms.iter().enumerate() {
            ebb.intern_with(&h.pin(), s.as_bytes()).unwrap();
            cow.intern_with(&h.pin(), s.as_bytes()).unwrap();
            ebb_hp.intern_with(&hh.pin(), s.as_bytes()).unwrap();
            mutex.insert(s.clone(), i as u32);
            lasso.get_or_intern(s.as_str());
            lasso_ahash.get_or_intern(s.as_str());
            dash.insert(s.clone(), i as u32);
        }
    }
    let rw = RwLock::new(mutex.clone());
    let mutex = Mutex::new(mutex);
    for (workload, hot) in [
        ("intern_lookup_hot", true),
        ("intern_lookup_uniform", false),
    ] {
        if !cfg.wants(workload) {
            continue;
        }
        let s = &syms;
        let st = throughput(cfg, ops, t, |id| {
            let mut h = q.register();
            let mut r = rng(id as u64 + 1);
            for i in 0..ops {
                black_box(
                    ebb.get_with(&h.pin(), s[pick(hot, &mut r)].as_bytes())
                        .unwrap(),
                );
                if i % QUIESCE_EVERY == 0 {
                    h.quiescent();
                }
            }
        });
        sink.push(workload, "ebb", "ops_per_sec", "ops/s", st);
        let st = throughput(cfg, ops, t, |id| {
            let mut h = q.register();
            let mut r = rng(id as u64 + 1);
            for i in 0..ops {
                black_box(
                    cow.get_with(&h.pin(), s[pick(hot, &mut r)].as_bytes())
                        .unwrap(),
                );
                if i % QUIESCE_EVERY == 0 {
                    h.quiescent();
                }
            }
        });
        sink.push(workload, "ebb-cow", "ops_per_sec", "ops/s", st);
        let st = throughput(cfg, ops, t, |id| {
            let h = hpd.register();
            let mut r = rng(id as u64 + 1);
            for _ in 0..ops {
                black_box(
                    ebb_hp
                        .get_with(&h.pin(), s[pick(hot, &mut r)].as_bytes())
                        .unwrap(),
                );
            }
        });
        sink.push(workload, "ebb-hp", "ops_per_sec", "ops/s", st);
        let st = throughput(cfg, ops, t, |id| {
            let mut r = rng(id as u64 + 1);
            for _ in 0..ops {
                black_box(
                    mutex
                        .lock()
                        .unwrap()
                        .get(s[pick(hot, &mut r)].as_str())
                        .copied(),
                );
            }
        });
        sink.push(workload, "mutex", "ops_per_sec", "ops/s", st);
        let st = throughput(cfg, ops, t, |id| {
            let mut r = rng(id as u64 + 1);
            for _ in 0..ops {
                black_box(
                    rw.read()
                        .unwrap()
                        .get(s[pick(hot, &mut r)].as_str())
                        .copied(),
                );
            }
        });
        sink.push(workload, "rwlock", "ops_per_sec", "ops/s", st);
        let st = throughput(cfg, ops, t, |id| {
            let mut r = rng(id as u64 + 1);
            for _ in 0..ops {
                black_box(lasso.get(s[pick(hot, &mut r)].as_str()));
            }
        });
        sink.push(workload, "lasso", "ops_per_sec", "ops/s", st);
        let st = throughput(cfg, ops, t, |id| {
            let mut r = rng(id as u64 + 1);
            for _ in 0..ops {
                black_box(lasso_ahash.get(s[pick(hot, &mut r)].as_str()));
            }
        });
        sink.push(workload, "lasso-ahash", "ops_per_sec", "ops/s", st);
        let st = throughput(cfg, ops, t, |id| {
            let mut r = rng(id as u64 + 1);
            for _ in 0..ops {
                black_box(dash.get(s[pick(hot, &mut r)].as_str()).map(|v| *v));
            }
        });
        sink.push(workload, "dashmap", "ops_per_sec", "ops/s", st);
        // The floor: the harness's own work per lookup (draw a key, load its bytes, as
        // every table's comparison does), with no table.
        let st = throughput(cfg, ops, t, |id| {
            let mut r = rng(id as u64 + 1);
            for _ in 0..ops {
                let k = black_box(s[pick(hot, &mut r)].as_bytes());
                black_box(k[0] ^ k[k.len() - 1]);
            }
        });
        sink.push(workload, "key-fetch", "ops_per_sec", "ops/s", st);
    }
}

fn intern_insert(cfg: &Config, sink: &mut Sink, workload: &str, n: u64) {
    let t = cfg.threads;
    let per = n / t as u64;
    let syms = words((per * t as u64) as usize, "fresh");
    let s = &syms;
    let reps = if n >= 1_000_000 {
        cfg.repeats.min(3)
    } else {
        cfg.repeats
    };
    let cfg = &Config {
        repeats: reps,
        ..cfg.clone()
    };
    let key = |id: usize, i: u64| s[(id as u64 * per + i) as usize].as_bytes();
    let mut runs = |imp: &str, f: &dyn Fn() -> Duration| {
        let st = repeat(cfg.repeats, || (per * t as u64) as f64 / f().as_secs_f64());
        sink.push(workload, imp, "ops_per_sec", "ops/s", st);
    };
    runs("ebb", &|| {
        let q = qsbr::Domain::new();
        let tab: Interner<qsbr::Domain> = Interner::with_domain(&q);
        run_parallel(t, |id| {
            let mut h = q.register();
            for i in 0..per {
                black_box(tab.intern_with(&h.pin(), key(id, i)).unwrap());
                if i % QUIESCE_EVERY == 0 {
                    h.quiescent();
                }
            }
        })
    });
    if n <= 1_000 {
        runs("ebb-cow", &|| {
            let q = qsbr::Domain::new();
            let tab: CowInterner<qsbr::Domain> = CowInterner::with_domain(&q);
            run_parallel(t, |id| {
                let mut h = q.register();
                for i in 0..per {
                    black_box(tab.intern_with(&h.pin(), key(id, i)).unwrap());
                    if i % QUIESCE_EVERY == 0 {
                        h.quiescent();
                    }
                }
            })
        });
    }
    runs("ebb-hp", &|| {
        let d = hp::Domain::new();
        let tab: Interner<hp::Domain> = Interner::with_domain(&d);
        run_parallel(t, |id| {
            let h = d.register();
            for i in 0..per {
                black_box(tab.intern_with(&h.pin(), key(id, i)).unwrap());
            }
        })
    });
    runs("mutex", &|| {
        let m: Mutex<HashMap<String, u32>> = Mutex::new(HashMap::new());
        run_parallel(t, |id| {
            for i in 0..per {
                let k = std::str::from_utf8(key(id, i)).unwrap();
                let mut g = m.lock().unwrap();
                let n = g.len() as u32;
                black_box(*g.entry(k.to_owned()).or_insert(n));
            }
        })
    });
    runs("rwlock", &|| {
        let m: RwLock<HashMap<String, u32>> = RwLock::new(HashMap::new());
        run_parallel(t, |id| {
            for i in 0..per {
                let k = std::str::from_utf8(key(id, i)).unwrap();
                if let Some(v) = m.read().unwrap().get(k) {
                    black_box(*v);
                    continue;
                }
                let mut g = m.write().unwrap();
                let n = g.len() as u32;
                black_box(*g.entry(k.to_owned()).or_insert(n));
            }
        })
    });
    runs("lasso", &|| {
        let r = lasso::ThreadedRodeo::default();
        run_parallel(t, |id| {
            for i in 0..per {
                black_box(r.get_or_intern(std::str::from_utf8(key(id, i)).unwrap()));
            }
        })
    });
    runs("lasso-ahash", &|| {
        let r: lasso::ThreadedRodeo<lasso::Spur, ahash::RandomState> =
            lasso::ThreadedRodeo::with_hasher(ahash::RandomState::new());
        run_parallel(t, |id| {
            for i in 0..per {
                black_box(r.get_or_intern(std::str::from_utf8(key(id, i)).unwrap()));
            }
        })
    });
    runs("dashmap", &|| {
        let m: DashMap<String, u32> = DashMap::new();
        let next = AtomicUsize::new(0);
        run_parallel(t, |id| {
            for i in 0..per {
                let k = std::str::from_utf8(key(id, i)).unwrap();
                if let Some(v) = m.get(k) {
                    black_box(*v);
                    continue;
                }
                black_box(
                    *m.entry(k.to_owned())
                        .or_insert_with(|| next.fetch_add(1, Ordering::Relaxed) as u32),
                );
            }
        })
    });
}

// === map ===

fn map_mix(cfg: &Config, sink: &mut Sink, workload: &str, write_pct: u64, keys: u64) {
    // At 15-60 ns an operation, 40-150 ms a repeat.
    let ops = cfg.scale(2_500_000, 50_000);
    let t = cfg.threads;
    let q = qsbr::Domain::new();
    let ebb: Map<u64, u64, qsbr::Domain> = Map::with_domain(&q);
    {
        let h = q.register();
        for k in 0..keys {
            ebb.insert_with(&h.pin(), k, k).unwrap();
        }
    }
    let base: HashMap<u64, u64> = (0..keys).map(|k| (k, k)).collect();
    let mutex = Mutex::new(base.clone());
    let rw = RwLock::new(base);
    let dash: DashMap<u64, u64> = (0..keys).map(|k| (k, k)).collect();
    let pap: papaya::HashMap<u64, u64> = papaya::HashMap::new();
    {
        let p = pap.pin();
        for k in 0..keys {
            p.insert(k, k);
        }
    }
    let st = throughput(cfg, ops, t, |id| {
        let mut h = q.register();
        let mut r = rng(id as u64 + 7);
        for i in 0..ops {
            let x = r();
            let k = x % keys;
            if (x >> 40) % 100 < write_pct {
                ebb.insert_with(&h.pin(), k, i).unwrap();
            } else {
                black_box(ebb.get_with(&mut h.pin(), &k).unwrap().copied());
            }
            if i % QUIESCE_EVERY == 0 {
                h.quiescent();
            }
        }
    });
    sink.push(workload, "ebb", "ops_per_sec", "ops/s", st);
    drop(ebb);
    let word: WordMap<u64, u64, qsbr::Domain> = WordMap::with_domain(&q);
    {
        let h = q.register();
        for k in 0..keys {
            word.insert_with(&h.pin(), k, k).unwrap();
        }
    }
    let st = throughput(cfg, ops, t, |id| {
        let mut h = q.register();
        let mut r = rng(id as u64 + 7);
        for i in 0..ops {
            let x = r();
            let k = x % keys;
            if (x >> 40) % 100 < write_pct {
                word.insert_with(&h.pin(), k, i).unwrap();
            } else {
                black_box(word.get_with(&h.pin(), k).unwrap());
            }
            if i % QUIESCE_EVERY == 0 {
                h.quiescent();
            }
        }
    });
    sink.push(workload, "ebb-word", "ops_per_sec", "ops/s", st);
    drop(word);
    let st = throughput(cfg, ops, t, |id| {
        let mut r = rng(id as u64 + 7);
        for i in 0..ops {
            let x = r();
            let k = x % keys;
            if (x >> 40) % 100 < write_pct {
                mutex.lock().unwrap().insert(k, i);
            } else {
                black_box(mutex.lock().unwrap().get(&k).copied());
            }
        }
    });
    sink.push(workload, "mutex", "ops_per_sec", "ops/s", st);
    let st = throughput(cfg, ops, t, |id| {
        let mut r = rng(id as u64 + 7);
        for i in 0..ops {
            let x = r();
            let k = x % keys;
            if (x >> 40) % 100 < write_pct {
                rw.write().unwrap().insert(k, i);
            } else {
                black_box(rw.read().unwrap().get(&k).copied());
            }
        }
    });
    sink.push(workload, "rwlock", "ops_per_sec", "ops/s", st);
    let st = throughput(cfg, ops, t, |id| {
        let mut r = rng(id as u64 + 7);
        for i in 0..ops {
            let x = r();
            let k = x % keys;
            if (x >> 40) % 100 < write_pct {
                dash.insert(k, i);
            } else {
                black_box(dash.get(&k).map(|v| *v));
            }
        }
    });
    sink.push(workload, "dashmap", "ops_per_sec", "ops/s", st);
    let st = throughput(cfg, ops, t, |id| {
        let mut r = rng(id as u64 + 7);
        let mut i = 0;
        while i < ops {
            let g = pap.guard();
            for _ in 0..QUIESCE_EVERY.min(ops - i) {
                let x = r();
                let k = x % keys;
                if (x >> 40) % 100 < write_pct {
                    pap.insert(k, i, &g);
                } else {
                    black_box(pap.get(&k, &g).copied());
                }
                i += 1;
            }
        }
    });
    sink.push(workload, "papaya", "ops_per_sec", "ops/s", st);
}

// === rcu ===

#[derive(Clone)]
struct Val([u64; 8]);

#[inline]
fn sum(v: &Val) -> u64 {
    v.0.iter().sum()
}

/// Runs `read(id, n)` (`n` reads per thread) with one writer calling `write` every
/// millisecond; returns ns per read. `n` is sized per implementation by a pilot so that
/// one repeat lasts about 120 ms in a full run (from `ops` up): a fixed count would time
/// the cheapest readers over a few milliseconds and the dearest over seconds.
fn with_writer(
    cfg: &Config,
    ops: u64,
    read: impl Fn(usize, u64) + Sync,
    write: impl Fn(u64) + Sync,
) -> Stat {
    let target = if cfg.quick { 0.01 } else { 0.12 };
    let ops = sized_ops(target, ops, |n| {
        run_parallel(cfg.threads, |id| read(id, n)).as_secs_f64()
    });
    let read = |id| read(id, ops);
    repeat(cfg.repeats, || {
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    write(i);
                    i += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
            let d = run_parallel(cfg.threads, read);
            stop.store(true, Ordering::Relaxed);
            d.as_nanos() as f64 / ops as f64
        })
    })
}

fn rcu_cell<S: Smr>(cfg: &Config, ops: u64, domain: S) -> Stat {
    let c: RcuCell<Val, S> = RcuCell::with_domain(&domain, Val([1; 8]));
    with_writer(
        cfg,
        ops,
        |_, ops| {
            let mut h = domain.register();
            for i in 0..ops {
                black_box(sum(c.load(&mut h.pin()).unwrap()));
                if S::NEEDS_QUIESCENT && i % QUIESCE_EVERY == 0 {
                    h.quiescent();
                }
            }
        },
        |i| {
            // A handle per store: the writer thread sleeps between stores, and a QSBR
            // handle that slept online would hold every grace period.
            let mut h = domain.register();
            c.store_with(&h.pin(), Val([i; 8])).unwrap();
            h.quiescent();
        },
    )
}

fn rcu_read(cfg: &Config, sink: &mut Sink) {
    // The pilot's first count; `with_writer` sizes each implementation's from it.
    let ops = cfg.scale(1_000_000, 200_000);
    sink.push(
        "rcu_read",
        "ebb",
        "ns_per_op",
        "ns",
        rcu_cell(cfg, ops, qsbr::Domain::new()),
    );
    sink.push(
        "rcu_read",
        "ebb-ebr",
        "ns_per_op",
        "ns",
        rcu_cell(cfg, ops, ebr::Domain::new()),
    );
    sink.push(
        "rcu_read",
        "ebb-hp",
        "ns_per_op",
        "ns",
        rcu_cell(cfg, ops, hp::Domain::new()),
    );
    let a = arc_swap::ArcSwap::from_pointee(Val([1; 8]));
    let st = with_writer(
        cfg,
        ops,
        |_, ops| {
            for _ in 0..ops {
                black_box(sum(&a.load()));
            }
        },
        |i| a.store(Arc::new(Val([i; 8]))),
    );
    sink.push("rcu_read", "arc-swap", "ns_per_op", "ns", st);
    let l = RwLock::new(Arc::new(Val([1; 8])));
    let st = with_writer(
        cfg,
        ops,
        |_, ops| {
            for _ in 0..ops {
                let v = l.read().unwrap().clone();
                black_box(sum(&v));
            }
        },
        |i| *l.write().unwrap() = Arc::new(Val([i; 8])),
    );
    sink.push("rcu_read", "rwlock", "ns_per_op", "ns", st);
    // The floor: the same read and sum of a value no writer replaces (the writer thread
    // still wakes every millisecond), with nothing protecting it.
    let v = Val([1; 8]);
    let st = with_writer(
        cfg,
        ops,
        |_, ops| {
            for _ in 0..ops {
                black_box(sum(black_box(&v)));
            }
        },
        |i| {
            black_box(i);
        },
    );
    sink.push("rcu_read", "plain-load", "ns_per_op", "ns", st);
}

// === queues ===

trait Q: Sync {
    fn push(&self, v: u64);
    fn pop(&self) -> Option<u64>;
}

impl Q for Queue<u64> {
    fn push(&self, v: u64) {
        Queue::push(self, v)
    }
    fn pop(&self) -> Option<u64> {
        Queue::pop(self)
    }
}

impl Q for MsQueue<u64> {
    fn push(&self, v: u64) {
        MsQueue::push(self, v)
    }
    fn pop(&self) -> Option<u64> {
        MsQueue::pop(self)
    }
}

impl Q for crossbeam_queue::SegQueue<u64> {
    fn push(&self, v: u64) {
        crossbeam_queue::SegQueue::push(self, v)
    }
    fn pop(&self) -> Option<u64> {
        crossbeam_queue::SegQueue::pop(self)
    }
}

impl Q for Mutex<VecDeque<u64>> {
    fn push(&self, v: u64) {
        self.lock().unwrap().push_back(v)
    }
    fn pop(&self) -> Option<u64> {
        self.lock().unwrap().pop_front()
    }
}

/// One repeat of a queue workload on `q`: pushes plus pops per second.
fn queue_once(cfg: &Config, threads: usize, q: &dyn Q) -> f64 {
    // 50-150 ms a repeat at the measured rates.
    let per = cfg.scale(4_000_000, 100_000);
    if threads == 1 {
        let d = run_parallel(1, |_| {
            for i in 0..per {
                q.push(i);
                black_box(q.pop());
            }
        });
        return (2 * per) as f64 / d.as_secs_f64();
    }
    let pairs = threads / 2;
    let popped = AtomicUsize::new(0);
    let total = (pairs as u64 * per) as usize;
    let d = run_parallel(2 * pairs, |id| {
        if id < pairs {
            for i in 0..per {
                q.push(i);
            }
        } else {
            while popped.load(Ordering::Relaxed) < total {
                if q.pop().is_some() {
                    popped.fetch_add(1, Ordering::Relaxed);
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    });
    (2 * total) as f64 / d.as_secs_f64()
}

/// The queues take turns, one repeat each per round (methodology.md, rule 8), so a slow
/// phase of the machine lands on all of them alike.
fn queue(cfg: &Config, sink: &mut Sink, workload: &str, threads: usize) {
    let impls: [(&str, Box<dyn Q>); 4] = [
        ("ebb", Box::new(Queue::<u64>::new())),
        ("ebb-ms", Box::new(MsQueue::<u64>::new())),
        (
            "crossbeam",
            Box::new(crossbeam_queue::SegQueue::<u64>::new()),
        ),
        ("mutex", Box::new(Mutex::new(VecDeque::<u64>::new()))),
    ];
    let impls: Vec<_> = impls.iter().filter(|(name, _)| cfg.runs(name)).collect();
    let names: Vec<&str> = impls.iter().map(|(name, _)| *name).collect();
    let rows = interleaved(&names, cfg.repeats, |i, _| {
        queue_once(cfg, threads, &*impls[i].1)
    });
    for (name, st) in rows {
        sink.push(workload, name, "ops_per_sec", "ops/s", st);
    }
}

// === deque ===

fn deque_steal(cfg: &Config, sink: &mut Sink) {
    // 7.7M elements: 75-250 ms a repeat at the measured rates.
    let rounds = cfg.scale(120_000, 2_000);
    let t = cfg.threads;
    let items = rounds * 64;
    let st = repeat(cfg.repeats, || {
        let w = ebb_sync::Worker::<u64>::new();
        let st = w.stealer();
        let done = AtomicBool::new(false);
        let w = Mutex::new(Some(w));
        let d = run_parallel(t, |id| {
            if id == 0 {
                let w = w.lock().unwrap().take().unwrap();
                for r in 0..rounds {
                    for i in 0..64 {
                        w.push(r * 64 + i);
                    }
                    for _ in 0..32 {
                        black_box(w.pop());
                    }
                }
                while let Some(v) = w.pop() {
                    black_box(v);
                }
                done.store(true, Ordering::Release);
            } else {
                while !done.load(Ordering::Acquire) {
                    let _ = black_box(st.steal());
                }
            }
        });
        items as f64 / d.as_secs_f64()
    });
    sink.push("deque_steal", "ebb", "ops_per_sec", "ops/s", st);
    let st = repeat(cfg.repeats, || {
        let w = crossbeam_deque::Worker::<u64>::new_lifo();
        let st = w.stealer();
        let done = AtomicBool::new(false);
        let w = Mutex::new(Some(w));
        let d = run_parallel(t, |id| {
            if id == 0 {
                let w = w.lock().unwrap().take().unwrap();
                for r in 0..rounds {
                    for i in 0..64 {
                        w.push(r * 64 + i);
                    }
                    for _ in 0..32 {
                        black_box(w.pop());
                    }
                }
                while let Some(v) = w.pop() {
                    black_box(v);
                }
                done.store(true, Ordering::Release);
            } else {
                while !done.load(Ordering::Acquire) {
                    let _ = black_box(st.steal());
                }
            }
        });
        items as f64 / d.as_secs_f64()
    });
    sink.push("deque_steal", "crossbeam-deque", "ops_per_sec", "ops/s", st);
}

// === stack ===

fn stack(cfg: &Config, sink: &mut Sink) {
    let per = cfg.scale(2_400_000, 50_000);
    let t = cfg.threads;
    let s = TreiberStack::<u64>::new();
    let st = throughput(cfg, 2 * per, t, |_| {
        for i in 0..per {
            s.push(i);
            black_box(s.pop());
        }
    });
    sink.push("stack", "ebb", "ops_per_sec", "ops/s", st);
    let m = Mutex::new(Vec::<u64>::new());
    let st = throughput(cfg, 2 * per, t, |_| {
        for i in 0..per {
            m.lock().unwrap().push(i);
            black_box(m.lock().unwrap().pop());
        }
    });
    sink.push("stack", "mutex", "ops_per_sec", "ops/s", st);
}

// === dags ===

fn tree_ebb(d: u32) -> u64 {
    if d == 0 {
        return black_box(1);
    }
    let (a, b) = ebb_sync::join(|| tree_ebb(d - 1), || tree_ebb(d - 1));
    a + b
}

fn tree_rayon(d: u32) -> u64 {
    if d == 0 {
        return black_box(1);
    }
    let (a, b) = rayon::join(|| tree_rayon(d - 1), || tree_rayon(d - 1));
    a + b
}

fn dag_forkjoin(cfg: &Config, sink: &mut Sink) {
    let depth = if cfg.quick { 16 } else { 20 };
    let ex = ebb_sync::Executor::new(cfg.threads);
    let st = repeat(cfg.repeats, || {
        let t0 = Instant::now();
        assert_eq!(ex.install(|| tree_ebb(depth)), 1 << depth);
        t0.elapsed().as_secs_f64()
    });
    sink.push("dag_forkjoin", "ebb", "wall_s", "s", st);
    drop(ex);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .expect("rayon pool");
    let st = repeat(cfg.repeats, || {
        let t0 = Instant::now();
        assert_eq!(pool.install(|| tree_rayon(depth)), 1 << depth);
        t0.elapsed().as_secs_f64()
    });
    sink.push("dag_forkjoin", "rayon", "wall_s", "s", st);
}

fn cell_work(i: usize, j: usize) -> u64 {
    black_box((i as u64).wrapping_mul(31) ^ j as u64)
}

/// Adds the `n` x `n` wavefront to `g` (each cell after its upper and left neighbours),
/// with `ids` as scratch for the cells' task ids.
fn wavefront_graph(g: &mut ebb_sync::Graph<'static>, ids: &mut Vec<ebb_sync::TaskId>, n: usize) {
    ids.clear();
    for i in 0..n {
        for j in 0..n {
            let up = (i > 0).then(|| ids[(i - 1) * n + j]);
            let left = (j > 0).then(|| ids[i * n + j - 1]);
            let f = move || {
                cell_work(i, j);
            };
            // The predecessors as a slice on the stack (no vector per cell).
            let id = match (up, left) {
                (Some(a), Some(b)) => g.add(&[a, b], f),
                (Some(a), None) | (None, Some(a)) => g.add(&[a], f),
                (None, None) => g.add(&[], f),
            };
            ids.push(id.expect("predecessors exist"));
        }
    }
}

fn dag_wavefront(cfg: &Config, sink: &mut Sink) {
    let n = if cfg.quick { 200 } else { 1000 };
    let reps = cfg.repeats.min(3);
    let ex = ebb_sync::Executor::new(cfg.threads);
    let st = repeat(reps, || {
        let t0 = Instant::now();
        let mut g = ebb_sync::Graph::new();
        let mut ids = Vec::with_capacity(n * n);
        wavefront_graph(&mut g, &mut ids, n);
        ex.run(g);
        t0.elapsed().as_secs_f64()
    });
    sink.push("dag_wavefront", "ebb", "wall_s", "s", st);
    // The same graph built each round into the storage of the previous one
    // (`run_and_clear`), as a program that runs graphs of a similar shape repeatedly can:
    // the first round maps the memory, the rest build into it.
    let mut g = ebb_sync::Graph::new();
    let mut ids = Vec::with_capacity(n * n);
    let st = repeat(reps, || {
        let t0 = Instant::now();
        wavefront_graph(&mut g, &mut ids, n);
        ex.run_and_clear(&mut g);
        t0.elapsed().as_secs_f64()
    });
    sink.push("dag_wavefront", "ebb-reuse", "wall_s", "s", st);
    drop(g);
    drop(ex);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .expect("rayon pool");
    let st = repeat(reps, || {
        let t0 = Instant::now();
        let counts: Vec<AtomicU8> = (0..n * n)
            .map(|c| AtomicU8::new(((c / n > 0) as u8) + ((c % n > 0) as u8)))
            .collect();
        fn spawn_cell<'s>(
            s: &rayon::Scope<'s>,
            counts: &'s [AtomicU8],
            n: usize,
            i: usize,
            j: usize,
        ) {
            s.spawn(move |s| {
                cell_work(i, j);
                if i + 1 < n && counts[(i + 1) * n + j].fetch_sub(1, Ordering::AcqRel) == 1 {
                    spawn_cell(s, counts, n, i + 1, j);
                }
                if j + 1 < n && counts[i * n + j + 1].fetch_sub(1, Ordering::AcqRel) == 1 {
                    spawn_cell(s, counts, n, i, j + 1);
                }
            });
        }
        pool.install(|| rayon::scope(|s| spawn_cell(s, &counts, n, 0, 0)));
        t0.elapsed().as_secs_f64()
    });
    sink.push("dag_wavefront", "rayon", "wall_s", "s", st);
}
