//! The `slab` suite: ebb-slab against general-purpose allocators and slab crates.
//!
//! Workloads:
//!
//! * `alloc_free_{64,256,512}`: each thread allocates one object of that size, writes a
//!   byte into it and frees it, in a tight loop. One op is one alloc+free pair.
//!   - `ops_per_sec` (`ops/s`): pairs per second summed over threads, timed as a whole
//!     run with no per-op timer.
//!   - `p50_ns`, `p99_ns`, `p999_ns`, `max_ns` (`ns`): a separate run of 2M pairs per
//!     thread (50k under `--quick`) in which every pair is timed on its own with the time-stamp counter (`mfence; lfence; rdtsc;
//!     lfence` before, `lfence; rdtsc; lfence` after; `Instant` where there is no TSC),
//!     into a pre-touched buffer, converted to ns with a frequency
//!     calibrated against `Instant`. A pair whose start comes more than 1 µs after the
//!     previous pair's end is run but not recorded (another is run in its place): the
//!     thread was off the CPU between two timed regions (an interrupt, a preemption, a
//!     hypervisor exit), so the pair would be timed with caches and predictors another
//!     context has cooled, and how often that lands on a sample depends on the
//!     harness's untimed work between pairs, not on the impl. A pair interrupted
//!     *inside* its own timed region is kept (it cannot be told from a slow op); those
//!     make up `max_ns`. The figures include the timer's own cost, reported as workload
//!     `timer_overhead` (impl `rdtsc`): the same measurement, same rule, around nothing.
//!   - `p50_net_ns`, `p999_net_ns` (`ns`): the same p50 and p99.9 less the timer's
//!     median cost (measured once per process, the same figure for every impl), an
//!     estimate of the op's own latency: the timer's spread is under 1 ns (its p99 is
//!     within 1 ns of its p50), so this moves every sample by the same amount.
//!
//!   Impls: `ebb` (a [`Local`](ebb_slab::Local) per thread over one shared
//!   [`SlabAlloc`]; `alloc_ptr_in` + the checked `free`), `ebb-owned` (the same, freeing
//!   with `unsafe free_owned`, which skips the double-free election under
//!   `GlobalAlloc::dealloc`'s contract), `mimalloc`, `jemalloc`, `system` (each called directly through
//!   `GlobalAlloc`, whatever the runner's global allocator is), `sharded-slab`
//!   (`Slab<[u8; N]>`, insert + remove), and, at `--threads 1` only, the single-threaded
//!   references `slab` and `slotmap` (reported at threads = 1). The typed slabs move an
//!   `N`-byte value in, where the allocators write one byte. The `ebb` row is the checked
//!   free: biased to the allocating `Local` where `membarrier` works (no locked
//!   instruction), the CAS election elsewhere.
//!
//!   Every impl's pair is inlined into its loops (see the `Pair` trait), and the impls take
//!   turns: one discarded throughput run of each, then `--repeats` rounds of one run of
//!   each, throughput first, latency after; each figure is the median of its rounds.
//! * `remote_free_64` (2 threads and more): producer/consumer pairs (`threads / 2` of
//!   them). A producer allocates 64-byte objects, writes a byte into each and passes it
//!   through a 1024-slot ring to its consumer, which reads the byte and frees the object:
//!   every free is a free from another thread. Metric `ops_per_sec`: objects per second
//!   over all pairs. Impls: `ebb` (a `Local` on each side, the checked `free`),
//!   `ebb-unbiased` (the same with `SlabConfig::biased_frees` off: every free is the CAS,
//!   nothing to revoke), `mimalloc`, `jemalloc`, `system`, `sharded-slab`.
//! * `churn_close`: a live set of objects over the eight default size classes is churned
//!   (free a random object, allocate a random size) for 10M cycles (200k under
//!   `--quick`), then everything is freed and the allocator asked to give memory back:
//!   ebb closes the epoch under the RSS-first policy, jemalloc purges its arenas (decay
//!   times set to 0), mimalloc runs `mi_collect(true)`. Metrics `peak_rss_mb` and
//!   `rss_after_close_mb` (`MB`) are the RSS growth over a baseline taken just before
//!   each impl's phase; `rss_drop_ratio` (`x`) is their quotient, with the after-close
//!   growth floored at one page.

use crate::harness::{self, Config, Sink, Stat};
use ebb_slab::{EpochId, RawHandle, ReclaimPolicy, SlabAlloc, SlabConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

/// Object sizes of the `alloc_free_*` workloads.
pub const SIZES: [usize; 3] = [64, 256, 512];

/// Runs the suite.
pub fn run(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    // First, while the process heap is fresh: ebb's metadata comes from the global
    // allocator, and heap pages freed by earlier workloads would hide its growth.
    if cfg.wants("churn_close") && cfg.threads == 1 {
        harness::announce(cfg, "churn_close");
        churn_close(cfg, sink)?;
    }
    if cfg.wants("close_live") && cfg.threads == 1 {
        harness::announce(cfg, "close_live");
        close_live(cfg, sink)?;
    }
    let timer = Timer::calibrate();
    if cfg.wants("timer_overhead") {
        let (p50, p99) = timer.overhead();
        sink.push(
            "timer_overhead",
            timer.name(),
            "p50_ns",
            "ns",
            Stat::single(p50),
        );
        sink.push(
            "timer_overhead",
            timer.name(),
            "p99_ns",
            "ns",
            Stat::single(p99),
        );
    }
    for size in SIZES {
        let w = format!("hot_pair_{size}");
        if !cfg.wants(&w) {
            continue;
        }
        harness::announce(cfg, &w);
        match size {
            64 => alloc_free::<64>(cfg, sink, &timer, &w)?,
            256 => alloc_free::<256>(cfg, sink, &timer, &w)?,
            _ => alloc_free::<512>(cfg, sink, &timer, &w)?,
        }
    }
    alloc_free_ws(cfg, sink, &timer)?;
    handle_mix(cfg, sink, &timer)?;
    get_under_remove(cfg, sink)?;
    if cfg.wants("remote_free_64") && cfg.threads >= 2 {
        harness::announce(cfg, "remote_free_64");
        remote_free(cfg, sink);
    }
    Ok(())
}

// === timing ===

/// Per-op timer: the TSC on x86_64, `Instant` elsewhere.
pub struct Timer {
    ns_per_tick: f64,
    /// The median ticks of an empty timed region: what the `*_net_ns` metrics subtract.
    floor: u64,
}

impl Timer {
    /// Calibrates the tick rate against `Instant` over a few milliseconds.
    pub fn calibrate() -> Timer {
        let (t0, i0) = (ticks(), std::time::Instant::now());
        while i0.elapsed() < std::time::Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        let (t1, ns) = (ticks(), i0.elapsed().as_nanos() as f64);
        let mut t = Timer {
            ns_per_tick: ns / (t1.wrapping_sub(t0)).max(1) as f64,
            floor: 0,
        };
        let mut v = vec![u64::MAX; 100_000];
        t.sample(&mut v, &mut (), &Nothing);
        t.floor = harness::percentiles(&mut v, &[50.0])[0];
        t
    }

    fn name(&self) -> &'static str {
        if cfg!(target_arch = "x86_64") {
            "rdtsc"
        } else {
            "instant"
        }
    }

    fn ns(&self, ticks: u64) -> f64 {
        ticks as f64 * self.ns_per_tick
    }

    /// Ticks in `ns` nanoseconds (at least one).
    fn ticks_in(&self, ns: f64) -> u64 {
        ((ns / self.ns_per_tick) as u64).max(1)
    }

    /// p50 and p99 of an empty timed region, in ns.
    pub fn overhead(&self) -> (f64, f64) {
        let mut v = vec![u64::MAX; 100_000];
        self.sample(&mut v, &mut (), &Nothing);
        let p = harness::percentiles(&mut v, &[50.0, 99.0]);
        (self.ns(p[0]), self.ns(p[1]))
    }

    /// Fills `v` with the ticks of one `p.pair(state, i)` each, `i` counting every op run.
    ///
    /// An op that starts more than [`OFF_CPU_NS`] after the previous op's end is not
    /// recorded, and another is run in its place: the thread was off the CPU in between,
    /// outside any timed region (see the module docs).
    fn sample<P: Pair>(&self, v: &mut [u64], s: &mut P::State, p: &P) {
        let gap = self.ticks_in(OFF_CPU_NS);
        let (mut n, mut i) = (0, 0u64);
        let mut last = ticks();
        while let Some(slot) = v.get_mut(n) {
            p.prepare(s);
            let t0 = start_ticks();
            p.pair(s, i);
            let t1 = ticks();
            if t0.wrapping_sub(last) <= gap {
                *slot = t1.wrapping_sub(t0);
                n += 1;
            }
            last = t1;
            i += 1;
        }
    }
}

/// An untimed gap between two timed ops longer than this means the thread was off the
/// CPU: the untimed work between two ops (storing a sample, the loop) takes tens of ns.
const OFF_CPU_NS: f64 = 1000.0;

