//! `entropy` (JJ-EXTENDED): byte statistics of a payload sample: the first 256 bytes of TCP or
//! UDP payload in each direction (JoyfulJay's sample).

use super::{Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{ipproto, Packet};

/// Bytes sampled per direction.
const PER_DIRECTION: usize = 256;

/// One direction's sample: its first payload bytes, as they came, counted once when the
/// statistics are taken. The bytes take half the room of their counts: a flow holds its sample
/// until both directions have sent 256 bytes, to its end for most UDP flows.
#[derive(Debug)]
struct Sample {
    bytes: [u8; PER_DIRECTION],
    len: usize,
}

impl Default for Sample {
    fn default() -> Self {
        Self {
            bytes: [0; PER_DIRECTION],
            len: 0,
        }
    }
}

impl Sample {
    fn add(&mut self, payload: &[u8]) {
        let take = payload.len().min(PER_DIRECTION - self.len);
        self.bytes[self.len..self.len + take].copy_from_slice(&payload[..take]);
        self.len += take;
    }

    fn is_full(&self) -> bool {
        self.len == PER_DIRECTION
    }

    fn histogram(&self) -> Histogram {
        Histogram::of(&self.bytes[..self.len])
    }
}

/// Byte-value counts of one direction's sample (counts fit `u16`).
#[derive(Debug)]
struct Histogram {
    counts: [u16; 256],
    total: usize,
}

impl Histogram {
    /// Counts `bytes` (a sample: at most [`PER_DIRECTION`]).
    fn of(bytes: &[u8]) -> Self {
        let mut counts = [0u16; 256];
        for &b in bytes {
            counts[usize::from(b)] += 1;
        }
        Self {
            counts,
            total: bytes.len(),
        }
    }
}

/// One more than the largest count a histogram bin, or a sample, can reach (both directions'
/// samples together).
const COUNTS: usize = 2 * PER_DIRECTION + 1;

/// log2(n) and n * log2(n) for every count below [`COUNTS`], computed once, the same bits as
/// computing them where they are needed.
struct Logs {
    log2: [f64; COUNTS],
    c_log2_c: [f64; COUNTS],
}

fn logs() -> &'static Logs {
    static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let log2 = std::array::from_fn(|n| (n as f64).log2());
        let c_log2_c = std::array::from_fn(|c| if c == 0 { 0.0 } else { c as f64 * log2[c] });
        Logs { log2, c_log2_c }
    })
}

/// c * log2(c) for every count a histogram bin can hold.
fn c_log2_c() -> &'static [f64; COUNTS] {
    &logs().c_log2_c
}

/// Shannon entropy in bits per byte of `total` bytes whose bins sum `sum_c_log2_c`:
/// log2(n) - (1/n) * sum(c * log2(c)).
fn entropy_from(sum_c_log2_c: f64, total: usize) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let n = total as f64;
    let log2_n = logs().log2.get(total).copied().unwrap_or_else(|| n.log2());
    (log2_n - sum_c_log2_c / n).max(0.0)
}

/// Printable ASCII as JoyfulJay counts it: 0x20..=0x7e, tab, line feed, carriage return.
#[cfg(test)]
const fn printable(byte: usize) -> bool {
    (byte >= 0x20 && byte <= 0x7e) || matches!(byte, 0x09 | 0x0a | 0x0d)
}

/// Everything the group reports, from one pass over both histograms.
#[derive(Debug, Default)]
struct SampleStats {
    total: usize,
    fwd_total: usize,
    bwd_total: usize,
    sum_all: f64,
    sum_fwd: f64,
    sum_bwd: f64,
    sum_squared_counts: f64,
    printable: u32,
    nulls: u32,
    high: u32,
}

/// The c·log2(c) sums and squared counts of the bins added so far.
#[derive(Default)]
struct BinSums {
    fwd: f64,
    bwd: f64,
    all: f64,
    squares: usize,
}

/// Bins the non-empty mask is gathered from at a time.
const RUN: usize = 16;

impl BinSums {
    /// Adds every non-empty bin of `fwd` and `bwd` (counts of the same byte values), in order
    /// of byte value. Empty bins add exactly nothing (c·log2(c) is 0), so the sums are the same
    /// bits as adding all 256. One loop walks the set bits of each 64-value word of the mask:
    /// its branch is taken while bins are left, which a predictor follows whether the sample
    /// holds a few byte values or ciphertext's hundreds, and misses four times a flow at most.
    #[inline]
    fn add_filled(&mut self, table: &[f64; COUNTS], fwd: &[u16; 256], bwd: &[u16; 256]) {
        let (f_runs, _) = fwd.as_chunks::<RUN>();
        let (b_runs, _) = bwd.as_chunks::<RUN>();
        let mut filled = [0u64; 256 / 64];
        for (r, (f, b)) in f_runs.iter().zip(b_runs).enumerate() {
            filled[r / 4] |= u64::from(crate::sys::simd::nonzero_lanes16(f, b)) << (16 * (r % 4));
        }
        for (word, mut bits) in filled.into_iter().enumerate() {
            while bits != 0 {
                let i = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                self.add_bin(table, fwd[i & 0xff], bwd[i & 0xff]);
            }
        }
    }

