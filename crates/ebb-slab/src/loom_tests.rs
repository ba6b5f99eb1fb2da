//! Loom models of the fast path's bitmap CAS, the partial-slab publication, the
//! free/detach handshake, the double-free election (also between a `Local`'s inline free and
//! a remote one, and around a `Local`'s reissue of a stashed slot) and the close/last-free
//! recycling; and the page heap's thread-free list (`heap::tfree`).
//!
//! Run: `RUSTFLAGS="--cfg ebb_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p ebb-slab
//! --profile loom --lib loom`. Slabs are heap-backed under loom (see `slab.rs`); the
//! configurations are tiny (one class of 2 slots per slab, 2 epochs) to bound the models.

use crate::*;
use loom::sync::Arc;
use loom::thread;

/// One class whose 4 KiB slabs hold 2 objects.
fn tiny() -> SlabConfig {
    SlabConfig {
        size_classes: vec![1984],
        epochs: 2,
        max_slabs: 4,
        cache_capacity: 1,
        ..SlabConfig::default()
    }
}

/// One class whose 4 KiB slabs hold 3 objects: a `Local`'s magazine keeps a slot after
/// two allocations (the refill's and one from the magazine, both biased).
fn tiny3() -> SlabConfig {
    SlabConfig {
        size_classes: vec![1344],
        ..tiny()
    }
}

fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    eprintln!("loom model: {name}");
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = runs.clone();
    b.check(move || {
        r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f()
    });
    eprintln!(
        "loom model: {name}: {} executions",
        runs.load(std::sync::atomic::Ordering::Relaxed)
    );
}

#[test]
fn loom_fast_path_claims_distinct_slots() {
    model("fast path", || {
        let a = Arc::new(SlabAlloc::with_config(tiny()).unwrap());
        // Publish the slab first, so both threads race on the bitmap CAS only.
        let h0 = a.alloc(8).unwrap();
        a.free(h0).unwrap();
        let a2 = a.clone();
        let t = thread::spawn(move || a2.alloc(8).unwrap());
        let h1 = a.alloc(8).unwrap();
        let h2 = t.join().unwrap();
        let (p1, p2) = (h1.parts().unwrap(), h2.parts().unwrap());
        assert_ne!((p1.slab, p1.slot), (p2.slab, p2.slot));
        assert_eq!(a.slabs_created(), 1);
        a.free(h1).unwrap();
        a.free(h2).unwrap();
    });
}

#[test]
fn loom_slow_path_publishes_one_slab() {
    model("publication", || {
        let a = Arc::new(SlabAlloc::with_config(tiny()).unwrap());
        let a2 = a.clone();
        let t = thread::spawn(move || a2.alloc(8).unwrap());
        let h1 = a.alloc(8).unwrap();
        let h2 = t.join().unwrap();
        assert_ne!(h1, h2);
        // Both found no current_partial; only one created a slab, and both used it.
        assert_eq!(a.slabs_created(), 1);
        assert_eq!(a.counters(0).unwrap().new_slab_count, 1);
    });
}

#[test]
fn loom_free_races_detach() {
    model("free vs detach", || {
        let a = Arc::new(SlabAlloc::with_config(tiny()).unwrap());
        let h1 = a.alloc(8).unwrap();
        let h2 = a.alloc(8).unwrap(); // the slab is now full
        let a2 = a.clone();
        let t = thread::spawn(move || a2.free(h1).unwrap());
        // Finds the slab full and detaches it, racing with the free.
        let h3 = a.alloc(8).unwrap();
        t.join().unwrap();
        // Whichever side saw the other, the freed slot is reachable again: after two
        // more allocations one of them took it, and no more than 2 slabs exist.
        let h4 = a.alloc(8).unwrap();
        let h5 = a.alloc(8).unwrap();
        assert!(a.slabs_created() <= 2, "freed slot was lost");
        let slot1 = (h1.parts().unwrap().slab, h1.parts().unwrap().slot);
        assert!(
            [h3, h4, h5]
                .iter()
                .any(|h| (h.parts().unwrap().slab, h.parts().unwrap().slot) == slot1)
        );
        a.free(h2).unwrap();
    });
}

#[test]
fn loom_double_free_has_one_winner() {
    model("double free", || {
        let a = Arc::new(SlabAlloc::with_config(tiny()).unwrap());
        let h = a.alloc(8).unwrap();
        let a2 = a.clone();
        let t = thread::spawn(move || a2.free(h));
        let r1 = a.free(h);
        let r2 = t.join().unwrap();
        assert!(matches!(
            (r1, r2),
            (Ok(()), Err(Error::DoubleFree)) | (Err(Error::DoubleFree), Ok(()))
        ));
    });
}

