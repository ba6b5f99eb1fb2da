//! Thread heaps: the allocation and free paths.
//!
//! Each thread owns a [`Heap`] (a descriptor in the pool's own mapped area, found through
//! a `const` thread-local pointer). A heap owns pages; per page there are two free lists
//! (free-list sharding, after mimalloc): the *local* list (`Page::free`), pushed and
//! popped by the owner with plain loads and stores, and the *thread-free* list
//! (`Page::thread_free`), onto which other threads push with a CAS and which the owner
//! takes whole with one `swap` when its local list runs dry. A thread freeing into pages
//! it does not own first chains the blocks privately while they go to the same page and
//! pushes the chain with one CAS (up to [`BATCH`] blocks), so cross-thread frees cost one
//! atomic per batch rather than one per object.
//!
//! The common small allocation is: load the heap, load the class's current page, pop the
//! local list (or bump into never-used blocks), set the block's allocation bit, bump a
//! counter, all plain memory operations. The common small free by the owner is the
//! mirror image. Everything else (collecting thread frees, changing pages, fresh spans,
//! returning empty pages) is the slow path.
//!
//! A thread's heap is given up by a `pthread` key destructor when the thread exits: pages
//! with no live block go back to the pool (decommitted), the others are *abandoned* to
//! the pool, where a heap needing a page of that class adopts them, or `collect` frees
//! them once their last block is freed. Calls made while the thread-local pointer is
//! being set up or after it is gone go to a shared *fallback* heap under a lock.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::class::{self, NUM_CLASSES};
use super::fatal;
use super::os;
use super::segment::{
    self, ABANDONED, POOL, POOL_LOCK, Page, Q_AVAIL, Q_EMPTY, Q_FULL, Q_NONE, SpinLock,
};
use super::tfree;

/// Blocks chained privately before a cross-thread free pushes them in one CAS.
pub(crate) const BATCH: u32 = 32;

/// An empty page waits this long (milliseconds, as seen by its heap's slow paths) before
/// its span goes back to the OS.
pub(crate) const PURGE_DELAY_MS: u64 = 50;

/// Empty pages a heap keeps at most; beyond that the oldest is returned at once.
const MAX_EMPTY: usize = 8;

#[derive(Clone, Copy)]
pub(crate) struct List {
    head: *mut Page,
    tail: *mut Page,
}

/// A thread heap. Its plain fields belong to its thread (or, for the fallback heap, to the
/// holder of the fallback lock); the counters are atomics written with plain stores by
/// that thread and read by `stats`; `hints` is set by other threads.
#[repr(C)]
pub(crate) struct Heap {
    current: [*mut Page; NUM_CLASSES],
    avail: [List; NUM_CLASSES],
    full: [List; NUM_CLASSES],
    empty: List,
    empties: usize,
    pending_page: *mut Page,
    pending_head: *mut u8,
    pending_tail: *mut u8,
    pending_n: u32,
    /// Bit `c` set by a thread that pushed frees onto a page of class `c` of this heap.
    hints: [AtomicU64; 2],
    last_purge: u64,
    pub(crate) allocs: [AtomicU64; NUM_CLASSES],
    pub(crate) frees: [AtomicU64; NUM_CLASSES],
    pub(crate) next_free: *mut Heap,
    pub(crate) all_next: *mut Heap,
}

struct SyncPage(Page);
// SAFETY: the empty page is never written: every path checks for it before writing.
unsafe impl Sync for SyncPage {}
static EMPTY_PAGE: SyncPage = SyncPage(Page::EMPTY);

#[inline]
fn empty_page() -> *mut Page {
    ptr::addr_of!(EMPTY_PAGE.0).cast_mut()
}

/// Every heap ever made, linked through `all_next` (never unlinked: descriptors are
/// recycled, not unmapped).
pub(crate) static ALL_HEAPS: AtomicPtr<Heap> = AtomicPtr::new(ptr::null_mut());
pub(crate) static HEAPS_LIVE: AtomicUsize = AtomicUsize::new(0);

const BUSY: *mut Heap = ptr::without_provenance_mut(1);
const DONE: *mut Heap = ptr::without_provenance_mut(2);

#[inline]
fn is_real(h: *mut Heap) -> bool {
    h as usize > 16
}

/// The thread's heap pointer in the *initial-exec* TLS model, on x86_64 Linux with glibc.
///
/// Rust's `thread_local!` compiles to the general-dynamic model in position-independent
/// code, which the linker relaxes to a `%fs`-relative access in an executable but not in
/// a shared object: inside `libebb_malloc.so` every `malloc` and `free` would call
/// `__tls_get_addr`. Stable Rust cannot choose the TLS model, so the variable is declared
/// here in assembly (8 bytes of `.tbss`, zero at thread start) and reached the way
/// C compilers do with `-ftls-model=initial-exec`: its offset from the thread pointer is
/// read from the GOT (`@GOTTPOFF`, resolved once by the dynamic loader; the linker turns
/// it into an immediate in an executable) and the word is read at `%fs:offset`.
///
/// Initial-exec places the variable in the static TLS block, which exists for objects
/// loaded at startup (`LD_PRELOAD`, `DT_NEEDED`) and for every thread, and lives until the
/// thread is gone (after every TLS destructor), so the pointer reads correctly at any
/// time. A shared object holding the heap and loaded later by `dlopen` takes its 8 bytes
/// from glibc's static-TLS surplus (`glibc.rtld.optional_static_tls`, 512 bytes by
/// default); if the surplus is used up, `dlopen` fails with "cannot allocate memory in
/// static TLS block" rather than loading.
#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    target_env = "gnu",
    not(miri)
))]
mod tls {
    use super::Heap;

