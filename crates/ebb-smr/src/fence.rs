//! Asymmetric fences: a free barrier for readers, an expensive one for reclaimers.
//!
//! Every scheme in this crate has one store-then-load race to close. A reader announces
//! itself (stores a hazard pointer, a pinned epoch, an online counter) and then loads
//! shared pointers; a reclaimer unlinks an object and then loads the announcements. Each
//! side must see the other's store, the classic store-buffering pattern, which needs a
//! `SeqCst` fence on *both* sides. Readers run this millions of times a second; reclaimers
//! rarely. So the cost moves to the reclaimer:
//!
//! * [`light`] (reader side) is only `compiler_fence(SeqCst)`: it stops the compiler from
//!   moving the reader's later loads above its announcement, and costs no instruction.
//! * [`heavy`] (reclaimer side) is Linux `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`:
//!   the kernel interrupts every CPU that runs a thread of this process and makes it
//!   execute a full memory barrier. Wherever a reader is in its program at that instant,
//!   its announcement either is already globally visible or its later loads have not been
//!   performed yet, which is exactly what a `SeqCst` fence on its side would have given.
//!
//! This is the pairing of Dice, Huang and Yang's asymmetric Dekker synchronization, used
//! by liburcu's `urcu-memb` flavor (Desnoyers et al. 2012) and folly's hazard pointers.
//!
//! Support is detected at run time, once per process: `MEMBARRIER_CMD_QUERY` must list
//! `PRIVATE_EXPEDITED` and `REGISTER_PRIVATE_EXPEDITED` must succeed. Otherwise (another
//! OS, an old kernel, a seccomp filter, Miri, loom, or `EBB_SMR_NO_MEMBARRIER=1` in the
//! environment) both sides use `fence(SeqCst)`, which is always correct.
//!
//! The mode only moves from "unknown" to one final value, and a reader treats "unknown" as
//! the fallback (a full fence pairs with either kind of heavy barrier), so a reader and a
//! reclaimer can never disagree in a way that loses a fence. EBR and HP domains detect the mode when
//! they are created so that readers take the cheap path from their first pin.

use core::sync::atomic::{AtomicU8, Ordering, compiler_fence};

const UNKNOWN: u8 = 0;
const MEMBARRIER: u8 = 1;
const FALLBACK: u8 = 2;

/// Not modelled by loom and never reset: the process-wide choice of barrier.
static MODE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Which pair of barriers the process uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceMode {
    /// Readers issue a compiler fence; reclaimers call `membarrier`.
    Membarrier,
    /// Both sides issue `fence(SeqCst)` (no usable `membarrier`, or disabled).
    Fallback,
}

/// The barrier pair this process uses, detecting it on first call.
pub fn mode() -> FenceMode {
    match init() {
        MEMBARRIER => FenceMode::Membarrier,
        _ => FenceMode::Fallback,
    }
}

/// Detects `membarrier` support once; returns the final mode (never `UNKNOWN`).
pub(crate) fn init() -> u8 {
    let m = MODE.load(Ordering::Acquire);
    if m != UNKNOWN {
        return m;
    }
    let detected = if disabled_by_env() || !membarrier::register() {
        FALLBACK
    } else {
        MEMBARRIER
    };
    // Several threads may detect at once; they all compute the same answer, and the first
    // store wins. Release/Acquire publishes the registration done by `register`.
    match MODE.compare_exchange(UNKNOWN, detected, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => detected,
        Err(existing) => existing,
    }
}

fn disabled_by_env() -> bool {
    if cfg!(any(miri, ebb_loom)) {
        return true;
    }
    std::env::var_os("EBB_SMR_NO_MEMBARRIER").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The reader's half: a compiler fence when the reclaimer's half is `membarrier`, a full
/// `SeqCst` fence otherwise (including while the mode is still unknown).
#[inline(always)]
pub fn light() {
    // Relaxed is enough: the mode is written once, and reading a stale `UNKNOWN` only makes
    // this reader take the stronger fence.
    if MODE.load(Ordering::Relaxed) == MEMBARRIER {
        compiler_fence(Ordering::SeqCst);
    } else {
        crate::sync::atomic::fence(Ordering::SeqCst);
    }
}

/// The reclaimer's half: after it returns, every store a reader made before its [`light`]
/// is visible to the caller, and no reader's load after its [`light`] was performed before
/// the caller's earlier stores became visible.
pub fn heavy() {
    if init() == MEMBARRIER {
        membarrier::private_expedited();
    } else {
        crate::sync::atomic::fence(Ordering::SeqCst);
    }
}

#[cfg(all(target_os = "linux", not(miri), not(ebb_loom)))]
mod membarrier {
    // From <linux/membarrier.h>; libc exposes the syscall number but not the commands.
    const CMD_QUERY: libc::c_long = 0;
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    fn call(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: membarrier(cmd, flags = 0, cpu_id = 0) takes no pointers; an unknown or
        // unsupported command fails with -1/ENOSYS/EINVAL and changes nothing.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_uint,
                0 as libc::c_int,
            )
        }
    }

    /// Queries support and registers the process; true when expedited barriers work.
    pub(super) fn register() -> bool {
        let supported = call(CMD_QUERY);
        if supported < 0 || supported & CMD_PRIVATE_EXPEDITED == 0 {
            return false;
        }
        call(CMD_REGISTER_PRIVATE_EXPEDITED) == 0
    }

    pub(super) fn private_expedited() {
        let r = call(CMD_PRIVATE_EXPEDITED);
        // Registration succeeded before the mode became MEMBARRIER, and the command cannot
        // fail afterwards; a failure here would silently break every reader's ordering.
        assert!(
            r == 0,
            "membarrier(PRIVATE_EXPEDITED) failed after registration"
        );
    }
}

#[cfg(not(all(target_os = "linux", not(miri), not(ebb_loom))))]
mod membarrier {
    pub(super) fn register() -> bool {
        false
    }
    pub(super) fn private_expedited() {
        unreachable!("membarrier is never selected on this target")
    }
}

#[cfg(all(test, not(ebb_loom)))]
mod tests {
    use super::*;

    #[test]
    fn mode_is_what_the_kernel_and_environment_allow() {
        let m = mode();
        // Detect again, independently of the cached mode: registering twice is allowed.
        let expected = if disabled_by_env() || !membarrier::register() {
            FenceMode::Fallback
        } else {
            FenceMode::Membarrier
        };
        assert_eq!(m, expected);
        let cached = MODE.load(Ordering::Acquire);
        assert_eq!(
            cached,
            match m {
                FenceMode::Membarrier => MEMBARRIER,
                FenceMode::Fallback => FALLBACK,
            }
        );
        // Both halves run in the chosen mode (a failed `membarrier` asserts).
        light();
        heavy();
        if cfg!(any(miri, ebb_loom)) {
            assert_eq!(m, FenceMode::Fallback);
        }
        println!("fence mode in this process: {m:?}");
    }
}