/// Reads the timer at the start of a timed op, after draining the store buffer: otherwise
/// the previous sample's store (a TLB miss every 512 samples, when it enters a new page of
/// the sample buffer) would be waited for by the first locked instruction of the op timed
/// next, and show up as a tail for exactly the impls that use one.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn start_ticks() -> u64 {
    // SAFETY: mfence is a baseline x86_64 instruction with no operands.
    unsafe { std::arch::x86_64::_mm_mfence() };
    ticks()
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn start_ticks() -> u64 {
    ticks()
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ticks() -> u64 {
    use std::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: lfence and rdtsc are baseline x86_64 instructions with no memory effects;
    // the fences keep the timed operations from moving across the reads.
    unsafe {
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn ticks() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

// === alloc_free ===

/// One impl of the `alloc_free_*` workloads: a thread's state and one alloc+free pair.
///
/// Every impl's `pair` is `#[inline(always)]`, so the op is inlined into each loop that
/// runs it (throughput, warm-up, timed samples) whatever its size. Left to the inliner, an
/// op called from three loops stays a function call once it is large, which charges a call
/// and a reload of its state per pair to exactly the impls whose fast path is inline code
/// (ebb's), and not to those that call into a library anyway.
trait Pair: Sync {
    type State;
    fn setup(&self) -> Self::State;
    /// Untimed work before each op (drawing the next op of a working-set workload).
    #[inline(always)]
    fn prepare(&self, _s: &mut Self::State) {}
    fn pair(&self, s: &mut Self::State, i: u64);
    /// Untimed work after a run (freeing a working set).
    fn teardown(&self, _s: Self::State) {}
}

/// The empty op, for the timer's own cost.
struct Nothing;

impl Pair for Nothing {
    type State = ();
    fn setup(&self) {}
    #[inline(always)]
    fn pair(&self, _: &mut (), _: u64) {}
}

/// ebb: a `Local` per thread; the checked `free`, or `free_owned` when `OWNED`.
struct Ebb<'a, const OWNED: bool> {
    alloc: &'a SlabAlloc,
    epoch: EpochId,
    class: u8,
}

impl<'a, const OWNED: bool> Pair for Ebb<'a, OWNED> {
    type State = ebb_slab::Local<'a>;
    fn setup(&self) -> ebb_slab::Local<'a> {
        self.alloc.local()
    }
    #[inline(always)]
    fn pair(&self, l: &mut ebb_slab::Local<'a>, i: u64) {
        let (h, p) = l.alloc_ptr_in(self.epoch, self.class).expect("ebb alloc");
        // SAFETY: `p` is the fresh object of `h`, at least 64 bytes, ours until freed.
        unsafe { p.as_ptr().write(i as u8) };
        black_box(p);
        if OWNED {
            // SAFETY: `h` was just allocated by this thread and is freed once, here; no
            // other thread ever sees it (GlobalAlloc::dealloc's contract).
            unsafe { l.free_owned(h) }.expect("ebb free_owned");
        } else {
            l.free(h).expect("ebb free");
        }
    }
}

/// An allocator called through `GlobalAlloc`: one byte written, the block freed.
struct Global<A> {
    a: A,
    layout: Layout,
}

impl<A: GlobalAlloc + Sync> Pair for Global<A> {
    type State = ();
    fn setup(&self) {}
    #[inline(always)]
    fn pair(&self, _: &mut (), i: u64) {
        // SAFETY: `layout` has a non-zero size; the block is null-checked, written within
        // bounds and freed once with the layout it was allocated with.
        unsafe {
            let p = self.a.alloc(self.layout);
            assert!(!p.is_null(), "allocation failed");
            p.write(i as u8);
            black_box(p);
            self.a.dealloc(p, self.layout);
        }
    }
}

/// The three general-purpose peers, called through `GlobalAlloc` with `layout`.
fn general_purpose(
    layout: Layout,
) -> (
    Global<mimalloc::MiMalloc>,
    Global<tikv_jemallocator::Jemalloc>,
    Global<System>,
) {
    (
        Global {
            a: mimalloc::MiMalloc,
            layout,
        },
        Global {
            a: tikv_jemallocator::Jemalloc,
            layout,
        },
        Global { a: System, layout },
    )
}

/// mimalloc through its heap API: a heap per thread (`mi_heap_new`, held in the thread's
/// state), `mi_heap_malloc_small` and `mi_free`; the explicit-state API that matches
/// ebb's `Local`.
struct MiHeapPair(usize);

/// A thread's mimalloc heap, deleted (its blocks moved to the default heap) on drop.
struct MiHeap(*mut libmimalloc_sys::mi_heap_t);

impl MiHeap {
    fn new() -> MiHeap {
        // SAFETY: mi_heap_new has no preconditions; the heap belongs to this thread.
        let h = unsafe { libmimalloc_sys::mi_heap_new() };
        assert!(!h.is_null(), "mi_heap_new failed");
        MiHeap(h)
    }

    /// A block of `size` bytes (at most 1024, `MI_SMALL_SIZE_MAX`) with a byte written.
    #[inline(always)]
    fn alloc(&self, size: usize, v: u8) -> *mut u8 {
        // SAFETY: the heap is this thread's and alive; `size` is at most the small-object
        // limit; the block is null-checked and written within bounds.
        unsafe {
            let p = libmimalloc_sys::mi_heap_malloc_small(self.0, size).cast::<u8>();
            assert!(!p.is_null(), "mi_heap_malloc_small failed");
            p.write(v);
            p
        }
    }

    /// Frees a block from [`MiHeap::alloc`].
    ///
    /// # Safety
    ///
    /// - `p` came from `alloc` and is freed once.
    #[inline(always)]
    unsafe fn free(p: *mut u8) {
        // SAFETY: guaranteed by the caller.
        unsafe { libmimalloc_sys::mi_free(p.cast()) }
    }
}

impl Drop for MiHeap {
    fn drop(&mut self) {
        // SAFETY: the heap is this thread's; its remaining blocks (none, normally) move
        // to the default heap.
        unsafe { libmimalloc_sys::mi_heap_delete(self.0) }
    }
}

impl Pair for MiHeapPair {
    type State = MiHeap;
    fn setup(&self) -> MiHeap {
        MiHeap::new()
    }
    #[inline(always)]
    fn pair(&self, h: &mut MiHeap, i: u64) {
        let p = h.alloc(self.0, i as u8);
        black_box(p);
        // SAFETY: allocated just above, freed once.
        unsafe { MiHeap::free(p) };
    }
}

/// sharded-slab: insert an `N`-byte value, remove it.
struct Sharded<'a, const N: usize>(&'a sharded_slab::Slab<[u8; N]>);

impl<const N: usize> Pair for Sharded<'_, N> {
    type State = ();
    fn setup(&self) {}
    #[inline(always)]
    fn pair(&self, _: &mut (), i: u64) {
        let k = self.0.insert([i as u8; N]).expect("sharded-slab has room");
        black_box(k);
        assert!(self.0.remove(k));
    }
}

/// The single-threaded `slab` crate: insert, remove.
struct SlabCrate<const N: usize>;

impl<const N: usize> Pair for SlabCrate<N> {
    type State = slab::Slab<[u8; N]>;
    fn setup(&self) -> Self::State {
        slab::Slab::new()
    }
    #[inline(always)]
    fn pair(&self, s: &mut Self::State, i: u64) {
        let k = s.insert([i as u8; N]);
        black_box(s.remove(black_box(k)));
    }
}

/// The single-threaded `slotmap` crate: versioned insert, remove.
struct Slotmap<const N: usize>;

impl<const N: usize> Pair for Slotmap<N> {
    type State = slotmap::SlotMap<slotmap::DefaultKey, [u8; N]>;
    fn setup(&self) -> Self::State {
        slotmap::SlotMap::new()
    }
    #[inline(always)]
    fn pair(&self, s: &mut Self::State, i: u64) {
        let k = s.insert([i as u8; N]);
        black_box(s.remove(black_box(k)));
    }
}

/// One throughput run of `p`: the seconds `threads` threads take for `ops` ops each
/// (setup and teardown untimed).
fn throughput_once<P: Pair>(threads: usize, ops: u64, p: &P) -> f64 {
    harness::run_parallel_with(
        threads,
        |_| p.setup(),
        |_, s| {
            for i in 0..ops {
                p.prepare(s);
                p.pair(s, i);
            }
        },
        |s| p.teardown(s),
    )
    .as_secs_f64()
}

/// One latency run of `p`: the [`LATENCY`] metrics in ns, over `threads` threads.
fn latency_once<P: Pair>(threads: usize, lat_ops: usize, timer: &Timer, p: &P) -> Vec<f64> {
    let all = Mutex::new(Vec::with_capacity(threads * lat_ops));
    harness::run_parallel(threads, |_| {
        let mut s = p.setup();
        // Touched up front: a first-touch page fault every 512 samples would evict the
        // lines and TLB entries of the op timed next. (`vec![0; n]` is not enough: calloc
        // hands out untouched zero pages.)
        let mut v = vec![u64::MAX; lat_ops];
        black_box(&mut v);
        // Warm up the thread's caches without recording.
        for i in 0..1000 {
            p.prepare(&mut s);
            p.pair(&mut s, i);
        }
        timer.sample(&mut v, &mut s, p);
        p.teardown(s);
        all.lock().expect("sample lock").extend_from_slice(&v);
    });
    let mut all = all.into_inner().expect("sample lock");
    let mean = all.iter().map(|&t| t as f64).sum::<f64>() / all.len().max(1) as f64;
    let q = harness::percentiles(&mut all, &[50.0, 99.0, 99.9, 99.99, 100.0]);
    let net = |t: u64| timer.ns(t.saturating_sub(timer.floor));
    vec![
        timer.ns(q[0]),
        timer.ns(q[1]),
        timer.ns(q[2]),
        timer.ns(q[3]),
        timer.ns(q[4]),
        timer.ns(1) * mean,
        net(q[0]),
        net(q[2]),
    ]
}

/// An impl of the round-robin below: its name, a throughput run of `ops` ops per thread
/// (returning seconds), and a latency run.
struct Entry<'a> {
    name: &'static str,
    threads: usize,
    throughput: Box<dyn Fn(u64) -> f64 + 'a>,
    latency: Box<dyn Fn() -> Vec<f64> + 'a>,
}