    // The symbol is global (so the inline-asm access in another codegen unit links to it)
    // but hidden (never exported from a shared object); the name carries the crate's
    // major version so two copies of the crate in one binary get distinct variables.
    core::arch::global_asm!(
        ".pushsection .tbss.ebb_slab_heap_tls_v0,\"awT\",@nobits",
        ".p2align 3",
        ".globl ebb_slab_heap_tls_v0",
        ".hidden ebb_slab_heap_tls_v0",
        ".type ebb_slab_heap_tls_v0,@object",
        ".size ebb_slab_heap_tls_v0,8",
        "ebb_slab_heap_tls_v0:",
        ".zero 8",
        ".popsection",
    );

    #[inline(always)]
    pub(super) fn get() -> *mut Heap {
        let h: *mut Heap;
        // SAFETY: `ebb_slab_heap_tls_v0` is an 8-byte, 8-aligned TLS variable (above);
        // its GOT entry holds its offset from the thread pointer (`%fs` base), valid in
        // every thread. The asm only reads it and the thread's own TLS word.
        unsafe {
            core::arch::asm!(
                "mov {h}, qword ptr [rip + ebb_slab_heap_tls_v0@GOTTPOFF]",
                "mov {h}, qword ptr fs:[{h}]",
                h = out(reg) h,
                options(nostack, readonly, preserves_flags, pure),
            );
        }
        h
    }

    #[inline(always)]
    pub(super) fn set(h: *mut Heap) {
        // SAFETY: as in `get`; the asm writes only this thread's TLS word.
        unsafe {
            core::arch::asm!(
                "mov {o}, qword ptr [rip + ebb_slab_heap_tls_v0@GOTTPOFF]",
                "mov qword ptr fs:[{o}], {h}",
                o = out(reg) _,
                h = in(reg) h,
                options(nostack, preserves_flags),
            );
        }
    }
}

/// The thread's heap pointer through `thread_local!` where the initial-exec access above
/// is not available. Its `const` initialiser and no destructor make it readable in every
/// TLS destructor; `try_with` covers a platform where it is not.
#[cfg(not(all(
    target_arch = "x86_64",
    target_os = "linux",
    target_env = "gnu",
    not(miri)
)))]
mod tls {
    use core::cell::Cell;
    use core::ptr;

    use super::{DONE, Heap};

    thread_local! {
        static TLS_HEAP: Cell<*mut Heap> = const { Cell::new(ptr::null_mut()) };
    }

    #[inline]
    pub(super) fn get() -> *mut Heap {
        TLS_HEAP.try_with(|c| c.get()).unwrap_or(DONE)
    }

    pub(super) fn set(h: *mut Heap) {
        let _ = TLS_HEAP.try_with(|c| c.set(h));
    }
}

#[inline(always)]
fn tls_get() -> *mut Heap {
    tls::get()
}

#[inline]
fn tls_set(h: *mut Heap) {
    tls::set(h)
}

static FALLBACK_LOCK: SpinLock = SpinLock::new();
static FALLBACK: AtomicPtr<Heap> = AtomicPtr::new(ptr::null_mut());

// ---------------------------------------------------------------------------------------
// Page lists.

/// # Safety
///
/// `l` is one of a heap's page lists, owned by the calling thread, and `p` is a page of
/// that heap in no list.
unsafe fn list_push_front(l: &mut List, p: *mut Page) {
    // SAFETY: `p` is a page of the caller's heap, in no list.
    unsafe {
        (*p).prev = ptr::null_mut();
        (*p).next = l.head;
        if l.head.is_null() {
            l.tail = p;
        } else {
            (*l.head).prev = p;
        }
        l.head = p;
    }
}

/// # Safety
///
/// `l` is one of a heap's page lists, owned by the calling thread, and `p` is a page of
/// that heap in no list.
unsafe fn list_push_back(l: &mut List, p: *mut Page) {
    // SAFETY: as in list_push_front.
    unsafe {
        (*p).next = ptr::null_mut();
        (*p).prev = l.tail;
        if l.tail.is_null() {
            l.head = p;
        } else {
            (*l.tail).next = p;
        }
        l.tail = p;
    }
}

