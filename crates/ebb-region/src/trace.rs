//! Trace metadata: where a type's region pointers are.
//!
//! Transmigration copies an object bitwise and then asks its [`Trace`] impl to visit
//! every [`RPtr`] and [`RSlice`] field of the copy, which the [`Tracer`] rewrites to point
//! at the copies of their targets. This is the seed's "metadata-driven traversal": the
//! compiler monomorphises one copy loop per type instead of a `switch` over tags.
//! `#[derive(Trace)]` (from `ebb-region-derive`) writes the impl for structs and enums
//! whose fields are all `Trace`.

use crate::region::{RPtr, RSlice, RStr};
use std::cell::Cell;

/// A type that can live in a region and be transmigrated.
///
/// # Safety
///
/// Implementors guarantee:
/// * a bitwise copy of a value is a valid value that may be used independently of the
///   original (no unique ownership, no `Drop`: allocation refuses `needs_drop` types);
/// * the type has no interior mutability reachable from a shared reference on another
///   thread (no atomics or locks); `Cell` is allowed, as it makes the type `!Sync` and
///   only the region's owner thread can then read it;
/// * [`trace`](Trace::trace) visits every `RPtr` and `RSlice` the value holds (one it
///   skips would keep pointing into the source region after transmigration, and reads of
///   it through the destination would fail with [`crate::RegionError::Foreign`]);
/// * [`HAS_EDGES`](Trace::HAS_EDGES) is false only if `trace` visits nothing.
///
/// `#[derive(Trace)]` meets them for types whose fields are all `Trace`.
pub unsafe trait Trace: 'static {
    /// False when values of the type hold no region pointer (transmigration then copies
    /// slices of it without visiting each element).
    const HAS_EDGES: bool = true;

    /// Calls `t.edge` on each `RPtr` field and `t.slice` on each `RSlice` field.
    fn trace<V: Tracer>(&mut self, t: &mut V);
}

/// What [`Trace::trace`] reports region pointers to.
pub trait Tracer {
    /// A pointer field; the tracer may rewrite it.
    fn edge<T: Trace>(&mut self, p: &mut RPtr<T>);
    /// A slice field; the tracer may rewrite it.
    fn slice<T: Trace>(&mut self, s: &mut RSlice<T>);
}

macro_rules! leaf {
    ($($t:ty),*) => {$(
        // SAFETY: a plain value: copyable, no pointers, no interior mutability.
        unsafe impl Trace for $t {
            const HAS_EDGES: bool = false;
            #[inline(always)]
            fn trace<V: Tracer>(&mut self, _t: &mut V) {}
        }
    )*};
}

leaf!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64
);

// SAFETY: copyable pointer data; `trace` reports itself.
unsafe impl<T: Trace> Trace for RPtr<T> {
    #[inline(always)]
    fn trace<V: Tracer>(&mut self, t: &mut V) {
        t.edge(self);
    }
}

// SAFETY: copyable pointer data; `trace` reports itself.
unsafe impl<T: Trace> Trace for RSlice<T> {
    #[inline(always)]
    fn trace<V: Tracer>(&mut self, t: &mut V) {
        t.slice(self);
    }
}

// SAFETY: an `RSlice<u8>` (see above); transmigration copies its bytes unchanged.
unsafe impl Trace for RStr {
    #[inline(always)]
    fn trace<V: Tracer>(&mut self, t: &mut V) {
        t.slice(&mut self.0);
    }
}

// SAFETY: an `Option` of a `Trace` value; `trace` visits the value if present.
unsafe impl<T: Trace> Trace for Option<T> {
    const HAS_EDGES: bool = T::HAS_EDGES;
    #[inline(always)]
    fn trace<V: Tracer>(&mut self, t: &mut V) {
        if let Some(v) = self {
            v.trace(t);
        }
    }
}

// SAFETY: an array of `Trace` values; `trace` visits each.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const HAS_EDGES: bool = T::HAS_EDGES;
    #[inline(always)]
    fn trace<V: Tracer>(&mut self, t: &mut V) {
        if T::HAS_EDGES {
            for v in self {
                v.trace(t);
            }
        }
    }
}

// SAFETY: `Cell<T>` for `Copy` `T`: not `Sync`, so only the owner thread reads it; a
// bitwise copy is a valid independent `Cell`; `trace` visits the value in place
// (`get_mut`: the tracer holds the copy exclusively).
unsafe impl<T: Trace + Copy> Trace for Cell<T> {
    const HAS_EDGES: bool = T::HAS_EDGES;
    #[inline(always)]
    fn trace<V: Tracer>(&mut self, t: &mut V) {
        self.get_mut().trace(t);
    }
}

macro_rules! tuple {
    ($($n:tt $t:ident),*) => {
        // SAFETY: a tuple of `Trace` values; `trace` visits each.
        unsafe impl<$($t: Trace),*> Trace for ($($t,)*) {
            const HAS_EDGES: bool = false $(|| $t::HAS_EDGES)*;
            #[inline(always)]
            fn trace<V: Tracer>(&mut self, t: &mut V) {
                $(self.$n.trace(t);)*
            }
        }
    };
}

tuple!(0 A);
tuple!(0 A, 1 B);
tuple!(0 A, 1 B, 2 C);
tuple!(0 A, 1 B, 2 C, 3 D);
