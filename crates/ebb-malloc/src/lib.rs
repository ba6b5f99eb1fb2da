//! `libebb_malloc.so`: ebb-slab's page heap ([`ebb_slab::heap`]) behind the C allocation
//! interface, for `LD_PRELOAD=libebb_malloc.so program`.
//!
//! Exports `malloc`, `free`, `calloc`, `realloc`, `reallocarray`, `posix_memalign`,
//! `aligned_alloc`, `memalign`, `valloc`, `pvalloc`, `malloc_usable_size`, `free_sized`,
//! `free_aligned_sized` and `malloc_trim`, with glibc's semantics: every block is aligned
//! to 16, `errno` is set on every failure, `calloc` and `reallocarray` refuse overflowing
//! products, `realloc(p, 0)` frees `p` and returns NULL. Every pointer passed in is checked
//! against the page map and the object's allocation bit, so a `free` of a pointer the
//! heap never handed out, or a second `free` of the same block, prints a message and
//! aborts (as glibc's checks do) instead of corrupting the heap. `fork` is safe: the
//! heap's locks are taken around it with `pthread_atfork`. With `EBB_MALLOC_STATS=1` in
//! the environment the heap's counters are printed to standard error at exit.
//!
//! The crate is also an rlib whose functions can be called from Rust (the tests do).

use core::ffi::{c_int, c_void};
use core::ptr;

use ebb_slab::heap::{self, BadPointer};

/// Rust code inside the library (none on the allocation paths) allocates from the same
/// heap.
#[global_allocator]
static GLOBAL: ebb_slab::EbbAlloc = ebb_slab::EbbAlloc::new();

/// The alignment of every block `malloc` returns (glibc's `MALLOC_ALIGNMENT` on 64-bit).
pub const MIN_ALIGN: usize = 16;

fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns this thread's errno.
    unsafe { *libc::__errno_location() = e };
}

#[cold]
fn bad_pointer(func: &str, e: BadPointer, p: *mut c_void) -> ! {
    let mut buf = [0u8; 96];
    let what: &[u8] = match e {
        BadPointer::NotOurs => b"(): invalid pointer",
        BadPointer::DoubleFree => b"(): double free detected",
    };
    let f = func.as_bytes();
    let n = f.len().min(40);
    buf[..n].copy_from_slice(&f[..n]);
    buf[n..n + what.len()].copy_from_slice(what);
    fatal(&buf[..n + what.len()], p as usize)
}

fn fatal(msg: &[u8], addr: usize) -> ! {
    let mut out = [0u8; 160];
    let mut n = 0;
    for &b in b"ebb-malloc: ".iter().chain(msg).chain(b" at 0x") {
        out[n] = b;
        n += 1;
    }
    let mut started = false;
    for i in (0..16).rev() {
        let d = (addr >> (i * 4)) & 0xf;
        if d != 0 || started || i == 0 {
            started = true;
            out[n] = b"0123456789abcdef"[d];
            n += 1;
        }
    }
    out[n] = b'\n';
    n += 1;
    // SAFETY: the buffer is valid for `n` bytes.
    unsafe {
        libc::write(2, out.as_ptr().cast(), n);
        libc::abort()
    }
}

#[inline(always)]
fn alloc_or_errno(size: usize, align: usize) -> *mut c_void {
    if size > isize::MAX as usize {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    }
    let p = heap::alloc(size, align);
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

/// `malloc(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    alloc_or_errno(size, MIN_ALIGN)
}

/// `free(3)`: NULL is ignored; an invalid pointer or a double free aborts with a message.
///
/// # Safety
/// `p` is NULL or a live block of this allocator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: the caller does not use `p` after freeing it.
    if let Err(e) = unsafe { heap::free_checked(p.cast()) } {
        bad_pointer("free", e, p);
    }
}

/// `free_sized` (C23): as `free`.
///
/// # Safety
/// As `free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free_sized(p: *mut c_void, _size: usize) {
    // SAFETY: forwarded.
    unsafe { free(p) }
}

/// `free_aligned_sized` (C23): as `free`.
///
/// # Safety
/// As `free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free_aligned_sized(p: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: forwarded.
    unsafe { free(p) }
}

/// `calloc(3)`: NULL and `ENOMEM` when `n * size` overflows.
#[unsafe(no_mangle)]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size).filter(|&t| t <= isize::MAX as usize) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    let p = heap::alloc_zeroed(total, MIN_ALIGN);
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

/// `realloc(3)` with glibc's rules: `realloc(NULL, n)` is `malloc(n)`; `realloc(p, 0)`
/// frees `p` and returns NULL; on failure NULL, `ENOMEM`, and `p` untouched.
///
/// # Safety
/// `p` is NULL or a live block of this allocator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    if size == 0 {
        // SAFETY: forwarded.
        unsafe { free(p) };
        return ptr::null_mut();
    }
    if size > isize::MAX as usize {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    }
    // SAFETY: the caller uses only the returned pointer afterwards (or `p` on failure).
    match unsafe { heap::realloc_checked(p.cast(), size) } {
        Ok(q) => {
            if q.is_null() {
                set_errno(libc::ENOMEM);
            }
            q.cast()
        }
        Err(e) => bad_pointer("realloc", e, p),
    }
}

/// `reallocarray(3)`: `realloc(p, n * size)`, NULL and `ENOMEM` on overflow.
///
/// # Safety
/// As `realloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: forwarded.
        Some(total) => unsafe { realloc(p, total) },
        None => {
            set_errno(libc::ENOMEM);
            ptr::null_mut()
        }
    }
}

