//! `size`: IP lengths and transport payload lengths, overall and per direction.

use super::stats::{LengthCounts, Moments, Quantiles};
use super::{share, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::Packet;

#[derive(Debug, Default)]
pub(super) struct Size {
    len: [Moments; 2],
    len_q: [Quantiles; 2],
    payload: [Moments; 2],
    with_payload: [u64; 2],
    l7_min: [u32; 2],
    l7_max: [u32; 2],
    size_counts: LengthCounts,
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
