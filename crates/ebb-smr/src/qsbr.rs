//! Quiescent-state-based reclamation (QSBR), the model of liburcu's `urcu-qsbr`.
//!
//! # The algorithm
//!
//! McKenney and Slingwine's read-copy-update (1998), as brought to user space by
//! Desnoyers, McKenney, Stern, Dagenais and Walpole ("User-Level Implementations of
//! Read-Copy Update", IEEE TPDS 2012). A *quiescent state* is a point where a thread holds
//! no reference to shared objects. A *grace period* is an interval in which every thread
//! passed through a quiescent state. An object unlinked before a grace period began cannot
//! be referenced by anybody once it ended, so it may be freed.
//!
//! The domain keeps a global counter `gp`. Each registered thread has a record holding
//! `ctr`, the value of `gp` it saw at its last quiescent state, or `0` while it is
//! *offline* (blocked, and promising not to read). Starting a grace period increments
//! `gp` to `t`; the grace period `t` is over once every online thread's `ctr` is `>= t`.
//!
//! * Read side: nothing. [`Handle::read`] returns a [`ReadGuard`] that is a plain borrow
//!   of the handle; it compiles to no instruction.
//! * [`Handle::quiescent`]: one `Acquire` load of `gp` and one `Release` store into the
//!   thread's own cache-padded `ctr` (plus, when this thread has garbage waiting, a
//!   reclamation attempt every few calls).
//! * [`Handle::offline`] stores `0`, runs a closure, and goes back online when it returns
//!   ([`Handle::into_offline`] does the same for as long as the caller keeps the
//!   [`OfflineHandle`]). Going online is the one reader-side store-then-load race; it is
//!   closed by a `SeqCst` fence there and one in the scanner. Both are rare, so QSBR needs no
//!   [asymmetric fence](crate::fence): its readers issue no fence at all.
//! * Deferred frees ([`Handle::retire`], [`Handle::defer`]) gather in a thread-local batch.
//!   A full batch is sealed by starting a grace period (`gp.fetch_add(1)`); batches whose
//!   grace period is over are freed by the owner, non-blocking, from `quiescent`.
//! * [`Handle::synchronize`] starts a grace period and waits for it; [`Handle::barrier`]
//!   also runs every callback the thread deferred. A thread exiting (dropping its handle)
//!   goes offline and hands its unfinished batches to the domain; any thread's next
//!   reclamation attempt, or the domain's drop, frees them.
//!
//! # Types instead of rules
//!
//! liburcu relies on the programmer not to keep a reference across `quiescent_state()`.
//! Here a [`ReadGuard`] borrows the handle shared (`&self`) and references loaded through
//! it live no longer than the guard, while [`Handle::quiescent`], [`Handle::offline`],
//! [`Handle::synchronize`] and [`Handle::barrier`] borrow it exclusively (`&mut self`).
//! Keeping a reference across a quiescent point is therefore a compile error:
//!
//! ```compile_fail,E0502
//! use ebb_smr::qsbr::Domain;
//! use std::sync::atomic::AtomicPtr;
//!
//! let domain = Domain::new();
//! let mut handle = domain.register();
//! let cell = AtomicPtr::new(Box::into_raw(Box::new(7u64)));
//! let guard = handle.read();
//! // SAFETY: `cell` only ever holds boxes retired through `domain`.
//! let seven: &u64 = unsafe { guard.load(&cell) }.unwrap();
//! handle.quiescent(); // error[E0502]: `handle` is borrowed by `guard`
//! assert_eq!(*seven, 7);
//! ```
//!
//! A thread that would wait for itself (calling [`Domain::synchronize`] while it has an
//! online handle of the same domain) gets [`SmrError::WouldDeadlock`] instead.
//!
//! # Leaked guards
//!
//! Safe code may leak any value (`mem::forget`, a reference cycle), so no destructor is
//! what keeps memory safe here. Reading needs a [`ReadGuard`], which only an online
//! [`Handle`] gives; the offline state is either scoped by the closure of
//! [`Handle::offline`] (the handle is borrowed exclusively until it goes back online) or
//! held by an [`OfflineHandle`], which has no read side. Leaking a [`ReadGuard`] costs
//! nothing (it is a `Copy` borrow). Leaking an [`OfflineHandle`] leaks its registration:
//! the record stays offline (it holds no grace period) and what its thread deferred is
//! never freed.
//!
//! # What it cannot bound
//!
//! One online thread that stops calling `quiescent` stops every grace period: garbage then
//! grows without bound (visible in [`Stats::pending_bytes`]) until it reports again. Go
//! [offline](Handle::offline) around anything that blocks.

