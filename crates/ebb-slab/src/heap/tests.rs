//! Unit tests of the page heap, through its pointer API (the test binary's own global
//! allocator stays the system's).

use super::*;
use std::sync::{Mutex, MutexGuard};

/// The heap is one per process and its statistics are global: tests that allocate in bulk
/// or read `EbbAlloc::stats` run one at a time, so that one test's pages never show in
/// another's before/after figures.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn fill(p: *mut u8, n: usize, v: u8) {
    // SAFETY: the callers pass a live block of at least `n` bytes.
    unsafe { p.write_bytes(v, n) };
}

fn check_fill(p: *mut u8, n: usize, v: u8) -> bool {
    // SAFETY: as in `fill`.
    unsafe { (0..n).all(|i| *p.add(i) == v) }
}

#[test]
fn every_size_and_alignment_round_trips() {
    let _serial = serial();
    let mut live = Vec::new();
    for shift in 0..=23 {
        let align = 1usize << shift;
        for size in [
            1, 8, 16, 17, 63, 64, 65, 100, 255, 1000, 4096, 5000, 70_000, 200_000,
        ] {
            let p = alloc(size, align);
            assert!(!p.is_null(), "size {size} align {align}");
            assert_eq!(p as usize % align, 0, "size {size} align {align}");
            // SAFETY: `p` is live with that alignment.
            let usable = unsafe { usable_size(p, align) };
            assert_eq!(check(p), Ok(usable));
            assert!(usable >= size);
            fill(p, size, (size % 251) as u8);
            live.push((p, size, align));
        }
    }
    for &(p, size, align) in &live {
        assert!(
            check_fill(p, size, (size % 251) as u8),
            "size {size} align {align}"
        );
        // SAFETY: live, freed once.
        unsafe { free(p, align) };
    }
}

#[test]
fn malloc_alignment_is_at_least_16() {
    let _serial = serial();
    for size in 1..=2048 {
        let p = alloc(size, 16);
        assert_eq!(p as usize % 16, 0, "size {size}");
        // SAFETY: live, freed once.
        unsafe { free(p, 16) };
    }
}

#[test]
fn zeroed_memory_is_zero_after_reuse() {
    let _serial = serial();
    for round in 0..4 {
        let mut v = Vec::new();
        for i in 0..2000 {
            let size = 16 + (i * 37) % 3000;
            let p = alloc_zeroed(size, 8);
            assert!(check_fill(p, size, 0), "round {round} size {size}");
            fill(p, size, 0xab);
            v.push(p);
        }
        for p in v {
            // SAFETY: live, freed once.
            unsafe { free(p, 8) };
        }
    }
    let p = alloc_zeroed(3 << 20, 8);
    assert!(check_fill(p, 3 << 20, 0));
    // SAFETY: live, freed once.
    unsafe { free(p, 8) };
}

#[test]
fn realloc_keeps_contents_and_stays_in_place_within_the_block() {
    let _serial = serial();
    let mut p = alloc(10, 8);
    fill(p, 10, 3);
    // SAFETY: `p` is live with alignment 8 throughout; realloc returns the new live block.
    unsafe {
        let q = realloc(p, 8, 16);
        assert_eq!(q, p, "16 fits the 16-byte block");
        p = q;
        let mut n = 16;
        while n < 3 << 20 {
            let m = n * 3 / 2;
            let q = realloc(p, 8, m);
            assert!(!q.is_null());
            assert!(check_fill(q, 10, 3), "at {m}");
            fill(q.add(10), m - 10, 3);
            p = q;
            n = m;
        }
        let q = realloc(p, 8, 100);
        assert!(check_fill(q, 100, 3));
        free(q, 8);
    }
}

#[test]
fn bad_frees_are_recognised() {
    let _serial = serial();
    let p = alloc(48, 16);
    assert_eq!(check(p), Ok(48));
    // SAFETY: `p` is live; one byte in is still inside the block.
    assert_eq!(check(unsafe { p.add(16) }), Err(BadPointer::NotOurs));
    let stack = 5u64;
    assert_eq!(
        check(&stack as *const u64 as *mut u8),
        Err(BadPointer::NotOurs)
    );
    assert_eq!(check(ptr::null_mut()), Err(BadPointer::NotOurs));
    // SAFETY: freed once.
    unsafe { free(p, 16) };
    assert_eq!(check(p), Err(BadPointer::DoubleFree));
    let big = alloc(1 << 20, 16);
    assert!(check(big).is_ok());
    // SAFETY: `big` is live; an interior address.
    assert_eq!(check(unsafe { big.add(4096) }), Err(BadPointer::NotOurs));
    // SAFETY: freed once.
    unsafe { free(big, 16) };
    assert_eq!(check(big), Err(BadPointer::NotOurs));
}

