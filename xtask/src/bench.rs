//! `cargo xtask bench`: builds the runner binaries of `benches/`, runs one child process
//! per (suite, global allocator, thread count) and one more per variant (a suite's
//! `-nomb` rows: the same workloads with an environment variable set), collects the rows
//! they print, and writes the tables, plots and JSON under `target/bench/`, or over the
//! published `docs/benchmarks/` with `--publish`.

use crate::machine::{self, Machine};
use crate::{plot, project_root, report};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Suite to run (repeatable); all suites when absent.
    #[arg(long = "suite", value_name = "NAME")]
    suites: Vec<String>,
    /// Thread counts to sweep; counts above the machine's cores are run and labelled
    /// as oversubscribed. Default: powers of two up to twice the cores (1,2,4 on 2
    /// cores, 1,2,...,32 on 16), so that a full run stays bounded on a small machine
    /// and still shows one oversubscribed step.
    #[arg(long, value_delimiter = ',')]
    threads: Vec<usize>,
    /// Short runs (seconds per suite), for CI smoke tests.
    #[arg(long)]
    quick: bool,
    /// Also write every row, with the machine, to this JSON file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Repetitions of each measurement (default: 5, or 3 with --quick).
    #[arg(long)]
    repeats: Option<usize>,
    /// Only these workloads (repeatable).
    #[arg(long = "workload", value_name = "NAME")]
    workloads: Vec<String>,
    /// Also rewrite the published results in docs/benchmarks/ (a full run only);
    /// without it, results are written under target/bench/ and the checkout is untouched.
    #[arg(long)]
    publish: bool,
    /// Run with a competing CPU-bound process per core, started and stopped by the
    /// driver, to see how each implementation degrades under load. Published as
    /// `<suite>-noisy.md`.
    #[arg(long)]
    noisy: bool,
}

/// One row, as the runners print it and as `--json` stores it.
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

/// A suite as the driver knows it.
pub struct Suite {
    pub name: &'static str,
    /// Runner binaries (one per global allocator) that run this suite.
    pub runners: &'static [&'static str],
    /// The reference for ratio columns when no `ebb*` implementation is in a table.
    pub baseline: &'static str,
    /// What the suite measures, printed above its tables.
    pub about: &'static str,
    /// Extra children per (runner, thread count): the same suite with environment
    /// variables set, for rows whose impl names get a suffix.
    pub variants: &'static [Variant],
    /// How a workload's thread count reads where it is not "threads running the
    /// workload": `{t}` is replaced by the count (e.g. `{t} writers + 1 reader`).
    pub thread_labels: &'static [(&'static str, &'static str)],
    /// Workloads measured in [`SPREAD_PROCESSES`] fresh processes per (runner, thread
    /// count) instead of one: a cell's value is the median of the processes' medians and
    /// its range spans every repeat of every process, so the spread across processes
    /// (heap layout, page placement, where the kernel put the threads) shows in the table.
    pub process_spread: &'static [&'static str],
}

/// How many fresh processes measure each workload of [`Suite::process_spread`].
pub const SPREAD_PROCESSES: usize = 3;

/// A variant child: `env` set, only the impls matching `impls` (a `*` suffix is a prefix
/// match) and only `workloads`; every row's impl gets `suffix`.
pub struct Variant {
    pub suffix: &'static str,
    pub env: &'static [(&'static str, &'static str)],
    pub impls: &'static str,
    pub workloads: &'static [&'static str],
}

/// The runs without `membarrier`: ebb's rows again with `EBB_SMR_NO_MEMBARRIER=1` (ebb-smr's
/// readers use a full fence instead of the light one) and `EBB_SLAB_NO_BIAS=1` (ebb-slab's
/// checked free elects with a CAS instead of the biased store).
const NO_MEMBARRIER_ENV: &[(&str, &str)] =
    &[("EBB_SMR_NO_MEMBARRIER", "1"), ("EBB_SLAB_NO_BIAS", "1")];

