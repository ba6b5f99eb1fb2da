//! A typed layer: [`TypedSlab<T>`] stores values of `T`, addressed by [`Handle<T>`].
//!
//! # Why `get` is sound
//!
//! A `Handle<T>` is an owner token: it is not `Clone`, and [`TypedSlab::remove`] consumes
//! it. [`TypedSlab::get`] borrows the handle for as long as the returned `&T` lives, so
//! while any reference to the value exists the handle cannot be removed, and since no
//! other copy of the handle exists (short of the `unsafe` [`TypedSlab::from_raw`]), no
//! other thread can free the value either. Epoch closes never free live objects, and
//! [`TypedSlab::epoch_release`], which does, takes the slab by `&mut`, so no reference
//! is alive when it drops them. So the reference cannot dangle or alias a later object. [`TypedSlab::get_mut`] takes the
//! handle by `&mut` for the same reason. The generation check still runs on every access;
//! with safe code it can only fail for a handle of another `TypedSlab`, which is caught
//! by the allocator id the handle carries ([`Error::WrongAllocator`]).

use crate::alloc::SlabAlloc;
use crate::config::SlabConfig;
use crate::epoch::EpochId;
use crate::error::{Error, Result};
use crate::handle::RawHandle;
use crate::slab::{HEADER_SIZE, LIVE};
use std::marker::PhantomData;
use std::mem::{align_of, size_of};

/// An owning handle to a `T` in a [`TypedSlab<T>`]. Not `Clone`: it is the value's one
/// owner token.
pub struct Handle<T> {
    raw: RawHandle,
    instance: u64,
    _marker: PhantomData<fn() -> T>,
}

impl<T> Handle<T> {
    /// The untyped handle (for logging or hashing; it cannot free the value).
    pub fn raw(&self) -> RawHandle {
        self.raw
    }

    /// Gives up the owner token, leaving the value in the slab until
    /// [`TypedSlab::from_raw`] rebuilds the handle.
    pub fn into_raw(self) -> RawHandle {
        self.raw
    }
}

impl<T> std::fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Handle").field(&self.raw).finish()
    }
}

impl<T> PartialEq for Handle<T> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw && self.instance == other.instance
    }
}

impl<T> Eq for Handle<T> {}

/// A slab of `T` values behind generation-checked, owner-token handles.
pub struct TypedSlab<T> {
    alloc: SlabAlloc,
    _marker: PhantomData<*mut T>,
}

// SAFETY: the slab owns its `T`s; moving it moves them, which needs `T: Send`.
unsafe impl<T: Send> Send for TypedSlab<T> {}
// SAFETY: `&TypedSlab<T>` inserts and removes `T`s from any thread (needs `T: Send`) and
// hands out `&T` to any thread (needs `T: Sync`); the allocator itself is thread-safe.
unsafe impl<T: Send + Sync> Sync for TypedSlab<T> {}

impl<T> Default for TypedSlab<T> {
    fn default() -> Self {
        TypedSlab::new()
    }
}

impl<T> TypedSlab<T> {
    /// A slab for `T` with default slab and epoch settings.
    ///
    /// # Panics
    ///
    /// Where [`try_new`](Self::try_new) returns an error: if `T` is aligned to more than
    /// 64 bytes, or needs a slab over 16 MiB (`size_of::<T>()` above 16 MiB - 64 bytes).
    pub fn new() -> TypedSlab<T> {
        match TypedSlab::try_new() {
            Ok(s) => s,
            Err(e) => panic!("TypedSlab::<{}>::new: {e}", std::any::type_name::<T>()),
        }
    }

    /// A slab for `T` with default slab and epoch settings, or [`Error::InvalidConfig`]
    /// ([`Error::SizeTooLarge`] past 4 GiB) when `T` cannot live in a slab: aligned to
    /// more than 64 bytes, or larger than the biggest slab (16 MiB) less its 64-byte
    /// header.
    pub fn try_new() -> Result<TypedSlab<T>> {
        TypedSlab::with_config(SlabConfig::default())
    }

