//! Non-temporal stores for the Parquet encoder's column buffers. A row group's buffers are
//! written once, a cache line per column at a time, and read back only when the row group is
//! encoded, often on another core: ordinary stores first read every line in from memory and
//! push the caches' useful lines out. Streaming stores write whole lines without reading them.

/// Writes `words` over `out`, streaming past the caches where the platform can. Call
/// [`stream_fence`] before another thread reads what was written.
#[inline]
pub fn stream_line(out: &mut [u64; 8], words: [u64; 8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::_mm_stream_si64;
        let base = out.as_mut_ptr().cast::<i64>();
        for (i, &word) in words.iter().enumerate() {
            // SAFETY: `base` points at `out`, eight writable words borrowed exclusively here and
            // aligned as `u64` (and so `i64`) must be, so `base + i` (i < 8) lies inside it.
            // `movnti` is SSE2, which every x86_64 processor has.
            unsafe { _mm_stream_si64(base.add(i), word as i64) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        *out = words;
    }
}

/// Orders every streaming store made so far before the stores that follow (on x86_64 they are
/// weakly ordered): a buffer handed to another thread after this holds what was streamed into it.
#[inline]
pub fn stream_fence() {
    // SAFETY: `sfence` only orders stores; it is SSE, which every x86_64 processor has.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_mm_sfence();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_lines_read_back_wherever_they_start() {
        let mut buffer = vec![0u64; 8 * 4 + 1];
        for start in [0, 1, 8, 17] {
            let words: [u64; 8] = core::array::from_fn(|i| (start * 100 + i) as u64 | 1 << 63);
            let out: &mut [u64; 8] = (&mut buffer[start..start + 8]).try_into().unwrap();
            stream_line(out, words);
            stream_fence();
            assert_eq!(buffer[start..start + 8], words);
        }
    }
}
