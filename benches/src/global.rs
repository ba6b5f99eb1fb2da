//! The `global` suite: whole-program allocators, as a user swapping one in would see them.
//!
//! Rust workloads run in every runner (`ebb` = `EbbAlloc`, `system`, `jemalloc`,
//! `mimalloc`), so each row's `impl` is the runner's global allocator and each allocator
//! has a process of its own (peak RSS is the kernel's `VmHWM`, reset before each run):
//!
//! * `btree_churn`: each thread builds a `BTreeMap<u64, Vec<u8>>` (values 0..96 bytes) in
//!   scrambled key order, then drops it.
//! * `string_churn`: each thread builds a `Vec<String>` of mixed lengths (1..=200 bytes),
//!   shuffles it and drops it.
//! * `cross_thread_free`: `max(1, threads / 2)` producer/consumer pairs; producers
//!   allocate boxes of 16..=512 bytes in batches of 256 over a bounded channel, consumers
//!   check and free them, so every free is a cross-thread free.
//! * `rayon_mix`: a rayon pool of `threads` threads maps a range to small vectors of
//!   formatted strings, sums them, and sorts a vector of strings in parallel.
//! * `phase`: a request loop per thread. Each request builds about 256 KiB of
//!   temporaries (strings of 16..=512 bytes and a `BTreeMap` indexing them), keeps one
//!   string in a 64-entry cache that outlives the request (the oldest entry is freed),
//!   and drops the rest. Every runner runs it plainly; the `ebb` runner also runs it with
//!   each request inside `EbbAlloc::phase` (impl `ebb_phase`). Besides wall time and peak
//!   RSS it reports `end_rss_mb`, the RSS after the last request while the threads are
//!   still alive (what the process holds between bursts of requests).
//!
//! C workloads run only in the `system` runner: each is a C program in `benches/c/`,
//! compiled here with `cc -O2`, and run once per allocator as a child process under
//! `LD_PRELOAD` (`ebb` = `libebb_malloc.so`, `jemalloc` = Debian's `libjemalloc.so.2`,
//! `mimalloc` = Debian's `libmimalloc.so.2`, `system` = glibc, no preload). The program
//! reports its own wall time and peak RSS (`VmHWM`). Every allocator's
//! checksum must equal glibc's, or the suite fails. A shared library that cannot be found
//! gives a row with metric `missing` instead of figures.
//!
//! * `c_larson`: per-thread slot arrays with random replacement, rotated between threads
//!   every round (server-style churn, most frees cross-thread).
//! * `c_xmalloc`: one thread allocates batches, the others free them.
//! * `c_cache_scratch`: objects handed to threads, then small objects written hard.
//! * `c_realloc`: buffers grown by `realloc` in small random steps up to 1 MiB.

use crate::harness::{self, Config, Sink, Stat};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs the suite.
pub fn run(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    let repeats = if cfg.quick { 1 } else { cfg.repeats.min(3) };
    let t = cfg.threads;
    type Work = Box<dyn Fn() -> f64>;
    let rust: Vec<(&str, Work)> = vec![
        ("btree_churn", {
            let n = cfg.scale(200_000, 40_000) as usize;
            Box::new(move || btree_churn(t, n))
        }),
        ("string_churn", {
            let n = cfg.scale(400_000, 80_000) as usize;
            Box::new(move || string_churn(t, n))
        }),
        ("cross_thread_free", {
            let n = cfg.scale(1_000_000, 200_000) as usize;
            Box::new(move || cross_thread_free(t, n))
        }),
        ("rayon_mix", {
            let n = cfg.scale(400_000, 80_000) as usize;
            Box::new(move || rayon_mix(t, n))
        }),
    ];
    if cfg.wants("phase") {
        let n = cfg.scale(3000, 600) as usize;
        let mut variants = vec![(cfg.allocator, false)];
        if cfg.allocator == "ebb" {
            variants.push(("ebb_phase", true));
        }
        for (imp, scoped) in variants {
            if !cfg.runs(imp) {
                continue;
            }
            let (mut wall, mut peak, mut end) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..repeats {
                harness::reset_peak_rss();
                let (w, e) = phase_requests(t, n, scoped);
                wall.push(w);
                peak.push(harness::mb(harness::peak_rss_bytes()));
                end.push(harness::mb(e));
            }
            sink.push("phase", imp, "wall_s", "s", Stat::of(&wall));
            sink.push("phase", imp, "peak_rss_mb", "MB", Stat::of(&peak));
            sink.push("phase", imp, "end_rss_mb", "MB", Stat::of(&end));
        }
    }
    for (name, work) in rust {
        if !cfg.wants(name) {
            continue;
        }
        let mut wall = Vec::new();
        let mut peak = Vec::new();
        for _ in 0..repeats {
            harness::reset_peak_rss();
            wall.push(work());
            peak.push(harness::mb(harness::peak_rss_bytes()));
        }
        sink.push(name, cfg.allocator, "wall_s", "s", Stat::of(&wall));
        sink.push(name, cfg.allocator, "peak_rss_mb", "MB", Stat::of(&peak));
    }
    if cfg.allocator == "system" {
        c_workloads(cfg, repeats, sink)?;
    }
    Ok(())
}

