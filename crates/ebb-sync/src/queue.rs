//! Unbounded MPMC FIFO queues with nodes reclaimed through ebb-smr.
//!
//! * [`Queue`], the default: a linked list of segments of [`SEGMENT`] slots, each slot
//!   claimed with one fetch-and-add on the segment's enqueue or dequeue index (the shape
//!   of Correia and Ramalhete's FAAArrayQueue, and of LCRQ's per-ring indices, Morrison
//!   and Afek, PPoPP 2013). Contended threads spread over distinct slots instead of
//!   retrying a compare-and-swap on one word, and a node is allocated once per
//!   `SEGMENT` values.
//! * [`MsQueue`]: Michael and Scott's queue ("Simple, Fast, and Practical Non-Blocking
//!   and Blocking Concurrent Queue Algorithms", PODC 1996): one node per value, a dummy
//!   head, `tail` helped forward by whoever sees it lag.
//!
//! Both are lock-free, answer an empty `pop` at once, and keep each producer's values in
//! the order it pushed them.

use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicIsize, AtomicPtr, AtomicUsize, Ordering};
use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr;
use crossbeam_utils::CachePadded;
use ebb_smr::{DomainId, Smr, SmrError, SmrGuard};

// === impl Queue (segments claimed by fetch-and-add) ===

/// Slots per segment of a [`Queue`] (small under the checkers).
pub const SEGMENT: usize = if cfg!(any(miri, ebb_loom)) { 2 } else { 1024 };

/// Slot states.
const EMPTY: usize = 0;
const FULL: usize = 1;
/// Claimed by a dequeuer before its enqueuer wrote: the enqueuer retries elsewhere.
const TAKEN: usize = 2;
/// Times a dequeuer checks a claimed slot for its value before taking it empty.
const PATIENCE: usize = if cfg!(ebb_loom) { 1 } else { 64 };

struct Slot<T> {
    state: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

struct Segment<T> {
    /// Next slot index for an enqueuer (grows past `SEGMENT` once the segment is full).
    enq: CachePadded<AtomicUsize>,
    /// The dequeuers' line: their index and their last sight of `enq`.
    deq: CachePadded<DeqSide>,
    next: AtomicPtr<Segment<T>>,
    /// Position of slot 0 in the queue's whole sequence (for `len`).
    base: usize,
    slots: [Slot<T>; SEGMENT],
}

/// The words only dequeuers touch, on a line of their own.
struct DeqSide {
    /// Next slot index for a dequeuer (grows past `SEGMENT` once it is drained).
    next: AtomicUsize,
    /// A value `enq` had (capped at `SEGMENT`), so a lower bound of it: slots below it
    /// were claimed by enqueuers. A dequeuer whose slot is below it knows the queue is
    /// not empty without reading `enq`, the enqueuers' hot word (reading it on every pop
    /// would pull its line away from the next enqueuer's fetch-and-add). Any dequeuer
    /// may store here, in any order: every value stored was one of `enq`'s, and `enq`
    /// only grows, so the word never exceeds `enq` even when a stale store lowers it.
    enq_seen: AtomicUsize,
}

impl<T> Segment<T> {
    /// A fresh segment, built in place on the heap (a segment is about 16 KiB: building
    /// it on the stack and moving it would copy all of it once more).
    fn boxed(base: usize) -> *mut Segment<T> {
        let mut b = Box::<Segment<T>>::new_uninit();
        let p = b.as_mut_ptr();
        // SAFETY: every field of the uninitialised box is written once through raw
        // pointers before `assume_init`; no reference to an uninitialised field is made.
        unsafe {
            ptr::addr_of_mut!((*p).enq).write(CachePadded::new(AtomicUsize::new(0)));
            ptr::addr_of_mut!((*p).deq).write(CachePadded::new(DeqSide {
                next: AtomicUsize::new(0),
                enq_seen: AtomicUsize::new(0),
            }));
            ptr::addr_of_mut!((*p).next).write(AtomicPtr::new(ptr::null_mut()));
            ptr::addr_of_mut!((*p).base).write(base);
            let slots = ptr::addr_of_mut!((*p).slots).cast::<Slot<T>>();
            for i in 0..SEGMENT {
                slots.add(i).write(Slot {
                    state: AtomicUsize::new(EMPTY),
                    value: UnsafeCell::new(MaybeUninit::uninit()),
                });
            }
            Box::into_raw(b.assume_init())
        }
    }
}

/// Frees a retired segment. Its values were all taken by dequeuers (a segment is retired
/// once drained), so only the memory goes.
///
/// # Safety
///
/// `p` came from `Box::into_raw`, no thread can reach it any more (it was unlinked and
/// retired, and its grace period is over), and it is freed once.
unsafe fn free_segment<T>(p: *mut Segment<T>) {
    // SAFETY: segments are boxes; `MaybeUninit` slots drop nothing.
    drop(unsafe { Box::from_raw(p) });
}

/// The default unbounded MPMC queue: segments of [`SEGMENT`] slots claimed by
/// fetch-and-add (see the [module docs](self)), reclaimed through `S` (EBR by default).
pub struct Queue<T, S: Smr = ebb_smr::ebr::Domain> {
    head: CachePadded<AtomicPtr<Segment<T>>>,
    tail: CachePadded<AtomicPtr<Segment<T>>>,
    domain: DomainId,
    _scheme: PhantomData<(S, Box<T>)>,
}

// SAFETY: values move between threads through the queue and are never shared.
unsafe impl<T: Send, S: Smr> Send for Queue<T, S> {}
// SAFETY: as above.
unsafe impl<T: Send, S: Smr> Sync for Queue<T, S> {}

impl<T, S: Smr> Queue<T, S> {
    /// An empty queue reclaimed through `domain`.
    pub fn with_domain(domain: &S) -> Self {
        let s = Segment::boxed(0);
        Queue {
            head: CachePadded::new(AtomicPtr::new(s)),
            tail: CachePadded::new(AtomicPtr::new(s)),
            domain: domain.id(),
            _scheme: PhantomData,
        }
    }

