//! A profiling driver for the transmigration loop (not a benchmark: the `region` bench
//! suite is). Builds a 1M-cell list or a 1M-node tree in allocation order and copies it
//! `ROUNDS` times, printing ns per object and the same bytes' `memcpy` time; for the
//! tree shapes also the naive copier's time and a read-only depth-first walk's (the
//! traversal alone, a floor for a copier that follows the same pointers).
//!
//! `cargo run --release -p ebb-region --example transmigrate_prof -- list|tree|dag|cyclic|scattered [rounds]`

use ebb_region::{
    BlockPool, RPtr, Region, Trace, transmigrate, transmigrate_counted, transmigrate_naive,
};
use std::cell::Cell;
use std::hint::black_box;
use std::time::Instant;

#[derive(Clone, Copy, Trace)]
struct Cons {
    car: u64,
    cdr: Option<RPtr<Cons>>,
}

#[derive(Trace)]
struct TNode {
    val: u64,
    l: Cell<Option<RPtr<TNode>>>,
    r: Cell<Option<RPtr<TNode>>>,
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn tree(r: &Region, n: usize, shape: &str) -> RPtr<TNode> {
    let mut order: Vec<usize> = (0..n).rev().collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    if shape == "scattered" {
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
    }
    let mut nodes = vec![None; n];
    for &i in &order {
        nodes[i] = Some(r.alloc(TNode {
            val: i as u64,
            l: Cell::new(None),
            r: Cell::new(None),
        }));
    }
    let nodes: Vec<RPtr<TNode>> = nodes.into_iter().map(|x| x.expect("all")).collect();
    for i in 0..n {
        let node = r.get(nodes[i]).expect("own");
        let kid = |k: usize, rng: &mut Rng| {
            let c = 2 * i + 1 + k;
            if c >= n {
                return None;
            }
            if shape == "dag" && k == 1 && rng.below(4) == 0 {
                let d = usize::BITS - 1 - (c + 1).leading_zeros();
                let lo = (1usize << d) - 1;
                let hi = ((1usize << (d + 1)) - 1).min(n);
                return Some(nodes[lo + rng.below(hi - lo)]);
            }
            Some(nodes[c])
        };
        node.l.set(kid(0, &mut rng));
        node.r.set(kid(1, &mut rng));
        if shape == "cyclic" && i > 0 && 2 * i + 1 >= n {
            // Leaves point back at their parent, as in the bench's cyclic graph.
            node.l.set(Some(nodes[(i - 1) / 2]));
        }
    }
    nodes[0]
}

/// Runs `f` and returns its wall time in seconds. (The thread's CPU time from
/// `/proc/thread-self/schedstat` is not used: for a running thread it advances only at
/// scheduler ticks, so a copy of a few milliseconds reads as whole ticks.)
fn timed(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let shape = args.get(1).map_or("list", String::as_str).to_string();
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let n = 1_000_000;
    BlockPool::global().prefault(1024);
    let src = Region::new();
    let (objects, bytes, secs) = if shape == "list" {
        let mut l = None;
        for i in 0..n {
            l = Some(src.alloc(Cons {
                car: i as u64,
                cdr: l,
            }));
        }
        let l = l.expect("n > 0");
        let (_, (o, b)) = transmigrate_counted(&src, l, &Region::new()).expect("own");
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let dst = Region::new();
            best = best.min(timed(|| {
                black_box(transmigrate(&src, l, &dst).expect("own"));
            }));
        }
        (o, b, best)
    } else {
        let t0 = tree(&src, n, &shape);
        let (_, (o, b)) = transmigrate_counted(&src, t0, &Region::new()).expect("own");
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let dst = Region::new();
            best = best.min(timed(|| {
                black_box(transmigrate(&src, t0, &dst).expect("own"));
            }));
        }
        let mut naive = f64::MAX;
        for _ in 0..rounds.min(5) {
            let dst = Region::new();
            naive = naive.min(timed(|| {
                black_box(transmigrate_naive(&src, t0, &dst).expect("own"));
            }));
        }
        // A read-only depth-first walk of the source graph with a visited set of one
        // bit per node id: the traversal's own cost, without copying or forwarding.
        let mut walk = f64::MAX;
        for _ in 0..rounds.min(5) {
            walk = walk.min(timed(|| {
                let mut seen = vec![0u64; n.div_ceil(64)];
                let mut stack = vec![t0];
                let mut sum = 0u64;
                while let Some(p) = stack.pop() {
                    let node = src.get(p).expect("own");
                    let id = node.val as usize;
                    if seen[id >> 6] & (1 << (id & 63)) != 0 {
                        continue;
                    }
                    seen[id >> 6] |= 1 << (id & 63);
                    sum += node.val;
                    stack.extend(node.l.get());
                    stack.extend(node.r.get());
                }
                black_box(sum);
            }));
        }
        println!(
            "naive {:.2} ns/obj; ebb is {:.2}x faster; read-only walk {:.2} ns/obj",
            naive * 1e9 / o as f64,
            naive / best,
            walk * 1e9 / o as f64
        );
        (o, b, best)
    };
    let from = vec![1u8; bytes];
    let mut to = vec![2u8; bytes];
    let mut mc = f64::MAX;
    for _ in 0..rounds {
        mc = mc.min(timed(|| to.copy_from_slice(black_box(&from))));
        black_box(&to);
    }
    println!(
        "{shape}: {objects} objects, {bytes} bytes: ebb {:.2} ns/obj {:.2} GB/s; memcpy {:.2} ns/obj {:.2} GB/s; ebb/memcpy bandwidth {:.0}%",
        secs * 1e9 / objects as f64,
        bytes as f64 / secs / 1e9,
        mc * 1e9 / objects as f64,
        bytes as f64 / mc / 1e9,
        100.0 * mc / secs
    );
}