pub const SUITES: &[Suite] = &[
    Suite {
        name: "alloc",
        runners: &["ebb", "system", "jemalloc", "mimalloc"],
        baseline: "system",
        about: "The process's global allocator under load; one child process per \
                allocator. `alloc_free_N`: tight alloc+free pairs of N bytes per thread \
                (ops summed over threads). `producer_consumer`: a ring of threads, each \
                allocating 64-byte boxes in batches of 256 that the next thread frees. \
                `btree_churn`: each thread builds and drops its own \
                `BTreeMap<String, Vec<u8>>` of 1M entries (100k with --quick). \
                `ebb` is ebb-slab's `EbbAlloc`.",
        variants: &[],
        thread_labels: &[],
        process_spread: &[],
    },
    Suite {
        name: "smr",
        runners: &["system"],
        baseline: "crossbeam-epoch",
        about: "Safe memory reclamation: ebb's QSBR, EBR and hazard pointers against \
                crossbeam-epoch, haphazard, seize, arc-swap and a std RwLock. \
                `protected_read_kN`: N reads per read section (QSBR quiescent, EBR and \
                crossbeam pinned, seize entered once per N; hazard pointers protect every \
                read); `plain-load` is the unprotected floor. Rows ending in `-nomb` ran \
                with `EBB_SMR_NO_MEMBARRIER=1` (no membarrier-based fences). See \
                docs/benchmarks/notes/smr.md and docs/benchmarks/methodology.md.",
        variants: &[Variant {
            suffix: "-nomb",
            env: NO_MEMBARRIER_ENV,
            impls: "ebb*",
            workloads: &[
                "protected_read_k1",
                "protected_read_k10",
                "protected_read_k100",
                "protected_read_k1000",
                "read_under_writes",
            ],
        }],
        thread_labels: &[
            ("retire_reclaim", "{t} writers + 1 reader"),
            ("reclaim_latency", "{t} writers + 1 reader"),
            ("read_under_writes", "{t} readers + 1 writer"),
            ("stalled_reader_garbage", "{t} writers + 1 stalled reader"),
        ],
        process_spread: &["protected_read_k1", "protected_read_k10"],
    },
    Suite {
        name: "slab",
        runners: &["system"],
        baseline: "mimalloc",
        about: "ebb-slab against allocators called directly (mimalloc through its heap \
                API and through GlobalAlloc, jemalloc, system), sharded-slab, and the \
                single-threaded slab, slotmap, thunderdome and generational-arena. \
                Latencies count the timer (`*_net_ns` subtract its median, a second \
                column, never the headline). Memory rows (`churn_close`, `close_live`) \
                come from one fresh process per impl and repeat, in absolute MiB. Rows \
                ending in `-nomb` ran with `EBB_SLAB_NO_BIAS=1` (the checked free's CAS \
                election, no membarrier). See docs/benchmarks/notes/slab.md and \
                docs/benchmarks/methodology.md.",
        variants: &[Variant {
            suffix: "-nomb",
            env: NO_MEMBARRIER_ENV,
            impls: "ebb",
            workloads: &["hot_pair_64", "alloc_free_ws_100k", "handle_mix_90"],
        }],
        thread_labels: &[("get_under_remove", "{t} (1 remover)")],
        process_spread: &["hot_pair_64", "alloc_free_ws_100k"],
    },
    Suite {
        name: "sync",
        runners: &["system"],
        baseline: "mutex",
        about: "ebb-sync's collections against their peers: intern tables (lasso, dashmap, \
                locked maps), read-mostly maps (dashmap, papaya), RCU reads (arc-swap), \
                queues (crossbeam SegQueue), the work-stealing deque (crossbeam-deque), \
                the Treiber stack, and the executor against rayon. See docs/sync.md.",
        variants: &[],
        thread_labels: &[],
        process_spread: &[],
    },
    Suite {
        name: "trie",
        runners: &["system", "jemalloc", "ebb"],
        baseline: "pathmap",
        about: "ebb-trie's PathMap against the pathmap crate, BTreeMap, HashMap and qp-trie \
                (point operations on random, URL-like, s-expression and dense keys at 10k \
                and 1M keys; clone; memory per key, one child process per impl; trie \
                algebra; the file form; parallel gets and inserts), and its SharedMapping \
                interner against lasso and dashmap. Only parallel_insert runs under the \
                jemalloc and ebb (EbbAlloc) runners. See benches/src/trie.rs for each workload.",
        variants: &[],
        thread_labels: &[],
        process_spread: &[],
    },
    Suite {
        name: "region",
        runners: &["system"],
        baseline: "naive",
        about: "ebb-region: bump allocation against bumpalo, typed-arena and Box; four \
                tether strategies; transmigration of 1M-object lists, trees, DAGs, cyclic \
                and scattered graphs against a naive copier, Box/Rc deep clones and memcpy; \
                adopt and splice; the Lisp on regions against the same evaluator on Rc. \
                See docs/region.md.",
        variants: &[],
        thread_labels: &[],
        process_spread: &[],
    },
    Suite {
        name: "global",
        runners: &["ebb", "system", "jemalloc", "mimalloc"],
        baseline: "mimalloc",
        about: "Whole-program allocators: `ebb` is `EbbAlloc` (Rust rows) and \
                `libebb_malloc.so` under LD_PRELOAD (`c_*` rows, run from the system \
                runner against Debian's libjemalloc2 and libmimalloc2.0 and glibc). One \
                process per allocator; `wall_s` for a fixed amount of work and \
                `peak_rss_mb` (VmHWM of the process or C child); `phase` adds `end_rss_mb` \
                and the `ebb_phase` rows (each request in `EbbAlloc::phase`). See \
                benches/src/global.rs for each workload.",
        variants: &[],
        thread_labels: &[],
        process_spread: &[],
    },
];