    /// Adds one bin.
    #[inline]
    fn add_bin(&mut self, table: &[f64; COUNTS], f: u16, b: u16) {
        // Counts never exceed the samples; the clamp only spares bounds checks.
        let f = usize::from(f).min(PER_DIRECTION);
        let b = usize::from(b).min(PER_DIRECTION);
        let both = f + b;
        self.fwd += table[f];
        self.bwd += table[b];
        self.all += table[both];
        self.squares += both * both;
    }
}

impl SampleStats {
    fn of(fwd: &Histogram, bwd: &Histogram) -> Self {
        let table = c_log2_c();
        let mut sums = BinSums::default();
        let (f, b) = (&fwd.counts, &bwd.counts);
        sums.add_filled(table, f, b);
        // Bytes of a range of values, both directions (sums the compiler vectorises).
        let bytes = |values: std::ops::Range<usize>| -> u32 {
            f[values.clone()]
                .iter()
                .zip(&b[values])
                .map(|(&f, &b)| u32::from(f) + u32::from(b))
                .sum()
        };
        let both = |byte: usize| u32::from(f[byte]) + u32::from(b[byte]);
        // Printable: 0x20..=0x7e, tab, line feed, carriage return.
        let printable = bytes(0x20..0x7f) + both(0x09) + both(0x0a) + both(0x0d);
        Self {
            total: fwd.total + bwd.total,
            fwd_total: fwd.total,
            bwd_total: bwd.total,
            sum_all: sums.all,
            sum_fwd: sums.fwd,
            sum_bwd: sums.bwd,
            sum_squared_counts: sums.squares as f64,
            printable,
            nulls: both(0),
            high: bytes(0x80..0x100),
        }
    }

