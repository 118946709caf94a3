//! `tcp_sequence` (JJ-EXTENDED): initial sequence numbers, bytes sent, retransmissions, gaps,
//! reordering and duplicate acknowledgments per direction.

use std::collections::VecDeque;

use rustc_hash::FxHashSet;

use super::{share, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{tcp, Packet};

/// Data segments remembered per direction for recognising retransmissions.
const RECENT_SEGMENTS: usize = 1024;

#[derive(Debug, Default)]
struct Side {
    isn: Option<u32>,
    expected: u32,
    bytes_sent: u64,
    retransmissions: u64,
    gaps: u64,
    out_of_order: u64,
    segments: u64,
    /// Sequence numbers of the latest data segments (set and arrival order, to forget the oldest).
    recent: FxHashSet<u32>,
    recent_order: VecDeque<u32>,
    acks: u64,
    last_ack: Option<u32>,
    dup_acks: u64,
}

impl Side {
    fn push(&mut self, seq: u32, ack: u32, flags: u16, payload: u32) {
        self.segments += 1;
        if self.isn.is_none() {
            self.isn = Some(seq);
            self.expected = seq;
        }
        if payload > 0 && self.recent.contains(&seq) {
            self.retransmissions += 1;
        } else {
            if payload > 0 {
                if self.recent_order.len() == RECENT_SEGMENTS {
                    if let Some(old) = self.recent_order.pop_front() {
                        self.recent.remove(&old);
                    }
                }
                self.recent.insert(seq);
                self.recent_order.push_back(seq);
            }
            self.bytes_sent += u64::from(payload);
        }
        let diff = seq.wrapping_sub(self.expected);
        if diff > 0 && diff < 1 << 31 {
            self.gaps += 1;
        } else if diff > 1 << 31 {
            self.out_of_order += 1;
        }
        // Only data, SYN and FIN take sequence space (RFC 9293); a bare ACK does not.
        let consumed =
            payload + u32::from(flags & tcp::SYN != 0) + u32::from(flags & tcp::FIN != 0);
        let next = seq.wrapping_add(consumed);
        if next.wrapping_sub(self.expected) < 1 << 31 {
            self.expected = next;
        }
        // Every segment carries an acknowledgment field; a duplicate repeats the previous one.
        self.acks += 1;
        if self.last_ack == Some(ack) {
            self.dup_acks += 1;
        }
        self.last_ack = Some(ack);
    }
}

#[derive(Debug, Default)]
pub(super) struct TcpSequence {
    side: [Side; 2],
}

impl Extractor for TcpSequence {
    const GROUP: Group = Group::TcpSequence;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        if let Some(t) = pkt.tcp {
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
        self.side
            .iter()
            .map(|s| s.recent.capacity() * 8 + s.recent_order.capacity() * 4)
            .sum()
    }
}
