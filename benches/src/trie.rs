//! The `trie` suite: ebb-trie's `PathMap` against the `pathmap` crate, `BTreeMap`,
//! `HashMap` and `qp-trie`; its interner against `lasso` and `dashmap`.
//!
//! Key sets (values are `u64`): `random` (16 random bytes), `urls` (URL-like paths over
//! 64 hosts and a small vocabulary of path segments, each ending in a unique id), `sexpr`
//! (s-expressions `(edge (node a) (node b) (label l) i)`), `dense` (big-endian `u64`s
//! 0..n). Sizes `10k` and `1m` (`--quick`: 10k and 30k, the larger named `..._big`
//! so that quick figures are never read as 1M figures).
//!
//! Single-threaded workloads (at `--threads 1` only, under the `system` runner), metric
//! `ns_per_op`, the median over `--repeats` rounds (1M keys: one round):
//!
//! * `insert_<keys>_<n>`: building the map by inserting every key, per key.
//! * `get_<keys>_<n>`: looking every key up in a shuffled order (10k: 100 passes, 10
//!   under `--quick`).
//! * `iter_<keys>_<n>`: visiting every entry in key order (hash map: its order), per
//!   entry, through each impl's fastest iteration (ebb `for_each`, pathmap's read
//!   zipper `to_next_get_val`, the std and qp-trie iterators).
//! * `remove_<keys>_<n>`: removing every key in a shuffled order, per key.
//! * `clone_1m` (`ns`): one clone of the 1M-key random map (ebb and pathmap: the median
//!   of 1000 clones, each dropped).
//! * `join_disjoint`, `meet_overlap` (`ms`): union of two 1M-key random maps with no key
//!   in common; intersection of two whose keys half overlap. `join_shared`,
//!   `meet_shared` (`ms`): the same for a map and a snapshot of it changed by 1000
//!   inserts. Peers: pathmap's `join`/`meet`, `BTreeSet`'s `|` and `&`.
//! * `open_file` (`ns`), `get_file` (`ns_per_op`): ebb's file form of the 1M random map,
//!   opened through `memmap2` and queried in place (the page cache is warm: the file was
//!   just written).
//! * `memory`: `bytes_per_key` (`B`) and `mib` (`MiB`) of the 1M random-key map, each impl
//!   built in a child process of its own (this runner re-run with a private workload),
//!   from the growth of its RSS over a baseline taken after the keys were generated.
//!
//! Multi-threaded workloads, at every thread count:
//!
//! * `parallel_get` (`ops/s`): every thread looks up 500k random keys (`--quick`: 50k) of one
//!   shared 1M-key random map (`--quick`: 30k keys).
//! * `parallel_insert` (`ops/s`, also under the `jemalloc` and `ebb` runners, the latter
//!   with ebb-slab's `EbbAlloc` as the process's global allocator): every thread inserts
//!   200k random keys (`--quick`: 20k) under a prefix of its own: ebb through a
//!   `ZipperHead` write zipper each, `dashmap` through `insert`. (pathmap's `ZipperHead`
//!   is not `Sync`, so it cannot be shared by the threads: no pathmap row.) Under another
//!   runner than `system` the impls are named `ebb-jemalloc`, `dashmap-ebballoc` and so on.
//! * `intern_insert`, `intern_lookup` (`ops/s`): every thread interns 100k strings of
//!   its own; every thread looks up random strings from 100k interned ones. ebb's
//!   `SharedMapping`, lasso's `ThreadedRodeo` (and for lookups `lasso-ahash`, the same
//!   with ahash, the faster hasher lasso documents), a `DashMap<Vec<u8>, u64>` with a shared
//!   counter, and `ebb-sync`: ebb-sync's lock-free `Interner` under QSBR (one registered
//!   handle per thread, a quiescent state every 100 operations).

use crate::harness::{self, Config, Row, Sink, Stat};
use ebb_smr::SmrHandle;
use ebb_trie::PathMap;
use ebb_trie::intern::SharedMapping;
#[cfg(target_feature = "aes")]
use pathmap::zipper::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hint::black_box;
use std::time::Instant;

/// Operations between two quiescent states of a QSBR reader (the `sync` suite's interval).
const QUIESCE_EVERY: usize = 100;