    fn share(&self, count: u32) -> f64 {
        if self.total > 0 {
            f64::from(count) / self.total as f64
        } else {
            0.0
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Entropy {
    /// Both directions' samples while they are being taken.
    sample: Option<Box<[Sample; 2]>>,
    /// The sample's statistics, computed once: as soon as both directions' samples are full
    /// (the samples, still in cache, are then freed, and later packets need not look at
    /// them), else when the flow ends. The fingerprint group reads them too.
    stats: Option<SampleStats>,
}

impl Entropy {
    /// The payload sample's size, entropy per byte and share of printable bytes.
    pub(super) fn sample(&mut self) -> (usize, f64, f64) {
        match self.stats() {
            Some(s) => (
                s.total,
                entropy_from(s.sum_all, s.total),
                s.share(s.printable),
            ),
            None => (0, 0.0, 0.0),
        }
    }

    fn stats(&mut self) -> Option<&SampleStats> {
        if self.stats.is_none() {
            let [fwd, bwd] = self.sample.as_deref()?;
            self.stats = Some(SampleStats::of(&fwd.histogram(), &bwd.histogram()));
        }
        self.stats.as_ref()
    }
}

impl Extractor for Entropy {
    const GROUP: Group = Group::Entropy;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        if self.stats.is_some()
            || pkt.payload.is_empty()
            || !matches!(pkt.ip.protocol, ipproto::TCP | ipproto::UDP)
        {
            return;
        }
        let sample = self.sample.get_or_insert_with(Box::default);
        let side = &mut sample[dir as usize];
        if !side.is_full() {
            side.add(pkt.payload);
            let [fwd, bwd] = &**sample;
            if fwd.is_full() && bwd.is_full() {
                self.stats = Some(SampleStats::of(&fwd.histogram(), &bwd.histogram()));
                self.sample = None;
            }
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let Some(s) = self.stats() else {
            for _ in 0..8 {
                out.float(0.0);
            }
            out.int(0);
            return;
        };
        let total = s.total;
        let all = entropy_from(s.sum_all, total);
        let ent_fwd = entropy_from(s.sum_fwd, s.fwd_total);
        let ent_bwd = entropy_from(s.sum_bwd, s.bwd_total);
        out.float(all);
        out.float(ent_fwd);
        out.float(ent_bwd);
        out.float(if ent_bwd > 0.0 {
            ent_fwd / ent_bwd
        } else if ent_fwd > 0.0 {
            f64::INFINITY
        } else {
            0.0
        });
        // 1 minus the squared distance from a uniform histogram, scaled by the sample size
        // squared; only meaningful with at least one byte per value on average.
        // sum((c - e)^2) = sum(c^2) - 2e*n + 256e^2 with e = n/256, that is sum(c^2) - n^2/256.
        let uniformity = if total >= 256 {
            let n = total as f64;
            let variance = s.sum_squared_counts - n * n / 256.0;
            (1.0 - variance / (n * n)).max(0.0)
        } else {
            0.0
        };
        out.float(uniformity);
        out.float(s.share(s.printable));
        out.float(s.share(s.nulls));
        out.float(s.share(s.high));
        out.int(total);
    }

    fn heap_bytes(&self) -> usize {
        self.sample
            .as_ref()
            .map_or(0, |_| std::mem::size_of::<[Sample; 2]>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The histogram of a direction whose payload was `bytes`, sampled as packets are.
    fn sampled(bytes: &[u8]) -> Histogram {
        let mut sample = Sample::default();
        for chunk in bytes.chunks(100) {
            sample.add(chunk);
        }
        sample.histogram()
    }

    proptest::proptest! {
        /// A sample keeps the first 256 bytes of a direction's payload, however the packets cut
        /// it, and its histogram counts each of them once.
        #[test]
        fn a_sample_counts_the_first_bytes_once(
            payload in proptest::collection::vec(proptest::prop_oneof![
                proptest::num::u8::ANY,
                proptest::strategy::Just(0u8),
            ], 0..600),
            cut in 1usize..120,
        ) {
            let mut sample = Sample::default();
            for packet in payload.chunks(cut) {
                if !sample.is_full() {
                    sample.add(packet);
                }
            }
            let kept = &payload[..payload.len().min(PER_DIRECTION)];
            proptest::prop_assert_eq!(sample.is_full(), payload.len() >= PER_DIRECTION);
            let h = sample.histogram();
            proptest::prop_assert_eq!(h.total, kept.len());
            for value in 0..=255u8 {
                let expected = kept.iter().filter(|&&b| b == value).count();
                proptest::prop_assert_eq!(usize::from(h.counts[usize::from(value)]), expected);
            }
        }
    }

    fn entropy(counts: &[usize], total: usize) -> f64 {
        entropy_from(counts.iter().map(|&c| c_log2_c()[c]).sum(), total)
    }

    #[test]
    fn entropy_of_known_distributions() {
        assert_eq!(entropy(&[4, 0, 0], 4), 0.0);
        assert!((entropy(&[1, 1, 1, 1], 4) - 2.0).abs() < 1e-12);
        assert!((entropy(&[1; 256], 256) - 8.0).abs() < 1e-12);
        // Against the textbook sum of -p log2 p on an uneven histogram.
        let counts = [1usize, 7, 30, 2, 200, 16];
        let n: usize = counts.iter().sum();
        let direct: f64 = counts
            .iter()
            .map(|&c| c as f64 / n as f64)
            .map(|p| -p * p.log2())
            .sum();
        assert!((entropy(&counts, n) - direct).abs() < 1e-12);
    }

    proptest::proptest! {
        /// The run-by-run pass gives every statistic its definition's value, and the c·log2(c)
        /// sums the same bits as adding every bin in order, for sparse and dense samples.
        #[test]
        fn statistics_of_any_sample_equal_their_definitions(
            fwd_bytes in proptest::collection::vec(proptest::prop_oneof![
                proptest::num::u8::ANY,
                0x08u8..0x0f,
                0x7du8..0x82,
            ], 0..300),
            bwd_bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let (fwd, bwd) = (sampled(&fwd_bytes), sampled(&bwd_bytes));
            let s = SampleStats::of(&fwd, &bwd);
            let table = c_log2_c();
            let count = |h: &Histogram, i: usize| usize::from(h.counts[i]);
            let (mut sum_fwd, mut sum_bwd, mut sum_all) = (0.0, 0.0, 0.0);
            let (mut squares, mut printable_bytes, mut high) = (0, 0, 0);
            for i in 0..256 {
                let (f, b) = (count(&fwd, i), count(&bwd, i));
                sum_fwd += table[f];
                sum_bwd += table[b];
                sum_all += table[f + b];
                squares += (f + b) * (f + b);
                if printable(i) {
                    printable_bytes += f + b;
                }
                if i >= 0x80 {
                    high += f + b;
                }
            }
            proptest::prop_assert_eq!(s.sum_fwd.to_bits(), sum_fwd.to_bits());
            proptest::prop_assert_eq!(s.sum_bwd.to_bits(), sum_bwd.to_bits());
            proptest::prop_assert_eq!(s.sum_all.to_bits(), sum_all.to_bits());
            proptest::prop_assert_eq!(s.sum_squared_counts, squares as f64);
            proptest::prop_assert_eq!(s.printable as usize, printable_bytes);
            proptest::prop_assert_eq!(s.high as usize, high);
            proptest::prop_assert_eq!(s.nulls as usize, count(&fwd, 0) + count(&bwd, 0));
            proptest::prop_assert_eq!(s.total, fwd.total + bwd.total);
        }
    }

    fn udp(payload: &[u8]) -> Packet<'_> {
        let mut p = Packet {
            payload,
            ..Packet::default()
        };
        p.ip.protocol = ipproto::UDP;
        p
    }

    #[test]
    fn a_full_sample_is_summed_at_once_and_freed() {
        let (ciphertext, text): (Vec<u8>, Vec<u8>) = (
            (0..300u32).map(|i| (i * 7 % 256) as u8).collect(),
            b"GET / HTTP/1.1\r\n".repeat(20),
        );
        let mut e = Entropy::default();
        e.update(&udp(&ciphertext[..100]), Dir::Fwd);
        assert!(e.heap_bytes() > 0 && e.stats.is_none(), "sampling");
        e.update(&udp(&text), Dir::Bwd);
        assert!(e.stats.is_none(), "the forward sample is not full yet");
        e.update(&udp(&ciphertext[100..]), Dir::Fwd);
        assert!(e.stats.is_some(), "summed once both samples are full");
        assert_eq!(e.heap_bytes(), 0, "the samples are freed");
        // Later payload changes nothing.
        let before = e.sample();
        e.update(&udp(&[0; 1000]), Dir::Fwd);
        e.update(&udp(&[0xff; 1000]), Dir::Bwd);
        assert_eq!(e.heap_bytes(), 0);
        let after = e.sample();
        assert_eq!(
            (before.0, before.1.to_bits(), before.2.to_bits()),
            (after.0, after.1.to_bits(), after.2.to_bits())
        );
        // The same as summing the first 256 bytes of each direction when the flow ends.
        let at_end = SampleStats::of(&sampled(&ciphertext), &sampled(&text));
        let early = e.stats.as_ref().unwrap();
        assert_eq!(early.sum_all.to_bits(), at_end.sum_all.to_bits());
        assert_eq!(early.sum_fwd.to_bits(), at_end.sum_fwd.to_bits());
        assert_eq!(early.sum_bwd.to_bits(), at_end.sum_bwd.to_bits());
        assert_eq!(
            (early.total, early.printable, early.nulls, early.high),
            (at_end.total, at_end.printable, at_end.nulls, at_end.high)
        );
    }

    #[test]
    fn one_pass_statistics_match_their_definitions() {
        let payload: Vec<u8> = (0..256u32).map(|i| (i * i % 251) as u8).collect();
        let fwd = sampled(&payload);
        let bwd = sampled(b"\0\0GET / HTTP/1.1\r\n\xff\xfe");
        let s = SampleStats::of(&fwd, &bwd);
        let both: Vec<f64> = (0..256)
            .map(|i| f64::from(fwd.counts[i]) + f64::from(bwd.counts[i]))
            .collect();
        let n = both.iter().sum::<f64>();
        assert_eq!(n as usize, s.total);
        let expected = n / 256.0;
        let variance: f64 = both.iter().map(|c| (c - expected).powi(2)).sum();
        let direct = s.sum_squared_counts - n * n / 256.0;
        assert!((variance - direct).abs() < 1e-9 * variance.max(1.0));
        let printable: f64 = (0..256).filter(|&i| printable(i)).map(|i| both[i]).sum();
        assert_eq!(f64::from(s.printable), printable);
        assert_eq!(f64::from(s.high), both[0x80..].iter().sum::<f64>());
        assert_eq!(f64::from(s.nulls), both[0]);
        // The c·log2(c) sums, bin by bin in the same order.
        let table = c_log2_c();
        let sum = |counts: &mut dyn Iterator<Item = usize>| counts.map(|c| table[c]).sum::<f64>();
        assert_eq!(
            s.sum_fwd,
            sum(&mut fwd.counts.iter().map(|&c| usize::from(c)))
        );
        assert_eq!(
            s.sum_bwd,
            sum(&mut bwd.counts.iter().map(|&c| usize::from(c)))
        );
        assert_eq!(s.sum_all, sum(&mut both.iter().map(|&c| c as usize)));
    }
}
