//! The `smr` suite: ebb's three reclamation schemes against their peers.
//!
//! Workloads (`docs/benchmarks/notes/smr.md` says what each shows). Throughputs are
//! sampled round-robin over the implementations, so that a disturbance of the shared
//! machine lands on all of them alike, and each repeat lasts at least 100 ms in a full run:
//!
//! * `protected_read_k{1,10,100,1000}` (`ns_per_op`): each of `threads` threads reads a
//!   shared pointer and through it, `k` reads per read section: QSBR reports a quiescent
//!   state after every `k` reads, crossbeam-epoch and ebb's EBR pin once per `k`, seize
//!   enters once per `k`, arc-swap holds one guard and the RwLock one read lock per `k`;
//!   hazard pointers (ebb-hp, haphazard) protect every load, whatever `k`. `plain-load` is
//!   an unprotected `Acquire` load, the floor. No writer.
//! * `read_under_writes` (`ops_per_sec`, `writer_ops_per_sec`): `threads` readers, one
//!   read per section, while one more thread replaces the object and retires the old one
//!   for a fixed time: the readers' reads per second, and the writer's replaces.
//! * `retire_reclaim` (`ops_per_sec`, `reader_ops_per_sec`): `threads` writers each swap
//!   a new object in and retire the old one, a fixed number of times, while one more
//!   thread reads (so `threads` = writers, plus 1 reader): the writers' replaces per
//!   second and the reader's reads. Run in three fresh processes; a cell's range spans
//!   them all.
//! * `reclaim_latency` (`p50_ns`, `p99_ns`): the same, with the retire time stamped into
//!   each object and the drop recording now minus then.
//! * `stalled_reader_garbage` (`peak_pending_bytes`, `retired_bytes`): one reader enters
//!   a read section holding the current object and stalls while `threads` writers retire
//!   a bounded number of objects. ebb rows read their domain's counters; peers are
//!   observed through the objects' own drop (retired minus dropped, times the object
//!   size). `retired_bytes` is everything retired during the stall: what an epoch scheme
//!   holds, which grows with the run.
//!
//! The ebb rows are written once, generically over [`ebb_smr::Smr`]: the suite is also a
//! check that the common interface costs nothing.

use crate::harness::{self, Config, Sink, Stat, interleaved, percentiles, repeat, run_parallel};
use ebb_smr::{AtomicPtr, Smr, SmrGuard, SmrHandle, drop_box};
use std::hint::black_box;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, OnceLock, RwLock};
use std::time::Instant;

/// Runs the suite.
pub fn run(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    protected_read(cfg, sink);
    read_under_writes(cfg, sink);
    retire_reclaim(cfg, sink)?;
    reclaim_latency(cfg, sink);
    if cfg.wants("stalled_reader_garbage") {
        harness::announce(cfg, "stalled_reader_garbage");
        stalled_reader_garbage(cfg, sink);
    }
    Ok(())
}

// === impl Obj ===

/// What the drop of an [`Obj`] records.
static TRACK: AtomicU8 = AtomicU8::new(TRACK_NONE);
const TRACK_NONE: u8 = 0;
const TRACK_COUNT: u8 = 1;
const TRACK_LATENCY: u8 = 2;
/// Objects dropped while `TRACK_COUNT`.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Retire-to-drop latencies in ns while `TRACK_LATENCY`.
static LATENCIES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// Nanoseconds since the first call (a process-wide monotonic clock).
fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The shared object every implementation publishes and reclaims.
struct Obj {
    value: u64,
    /// `now_ns()` when retired (latency workload only).
    retired_at: AtomicU64,
}

impl Obj {
    fn new(value: u64) -> Obj {
        Obj {
            value,
            retired_at: AtomicU64::new(0),
        }
    }

    fn boxed(value: u64) -> *mut Obj {
        Box::into_raw(Box::new(Obj::new(value)))
    }

    /// Stamps the retire time when measuring latency.
    #[inline]
    fn stamp(&self) {
        if TRACK.load(Ordering::Relaxed) == TRACK_LATENCY {
            self.retired_at.store(now_ns(), Ordering::Relaxed);
        }
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        match TRACK.load(Ordering::Relaxed) {
            TRACK_COUNT => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
            TRACK_LATENCY => {
                let t = self.retired_at.load(Ordering::Relaxed);
                if t != 0 {
                    let lat = now_ns().saturating_sub(t);
                    LATENCIES.lock().unwrap().push(lat);
                }
            }
            _ => {}
        }
    }
}

