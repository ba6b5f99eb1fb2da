//! The portable fallback of the asymmetric fences (a `SeqCst` fence on both sides), forced
//! with `EBB_SMR_NO_MEMBARRIER=1` before any domain exists: its own test binary, so the
//! process-wide mode is decided here (`harness = false`: `main` runs before any test
//! thread). Runs the same stress as `tests/all`.

#[path = "all/stress.rs"]
#[allow(dead_code)]
mod stress;

use ebb_smr::fence::{self, FenceMode};
use ebb_smr::{ebr, hp, qsbr};
use std::time::Duration;

fn main() {
    // SAFETY: set before any other thread of this process exists and before the fence
    // mode is decided.
    unsafe { std::env::set_var("EBB_SMR_NO_MEMBARRIER", "1") };
    assert_eq!(fence::mode(), FenceMode::Fallback);
    let budget = Duration::from_millis(400);
    stress::stress(qsbr::Domain::new(), 2, 2, budget);
    stress::stress(ebr::Domain::new(), 2, 2, budget);
    stress::stress(hp::Domain::new(), 2, 2, budget);
    assert_eq!(fence::mode(), FenceMode::Fallback);
    println!("fallback fences: stress of qsbr, ebr and hp passed");
}
