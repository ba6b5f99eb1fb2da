//! Hazard-pointer and epoch tethers: the crate's only use of ebb-smr.
//!
//! A region built with [`RegionConfig::hazard_pointers`] or [`RegionConfig::epochs`] is not
//! freed the moment its last handle and atomic tether go: its control block's `cell` (which
//! points to the block itself) is cleared and the block is *retired* into the ebb-smr
//! domain, which frees it once no thread protects it.
//!
//! * A hazard-pointer tether ([`HpTether`]) is a guard of an `hp::Handle` whose slot 0
//!   protects the control block: a store to a hazard cell, no atomic read-modify-write on
//!   the region's cache line.
//! * An epoch tether ([`EpochTether`]) is a pinned `ebr::Guard`: a region retired while
//!   any thread is pinned in an earlier epoch is not freed until that thread unpins.
//!
//! Both are taken from a live [`RegionHandle`] or from a [`RegionSlot`], a published
//! cell that its owner can clear: a tether from a cleared slot is [`RegionError::Released`].
//! Only the basic handle and guard APIs of ebb-smr are used (`register`, `pin`,
//! `protect`, `retire`, `flush`).

use crate::region::{RPtr, RSlice, Rcb, Region, RegionConfig, RegionError, RegionHandle};
use crate::sync::atomic::Ordering;
use ebb_smr::{Smr, SmrHandle, ebr, hp};
use std::fmt;
use std::ptr::NonNull;

/// How a region's control block is reclaimed once its count reaches zero.
#[derive(Clone, Default)]
pub(crate) enum Reclaim {
    /// Freed at once by the thread that dropped the last reference.
    #[default]
    Immediate,
    /// Retired into a hazard-pointer domain.
    Hp(hp::Domain),
    /// Retired into an epoch domain.
    Ebr(ebr::Domain),
}

impl fmt::Debug for Reclaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reclaim::Immediate => "Immediate",
            Reclaim::Hp(_) => "HazardPointers",
            Reclaim::Ebr(_) => "Epochs",
        })
    }
}

impl RegionConfig {
    /// Reclaims the region through hazard-pointer `domain`, so that [`HpTether`]s can
    /// keep it alive.
    pub fn hazard_pointers(mut self, domain: &hp::Domain) -> RegionConfig {
        self.reclaim = Reclaim::Hp(domain.clone());
        self
    }

    /// Reclaims the region through epoch `domain`, so that [`EpochTether`]s can keep it
    /// alive.
    pub fn epochs(mut self, domain: &ebr::Domain) -> RegionConfig {
        self.reclaim = Reclaim::Ebr(domain.clone());
        self
    }
}

/// Releases a control block whose count reached zero: frees it now, or retires it.
///
/// # Safety
///
/// * As for [`crate::region::free_rcb`], except that readers holding hazard-pointer or
///   epoch protection may remain (the domain waits for them).
pub(crate) unsafe fn release(rcb: NonNull<Rcb>) {
    // SAFETY: the caller's obligations are those of `release_deferred`.
    if unsafe { release_deferred(rcb) } {
        // SAFETY: `Immediate`: no protection of any kind can exist.
        unsafe { crate::region::free_rcb(rcb) };
    }
}

/// Retires `rcb` into its domain and returns false, or returns true when the caller
/// must free it now (`Immediate` regions).
///
/// # Safety
///
/// * As for [`release`].
pub(crate) unsafe fn release_deferred(rcb: NonNull<Rcb>) -> bool {
    // SAFETY: the count is zero and the caller owns the block; it is still allocated.
    let r = unsafe { rcb.as_ref() };
    match &r.reclaim {
        Reclaim::Immediate => true,
        Reclaim::Hp(d) => {
            // Unlink before retiring: a protector whose validating re-load sees null
            // fails, one that saw the block has its hazard visible to the scan.
            r.cell.store(std::ptr::null_mut(), Ordering::Release);
            let h = d.register();
            let g = h.pin();
            // SAFETY: unlinked above (the only cell that points to it), retired once (the
            // count reaches zero once), and `free_retired` frees it exactly once.
            unsafe { g.retire(rcb.as_ptr(), free_retired) };
            false
        }
        Reclaim::Ebr(d) => {
            r.cell.store(std::ptr::null_mut(), Ordering::Release);
            let h = d.register();
            let g = h.pin();
            // SAFETY: as for hazard pointers.
            unsafe { g.retire(rcb.as_ptr(), free_retired) };
            false
        }
    }
}

