//! The `smr` suite: ebb's three reclamation schemes against their peers.
//!
//! Workloads (see `docs/smr.md` for what each shows). Throughput and read costs are sampled
//! round-robin over the implementations, so that a disturbance of the shared machine lands
//! on all of them alike:
//!
//! * `protected_read` (`ns_per_op`): each of `threads` threads enters a read section,
//!   loads a shared pointer under it, reads through it and leaves. No writer. The QSBR row
//!   also reports a quiescent state every 100 reads, inside the timed loop.
//! * `retire_reclaim` (`ops_per_sec`): `threads` writers each swap a new object into one
//!   shared pointer and retire the old one, while one extra reader thread keeps reading it.
//! * `reclaim_latency` (`p50_ns`, `p99_ns`): the same, with the retire time stamped into
//!   each object and the drop recording now minus then.
//! * `stalled_reader_garbage` (`peak_pending_bytes`): one reader enters a read section
//!   holding the current object and stalls while `threads` writers retire a bounded number
//!   of objects. ebb rows read their domain's counters; peers are observed through the
//!   objects' own drop (retired minus dropped, times the object size).
//!
//! The ebb rows are written once, generically over [`ebb_smr::Smr`]: the suite is also a
//! check that the common interface costs nothing.

use crate::harness::{Config, Sink, Stat, percentiles, repeat, run_parallel};
use ebb_smr::{AtomicPtr, Smr, SmrGuard, SmrHandle, drop_box};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, OnceLock, RwLock};
use std::time::Instant;

/// QSBR reports a quiescent state once per this many reads.
const QUIESCE_EVERY: u32 = 100;

