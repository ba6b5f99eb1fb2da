//! Loom models of region release and tethering (`--cfg ebb_loom`, see docs/DEVELOPING.md).
//!
//! Each model checks, over every interleaving, that a region is freed exactly once, only
//! after its last handle and tether are gone, and that readers holding one can read it.

use crate::region::{Region, RegionConfig, RegionCounter};
use crate::tether::TetherCache;
use loom::thread;

fn counted() -> (Region, std::sync::Arc<RegionCounter>) {
    let c = RegionCounter::new();
    (
        Region::with_config(RegionConfig::new().counter(c.clone())),
        c,
    )
}

/// The owner and a handle on another thread drop concurrently: one frees.
#[test]
fn loom_release_handles() {
    loom::model(|| {
        let (r, c) = counted();
        let p = r.alloc(42u64);
        let h = r.handle();
        let t = thread::spawn(move || {
            assert_eq!(*h.get(p).unwrap(), 42);
            drop(h);
        });
        drop(r);
        t.join().unwrap();
        assert_eq!((c.created(), c.freed()), (1, 1));
    });
}

/// A tether on one thread and the last handle on another: the region outlives both
/// until the later drop, and is freed once.
#[test]
fn loom_release_tether_and_handle() {
    loom::model(|| {
        let (r, c) = counted();
        let p = r.alloc(7u32);
        let h = r.into_handle();
        let tether = h.tether();
        let t = thread::spawn(move || {
            assert_eq!(*tether.get(p).unwrap(), 7);
            drop(tether);
        });
        drop(h);
        t.join().unwrap();
        assert_eq!(c.freed(), 1);
    });
}

/// A thread's tether cache: its local tethers take one atomic tether, released at the
/// second quiescent point, while the owner drops the region concurrently.
#[test]
fn loom_local_cache_flush() {
    loom::model(|| {
        let (r, c) = counted();
        let p = r.alloc(3u8);
        let h = r.handle();
        let t = thread::spawn(move || {
            let cache = TetherCache::unguarded();
            let e1 = cache.tether(h.rcb).unwrap();
            let e2 = cache.tether(h.rcb).unwrap();
            assert_eq!(e1, e2);
            drop(h);
            // SAFETY (of the read): the cache entry's atomic tether keeps it alive.
            assert_eq!(*h_read(&cache, p), 3);
            cache.untether(e1);
            cache.untether(e2);
            assert_eq!(cache.flush(), 0, "used since the last quiescent point");
            assert_eq!(cache.flush(), 1);
        });
        drop(r);
        t.join().unwrap();
        assert_eq!(c.freed(), 1);
    });

    /// Reads through the cache's single entry (it holds the region alive).
    fn h_read<'a>(cache: &'a TetherCache, p: crate::RPtr<u8>) -> &'a u8 {
        let rcb = cache.entry(0).expect("entry 0 is held");
        // SAFETY: entry 0 owns an atomic tether on `rcb`, alive while `cache` is borrowed.
        unsafe { rcb.as_ref().read(p).unwrap() }
    }
}

/// The owner adopts a region while a reader on another thread checks a pointer of the
/// adopted region: it is either refused (not yet published) or read whole.
#[test]
fn loom_adopt_publishes_members() {
    loom::model(|| {
        let dst = Region::new();
        let src = Region::new();
        let p = src.alloc(99u64);
        let h = dst.handle();
        let t = thread::spawn(move || match h.get(p) {
            Ok(v) => assert_eq!(*v, 99),
            Err(e) => assert!(matches!(e, crate::RegionError::Foreign { .. })),
        });
        crate::adopt(&dst, src);
        assert_eq!(*dst.get(p).unwrap(), 99);
        t.join().unwrap();
    });
}
