//! A work-stealing task executor on the [Chase-Lev deque](crate::deque): a fixed set of
//! workers with one deque each, random victim selection, fork-join ([`join`],
//! [`Executor::scope`]) and task graphs ([`Graph`]) where a task becomes ready when its
//! last predecessor finishes.
//!
//! * A worker runs its own deque LIFO (`pop`), then the executor's injector queue (jobs
//!   submitted from outside), then steals FIFO from the other workers, starting at a
//!   random victim (xorshift) and visiting each once.
//! * A worker that finds nothing parks on a condition variable. Pushers check, after a
//!   `SeqCst` fence, whether anyone sleeps and wake one; a sleeper registers itself,
//!   fences, and looks for work once more before waiting, so no wake-up is lost (and a
//!   short timeout backs that up).
//! * Jobs are two words (a pointer and a function): `join` runs its second closure from
//!   a job on the caller's stack, so fork-join allocates nothing; scope and graph tasks
//!   are boxed once each.
//! * A panic in a task is caught, the remaining work of the same `join`/`scope`/graph
//!   still completes (graph tasks after a panic are skipped, not run), and the first
//!   panic is resumed in the caller.
//!
//! Pick this executor for dependency graphs and fork-join over the crate's own
//! structures; pick rayon for its parallel iterators and ecosystem (see `docs/sync.md`).

use crate::deque::{Steal, Stealer, Worker};
use crate::queue::Queue;
use core::cell::{Cell, UnsafeCell};
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

type Panic = Box<dyn Any + Send + 'static>;

/// Failed searches for work before a worker parks.
const SPINS_BEFORE_PARK: u32 = 256;

/// A unit of work: data and the function that runs it, once.
#[derive(Clone, Copy)]
struct JobRef {
    data: *const (),
    run: unsafe fn(*const ()),
}

// SAFETY: a job is executed exactly once, by one thread; what it points to is `Send`
// (closures required `Send`) and outlives the execution (the submitter waits for it).
unsafe impl Send for JobRef {}

impl JobRef {
    /// # Safety
    ///
    /// Runs the job; each job is run exactly once.
    unsafe fn execute(self) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.run)(self.data) }
    }
}

// === the pool ===

struct Sleep {
    idle: AtomicUsize,
    lock: Mutex<()>,
    cvar: Condvar,
}

struct Shared {
    stealers: Vec<Stealer<JobRef>>,
    injector: Queue<JobRef>,
    sleep: Sleep,
    shutdown: AtomicBool,
}

impl Shared {
    /// Wakes a parked worker if there is one (after work was made visible).
    #[inline]
    fn notify(&self) {
        // SeqCst: pairs with the sleeper's fence: either it sees our work, or we see it
        // registered as idle.
        fence(Ordering::SeqCst);
        if self.sleep.idle.load(Ordering::Relaxed) != 0 {
            let _l = self.sleep.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.sleep.cvar.notify_one();
        }
    }

    fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }
}

/// The calling thread's worker, while it runs inside an executor.
struct Ctx {
    shared: *const Shared,
    index: usize,
    deque: Worker<JobRef>,
    rng: Cell<u64>,
}

std::thread_local! {
    static CTX: Cell<*const Ctx> = const { Cell::new(core::ptr::null()) };
}

fn current() -> Option<&'static Ctx> {
    let p = CTX.with(|c| c.get());
    // SAFETY: set by a worker thread for its whole life to its own `Ctx`, which lives on
    // its stack until the thread loop returns (after which it is reset to null).
    unsafe { p.as_ref() }
}

impl Ctx {
    fn shared(&self) -> &Shared {
        // SAFETY: the executor keeps `Shared` alive until every worker has exited.
        unsafe { &*self.shared }
    }

    fn push(&self, job: JobRef) {
        self.deque.push(job);
        self.shared().notify();
    }