/// # Safety
///
/// `l` is one of a heap's page lists, owned by the calling thread, and `p` is in `l`.
unsafe fn list_remove(l: &mut List, p: *mut Page) {
    // SAFETY: `p` is in `l`.
    unsafe {
        if (*p).prev.is_null() {
            l.head = (*p).next;
        } else {
            (*(*p).prev).next = (*p).next;
        }
        if (*p).next.is_null() {
            l.tail = (*p).prev;
        } else {
            (*(*p).next).prev = (*p).prev;
        }
        (*p).next = ptr::null_mut();
        (*p).prev = ptr::null_mut();
    }
}

/// Takes `p` out of whichever of this heap's lists holds it.
///
/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock); `p` is one of `h`'s pages, in one of its lists.
unsafe fn unlink(h: *mut Heap, p: *mut Page) {
    // SAFETY: `p` is one of this heap's pages.
    unsafe {
        let c = (*p).class as usize;
        match (*p).queue {
            Q_AVAIL => {
                list_remove(&mut (*h).avail[c], p);
                fix_current(h, c);
            }
            Q_FULL => list_remove(&mut (*h).full[c], p),
            Q_EMPTY => {
                list_remove(&mut (*h).empty, p);
                (*h).empties -= 1;
            }
            _ => {}
        }
        (*p).queue = Q_NONE;
    }
}

/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock); `c` is below `NUM_CLASSES`.
#[inline]
unsafe fn fix_current(h: *mut Heap, c: usize) {
    // SAFETY: the caller owns `h`.
    unsafe {
        let head = (*h).avail[c].head;
        (*h).current[c] = if head.is_null() { empty_page() } else { head };
    }
}

/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock); `p` is one of `h`'s pages, in no list.
unsafe fn q_avail_front(h: *mut Heap, p: *mut Page) {
    // SAFETY: `p` is this heap's page, in no list.
    unsafe {
        let c = (*p).class as usize;
        list_push_front(&mut (*h).avail[c], p);
        (*p).queue = Q_AVAIL;
        fix_current(h, c);
    }
}

/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock); `p` is one of `h`'s pages, in no list.
unsafe fn q_avail_back(h: *mut Heap, p: *mut Page) {
    // SAFETY: as above.
    unsafe {
        let c = (*p).class as usize;
        list_push_back(&mut (*h).avail[c], p);
        (*p).queue = Q_AVAIL;
        fix_current(h, c);
    }
}

/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock); `p` is one of `h`'s pages, in no list.
unsafe fn q_full(h: *mut Heap, p: *mut Page) {
    // SAFETY: as above.
    unsafe {
        let c = (*p).class as usize;
        list_push_back(&mut (*h).full[c], p);
        (*p).queue = Q_FULL;
    }
}

/// Queues an empty page for return after the purge delay; the oldest goes at once when
/// too many wait.
///
/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock); `p` is one of `h`'s pages, in no list, with no live block.
unsafe fn q_empty(h: *mut Heap, p: *mut Page) {
    // SAFETY: `p` is this heap's page, in no list, with no live block.
    unsafe {
        (*p).empty_since = os::now_ms();
        list_push_back(&mut (*h).empty, p);
        (*p).queue = Q_EMPTY;
        (*h).empties += 1;
        if (*h).empties > MAX_EMPTY {
            let old = (*h).empty.head;
            unlink(h, old);
            retire(old);
        }
    }
}

/// # Safety
///
/// The calling thread owns the heap that owns page `p`.
#[inline]
unsafe fn has_room(p: *mut Page) -> bool {
    // SAFETY: the caller owns `p`.
    unsafe { !(*p).free.is_null() || (*p).bump < (*p).capacity }
}

/// Returns the span of `page` (no live block, in no list) to the pool, decommitted.
///
/// # Safety
///
/// The calling thread owns `page`, which is in no list and holds no live block; nothing
/// uses it afterwards.
unsafe fn retire(page: *mut Page) {
    // SAFETY: the caller owns the page and nothing in it is live.
    unsafe {
        let start = (*page).start.load(Ordering::Relaxed);
        let len = (*page).slices as usize * segment::SLICE_SIZE;
        os::decommit(start as *mut u8, len);
        POOL_LOCK.lock();
        segment::release_span(POOL.get(), page, true);
        POOL_LOCK.unlock();
    }
}

/// Frees collected from abandoned pages under the pool lock, per class.
pub(crate) static SWEPT_FREES: [AtomicU64; NUM_CLASSES] =
    [const { AtomicU64::new(0) }; NUM_CLASSES];