/// `posix_memalign(3)`: `EINVAL` (and `*out` untouched) unless `align` is a power of two
/// multiple of `sizeof(void *)`; `ENOMEM` (untouched) when memory is exhausted.
///
/// # Safety
/// `out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || !align.is_multiple_of(core::mem::size_of::<usize>()) {
        return libc::EINVAL;
    }
    if size > isize::MAX as usize {
        return libc::ENOMEM;
    }
    let p = heap::alloc(size, align.max(MIN_ALIGN));
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller guarantees `out` is writable.
    unsafe { *out = p.cast() };
    0
}

/// `aligned_alloc(3)`: NULL and `EINVAL` unless `align` is a power of two.
#[unsafe(no_mangle)]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    alloc_or_errno(size, align.max(MIN_ALIGN))
}

/// `memalign(3)`: an alignment that is not a power of two is rounded up to one, as glibc
/// does; one too large to represent gives NULL and `EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(a) = align.checked_next_power_of_two().filter(|&a| a <= 1 << 40) else {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    alloc_or_errno(size, a.max(MIN_ALIGN))
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as usize } else { 4096 }
}

/// `valloc(3)`: page-aligned.
#[unsafe(no_mangle)]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    alloc_or_errno(size, page_size())
}

/// `pvalloc(3)`: page-aligned, size rounded up to whole pages.
#[unsafe(no_mangle)]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let ps = page_size();
    let Some(s) = size.max(1).checked_next_multiple_of(ps) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    alloc_or_errno(s, ps)
}

/// `malloc_usable_size(3)`: 0 for NULL or a freed block; an invalid pointer aborts.
///
/// # Safety
/// `p` is NULL or a block of this allocator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    match heap::check(p.cast()) {
        Ok(n) => n,
        Err(BadPointer::DoubleFree) => 0,
        Err(e) => bad_pointer("malloc_usable_size", e, p),
    }
}

/// `malloc_trim(3)`: returns the calling thread's and the shared heaps' empty pages to the
/// OS now; 1 (memory may have been released).
#[unsafe(no_mangle)]
pub extern "C" fn malloc_trim(_pad: usize) -> c_int {
    ebb_slab::EbbAlloc::collect();
    1
}

// ---------------------------------------------------------------------------------------
// EBB_MALLOC_STATS=1: counters at exit.

struct Buf {
    b: [u8; 4096],
    n: usize,
}

impl core::fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let s = s.as_bytes();
        if self.n + s.len() > self.b.len() {
            self.flush();
        }
        let k = s.len().min(self.b.len());
        self.b[self.n..self.n + k].copy_from_slice(&s[..k]);
        self.n += k;
        Ok(())
    }
}

impl Buf {
    fn flush(&mut self) {
        // SAFETY: the buffer is valid for `n` bytes.
        unsafe { libc::write(2, self.b.as_ptr().cast(), self.n) };
        self.n = 0;
    }
}

fn rss_bytes() -> usize {
    // Read /proc/self/statm with raw system calls: nothing here may allocate.
    let mut buf = [0u8; 128];
    // SAFETY: the path is NUL-terminated; the buffer is valid for its length.
    let n = unsafe {
        let fd = libc::open(c"/proc/self/statm".as_ptr(), libc::O_RDONLY);
        if fd < 0 {
            return 0;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    if n <= 0 {
        return 0;
    }
    let mut fields = buf[..n as usize].split(|&b| b == b' ');
    let _size = fields.next();
    let pages = fields
        .next()
        .map(|f| {
            f.iter()
                .take_while(|b| b.is_ascii_digit())
                .fold(0usize, |a, &d| a * 10 + (d - b'0') as usize)
        })
        .unwrap_or(0);
    pages * page_size()
}

/// Prints the heap's counters to standard error: per class with anything in it, the
/// live objects and bytes, its pages and their bytes; then totals, and the NUMA placement
/// (`EBB_NUMA`).
pub fn print_stats() {
    use core::fmt::Write;
    let s = ebb_slab::EbbAlloc::stats();
    let mut out = Buf { b: [0; 4096], n: 0 };
    let _ = writeln!(
        out,
        "ebb-malloc stats: class_size live_objects allocated_bytes pages page_bytes"
    );
    for c in s.classes.iter() {
        if c.live_objects == 0 && c.pages == 0 {
            continue;
        }
        let span = if c.size <= 8 * 1024 {
            64 << 10
        } else {
            1 << 20
        };
        let _ = writeln!(
            out,
            "ebb-malloc stats: {:>7} {:>10} {:>12} {:>6} {:>12}",
            c.size,
            c.live_objects,
            c.live_objects as usize * c.size,
            c.pages,
            c.pages * span
        );
    }
    let _ = writeln!(
        out,
        "ebb-malloc stats: allocated {} B small + {} B in {} large; committed {} B; mapped {} B; resident {} B; {} segments, {} heaps",
        s.allocated_bytes,
        s.large_bytes,
        s.large_objects,
        s.committed_bytes,
        s.mapped_bytes,
        rss_bytes(),
        s.segments,
        s.heaps
    );
    let _ = writeln!(out, "ebb-malloc stats: numa {}", s.numa);
    out.flush();
}

extern "C" fn stats_at_exit() {
    print_stats();
}

extern "C" fn on_load() {
    // SAFETY: getenv with a NUL-terminated name; the result is read before returning.
    let v = unsafe { libc::getenv(c"EBB_MALLOC_STATS".as_ptr()) };
    // SAFETY: a non-null getenv result is a NUL-terminated string.
    if !v.is_null() && unsafe { *v } == b'1' as libc::c_char {
        // SAFETY: the handler has the right ABI.
        unsafe { libc::atexit(stats_at_exit) };
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static ON_LOAD: extern "C" fn() = on_load;
