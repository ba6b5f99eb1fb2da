//! Workloads behind `cargo xtask bench`.
//!
//! Each suite is a module with a `run(&Config, &mut Sink)` function. The runner binaries
//! (`src/bin/*.rs`) differ only in the global allocator they install; `xtask` builds them,
//! starts one child per (suite, allocator, thread count) and reads the rows each child
//! prints on stdout, one JSON object per line. Every row is already aggregated over
//! `Config::repeats` runs: median, min and max.
#![allow(missing_docs)]

pub mod alloc;
pub mod global;
pub mod harness;
pub mod region;
pub mod slab;
pub mod smr;
pub mod sync;
pub mod trie;

pub use harness::{Config, Row, Sink, Stat};

/// The suites a runner knows, in the order `xtask` runs them by default.
pub const SUITES: &[&str] = &["alloc", "smr", "slab", "sync", "trie", "region", "global"];

/// Runs one suite; `Err` carries a message for the user.
pub fn run_suite(name: &str, cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    match name {
        "alloc" => alloc::run(cfg, sink),
        "smr" => smr::run(cfg, sink),
        "slab" => slab::run(cfg, sink),
        "sync" => sync::run(cfg, sink),
        "trie" => trie::run(cfg, sink),
        "region" => region::run(cfg, sink),
        "global" => global::run(cfg, sink),
        other => Err(format!(
            "unknown suite `{other}` (known: {})",
            SUITES.join(", ")
        )),
    }
}

/// Entry point of every runner binary: parses
/// `--suite NAME --threads N [--quick] [--repeats R] [--workload W]... [--impl I]...`,
/// runs the suite and prints its rows on stdout. Returns the process exit code.
pub fn runner_main(allocator: &'static str) -> i32 {
    match parse_args(allocator, std::env::args().skip(1)) {
        Ok((suite, cfg)) => {
            let mut sink = Sink::new(&suite, cfg.threads);
            match run_suite(&suite, &cfg, &mut sink) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: suite {suite}: {e}");
                    1
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "usage: ebb-bench-{allocator} --suite NAME --threads N [--quick] [--repeats R] [--workload W]... [--impl I]..."
            );
            2
        }
    }
}

fn parse_args(
    allocator: &'static str,
    mut args: impl Iterator<Item = String>,
) -> Result<(String, Config), String> {
    let mut suite = None;
    let mut cfg = Config {
        threads: 1,
        quick: false,
        repeats: 5,
        allocator,
        workloads: Vec::new(),
        impls: Vec::new(),
        in_child: std::env::var_os("EBB_BENCH_CHILD").is_some(),
    };
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--suite" => suite = Some(value("--suite")?),
            "--threads" => {
                cfg.threads = value("--threads")?
                    .parse()
                    .map_err(|e| format!("--threads: {e}"))?;
                if cfg.threads == 0 {
                    return Err("--threads must be at least 1".into());
                }
            }
            "--repeats" => {
                cfg.repeats = value("--repeats")?
                    .parse()
                    .map_err(|e| format!("--repeats: {e}"))?;
                if cfg.repeats == 0 {
                    return Err("--repeats must be at least 1".into());
                }
            }
            "--workload" => cfg.workloads.push(value("--workload")?),
            "--impl" => cfg.impls.push(value("--impl")?),
            "--quick" => cfg.quick = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok((suite.ok_or("--suite is required")?, cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> impl Iterator<Item = String> {
        s.split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn parses_a_full_command_line() {
        let (suite, cfg) = parse_args(
            "system",
            args("--suite alloc --threads 4 --quick --repeats 3"),
        )
        .unwrap();
        assert_eq!(suite, "alloc");
        assert_eq!(cfg.threads, 4);
        assert!(cfg.quick);
        assert_eq!(cfg.repeats, 3);
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse_args("system", args("--threads 2")).is_err());
        assert!(parse_args("system", args("--suite alloc --threads 0")).is_err());
        assert!(parse_args("system", args("--suite alloc --threads")).is_err());
        assert!(parse_args("system", args("--suite alloc --bogus")).is_err());
    }

    #[test]
    fn unknown_suite_is_an_error() {
        let cfg = Config {
            threads: 1,
            quick: true,
            repeats: 1,
            allocator: "system",
            workloads: vec![],
            impls: vec![],
            in_child: true,
        };
        let mut sink = Sink::quiet("nope", 1);
        assert!(run_suite("nope", &cfg, &mut sink).is_err());
    }
}
