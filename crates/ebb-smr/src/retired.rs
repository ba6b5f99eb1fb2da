//! Retired objects, the per-thread counters behind [`Stats`](crate::Stats), and the
//! orphans that exited threads leave to their domain.

use crate::sync::Mutex;
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::mem;

/// An object that was unlinked from every shared location and waits to be dropped.
pub(crate) struct Retired {
    ptr: *mut (),
    drop: unsafe fn(*mut ()),
    bytes: usize,
}

// SAFETY: `retire`'s contract makes the retirer hand the object over to whichever thread
// runs its drop function (the caller promises the object may be dropped on any thread).
unsafe impl Send for Retired {}

impl Retired {
    /// # Safety
    ///
    /// * `drop(ptr)` is sound to call once, on any thread, after the object is unreachable.
    pub(crate) unsafe fn new<T>(ptr: *mut T, drop: unsafe fn(*mut T)) -> Self {
        Retired {
            ptr: ptr.cast(),
            // SAFETY: `*mut T` and `*mut ()` are ABI-compatible for sized `T` (thin
            // pointers), so calling `drop` through the erased type passes the same pointer.
            drop: unsafe { mem::transmute::<unsafe fn(*mut T), unsafe fn(*mut ())>(drop) },
            bytes: mem::size_of::<T>(),
        }
    }

    pub(crate) fn addr(&self) -> usize {
        self.ptr as usize
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Runs the drop function.
    ///
    /// # Safety
    ///
    /// * No thread can reach the object any more (its grace period is over or no hazard
    ///   pointer protects it).
    pub(crate) unsafe fn reclaim(self) {
        // SAFETY: the contract of `Retired::new` and of this function.
        unsafe { (self.drop)(self.ptr) }
    }
}

/// Drop function for objects allocated by `Box::new`: the usual `dropper` argument.
///
/// # Safety
///
/// * `ptr` came from `Box::into_raw` and is not used afterwards.
pub unsafe fn drop_box<T>(ptr: *mut T) {
    // SAFETY: the caller guarantees the pointer is an unused `Box` allocation.
    drop(unsafe { Box::from_raw(ptr) });
}

/// Drop function that runs a boxed closure: what `defer(f)` retires.
///
/// # Safety
///
/// * `ptr` came from `Box::into_raw` and is not used afterwards.
pub(crate) unsafe fn call_box<F: FnOnce()>(ptr: *mut F) {
    // SAFETY: the caller guarantees the pointer is an unused `Box` allocation.
    let f = unsafe { Box::from_raw(ptr) };
    f();
}

/// Per-thread monotonic counters, kept in the thread's record. Only the owner writes
/// them (plain load + store, no locked instruction); anybody may sum them.
#[derive(Default)]
pub(crate) struct Counters {
    retired: AtomicU64,
    retired_bytes: AtomicU64,
    reclaimed: AtomicU64,
    reclaimed_bytes: AtomicU64,
}

fn bump(c: &AtomicU64, by: u64) {
    // Relaxed: counters are statistics, never used to order memory; only the record's
    // owner writes, so load + store does not lose updates.
    c.store(
        c.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

impl Counters {
    pub(crate) fn on_retire(&self, bytes: usize) {
        bump(&self.retired, 1);
        bump(&self.retired_bytes, bytes as u64);
    }

    pub(crate) fn on_reclaim(&self, objects: u64, bytes: u64) {
        bump(&self.reclaimed, objects);
        bump(&self.reclaimed_bytes, bytes);
    }

    fn add_to(&self, s: &mut Totals) {
        s.retired += self.retired.load(Ordering::Relaxed);
        s.retired_bytes += self.retired_bytes.load(Ordering::Relaxed);
        s.reclaimed += self.reclaimed.load(Ordering::Relaxed);
        s.reclaimed_bytes += self.reclaimed_bytes.load(Ordering::Relaxed);
    }
}

/// Sums of every record's counters.
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) retired: u64,
    pub(crate) retired_bytes: u64,
    pub(crate) reclaimed: u64,
    pub(crate) reclaimed_bytes: u64,
}

impl Totals {
    /// Sums the counters of every record.
    pub(crate) fn sum<'a>(records: impl Iterator<Item = &'a Counters>) -> Totals {
        let mut t = Totals::default();
        for c in records {
            c.add_to(&mut t);
        }
        t
    }