use crate::bags::{Bag, Bags};
use crate::registry::{Node, Registry};
use crate::retired::{Counters, Orphans, Retired, Totals, call_box};
use crate::sync::atomic::{self, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::sync::{Arc, thread_token, yield_now};
use crate::{DomainId, SmrError, Stats};
use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use crossbeam_utils::CachePadded;

/// `ctr` of a thread that is offline (or of a free record).
const OFFLINE: u64 = 0;
/// Deferred objects per batch; each sealed batch starts one grace period.
/// (Small under the checkers, so that their runs reclaim often.)
const BATCH: usize = if cfg!(any(miri, ebb_loom)) {
    2
} else if cfg!(ebb_sanitize) {
    8
} else {
    128
};
/// While batches wait, `quiescent` tries to reclaim every this many calls.
const POLL_INTERVAL: u32 = if cfg!(any(miri, ebb_loom)) { 1 } else { 32 };

// === impl Record ===

/// The part of a thread's state that other threads read.
#[derive(Default)]
struct Record {
    /// `gp` at the owner's last quiescent state; `OFFLINE` while offline or free.
    /// Written only by the owner.
    ctr: AtomicU64,
    /// `thread_token()` of the owner; 0 while free.
    owner: AtomicUsize,
    counters: Counters,
}

/// A batch stamped `target` (the grace period its sealing started) is due once that grace
/// period is over, that is when it is at most `done`, the newest one known to be over.
fn due(target: u64, done: u64) -> bool {
    target <= done
}

// === impl Global ===

struct Global {
    /// The grace-period counter; starts at 1 so that `OFFLINE` is never a valid value.
    gp: CachePadded<AtomicU64>,
    /// Every grace period `<= completed` is known to be over (a cache of `scan`).
    completed: AtomicU64,
    registry: Registry<Record>,
    /// Unfinished batches of threads that exited.
    orphans: Orphans<Bag>,
    id: DomainId,
}

impl Global {
    /// The newest grace period known to be over, after reading every record.
    fn scan(&self) -> u64 {
        // Acquire: a batch sealed at `t <= snap` was unlinked before `gp` reached `t`.
        let snap = self.gp.load(Ordering::Acquire);
        // Pairs with the fence of a thread coming online (`go_online`): either we see its
        // `ctr` store below, or its reads after coming online see everything that happened
        // before this fence, including every unlink sealed at `<= snap`. Online threads
        // need no fence (their `ctr` only grows), so scans, which are rare, pay a plain
        // fence instead of the `membarrier` of EBR and HP.
        atomic::fence(Ordering::SeqCst);
        let mut min = snap;
        for r in self.registry.records() {
            // Acquire: pairs with the owner's Release store, so its reads before that
            // quiescent state (or before going offline) happen before our frees.
            let c = r.ctr.load(Ordering::Acquire);
            if c != OFFLINE && c < min {
                min = c;
            }
        }
        // AcqRel: publish what we learned (and the Acquire above) to later readers of
        // `completed`, who then skip the scan. A CAS loop rather than `fetch_max`: the
        // two are equivalent in the memory model, but ThreadSanitizer does not see the
        // release/acquire edge of an atomic max, and would then report the frees that
        // `completed` allows as races.
        let mut cur = self.completed.load(Ordering::Acquire);
        while cur < min {
            match self.completed.compare_exchange_weak(
                cur,
                min,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        min
    }

    /// Starts a new grace period and returns its number.
    fn start_grace_period(&self) -> u64 {
        // AcqRel: the Release half orders every unlink made by this thread before the new
        // value, so a reader that sees it (Acquire) no longer finds the unlinked objects;
        // the RMW also reads the latest value, so the period truly starts after them.
        self.gp.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Spins (yielding) until grace period `target` is over.
    fn wait_for(&self, target: u64) {
        if self.completed.load(Ordering::Acquire) >= target {
            return;
        }
        while self.scan() < target {
            yield_now();
        }
    }

    /// True when the calling thread owns an online record other than `except`.
    fn caller_is_online(&self, except: Option<NonNull<Node<Record>>>) -> bool {
        let me = thread_token();
        self.registry.nodes().any(|n| {
            // SAFETY: nodes live as long as the registry.
            let node = unsafe { n.as_ref() };
            let r = node.record();
            Some(n) != except
                && node.in_use()
                && r.owner.load(Ordering::Relaxed) == me
                && r.ctr.load(Ordering::Relaxed) != OFFLINE
        })
    }

    /// Frees the orphaned batches whose grace period is at most `done`, counting them in
    /// `counters`.
    fn reclaim_orphans(&self, done: u64, counters: &Counters) {
        // SAFETY: the grace period of each batch `due` accepts is over, so no thread holds
        // its objects.
        unsafe { self.orphans.reclaim_due(|b| due(b.stamp, done), counters) };
    }
}

// === impl Domain ===

/// A QSBR domain. Cheap to clone (an `Arc`); see the [module docs](self).
#[derive(Clone)]
pub struct Domain {
    global: Arc<Global>,
}

impl Domain {
    /// A new, empty domain.
    pub fn new() -> Domain {
        Domain {
            global: Arc::new(Global {
                gp: CachePadded::new(AtomicU64::new(1)),
                completed: AtomicU64::new(0),
                registry: Registry::new(),
                orphans: Orphans::new(),
                id: DomainId::next(),
            }),
        }
    }

    /// Registers the calling thread; the handle is online.
    pub fn register(&self) -> Handle {
        let node = self.global.registry.acquire();
        // SAFETY: `acquire` returns a live node, owned by us now.
        let r = unsafe { node.as_ref() }.record();
        r.owner.store(thread_token(), Ordering::Relaxed);
        go_online(&self.global, r);
        Handle {
            global: self.global.clone(),
            node,
            batches: Bags::new(),
            ticks: Cell::new(0),
            _not_send: PhantomData,
        }
    }

    /// Waits for a grace period from a thread that is not online in this domain.
    ///
    /// # Errors
    ///
    /// [`SmrError::WouldDeadlock`] if the calling thread has an online handle of this
    /// domain (it would wait for itself). Use [`Handle::synchronize`] there, or call this
    /// while the handle is [`offline`](Handle::offline).
    pub fn synchronize(&self) -> Result<(), SmrError> {
        if self.global.caller_is_online(None) {
            return Err(SmrError::WouldDeadlock);
        }
        let target = self.global.start_grace_period();
        self.global.wait_for(target);
        Ok(())
    }

    /// The domain's counters.
    pub fn stats(&self) -> Stats {
        let t = Totals::sum(self.global.registry.records().map(|r| &r.counters));
        let gps = self.global.gp.load(Ordering::Relaxed) - 1;
        t.into_stats(gps, self.global.registry.len())
    }

    /// This domain's identity.
    pub fn id(&self) -> DomainId {
        self.global.id
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("qsbr::Domain")
            .field("id", &self.global.id)
            .field("stats", &self.stats())
            .finish()
    }
}

domain_common!("QSBR");

/// Announces the record as online: read `gp`, store it, then a `SeqCst` fence so that no
/// later load of the thread is performed before the store is visible to a scanner (whose
/// own fence closes the store-buffering race). Going online is rare (registration, the
/// end of a blocking call), so it pays a real fence, as liburcu-qsbr's `smp_mb()` does.
fn go_online(global: &Global, r: &Record) {
    // Acquire: objects unlinked before the grace period we observe are not found later.
    let g = global.gp.load(Ordering::Acquire);
    // Release: orders nothing in particular here (the thread was quiescent), but keeps
    // every `ctr` store Release so that scanners can always Acquire it.
    r.ctr.store(g, Ordering::Release);
    atomic::fence(Ordering::SeqCst);
}

// === impl Handle ===

/// A thread's registration with a QSBR [`Domain`]. Not `Send`; unregisters on drop.
pub struct Handle {
    global: Arc<Global>,
    /// Our record; owned by this handle until drop.
    node: NonNull<Node<Record>>,
    /// Deferred objects: the batch not yet sealed and the sealed ones, oldest first
    /// (targets increase), whose count the fast path of `quiescent` reads.
    batches: Bags<BATCH>,
    /// Calls to `quiescent` since the last reclamation attempt.
    ticks: Cell<u32>,
    _not_send: PhantomData<*mut ()>,
}

impl Handle {
    fn record(&self) -> &Record {
        // SAFETY: the node lives as long as the registry, which `self.global` keeps alive.
        unsafe { self.node.as_ref() }.record()
    }

    /// Enters a read-side critical section. Costs nothing; references obtained through
    /// the guard cannot outlive it, and the guard prevents `quiescent` until it drops.
    #[inline(always)]
    pub fn read(&self) -> ReadGuard<'_> {
        ReadGuard { handle: self }
    }

    /// Reports a quiescent state: this thread holds no reference to objects of this
    /// domain (`&mut self` proves that no [`ReadGuard`] is alive).
    #[inline]
    pub fn quiescent(&mut self) {
        let r = self.record();
        // Acquire: after announcing `g`, our reads see every unlink made before the grace
        // periods `<= g` started. Release (store): our earlier reads happen before the
        // scan that sees this value and frees what they may have touched.
        let g = self.global.gp.load(Ordering::Acquire);
        r.ctr.store(g, Ordering::Release);
        if self.batches.sealed_len() != 0 {
            let t = self.ticks.get() + 1;
            if t >= POLL_INTERVAL {
                self.ticks.set(0);
                self.poll();
            } else {
                self.ticks.set(t);
            }
        }
    }

    /// Runs `f` with this thread offline: grace periods do not wait for it meanwhile, so
    /// use it around blocking calls. The thread goes back online when `f` returns or
    /// unwinds.
    ///
    /// `&mut self` is borrowed for the whole call, so no [`ReadGuard`] can exist while the
    /// thread is offline. The offline state is scoped by this call rather than by a guard
    /// the caller holds, because a guard can be leaked (`mem::forget` is safe): a handle
    /// left offline by a leaked guard could read while grace periods ignore it. For a
    /// thread that stays offline across calls (a parked worker), see
    /// [`into_offline`](Handle::into_offline).
    pub fn offline<R>(&mut self, f: impl FnOnce(&Offline<'_>) -> R) -> R {
        /// Brings the handle back online when dropped, on return and on unwind alike. It
        /// lives only inside this function, so no caller can leak it.
        struct Online<'a>(&'a Handle);
        impl Drop for Online<'_> {
            fn drop(&mut self) {
                go_online(&self.0.global, self.0.record());
            }
        }
        // Release: our reads so far happen before any scan that sees us offline.
        self.record().ctr.store(OFFLINE, Ordering::Release);
        let online = Online(self);
        f(&Offline { handle: online.0 })
    }

    /// Takes the handle offline until [`OfflineHandle::online`] gives it back: a thread
    /// that parks for a long time keeps its registration without holding grace periods.
    /// The offline handle cannot read; leaking it leaks the registration, never a
    /// protection.
    pub fn into_offline(self) -> OfflineHandle {
        // Release: our reads so far happen before any scan that sees us offline.
        self.record().ctr.store(OFFLINE, Ordering::Release);
        OfflineHandle { handle: self }
    }

    /// Starts a grace period and waits until it is over. The caller is quiescent while it
    /// waits (`&mut self`), as in liburcu-qsbr.
    ///
    /// # Errors
    ///
    /// [`SmrError::WouldDeadlock`] if this thread has *another* online handle of the same
    /// domain, which could never report a quiescent state while we wait.
    pub fn synchronize(&mut self) -> Result<(), SmrError> {
        if self.global.caller_is_online(Some(self.node)) {
            return Err(SmrError::WouldDeadlock);
        }
        let target = self.global.start_grace_period();
        // We are quiescent: announce the new period ourselves (Release as in `quiescent`).
        self.record().ctr.store(target, Ordering::Release);
        self.global.wait_for(target);
        Ok(())
    }

    /// Waits for a grace period and then runs every callback this thread deferred, and
    /// those orphaned by exited threads whose grace period is over. (Callbacks deferred
    /// by other live threads stay theirs.)
    ///
    /// # Errors
    ///
    /// As [`synchronize`](Handle::synchronize); nothing is reclaimed then.
    pub fn barrier(&mut self) -> Result<(), SmrError> {
        self.seal();
        self.synchronize()?;
        self.poll();
        Ok(())
    }

    /// Defers `drop(ptr)` until a grace period has passed.
    ///
    /// # Safety
    ///
    /// * `ptr` is unreachable from shared memory: no thread can load it anew.
    /// * `ptr` is retired once, and `drop(ptr)` is sound to call once, on any thread.
    pub unsafe fn retire<T>(&self, ptr: *mut T, drop: unsafe fn(*mut T)) {
        // SAFETY: forwarded from the caller.
        let r = unsafe { Retired::new(ptr, drop) };
        self.record().counters.on_retire(r.bytes());
        if self.batches.push(r) {
            self.seal();
            self.poll();
        }
    }

    /// Defers running `f` until a grace period has passed (liburcu's `call_rcu`).
    pub fn defer<F: FnOnce() + Send + 'static>(&self, f: F) {
        // SAFETY: the box is ours alone, `F: Send` may run on any thread, and `call_box`
        // consumes it once.
        unsafe { self.retire(Box::into_raw(Box::new(f)), call_box::<F>) };
    }

    /// Reclaims, without blocking, every batch whose grace period is over.
    pub fn flush(&mut self) {
        self.seal();
        self.poll();
    }

    /// Objects this thread deferred and has not reclaimed yet.
    pub fn pending(&self) -> usize {
        self.batches.pending()
    }

    /// The domain this handle belongs to.
    pub fn domain_id(&self) -> DomainId {
        self.global.id
    }

    /// Test hook: attribute this handle to another thread for the deadlock check.
    #[cfg(all(test, not(ebb_loom)))]
    pub(crate) fn set_owner_for_test(&self, owner: usize) {
        self.record().owner.store(owner, Ordering::Relaxed);
    }

    /// Seals the current batch (if any) by starting a grace period.
    fn seal(&self) {
        self.batches.seal(|| self.global.start_grace_period());
    }

    /// Frees what is due: our sealed batches and orphans whose grace period is over.
    fn poll(&self) {
        let front = self.batches.oldest();
        let orphans = self.global.orphans.any();
        let Some(need) = front.or(orphans.then_some(0)) else {
            return;
        };
        let mut done = self.global.completed.load(Ordering::Acquire);
        if done < need || orphans {
            done = self.global.scan();
        }
        let counters = &self.record().counters;
        // SAFETY: the grace period `target <= done` of each batch `due` accepts is over:
        // every thread online when it started has since passed a quiescent state or gone
        // offline.
        unsafe { self.batches.reclaim_due(|t| due(t, done), counters) };
        self.global.reclaim_orphans(done, counters);
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let r = self.record();
        // Release: our reads happen before any scan that sees us offline.
        r.ctr.store(OFFLINE, Ordering::Release);
        self.seal();
        self.poll();
        self.global.orphans.adopt(self.batches.take_sealed());
        r.owner.store(0, Ordering::Relaxed);
        // SAFETY: the node came from `acquire` in `register` and is released once; the
        // record is offline and this handle does not touch it again.
        unsafe { self.global.registry.release(self.node) };
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("qsbr::Handle")
            .field("domain", &self.global.id)
            .field("pending", &self.pending())
            .finish()
    }
}

// === impl ReadGuard ===

/// A QSBR read-side critical section: a shared borrow of the [`Handle`], nothing more.
#[derive(Clone, Copy)]
pub struct ReadGuard<'h> {
    handle: &'h Handle,
}