    fn next_victim(&self, n: usize) -> usize {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x % n as u64) as usize
    }

    /// A job from our deque, the injector, or another worker's deque.
    fn find(&self) -> Option<JobRef> {
        if let Some(j) = self.deque.pop() {
            return Some(j);
        }
        let sh = self.shared();
        if let Some(j) = sh.injector.pop() {
            return Some(j);
        }
        let n = sh.stealers.len();
        let start = self.next_victim(n);
        let mut retry = true;
        while retry {
            retry = false;
            for k in 0..n {
                let v = (start + k) % n;
                if v == self.index {
                    continue;
                }
                match sh.stealers[v].steal_batch_and_pop(&self.deque) {
                    Steal::Success(j) => return Some(j),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
        }
        None
    }

    /// Runs other jobs until `done()` holds.
    fn help_until(&self, done: impl Fn() -> bool) {
        let mut idle = 0u32;
        while !done() {
            match self.find() {
                // SAFETY: every job found was pushed once and is run once.
                Some(j) => unsafe { j.execute() },
                None => {
                    idle += 1;
                    if idle < 64 {
                        core::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
    }
}

fn worker_main(shared: Arc<Shared>, index: usize, deque: Worker<JobRef>) {
    let ctx = Ctx {
        shared: Arc::as_ptr(&shared),
        index,
        deque,
        rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ ((index as u64 + 1) * 0x2545_F491_4F6C_DD1D)),
    };
    CTX.with(|c| c.set(&ctx));
    let mut misses = 0u32;
    loop {
        if let Some(j) = ctx.find() {
            misses = 0;
            // SAFETY: found once, run once.
            unsafe { j.execute() };
            continue;
        }
        if shared.shutdown.load(Ordering::Acquire) {
            break;
        }
        // Look again for a while before parking: work arrives in bursts, and a wake-up
        // costs a futex call on both sides.
        misses += 1;
        if misses < SPINS_BEFORE_PARK {
            if misses < 32 {
                core::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
            continue;
        }
        misses = 0;
        // Park: register, fence, look once more, wait.
        let l = shared.sleep.lock.lock().unwrap_or_else(|e| e.into_inner());
        shared.sleep.idle.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if !shared.has_work() && !shared.shutdown.load(Ordering::Acquire) {
            let _ = shared
                .sleep
                .cvar
                .wait_timeout(l, Duration::from_millis(5))
                .unwrap_or_else(|e| e.into_inner());
        }
        shared.sleep.idle.fetch_sub(1, Ordering::Relaxed);
    }
    CTX.with(|c| c.set(core::ptr::null()));
}

/// A fixed pool of worker threads (see the [module docs](self)).
pub struct Executor {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Executor {
    /// Starts `workers` threads (at least one).
    pub fn new(workers: usize) -> Executor {
        let workers = workers.max(1);
        let deques: Vec<Worker<JobRef>> = (0..workers).map(|_| Worker::new()).collect();
        let shared = Arc::new(Shared {
            stealers: deques.iter().map(|d| d.stealer()).collect(),
            injector: Queue::new(),
            sleep: Sleep {
                idle: AtomicUsize::new(0),
                lock: Mutex::new(()),
                cvar: Condvar::new(),
            },
            shutdown: AtomicBool::new(false),
        });
        let threads = deques
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let s = shared.clone();
                std::thread::Builder::new()
                    .name(format!("ebb-sync-worker-{i}"))
                    .spawn(move || worker_main(s, i, d))
                    .expect("spawn an executor worker")
            })
            .collect();
        Executor { shared, threads }
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    /// Runs `f` on a worker and returns its result (resuming its panic, if any); the
    /// calling thread blocks meanwhile. Inside, [`join`] and scopes run in parallel.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        if let Some(c) = current()
            && core::ptr::eq(c.shared, Arc::as_ptr(&self.shared))
        {
            return f();
        }
        let job = StackJob::new(f);
        let latch = Latch::for_current_thread();
        let job = LatchedJob {
            job: &job,
            latch: &latch,
        };
        // SAFETY: `job` lives on this stack until the latch is set, after which no worker
        // touches it; it runs once.
        self.shared.injector.push(unsafe { job.as_job_ref() });
        self.shared.notify();
        latch.wait();
        job.job.take_result()
    }

    /// Runs `a` and `b`, in parallel when a worker is free; see [`join`].
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        self.install(|| join(a, b))
    }

    /// Runs `f` with a [`Scope`] whose spawned tasks may borrow from the caller; returns
    /// when `f` and every task spawned in the scope have finished, resuming the first
    /// panic among them.
    pub fn scope<'scope, R: Send>(&self, f: impl FnOnce(&Scope<'scope>) -> R + Send) -> R {
        self.install(|| {
            let ctx = current().expect("install runs on a worker");
            let scope = Scope {
                pending: AtomicUsize::new(0),
                panic: Mutex::new(None),
                _borrows: PhantomData,
            };
            let r = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
            ctx.help_until(|| scope.pending.load(Ordering::Acquire) == 0);
            let first = scope.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
            match (r, first) {
                (Err(p), _) | (Ok(_), Some(p)) => panic::resume_unwind(p),
                (Ok(r), None) => r,
            }
        })
    }

    /// Runs every task of `graph`, each after all its predecessors, and returns when all
    /// have run. After a task panics, the tasks not yet started are skipped, and the
    /// first panic is resumed here.
    pub fn run(&self, graph: Graph<'_>) {
        let mut graph = graph;
        let g = GraphRun::build(&mut graph);
        self.install(|| g.run());
    }

    /// Runs `graph` as [`run`](Executor::run) does and leaves it empty, keeping its
    /// storage (the node, edge and root vectors and the closures' chunks) for the next
    /// graph built in it, as `Vec::clear` keeps a vector's buffer: a program that runs
    /// graphs of similar size over and over builds each in memory that is already
    /// mapped. If a task panics, the panic is resumed here and the graph is left empty
    /// without its storage.
    pub fn run_and_clear<'a>(&self, graph: &mut Graph<'a>) {
        let g = GraphRun::build(graph);
        self.install(|| g.run());
        // Every task ran (a panic would have left above): the storage is free to reuse.
        let mut run = g.into_inner();
        graph.nodes = core::mem::take(&mut run.nodes);
        graph.nodes.clear();
        graph.edges = core::mem::take(&mut run.edges);
        graph.edges.clear();
        graph.roots = core::mem::take(&mut run.roots);
        graph.roots.clear();
        graph.arena = core::mem::replace(&mut run._arena, Arena::new());
        // SAFETY: every closure stored in the arena was run (moved out) or dropped:
        // `remaining` reached 0 and no task panicked.
        unsafe { graph.arena.reset() };
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        {
            let _l = self
                .shared
                .sleep
                .lock
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.shared.sleep.cvar.notify_all();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl core::fmt::Debug for Executor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Executor")
            .field("workers", &self.workers())
            .finish()
    }
}

// === jobs on the stack ===

/// A closure and its result, on the stack of whoever waits for it.
struct StackJob<F, R> {
    f: UnsafeCell<Option<F>>,
    result: UnsafeCell<Option<std::thread::Result<R>>>,
    done: AtomicBool,
}

impl<F: FnOnce() -> R, R> StackJob<F, R> {
    fn new(f: F) -> Self {
        StackJob {
            f: UnsafeCell::new(Some(f)),
            result: UnsafeCell::new(None),
            done: AtomicBool::new(false),
        }
    }

    /// Runs the job and sets `done`.
    ///
    /// A raw pointer, not `&self`: the waiter may free the job as soon as it sees `done`,
    /// which can be before this function returns, and a reference argument would be
    /// required to stay valid until then.
    ///
    /// # Safety
    ///
    /// Called once, while the job is alive; `this` is not used after `done` is set.
    unsafe fn run_inline(this: *const Self) {
        // SAFETY: the one run of the job has exclusive use of its cells until `done`.
        unsafe {
            let f = (*(*this).f.get()).take().expect("a job runs once");
            *(*this).result.get() = Some(panic::catch_unwind(AssertUnwindSafe(f)));
            // Release: the result is visible to whoever sees `done`. The last access.
            (*this).done.store(true, Ordering::Release);
        }
    }

    fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// The job's entry point, called through its `JobRef`.
    ///
    /// # Safety
    ///
    /// `data` points to a live job of this type (from `as_job_ref`) and the job runs once.
    unsafe fn execute(data: *const ()) {
        // SAFETY: `data` is a live `StackJob<F, R>` (see `as_job_ref`), run once.
        unsafe { Self::run_inline(data.cast::<Self>()) }
    }

    /// # Safety
    ///
    /// The job stays alive, and is not run otherwise, until it is done.
    unsafe fn as_job_ref(&self) -> JobRef {
        JobRef {
            data: (self as *const Self).cast(),
            run: Self::execute,
        }
    }

    /// The result, resuming the closure's panic.
    fn take_result(&self) -> R {
        debug_assert!(self.is_done());
        // SAFETY: done (Acquire in the caller's wait): the runner is finished with it.
        match unsafe { (*self.result.get()).take() }.expect("a finished job has a result") {
            Ok(r) => r,
            Err(p) => panic::resume_unwind(p),
        }
    }
}

/// Wakes a thread outside the pool that waits for a job: a flag and the waiter's
/// handle, so that the setter touches nothing of the latch after setting the flag (the
/// waiter may return and free it at once).
struct Latch {
    set: AtomicBool,
    waiter: std::thread::Thread,
}

impl Latch {
    /// A latch that the calling thread will wait on.
    fn for_current_thread() -> Latch {
        Latch {
            set: AtomicBool::new(false),
            waiter: std::thread::current(),
        }
    }

    /// Sets the latch and wakes its waiter.
    ///
    /// # Safety
    ///
    /// `this` is a live latch, set once; it may be freed as soon as the flag is set.
    unsafe fn set(this: *const Latch) {
        // SAFETY: live until the flag is set (caller); the handle is cloned before.
        let waiter = unsafe { (*this).waiter.clone() };
        // Release: the job's result is visible to the waiter that sees the flag.
        // SAFETY: as above; the last access to the latch.
        unsafe { (*this).set.store(true, Ordering::Release) };
        waiter.unpark();
    }

    fn wait(&self) {
        // Acquire: pairs with `set`. `park` may return spuriously: look again.
        while !self.set.load(Ordering::Acquire) {
            std::thread::park();
        }
    }
}

struct LatchedJob<'a, F, R> {
    job: &'a StackJob<F, R>,
    latch: &'a Latch,
}

