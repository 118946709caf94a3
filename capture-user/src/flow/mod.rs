//! Bidirectional flow assembly: where a flow starts, is updated, and ends.
//!
//! Flows live in a slab linked into one least-recently-seen list. Because packets arrive in
//! time order, that list is also the idle-timeout order: expiring idle flows only ever looks at
//! its head, and evicting under the concurrent-flow bound takes the same head. Closed TCP
//! connections wait a short grace period (so trailing ACKs and retransmitted FINs stay in their
//! flow) in a FIFO of deadlines.

pub mod key;

use std::collections::VecDeque;
use std::net::IpAddr;

use capture_common::FlowEndReason;
use rustc_hash::FxHashMap;

use crate::decode::{tcp, Packet};
use crate::features::{Dir, FlowFeatures, FlowIdentity, GroupSet, RecordJob, Row};
pub use key::FlowKey;

/// How flows are cut.
#[derive(Clone, Copy, Debug)]
pub struct FlowConfig {
    /// A flow with no packet for longer than this ends (`idle`).
    pub idle_timeout_ns: i64,
    /// A flow older than this ends at its next packet (`active`); `None` disables it.
    pub active_timeout_ns: Option<i64>,
    /// After a TCP close (FINs both ways acknowledged, or RST), the flow stays open this long.
    pub close_grace_ns: i64,
    /// Most flows held at once; the least recently seen is evicted beyond it.
    pub max_flows: usize,
    /// Make the outer tunnel (VNI, GRE key, ERSPAN session) part of the flow key.
    pub key_by_tunnel: bool,
    /// Feature groups computed.
    pub groups: GroupSet,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            idle_timeout_ns: 60_000_000_000,
            active_timeout_ns: None,
            close_grace_ns: 5_000_000_000,
            max_flows: 1 << 20,
            key_by_tunnel: false,
            groups: GroupSet::ALL,
        }
    }
}

/// One flow being assembled.
#[derive(Debug)]
pub struct Flow {
    /// The conversation.
    pub key: FlowKey,
    /// The endpoint that started the flow.
    pub initiator: (IpAddr, u16),
    /// The other endpoint.
    pub responder: (IpAddr, u16),
    /// Whether the initiator is the key's `lo` endpoint (how a packet's direction is told).
    initiator_is_lo: bool,
    /// Timestamp of the first packet (ns).
    pub first_ts: i64,
    /// Timestamp of the last packet (ns).
    pub last_ts: i64,
    close: TcpClose,
    /// Feature state.
    pub features: FlowFeatures,
}

/// Tracks the TCP close handshake: FIN sequence numbers per direction and whether each was acked.
#[derive(Clone, Copy, Debug, Default)]
struct TcpClose {
    fin_next_seq: [Option<u32>; 2],
    fin_acked: [bool; 2],
    closed: Option<(i64, FlowEndReason)>,
}

impl TcpClose {
    /// Updates with one segment; returns true when the connection just closed.
    fn update(&mut self, t: &crate::decode::TcpInfo, payload_len: u32, dir: Dir, now: i64) -> bool {
        if self.closed.is_some() {
            return false;
        }
        let d = dir as usize;
        if t.flags & tcp::RST != 0 {
            self.closed = Some((now, FlowEndReason::Rst));
            return true;
        }
        if t.flags & tcp::FIN != 0 {
            let syn = u32::from(t.flags & tcp::SYN != 0);
            self.fin_next_seq[d] = Some(t.seq.wrapping_add(payload_len).wrapping_add(1 + syn));
        }
        if t.flags & tcp::ACK != 0 {
            if let Some(fin) = self.fin_next_seq[1 - d] {
                if i32::from_ne_bytes(t.ack.wrapping_sub(fin).to_ne_bytes()) >= 0 {
                    self.fin_acked[1 - d] = true;
                }
            }
        }
        if self.fin_acked == [true, true] {
            self.closed = Some((now, FlowEndReason::Fin));
            return true;
        }
        false
    }
}