#[cfg(target_feature = "aes")]
type Pm = pathmap::PathMap<u64>;

/// xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut r = Rng(seed | 1);
    for i in (1..v.len()).rev() {
        v.swap(i, r.below(i + 1));
    }
}

fn random_keys(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut r = Rng(seed | 1);
    (0..n)
        .map(|_| {
            let mut k = r.next().to_le_bytes().to_vec();
            k.extend_from_slice(&r.next().to_le_bytes());
            k
        })
        .collect()
}

fn url_keys(n: usize) -> Vec<Vec<u8>> {
    const SEG: [&str; 16] = [
        "wiki", "docs", "api", "v1", "v2", "users", "items", "search", "blog", "2024", "2025",
        "en", "de", "static", "img", "tags",
    ];
    let mut r = Rng(0x5eed);
    (0..n)
        .map(|i| {
            let host = r.below(64);
            let a = SEG[r.below(16)];
            let b = SEG[r.below(16)];
            format!("https://host{host}.example.org/{a}/{b}/item-{i}.html").into_bytes()
        })
        .collect()
}

fn sexpr_keys(n: usize) -> Vec<Vec<u8>> {
    let mut r = Rng(0xabc);
    let m = (n / 8).max(8);
    (0..n)
        .map(|i| {
            format!(
                "(edge (node {}) (node {}) (label l{}) {i})",
                r.below(m),
                r.below(m),
                r.below(32)
            )
            .into_bytes()
        })
        .collect()
}

fn dense_keys(n: usize) -> Vec<Vec<u8>> {
    (0..n as u64).map(|i| i.to_be_bytes().to_vec()).collect()
}

// === the single-threaded maps ===

trait Map: Sized + Sync {
    const NAME: &'static str;
    fn build(keys: &[Vec<u8>]) -> Self;
    fn get(&self, k: &[u8]) -> Option<u64>;
    fn iter_sum(&self) -> u64;
    fn remove(&mut self, k: &[u8]) -> Option<u64>;
}

struct Ebb(PathMap<u64>);
impl Map for Ebb {
    const NAME: &'static str = "ebb";
    fn build(keys: &[Vec<u8>]) -> Self {
        let mut m = PathMap::new();
        for (i, k) in keys.iter().enumerate() {
            m.insert(k, i as u64);
        }
        Ebb(m)
    }
    #[inline]
    fn get(&self, k: &[u8]) -> Option<u64> {
        self.0.get(k).copied()
    }
    fn iter_sum(&self) -> u64 {
        let mut s = 0u64;
        self.0
            .for_each(|k, v| s = s.wrapping_add(*v ^ k.len() as u64));
        s
    }
    fn remove(&mut self, k: &[u8]) -> Option<u64> {
        self.0.remove(k)
    }
}

#[cfg(target_feature = "aes")]
struct PathMapCrate(Pm);
#[cfg(target_feature = "aes")]
impl Map for PathMapCrate {
    const NAME: &'static str = "pathmap";
    fn build(keys: &[Vec<u8>]) -> Self {
        let mut m = Pm::new();
        for (i, k) in keys.iter().enumerate() {
            m.set_val_at(k, i as u64);
        }
        PathMapCrate(m)
    }
    #[inline]
    fn get(&self, k: &[u8]) -> Option<u64> {
        self.0.get_val_at(k).copied()
    }
    fn iter_sum(&self) -> u64 {
        let mut s = 0u64;
        let mut z = self.0.read_zipper();
        while let Some(v) = z.to_next_get_val() {
            s = s.wrapping_add(*v ^ z.path().len() as u64);
        }
        s
    }
    fn remove(&mut self, k: &[u8]) -> Option<u64> {
        self.0.remove_val_at(k, true)
    }
}

struct Btree(BTreeMap<Vec<u8>, u64>);
impl Map for Btree {
    const NAME: &'static str = "btreemap";
    fn build(keys: &[Vec<u8>]) -> Self {
        Btree(
            keys.iter()
                .enumerate()
                .map(|(i, k)| (k.clone(), i as u64))
                .collect(),
        )
    }
    #[inline]
    fn get(&self, k: &[u8]) -> Option<u64> {
        self.0.get(k).copied()
    }
    fn iter_sum(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |s, (k, v)| s.wrapping_add(*v ^ k.len() as u64))
    }
    fn remove(&mut self, k: &[u8]) -> Option<u64> {
        self.0.remove(k)
    }
}