fn entry<'a, P: Pair>(
    name: &'static str,
    threads: usize,
    cfg: &Config,
    timer: &'a Timer,
    p: &'a P,
) -> Entry<'a> {
    let lat_ops = cfg.scale(2_000_000, 50_000) as usize;
    entry_with(name, threads, lat_ops, timer, p)
}

fn entry_with<'a, P: Pair>(
    name: &'static str,
    threads: usize,
    lat_ops: usize,
    timer: &'a Timer,
    p: &'a P,
) -> Entry<'a> {
    Entry {
        name,
        threads,
        throughput: Box::new(move |ops| throughput_once(threads, ops, p)),
        latency: Box::new(move || latency_once(threads, lat_ops, timer, p)),
    }
}

/// Seconds one throughput repeat lasts in a full run (at least 100 ms).
fn repeat_secs(cfg: &Config) -> f64 {
    if cfg.quick { 0.01 } else { 0.12 }
}

/// Measures every impl in `entries` round-robin: each impl's op count is sized so that
/// a throughput run lasts [`repeat_secs`] (the sizing runs are discarded and warm the
/// process up), then `cfg.repeats` rounds of one throughput run of each, then as many
/// rounds of one latency run of each, and pushes the medians. Taking turns keeps a slow
/// phase of the machine (a busy host, the process's cold start) from landing on one
/// impl's repeats only: run one impl's repeats back to back, and on this machine the
/// first impl of a process lost up to half its throughput at 2 threads, whichever impl it
/// was.
fn round_robin(sink: &mut Sink, w: &str, cfg: &Config, entries: &[Entry<'_>]) {
    let sizes: Vec<u64> = entries
        .iter()
        .map(|e| harness::sized_ops(repeat_secs(cfg), 100_000, &e.throughput))
        .collect();
    let n = entries.len();
    let mut tput = vec![Vec::new(); n];
    let mut lat: Vec<Vec<Vec<f64>>> = (0..n).map(|_| vec![Vec::new(); LATENCY.len()]).collect();
    for _ in 0..cfg.repeats.max(1) {
        for ((e, t), &ops) in entries.iter().zip(&mut tput).zip(&sizes) {
            t.push((e.threads as u64 * ops) as f64 / (e.throughput)(ops));
        }
    }
    for _ in 0..cfg.repeats.max(1) {
        for (e, l) in entries.iter().zip(&mut lat) {
            for (v, x) in l.iter_mut().zip((e.latency)()) {
                v.push(x);
            }
        }
    }
    for ((e, t), l) in entries.iter().zip(tput).zip(lat) {
        sink.push_at(w, e.name, e.threads, "ops_per_sec", "ops/s", Stat::of(&t));
        for (m, v) in LATENCY.iter().zip(l) {
            sink.push_at(w, e.name, e.threads, m, "ns", Stat::of(&v));
        }
    }
}

/// The latency metrics, in the order `latency_once` returns them.
const LATENCY: [&str; 8] = [
    "p50_ns",
    "p99_ns",
    "p999_ns",
    "p9999_ns",
    "max_ns",
    "mean_ns",
    "p50_net_ns",
    "p999_net_ns",
];

fn alloc_free<const N: usize>(
    cfg: &Config,
    sink: &mut Sink,
    timer: &Timer,
    w: &str,
) -> Result<(), String> {
    let t = cfg.threads;
    let layout = Layout::from_size_align(N, 8).map_err(|e| e.to_string())?;

    let alloc = SlabAlloc::new();
    let epoch = alloc.epoch_current();
    let class = alloc.class_for_size(N).map_err(|e| e.to_string())?;
    let ebb = Ebb::<false> {
        alloc: &alloc,
        epoch,
        class,
    };
    let owned = Ebb::<true> {
        alloc: &alloc,
        epoch,
        class,
    };
    let (mi, je, sys) = general_purpose(layout);
    let sharded_slab: sharded_slab::Slab<[u8; N]> = sharded_slab::Slab::new();
    let sharded = Sharded(&sharded_slab);
    let mih = MiHeapPair(N);
    let mut entries = vec![
        entry("ebb", t, cfg, timer, &ebb),
        entry("ebb-owned", t, cfg, timer, &owned),
        entry("mimalloc-heap", t, cfg, timer, &mih),
        entry("mimalloc", t, cfg, timer, &mi),
        entry("jemalloc", t, cfg, timer, &je),
        entry("system", t, cfg, timer, &sys),
        entry("sharded-slab", t, cfg, timer, &sharded),
    ];
    if t == 1 {
        entries.push(entry("slab", 1, cfg, timer, &SlabCrate::<N>));
        entries.push(entry("slotmap", 1, cfg, timer, &Slotmap::<N>));
    }
    entries.retain(|e| cfg.runs(e.name));
    round_robin(sink, w, cfg, &entries);
    Ok(())
}

// === remote_free ===

/// A single-producer, single-consumer ring of 64-bit tokens. Each side keeps the other's
/// index cached and reloads it only when the ring looks full (or empty), so the two
/// threads exchange a cache line per batch, not per token: the workload measures the
/// allocators' remote frees, not the ring.
struct Ring {
    slots: Box<[std::sync::atomic::AtomicU64]>,
    head: crossbeam_utils::CachePadded<std::sync::atomic::AtomicUsize>,
    tail: crossbeam_utils::CachePadded<std::sync::atomic::AtomicUsize>,
}

/// One side's view of a [`Ring`]: its own index and the other side's, as last read.
#[derive(Default)]
struct Cursor {
    own: usize,
    seen: usize,
}

impl Ring {
    const CAP: usize = 1024;
    const BATCH: usize = 64;

    fn new() -> Ring {
        Ring {
            slots: (0..Self::CAP).map(|_| Default::default()).collect(),
            head: Default::default(),
            tail: Default::default(),
        }
    }

    /// Waits, spinning then yielding (threads may outnumber cores).
    fn wait(spins: &mut u32) {
        *spins += 1;
        if *spins < 128 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }

    fn push(&self, c: &mut Cursor, v: u64) {
        use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
        let mut spins = 0;
        if c.own - c.seen == Self::CAP {
            // Full: wait until a batch is free, not one slot, or the two threads trade the
            // ring's lines for every token while the producer is ahead.
            loop {
                // Acquire: the consumer is done with the slots it released.
                c.seen = self.head.load(Acquire);
                if c.own - c.seen <= Self::CAP - Self::BATCH {
                    break;
                }
                Self::wait(&mut spins);
            }
        }
        self.slots[c.own % Self::CAP].store(v, Relaxed);
        c.own += 1;
        // Release: the consumer that sees the new tail sees the slot and the object.
        self.tail.store(c.own, Release);
    }

    fn pop(&self, c: &mut Cursor) -> u64 {
        use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
        let mut spins = 0;
        while c.seen == c.own {
            c.seen = self.tail.load(Acquire);
            if c.seen == c.own {
                Self::wait(&mut spins);
            }
        }
        let v = self.slots[c.own % Self::CAP].load(Relaxed);
        c.own += 1;
        self.head.store(c.own, Release);
        v
    }
}

/// One impl of `remote_free_64`: tokens are handles or addresses as `u64`.
trait Remote: Sync {
    type Side;
    fn side(&self) -> Self::Side;
    fn produce(&self, s: &mut Self::Side, i: u64) -> u64;
    fn consume(&self, s: &mut Self::Side, token: u64);
}

/// ebb: a `Local` on each side; the consumer frees with the checked `free`.
struct EbbRemote<'a> {
    alloc: &'a SlabAlloc,
    epoch: EpochId,
    class: u8,
}

impl<'a> Remote for EbbRemote<'a> {
    type Side = ebb_slab::Local<'a>;
    fn side(&self) -> ebb_slab::Local<'a> {
        self.alloc.local()
    }
    #[inline(always)]
    fn produce(&self, l: &mut ebb_slab::Local<'a>, i: u64) -> u64 {
        let (h, p) = l.alloc_ptr_in(self.epoch, self.class).expect("ebb alloc");
        // SAFETY: `p` is the fresh object of `h`, at least 64 bytes, ours until the
        // consumer frees it.
        unsafe { p.as_ptr().write(i as u8) };
        h.to_bits()
    }
    #[inline(always)]
    fn consume(&self, l: &mut ebb_slab::Local<'a>, token: u64) {
        let h = RawHandle::from_bits(token);
        let p = self.alloc.get_ptr(h).expect("a live handle");
        // SAFETY: the producer wrote this byte before the ring's Release; the object is
        // ours until the free below.
        black_box(unsafe { p.as_ptr().read() });
        l.free(h).expect("ebb free");
    }
}

impl<A: GlobalAlloc + Sync> Remote for Global<A> {
    type Side = ();
    fn side(&self) {}
    #[inline(always)]
    fn produce(&self, _: &mut (), i: u64) -> u64 {
        // SAFETY: `layout` has a non-zero size; the block is null-checked and written
        // within bounds; the consumer frees it once with the same layout.
        unsafe {
            let p = self.a.alloc(self.layout);
            assert!(!p.is_null(), "allocation failed");
            p.write(i as u8);
            p.expose_provenance() as u64
        }
    }
    #[inline(always)]
    fn consume(&self, _: &mut (), token: u64) {
        let p = std::ptr::with_exposed_provenance_mut::<u8>(token as usize);
        // SAFETY: `p` is a block the producer allocated with `layout`, wrote, and passed
        // through the ring (Release/Acquire); it is read and freed once, here.
        unsafe {
            black_box(p.read());
            self.a.dealloc(p, self.layout);
        }
    }
}

