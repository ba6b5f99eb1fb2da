//! The `alloc` suite: the process's global allocator under load.
//!
//! This suite runs once per runner binary, each of which installs a different global
//! allocator (`system`, `jemalloc`, `mimalloc`), so every row's `impl` is the runner's
//! allocator. Workloads:
//!
//! * `alloc_free_{16,64,256,1024,4096}`: each thread allocates a block of that size,
//!   writes one byte into it and frees it, in a tight loop. Metric `ops_per_sec`: one op is
//!   one alloc+free pair; the figure is summed over threads.
//! * `producer_consumer`: the threads form a ring; each allocates batches of 64-byte boxes
//!   and hands every batch to the next thread, which frees it. So every free is a remote
//!   free, except at one thread, where the ring closes on itself. Metric `ops_per_sec`:
//!   objects allocated and freed per second, summed over threads.
//! * `btree_churn`: every thread builds its own `BTreeMap<String, Vec<u8>>` of a million
//!   entries (100 000 under `--quick`) in a scrambled key order, with values of 0 to 63
//!   bytes, then drops it. Metrics `wall_s` (build and drop, slowest thread) and
//!   `peak_rss_mb` (the kernel's high-water mark, reset before each run).

use crate::harness::{self, Config, Sink, Stat};
use std::alloc::{Layout, alloc, dealloc};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::mpsc;

/// Block sizes of the `alloc_free_*` workloads.
pub const SIZES: [usize; 5] = [16, 64, 256, 1024, 4096];

/// Runs the suite.
pub fn run(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    for size in SIZES {
        let w = format!("alloc_free_{size}");
        if cfg.wants(&w) {
            let ops = cfg.scale(4_000_000, 200_000);
            let s = harness::repeat(cfg.repeats, || alloc_free(cfg.threads, size, ops));
            sink.push(&w, cfg.allocator, "ops_per_sec", "ops/s", s);
        }
    }
    if cfg.wants("producer_consumer") {
        let objects = cfg.scale(2_000_000, 100_000);
        let s = harness::repeat(cfg.repeats, || producer_consumer(cfg.threads, objects));
        sink.push(
            "producer_consumer",
            cfg.allocator,
            "ops_per_sec",
            "ops/s",
            s,
        );
    }
    if cfg.wants("btree_churn") {
        let entries = cfg.scale(1_000_000, 100_000) as usize;
        let repeats = if cfg.quick { 1 } else { cfg.repeats.min(3) };
        let mut wall = Vec::new();
        let mut peak = Vec::new();
        for _ in 0..repeats {
            let (w, p) = btree_churn(cfg.threads, entries);
            wall.push(w);
            peak.push(p);
        }
        sink.push("btree_churn", cfg.allocator, "wall_s", "s", Stat::of(&wall));
        sink.push(
            "btree_churn",
            cfg.allocator,
            "peak_rss_mb",
            "MB",
            Stat::of(&peak),
        );
    }
    Ok(())
}

/// Throughput of `threads` threads each doing `ops` alloc+free pairs of `size` bytes.
pub fn alloc_free(threads: usize, size: usize, ops: u64) -> f64 {
    let layout = Layout::from_size_align(size, 8).expect("valid layout");
    harness::ops_per_sec(threads, ops, |_| {
        for i in 0..ops {
            // SAFETY: `layout` has a non-zero size; the pointer is checked for null,
            // written within its `size` bytes and freed once with the same layout.
            unsafe {
                let p = alloc(layout);
                assert!(!p.is_null(), "allocation of {size} bytes failed");
                p.write(i as u8);
                black_box(p);
                dealloc(p, layout);
            }
        }
    })
}

/// Objects per batch handed from one thread to the next in `producer_consumer`.
const BATCH: usize = 256;

/// Throughput of a ring of `threads` threads, each allocating `objects` 64-byte boxes in
/// batches and freeing the batches its predecessor sends it.
pub fn producer_consumer(threads: usize, objects: u64) -> f64 {
    let batches = (objects as usize).div_ceil(BATCH);
    let mut senders = Vec::with_capacity(threads);
    let mut receivers = Vec::with_capacity(threads);
    for _ in 0..threads {
        // Two batches in flight per link keep both ends busy without unbounded queues.
        let (tx, rx) = mpsc::sync_channel::<Vec<Box<[u8; 64]>>>(2);
        senders.push(tx);
        receivers.push(std::sync::Mutex::new(Some(rx)));
    }
    let d = harness::run_parallel(threads, |t| {
        let tx = senders[(t + 1) % threads].clone();
        let rx = receivers[t]
            .lock()
            .expect("receiver lock")
            .take()
            .expect("each receiver is taken once");
        let mut freed = 0usize;
        for b in 0..batches {
            let batch: Vec<Box<[u8; 64]>> =
                (0..BATCH).map(|i| Box::new([(b + i) as u8; 64])).collect();
            tx.send(batch).expect("successor alive");
            let got = rx.recv().expect("predecessor alive");
            freed += black_box(&got).len();
            drop(got);
        }
        assert_eq!(freed, batches * BATCH);
    });
    (threads * batches * BATCH) as f64 / d.as_secs_f64()
}

/// Builds and drops one map per thread; returns (wall seconds, peak RSS in MiB).
pub fn btree_churn(threads: usize, entries: usize) -> (f64, f64) {
    harness::reset_peak_rss();
    let d = harness::run_parallel(threads, |t| {
        let mut map = BTreeMap::new();
        // A multiplier coprime with any power-of-ten `entries` scrambles the insert order.
        let n = entries as u64;
        for i in 0..n {
            let k = (i.wrapping_mul(2_654_435_761) ^ t as u64) % n;
            let value = vec![k as u8; (k % 64) as usize];
            map.insert(format!("key-{k:010}"), value);
        }
        assert!(map.len() as u64 <= n && !map.is_empty());
        drop(black_box(map));
    });
    (d.as_secs_f64(), harness::mb(harness::peak_rss_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(threads: usize) -> Config {
        Config {
            threads,
            quick: true,
            repeats: 1,
            allocator: "system",
            workloads: vec![],
            impls: vec![],
            in_child: true,
        }
    }

    #[test]
    fn alloc_free_reports_positive_throughput() {
        assert!(alloc_free(2, 64, 10_000) > 0.0);
    }

    #[test]
    fn producer_consumer_frees_what_it_allocates() {
        assert!(producer_consumer(3, 2_000) > 0.0);
        assert!(producer_consumer(1, 2_000) > 0.0);
    }

    #[test]
    fn btree_churn_peak_rss_reflects_the_map() {
        let (wall, peak) = btree_churn(1, 50_000);
        assert!(wall > 0.0);
        // 50k entries of key + value cost several MiB: the peak cannot be below that.
        assert!(peak > 4.0, "peak {peak} MiB");
    }

    #[test]
    fn selected_workloads_only() {
        let mut cfg = quick(1);
        cfg.workloads = vec!["alloc_free_16".into()];
        let mut sink = Sink::quiet("alloc", 1);
        run(&cfg, &mut sink).unwrap();
        assert_eq!(sink.rows().len(), 1);
        assert_eq!(sink.rows()[0].workload, "alloc_free_16");
        assert_eq!(sink.rows()[0].metric, "ops_per_sec");
    }
}
