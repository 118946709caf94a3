//! `timing`: inter-arrival times overall and per direction, bursts and idle periods.

use super::stats::{Moments, Quantiles};
use super::{secs, share, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::Packet;

/// Gaps below this continue a burst (JoyfulJay's default).
const BURST_GAP_NS: i64 = 50_000_000;

#[derive(Debug, Default)]
pub(super) struct Timing {
    first_ts: i64,
    last_ts: Option<i64>,
    last_dir_ts: [Option<i64>; 2],
    all: Moments,
    all_q: Quantiles,
    dir: [Moments; 2],
    dir_q: [Quantiles; 2],
    first_response_ns: Option<i64>,
    burst: Bursts,
}

#[derive(Clone, Copy, Debug, Default)]
struct Bursts {
    current_packets: u64,
    current_duration_ns: i64,
    count: u64,
    packets_sum: u64,
    duration_sum_ns: i64,
    max_packets: u64,
    idle: Moments,
}

impl Bursts {
    fn gap(&mut self, gap_ns: i64) {
        if self.current_packets == 0 {
            self.current_packets = 1;
        }
        if gap_ns < BURST_GAP_NS {
            self.current_packets += 1;
            self.current_duration_ns += gap_ns;
        } else {
            self.close();
            self.idle.push(secs(gap_ns));
            self.current_packets = 1;
        }
    }

    fn close(&mut self) {
        self.count += 1;
        self.packets_sum += self.current_packets;
        self.duration_sum_ns += self.current_duration_ns;
        self.max_packets = self.max_packets.max(self.current_packets);
        self.current_duration_ns = 0;
    }

    /// Totals with the open burst closed, without changing the state.
    fn closed(&self) -> Self {
        let mut done = *self;
        if self.current_packets > 0 {
            done.close();
        }
        done
    }
}

impl Timing {
    /// Moments of the gaps between consecutive packets of the flow, in seconds.
    pub(super) fn gap_moments(&self) -> Moments {
        self.all
    }
}

impl Extractor for Timing {
    const GROUP: Group = Group::Timing;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let ts = pkt.ts_ns;
        match self.last_ts {
            None => self.first_ts = ts,
            Some(prev) => {
                let gap = ts - prev;
                self.all.push(secs(gap));
                self.all_q.push(secs(gap));
                self.burst.gap(gap);
            }
        }
        self.last_ts = Some(ts);
        let d = dir as usize;
        if let Some(prev) = self.last_dir_ts[d] {
            let gap = secs(ts - prev);
            self.dir[d].push(gap);
            self.dir_q[d].push(gap);
        }
        self.last_dir_ts[d] = Some(ts);
        if dir == Dir::Bwd && self.first_response_ns.is_none() {
            self.first_response_ns = Some(ts - self.first_ts);
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let a = &self.all;
        let [p25, median, p75, p90, p99] = self.all_q.percentiles([25.0, 50.0, 75.0, 90.0, 99.0]);
        out.float(a.min());
        out.float(a.max());
        out.float(a.mean());
        out.float(a.std());
        out.float(median);
        out.float(a.sum());
        out.float(p25);
        out.float(p75);
        out.float(p90);
        out.float(p99);
        for d in 0..2 {
            let m = &self.dir[d];
            let [med] = self.dir_q[d].percentiles([50.0]);
            out.float(m.min());
            out.float(m.max());
            out.float(m.mean());
            out.float(m.std());
            out.float(med);
        }
        out.float(a.cv());
        out.float(self.dir[0].cv());
        out.float(self.dir[1].cv());
        let b = if a.count() == 0 {
            Bursts::default()
        } else {
            self.burst.closed()
        };
        out.int(b.count);
        out.float(share(b.packets_sum as f64, b.count as f64));
        out.float(if b.count > 0 {
            secs(b.duration_sum_ns) / b.count as f64
        } else {
            0.0
        });
        out.int(b.max_packets);
        out.int(b.idle.count());
        out.float(b.idle.mean());
        out.float(b.idle.max());
        out.float(self.first_response_ns.map_or(0.0, secs));
    }

    fn heap_bytes(&self) -> usize {
        self.all_q.heap_bytes() + self.dir_q.iter().map(Quantiles::heap_bytes).sum::<usize>()
    }
}