/// Moves `page`'s thread-free list into its local list; returns how many blocks came.
/// A block whose allocation bit is already clear was freed twice: fatal.
///
/// # Safety
/// The caller owns `page` (its heap's thread, or the pool lock for an abandoned page).
unsafe fn collect_page(h: *mut Heap, page: *mut Page) -> u32 {
    // SAFETY: the caller owns `page` and `h`.
    unsafe {
        if (*page).thread_free.load(Ordering::Relaxed).is_null() {
            return 0;
        }
        let mut b = tfree::Head::take(&(*page).thread_free);
        let mut n = 0u32;
        while !b.is_null() {
            let next = ptr::read(b.cast::<*mut u8>());
            let i = (*page).index_of(b as usize);
            if !(*page).bit(i) {
                fatal(b"free(): double free detected (cross-thread)", b as usize);
            }
            (*page).clear_bit(i);
            ptr::write(b.cast::<*mut u8>(), (*page).free);
            (*page).free = b;
            n += 1;
            b = next;
        }
        (*page).used -= n;
        let c = (*page).class as usize;
        if h.is_null() {
            SWEPT_FREES[c].fetch_add(n as u64, Ordering::Relaxed);
        } else {
            let f = &(*h).frees[c];
            f.store(f.load(Ordering::Relaxed) + n as u64, Ordering::Relaxed);
        }
        n
    }
}

// ---------------------------------------------------------------------------------------
// Heap creation and thread exit.

static KEY_STATE: AtomicUsize = AtomicUsize::new(0); // 0 none, 1 creating, 2 ready
static KEY: AtomicU32 = AtomicU32::new(0);
static ATFORK: AtomicBool = AtomicBool::new(false);

/// A fresh or recycled heap descriptor; null when memory is exhausted.
fn new_heap() -> *mut Heap {
    POOL_LOCK.lock();
    // SAFETY: the pool lock is held.
    let pool = unsafe { POOL.get() };
    let mut h = pool.free_heaps;
    if !h.is_null() {
        // SAFETY: descriptors on the free list are valid and unused.
        pool.free_heaps = unsafe { (*h).next_free };
    } else {
        let size = core::mem::size_of::<Heap>().next_multiple_of(64);
        if pool.heap_area + size > pool.heap_area_end {
            match os::map(1 << 20, false) {
                Some(p) => {
                    pool.heap_area = p as usize;
                    pool.heap_area_end = p as usize + (1 << 20);
                    segment::MAPPED_BYTES.fetch_add(1 << 20, Ordering::Relaxed);
                }
                None => {
                    POOL_LOCK.unlock();
                    return ptr::null_mut();
                }
            }
        }
        h = pool.heap_area as *mut Heap;
        pool.heap_area += size;
        // SAFETY: `h` is fresh zeroed memory of the right size; link it into ALL_HEAPS.
        unsafe {
            (*h).all_next = ALL_HEAPS.load(Ordering::Relaxed);
        }
        ALL_HEAPS.store(h, Ordering::Release);
    }
    // SAFETY: `h` is ours; all-zero lists are empty, current pages are reset here.
    unsafe {
        for c in 0..NUM_CLASSES {
            (*h).current[c] = empty_page();
        }
        (*h).next_free = ptr::null_mut();
    }
    HEAPS_LIVE.fetch_add(1, Ordering::Relaxed);
    POOL_LOCK.unlock();
    h
}

extern "C" fn thread_exit(arg: *mut libc::c_void) {
    tls_set(DONE);
    let h = arg.cast::<Heap>();
    if is_real(h) {
        // SAFETY: the exiting thread owned `h`; nothing else will use it as its own.
        unsafe { abandon(h) };
    }
}

extern "C" fn fork_prepare() {
    FALLBACK_LOCK.lock();
    POOL_LOCK.lock();
    segment::map_lock().lock();
}

extern "C" fn fork_parent() {
    segment::map_lock().unlock();
    POOL_LOCK.unlock();
    FALLBACK_LOCK.unlock();
}

extern "C" fn fork_child() {
    segment::map_lock().reset();
    POOL_LOCK.reset();
    FALLBACK_LOCK.reset();
    super::numa::fork_child();
}

/// Sets up the calling thread's heap; null (and the thread uses the fallback heap) when
/// that is impossible right now.
#[cold]
fn init_thread_heap() -> *mut Heap {
    tls_set(BUSY);
    // The pthread key whose destructor gives the heap up at thread exit.
    if KEY_STATE.load(Ordering::Acquire) != 2 {
        if KEY_STATE
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let mut k: libc::pthread_key_t = 0;
            // SAFETY: `k` is a valid out-parameter and `thread_exit` has the right ABI.
            let r = unsafe { libc::pthread_key_create(&mut k, Some(thread_exit)) };
            if r != 0 {
                KEY_STATE.store(0, Ordering::Release);
                tls_set(ptr::null_mut());
                return ptr::null_mut();
            }
            KEY.store(k, Ordering::Relaxed);
            KEY_STATE.store(2, Ordering::Release);
        } else {
            // Another thread is creating the key: use the fallback heap this time.
            tls_set(ptr::null_mut());
            return ptr::null_mut();
        }
    }
    if !ATFORK.swap(true, Ordering::AcqRel) {
        // SAFETY: the handlers have the right ABI and take only this heap's locks.
        unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
    }
    let h = new_heap();
    if h.is_null() {
        tls_set(ptr::null_mut());
        return h;
    }
    // SAFETY: KEY is ready (state 2); the value is this thread's heap.
    unsafe { libc::pthread_setspecific(KEY.load(Ordering::Relaxed), h.cast()) };
    tls_set(h);
    h
}

