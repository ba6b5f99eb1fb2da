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

/// Object sizes of the `alloc_free_*` workloads.
pub const SIZES: [usize; 3] = [64, 256, 512];

/// Runs the suite.
pub fn run(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    // First, while the process heap is fresh: ebb's metadata comes from the global
    // allocator, and heap pages freed by earlier workloads would hide its growth.
    if cfg.wants("churn_close") {
        churn_close(cfg, sink)?;
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
        let w = format!("alloc_free_{size}");
        if !cfg.wants(&w) {
            continue;
        }
        match size {
            64 => alloc_free::<64>(cfg, sink, &timer, &w)?,
            256 => alloc_free::<256>(cfg, sink, &timer, &w)?,
            _ => alloc_free::<512>(cfg, sink, &timer, &w)?,
        }
    }
    if cfg.wants("remote_free_64") && cfg.threads >= 2 {
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
    fn pair(&self, s: &mut Self::State, i: u64);
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

/// One throughput run of `p`: pairs per second over `threads` threads.
fn throughput_once<P: Pair>(threads: usize, ops: u64, p: &P) -> f64 {
    harness::ops_per_sec(threads, ops, |_| {
        let mut s = p.setup();
        for i in 0..ops {
            p.pair(&mut s, i);
        }
    })
}

/// One latency run of `p`: the [`LATENCY`] metrics in ns, over `threads` threads.
fn latency_once<P: Pair>(threads: usize, lat_ops: usize, timer: &Timer, p: &P) -> [f64; 6] {
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
            p.pair(&mut s, i);
        }
        timer.sample(&mut v, &mut s, p);
        all.lock().expect("sample lock").extend_from_slice(&v);
    });
    let mut all = all.into_inner().expect("sample lock");
    let q = harness::percentiles(&mut all, &[50.0, 99.0, 99.9, 100.0]);
    let net = |t: u64| t.saturating_sub(timer.floor);
    [q[0], q[1], q[2], q[3], net(q[0]), net(q[2])].map(|t| timer.ns(t))
}

/// An impl of the round-robin below: its name and one run of each kind.
struct Entry<'a> {
    name: &'static str,
    throughput: Box<dyn Fn() -> f64 + 'a>,
    latency: Box<dyn Fn() -> [f64; 6] + 'a>,
}

fn entry<'a, P: Pair>(
    name: &'static str,
    threads: usize,
    cfg: &Config,
    timer: &'a Timer,
    p: &'a P,
) -> Entry<'a> {
    let ops = cfg.scale(2_000_000, 100_000);
    let lat_ops = cfg.scale(2_000_000, 50_000) as usize;
    Entry {
        name,
        throughput: Box::new(move || throughput_once(threads, ops, p)),
        latency: Box::new(move || latency_once(threads, lat_ops, timer, p)),
    }
}