pub fn run(mut args: BenchArgs) -> Result<(), String> {
    let suites: Vec<&Suite> = if args.suites.is_empty() {
        SUITES.iter().collect()
    } else {
        args.suites
            .iter()
            .map(|n| {
                SUITES.iter().find(|s| s.name == n).ok_or_else(|| {
                    let known: Vec<_> = SUITES.iter().map(|s| s.name).collect();
                    format!("unknown suite `{n}` (known: {})", known.join(", "))
                })
            })
            .collect::<Result<_, _>>()?
    };
    let machine = Machine::detect();
    if args.threads.is_empty() {
        args.threads = default_threads(machine.cores);
    }
    if args.threads.contains(&0) {
        return Err("--threads needs positive counts, e.g. --threads 1,2,4,8".into());
    }
    let repeats = args.repeats.unwrap_or(if args.quick { 3 } else { 5 });
    if repeats == 0 {
        return Err("--repeats must be at least 1".into());
    }

    if args.publish && args.quick {
        return Err("--publish needs a full run (without --quick)".into());
    }

    let started = std::time::Instant::now();
    let load_start = machine::load_average();
    let profile = if args.quick { "release" } else { "bench" };
    // The revision the runners are built from: read before the build, since the tree may
    // move on while a long run goes.
    let revision = machine::git_revision();
    eprintln!("building bench runners (profile `{profile}`) at {revision}...");
    let (runners, rustflags) = build_runners(profile)?;
    let _noise = if args.noisy {
        Some(Noise::start(machine.cores)?)
    } else {
        None
    };

    let steps: usize = suites
        .iter()
        .map(|s| s.runners.len() * args.threads.len() * (1 + s.variants.len()))
        .sum();
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        ProgressBar::new(steps as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let progress = Progress {
        bar: bar.clone(),
        tty,
        started,
    };

    let mut rows: Vec<Row> = Vec::new();
    let mut failures = Vec::new();
    for suite in &suites {
        for runner in suite.runners {
            let exe = runners
                .get(*runner)
                .ok_or_else(|| format!("runner ebb-bench-{runner} was not built"))?;
            for &t in &args.threads {
                let mut children = vec![ChildSpec {
                    label: String::new(),
                    env: &[],
                    impls: None,
                    workloads: args.workloads.clone(),
                    suffix: "",
                }];
                for v in suite.variants {
                    let workloads: Vec<String> = v
                        .workloads
                        .iter()
                        .filter(|w| {
                            args.workloads.is_empty() || args.workloads.iter().any(|a| a == *w)
                        })
                        .map(|w| w.to_string())
                        .collect();
                    if !workloads.is_empty() {
                        children.push(ChildSpec {
                            label: format!(" ({} rows)", v.suffix),
                            env: v.env,
                            impls: Some(v.impls),
                            workloads,
                            suffix: v.suffix,
                        });
                    }
                }
                let spread: Vec<String> = suite
                    .process_spread
                    .iter()
                    .filter(|w| args.workloads.is_empty() || args.workloads.iter().any(|a| a == *w))
                    .map(|w| w.to_string())
                    .collect();
                for (i, c) in children.iter().enumerate() {
                    let what = format!("{} on {runner}, {t} thread(s){}", suite.name, c.label);
                    progress.say(&format!("suite {what}"));
                    bar.set_message(what);
                    let mut got =
                        match run_child(exe, suite.name, t, repeats, args.quick, c, &progress) {
                            Ok(r) => r,
                            Err(e) => {
                                bar.suspend(|| {
                                    eprintln!("suite {} ({runner}, {t}t): {e}", suite.name)
                                });
                                failures.push(format!("{} ({runner}, {t} threads)", suite.name));
                                bar.inc(1);
                                continue;
                            }
                        };
                    // The plain child measured the spread workloads once; more fresh
                    // processes measure them again and the cells are merged.
                    if i == 0 && !spread.is_empty() {
                        let again = ChildSpec {
                            label: " (another process)".into(),
                            env: &[],
                            impls: None,
                            workloads: spread.clone(),
                            suffix: "",
                        };
                        let mut runs = vec![got.clone()];
                        for _ in 1..SPREAD_PROCESSES {
                            progress.say(&format!(
                                "suite {} on {runner}, {t} thread(s){}",
                                suite.name, again.label
                            ));
                            match run_child(
                                exe, suite.name, t, repeats, args.quick, &again, &progress,
                            ) {
                                Ok(r) => runs.push(r),
                                Err(e) => {
                                    bar.suspend(|| {
                                        eprintln!("suite {} ({runner}, {t}t): {e}", suite.name)
                                    });
                                    failures
                                        .push(format!("{} ({runner}, {t} threads)", suite.name));
                                }
                            }
                        }
                        got = merge_processes(&runs, &spread);
                    }
                    rows.extend(got.into_iter().map(|mut r| {
                        r.imp.push_str(c.suffix);
                        r
                    }));
                    bar.inc(1);
                }
            }
        }
    }
    bar.finish_and_clear();
    drop(_noise);

    let ctx = report::Context {
        machine: machine.clone(),
        revision,
        date: machine::utc_now(),
        repeats,
        quick: args.quick,
        threads: args.threads.clone(),
        noisy: args.noisy,
        load: format!(
            "{load_start} at start, {} at end (1, 5, 15 min; `/proc/loadavg`)",
            machine::load_average()
        ),
        wall: format!("{:.1} min", started.elapsed().as_secs_f64() / 60.0),
        rustflags,
    };
    let out_dir = project_root().join("target").join("bench");
    let tag = if args.noisy { "-noisy" } else { "" };
    for suite in &suites {
        let suite_rows: Vec<&Row> = rows.iter().filter(|r| r.suite == suite.name).collect();
        if suite_rows.is_empty() {
            continue;
        }
        println!("{}", report::markdown(suite, &suite_rows, &ctx, None));
        write_docs(&out_dir, suite, tag, &suite_rows, &ctx)?;
        if args.publish {
            let dir = project_root().join("docs").join("benchmarks");
            write_docs(&dir, suite, tag, &suite_rows, &ctx)?;
        }
    }
    let json = args
        .json
        .clone()
        .unwrap_or_else(|| out_dir.join(format!("results{tag}.json")));
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    report::write_json(&json, &ctx, &rows)?;
    eprintln!(
        "wrote {} rows to {}; tables and plots in {}{} ({})",
        rows.len(),
        json.display(),
        out_dir.display(),
        if args.publish {
            " and docs/benchmarks/"
        } else {
            " (docs/benchmarks/ untouched; --publish rewrites it)"
        },
        ctx.wall
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} run(s) failed: {}",
            failures.len(),
            failures.join(", ")
        ))
    }
}

