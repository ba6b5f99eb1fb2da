//! The facade re-exports each sub-crate under its feature: the paths below must name the
//! same items as the sub-crates' own, and work through the facade alone.

#[cfg(feature = "smr")]
#[test]
fn smr_is_reexported() {
    use ebb::smr::{Smr, SmrGuard, SmrHandle};
    use std::sync::atomic::{AtomicPtr, Ordering};

    let domain = ebb::smr::ebr::Domain::new();
    let handle = Smr::register(&domain);
    let cell = AtomicPtr::new(Box::into_raw(Box::new(41u64)));
    {
        let mut guard = SmrHandle::pin(&handle);
        let p = guard.protect(0, &cell);
        // SAFETY: `p` is protected by slot 0 of `guard`, which is alive.
        assert_eq!(unsafe { *p }, 41);
    }
    // The facade's path and the crate's path are the same type.
    let same: ebb_smr::ebr::Domain = domain.clone();
    assert_eq!(Smr::id(&same), Smr::id(&domain));
    drop(handle);
    // SAFETY: no thread uses the cell any more; the box is freed once.
    drop(unsafe { Box::from_raw(cell.load(Ordering::Relaxed)) });
}

#[cfg(feature = "slab")]
#[test]
fn slab_is_reexported() {
    let slab = ebb::slab::SlabAlloc::new();
    let epoch = slab
        .epoch_advance()
        .expect("a fresh allocator has free epochs");
    let h = slab.alloc_in(epoch, 64).expect("64 bytes fit a class");
    slab.free(h).expect("first free succeeds");
    assert_eq!(slab.free(h), Err(ebb_slab::Error::DoubleFree));
}

#[cfg(feature = "trie")]
#[test]
fn trie_is_reexported() {
    let mut m: ebb::trie::PathMap<u32> = ebb::trie::PathMap::new();
    m.insert(b"k", 1);
    let same: &ebb_trie::PathMap<u32> = &m;
    assert_eq!(same.get(b"k"), Some(&1));
}

#[cfg(feature = "region")]
#[test]
fn region_is_reexported() {
    let r = ebb::region::Region::new();
    let p = r.alloc(3u64);
    let same: &ebb_region::Region = &r;
    assert_eq!(*same.get(p).unwrap(), 3);
}

#[cfg(feature = "slab")]
#[test]
fn ebb_alloc_is_reexported() {
    use std::alloc::{GlobalAlloc, Layout};
    static A: ebb::EbbAlloc = ebb::EbbAlloc::new();
    let l = Layout::from_size_align(48, 16).unwrap();
    // SAFETY: non-zero size; freed once with the same layout.
    unsafe {
        let p = A.alloc(l);
        assert!(!p.is_null() && (p as usize).is_multiple_of(16));
        A.dealloc(p, l);
    }
    let _same: ebb_slab::EbbAlloc = A;
}

#[cfg(feature = "sync")]
#[test]
fn sync_is_reexported() {
    let q = ebb::sync::Queue::new();
    q.push(3u8);
    let same: &ebb_sync::Queue<u8> = &q;
    assert_eq!(same.pop(), Some(3));
    assert_eq!(q.pop(), None);
}