/// Gives up heap `h`: pending frees pushed, empty pages returned, live pages abandoned to
/// the pool, the descriptor recycled.
///
/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock); nothing uses `h` afterwards.
unsafe fn abandon(h: *mut Heap) {
    // SAFETY: the caller owns `h`; every page reached is `h`'s.
    unsafe {
        flush_pending(h);
        let mut keep: *mut Page = ptr::null_mut();
        let mut drop_list: *mut Page = ptr::null_mut();
        for c in 0..NUM_CLASSES {
            for full in [false, true] {
                loop {
                    let p = if full {
                        (*h).full[c].head
                    } else {
                        (*h).avail[c].head
                    };
                    if p.is_null() {
                        break;
                    }
                    unlink(h, p);
                    collect_page(h, p);
                    if (*p).used == 0 {
                        (*p).next = drop_list;
                        drop_list = p;
                    } else {
                        (*p).next = keep;
                        keep = p;
                    }
                }
            }
        }
        loop {
            let p = (*h).empty.head;
            if p.is_null() {
                break;
            }
            unlink(h, p);
            (*p).next = drop_list;
            drop_list = p;
        }
        while !drop_list.is_null() {
            let p = drop_list;
            drop_list = (*p).next;
            (*p).next = ptr::null_mut();
            retire(p);
        }
        POOL_LOCK.lock();
        let pool = POOL.get();
        while !keep.is_null() {
            let p = keep;
            keep = (*p).next;
            let c = (*p).class as usize;
            (*p).heap.store(ABANDONED, Ordering::Release);
            (*p).queue = Q_NONE;
            (*p).prev = ptr::null_mut();
            (*p).next = pool.abandoned[c];
            pool.abandoned[c] = p;
        }
        for c in 0..NUM_CLASSES {
            (*h).current[c] = empty_page();
        }
        (*h).empties = 0;
        (*h).next_free = pool.free_heaps;
        pool.free_heaps = h;
        HEAPS_LIVE.fetch_sub(1, Ordering::Relaxed);
        POOL_LOCK.unlock();
    }
}

/// The fallback heap, made on first use. Fallback lock held.
fn fallback_heap() -> *mut Heap {
    let mut g = FALLBACK.load(Ordering::Relaxed);
    if g.is_null() {
        g = new_heap();
        FALLBACK.store(g, Ordering::Relaxed);
    }
    g
}

// ---------------------------------------------------------------------------------------
// Phases.

/// The calling thread's heap while a phase runs: the heap the thread had before it, to be
/// put back when the phase ends. `None` when the phase could not start (the thread has no
/// heap of its own, or memory is exhausted): the work then runs on the thread's heap.
pub(crate) fn phase_begin() -> Option<(*mut Heap, *mut Heap)> {
    let mut outer = tls_get();
    if outer.is_null() {
        outer = init_thread_heap();
    }
    if !is_real(outer) {
        return None;
    }
    let inner = new_heap();
    if inner.is_null() {
        return None;
    }
    PHASES_LIVE.fetch_add(1, Ordering::Relaxed);
    tls_set(inner);
    Some((outer, inner))
}

/// Ends the phase `phase_begin` returned: the thread's heap is `outer` again, and the phase
/// heap is given up as at thread exit: its empty pages go back to the OS now, its pages
/// with live blocks are abandoned (freed later from any thread, adopted or returned once
/// empty).
///
/// # Safety
/// `(outer, inner)` came from `phase_begin` on this thread, every phase begun after it on
/// this thread has ended, and it is ended once.
pub(crate) unsafe fn phase_end(outer: *mut Heap, inner: *mut Heap) {
    debug_assert_eq!(tls_get(), inner);
    tls_set(outer);
    // SAFETY: `inner` was this thread's heap for the phase and is no one's now.
    unsafe { abandon(inner) };
    PHASES_LIVE.fetch_sub(1, Ordering::Relaxed);
}

/// Phases running now, on every thread.
pub(crate) static PHASES_LIVE: AtomicUsize = AtomicUsize::new(0);

// ---------------------------------------------------------------------------------------
// Allocation.

/// Allocates a block of class `c`; null when memory is exhausted.
#[inline(always)]
pub(crate) fn alloc_class(c: usize, zero: bool, numa: u32) -> *mut u8 {
    let h = tls_get();
    if is_real(h) {
        // SAFETY: `h` is this thread's heap.
        unsafe { heap_alloc(h, c, zero) }
    } else {
        alloc_cold(c, zero, numa)
    }
}

/// The first allocation of a thread (which also passes on an `EbbAlloc`'s NUMA request,
/// before the thread can map anything), or one without a heap of its own.
#[cold]
fn alloc_cold(c: usize, zero: bool, numa: u32) -> *mut u8 {
    super::numa::request(numa);
    let mut h = tls_get();
    if h.is_null() {
        h = init_thread_heap();
        if is_real(h) {
            // SAFETY: `h` is this thread's fresh heap.
            return unsafe { heap_alloc(h, c, zero) };
        }
    }
    FALLBACK_LOCK.lock();
    let g = fallback_heap();
    let p = if g.is_null() {
        ptr::null_mut()
    } else {
        // SAFETY: the fallback lock makes this thread `g`'s owner for the call.
        unsafe { heap_alloc(g, c, zero) }
    };
    FALLBACK_LOCK.unlock();
    p
}