/// One request: about 256 KiB of strings and a map over them; returns the survivor.
fn request(rng: &mut Rng, id: usize) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut index = BTreeMap::new();
    let mut bytes = 0;
    while bytes < 256 * 1024 {
        let len = 16 + (rng.next() % 497) as usize;
        let mut s = String::with_capacity(len);
        s.extend(std::iter::repeat_n(
            char::from(b'a' + (parts.len() % 26) as u8),
            len,
        ));
        index.insert(rng.next(), parts.len());
        parts.push(s);
        bytes += len;
    }
    let pick = *index.values().next().expect("non-empty request");
    let mut kept = std::mem::take(&mut parts[pick]);
    kept.push_str(&id.to_string());
    drop(black_box((parts, index)));
    kept
}

/// `requests` requests per thread, each in an `EbbAlloc::phase` when `scoped`; (wall
/// seconds, RSS after the last request with every thread still alive).
fn phase_requests(threads: usize, requests: usize, scoped: bool) -> (f64, u64) {
    let done = std::sync::Barrier::new(threads);
    let end_rss = std::sync::atomic::AtomicU64::new(0);
    let wall = harness::run_parallel(threads, |t| {
        let mut rng = Rng(0x9e37 + t as u64);
        let mut cache: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        for i in 0..requests {
            let kept = if scoped {
                ebb_slab::EbbAlloc::phase(|| request(&mut rng, i))
            } else {
                request(&mut rng, i)
            };
            if cache.len() == 64 {
                cache.pop_front();
            }
            cache.push_back(kept);
        }
        assert!(cache.iter().all(|s| s.len() >= 16));
        done.wait();
        if t == 0 {
            end_rss.store(harness::rss_bytes(), std::sync::atomic::Ordering::Relaxed);
        }
        done.wait();
    });
    (
        wall.as_secs_f64(),
        end_rss.load(std::sync::atomic::Ordering::Relaxed),
    )
}

fn btree_churn(threads: usize, entries: usize) -> f64 {
    harness::run_parallel(threads, |t| {
        let mut map = BTreeMap::new();
        let n = entries as u64;
        for i in 0..n {
            let k = (i.wrapping_mul(2_654_435_761) ^ t as u64) % n;
            map.insert(k, vec![k as u8; (k % 96) as usize]);
        }
        assert!(!map.is_empty());
        drop(black_box(map));
    })
    .as_secs_f64()
}

