//! The error type of every fallible operation.

use crate::epoch::EpochId;
use std::fmt;

/// Why an operation was refused. Every bad handle, epoch or configuration is answered
/// with one of these; none of them can crash the allocator or corrupt its state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The handle's two version bits are not the current handle format (forged or
    /// corrupted handle).
    BadVersion {
        /// The version bits found.
        found: u8,
    },
    /// The handle names a size class the allocator does not have.
    UnknownClass {
        /// The class index found.
        class: u8,
    },
    /// The handle's slab id is beyond the allocator's configured slab limit.
    SlabOutOfRange {
        /// The slab id found.
        slab: u32,
    },
    /// The handle's slab id is in range, but no slab with that id was ever created.
    UnknownSlab {
        /// The slab id found.
        slab: u32,
    },
    /// The handle's slot is beyond the capacity of a slab of its size class.
    SlotOutOfRange {
        /// The slot found.
        slot: u8,
        /// Objects per slab in the handle's class.
        capacity: u16,
    },
    /// The handle's class is not the class of the slab that holds the slot (forged).
    ClassMismatch {
        /// The class in the handle.
        handle: u8,
        /// The class the slab serves now.
        slab: u8,
    },
    /// The object the handle named was freed (its slot may since hold another object,
    /// which the handle does not reach).
    Stale,
    /// `free` of a handle whose object was already freed.
    DoubleFree,
    /// The handle carries a generation its slot has never issued (forged).
    ForgedGeneration,
    /// The handle belongs to another allocator instance (typed handles only).
    WrongAllocator,
    /// No size class holds an object of this size.
    SizeTooLarge {
        /// The requested size in bytes.
        size: usize,
    },
    /// Allocation into an epoch that is closed, or that was never opened.
    EpochNotOpen {
        /// The epoch named.
        epoch: EpochId,
    },
    /// `epoch_advance` would reuse the slot of an epoch that was never closed.
    EpochNotClosed {
        /// The epoch still open in the slot the advance needs.
        epoch: EpochId,
    },
    /// Every slab id the configuration allows is in use.
    OutOfSlabs,
    /// The operating system refused memory.
    OutOfMemory,
    /// The configuration is inconsistent.
    InvalidConfig(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadVersion { found } => write!(f, "handle has unknown format version {found}"),
            Error::UnknownClass { class } => write!(f, "handle names unknown size class {class}"),
            Error::SlabOutOfRange { slab } => write!(f, "handle slab id {slab} is out of range"),
            Error::UnknownSlab { slab } => {
                write!(f, "handle names slab {slab}, which was never created")
            }
            Error::SlotOutOfRange { slot, capacity } => {
                write!(
                    f,
                    "handle slot {slot} is beyond the class capacity {capacity}"
                )
            }
            Error::ClassMismatch { handle, slab } => {
                write!(
                    f,
                    "handle says class {handle} but the slab serves class {slab}"
                )
            }
            Error::Stale => f.write_str("stale handle: the object was freed"),
            Error::DoubleFree => f.write_str("double free: the object was already freed"),
            Error::ForgedGeneration => f.write_str("handle carries a generation never issued"),
            Error::WrongAllocator => f.write_str("handle belongs to another allocator"),
            Error::SizeTooLarge { size } => write!(f, "no size class holds {size} bytes"),
            Error::EpochNotOpen { epoch } => write!(f, "epoch {epoch} is not open"),
            Error::EpochNotClosed { epoch } => {
                write!(f, "epoch {epoch} must be closed before its slot is reused")
            }
            Error::OutOfSlabs => f.write_str("slab id space exhausted"),
            Error::OutOfMemory => f.write_str("the operating system refused memory"),
            Error::InvalidConfig(why) => write!(f, "invalid configuration: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
