//! NUMA placement of the page heap's mappings.
//!
//! A [`NumaPolicy`] says on which node the memory of a segment or large object should
//! live; it is applied with `mbind(2)` to each mapping before its first byte is touched, so
//! the pages fault in on the chosen node. The topology comes from `/sys/devices/system/node`
//! (`online`, `has_memory`, `nodeN/cpulist`, `nodeN/distance`), read once with `open` and
//! `read` into fixed buffers and parsed into fixed tables: nothing here allocates, since
//! this code runs inside the allocator.
//!
//! The policy is chosen once, when the heap maps its first memory: a policy given to
//! [`EbbAlloc::with_numa`](super::EbbAlloc::with_numa) wins, otherwise `EBB_NUMA`
//! (`local`, `interleave`, `node:N`, `nearest`) is read with `getenv`. With one node
//! online (or no policy, or a topology that cannot be read) every policy is a no-op, and
//! [`NumaStats`] says which and why. A failing `mbind` (`EPERM` in a container, `ENOSYS`)
//! leaves the mapping with the default policy, stops further attempts and is recorded.
//!
//! For `Local` and `Nearest` the pool keeps segments per node: a heap needing a fresh span
//! asks for one on the node its thread runs on now (`sched_getcpu`, mapped to a node by the
//! cpulists). Pages a heap already holds, its empty pages and pages it adopts from exited
//! threads stay where they are.

use core::cell::UnsafeCell;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU32, AtomicUsize, Ordering};

/// Nodes the fixed tables describe (node ids `0..MAX_NODES`).
pub const MAX_NODES: usize = 64;
/// CPUs the fixed tables describe (cpu ids `0..MAX_CPUS`).
pub const MAX_CPUS: usize = 1024;

const CPU_WORDS: usize = MAX_CPUS / 64;

/// Where the heap places the memory it maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumaPolicy {
    /// A segment is bound (`MPOL_BIND`) to the node its first thread runs on, and a heap
    /// takes fresh spans from segments of the node it runs on.
    Local,
    /// Pages interleaved (`MPOL_INTERLEAVE`) over every online node with memory.
    Interleave,
    /// Every mapping bound to this node.
    Node(u16),
    /// As `Local`, but preferring (`MPOL_PREFERRED`) rather than binding: the running node
    /// when it has memory, else the node with memory nearest to it by `distance`; the
    /// kernel falls back to other nodes when the preferred one is full.
    Nearest,
}

impl NumaPolicy {
    /// Parses the `EBB_NUMA` syntax: `local`, `interleave`, `node:N` (decimal), `nearest`.
    pub fn parse(s: &[u8]) -> Result<NumaPolicy, NumaError> {
        match s {
            b"local" => Ok(NumaPolicy::Local),
            b"interleave" => Ok(NumaPolicy::Interleave),
            b"nearest" => Ok(NumaPolicy::Nearest),
            _ => {
                let n = s.strip_prefix(b"node:").ok_or(NumaError::BadPolicy)?;
                match parse_num(n) {
                    Some(v) if (v as usize) < MAX_NODES => Ok(NumaPolicy::Node(v as u16)),
                    Some(v) => Err(NumaError::NoSuchNode(v.min(u16::MAX as u32) as u16)),
                    None => Err(NumaError::BadPolicy),
                }
            }
        }
    }

    const fn encode(self) -> u32 {
        match self {
            NumaPolicy::Local => 1,
            NumaPolicy::Interleave => 2,
            NumaPolicy::Nearest => 3,
            NumaPolicy::Node(n) => 0x1_0000 | n as u32,
        }
    }

    fn decode(v: u32) -> Option<NumaPolicy> {
        match v {
            1 => Some(NumaPolicy::Local),
            2 => Some(NumaPolicy::Interleave),
            3 => Some(NumaPolicy::Nearest),
            v if v & 0x1_0000 != 0 => Some(NumaPolicy::Node(v as u16)),
            _ => None,
        }
    }
}

impl fmt::Display for NumaPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumaPolicy::Local => f.write_str("local"),
            NumaPolicy::Interleave => f.write_str("interleave"),
            NumaPolicy::Nearest => f.write_str("nearest"),
            NumaPolicy::Node(n) => write!(f, "node:{n}"),
        }
    }
}

/// The `/sys/devices/system/node` file a [`NumaError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SysFile {
    /// `online`.
    Online,
    /// `has_memory`.
    HasMemory,
    /// `nodeN/cpulist`.
    Cpulist(u16),
    /// `nodeN/distance`.
    Distance(u16),
}