    /// A slab for `T` with `cfg`'s settings; its size classes are replaced by the one
    /// class that fits `T`, and its slab size grown if `T` needs it.
    pub fn with_config(mut cfg: SlabConfig) -> Result<TypedSlab<T>> {
        if align_of::<T>() > HEADER_SIZE {
            return Err(Error::InvalidConfig(
                "TypedSlab needs align_of::<T>() <= 64",
            ));
        }
        let size = size_of::<T>().max(8).next_multiple_of(8);
        let size = size.next_multiple_of(align_of::<T>());
        cfg.size_classes = vec![u32::try_from(size).map_err(|_| Error::SizeTooLarge { size })?];
        cfg.slab_size = cfg.slab_size.max((size + HEADER_SIZE).next_power_of_two());
        Ok(TypedSlab {
            alloc: SlabAlloc::with_config(cfg)?,
            _marker: PhantomData,
        })
    }

    /// Moves `value` into the slab, in the current epoch.
    pub fn insert(&self, value: T) -> Result<Handle<T>> {
        self.insert_in(self.alloc.epoch_current(), value)
    }

    /// Moves `value` into the slab, in `epoch`.
    pub fn insert_in(&self, epoch: EpochId, value: T) -> Result<Handle<T>> {
        let raw = self.alloc.alloc_class_in(epoch, 0)?;
        let p = self.alloc.get_ptr(raw).expect("a fresh handle is valid");
        // SAFETY: the slot is ours alone (just allocated, handle not yet shared), lies in
        // mapped memory, and is sized and aligned for `T` (class size is a multiple of
        // `align_of::<T>()`, slabs are 4096-aligned, objects start at 64).
        unsafe { p.cast::<T>().as_ptr().write(value) };
        Ok(Handle {
            raw,
            instance: self.alloc.instance_id(),
            _marker: PhantomData,
        })
    }

    fn ptr(&self, h: &Handle<T>) -> Result<*mut T> {
        if h.instance != self.alloc.instance_id() {
            return Err(Error::WrongAllocator);
        }
        Ok(self.alloc.get_ptr(h.raw)?.cast::<T>().as_ptr())
    }

    /// A shared reference to the value; it borrows the handle, which therefore cannot be
    /// removed meanwhile (see the module docs).
    pub fn get<'s>(&'s self, h: &'s Handle<T>) -> Result<&'s T> {
        let p = self.ptr(h)?;
        // SAFETY: the handle validated and is the value's unique owner token, borrowed
        // for `'s`: nobody can remove the value while the reference lives.
        Ok(unsafe { &*p })
    }

    /// A unique reference to the value, borrowing the handle mutably.
    pub fn get_mut<'s>(&'s self, h: &'s mut Handle<T>) -> Result<&'s mut T> {
        let p = self.ptr(h)?;
        // SAFETY: as `get`, and `&mut Handle` excludes any other reference made through it.
        Ok(unsafe { &mut *p })
    }

    /// Removes the value and returns it.
    pub fn remove(&self, h: Handle<T>) -> Result<T> {
        if h.instance != self.alloc.instance_id() {
            return Err(Error::WrongAllocator);
        }
        let k = self.alloc.kill(h.raw)?;
        let p = self.alloc.object_ptr(&k).cast::<T>();
        // SAFETY: we won the slot's free CAS, so nobody else reads or frees it, and the
        // slot is not handed out again before `finish_free`; it holds an initialized `T`
        // written by `insert_in`.
        let value = unsafe { p.as_ptr().read() };
        self.alloc.finish_free(k);
        Ok(value)
    }

    /// Rebuilds a handle from [`Handle::into_raw`].
    ///
    /// # Safety
    ///
    /// - `raw` came from `into_raw` of a handle of this slab, and no other `Handle` built
    ///   from it exists (the handle must stay the value's only owner token).
    pub unsafe fn from_raw(&self, raw: RawHandle) -> Handle<T> {
        Handle {
            raw,
            instance: self.alloc.instance_id(),
            _marker: PhantomData,
        }
    }

    /// Opens the next epoch (see [`SlabAlloc::epoch_advance`]).
    pub fn epoch_advance(&self) -> Result<EpochId> {
        self.alloc.epoch_advance()
    }

    /// Closes `epoch` (see [`SlabAlloc::epoch_close`]); its live values stay valid.
    pub fn epoch_close(&self, epoch: EpochId) -> Result<usize> {
        self.alloc.epoch_close(epoch)
    }

