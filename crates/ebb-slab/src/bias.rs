//! Biased slots: a checked free with no locked instruction for the thread that allocated.
//!
//! The checked `free` of a copyable [`RawHandle`](crate::RawHandle) must elect one winner
//! among concurrent frees of the same handle, which a CAS on the slot word does at the
//! price of a locked instruction (about half of a warm `Local` alloc/free pair). Most frees
//! come from the thread that allocated, and that thread is never racing *itself*; only
//! a copy of the handle freed on another thread can race it. So the election is biased
//! toward the allocating [`Local`](crate::Local):
//!
//! * A `Local` holds an **owner tag** (1..=31, unique among live `Local`s of one
//!   allocator). Its magazine allocations store `generation | LIVE | tag << 26` in the slot
//!   word: the slot is *biased* to that tag.
//! * **Owner free** (the `Local` whose tag is in the word): a first load of the slot
//!   word; a word not biased to this owner under this handle (an unbiased slot, another
//!   owner's, a stale handle) skips the rest and runs the shared CAS election (or is
//!   refused), since a live generation's tag never changes. Otherwise store the handle
//!   into its record's `busy` word, [`light`] fence, load the slot word again, and if it
//!   still reads `generation | LIVE | tag`, kill it with a plain store. No locked
//!   instruction. If it reads the same with [`REVOKING`] set, a remote is revoking and has
//!   left the decision to the owner: the owner takes the slot with a CAS.
//! * **Any other free** finds the tag with its CAS's failure value and *revokes*: set
//!   [`REVOKING`] with a CAS (one remote wins that CAS; the others lose with
//!   `DoubleFree`), [`heavy`] fence, load the owner's `busy`. If it names this handle, the
//!   owner is freeing (or has freed) it and wins: the remote loses with `DoubleFree`.
//!   Otherwise the remote CASes the word from revoking to the next generation; that CAS
//!   fails only if the owner took the slot first.
//!
//! Why exactly one free wins: the owner's (store `busy`; fence; load word) and the
//! remote's (CAS word; fence; load `busy`) are the store-buffering pattern, so at least one
//! sees the other's store. If the remote sees `busy == handle`, it steps aside, and the
//! owner either stores (its load saw no revocation) or CASes (it saw one): nobody else
//! writes the word, so the owner wins. If the remote does not, the owner's load comes
//! after the revocation, so both sides end in a CAS from the same revoking value, and one
//! of them wins. `busy` is compared with the whole handle, whose (slab, slot, generation)
//! is issued once, and only the owner ever sets it to this handle, so a stale `busy` never
//! makes a remote step aside for a free that will not happen. No side waits for the other.

//! The fences are asymmetric: [`light`] is a compiler fence and [`heavy`] is
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which makes every CPU running a thread
//! of this process execute a full barrier. Without `membarrier` (another OS, an old
//! kernel, a sandbox) biasing is off altogether, because a full fence on the owner's side
//! would cost what the CAS costs; `EBB_SLAB_NO_BIAS=1` turns it off too. Under loom and
//! Miri both halves are `fence(SeqCst)` and biasing stays on, so the protocol is checked.
//!
//! A revocation costs a `membarrier`, so a `Local` whose slots are being freed by other
//! threads (a producer feeding a consumer) stops biasing: each refill checks its record's
//! revocation count and, if it grew, allocates unbiased for the next `backoff`
//! allocations, doubling `backoff` each time from [`MIN_BACKOFF`] up to [`MAX_BACKOFF`].

use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};
use crate::sync::{AtomicU64, Mutex};
use crossbeam_utils::CachePadded;

/// Shift of the owner tag in a slot word (above `LIVE` and `RETIRED`).
pub(crate) const OWNER_SHIFT: u32 = 26;
/// The owner-tag bits of a slot word (0: unbiased).
pub(crate) const TAG_MASK: u32 = 0x1f << OWNER_SHIFT;
/// Set beside the tag while a remote free revokes the bias.
pub(crate) const REVOKING: u32 = 1 << 31;
/// Every bias bit of a slot word: the tag and `REVOKING`.
pub(crate) const OWNER_MASK: u32 = TAG_MASK | REVOKING;
/// Owner tags handed to `Local`s: 1..=31.
pub(crate) const TAGS: usize = 31;
/// The fewest allocations a `Local` makes unbiased after one of its slots was revoked.
pub(crate) const MIN_BACKOFF: u64 = 1 << 10;
/// The most: each revocation seen doubles the stretch up to this.
pub(crate) const MAX_BACKOFF: u64 = 1 << 22;