/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock); `c` is below `NUM_CLASSES`.
#[inline(always)]
unsafe fn heap_alloc(h: *mut Heap, c: usize, zero: bool) -> *mut u8 {
    debug_assert!(c < NUM_CLASSES);
    // SAFETY: the caller owns `h`; its current page is either EMPTY_PAGE (never written:
    // its capacity is 0 and its free list null, so both branches below skip it) or one of
    // its own pages. `c` is a class index (below NUM_CLASSES), so the unchecked indexes
    // are in bounds.
    unsafe {
        loop {
            // `c` comes from `class::class_for`, below NUM_CLASSES.
            let page = *(*h).current.get_unchecked(c);
            let p = (*page).free;
            let (p, clean) = if !p.is_null() {
                (*page).free = ptr::read(p.cast::<*mut u8>());
                let i = (*page).index_of(p as usize);
                (*page).set_bit(i);
                (p, false)
            } else if (*page).bump < (*page).capacity {
                let i = (*page).bump;
                (*page).bump = i + 1;
                (*page).set_bit(i as usize);
                let p = ((*page).start.load(Ordering::Relaxed)
                    + i as usize * (*page).stride.load(Ordering::Relaxed) as usize)
                    as *mut u8;
                (p, (*page).fresh)
            } else {
                if !alloc_slow(h, c) {
                    return ptr::null_mut();
                }
                continue;
            };
            (*page).used += 1;
            let a = (*h).allocs.get_unchecked(c);
            a.store(a.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            if zero && !clean {
                ptr::write_bytes(p, 0, class::size_of(c));
            } else if !zero {
                // The link word of a recycled block is not data; nothing to do.
            }
            return p;
        }
    }
}

/// Makes `current[c]` a page with room; false when memory is exhausted.
///
/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock); `c` is below `NUM_CLASSES`.
#[cold]
unsafe fn alloc_slow(h: *mut Heap, c: usize) -> bool {
    // SAFETY: the caller owns `h` and so every page in its lists.
    unsafe {
        flush_pending(h);
        let cur = (*h).current[c];
        if cur != empty_page() {
            collect_page(h, cur);
            if has_room(cur) {
                return true;
            }
            unlink(h, cur);
            q_full(h, cur);
        }
        // Other pages of the class with room, or frees from other threads.
        loop {
            let p = (*h).avail[c].head;
            if p.is_null() {
                break;
            }
            collect_page(h, p);
            if has_room(p) {
                fix_current(h, c);
                return true;
            }
            unlink(h, p);
            q_full(h, p);
        }
        // Full pages that other threads have freed into.
        let (w, b) = (c >> 6, 1u64 << (c & 63));
        if (*h).hints[w].load(Ordering::Relaxed) & b != 0 {
            (*h).hints[w].fetch_and(!b, Ordering::Acquire);
            let mut p = (*h).full[c].head;
            while !p.is_null() {
                let next = (*p).next;
                if collect_page(h, p) > 0 {
                    unlink(h, p);
                    if (*p).used == 0 {
                        q_empty(h, p);
                    } else {
                        q_avail_back(h, p);
                    }
                }
                p = next;
            }
            if !(*h).avail[c].head.is_null() {
                return true;
            }
        }
        maybe_purge(h);
        // A page from this heap's empty list with the right span length.
        let want = class::slices_of(c) as u8;
        let mut p = (*h).empty.tail;
        while !p.is_null() {
            if (*p).slices == want {
                unlink(h, p);
                segment::CLASS_PAGES[(*p).class as usize].fetch_sub(1, Ordering::Relaxed);
                (*p).fresh = false;
                segment::init_page(p, c, h);
                q_avail_front(h, p);
                return true;
            }
            p = (*p).prev;
        }
        // An abandoned page of the class.
        if adopt(h, c) {
            return true;
        }
        // A fresh span, from a segment of this thread's node under a per-node policy.
        let node = super::numa::want_node();
        POOL_LOCK.lock();
        let p = segment::take_span(POOL.get(), want as usize, node);
        POOL_LOCK.unlock();
        if p.is_null() {
            return false;
        }
        segment::init_page(p, c, h);
        q_avail_front(h, p);
        true
    }
}

/// Adopts up to four abandoned pages of class `c`; true if one has room.
///
/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock); `c` is below `NUM_CLASSES`.
unsafe fn adopt(h: *mut Heap, c: usize) -> bool {
    // SAFETY: the pool lock guards the abandoned lists; an adopted page becomes `h`'s.
    unsafe {
        // Cheap unlocked peek: a stale answer only delays adoption.
        for _ in 0..4 {
            POOL_LOCK.lock();
            let pool = POOL.get();
            let p = pool.abandoned[c];
            if p.is_null() {
                POOL_LOCK.unlock();
                return false;
            }
            pool.abandoned[c] = (*p).next;
            (*p).next = ptr::null_mut();
            (*p).heap.store(h, Ordering::Release);
            POOL_LOCK.unlock();
            collect_page(h, p);
            if (*p).used == 0 {
                q_empty(h, p);
                continue;
            }
            if has_room(p) {
                q_avail_front(h, p);
                return true;
            }
            q_full(h, p);
        }
        false
    }
}