    pub(crate) fn into_stats(self, grace_periods: u64, threads: usize) -> crate::Stats {
        crate::Stats {
            // Counters of different threads are read at slightly different times, so a
            // reclaim may be seen before its retire: saturate instead of wrapping.
            pending_objects: self.retired.saturating_sub(self.reclaimed),
            pending_bytes: self.retired_bytes.saturating_sub(self.reclaimed_bytes),
            retired_objects: self.retired,
            reclaimed_objects: self.reclaimed,
            reclaimed_bytes: self.reclaimed_bytes,
            grace_periods,
            threads,
        }
    }
}

/// Runs the drop function of every object in `items` and counts them in `counters`.
///
/// # Safety
///
/// * Every object in `items` is unreachable by every thread.
///
/// Returns `items`, emptied, so that its allocation can hold the next batch.
pub(crate) unsafe fn reclaim_all(mut items: Vec<Retired>, counters: &Counters) -> Vec<Retired> {
    let (mut n, mut bytes) = (0u64, 0u64);
    for r in items.drain(..) {
        n += 1;
        bytes += r.bytes() as u64;
        // SAFETY: the caller guarantees the object is unreachable.
        unsafe { r.reclaim() };
    }
    counters.on_reclaim(n, bytes);
    items
}

/// What an exiting thread can hand to its domain: one retired object (hazard pointers) or
/// a sealed bag of them (EBR, QSBR).
pub(crate) trait Garbage {
    /// Runs the drop function of every object and counts them in `counters`.
    ///
    /// # Safety
    ///
    /// * Every object is unreachable by every thread.
    unsafe fn reclaim_counted(self, counters: &Counters);
}

impl Garbage for Retired {
    unsafe fn reclaim_counted(self, counters: &Counters) {
        counters.on_reclaim(1, self.bytes() as u64);
        // SAFETY: the caller guarantees the object is unreachable.
        unsafe { self.reclaim() }
    }
}

/// Garbage of exited threads, kept by their domain until a later reclamation of any
/// thread frees it, or until the domain drops.
///
/// It lives in a domain's shared state, which drops only when no handle (hence no reader)
/// is left: dropping it reclaims whatever is still there.
pub(crate) struct Orphans<T: Garbage> {
    list: Mutex<Vec<T>>,
    /// `list.len()`, readable without the lock.
    count: AtomicUsize,
}

impl<T: Garbage> Orphans<T> {
    pub(crate) fn new() -> Self {
        Orphans {
            list: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
        }
    }

    /// True when some orphans wait. Only a hint (the lock orders the list itself), so
    /// Relaxed.
    pub(crate) fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0
    }

    /// Takes over what an exiting thread could not reclaim.
    pub(crate) fn adopt<I>(&self, left: I)
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        let left = left.into_iter();
        if left.len() == 0 {
            return;
        }
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        list.extend(left);
        self.count.store(list.len(), Ordering::Relaxed);
    }

    /// Takes the orphans that `ready` selects, without blocking: none when there are none
    /// or another thread holds the lock.
    pub(crate) fn try_take(&self, ready: impl FnMut(&T) -> bool) -> Vec<T> {
        if !self.any() {
            return Vec::new();
        }
        let Ok(mut list) = self.list.try_lock() else {
            return Vec::new();
        };
        let (ready, keep): (Vec<T>, Vec<T>) = mem::take(&mut *list).into_iter().partition(ready);
        *list = keep;
        self.count.store(list.len(), Ordering::Relaxed);
        ready
    }

    /// Reclaims, without blocking, the orphans that `due` selects, counting them in
    /// `counters`.
    ///
    /// # Safety
    ///
    /// * Every object of an orphan that `due` selects is unreachable by every thread.
    pub(crate) unsafe fn reclaim_due(&self, due: impl FnMut(&T) -> bool, counters: &Counters) {
        for o in self.try_take(due) {
            // SAFETY: the caller guarantees that `due` selects only unreachable garbage.
            unsafe { o.reclaim_counted(counters) };
        }
    }
}

impl<T: Garbage> Drop for Orphans<T> {
    fn drop(&mut self) {
        let list = mem::take(&mut *self.list.lock().unwrap_or_else(|e| e.into_inner()));
        let sink = Counters::default();
        for o in list {
            // SAFETY: the orphans drop with their domain's shared state, when no handle is
            // alive (each holds it), so no thread is registered to reach anything.
            unsafe { o.reclaim_counted(&sink) };
        }
    }
}