    /// Appends `value`.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the queue's domain (`value` is
    /// dropped then).
    pub fn push_with<G: SmrGuard>(&self, guard: &G, value: T) -> Result<(), SmrError> {
        guard.check_domain(self.domain)?;
        let mut value = value;
        loop {
            let seg = guard.protect_shared(0, &self.tail);
            // SAFETY: protected; segments stay allocated while protected.
            let s = unsafe { &*seg };
            // Relaxed: the index only hands out slots; the slot's state orders the data.
            let i = s.enq.fetch_add(1, Ordering::Relaxed);
            if i < SEGMENT {
                let slot = &s.slots[i];
                // SAFETY: slot `i` was handed to us alone by the fetch-and-add; a
                // dequeuer that claims it reads the value only after seeing FULL.
                slot.value.with_mut(|p| unsafe { (*p).write(value) });
                // Release: the value is visible to the dequeuer that sees FULL.
                if slot
                    .state
                    .compare_exchange(EMPTY, FULL, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok(());
                }
                // A dequeuer gave up on this slot (TAKEN): take the value back, retry.
                // SAFETY: written just above by us; nobody else reads a TAKEN slot.
                value = slot.value.with(|p| unsafe { (*p).assume_init_read() });
                continue;
            }
            // The segment is full: append a new one holding the value in slot 0.
            // Acquire: a segment linked by another enqueuer is initialised.
            let next = s.next.load(Ordering::Acquire);
            if !next.is_null() {
                // Help the tail forward (Release: as below).
                let _ = self
                    .tail
                    .compare_exchange(seg, next, Ordering::Release, Ordering::Relaxed);
                continue;
            }
            let n = Segment::boxed(s.base + SEGMENT);
            // SAFETY: `n` is ours until published.
            let ns = unsafe { &*n };
            // SAFETY: as above: nobody else can reach slot 0 yet.
            ns.slots[0].value.with_mut(|p| unsafe { (*p).write(value) });
            ns.slots[0].state.store(FULL, Ordering::Relaxed);
            ns.enq.store(1, Ordering::Relaxed);
            // Release: the new segment and its first value are visible to whoever
            // follows `next` or `tail` to it.
            match s
                .next
                .compare_exchange(ptr::null_mut(), n, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) => {
                    let _ =
                        self.tail
                            .compare_exchange(seg, n, Ordering::Release, Ordering::Relaxed);
                    return Ok(());
                }
                Err(won) => {
                    // SAFETY: `n` was never published; its value is ours again.
                    value = ns.slots[0]
                        .value
                        .with(|p| unsafe { (*p).assume_init_read() });
                    // SAFETY: unpublished box; slot values are `MaybeUninit`.
                    unsafe { free_segment(n) };
                    let _ =
                        self.tail
                            .compare_exchange(seg, won, Ordering::Release, Ordering::Relaxed);
                }
            }
        }
    }