impl Remote for Sharded<'_, 64> {
    type Side = ();
    fn side(&self) {}
    #[inline(always)]
    fn produce(&self, _: &mut (), i: u64) -> u64 {
        self.0.insert([i as u8; 64]).expect("sharded-slab has room") as u64
    }
    #[inline(always)]
    fn consume(&self, _: &mut (), token: u64) {
        assert!(self.0.remove(token as usize));
    }
}

/// Objects per second through `threads / 2` producer/consumer pairs.
fn remote_once<R: Remote>(threads: usize, per_pair: u64, r: &R) -> f64 {
    let pairs = threads / 2;
    let rings: Vec<Ring> = (0..pairs).map(|_| Ring::new()).collect();
    let d = harness::run_parallel(pairs * 2, |t| {
        let ring = &rings[t / 2];
        let mut side = r.side();
        let mut c = Cursor::default();
        if t % 2 == 0 {
            for i in 0..per_pair {
                ring.push(&mut c, r.produce(&mut side, i));
            }
        } else {
            for _ in 0..per_pair {
                r.consume(&mut side, ring.pop(&mut c));
            }
        }
    });
    (pairs as u64 * per_pair) as f64 / d.as_secs_f64()
}

fn remote_entry<'a, R: Remote>(
    name: &'static str,
    threads: usize,
    cfg: &Config,
    r: &'a R,
) -> (&'static str, Box<dyn Fn() -> f64 + 'a>) {
    let per_pair = cfg.scale(1_000_000, 50_000);
    (name, Box::new(move || remote_once(threads, per_pair, r)))
}

fn remote_free(cfg: &Config, sink: &mut Sink) {
    let t = cfg.threads;
    let layout = Layout::from_size_align(64, 8).expect("a valid layout");
    let biased = SlabAlloc::new();
    let unbiased = SlabAlloc::with_config(SlabConfig {
        biased_frees: false,
        ..SlabConfig::default()
    })
    .expect("a valid configuration");
    let ebb = |alloc| EbbRemote {
        alloc,
        epoch: alloc.epoch_current(),
        class: alloc.class_for_size(64).expect("the 64-byte class"),
    };
    let (e1, e2) = (ebb(&biased), ebb(&unbiased));
    let (mi, je, sys) = general_purpose(layout);
    let sharded_slab: sharded_slab::Slab<[u8; 64]> = sharded_slab::Slab::new();
    let sharded = Sharded(&sharded_slab);
    let entries = [
        remote_entry("ebb", t, cfg, &e1),
        remote_entry("ebb-unbiased", t, cfg, &e2),
        remote_entry("mimalloc", t, cfg, &mi),
        remote_entry("jemalloc", t, cfg, &je),
        remote_entry("system", t, cfg, &sys),
        remote_entry("sharded-slab", t, cfg, &sharded),
    ];
    // Turns, as in `round_robin`: one discarded run of each, then the rounds.
    for (_, f) in &entries {
        black_box(f());
    }
    let mut runs = vec![Vec::new(); entries.len()];
    for _ in 0..cfg.repeats.max(1) {
        for ((_, f), v) in entries.iter().zip(&mut runs) {
            v.push(f());
        }
    }
    for ((name, _), v) in entries.iter().zip(runs) {
        sink.push_at(
            "remote_free_64",
            name,
            t,
            "ops_per_sec",
            "ops/s",
            Stat::of(&v),
        );
    }
}

// === churn_close ===

/// Deterministic xorshift, so every impl churns the same sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Absolute RSS of one `churn_close` or `close_live` run, in bytes, and the close time.
struct Rss {
    base: u64,
    peak: u64,
    after: u64,
    close_ns: f64,
}

/// Tokens of the memory workloads: a handle or an address, and a size; the same 16 bytes
/// for every impl, in an array filled before the baseline so that its pages are resident
/// (and counted in every impl's baseline alike) before the allocator under test runs.
type Token = (u64, u64);

fn token_array(live: usize) -> Vec<Token> {
    // Non-zero, so the pages are written (a zeroed `vec!` is calloc'd and left untouched).
    vec![(u64::MAX, u64::MAX); live]
}

/// Runs the churn with `alloc(size) -> token`, `free(token)`, then `give_back`, and
/// reads RSS before (after `malloc_trim(0)`), at peak and after the give-back and
/// another `malloc_trim(0)`.
fn churn(
    live: usize,
    cycles: u64,
    mut alloc: impl FnMut(usize) -> Token,
    mut free: impl FnMut(Token),
    give_back: impl FnOnce(),
) -> Rss {
    const CLASSES: [usize; 8] = ebb_slab::DEFAULT_SIZE_CLASSES_USIZE;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut set = token_array(live);
    harness::malloc_trim();
    let base = harness::rss_bytes();
    for t in set.iter_mut() {
        *t = alloc(CLASSES[rng.next() as usize % 8]);
    }
    let mut peak = harness::rss_bytes();
    for c in 0..cycles {
        let r = rng.next();
        let i = (r >> 8) as usize % live;
        free(set[i]);
        set[i] = alloc(CLASSES[r as usize % 8]);
        if c % 65536 == 0 {
            peak = peak.max(harness::rss_bytes());
        }
    }
    peak = peak.max(harness::rss_bytes());
    for &t in &set {
        free(t);
    }
    let t0 = std::time::Instant::now();
    give_back();
    let close_ns = t0.elapsed().as_nanos() as f64;
    harness::malloc_trim();
    let after = harness::rss_bytes();
    black_box(&set);
    Rss {
        base,
        peak,
        after,
        close_ns,
    }
}

/// Pushes the absolute RSS figures (and `close_ns` when `with_close`).
fn push_rss(sink: &mut Sink, w: &str, imp: &str, runs: &[Rss], with_close: bool) {
    let f = |g: &dyn Fn(&Rss) -> f64| Stat::of(&runs.iter().map(g).collect::<Vec<_>>());
    sink.push_at(
        w,
        imp,
        1,
        "rss_base_mib",
        "MiB",
        f(&|c| harness::mb(c.base)),
    );
    sink.push_at(
        w,
        imp,
        1,
        "rss_peak_mib",
        "MiB",
        f(&|c| harness::mb(c.peak)),
    );
    sink.push_at(
        w,
        imp,
        1,
        "rss_after_mib",
        "MiB",
        f(&|c| harness::mb(c.after)),
    );
    if with_close {
        sink.push_at(w, imp, 1, "close_ns", "ns", f(&|c| c.close_ns));
    }
}

/// Writes the first 8 bytes of a fresh block, so its page is resident.
///
/// # Safety
///
/// - `p` points to at least 8 writable bytes, aligned to 8.
unsafe fn touch(p: *mut u8, v: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe { p.cast::<u64>().write(v) };
}

/// Fresh processes per impl of the memory workloads (at least 5, `--repeats` if more).
fn memory_processes(cfg: &Config) -> usize {
    if cfg.quick { 1 } else { cfg.repeats.max(5) }
}

/// Runs `w` once per impl and process in fresh child processes (one process per impl and
/// repeat: impls that ran one after another in one heap would inherit each other's
/// leftovers), and pushes the median over processes.
fn memory_workload(cfg: &Config, sink: &mut Sink, w: &str, impls: &[&str]) -> Result<(), String> {
    let mut rows = Vec::new();
    for _ in 0..memory_processes(cfg) {
        for imp in impls.iter().filter(|i| cfg.runs(i)) {
            rows.extend(harness::fresh_process(cfg, "slab", w, imp, 1)?);
        }
    }
    // Each child ran one repeat: the merged cells are median [min–max] over processes.
    for r in harness::merge_processes(&rows) {
        harness::push_row(sink, &r);
    }
    Ok(())
}

const CHURN_IMPLS: [&str; 4] = ["ebb", "jemalloc", "mimalloc", "system"];

fn churn_close(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    const W: &str = "churn_close";
    if !cfg.in_child {
        return memory_workload(cfg, sink, W, &CHURN_IMPLS);
    }
    let live = cfg.scale(200_000, 20_000) as usize;
    let cycles = cfg.scale(10_000_000, 200_000);
    for imp in CHURN_IMPLS.iter().filter(|i| cfg.runs(i)) {
        let run = match *imp {
            "ebb" => {
                let a = SlabAlloc::with_config(SlabConfig {
                    policy: ReclaimPolicy::RssFirst,
                    ..SlabConfig::default()
                })
                .map_err(|e| e.to_string())?;
                let epoch: EpochId = a.epoch_advance().map_err(|e| e.to_string())?;
                let local = std::cell::RefCell::new(a.local());
                churn(
                    live,
                    cycles,
                    |size| {
                        let class = a.class_for_size(size).expect("default class");
                        let (h, p) = local
                            .borrow_mut()
                            .alloc_ptr_in(epoch, class)
                            .expect("ebb alloc");
                        // SAFETY: a fresh object of at least 64 bytes, 8-aligned.
                        unsafe { touch(p.as_ptr(), h.to_bits()) };
                        (h.to_bits(), size as u64)
                    },
                    |(h, _)| {
                        local
                            .borrow_mut()
                            .free(RawHandle::from_bits(h))
                            .expect("ebb free")
                    },
                    || {
                        local.borrow_mut().flush();
                        a.epoch_close(epoch).expect("close");
                    },
                )
            }
            "jemalloc" => churn_global(&tikv_jemallocator::Jemalloc, live, cycles, jemalloc_purge),
            "mimalloc" => churn_global(&mimalloc::MiMalloc, live, cycles, || {
                // SAFETY: mi_collect has no preconditions.
                unsafe { libmimalloc_sys::mi_collect(true) }
            }),
            _ => churn_global(&System, live, cycles, harness::malloc_trim),
        };
        push_rss(sink, W, imp, &[run], false);
    }
    Ok(())
}

