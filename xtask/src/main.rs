//! ebb's developer tasks. `cargo xtask bench` runs the benchmark suites and writes the
//! scaling tables under `target/bench/` (`--publish`: over `docs/benchmarks/`);
//! `cargo xtask help` lists the rest.
#![allow(missing_docs)]

mod bench;
mod machine;
mod plot;
mod report;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "ebb's developer tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run benchmark suites: each workload against ebb and its peers, swept over threads.
    Bench(bench::BenchArgs),
    /// Spin on one core until killed (the competing load of `bench --noisy`).
    #[command(hide = true)]
    Spin,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Bench(args) => bench::run(args),
        Cmd::Spin => loop {
            std::hint::black_box(std::hint::black_box(1u64).wrapping_mul(3));
        },
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The workspace root, from this crate's manifest directory.
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