impl<F: FnOnce() -> R, R> LatchedJob<'_, F, R> {
    /// The job's entry point, called through its `JobRef`.
    ///
    /// # Safety
    ///
    /// `data` points to a live job of this type (from `as_job_ref`) and the job runs once.
    unsafe fn execute(data: *const ()) {
        // SAFETY: `data` is a live `LatchedJob` (see `as_job_ref`), run once; after the
        // latch is set the waiter may free both, so nothing is touched afterwards.
        unsafe {
            let this = &*data.cast::<Self>();
            let latch: *const Latch = this.latch;
            StackJob::run_inline(this.job);
            Latch::set(latch);
        }
    }

    /// # Safety
    ///
    /// As [`StackJob::as_job_ref`], until the latch is set.
    unsafe fn as_job_ref(&self) -> JobRef {
        JobRef {
            data: (self as *const Self).cast(),
            run: Self::execute,
        }
    }
}

/// Runs `a` and `b`, potentially in parallel: `b` is offered to thieves while the caller
/// runs `a`, then the caller runs `b` itself unless it was stolen, in which case it helps
/// with other work until `b` is done. Called outside an executor's worker, it runs `a`
/// then `b` on the calling thread. A panic in either is resumed after both finished.
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let Some(ctx) = current() else {
        return (a(), b());
    };
    let jb = StackJob::new(b);
    // SAFETY: `jb` lives on this stack until it is done: we wait below, on every path.
    ctx.push(unsafe { jb.as_job_ref() });
    let ra = panic::catch_unwind(AssertUnwindSafe(a));
    // Our deque is LIFO: unless stolen, `b` is on top now.
    while !jb.is_done() {
        match ctx.deque.pop() {
            Some(j) if core::ptr::eq(j.data, (&jb as *const StackJob<B, RB>).cast()) => {
                // SAFETY: popped back before any thief took it: we run it, once.
                unsafe { StackJob::run_inline(&jb) };
            }
            // SAFETY: another job (pushed by `a` and left behind): run it, once.
            Some(j) => unsafe { j.execute() },
            None => {
                ctx.help_until(|| jb.is_done());
            }
        }
    }
    let rb = jb.take_result();
    match ra {
        Ok(ra) => (ra, rb),
        Err(p) => panic::resume_unwind(p),
    }
}