impl Flow {
    /// Who the flow is between and how it ended.
    #[must_use]
    pub fn identity(&self, end_reason: FlowEndReason) -> FlowIdentity {
        FlowIdentity {
            initiator: self.initiator,
            responder: self.responder,
            protocol: self.key.protocol,
            end_reason,
        }
    }

    /// Bytes this flow occupies: its slot plus everything its feature state holds on the heap.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Slot>() + self.features.heap_bytes()
    }
}

/// A flow that ended, with the reason.
#[derive(Debug)]
pub struct FinishedFlow {
    /// The flow.
    pub flow: Box<Flow>,
    /// Why it ended.
    pub reason: FlowEndReason,
    /// The feature groups that were computed for it.
    pub groups: GroupSet,
}

impl FinishedFlow {
    /// The flow's record.
    #[must_use]
    pub fn into_row(self) -> Row {
        let mut row = Row::with_capacity(crate::features::FEATURES.len());
        self.write_into(&mut row);
        row
    }

    /// Writes the flow's record into `row`, reusing its buffer.
    pub fn write_into(mut self, row: &mut Row) {
        let identity = self.flow.identity(self.reason);
        self.flow.features.finish_into(self.groups, &identity, row);
        self.flow.features.recycle();
    }

    /// Writes the records of `flows` into the first `flows.len()` of `rows` (grown to that if
    /// shorter), in order. The records are built group by group
    /// ([`crate::features::FlowFeatures::finish_all`]): for a batch of flows, far fewer
    /// instruction fetches than one record after another. Batches of [`RECORD_BATCH`] flows keep
    /// their state and records in the second-level cache.
    pub fn write_all(flows: &mut [FinishedFlow], rows: &mut Vec<Row>) {
        if rows.len() < flows.len() {
            rows.resize_with(flows.len(), Row::default);
        }
        let mut jobs: Vec<RecordJob<'_>> = flows
            .iter_mut()
            .zip(rows.iter_mut())
            .map(|(f, row)| RecordJob {
                flow: f.flow.identity(f.reason),
                features: &mut f.flow.features,
                groups: f.groups,
                row,
            })
            .collect();
        FlowFeatures::finish_all(&mut jobs);
        for job in jobs {
            job.features.recycle();
        }
    }
}

/// Records built together ([`FinishedFlow::write_all`]): enough for each group's code to be
/// fetched once for many records, few enough that the flows' state and the records stay in the
/// second-level cache.
pub const RECORD_BATCH: usize = 32;

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Slot {
    flow: Option<Box<Flow>>,
    prev: u32,
    next: u32,
    generation: u32,
}

/// Counters of the flow table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowTableStats {
    /// Flows created.
    pub created: u64,
    /// Flows ended, by [`FlowEndReason`] discriminant.
    pub ended: [u64; 6],
    /// Most flows held at once.
    pub peak_active: u64,
}

impl FlowTableStats {
    /// Adds another worker's counters (peaks add up: the workers' tables are separate).
    pub fn add(&mut self, other: &Self) {
        self.created += other.created;
        for (s, v) in self.ended.iter_mut().zip(other.ended) {
            *s += v;
        }
        self.peak_active += other.peak_active;
    }
}

/// The flow table of one worker.
#[derive(Debug)]
pub struct FlowTable {
    config: FlowConfig,
    index: FxHashMap<FlowKey, u32>,
    /// The slot of the flow the last packet went to: packets come in trains of one flow, and
    /// comparing the key with that flow's spares hashing it. A stale slot (its flow ended, or
    /// another took its place) fails the comparison.
    last: u32,
    slots: Vec<Slot>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
    closing: VecDeque<(i64, u32, u32)>,
    stats: FlowTableStats,
}

impl FlowTable {
    /// An empty table.
    #[must_use]
    pub fn new(config: FlowConfig) -> Self {
        Self {
            config,
            index: FxHashMap::default(),
            last: NIL,
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            closing: VecDeque::new(),
            stats: FlowTableStats::default(),
        }
    }