    /// Removes the oldest value, `None` at once when the queue is empty.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the queue's domain.
    pub fn pop_with<G: SmrGuard>(&self, guard: &G) -> Result<Option<T>, SmrError> {
        guard.check_domain(self.domain)?;
        loop {
            let seg = guard.protect_shared(0, &self.head);
            // SAFETY: protected.
            let s = unsafe { &*seg };
            let d = s.deq.next.load(Ordering::Relaxed);
            if d >= SEGMENT {
                // Drained: move `head` to the next segment, if there is one.
                let next = s.next.load(Ordering::Acquire);
                if next.is_null() {
                    return Ok(None);
                }
                // `tail` must not point to a segment we retire: it only moves forward,
                // so once it is past `seg` it stays past.
                if self.tail.load(Ordering::Acquire) == seg {
                    let _ =
                        self.tail
                            .compare_exchange(seg, next, Ordering::Release, Ordering::Relaxed);
                }
                // AcqRel: Acquire as for `next`; Release hands the new head on.
                if self
                    .head
                    .compare_exchange(seg, next, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    // SAFETY: `seg` is unreachable from `head`, `tail` (checked above)
                    // and every earlier segment (retired before it); retired once, by
                    // the winner of this compare-and-swap, through our domain.
                    unsafe { guard.retire(seg, free_segment::<T>) };
                }
                continue;
            }
            // Relaxed: both words only hand out slots; a slot's state orders its value.
            if d >= s.deq.enq_seen.load(Ordering::Relaxed) {
                let e = s.enq.load(Ordering::Relaxed).min(SEGMENT);
                if d >= e {
                    // No enqueuer has claimed slot `d`: empty now.
                    return Ok(None);
                }
                s.deq.enq_seen.store(e, Ordering::Relaxed);
            }
            let i = s.deq.next.fetch_add(1, Ordering::Relaxed);
            if i >= SEGMENT {
                continue;
            }
            let slot = &s.slots[i];
            // The enqueuer holding slot `i` may still be writing: wait a little. A slot
            // seen FULL is final (its enqueuer is done with it and slot `i` is ours), so
            // its value is taken by reading alone: the slot stays FULL, and nobody reads
            // it again (`Drop` skips the slots below `deq`, which dequeuers claimed). Not
            // writing the slot keeps its line, which holds the next values too, in the
            // enqueuer's cache.
            for _ in 0..PATIENCE {
                // Acquire: pairs with the enqueuer's Release of FULL.
                if slot.state.load(Ordering::Acquire) == FULL {
                    // SAFETY: as below.
                    return Ok(Some(
                        slot.value.with(|p| unsafe { (*p).assume_init_read() }),
                    ));
                }
                crate::sync::spin();
            }
            // Acquire: pairs with the enqueuer's Release of FULL.
            if slot.state.swap(TAKEN, Ordering::Acquire) == FULL {
                // SAFETY: FULL: the value was written and published; slot `i` was handed
                // to us alone by the fetch-and-add, so we take it once.
                return Ok(Some(
                    slot.value.with(|p| unsafe { (*p).assume_init_read() }),
                ));
            }
            // The slot was empty: its enqueuer will see TAKEN and retry elsewhere.
        }
    }

    /// Values in the queue, an estimate while other threads push or pop (slots given up
    /// by a dequeuer count until the segment drains).
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the queue's domain.
    pub fn len_with<G: SmrGuard>(&self, guard: &G) -> Result<usize, SmrError> {
        guard.check_domain(self.domain)?;
        let h = guard.protect_shared(0, &self.head);
        let t = guard.protect_shared(1, &self.tail);
        // SAFETY: both protected.
        let (h, t) = unsafe { (&*h, &*t) };
        let front = h.base + h.deq.next.load(Ordering::Relaxed).min(SEGMENT);
        let back = t.base + t.enq.load(Ordering::Relaxed).min(SEGMENT);
        guard.reset(0);
        guard.reset(1);
        Ok(back.saturating_sub(front))
    }

    /// The domain the queue's segments are retired into.
    pub fn domain_id(&self) -> DomainId {
        self.domain
    }
}

#[cfg(not(ebb_loom))]
impl<T> Queue<T> {
    /// An empty queue reclaimed through the default EBR domain.
    pub fn new() -> Self {
        Queue::with_domain(ebb_smr::ebr::default_domain())
    }

    /// Appends `value`.
    ///
    /// # Panics
    ///
    /// If the queue belongs to an EBR domain other than the default one (use
    /// [`push_with`](Queue::push_with)).
    pub fn push(&self, value: T) {
        ebb_smr::ebr::with_guard(|g| self.push_with(g, value)).expect(crate::DEFAULT_DOMAIN_ONLY)
    }

