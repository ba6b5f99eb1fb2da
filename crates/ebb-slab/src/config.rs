//! Run-time configuration: size classes, slab size, epochs, cache and reclamation policy.

use crate::error::{Error, Result};
use crate::handle::{MAX_GENERATION, MAX_SLABS};
use crate::slab::{HEADER_SIZE, MAX_SLOTS};

/// The seed's size classes, in bytes.
pub const DEFAULT_SIZE_CLASSES: [u32; 8] = [64, 96, 128, 192, 256, 384, 512, 768];
/// [`DEFAULT_SIZE_CLASSES`] as `usize`.
pub const DEFAULT_SIZE_CLASSES_USIZE: [usize; 8] = [64, 96, 128, 192, 256, 384, 512, 768];

/// The most epochs [`SlabConfig::epochs`] may name.
pub const MAX_EPOCHS: u32 = 1 << 16;
/// The most (epoch, size class) pairs: the allocator keeps a list head of about 200 bytes
/// per pair, so this bounds that table near 50 MiB.
pub const MAX_EPOCH_CLASSES: usize = 1 << 18;

/// What `epoch_close` does with the pages of the empty slabs it recycles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReclaimPolicy {
    /// Keep the pages of cached slabs resident: reuse costs no page fault. Slabs beyond the
    /// cache capacity (the overflow list) are still returned to the OS.
    LatencyFirst,
    /// Return every recycled slab's pages with `madvise(MADV_DONTNEED)`: RSS drops on
    /// close, and reuse pays a zero-filled page fault.
    RssFirst,
}

impl ReclaimPolicy {
    /// The default: [`RssFirst`](ReclaimPolicy::RssFirst) with the cargo feature
    /// `rss-first`, [`LatencyFirst`](ReclaimPolicy::LatencyFirst) without.
    pub const fn default_policy() -> ReclaimPolicy {
        if cfg!(feature = "rss-first") {
            ReclaimPolicy::RssFirst
        } else {
            ReclaimPolicy::LatencyFirst
        }
    }
}

impl Default for ReclaimPolicy {
    fn default() -> Self {
        ReclaimPolicy::default_policy()
    }
}

/// Configuration of a [`SlabAlloc`](crate::SlabAlloc). Start from `default()` and change
/// fields; [`SlabAlloc::new`](crate::SlabAlloc::new) calls [`validate`](Self::validate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabConfig {
    /// Object sizes in bytes, strictly ascending, each a multiple of 8, at most 256 of
    /// them. Default: the seed's `64, 96, 128, 192, 256, 384, 512, 768`.
    pub size_classes: Vec<u32>,
    /// Bytes per slab: a power of two, at least 4096; slabs are aligned to it, so the
    /// header of the slab holding a pointer is found by masking. Default 4096.
    pub slab_size: usize,
    /// Epoch slots in the ring: a power of two, at least 2 and at most [`MAX_EPOCHS`], with
    /// `epochs * size_classes.len()` at most [`MAX_EPOCH_CLASSES`]. Default 128.
    pub epochs: u32,
    /// Empty slabs kept per class in the cache before they spill to the overflow list.
    /// Default 32.
    pub cache_capacity: usize,
    /// The reclamation policy at start; switchable with
    /// [`SlabAlloc::set_policy`](crate::SlabAlloc::set_policy).
    pub policy: ReclaimPolicy,
    /// Most slabs this allocator may create (at most 2^22, the handle's slab id space).
    /// Virtual memory is reserved lazily, a chunk of slabs at a time. Default 2^22.
    pub max_slabs: u32,
    /// Generation of every slot of a newly created slab. 0 normally; a value near
    /// [`MAX_GENERATION`] lets tests reach the generation wrap in a few operations.
    pub initial_generation: u32,
    /// Whether `Local`s bias the frees of their own slots (a checked free without a locked
    /// instruction; see `docs/slab.md`, section 3). Default `true`. It takes effect only
    /// where `membarrier` is available and `EBB_SLAB_NO_BIAS` is unset. Turn it off for an
    /// allocator whose objects are mostly freed by threads other than the allocating one
    /// (a producer feeding consumers): each such free of a biased slot costs a
    /// `membarrier` until the producer's `Local` backs off.
    pub biased_frees: bool,
}