    /// Flows currently held.
    #[must_use]
    pub fn active(&self) -> usize {
        self.index.len()
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> FlowTableStats {
        self.stats
    }

    /// Total bytes held by active flows (slots and feature state).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self
                .slots
                .iter()
                .filter_map(|s| s.flow.as_ref())
                .map(|f| std::mem::size_of::<Flow>() + f.features.heap_bytes())
                .sum::<usize>()
            + self.index.capacity() * (std::mem::size_of::<FlowKey>() + 4)
    }

    /// Adds one packet. Flows that end because of it (or because time moved past their timeout)
    /// are handed to `ended`.
    pub fn process(&mut self, pkt: &Packet<'_>, ended: &mut impl FnMut(FinishedFlow)) {
        let now = pkt.ts_ns;
        self.expire(now, ended);
        let (key, from_lo) = FlowKey::of(pkt, self.config.key_by_tunnel);
        let last_matches = self
            .slots
            .get(self.last as usize)
            .and_then(|s| s.flow.as_ref())
            .is_some_and(|f| f.key == key);
        let found = if last_matches {
            Some(self.last)
        } else {
            self.index.get(&key).copied()
        };
        if let Some(idx) = found {
            match self.end_before(idx, pkt) {
                Some(reason) => self.remove(idx, reason, ended),
                None => {
                    self.last = idx;
                    self.update(idx, pkt, from_lo);
                    return;
                }
            }
        }
        if self.index.len() >= self.config.max_flows && self.head != NIL {
            self.remove(self.head, FlowEndReason::Evicted, ended);
        }
        let idx = self.insert(key, pkt, from_lo);
        self.last = idx;
        self.update(idx, pkt, from_lo);
    }

    /// Ends every flow whose idle timeout or close grace period passed by `now`.
    pub fn expire(&mut self, now: i64, ended: &mut impl FnMut(FinishedFlow)) {
        while self.head != NIL {
            let idx = self.head;
            let Some(flow) = self.slots[idx as usize].flow.as_ref() else {
                break;
            };
            if now.saturating_sub(flow.last_ts) <= self.config.idle_timeout_ns {
                break;
            }
            let reason = flow.close.closed.map_or(FlowEndReason::Idle, |(_, r)| r);
            self.remove(idx, reason, ended);
        }
        while let Some(&(deadline, idx, generation)) = self.closing.front() {
            if deadline >= now {
                break;
            }
            self.closing.pop_front();
            let slot = &self.slots[idx as usize];
            if slot.generation != generation {
                continue;
            }
            if let Some((_, reason)) = slot.flow.as_ref().and_then(|f| f.close.closed) {
                self.remove(idx, reason, ended);
            }
        }
    }

    /// Ends every remaining flow (end of input). Closed TCP flows keep their close reason.
    pub fn flush(&mut self, ended: &mut impl FnMut(FinishedFlow)) {
        while self.head != NIL {
            let idx = self.head;
            let reason = self.slots[idx as usize]
                .flow
                .as_ref()
                .and_then(|f| f.close.closed)
                .map_or(FlowEndReason::EndOfInput, |(_, r)| r);
            self.remove(idx, reason, ended);
        }
        self.closing.clear();
    }

    /// Whether the flow at `idx` must end before `pkt` can be counted, and why.
    fn end_before(&self, idx: u32, pkt: &Packet<'_>) -> Option<FlowEndReason> {
        let flow = self.slots[idx as usize].flow.as_ref()?;
        let now = pkt.ts_ns;
        if now.saturating_sub(flow.last_ts) > self.config.idle_timeout_ns {
            return Some(flow.close.closed.map_or(FlowEndReason::Idle, |(_, r)| r));
        }
        if self
            .config
            .active_timeout_ns
            .is_some_and(|a| now.saturating_sub(flow.first_ts) > a)
        {
            return Some(FlowEndReason::Active);
        }
        if let Some((at, reason)) = flow.close.closed {
            let new_syn = pkt
                .tcp
                .is_some_and(|t| t.flags & (tcp::SYN | tcp::ACK) == tcp::SYN);
            if new_syn || now.saturating_sub(at) > self.config.close_grace_ns {
                return Some(reason);
            }
        }
        None
    }