impl<'h> ReadGuard<'h> {
    /// Loads `src` (`Acquire`) and borrows the object for as long as the guard lives.
    ///
    /// # Safety
    ///
    /// * Every non-null pointer ever stored in `src` points to a valid `T` until it is
    ///   retired, and is retired through this guard's domain only.
    #[inline(always)]
    pub unsafe fn load<'g, T>(&'g self, src: &AtomicPtr<T>) -> Option<&'g T> {
        let p = src.load(Ordering::Acquire);
        // SAFETY: the caller guarantees validity until retirement through this domain, and
        // our thread cannot pass a quiescent state while `self` borrows the handle.
        unsafe { p.as_ref() }
    }

    /// Retires through the guard's handle; see [`Handle::retire`].
    ///
    /// # Safety
    ///
    /// As [`Handle::retire`].
    pub unsafe fn retire<T>(&self, ptr: *mut T, drop: unsafe fn(*mut T)) {
        // SAFETY: forwarded from the caller.
        unsafe { self.handle.retire(ptr, drop) }
    }

    /// The handle this guard borrows.
    pub fn handle(&self) -> &'h Handle {
        self.handle
    }
}

// === impl Offline ===

/// The offline state of a [`Handle`], lent to the closure of [`Handle::offline`]. It offers
/// what an offline thread may do (wait for a grace period) and nothing that reads.
pub struct Offline<'h> {
    handle: &'h Handle,
}

