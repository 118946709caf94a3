//! `entropy` (JJ-EXTENDED): byte statistics of a payload sample: the first 256 bytes of TCP or
//! UDP payload in each direction (JoyfulJay's sample).

use super::{Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{ipproto, Packet};

/// Bytes sampled per direction.
const PER_DIRECTION: usize = 256;

/// Byte-value counts of one direction's sample (counts fit `u16`).
#[derive(Debug)]
struct Histogram {
    counts: [u16; 256],
    total: usize,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: [0; 256],
            total: 0,
        }
    }
}

impl Histogram {
    fn add(&mut self, payload: &[u8]) {
        let take = payload.len().min(PER_DIRECTION - self.total);
        for &b in &payload[..take] {
            self.counts[usize::from(b)] += 1;
        }
        self.total += take;
    }
}

/// Shannon entropy in bits per byte of the counts.
fn entropy(counts: impl Iterator<Item = u32>, total: usize) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let n = total as f64;
    counts
        .filter(|&c| c > 0)
        .map(|c| f64::from(c) / n)
        .map(|p| -p * p.log2())
        .sum()
}

#[derive(Debug, Default)]
pub(super) struct Entropy {
    sample: Option<Box<[Histogram; 2]>>,
}

impl Entropy {
    /// The payload sample's size, entropy per byte and share of printable bytes.
    pub(super) fn sample(&self) -> (usize, f64, f64) {
        let Some([fwd, bwd]) = self.sample.as_deref() else {
            return (0, 0.0, 0.0);
        };
        let total = fwd.total + bwd.total;
        let both = |i: usize| u32::from(fwd.counts[i]) + u32::from(bwd.counts[i]);
        let printable: u32 = (0x20..=0x7e).chain([0x09, 0x0a, 0x0d]).map(both).sum();
        let share = if total > 0 {
            f64::from(printable) / total as f64
        } else {
            0.0
        };
        (total, entropy((0..256).map(both), total), share)
    }
}

impl Extractor for Entropy {
    const GROUP: Group = Group::Entropy;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        if pkt.payload.is_empty() || !matches!(pkt.ip.protocol, ipproto::TCP | ipproto::UDP) {
            return;
        }
        let side = &mut self.sample.get_or_insert_with(Box::default)[dir as usize];
        if side.total < PER_DIRECTION {
            side.add(pkt.payload);
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let Some(s) = self.sample.as_deref() else {
            for _ in 0..8 {
                out.float(0.0);
            }
            out.int(0);
            return;
        };
        let [fwd, bwd] = s;
        let total = fwd.total + bwd.total;
        let both = |i: usize| u32::from(fwd.counts[i]) + u32::from(bwd.counts[i]);
        let all = entropy((0..256).map(both), total);
        let ent_fwd = entropy(fwd.counts.iter().map(|&c| u32::from(c)), fwd.total);
        let ent_bwd = entropy(bwd.counts.iter().map(|&c| u32::from(c)), bwd.total);
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
        let uniformity = if total >= 256 {
            let expected = total as f64 / 256.0;
            let variance: f64 = (0..256)
                .map(|i| (f64::from(both(i)) - expected).powi(2))
                .sum();
            (1.0 - variance / (total as f64 * total as f64)).max(0.0)
        } else {
            0.0
        };
        out.float(uniformity);
        let count = |range: &mut dyn Iterator<Item = usize>| {
            range.map(both).map(u64::from).sum::<u64>() as f64
        };
        let printable = count(&mut (0x20..=0x7e).chain([0x09, 0x0a, 0x0d]));
        let nulls = count(&mut std::iter::once(0));
        let high = count(&mut (0x80..=0xff));
        let t = total.max(1) as f64;
        out.float(if total > 0 { printable / t } else { 0.0 });
        out.float(if total > 0 { nulls / t } else { 0.0 });
        out.float(if total > 0 { high / t } else { 0.0 });
        out.int(total);
    }

    fn heap_bytes(&self) -> usize {
        self.sample
            .as_ref()
            .map_or(0, |_| std::mem::size_of::<[Histogram; 2]>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_known_distributions() {
        assert_eq!(entropy([4u32, 0, 0].into_iter(), 4), 0.0);
        assert!((entropy([1u32, 1, 1, 1].into_iter(), 4) - 2.0).abs() < 1e-12);
        assert!((entropy(std::iter::repeat_n(1u32, 256), 256) - 8.0).abs() < 1e-12);
    }
}