/// The drop function of retired control blocks.
///
/// # Safety
///
/// * `p` is a retired control block whose grace period is over.
unsafe fn free_retired(p: *mut Rcb) {
    // SAFETY: retired control blocks are non-null; the domain calls this once, after
    // every protection of `p` has ended.
    unsafe { crate::region::free_rcb(NonNull::new_unchecked(p)) }
}

/// Frees what `domain` can free now from this thread (regions whose tethers are gone):
/// registers, scans, and unregisters.
pub fn collect_hp(domain: &hp::Domain) {
    let mut h = domain.register();
    h.quiescent();
    SmrHandle::flush(&mut h);
}

/// As [`collect_hp`], for an epoch domain (a few rounds, as the epoch must advance twice).
pub fn collect_epochs(domain: &ebr::Domain) {
    let mut h = domain.register();
    for _ in 0..4 {
        h.quiescent();
        SmrHandle::flush(&mut h);
    }
}

fn check_hp(r: &Rcb, h: &hp::Handle) -> Result<(), RegionError> {
    match &r.reclaim {
        Reclaim::Hp(d) if d.id() == h.domain_id() => Ok(()),
        _ => Err(RegionError::WrongStrategy),
    }
}

fn check_ebr(r: &Rcb, h: &ebr::Handle) -> Result<(), RegionError> {
    match &r.reclaim {
        Reclaim::Ebr(d) if Smr::id(d) == SmrHandle::domain_id(h) => Ok(()),
        _ => Err(RegionError::WrongStrategy),
    }
}

// === impl HpTether ===

/// A hazard-pointer tether: keeps a region alive while it lives; bound to the thread of
/// the `hp::Handle` it borrows.
pub struct HpTether<'h> {
    _guard: hp::Guard<'h>,
    rcb: NonNull<Rcb>,
}

impl fmt::Debug for HpTether<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: protected by the guard's slot 0.
        let id = unsafe { self.rcb.as_ref() }.id;
        f.debug_struct("HpTether").field("region", &id).finish()
    }
}

impl<'h> HpTether<'h> {
    /// Protects the control block in `cell`; `None` when the cell is null (released).
    fn protect(h: &'h hp::Handle, cell: &ebb_smr::AtomicPtr<Rcb>) -> Option<HpTether<'h>> {
        let mut guard = h.pin();
        let p = guard.protect(0, cell);
        NonNull::new(p).map(|rcb| HpTether { _guard: guard, rcb })
    }

    fn rcb(&self) -> &Rcb {
        // SAFETY: slot 0 of the guard protects the control block: the domain does not
        // free it before the guard drops.
        unsafe { self.rcb.as_ref() }
    }

    /// The region's id.
    pub fn id(&self) -> u64 {
        self.rcb().id
    }

    /// Reads an object of the tethered region.
    pub fn get<T: Sync>(&self, p: RPtr<T>) -> Result<&T, RegionError> {
        // SAFETY: the control block lives while `self` is borrowed.
        unsafe { self.rcb().read(p) }
    }

    /// Reads a slice of the tethered region.
    pub fn slice<T: Sync>(&self, s: RSlice<T>) -> Result<&[T], RegionError> {
        // SAFETY: as in `get`.
        unsafe { self.rcb().read_slice(s) }
    }
}

// === impl EpochTether ===

/// An epoch tether: a pinned epoch guard that keeps a region alive while it lives.
pub struct EpochTether<'h> {
    _guard: ebr::Guard<'h>,
    rcb: NonNull<Rcb>,
}

impl fmt::Debug for EpochTether<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochTether")
            .field("region", &self.rcb().id)
            .finish()
    }
}

impl EpochTether<'_> {
    fn rcb(&self) -> &Rcb {
        // SAFETY: the control block was reachable when the guard pinned, so it is retired
        // (if at all) no earlier than this pin's epoch and freed after the guard drops.
        unsafe { self.rcb.as_ref() }
    }

    /// The region's id.
    pub fn id(&self) -> u64 {
        self.rcb().id
    }

    /// Reads an object of the tethered region.
    pub fn get<T: Sync>(&self, p: RPtr<T>) -> Result<&T, RegionError> {
        // SAFETY: the control block lives while `self` is borrowed.
        unsafe { self.rcb().read(p) }
    }
}