const OBJ_BYTES: u64 = std::mem::size_of::<Obj>() as u64;

/// Every implementation, as the rows name them.
const IMPLS: &[&str] = &[
    "ebb-qsbr",
    "ebb-ebr",
    "ebb-hp",
    "crossbeam-epoch",
    "haphazard",
    "seize",
    "arc-swap",
    "rwlock",
];

// === impl Scheme ===

/// One implementation, as the read and replace workloads use it: the shared pointer, a
/// per-thread state, `k` reads in one read section, and one replace (swap in a fresh
/// object, retire the old one). Dropping the scheme frees what it still holds.
trait Scheme: Sync {
    /// A thread's state (its registration with the domain, where there is one).
    type Local;
    fn local(&self) -> Self::Local;
    /// `k` protected reads (one load and one read through the pointer each) in one read
    /// section, then what the scheme's contract asks of a reader between sections (QSBR:
    /// a quiescent state).
    fn read_k(&self, l: &mut Self::Local, k: u64);
    /// Swaps a fresh object in and retires the old one, stamped for the latency workload.
    fn replace(&self, l: &mut Self::Local, i: u64);
    /// What a writer does once its replaces are done (reclaim what it can).
    fn finish(&self, _l: &mut Self::Local) {}
}

/// ebb's three schemes, written once over [`Smr`].
struct EbbScheme<S: Smr> {
    domain: S,
    ptr: AtomicPtr<Obj>,
    qsbr: bool,
}

impl<S: Smr> EbbScheme<S> {
    fn new(domain: S, qsbr: bool) -> Self {
        EbbScheme {
            domain,
            ptr: AtomicPtr::new(Obj::boxed(0)),
            qsbr,
        }
    }
}

impl<S: Smr> Scheme for EbbScheme<S> {
    type Local = S::Handle;
    fn local(&self) -> S::Handle {
        self.domain.register()
    }
    #[inline(always)]
    fn read_k(&self, h: &mut S::Handle, k: u64) {
        {
            let mut g = h.pin();
            for _ in 0..k {
                let p = g.protect(0, &self.ptr);
                // SAFETY: protected by `g`; objects are retired only after being unlinked.
                black_box(unsafe { (*p).value });
            }
        }
        if self.qsbr {
            h.quiescent();
        }
    }
    #[inline(always)]
    fn replace(&self, h: &mut S::Handle, i: u64) {
        let old = self.ptr.swap(Obj::boxed(i), Ordering::AcqRel);
        {
            let g = h.pin();
            // SAFETY: `old` is unlinked by the swap and retired once.
            unsafe {
                (*old).stamp();
                g.retire(old, drop_box::<Obj>);
            }
        }
        if self.qsbr {
            h.quiescent();
        }
    }
    fn finish(&self, h: &mut S::Handle) {
        h.flush();
    }
}

impl<S: Smr> Drop for EbbScheme<S> {
    fn drop(&mut self) {
        // SAFETY: every thread finished; the current object was never retired.
        drop(unsafe { Box::from_raw(self.ptr.load(Ordering::Relaxed)) });
    }
}

/// Unprotected loads: the floor every scheme's read is measured against.
struct PlainLoad(std::sync::atomic::AtomicPtr<Obj>);

impl Scheme for PlainLoad {
    type Local = ();
    fn local(&self) {}
    #[inline(always)]
    fn read_k(&self, _: &mut (), k: u64) {
        for _ in 0..k {
            let p = self.0.load(Ordering::Acquire);
            // SAFETY: the object is never replaced; it is freed after the run.
            black_box(unsafe { (*p).value });
        }
    }
    fn replace(&self, _: &mut (), _: u64) {
        unreachable!("plain-load has no writer")
    }
}

impl Drop for PlainLoad {
    fn drop(&mut self) {
        // SAFETY: every reader finished; the object was never shared with a writer.
        drop(unsafe { Box::from_raw(self.0.load(Ordering::Relaxed)) });
    }
}

struct Crossbeam {
    collector: crossbeam_epoch::Collector,
    a: crossbeam_epoch::Atomic<Obj>,
}