// === scopes ===

/// Tasks spawned in a scope may borrow anything that outlives `'scope`; see
/// [`Executor::scope`].
pub struct Scope<'scope> {
    pending: AtomicUsize,
    panic: Mutex<Option<Panic>>,
    _borrows: PhantomData<&'scope mut &'scope ()>,
}

struct ScopeJob<'scope, F> {
    scope: *const Scope<'scope>,
    f: F,
}

impl<'scope> Scope<'scope> {
    /// Spawns `f` onto the current worker's deque.
    pub fn spawn<F: FnOnce(&Scope<'scope>) + Send + 'scope>(&self, f: F) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        let job = Box::new(ScopeJob { scope: self, f });
        let jr = JobRef {
            data: Box::into_raw(job) as *const (),
            run: Self::execute::<F>,
        };
        match current() {
            Some(ctx) => ctx.push(jr),
            // A reference to the scope carried to a thread outside the pool: run there.
            // SAFETY: the job was just made and is run once.
            None => unsafe { jr.execute() },
        }
    }

    /// The entry point of a job spawned into this scope, called through its `JobRef`.
    ///
    /// # Safety
    ///
    /// `data` is the boxed `ScopeJob` that `spawn` made for this job, and the job runs once.
    unsafe fn execute<F: FnOnce(&Scope<'scope>) + Send + 'scope>(data: *const ()) {
        // SAFETY: a box made by `spawn`, run once; the scope outlives it (it waits for
        // `pending` to reach 0).
        let job = unsafe { Box::from_raw(data as *mut ScopeJob<'scope, F>) };
        // SAFETY: as above.
        let scope = unsafe { &*job.scope };
        let f = job.f;
        if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| f(scope))) {
            let mut slot = scope.panic.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert(p);
        }
        // Release: the task's effects happen before the scope's return.
        scope.pending.fetch_sub(1, Ordering::Release);
    }
}

impl core::fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Scope")
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish()
    }
}

