//! Lock-free collections on [ebb-smr](ebb_smr): a Treiber stack, two unbounded MPMC
//! queues, a Chase-Lev work-stealing deque, an RCU cell, two read-mostly maps and intern
//! tables.
//!
//! | structure | algorithm | reclaims |
//! |---|---|---|
//! | [`TreiberStack`] | Treiber 1986 | popped nodes |
//! | [`Queue`] (default) | segments of slots claimed by fetch-and-add (FAAArrayQueue / LCRQ shape) | drained segments |
//! | [`MsQueue`] | Michael & Scott, PODC 1996 | dequeued dummies |
//! | [`Worker`] / [`Stealer`] | Chase & Lev 2005, orderings of Lê et al., PPoPP 2013 | outgrown buffers |
//! | [`RcuCell`] | read-copy-update by pointer swap | replaced values |
//! | [`Executor`] | work stealing over the deque: `join`, scopes, task graphs | (through the deque) |
//! | [`Map`] | open addressing over pointers to immutable boxed entries, striped writers | replaced entries and tables |
//! | [`WordMap`] | open addressing over the keys and values themselves (word-sized), striped writers | replaced tables |
//! | [`Interner`], [`CowInterner`] | grow-only open addressing; copy-on-write `HashMap` | outgrown indexes; replaced copies |
//!
//! # Choosing the scheme
//!
//! Every structure is generic over an [`ebb_smr::Smr`] scheme `S`, EBR by default. Its
//! `*_with` methods take a guard of the structure's domain, of any scheme, and refuse a
//! guard of another domain with [`SmrError::ForeignDomain`](ebb_smr::SmrError). For the
//! default scheme the plain methods (`push`, `pop`, `steal`, `read`, ...) pin the
//! process-wide EBR domain per call, as crossbeam's collections pin theirs. QSBR readers
//! pay nothing per operation but must report quiescent states
//! ([`Smr::NEEDS_QUIESCENT`](ebb_smr::Smr::NEEDS_QUIESCENT)); hazard pointers bound the
//! garbage a stalled thread can hold. `docs/sync.md` puts the measurements beside the
//! choice.
//!
//! ```
//! use ebb_sync::{Queue, Steal, TreiberStack, Worker};
//!
//! let q = Queue::new();
//! q.push(1);
//! q.push(2);
//! assert_eq!(q.pop(), Some(1));
//!
//! let s = TreiberStack::new();
//! s.push("a");
//! assert_eq!(s.pop(), Some("a"));
//! assert_eq!(s.pop(), None);
//!
//! let w = Worker::new();
//! let thief = w.stealer();
//! w.push(10);
//! w.push(11);
//! assert_eq!(thief.steal(), Steal::Success(10));
//! assert_eq!(w.pop(), Some(11));
//! ```
//!
//! Under any scheme, through a guard:
//!
//! ```
//! use ebb_smr::{Smr, SmrHandle, hp};
//! use ebb_sync::Queue;
//!
//! let domain = hp::Domain::new();
//! let q: Queue<u32, hp::Domain> = Queue::with_domain(&domain);
//! let h = domain.register();
//! q.push_with(&h.pin(), 7).unwrap();
//! assert_eq!(q.pop_with(&h.pin()).unwrap(), Some(7));
//! // A guard of another domain is refused, not trusted.
//! let other = hp::Domain::new().register();
//! assert!(q.pop_with(&other.pin()).is_err());
//! ```
#![warn(missing_docs)]

mod sync;

pub mod deque;
#[cfg(not(ebb_loom))]
pub mod executor;
pub mod intern;
pub mod map;
pub mod queue;
pub mod rcu;
pub mod stack;
mod stripes;
pub mod word_map;

#[cfg(all(test, ebb_loom))]
mod loom_tests;
#[cfg(all(test, not(ebb_loom)))]
mod tests;

pub use deque::{Steal, Stealer, Worker};
#[cfg(not(ebb_loom))]
pub use executor::{Executor, Graph, GraphError, Scope, TaskId, join};
pub use intern::{CowInterner, InternError, Interner, Symbol};
pub use map::Map;
pub use queue::{MsQueue, Queue};
pub use rcu::RcuCell;
pub use stack::TreiberStack;
pub use word_map::WordMap;

/// The message of the convenience methods' panic when a structure made for another EBR
/// domain is used through the default one.
#[cfg(not(ebb_loom))]
const DEFAULT_DOMAIN_ONLY: &str =
    "this structure belongs to another domain: use its `*_with` methods with a guard of it";