/// One owner tag's announcement and revocation count.
#[derive(Default)]
pub(crate) struct Record {
    /// The last handle the owner freed with the biased path (or is freeing), or 0 (never
    /// a handle). Invariant: it never names a handle the owner announced and then did not
    /// free, so a remote that finds its handle here can rely on the owner's free.
    pub(crate) busy: AtomicU64,
    /// Revocations of this tag's slots, read by the owner at refill.
    pub(crate) revoked: AtomicU64,
}

/// The owner tags of one allocator.
pub(crate) struct Owners {
    /// Bit `t` set while tag `t` is held by a `Local`.
    taken: Mutex<u64>,
    /// `records[t - 1]` belongs to tag `t`.
    records: Box<[CachePadded<Record>]>,
    enabled: bool,
}

impl Owners {
    /// The tags of an allocator that biases when `wanted` and the process can.
    pub(crate) fn new(wanted: bool) -> Owners {
        Owners {
            taken: Mutex::new(0),
            records: (0..TAGS)
                .map(|_| CachePadded::new(Record::default()))
                .collect(),
            enabled: wanted && enabled(),
        }
    }

    /// Whether `Local`s of this allocator take tags.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// A free tag (1..=31) for a new `Local`, or `None` when biasing is off or all are
    /// held (that `Local` then frees with the CAS).
    pub(crate) fn acquire(&self) -> Option<u32> {
        if !self.enabled {
            return None;
        }
        let mut taken = crate::sync::lock(&self.taken);
        let free = !*taken & (((1u64 << TAGS) - 1) << 1);
        if free == 0 {
            return None;
        }
        let t = free.trailing_zeros();
        *taken |= 1 << t;
        Some(t)
    }

    /// Gives tag `t` back. Its slots stay biased to `t`: the next holder of `t` may free
    /// them with a plain store, which is sound because one tag has one holder at a time
    /// (the mutex orders the old holder's last free before the new holder's first).
    pub(crate) fn release(&self, t: u32) {
        let mut taken = crate::sync::lock(&self.taken);
        debug_assert!(*taken & (1 << t) != 0, "tag {t} released twice");
        *taken &= !(1 << t);
    }

    /// Tag `t`'s record (`1 <= t <= TAGS`).
    pub(crate) fn record(&self, t: u32) -> &Record {
        &self.records[t as usize - 1]
    }
}

/// The free of a biased slot by a thread that does not hold its tag: see the module docs.
/// `sw` read `seen` (= `live | tag << OWNER_SHIFT`, `tag` in 1..=31) when the caller's CAS
/// from `live` failed. Returns true when this free won the election.
pub(crate) fn revoke(
    owners: &Owners,
    sw: &crate::sync::AtomicU32,
    seen: u32,
    next: u32,
    handle: u64,
) -> bool {
    let tag = (seen & TAG_MASK) >> OWNER_SHIFT;
    debug_assert!(tag != 0 && seen & REVOKING == 0);
    let revoking = seen | REVOKING;
    // AcqRel: as the CAS in `SlabAlloc::kill_word`. Fails if the owner stored first or
    // another remote is revoking: either way this free lost.
    if sw
        .compare_exchange(seen, revoking, AcqRel, Acquire)
        .is_err()
    {
        return false;
    }
    let rec = owners.record(tag);
    rec.revoked.fetch_add(1, Relaxed);
    heavy();
    if rec.busy.load(Relaxed) == handle {
        // The owner is freeing this handle, or has: its store or its CAS wins.
        return false;
    }
    // The owner's load of the word, if it comes, sees `revoking`: this CAS and the
    // owner's decide. Release: hands the object's last writes to the next claimer.
    sw.compare_exchange(revoking, next, AcqRel, Acquire).is_ok()
}