/// `churn` through a peer allocator called directly, then its own give-back call.
fn churn_global<A: GlobalAlloc>(a: &A, live: usize, cycles: u64, purge: impl FnOnce()) -> Rss {
    churn(
        live,
        cycles,
        |size| {
            let p = global_alloc(a, size);
            (p.expose_provenance() as u64, size as u64)
        },
        |(p, size)| {
            let p = std::ptr::with_exposed_provenance_mut::<u8>(p as usize);
            let l = Layout::from_size_align(size as usize, 8).expect("valid layout");
            // SAFETY: `p` came from `a.alloc(l)` and is freed once.
            unsafe { a.dealloc(p, l) }
        },
        purge,
    )
}

fn global_alloc<A: GlobalAlloc>(a: &A, size: usize) -> *mut u8 {
    let l = Layout::from_size_align(size, 8).expect("valid layout");
    // SAFETY: `l` has a non-zero size; the block is null-checked and then touched within
    // its first 8 bytes.
    unsafe {
        let p = a.alloc(l);
        assert!(!p.is_null(), "allocation failed");
        touch(p, size as u64);
        p
    }
}

// === close_live ===

const CLOSE_IMPLS: [&str; 4] = ["ebb", "ebb-close-only", "mimalloc-heap", "bumpalo"];

/// `close_live`: allocate `live` objects of the default classes' sizes (each touched),
/// then release them all at once while they are live. `ebb` releases the epoch with
/// `epoch_release` (after the allocating thread's `Local` is dropped, which the `&mut`
/// the release takes requires): every handle into it is refused afterwards and its pages
/// go back to the OS under `RssFirst`; `ebb-close-only` is `epoch_close` alone, which
/// keeps the objects valid and so returns no page while they live; `mimalloc-heap` destroys the heap
/// (`mi_heap_destroy`) and collects; `bumpalo` resets its arena. `close_ns` times the
/// release, `rss_after_mib` is read after it.
fn close_live(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    const W: &str = "close_live";
    if !cfg.in_child {
        return memory_workload(cfg, sink, W, &CLOSE_IMPLS);
    }
    const CLASSES: [usize; 8] = ebb_slab::DEFAULT_SIZE_CLASSES_USIZE;
    let live = cfg.scale(1_000_000, 20_000) as usize;
    for imp in CLOSE_IMPLS.iter().filter(|i| cfg.runs(i)) {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut set = token_array(live);
        harness::malloc_trim();
        let base = harness::rss_bytes();
        let (peak, close_ns) = match *imp {
            "ebb" | "ebb-close-only" => {
                let mut a = SlabAlloc::with_config(SlabConfig {
                    policy: ReclaimPolicy::RssFirst,
                    ..SlabConfig::default()
                })
                .map_err(|e| e.to_string())?;
                let epoch = a.epoch_advance().map_err(|e| e.to_string())?;
                let mut l = a.local();
                for t in set.iter_mut() {
                    let class = a
                        .class_for_size(CLASSES[rng.next() as usize % 8])
                        .expect("default class");
                    let (h, p) = l.alloc_ptr_in(epoch, class).expect("ebb alloc");
                    // SAFETY: a fresh object of at least 64 bytes, 8-aligned.
                    unsafe { touch(p.as_ptr(), h.to_bits()) };
                    *t = (h.to_bits(), 0);
                }
                drop(l);
                let peak = harness::rss_bytes();
                let t0 = std::time::Instant::now();
                if *imp == "ebb" {
                    a.epoch_release(epoch).map_err(|e| e.to_string())?;
                } else {
                    a.epoch_close(epoch).map_err(|e| e.to_string())?;
                }
                let ns = t0.elapsed().as_nanos() as f64;
                harness::malloc_trim();
                let after = harness::rss_bytes();
                if *imp == "ebb" {
                    // What the release promised: a handle into the epoch is refused.
                    let h = RawHandle::from_bits(set[0].0);
                    assert_eq!(a.validate(h), Err(ebb_slab::Error::Stale));
                }
                black_box(&set);
                let run = Rss {
                    base,
                    peak,
                    after,
                    close_ns: ns,
                };
                push_rss(sink, W, imp, &[run], true);
                continue;
            }
            "mimalloc-heap" => {
                // SAFETY: mi_heap_new has no preconditions; the heap is this thread's.
                let heap = unsafe { libmimalloc_sys::mi_heap_new() };
                assert!(!heap.is_null(), "mi_heap_new failed");
                for t in set.iter_mut() {
                    let size = CLASSES[rng.next() as usize % 8];
                    // SAFETY: a live heap of this thread; size <= 1024; null-checked and
                    // touched within its first 8 bytes.
                    let p = unsafe { libmimalloc_sys::mi_heap_malloc_small(heap, size) };
                    assert!(!p.is_null(), "mi_heap_malloc_small failed");
                    // SAFETY: as above.
                    unsafe { touch(p.cast(), size as u64) };
                    *t = (p.expose_provenance() as u64, size as u64);
                }
                let peak = harness::rss_bytes();
                let t0 = std::time::Instant::now();
                // SAFETY: the heap is this thread's; every block in it is released at
                // once, and none is used afterwards.
                unsafe { libmimalloc_sys::mi_heap_destroy(heap) };
                let ns = t0.elapsed().as_nanos() as f64;
                // SAFETY: mi_collect has no preconditions.
                unsafe { libmimalloc_sys::mi_collect(true) };
                (peak, ns)
            }
            _ => {
                let mut bump = bumpalo::Bump::new();
                for t in set.iter_mut() {
                    let size = CLASSES[rng.next() as usize % 8];
                    let p = bump.alloc_layout(Layout::from_size_align(size, 8).expect("layout"));
                    // SAFETY: a fresh block of `size` >= 64 bytes, 8-aligned.
                    unsafe { touch(p.as_ptr(), size as u64) };
                    *t = (p.as_ptr().expose_provenance() as u64, size as u64);
                }
                let peak = harness::rss_bytes();
                let t0 = std::time::Instant::now();
                bump.reset();
                let ns = t0.elapsed().as_nanos() as f64;
                black_box(&bump);
                (peak, ns)
            }
        };
        harness::malloc_trim();
        let after = harness::rss_bytes();
        black_box(&set);
        push_rss(
            sink,
            W,
            imp,
            &[Rss {
                base,
                peak,
                after,
                close_ns,
            }],
            true,
        );
    }
    Ok(())
}

/// Gives jemalloc's free memory back, as its documentation says: flush this thread's
/// cache (`thread.tcache.flush`), set every arena's decay times to 0, and purge all
/// arenas (`arena.<MALLCTL_ARENAS_ALL>.purge`).
fn jemalloc_purge() {
    // SAFETY: both are void mallctls (no old or new value); the names are NUL-terminated.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"thread.tcache.flush".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
    if let Ok(n) = tikv_jemalloc_ctl::arenas::narenas::read() {
        for i in 0..n {
            for key in ["dirty_decay_ms", "muzzy_decay_ms"] {
                let name = format!("arena.{i}.{key}\0");
                // SAFETY: both keys are `ssize_t` (isize) and the name is NUL-terminated.
                let _ = unsafe { tikv_jemalloc_ctl::raw::write(name.as_bytes(), 0isize) };
            }
        }
    }
    // SAFETY: a void mallctl; 4096 is MALLCTL_ARENAS_ALL.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

// === alloc_free_ws ===

/// Size classes of the ebb allocator in `alloc_free_ws_*` (sizes are drawn from 16 to
/// 1024 bytes) and of sharded-slab's per-class slabs there.
const WS_CLASSES: [u32; 12] = [16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024];

/// Live objects of each `alloc_free_ws_*` workload, over all threads.
const WS_SIZES: [(&str, usize); 3] = [
    ("alloc_free_ws_1k", 1_000),
    ("alloc_free_ws_100k", 100_000),
    ("alloc_free_ws_1m", 1_000_000),
];

/// An object of the working set: a handle or an address, and its size.
#[derive(Clone, Copy)]
struct Tok {
    bits: u64,
    size: u32,
}

/// An allocator as the working-set workloads use it: a thread's state, an allocation of
/// `size` bytes with one byte written, a free.
trait Heap: Sync {
    type State;
    fn state(&self) -> Self::State;
    fn alloc(&self, s: &mut Self::State, size: usize, v: u8) -> Tok;
    fn free(&self, s: &mut Self::State, t: Tok);
}

/// ebb-slab: a `Local` per thread, the size's class looked up per allocation
/// (`class_for_size`), `alloc_ptr_in` and the checked `free`.
struct EbbHeap<'a> {
    alloc: &'a SlabAlloc,
    epoch: EpochId,
}

impl<'a> Heap for EbbHeap<'a> {
    type State = ebb_slab::Local<'a>;
    fn state(&self) -> Self::State {
        self.alloc.local()
    }
    #[inline(always)]
    fn alloc(&self, l: &mut Self::State, size: usize, v: u8) -> Tok {
        let class = self
            .alloc
            .class_for_size(size)
            .expect("a class for 16..=1024");
        let (h, p) = l.alloc_ptr_in(self.epoch, class).expect("ebb alloc");
        // SAFETY: `p` is the fresh object of `h`, at least `size` bytes, ours until freed.
        unsafe { p.as_ptr().write(v) };
        Tok {
            bits: h.to_bits(),
            size: size as u32,
        }
    }
    #[inline(always)]
    fn free(&self, l: &mut Self::State, t: Tok) {
        l.free(RawHandle::from_bits(t.bits)).expect("ebb free");
    }
}

