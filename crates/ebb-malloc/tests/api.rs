//! The C interface called in-process through the rlib: errno and return values for every
//! bad input that does not abort.

use core::ffi::c_void;
use ebb_malloc::*;

fn errno() -> i32 {
    // SAFETY: reads this thread's errno.
    unsafe { *libc::__errno_location() }
}

fn clear_errno() {
    // SAFETY: writes this thread's errno.
    unsafe { *libc::__errno_location() = 0 };
}

#[test]
fn overflow_and_exhaustion_set_enomem() {
    clear_errno();
    assert!(calloc(usize::MAX / 2, 3).is_null());
    assert_eq!(errno(), libc::ENOMEM);
    clear_errno();
    assert!(malloc(usize::MAX - 100).is_null());
    assert_eq!(errno(), libc::ENOMEM);
    clear_errno();
    // SAFETY: NULL is a valid realloc input.
    assert!(unsafe { reallocarray(core::ptr::null_mut(), usize::MAX / 2, 3) }.is_null());
    assert_eq!(errno(), libc::ENOMEM);
    let p = malloc(10);
    clear_errno();
    // SAFETY: `p` is live; on failure it stays live.
    assert!(unsafe { realloc(p, usize::MAX - 100) }.is_null());
    assert_eq!(errno(), libc::ENOMEM);
    // SAFETY: still live after the failed realloc.
    unsafe { free(p) };
    clear_errno();
    assert!(pvalloc(usize::MAX - 10).is_null());
    assert_eq!(errno(), libc::ENOMEM);
}

#[test]
fn bad_alignments_are_einval_and_write_nothing() {
    let mut out: *mut c_void = 0x1234 as *mut c_void;
    for a in [0, 3, 4, 12, 24, 1000] {
        // SAFETY: `out` is writable.
        let rc = unsafe { posix_memalign(&mut out, a, 10) };
        assert_eq!(rc, libc::EINVAL, "align {a}");
        assert_eq!(out as usize, 0x1234);
    }
    clear_errno();
    assert!(aligned_alloc(3, 10).is_null());
    assert_eq!(errno(), libc::EINVAL);
    // memalign rounds a non-power of two up, as glibc does.
    let p = memalign(48, 10);
    assert_eq!(p as usize % 64, 0);
    // SAFETY: live.
    unsafe { free(p) };
}

#[test]
fn glibc_realloc_rules() {
    // SAFETY: NULL and live pointers only.
    unsafe {
        let p = realloc(core::ptr::null_mut(), 40);
        assert!(!p.is_null());
        assert!(malloc_usable_size(p) >= 40);
        assert!(
            realloc(p, 0).is_null(),
            "realloc(p, 0) frees and returns NULL"
        );
        assert_eq!(malloc_usable_size(core::ptr::null_mut()), 0);
        free(core::ptr::null_mut());
        let z = malloc(0);
        assert!(!z.is_null(), "malloc(0) is a unique pointer");
        free_sized(z, 0);
        let a = aligned_alloc(4096, 5000);
        assert_eq!(a as usize % 4096, 0);
        free_aligned_sized(a, 4096, 5000);
    }
}
