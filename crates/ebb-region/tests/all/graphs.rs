//! Random DAGs and cyclic graphs: the transmigrated copy is isomorphic to the source
//! (same shape, same sharing, same cycles), for the bitmap copier, the naive baseline,
//! the incremental evacuation and splicing.

use ebb_region::{
    Evacuation, RPtr, RSlice, Region, RegionConfig, Trace, splice, transmigrate, transmigrate_naive,
};
use proptest::prelude::*;
use std::cell::Cell;
use std::collections::HashMap;

#[derive(Trace)]
struct Node {
    label: u32,
    /// Set after allocation, so that edges may point forward (cycles).
    edges: Cell<RSlice<RPtr<Node>>>,
}

/// A graph spec: `edges[i]` lists the targets of node `i`.
fn build(r: &Region, edges: &[Vec<usize>]) -> Vec<RPtr<Node>> {
    let empty = r.alloc_slice::<RPtr<Node>>(&[]);
    let nodes: Vec<_> = (0..edges.len())
        .map(|i| {
            r.alloc(Node {
                label: i as u32,
                edges: Cell::new(empty),
            })
        })
        .collect();
    for (i, es) in edges.iter().enumerate() {
        let s = r.alloc_slice_with(es.len(), |j| nodes[es[j]]);
        r.get(nodes[i]).unwrap().edges.set(s);
    }
    nodes
}

/// Walks both graphs from their roots in lockstep, building a bijection between node
/// addresses; fails on any mismatch of labels, degree or edge targets.
fn isomorphic(a: &Region, ra: RPtr<Node>, b: &Region, rb: RPtr<Node>) -> Result<usize, String> {
    let mut fwd: HashMap<usize, usize> = HashMap::new();
    let mut back: HashMap<usize, usize> = HashMap::new();
    let mut work = vec![(ra, rb)];
    while let Some((x, y)) = work.pop() {
        match (fwd.get(&x.addr()), back.get(&y.addr())) {
            (Some(&fy), Some(&bx)) if fy == y.addr() && bx == x.addr() => continue,
            (None, None) => {}
            _ => return Err(format!("sharing differs at {x:?} / {y:?}")),
        }
        fwd.insert(x.addr(), y.addr());
        back.insert(y.addr(), x.addr());
        let nx = a.get(x).map_err(|e| e.to_string())?;
        let ny = b.get(y).map_err(|e| e.to_string())?;
        if nx.label != ny.label {
            return Err(format!("label {} vs {}", nx.label, ny.label));
        }
        let ex = a.slice(nx.edges.get()).map_err(|e| e.to_string())?;
        let ey = b.slice(ny.edges.get()).map_err(|e| e.to_string())?;
        if ex.len() != ey.len() {
            return Err("degree differs".into());
        }
        work.extend(ex.iter().copied().zip(ey.iter().copied()));
    }
    Ok(fwd.len())
}

fn dag() -> impl Strategy<Value = Vec<Vec<usize>>> {
    // Node `i` points only to nodes after it: acyclic, with sharing where targets repeat.
    (1usize..60).prop_flat_map(|n| {
        (0..n)
            .map(|i| {
                if i + 1 < n {
                    proptest::collection::vec(i + 1..n, 0..4).boxed()
                } else {
                    Just(Vec::new()).boxed()
                }
            })
            .collect::<Vec<_>>()
    })
}

fn cyclic() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (1usize..60)
        .prop_flat_map(|n| proptest::collection::vec(proptest::collection::vec(0..n, 0..4), n))
}

fn check_all(edges: &[Vec<usize>]) -> Result<(), TestCaseError> {
    let cfg = || RegionConfig::new().block_size(1024).unwrap();
    let src = Region::with_config(cfg());
    let nodes = build(&src, edges);
    let root = nodes[0];
    let dst = Region::with_config(cfg());
    let c = transmigrate(&src, root, &dst).unwrap();
    let n1 = isomorphic(&src, root, &dst, c).map_err(TestCaseError::fail)?;
    let c2 = transmigrate_naive(&src, root, &dst).unwrap();
    let n2 = isomorphic(&src, root, &dst, c2).map_err(TestCaseError::fail)?;
    prop_assert_eq!(n1, n2);
    // Incremental evacuation, a few objects per step.
    let src2 = Region::with_config(cfg());
    let root2 = build(&src2, edges)[0];
    let mut ev = Evacuation::start(src2, root2).unwrap();
    while !ev.step(3).unwrap() {}
    let r = ev.finish(&dst).unwrap();
    prop_assert_eq!(
        isomorphic(&src, root, &dst, r).map_err(TestCaseError::fail)?,
        n1
    );
    // Splicing keeps the very same graph.
    let src3 = Region::with_config(cfg());
    let root3 = build(&src3, edges)[0];
    let r = splice(src3, root3, &dst).map_err(|(_, e)| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(
        isomorphic(&src, root, &dst, r).map_err(TestCaseError::fail)?,
        n1
    );
    Ok(())
}

/// Graphs of hundreds to a couple of thousand nodes, spread over more 1 KiB blocks than
/// the copier's mirroring threshold: copies mix mirrored and compact blocks.
fn big_cyclic() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (300usize..2000).prop_flat_map(|n| {
        proptest::collection::vec(
            prop_oneof![
                // Mostly the next node or two (dense, chain-like runs), some long jumps.
                3 => (0..3usize).prop_map(move |k| (1..=k).map(|d| d % n).collect()),
                1 => proptest::collection::vec(0..n, 0..4),
            ],
            n,
        )
        .prop_map(|mut es: Vec<Vec<usize>>| {
            // Offsets above were relative for the dense kind: make them absolute.
            let n = es.len();
            for (i, e) in es.iter_mut().enumerate() {
                if e.iter().all(|&d| d <= 2) {
                    for d in e.iter_mut() {
                        *d = (i + *d) % n;
                    }
                }
            }
            es
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn large_graphs_copy_isomorphically(edges in big_cyclic()) {
        check_all(&edges)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn dags_copy_isomorphically(edges in dag()) {
        check_all(&edges)?;
    }

    #[test]
    fn cyclic_graphs_copy_isomorphically(edges in cyclic()) {
        check_all(&edges)?;
    }
}