/// Why a policy or topology could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumaError {
    /// The policy text is not `local`, `interleave`, `node:N` or `nearest`.
    BadPolicy,
    /// The named node is not online, has no memory, or is beyond [`MAX_NODES`].
    NoSuchNode(u16),
    /// The file could not be opened or read.
    Unreadable(SysFile),
    /// The file's contents are not what the kernel writes there.
    Malformed(SysFile),
    /// The file names a node or CPU beyond [`MAX_NODES`] / [`MAX_CPUS`], or is longer than
    /// the read buffer.
    TooLarge(SysFile),
    /// No online node has memory.
    NoMemory,
}

impl fmt::Display for NumaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumaError::BadPolicy => f.write_str("not local|interleave|node:N|nearest"),
            NumaError::NoSuchNode(n) => write!(f, "node {n} is not online with memory"),
            NumaError::Unreadable(s) => write!(f, "cannot read {s:?}"),
            NumaError::Malformed(s) => write!(f, "malformed {s:?}"),
            NumaError::TooLarge(s) => write!(f, "{s:?} exceeds the fixed tables"),
            NumaError::NoMemory => f.write_str("no online node has memory"),
        }
    }
}

/// Parses a decimal number; `None` when empty, not digits, or above `u32::MAX`.
fn parse_num(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u32)?;
    }
    Some(v)
}

/// Why [`parse_list`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListError {
    Malformed,
    TooLarge,
}

/// Parses the kernel's list format (`0-3,8,10-11`, a trailing newline allowed, empty for
/// none) into the bit mask `out` (bit `i` of word `i / 64`), which is cleared first.
pub(crate) fn parse_list(s: &[u8], out: &mut [u64]) -> Result<(), ListError> {
    out.fill(0);
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    if s.is_empty() {
        return Ok(());
    }
    for item in s.split(|&b| b == b',') {
        let (lo, hi) = match item.iter().position(|&b| b == b'-') {
            Some(i) => (
                parse_num(&item[..i]).ok_or(ListError::Malformed)?,
                parse_num(&item[i + 1..]).ok_or(ListError::Malformed)?,
            ),
            None => {
                let v = parse_num(item).ok_or(ListError::Malformed)?;
                (v, v)
            }
        };
        if lo > hi {
            return Err(ListError::Malformed);
        }
        if hi as usize >= out.len() * 64 {
            return Err(ListError::TooLarge);
        }
        for i in lo as usize..=hi as usize {
            out[i / 64] |= 1 << (i % 64);
        }
    }
    Ok(())
}

/// Parses a `distance` line (one decimal distance per online node, in node order,
/// separated by spaces) into `row`; the number of values must be `count`.
pub(crate) fn parse_distance(s: &[u8], count: usize, row: &mut [u8; MAX_NODES]) -> bool {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    let mut n = 0;
    for tok in s.split(|&b| b == b' ').filter(|t| !t.is_empty()) {
        match parse_num(tok) {
            Some(v) if v <= 255 && n < count => {
                row[n] = v as u8;
                n += 1;
            }
            _ => return false,
        }
    }
    n == count
}

/// How a [`Placement`] asks the kernel to place pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Bind,
    Preferred,
    Interleave,
}

/// A memory policy for one mapping: the mode and the node mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) mode: Mode,
    pub(crate) nodes: u64,
}

/// The machine's nodes as `/sys/devices/system/node` describes them.
#[derive(Clone)]
pub(crate) struct Topology {
    /// Online nodes.
    pub(crate) online: u64,
    /// Online nodes with memory.
    pub(crate) memory: u64,
    /// Per node, its CPUs.
    cpus: [[u64; CPU_WORDS]; MAX_NODES],
    /// `distance[a][b]`, for online `a` and `b`.
    distance: [[u8; MAX_NODES]; MAX_NODES],
}

/// A byte-string file reader: the path and a buffer, both fixed.
pub(crate) trait SysSource {
    /// The contents of `file`, or `None` when it cannot be read; `Err` when it does not
    /// fit the buffer.
    fn read<'a>(&self, file: SysFile, buf: &'a mut [u8; 4096]) -> Result<Option<&'a [u8]>, ()>;
}

/// Reads files under a directory (the real `/sys/devices/system/node`, or a test's).
pub(crate) struct Dir<'p>(pub(crate) &'p [u8]);

