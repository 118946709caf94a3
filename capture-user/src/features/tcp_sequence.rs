//! `tcp_sequence` (JJ-EXTENDED): initial sequence numbers, bytes sent, retransmissions, gaps,
//! reordering and duplicate acknowledgments per direction.

use super::{share, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{tcp, Packet};

/// Data segments remembered per direction for recognising retransmissions.
const RECENT_SEGMENTS: usize = 1024;
/// Room `recent` is first given.
const FIRST_RESERVE: usize = 32;

#[derive(Debug, Default)]
struct Side {
    isn: Option<u32>,
    expected: u32,
    bytes_sent: u64,
    retransmissions: u64,
    gaps: u64,
    out_of_order: u64,
    segments: u64,
    /// Sequence numbers of the latest data segments, oldest overwritten first.
    recent: Vec<u32>,
    /// Where the next one is written once `recent` is full.
    recent_next: usize,
    acks: u64,
    last_ack: Option<u32>,
    dup_acks: u64,
}

impl Side {
    #[inline]
    fn push(&mut self, seq: u32, ack: u32, flags: u16, payload: u32) {
        self.segments += 1;
        if self.isn.is_none() {
            self.isn = Some(seq);
            self.expected = seq;
        }
        // Data at the next expected number is new: every remembered segment started before
        // it, since the expected number only moves forward. Only other data is looked up.
        if payload > 0 && seq != self.expected && self.recent.contains(&seq) {
            self.retransmissions += 1;
        } else {
            if payload > 0 {
                if self.recent.len() < RECENT_SEGMENTS {
                    if self.recent.capacity() == 0 {
                        // One allocation for a short flow instead of one per doubling.
                        self.recent.reserve_exact(FIRST_RESERVE);
                    }
                    self.recent.push(seq);
                } else {
                    self.recent[self.recent_next] = seq;
                    self.recent_next = (self.recent_next + 1) % RECENT_SEGMENTS;
                }
            }
            self.bytes_sent += u64::from(payload);
        }
        let diff = seq.wrapping_sub(self.expected);
        // Ahead of the expected number (1 to 2^31 - 1) is a gap, behind it is out of order;
        // counted without branches, which the segments' order would decide.
        self.gaps += u64::from(diff.wrapping_sub(1) < (1 << 31) - 1);
        self.out_of_order += u64::from(diff > 1 << 31);
        // Only data, SYN and FIN take sequence space (RFC 9293); a bare ACK does not.
        let consumed =
            payload + u32::from(flags & tcp::SYN != 0) + u32::from(flags & tcp::FIN != 0);
        let next = seq.wrapping_add(consumed);
        self.expected = if next.wrapping_sub(self.expected) < 1 << 31 {
            next
        } else {
            self.expected
        };
        // Every segment carries an acknowledgment field; a duplicate repeats the previous one.
        self.acks += 1;
        self.dup_acks += u64::from(self.last_ack == Some(ack));
        self.last_ack = Some(ack);
    }
}

#[derive(Debug, Default)]
pub(super) struct TcpSequence {
    side: [Side; 2],
}

impl Extractor for TcpSequence {
    const GROUP: Group = Group::TcpSequence;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        if let Some(t) = &pkt.tcp {
            self.side[dir as usize].push(t.seq, t.ack, t.flags, pkt.payload_len());
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let [f, b] = &self.side;
        out.int(f.isn.unwrap_or(0));
        out.int(b.isn.unwrap_or(0));
        for s in [f, b] {
            out.int(s.bytes_sent);
            out.int(s.retransmissions);
            out.int(s.gaps);
            out.int(s.out_of_order);
        }
        for s in [f, b] {
            out.int(s.acks);
            out.int(s.dup_acks);
        }
        let retrans = f.retransmissions + b.retransmissions;
        out.int(retrans);
        out.int(f.out_of_order + b.out_of_order);
        out.int(f.dup_acks + b.dup_acks);
        let segments = f.segments + b.segments;
        out.float(share(retrans as f64, segments as f64));
    }

    fn heap_bytes(&self) -> usize {
        self.side.iter().map(|s| s.recent.capacity() * 4).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashSet, VecDeque};

    use proptest::prelude::*;

    use super::*;

    /// Counts retransmissions with a set of every remembered segment, looked up for every data
    /// segment: what `Side` must agree with.
    fn reference(segments: &[(u32, u32)]) -> (u64, u64) {
        let (mut set, mut order) = (HashSet::new(), VecDeque::new());
        let (mut retrans, mut bytes) = (0, 0);
        for &(seq, payload) in segments {
            if payload > 0 && set.contains(&seq) {
                retrans += 1;
                continue;
            }
            if payload > 0 {
                if order.len() == RECENT_SEGMENTS {
                    set.remove(&order.pop_front().unwrap());
                }
                set.insert(seq);
                order.push_back(seq);
            }
            bytes += u64::from(payload);
        }
        (retrans, bytes)
    }

    proptest! {
        /// Streams that go forward, resend earlier segments, skip ahead and arrive out of order,
        /// past the number of segments remembered.
        #[test]
        fn retransmissions_equal_a_lookup_of_every_segment(
            start in any::<u32>(),
            moves in prop::collection::vec((0u8..10, 0u32..1500, 0usize..1200), 1..3000),
        ) {
            let mut sent: Vec<u32> = Vec::new();
            let mut next = start;
            let mut segments = Vec::new();
            for (kind, len, back) in moves {
                let seq = match kind {
                    // Resend an earlier segment, or one a little before the next.
                    0 | 1 if !sent.is_empty() => sent[sent.len() - 1 - back % sent.len()],
                    2 => next.wrapping_sub(len / 2),
                    // A gap.
                    3 => next.wrapping_add(len),
                    _ => next,
                };
                let payload = if kind == 9 { 0 } else { len };
                segments.push((seq, payload));
                if payload > 0 {
                    sent.push(seq);
                }
                let end = seq.wrapping_add(payload);
                if end.wrapping_sub(next) < 1 << 31 {
                    next = end;
                }
            }
            let mut side = Side::default();
            for &(seq, payload) in &segments {
                side.push(seq, 0, tcp::ACK, payload);
            }
            prop_assert_eq!((side.retransmissions, side.bytes_sent), reference(&segments));
        }
    }
}
