//! A byte transpose in SSE2 registers for the Parquet encoder's BYTE_STREAM_SPLIT pages, the
//! non-empty bins of two histograms for the entropy group, and the running bounds of moments. The intrinsics are `unsafe` to call
//! from a function not compiled for SSE2 by attribute, though every x86_64 processor has SSE2.

use core::arch::x86_64::{
    __m128i, _mm_cmpeq_epi16, _mm_cvtsd_f64, _mm_loadu_si128, _mm_max_sd, _mm_min_sd,
    _mm_movemask_epi8, _mm_or_si128, _mm_packs_epi16, _mm_set_sd, _mm_setzero_si128,
    _mm_storeu_si128, _mm_unpackhi_epi8, _mm_unpacklo_epi8,
};

/// `a` if it is below `b`, else `b` (so `b` when either is NaN): one `minsd`. Written as a
/// comparison, the running bounds of a stream compile to a branch, or to a packed compare and
/// blend of both bounds that takes five times the instructions.
#[inline]
#[must_use]
pub fn min_or_second(a: f64, b: f64) -> f64 {
    // SAFETY: SSE2 is part of x86_64, so the intrinsics run on every processor this code is
    // built for; they only read and write registers.
    unsafe { _mm_cvtsd_f64(_mm_min_sd(_mm_set_sd(a), _mm_set_sd(b))) }
}

/// `a` if it is above `b`, else `b` (so `b` when either is NaN): one `maxsd`.
#[inline]
#[must_use]
pub fn max_or_second(a: f64, b: f64) -> f64 {
    // SAFETY: as in `min_or_second`.
    unsafe { _mm_cvtsd_f64(_mm_max_sd(_mm_set_sd(a), _mm_set_sd(b))) }
}

/// Bit `i` set where `a[i]` or `b[i]` is not zero.
#[inline]
#[must_use]
pub fn nonzero_lanes16(a: &[u16; 16], b: &[u16; 16]) -> u32 {
    let (a, b) = (a.as_ptr().cast::<__m128i>(), b.as_ptr().cast::<__m128i>());
    // SAFETY: SSE2 is part of x86_64, so the intrinsics run on every processor this code is
    // built for. Each array is 32 bytes: the loads read bytes 0..16 and 16..32 of each, and
    // `loadu` needs no alignment.
    let zero_lanes = unsafe {
        let zero = _mm_setzero_si128();
        let low = _mm_or_si128(_mm_loadu_si128(a), _mm_loadu_si128(b));
        let high = _mm_or_si128(_mm_loadu_si128(a.add(1)), _mm_loadu_si128(b.add(1)));
        // Lanes equal to zero become -1, the rest 0; packing keeps -1 and 0 as bytes.
        let bytes = _mm_packs_epi16(_mm_cmpeq_epi16(low, zero), _mm_cmpeq_epi16(high, zero));
        _mm_movemask_epi8(bytes) as u32
    };
    !zero_lanes & 0xffff
}

/// Byte `b` of each of the sixteen values, for each `b`: the transpose of the values' bytes.
///
/// Register `r` starts with values `2r` and `2r + 1`, so a byte's place, as the register's
/// 3 bits then the lane's 4, reads (value bits 3–1 | value bit 0, byte bits 2–0). Interleaving
/// the bytes of registers `i` and `i + 4` (the low halves into register `2i`, the high halves
/// into `2i + 1`) rotates that 7-bit place left by one; four rounds rotate it by four, to
/// (byte bits | value bits): register `b` then holds byte `b` of the sixteen values in order.
#[inline]
#[must_use]
pub fn split16(block: &[u64; 16]) -> [[u8; 16]; 8] {
    let base = block.as_ptr().cast::<__m128i>();
    // SAFETY: SSE2 is part of x86_64, so the intrinsics run on every processor this code is
    // built for. Register `r` loads bytes 16r..16r+16 of `block` (r < 8), inside its 128
    // bytes; `loadu` needs no alignment.
    let mut x: [__m128i; 8] = std::array::from_fn(|r| unsafe { _mm_loadu_si128(base.add(r)) });
    for _ in 0..4 {
        x = std::array::from_fn(|o| {
            let (p, q) = (x[o / 2], x[o / 2 + 4]);
            // SAFETY: SSE2 is part of x86_64 (as above); the unpacks only read registers.
            unsafe {
                if o % 2 == 0 {
                    _mm_unpacklo_epi8(p, q)
                } else {
                    _mm_unpackhi_epi8(p, q)
                }
            }
        });
    }
    let mut out = [[0u8; 16]; 8];
    for (stream, register) in out.iter_mut().zip(x) {
        // SAFETY: SSE2 is part of x86_64 (as above); `stream` is 16 writable bytes borrowed
        // exclusively here, and `storeu` needs no alignment.
        unsafe { _mm_storeu_si128(stream.as_mut_ptr().cast::<__m128i>(), register) };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The bounds are the comparisons they replace, bit for bit: signed zeros keep the
        /// second operand, and a NaN on either side gives the second.
        #[test]
        fn bounds_equal_the_comparisons(a in proptest::num::f64::ANY, b in proptest::num::f64::ANY) {
            let below = if a < b { a } else { b };
            let above = if a > b { a } else { b };
            proptest::prop_assert_eq!(min_or_second(a, b).to_bits(), below.to_bits());
            proptest::prop_assert_eq!(max_or_second(a, b).to_bits(), above.to_bits());
        }
    }

    #[test]
    fn bounds_of_signed_zeros_and_nan_keep_the_second() {
        assert_eq!(min_or_second(-0.0, 0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(max_or_second(0.0, -0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(min_or_second(f64::NAN, 1.0), 1.0);
        assert!(max_or_second(1.0, f64::NAN).is_nan());
    }

    #[test]
    fn nonzero_lanes_of_every_single_lane_and_extremes() {
        let zero = [0u16; 16];
        assert_eq!(nonzero_lanes16(&zero, &zero), 0);
        for i in 0..16 {
            for v in [1, 0x7fff, 0x8000, 0xffff] {
                let mut one = zero;
                one[i] = v;
                assert_eq!(nonzero_lanes16(&one, &zero), 1 << i);
                assert_eq!(nonzero_lanes16(&zero, &one), 1 << i);
            }
        }
        let full = [0xffff; 16];
        assert_eq!(nonzero_lanes16(&full, &zero), 0xffff);
    }

    #[test]
    fn every_byte_lands_in_its_stream() {
        let block: [u64; 16] = std::array::from_fn(|k| {
            u64::from_le_bytes(std::array::from_fn(|b| (k * 16 + b) as u8))
        });
        let out = split16(&block);
        for (b, stream) in out.iter().enumerate() {
            for (k, &byte) in stream.iter().enumerate() {
                assert_eq!(byte, (k * 16 + b) as u8, "byte {b} of value {k}");
            }
        }
    }
}