impl SysSource for Dir<'_> {
    fn read<'a>(&self, file: SysFile, buf: &'a mut [u8; 4096]) -> Result<Option<&'a [u8]>, ()> {
        let mut path = [0u8; 256];
        let mut n = 0;
        let mut push = |s: &[u8]| -> bool {
            if n + s.len() >= path.len() {
                return false;
            }
            path[n..n + s.len()].copy_from_slice(s);
            n += s.len();
            true
        };
        let mut digits = [0u8; 5];
        let mut node_dir = |node: u16, push: &mut dyn FnMut(&[u8]) -> bool| -> bool {
            let mut v = node;
            let mut k = digits.len();
            loop {
                k -= 1;
                digits[k] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            push(b"/node") && push(&digits[k..])
        };
        let ok = push(self.0)
            && match file {
                SysFile::Online => push(b"/online"),
                SysFile::HasMemory => push(b"/has_memory"),
                SysFile::Cpulist(node) => node_dir(node, &mut push) && push(b"/cpulist"),
                SysFile::Distance(node) => node_dir(node, &mut push) && push(b"/distance"),
            };
        if !ok {
            return Ok(None);
        }
        // `path` is zero past `n`, so it is NUL-terminated.
        read_file(&path[..=n], buf)
    }
}

/// Reads the file at the NUL-terminated `path` into `buf`.
fn read_file<'a>(path: &[u8], buf: &'a mut [u8; 4096]) -> Result<Option<&'a [u8]>, ()> {
    debug_assert_eq!(path.last(), Some(&0));
    // SAFETY: `path` is NUL-terminated; open has no other preconditions.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Ok(None);
    }
    let mut len = 0;
    let result = loop {
        if len == buf.len() {
            break Err(());
        }
        // SAFETY: `buf[len..]` is valid for writes of its length.
        let r = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if r < 0 {
            break Ok(false);
        }
        if r == 0 {
            break Ok(true);
        }
        len += r as usize;
    };
    // SAFETY: `fd` is the descriptor opened above.
    unsafe { libc::close(fd) };
    match result {
        Ok(true) => Ok(Some(&buf[..len])),
        Ok(false) => Ok(None),
        Err(()) => Err(()),
    }
}

impl Topology {
    /// No node at all (the state before reading).
    pub(crate) const EMPTY: Topology = Topology {
        online: 0,
        memory: 0,
        cpus: [[0; CPU_WORDS]; MAX_NODES],
        distance: [[0; MAX_NODES]; MAX_NODES],
    };

