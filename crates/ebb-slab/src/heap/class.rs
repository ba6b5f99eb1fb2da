//! Size classes of the page heap.
//!
//! Classes 16, 32, 48 and 64, then eight classes per doubling: between `2^k` and
//! `2^(k+1)` the step is `2^(k-3)`, so consecutive classes differ by at most 12.5%
//! above 64 bytes. Between 64 and 128 the step is 8 bytes, so 72, 88, 104 and 120 are
//! multiples of 8 but not 16: they serve only requests whose alignment is at most 8
//! (Rust layouts); a request aligned to 16 or more (every `malloc`) moves up to the next
//! class whose size is a multiple of its alignment. Every power of two is a class, and a
//! page starts at a multiple of its span size, so a block of a class whose size is a
//! multiple of `a` is aligned to `a` (for `a` up to the span's alignment).

/// The number of size classes.
pub const NUM_CLASSES: usize = 4 + 8 * 11;

/// The largest size served from pages; larger requests are mapped on their own.
pub const MAX_CLASS_SIZE: usize = 128 * 1024;

/// Classes up to this size live in single-slice (64 KiB) pages; larger ones in 1 MiB
/// spans.
pub(crate) const MAX_SMALL_SIZE: usize = 8 * 1024;

const fn build_sizes() -> [u32; NUM_CLASSES] {
    let mut s = [0u32; NUM_CLASSES];
    s[0] = 16;
    s[1] = 32;
    s[2] = 48;
    s[3] = 64;
    let mut i = 4;
    let mut k = 6;
    while k < 17 {
        let base = 1u32 << k;
        let step = base >> 3;
        let mut j = 1;
        while j <= 8 {
            s[i] = base + j * step;
            i += 1;
            j += 1;
        }
        k += 1;
    }
    s
}

/// Every class's block size, ascending.
pub(crate) static SIZES: [u32; NUM_CLASSES] = build_sizes();

/// The block size of class `c`.
#[inline]
pub(crate) fn size_of(c: usize) -> usize {
    SIZES[c] as usize
}

/// The smallest class holding `size` bytes (1 ..= MAX_CLASS_SIZE), ignoring alignment.
#[inline]
pub(crate) fn class_for_size(size: usize) -> usize {
    debug_assert!((1..=MAX_CLASS_SIZE).contains(&size));
    if size <= 64 {
        // 1..=16 -> 0, 17..=32 -> 1, 33..=48 -> 2, 49..=64 -> 3
        return (size - 1) >> 4;
    }
    let k = (usize::BITS - 1 - (size - 1).leading_zeros()) as usize; // floor(log2(size-1))
    let step_shift = k - 3;
    let j = (size - (1 << k) + (1 << step_shift) - 1) >> step_shift; // 1..=8
    4 + (k - 6) * 8 + (j - 1)
}

/// The class for a request of `size` bytes aligned to `align` (a power of two), or
/// `None` when it must be mapped on its own.
#[inline]
pub(crate) fn class_for(size: usize, align: usize) -> Option<usize> {
    if size > MAX_CLASS_SIZE {
        return None;
    }
    let size = size.max(1);
    let mut c = class_for_size(size);
    if align <= 8 {
        return Some(c);
    }
    if align == 16 {
        // Only the 8-byte-step classes between 64 and 128 are odd multiples of 8; the
        // next class is a multiple of 16.
        if SIZES[c] & 15 != 0 {
            c += 1;
        }
        return Some(c);
    }
    if align > 64 * 1024 {
        return None;
    }
    while c < NUM_CLASSES {
        if SIZES[c] as usize & (align - 1) == 0 {
            return Some(c);
        }
        c += 1;
    }
    None
}

/// Slices (64 KiB each) in a page of class `c`: 1, or 16 for classes above 8 KiB.
#[inline]
pub(crate) fn slices_of(c: usize) -> usize {
    if size_of(c) <= MAX_SMALL_SIZE { 1 } else { 16 }
}

/// The multiplier that turns an offset into a block index: `(off * m) >> 40` equals
/// `off / size` for every offset below 2^20 (a span) and every size up to 2^18.
pub(crate) fn magic_of(size: usize) -> u64 {
    (1u64 << 40).div_ceil(size as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_ascend_with_bounded_spacing() {
        for c in 1..NUM_CLASSES {
            let (a, b) = (SIZES[c - 1] as usize, SIZES[c] as usize);
            assert!(b > a);
            if a >= 64 {
                assert!((b - a) * 8 <= a, "{a} -> {b} is over 12.5%");
            }
        }
        assert_eq!(SIZES[NUM_CLASSES - 1] as usize, MAX_CLASS_SIZE);
    }

    #[test]
    fn lookup_is_the_smallest_fitting_class() {
        let step = if cfg!(miri) { 97 } else { 1 };
        for size in (1..=MAX_CLASS_SIZE).step_by(step) {
            let c = class_for_size(size);
            assert!(size_of(c) >= size, "{size} -> {}", size_of(c));
            assert!(c == 0 || size_of(c - 1) < size, "{size} not smallest");
        }
    }

    #[test]
    fn aligned_lookup_gives_multiples_of_the_alignment() {
        for shift in 4..=16 {
            let align = 1usize << shift;
            for size in [1, 7, 16, 65, 100, 1000, 5000, 70_000, MAX_CLASS_SIZE] {
                if let Some(c) = class_for(size, align) {
                    assert!(size_of(c) >= size);
                    assert_eq!(size_of(c) % align, 0, "size {size} align {align}");
                }
            }
        }
        assert_eq!(class_for(MAX_CLASS_SIZE + 1, 16), None);
    }

    #[test]
    fn magic_division_is_exact_on_a_span() {
        for c in 0..NUM_CLASSES {
            let s = size_of(c);
            let m = magic_of(s);
            let span = slices_of(c) << 16;
            let mut off = 0;
            let stride = if cfg!(miri) { s * 61 } else { s };
            while off + s <= span {
                for d in [0, 1, s / 2, s - 1] {
                    let o = (off + d) as u64;
                    assert_eq!(((o * m) >> 40) as usize, (off + d) / s);
                }
                off += stride;
            }
        }
    }
}
