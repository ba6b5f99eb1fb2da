//! Criterion micro-benchmarks: single operations, one thread, for quick A/B comparisons
//! while developing (`cargo bench -p ebb-benches`). The scaling tables come from
//! `cargo xtask bench`, which also sweeps threads and repeats runs.

use criterion::{Criterion, criterion_group, criterion_main};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

fn alloc_free_pair<A: GlobalAlloc>(a: &A, layout: Layout) {
    // SAFETY: the layout has a non-zero size; the block is checked for null and freed
    // once, with the layout it was allocated with.
    unsafe {
        let p = a.alloc(layout);
        assert!(!p.is_null());
        black_box(p).write(1);
        a.dealloc(p, layout);
    }
}

fn allocators(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_free_64");
    let layout = Layout::from_size_align(64, 8).expect("valid layout");
    g.bench_function("system", |b| b.iter(|| alloc_free_pair(&System, layout)));
    g.bench_function("jemalloc", |b| {
        b.iter(|| alloc_free_pair(&tikv_jemallocator::Jemalloc, layout))
    });
    g.bench_function("mimalloc", |b| {
        b.iter(|| alloc_free_pair(&mimalloc::MiMalloc, layout))
    });
    let slab = ebb_slab::SlabAlloc::new();
    let epoch = slab.epoch_current();
    let class = slab.class_for_size(64).expect("the 64-byte class");
    let mut local = slab.local();
    g.bench_function("ebb-slab-local-checked", |b| {
        b.iter(|| {
            let (h, p) = local.alloc_ptr_in(epoch, class).expect("alloc");
            // SAFETY: `p` is the fresh 64-byte object of `h`, ours until the free below.
            unsafe { black_box(p).as_ptr().write(1) };
            local.free(h).expect("free");
        })
    });
    g.bench_function("ebb-slab-local-owned", |b| {
        b.iter(|| {
            let (h, p) = local.alloc_ptr_in(epoch, class).expect("alloc");
            // SAFETY: as above.
            unsafe { black_box(p).as_ptr().write(1) };
            // SAFETY: `h` was just allocated here and no other thread sees it.
            unsafe { local.free_owned(h) }.expect("free");
        })
    });
    g.finish();
}

criterion_group!(benches, allocators);
criterion_main!(benches);