/// Returns empty pages older than the purge delay; at most once per delay per heap.
///
/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock).
unsafe fn maybe_purge(h: *mut Heap) {
    let now = os::now_ms();
    // SAFETY: the caller owns `h`.
    unsafe {
        if now.saturating_sub((*h).last_purge) < PURGE_DELAY_MS / 2 {
            return;
        }
        (*h).last_purge = now;
        loop {
            let p = (*h).empty.head;
            if p.is_null() || now.saturating_sub((*p).empty_since) < PURGE_DELAY_MS {
                break;
            }
            unlink(h, p);
            retire(p);
        }
    }
    sweep_abandoned(false);
}

static LAST_SWEEP: AtomicU64 = AtomicU64::new(0);

/// Frees abandoned pages whose last block has been freed (every purge delay at most,
/// unless `force`).
fn sweep_abandoned(force: bool) {
    let now = os::now_ms();
    if !force {
        let last = LAST_SWEEP.load(Ordering::Relaxed);
        if now.saturating_sub(last) < PURGE_DELAY_MS
            || LAST_SWEEP
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
    }
    POOL_LOCK.lock();
    // SAFETY: the pool lock is held; abandoned pages belong to its holder.
    unsafe {
        let pool = POOL.get();
        for c in 0..NUM_CLASSES {
            let mut prev: *mut Page = ptr::null_mut();
            let mut p = pool.abandoned[c];
            while !p.is_null() {
                let next = (*p).next;
                collect_page(ptr::null_mut(), p);
                if (*p).used == 0 {
                    if prev.is_null() {
                        pool.abandoned[c] = next;
                    } else {
                        (*prev).next = next;
                    }
                    (*p).next = ptr::null_mut();
                    segment::release_span(pool, p, false);
                } else {
                    prev = p;
                }
                p = next;
            }
        }
    }
    POOL_LOCK.unlock();
}

// ---------------------------------------------------------------------------------------
// Free.

/// Frees block `p` of the page `page` (in a small segment). The owner's free still
/// tests the block's allocation bit (a double free on the owning thread is fatal).
///
/// # Safety
/// `p` is a live block of `page`, handed out by this heap.
#[inline]
pub(crate) unsafe fn free_block(page: *mut Page, p: *mut u8) {
    let h = tls_get();
    // SAFETY: the caller guarantees `p` is live in `page`.
    unsafe {
        let owner = (*page).heap.load(Ordering::Relaxed);
        if owner == h && is_real(h) {
            let i = (*page).index_of(p as usize);
            if !(*page).bit(i) {
                fatal(b"free(): double free detected", p as usize);
            }
            free_local(h, page, p, i);
        } else {
            free_remote(h, page, p);
        }
    }
}

/// As [`free_block`], for a block a checked free has just found allocated: block `i`
/// of `page`, its bit set, so the owner's path does not test it again.
///
/// # Safety
/// As [`free_block`], and `i == (*page).index_of(p)`.
#[inline(always)]
pub(crate) unsafe fn free_checked_block(page: *mut Page, p: *mut u8, i: usize) {
    let h = tls_get();
    // SAFETY: the caller guarantees `p` is live block `i` of `page`.
    unsafe {
        let owner = (*page).heap.load(Ordering::Relaxed);
        if owner == h && is_real(h) {
            free_local(h, page, p, i);
        } else {
            free_remote(h, page, p);
        }
    }
}

/// The owner's free of live block `i` of `page`, whose bit is set.
///
/// # Safety
/// `h` is this thread's heap and owns `page`; `p` is live block `i` of it.
#[inline(always)]
unsafe fn free_local(h: *mut Heap, page: *mut Page, p: *mut u8, i: usize) {
    // SAFETY: the caller guarantees `h` owns `page` and `p` is its live block `i`; the
    // page's class is below NUM_CLASSES (set by `init_page`), so the unchecked indexes are
    // in bounds.
    unsafe {
        (*page).clear_bit(i);
        ptr::write(p.cast::<*mut u8>(), (*page).free);
        (*page).free = p;
        (*page).used -= 1;
        // A page's class is set by `segment::init_page` from a class index, below
        // NUM_CLASSES.
        let c = (*page).class as usize;
        debug_assert!(c < NUM_CLASSES);
        let f = (*h).frees.get_unchecked(c);
        f.store(f.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        if (*page).queue == Q_FULL || ((*page).used == 0 && *(*h).current.get_unchecked(c) != page)
        {
            free_local_slow(h, page);
        }
    }
}

/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock) and `page`, one of `h`'s pages, in the list its `queue` field names.
#[cold]
unsafe fn free_local_slow(h: *mut Heap, page: *mut Page) {
    // SAFETY: the caller owns `h` and `page`.
    unsafe {
        let c = (*page).class as usize;
        if (*page).used == 0 {
            if (*h).current[c] == page {
                return;
            }
            unlink(h, page);
            q_empty(h, page);
        } else if (*page).queue == Q_FULL {
            unlink(h, page);
            q_avail_back(h, page);
        }
    }
}

