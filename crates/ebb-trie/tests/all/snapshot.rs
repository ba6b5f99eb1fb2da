//! Snapshots: a clone is a snapshot; rolling back is assigning it; a snapshot can be
//! iterated by one thread while another changes the original.

use ebb_trie::PathMap;

fn key(i: u32) -> [u8; 4] {
    i.to_be_bytes()
}

#[test]
fn snapshot_modify_roll_back() {
    let n = if cfg!(miri) { 100 } else { 10_000 };
    let mut m: PathMap<u32> = (0..n).map(|i| (key(i), i)).collect();
    let snap = m.clone();
    for i in (0..n).step_by(3) {
        m.remove(key(i));
    }
    for i in n..n + 500 {
        m.insert(key(i), i);
    }
    *m.get_mut(key(1)).unwrap() = 0;
    assert_eq!(snap.len(), n as usize);
    assert!((0..n).all(|i| snap.get(key(i)) == Some(&i)));
    assert_ne!(m, snap);
    // Roll back.
    m = snap.clone();
    assert_eq!(m, snap);
    assert_eq!(m.get(key(1)), Some(&1));
    // The rolled-back map shares its root with the snapshot: nothing was copied.
    let (shared, total) = m.shared_nodes_with(&[&snap]);
    assert_eq!(shared, total);
}

#[test]
fn iterate_a_snapshot_while_the_original_changes() {
    let n = if cfg!(miri) { 200 } else { 50_000 };
    let mut m: PathMap<u32> = (0..n).map(|i| (key(i * 2), i)).collect();
    let snap = m.clone();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            // Several passes, so that the writer's changes overlap them.
            let mut passes = 0;
            for _ in 0..4 {
                let mut expect = 0u32;
                for (k, v) in snap.iter() {
                    assert_eq!(k, key(expect * 2));
                    assert_eq!(*v, expect);
                    expect += 1;
                }
                assert_eq!(expect, n);
                passes += 1;
            }
            passes
        });
        for i in 0..n {
            m.insert(key(i * 2 + 1), i);
            if i % 2 == 0 {
                m.remove(key(i * 2));
            }
        }
        assert_eq!(reader.join().unwrap(), 4);
    });
    assert_eq!(m.len() as u32, n + n / 2);
    assert_eq!(snap.len() as u32, n);
}
