//! `size`: IP lengths and transport payload lengths, overall and per direction.

use rustc_hash::FxHashMap;

use super::stats::{Moments, Quantiles};
use super::{share, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::Packet;

/// Distinct IP lengths counted for `dominant_pkt_size`; lengths first seen after this many
/// distinct ones are not counted (a flow would need thousands of distinct sizes to reach it).
const MAX_DISTINCT_SIZES: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct Size {
    len: [Moments; 2],
    len_q: [Quantiles; 2],
    payload: [Moments; 2],
    with_payload: [u64; 2],
    l7_min: [u32; 2],
    l7_max: [u32; 2],
    size_counts: SizeCounts,
}

/// Packets per IP length, for `dominant_pkt_size`.
#[derive(Debug, Default)]
struct SizeCounts {
    /// (IP length, packets), in order of first appearance.
    seen: Vec<(u32, u64)>,
    /// Where each length sits in `seen`, once there are too many to look through.
    index: Option<FxHashMap<u32, u32>>,
}

/// Distinct lengths looked through one by one: most flows have a handful, and a short search
/// costs less than hashing.
const SEARCHED_SIZES: usize = 32;

impl SizeCounts {
    #[inline]
    fn add(&mut self, len: u32) {
        let at = match &self.index {
            None => self.seen.iter().position(|&(size, _)| size == len),
            Some(index) => index.get(&len).map(|&i| i as usize),
        };
        if let Some(i) = at {
            self.seen[i].1 += 1;
            return;
        }
        if self.seen.len() >= MAX_DISTINCT_SIZES {
            return;
        }
        if let Some(index) = &mut self.index {
            index.insert(len, self.seen.len() as u32);
        }
        self.seen.push((len, 1));
        if self.index.is_none() && self.seen.len() > SEARCHED_SIZES {
            self.index = Some(
                self.seen
                    .iter()
                    .enumerate()
                    .map(|(i, &(size, _))| (size, i as u32))
                    .collect(),
            );
        }
    }

    /// The most frequent length and its count; of equally frequent ones, the first seen.
    fn dominant(&self) -> (u32, u64) {
        self.seen.iter().fold(
            (0, 0),
            |best, &(size, n)| if n > best.1 { (size, n) } else { best },
        )
    }

    fn heap_bytes(&self) -> usize {
        self.seen.capacity() * 16 + self.index.as_ref().map_or(0, |i| i.capacity() * 8)
    }
}

impl Extractor for Size {
    const GROUP: Group = Group::Size;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let d = dir as usize;
        let len = pkt.ip.total_len;
        self.len[d].push(f64::from(len));
        self.len_q[d].push(f64::from(len));
        let payload = pkt.payload_len();
        self.payload[d].push(f64::from(payload));
        if payload > 0 {
            self.with_payload[d] += 1;
            self.l7_min[d] = if self.l7_min[d] == 0 {
                payload
            } else {
                self.l7_min[d].min(payload)
            };
            self.l7_max[d] = self.l7_max[d].max(payload);
        }
        self.size_counts.add(len);
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let all = Moments::merge(&self.len[0], &self.len[1]);
        let [fwd_q, bwd_q] = &mut self.len_q;
        let mut all_q = Quantiles::merged(fwd_q, bwd_q);
        let [p25, median, p75, p90] = all_q.percentiles([25.0, 50.0, 75.0, 90.0]);
        out.float(all.min());
        out.float(all.max());
        out.float(all.mean());
        out.float(all.std());
        out.float(median);
        out.float(p25);
        out.float(p75);
        out.float(p90);
        for d in 0..2 {
            let m = &self.len[d];
            let [med] = self.len_q[d].percentiles([50.0]);
            out.float(m.min());
            out.float(m.max());
            out.float(m.mean());
            out.float(m.std());
            out.float(med);
        }
        let payload = Moments::merge(&self.payload[0], &self.payload[1]);
        out.float(payload.min());
        out.float(payload.max());
        out.float(payload.mean());
        out.float(payload.std());
        for d in 0..2 {
            out.float(self.payload[d].mean());
            out.float(self.payload[d].std());
        }
        let [wf, wb] = self.with_payload;
        let packets = all.count();
        out.int(wf + wb);
        out.int(wf);
        out.int(wb);
        out.float(if packets > 0 {
            (packets - wf - wb) as f64 / packets as f64
        } else {
            0.0
        });
        out.float(if packets > 1 { all.variance() } else { 0.0 });
        let dominant = self.size_counts.dominant();
        out.int(dominant.0);
        out.float(share(dominant.1 as f64, packets as f64));
        let l7 = [self.payload[0].sum() as u64, self.payload[1].sum() as u64];
        out.int(l7[0]);
        out.int(l7[1]);
        out.int(l7[0] + l7[1]);
        out.int(self.l7_min[0]);
        out.int(self.l7_max[0]);
        out.int(self.l7_min[1]);
        out.int(self.l7_max[1]);
        let (pf, pb) = (self.len[0].count() as f64, self.len[1].count() as f64);
        out.float(if pf + pb > 0.0 {
            (pf - pb) / (pf + pb)
        } else {
            0.0
        });
        let (bf, bb) = (self.len[0].sum(), self.len[1].sum());
        out.float(if bf + bb > 0.0 {
            (bf - bb) / (bf + bb)
        } else {
            0.0
        });
    }

    fn heap_bytes(&self) -> usize {
        self.len_q.iter().map(Quantiles::heap_bytes).sum::<usize>() + self.size_counts.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The counts agree with a map of every length, the first-seen length winning ties,
        /// below and past the point where lengths are indexed, up to the cap.
        #[test]
        fn dominant_length_is_the_most_frequent_first_seen(
            lens in prop::collection::vec(prop_oneof![0u32..8, 0u32..200, 0u32..6000], 0..6000),
        ) {
            let mut counts = SizeCounts::default();
            let mut reference: Vec<(u32, u64)> = Vec::new();
            for &len in &lens {
                counts.add(len);
                if let Some(entry) = reference.iter_mut().find(|(size, _)| *size == len) {
                    entry.1 += 1;
                } else if reference.len() < MAX_DISTINCT_SIZES {
                    reference.push((len, 1));
                }
            }
            let mut want = (0, 0);
            for &(size, n) in &reference {
                if n > want.1 {
                    want = (size, n);
                }
            }
            prop_assert_eq!(counts.dominant(), want);
            prop_assert_eq!(counts.seen, reference);
        }
    }
}
