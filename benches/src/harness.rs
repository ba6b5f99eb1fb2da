//! Measurement helpers shared by every suite: thread fan-out behind a barrier, repeated
//! runs reduced to median/min/max, latency percentiles, and RSS readouts.

use serde::{Deserialize, Serialize};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// What one runner invocation measures.
#[derive(Clone, Debug)]
pub struct Config {
    /// Worker threads for multi-threaded workloads.
    pub threads: usize,
    /// Short runs (seconds per suite), for CI smoke tests.
    pub quick: bool,
    /// How many times each measurement is repeated; rows report median, min and max.
    pub repeats: usize,
    /// The global allocator of this runner (`system`, `jemalloc`, `mimalloc`, ...).
    pub allocator: &'static str,
    /// When non-empty, only these workloads run.
    pub workloads: Vec<String>,
    /// When non-empty, only these implementations run (`--impl`; a name ending in `*`
    /// matches every name with that prefix, as `ebb*` does the rows of a `-nomb` run).
    pub impls: Vec<String>,
    /// Whether this process is a fresh child started by [`fresh_process`] (environment
    /// variable `EBB_BENCH_CHILD`): a workload that measures one implementation per
    /// process measures in place here instead of starting children of its own.
    pub in_child: bool,
}

impl Config {
    /// Whether `workload` was selected (all are, when none were named).
    pub fn wants(&self, workload: &str) -> bool {
        self.workloads.is_empty() || self.workloads.iter().any(|w| w == workload)
    }

    /// Whether implementation `imp` was selected (all are, when none were named).
    pub fn runs(&self, imp: &str) -> bool {
        self.impls.is_empty()
            || self.impls.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => imp.starts_with(prefix),
                None => p == imp,
            })
    }

    /// `full` in a full run, `quick` under `--quick`.
    pub fn scale(&self, full: u64, quick: u64) -> u64 {
        if self.quick { quick } else { full }
    }
}

/// One result row, exactly the schema of `--json` (ARCHITECTURE.md, benchmark contract).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Row {
    pub suite: String,
    pub workload: String,
    #[serde(rename = "impl")]
    pub imp: String,
    pub threads: usize,
    pub metric: String,
    pub value: f64,
    pub min: f64,
    pub max: f64,
    pub unit: String,
}

/// Median, min and max of repeated measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    /// Reduces samples to median/min/max. Panics on an empty slice or a NaN sample.
    pub fn of(samples: &[f64]) -> Stat {
        assert!(!samples.is_empty(), "Stat::of needs at least one sample");
        let mut v = samples.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).expect("NaN sample"));
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Stat {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    /// A single observation (median = min = max).
    pub fn single(x: f64) -> Stat {
        Stat {
            median: x,
            min: x,
            max: x,
        }
    }
}

/// Collects rows and prints each on stdout as one JSON line as soon as it is known.
pub struct Sink {
    suite: String,
    threads: usize,
    print: bool,
    rows: Vec<Row>,
}

impl Sink {
    /// A sink that prints rows (the runner's).
    pub fn new(suite: &str, threads: usize) -> Sink {
        Sink {
            suite: suite.to_string(),
            threads,
            print: true,
            rows: Vec::new(),
        }
    }

    /// A sink that only collects (for tests).
    pub fn quiet(suite: &str, threads: usize) -> Sink {
        Sink {
            print: false,
            ..Sink::new(suite, threads)
        }
    }

    /// Records one metric of one workload for one implementation.
    pub fn push(&mut self, workload: &str, imp: &str, metric: &str, unit: &str, s: Stat) {
        self.push_at(workload, imp, self.threads, metric, unit, s);
    }

