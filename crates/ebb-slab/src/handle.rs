//! 64-bit handles and their bit layout.
//!
//! ```text
//!  63            42 41            18 17      10 9       2 1  0
//! +----------------+----------------+----------+---------+----+
//! | slab_id (22)   | generation (24)| slot (8) | class(8)| v2 |
//! +----------------+----------------+----------+---------+----+
//! ```
//!
//! The layout is a [`HandleLayout`]: a trait of associated constants whose
//! [`validate`](HandleLayout::validate) checks the bit budget, as sharded-slab does for its
//! packed indices. The allocator uses [`DefaultLayout`]; [`pack`] and [`unpack`] work for
//! any layout, so alternative budgets can be checked (and are, under proptest).

use crate::error::{Error, Result};

/// A handle bit budget: field widths, from the most significant field down.
pub trait HandleLayout {
    /// Bits of the slab id (registry index).
    const SLAB_ID_BITS: u32;
    /// Bits of the per-slot generation.
    const GENERATION_BITS: u32;
    /// Bits of the slot index inside a slab.
    const SLOT_BITS: u32;
    /// Bits of the size-class index.
    const CLASS_BITS: u32;
    /// Bits of the format version.
    const VERSION_BITS: u32;
    /// The version value this layout writes and accepts (never 0, so that a zeroed word
    /// is never a valid handle).
    const VERSION: u64;

    /// Checks the bit budget: the fields fill exactly 64 bits, none is empty, the version
    /// fits its field and is non-zero, and the generation leaves room for the two state
    /// bits of a 32-bit slot word.
    fn validate() -> Result<()> {
        let fields = [
            Self::SLAB_ID_BITS,
            Self::GENERATION_BITS,
            Self::SLOT_BITS,
            Self::CLASS_BITS,
            Self::VERSION_BITS,
        ];
        if fields.contains(&0) {
            return Err(Error::InvalidConfig("a handle field has zero bits"));
        }
        if fields.iter().sum::<u32>() != 64 {
            return Err(Error::InvalidConfig(
                "handle fields must fill exactly 64 bits",
            ));
        }
        if Self::VERSION == 0 || Self::VERSION >= 1 << Self::VERSION_BITS {
            return Err(Error::InvalidConfig(
                "handle version must be non-zero and fit",
            ));
        }
        if Self::GENERATION_BITS > 30 {
            return Err(Error::InvalidConfig("generation needs at most 30 bits"));
        }
        if Self::SLOT_BITS > 8 || Self::CLASS_BITS > 8 || Self::SLAB_ID_BITS > 32 {
            return Err(Error::InvalidConfig(
                "slot and class fit in a byte, slab id in 32 bits",
            ));
        }
        Ok(())
    }
}

/// The layout of issue #4 and of the seed: `slab_id:22 | generation:24 | slot:8 |
/// class:8 | version:2`, version 1.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultLayout;

impl HandleLayout for DefaultLayout {
    const SLAB_ID_BITS: u32 = 22;
    const GENERATION_BITS: u32 = 24;
    const SLOT_BITS: u32 = 8;
    const CLASS_BITS: u32 = 8;
    const VERSION_BITS: u32 = 2;
    const VERSION: u64 = 0b01;
}

const _: () = {
    // The default budget, checked at compile time too.
    let d = DefaultLayout::SLAB_ID_BITS
        + DefaultLayout::GENERATION_BITS
        + DefaultLayout::SLOT_BITS
        + DefaultLayout::CLASS_BITS
        + DefaultLayout::VERSION_BITS;
    assert!(d == 64);
};

/// The largest generation a [`DefaultLayout`] handle carries.
pub const MAX_GENERATION: u32 = (1 << DefaultLayout::GENERATION_BITS) - 1;
/// The number of slab ids a [`DefaultLayout`] handle can name.
pub const MAX_SLABS: u32 = 1 << DefaultLayout::SLAB_ID_BITS;