#[test]
fn loom_close_races_last_free() {
    model("close vs last free", || {
        let a = Arc::new(SlabAlloc::with_config(tiny()).unwrap());
        let e = a.epoch_current();
        let h = a.alloc(8).unwrap();
        let a2 = a.clone();
        let t = thread::spawn(move || a2.free(h).unwrap());
        a.epoch_close(e).unwrap();
        t.join().unwrap();
        // Exactly one of the closer and the freer recycled the slab.
        let c = a.counters(0).unwrap();
        assert_eq!(c.empty_slab_recycled + c.empty_slab_overflowed, 1);
    });
}

#[test]
fn loom_local_magazine_and_remote_free() {
    model("local magazine", || {
        let a = Arc::new(SlabAlloc::with_config(tiny()).unwrap());
        let mut l = a.local();
        let h = l.alloc(8).unwrap();
        let h2 = l.alloc(8).unwrap();
        let a2 = a.clone();
        // A remote free through the shared bitmap races with the magazine's local free
        // and its flush (both RMW the same bitmap word and `claimed`).
        let t = thread::spawn(move || a2.free(h).unwrap());
        l.free(h2).unwrap();
        drop(l);
        t.join().unwrap();
        assert_eq!(a.free(h), Err(Error::DoubleFree));
        // Everything was released: both slots are claimable through the shared path.
        let x = a.alloc(8).unwrap();
        let y = a.alloc(8).unwrap();
        assert_eq!(a.slabs_created(), 1);
        a.free(x).unwrap();
        a.free(y).unwrap();
    });
}

#[test]
fn loom_stale_current_partial_is_rechecked() {
    model("stale current_partial", || {
        let a = Arc::new(SlabAlloc::with_config(tiny()).unwrap());
        let e0 = a.epoch_current();
        // Publish slab 0 as e0's current_partial, empty.
        let h0 = a.alloc_in(e0, 8).unwrap();
        a.free(h0).unwrap();
        let a2 = a.clone();
        // May load e0's current_partial, be preempted while the main thread closes e0
        // (recycling slab 0) and re-assigns slab 0 to e1, then claim a bit of it.
        let t = thread::spawn(move || a2.alloc_in(e0, 8));
        a.epoch_close(e0).unwrap();
        let e1 = a.epoch_advance().unwrap();
        let h1 = a.alloc_in(e1, 8).unwrap();
        let r = t.join().unwrap();
        match r {
            // Ordered before the close: its slab was not recycled under it.
            Ok(h) => {
                assert_ne!(h, h1);
                assert_eq!(a.validate(h), Ok(()));
                a.free(h).unwrap();
            }
            Err(e) => assert_eq!(e, Error::EpochNotOpen { epoch: e0 }),
        }
        // The stale claimer gave back whatever it claimed in e1's slab: both of its slots
        // are reachable by e1.
        let h2 = a.alloc_in(e1, 8).unwrap();
        let (p1, p2) = (h1.parts().unwrap(), h2.parts().unwrap());
        assert_ne!((p1.slab, p1.slot), (p2.slab, p2.slot));
        assert_eq!(a.validate(h1), Ok(()));
    });
}

#[test]
fn loom_local_inline_free_races_remote_free_of_one_handle() {
    model("local inline free vs remote free of one handle", || {
        let a = Arc::new(SlabAlloc::with_config(tiny()).unwrap());
        let mut l = a.local();
        // The magazine keeps the slab's other slot, so `l.free(h)` takes the inline path.
        let h = l.alloc(8).unwrap();
        let a2 = a.clone();
        let t = thread::spawn(move || a2.free(h));
        let mine = l.free(h);
        let theirs = t.join().unwrap();
        // Exactly one of the two frees wins the election; the other is told `DoubleFree`.
        assert!(mine.is_ok() != theirs.is_ok(), "{mine:?} {theirs:?}");
        assert_eq!(mine.err().or(theirs.err()), Some(Error::DoubleFree));
        // Whoever won, the slot comes back once, at a new generation: `h` stays dead and
        // no slot is handed out twice.
        let x = l.alloc(8).unwrap();
        let y = l.alloc(8).unwrap();
        let (px, py) = (x.parts().unwrap(), y.parts().unwrap());
        assert_ne!((px.slab, px.slot), (py.slab, py.slot));
        assert!(x != h && y != h);
        assert_eq!(a.validate(h), Err(Error::Stale));
        l.free(x).unwrap();
        l.free(y).unwrap();
    });
}