#[test]
fn checked_free_refuses_the_header_the_tail_and_later_slices() {
    let _serial = serial();
    // A small class: 64 KiB pages of 48-byte blocks hold 1365 blocks, 16 bytes of tail.
    let p = alloc(48, 16);
    let seg = p as usize & !SEG_MASK;
    let page = p as usize & !(segment::SLICE_SIZE - 1);
    // The segment header (slice 0): its magic word, a descriptor, its last bytes.
    for a in [
        seg,
        seg + 64,
        seg + 128 + 640,
        seg + segment::SLICE_SIZE - 16,
    ] {
        assert_eq!(check(a as *mut u8), Err(BadPointer::NotOurs), "{a:#x}");
    }
    // The start of where block 1365 would be: a multiple of 48 past the last block.
    let tail = page + 1365 * 48;
    assert_eq!(check(tail as *mut u8), Err(BadPointer::NotOurs));
    // SAFETY: `tail` is not a live object (the check refused it), so nothing is freed.
    let r = unsafe { free_checked(tail as *mut u8) };
    assert_eq!(r, Err(BadPointer::NotOurs));
    // A medium class in a 1 MiB span: slices after the first belong to the same page.
    let m = alloc(16 * 1024, 16);
    assert_eq!(check(m), Ok(16 * 1024));
    // SAFETY: `m` is live and 16 KiB long; one block size past it is the next block,
    // 8 bytes past is inside a block.
    unsafe {
        assert_eq!(check(m.add(8)), Err(BadPointer::NotOurs));
        let next = m.add(16 * 1024);
        if (next as usize) & !SEG_MASK == (m as usize) & !SEG_MASK {
            // The next block was never handed out (or is live): never a crash.
            assert!(matches!(check(next), Ok(_) | Err(BadPointer::DoubleFree)));
        }
    }
    // SAFETY: both were allocated above and are freed once.
    unsafe {
        assert_eq!(free_checked(p), Ok(()));
        assert_eq!(free_checked(m), Ok(()));
        assert_eq!(free_checked(p), Err(BadPointer::DoubleFree));
        assert_eq!(free_checked(m), Err(BadPointer::DoubleFree));
    }
}

#[test]
fn an_unused_descriptor_has_no_blocks() {
    let d = segment::Page::EMPTY;
    for a in [0usize, 16, 4096, 1 << 20, usize::MAX] {
        assert_eq!(d.block_of(a), None);
    }
}

#[test]
fn cross_thread_frees_come_back() {
    let _serial = serial();
    const N: usize = 20_000;
    let ptrs: Vec<usize> = (0..N)
        .map(|i| {
            let p = alloc(16 + i % 200, 8);
            fill(p, 16, (i % 256) as u8);
            p as usize
        })
        .collect();
    let before = EbbAlloc::stats();
    std::thread::spawn(move || {
        for (i, &p) in ptrs.iter().enumerate() {
            assert!(check_fill(p as *mut u8, 16, (i % 256) as u8));
            // SAFETY: each pointer is live and freed once, here.
            unsafe { free(p as *mut u8, 8) };
        }
    })
    .join()
    .unwrap();
    // Allocating again collects the remote frees.
    let again: Vec<usize> = (0..N).map(|i| alloc(16 + i % 200, 8) as usize).collect();
    let after = EbbAlloc::stats();
    assert!(
        after.committed_bytes <= before.committed_bytes + (4 << 20),
        "remote frees were not reused: {} -> {}",
        before.committed_bytes,
        after.committed_bytes
    );
    for p in again {
        // SAFETY: live, freed once.
        unsafe { free(p as *mut u8, 8) };
    }
}

#[test]
fn collect_returns_empty_pages() {
    let _serial = serial();
    let v: Vec<usize> = (0..50_000).map(|_| alloc(256, 8) as usize).collect();
    let mid = EbbAlloc::stats();
    for p in v {
        // SAFETY: live, freed once.
        unsafe { free(p as *mut u8, 8) };
    }
    EbbAlloc::collect();
    let end = EbbAlloc::stats();
    let c = class::class_for_size(256);
    assert!(mid.classes[c].pages >= 50_000 * 256 / (64 << 10));
    assert!(
        end.classes[c].pages + 4 < mid.classes[c].pages,
        "{} -> {}",
        mid.classes[c].pages,
        end.classes[c].pages
    );
}

#[test]
fn exited_threads_pages_are_adopted_or_freed() {
    let _serial = serial();
    let kept: Vec<usize> = std::thread::spawn(|| {
        let v: Vec<usize> = (0..5000).map(|_| alloc(96, 8) as usize).collect();
        v
    })
    .join()
    .unwrap();
    for p in &kept {
        assert_eq!(check(*p as *mut u8), Ok(96));
    }
    for p in kept {
        // SAFETY: live, freed once.
        unsafe { free(p as *mut u8, 8) };
    }
    EbbAlloc::collect();
}
