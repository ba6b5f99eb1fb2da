//! Epoch domains: RAII scopes over an epoch (the seed's patterns 1 and 2).
//!
//! - [`EpochDomain`] is single use: it opens a fresh epoch and closes it when dropped
//!   (a request, a batch).
//! - [`ReusableDomain`] wraps an epoch for many [`enter`](ReusableDomain::enter)/exit
//!   cycles (frames); each exit recycles the epoch's empty slabs, and
//!   [`force_close`](ReusableDomain::force_close) (or drop) closes it.

use crate::alloc::SlabAlloc;
use crate::epoch::EpochId;
use crate::error::Result;
use crate::handle::RawHandle;

/// An auto-closing epoch scope: the epoch opened by [`SlabAlloc::domain`] is closed when
/// the domain drops (or by [`close`](Self::close), which reports the outcome).
#[derive(Debug)]
#[must_use = "dropping the domain closes its epoch at once"]
pub struct EpochDomain<'a> {
    alloc: &'a SlabAlloc,
    epoch: EpochId,
    open: bool,
}

impl SlabAlloc {
    /// Advances to a fresh epoch and returns an auto-closing domain over it.
    pub fn domain(&self) -> Result<EpochDomain<'_>> {
        let epoch = self.epoch_advance()?;
        Ok(EpochDomain {
            alloc: self,
            epoch,
            open: true,
        })
    }
}

impl EpochDomain<'_> {
    /// The domain's epoch.
    pub fn epoch(&self) -> EpochId {
        self.epoch
    }

    /// Allocates `size` bytes in the domain's epoch.
    pub fn alloc(&self, size: usize) -> Result<RawHandle> {
        self.alloc.alloc_in(self.epoch, size)
    }

    /// Closes the epoch now; returns the number of slabs recycled.
    pub fn close(mut self) -> Result<usize> {
        self.open = false;
        self.alloc.epoch_close(self.epoch)
    }
}

impl Drop for EpochDomain<'_> {
    fn drop(&mut self) {
        if self.open {
            // Failure means someone closed the epoch already, which is what we want.
            let _ = self.alloc.epoch_close(self.epoch);
        }
    }
}

/// A reusable epoch scope: enter and exit many times, close once.
#[derive(Debug)]
pub struct ReusableDomain<'a> {
    alloc: &'a SlabAlloc,
    epoch: EpochId,
    open: bool,
}

impl<'a> ReusableDomain<'a> {
    /// Wraps `epoch` (which should be open) without closing anything.
    pub fn wrap(alloc: &'a SlabAlloc, epoch: EpochId) -> ReusableDomain<'a> {
        ReusableDomain {
            alloc,
            epoch,
            open: true,
        }
    }

    /// The wrapped epoch.
    pub fn epoch(&self) -> EpochId {
        self.epoch
    }

    /// Enters the domain; the returned scope exits it when dropped.
    pub fn enter(&mut self) -> DomainScope<'_, 'a> {
        DomainScope { domain: self }
    }

    /// Closes the epoch; returns the number of slabs recycled.
    pub fn force_close(mut self) -> Result<usize> {
        self.open = false;
        self.alloc.epoch_close(self.epoch)
    }
}

impl Drop for ReusableDomain<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.alloc.epoch_close(self.epoch);
        }
    }
}

/// One enter/exit cycle of a [`ReusableDomain`]. Dropping it exits: the epoch's empty
/// slabs (other than the ones in use for allocation) are recycled, the epoch stays open.
#[derive(Debug)]
pub struct DomainScope<'d, 'a> {
    domain: &'d mut ReusableDomain<'a>,
}

impl DomainScope<'_, '_> {
    /// Allocates `size` bytes in the domain's epoch.
    pub fn alloc(&self, size: usize) -> Result<RawHandle> {
        self.domain.alloc.alloc_in(self.domain.epoch, size)
    }

    /// The domain's epoch.
    pub fn epoch(&self) -> EpochId {
        self.domain.epoch
    }
}

impl Drop for DomainScope<'_, '_> {
    fn drop(&mut self) {
        let _ = self.domain.alloc.epoch_trim(self.domain.epoch);
    }
}
