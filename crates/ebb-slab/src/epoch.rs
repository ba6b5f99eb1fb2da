//! Epoch ids.

use std::fmt;

/// An epoch: a lifetime phase that allocations are grouped by.
///
/// Ids grow monotonically; id `n` lives in slot `n % epochs` of the allocator's ring. An
/// id that names an older occupant of a slot is refused (`EpochNotOpen`), so an epoch is
/// never silently mixed with the one that reused its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochId(pub u64);

impl fmt::Display for EpochId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
