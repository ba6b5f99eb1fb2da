//! `EbbAlloc` as this test binary's global allocator: the test harness, std and every test
//! below allocate through it. A bounded multi-threaded stress with mixed sizes and
//! alignments, cross-thread frees, realloc chains and checked contents; allocation in
//! thread-local destructors.

mod common;

use std::alloc::{GlobalAlloc, Layout};
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ebb_slab::EbbAlloc;

#[global_allocator]
static GLOBAL: EbbAlloc = EbbAlloc::new();

/// A small xorshift generator: no allocation, reproducible per seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

struct Obj {
    p: *mut u8,
    layout: Layout,
    tag: u8,
}
// SAFETY: the object is a plain allocation, moved between threads whole.
unsafe impl Send for Obj {}

fn make(rng: &mut Rng) -> Obj {
    let r = rng.next();
    let size = match r % 100 {
        0..=69 => 1 + (r >> 8) as usize % 256,
        70..=94 => 1 + (r >> 8) as usize % 16_384,
        95..=98 => 1 + (r >> 8) as usize % 300_000,
        _ => 1 + (r >> 8) as usize % 3_000_000,
    };
    let align = 1usize << ((r >> 40) % 13); // 1 ..= 4096
    let layout = Layout::from_size_align(size, align).unwrap();
    // SAFETY: non-zero size.
    let p = unsafe { GLOBAL.alloc(layout) };
    assert!(!p.is_null());
    assert_eq!(p as usize % align, 0);
    let tag = (r >> 48) as u8;
    // SAFETY: `p` has `size` bytes.
    unsafe {
        p.write_bytes(tag, size.min(64));
        p.add(size - 1).write(tag ^ 0x5a);
    }
    Obj { p, layout, tag }
}

fn verify(o: &Obj) {
    let size = o.layout.size();
    // SAFETY: `o` is live.
    unsafe {
        for i in 0..size.min(64) {
            let want = if i == size - 1 { o.tag ^ 0x5a } else { o.tag };
            assert_eq!(*o.p.add(i), want, "byte {i} of a {size}-byte object");
        }
        assert_eq!(*o.p.add(size - 1), o.tag ^ 0x5a);
    }
}

fn kill(o: Obj) {
    verify(&o);
    // SAFETY: `o` came from GLOBAL with this layout.
    unsafe { GLOBAL.dealloc(o.p, o.layout) };
}

#[test]
fn stress_mixed_sizes_alignments_and_cross_thread_frees() {
    let threads = 4;
    let deadline = Instant::now() + Duration::from_secs(if cfg!(debug_assertions) { 4 } else { 2 });
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..threads).map(|_| mpsc::channel::<Vec<Obj>>()).unzip();
    let mut handles = Vec::new();
    for (t, rx) in rxs.into_iter().enumerate() {
        let tx = txs[(t + 1) % threads].clone();
        handles.push(std::thread::spawn(move || {
            let mut rng = Rng(0x9e37_79b9 ^ ((t as u64 + 1) * 0x1234_5678_9abc));
            let mut live: Vec<Obj> = Vec::new();
            let mut ops = 0u64;
            for round in 0..200_000u64 {
                if round % 64 == 0 && Instant::now() > deadline {
                    break;
                }
                ops += 1;
                match rng.next() % 10 {
                    0..=4 => live.push(make(&mut rng)),
                    5..=6 if !live.is_empty() => {
                        let i = rng.next() as usize % live.len();
                        kill(live.swap_remove(i));
                    }
                    7 if !live.is_empty() => {
                        // realloc chain step
                        let i = rng.next() as usize % live.len();
                        let o = &mut live[i];
                        verify(o);
                        let old = o.layout.size();
                        let new = (old * 3 / 2 + 1).min(1 << 20);
                        let keep = old.min(new).min(64);
                        // SAFETY: live object with its layout.
                        let q = unsafe { GLOBAL.realloc(o.p, o.layout, new) };
                        assert!(!q.is_null());
                        assert_eq!(q as usize % o.layout.align(), 0);
                        // SAFETY: `q` holds `new` bytes, the first `keep` preserved.
                        unsafe {
                            for k in 0..keep {
                                let want = if k == old - 1 { o.tag ^ 0x5a } else { o.tag };
                                assert_eq!(*q.add(k), want);
                            }
                            q.write_bytes(o.tag, new.min(64));
                            q.add(new - 1).write(o.tag ^ 0x5a);
                        }
                        o.p = q;
                        o.layout = Layout::from_size_align(new, o.layout.align()).unwrap();
                    }
                    8 if live.len() > 32 => {
                        // hand a batch to the next thread, which frees it
                        let n = live.len() / 2;
                        let batch: Vec<Obj> = live.drain(..n).collect();
                        let _ = tx.send(batch);
                    }
                    _ => {
                        while let Ok(batch) = rx.try_recv() {
                            for o in batch {
                                kill(o);
                            }
                        }
                    }
                }
                if live.len() > 2000 {
                    kill(live.swap_remove(0));
                }
            }
            drop(tx);
            (live, rx, ops)
        }));
    }
    drop(txs);
    let mut total = 0;
    let mut rest = Vec::new();
    for h in handles {
        let (live, rx, ops) = h.join().unwrap();
        total += ops;
        for o in live {
            kill(o);
        }
        rest.push(rx);
    }
    for rx in rest {
        while let Ok(batch) = rx.try_recv() {
            for o in batch {
                kill(o);
            }
        }
    }
    assert!(total > 1000, "only {total} operations ran");
    EbbAlloc::collect();
    let s = EbbAlloc::stats();
    assert_eq!(s.large_objects, 0, "large objects leaked");
}