fn string_churn(threads: usize, n: usize) -> f64 {
    harness::run_parallel(threads, |t| {
        let mut rng = Rng(0x1234_5678 + t as u64);
        let mut v: Vec<String> = (0..n)
            .map(|i| {
                let len = 1 + (rng.next() % 200) as usize;
                let mut s = String::with_capacity(len);
                s.extend(std::iter::repeat_n(char::from(b'a' + (i % 26) as u8), len));
                s
            })
            .collect();
        for i in (1..v.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        let total: usize = v.iter().map(|s| s.len()).sum();
        assert!(total >= n);
        drop(black_box(v));
    })
    .as_secs_f64()
}

fn cross_thread_free(threads: usize, objects: usize) -> f64 {
    const BATCH: usize = 256;
    let pairs = (threads / 2).max(1);
    let batches = objects.div_ceil(BATCH);
    let chans: Vec<_> = (0..pairs)
        .map(|_| {
            let (tx, rx) = mpsc::sync_channel::<Vec<Box<[u8]>>>(4);
            (
                std::sync::Mutex::new(Some(tx)),
                std::sync::Mutex::new(Some(rx)),
            )
        })
        .collect();
    harness::run_parallel(pairs * 2, |t| {
        let (tx, rx) = &chans[t / 2];
        if t % 2 == 0 {
            let tx = tx.lock().unwrap().take().unwrap();
            let mut rng = Rng(77 + t as u64);
            for b in 0..batches {
                let batch: Vec<Box<[u8]>> = (0..BATCH)
                    .map(|i| {
                        let n = 16 + (rng.next() % 497) as usize;
                        vec![(b + i) as u8; n].into_boxed_slice()
                    })
                    .collect();
                tx.send(batch).expect("consumer alive");
            }
        } else {
            let rx = rx.lock().unwrap().take().unwrap();
            let mut got = 0;
            for (b, batch) in rx.iter().enumerate() {
                for (i, o) in batch.iter().enumerate() {
                    assert_eq!(o[0], (b + i) as u8);
                }
                got += batch.len();
                drop(batch);
            }
            assert_eq!(got, batches * BATCH);
        }
    })
    .as_secs_f64()
}

fn rayon_mix(threads: usize, n: usize) -> f64 {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool");
    let start = std::time::Instant::now();
    pool.install(|| {
        let total: usize = (0..n)
            .into_par_iter()
            .map(|i| {
                let v: Vec<String> = (0..i % 12).map(|k| format!("{i}-{k}")).collect();
                v.iter().map(|s| s.len()).sum::<usize>()
            })
            .sum();
        assert!(total > 0);
        let mut words: Vec<String> = (0..n / 4)
            .into_par_iter()
            .map(|i| format!("{:x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)))
            .collect();
        words.par_sort();
        assert!(words.windows(2).all(|w| w[0] <= w[1]));
    });
    start.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------
// C workloads under LD_PRELOAD.

const C_WORKLOADS: [&str; 4] = ["c_larson", "c_xmalloc", "c_cache_scratch", "c_realloc"];

/// The allocators for the C workloads: name and shared library (None = glibc).
fn c_allocators() -> Vec<(&'static str, Result<Option<PathBuf>, String>)> {
    let debian = |name: &str| -> Result<Option<PathBuf>, String> {
        for dir in [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
        ] {
            let p = Path::new(dir).join(name);
            if p.exists() {
                return Ok(Some(p));
            }
        }
        Err(format!(
            "{name} not found (apt-get install libjemalloc2 libmimalloc2.0)"
        ))
    };
    vec![
        ("ebb", ebb_malloc_so().map(Some)),
        ("system", Ok(None)),
        ("jemalloc", debian("libjemalloc.so.2")),
        ("mimalloc", debian("libmimalloc.so.2")),
    ]
}

/// libebb_malloc.so next to this runner, (re)built with `cargo build -p ebb-malloc` for the
/// runner's directory (a no-op when it is up to date), so a stale library is never
/// measured.
fn ebb_malloc_so() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("runner has no directory")?;
    let so = dir.join("libebb_malloc.so");
    let profile = dir
        .file_name()
        .and_then(|p| p.to_str())
        .ok_or("runner directory has no name")?;
    let profile = if profile == "debug" { "dev" } else { profile };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    // The runner's own target directory, with the flags it was built with (`cargo xtask
    // bench` adds the AES target feature, in a directory of its own, where the CPU has
    // it), so that this build neither lands elsewhere nor invalidates the runners.
    let target_dir = dir.parent().ok_or("runner directory has no parent")?;
    cmd.env("CARGO_TARGET_DIR", target_dir);
    if cfg!(target_feature = "aes") && std::env::var_os("RUSTFLAGS").is_none() {
        cmd.env("RUSTFLAGS", "-C target-feature=+aes,+sse2");
    }
    let st = cmd
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--profile", profile, "-p", "ebb-malloc"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cargo to build libebb_malloc.so: {e}"))?;
    if st.success() && so.exists() {
        Ok(so)
    } else {
        Err(format!(
            "libebb_malloc.so could not be built at {}",
            so.display()
        ))
    }
}

fn compile(name: &str) -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("c")
        .join(format!("{name}.c"));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe
        .parent()
        .ok_or("runner has no directory")?
        .join("global-c");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let bin = dir.join(name);
    let st = Command::new("cc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .map_err(|e| format!("cc is needed for the C workloads: {e}"))?;
    if !st.success() {
        return Err(format!("cc failed on {}", src.display()));
    }
    Ok(bin)
}

/// Runs one C workload child; (wall seconds it reports, peak RSS MiB, checksum).
fn run_child(
    bin: &Path,
    lib: Option<&Path>,
    args: &[String],
) -> Result<(f64, f64, String), String> {
    let mut cmd = Command::new(bin);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    match lib {
        Some(l) => cmd.env("LD_PRELOAD", l),
        None => cmd.env_remove("LD_PRELOAD"),
    };
    let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", bin.display()))?;
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .map_err(|e| e.to_string())?;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!(
            "{} under {:?} failed ({status}): {err}",
            bin.display(),
            lib
        ));
    }
    let field = |k: &str| {
        out.split_whitespace()
            .find_map(|f| f.strip_prefix(k))
            .map(str::to_string)
            .ok_or(format!("no {k} in output {out:?}"))
    };
    let wall: f64 = field("wall_s=")?
        .parse()
        .map_err(|e| format!("wall_s: {e}"))?;
    let peak_kb: f64 = field("peak_kb=")?
        .parse()
        .map_err(|e| format!("peak_kb: {e}"))?;
    if peak_kb <= 0.0 {
        return Err(format!("{}: no VmHWM in /proc/self/status", bin.display()));
    }
    Ok((wall, peak_kb / 1024.0, field("checksum=")?))
}

