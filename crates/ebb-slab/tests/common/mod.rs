//! Helpers shared by the integration-test binaries that run themselves as children.

use std::process::Command;

/// Runs the ignored test `report` of this test binary in a child process with
/// `EBB_NUMA=env`, and returns the `NUMA-STATS` line it printed (the heap's NUMA stats as
/// the child's allocator saw them).
pub fn numa_stats_of_child(report: &str, env: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([report, "--exact", "--ignored", "--nocapture"])
        .env("EBB_NUMA", env)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = String::from_utf8(out.stdout).unwrap();
    s.lines()
        .find(|l| l.starts_with("NUMA-STATS"))
        .unwrap()
        .to_string()
}
