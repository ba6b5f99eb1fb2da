//! The `region` suite: ebb-region's allocation, tethering and transmigration against
//! bumpalo, typed-arena, Box/Rc deep clones, a naive copier and `memcpy`.
//!
//! * `bump_alloc` (`ns_per_op`): 1M allocations of 32 bytes (`[u64; 4]`) in a fresh arena
//!   (ebb: a new `Region` whose blocks come from the warm pool; bumpalo: `Bump::reset`
//!   keeps its chunk; typed-arena: a new `Arena` each round; box: `Box::new` kept in a
//!   `Vec` that is freed outside the timed span).
//! * `tether` (`ns_per_op`, every thread count): each thread takes and drops a tether on
//!   one shared region in a loop, sized per impl so that a repeat lasts about 120 ms
//!   (`harness::sized_ops`). `ebb-atomic`: one atomic add/sub pair on the region's
//!   word; `ebb-local`: the thread-local cache (a quiescent point every 1000 pairs, inside
//!   the loop); `ebb-hp`: pin + protect + unpin of a hazard pointer; `ebb-epoch`: pin/unpin.
//! * `transmigrate_{list,tree,dag,cyclic,scattered}` (`ns_per_object`, `gb_per_s`): 1M
//!   objects (100k with `--quick`) copied from their region into a fresh one. `list`:
//!   24-byte cons cells; `tree`: a complete binary tree of 40-byte nodes allocated
//!   children first; `dag`: the tree with a quarter of the right children replaced by a
//!   random node of the same level (shared); `cyclic`: the tree with a back edge from
//!   every node to its parent; `scattered`: the tree allocated in random order. Impls:
//!   `ebb` (the bitmap worklist copier), `naive` (recursive, `HashMap`; the list runs on a
//!   thread with a 4 GiB stack), `clone-box` (the same shape built from `Box` (list, tree,
//!   scattered) or `Rc` with a sharing map (dag); cyclic has no Box/Rc row: `Rc` cannot
//!   hold the cycles without `Weak`), and `memcpy` of the same bytes into a pre-faulted
//!   buffer. `gb_per_s` counts the object bytes copied.
//! * `adopt`, `splice` (`ns_per_op`) at 1k and 1M list cells: one operation on a region
//!   holding the list (the 1k rows average 1000 operations).
//! * `lisp_eval` (`ms_per_run`): `ebb::lisp::DEMO` with `fib 18`, on regions (a region per
//!   call) and on `Rc` values.

use crate::harness::{Config, Sink, Stat, repeat, run_parallel, sized_ops};
use ebb::lisp::{Interp, RcHeap, RegionHeap};
use ebb_region::{
    BlockPool, RPtr, Region, RegionConfig, RegionCounter, Trace, adopt, splice, transmigrate,
    transmigrate_counted, transmigrate_naive,
};
use std::cell::Cell;
use std::collections::HashMap;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Instant;

/// Runs the suite.
pub fn run(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    // Single-threaded workloads run once, in the 1-thread child.
    let single = cfg.threads == 1;
    if single {
        // Warm the block pool: every region of the suite takes pre-faulted blocks.
        BlockPool::global().prefault(1024);
    }
    if single && cfg.wants("bump_alloc") {
        bump_alloc(cfg, sink);
    }
    if cfg.wants("tether") {
        tether(cfg, sink);
    }
    for shape in [
        Shape::List,
        Shape::Tree,
        Shape::Dag,
        Shape::Cyclic,
        Shape::Scattered,
    ] {
        if single && cfg.wants(shape.workload()) {
            transmigrate_shape(cfg, sink, shape);
        }
    }
    if single && cfg.wants("adopt") {
        adopt_splice(cfg, sink, true);
    }
    if single && cfg.wants("splice") {
        adopt_splice(cfg, sink, false);
    }
    if single && cfg.wants("lisp_eval") {
        lisp_eval(cfg, sink);
    }
    Ok(())
}

// === bump_alloc ===