// === task graphs ===

/// A task's index in its [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskId(usize);

/// Why a task could not be added to a [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphError {
    /// A predecessor id that this graph did not issue.
    UnknownTask(TaskId),
    /// The graph holds as many tasks, or dependency edges, as it can number (`u32`).
    Full,
}

impl core::fmt::Display for GraphError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            GraphError::UnknownTask(t) => write!(f, "task {} is not in this graph", t.0),
            GraphError::Full => f.write_str("the graph holds as many tasks or edges as it can"),
        }
    }
}

impl std::error::Error for GraphError {}

/// The unit of a graph's closure storage (its alignment is the most a closure stored in
/// place may ask for).
#[repr(C, align(16))]
struct Word([u8; 16]);

/// Words per chunk of closure storage (16 KiB).
const CHUNK_WORDS: usize = 1024;
const CHUNK_BYTES: usize = CHUNK_WORDS * size_of::<Word>();

/// A graph task's closure, in the graph's arena or boxed: `act(data, true)` runs and
/// consumes it, `act(data, false)` drops it unrun; one of the two happens, once.
#[derive(Clone, Copy)]
struct Task {
    data: *mut u8,
    act: unsafe fn(*mut u8, bool),
}

impl Task {
    /// # Safety
    ///
    /// Called once per task, and not with [`Task::discard`].
    unsafe fn call(self) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.act)(self.data, true) }
    }

    /// # Safety
    ///
    /// As [`Task::call`].
    unsafe fn discard(self) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.act)(self.data, false) }
    }
}

/// # Safety
///
/// `p` holds a live `F` that nothing else uses; it is moved out (called or dropped).
unsafe fn act_in_place<F: FnOnce()>(p: *mut u8, run: bool) {
    if run {
        // SAFETY: forwarded from the caller; the read moves the closure out of the arena.
        let f = unsafe { p.cast::<F>().read() };
        f()
    } else {
        // SAFETY: forwarded from the caller.
        unsafe { p.cast::<F>().drop_in_place() }
    }
}

/// # Safety
///
/// `p` came from `Box::<F>::into_raw` and is used once.
unsafe fn act_boxed<F: FnOnce()>(p: *mut u8, run: bool) {
    // SAFETY: forwarded from the caller.
    let f = unsafe { Box::from_raw(p.cast::<F>()) };
    if run {
        f()
    }
}

/// Grow-only storage for a graph's closures: chunks of [`CHUNK_BYTES`] that never move.
/// A closure of at most a chunk's size and alignment 16 is written at the next offset
/// aligned for it, so adding a task allocates once per chunk, not once per closure;
/// zero-sized closures take no space, and larger or more aligned ones are boxed.
struct Arena {
    /// Every chunk, from `Box::into_raw`; freed by `drop`.
    chunks: Vec<*mut [MaybeUninit<Word>]>,
    /// Chunks in use: closures are stored in `chunks[next - 1]`; a [`reset`](Arena::reset)
    /// arena starts over at chunk 0 and allocates only past its old chunks.
    next: usize,
    /// Bytes used in the chunk in use.
    used: usize,
}