/// Bit position of the generation in a [`DefaultLayout`] handle.
pub(crate) const GEN_SHIFT: u32 =
    DefaultLayout::SLOT_BITS + DefaultLayout::CLASS_BITS + DefaultLayout::VERSION_BITS;
/// Bit position of the slot in a [`DefaultLayout`] handle.
pub(crate) const SLOT_SHIFT: u32 = DefaultLayout::CLASS_BITS + DefaultLayout::VERSION_BITS;
/// Bit position of the class in a [`DefaultLayout`] handle.
pub(crate) const CLASS_SHIFT: u32 = DefaultLayout::VERSION_BITS;
/// Bit position of the slab id in a [`DefaultLayout`] handle.
pub(crate) const SLAB_SHIFT: u32 = GEN_SHIFT + DefaultLayout::GENERATION_BITS;
/// The bits of a [`DefaultLayout`] handle that name a slab: slab id, class and version
/// (every handle into one slab agrees on them).
pub(crate) const SLAB_KEY_MASK: u64 = (mask(DefaultLayout::SLAB_ID_BITS) << SLAB_SHIFT)
    | (mask(DefaultLayout::CLASS_BITS) << CLASS_SHIFT)
    | mask(DefaultLayout::VERSION_BITS);

/// The fields of a handle, unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandleParts {
    /// Registry index of the slab.
    pub slab: u32,
    /// Generation of the slot when the object was allocated.
    pub generation: u32,
    /// Slot inside the slab.
    pub slot: u8,
    /// Size class.
    pub class: u8,
}

#[inline]
const fn mask(bits: u32) -> u64 {
    (1u64 << bits) - 1
}

/// Packs `p` under layout `L`; fields wider than their budget are truncated (callers
/// keep them in range; [`unpack`] of the result round-trips whenever they did).
#[inline]
pub fn pack<L: HandleLayout>(p: HandleParts) -> u64 {
    let gen_shift = L::SLOT_BITS + L::CLASS_BITS + L::VERSION_BITS;
    let slab_shift = gen_shift + L::GENERATION_BITS;
    ((p.slab as u64 & mask(L::SLAB_ID_BITS)) << slab_shift)
        | ((p.generation as u64 & mask(L::GENERATION_BITS)) << gen_shift)
        | ((p.slot as u64 & mask(L::SLOT_BITS)) << (L::CLASS_BITS + L::VERSION_BITS))
        | ((p.class as u64 & mask(L::CLASS_BITS)) << L::VERSION_BITS)
        | L::VERSION
}

/// Unpacks `raw` under layout `L`, refusing a wrong version.
#[inline]
pub fn unpack<L: HandleLayout>(raw: u64) -> Result<HandleParts> {
    let version = raw & mask(L::VERSION_BITS);
    if version != L::VERSION {
        return Err(Error::BadVersion {
            found: version as u8,
        });
    }
    let gen_shift = L::SLOT_BITS + L::CLASS_BITS + L::VERSION_BITS;
    let slab_shift = gen_shift + L::GENERATION_BITS;
    Ok(HandleParts {
        slab: ((raw >> slab_shift) & mask(L::SLAB_ID_BITS)) as u32,
        generation: ((raw >> gen_shift) & mask(L::GENERATION_BITS)) as u32,
        slot: ((raw >> (L::CLASS_BITS + L::VERSION_BITS)) & mask(L::SLOT_BITS)) as u8,
        class: ((raw >> L::VERSION_BITS) & mask(L::CLASS_BITS)) as u8,
    })
}

/// An untyped 64-bit handle to an object in a [`SlabAlloc`](crate::SlabAlloc).
///
/// A plain value: copying it is allowed and every use is validated, so a stale, doubly
/// freed or forged handle is answered with an [`Error`], never with another object. A raw
/// handle has no room for an allocator id: use it only with the allocator that issued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct RawHandle(u64);