impl Default for SlabConfig {
    fn default() -> Self {
        SlabConfig {
            size_classes: DEFAULT_SIZE_CLASSES.to_vec(),
            slab_size: 4096,
            epochs: 128,
            cache_capacity: 32,
            policy: ReclaimPolicy::default_policy(),
            max_slabs: MAX_SLABS,
            initial_generation: 0,
            biased_frees: true,
        }
    }
}

impl SlabConfig {
    /// Checks every constraint above.
    pub fn validate(&self) -> Result<()> {
        if self.size_classes.is_empty() || self.size_classes.len() > 256 {
            return Err(Error::InvalidConfig("need between 1 and 256 size classes"));
        }
        if !self.slab_size.is_power_of_two() || self.slab_size < 4096 {
            return Err(Error::InvalidConfig(
                "slab_size must be a power of two >= 4096",
            ));
        }
        if self.slab_size > 1 << 24 {
            return Err(Error::InvalidConfig("slab_size must be at most 16 MiB"));
        }
        let mut prev = 0;
        for &c in &self.size_classes {
            if c == 0 || c % 8 != 0 {
                return Err(Error::InvalidConfig(
                    "size classes must be non-zero multiples of 8",
                ));
            }
            if c <= prev {
                return Err(Error::InvalidConfig(
                    "size classes must be strictly ascending",
                ));
            }
            if (c as usize) > self.slab_size - HEADER_SIZE {
                return Err(Error::InvalidConfig("a size class does not fit in a slab"));
            }
            prev = c;
        }
        if self.epochs < 2 || !self.epochs.is_power_of_two() {
            return Err(Error::InvalidConfig("epochs must be a power of two >= 2"));
        }
        if self.epochs > MAX_EPOCHS {
            return Err(Error::InvalidConfig("epochs must be at most 2^16"));
        }
        if self.epochs as usize * self.size_classes.len() > MAX_EPOCH_CLASSES {
            return Err(Error::InvalidConfig(
                "epochs x size classes must be at most 2^18 (one list head per pair)",
            ));
        }
        if self.max_slabs == 0 || self.max_slabs > MAX_SLABS {
            return Err(Error::InvalidConfig("max_slabs must be in 1..=2^22"));
        }
        if self.initial_generation > MAX_GENERATION {
            return Err(Error::InvalidConfig(
                "initial_generation exceeds the generation field",
            ));
        }
        Ok(())
    }

    /// Objects per slab for a class of `size` bytes (at most 256, the slot field).
    pub fn capacity_of(&self, size: u32) -> usize {
        ((self.slab_size - HEADER_SIZE) / size as usize).min(MAX_SLOTS)
    }
}

#[cfg(all(test, not(ebb_loom)))]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        let c = SlabConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.capacity_of(64), 63);
        assert_eq!(c.capacity_of(768), 5);
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = |f: fn(&mut SlabConfig)| {
            let mut c = SlabConfig::default();
            f(&mut c);
            assert!(
                matches!(c.validate(), Err(Error::InvalidConfig(_))),
                "{c:?}"
            );
        };
        bad(|c| c.size_classes.clear());
        bad(|c| c.size_classes = vec![64, 64]);
        bad(|c| c.size_classes = vec![60]);
        bad(|c| c.size_classes = vec![8192]);
        bad(|c| c.slab_size = 3000);
        bad(|c| c.slab_size = 2048);
        bad(|c| c.epochs = 1);
        bad(|c| c.epochs = 12);
        bad(|c| c.epochs = 1 << 31);
        bad(|c| c.epochs = MAX_EPOCHS * 2);
        bad(|c| c.epochs = MAX_EPOCHS); // 8 classes: 2^19 pairs
        bad(|c| c.max_slabs = 0);
        bad(|c| c.max_slabs = MAX_SLABS + 1);
        bad(|c| c.initial_generation = MAX_GENERATION + 1);
    }
}
