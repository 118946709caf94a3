//! `padding` (JJ-EXPERIMENTAL): how uniform a flow's packet sizes and timing are, Tor-cell-sized
//! packets, and header overhead per burst: the signs of padded or tunnelled traffic.
//!
//! The size and gap statistics are the ones the size and timing groups keep anyway (the
//! moments of every IP length and of every gap, the packets per length): the group needs
//! those two and reads them when the flow ends, instead of keeping second copies per packet.

use super::stats::{LengthCounts, Moments};
use super::{share, Dir, Extractor, Group, Row};
use crate::decode::Packet;

/// A size this common makes the flow constant-size.
const CONSTANT_SIZE_SHARE: f64 = 0.95;
/// Gaps this regular (coefficient of variation) make the flow constant-rate.
const CONSTANT_RATE_CV: f64 = 0.1;
/// Gaps below this continue a burst.
const BURST_GAP_NS: i64 = 50_000_000;

/// IP lengths of a Tor cell (512 bytes) in TLS, as JoyfulJay matches them.
pub(super) fn tor_cell_sized(len: u32) -> bool {
    (580..=600).contains(&len)
}

/// What the group reads of the size and timing groups when the flow ends.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reads<'a> {
    /// Moments of every packet's IP length.
    pub sizes: Moments,
    /// Packets per IP length.
    pub counts: &'a LengthCounts,
    /// Moments of the gaps between consecutive packets, in seconds.
    pub gaps: Moments,
}

#[derive(Debug, Default)]
pub(super) struct Padding {
    last_ts: Option<i64>,
    tor_cells: u64,
    overhead: u64,
    total: u64,
    burst_payload: u64,
    burst_total: u64,
    burst_efficiency: Moments,
}

impl Padding {
    fn close_burst(&mut self) {
        if self.burst_total > 0 {
            self.burst_efficiency
                .push(self.burst_payload as f64 / self.burst_total as f64);
        }
        self.burst_payload = 0;
        self.burst_total = 0;
    }
}

impl Extractor for Padding {
    const GROUP: Group = Group::Padding;
    type Reads<'a> = Reads<'a>;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, _dir: Dir) {
        let len = pkt.ip.total_len;
        self.tor_cells += u64::from(tor_cell_sized(len));
        let payload = u64::from(pkt.payload_len());
        self.overhead += u64::from(len).saturating_sub(payload);
        self.total += u64::from(len);
        if let Some(last) = self.last_ts {
            if pkt.ts_ns - last >= BURST_GAP_NS {
                self.close_burst();
            }
        }
        self.last_ts = Some(pkt.ts_ns);
        self.burst_payload += payload;
        self.burst_total += u64::from(len);
    }

    fn finish(&mut self, reads: Reads<'_>, out: &mut Row) {
        let Reads {
            sizes: s,
            counts,
            gaps: g,
        } = reads;
        let packets = s.count();
        out.float(s.variance());
        out.float(s.cv());
        // The most frequent IP length and its packets (the first seen of equally frequent ones).
        let (mode_size, mode_count) = counts.dominant();
        let mode_share = if packets > 0 {
            mode_count as f64 / packets as f64
        } else {
            0.0
        };
        let constant_size = packets > 0 && mode_share >= CONSTANT_SIZE_SHARE;
        out.bool(constant_size);
        out.int(mode_size);
        out.float(mode_share);
        let distinct = counts.distinct();
        out.int(distinct);
        // Entropy of the size distribution, normalised by its maximum for that many sizes.
        // Most lengths of a flow occur once or a few times: the term of a small count is
        // computed once and reused (the same inputs give the same bits, and the sum keeps its
        // order).
        let term = |n: u64| {
            let p = n as f64 / packets.max(1) as f64;
            -p * p.log2()
        };
        let mut small: [Option<f64>; 16] = [None; 16];
        let entropy: f64 = counts
            .counts()
            .map(
                |n| match small.get_mut(usize::try_from(n).unwrap_or(usize::MAX)) {
                    Some(memo) => *memo.get_or_insert_with(|| term(n)),
                    None => term(n),
                },
            )
            .sum();
        let max_entropy = if distinct > 1 {
            (distinct as f64).log2()
        } else {
            1.0
        };
        out.float(if packets > 0 {
            entropy / max_entropy
        } else {
            0.0
        });
        let constant_rate = g.count() > 0 && g.mean() > 0.0 && g.cv() <= CONSTANT_RATE_CV;
        out.float(g.variance());
        out.float(if g.mean() > 0.0 { g.cv() } else { 0.0 });
        out.bool(constant_rate);
        let tor_share = share(self.tor_cells as f64, packets as f64);
        let uniform = packets < 2 || s.cv() < 0.1;
        let tor_like = packets > 0 && tor_share >= 0.7 && uniform;
        out.int(self.tor_cells);
        out.float(tor_share);
        out.bool(tor_like);
        if packets < 2 {
            out.float(0.0);
            out.int(0);
            out.float(1.0);
        } else {
            let mut efficiency = self.burst_efficiency;
            if self.burst_total > 0 {
                efficiency.push(self.burst_payload as f64 / self.burst_total as f64);
            }
            out.float(share(self.overhead as f64, self.total as f64));
            out.int(self.overhead);
            out.float(if efficiency.count() > 0 {
                efficiency.mean()
            } else {
                1.0
            });
        }
        let mut score: f64 = 0.0;
        for (set, weight) in [
            (constant_size, 0.3),
            (mode_share > 0.8, 0.2),
            (constant_rate, 0.2),
            (tor_like, 0.3),
        ] {
            if set {
                score += weight;
            }
        }
        out.float(score.min(1.0));
    }
}
