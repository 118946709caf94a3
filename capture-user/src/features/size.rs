//! `size`: IP lengths and transport payload lengths, overall and per direction.

use super::stats::{LengthCounts, Moments, Quantiles};
use super::{share, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::Packet;

#[derive(Debug, Default)]
pub(super) struct Size {
    len: [Moments; 2],
    payload: [Moments; 2],
    with_payload: [u64; 2],
    l7_min: [u32; 2],
    l7_max: [u32; 2],
    /// Packets per IP length and direction: the dominant length, and the length percentiles
    /// exactly.
    size_counts: LengthCounts,
    /// The length percentiles of a flow with more distinct lengths than `size_counts` keeps:
    /// every packet from the first one turned away on, the earlier ones from their counts.
    sketched: Option<Box<[Quantiles; 2]>>,
}

impl Size {
    /// Moments of every packet's IP length, both directions.
    pub(super) fn length_moments(&self) -> Moments {
        Moments::merge(&self.len[0], &self.len[1])
    }

    /// The largest IP length from `dir` (0 when it sent nothing).
    pub(super) fn largest(&self, dir: Dir) -> f64 {
        self.len[dir as usize].max()
    }

    /// Packets per IP length and direction.
    pub(super) fn length_counts(&self) -> &LengthCounts {
        &self.size_counts
    }
}

impl Extractor for Size {
    const GROUP: Group = Group::Size;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let d = dir as usize;
        let len = pkt.ip.total_len;
        self.len[d].push(f64::from(len));
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
        let counted = self.size_counts.add(len, dir);
        match &mut self.sketched {
            Some(sketched) => sketched[d].push(f64::from(len)),
            None if !counted => {
                let counts = &self.size_counts;
                let mut sketched = Box::new([Dir::Fwd, Dir::Bwd].map(|side| {
                    let s = side as usize;
                    Quantiles::sketch_of(counts.iter().map(|(size, n)| (f64::from(size), n[s])))
                }));
                sketched[d].push(f64::from(len));
                self.sketched = Some(sketched);
            }
            None => {}
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let all = Moments::merge(&self.len[0], &self.len[1]);
        const BOTH: [f64; 4] = [25.0, 50.0, 75.0, 90.0];
        let ([p25, median, p75, p90], medians) = match &mut self.sketched {
            None => {
                let sorted = self.size_counts.sorted();
                let [fwd] = sorted.percentiles(Some(Dir::Fwd), [50.0]);
                let [bwd] = sorted.percentiles(Some(Dir::Bwd), [50.0]);
                (sorted.percentiles(None, BOTH), [fwd, bwd])
            }
            Some(sketched) => {
                let [fwd_q, bwd_q] = &mut **sketched;
                let both = Quantiles::merged(fwd_q, bwd_q).percentiles(BOTH);
                let [fwd] = fwd_q.percentiles([50.0]);
                let [bwd] = bwd_q.percentiles([50.0]);
                (both, [fwd, bwd])
            }
        };
        out.float(all.min());
        out.float(all.max());
        out.float(all.mean());
        out.float(all.std());
        out.float(median);
        out.float(p25);
        out.float(p75);
        out.float(p90);
        for (m, med) in self.len.iter().zip(medians) {
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
        self.size_counts.heap_bytes()
            + self
                .sketched
                .as_ref()
                .map_or(0, |q| q.iter().map(Quantiles::heap_bytes).sum())
    }
}