impl Scheme for Crossbeam {
    type Local = crossbeam_epoch::LocalHandle;
    fn local(&self) -> Self::Local {
        self.collector.register()
    }
    #[inline(always)]
    fn read_k(&self, h: &mut Self::Local, k: u64) {
        let g = h.pin();
        for _ in 0..k {
            let s = self.a.load(Ordering::Acquire, &g);
            // SAFETY: loaded under the pin.
            black_box(unsafe { s.deref() }.value);
        }
    }
    #[inline(always)]
    fn replace(&self, h: &mut Self::Local, i: u64) {
        let g = h.pin();
        let old = self.a.swap(
            crossbeam_epoch::Owned::new(Obj::new(i)),
            Ordering::AcqRel,
            &g,
        );
        // SAFETY: unlinked by the swap, destroyed once.
        unsafe {
            old.deref().stamp();
            g.defer_destroy(old);
        }
    }
    fn finish(&self, h: &mut Self::Local) {
        h.pin().flush();
    }
}

impl Drop for Crossbeam {
    fn drop(&mut self) {
        let a = std::mem::replace(&mut self.a, crossbeam_epoch::Atomic::null());
        // SAFETY: every thread finished; the current object was never retired.
        drop(unsafe { a.into_owned() });
    }
}

struct Haphazard(haphazard::AtomicPtr<Obj>);

impl Scheme for Haphazard {
    type Local = haphazard::HazardPointer<'static>;
    fn local(&self) -> Self::Local {
        haphazard::HazardPointer::new()
    }
    #[inline(always)]
    fn read_k(&self, hp: &mut Self::Local, k: u64) {
        // A hazard pointer protects one object per load: there is nothing to amortise.
        for _ in 0..k {
            black_box(self.0.safe_load(hp).expect("non-null").value);
        }
        hp.reset_protection();
    }
    #[inline(always)]
    fn replace(&self, _: &mut Self::Local, i: u64) {
        let old = self.0.swap(Box::new(Obj::new(i))).expect("non-null");
        // SAFETY: unlinked by the swap, retired once.
        unsafe {
            old.as_ref().as_ref().stamp();
            old.retire();
        }
    }
}

impl Drop for Haphazard {
    fn drop(&mut self) {
        haphazard::Domain::global().eager_reclaim();
    }
}

struct Seize {
    collector: seize::Collector,
    ptr: std::sync::atomic::AtomicPtr<Obj>,
}

impl Scheme for Seize {
    type Local = ();
    fn local(&self) {}
    #[inline(always)]
    fn read_k(&self, _: &mut (), k: u64) {
        use seize::Guard as _;
        let g = self.collector.enter();
        for _ in 0..k {
            let p = g.protect(&self.ptr, Ordering::Acquire);
            // SAFETY: protected by `g`.
            black_box(unsafe { (*p).value });
        }
    }
    #[inline(always)]
    fn replace(&self, _: &mut (), i: u64) {
        use seize::Guard as _;
        let g = self.collector.enter();
        let old = g.swap(&self.ptr, Obj::boxed(i), Ordering::AcqRel);
        // SAFETY: unlinked by the swap, retired once, allocated by `Box`.
        unsafe {
            (*old).stamp();
            g.defer_retire(old, seize::reclaim::boxed);
        }
    }
}

impl Drop for Seize {
    fn drop(&mut self) {
        let p = self.ptr.load(Ordering::Relaxed);
        // SAFETY: every thread finished; the current object was never retired.
        drop(unsafe { Box::from_raw(p) });
    }
}

struct ArcSwap(arc_swap::ArcSwap<Obj>);

impl Scheme for ArcSwap {
    type Local = ();
    fn local(&self) {}
    #[inline(always)]
    fn read_k(&self, _: &mut (), k: u64) {
        let g = self.0.load();
        for _ in 0..k {
            black_box(black_box(&g).value);
        }
    }
    #[inline(always)]
    fn replace(&self, _: &mut (), i: u64) {
        let old = self.0.swap(std::sync::Arc::new(Obj::new(i)));
        old.stamp();
        drop(old);
    }
}

struct Rw(RwLock<Box<Obj>>);