struct Hash(HashMap<Vec<u8>, u64>);
impl Map for Hash {
    const NAME: &'static str = "hashmap";
    fn build(keys: &[Vec<u8>]) -> Self {
        let mut m = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            m.insert(k.clone(), i as u64);
        }
        Hash(m)
    }
    #[inline]
    fn get(&self, k: &[u8]) -> Option<u64> {
        self.0.get(k).copied()
    }
    fn iter_sum(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |s, (k, v)| s.wrapping_add(*v ^ k.len() as u64))
    }
    fn remove(&mut self, k: &[u8]) -> Option<u64> {
        self.0.remove(k)
    }
}

struct Qp(qp_trie::Trie<Vec<u8>, u64>);
impl Map for Qp {
    const NAME: &'static str = "qp-trie";
    fn build(keys: &[Vec<u8>]) -> Self {
        let mut m = qp_trie::Trie::new();
        for (i, k) in keys.iter().enumerate() {
            m.insert(k.clone(), i as u64);
        }
        Qp(m)
    }
    #[inline]
    fn get(&self, k: &[u8]) -> Option<u64> {
        self.0.get(k).copied()
    }
    fn iter_sum(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |s, (k, v)| s.wrapping_add(*v ^ k.len() as u64))
    }
    fn remove(&mut self, k: &[u8]) -> Option<u64> {
        self.0.remove(k)
    }
}

fn per_op(start: Instant, ops: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / ops as f64
}

/// insert, get, iter and remove of one impl over one key set.
fn point_ops<M: Map>(
    keys: &[Vec<u8>],
    probe: &[usize],
    rounds: usize,
    lookups: usize,
    tag: &str,
    sink: &mut Sink,
) {
    let n = keys.len();
    let passes = (lookups / n).clamp(1, 100);
    let (mut ins, mut get, mut it, mut rem) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let t = Instant::now();
        let mut m = black_box(M::build(keys));
        ins.push(per_op(t, n));
        let t = Instant::now();
        let mut hits = 0u64;
        for _ in 0..passes {
            for &i in probe {
                hits += u64::from(m.get(&keys[i]).is_some());
            }
        }
        get.push(per_op(t, n * passes));
        assert_eq!(hits, (n * passes) as u64, "{} lost keys", M::NAME);
        let t = Instant::now();
        for _ in 0..passes.min(20) {
            black_box(m.iter_sum());
        }
        it.push(per_op(t, n * passes.min(20)));
        let t = Instant::now();
        for &i in probe {
            black_box(m.remove(&keys[i]));
        }
        rem.push(per_op(t, n));
        assert_eq!(m.get(&keys[probe[0]]), None);
    }
    for (w, v) in [("insert", ins), ("get", get), ("iter", it), ("remove", rem)] {
        sink.push(
            &format!("{w}_{tag}"),
            M::NAME,
            "ns_per_op",
            "ns",
            Stat::of(&v),
        );
    }
}

fn all_point_ops(keys: &[Vec<u8>], rounds: usize, lookups: usize, tag: &str, sink: &mut Sink) {
    let mut probe: Vec<usize> = (0..keys.len()).collect();
    shuffle(&mut probe, 99);
    point_ops::<Ebb>(keys, &probe, rounds, lookups, tag, sink);
    #[cfg(target_feature = "aes")]
    point_ops::<PathMapCrate>(keys, &probe, rounds, lookups, tag, sink);
    point_ops::<Btree>(keys, &probe, rounds, lookups, tag, sink);
    point_ops::<Hash>(keys, &probe, rounds, lookups, tag, sink);
    point_ops::<Qp>(keys, &probe, rounds, lookups, tag, sink);
}

// === memory, one child per impl ===

/// The map impls of this build: pathmap only where it builds (see `Cargo.toml`).
const PEERS: &[&str] = &[
    "ebb",
    #[cfg(target_feature = "aes")]
    "pathmap",
    "btreemap",
    "hashmap",
    "qp-trie",
];