    /// Like [`Sink::push`], for a workload whose thread count differs from the runner's
    /// (a single-threaded reference peer reports 1).
    pub fn push_at(
        &mut self,
        workload: &str,
        imp: &str,
        threads: usize,
        metric: &str,
        unit: &str,
        s: Stat,
    ) {
        let row = Row {
            suite: self.suite.clone(),
            workload: workload.to_string(),
            imp: imp.to_string(),
            threads,
            metric: metric.to_string(),
            value: s.median,
            min: s.min,
            max: s.max,
            unit: unit.to_string(),
        };
        if self.print {
            println!("{}", serde_json::to_string(&row).expect("row serializes"));
        }
        self.rows.push(row);
    }

    /// Rows recorded so far.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }
}

/// Measures every implementation `repeats` times, round-robin (one sample of each, then
/// the next round), so that a disturbance of the shared machine lands on all of them
/// alike instead of on whichever ran during it; returns median/min/max per implementation.
pub fn interleaved<'a>(
    impls: &[&'a str],
    repeats: usize,
    mut sample: impl FnMut(usize, &str) -> f64,
) -> Vec<(&'a str, Stat)> {
    let mut samples = vec![Vec::new(); impls.len()];
    for _ in 0..repeats.max(1) {
        for (i, &imp) in impls.iter().enumerate() {
            samples[i].push(sample(i, imp));
        }
    }
    impls
        .iter()
        .zip(samples)
        .map(|(&imp, v)| (imp, Stat::of(&v)))
        .collect()
}

/// Runs `f` `repeats` times and reduces the results.
pub fn repeat(repeats: usize, mut f: impl FnMut() -> f64) -> Stat {
    let samples: Vec<f64> = (0..repeats.max(1)).map(|_| f()).collect();
    Stat::of(&samples)
}

/// Runs `body(thread_index)` on `threads` scoped threads released together by a barrier,
/// and returns the wall time from the first thread's start to the last thread's end.
///
/// Each worker reads the clock itself, right after the barrier and right after its body:
/// a coordinating thread that read it instead could be descheduled past the workers' end
/// on a machine with fewer cores than threads.
pub fn run_parallel<F>(threads: usize, body: F) -> Duration
where
    F: Fn(usize) + Sync,
{
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, body) = (&barrier, &body);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    body(t);
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("benchmark thread panicked"))
            .collect()
    });
    let first = spans
        .iter()
        .map(|s| s.0)
        .min()
        .expect("at least one thread");
    let last = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("at least one thread");
    last - first
}

/// Aggregate throughput of `threads` threads each doing `ops_per_thread` operations.
pub fn ops_per_sec<F>(threads: usize, ops_per_thread: u64, body: F) -> f64
where
    F: Fn(usize) + Sync,
{
    let d = run_parallel(threads, body);
    (threads as u64 * ops_per_thread) as f64 / d.as_secs_f64()
}

/// Like [`run_parallel`], with a per-thread `setup` run before the barrier and a
/// `teardown` after the thread's clock stops: only `body` is timed (from the first
/// thread's start to the last thread's end), so that filling a working set or freeing it
/// is not charged to the operations measured.
pub fn run_parallel_with<S, F, B, T>(threads: usize, setup: F, body: B, teardown: T) -> Duration
where
    F: Fn(usize) -> S + Sync,
    B: Fn(usize, &mut S) + Sync,
    T: Fn(S) + Sync,
{
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, setup, body, teardown) = (&barrier, &setup, &body, &teardown);
                s.spawn(move || {
                    let mut st = setup(t);
                    barrier.wait();
                    let start = Instant::now();
                    body(t, &mut st);
                    let end = Instant::now();
                    teardown(st);
                    (start, end)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("benchmark thread panicked"))
            .collect()
    });
    let first = spans
        .iter()
        .map(|s| s.0)
        .min()
        .expect("at least one thread");
    let last = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("at least one thread");
    last - first
}