fn bump_alloc(cfg: &Config, sink: &mut Sink) {
    let n = cfg.scale(1_000_000, 100_000) as usize;
    let w = "bump_alloc";
    let per = |d: std::time::Duration| d.as_nanos() as f64 / n as f64;
    let mut bump = bumpalo::Bump::with_capacity(n * 32 + 4096);
    let s = repeat(cfg.repeats, || {
        let r = Region::new();
        let t = Instant::now();
        for i in 0..n {
            black_box(r.alloc([i as u64; 4]));
        }
        let d = t.elapsed();
        drop(r);
        per(d)
    });
    sink.push(w, "ebb", "ns_per_op", "ns", s);
    let s = repeat(cfg.repeats, || {
        bump.reset();
        let t = Instant::now();
        for i in 0..n {
            black_box(bump.alloc([i as u64; 4]));
        }
        per(t.elapsed())
    });
    sink.push(w, "bumpalo", "ns_per_op", "ns", s);
    let s = repeat(cfg.repeats, || {
        let a = typed_arena::Arena::with_capacity(n);
        let t = Instant::now();
        for i in 0..n {
            black_box(a.alloc([i as u64; 4]));
        }
        let d = t.elapsed();
        drop(a);
        per(d)
    });
    sink.push(w, "typed-arena", "ns_per_op", "ns", s);
    let s = repeat(cfg.repeats, || {
        let mut v = Vec::with_capacity(n);
        let t = Instant::now();
        for i in 0..n {
            v.push(Box::new([i as u64; 4]));
        }
        let d = t.elapsed();
        black_box(&v);
        drop(v);
        per(d)
    });
    sink.push(w, "box", "ns_per_op", "ns", s);
}

// === tether ===

fn tether(cfg: &Config, sink: &mut Sink) {
    let threads = cfg.threads;
    let w = "tether";
    let hp = ebb_smr::hp::Domain::new();
    let ebr = ebb_smr::ebr::Domain::new();
    // Each impl's loop is sized so that one repeat lasts about `target` seconds (at least
    // 100 ms in a full run): a fixed count would time the cheapest tethers over a few
    // milliseconds, where one preemption of one thread doubles the figure.
    let target = if cfg.quick { 0.01 } else { 0.12 };
    let measure = |sink: &mut Sink, name: &str, body: &(dyn Fn(u64) + Sync)| {
        let n = sized_ops(target, 100_000, |ops| {
            run_parallel(threads, |_| body(ops)).as_secs_f64()
        });
        let s = repeat(cfg.repeats, || {
            run_parallel(threads, |_| body(n)).as_nanos() as f64 / n as f64
        });
        sink.push(w, name, "ns_per_op", "ns", s);
    };

    let r = Region::new();
    let p = r.alloc(1u64);
    let h = r.into_handle();
    measure(sink, "ebb-atomic", &|n| {
        for _ in 0..n {
            let t = h.tether();
            black_box(t.get(p).is_ok());
        }
    });
    measure(sink, "ebb-local", &|n| {
        for i in 0..n {
            let t = h.tether_local();
            black_box(t.get(p).is_ok());
            drop(t);
            if i % 1000 == 999 {
                ebb_region::quiescent();
            }
        }
        ebb_region::quiescent();
        ebb_region::quiescent();
    });

    let r = Region::with_config(RegionConfig::new().hazard_pointers(&hp));
    let p = r.alloc(1u64);
    let hh = r.into_handle();
    measure(sink, "ebb-hp", &|n| {
        let me = hp.register();
        for _ in 0..n {
            let t = hh.tether_hp(&me).expect("hp region");
            black_box(t.get(p).is_ok());
        }
    });

    let r = Region::with_config(RegionConfig::new().epochs(&ebr));
    let p = r.alloc(1u64);
    let he = r.into_handle();
    measure(sink, "ebb-epoch", &|n| {
        let me = ebr.register();
        for _ in 0..n {
            let t = he.tether_epoch(&me).expect("epoch region");
            black_box(t.get(p).is_ok());
        }
    });
}

// === transmigrate ===

#[derive(Clone, Copy, Trace)]
struct Cons {
    car: u64,
    cdr: Option<RPtr<Cons>>,
}