impl Offline<'_> {
    /// Starts a grace period and waits for it; this thread stays offline.
    ///
    /// # Errors
    ///
    /// [`SmrError::WouldDeadlock`] if this thread has another online handle of the same
    /// domain.
    pub fn synchronize(&self) -> Result<(), SmrError> {
        synchronize_offline(self.handle)
    }

    /// The domain of the handle.
    pub fn domain_id(&self) -> DomainId {
        self.handle.global.id
    }
}

impl fmt::Debug for Offline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("qsbr::Offline")
            .field("domain", &self.handle.global.id)
            .finish()
    }
}

/// Waits for a grace period from a handle that is offline (it announces nothing).
fn synchronize_offline(handle: &Handle) -> Result<(), SmrError> {
    if handle.global.caller_is_online(Some(handle.node)) {
        return Err(SmrError::WouldDeadlock);
    }
    let target = handle.global.start_grace_period();
    handle.global.wait_for(target);
    Ok(())
}

// === impl OfflineHandle ===

/// A [`Handle`] that is offline until [`online`](OfflineHandle::online) returns it (see
/// [`Handle::into_offline`]). It has no read side. Dropping it unregisters the thread as
/// dropping the handle would; leaking it leaves the record offline and registered, which
/// holds no grace period.
pub struct OfflineHandle {
    handle: Handle,
}

