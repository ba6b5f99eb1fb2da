//! Random operation sequences on `PathMap` and on a `BTreeMap` model must agree.

use ebb_trie::PathMap;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::ops::Bound;

/// Keys over a small alphabet, so that operations collide and share prefixes.
pub fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c']), 0..6),
        prop::collection::vec(any::<u8>(), 0..20),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Vec<u8>, u32),
    Remove(Vec<u8>),
    GetMut(Vec<u8>, u32),
    Snapshot,
    Rollback,
    RemovePrefix(Vec<u8>),
    Graft(Vec<u8>, Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (key(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        3 => key().prop_map(Op::Remove),
        1 => (key(), any::<u32>()).prop_map(|(k, v)| Op::GetMut(k, v)),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Rollback),
        1 => key().prop_map(Op::RemovePrefix),
        1 => (key(), key()).prop_map(|(a, b)| Op::Graft(a, b)),
    ]
}

type Snap = (PathMap<u32>, BTreeMap<Vec<u8>, u32>);

pub fn check(m: &PathMap<u32>, model: &BTreeMap<Vec<u8>, u32>) {
    m.assert_canonical();
    assert_eq!(m.len(), model.len());
    assert_eq!(m.is_empty(), model.is_empty());
    let got: Vec<(Vec<u8>, u32)> = m.iter().map(|(k, v)| (k, *v)).collect();
    let want: Vec<(Vec<u8>, u32)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(got, want);
    let mut via_each = Vec::new();
    m.for_each(|k, v| via_each.push((k.to_vec(), *v)));
    assert_eq!(via_each, want);
    let vals: Vec<u32> = m.values().copied().collect();
    assert_eq!(vals, want.iter().map(|(_, v)| *v).collect::<Vec<_>>());
}

fn bound(b: u8, k: &[u8]) -> Bound<&[u8]> {
    match b % 3 {
        0 => Bound::Included(k),
        1 => Bound::Excluded(k),
        _ => Bound::Unbounded,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn operations_match_btreemap(ops in prop::collection::vec(op(), 1..120)) {
        let mut m = PathMap::new();
        let mut model = BTreeMap::new();
        let mut snaps: Vec<Snap> = Vec::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => prop_assert_eq!(m.insert(&k, v), model.insert(k, v)),
                Op::Remove(k) => prop_assert_eq!(m.remove(&k), model.remove(&k)),
                Op::GetMut(k, v) => {
                    let a = m.get_mut(&k).map(|x| { *x = v; });
                    let b = model.get_mut(&k).map(|x| { *x = v; });
                    prop_assert_eq!(a, b);
                }
                Op::Snapshot => snaps.push((m.clone(), model.clone())),
                Op::Rollback => if let Some((a, b)) = snaps.pop() { m = a; model = b; },
                Op::RemovePrefix(p) => {
                    let had = model.keys().any(|k| k.starts_with(&p));
                    model.retain(|k, _| !k.starts_with(&p));
                    prop_assert_eq!(m.remove_prefix(&p), had);
                }
                Op::Graft(from, to) => {
                    // Move the subtrie under `from` to `to`, replacing what is there.
                    let sub = m.subtrie(&from);
                    let moved: Vec<(Vec<u8>, u32)> = model.iter()
                        .filter(|(k, _)| k.starts_with(&from))
                        .map(|(k, v)| ([&to[..], &k[from.len()..]].concat(), *v))
                        .collect();
                    model.retain(|k, _| !k.starts_with(&to));
                    model.extend(moved);
                    m.graft(&to, sub);
                }
            }
            for (k, v) in &model {
                prop_assert_eq!(m.get(k), Some(v));
            }
        }
        check(&m, &model);
        // Snapshots taken along the way are unchanged by everything after them.
        for (s, sm) in &snaps {
            check(s, sm);
        }
    }

    #[test]
    fn gets_of_absent_keys_miss(keys in prop::collection::vec(key(), 0..60), probes in prop::collection::vec(key(), 0..60)) {
        let m: PathMap<u32> = keys.iter().map(|k| (k, 1)).collect();
        for p in &probes {
            prop_assert_eq!(m.contains_key(p), keys.contains(p));
            prop_assert_eq!(m.contains_prefix(p), keys.iter().any(|k| k.starts_with(p)));
        }
    }

    #[test]
    fn range_and_prefix_match_btreemap(
        keys in prop::collection::vec(key(), 0..60),
        lo in key(), hi in key(), bl in any::<u8>(), bh in any::<u8>(), pre in key(),
    ) {
        let m: PathMap<u32> = keys.iter().enumerate().map(|(i, k)| (k, i as u32)).collect();
        let model: BTreeMap<Vec<u8>, u32> = keys.iter().enumerate().map(|(i, k)| (k.clone(), i as u32)).collect();
        let (a, b) = (bound(bl, &lo), bound(bh, &hi));
        let got: Vec<(Vec<u8>, u32)> = m.range::<&[u8], _>((a, b)).map(|(k, v)| (k, *v)).collect();
        // BTreeMap panics on inverted ranges; the trie yields nothing for them.
        let inverted = match (a, b) {
            (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) =>
                x > y || (x == y && !(matches!(a, Bound::Included(_)) && matches!(b, Bound::Included(_)))),
            _ => false,
        };
        let want: Vec<(Vec<u8>, u32)> = if inverted { Vec::new() } else {
            let a = a.map(|s| s.to_vec());
            let b = b.map(|s| s.to_vec());
            model.range((a, b)).map(|(k, v)| (k.clone(), *v)).collect()
        };
        prop_assert_eq!(got, want);
        let view = m.prefix(&pre);
        let got: Vec<(Vec<u8>, u32)> = view.iter().map(|(k, v)| (k, *v)).collect();
        let want: Vec<(Vec<u8>, u32)> = model.iter().filter(|(k, _)| k.starts_with(&pre)).map(|(k, v)| (k.clone(), *v)).collect();
        prop_assert_eq!(view.len(), want.len());
        prop_assert_eq!(got, want.clone());
        for (k, v) in &want {
            prop_assert_eq!(view.get(&k[pre.len()..]), Some(v));
        }
        let sub = m.subtrie(&pre);
        prop_assert_eq!(sub.len(), want.len());
    }
}

#[test]
fn maps_are_send_and_sync() {
    fn ok<T: Send + Sync>() {}
    ok::<PathMap<u64>>();
    ok::<PathMap<String>>();
}