/// Merges the rows of several processes that ran the same child: rows of the `spread`
/// workloads become one row per (workload, impl, threads, metric) whose value is the
/// median of the processes' values and whose range spans all their ranges; every other
/// row is taken from the first process, which is the only one that ran it.
fn merge_processes(runs: &[Vec<Row>], spread: &[String]) -> Vec<Row> {
    let is_spread = |r: &Row| spread.contains(&r.workload);
    let mut out: Vec<Row> = Vec::new();
    for r in runs.first().into_iter().flatten() {
        if !is_spread(r) {
            out.push(r.clone());
            continue;
        }
        let same: Vec<&Row> = runs
            .iter()
            .flatten()
            .filter(|o| {
                o.workload == r.workload
                    && o.imp == r.imp
                    && o.threads == r.threads
                    && o.metric == r.metric
            })
            .collect();
        let mut values: Vec<f64> = same.iter().map(|o| o.value).collect();
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let value = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        out.push(Row {
            value,
            min: same.iter().map(|o| o.min).fold(f64::INFINITY, f64::min),
            max: same.iter().map(|o| o.max).fold(f64::NEG_INFINITY, f64::max),
            ..r.clone()
        });
    }
    out
}

/// One child of a (suite, runner, thread count): the plain run or a variant.
struct ChildSpec {
    label: String,
    env: &'static [(&'static str, &'static str)],
    impls: Option<&'static str>,
    workloads: Vec<String>,
    suffix: &'static str,
}

