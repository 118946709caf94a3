//! The pipeline every source shares: a frame enters [`Engine::process_frame`], is decoded (and
//! reassembled when fragmented), updates its flow, and every flow that ends leaves as a
//! [`Row`] through the caller's sink.

use capture_common::SkipReason;

use crate::decode::{decode_frame, decode_reassembled, DecodeError, Packet};
use crate::flow::{FinishedFlow, FlowConfig, FlowTable, FlowTableStats};
use crate::input::Frame;
use crate::reassembly::{FragmentOutcome, Reassembler, ReassemblyLimits};

/// Counters of one engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Frames read.
    pub frames: u64,
    /// Bytes of those frames as captured.
    pub captured_bytes: u64,
    /// Packets that updated a flow (a reassembled datagram counts once).
    pub packets: u64,
    /// Frames that updated no flow, by [`SkipReason`] discriminant.
    pub skipped: [u64; 6],
    /// The first decode error seen, with its frame number (1-based), for the summary.
    pub first_error: Option<(u64, DecodeError)>,
}

/// Decoder, reassembler and flow table of one worker.
#[derive(Debug)]
pub struct Engine {
    table: FlowTable,
    reassembler: Reassembler,
    stats: EngineStats,
}

impl Engine {
    /// An engine with the given flow and reassembly settings.
    #[must_use]
    pub fn new(flow: FlowConfig, reassembly: ReassemblyLimits) -> Self {
        Self {
            table: FlowTable::new(flow),
            reassembler: Reassembler::new(reassembly),
            stats: EngineStats::default(),
        }
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Flow-table counters so far.
    #[must_use]
    pub fn flow_stats(&self) -> FlowTableStats {
        self.table.stats()
    }

    /// Flows currently open.
    #[must_use]
    pub fn active_flows(&self) -> usize {
        self.table.active()
    }

    /// Bytes held by open flows.
    #[must_use]
    pub fn flow_memory_bytes(&self) -> usize {
        self.table.memory_bytes()
    }

    fn skip(&mut self, reason: SkipReason, n: u64) {
        self.stats.skipped[reason as usize] += n;
    }

    /// Processes one frame; flows that end are handed to `ended`.
    pub fn process_frame(&mut self, frame: &Frame<'_>, ended: &mut impl FnMut(FinishedFlow)) {
        self.stats.frames += 1;
        self.stats.captured_bytes += frame.data.len() as u64;
        let mut pkt = Packet {
            ts_ns: frame.ts_ns,
            wire_len: frame.wire_len,
            ..Packet::default()
        };
        if let Err(e) = decode_frame(frame.link, frame.data, &mut pkt) {
            self.skip(e.skip_reason(), 1);
            if self.stats.first_error.is_none() && e.skip_reason() != SkipReason::NotIp {
                self.stats.first_error = Some((self.stats.frames, e));
            }
            self.table.expire(frame.ts_ns, ended);
            return;
        }
        let Some(fragment) = pkt.fragment else {
            self.stats.packets += 1;
            self.table.process(&pkt, ended);
            return;
        };
        match self.reassembler.push(&pkt, fragment) {
            // Held fragments are counted when their datagram completes or is dropped.
            FragmentOutcome::Pending => {}
            FragmentOutcome::Dropped(n) => self.skip(SkipReason::FragmentDropped, u64::from(n)),
            FragmentOutcome::Complete(header, datagram, fragments) => {
                self.skip(
                    SkipReason::FragmentMerged,
                    u64::from(fragments.saturating_sub(1)),
                );
                let mut whole: Packet<'_> = *header;
                match decode_reassembled(&mut whole, &datagram) {
                    Ok(()) => {
                        self.stats.packets += 1;
                        self.table.process(&whole, ended);
                    }
                    Err(e) => self.skip(e.skip_reason(), 1),
                }
            }
        }
    }

    /// Ends the flows that timed out by `now` (nanoseconds since the Unix epoch) although no
    /// packet arrived: a live capture calls this when its queue is quiet.
    pub fn advance_clock(&mut self, now: i64, ended: &mut impl FnMut(FinishedFlow)) {
        self.table.expire(now, ended);
    }

    /// Ends every open flow (end of input) and drops incomplete datagrams.
    pub fn finish(&mut self, ended: &mut impl FnMut(FinishedFlow)) {
        let dropped = self.reassembler.clear();
        self.skip(SkipReason::FragmentDropped, u64::from(dropped));
        self.table.flush(ended);
    }
}

impl EngineStats {
    /// Adds another worker's counters (the first error kept is the earliest one seen by either).
    pub fn add(&mut self, other: &Self) {
        self.frames += other.frames;
        self.captured_bytes += other.captured_bytes;
        self.packets += other.packets;
        for (s, v) in self.skipped.iter_mut().zip(other.skipped) {
            *s += v;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Which of `workers` owns the flow of a frame: both directions and every fragment of a flow
/// give the same answer (a hash of the innermost IP addresses, not the ports, since later
/// fragments carry none). Frames that do not decode have no owner.
#[must_use]
pub fn flow_owner(link: crate::decode::LinkType, data: &[u8], workers: usize) -> Option<usize> {
    let mut pkt = crate::decode::Packet::default();
    crate::decode::decode_frame(link, data, &mut pkt).ok()?;
    let fold = |a: std::net::IpAddr| match a {
        std::net::IpAddr::V4(v4) => u64::from(u32::from(v4)),
        std::net::IpAddr::V6(v6) => {
            let x = u128::from(v6);
            (x as u64) ^ ((x >> 64) as u64)
        }
    };
    let (a, b) = (fold(pkt.ip.src), fold(pkt.ip.dst));
    let (low, high) = (a.min(b), a.max(b));
    let hash = (low.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ high).wrapping_mul(0xff51_afd7_ed55_8ccd);
    Some(((hash >> 32) % workers.max(1) as u64) as usize)
}