impl OfflineHandle {
    /// Goes back online and returns the handle.
    pub fn online(self) -> Handle {
        go_online(&self.handle.global, self.handle.record());
        self.handle
    }

    /// Starts a grace period and waits for it; the handle stays offline.
    ///
    /// # Errors
    ///
    /// [`SmrError::WouldDeadlock`] if this thread has another online handle of the same
    /// domain.
    pub fn synchronize(&mut self) -> Result<(), SmrError> {
        synchronize_offline(&self.handle)
    }

    /// Objects this thread deferred and has not reclaimed yet.
    pub fn pending(&self) -> usize {
        self.handle.pending()
    }

    /// The domain of the handle.
    pub fn domain_id(&self) -> DomainId {
        self.handle.global.id
    }
}

impl fmt::Debug for OfflineHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("qsbr::OfflineHandle")
            .field("domain", &self.handle.global.id)
            .field("pending", &self.pending())
            .finish()
    }
}

// === impl the generic interface ===

impl crate::SmrHandle for Handle {
    type Guard<'h> = ReadGuard<'h>;

    const NEEDS_QUIESCENT: bool = true;

    #[inline(always)]
    fn pin(&self) -> ReadGuard<'_> {
        self.read()
    }

    #[inline]
    fn quiescent(&mut self) {
        Handle::quiescent(self)
    }

    fn flush(&mut self) {
        Handle::flush(self)
    }

    fn domain_id(&self) -> DomainId {
        self.global.id
    }

    fn pending(&self) -> usize {
        Handle::pending(self)
    }

    fn synchronize(&mut self) -> Result<(), SmrError> {
        Handle::synchronize(self)
    }

    fn barrier(&mut self) -> Result<(), SmrError> {
        // `Handle::barrier` frees the batches whose grace period is over after one wait;
        // a batch sealed by a drop function that ran meanwhile needs another.
        while Handle::pending(self) != 0 {
            Handle::barrier(self)?;
        }
        Ok(())
    }
}

impl crate::SmrGuard for ReadGuard<'_> {
    #[inline(always)]
    fn protect<T>(&mut self, slot: usize, src: &AtomicPtr<T>) -> *mut T {
        crate::check_slot(slot, Self::SLOTS);
        // Acquire: the object's contents, written before it was published with Release,
        // are visible. No announcement is needed: the thread is not quiescent.
        src.load(Ordering::Acquire)
    }

    #[inline(always)]
    fn protect_shared<T>(&self, slot: usize, src: &AtomicPtr<T>) -> *mut T {
        crate::check_slot(slot, Self::SLOTS);
        // Acquire: as in `protect`.
        src.load(Ordering::Acquire)
    }

    unsafe fn retire<T>(&self, ptr: *mut T, drop: unsafe fn(*mut T)) {
        // SAFETY: forwarded from the caller.
        unsafe { self.handle.retire(ptr, drop) }
    }

    fn defer<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.handle.defer(f)
    }

    fn domain_id(&self) -> DomainId {
        self.handle.global.id
    }
}