/// How many operations make one run of `run(ops) -> seconds` last about `target_s`: a
/// pilot doubles `ops` from `start` until a run lasts 2 ms, then scales. Every repeat of
/// a throughput measurement in a full run lasts at least 100 ms this way, long enough that
/// the VM's periodic losses of a few microseconds average out.
pub fn sized_ops(target_s: f64, start: u64, mut run: impl FnMut(u64) -> f64) -> u64 {
    let mut ops = start.max(1);
    loop {
        let secs = run(ops);
        if secs >= 0.002 || ops >= 1 << 40 {
            return ((ops as f64 * target_s / secs.max(1e-9)) as u64).max(start.max(1));
        }
        ops *= 2;
    }
}

/// Prints `ebb-bench: start WORKLOAD` on stderr as a workload starts, which the driver
/// shows when there is no terminal for its progress bar. Silent in a [`fresh_process`]
/// child (its parent announced the workload).
pub fn announce(cfg: &Config, workload: &str) {
    if !cfg.in_child {
        eprintln!("ebb-bench: start {workload} ({} thread(s))", cfg.threads);
    }
}

/// Runs `workload` of `suite` for the implementation `imp` in a fresh process (this
/// runner binary again, with `EBB_BENCH_CHILD=1`) with `repeats` repeats, and returns the
/// rows it printed. Memory figures need a process per implementation: one heap that
/// several impls ran in one after another carries each one's leftovers into the next.
pub fn fresh_process(
    cfg: &Config,
    suite: &str,
    workload: &str,
    imp: &str,
    repeats: usize,
) -> Result<Vec<Row>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--suite", suite, "--threads", &cfg.threads.to_string()])
        .args(["--repeats", &repeats.to_string(), "--workload", workload])
        .args(["--impl", imp])
        .env("EBB_BENCH_CHILD", "1")
        .stderr(std::process::Stdio::inherit());
    if cfg.quick {
        cmd.arg("--quick");
    }
    let out = cmd.output().map_err(|e| format!("starting a child: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "child for {workload}/{imp} exited with {}",
            out.status
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Row>(l).map_err(|e| format!("child row `{l}`: {e}")))
        .collect()
}

/// Reduces the rows of one (workload, impl, metric) from several processes: the median of
/// their medians, and the extremes of their ranges, so a cell's range is the spread
/// across processes as well as within each.
pub fn merge_processes(rows: &[Row]) -> Vec<Row> {
    let mut keys: Vec<(String, String, usize, String)> = Vec::new();
    for r in rows {
        let k = (
            r.workload.clone(),
            r.imp.clone(),
            r.threads,
            r.metric.clone(),
        );
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(w, i, t, m)| {
            let sel: Vec<&Row> = rows
                .iter()
                .filter(|r| r.workload == w && r.imp == i && r.threads == t && r.metric == m)
                .collect();
            let med = Stat::of(&sel.iter().map(|r| r.value).collect::<Vec<_>>()).median;
            let mut out = sel[0].clone();
            out.value = med;
            out.min = sel.iter().map(|r| r.min).fold(f64::INFINITY, f64::min);
            out.max = sel.iter().map(|r| r.max).fold(f64::NEG_INFINITY, f64::max);
            out
        })
        .collect()
}

/// Pushes an already reduced row (from a child process) into `sink`.
pub fn push_row(sink: &mut Sink, r: &Row) {
    sink.push_at(
        &r.workload,
        &r.imp,
        r.threads,
        &r.metric,
        &r.unit,
        Stat {
            median: r.value,
            min: r.min,
            max: r.max,
        },
    );
}

/// Gives the glibc heap's free pages back to the OS (`malloc_trim(0)`); a no-op elsewhere.
pub fn malloc_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only returns free heap pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Percentiles of a latency sample, in the sample's unit. Sorts `v` in place.
pub fn percentiles(v: &mut [u64], ps: &[f64]) -> Vec<u64> {
    assert!(!v.is_empty(), "percentiles of an empty sample");
    v.sort_unstable();
    ps.iter()
        .map(|p| {
            let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
            v[rank.min(v.len() - 1)]
        })
        .collect()
}