/// # Safety
///
/// `h` is the calling thread's own heap or the empty placeholder (`is_real` tells), `p` is
/// a live block of `page`, and the caller gives it up.
#[cold]
unsafe fn free_remote(h: *mut Heap, page: *mut Page, p: *mut u8) {
    // SAFETY: `p` is a live block of `page`; the pending chain is `h`'s own.
    unsafe {
        if is_real(h) {
            if (*h).pending_page == page {
                ptr::write(p.cast::<*mut u8>(), (*h).pending_head);
                (*h).pending_head = p;
                (*h).pending_n += 1;
                if (*h).pending_n >= BATCH {
                    flush_pending(h);
                }
                return;
            }
            flush_pending(h);
            ptr::write(p.cast::<*mut u8>(), ptr::null_mut());
            (*h).pending_page = page;
            (*h).pending_head = p;
            (*h).pending_tail = p;
            (*h).pending_n = 1;
        } else {
            push_thread_free(page, p, p);
        }
    }
}

/// Pushes the chain `head ..= tail` (linked through first words) onto `page`'s
/// thread-free list, then tells the owner. The page may be freed by its owner as soon
/// as the CAS lands, so everything needed afterwards is read before it.
///
/// # Safety
///
/// `head ..= tail` is a chain of live blocks of `page`, linked through their first words,
/// that the caller gives up; `page` is in use (not returned to the pool).
unsafe fn push_thread_free(page: *mut Page, head: *mut u8, tail: *mut u8) {
    // SAFETY: the blocks are live in `page` until the push publishes them.
    unsafe {
        let owner = (*page).heap.load(Ordering::Relaxed);
        let c = (*page).class_shared.load(Ordering::Relaxed) as usize;
        // SAFETY: the chain is ours until the push lands; each block's first word is its
        // link.
        tfree::push(&(*page).thread_free, head, tail, |b, next| {
            ptr::write(b.cast::<*mut u8>(), next)
        });
        if is_real(owner) && owner != ABANDONED {
            // Heap descriptors are never unmapped, so a stale owner only gets a spurious
            // hint.
            let (w, b) = (c >> 6, 1u64 << (c & 63));
            let hw = &(*owner).hints[w];
            if hw.load(Ordering::Relaxed) & b == 0 {
                hw.fetch_or(b, Ordering::Release);
            }
        }
    }
}

/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock).
unsafe fn flush_pending(h: *mut Heap) {
    // SAFETY: the caller owns `h`; the chain's blocks are live in the pending page.
    unsafe {
        let page = (*h).pending_page;
        if page.is_null() {
            return;
        }
        (*h).pending_page = ptr::null_mut();
        (*h).pending_n = 0;
        push_thread_free(page, (*h).pending_head, (*h).pending_tail);
    }
}

// ---------------------------------------------------------------------------------------
// Collection.

/// Returns everything the calling thread's heap and the shared heaps hold without a live
/// object to the OS now.
pub(crate) fn collect_now() {
    let h = tls_get();
    if is_real(h) {
        // SAFETY: `h` is this thread's heap.
        unsafe { collect_heap(h) };
    }
    FALLBACK_LOCK.lock();
    let g = FALLBACK.load(Ordering::Relaxed);
    if !g.is_null() {
        // SAFETY: the fallback lock is held.
        unsafe { collect_heap(g) };
    }
    FALLBACK_LOCK.unlock();
    sweep_abandoned(true);
    POOL_LOCK.lock();
    // SAFETY: the pool lock is held.
    segment::drop_spare(unsafe { POOL.get() });
    POOL_LOCK.unlock();
}

/// # Safety
///
/// The calling thread owns heap `h` (it is this thread's heap, or the fallback heap under
/// the fallback lock) and its pages.
unsafe fn collect_heap(h: *mut Heap) {
    // SAFETY: the caller owns `h` and its pages.
    unsafe {
        flush_pending(h);
        for c in 0..NUM_CLASSES {
            for full in [false, true] {
                let mut p = if full {
                    (*h).full[c].head
                } else {
                    (*h).avail[c].head
                };
                while !p.is_null() {
                    let next = (*p).next;
                    collect_page(h, p);
                    if (*p).used == 0 {
                        unlink(h, p);
                        retire(p);
                    } else if full && has_room(p) {
                        unlink(h, p);
                        q_avail_back(h, p);
                    }
                    p = next;
                }
            }
        }
        loop {
            let p = (*h).empty.head;
            if p.is_null() {
                break;
            }
            unlink(h, p);
            retire(p);
        }
    }
}