impl RawHandle {
    /// Packs `parts` in the [`DefaultLayout`].
    #[inline]
    pub fn new(parts: HandleParts) -> RawHandle {
        RawHandle(pack::<DefaultLayout>(parts))
    }

    /// Wraps any 64-bit value; whether it names an object is decided when it is used.
    #[inline]
    pub const fn from_bits(bits: u64) -> RawHandle {
        RawHandle(bits)
    }

    /// The 64 bits.
    #[inline]
    pub const fn to_bits(self) -> u64 {
        self.0
    }

    /// The fields, or [`Error::BadVersion`].
    #[inline]
    pub fn parts(self) -> Result<HandleParts> {
        unpack::<DefaultLayout>(self.0)
    }
}

#[cfg(all(test, not(ebb_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct Wide;
    impl HandleLayout for Wide {
        const SLAB_ID_BITS: u32 = 26;
        const GENERATION_BITS: u32 = 20;
        const SLOT_BITS: u32 = 8;
        const CLASS_BITS: u32 = 6;
        const VERSION_BITS: u32 = 4;
        const VERSION: u64 = 0b1010;
    }

    struct Overfull;
    impl HandleLayout for Overfull {
        const SLAB_ID_BITS: u32 = 23;
        const GENERATION_BITS: u32 = 24;
        const SLOT_BITS: u32 = 8;
        const CLASS_BITS: u32 = 8;
        const VERSION_BITS: u32 = 2;
        const VERSION: u64 = 1;
    }

    struct ZeroVersion;
    impl HandleLayout for ZeroVersion {
        const SLAB_ID_BITS: u32 = 22;
        const GENERATION_BITS: u32 = 24;
        const SLOT_BITS: u32 = 8;
        const CLASS_BITS: u32 = 8;
        const VERSION_BITS: u32 = 2;
        const VERSION: u64 = 0;
    }

    #[test]
    fn layouts_validate() {
        assert_eq!(DefaultLayout::validate(), Ok(()));
        assert_eq!(Wide::validate(), Ok(()));
        assert!(matches!(Overfull::validate(), Err(Error::InvalidConfig(_))));
        assert!(matches!(
            ZeroVersion::validate(),
            Err(Error::InvalidConfig(_))
        ));
    }

    #[test]
    fn seed_bit_positions() {
        let raw = pack::<DefaultLayout>(HandleParts {
            slab: 1,
            generation: 1,
            slot: 1,
            class: 1,
        });
        assert_eq!(raw, (1 << 42) | (1 << 18) | (1 << 10) | (1 << 2) | 1);
        assert_eq!(
            RawHandle::from_bits(0).parts(),
            Err(Error::BadVersion { found: 0 })
        );
    }

    // Proptest needs the file system (failure persistence), which Miri isolates.
    #[cfg(not(miri))]
    proptest! {
        #[test]
        fn default_round_trips(slab in 0u32..MAX_SLABS, generation in 0u32..=MAX_GENERATION,
                               slot: u8, class: u8) {
            let p = HandleParts { slab, generation, slot, class };
            prop_assert_eq!(RawHandle::new(p).parts(), Ok(p));
        }

        #[test]
        fn wide_round_trips(slab in 0u32..(1 << 26), generation in 0u32..(1 << 20),
                            slot: u8, class in 0u8..64) {
            let p = HandleParts { slab, generation, slot, class };
            prop_assert_eq!(unpack::<Wide>(pack::<Wide>(p)), Ok(p));
        }

        #[test]
        fn any_bits_unpack_or_refuse(raw: u64) {
            match unpack::<DefaultLayout>(raw) {
                Ok(p) => prop_assert_eq!(pack::<DefaultLayout>(p), raw),
                Err(e) => prop_assert_eq!(e, Error::BadVersion { found: (raw & 3) as u8 }),
            }
        }
    }
}