fn memory_child(imp: &str, n: usize, sink: &mut Sink) -> Result<(), String> {
    let keys = random_keys(n, 1);
    let base = harness::rss_bytes();
    let grow = |f: &dyn Fn() -> Box<dyn std::any::Any>| {
        let kept = f();
        let after = harness::rss_bytes();
        black_box(&kept);
        after.saturating_sub(base)
    };
    let bytes = match imp {
        "ebb" => grow(&|| Box::new(Ebb::build(&keys).0)),
        #[cfg(target_feature = "aes")]
        "pathmap" => grow(&|| Box::new(PathMapCrate::build(&keys).0)),
        "btreemap" => grow(&|| Box::new(Btree::build(&keys).0)),
        "hashmap" => grow(&|| Box::new(Hash::build(&keys).0)),
        "qp-trie" => grow(&|| Box::new(Qp::build(&keys).0)),
        other => return Err(format!("no memory child for `{other}`")),
    };
    sink.push(
        "memory",
        imp,
        "bytes_per_key",
        "B",
        Stat::single(bytes as f64 / n as f64),
    );
    sink.push(
        "memory",
        imp,
        "mib",
        "MiB",
        Stat::single(harness::mb(bytes)),
    );
    Ok(())
}

fn memory(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    for imp in PEERS {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["--suite", "trie", "--threads", "1", "--repeats", "1"]);
        if cfg.quick {
            cmd.arg("--quick");
        }
        cmd.args(["--workload", &format!("memchild_{imp}")]);
        let out = cmd.output().map_err(|e| format!("memory child: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "memory child {imp} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let row: Row = serde_json::from_str(line).map_err(|e| format!("child row: {e}"))?;
            sink.push(
                &row.workload,
                &row.imp,
                &row.metric,
                &row.unit,
                Stat {
                    median: row.value,
                    min: row.min,
                    max: row.max,
                },
            );
        }
    }
    Ok(())
}

// === clone, algebra, file ===