/// A tree node; kids are `Cell`s so that graphs can be linked after allocation (random
/// order, back edges).
#[derive(Trace)]
struct TNode {
    val: u64,
    l: Cell<Option<RPtr<TNode>>>,
    r: Cell<Option<RPtr<TNode>>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    List,
    Tree,
    Dag,
    Cyclic,
    Scattered,
}

impl Shape {
    fn workload(self) -> &'static str {
        match self {
            Shape::List => "transmigrate_list",
            Shape::Tree => "transmigrate_tree",
            Shape::Dag => "transmigrate_dag",
            Shape::Cyclic => "transmigrate_cyclic",
            Shape::Scattered => "transmigrate_scattered",
        }
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The root of a region graph.
#[derive(Clone, Copy)]
enum Root {
    List(RPtr<Cons>),
    Tree(RPtr<TNode>),
}

/// Kid `k` (0 or 1) of heap-ordered node `i`, with the dag's sharing.
fn kid(shape: Shape, i: usize, k: usize, n: usize, rng: &mut Rng) -> Option<usize> {
    let c = 2 * i + 1 + k;
    if c >= n {
        return None;
    }
    if shape == Shape::Dag && k == 1 && rng.below(4) == 0 {
        // Another node of the kid's level (its level spans [2^d - 1, 2^(d+1) - 1)).
        let d = usize::BITS - 1 - (c + 1).leading_zeros();
        let lo = (1usize << d) - 1;
        let hi = ((1usize << (d + 1)) - 1).min(n);
        return Some(lo + rng.below(hi - lo));
    }
    Some(c)
}

/// Builds the region graph of `shape` with `n` nodes; returns the root.
fn build(shape: Shape, n: usize, r: &Region) -> Root {
    if shape == Shape::List {
        let mut l = None;
        for i in 0..n {
            l = Some(r.alloc(Cons {
                car: i as u64,
                cdr: l,
            }));
        }
        return Root::List(l.expect("n > 0"));
    }
    // Allocation order: children before parents (reverse heap order), or random.
    let mut order: Vec<usize> = (0..n).rev().collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    if shape == Shape::Scattered {
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
    }
    let mut nodes: Vec<Option<RPtr<TNode>>> = vec![None; n];
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
        node.l.set(kid(shape, i, 0, n, &mut rng).map(|c| nodes[c]));
        node.r.set(kid(shape, i, 1, n, &mut rng).map(|c| nodes[c]));
        if shape == Shape::Cyclic && i > 0 && 2 * i + 1 >= n {
            // Leaves point back at their parent: cycles through every leaf.
            node.l.set(Some(nodes[(i - 1) / 2]));
        }
    }
    Root::Tree(nodes[0])
}

/// Box/Rc twins of the region graphs.
#[derive(Clone)]
struct BoxTree {
    #[expect(dead_code, reason = "the payload the clone copies")]
    val: u64,
    l: Option<Box<BoxTree>>,
    r: Option<Box<BoxTree>>,
}

struct BoxList {
    car: u64,
    cdr: Option<Box<BoxList>>,
}

impl Drop for BoxList {
    fn drop(&mut self) {
        // Iterative: a 1M-cell list would overflow the stack in the derived drop.
        let mut next = self.cdr.take();
        while let Some(mut b) = next {
            next = b.cdr.take();
        }
    }
}

fn clone_list(l: &BoxList) -> BoxList {
    let mut head = BoxList {
        car: l.car,
        cdr: None,
    };
    let mut tail = &mut head.cdr;
    let mut cur = l.cdr.as_deref();
    while let Some(c) = cur {
        let b = tail.insert(Box::new(BoxList {
            car: c.car,
            cdr: None,
        }));
        tail = &mut b.cdr;
        cur = c.cdr.as_deref();
    }
    head
}

struct RcDag {
    val: u64,
    l: Option<Rc<RcDag>>,
    r: Option<Rc<RcDag>>,
}