    /// Closes `epoch` and removes every value still in it at once (see
    /// [`SlabAlloc::epoch_release`]): each value is dropped in place (only where `T`
    /// needs dropping; otherwise no object is touched), then every slot is freed in one
    /// pass, so every [`Handle`] into the epoch is refused from then on (`get` and
    /// `remove` answer [`Error::Stale`] and [`Error::DoubleFree`]). Returns the number of
    /// slabs released; [`Error::EpochNotOpen`] for an epoch closed or released already.
    ///
    /// `&mut self` proves that no reference from [`get`](Self::get) is alive, so no value
    /// is dropped under a reader. If a value's `Drop` panics, the others are still
    /// dropped and the epoch still released while the panic unwinds (a second panic
    /// aborts, as in a `Vec`).
    pub fn epoch_release(&mut self, epoch: EpochId) -> Result<usize> {
        let live = if std::mem::needs_drop::<T>() {
            self.alloc.live_objects_in(epoch)?
        } else {
            self.alloc.check_open(epoch)?;
            Vec::new()
        };
        /// Drops the values not dropped yet, then releases the epoch; runs on the normal
        /// path and while a panic from a value's `Drop` unwinds.
        struct Release<'s, 'v, T> {
            alloc: &'s mut SlabAlloc,
            epoch: EpochId,
            rest: std::slice::Iter<'v, std::ptr::NonNull<u8>>,
            released: Option<Result<usize>>,
            _marker: PhantomData<T>,
        }
        impl<T> Release<'_, '_, T> {
            fn run(&mut self) {
                for p in self.rest.by_ref() {
                    // SAFETY: each pointer is a live slot's initialized `T` (written by
                    // `insert_in`, not removed: its slot word says LIVE), which nothing
                    // else can read meanwhile (`&mut` of the slab), dropped once: the
                    // iterator moves past it before its drop runs.
                    unsafe { std::ptr::drop_in_place(p.cast::<T>().as_ptr()) };
                }
                if self.released.is_none() {
                    self.released = Some(self.alloc.epoch_release(self.epoch));
                }
            }
        }
        impl<T> Drop for Release<'_, '_, T> {
            fn drop(&mut self) {
                self.run();
            }
        }
        let mut r = Release::<T> {
            alloc: &mut self.alloc,
            epoch,
            rest: live.iter(),
            released: None,
            _marker: PhantomData,
        };
        r.run();
        r.released.clone().expect("run releases the epoch")
    }

    /// The current epoch.
    pub fn epoch_current(&self) -> EpochId {
        self.alloc.epoch_current()
    }
}

impl<T> Drop for TypedSlab<T> {
    fn drop(&mut self) {
        if !std::mem::needs_drop::<T>() {
            return;
        }
        let cap = self.alloc.class_capacity(0).expect("one class");
        let size = self.alloc.class_size(0).expect("one class");
        let mut live: Vec<*mut T> = Vec::new();
        for (chunk, i) in self.alloc.all_slabs() {
            for slot in 0..cap {
                // Relaxed: `&mut self` means every other thread is done with the slab.
                let w = chunk
                    .slot_word(i, slot)
                    .load(crate::sync::Ordering::Relaxed);
                if w & LIVE != 0 {
                    // SAFETY: slot < cap, so the object lies inside slab `i`.
                    let p = unsafe { chunk.slab(i).add(HEADER_SIZE + slot * size) };
                    live.push(p.cast::<T>().as_ptr());
                }
            }
        }
        /// The values not dropped yet. If a value's `Drop` panics, this guard drops the
        /// rest while the panic unwinds, so that one panic does not leak them (as `Vec`
        /// does; a second panic then aborts, as it does there).
        struct DropRest<'v, T>(std::slice::Iter<'v, *mut T>);
        impl<T> Drop for DropRest<'_, T> {
            fn drop(&mut self) {
                for &p in self.0.by_ref() {
                    // SAFETY: as in the loop below.
                    unsafe { std::ptr::drop_in_place(p) };
                }
            }
        }
        let mut rest = DropRest(live.iter());
        for &p in rest.0.by_ref() {
            // SAFETY: each pointer is a live slot's initialized `T`, which no handle can
            // reach any more (`&mut self` of the slab), dropped once: the iterator moves
            // past it before its drop runs.
            unsafe { std::ptr::drop_in_place(p) };
        }
    }
}

impl<T> std::fmt::Debug for TypedSlab<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedSlab")
            .field("alloc", &self.alloc)
            .finish()
    }
}