impl Scheme for Rw {
    type Local = ();
    fn local(&self) {}
    #[inline(always)]
    fn read_k(&self, _: &mut (), k: u64) {
        let g = self.0.read().unwrap();
        for _ in 0..k {
            black_box(black_box(&g).value);
        }
    }
    #[inline(always)]
    fn replace(&self, _: &mut (), i: u64) {
        let old = std::mem::replace(&mut *self.0.write().unwrap(), Box::new(Obj::new(i)));
        old.stamp();
        drop(old);
    }
}

/// Calls `f` with a fresh instance of implementation `imp` (dropped, and its garbage
/// reclaimed, when `f` returns).
fn with_scheme<R>(imp: &str, f: impl SchemeFn<R>) -> R {
    match imp {
        "plain-load" => f.call(&PlainLoad(std::sync::atomic::AtomicPtr::new(Obj::boxed(7)))),
        "ebb-qsbr" => f.call(&EbbScheme::new(ebb_smr::qsbr::Domain::new(), true)),
        "ebb-ebr" => f.call(&EbbScheme::new(ebb_smr::ebr::Domain::new(), false)),
        "ebb-hp" => f.call(&EbbScheme::new(ebb_smr::hp::Domain::new(), false)),
        "crossbeam-epoch" => f.call(&Crossbeam {
            collector: crossbeam_epoch::Collector::new(),
            a: crossbeam_epoch::Atomic::new(Obj::new(0)),
        }),
        "haphazard" => f.call(&Haphazard(haphazard::AtomicPtr::from(Box::new(Obj::new(
            0,
        ))))),
        "seize" => f.call(&Seize {
            collector: seize::Collector::new(),
            ptr: std::sync::atomic::AtomicPtr::new(Obj::boxed(0)),
        }),
        "arc-swap" => f.call(&ArcSwap(arc_swap::ArcSwap::from_pointee(Obj::new(0)))),
        "rwlock" => f.call(&Rw(RwLock::new(Box::new(Obj::new(0))))),
        other => unreachable!("unknown smr impl {other}"),
    }
}

/// A function generic over the scheme (a closure cannot be).
trait SchemeFn<R> {
    fn call<S: Scheme>(self, s: &S) -> R;
}

// === impl protected_read ===

/// The reclamation intervals of `protected_read_k*`: reads per read section.
const KS: [u64; 4] = [1, 10, 100, 1000];

/// Seconds one throughput repeat lasts in a full run (at least 100 ms; see `sized_ops`).
fn repeat_secs(cfg: &Config) -> f64 {
    if cfg.quick { 0.01 } else { 0.12 }
}

fn protected_read(cfg: &Config, sink: &mut Sink) {
    let t = cfg.threads;
    for k in KS {
        let w = format!("protected_read_k{k}");
        if !cfg.wants(&w) {
            continue;
        }
        harness::announce(cfg, &w);
        let impls: Vec<&str> = std::iter::once("plain-load")
            .chain(IMPLS.iter().copied())
            .filter(|i| cfg.runs(i))
            .collect();
        let sizes: Vec<u64> = impls
            .iter()
            .map(|imp| {
                let n = harness::sized_ops(repeat_secs(cfg), 10_000, |ops| {
                    read_run(imp, t, ops.div_ceil(k) * k, k)
                });
                n.div_ceil(k) * k
            })
            .collect();
        let rows = interleaved(&impls, cfg.repeats, |i, imp| {
            read_run(imp, t, sizes[i], k) * 1e9 / sizes[i] as f64
        });
        for (imp, s) in rows {
            sink.push(&w, imp, "ns_per_op", "ns", s);
        }
    }
}

/// Seconds for `threads` threads to do `ops` protected reads each, `k` per read section.
fn read_run(imp: &str, threads: usize, ops: u64, k: u64) -> f64 {
    struct F {
        threads: usize,
        ops: u64,
        k: u64,
    }
    impl SchemeFn<f64> for F {
        fn call<S: Scheme>(self, s: &S) -> f64 {
            let d = run_parallel(self.threads, |_| {
                let mut l = s.local();
                for _ in 0..self.ops / self.k {
                    s.read_k(&mut l, self.k);
                }
            });
            d.as_secs_f64()
        }
    }
    with_scheme(imp, F { threads, ops, k })
}

// === impl read_under_writes ===