impl Arena {
    fn new() -> Arena {
        Arena {
            chunks: Vec::new(),
            next: 0,
            used: CHUNK_BYTES,
        }
    }

    /// Makes every chunk free for new closures.
    ///
    /// # Safety
    ///
    /// Every closure stored so far was moved out or dropped.
    unsafe fn reset(&mut self) {
        self.next = 0;
        self.used = CHUNK_BYTES;
    }

    /// Chunks allocated (for tests).
    #[cfg(test)]
    fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    fn store<F: FnOnce()>(&mut self, f: F) -> Task {
        let (size, align) = (size_of::<F>(), align_of::<F>());
        if size == 0 {
            let p = core::ptr::NonNull::<F>::dangling().as_ptr();
            // SAFETY: writing a zero-sized value to an aligned non-null pointer; it is
            // read back (or dropped) once through the returned task.
            unsafe { p.write(f) };
            return Task {
                data: p.cast(),
                act: act_in_place::<F>,
            };
        }
        if size > CHUNK_BYTES || align > align_of::<Word>() {
            return Task {
                data: Box::into_raw(Box::new(f)).cast(),
                act: act_boxed::<F>,
            };
        }
        let mut at = (self.used + align - 1) & !(align - 1);
        if at + size > CHUNK_BYTES {
            if self.next == self.chunks.len() {
                let chunk = Box::<[Word]>::new_uninit_slice(CHUNK_WORDS);
                self.chunks.push(Box::into_raw(chunk));
            }
            self.next += 1;
            at = 0;
        }
        self.used = at + size;
        let chunk = self.chunks[self.next - 1];
        // SAFETY: `at + size <= CHUNK_BYTES`, inside the chunk; the chunk starts 16-byte
        // aligned and `at` is a multiple of `align <= 16`; no other closure overlaps
        // these bytes (`used` only grows, and chunks before `next` are not reused until
        // a reset, when their closures are gone).
        let p = unsafe { chunk.cast::<u8>().add(at) };
        // SAFETY: as above: in bounds, aligned, unused.
        unsafe { p.cast::<F>().write(f) };
        Task {
            data: p,
            act: act_in_place::<F>,
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for &c in &self.chunks {
            // SAFETY: made by `Box::into_raw` in `store`, freed once; the closures in it
            // were consumed or dropped by their owner (`Graph` or `GraphRun`) before.
            drop(unsafe { Box::from_raw(c) });
        }
    }
}

/// No edge (the end of a node's successor list).
const NONE: u32 = u32::MAX;

/// The most tasks, and the most edges, a graph holds: node and edge numbers are `u32`
/// (so that a node is 32 bytes and an edge 8), and [`NONE`] is reserved.
const MAX_ITEMS: usize = u32::MAX as usize;

/// A successor link: `succ` runs after the node whose list holds this edge.
struct Edge {
    succ: u32,
    /// The next edge of the same list, or [`NONE`].
    next: u32,
}

/// A DAG of tasks: each runs after all the tasks it was added after. Predecessors must
/// exist when a task is added, so the graph is acyclic by construction.
///
/// The graph is built in the form it runs in: one node per task (its closure, its count
/// of unfinished predecessors, the head of its successor list), successor lists as
/// linked edges in one vector (adding a task prepends one edge to each predecessor's
/// list), and closures back to back in chunks of 16 KiB (one allocation per chunk, not
/// per task; a closure larger than a chunk or aligned above 16 bytes is boxed). Running
/// it moves these vectors, and copies nothing.
pub struct Graph<'a> {
    nodes: Vec<Node<'a>>,
    edges: Vec<Edge>,
    roots: Vec<usize>,
    arena: Arena,
    /// The most tasks and edges ([`MAX_ITEMS`]; less in tests).
    limit: usize,
    _closures: PhantomData<Box<dyn FnOnce() + Send + 'a>>,
}

// SAFETY: the graph owns its closures, which are `Send`; the arena's chunks are plain
// memory owned by the graph, and the nodes' back pointers are null until a run.
unsafe impl Send for Graph<'_> {}

impl Default for Graph<'_> {
    fn default() -> Self {
        Graph::new()
    }
}

impl<'a> Graph<'a> {
    /// An empty graph.
    pub fn new() -> Self {
        Graph {
            nodes: Vec::new(),
            edges: Vec::new(),
            roots: Vec::new(),
            arena: Arena::new(),
            limit: MAX_ITEMS,
            _closures: PhantomData,
        }
    }

