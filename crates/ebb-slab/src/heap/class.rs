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
pub(crate) static SIZES: [u32; NUM_CLASSES] = SIZES_CONST;

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

/// Requests up to this size aligned to at most 16 (every `malloc`) find their class in
/// [`SMALL16`] with one load.
pub(crate) const SMALL16_MAX: usize = 1024;

const fn build_small16() -> [u8; SMALL16_MAX / 16 + 1] {
    let mut t = [0u8; SMALL16_MAX / 16 + 1];
    let mut k = 0;
    while k <= SMALL16_MAX / 16 {
        // The smallest class at least `16 * k` bytes (and 1) whose size is a multiple of
        // 16: every size in `16 * (k - 1) + 1 ..= 16 * k` maps to it.
        let want = if k == 0 { 1 } else { 16 * k as u32 };
        let mut c = 0;
        while SIZES_CONST[c] < want || !SIZES_CONST[c].is_multiple_of(16) {
            c += 1;
        }
        t[k] = c as u8;
        k += 1;
    }
    t
}

const SIZES_CONST: [u32; NUM_CLASSES] = build_sizes();

/// The class of a request of up to [`SMALL16_MAX`] bytes aligned to at most 16, indexed
/// by `(size + 15) / 16`.
static SMALL16: [u8; SMALL16_MAX / 16 + 1] = build_small16();

/// The class for a request of `size` bytes aligned to `align` (a power of two), or
/// `None` when it must be mapped on its own.
#[inline]
pub(crate) fn class_for(size: usize, align: usize) -> Option<usize> {
    // The table gives the smallest class that holds `size` and is a multiple of 16: the
    // answer for alignment 16, and for a smaller alignment too except between 65 and
    // 128 bytes, where the 8-byte-step classes (72, 88, 104, 120) may fit better.
    if size <= SMALL16_MAX && align <= 16 && (align == 16 || size <= 64 || size > 128) {
        return Some(SMALL16[(size + 15) >> 4] as usize);
    }
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

/// The largest span a page covers (16 slices of 64 KiB): every offset inside a page is
/// below it.
pub(crate) const MAX_SPAN: usize = 1 << 20;

/// `Some(off / s)` when the block size `s` divides `off`, else `None`, given
/// `m = magic_of(s)` (or `m = 0`, which gives `None` for every offset), for
/// `off < MAX_SPAN` and `s <= 2^18`.
///
/// Write `s * m = 2^40 + e` with `0 <= e < s` (`m` rounds up) and `off = q * s + r`. Then
/// `off * m = q * 2^40 + q * e + r * m`. With `q * s <= off < 2^20` we have
/// `q * e < 2^20`, and `m >= 2^22`. If `r = 0` the part below bit 40 is `q * e < m`. If
/// `r >= 1` it is `q * e + r * m`, at least `m` and, since `r * m <= (s - 1) * m =
/// 2^40 + e - m` and `q * e + e < 2^20 + 2^18 < m`, below `2^40`: no carry reaches the
/// quotient. So the bits above 40 are `q` in both cases and the low bits are below `m`
/// exactly when `r = 0`.
#[inline]
pub(crate) fn split_index(off: u64, m: u64) -> Option<usize> {
    debug_assert!(off < MAX_SPAN as u64);
    let prod = off * m;
    if prod & ((1 << 40) - 1) < m {
        Some((prod >> 40) as usize)
    } else {
        None
    }
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

    #[test]
    fn split_index_accepts_exactly_the_block_starts() {
        // Every offset below MAX_SPAN (not only the class's own span: a checked free
        // bounds the offset by MAX_SPAN and the capacity), every class.
        let step = if cfg!(miri) { 4099 } else { 1 };
        for c in 0..NUM_CLASSES {
            let s = size_of(c);
            let m = magic_of(s);
            for off in (0..MAX_SPAN)
                .step_by(step)
                .chain([MAX_SPAN - 1, MAX_SPAN - s])
            {
                let want = if off % s == 0 { Some(off / s) } else { None };
                assert_eq!(split_index(off as u64, m), want, "size {s} off {off}");
            }
        }
        // An unused descriptor's multiplier refuses everything.
        for off in [0u64, 1, 16, 4096, MAX_SPAN as u64 - 1] {
            assert_eq!(split_index(off, 0), None);
        }
    }

    #[test]
    fn small16_table_agrees_with_the_general_lookup() {
        fn general(size: usize, align: usize) -> usize {
            let mut c = class_for_size(size.max(1));
            while align > 8 && !(SIZES[c] as usize).is_multiple_of(align) {
                c += 1;
            }
            c
        }
        for size in 0..=SMALL16_MAX + 1 {
            for align in [1, 2, 4, 8, 16] {
                assert_eq!(
                    class_for(size, align),
                    Some(general(size, align)),
                    "{size} {align}"
                );
            }
        }
    }
}