/// The owner's free of a slot biased to it. `rec` is the owner's record, `biased` =
/// `live | tag << OWNER_SHIFT`. `Ok(won)` when the slot was biased to this owner (a
/// revocation in progress included), `Err(word)` otherwise: the caller runs the shared
/// election or classifies `word`.
#[inline(always)]
pub(crate) fn owner_kill(
    rec: &Record,
    sw: &crate::sync::AtomicU32,
    biased: u32,
    next: u32,
    handle: u64,
) -> Result<bool, u32> {
    // A first look decides whether the announcement is needed at all. Only a word live
    // under this handle's generation and biased to this owner can be revoked in a way that
    // consults `busy`; a word that reads anything else here (unbiased, another owner's
    // tag, another generation) never reads `biased` again for this handle, because a
    // generation's tag is fixed when it is issued and only grows past it afterwards. Such
    // a free goes straight to the shared election (or is refused) with no store to `busy`.
    // Acquire: as the load below.
    let first = sw.load(Acquire);
    if first & !REVOKING != biased {
        return Err(first);
    }
    rec.busy.store(handle, Relaxed);
    light();
    // Acquire: the Release store (or the previous holder of the tag, through the
    // tag mutex) happens-before this free.
    let now = sw.load(Acquire);
    if now == biased {
        // Release: as the CAS in `SlabAlloc::kill_word`.
        #[cfg(not(ebb_loom))]
        sw.store(next, Release);
        // Loom keeps modification order partial and does not place a plain store after an
        // RMW that read the value this store's thread read, as RMW atomicity requires: a
        // revoker's CAS from `biased` must precede this store, so the word ends at `next`.
        // A swap (whose old value is ignored) makes loom order it as the hardware does.
        #[cfg(ebb_loom)]
        sw.swap(next, Release);
        return Ok(true);
    }
    if now == biased | REVOKING {
        // A remote is revoking; it steps aside if it sees `busy`, or races this CAS.
        return Ok(sw.compare_exchange(now, next, AcqRel, Acquire).is_ok());
    }
    // The slot is not live and biased to this owner under this handle, so this free
    // goes no further down the biased path (it is refused, or runs the shared election).
    // Withdraw the announcement: `busy` may name a handle only while the owner frees it or
    // after it freed it. Left here, a refused handle (one generation ahead, or from another
    // allocator) that this owner issues later would make every remote free of that live
    // object step aside for a free that never comes, and leave its slot `REVOKING`. No
    // remote can be relying on this value now: one that revokes this handle found the word
    // live and biased to us, and then our load above would have seen `biased` or
    // `biased | REVOKING` (the store-buffering argument of the module docs).
    rec.busy.store(0, Relaxed);
    Err(now)
}

// === asymmetric fences ===

/// The owner's half: a compiler fence, or `fence(SeqCst)` under loom and Miri.
#[inline(always)]
pub(crate) fn light() {
    #[cfg(any(miri, ebb_loom))]
    crate::sync::fence(crate::sync::Ordering::SeqCst);
    #[cfg(not(any(miri, ebb_loom)))]
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// The revoker's half: `membarrier`, or `fence(SeqCst)` under loom and Miri.
pub(crate) fn heavy() {
    #[cfg(any(miri, ebb_loom))]
    crate::sync::fence(crate::sync::Ordering::SeqCst);
    #[cfg(not(any(miri, ebb_loom)))]
    {
        let ok = sys::expedited_barrier();
        // Biasing is on only after registration succeeded, and the command cannot fail
        // afterwards; carrying on would break the owner's ordering silently.
        assert!(
            ok,
            "membarrier(PRIVATE_EXPEDITED) failed after registration"
        );
    }
}

/// Whether allocators of this process bias their slots (decided once).
pub(crate) fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| !disabled_by_env() && (cfg!(any(miri, ebb_loom)) || sys::register()))
}

/// `EBB_SLAB_NO_BIAS` is set to something other than `0`.
pub(crate) fn disabled_by_env() -> bool {
    std::env::var_os("EBB_SLAB_NO_BIAS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Whether this process could register for `membarrier`, asked again (a test's
/// independent check of [`enabled`]; registering twice is allowed).
#[cfg(all(test, not(ebb_loom)))]
pub(crate) fn membarrier_available() -> bool {
    cfg!(miri) || sys::register()
}

#[cfg(all(target_os = "linux", not(miri), not(ebb_loom)))]
mod sys {
    // Commands of membarrier(2), from the kernel's uapi header.
    const QUERY: libc::c_long = 0;
    const PRIVATE_EXPEDITED: libc::c_long = 8;
    const REGISTER_PRIVATE_EXPEDITED: libc::c_long = 16;

    fn membarrier(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: membarrier(cmd, 0, 0) reads and writes no memory of ours; unsupported
        // commands return -1 and have no effect.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_uint,
                0 as libc::c_int,
            )
        }
    }

    /// True when the process is registered for expedited private barriers.
    pub(super) fn register() -> bool {
        let cmds = membarrier(QUERY);
        cmds >= 0 && cmds & PRIVATE_EXPEDITED != 0 && membarrier(REGISTER_PRIVATE_EXPEDITED) == 0
    }

    pub(super) fn expedited_barrier() -> bool {
        membarrier(PRIVATE_EXPEDITED) == 0
    }
}

#[cfg(not(all(target_os = "linux", not(miri), not(ebb_loom))))]
mod sys {
    pub(super) fn register() -> bool {
        false
    }
    #[allow(dead_code)]
    pub(super) fn expedited_barrier() -> bool {
        false
    }
}