/// `threads` readers (one read per read section) while one writer replaces and retires
/// for a fixed time: the readers' aggregate reads per second and the writer's replaces
/// per second. The membarrier-based schemes move their fence cost to the reclaimer,
/// whose IPIs interrupt the readers: this is where that cost shows on the read side.
fn read_under_writes(cfg: &Config, sink: &mut Sink) {
    const W: &str = "read_under_writes";
    if !cfg.wants(W) {
        return;
    }
    harness::announce(cfg, W);
    let impls: Vec<&str> = IMPLS.iter().copied().filter(|i| cfg.runs(i)).collect();
    let secs = repeat_secs(cfg) * 1.5;
    let mut writes = vec![Vec::new(); impls.len()];
    let rows = interleaved(&impls, cfg.repeats, |i, imp| {
        let (reads, w) = mixed_run(imp, cfg.threads, 1, Until::Secs(secs));
        writes[i].push(w);
        reads
    });
    for ((imp, s), w) in rows.into_iter().zip(writes) {
        sink.push(W, imp, "ops_per_sec", "ops/s", s);
        sink.push(W, imp, "writer_ops_per_sec", "ops/s", Stat::of(&w));
    }
}

/// How long the writers of a [`mixed_run`] write.
#[derive(Clone, Copy)]
enum Until {
    /// Each writer does this many replaces.
    Ops(u64),
    /// Each writer replaces until this many seconds have passed.
    Secs(f64),
}

/// `readers` reader threads and `writers` writer threads on one shared pointer. Readers
/// read one object per read section until every writer is done; writers start once every
/// reader is reading (a reader not yet scheduled would otherwise hold up the grace periods
/// of the whole run) and stop as `until` says. Returns (reads per second summed over
/// readers, replaces per second summed over writers), each over its own threads' span.
fn mixed_run(imp: &str, readers: usize, writers: usize, until: Until) -> (f64, f64) {
    struct F {
        readers: usize,
        writers: usize,
        until: Until,
    }
    impl SchemeFn<(f64, f64)> for F {
        fn call<S: Scheme>(self, s: &S) -> (f64, f64) {
            let (readers, writers) = (self.readers, self.writers);
            let reading = AtomicUsize::new(0);
            let done = AtomicUsize::new(0);
            let reads = AtomicU64::new(0);
            let writes = AtomicU64::new(0);
            let spans: Mutex<Vec<(bool, Instant, Instant)>> = Mutex::new(Vec::new());
            run_parallel(readers + writers, |t| {
                let mut l = s.local();
                if t < readers {
                    reading.fetch_add(1, Ordering::Relaxed);
                    let start = Instant::now();
                    let mut n = 0u64;
                    while done.load(Ordering::Relaxed) < writers {
                        for _ in 0..64 {
                            s.read_k(&mut l, 1);
                        }
                        n += 64;
                    }
                    let end = Instant::now();
                    reads.fetch_add(n, Ordering::Relaxed);
                    spans.lock().unwrap().push((true, start, end));
                } else {
                    while reading.load(Ordering::Relaxed) < readers {
                        std::hint::spin_loop();
                    }
                    let start = Instant::now();
                    let mut i = 0u64;
                    match self.until {
                        Until::Ops(ops) => {
                            while i < ops {
                                s.replace(&mut l, i);
                                i += 1;
                            }
                        }
                        Until::Secs(secs) => {
                            while start.elapsed().as_secs_f64() < secs {
                                for _ in 0..64 {
                                    s.replace(&mut l, i);
                                    i += 1;
                                }
                            }
                        }
                    }
                    let end = Instant::now();
                    done.fetch_add(1, Ordering::Relaxed);
                    s.finish(&mut l);
                    writes.fetch_add(i, Ordering::Relaxed);
                    spans.lock().unwrap().push((false, start, end));
                }
            });
            let spans = spans.into_inner().unwrap();
            let span = |reader: bool| {
                let sel = spans.iter().filter(|s| s.0 == reader);
                let first = sel.clone().map(|s| s.1).min();
                let last = sel.map(|s| s.2).max();
                match (first, last) {
                    (Some(a), Some(b)) => (b - a).as_secs_f64().max(1e-9),
                    _ => f64::INFINITY,
                }
            };
            (
                reads.load(Ordering::Relaxed) as f64 / span(true),
                writes.load(Ordering::Relaxed) as f64 / span(false),
            )
        }
    }
    with_scheme(
        imp,
        F {
            readers,
            writers,
            until,
        },
    )
}