/// Deep clone of an `Rc` DAG that keeps its sharing (a map from old to new nodes).
fn clone_dag(d: &Rc<RcDag>, seen: &mut HashMap<*const RcDag, Rc<RcDag>>) -> Rc<RcDag> {
    if let Some(c) = seen.get(&Rc::as_ptr(d)) {
        return c.clone();
    }
    let c = Rc::new(RcDag {
        val: d.val,
        l: d.l.as_ref().map(|x| clone_dag(x, seen)),
        r: d.r.as_ref().map(|x| clone_dag(x, seen)),
    });
    seen.insert(Rc::as_ptr(d), c.clone());
    c
}

fn box_tree(shape: Shape, n: usize) -> Box<BoxTree> {
    let mut order: Vec<usize> = (0..n).rev().collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    if shape == Shape::Scattered {
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
    }
    let mut nodes: Vec<Option<Box<BoxTree>>> = (0..n).map(|_| None).collect();
    for &i in &order {
        nodes[i] = Some(Box::new(BoxTree {
            val: i as u64,
            l: None,
            r: None,
        }));
    }
    for i in (0..n).rev() {
        let l = (2 * i + 1 < n).then(|| nodes[2 * i + 1].take().expect("once"));
        let r = (2 * i + 2 < n).then(|| nodes[2 * i + 2].take().expect("once"));
        let node = nodes[i].as_mut().expect("not taken yet");
        node.l = l;
        node.r = r;
    }
    nodes[0].take().expect("root")
}

fn rc_dag(n: usize) -> Rc<RcDag> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Same kids as the region dag (same generator sequence, heap order from the root).
    let kids: Vec<(Option<usize>, Option<usize>)> = (0..n)
        .map(|i| {
            (
                kid(Shape::Dag, i, 0, n, &mut rng),
                kid(Shape::Dag, i, 1, n, &mut rng),
            )
        })
        .collect();
    let mut nodes: Vec<Option<Rc<RcDag>>> = vec![None; n];
    for i in (0..n).rev() {
        let (l, r) = kids[i];
        nodes[i] = Some(Rc::new(RcDag {
            val: i as u64,
            l: l.map(|c| nodes[c].clone().expect("kids built first")),
            r: r.map(|c| nodes[c].clone().expect("kids built first")),
        }));
    }
    nodes[0].take().expect("root")
}

fn transmigrate_shape(cfg: &Config, sink: &mut Sink, shape: Shape) {
    let n = cfg.scale(1_000_000, 100_000) as usize;
    let w = shape.workload();
    let src = Region::new();
    let root = build(shape, n, &src);
    // The objects and bytes one copy moves (the reachable graph), for every impl's rows.
    let probe = Region::new();
    let (objects, bytes) = match root {
        Root::List(l) => transmigrate_counted(&src, l, &probe).expect("own graph").1,
        Root::Tree(t) => transmigrate_counted(&src, t, &probe).expect("own graph").1,
    };
    drop(probe);
    let push = |sink: &mut Sink, imp: &str, secs: Vec<f64>| {
        let ns: Vec<f64> = secs.iter().map(|s| s * 1e9 / objects as f64).collect();
        let gb: Vec<f64> = secs.iter().map(|s| bytes as f64 / s / 1e9).collect();
        sink.push(w, imp, "ns_per_object", "ns", Stat::of(&ns));
        sink.push(w, imp, "gb_per_s", "GB/s", Stat::of(&gb));
    };
    let reps = cfg.repeats;

    let mut secs = Vec::new();
    for _ in 0..reps {
        let dst = Region::new();
        let t = Instant::now();
        match root {
            Root::List(l) => {
                black_box(transmigrate(&src, l, &dst).expect("own graph"));
            }
            Root::Tree(x) => {
                black_box(transmigrate(&src, x, &dst).expect("own graph"));
            }
        }
        secs.push(t.elapsed().as_secs_f64());
    }
    push(sink, "ebb", secs);

    // Naive: recursive; the list needs a very deep stack. The region moves to that thread
    // and back (a `Region` is `Send`, not `Sync`).
    let (src, naive_secs) = std::thread::Builder::new()
        .stack_size(4 << 30)
        .spawn(move || {
            let mut secs = Vec::new();
            for _ in 0..reps {
                let dst = Region::new();
                let t = Instant::now();
                match root {
                    Root::List(l) => {
                        black_box(transmigrate_naive(&src, l, &dst).expect("own graph"));
                    }
                    Root::Tree(x) => {
                        black_box(transmigrate_naive(&src, x, &dst).expect("own graph"));
                    }
                }
                secs.push(t.elapsed().as_secs_f64());
            }
            (src, secs)
        })
        .expect("spawn the naive copier's thread")
        .join()
        .expect("naive copier");
    drop(src);
    push(sink, "naive", naive_secs);

    let mut secs = Vec::new();
    match shape {
        Shape::List => {
            let mut l = BoxList { car: 0, cdr: None };
            for i in 1..n {
                l = BoxList {
                    car: i as u64,
                    cdr: Some(Box::new(l)),
                };
            }
            for _ in 0..reps {
                let t = Instant::now();
                let c = clone_list(&l);
                secs.push(t.elapsed().as_secs_f64());
                drop(black_box(c));
            }
        }
        Shape::Tree | Shape::Scattered => {
            let b = box_tree(shape, n);
            for _ in 0..reps {
                let t = Instant::now();
                let c = b.clone();
                secs.push(t.elapsed().as_secs_f64());
                drop(black_box(c));
            }
        }
        Shape::Dag => {
            let d = rc_dag(n);
            for _ in 0..reps {
                let t = Instant::now();
                let c = clone_dag(&d, &mut HashMap::new());
                secs.push(t.elapsed().as_secs_f64());
                drop(black_box(c));
            }
        }
        Shape::Cyclic => {}
    }
    if !secs.is_empty() {
        push(sink, "clone-box", secs);
    }

    let from = vec![1u8; bytes];
    let mut to = vec![0u8; bytes];
    to.fill(2); // pre-fault the destination
    let mut secs = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        to.copy_from_slice(black_box(&from));
        secs.push(t.elapsed().as_secs_f64());
        black_box(&to);
    }
    push(sink, "memcpy", secs);
}