#[test]
fn loom_owner_plain_free_races_revoking_free() {
    model("owner plain free vs revoking free", || {
        let a = Arc::new(SlabAlloc::with_config(tiny3()).unwrap());
        let mut l = a.local();
        // Both allocations are biased to `l` (the refill's too); `h` is the magazine's,
        // and the magazine keeps the third slot, so `l.free(h)` takes the inline path.
        let h0 = l.alloc(8).unwrap();
        let h = l.alloc(8).unwrap();
        let p = h.parts().unwrap();
        let (chunk, i) = a.chunk(p.slab).unwrap();
        let sw = chunk.slot_word(i, p.slot as usize);
        assert_ne!(
            sw.load(loom::sync::atomic::Ordering::Relaxed) & crate::bias::OWNER_MASK,
            0
        );
        let a2 = a.clone();
        // The remote's CAS fails on the owner tag, so it revokes: the store-buffering
        // handshake against the owner's plain store.
        let t = thread::spawn(move || a2.free(h));
        let mine = l.free(h);
        let theirs = t.join().unwrap();
        assert!(mine.is_ok() != theirs.is_ok(), "{mine:?} {theirs:?}");
        assert_eq!(
            mine.clone().err().or(theirs.clone().err()),
            Some(Error::DoubleFree)
        );
        assert_eq!(
            a.validate(h),
            Err(Error::Stale),
            "mine {mine:?} theirs {theirs:?} word {:x}",
            sw.load(loom::sync::atomic::Ordering::Relaxed)
        );
        // The slot comes back once: three distinct live slots after refilling.
        let x = l.alloc(8).unwrap();
        let y = l.alloc(8).unwrap();
        let (px, py, p0) = (x.parts().unwrap(), y.parts().unwrap(), h0.parts().unwrap());
        assert_ne!((px.slab, px.slot), (py.slab, py.slot));
        assert_ne!((px.slab, px.slot), (p0.slab, p0.slot));
        assert_ne!((py.slab, py.slot), (p0.slab, p0.slot));
        l.free(x).unwrap();
        l.free(y).unwrap();
        l.free(h0).unwrap();
    });
}

#[test]
fn loom_owner_free_of_unbiased_slot_races_remote_free() {
    model("tagged free of an unbiased slot vs remote free", || {
        let a = Arc::new(SlabAlloc::with_config(tiny()).unwrap());
        let mut l = a.local();
        // A biased free leaves its handle in `l`'s `busy`.
        let h0 = l.alloc(8).unwrap();
        l.free(h0).unwrap();
        // A slot of the shared path is unbiased: `l` holds a tag but its first look at the
        // word skips the announcement, and both frees run the CAS election.
        let h = a.alloc(8).unwrap();
        let p = h.parts().unwrap();
        let (chunk, i) = a.chunk(p.slab).unwrap();
        let sw = chunk.slot_word(i, p.slot as usize);
        assert_eq!(
            sw.load(loom::sync::atomic::Ordering::Relaxed) & crate::bias::OWNER_MASK,
            0
        );
        let a2 = a.clone();
        let t = thread::spawn(move || a2.free(h));
        let mine = l.free(h);
        let theirs = t.join().unwrap();
        assert!(mine.is_ok() != theirs.is_ok(), "{mine:?} {theirs:?}");
        assert_eq!(mine.err().or(theirs.err()), Some(Error::DoubleFree));
        assert_eq!(a.validate(h), Err(Error::Stale));
        if l.tag != 0 {
            let busy = a
                .owners()
                .record(l.tag)
                .busy
                .load(loom::sync::atomic::Ordering::Relaxed);
            assert_eq!(busy, h0.to_bits(), "no announcement for an unbiased slot");
        }
    });
}

#[test]
fn loom_stash_reissue_races_remote_free_of_one_handle() {
    model("stash reissue vs remote free of one handle", || {
        let a = Arc::new(SlabAlloc::with_config(tiny()).unwrap());
        let mut l = a.local();
        // Both slots of slab 0: the magazine is empty afterwards, so `l.free(h)` misses it
        // and keeps the slot in the class's stash.
        let h = l.alloc(8).unwrap();
        let h2 = l.alloc(8).unwrap();
        let a2 = a.clone();
        let t = thread::spawn(move || a2.free(h));
        let mine = l.free(h);
        // Issues the stashed slot again when this thread's free won (a remote free that
        // comes later must not kill the new object), refills otherwise.
        let x = l.alloc(8).unwrap();
        let theirs = t.join().unwrap();
        assert!(mine.is_ok() != theirs.is_ok(), "{mine:?} {theirs:?}");
        assert_eq!(mine.err().or(theirs.err()), Some(Error::DoubleFree));
        assert_ne!(x, h);
        assert_eq!(a.validate(x), Ok(()));
        assert_eq!(a.validate(h2), Ok(()));
        assert_eq!(a.validate(h), Err(Error::Stale));
        let (px, p2) = (x.parts().unwrap(), h2.parts().unwrap());
        assert_ne!((px.slab, px.slot), (p2.slab, p2.slot));
        l.free(x).unwrap();
        l.free(h2).unwrap();
    });
}