    fn insert(&mut self, key: FlowKey, pkt: &Packet<'_>, from_lo: bool) -> u32 {
        let src = (pkt.ip.src, pkt.src_port);
        let dst = (pkt.ip.dst, pkt.dst_port);
        // A SYN/ACK seen first still makes the SYN sender (its destination) the initiator.
        let synack_first = pkt.has_tcp_flags(tcp::SYN | tcp::ACK);
        let (initiator, responder) = if synack_first { (dst, src) } else { (src, dst) };
        let flow = Box::new(Flow {
            key,
            initiator,
            responder,
            initiator_is_lo: from_lo != synack_first,
            first_ts: pkt.ts_ns,
            last_ts: pkt.ts_ns,
            close: TcpClose::default(),
            features: FlowFeatures::default(),
        });
        let idx = if let Some(idx) = self.free.pop() {
            self.slots[idx as usize].flow = Some(flow);
            idx
        } else {
            let idx = u32::try_from(self.slots.len()).unwrap_or(NIL - 1);
            self.slots.push(Slot {
                flow: Some(flow),
                prev: NIL,
                next: NIL,
                generation: 0,
            });
            idx
        };
        self.index.insert(key, idx);
        self.link_tail(idx);
        self.stats.created += 1;
        self.stats.peak_active = self.stats.peak_active.max(self.index.len() as u64);
        idx
    }

    fn update(&mut self, idx: u32, pkt: &Packet<'_>, from_lo: bool) {
        let groups = self.config.groups;
        let generation = self.slots[idx as usize].generation;
        let Some(flow) = self.slots[idx as usize].flow.as_mut() else {
            return;
        };
        let dir = if from_lo == flow.initiator_is_lo {
            Dir::Fwd
        } else {
            Dir::Bwd
        };
        flow.last_ts = pkt.ts_ns;
        flow.features.update(groups, pkt, dir);
        let closed_now = pkt
            .tcp
            .is_some_and(|t| flow.close.update(&t, pkt.payload_len(), dir, pkt.ts_ns));
        if closed_now {
            self.closing.push_back((
                pkt.ts_ns.saturating_add(self.config.close_grace_ns),
                idx,
                generation,
            ));
        }
        if self.tail != idx {
            self.unlink(idx);
            self.link_tail(idx);
        }
    }

    fn remove(&mut self, idx: u32, reason: FlowEndReason, ended: &mut impl FnMut(FinishedFlow)) {
        self.unlink(idx);
        let slot = &mut self.slots[idx as usize];
        slot.generation = slot.generation.wrapping_add(1);
        if let Some(flow) = slot.flow.take() {
            self.index.remove(&flow.key);
            self.free.push(idx);
            self.stats.ended[reason as usize] += 1;
            ended(FinishedFlow {
                flow,
                reason,
                groups: self.config.groups,
            });
        }
    }

    fn link_tail(&mut self, idx: u32) {
        let slot = &mut self.slots[idx as usize];
        slot.prev = self.tail;
        slot.next = NIL;
        if self.tail != NIL {
            self.slots[self.tail as usize].next = idx;
        } else {
            self.head = idx;
        }
        self.tail = idx;
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let s = &self.slots[idx as usize];
            (s.prev, s.next)
        };
        if prev != NIL {
            self.slots[prev as usize].next = next;
        } else if self.head == idx {
            self.head = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        } else if self.tail == idx {
            self.tail = prev;
        }
        let s = &mut self.slots[idx as usize];
        s.prev = NIL;
        s.next = NIL;
    }
}

#[cfg(test)]
mod tests;