// === impl retire_reclaim and reclaim_latency ===

/// Child processes `retire_reclaim` runs in, so that its table shows the spread across
/// processes as well as within one.
const RETIRE_PROCESSES: usize = 3;

fn retire_reclaim(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    const W: &str = "retire_reclaim";
    if !cfg.wants(W) {
        return Ok(());
    }
    harness::announce(cfg, W);
    if !cfg.in_child {
        let mut rows = Vec::new();
        for _ in 0..RETIRE_PROCESSES {
            for imp in IMPLS.iter().filter(|i| cfg.runs(i)) {
                rows.extend(harness::fresh_process(cfg, "smr", W, imp, cfg.repeats)?);
            }
        }
        for r in harness::merge_processes(&rows) {
            harness::push_row(sink, &r);
        }
        return Ok(());
    }
    // At least 250k replaces per writer, about 1M in all, so a repeat lasts >= 100 ms.
    let ops = cfg.scale((1_000_000 / cfg.threads as u64).max(250_000), 50_000);
    let impls: Vec<&str> = IMPLS.iter().copied().filter(|i| cfg.runs(i)).collect();
    let mut reads = vec![Vec::new(); impls.len()];
    let rows = interleaved(&impls, cfg.repeats, |i, imp| {
        let (r, w) = mixed_run(imp, 1, cfg.threads, Until::Ops(ops));
        reads[i].push(r);
        w
    });
    for ((imp, s), r) in rows.into_iter().zip(reads) {
        sink.push(W, imp, "ops_per_sec", "ops/s", s);
        sink.push(W, imp, "reader_ops_per_sec", "ops/s", Stat::of(&r));
    }
    Ok(())
}

fn reclaim_latency(cfg: &Config, sink: &mut Sink) {
    const W: &str = "reclaim_latency";
    if !cfg.wants(W) {
        return;
    }
    harness::announce(cfg, W);
    let ops = cfg.scale(200_000, 30_000);
    for &imp in IMPLS.iter().filter(|i| cfg.runs(i)) {
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        for _ in 0..cfg.repeats.max(1) {
            LATENCIES.lock().unwrap().clear();
            TRACK.store(TRACK_LATENCY, Ordering::SeqCst);
            // Every drop is recorded, including those that only happen when the threads
            // unregister or the domain drops: retire-to-free, end to end.
            mixed_run(imp, 1, cfg.threads, Until::Ops(ops));
            TRACK.store(TRACK_NONE, Ordering::SeqCst);
            let mut v = std::mem::take(&mut *LATENCIES.lock().unwrap());
            if v.is_empty() {
                continue;
            }
            let p = percentiles(&mut v, &[50.0, 99.0]);
            p50.push(p[0] as f64);
            p99.push(p[1] as f64);
        }
        if !p50.is_empty() {
            sink.push(W, imp, "p50_ns", "ns", Stat::of(&p50));
            sink.push(W, imp, "p99_ns", "ns", Stat::of(&p99));
        }
    }
}

// === impl stalled_reader_garbage ===

fn stalled_reader_garbage(cfg: &Config, sink: &mut Sink) {
    let per_writer = cfg.scale(100_000, 20_000);
    // `rwlock` cannot run it: writers block behind the stalled reader's read lock forever.
    for &imp in IMPLS.iter().filter(|&&i| i != "rwlock") {
        let s = repeat(cfg.repeats, || {
            stalled_run(imp, cfg.threads, per_writer) as f64
        });
        sink.push(
            "stalled_reader_garbage",
            imp,
            "peak_pending_bytes",
            "bytes",
            s,
        );
        let retired = (cfg.threads as u64 * per_writer * OBJ_BYTES) as f64;
        sink.push(
            "stalled_reader_garbage",
            imp,
            "retired_bytes",
            "bytes",
            Stat::single(retired),
        );
    }
}

/// Objects retired by peers' writers (their drops are counted by `DROPPED`).
static RETIRED: AtomicU64 = AtomicU64::new(0);

/// Pending bytes of a peer, observed through the objects' drops.
fn peer_pending_bytes() -> u64 {
    let r = RETIRED.load(Ordering::SeqCst);
    let d = DROPPED.load(Ordering::SeqCst);
    r.saturating_sub(d) * OBJ_BYTES
}