/// The process's resident set size now, in bytes (Linux `/proc/self/statm`); 0 elsewhere.
pub fn rss_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

/// The system page size.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

/// Resets the kernel's peak-RSS mark (`VmHWM`) to the current RSS, so that
/// [`peak_rss_bytes`] measures from here. Returns false where the kernel cannot.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak RSS since the process started or since the last successful [`reset_peak_rss`].
pub fn peak_rss_bytes() -> u64 {
    if let Ok(s) = std::fs::read_to_string("/proc/self/status") {
        for line in s.lines() {
            if let Some(rest) = line.strip_prefix("VmHWM:") {
                let kb: u64 = rest
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .unwrap_or(0);
                return kb * 1024;
            }
        }
    }
    0
}

/// Bytes to MiB, the unit of the `rss_*_mib` metrics.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_median_min_max() {
        assert_eq!(
            Stat::of(&[3.0, 1.0, 2.0]),
            Stat {
                median: 2.0,
                min: 1.0,
                max: 3.0
            }
        );
        assert_eq!(Stat::of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
    }

    #[test]
    fn percentiles_pick_ranks() {
        let mut v: Vec<u64> = (1..=1000).rev().collect();
        let p = percentiles(&mut v, &[50.0, 99.0, 100.0]);
        assert_eq!(p, vec![501, 990, 1000]);
    }

    #[test]
    fn run_parallel_runs_every_thread() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = AtomicUsize::new(0);
        run_parallel(3, |t| {
            hits.fetch_add(t + 1, Ordering::Relaxed);
        });
        assert_eq!(hits.load(Ordering::Relaxed), 1 + 2 + 3);
    }

    #[test]
    fn rss_grows_with_touched_memory() {
        let before = rss_bytes();
        let v = vec![1u8; 64 << 20];
        let after = rss_bytes();
        assert!(std::hint::black_box(&v)[12345] == 1);
        assert!(
            after >= before + (32 << 20),
            "rss {before} -> {after} after touching 64 MiB"
        );
    }

    #[test]
    fn impl_filter_matches_names_and_prefixes() {
        let mut cfg = Config {
            threads: 1,
            quick: true,
            repeats: 1,
            allocator: "system",
            workloads: vec![],
            impls: vec![],
            in_child: true,
        };
        assert!(cfg.runs("anything"));
        cfg.impls = vec!["ebb*".into(), "seize".into()];
        assert!(cfg.runs("ebb-ebr") && cfg.runs("ebb") && cfg.runs("seize"));
        assert!(!cfg.runs("crossbeam-epoch") && !cfg.runs("seize2"));
    }

    #[test]
    fn processes_merge_to_median_and_extremes() {
        let row = |v: f64, lo: f64, hi: f64| Row {
            suite: "s".into(),
            workload: "w".into(),
            imp: "i".into(),
            threads: 1,
            metric: "m".into(),
            value: v,
            min: lo,
            max: hi,
            unit: "ns".into(),
        };
        let m = merge_processes(&[row(2.0, 1.5, 2.5), row(4.0, 3.0, 9.0), row(3.0, 0.5, 3.5)]);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].value, m[0].min, m[0].max), (3.0, 0.5, 9.0));
    }

    #[test]
    fn sized_ops_scales_a_pilot_to_the_target() {
        // A run that costs 1 µs per op: 100 ms needs 100k ops.
        let n = sized_ops(0.1, 1000, |ops| ops as f64 * 1e-6);
        assert!((90_000..=110_000).contains(&n), "{n}");
    }

    #[test]
    fn sink_records_rows() {
        let mut s = Sink::quiet("x", 2);
        s.push("w", "ebb", "ops_per_sec", "ops/s", Stat::single(5.0));
        assert_eq!(s.rows()[0].threads, 2);
        assert_eq!(s.rows()[0].imp, "ebb");
        let json = serde_json::to_string(&s.rows()[0]).unwrap();
        assert!(json.contains("\"impl\":\"ebb\""));
    }
}