/// Runs the suite.
pub fn run(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    if cfg.wants("protected_read") {
        protected_read(cfg, sink);
    }
    if cfg.wants("retire_reclaim") {
        retire_reclaim(cfg, sink);
    }
    if cfg.wants("reclaim_latency") {
        reclaim_latency(cfg, sink);
    }
    if cfg.wants("stalled_reader_garbage") {
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

// === impl protected_read ===

fn protected_read(cfg: &Config, sink: &mut Sink) {
    let ops = cfg.scale(20_000_000, 2_000_000);
    let t = cfg.threads;
    let rows = interleaved(cfg.repeats, |imp| {
        let secs = match imp {
            "ebb-qsbr" => read_ebb(ebb_smr::qsbr::Domain::new(), t, ops, QUIESCE_EVERY),
            "ebb-ebr" => read_ebb(ebb_smr::ebr::Domain::new(), t, ops, 0),
            "ebb-hp" => read_ebb(ebb_smr::hp::Domain::new(), t, ops, 0),
            "crossbeam-epoch" => read_crossbeam(t, ops),
            "haphazard" => read_haphazard(t, ops),
            "seize" => read_seize(t, ops),
            "arc-swap" => read_arc_swap(t, ops),
            _ => read_rwlock(t, ops),
        };
        secs * 1e9 / ops as f64
    });
    for (imp, s) in rows {
        sink.push("protected_read", imp, "ns_per_op", "ns", s);
    }
}

/// Measures every implementation `repeats` times, round-robin (one sample of each, then
/// the next round), so that a disturbance of the shared machine lands on all of them
/// alike instead of on whichever ran during it; returns median/min/max per implementation.
fn interleaved(repeats: usize, mut sample: impl FnMut(&str) -> f64) -> Vec<(&'static str, Stat)> {
    let mut samples = vec![Vec::new(); IMPLS.len()];
    for _ in 0..repeats.max(1) {
        for (i, &imp) in IMPLS.iter().enumerate() {
            samples[i].push(sample(imp));
        }
    }
    IMPLS
        .iter()
        .zip(samples)
        .map(|(&imp, v)| (imp, Stat::of(&v)))
        .collect()
}

/// Seconds for `threads` threads to do `ops` protected reads each.
fn read_ebb<S: Smr>(domain: S, threads: usize, ops: u64, quiesce_every: u32) -> f64 {
    let ptr = AtomicPtr::new(Obj::boxed(7));
    let d = run_parallel(threads, |_| {
        let mut h = domain.register();
        let mut countdown = quiesce_every;
        for _ in 0..ops {
            {
                let mut g = h.pin();
                let p = g.protect(0, &ptr);
                // SAFETY: protected by `g`; the object is freed only after the run.
                black_box(unsafe { (*p).value });
            }
            if quiesce_every != 0 {
                countdown -= 1;
                if countdown == 0 {
                    countdown = quiesce_every;
                    h.quiescent();
                }
            }
        }
    });
    // SAFETY: every reader finished; the object was never retired.
    drop(unsafe { Box::from_raw(ptr.load(Ordering::Relaxed)) });
    d.as_secs_f64()
}

fn read_crossbeam(threads: usize, ops: u64) -> f64 {
    let collector = crossbeam_epoch::Collector::new();
    let a = crossbeam_epoch::Atomic::new(Obj::new(7));
    let d = run_parallel(threads, |_| {
        let h = collector.register();
        for _ in 0..ops {
            let g = h.pin();
            let s = a.load(Ordering::Acquire, &g);
            // SAFETY: loaded under the pin; never retired during the run.
            black_box(unsafe { s.deref() }.value);
        }
    });
    // SAFETY: every reader finished.
    drop(unsafe { a.into_owned() });
    d.as_secs_f64()
}

fn read_haphazard(threads: usize, ops: u64) -> f64 {
    let a = haphazard::AtomicPtr::from(Box::new(Obj::new(7)));
    let d = run_parallel(threads, |_| {
        let mut hp = haphazard::HazardPointer::new();
        for _ in 0..ops {
            let o = a.safe_load(&mut hp).expect("non-null");
            black_box(o.value);
            hp.reset_protection();
        }
    });
    d.as_secs_f64()
}

fn read_seize(threads: usize, ops: u64) -> f64 {
    use seize::Guard as _;
    let collector = seize::Collector::new();
    let ptr = std::sync::atomic::AtomicPtr::new(Obj::boxed(7));
    let d = run_parallel(threads, |_| {
        for _ in 0..ops {
            let g = collector.enter();
            let p = g.protect(&ptr, Ordering::Acquire);
            // SAFETY: protected by `g`; never retired during the run.
            black_box(unsafe { (*p).value });
        }
    });
    // SAFETY: every reader finished; the object was never retired.
    drop(unsafe { Box::from_raw(ptr.load(Ordering::Relaxed)) });
    d.as_secs_f64()
}

fn read_arc_swap(threads: usize, ops: u64) -> f64 {
    let a = arc_swap::ArcSwap::from_pointee(Obj::new(7));
    let d = run_parallel(threads, |_| {
        for _ in 0..ops {
            let g = a.load();
            black_box(g.value);
        }
    });
    d.as_secs_f64()
}

fn read_rwlock(threads: usize, ops: u64) -> f64 {
    let l = RwLock::new(Box::new(Obj::new(7)));
    let d = run_parallel(threads, |_| {
        for _ in 0..ops {
            let g = l.read().unwrap();
            black_box(g.value);
        }
    });
    d.as_secs_f64()
}

// === impl retire_reclaim and reclaim_latency ===

fn retire_reclaim(cfg: &Config, sink: &mut Sink) {
    let ops = cfg.scale(1_000_000, 100_000);
    let rows = interleaved(cfg.repeats, |imp| {
        let secs = replace_run(imp, cfg.threads, ops);
        (cfg.threads as u64 * ops) as f64 / secs
    });
    for (imp, s) in rows {
        sink.push("retire_reclaim", imp, "ops_per_sec", "ops/s", s);
    }
}

fn reclaim_latency(cfg: &Config, sink: &mut Sink) {
    let ops = cfg.scale(200_000, 30_000);
    for &imp in IMPLS {
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        for _ in 0..cfg.repeats.max(1) {
            LATENCIES.lock().unwrap().clear();
            TRACK.store(TRACK_LATENCY, Ordering::SeqCst);
            replace_run(imp, cfg.threads, ops);
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
            sink.push("reclaim_latency", imp, "p50_ns", "ns", Stat::of(&p50));
            sink.push("reclaim_latency", imp, "p99_ns", "ns", Stat::of(&p99));
        }
    }
}

/// `writers` threads each replace the shared object `ops` times while one more thread
/// reads it; returns the seconds the run took. In latency mode, objects are stamped
/// before they are retired, and every drop is recorded, including those that only happen
/// when the threads unregister or the domain drops: retire-to-free, end to end.
fn replace_run(imp: &str, writers: usize, ops: u64) -> f64 {
    match imp {
        "ebb-qsbr" => replace_ebb(ebb_smr::qsbr::Domain::new(), writers, ops, QUIESCE_EVERY),
        "ebb-ebr" => replace_ebb(ebb_smr::ebr::Domain::new(), writers, ops, 0),
        "ebb-hp" => replace_ebb(ebb_smr::hp::Domain::new(), writers, ops, 0),
        "crossbeam-epoch" => replace_crossbeam(writers, ops),
        "haphazard" => replace_haphazard(writers, ops),
        "seize" => replace_seize(writers, ops),
        "arc-swap" => replace_arc_swap(writers, ops),
        _ => replace_rwlock(writers, ops),
    }
}

/// Shared choreography of a replace run: thread `writers` is the reader (it reads until
/// every writer is done); writers start once the reader is reading, so that a reader that
/// was not scheduled yet does not hold up the grace periods of the whole run.
struct Choreo {
    writers: usize,
    started: AtomicBool,
    done: AtomicUsize,
}

impl Choreo {
    fn new(writers: usize) -> Choreo {
        Choreo {
            writers,
            started: AtomicBool::new(false),
            done: AtomicUsize::new(0),
        }
    }

    fn is_reader(&self, t: usize) -> bool {
        t == self.writers
    }

    /// The reader's loop condition; the first call lets the writers go.
    fn reading(&self) -> bool {
        self.started.store(true, Ordering::Relaxed);
        self.done.load(Ordering::Relaxed) < self.writers
    }

    /// Writers wait for the reader before their first write.
    fn wait_for_reader(&self) {
        while !self.started.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
    }

    /// Called by every thread once its part is over.
    fn end(&self, t: usize) {
        if !self.is_reader(t) {
            self.done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn replace_ebb<S: Smr>(domain: S, writers: usize, ops: u64, quiesce_every: u32) -> f64 {
    let ptr = AtomicPtr::new(Obj::boxed(0));
    let c = Choreo::new(writers);
    let d = run_parallel(writers + 1, |t| {
        let mut h = domain.register();
        if c.is_reader(t) {
            let mut countdown = QUIESCE_EVERY;
            while c.reading() {
                {
                    let mut g = h.pin();
                    let p = g.protect(0, &ptr);
                    // SAFETY: protected by `g`.
                    black_box(unsafe { (*p).value });
                }
                countdown -= 1;
                if countdown == 0 {
                    countdown = QUIESCE_EVERY;
                    h.quiescent();
                }
            }
        } else {
            c.wait_for_reader();
            for i in 0..ops {
                let old = ptr.swap(Obj::boxed(i), Ordering::AcqRel);
                {
                    let g = h.pin();
                    // SAFETY: `old` is unlinked by the swap and retired once.
                    unsafe {
                        (*old).stamp();
                        g.retire(old, drop_box::<Obj>);
                    }
                }
                if quiesce_every != 0 {
                    h.quiescent();
                }
            }
        }
        c.end(t);
    });
    drop(domain);
    // SAFETY: every thread finished; the last object was never retired.
    drop(unsafe { Box::from_raw(ptr.load(Ordering::Relaxed)) });
    d.as_secs_f64()
}

fn replace_crossbeam(writers: usize, ops: u64) -> f64 {
    let collector = crossbeam_epoch::Collector::new();
    let a = crossbeam_epoch::Atomic::new(Obj::new(0));
    let c = Choreo::new(writers);
    let d = run_parallel(writers + 1, |t| {
        let h = collector.register();
        if c.is_reader(t) {
            while c.reading() {
                let g = h.pin();
                let s = a.load(Ordering::Acquire, &g);
                // SAFETY: loaded under the pin.
                black_box(unsafe { s.deref() }.value);
            }
        } else {
            c.wait_for_reader();
            for i in 0..ops {
                let g = h.pin();
                let old = a.swap(
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
        }
        c.end(t);
    });
    // SAFETY: every thread finished.
    drop(unsafe { a.into_owned() });
    d.as_secs_f64()
}

fn replace_haphazard(writers: usize, ops: u64) -> f64 {
    let a = haphazard::AtomicPtr::from(Box::new(Obj::new(0)));
    let c = Choreo::new(writers);
    let d = run_parallel(writers + 1, |t| {
        if c.is_reader(t) {
            let mut hp = haphazard::HazardPointer::new();
            while c.reading() {
                black_box(a.safe_load(&mut hp).expect("non-null").value);
                hp.reset_protection();
            }
        } else {
            c.wait_for_reader();
            for i in 0..ops {
                let old = a.swap(Box::new(Obj::new(i))).expect("non-null");
                // SAFETY: unlinked by the swap, retired once.
                unsafe {
                    old.as_ref().as_ref().stamp();
                    old.retire();
                }
            }
        }
        c.end(t);
    });
    haphazard::Domain::global().eager_reclaim();
    d.as_secs_f64()
}

fn replace_seize(writers: usize, ops: u64) -> f64 {
    use seize::Guard as _;
    let collector = seize::Collector::new();
    let ptr = std::sync::atomic::AtomicPtr::new(Obj::boxed(0));
    let c = Choreo::new(writers);
    let d = run_parallel(writers + 1, |t| {
        if c.is_reader(t) {
            while c.reading() {
                let g = collector.enter();
                let p = g.protect(&ptr, Ordering::Acquire);
                // SAFETY: protected by `g`.
                black_box(unsafe { (*p).value });
            }
        } else {
            c.wait_for_reader();
            for i in 0..ops {
                let g = collector.enter();
                let old = g.swap(&ptr, Obj::boxed(i), Ordering::AcqRel);
                // SAFETY: unlinked by the swap, retired once, allocated by `Box`.
                unsafe {
                    (*old).stamp();
                    g.defer_retire(old, seize::reclaim::boxed);
                }
            }
        }
        c.end(t);
    });
    drop(collector);
    // SAFETY: every thread finished; the last object was never retired.
    drop(unsafe { Box::from_raw(ptr.load(Ordering::Relaxed)) });
    d.as_secs_f64()
}

fn replace_arc_swap(writers: usize, ops: u64) -> f64 {
    let a = arc_swap::ArcSwap::from_pointee(Obj::new(0));
    let c = Choreo::new(writers);
    let d = run_parallel(writers + 1, |t| {
        if c.is_reader(t) {
            while c.reading() {
                black_box(a.load().value);
            }
        } else {
            c.wait_for_reader();
            for i in 0..ops {
                let old = a.swap(std::sync::Arc::new(Obj::new(i)));
                old.stamp();
                drop(old);
            }
        }
        c.end(t);
    });
    d.as_secs_f64()
}

fn replace_rwlock(writers: usize, ops: u64) -> f64 {
    let l = RwLock::new(Box::new(Obj::new(0)));
    let c = Choreo::new(writers);
    let d = run_parallel(writers + 1, |t| {
        if c.is_reader(t) {
            while c.reading() {
                black_box(l.read().unwrap().value);
            }
        } else {
            c.wait_for_reader();
            for i in 0..ops {
                let old = std::mem::replace(&mut *l.write().unwrap(), Box::new(Obj::new(i)));
                old.stamp();
                drop(old);
            }
        }
        c.end(t);
    });
    d.as_secs_f64()
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
        };
        let mut sink = Sink::quiet("smr", 1);
        run(&cfg, &mut sink).unwrap();
        let rows = sink.rows();
        assert_eq!(rows.len(), IMPLS.len() - 1);
        let hp = rows.iter().find(|r| r.imp == "ebb-hp").unwrap();
        let ebr = rows.iter().find(|r| r.imp == "ebb-ebr").unwrap();
        assert!(
            hp.value < ebr.value,
            "hazard pointers bound what EBR cannot"
        );
    }
}