struct MiHeapWs;

impl Heap for MiHeapWs {
    type State = MiHeap;
    fn state(&self) -> MiHeap {
        MiHeap::new()
    }
    #[inline(always)]
    fn alloc(&self, h: &mut MiHeap, size: usize, v: u8) -> Tok {
        Tok {
            bits: h.alloc(size, v).expose_provenance() as u64,
            size: size as u32,
        }
    }
    #[inline(always)]
    fn free(&self, _: &mut MiHeap, t: Tok) {
        let p = std::ptr::with_exposed_provenance_mut::<u8>(t.bits as usize);
        // SAFETY: `p` came from `alloc` above and is freed once.
        unsafe { MiHeap::free(p) };
    }
}

/// An allocator called through `GlobalAlloc` with the object's layout.
struct GlobalWs<A>(A);

impl<A: GlobalAlloc + Sync> Heap for GlobalWs<A> {
    type State = ();
    fn state(&self) {}
    #[inline(always)]
    fn alloc(&self, _: &mut (), size: usize, v: u8) -> Tok {
        // SAFETY: the layout has a non-zero size; the block is null-checked and written
        // within bounds.
        unsafe {
            let p = self.0.alloc(Layout::from_size_align_unchecked(size, 8));
            assert!(!p.is_null(), "allocation failed");
            p.write(v);
            Tok {
                bits: p.expose_provenance() as u64,
                size: size as u32,
            }
        }
    }
    #[inline(always)]
    fn free(&self, _: &mut (), t: Tok) {
        let p = std::ptr::with_exposed_provenance_mut::<u8>(t.bits as usize);
        // SAFETY: `p` came from `alloc` with this size and alignment and is freed once.
        unsafe {
            self.0
                .dealloc(p, Layout::from_size_align_unchecked(t.size as usize, 8))
        };
    }
}

/// sharded-slab, one typed `Slab<[u8; C]>` per class of [`WS_CLASSES`] (a typed slab
/// holds one size).
macro_rules! sharded_ws {
    ($($i:tt => $c:literal),*) => {
        struct ShardedWs {
            slabs: ( $( sharded_slab::Slab<[u8; $c]>, )* ),
        }
        impl ShardedWs {
            fn new() -> ShardedWs {
                ShardedWs { slabs: ( $( sharded_slab::Slab::<[u8; $c]>::new(), )* ) }
            }
        }
        impl Heap for ShardedWs {
            type State = ();
            fn state(&self) {}
            #[inline(always)]
            fn alloc(&self, _: &mut (), size: usize, v: u8) -> Tok {
                let class = WS_CLASSES.partition_point(|&c| (c as usize) < size);
                let key = match class {
                    $( $i => self.slabs.$i.insert([v; $c]), )*
                    _ => unreachable!("size above 1024"),
                }
                .expect("sharded-slab has room");
                Tok { bits: key as u64, size: size as u32 }
            }
            #[inline(always)]
            fn free(&self, _: &mut (), t: Tok) {
                let class = WS_CLASSES.partition_point(|&c| c < t.size);
                let ok = match class {
                    $( $i => self.slabs.$i.remove(t.bits as usize), )*
                    _ => unreachable!("size above 1024"),
                };
                assert!(ok, "sharded-slab remove");
            }
        }
    };
}

sharded_ws!(0 => 16, 1 => 32, 2 => 48, 3 => 64, 4 => 96, 5 => 128, 6 => 192, 7 => 256,
    8 => 384, 9 => 512, 10 => 768, 11 => 1024);

/// The working-set op over a [`Heap`]: free a random live object, allocate one of a random
/// size in its place. One op is one free and one allocation.
struct Ws<H> {
    heap: H,
    live: usize,
}

/// A thread's working set and its next op, drawn untimed.
struct WsState<S> {
    s: S,
    set: Vec<Tok>,
    rng: Rng,
    next: (usize, usize),
}

/// A size from 16 to 1024 bytes, uniform, from random bits.
#[inline(always)]
fn ws_size(r: u64) -> usize {
    16 + (r % 1009) as usize
}

impl<H: Heap> Pair for Ws<H> {
    type State = WsState<H::State>;
    fn setup(&self) -> Self::State {
        let mut s = self.heap.state();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let set = (0..self.live)
            .map(|i| self.heap.alloc(&mut s, ws_size(rng.next()), i as u8))
            .collect();
        WsState {
            s,
            set,
            rng,
            next: (0, 16),
        }
    }
    #[inline(always)]
    fn prepare(&self, st: &mut Self::State) {
        let r = st.rng.next();
        st.next = ((r >> 32) as usize % st.set.len(), ws_size(r));
    }
    #[inline(always)]
    fn pair(&self, st: &mut Self::State, i: u64) {
        let (idx, size) = st.next;
        let old = st.set[idx];
        self.heap.free(&mut st.s, old);
        st.set[idx] = self.heap.alloc(&mut st.s, size, i as u8);
    }
    fn teardown(&self, mut st: Self::State) {
        for t in std::mem::take(&mut st.set) {
            self.heap.free(&mut st.s, t);
        }
    }
}

fn alloc_free_ws(cfg: &Config, sink: &mut Sink, timer: &Timer) -> Result<(), String> {
    let t = cfg.threads;
    for (w, total) in WS_SIZES {
        // The million-object set takes seconds to build per impl and round: not in a
        // smoke test.
        if !cfg.wants(w) || (cfg.quick && total > 100_000) {
            continue;
        }
        harness::announce(cfg, w);
        let live = (total / t).max(1);
        let alloc = SlabAlloc::with_config(SlabConfig {
            size_classes: WS_CLASSES.to_vec(),
            ..SlabConfig::default()
        })
        .map_err(|e| e.to_string())?;
        let epoch = alloc.epoch_current();
        let ebb = Ws {
            heap: EbbHeap {
                alloc: &alloc,
                epoch,
            },
            live,
        };
        let mih = Ws {
            heap: MiHeapWs,
            live,
        };
        let mi = Ws {
            heap: GlobalWs(mimalloc::MiMalloc),
            live,
        };
        let je = Ws {
            heap: GlobalWs(tikv_jemallocator::Jemalloc),
            live,
        };
        let sys = Ws {
            heap: GlobalWs(System),
            live,
        };
        let sh = Ws {
            heap: ShardedWs::new(),
            live,
        };
        // 200k timed ops per thread and round: each round's p99.99 rests on 20 samples.
        let lat_ops = cfg.scale(200_000, 20_000) as usize;
        let all = [
            entry_with("ebb", t, lat_ops, timer, &ebb),
            entry_with("mimalloc-heap", t, lat_ops, timer, &mih),
            entry_with("mimalloc", t, lat_ops, timer, &mi),
            entry_with("jemalloc", t, lat_ops, timer, &je),
            entry_with("system", t, lat_ops, timer, &sys),
            entry_with("sharded-slab", t, lat_ops, timer, &sh),
        ];
        let entries: Vec<Entry<'_>> = all.into_iter().filter(|e| cfg.runs(e.name)).collect();
        round_robin(sink, w, cfg, &entries);
    }
    Ok(())
}

// === handle_mix ===

/// Live handles of `handle_mix_*`, over all threads.
const MIX_LIVE: usize = 100_000;

/// The mixes: (workload, percent get, percent insert); the rest are removes.
const MIXES: [(&str, u64, u64); 2] = [("handle_mix_90", 90, 5), ("handle_mix_50", 50, 25)];

/// A handle slab as `handle_mix` uses it: insert a 64-byte value, read its first byte
/// through a handle (`None` for a handle the slab refuses), remove.
trait Handles: Sync {
    type State;
    type H: Copy;
    fn state(&self) -> Self::State;
    fn insert(&self, s: &mut Self::State, v: u8) -> Self::H;
    fn get(&self, s: &mut Self::State, h: Self::H) -> Option<u8>;
    fn remove(&self, s: &mut Self::State, h: Self::H);
    /// Whether a removed handle is refused (false for the `slab` crate, whose keys carry
    /// no generation: a stale key reads whatever took its slot).
    const REFUSES_STALE: bool = true;
}

struct EbbHandles<'a> {
    alloc: &'a SlabAlloc,
    epoch: EpochId,
    class: u8,
}

impl<'a> Handles for EbbHandles<'a> {
    type State = ebb_slab::Local<'a>;
    type H = RawHandle;
    fn state(&self) -> Self::State {
        self.alloc.local()
    }
    #[inline(always)]
    fn insert(&self, l: &mut Self::State, v: u8) -> RawHandle {
        let (h, p) = l.alloc_ptr_in(self.epoch, self.class).expect("ebb alloc");
        // SAFETY: `p` is the fresh 64-byte object of `h`, ours until freed.
        unsafe { p.as_ptr().write(v) };
        h
    }
    #[inline(always)]
    fn get(&self, _: &mut Self::State, h: RawHandle) -> Option<u8> {
        let p = self.alloc.get_ptr(h).ok()?;
        // SAFETY: `h` was validated live, and only this thread frees its handles.
        Some(unsafe { p.as_ptr().read() })
    }
    #[inline(always)]
    fn remove(&self, l: &mut Self::State, h: RawHandle) {
        l.free(h).expect("ebb free");
    }
}

struct SlotmapHandles;

