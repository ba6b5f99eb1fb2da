//! A ten-million-cell list transmigrates without touching the stack (the main thread's
//! stack would overflow many times over under a recursive copy).

use ebb_region::{RPtr, Region, Trace, transmigrate};

#[derive(Clone, Copy, Trace)]
struct Cons {
    car: u64,
    cdr: Option<RPtr<Cons>>,
}

#[test]
fn ten_million_cells() {
    // Shrunk under the sanitizers (their CI budget), still far past any stack.
    let k: u64 = if cfg!(miri) {
        1000
    } else if cfg!(ebb_sanitize) {
        1_000_000
    } else {
        10_000_000
    };
    // A small stack: a recursive copy would need ~k frames.
    let t = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            let src = Region::new();
            let mut l = None;
            for i in 0..k {
                l = Some(src.alloc(Cons { car: i, cdr: l }));
            }
            let dst = Region::new();
            let c = transmigrate(&src, l.unwrap(), &dst).unwrap();
            drop(src);
            let (mut n, mut sum, mut p) = (0u64, 0u64, Some(c));
            while let Some(x) = p {
                let cell = dst.get(x).unwrap();
                n += 1;
                sum = sum.wrapping_add(cell.car);
                p = cell.cdr;
            }
            (n, sum)
        })
        .unwrap();
    assert_eq!(t.join().unwrap(), (k, k * (k - 1) / 2));
}