    /// An empty graph that holds at most `limit` tasks and `limit` edges.
    #[cfg(test)]
    pub(crate) fn with_limit(limit: usize) -> Self {
        let mut g = Graph::new();
        g.limit = limit.min(MAX_ITEMS);
        g
    }

    /// Adds `f`, to run after every task in `after`.
    ///
    /// # Errors
    ///
    /// [`GraphError::UnknownTask`] for a predecessor not in this graph.
    pub fn add(
        &mut self,
        after: &[TaskId],
        f: impl FnOnce() + Send + 'a,
    ) -> Result<TaskId, GraphError> {
        if let Some(&bad) = after.iter().find(|t| t.0 >= self.nodes.len()) {
            return Err(GraphError::UnknownTask(bad));
        }
        if self.nodes.len() >= self.limit || after.len() > self.limit - self.edges.len() {
            return Err(GraphError::Full);
        }
        let i = self.nodes.len();
        for p in after {
            let head = &mut self.nodes[p.0].head;
            self.edges.push(Edge {
                // Below `limit <= u32::MAX`: checked above.
                succ: i as u32,
                next: *head,
            });
            *head = (self.edges.len() - 1) as u32;
        }
        if after.is_empty() {
            self.roots.push(i);
        }
        self.nodes.push(Node {
            task: UnsafeCell::new(Some(self.arena.store(f))),
            // At most `limit - edges` (checked above).
            preds: AtomicU32::new(after.len() as u32),
            head: NONE,
            run: core::ptr::null(),
        });
        Ok(TaskId(i))
    }

    /// Tasks in the graph.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if the graph has no task.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node vector's capacity and the closure chunks allocated (for tests).
    #[cfg(test)]
    pub(crate) fn storage(&self) -> (usize, usize) {
        (self.nodes.capacity(), self.arena.chunk_count())
    }
}

/// Drops the tasks of `nodes` that were never taken to run.
fn drop_unrun(nodes: &mut [Node<'_>]) {
    for n in nodes {
        if let Some(t) = n.task.get_mut().take() {
            // SAFETY: a task never taken to run; dropped once, before its arena.
            unsafe { t.discard() };
        }
    }
}

impl Drop for Graph<'_> {
    fn drop(&mut self) {
        // The arena is freed after this body.
        drop_unrun(&mut self.nodes);
    }
}

impl core::fmt::Debug for Graph<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Graph")
            .field("tasks", &self.nodes.len())
            .finish()
    }
}

struct Node<'a> {
    task: UnsafeCell<Option<Task>>,
    preds: AtomicU32,
    /// First edge of the successor list, or [`NONE`].
    head: u32,
    /// The run this node belongs to (null until it starts).
    run: *const GraphRun<'a>,
}

struct GraphRun<'a> {
    nodes: Vec<Node<'a>>,
    edges: Vec<Edge>,
    /// Tasks without predecessors, fixed before anything runs (a scan of the counters
    /// once tasks are running would also find tasks their predecessors just released).
    roots: Vec<usize>,
    remaining: AtomicUsize,
    failed: AtomicBool,
    panic: Mutex<Option<Panic>>,
    /// The closures' storage; freed after every unrun task was dropped (see `Drop`).
    _arena: Arena,
    _closures: PhantomData<Box<dyn FnOnce() + Send + 'a>>,
}

// SAFETY: each node's closure is taken and run by the one thread that made it ready
// (its last predecessor's, or the starter); the rest is atomics and a mutex.
unsafe impl Sync for GraphRun<'_> {}
// SAFETY: as above; closures are `Send`.
unsafe impl Send for GraphRun<'_> {}

impl Drop for GraphRun<'_> {
    fn drop(&mut self) {
        drop_unrun(&mut self.nodes);
    }
}

/// Owns a [`GraphRun`] through the raw pointer its nodes point back to.
struct RunBox<'a>(*mut GraphRun<'a>);

impl<'a> core::ops::Deref for RunBox<'a> {
    type Target = GraphRun<'a>;
    fn deref(&self) -> &GraphRun<'a> {
        // SAFETY: the box lives until `drop`; it is only shared from here on.
        unsafe { &*self.0 }
    }
}