/// Peak pending bytes while a reader stalls in its read section and `writers` threads
/// retire `per_writer` objects each.
fn stalled_run(imp: &str, writers: usize, per_writer: u64) -> u64 {
    RETIRED.store(0, Ordering::SeqCst);
    DROPPED.store(0, Ordering::SeqCst);
    TRACK.store(TRACK_COUNT, Ordering::SeqCst);
    let peak = match imp {
        "ebb-qsbr" => stalled_ebb(ebb_smr::qsbr::Domain::new(), writers, per_writer),
        "ebb-ebr" => stalled_ebb(ebb_smr::ebr::Domain::new(), writers, per_writer),
        "ebb-hp" => stalled_ebb(ebb_smr::hp::Domain::new(), writers, per_writer),
        "crossbeam-epoch" => stalled_crossbeam(writers, per_writer),
        "haphazard" => stalled_haphazard(writers, per_writer),
        "seize" => stalled_seize(writers, per_writer),
        _ => stalled_arc_swap(writers, per_writer),
    };
    TRACK.store(TRACK_NONE, Ordering::SeqCst);
    peak
}

/// The stalled-reader choreography: thread `writers` enters its read section (`stall`),
/// waits until every writer retired its objects, then leaves. `sample` reads the pending
/// bytes; writers sample every 64 retires, and once more after they finish.
struct Stall {
    writers: usize,
    entered: Barrier,
    written: Barrier,
    peak: AtomicU64,
}

impl Stall {
    fn new(writers: usize) -> Stall {
        Stall {
            writers,
            entered: Barrier::new(writers + 1),
            written: Barrier::new(writers + 1),
            peak: AtomicU64::new(0),
        }
    }

    fn observe(&self, bytes: u64) {
        self.peak.fetch_max(bytes, Ordering::Relaxed);
    }
}

fn stalled_ebb<S: Smr>(domain: S, writers: usize, per_writer: u64) -> u64 {
    let ptr = AtomicPtr::new(Obj::boxed(0));
    let s = Stall::new(writers);
    run_parallel(writers + 1, |t| {
        let mut h = domain.register();
        if t == s.writers {
            {
                let mut g = h.pin();
                let p = g.protect(0, &ptr);
                s.entered.wait();
                s.written.wait();
                // SAFETY: protected by `g` all along.
                black_box(unsafe { (*p).value });
            }
            h.quiescent();
        } else {
            s.entered.wait();
            for i in 0..per_writer {
                let old = ptr.swap(Obj::boxed(i), Ordering::AcqRel);
                // SAFETY: unlinked by the swap, retired once.
                unsafe { h.pin().retire(old, drop_box::<Obj>) };
                h.quiescent();
                if i % 64 == 0 {
                    s.observe(domain.stats().pending_bytes);
                }
            }
            h.flush();
            s.observe(domain.stats().pending_bytes);
            s.written.wait();
        }
    });
    drop(domain);
    // SAFETY: every thread finished; the last object was never retired.
    drop(unsafe { Box::from_raw(ptr.load(Ordering::Relaxed)) });
    s.peak.load(Ordering::Relaxed)
}

fn stalled_crossbeam(writers: usize, per_writer: u64) -> u64 {
    let collector = crossbeam_epoch::Collector::new();
    let a = crossbeam_epoch::Atomic::new(Obj::new(0));
    let s = Stall::new(writers);
    run_parallel(writers + 1, |t| {
        let h = collector.register();
        if t == s.writers {
            let g = h.pin();
            let p = a.load(Ordering::Acquire, &g);
            s.entered.wait();
            s.written.wait();
            // SAFETY: loaded under the pin, which is still held.
            black_box(unsafe { p.deref() }.value);
        } else {
            s.entered.wait();
            for i in 0..per_writer {
                let g = h.pin();
                let old = a.swap(
                    crossbeam_epoch::Owned::new(Obj::new(i)),
                    Ordering::AcqRel,
                    &g,
                );
                RETIRED.fetch_add(1, Ordering::SeqCst);
                // SAFETY: unlinked by the swap, destroyed once.
                unsafe { g.defer_destroy(old) };
                if i % 64 == 0 {
                    s.observe(peer_pending_bytes());
                }
            }
            h.pin().flush();
            s.observe(peer_pending_bytes());
            s.written.wait();
        }
    });
    // SAFETY: every thread finished.
    drop(unsafe { a.into_owned() });
    s.peak.load(Ordering::Relaxed)
}