    /// Reads the topology from `src` into `self`.
    pub(crate) fn read(&mut self, src: &dyn SysSource) -> Result<(), NumaError> {
        let mut buf = [0u8; 4096];
        let list = |file: SysFile, out: &mut [u64], buf: &mut [u8; 4096]| match src.read(file, buf)
        {
            Err(()) => Err(NumaError::TooLarge(file)),
            Ok(None) => Err(NumaError::Unreadable(file)),
            Ok(Some(s)) => parse_list(s, out).map_err(|e| match e {
                ListError::Malformed => NumaError::Malformed(file),
                ListError::TooLarge => NumaError::TooLarge(file),
            }),
        };
        let mut m = [0u64; 1];
        list(SysFile::Online, &mut m, &mut buf)?;
        self.online = m[0];
        if self.online == 0 {
            return Err(NumaError::Malformed(SysFile::Online));
        }
        // `has_memory` is missing on kernels without memory hotplug: every node has memory.
        self.memory = match list(SysFile::HasMemory, &mut m, &mut buf) {
            Ok(()) => m[0] & self.online,
            Err(NumaError::Unreadable(_)) => self.online,
            Err(e) => return Err(e),
        };
        if self.memory == 0 {
            return Err(NumaError::NoMemory);
        }
        let count = self.online.count_ones() as usize;
        for node in 0..MAX_NODES {
            if self.online & (1 << node) == 0 {
                continue;
            }
            let f = SysFile::Cpulist(node as u16);
            list(f, &mut self.cpus[node], &mut buf)?;
            let f = SysFile::Distance(node as u16);
            let s = match src.read(f, &mut buf) {
                Err(()) => return Err(NumaError::TooLarge(f)),
                Ok(None) => return Err(NumaError::Unreadable(f)),
                Ok(Some(s)) => s,
            };
            let mut row = [0u8; MAX_NODES];
            if !parse_distance(s, count, &mut row) {
                return Err(NumaError::Malformed(f));
            }
            // The i-th value is the distance to the i-th online node.
            let mut i = 0;
            for other in 0..MAX_NODES {
                if self.online & (1 << other) != 0 {
                    self.distance[node][other] = row[i];
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// Online nodes.
    pub(crate) fn nodes(&self) -> u32 {
        self.online.count_ones()
    }

    /// The node whose cpulist holds `cpu`.
    pub(crate) fn node_of_cpu(&self, cpu: usize) -> Option<u16> {
        if cpu >= MAX_CPUS {
            return None;
        }
        (0..MAX_NODES)
            .find(|&n| {
                self.online & (1 << n) != 0 && self.cpus[n][cpu / 64] & (1 << (cpu % 64)) != 0
            })
            .map(|n| n as u16)
    }

    /// The node with memory nearest to `from` (itself when it has memory; ties go to the
    /// lower id).
    pub(crate) fn nearest_with_memory(&self, from: u16) -> Option<u16> {
        let from = from as usize;
        if from >= MAX_NODES || self.online & (1 << from) == 0 {
            return None;
        }
        if self.memory & (1 << from) != 0 {
            return Some(from as u16);
        }
        (0..MAX_NODES)
            .filter(|&n| self.memory & (1 << n) != 0)
            .min_by_key(|&n| (self.distance[from][n], n))
            .map(|n| n as u16)
    }

    /// The placement of a mapping under `policy` for a thread running on node `running`.
    pub(crate) fn choose(&self, policy: NumaPolicy, running: u16) -> Result<Placement, NumaError> {
        let has_memory = |n: u16| (n as usize) < MAX_NODES && self.memory & (1 << n) != 0;
        match policy {
            NumaPolicy::Interleave => Ok(Placement {
                mode: Mode::Interleave,
                nodes: self.memory,
            }),
            NumaPolicy::Node(_) | NumaPolicy::Local => {
                let n = match policy {
                    NumaPolicy::Node(n) => n,
                    _ => running,
                };
                if has_memory(n) {
                    Ok(Placement {
                        mode: Mode::Bind,
                        nodes: 1 << n,
                    })
                } else {
                    Err(NumaError::NoSuchNode(n))
                }
            }
            NumaPolicy::Nearest => self
                .nearest_with_memory(running)
                .map(|n| Placement {
                    mode: Mode::Preferred,
                    nodes: 1 << n,
                })
                .ok_or(NumaError::NoSuchNode(running)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The process's policy, resolved once.

/// Where the policy in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumaSource {
    /// No policy was asked for.
    None,
    /// [`EbbAlloc::with_numa`](super::EbbAlloc::with_numa).
    Const,
    /// The `EBB_NUMA` environment variable.
    Env,
}

/// Whether the policy is applied, and if not why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumaState {
    /// The heap has not mapped memory yet, so the policy is not chosen.
    Unresolved,
    /// No policy: the kernel's default placement.
    NoPolicy,
    /// One node online: every policy places memory the same way, so none is applied.
    SingleNode,
    /// The policy or the topology could not be used; the kernel's default placement.
    Error(NumaError),
    /// Applied with `mbind` to each new mapping.
    Applied,
    /// `mbind` failed with this `errno` (`EPERM` in a container, `ENOSYS`); later mappings
    /// keep the default placement.
    BindFailed(i32),
}

/// NUMA placement in [`HeapStats`](super::HeapStats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumaStats {
    /// The policy asked for.
    pub policy: Option<NumaPolicy>,
    /// Where it came from.
    pub source: NumaSource,
    /// Online nodes (0 while unresolved or when the topology could not be read).
    pub nodes: u32,
    /// Applied, or a no-op and why.
    pub state: NumaState,
    /// Mappings `mbind` placed.
    pub bound: usize,
    /// Mappings `mbind` refused.
    pub failed: usize,
}

impl fmt::Display for NumaStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.policy {
            Some(p) => write!(f, "policy {p} ({:?})", self.source)?,
            None => f.write_str("no policy")?,
        }
        write!(f, ", {} node(s): ", self.nodes)?;
        match self.state {
            NumaState::Unresolved => f.write_str("not chosen yet (nothing mapped)"),
            NumaState::NoPolicy => f.write_str("default placement"),
            NumaState::SingleNode => f.write_str("no-op (single node)"),
            NumaState::Error(e) => write!(f, "no-op ({e})"),
            NumaState::Applied => write!(f, "applied to {} mapping(s)", self.bound),
            NumaState::BindFailed(errno) => write!(
                f,
                "no-op (mbind failed, errno {errno}; {} mapping(s) placed before)",
                self.bound
            ),
        }
    }
}

/// Node tag of a segment when placement is not per node.
pub(crate) const ANY: u8 = u8::MAX;

struct Resolved {
    policy: Option<NumaPolicy>,
    source: NumaSource,
    state: NumaState,
    topo: Topology,
}

struct ResolvedCell(UnsafeCell<Resolved>);
// SAFETY: written once by the thread that moves STATE from 1 to 2, read only after
// observing STATE == 2 (acquire).
unsafe impl Sync for ResolvedCell {}

static RESOLVED: ResolvedCell = ResolvedCell(UnsafeCell::new(Resolved {
    policy: None,
    source: NumaSource::None,
    state: NumaState::Unresolved,
    topo: Topology::EMPTY,
}));
/// 0 unresolved, 1 resolving, 2 resolved.
static STATE: AtomicU8 = AtomicU8::new(0);
/// A policy from `EbbAlloc::with_numa`, encoded; 0 for none.
static REQUESTED: AtomicU32 = AtomicU32::new(0);
/// Set when the resolved policy is applied per mapping.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Set when placement is per node (`Local`, `Nearest`).
static PER_NODE: AtomicBool = AtomicBool::new(false);
static BOUND: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);
static LAST_ERRNO: AtomicI32 = AtomicI32::new(0);

/// The encoding of `policy` that [`request`] takes (0 for none).
pub(crate) const fn encode(policy: Option<NumaPolicy>) -> u32 {
    match policy {
        Some(p) => p.encode(),
        None => 0,
    }
}

/// Records a policy asked for by an `EbbAlloc` (encoded); it takes effect if the heap has
/// not mapped memory yet.
#[inline]
pub(crate) fn request(code: u32) {
    if code != 0 && STATE.load(Ordering::Relaxed) == 0 {
        let _ = REQUESTED.compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Resolves the policy if that has not happened yet: the requested policy or `EBB_NUMA`,
/// and the topology from `/sys`.
#[inline]
pub(crate) fn ensure() {
    if STATE.load(Ordering::Acquire) != 2 {
        resolve();
    }
}

#[cold]
fn resolve() {
    if STATE
        .compare_exchange(0, 1, Ordering::Acquire, Ordering::Acquire)
        .is_err()
    {
        while STATE.load(Ordering::Acquire) != 2 {
            core::hint::spin_loop();
        }
        return;
    }
    // SAFETY: STATE moved 0 -> 1 here, so this thread alone writes RESOLVED until it
    // publishes 2.
    let r = unsafe { &mut *RESOLVED.0.get() };
    // A resolution a fork interrupted may have left fields behind.
    r.policy = None;
    let (policy, source) = match NumaPolicy::decode(REQUESTED.load(Ordering::Relaxed)) {
        Some(p) => (Ok(Some(p)), NumaSource::Const),
        None => {
            // SAFETY: getenv reads the environment without allocating; the result is a
            // NUL-terminated string or null.
            let v = unsafe { libc::getenv(c"EBB_NUMA".as_ptr()) };
            if v.is_null() {
                (Ok(None), NumaSource::None)
            } else {
                // SAFETY: non-null getenv results are NUL-terminated.
                let s = unsafe { core::ffi::CStr::from_ptr(v) }.to_bytes();
                (NumaPolicy::parse(s).map(Some), NumaSource::Env)
            }
        }
    };
    r.source = source;
    let read = r.topo.read(&Dir(b"/sys/devices/system/node"));
    r.state = match (policy, read) {
        (Err(e), _) => NumaState::Error(e),
        (Ok(None), _) => NumaState::NoPolicy,
        (Ok(Some(p)), read) => {
            r.policy = Some(p);
            decide(&r.topo, p, read)
        }
    };
    if r.state == NumaState::Applied {
        ACTIVE.store(true, Ordering::Relaxed);
        PER_NODE.store(
            matches!(r.policy, Some(NumaPolicy::Local | NumaPolicy::Nearest)),
            Ordering::Relaxed,
        );
    }
    STATE.store(2, Ordering::Release);
}

/// What a resolved `policy` does on `topo` (read with result `read`).
pub(crate) fn decide(
    topo: &Topology,
    policy: NumaPolicy,
    read: Result<(), NumaError>,
) -> NumaState {
    if let Err(e) = read {
        return NumaState::Error(e);
    }
    // A policy naming a node checks it now; Local and Nearest are checked per mapping.
    if let NumaPolicy::Node(_) = policy
        && let Err(e) = topo.choose(policy, 0)
    {
        return NumaState::Error(e);
    }
    if topo.nodes() <= 1 {
        return NumaState::SingleNode;
    }
    NumaState::Applied
}

/// In a forked child: a resolution the fork interrupted in another thread starts over.
pub(crate) fn fork_child() {
    let _ = STATE.compare_exchange(1, 0, Ordering::Relaxed, Ordering::Relaxed);
}

/// The node a fresh span should come from: the calling thread's node under a per-node
/// policy, else [`ANY`].
#[inline]
pub(crate) fn want_node() -> u8 {
    ensure();
    if !PER_NODE.load(Ordering::Relaxed) || !ACTIVE.load(Ordering::Relaxed) {
        return ANY;
    }
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    // SAFETY: STATE is 2 (ensure), so RESOLVED is written and no longer changes.
    let r = unsafe { &*RESOLVED.0.get() };
    if cpu < 0 {
        return ANY;
    }
    match r.topo.node_of_cpu(cpu as usize) {
        Some(n) if (n as usize) < MAX_NODES => n as u8,
        _ => ANY,
    }
}

/// Applies the policy to the fresh mapping `p..p+len` (untouched yet) for node `node`
/// (from [`want_node`]); nothing when the policy is not active. A failure is recorded
/// and turns placement off; the mapping stays usable.
pub(crate) fn place(p: *mut u8, len: usize, node: u8) {
    ensure();
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: STATE is 2, so RESOLVED no longer changes.
    let r = unsafe { &*RESOLVED.0.get() };
    let Some(policy) = r.policy else { return };
    let running = if node == ANY {
        first_node(&r.topo)
    } else {
        node as u16
    };
    let Ok(pl) = r.topo.choose(policy, running) else {
        FAILED.fetch_add(1, Ordering::Relaxed);
        return;
    };
    match bind(p, len, pl) {
        Ok(()) => {
            BOUND.fetch_add(1, Ordering::Relaxed);
        }
        Err(errno) => {
            FAILED.fetch_add(1, Ordering::Relaxed);
            LAST_ERRNO.store(errno, Ordering::Relaxed);
            ACTIVE.store(false, Ordering::Relaxed);
        }
    }
}

fn first_node(t: &Topology) -> u16 {
    t.online.trailing_zeros() as u16
}

/// `mbind(p, len, mode, nodes)`; the `errno` on failure.
pub(crate) fn bind(p: *mut u8, len: usize, pl: Placement) -> Result<(), i32> {
    let mode = match pl.mode {
        Mode::Bind => libc::MPOL_BIND,
        Mode::Preferred => libc::MPOL_PREFERRED,
        Mode::Interleave => libc::MPOL_INTERLEAVE,
    };
    let mask = [pl.nodes];
    // SAFETY: mbind changes only the policy of `p..p+len`, which the caller mapped; the
    // mask is one word (MAX_NODES bits; the kernel reads `maxnode - 1` bits).
    let r = unsafe {
        libc::syscall(
            libc::SYS_mbind,
            p,
            len,
            mode,
            mask.as_ptr(),
            MAX_NODES + 1,
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        // SAFETY: errno is thread-local and readable.
        Err(unsafe { *libc::__errno_location() })
    }
}

/// The snapshot for `stats`.
pub(crate) fn stats() -> NumaStats {
    if STATE.load(Ordering::Acquire) != 2 {
        return NumaStats {
            policy: NumaPolicy::decode(REQUESTED.load(Ordering::Relaxed)),
            source: if REQUESTED.load(Ordering::Relaxed) != 0 {
                NumaSource::Const
            } else {
                NumaSource::None
            },
            nodes: 0,
            state: NumaState::Unresolved,
            bound: 0,
            failed: 0,
        };
    }
    // SAFETY: STATE is 2, so RESOLVED no longer changes.
    let r = unsafe { &*RESOLVED.0.get() };
    let errno = LAST_ERRNO.load(Ordering::Relaxed);
    NumaStats {
        policy: r.policy,
        source: r.source,
        nodes: r.topo.nodes(),
        state: if errno != 0 {
            NumaState::BindFailed(errno)
        } else {
            r.state
        },
        bound: BOUND.load(Ordering::Relaxed),
        failed: FAILED.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests;