// === adopt and splice ===

fn adopt_splice(cfg: &Config, sink: &mut Sink, is_adopt: bool) {
    let w = if is_adopt { "adopt" } else { "splice" };
    let big = cfg.scale(1_000_000, 100_000) as usize;
    for (label, cells, ops) in [("1k", 1000usize, 1000usize), ("1M", big, 1)] {
        let s = repeat(cfg.repeats, || {
            let srcs: Vec<(Region, RPtr<Cons>)> = (0..ops)
                .map(|_| {
                    let r = Region::new();
                    let mut l = None;
                    for i in 0..cells {
                        l = Some(r.alloc(Cons {
                            car: i as u64,
                            cdr: l,
                        }));
                    }
                    (r, l.expect("cells > 0"))
                })
                .collect();
            let dst = Region::new();
            let t = Instant::now();
            for (r, l) in srcs {
                if is_adopt {
                    adopt(&dst, r);
                    black_box(l);
                } else {
                    black_box(splice(r, l, &dst).map_err(|(_, e)| e).expect("sole owner"));
                }
            }
            let d = t.elapsed();
            drop(dst);
            d.as_nanos() as f64 / ops as f64
        });
        sink.push(&format!("{w}_{label}"), "ebb", "ns_per_op", "ns", s);
    }
}

// === lisp_eval ===

fn lisp_eval(cfg: &Config, sink: &mut Sink) {
    let prog = ebb::lisp::DEMO.replace("(fib 15)", if cfg.quick { "(fib 15)" } else { "(fib 18)" });
    let s = repeat(cfg.repeats, || {
        let counter = RegionCounter::new();
        let mut it = Interp::new(RegionHeap::new(counter));
        let t = Instant::now();
        black_box(it.run(&prog).expect("demo runs"));
        t.elapsed().as_secs_f64() * 1e3
    });
    sink.push("lisp_eval", "ebb", "ms_per_run", "ms", s);
    let s = repeat(cfg.repeats, || {
        let mut it = Interp::new(RcHeap);
        let t = Instant::now();
        black_box(it.run(&prog).expect("demo runs"));
        t.elapsed().as_secs_f64() * 1e3
    });
    sink.push("lisp_eval", "rc", "ms_per_run", "ms", s);
}