fn time_ms(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

fn clones(n: usize, rounds: usize, sink: &mut Sink) {
    let keys = random_keys(n, 1);
    let e = Ebb::build(&keys).0;
    #[cfg(target_feature = "aes")]
    let p = PathMapCrate::build(&keys).0;
    let b = Btree::build(&keys).0;
    let q = Qp::build(&keys).0;
    let many = |f: &dyn Fn()| {
        let v: Vec<f64> = (0..rounds.max(3))
            .map(|_| {
                let t = Instant::now();
                for _ in 0..1000 {
                    f();
                }
                per_op(t, 1000)
            })
            .collect();
        Stat::of(&v)
    };
    sink.push(
        "clone_1m",
        "ebb",
        "ns",
        "ns",
        many(&|| drop(black_box(e.clone()))),
    );
    #[cfg(target_feature = "aes")]
    sink.push(
        "clone_1m",
        "pathmap",
        "ns",
        "ns",
        many(&|| drop(black_box(p.clone()))),
    );
    let once = |f: &dyn Fn()| {
        let v: Vec<f64> = (0..rounds)
            .map(|_| {
                let t = Instant::now();
                f();
                per_op(t, 1)
            })
            .collect();
        Stat::of(&v)
    };
    sink.push(
        "clone_1m",
        "btreemap",
        "ns",
        "ns",
        once(&|| drop(black_box(b.clone()))),
    );
    sink.push(
        "clone_1m",
        "qp-trie",
        "ns",
        "ns",
        once(&|| drop(black_box(q.clone()))),
    );
}

/// pathmap's times for one algebra case and the result's size.
#[cfg(target_feature = "aes")]
fn pathmap_algebra(
    a: &[Vec<u8>],
    other: &[Vec<u8>],
    extra: &[Vec<u8>],
    join: bool,
    rounds: usize,
) -> Option<(Vec<f64>, usize)> {
    let pa = PathMapCrate::build(a).0;
    let pb = if other.is_empty() {
        let mut pb = pa.clone();
        for k in extra {
            pb.set_val_at(k, 7);
        }
        pb
    } else {
        PathMapCrate::build(other).0
    };
    let t = (0..rounds)
        .map(|_| {
            if join {
                time_ms(|| drop(black_box(pa.join(&pb))))
            } else {
                time_ms(|| drop(black_box(pa.meet(&pb))))
            }
        })
        .collect();
    let len = if join {
        pa.join(&pb).val_count()
    } else {
        pa.meet(&pb).val_count()
    };
    Some((t, len))
}

#[cfg(not(target_feature = "aes"))]
fn pathmap_algebra(
    _: &[Vec<u8>],
    _: &[Vec<u8>],
    _: &[Vec<u8>],
    _: bool,
    _: usize,
) -> Option<(Vec<f64>, usize)> {
    None
}

fn algebra(n: usize, rounds: usize, sink: &mut Sink) {
    let a = random_keys(n, 1);
    let disjoint = random_keys(n, 2);
    let mut overlap: Vec<Vec<u8>> = a[..n / 2].to_vec();
    overlap.extend(random_keys(n - n / 2, 3));
    let extra = random_keys(1000, 4);

    let ea = Ebb::build(&a).0;
    let sa: BTreeSet<Vec<u8>> = a.iter().cloned().collect();
    let cases: [(&str, &[Vec<u8>], bool); 4] = [
        ("join_disjoint", &disjoint, true),
        ("meet_overlap", &overlap, false),
        ("join_shared", &[], true),
        ("meet_shared", &[], false),
    ];
    for (name, other, join) in cases {
        let (eb, sb) = if other.is_empty() {
            let mut eb = ea.clone();
            let mut sb = sa.clone();
            for k in &extra {
                eb.insert(k, 7);
                sb.insert(k.clone());
            }
            (eb, sb)
        } else {
            (Ebb::build(other).0, other.iter().cloned().collect())
        };
        let (mut te, mut ts) = (vec![], vec![]);
        for _ in 0..rounds {
            if join {
                te.push(time_ms(|| drop(black_box(ea.join(&eb)))));
                ts.push(time_ms(|| drop(black_box(&sa | &sb))));
            } else {
                te.push(time_ms(|| drop(black_box(ea.meet(&eb)))));
                ts.push(time_ms(|| drop(black_box(&sa & &sb))));
            }
        }
        // The impls agree on the result's size.
        let (le, ls) = if join {
            (ea.join(&eb).len(), (&sa | &sb).len())
        } else {
            (ea.meet(&eb).len(), (&sa & &sb).len())
        };
        assert_eq!(le, ls, "{name}: result sizes differ");
        sink.push(name, "ebb", "time_ms", "ms", Stat::of(&te));
        if let Some((tp, lp)) = pathmap_algebra(&a, other, &extra, join, rounds) {
            assert_eq!(lp, ls, "{name}: pathmap's result size differs");
            sink.push(name, "pathmap", "time_ms", "ms", Stat::of(&tp));
        }
        sink.push(name, "btreeset", "time_ms", "ms", Stat::of(&ts));
    }
}

fn file_form(n: usize, rounds: usize, sink: &mut Sink) -> Result<(), String> {
    let keys = random_keys(n, 1);
    let m = Ebb::build(&keys).0;
    let dir = std::env::temp_dir().join(format!("ebb-bench-trie-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("m.trie");
    m.write_file(&path).map_err(|e| e.to_string())?;
    let mut probe: Vec<usize> = (0..n).collect();
    shuffle(&mut probe, 5);
    let (mut open, mut get) = (vec![], vec![]);
    for _ in 0..rounds {
        let t = Instant::now();
        let f = ebb_trie::file::FileTrie::open(&path).map_err(|e| e.to_string())?;
        open.push(per_op(t, 1));
        let t = Instant::now();
        let mut hits = 0u64;
        for &i in &probe {
            hits += u64::from(f.get_bytes(&keys[i]).map_err(|e| e.to_string())?.is_some());
        }
        get.push(per_op(t, n));
        assert_eq!(hits, n as u64);
    }
    std::fs::remove_dir_all(&dir).map_err(|e| e.to_string())?;
    sink.push("open_file", "ebb", "ns", "ns", Stat::of(&open));
    sink.push("get_file", "ebb", "ns_per_op", "ns", Stat::of(&get));
    Ok(())
}

// === multi-threaded ===

fn parallel_get(cfg: &Config, n: usize, sink: &mut Sink) {
    let keys = random_keys(n, 1);
    let per = cfg.scale(500_000, 50_000);
    fn run<M: Map>(cfg: &Config, keys: &[Vec<u8>], per: u64, sink: &mut Sink) {
        let m = M::build(keys);
        let v: Vec<f64> = (0..cfg.repeats.min(2))
            .map(|_| {
                harness::ops_per_sec(cfg.threads, per, |t| {
                    let mut r = Rng(t as u64 * 7919 + 1);
                    let mut hits = 0u64;
                    for _ in 0..per {
                        hits += u64::from(m.get(&keys[r.below(keys.len())]).is_some());
                    }
                    assert_eq!(hits, per);
                })
            })
            .collect();
        sink.push(
            "parallel_get",
            M::NAME,
            "ops_per_sec",
            "ops/s",
            Stat::of(&v),
        );
    }
    run::<Ebb>(cfg, &keys, per, sink);
    #[cfg(target_feature = "aes")]
    run::<PathMapCrate>(cfg, &keys, per, sink);
    run::<Btree>(cfg, &keys, per, sink);
    run::<Hash>(cfg, &keys, per, sink);
    run::<Qp>(cfg, &keys, per, sink);
}

/// pathmap's `ZipperHead` is not `Sync` (it holds an `UnsafeCell`), so it cannot be
/// shared by scoped threads the way this workload shares ebb's; pathmap has no row here.
fn pathmap_parallel_insert(_: &Config, _: &[Vec<Vec<u8>>], _: usize) -> Option<f64> {
    None
}

fn parallel_insert(cfg: &Config, sink: &mut Sink) {
    let per = cfg.scale(200_000, 20_000) as usize;
    let keys: Vec<Vec<Vec<u8>>> = (0..cfg.threads)
        .map(|t| random_keys(per, 100 + t as u64))
        .collect();
    let rounds = cfg.repeats.min(2);
    let mut e = vec![];
    let mut p = vec![];
    let mut d = vec![];
    for _ in 0..rounds {
        let mut m: PathMap<u64> = PathMap::new();
        {
            let head = m.zipper_head();
            e.push(harness::ops_per_sec(cfg.threads, per as u64, |t| {
                let mut z = head
                    .write_zipper_at_exclusive_path([t as u8])
                    .expect("disjoint");
                for (i, k) in keys[t].iter().enumerate() {
                    z.move_to_path(k);
                    z.set_val(i as u64);
                }
            }));
        }
        assert_eq!(m.len(), per * cfg.threads);
        if let Some(x) = pathmap_parallel_insert(cfg, &keys, per) {
            p.push(x);
        }
        let dm: dashmap::DashMap<Vec<u8>, u64> = dashmap::DashMap::new();
        d.push(harness::ops_per_sec(cfg.threads, per as u64, |t| {
            for (i, k) in keys[t].iter().enumerate() {
                let mut key = Vec::with_capacity(k.len() + 1);
                key.push(t as u8);
                key.extend_from_slice(k);
                dm.insert(key, i as u64);
            }
        }));
        assert_eq!(dm.len(), per * cfg.threads);
    }
    // The report keys rows by impl and thread count, so the allocator goes in the name
    // (`ebb-jemalloc`, `dashmap-ebballoc`; the `ebb` runner's allocator is `EbbAlloc`).
    let name = |imp: &str| match cfg.allocator {
        "system" => imp.to_string(),
        "ebb" => format!("{imp}-ebballoc"),
        other => format!("{imp}-{other}"),
    };
    let w = "parallel_insert";
    sink.push(w, &name("ebb"), "ops_per_sec", "ops/s", Stat::of(&e));
    if !p.is_empty() {
        sink.push(w, &name("pathmap"), "ops_per_sec", "ops/s", Stat::of(&p));
    }
    sink.push(w, &name("dashmap"), "ops_per_sec", "ops/s", Stat::of(&d));
}

fn intern(cfg: &Config, sink: &mut Sink) {
    let per = cfg.scale(100_000, 10_000) as usize;
    let strings: Vec<Vec<String>> = (0..cfg.threads)
        .map(|t| {
            (0..per)
                .map(|i| format!("sym:{t}:{}", i.wrapping_mul(2654435761) % 1_000_003))
                .collect()
        })
        .collect();
    let rounds = cfg.repeats.min(2);
    let (mut e, mut l, mut d, mut y) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        // ebb-sync's lock-free intern table under QSBR: each thread registers once and
        // reports a quiescent state every `QUIESCE_EVERY` operations.
        let q = ebb_smr::qsbr::Domain::new();
        let tab: ebb_sync::Interner<ebb_smr::qsbr::Domain> = ebb_sync::Interner::with_domain(&q);
        y.push(harness::ops_per_sec(cfg.threads, per as u64, |t| {
            let mut h = q.register();
            for (i, s) in strings[t].iter().enumerate() {
                black_box(tab.intern_with(&h.pin(), s.as_bytes()).expect("room"));
                if i % QUIESCE_EVERY == 0 {
                    h.quiescent();
                }
            }
        }));
        let m = SharedMapping::new();
        e.push(harness::ops_per_sec(cfg.threads, per as u64, |t| {
            let mut p = m.permission().expect("a free permission");
            for s in &strings[t] {
                black_box(p.intern(s.as_bytes()));
            }
        }));
        let r: lasso::ThreadedRodeo = lasso::ThreadedRodeo::new();
        l.push(harness::ops_per_sec(cfg.threads, per as u64, |t| {
            for s in &strings[t] {
                black_box(r.get_or_intern(s));
            }
        }));
        let dm: dashmap::DashMap<Vec<u8>, u64> = dashmap::DashMap::new();
        let next = std::sync::atomic::AtomicU64::new(0);
        d.push(harness::ops_per_sec(cfg.threads, per as u64, |t| {
            for s in &strings[t] {
                let v = *dm
                    .entry(s.as_bytes().to_vec())
                    .or_insert_with(|| next.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
                black_box(v);
            }
        }));
    }
    sink.push("intern_insert", "ebb", "ops_per_sec", "ops/s", Stat::of(&e));
    sink.push(
        "intern_insert",
        "lasso",
        "ops_per_sec",
        "ops/s",
        Stat::of(&l),
    );
    sink.push(
        "intern_insert",
        "dashmap",
        "ops_per_sec",
        "ops/s",
        Stat::of(&d),
    );
    sink.push(
        "intern_insert",
        "ebb-sync",
        "ops_per_sec",
        "ops/s",
        Stat::of(&y),
    );

    // Lookups of strings interned beforehand.
    let all: Vec<String> = (0..per).map(|i| format!("lookup/{i}/{}", i % 97)).collect();
    let m = SharedMapping::new();
    {
        let mut p = m.permission().expect("a free permission");
        for s in &all {
            p.intern(s.as_bytes());
        }
    }
    let q = ebb_smr::qsbr::Domain::new();
    let tab: ebb_sync::Interner<ebb_smr::qsbr::Domain> = ebb_sync::Interner::with_domain(&q);
    {
        let h = q.register();
        for s in &all {
            tab.intern_with(&h.pin(), s.as_bytes()).expect("room");
        }
    }
    let r: lasso::ThreadedRodeo = lasso::ThreadedRodeo::new();
    // lasso with ahash, the faster hasher it documents (its default is SipHash).
    let ra: lasso::ThreadedRodeo<lasso::Spur, ahash::RandomState> =
        lasso::ThreadedRodeo::with_hasher(ahash::RandomState::new());
    let dm: dashmap::DashMap<Vec<u8>, u64> = dashmap::DashMap::new();
    for (i, s) in all.iter().enumerate() {
        r.get_or_intern(s);
        ra.get_or_intern(s);
        dm.insert(s.as_bytes().to_vec(), i as u64);
    }
    let ops = cfg.scale(500_000, 100_000);
    let look = |f: &(dyn Fn(&str) -> bool + Sync)| {
        let v: Vec<f64> = (0..rounds)
            .map(|_| {
                harness::ops_per_sec(cfg.threads, ops, |t| {
                    let mut rng = Rng(t as u64 * 31 + 7);
                    for _ in 0..ops {
                        assert!(f(&all[rng.below(all.len())]));
                    }
                })
            })
            .collect();
        Stat::of(&v)
    };
    sink.push(
        "intern_lookup",
        "ebb",
        "ops_per_sec",
        "ops/s",
        look(&|s| m.symbol(s.as_bytes()).is_some()),
    );
    sink.push(
        "intern_lookup",
        "lasso",
        "ops_per_sec",
        "ops/s",
        look(&|s| r.get(s).is_some()),
    );
    sink.push(
        "intern_lookup",
        "lasso-ahash",
        "ops_per_sec",
        "ops/s",
        look(&|s| ra.get(s).is_some()),
    );
    sink.push(
        "intern_lookup",
        "dashmap",
        "ops_per_sec",
        "ops/s",
        look(&|s| dm.get(s.as_bytes()).is_some()),
    );
    // ebb-sync's table needs a registered QSBR handle per thread, so it has its own loop
    // (the same key draws as `look`'s).
    let v: Vec<f64> = (0..rounds)
        .map(|_| {
            harness::ops_per_sec(cfg.threads, ops, |t| {
                let mut h = q.register();
                let mut rng = Rng(t as u64 * 31 + 7);
                for i in 0..ops {
                    let s = &all[rng.below(all.len())];
                    assert!(
                        tab.get_with(&h.pin(), s.as_bytes())
                            .expect("own domain")
                            .is_some()
                    );
                    if i % QUIESCE_EVERY as u64 == 0 {
                        h.quiescent();
                    }
                }
            })
        })
        .collect();
    sink.push(
        "intern_lookup",
        "ebb-sync",
        "ops_per_sec",
        "ops/s",
        Stat::of(&v),
    );
}

/// Makes a key set of the given size.
type KeyGen = fn(usize) -> Vec<Vec<u8>>;

/// Runs the suite.
pub fn run(cfg: &Config, sink: &mut Sink) -> Result<(), String> {
    let big = cfg.scale(1_000_000, 30_000) as usize;
    let lookups = cfg.scale(1_000_000, 100_000) as usize;
    let big_tag = if cfg.quick { "big" } else { "1m" };
    // A private workload: this process is a memory child of another.
    if let Some(w) = cfg
        .workloads
        .iter()
        .find_map(|w| w.strip_prefix("memchild_"))
    {
        return memory_child(w, big, sink);
    }
    if cfg.allocator != "system" {
        // Only the allocator-sensitive workload runs under other allocators.
        if cfg.wants("parallel_insert") {
            parallel_insert(cfg, sink);
        }
        return Ok(());
    }
    if cfg.threads == 1 {
        let sets: [(&str, KeyGen); 4] = [
            ("random", |n| random_keys(n, 1)),
            ("urls", url_keys),
            ("sexpr", sexpr_keys),
            ("dense", dense_keys),
        ];
        for (name, gen_keys) in sets {
            for (n, tag, rounds) in [(10_000usize, "10k", cfg.repeats), (big, big_tag, 1)] {
                let tag = format!("{name}_{tag}");
                if ["insert", "get", "iter", "remove"]
                    .iter()
                    .any(|w| cfg.wants(&format!("{w}_{tag}")))
                {
                    all_point_ops(&gen_keys(n), rounds, lookups, &tag, sink);
                }
            }
        }
        let rounds = cfg.repeats.min(2);
        if cfg.wants("clone_1m") {
            clones(big, rounds, sink);
        }
        if [
            "join_disjoint",
            "meet_overlap",
            "join_shared",
            "meet_shared",
        ]
        .iter()
        .any(|w| cfg.wants(w))
        {
            algebra(big, rounds, sink);
        }
        if cfg.wants("open_file") || cfg.wants("get_file") {
            file_form(big, rounds, sink)?;
        }
        if cfg.wants("memory") {
            memory(cfg, sink)?;
        }
    }
    if cfg.wants("parallel_get") {
        parallel_get(cfg, big, sink);
    }
    if cfg.wants("parallel_insert") {
        parallel_insert(cfg, sink);
    }
    if cfg.wants("intern_insert") || cfg.wants("intern_lookup") {
        intern(cfg, sink);
    }
    Ok(())
}