#[test]
fn std_collections_work() {
    let mut m: BTreeMap<u64, String> = BTreeMap::new();
    let mut h: HashMap<String, Vec<u64>> = HashMap::new();
    for i in 0..20_000u64 {
        m.insert(i * 7919 % 10_007, format!("value-{i}"));
        h.entry(format!("k{}", i % 997)).or_default().push(i);
    }
    assert_eq!(m.len(), 10_007);
    assert_eq!(h.len(), 997);
    assert_eq!(h["k3"].len(), 21);
    let s: usize = m.values().map(|v| v.len()).sum();
    assert!(s > 10_007 * 7);
    let mut v: Vec<String> = m.into_values().collect();
    v.sort();
    v.dedup();
    assert!(v.len() <= 10_007);
}

struct AllocOnDrop(u8);
impl Drop for AllocOnDrop {
    fn drop(&mut self) {
        // Runs during thread exit, possibly after the heap's own thread-exit hook.
        let v: Vec<u8> = vec![self.0; 1000];
        let s = format!("{}", v.iter().map(|&b| b as u64).sum::<u64>());
        assert_eq!(s, (self.0 as u64 * 1000).to_string());
        let b = Box::new([self.0; 300_000]);
        assert_eq!(b[299_999], self.0);
    }
}

thread_local! {
    static ON_EXIT: AllocOnDrop = const { AllocOnDrop(7) };
}

#[test]
fn allocation_in_thread_local_destructors() {
    let hs: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                ON_EXIT.with(|_| {});
                let v: Vec<Box<u64>> = (0..1000).map(|k| Box::new(k + i)).collect();
                // returned to the parent thread and freed there, after this thread exits
                v
            })
        })
        .collect();
    let mut sum = 0;
    for h in hs {
        sum += h.join().unwrap().iter().map(|b| **b).sum::<u64>();
    }
    assert_eq!(sum, 8 * (999 * 1000 / 2) + 1000 * (0..8).sum::<u64>());
}

#[test]
fn stats_count_live_objects() {
    let c = ebb_slab::heap::NUM_CLASSES;
    assert_eq!(EbbAlloc::stats().classes.len(), c);
    let v: Vec<Box<[u8; 3000]>> = (0..500).map(|_| Box::new([1u8; 3000])).collect();
    let s = EbbAlloc::stats();
    let cls = s.classes.iter().find(|k| k.size >= 3000).unwrap();
    assert!(cls.live_objects >= 500, "{cls:?}");
    assert!(s.allocated_bytes >= 500 * 3000);
    drop(v);
}

/// Run in a child with `EBB_NUMA` set: prints the heap's NUMA stats.
#[test]
#[ignore = "run by numa_policy_from_env in a child process"]
fn numa_child_report() {
    let v: Vec<u8> = (0..100).collect();
    assert_eq!(v.len(), 100);
    println!("NUMA-STATS {:?}", EbbAlloc::stats().numa);
}

#[test]
fn numa_policy_from_env() {
    let child = |env: &str| common::numa_stats_of_child("numa_child_report", env);
    let single =
        std::fs::read_to_string("/sys/devices/system/node/online").is_ok_and(|s| s.trim() == "0");
    let s = child("node:0");
    assert!(
        s.contains("policy: Some(Node(0))") && s.contains("source: Env"),
        "{s}"
    );
    if single {
        assert!(
            s.contains("state: SingleNode") && s.contains("nodes: 1"),
            "{s}"
        );
    }
    let s = child("interleave");
    assert!(s.contains("policy: Some(Interleave)"), "{s}");
    // Malformed values and absent nodes are reported, and allocation still works.
    let s = child("sideways");
    assert!(
        s.contains("policy: None") && s.contains("state: Error(BadPolicy)"),
        "{s}"
    );
    let s = child("node:63");
    assert!(s.contains("state: Error(NoSuchNode(63))"), "{s}");
}