fn c_workloads(cfg: &Config, repeats: usize, sink: &mut Sink) -> Result<(), String> {
    let allocs = c_allocators();
    let t = cfg.threads.to_string();
    for name in C_WORKLOADS {
        if !cfg.wants(name) {
            continue;
        }
        let bin = compile(name)?;
        let scale = match name {
            "c_larson" => cfg.scale(10, 3),
            "c_xmalloc" => cfg.scale(4000, 800),
            "c_cache_scratch" => cfg.scale(40_000, 8000),
            _ => cfg.scale(2, 1),
        };
        let args = [t.clone(), scale.to_string()];
        let mut reference: Option<String> = None;
        // glibc first: its checksum is the reference.
        let order = [1usize, 0, 2, 3];
        for &i in &order {
            let (imp, lib) = &allocs[i];
            let lib = match lib {
                Ok(l) => l.as_deref(),
                Err(why) => {
                    eprintln!("MISSING: {name} under {imp}: {why}");
                    sink.push(name, imp, "missing", "MISSING", Stat::single(1.0));
                    continue;
                }
            };
            let mut wall = Vec::new();
            let mut peak = Vec::new();
            for _ in 0..repeats {
                let (w, p, sum) = run_child(&bin, lib, &args)?;
                match &reference {
                    None => reference = Some(sum),
                    Some(r) if *r != sum => {
                        return Err(format!(
                            "{name} under {imp}: checksum {sum}, glibc gave {r}"
                        ));
                    }
                    _ => {}
                }
                wall.push(w);
                peak.push(p);
            }
            sink.push(name, imp, "wall_s", "s", Stat::of(&wall));
            sink.push(name, imp, "peak_rss_mb", "MB", Stat::of(&peak));
        }
    }
    Ok(())
}