    /// Removes the oldest value, `None` at once when empty.
    ///
    /// # Panics
    ///
    /// As [`push`](Queue::push).
    pub fn pop(&self) -> Option<T> {
        ebb_smr::ebr::with_guard(|g| self.pop_with(g)).expect(crate::DEFAULT_DOMAIN_ONLY)
    }

    /// Values in the queue, an estimate (see [`len_with`](Queue::len_with)).
    ///
    /// # Panics
    ///
    /// As [`push`](Queue::push).
    pub fn len(&self) -> usize {
        ebb_smr::ebr::with_guard(|g| self.len_with(g)).expect(crate::DEFAULT_DOMAIN_ONLY)
    }

    /// True when [`len`](Queue::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(not(ebb_loom))]
impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::new()
    }
}

impl<T, S: Smr> Drop for Queue<T, S> {
    fn drop(&mut self) {
        let mut p = self.head.load(Ordering::Relaxed);
        while !p.is_null() {
            // SAFETY: `&mut self`: no operation is in flight and the linked segments are
            // ours alone. A slot below `deq` was claimed by a dequeuer, which took its
            // value or gave it back to the enqueuer (TAKEN); a FULL slot from `deq` on
            // holds a value nobody took.
            unsafe {
                let s = &*p;
                let taken = s.deq.next.load(Ordering::Relaxed).min(SEGMENT);
                for slot in &s.slots[taken..] {
                    if slot.state.load(Ordering::Relaxed) == FULL {
                        slot.value.with_mut(|v| (*v).assume_init_drop());
                    }
                }
                let next = s.next.load(Ordering::Relaxed);
                free_segment(p);
                p = next;
            }
        }
    }
}

impl<T, S: Smr> fmt::Debug for Queue<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

// === impl MsQueue ===

struct Node<T> {
    /// Uninitialised in the dummy; taken by the dequeuer that makes the node the dummy.
    value: UnsafeCell<MaybeUninit<T>>,
    next: AtomicPtr<Node<T>>,
}

impl<T> Node<T> {
    fn boxed(value: MaybeUninit<T>) -> *mut Node<T> {
        Box::into_raw(Box::new(Node {
            value: UnsafeCell::new(value),
            next: AtomicPtr::new(ptr::null_mut()),
        }))
    }
}

/// Frees a node whose value was taken (or never set).
///
/// # Safety
///
/// `p` came from `Box::into_raw`, no thread can reach it any more (it was unlinked and
/// retired, and its grace period is over), and it is freed once.
unsafe fn free_node<T>(p: *mut Node<T>) {
    // SAFETY: nodes are boxes; the value is `MaybeUninit`.
    drop(unsafe { Box::from_raw(p) });
}

/// Michael and Scott's lock-free queue (see the [module docs](self)), one node per
/// value, reclaimed through `S` (EBR by default).
pub struct MsQueue<T, S: Smr = ebb_smr::ebr::Domain> {
    head: CachePadded<AtomicPtr<Node<T>>>,
    tail: CachePadded<AtomicPtr<Node<T>>>,
    len: CachePadded<AtomicIsize>,
    domain: DomainId,
    _scheme: PhantomData<(S, Box<T>)>,
}

// SAFETY: values move between threads through the queue and are never shared.
unsafe impl<T: Send, S: Smr> Send for MsQueue<T, S> {}
// SAFETY: as above.
unsafe impl<T: Send, S: Smr> Sync for MsQueue<T, S> {}

impl<T, S: Smr> MsQueue<T, S> {
    /// An empty queue reclaimed through `domain`.
    pub fn with_domain(domain: &S) -> Self {
        let dummy = Node::boxed(MaybeUninit::uninit());
        MsQueue {
            head: CachePadded::new(AtomicPtr::new(dummy)),
            tail: CachePadded::new(AtomicPtr::new(dummy)),
            len: CachePadded::new(AtomicIsize::new(0)),
            domain: domain.id(),
            _scheme: PhantomData,
        }
    }

    /// Appends `value`.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the queue's domain.
    pub fn push_with<G: SmrGuard>(&self, guard: &G, value: T) -> Result<(), SmrError> {
        guard.check_domain(self.domain)?;
        let n = Node::boxed(MaybeUninit::new(value));
        loop {
            let tail = guard.protect_shared(0, &self.tail);
            // SAFETY: protected.
            let t = unsafe { &*tail };
            let next = t.next.load(Ordering::Acquire);
            if !next.is_null() {
                // `tail` lags: help it forward.
                let _ =
                    self.tail
                        .compare_exchange(tail, next, Ordering::Release, Ordering::Relaxed);
                continue;
            }
            // Release: the node and its value are visible to whoever follows `next`.
            if t.next
                .compare_exchange(ptr::null_mut(), n, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                let _ = self
                    .tail
                    .compare_exchange(tail, n, Ordering::Release, Ordering::Relaxed);
                self.len.fetch_add(1, Ordering::Relaxed);
                guard.reset(0);
                return Ok(());
            }
        }
    }