/// Where progress goes: the bar on a terminal, one line per step on a pipe or file.
struct Progress {
    bar: ProgressBar,
    tty: bool,
    started: std::time::Instant,
}

impl Progress {
    fn say(&self, line: &str) {
        if self.tty {
            self.bar.set_message(line.to_string());
        } else {
            let s = self.started.elapsed().as_secs();
            eprintln!("[{:02}:{:02}] {line}", s / 60, s % 60);
        }
    }
}

/// The competing load of `--noisy`: one CPU-bound process per core (`xtask spin`),
/// killed when dropped.
struct Noise(Vec<std::process::Child>);

impl Noise {
    fn start(cores: usize) -> Result<Noise, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut kids = Vec::new();
        for _ in 0..cores {
            let c = Command::new(&exe)
                .arg("spin")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .map_err(|e| format!("starting a noise process: {e}"))?;
            kids.push(c);
        }
        eprintln!("--noisy: {cores} CPU-bound process(es) running beside the benchmarks");
        Ok(Noise(kids))
    }
}

impl Drop for Noise {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn write_docs(
    dir: &Path,
    suite: &Suite,
    tag: &str,
    rows: &[&Row],
    ctx: &report::Context,
) -> Result<(), String> {
    let name = format!("{}{tag}", suite.name);
    let plot_dir = dir.join(&name);
    std::fs::create_dir_all(&plot_dir).map_err(|e| format!("{}: {e}", plot_dir.display()))?;
    let plots = plot::write_all(suite, &name, rows, &plot_dir, ctx)?;
    let notes_path = project_root()
        .join("docs")
        .join("benchmarks")
        .join("notes")
        .join(format!("{name}.md"));
    let notes = std::fs::read_to_string(&notes_path).ok();
    let md = report::markdown(suite, rows, ctx, Some((&plots, notes.as_deref())));
    let path = dir.join(format!("{name}.md"));
    std::fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {} and {} plot(s)", path.display(), plots.len());
    Ok(())
}

/// The default sweep: powers of two from 1 to twice `cores` (at least 1 and 2).
fn default_threads(cores: usize) -> Vec<usize> {
    let top = (2 * cores).max(2);
    std::iter::successors(Some(1usize), |t| Some(t * 2))
        .take_while(|&t| t <= top)
        .collect()
}

/// Code alignment for every Rust crate in the runners, ebb's and the peers' alike: each
/// loop starts on a 64-byte boundary, so a loop of up to 64 bytes sits in one line of
/// instruction fetch. LLVM aligns loops to 16 bytes by default, and then whether a short
/// hot loop straddles a 64-byte line depends on where the linker happens to place it: on
/// the AMD EPYC hosts measured, a five-instruction read loop that straddles one takes two
/// cycles an iteration instead of one, which doubles a `protected_read_k100` row at the
/// plain-load floor between two builds of the same source (`docs/benchmarks/methodology.md`,
/// "Code alignment at the floor"). The C peers (jemalloc, mimalloc) keep their own build
/// scripts' flags.
const LOOP_ALIGN: &str = "-C llvm-args=-align-loops=64";

/// Builds the runner binaries and returns them by allocator name
/// (`ebb-bench-jemalloc` → `jemalloc`).
///
/// Where `RUSTFLAGS` is unset, the runners are built with [`LOOP_ALIGN`] and, where the
/// CPU has AES instructions, `-C target-feature=+aes,+sse2` (in `target/bench-build`, so
/// that the flags do not invalidate the workspace's own build): the `pathmap` peer's
/// hasher refuses to build without AES, and the `trie` suite has no `pathmap` rows then.
/// A user who sets `RUSTFLAGS` gets exactly those flags. Returns the flags with the
/// runners, for the report.
fn build_runners(profile: &str) -> Result<(BTreeMap<String, PathBuf>, String), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if std::env::var_os("RUSTFLAGS").is_none() {
        let mut flags = String::from(LOOP_ALIGN);
        if cpu_has_aes() {
            flags.push_str(" -C target-feature=+aes,+sse2");
        } else {
            eprintln!(
                "note: this CPU has no AES instructions; the trie suite runs without pathmap"
            );
        }
        cmd.env("RUSTFLAGS", &flags).env(
            "CARGO_TARGET_DIR",
            project_root().join("target/bench-build"),
        );
        rustflags = flags;
    }
    let mut child = cmd
        .current_dir(project_root())
        .args(["build", "--profile", profile, "-p", "ebb-benches", "--bins"])
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut out)
        .map_err(|e| format!("reading cargo output: {e}"))?;
    let status = child.wait().map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err("building the bench runners failed (see above)".into());
    }
    let mut runners = BTreeMap::new();
    for line in out.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(name), Some(exe)) = (
            msg.pointer("/target/name").and_then(|v| v.as_str()),
            msg.get("executable").and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        if let Some(alloc) = name.strip_prefix("ebb-bench-") {
            runners.insert(alloc.to_string(), PathBuf::from(exe));
        }
    }
    Ok((runners, rustflags))
}

