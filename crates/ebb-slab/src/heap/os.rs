//! The operating-system layer of the page heap: anonymous mappings, unmapping, giving
//! pages back with `madvise`, and a coarse clock. Nothing here allocates.

use core::ptr;

/// The base page size the heap assumes for its own rounding. Linux on x86-64 and most
/// aarch64 configurations use 4 KiB; a larger real page only makes `madvise` coarser.
pub(crate) const OS_PAGE: usize = 4096;

/// Maps `len` bytes of fresh, zeroed, private anonymous memory; `None` when the kernel
/// refuses.
pub(crate) fn map(len: usize, noreserve: bool) -> Option<*mut u8> {
    let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    if noreserve {
        flags |= libc::MAP_NORESERVE;
    }
    // SAFETY: an anonymous mapping at an address the kernel chooses touches no existing
    // memory; the result is checked against MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        Some(p.cast())
    }
}

/// Maps `len` bytes whose start is a multiple of `align` (a power of two, at least
/// [`OS_PAGE`]): it maps `len + align` and unmaps the unaligned head and the tail.
pub(crate) fn map_aligned(len: usize, align: usize) -> Option<*mut u8> {
    debug_assert!(align.is_power_of_two() && align >= OS_PAGE && len.is_multiple_of(OS_PAGE));
    // Fast try: the kernel often places a new mapping right below the previous one, which
    // is already aligned when the previous mapping was.
    let p = map(len, false)?;
    if (p as usize).is_multiple_of(align) {
        return Some(p);
    }
    // SAFETY: `p..p+len` is the mapping made just above and nothing else refers to it.
    unsafe { unmap(p, len) };
    let total = len.checked_add(align)?;
    let raw = map(total, false)? as usize;
    let start = (raw + align - 1) & !(align - 1);
    let head = start - raw;
    let tail = total - head - len;
    // SAFETY: head and tail are the parts of the fresh mapping outside `start..start+len`.
    unsafe {
        if head > 0 {
            unmap(raw as *mut u8, head);
        }
        if tail > 0 {
            unmap((start + len) as *mut u8, tail);
        }
    }
    Some(start as *mut u8)
}

/// Unmaps `len` bytes at `p`.
///
/// # Safety
/// `p..p+len` is memory this heap mapped and nothing will touch it again.
pub(crate) unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: the caller guarantees the range is ours and dead.
    unsafe { libc::munmap(p.cast(), len) };
}

/// Gives the pages of `p..p+len` back to the OS; they read as zero when next touched.
///
/// # Safety
/// The range is mapped by this heap and holds no live object.
pub(crate) unsafe fn decommit(p: *mut u8, len: usize) {
    // SAFETY: the caller guarantees the range is ours and holds nothing live.
    unsafe { libc::madvise(p.cast(), len, libc::MADV_DONTNEED) };
}

/// Grows the mapping `p..p+old` to `new` bytes without moving it; false if the address
/// range behind it is taken.
///
/// # Safety
/// `p..p+old` is one mapping made by this heap.
pub(crate) unsafe fn grow_in_place(p: *mut u8, old: usize, new: usize) -> bool {
    // SAFETY: without MREMAP_MAYMOVE the kernel either extends the mapping in place or
    // fails; the caller guarantees the mapping is ours.
    let r = unsafe { libc::mremap(p.cast(), old, new, 0) };
    r != libc::MAP_FAILED
}

/// Milliseconds on the coarse monotonic clock (a vDSO read, no system call).
pub(crate) fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Writes `s` to standard error with `write(2)`, without locking or allocating.
pub(crate) fn write_stderr(s: &[u8]) {
    let mut off = 0;
    while off < s.len() {
        // SAFETY: the slice is valid for reads of its length.
        let n = unsafe { libc::write(2, s[off..].as_ptr().cast(), s.len() - off) };
        if n <= 0 {
            return;
        }
        off += n as usize;
    }
}
