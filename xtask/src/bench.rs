//! `cargo xtask bench`: builds the runner binaries of `benches/`, runs one child process
//! per (suite, global allocator, thread count), collects the rows they print, and writes
//! the tables, plots and JSON.

use crate::machine::{self, Machine};
use crate::{plot, project_root, report};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Suite to run (repeatable); all suites when absent.
    #[arg(long = "suite", value_name = "NAME")]
    suites: Vec<String>,
    /// Thread counts to sweep; counts above the machine's cores are run and labelled
    /// as oversubscribed.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    threads: Vec<usize>,
    /// Short runs (seconds per suite), for CI smoke tests. Does not rewrite docs/.
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
    /// Do not rewrite docs/benchmarks/ even on a full run.
    #[arg(long)]
    no_docs: bool,
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
}

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
    },
    Suite {
        name: "smr",
        runners: &["system"],
        baseline: "crossbeam-epoch",
        about: "Safe memory reclamation: ebb's QSBR, EBR and hazard pointers against \
                crossbeam-epoch, haphazard, seize, arc-swap and a std RwLock. See \
                docs/smr.md for what each workload does.",
    },
    Suite {
        name: "slab",
        runners: &["system"],
        baseline: "mimalloc",
        about: "ebb-slab against allocators called directly (mimalloc, jemalloc, system), \
                sharded-slab, and the single-threaded slab and slotmap. See docs/slab.md \
                for how one operation is timed.",
    },
    Suite {
        name: "sync",
        runners: &["system"],
        baseline: "mutex",
        about: "ebb-sync's collections against their peers: intern tables (lasso, dashmap, \
                locked maps), read-mostly maps (dashmap, papaya), RCU reads (arc-swap), \
                queues (crossbeam SegQueue), the work-stealing deque (crossbeam-deque), \
                the Treiber stack, and the executor against rayon. See docs/sync.md.",
    },
    Suite {
        name: "trie",
        runners: &["system", "jemalloc"],
        baseline: "pathmap",
        about: "ebb-trie's PathMap against the pathmap crate, BTreeMap, HashMap and qp-trie \
                (point operations on random, URL-like, s-expression and dense keys at 10k \
                and 1M keys; clone; memory per key, one child process per impl; trie \
                algebra; the file form; parallel gets and inserts), and its SharedMapping \
                interner against lasso and dashmap. Only parallel_insert runs under the \
                jemalloc runner. See benches/src/trie.rs for each workload.",
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
    },
    Suite {
        name: "global",
        runners: &["ebb", "system", "jemalloc", "mimalloc"],
        baseline: "mimalloc",
        about: "Whole-program allocators: `ebb` is `EbbAlloc` (Rust rows) and \
                `libebb_malloc.so` under LD_PRELOAD (`c_*` rows, run from the system \
                runner against Debian's libjemalloc2 and libmimalloc2.0 and glibc). One \
                process per allocator; `wall_s` for a fixed amount of work and \
                `peak_rss_mb` (VmHWM of the process or C child). See benches/src/global.rs \
                for each workload.",
    },
];

pub fn run(args: BenchArgs) -> Result<(), String> {
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
    if args.threads.is_empty() || args.threads.contains(&0) {
        return Err("--threads needs positive counts, e.g. --threads 1,2,4,8".into());
    }
    let repeats = args.repeats.unwrap_or(if args.quick { 3 } else { 5 });
    if repeats == 0 {
        return Err("--repeats must be at least 1".into());
    }

    let machine = Machine::detect();
    let profile = if args.quick { "release" } else { "bench" };
    eprintln!("building bench runners (profile `{profile}`)...");
    let runners = build_runners(profile)?;

    let steps: usize = suites
        .iter()
        .map(|s| s.runners.len() * args.threads.len())
        .sum();
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );

    let mut rows: Vec<Row> = Vec::new();
    let mut failures = Vec::new();
    for suite in &suites {
        for runner in suite.runners {
            let exe = runners
                .get(*runner)
                .ok_or_else(|| format!("runner ebb-bench-{runner} was not built"))?;
            for &t in &args.threads {
                bar.set_message(format!("{} on {runner}, {t} thread(s)", suite.name));
                match run_child(exe, suite.name, t, repeats, args.quick, &args.workloads) {
                    Ok(mut r) => rows.append(&mut r),
                    Err(e) => {
                        bar.suspend(|| eprintln!("suite {} ({runner}, {t}t): {e}", suite.name));
                        failures.push(format!("{} ({runner}, {t} threads)", suite.name));
                    }
                }
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();

    let ctx = report::Context {
        machine: machine.clone(),
        revision: machine::git_revision(),
        date: machine::utc_now(),
        repeats,
        quick: args.quick,
        threads: args.threads.clone(),
    };
    for suite in &suites {
        let suite_rows: Vec<&Row> = rows.iter().filter(|r| r.suite == suite.name).collect();
        if suite_rows.is_empty() {
            continue;
        }
        println!("{}", report::markdown(suite, &suite_rows, &ctx, None));
        if !args.quick && !args.no_docs {
            write_docs(suite, &suite_rows, &ctx)?;
        }
    }
    if let Some(path) = &args.json {
        report::write_json(path, &ctx, &rows)?;
        eprintln!("wrote {} rows to {}", rows.len(), path.display());
    }
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

fn write_docs(suite: &Suite, rows: &[&Row], ctx: &report::Context) -> Result<(), String> {
    let dir = project_root().join("docs").join("benchmarks");
    let plot_dir = dir.join(suite.name);
    std::fs::create_dir_all(&plot_dir).map_err(|e| format!("{}: {e}", plot_dir.display()))?;
    let plots = plot::write_all(suite, rows, &plot_dir, ctx)?;
    let notes_path = dir.join("notes").join(format!("{}.md", suite.name));
    let notes = std::fs::read_to_string(&notes_path).ok();
    let md = report::markdown(suite, rows, ctx, Some((&plots, notes.as_deref())));
    let path = dir.join(format!("{}.md", suite.name));
    std::fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {} and {} plot(s)", path.display(), plots.len());
    Ok(())
}

/// Builds the runner binaries and returns them by allocator name
/// (`ebb-bench-jemalloc` → `jemalloc`).
fn build_runners(profile: &str) -> Result<BTreeMap<String, PathBuf>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut child = Command::new(cargo)
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
    Ok(runners)
}

/// Runs one child and parses its rows; its stderr is shown only when it fails.
fn run_child(
    exe: &Path,
    suite: &str,
    threads: usize,
    repeats: usize,
    quick: bool,
    workloads: &[String],
) -> Result<Vec<Row>, String> {
    let mut cmd = Command::new(exe);
    cmd.args(["--suite", suite, "--threads", &threads.to_string()])
        .args(["--repeats", &repeats.to_string()]);
    if quick {
        cmd.arg("--quick");
    }
    for w in workloads {
        cmd.args(["--workload", w]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let mut stderr = child.stderr.take().expect("piped stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
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