impl<'a> RunBox<'a> {
    /// The run, owned again (after every task finished).
    fn into_inner(self) -> Box<GraphRun<'a>> {
        let raw = self.0;
        core::mem::forget(self);
        // SAFETY: made by `Box::into_raw` in `GraphRun::build`; ownership moves from the
        // forgotten `RunBox` to the returned box, once. The nodes' back pointers to it are
        // not used after the run.
        unsafe { Box::from_raw(raw) }
    }
}

impl Drop for RunBox<'_> {
    fn drop(&mut self) {
        // SAFETY: made by `Box::into_raw` in `GraphRun::build`, freed once, after the run
        // (every task finished: `run` waited for `remaining == 0`).
        drop(unsafe { Box::from_raw(self.0) });
    }
}

// SAFETY: shares a `GraphRun`, which is `Sync`.
unsafe impl Sync for RunBox<'_> {}

impl<'a> GraphRun<'a> {
    /// Moves `g`'s tasks and storage into a run (`g` is left empty).
    fn build(g: &mut Graph<'a>) -> RunBox<'a> {
        let nodes = core::mem::take(&mut g.nodes);
        let n = nodes.len();
        // Every access, including the nodes' back pointers, derives from this one raw
        // pointer, so that no later write invalidates another (Stacked Borrows).
        let raw = Box::into_raw(Box::new(GraphRun {
            nodes,
            edges: core::mem::take(&mut g.edges),
            roots: core::mem::take(&mut g.roots),
            remaining: AtomicUsize::new(n),
            failed: AtomicBool::new(false),
            panic: Mutex::new(None),
            // The tasks moved to the run; their storage moves with them.
            _arena: core::mem::replace(&mut g.arena, Arena::new()),
            _closures: PhantomData,
        }));
        // SAFETY: `raw` is a fresh, unshared box.
        for node in unsafe { &mut (*raw).nodes } {
            node.run = raw;
        }
        RunBox(raw)
    }

    fn job(&self, i: usize) -> JobRef {
        JobRef {
            data: (&self.nodes[i] as *const Node<'a>).cast(),
            run: Self::execute,
        }
    }

    /// Runs the node at `data`, then, as long as a finished task makes successors ready,
    /// pushes all of them but one and runs that one here (a chain runs without going
    /// through the deque).
    ///
    /// # Safety
    ///
    /// `data` is a node of a live run (its starter waits for `remaining == 0`), made
    /// ready exactly once.
    unsafe fn execute(data: *const ()) {
        // SAFETY: a node of a live run (the starter waits for `remaining == 0`), made
        // ready exactly once.
        let mut node = unsafe { &*data.cast::<Node<'a>>() };
        // SAFETY: as above.
        let run = unsafe { &*node.run };
        let ctx = current().expect("graph tasks run on workers");
        let mut finished = 0;
        loop {
            // SAFETY: only the thread that made the node ready takes its closure.
            let t = unsafe { (*node.task.get()).take() }.expect("a task runs once");
            if !run.failed.load(Ordering::Relaxed) {
                // SAFETY: taken once from its node: called once.
                let r = panic::catch_unwind(AssertUnwindSafe(|| unsafe { t.call() }));
                if let Err(p) = r {
                    run.failed.store(true, Ordering::Relaxed);
                    run.panic
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(p);
                }
            } else {
                // SAFETY: taken once from its node: dropped once, never called.
                unsafe { t.discard() };
            }
            finished += 1;
            let mut next = None;
            let mut e = node.head;
            while e != NONE {
                let edge = &run.edges[e as usize];
                e = edge.next;
                let succ = edge.succ as usize;
                // AcqRel: our effects happen before the successor's run, whichever
                // predecessor releases it.
                if run.nodes[succ].preds.fetch_sub(1, Ordering::AcqRel) == 1
                    && let Some(other) = next.replace(succ)
                {
                    ctx.push(run.job(other));
                }
            }
            match next {
                Some(s) => node = &run.nodes[s],
                None => break,
            }
        }
        // Release: our effects happen before the starter's return.
        run.remaining.fetch_sub(finished, Ordering::Release);
    }

    fn run(&self) {
        let ctx = current().expect("install runs on a worker");
        for &i in &self.roots {
            ctx.push(self.job(i));
        }
        ctx.help_until(|| self.remaining.load(Ordering::Acquire) == 0);
        if let Some(p) = self.panic.lock().unwrap_or_else(|e| e.into_inner()).take() {
            panic::resume_unwind(p);
        }
    }
}
