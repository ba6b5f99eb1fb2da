//! Trie algebra against set operations on the model, and the lattice laws.

use crate::model::key;
use ebb_trie::PathMap;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn set_of(keys: &[Vec<u8>]) -> PathMap<()> {
    keys.iter().map(|k| (k, ())).collect()
}

fn keys(m: &PathMap<()>) -> BTreeSet<Vec<u8>> {
    m.assert_canonical();
    m.keys().collect()
}

fn map_of(kv: &[(Vec<u8>, u8)]) -> PathMap<u8> {
    kv.iter().map(|(k, v)| (k, *v)).collect()
}

fn entries(m: &PathMap<u8>) -> BTreeMap<Vec<u8>, u8> {
    m.assert_canonical();
    m.iter().map(|(k, v)| (k, *v)).collect()
}

fn kvs() -> impl Strategy<Value = Vec<(Vec<u8>, u8)>> {
    prop::collection::vec((key(), any::<u8>()), 0..30)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn set_operations_match_btreeset(a in prop::collection::vec(key(), 0..40), b in prop::collection::vec(key(), 0..40)) {
        let (ta, tb) = (set_of(&a), set_of(&b));
        let (sa, sb): (BTreeSet<Vec<u8>>, BTreeSet<Vec<u8>>) = (a.iter().cloned().collect(), b.iter().cloned().collect());
        let j = ta.join(&tb);
        prop_assert_eq!(keys(&j), sa.union(&sb).cloned().collect::<BTreeSet<_>>());
        prop_assert_eq!(j.len(), sa.union(&sb).count());
        prop_assert_eq!(keys(&ta.meet(&tb)), sa.intersection(&sb).cloned().collect::<BTreeSet<_>>());
        prop_assert_eq!(keys(&ta.subtract(&tb)), sa.difference(&sb).cloned().collect::<BTreeSet<_>>());
        let restricted: BTreeSet<Vec<u8>> = sa.iter().filter(|k| sb.iter().any(|p| k.starts_with(p))).cloned().collect();
        prop_assert_eq!(keys(&ta.restrict(&tb)), restricted);
    }

    #[test]
    fn values_combine_by_lattice(a in kvs(), b in kvs()) {
        let (ta, tb) = (map_of(&a), map_of(&b));
        let (ma, mb) = (entries(&ta), entries(&tb));
        let mut join = ma.clone();
        for (k, v) in &mb { join.entry(k.clone()).and_modify(|x| *x = (*x).max(*v)).or_insert(*v); }
        prop_assert_eq!(entries(&ta.join(&tb)), join);
        let meet: BTreeMap<Vec<u8>, u8> = ma.iter().filter_map(|(k, v)| mb.get(k).map(|w| (k.clone(), (*v).min(*w)))).collect();
        prop_assert_eq!(entries(&ta.meet(&tb)), meet);
    }

    #[test]
    fn lattice_laws(a in kvs(), b in kvs(), c in kvs()) {
        let (a, b, c) = (map_of(&a), map_of(&b), map_of(&c));
        // idempotence
        prop_assert_eq!(entries(&a.join(&a)), entries(&a));
        prop_assert_eq!(entries(&a.meet(&a)), entries(&a));
        // commutativity
        prop_assert_eq!(entries(&a.join(&b)), entries(&b.join(&a)));
        prop_assert_eq!(entries(&a.meet(&b)), entries(&b.meet(&a)));
        // associativity
        prop_assert_eq!(entries(&a.join(&b).join(&c)), entries(&a.join(&b.join(&c))));
        prop_assert_eq!(entries(&a.meet(&b).meet(&c)), entries(&a.meet(&b.meet(&c))));
        // absorption
        prop_assert_eq!(entries(&a.join(&a.meet(&b))), entries(&a));
        prop_assert_eq!(entries(&a.meet(&a.join(&b))), entries(&a));
        // subtract and meet partition the keys of `a`
        let parts: BTreeSet<Vec<u8>> = a.subtract(&b).join(&a.meet(&b)).keys().collect();
        prop_assert_eq!(parts, a.keys().collect::<BTreeSet<_>>());
        prop_assert!(a.subtract(&b).meet(&b).is_empty());
        // operations on an input and its own snapshot (the pointer-equality paths)
        let s = a.clone();
        prop_assert_eq!(entries(&a.join(&s)), entries(&a));
        prop_assert!(a.subtract(&s).is_empty());
        prop_assert_eq!(entries(&a.restrict(&s)), entries(&a));
    }

    #[test]
    fn a_dominated_input_is_absorbed_whole(a in kvs(), pick in prop::collection::vec(any::<bool>(), 30), down in 0u8..4) {
        // `b`: some of `a`'s keys, with values no larger, built apart from `a` (no node
        // shared). `a.join(b)` is `a` and `a.meet(b)` is `b`: through `u8`'s
        // `join_is_self`/`meet_is_self` every node of the result is an input's own (the
        // dominating input's, or, where the two are equal, either's).
        let ta = map_of(&a);
        let ea = entries(&ta);
        let b: Vec<(Vec<u8>, u8)> = ea
            .iter()
            .zip(&pick)
            .filter(|(_, p)| **p)
            .map(|((k, v), _)| (k.clone(), v.saturating_sub(down)))
            .collect();
        let tb = map_of(&b);
        let eb = entries(&tb);
        for j in [ta.join(&tb), tb.join(&ta)] {
            prop_assert_eq!(entries(&j), ea.clone());
            let (shared, total) = j.shared_nodes_with(&[&ta, &tb]);
            prop_assert_eq!(shared, total);
        }
        for m in [ta.meet(&tb), tb.meet(&ta)] {
            prop_assert_eq!(entries(&m), eb.clone());
            let (shared, total) = m.shared_nodes_with(&[&ta, &tb]);
            prop_assert_eq!(shared, total);
        }
    }

    #[test]
    fn algebra_on_snapshots_matches_fresh_tries(a in kvs(), edits in kvs()) {
        // `b` shares most of its nodes with `a`; the result must equal the one computed
        // on tries rebuilt from scratch (which share nothing).
        let ta = map_of(&a);
        let mut tb = ta.clone();
        for (k, v) in &edits { if v % 3 == 0 { tb.remove(k); } else { tb.insert(k, *v); } }
        let fa = map_of(&entries(&ta).into_iter().collect::<Vec<_>>());
        let fb = map_of(&entries(&tb).into_iter().collect::<Vec<_>>());
        prop_assert_eq!(entries(&ta.join(&tb)), entries(&fa.join(&fb)));
        prop_assert_eq!(entries(&ta.meet(&tb)), entries(&fa.meet(&fb)));
        prop_assert_eq!(entries(&ta.subtract(&tb)), entries(&fa.subtract(&fb)));
        prop_assert_eq!(entries(&tb.restrict(&ta)), entries(&fb.restrict(&fa)));
    }
}
