//! The value encodings of our Parquet pages, written by hand because the crate offers them only
//! behind its per-value column writers (see `ChunkEncoder` in `parquet.rs`).
//!
//! Integers use DELTA_BINARY_PACKED: flow counters are small, so the deltas between records
//! pack into a few bits each, and zstd then has an eighth of the bytes to compress. Doubles use
//! BYTE_STREAM_SPLIT: the sign and exponent bytes of measured values repeat where their low
//! mantissa bytes do not, and splitting the bytes into streams lets zstd find that. Both are in
//! the Parquet format and read by pyarrow, DuckDB, polars and Spark.

/// Values per block of DELTA_BINARY_PACKED, and per miniblock.
const BLOCK: usize = 128;
const MINIBLOCK: usize = 32;
const MINIBLOCKS: usize = BLOCK / MINIBLOCK;

/// Appends `v` as an unsigned LEB128 varint.
fn uleb128(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded, as a varint.
fn zigzag(out: &mut Vec<u8>, v: i64) {
    uleb128(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends `values` bit-packed at `width` bits each, least significant bit first: exactly
/// `values.len() * width / 8` bytes for a multiple of eight values.
fn bit_pack(out: &mut Vec<u8>, values: &[u64], width: u32) {
    match width {
        0 => {}
        // Eight values of up to 8 bits fill at most 64 bits, of up to 16 at most 128: one
        // register per eight, and exactly `width` bytes out.
        1..=8 if values.len().is_multiple_of(8) => {
            for group in values.chunks_exact(8) {
                let acc = group
                    .iter()
                    .enumerate()
                    .fold(0u64, |acc, (i, &v)| acc | v << (i as u32 * width));
                out.extend_from_slice(&acc.to_le_bytes()[..width as usize]);
            }
        }
        9..=16 if values.len().is_multiple_of(8) => {
            for group in values.chunks_exact(8) {
                let acc = group.iter().enumerate().fold(0u128, |acc, (i, &v)| {
                    acc | u128::from(v) << (i as u32 * width)
                });
                out.extend_from_slice(&acc.to_le_bytes()[..width as usize]);
            }
        }
        64 => values
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        _ => {
            out.reserve((values.len() * width as usize).div_ceil(8));
            let mut acc = 0u64;
            let mut bits = 0u32;
            for &v in values {
                acc |= v << bits;
                bits += width;
                if bits >= 64 {
                    out.extend_from_slice(&acc.to_le_bytes());
                    bits -= 64;
                    // The bits of `v` that did not fit (none when `bits` is 0, since
                    // `v < 2^width`).
                    acc = v >> (width - bits);
                }
            }
            out.extend_from_slice(&acc.to_le_bytes()[..(bits as usize).div_ceil(8)]);
        }
    }
}

/// Appends `values` (64-bit integers, two's complement) in the DELTA_BINARY_PACKED encoding.
/// Deltas wrap, as the format allows, so any sequence encodes. Returns the smallest and the
/// largest value, read in the same pass, or none for no values.
pub(super) fn delta_binary_packed(out: &mut Vec<u8>, values: &[u64]) -> Option<(i64, i64)> {
    delta_binary_packed_with(crate::sys::Vectors::Avx512, out, values)
}

/// As [`delta_binary_packed`], compiled for `vectors` (or narrower where the processor lacks
/// them). The passes over a block's deltas (bounds, offsets, widths) run in 64-bit lanes: with
/// AVX2 in about half the instructions of the baseline build; AVX-512's minimum and maximum of
/// 64-bit lanes are one instruction each, where AVX2 takes a compare and a blend (measured in
/// `docs/benchmarks.md`).
fn delta_binary_packed_with(
    vectors: crate::sys::Vectors,
    out: &mut Vec<u8>,
    values: &[u64],
) -> Option<(i64, i64)> {
    crate::sys::with_vectors(
        vectors,
        #[inline(always)]
        || delta_binary_packed_as_built(out, values),
    )
}

#[inline(always)]
fn delta_binary_packed_as_built(out: &mut Vec<u8>, values: &[u64]) -> Option<(i64, i64)> {
    uleb128(out, BLOCK as u64);
    uleb128(out, MINIBLOCKS as u64);
    uleb128(out, values.len() as u64);
    let Some((&first, _)) = values.split_first() else {
        zigzag(out, 0);
        return None;
    };
    zigzag(out, first as i64);
    let (mut smallest, mut largest) = (first as i64, first as i64);
    let mut deltas = [0u64; BLOCK];
    // Each block's values with the one before it: the deltas are independent of each other.
    for start in (1..values.len()).step_by(BLOCK) {
        let span = &values[start - 1..(start + BLOCK).min(values.len())];
        let n = span.len() - 1;
        let (mut low, mut high) = (i64::MAX, i64::MIN);
        for (d, pair) in deltas.iter_mut().zip(span.windows(2)) {
            let delta = pair[1].wrapping_sub(pair[0]);
            *d = delta;
            low = low.min(delta as i64);
            high = high.max(delta as i64);
            smallest = smallest.min(pair[1] as i64);
            largest = largest.max(pair[1] as i64);
        }
        zigzag(out, low);
        if low == high {
            // One repeated step (most often a column that stays at zero): four zero widths
            // and nothing to pack.
            out.extend_from_slice(&[0; MINIBLOCKS]);
            continue;
        }
        let used = n.div_ceil(MINIBLOCK);
        // Padding of the last miniblock packs as zero: it holds the minimum, taken off below.
        deltas[n..used * MINIBLOCK].fill(low as u64);
        let mut widths = [0u8; MINIBLOCKS];
        for (width, mini) in widths
            .iter_mut()
            .zip(deltas[..used * MINIBLOCK].chunks_exact_mut(MINIBLOCK))
        {
            let mut bits = 0;
            for d in mini {
                *d = d.wrapping_sub(low as u64);
                bits |= *d;
            }
            *width = (64 - bits.leading_zeros()) as u8;
        }
        out.extend_from_slice(&widths);
        for (m, &width) in widths.iter().enumerate().take(used) {
            bit_pack(
                out,
                &deltas[m * MINIBLOCK..(m + 1) * MINIBLOCK],
                u32::from(width),
            );
        }
    }
    Some((smallest, largest))
}

/// Transposes an 8×8 matrix of bytes whose rows are the words' little-endian bytes: swaps
/// 4-byte, then 2-byte, then 1-byte blocks across the diagonal.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn transpose_bytes(r: &mut [u64; 8]) {
    #[inline(always)]
    fn swap(r: &mut [u64; 8], a: usize, b: usize, shift: u32, mask: u64) {
        let t = ((r[a] >> shift) ^ r[b]) & mask;
        r[b] ^= t;
        r[a] ^= t << shift;
    }
    const HALVES: u64 = 0x0000_0000_ffff_ffff;
    const QUARTERS: u64 = 0x0000_ffff_0000_ffff;
    const BYTES: u64 = 0x00ff_00ff_00ff_00ff;
    swap(r, 0, 4, 32, HALVES);
    swap(r, 1, 5, 32, HALVES);
    swap(r, 2, 6, 32, HALVES);
    swap(r, 3, 7, 32, HALVES);
    swap(r, 0, 2, 16, QUARTERS);
    swap(r, 1, 3, 16, QUARTERS);
    swap(r, 4, 6, 16, QUARTERS);
    swap(r, 5, 7, 16, QUARTERS);
    swap(r, 0, 1, 8, BYTES);
    swap(r, 2, 3, 8, BYTES);
    swap(r, 4, 5, 8, BYTES);
    swap(r, 6, 7, 8, BYTES);
}

/// Values split per step: sixteen (eight 16-byte registers) with SSE2, which every x86_64
/// processor has; eight (one 8×8 byte matrix in general registers) elsewhere.
#[cfg(target_arch = "x86_64")]
const SPLIT_BLOCK: usize = 16;
#[cfg(not(target_arch = "x86_64"))]
const SPLIT_BLOCK: usize = 8;

/// Byte `b` of every value of `block`, for each `b`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn split_block(block: &[u64; SPLIT_BLOCK]) -> [[u8; SPLIT_BLOCK]; 8] {
    crate::sys::simd::split16(block)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn split_block(block: &[u64; SPLIT_BLOCK]) -> [[u8; SPLIT_BLOCK]; 8] {
    let mut rows = *block;
    transpose_bytes(&mut rows);
    rows.map(u64::to_le_bytes)
}

/// Writes `values` (the bits of doubles) over `out` in the BYTE_STREAM_SPLIT encoding: the
/// first bytes of every value, then the second bytes, and so on. `out` becomes exactly that
/// long; every byte is written, so a buffer already that long is not zeroed first (a column
/// chunk's zeroing would cost a third of its split).
pub(super) fn byte_stream_split(out: &mut Vec<u8>, values: &[u64]) {
    let n = values.len();
    out.resize(n * 8, 0);
    let streams = &mut out[..];
    // A block of values at a time, transposed in registers (see `split_block`).
    let (blocks, _) = values.as_chunks::<SPLIT_BLOCK>();
    let whole = blocks.len() * SPLIT_BLOCK;
    // Each stream's groups of bytes, one per block: eight slices of the blocks' count, in an
    // array, so that the loop below writes through them without checking how many there are
    // (each write's index is always inside its slice).
    let mut streams_left = streams.chunks_exact_mut(n.max(1));
    let mut lanes: [&mut [[u8; SPLIT_BLOCK]]; 8] = std::array::from_fn(|_| {
        let stream = streams_left.next().unwrap_or_default();
        let groups = stream.as_chunks_mut::<SPLIT_BLOCK>().0;
        let len = groups.len().min(blocks.len());
        &mut groups[..len]
    });
    for (k, block) in blocks.iter().enumerate() {
        for (lane, bytes) in lanes.iter_mut().zip(split_block(block)) {
            if let Some(group) = lane.get_mut(k) {
                *group = bytes;
            }
        }
    }
    for (i, v) in values.iter().enumerate().skip(whole) {
        for (b, byte) in v.to_le_bytes().into_iter().enumerate() {
            streams[b * n + i] = byte;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::sys::Vectors;

    /// Reads a varint at `*at`.
    fn read_uleb(bytes: &[u8], at: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = bytes[*at];
            *at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }

    fn read_zigzag(bytes: &[u8], at: &mut usize) -> i64 {
        let v = read_uleb(bytes, at);
        ((v >> 1) as i64) ^ -((v & 1) as i64)
    }

    /// A DELTA_BINARY_PACKED decoder written from the format's description, to check ours
    /// against; also returns how many bytes it read.
    fn decode_delta(bytes: &[u8]) -> (Vec<i64>, usize) {
        let mut at = 0;
        let block = read_uleb(bytes, &mut at) as usize;
        let minis = read_uleb(bytes, &mut at) as usize;
        let total = read_uleb(bytes, &mut at) as usize;
        let first = read_zigzag(bytes, &mut at);
        let per_mini = block / minis;
        let mut out = Vec::with_capacity(total);
        if total == 0 {
            return (out, at);
        }
        out.push(first);
        while out.len() < total {
            let min = read_zigzag(bytes, &mut at);
            let widths: Vec<usize> = bytes[at..at + minis].iter().map(|&w| w as usize).collect();
            at += minis;
            for width in widths {
                if out.len() == total {
                    break;
                }
                let mut bit = 0usize;
                for _ in 0..per_mini {
                    let mut v = 0u64;
                    for k in 0..width {
                        let pos = bit + k;
                        v |= u64::from(bytes[at + pos / 8] >> (pos % 8) & 1) << k;
                    }
                    bit += width;
                    if out.len() < total {
                        let previous = *out.last().unwrap();
                        out.push(previous.wrapping_add(min).wrapping_add(v as i64));
                    }
                }
                at += per_mini * width / 8;
            }
        }
        (out, at)
    }

    fn words(values: &[i64]) -> Vec<u64> {
        values.iter().map(|&v| v as u64).collect()
    }

    fn naive_split(values: &[u64]) -> Vec<u8> {
        let n = values.len();
        let mut out = vec![0; n * 8];
        for (i, v) in values.iter().enumerate() {
            for (b, byte) in v.to_le_bytes().into_iter().enumerate() {
                out[b * n + i] = byte;
            }
        }
        out
    }

    #[test]
    fn byte_stream_split_of_every_length() {
        for n in 0..70 {
            let values: Vec<u64> = (0..n)
                .map(|i| 0x0102_0304_0506_0708_u64.wrapping_mul(i + 1) ^ i << 56)
                .collect();
            // Left over from a longer column: every byte is overwritten.
            let mut out = vec![9; 400];
            byte_stream_split(&mut out, &values);
            assert_eq!(out, naive_split(&values), "{n} values");
        }
    }

    proptest! {
        #[test]
        fn byte_stream_split_of_any_values(values in prop::collection::vec(any::<u64>(), 0..300)) {
            let mut out = Vec::new();
            byte_stream_split(&mut out, &values);
            prop_assert_eq!(out, naive_split(&values));
        }
    }

    #[test]
    fn delta_packing_of_every_width() {
        for width in 0..=64u32 {
            for n in [0usize, 1, 2, 31, 32, 33, 128, 129, 300, 1000] {
                let top = if width == 64 {
                    u64::MAX
                } else {
                    (1u64 << width) - 1
                };
                let values: Vec<i64> = (0..n as u64)
                    .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) & top) as i64)
                    .collect();
                let mut out = Vec::new();
                delta_binary_packed(&mut out, &words(&values));
                let (back, used) = decode_delta(&out);
                assert_eq!(back, values, "width {width}, {n} values");
                assert_eq!(used, out.len(), "width {width}, {n} values: trailing bytes");
            }
        }
    }

    proptest! {
        #[test]
        fn delta_packing_round_trips(values in prop::collection::vec(any::<i64>(), 0..700)) {
            let mut out = Vec::new();
            let bounds = delta_binary_packed(&mut out, &words(&values));
            // Every build this processor runs writes the same bytes.
            for vectors in [Vectors::Baseline, Vectors::Avx2, Vectors::Avx512] {
                if vectors > Vectors::widest() {
                    continue;
                }
                let mut built = Vec::new();
                prop_assert_eq!(
                    delta_binary_packed_with(vectors, &mut built, &words(&values)),
                    bounds,
                    "{:?}",
                    vectors
                );
                prop_assert_eq!(&built, &out, "{:?}", vectors);
            }
            let expected = values.iter().min().copied().zip(values.iter().max().copied());
            prop_assert_eq!(bounds, expected);
            prop_assert_eq!(decode_delta(&out).0, values);
        }

        #[test]
        fn small_deltas_pack_small(start in any::<i64>(), steps in prop::collection::vec(0i64..16, 1..500)) {
            let values: Vec<i64> = steps.iter().scan(start, |v, s| { *v = v.wrapping_add(*s); Some(*v) }).collect();
            let mut out = Vec::new();
            delta_binary_packed(&mut out, &words(&values));
            prop_assert_eq!(decode_delta(&out).0, values.clone());
            // At most 4 bits per delta, plus headers.
            prop_assert!(out.len() <= 40 + values.len() / 2 + values.len() / 128 * 16);
        }

        /// Runs of one repeated step (zeros, constants, counters) between other values, so
        /// that whole blocks of one step, and blocks that only start or end as one, occur.
        #[test]
        fn repeated_steps_round_trip(runs in prop::collection::vec((any::<i64>(), prop_oneof![Just(0i64), Just(1), any::<i64>()], 1usize..300), 1..6)) {
            let mut values = Vec::new();
            for (start, step, len) in runs {
                values.extend((0..len as i64).map(|i| start.wrapping_add(step.wrapping_mul(i))));
            }
            let mut out = Vec::new();
            delta_binary_packed(&mut out, &words(&values));
            prop_assert_eq!(decode_delta(&out).0, values);
        }
    }
}