/// Whether `/proc/cpuinfo` lists the `aes` flag (x86 AES-NI).
fn cpu_has_aes() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| {
        c.lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "aes"))
    }) && cfg!(target_arch = "x86_64")
}

/// Runs one child and parses its rows; its stderr is shown only when it fails, except
/// the `ebb-bench: start` lines, which report progress as they come.
fn run_child(
    exe: &Path,
    suite: &str,
    threads: usize,
    repeats: usize,
    quick: bool,
    spec: &ChildSpec,
    progress: &Progress,
) -> Result<Vec<Row>, String> {
    let mut cmd = Command::new(exe);
    cmd.args(["--suite", suite, "--threads", &threads.to_string()])
        .args(["--repeats", &repeats.to_string()]);
    if quick {
        cmd.arg("--quick");
    }
    for w in &spec.workloads {
        cmd.args(["--workload", w]);
    }
    if let Some(i) = spec.impls {
        cmd.args(["--impl", i]);
    }
    for (k, v) in spec.env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let stderr = child.stderr.take().expect("piped stderr");
    let (bar, tty, started, suffix, suite) = (
        progress.bar.clone(),
        progress.tty,
        progress.started,
        spec.suffix,
        suite.to_string(),
    );
    let err_reader = std::thread::spawn(move || {
        let p = Progress { bar, tty, started };
        let mut s = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match line.strip_prefix("ebb-bench: start ") {
                Some(w) => p.say(&format!("  {suite} {w}{suffix}")),
                None => {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        }
        s
    });
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line.map_err(|e| format!("reading runner output: {e}"))?;
        match serde_json::from_str::<Row>(&line) {
            Ok(r) => rows.push(r),
            Err(_) => bad.push(line),
        }
    }
    let status = child.wait().map_err(|e| format!("runner: {e}"))?;
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("runner exited with {status}: {}", err.trim()));
    }
    if !bad.is_empty() {
        return Err(format!("runner printed non-row lines: {:?}", bad));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(workload: &str, imp: &str, value: f64, min: f64, max: f64) -> Row {
        Row {
            suite: "s".into(),
            workload: workload.into(),
            imp: imp.into(),
            threads: 1,
            metric: "p999_ns".into(),
            value,
            min,
            max,
            unit: "ns".into(),
        }
    }

    #[test]
    fn default_sweep_goes_to_twice_the_cores() {
        assert_eq!(default_threads(1), vec![1, 2]);
        assert_eq!(default_threads(2), vec![1, 2, 4]);
        assert_eq!(default_threads(3), vec![1, 2, 4]);
        assert_eq!(default_threads(16), vec![1, 2, 4, 8, 16, 32]);
    }

    #[test]
    fn spread_rows_merge_across_processes_and_others_pass_through() {
        let runs = vec![
            vec![
                row("ws", "ebb", 10.0, 9.0, 11.0),
                row("ws", "mimalloc", 20.0, 19.0, 21.0),
                row("other", "ebb", 5.0, 4.0, 6.0),
            ],
            vec![
                row("ws", "ebb", 30.0, 25.0, 40.0),
                row("ws", "mimalloc", 22.0, 18.0, 23.0),
            ],
            vec![
                row("ws", "ebb", 12.0, 8.0, 13.0),
                row("ws", "mimalloc", 21.0, 20.0, 22.0),
            ],
        ];
        let merged = merge_processes(&runs, &["ws".to_string()]);
        assert_eq!(merged.len(), 3);
        // Median of the three processes' medians, range over all of them.
        assert_eq!(merged[0], row("ws", "ebb", 12.0, 8.0, 40.0));
        assert_eq!(merged[1], row("ws", "mimalloc", 21.0, 18.0, 23.0));
        assert_eq!(merged[2], row("other", "ebb", 5.0, 4.0, 6.0));
    }

    #[test]
    fn spread_workloads_name_workloads_the_suites_have() {
        // A typo here would silently measure nothing more: every listed workload must be
        // one the suite documents (its name appears in the runner's source).
        for s in SUITES {
            if s.process_spread.is_empty() {
                continue;
            }
            let src = std::fs::read_to_string(
                project_root()
                    .join("benches/src")
                    .join(format!("{}.rs", s.name)),
            )
            .expect("suite source");
            for w in s.process_spread {
                let stem = w.trim_end_matches(|c: char| c.is_ascii_digit() || c == 'k');
                assert!(
                    src.contains(w) || src.contains(stem),
                    "{}: no workload `{w}` in benches/src/{}.rs",
                    s.name,
                    s.name
                );
            }
        }
    }
}
