//! Zippers against the model, and the ZipperHead's exclusivity under concurrent use.

use crate::model::key;
use ebb_trie::PathMap;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone)]
enum Move {
    Descend(Vec<u8>),
    Ascend(usize),
    Goto(Vec<u8>),
    NextVal,
    Set(u32),
    Remove,
    Prune,
}

fn mv() -> impl Strategy<Value = Move> {
    prop_oneof![
        3 => key().prop_map(Move::Descend),
        2 => (0usize..4).prop_map(Move::Ascend),
        2 => key().prop_map(Move::Goto),
        2 => Just(Move::NextVal),
        2 => any::<u32>().prop_map(Move::Set),
        1 => Just(Move::Remove),
        1 => Just(Move::Prune),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A read zipper's value, existence and child bytes at every step match the model;
    /// a write zipper's edits match the model's.
    #[test]
    fn zipper_moves_match_model(keys in prop::collection::vec(key(), 0..40), moves in prop::collection::vec(mv(), 1..60)) {
        let mut m: PathMap<u32> = keys.iter().enumerate().map(|(i, k)| (k, i as u32)).collect();
        let mut model: BTreeMap<Vec<u8>, u32> = keys.iter().enumerate().map(|(i, k)| (k.clone(), i as u32)).collect();
        let mut path: Vec<u8> = Vec::new();
        for mv in moves {
            // Read side: a fresh read zipper moved along the same path.
            {
                let mut z = m.read_zipper();
                z.move_to_path(&path);
                let exists = model.keys().any(|k| k.starts_with(&path));
                prop_assert_eq!(z.path_exists(), exists);
                prop_assert_eq!(z.val(), model.get(&path));
                let mut kids: Vec<u8> = model.keys().filter(|k| k.len() > path.len() && k.starts_with(&path)).map(|k| k[path.len()]).collect();
                kids.dedup();
                prop_assert_eq!(z.child_bytes(), kids);
                let below: Vec<(Vec<u8>, u32)> = z.iter().map(|(k, v)| (k, *v)).collect();
                let want: Vec<(Vec<u8>, u32)> = model.iter().filter(|(k, _)| k.starts_with(&path)).map(|(k, v)| (k[path.len()..].to_vec(), *v)).collect();
                prop_assert_eq!(below, want);
            }
            let mut w = m.write_zipper();
            w.move_to_path(&path);
            match mv {
                Move::Descend(b) => path.extend_from_slice(&b),
                Move::Ascend(n) => { let l = path.len().saturating_sub(n); path.truncate(l); }
                Move::Goto(p) => path = p,
                Move::NextVal => {
                    drop(w);
                    let mut z = m.read_zipper();
                    z.move_to_path(&path);
                    let next = model.range(path.clone()..).find(|(k, _)| **k > path).map(|(k, _)| k.clone());
                    prop_assert_eq!(z.to_next_val(), next.is_some());
                    if let Some(n) = next { prop_assert_eq!(z.path(), &n[..]); path = n; }
                    continue;
                }
                Move::Set(v) => prop_assert_eq!(w.set_val(v), model.insert(path.clone(), v)),
                Move::Remove => prop_assert_eq!(w.remove_val(), model.remove(&path)),
                Move::Prune => {
                    let had = model.keys().any(|k| k.len() > path.len() && k.starts_with(&path));
                    prop_assert_eq!(w.remove_branches(), had);
                    model.retain(|k, _| !(k.len() > path.len() && k.starts_with(&path)));
                }
            }
        }
        crate::model::check(&m, &model);
    }
}

#[test]
fn parallel_writes_at_disjoint_paths() {
    let threads = if cfg!(miri) { 2 } else { 8 };
    let per = if cfg!(miri) { 20 } else { 2000 };
    let mut m: PathMap<u64> = PathMap::new();
    m.insert(b"keep", 1);
    let head = m.zipper_head();
    std::thread::scope(|s| {
        for t in 0..threads {
            let head = &head;
            s.spawn(move || {
                let mut z = head
                    .write_zipper_at_exclusive_path(format!("t{t}/"))
                    .unwrap();
                for i in 0..per {
                    z.move_to_path(format!("{i}"));
                    assert_eq!(z.set_val(t * 1_000_000 + i), None);
                }
            });
        }
    });
    drop(head);
    assert_eq!(m.len() as u64, threads * per + 1);
    for t in 0..threads {
        for i in (0..per).step_by(7) {
            assert_eq!(m.get(format!("t{t}/{i}")), Some(&(t * 1_000_000 + i)));
        }
    }
    m.assert_canonical();
}

/// Threads race for zippers at overlapping paths; whenever one holds a zipper at a path,
/// no other holds one at a prefix or extension of it. Each path has a flag that its
/// holder sets and clears; an overlapping holder would see a set flag.
#[test]
fn exclusivity_holds_under_contention() {
    let paths: Vec<&[u8]> = vec![b"", b"a", b"ab", b"abc", b"b", b"ba", b"abd"];
    let holders: Vec<AtomicUsize> = paths.iter().map(|_| AtomicUsize::new(0)).collect();
    let overlap =
        |i: usize, j: usize| paths[i].starts_with(paths[j]) || paths[j].starts_with(paths[i]);
    let mut m: PathMap<u64> = PathMap::new();
    let head = m.zipper_head();
    let granted = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    let rounds = if cfg!(miri) { 20 } else { 3000 };
    let conflicts_seen = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4usize {
            let (head, holders, paths, granted, refused, conflicts_seen) =
                (&head, &holders, &paths, &granted, &refused, &conflicts_seen);
            s.spawn(move || {
                let mut x = t as u64 * 7 + 1;
                for _ in 0..rounds {
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                    let i = (x % paths.len() as u64) as usize;
                    let read = x & 64 != 0;
                    if read {
                        match head.read_zipper_at_path(paths[i]) {
                            Ok(r) => {
                                for (j, h) in holders.iter().enumerate() {
                                    if overlap(i, j) {
                                        assert_eq!(h.load(Ordering::SeqCst) & 1, 0, "reader at {i} beside writer at {j}");
                                    }
                                }
                                drop(r);
                            }
                            Err(e) => {
                                assert!(e.conflicting.iter().all(|c| c.starts_with(paths[i]) || paths[i].starts_with(c)));
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        continue;
                    }
                    match head.write_zipper_at_exclusive_path(paths[i]) {
                        Ok(mut z) => {
                            assert_eq!(holders[i].swap(1, Ordering::SeqCst), 0);
                            for (j, h) in holders.iter().enumerate() {
                                if j != i && overlap(i, j) {
                                    assert_eq!(h.load(Ordering::SeqCst), 0, "writers at {i} and {j}");
                                }
                            }
                            z.descend_to(t.to_string());
                            let v = z.val().copied().unwrap_or(0);
                            z.set_val(v + 1);
                            holders[i].store(0, Ordering::SeqCst);
                            granted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            assert!(!e.conflicting.is_empty());
                            if conflicts_seen.lock().unwrap().len() < 4 {
                                conflicts_seen.lock().unwrap().push(e.to_string());
                            }
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    assert!(head.live_paths().is_empty());
    drop(head);
    // Every granted write incremented one counter: the counters add up to the grants.
    let total: u64 = m.values().sum();
    assert_eq!(total, granted.load(Ordering::Relaxed) as u64);
    assert!(granted.load(Ordering::Relaxed) > 0);
}

#[test]
fn unchecked_write_zipper_writes() {
    let mut m: PathMap<u8> = PathMap::new();
    let head = m.zipper_head();
    // SAFETY: no other zipper of `head` is live.
    let mut z = unsafe { head.write_zipper_at_exclusive_path_unchecked(b"u") };
    z.set_val(9);
    drop(z);
    drop(head);
    assert_eq!(m.get(b"u"), Some(&9));
}

#[test]
fn write_zipper_graft_and_join() {
    let mut m: PathMap<u32> = [(&b"a/x"[..], 1), (b"a/y", 2), (b"b", 3)]
        .into_iter()
        .collect();
    let extra: PathMap<u32> = [(&b"y"[..], 5), (b"z", 6)].into_iter().collect();
    let mut z = m.write_zipper_at_path(b"a/");
    z.join_into(&extra);
    assert_eq!(z.val(), None);
    let sub = z.subtrie();
    assert_eq!(sub.len(), 3);
    z.move_to_path(b"");
    z.ascend(1);
    drop(z);
    assert_eq!(m.get(b"a/y"), Some(&5));
    assert_eq!(m.get(b"a/z"), Some(&6));
    let mut z = m.write_zipper();
    z.descend_to(b"c");
    z.graft(&sub);
    z.move_to_path(b"a/");
    let taken = z.take_subtrie();
    drop(z);
    assert_eq!(taken, sub);
    let keys: Vec<Vec<u8>> = m.keys().collect();
    assert_eq!(keys, [&b"b"[..], b"cx", b"cy", b"cz"]);
}