fn stalled_haphazard(writers: usize, per_writer: u64) -> u64 {
    let a = haphazard::AtomicPtr::from(Box::new(Obj::new(0)));
    let s = Stall::new(writers);
    run_parallel(writers + 1, |t| {
        if t == s.writers {
            let mut hp = haphazard::HazardPointer::new();
            let o = a.safe_load(&mut hp).expect("non-null");
            s.entered.wait();
            s.written.wait();
            black_box(o.value);
        } else {
            s.entered.wait();
            for i in 0..per_writer {
                let old = a.swap(Box::new(Obj::new(i))).expect("non-null");
                RETIRED.fetch_add(1, Ordering::SeqCst);
                // SAFETY: unlinked by the swap, retired once.
                unsafe { old.retire() };
                if i % 64 == 0 {
                    s.observe(peer_pending_bytes());
                }
            }
            s.observe(peer_pending_bytes());
            s.written.wait();
        }
    });
    haphazard::Domain::global().eager_reclaim();
    s.peak.load(Ordering::Relaxed)
}

fn stalled_seize(writers: usize, per_writer: u64) -> u64 {
    use seize::Guard as _;
    let collector = seize::Collector::new();
    let ptr = std::sync::atomic::AtomicPtr::new(Obj::boxed(0));
    let s = Stall::new(writers);
    run_parallel(writers + 1, |t| {
        if t == s.writers {
            let g = collector.enter();
            let p = g.protect(&ptr, Ordering::Acquire);
            s.entered.wait();
            s.written.wait();
            // SAFETY: protected by `g`, still held.
            black_box(unsafe { (*p).value });
        } else {
            s.entered.wait();
            for i in 0..per_writer {
                let g = collector.enter();
                let old = g.swap(&ptr, Obj::boxed(i), Ordering::AcqRel);
                RETIRED.fetch_add(1, Ordering::SeqCst);
                // SAFETY: unlinked by the swap, retired once, allocated by `Box`.
                unsafe { g.defer_retire(old, seize::reclaim::boxed) };
                drop(g);
                if i % 64 == 0 {
                    s.observe(peer_pending_bytes());
                }
            }
            s.observe(peer_pending_bytes());
            s.written.wait();
        }
    });
    drop(collector);
    // SAFETY: every thread finished; the last object was never retired.
    drop(unsafe { Box::from_raw(ptr.load(Ordering::Relaxed)) });
    s.peak.load(Ordering::Relaxed)
}

fn stalled_arc_swap(writers: usize, per_writer: u64) -> u64 {
    let a = arc_swap::ArcSwap::from_pointee(Obj::new(0));
    let s = Stall::new(writers);
    run_parallel(writers + 1, |t| {
        if t == s.writers {
            let g = a.load();
            s.entered.wait();
            s.written.wait();
            black_box(g.value);
        } else {
            s.entered.wait();
            for i in 0..per_writer {
                let old = a.swap(std::sync::Arc::new(Obj::new(i)));
                RETIRED.fetch_add(1, Ordering::SeqCst);
                drop(old);
                if i % 64 == 0 {
                    s.observe(peer_pending_bytes());
                }
            }
            s.observe(peer_pending_bytes());
            s.written.wait();
        }
    });
    s.peak.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_suite_emits_every_row() {
        let cfg = Config {
            threads: 1,
            quick: true,
            repeats: 1,
            allocator: "system",
            workloads: vec!["stalled_reader_garbage".into()],
            impls: vec![],
            in_child: true,
        };
        let mut sink = Sink::quiet("smr", 1);
        run(&cfg, &mut sink).unwrap();
        let rows: Vec<_> = sink
            .rows()
            .iter()
            .filter(|r| r.metric == "peak_pending_bytes")
            .collect();
        assert_eq!(rows.len(), IMPLS.len() - 1);
        let hp = rows.iter().find(|r| r.imp == "ebb-hp").unwrap();
        let ebr = rows.iter().find(|r| r.imp == "ebb-ebr").unwrap();
        assert!(
            hp.value < ebr.value,
            "hazard pointers bound what EBR cannot"
        );
    }
}
