//! The file form: round trips through a real file, and damaged files (random byte flips
//! and truncations) give an error or correct answers, never a panic.

use crate::model::key;
use ebb_trie::PathMap;
use ebb_trie::file::{FileError, FileTrie};
use proptest::prelude::*;

fn sample(keys: &[Vec<u8>]) -> PathMap<u64> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| (k, i as u64 * 31))
        .collect()
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot mmap files")]
fn write_open_query_in_place() {
    let m: PathMap<u64> = (0u64..5000)
        .map(|i| (format!("/srv/{}/{}", i % 17, i), i))
        .collect();
    let dir = std::env::temp_dir().join(format!("ebb-trie-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.trie");
    m.write_file(&path).unwrap();
    let f = FileTrie::open(&path).unwrap();
    assert_eq!(f.len(), 5000);
    for (k, v) in m.iter() {
        assert_eq!(f.get::<u64>(&k).unwrap(), Some(*v));
    }
    assert_eq!(f.get::<u64>(b"/srv/1/").unwrap(), None);
    let mut n = 0;
    f.for_each(|_, _| n += 1).unwrap();
    assert_eq!(n, 5000);
    std::fs::write(dir.join("short"), b"EBBTRIE1").unwrap();
    assert!(matches!(
        FileTrie::open(dir.join("short")),
        Err(FileError::TooShort { len: 8 })
    ));
    assert!(matches!(
        FileTrie::open(dir.join("missing")),
        Err(FileError::Io(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Truncate(usize),
    Set(usize, u8),
}

fn damage() -> impl Strategy<Value = Vec<Damage>> {
    prop::collection::vec(
        prop_oneof![
            (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Damage::Flip(i, x)),
            any::<usize>().prop_map(Damage::Truncate),
            (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Damage::Set(i, x)),
        ],
        1..4,
    )
}

fn apply(mut bytes: Vec<u8>, d: &[Damage]) -> Vec<u8> {
    for d in d {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len();
        match *d {
            Damage::Flip(i, x) => bytes[i % n] ^= x,
            Damage::Set(i, x) => bytes[i % n] = x,
            Damage::Truncate(i) => bytes.truncate(i % n),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 512 }))]

    /// Checked open: an error, or every answer right.
    #[test]
    fn damaged_files_are_refused_or_answer_correctly(keys in prop::collection::vec(key(), 1..40), d in damage(), probes in prop::collection::vec(key(), 0..20)) {
        let m = sample(&keys);
        let bytes = apply(m.to_file_bytes().unwrap(), &d);
        if let Ok(f) = FileTrie::from_bytes(bytes) {
            for k in keys.iter().chain(&probes) {
                if let Ok(v) = f.get::<u64>(k) {
                    prop_assert_eq!(v, m.get(k).copied());
                }
            }
        }
    }

    /// Without the checksum, every per-node check is reached: any answer or error, but
    /// no panic and no read out of bounds (which would panic on a slice index).
    #[test]
    fn structural_checks_never_panic(keys in prop::collection::vec(key(), 1..40), d in damage(), probes in prop::collection::vec(key(), 0..20)) {
        let m = sample(&keys);
        let bytes = apply(m.to_file_bytes().unwrap(), &d);
        if let Ok(f) = FileTrie::from_bytes_unchecked_sum(bytes) {
            for k in keys.iter().chain(&probes) {
                let _ = f.get::<u64>(k);
                let _ = f.get_bytes(k);
            }
            let mut n = 0usize;
            let _ = f.for_each(|_, _| n += 1);
            let _ = f.to_map::<u64>();
        }
    }

    #[test]
    fn round_trip_matches(keys in prop::collection::vec(key(), 0..60)) {
        let m = sample(&keys);
        let f = FileTrie::from_bytes(m.to_file_bytes().unwrap()).unwrap();
        prop_assert_eq!(f.to_map::<u64>().unwrap(), m.clone());
        for k in &keys {
            prop_assert_eq!(f.get::<u64>(k).unwrap(), m.get(k).copied());
        }
    }
}