    /// Removes the oldest value, `None` at once when the queue is empty.
    ///
    /// # Errors
    ///
    /// [`SmrError::ForeignDomain`] if `guard` is not of the queue's domain.
    pub fn pop_with<G: SmrGuard>(&self, guard: &G) -> Result<Option<T>, SmrError> {
        guard.check_domain(self.domain)?;
        loop {
            let head = guard.protect_shared(0, &self.head);
            // SAFETY: protected.
            let h = unsafe { &*head };
            let next = guard.protect_shared(1, &h.next);
            // `next` was protected while `head` was still the head (re-checked here), so
            // it was linked then and cannot have been retired before the protection.
            if self.head.load(Ordering::Acquire) != head {
                continue;
            }
            if next.is_null() {
                guard.reset(0);
                return Ok(None);
            }
            let tail = self.tail.load(Ordering::Acquire);
            if tail == head {
                // Never let `head` pass `tail`: a retired node must not stay reachable.
                let _ =
                    self.tail
                        .compare_exchange(tail, next, Ordering::Release, Ordering::Relaxed);
                continue;
            }
            // Acquire: the value written before the node's Release link.
            if self
                .head
                .compare_exchange(head, next, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                self.len.fetch_sub(1, Ordering::Relaxed);
                // SAFETY: `next` is protected (slot 1) and now the dummy; the winner of
                // the compare-and-swap alone takes its value, once.
                let v = unsafe { &*next }.value.with(|p| {
                    // SAFETY: as above: the value was initialised before `next` was linked,
                    // and only this winner reads it, once.
                    unsafe { (*p).assume_init_read() }
                });
                // SAFETY: `head` is unlinked (head moved past it, and `tail` was past it)
                // and retired once, by the winner, through our domain.
                unsafe { guard.retire(head, free_node::<T>) };
                guard.reset(0);
                guard.reset(1);
                return Ok(Some(v));
            }
        }
    }

    /// Values in the queue, an estimate while other threads push or pop.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed).max(0) as usize
    }

    /// True if the queue held no value at the moment of the check.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The domain the queue's nodes are retired into.
    pub fn domain_id(&self) -> DomainId {
        self.domain
    }
}

#[cfg(not(ebb_loom))]
impl<T> MsQueue<T> {
    /// An empty queue reclaimed through the default EBR domain.
    pub fn new() -> Self {
        MsQueue::with_domain(ebb_smr::ebr::default_domain())
    }

    /// Appends `value`.
    ///
    /// # Panics
    ///
    /// If the queue belongs to an EBR domain other than the default one (use
    /// [`push_with`](MsQueue::push_with)).
    pub fn push(&self, value: T) {
        ebb_smr::ebr::with_guard(|g| self.push_with(g, value)).expect(crate::DEFAULT_DOMAIN_ONLY)
    }

    /// Removes the oldest value, `None` at once when empty.
    ///
    /// # Panics
    ///
    /// As [`push`](MsQueue::push).
    pub fn pop(&self) -> Option<T> {
        ebb_smr::ebr::with_guard(|g| self.pop_with(g)).expect(crate::DEFAULT_DOMAIN_ONLY)
    }
}

#[cfg(not(ebb_loom))]
impl<T> Default for MsQueue<T> {
    fn default() -> Self {
        MsQueue::new()
    }
}

impl<T, S: Smr> Drop for MsQueue<T, S> {
    fn drop(&mut self) {
        let head = self.head.load(Ordering::Relaxed);
        // SAFETY: `&mut self`: the linked nodes are ours alone. The head is the dummy
        // (no value); every node after it holds one.
        unsafe {
            let mut p = (*head).next.load(Ordering::Relaxed);
            free_node(head);
            while !p.is_null() {
                let next = (*p).next.load(Ordering::Relaxed);
                (*p).value.with_mut(|v| (*v).assume_init_drop());
                free_node(p);
                p = next;
            }
        }
    }
}

impl<T, S: Smr> fmt::Debug for MsQueue<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsQueue")
            .field("len", &self.len())
            .field("domain", &self.domain)
            .finish()
    }
}