/// Measures every impl in `entries` round-robin: one discarded throughput run of each,
/// then `cfg.repeats` rounds of one throughput run of each, then as many rounds of one
/// latency run of each, and pushes the medians. Taking turns keeps a slow phase of the
/// machine (a busy host, the process's cold start) from landing on one impl's repeats
/// only: run one impl's repeats back to back, and on this machine the first impl of a
/// process lost up to half its throughput at 2 threads, whichever impl it was.
fn round_robin(sink: &mut Sink, w: &str, threads: usize, cfg: &Config, entries: &[Entry<'_>]) {
    for e in entries {
        black_box((e.throughput)());
    }
    let n = entries.len();
    let mut tput = vec![Vec::new(); n];
    let mut lat: Vec<[Vec<f64>; 6]> = (0..n).map(|_| Default::default()).collect();
    for _ in 0..cfg.repeats.max(1) {
        for (e, t) in entries.iter().zip(&mut tput) {
            t.push((e.throughput)());
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
        sink.push_at(w, e.name, threads, "ops_per_sec", "ops/s", Stat::of(&t));
        for (m, v) in LATENCY.iter().zip(l) {
            sink.push_at(w, e.name, threads, m, "ns", Stat::of(&v));
        }
    }
}

/// The latency metrics, in the order `latency_once` returns them.
const LATENCY: [&str; 6] = [
    "p50_ns",
    "p99_ns",
    "p999_ns",
    "max_ns",
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
    let mut entries = vec![
        entry("ebb", t, cfg, timer, &ebb),
        entry("ebb-owned", t, cfg, timer, &owned),
        entry("mimalloc", t, cfg, timer, &mi),
        entry("jemalloc", t, cfg, timer, &je),
        entry("system", t, cfg, timer, &sys),
        entry("sharded-slab", t, cfg, timer, &sharded),
    ];
    if t == 1 {
        entries.push(entry("slab", 1, cfg, timer, &SlabCrate::<N>));
        entries.push(entry("slotmap", 1, cfg, timer, &Slotmap::<N>));
    }
    round_robin(sink, w, t, cfg, &entries);
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

/// Growth over `base` at peak and after the give-back, in bytes.
struct Churn {
    peak: u64,
    after: u64,
}

/// Runs the churn with `alloc(size) -> token`, `touch`, `free(token)`, then `give_back`.
fn churn<T: Copy>(
    live: usize,
    cycles: u64,
    mut alloc: impl FnMut(usize) -> T,
    mut free: impl FnMut(T),
    give_back: impl FnOnce(),
) -> Churn {
    const CLASSES: [usize; 8] = ebb_slab::DEFAULT_SIZE_CLASSES_USIZE;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut set: Vec<T> = Vec::with_capacity(live);
    let base = harness::rss_bytes();
    for _ in 0..live {
        set.push(alloc(CLASSES[rng.next() as usize % 8]));
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
    for t in set.drain(..) {
        free(t);
    }
    give_back();
    let after = harness::rss_bytes();
    Churn {
        peak: peak.saturating_sub(base),
        after: after.saturating_sub(base),
    }
}

fn push_churn(sink: &mut Sink, imp: &str, runs: &[Churn]) {
    let page = harness::page_size();
    let f = |g: &dyn Fn(&Churn) -> f64| Stat::of(&runs.iter().map(g).collect::<Vec<_>>());
    sink.push(
        "churn_close",
        imp,
        "peak_rss_mb",
        "MB",
        f(&|c| harness::mb(c.peak)),
    );
    sink.push(
        "churn_close",
        imp,
        "rss_after_close_mb",
        "MB",
        f(&|c| harness::mb(c.after)),
    );
    sink.push(
        "churn_close",
        imp,
        "rss_drop_ratio",
        "x",
        f(&|c| c.peak as f64 / c.after.max(page) as f64),
    );
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

fn churn_close(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    let live = cfg.scale(200_000, 20_000) as usize;
    let cycles = cfg.scale(10_000_000, 200_000);
    let repeats = if cfg.quick { 1 } else { cfg.repeats.min(3) };

    let mut runs = Vec::new();
    for _ in 0..repeats {
        let a = SlabAlloc::with_config(SlabConfig {
            policy: ReclaimPolicy::RssFirst,
            ..SlabConfig::default()
        })
        .map_err(|e| e.to_string())?;
        let epoch: EpochId = a.epoch_advance().map_err(|e| e.to_string())?;
        let local = std::cell::RefCell::new(a.local());
        let c = churn(
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
                h
            },
            |h: RawHandle| local.borrow_mut().free(h).expect("ebb free"),
            || {
                local.borrow_mut().flush();
                a.epoch_close(epoch).expect("close");
            },
        );
        runs.push(c);
    }
    push_churn(sink, "ebb", &runs);

    let runs = churn_global(
        &tikv_jemallocator::Jemalloc,
        live,
        cycles,
        repeats,
        jemalloc_purge,
    );
    push_churn(sink, "jemalloc", &runs);
    let runs = churn_global(&mimalloc::MiMalloc, live, cycles, repeats, || {
        // SAFETY: mi_collect has no preconditions.
        unsafe { libmimalloc_sys::mi_collect(true) }
    });
    push_churn(sink, "mimalloc", &runs);
    Ok(())
}

/// `churn` through a peer allocator called directly, then its own purge call.
fn churn_global<A: GlobalAlloc>(
    a: &A,
    live: usize,
    cycles: u64,
    repeats: usize,
    purge: impl Fn(),
) -> Vec<Churn> {
    (0..repeats)
        .map(|_| {
            churn(
                live,
                cycles,
                |size| global_alloc(a, size),
                |(p, l)| {
                    // SAFETY: `p` came from `a.alloc(l)` and is freed once.
                    unsafe { a.dealloc(p, l) }
                },
                &purge,
            )
        })
        .collect()
}

fn global_alloc<A: GlobalAlloc>(a: &A, size: usize) -> (*mut u8, Layout) {
    let l = Layout::from_size_align(size, 8).expect("valid layout");
    // SAFETY: `l` has a non-zero size; the block is null-checked and then touched within
    // its first 8 bytes.
    unsafe {
        let p = a.alloc(l);
        assert!(!p.is_null(), "allocation failed");
        touch(p, size as u64);
        (p, l)
    }
}

/// Purges every jemalloc arena: setting an arena's decay times to 0 returns its unused
/// dirty and muzzy pages at once.
fn jemalloc_purge() {
    let Ok(n) = tikv_jemalloc_ctl::arenas::narenas::read() else {
        return;
    };
    for i in 0..n {
        for key in ["dirty_decay_ms", "muzzy_decay_ms"] {
            let name = format!("arena.{i}.{key}\0");
            // SAFETY: both keys are `ssize_t` (isize) and the name is NUL-terminated.
            let _ = unsafe { tikv_jemalloc_ctl::raw::write(name.as_bytes(), 0isize) };
        }
    }
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
        }
    }

    #[test]
    fn alloc_free_reports_every_impl_and_metric() {
        let mut sink = Sink::quiet("slab", 1);
        run(&quick(1, "alloc_free_64"), &mut sink).unwrap();
        let imps: std::collections::BTreeSet<_> =
            sink.rows().iter().map(|r| r.imp.as_str()).collect();
        assert_eq!(
            imps.into_iter().collect::<Vec<_>>(),
            [
                "ebb",
                "ebb-owned",
                "jemalloc",
                "mimalloc",
                "sharded-slab",
                "slab",
                "slotmap",
                "system"
            ]
        );
        assert_eq!(sink.rows().len(), 8 * (1 + LATENCY.len()));
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
        run(&quick(2, "alloc_free_64"), &mut sink).unwrap();
        assert!(
            sink.rows()
                .iter()
                .all(|r| r.imp != "slab" && r.imp != "slotmap")
        );
        assert!(sink.rows().iter().all(|r| r.threads == 2));
    }

    #[test]
    fn churn_close_reports_rss() {
        let mut sink = Sink::quiet("slab", 1);
        run(&quick(1, "churn_close"), &mut sink).unwrap();
        assert_eq!(sink.rows().len(), 9);
        let ebb_peak = sink
            .rows()
            .iter()
            .find(|r| r.imp == "ebb" && r.metric == "peak_rss_mb")
            .unwrap();
        assert!(ebb_peak.value > 1.0, "{ebb_peak:?}");
    }
}