// ---------------------------------------------------------------------------------------
// The page heap's thread-free list (`heap::tfree`): chains published with one CAS, the
// whole list taken with one swap.

/// A free block of the model: its link word and a payload the freeing thread writes before
/// publishing (loom cells, so a missing release/acquire pair shows as a race).
struct TfBlock {
    next: loom::cell::UnsafeCell<*mut u8>,
    data: loom::cell::UnsafeCell<usize>,
}

struct TfBlocks([TfBlock; 4]);
// SAFETY: each block is written by one thread at a time: its freeing thread until the
// push publishes it, then the owner after the swap that takes it (the model checks this).
unsafe impl Send for TfBlocks {}
// SAFETY: as above.
unsafe impl Sync for TfBlocks {}

fn tf_block(b: *mut u8) -> &'static TfBlock {
    // SAFETY: the model passes only addresses of blocks in a `TfBlocks` kept alive by an
    // `Arc` for the whole execution.
    unsafe { &*(b as *const TfBlock) }
}

fn tf_set_next(b: *mut u8, next: *mut u8) {
    // SAFETY: the caller owns the block (not yet published).
    tf_block(b).next.with_mut(|p| unsafe { *p = next });
}

fn tf_next(b: *mut u8) -> *mut u8 {
    // SAFETY: the owner took the block with the acquire swap.
    tf_block(b).next.with(|p| unsafe { *p })
}

/// Frees blocks `ids` (a private chain when more than one) onto `tf`, writing each
/// block's payload first.
fn tf_free(blocks: &TfBlocks, tf: &loom::sync::atomic::AtomicPtr<u8>, ids: &[usize]) {
    let addr = |i: usize| &blocks.0[i] as *const TfBlock as *mut u8;
    for &i in ids {
        // SAFETY: block `i` is this thread's until it is published.
        blocks.0[i].data.with_mut(|p| unsafe { *p = 100 + i });
    }
    for w in ids.windows(2) {
        tf_set_next(addr(w[0]), addr(w[1]));
    }
    // SAFETY: the chain's blocks are this thread's until the push lands.
    unsafe { crate::heap::tfree::push(tf, addr(ids[0]), addr(*ids.last().unwrap()), tf_set_next) };
}

#[test]
fn loom_thread_free_chains_and_take() {
    use crate::heap::tfree::Head;
    model("thread-free list", || {
        let blocks = Arc::new(TfBlocks(core::array::from_fn(|_| TfBlock {
            next: loom::cell::UnsafeCell::new(core::ptr::null_mut()),
            data: loom::cell::UnsafeCell::new(0),
        })));
        let tf = Arc::new(loom::sync::atomic::AtomicPtr::new(core::ptr::null_mut()));
        // One thread frees a private chain of two blocks (one CAS), the other two blocks
        // one push at a time; the owner takes the list whole while they push.
        let (b1, t1) = (blocks.clone(), tf.clone());
        let a = thread::spawn(move || tf_free(&b1, &t1, &[0, 1]));
        let (b2, t2) = (blocks.clone(), tf.clone());
        let b = thread::spawn(move || {
            tf_free(&b2, &t2, &[2]);
            tf_free(&b2, &t2, &[3]);
        });
        let mut seen = [false; 4];
        let mut count = 0;
        let mut walk = |mut p: *mut u8| {
            while !p.is_null() {
                let i = (p as usize - &blocks.0[0] as *const TfBlock as usize)
                    / core::mem::size_of::<TfBlock>();
                assert!(!seen[i], "block {i} taken twice");
                seen[i] = true;
                count += 1;
                // SAFETY: the owner took the block with the acquire swap.
                let d = blocks.0[i].data.with(|q| unsafe { *q });
                assert_eq!(d, 100 + i, "payload written before the push is visible");
                p = tf_next(p);
            }
        };
        walk(tf.take());
        a.join().unwrap();
        b.join().unwrap();
        walk(tf.take());
        assert_eq!(count, 4);
        assert!(tf.take().is_null());
    });
}