impl Handles for SlotmapHandles {
    type State = slotmap::SlotMap<slotmap::DefaultKey, [u8; 64]>;
    type H = slotmap::DefaultKey;
    fn state(&self) -> Self::State {
        slotmap::SlotMap::new()
    }
    #[inline(always)]
    fn insert(&self, s: &mut Self::State, v: u8) -> Self::H {
        s.insert([v; 64])
    }
    #[inline(always)]
    fn get(&self, s: &mut Self::State, h: Self::H) -> Option<u8> {
        s.get(h).map(|v| v[0])
    }
    #[inline(always)]
    fn remove(&self, s: &mut Self::State, h: Self::H) {
        assert!(s.remove(h).is_some());
    }
}

struct SlabHandles;

impl Handles for SlabHandles {
    type State = slab::Slab<[u8; 64]>;
    type H = usize;
    const REFUSES_STALE: bool = false;
    fn state(&self) -> Self::State {
        slab::Slab::new()
    }
    #[inline(always)]
    fn insert(&self, s: &mut Self::State, v: u8) -> usize {
        s.insert([v; 64])
    }
    #[inline(always)]
    fn get(&self, s: &mut Self::State, h: usize) -> Option<u8> {
        s.get(h).map(|v| v[0])
    }
    #[inline(always)]
    fn remove(&self, s: &mut Self::State, h: usize) {
        s.remove(h);
    }
}

struct ThunderdomeHandles;

impl Handles for ThunderdomeHandles {
    type State = thunderdome::Arena<[u8; 64]>;
    type H = thunderdome::Index;
    fn state(&self) -> Self::State {
        thunderdome::Arena::new()
    }
    #[inline(always)]
    fn insert(&self, s: &mut Self::State, v: u8) -> Self::H {
        s.insert([v; 64])
    }
    #[inline(always)]
    fn get(&self, s: &mut Self::State, h: Self::H) -> Option<u8> {
        s.get(h).map(|v| v[0])
    }
    #[inline(always)]
    fn remove(&self, s: &mut Self::State, h: Self::H) {
        assert!(s.remove(h).is_some());
    }
}

struct GenArenaHandles;

impl Handles for GenArenaHandles {
    type State = generational_arena::Arena<[u8; 64]>;
    type H = generational_arena::Index;
    fn state(&self) -> Self::State {
        generational_arena::Arena::new()
    }
    #[inline(always)]
    fn insert(&self, s: &mut Self::State, v: u8) -> Self::H {
        s.insert([v; 64])
    }
    #[inline(always)]
    fn get(&self, s: &mut Self::State, h: Self::H) -> Option<u8> {
        s.get(h).map(|v| v[0])
    }
    #[inline(always)]
    fn remove(&self, s: &mut Self::State, h: Self::H) {
        assert!(s.remove(h).is_some());
    }
}

struct ShardedHandles<'a>(&'a sharded_slab::Slab<[u8; 64]>);

impl Handles for ShardedHandles<'_> {
    type State = ();
    type H = usize;
    fn state(&self) {}
    #[inline(always)]
    fn insert(&self, _: &mut (), v: u8) -> usize {
        self.0.insert([v; 64]).expect("sharded-slab has room")
    }
    #[inline(always)]
    fn get(&self, _: &mut (), h: usize) -> Option<u8> {
        self.0.get(h).map(|e| e[0])
    }
    #[inline(always)]
    fn remove(&self, _: &mut (), h: usize) {
        assert!(self.0.remove(h));
    }
}

/// sharded-slab's `Pool`: pooled `Vec<u8>`s keep their 64-byte buffers across
/// `clear`, so an insert after the first use of a slot allocates nothing.
struct PoolHandles<'a>(&'a sharded_slab::Pool<Vec<u8>>);

impl Handles for PoolHandles<'_> {
    type State = ();
    type H = usize;
    fn state(&self) {}
    #[inline(always)]
    fn insert(&self, _: &mut (), v: u8) -> usize {
        self.0
            .create_with(|b| {
                b.reserve(64);
                b.push(v);
            })
            .expect("pool has room")
    }
    #[inline(always)]
    fn get(&self, _: &mut (), h: usize) -> Option<u8> {
        self.0.get(h).map(|e| e[0])
    }
    #[inline(always)]
    fn remove(&self, _: &mut (), h: usize) {
        assert!(self.0.clear(h));
    }
}

/// The mixed op over [`Handles`]: a get (one in 16 of them through a removed handle,
/// which must be refused), an insert or a remove of a random live handle, as the mix
/// says.
struct Mix<X> {
    x: X,
    live: usize,
    get_pct: u64,
    insert_pct: u64,
}

struct MixState<S, H> {
    s: S,
    live: Vec<H>,
    /// Recently removed handles, for the stale gets.
    stale: Vec<H>,
    rng: Rng,
    /// The next op: 0 get, 1 stale get, 2 insert, 3 remove; and its index.
    next: (u8, usize),
}

impl<X: Handles> Pair for Mix<X> {
    type State = MixState<X::State, X::H>;
    fn setup(&self) -> Self::State {
        let mut s = self.x.state();
        let mut live: Vec<X::H> = (0..self.live + 64)
            .map(|i| self.x.insert(&mut s, i as u8))
            .collect();
        let stale: Vec<X::H> = live.split_off(self.live);
        for &h in &stale {
            self.x.remove(&mut s, h);
        }
        MixState {
            s,
            live,
            stale,
            rng: Rng(0x2545_f491_4f6c_dd1d),
            next: (0, 0),
        }
    }
    #[inline(always)]
    fn prepare(&self, st: &mut Self::State) {
        let r = st.rng.next();
        let pick = r % 100;
        let idx = (r >> 32) as usize;
        st.next = if pick < self.get_pct {
            if (r >> 8) % 16 == 0 {
                (1, idx % st.stale.len())
            } else {
                (0, idx % st.live.len())
            }
        } else if pick < self.get_pct + self.insert_pct || st.live.len() < 2 {
            (2, 0)
        } else {
            (3, idx % st.live.len())
        };
    }
    #[inline(always)]
    fn pair(&self, st: &mut Self::State, i: u64) {
        match st.next {
            (0, j) => {
                black_box(self.x.get(&mut st.s, st.live[j]).expect("a live handle"));
            }
            (1, j) => {
                let r = self.x.get(&mut st.s, st.stale[j]);
                if X::REFUSES_STALE {
                    assert!(r.is_none(), "a stale handle was accepted");
                }
                black_box(r);
            }
            (2, _) => {
                let h = self.x.insert(&mut st.s, i as u8);
                st.live.push(h);
            }
            (_, j) => {
                let h = st.live.swap_remove(j);
                self.x.remove(&mut st.s, h);
                st.stale[i as usize % 64] = h;
            }
        }
    }
    fn teardown(&self, mut st: Self::State) {
        for h in std::mem::take(&mut st.live) {
            self.x.remove(&mut st.s, h);
        }
    }
}

fn handle_mix(cfg: &Config, sink: &mut Sink, timer: &Timer) -> Result<(), String> {
    let t = cfg.threads;
    for (w, get_pct, insert_pct) in MIXES {
        if !cfg.wants(w) {
            continue;
        }
        harness::announce(cfg, w);
        let live = (MIX_LIVE / t).max(2);
        fn mix<X>(x: X, live: usize, get_pct: u64, insert_pct: u64) -> Mix<X> {
            Mix {
                x,
                live,
                get_pct,
                insert_pct,
            }
        }
        let m = (live, get_pct, insert_pct);
        let alloc = SlabAlloc::new();
        let ebb = mix(
            EbbHandles {
                alloc: &alloc,
                epoch: alloc.epoch_current(),
                class: alloc.class_for_size(64).map_err(|e| e.to_string())?,
            },
            m.0,
            m.1,
            m.2,
        );
        let sslab = sharded_slab::Slab::new();
        let sharded = mix(ShardedHandles(&sslab), m.0, m.1, m.2);
        let spool = sharded_slab::Pool::new();
        let pool = mix(PoolHandles(&spool), m.0, m.1, m.2);
        let (slotmap, slab, thunder, arena) = (
            mix(SlotmapHandles, m.0, m.1, m.2),
            mix(SlabHandles, m.0, m.1, m.2),
            mix(ThunderdomeHandles, m.0, m.1, m.2),
            mix(GenArenaHandles, m.0, m.1, m.2),
        );
        let lat_ops = cfg.scale(200_000, 20_000) as usize;
        let mut all = vec![
            entry_with("ebb", t, lat_ops, timer, &ebb),
            entry_with("sharded-slab", t, lat_ops, timer, &sharded),
            entry_with("sharded-slab-pool", t, lat_ops, timer, &pool),
        ];
        if t == 1 {
            all.push(entry_with("slotmap", 1, lat_ops, timer, &slotmap));
            all.push(entry_with("slab", 1, lat_ops, timer, &slab));
            all.push(entry_with("thunderdome", 1, lat_ops, timer, &thunder));
            all.push(entry_with("generational-arena", 1, lat_ops, timer, &arena));
        }
        let entries: Vec<Entry<'_>> = all.into_iter().filter(|e| cfg.runs(e.name)).collect();
        round_robin(sink, w, cfg, &entries);
    }
    Ok(())
}

// === get_under_remove ===

/// Entries of the shared table of `get_under_remove`.
const GUR_LIVE: usize = 10_000;

