//! A bounded multi-threaded stress test: allocation, free, remote free, epoch advance and
//! close all at once, every handle validated, and a unique tag in every object checked on
//! every access, so a handle that resolved to another object would be caught.

use ebb_slab::{EpochId, Error, RawHandle, SlabAlloc, SlabConfig};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const THREADS: u64 = 4;
/// (Fewer under the sanitizers, whose instrumented runs are 5-20x slower.)
const OPS: u64 = if cfg!(miri) {
    300
} else if cfg!(ebb_sanitize) {
    50_000
} else {
    1_000_000
};
const TIME_LIMIT: Duration = Duration::from_secs(3);

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn write_tag(a: &SlabAlloc, h: RawHandle, tag: u64) {
    let p = a.get_ptr(h).expect("fresh handle is valid");
    // SAFETY: `h` is live and owned by this thread; every class holds >= 8 bytes.
    unsafe { p.cast::<u64>().as_ptr().write(tag) };
}

fn read_tag(a: &SlabAlloc, h: RawHandle) -> Result<u64, Error> {
    let p = a.get_ptr(h)?;
    // SAFETY: the caller owns `h` (nobody else frees it), so the object is live.
    Ok(unsafe { p.cast::<u64>().as_ptr().read() })
}

#[test]
fn stress_alloc_free_advance_close() {
    let a = SlabAlloc::with_config(SlabConfig {
        epochs: 8,
        cache_capacity: 4,
        ..SlabConfig::default()
    })
    .unwrap();
    let shared: Mutex<Vec<(RawHandle, u64)>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let tags = AtomicU64::new(1);
    let start = Instant::now();
    let closes = AtomicU64::new(0);
    std::thread::scope(|s| {
        // The epoch driver: advance, and close the epoch two behind.
        s.spawn(|| {
            let mut open: Vec<EpochId> = vec![a.epoch_current()];
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(2));
                if open.len() >= 3 {
                    let e = open.remove(0);
                    a.epoch_close(e).unwrap();
                    closes.fetch_add(1, Ordering::Relaxed);
                }
                open.push(a.epoch_advance().unwrap());
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (a, shared, tags) = (&a, &shared, &tags);
                s.spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t + 1));
                    let mut local = a.local();
                    let mut mine: Vec<(RawHandle, u64)> = Vec::new();
                    let mut freed: Vec<RawHandle> = Vec::new();
                    let mut ops = 0;
                    while ops < OPS && start.elapsed() < TIME_LIMIT {
                        ops += 1;
                        let r = rng.next();
                        match r % 8 {
                            0..=2 => {
                                let size = [8, 64, 100, 200, 500, 768][(r >> 8) as usize % 6];
                                let e = a.epoch_current();
                                let h = if r & (1 << 20) != 0 {
                                    local.alloc_in(e, size)
                                } else {
                                    a.alloc_in(e, size)
                                };
                                match h {
                                    Ok(h) => {
                                        let tag = tags.fetch_add(1, Ordering::Relaxed);
                                        write_tag(a, h, tag);
                                        mine.push((h, tag));
                                    }
                                    // The driver closed `e` between our two calls.
                                    Err(Error::EpochNotOpen { .. }) => {}
                                    Err(e) => panic!("alloc failed: {e}"),
                                }
                            }
                            3 | 4 if !mine.is_empty() => {
                                let (h, tag) = mine.swap_remove((r >> 8) as usize % mine.len());
                                assert_eq!(read_tag(a, h), Ok(tag), "handle resolved elsewhere");
                                let res = if r & (1 << 20) != 0 {
                                    local.free(h)
                                } else {
                                    a.free(h)
                                };
                                assert_eq!(res, Ok(()));
                                freed.push(h);
                            }
                            5 if !mine.is_empty() => {
                                let (h, tag) = mine[(r >> 8) as usize % mine.len()];
                                assert_eq!(read_tag(a, h), Ok(tag), "handle resolved elsewhere");
                            }
                            6 if !freed.is_empty() => {
                                let h = freed[(r >> 8) as usize % freed.len()];
                                assert_eq!(a.validate(h), Err(Error::Stale));
                                assert_eq!(local.free(h), Err(Error::DoubleFree));
                                if freed.len() > 256 {
                                    freed.swap_remove(0);
                                }
                            }
                            7 => {
                                // Hand objects to other threads, and free theirs.
                                let mut pool = shared.lock().unwrap();
                                if r & (1 << 21) != 0 && !mine.is_empty() {
                                    pool.push(mine.swap_remove(0));
                                } else if let Some((h, tag)) = pool.pop() {
                                    drop(pool);
                                    assert_eq!(
                                        read_tag(a, h),
                                        Ok(tag),
                                        "handle resolved elsewhere"
                                    );
                                    a.free(h).unwrap();
                                    freed.push(h);
                                }
                            }
                            _ => {}
                        }
                    }
                    for (h, tag) in mine {
                        assert_eq!(read_tag(a, h), Ok(tag));
                        local.free(h).unwrap();
                    }
                    ops
                })
            })
            .collect();
        let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        stop.store(true, Ordering::Relaxed);
        assert!(total > 0);
    });
    for (h, tag) in shared.into_inner().unwrap() {
        assert_eq!(read_tag(&a, h), Ok(tag));
        a.free(h).unwrap();
    }
    assert!(start.elapsed() < TIME_LIMIT + Duration::from_secs(2));
    if !cfg!(miri) {
        assert!(
            closes.load(Ordering::Relaxed) > 0,
            "the driver closed epochs"
        );
    }
    // Every object is freed: closing every open epoch recycles every slab still assigned.
    let mut c = 0;
    for class in 0..a.class_count() as u8 {
        c += a.counters(class).unwrap().slow_path_hits;
    }
    assert!(c > 0);
}