impl RegionHandle {
    /// A hazard-pointer tether on this region, protected by a guard of `h`. The region
    /// must be built with [`RegionConfig::hazard_pointers`] of `h`'s domain.
    pub fn tether_hp<'h>(&self, h: &'h hp::Handle) -> Result<HpTether<'h>, RegionError> {
        check_hp(self.rcb(), h)?;
        // The handle keeps the cell non-null.
        HpTether::protect(h, &self.rcb().cell).ok_or(RegionError::Released)
    }

    /// An epoch tether on this region, pinned under `h`. The region must be built with
    /// [`RegionConfig::epochs`] of `h`'s domain.
    pub fn tether_epoch<'h>(&self, h: &'h ebr::Handle) -> Result<EpochTether<'h>, RegionError> {
        check_ebr(self.rcb(), h)?;
        let guard = h.pin();
        Ok(EpochTether {
            _guard: guard,
            rcb: self.rcb,
        })
    }
}

// === impl RegionSlot ===

/// A published region that threads can tether without a handle, and its owner can
/// release: the shape of a runtime's shared module table. Holds one handle while set.
pub struct RegionSlot {
    cell: ebb_smr::AtomicPtr<Rcb>,
    /// How the region put in the slot is reclaimed, recorded at construction: a tether
    /// checks it before protecting, because reading a control block that its domain does
    /// not protect could race with its release.
    reclaim: SlotReclaim,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotReclaim {
    Immediate,
    Hp(ebb_smr::DomainId),
    Ebr(ebb_smr::DomainId),
}

// SAFETY: the slot holds a handle reference (which is `Send + Sync`) through an atomic.
unsafe impl Send for RegionSlot {}
// SAFETY: as above.
unsafe impl Sync for RegionSlot {}

impl fmt::Debug for RegionSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegionSlot")
            .field("set", &!self.cell.load(Ordering::Relaxed).is_null())
            .finish()
    }
}

impl RegionSlot {
    /// A slot holding `h`.
    pub fn new(h: RegionHandle) -> RegionSlot {
        let reclaim = match &h.rcb().reclaim {
            Reclaim::Immediate => SlotReclaim::Immediate,
            Reclaim::Hp(d) => SlotReclaim::Hp(d.id()),
            Reclaim::Ebr(d) => SlotReclaim::Ebr(Smr::id(d)),
        };
        let rcb = h.rcb;
        std::mem::forget(h);
        RegionSlot {
            cell: ebb_smr::AtomicPtr::new(rcb.as_ptr()),
            reclaim,
        }
    }

    /// Empties the slot and drops its handle; later tethers from it are `Released`.
    /// Returns false if it was already empty.
    pub fn release(&self) -> bool {
        // AcqRel: the swap orders the unlink before the handle's release below.
        let p = self.cell.swap(std::ptr::null_mut(), Ordering::AcqRel);
        match NonNull::new(p) {
            None => false,
            Some(rcb) => {
                drop(RegionHandle { rcb });
                true
            }
        }
    }

    /// A hazard-pointer tether on the slot's region, or `Released`.
    pub fn tether_hp<'h>(&self, h: &'h hp::Handle) -> Result<HpTether<'h>, RegionError> {
        if self.reclaim != SlotReclaim::Hp(h.domain_id()) {
            return Err(RegionError::WrongStrategy);
        }
        HpTether::protect(h, &self.cell).ok_or(RegionError::Released)
    }

    /// An epoch tether on the slot's region, or `Released`.
    pub fn tether_epoch<'h>(&self, h: &'h ebr::Handle) -> Result<EpochTether<'h>, RegionError> {
        if self.reclaim != SlotReclaim::Ebr(SmrHandle::domain_id(h)) {
            return Err(RegionError::WrongStrategy);
        }
        let guard = h.pin();
        // Acquire: the slot was published with the control block initialised; a pointer
        // loaded while pinned is retired (if at all) no earlier than this epoch.
        let p = self.cell.load(Ordering::Acquire);
        let rcb = NonNull::new(p).ok_or(RegionError::Released)?;
        Ok(EpochTether { _guard: guard, rcb })
    }
}

impl Drop for RegionSlot {
    fn drop(&mut self) {
        self.release();
    }
}

impl Region {
    /// The strategy this region was built with, by name (`immediate`, `hazard-pointers`,
    /// `epochs`).
    pub fn reclaim_name(&self) -> &'static str {
        match self.rcb().reclaim {
            Reclaim::Immediate => "immediate",
            Reclaim::Hp(_) => "hazard-pointers",
            Reclaim::Ebr(_) => "epochs",
        }
    }
}