/// `threads - 1` readers look up random handles of a shared table while one thread
/// removes a random entry and inserts a new one in its place, over and over: readers see
/// live handles and, for the entries being replaced, stale ones that must be refused.
/// Metric `ops_per_sec`: the readers' lookups per second; needs 2 threads. ebb's lookup
/// is `get_ptr` (validate the handle, return the address); reading through the address
/// while another thread may free the object needs a reclamation scheme on top (ebb-smr),
/// so ebb reads nothing here. sharded-slab's `get` returns a guard that keeps the slot
/// from being reused while it is held, and the reader reads a byte through it.
fn get_under_remove(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    const W: &str = "get_under_remove";
    if !cfg.wants(W) || cfg.threads < 2 {
        return Ok(());
    }
    harness::announce(cfg, W);
    let alloc = SlabAlloc::new();
    let class = alloc.class_for_size(64).map_err(|e| e.to_string())?;
    let epoch = alloc.epoch_current();
    let sslab: sharded_slab::Slab<[u8; 64]> = sharded_slab::Slab::new();
    let secs = repeat_secs(cfg);
    let impls: Vec<&str> = ["ebb", "sharded-slab"]
        .into_iter()
        .filter(|i| cfg.runs(i))
        .collect();
    let mut runs = vec![Vec::new(); impls.len()];
    for _ in 0..cfg.repeats.max(1) {
        for (imp, v) in impls.iter().zip(&mut runs) {
            v.push(if *imp == "ebb" {
                let mut l = alloc.local();
                let table: Vec<AtomicU64> = (0..GUR_LIVE)
                    .map(|_| {
                        let (h, _) = l.alloc_ptr_in(epoch, class).expect("ebb alloc");
                        AtomicU64::new(h.to_bits())
                    })
                    .collect();
                drop(l);
                let r = shared_gets(
                    cfg.threads,
                    secs,
                    &table,
                    |bits| alloc.get_ptr(RawHandle::from_bits(bits)).is_ok(),
                    || alloc.local(),
                    |l, bits| {
                        l.free(RawHandle::from_bits(bits)).expect("ebb free");
                        let (h, _) = l.alloc_ptr_in(epoch, class).expect("ebb alloc");
                        h.to_bits()
                    },
                );
                let mut l = alloc.local();
                for e in &table {
                    l.free(RawHandle::from_bits(e.load(Relaxed)))
                        .expect("ebb free");
                }
                r
            } else {
                let table: Vec<AtomicU64> = (0..GUR_LIVE)
                    .map(|i| AtomicU64::new(sslab.insert([i as u8; 64]).expect("room") as u64))
                    .collect();
                let r = shared_gets(
                    cfg.threads,
                    secs,
                    &table,
                    |k| sslab.get(k as usize).map(|e| black_box(e[0])).is_some(),
                    || (),
                    |_, k| {
                        assert!(sslab.remove(k as usize));
                        sslab.insert([k as u8; 64]).expect("room") as u64
                    },
                );
                for e in &table {
                    sslab.remove(e.load(Relaxed) as usize);
                }
                r
            });
        }
    }
    for (imp, v) in impls.iter().zip(runs) {
        sink.push(W, imp, "ops_per_sec", "ops/s", Stat::of(&v));
    }
    Ok(())
}

/// Thread 0 replaces random entries of `table` (`replace(state, old) -> new`) for `secs`;
/// the other threads call `get` on random entries until it stops. Returns the readers'
/// gets per second.
fn shared_gets<S>(
    threads: usize,
    secs: f64,
    table: &[AtomicU64],
    get: impl Fn(u64) -> bool + Sync,
    state: impl Fn() -> S + Sync,
    replace: impl Fn(&mut S, u64) -> u64 + Sync,
) -> f64 {
    let done = std::sync::atomic::AtomicBool::new(false);
    let gets = AtomicU64::new(0);
    let d = harness::run_parallel(threads, |t| {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (t as u64 + 1));
        if t == 0 {
            let mut s = state();
            let start = std::time::Instant::now();
            while start.elapsed().as_secs_f64() < secs {
                for _ in 0..64 {
                    let e = &table[rng.next() as usize % table.len()];
                    let new = replace(&mut s, e.load(Relaxed));
                    e.store(new, Relaxed);
                }
            }
            done.store(true, Relaxed);
        } else {
            let mut n = 0u64;
            while !done.load(Relaxed) {
                for _ in 0..64 {
                    let e = &table[rng.next() as usize % table.len()];
                    black_box(get(e.load(Relaxed)));
                }
                n += 64;
            }
            gets.fetch_add(n, Relaxed);
        }
    });
    gets.load(Relaxed) as f64 / d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(threads: usize, w: &str) -> Config {
        Config {
            threads,
            quick: true,
            repeats: 1,
            allocator: "system",
            workloads: vec![w.into()],
            impls: vec![],
            in_child: true,
        }
    }

    #[test]
    fn alloc_free_reports_every_impl_and_metric() {
        let mut sink = Sink::quiet("slab", 1);
        run(&quick(1, "hot_pair_64"), &mut sink).unwrap();
        let imps: std::collections::BTreeSet<_> =
            sink.rows().iter().map(|r| r.imp.as_str()).collect();
        assert_eq!(
            imps.into_iter().collect::<Vec<_>>(),
            [
                "ebb",
                "ebb-owned",
                "jemalloc",
                "mimalloc",
                "mimalloc-heap",
                "sharded-slab",
                "slab",
                "slotmap",
                "system"
            ]
        );
        assert_eq!(sink.rows().len(), 9 * (1 + LATENCY.len()));
        // Net latencies may round down to 0 for an op cheaper than the timer's jitter.
        assert!(
            sink.rows()
                .iter()
                .all(|r| r.value > 0.0 || (r.metric.ends_with("_net_ns") && r.value == 0.0))
        );
    }

    #[test]
    fn remote_free_runs_from_two_threads() {
        let mut sink = Sink::quiet("slab", 2);
        run(&quick(2, "remote_free_64"), &mut sink).unwrap();
        let imps: Vec<_> = sink.rows().iter().map(|r| r.imp.as_str()).collect();
        assert_eq!(
            imps,
            [
                "ebb",
                "ebb-unbiased",
                "mimalloc",
                "jemalloc",
                "system",
                "sharded-slab"
            ]
        );
        assert!(sink.rows().iter().all(|r| r.value > 0.0));
        // One thread has no consumer: nothing is reported.
        let mut one = Sink::quiet("slab", 1);
        run(&quick(1, "remote_free_64"), &mut one).unwrap();
        assert!(one.rows().is_empty());
    }

    #[test]
    fn single_threaded_peers_only_at_one_thread() {
        let mut sink = Sink::quiet("slab", 2);
        run(&quick(2, "hot_pair_64"), &mut sink).unwrap();
        assert!(
            sink.rows()
                .iter()
                .all(|r| r.imp != "slab" && r.imp != "slotmap")
        );
        assert!(sink.rows().iter().all(|r| r.threads == 2));
    }

    #[test]
    fn churn_close_reports_absolute_rss() {
        let mut sink = Sink::quiet("slab", 1);
        run(&quick(1, "churn_close"), &mut sink).unwrap();
        assert_eq!(sink.rows().len(), CHURN_IMPLS.len() * 3);
        for imp in CHURN_IMPLS {
            let get = |m: &str| {
                sink.rows()
                    .iter()
                    .find(|r| r.imp == imp && r.metric == m)
                    .unwrap()
                    .value
            };
            let (base, peak) = (get("rss_base_mib"), get("rss_peak_mib"));
            assert!(
                peak > base + 1.0,
                "{imp}: peak {peak} MiB over base {base} MiB"
            );
        }
        // Only at one thread: the workload is single-threaded.
        let mut two = Sink::quiet("slab", 2);
        run(&quick(2, "churn_close"), &mut two).unwrap();
        assert!(two.rows().is_empty());
    }

    #[test]
    fn close_live_times_every_release() {
        let mut sink = Sink::quiet("slab", 1);
        run(&quick(1, "close_live"), &mut sink).unwrap();
        for imp in CLOSE_IMPLS {
            let close = sink
                .rows()
                .iter()
                .find(|r| r.imp == imp && r.metric == "close_ns")
                .unwrap();
            assert!(close.value > 0.0, "{close:?}");
        }
    }

    #[test]
    fn working_set_reports_every_impl_and_tail() {
        let mut sink = Sink::quiet("slab", 1);
        run(&quick(1, "alloc_free_ws_1k"), &mut sink).unwrap();
        let imps: std::collections::BTreeSet<_> =
            sink.rows().iter().map(|r| r.imp.as_str()).collect();
        assert_eq!(imps.len(), 6, "{imps:?}");
        for r in sink.rows().iter().filter(|r| r.metric == "p9999_ns") {
            let p50 = sink
                .rows()
                .iter()
                .find(|q| q.imp == r.imp && q.metric == "p50_ns")
                .unwrap();
            assert!(r.value >= p50.value, "{r:?} below {p50:?}");
        }
    }

    #[test]
    fn handle_mix_runs_every_peer_and_refuses_stale_handles() {
        // The mix asserts that every generational impl refuses its stale handles.
        let mut sink = Sink::quiet("slab", 1);
        run(&quick(1, "handle_mix_50"), &mut sink).unwrap();
        let imps: std::collections::BTreeSet<_> =
            sink.rows().iter().map(|r| r.imp.as_str()).collect();
        assert_eq!(
            imps.into_iter().collect::<Vec<_>>(),
            [
                "ebb",
                "generational-arena",
                "sharded-slab",
                "sharded-slab-pool",
                "slab",
                "slotmap",
                "thunderdome"
            ]
        );
        let mut two = Sink::quiet("slab", 2);
        run(&quick(2, "get_under_remove"), &mut two).unwrap();
        assert_eq!(two.rows().len(), 2);
        assert!(two.rows().iter().all(|r| r.value > 0.0));
    }
}
