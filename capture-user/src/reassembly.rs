//! IP fragment reassembly with bounded memory and a timeout, so that a fragmented DNS answer or
//! ICMP message reaches its flow as the one packet it is.

use std::collections::VecDeque;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::decode::{FragmentInfo, Packet};

/// Limits of the reassembler.
#[derive(Clone, Copy, Debug)]
pub struct ReassemblyLimits {
    /// Datagrams still incomplete after this long are dropped (Linux's `ipfrag_time` is 30 s).
    pub timeout_ns: i64,
    /// Most datagrams in progress at once.
    pub max_datagrams: usize,
    /// Most payload bytes held at once.
    pub max_bytes: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        Self {
            timeout_ns: 30_000_000_000,
            max_datagrams: 4096,
            max_bytes: 64 << 20,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct DatagramKey {
    src: IpAddr,
    dst: IpAddr,
    ident: u32,
    protocol: u8,
}

#[derive(Debug)]
struct Datagram {
    /// Header facts of the first fragment (offset 0) once seen, else of the earliest one.
    header: Packet<'static>,
    have_first: bool,
    data: Vec<u8>,
    /// Byte ranges received, kept sorted and merged.
    covered: Vec<(u32, u32)>,
    total: Option<u32>,
    first_ts: i64,
    fragments: u32,
}

/// What happened to a fragment.
#[derive(Debug)]
pub enum FragmentOutcome {
    /// Held until the rest arrives.
    Pending,
    /// The datagram is complete: its header facts (timestamp of the last fragment), its whole IP
    /// payload, and how many fragments made it.
    Complete(Box<Packet<'static>>, Vec<u8>, u32),
    /// The fragment could not be held (bounds, or an impossible offset); this many fragments were dropped.
    Dropped(u32),
}

/// Holds fragments per datagram until each datagram is whole.
#[derive(Debug, Default)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    pending: FxHashMap<DatagramKey, Datagram>,
    arrival: VecDeque<(i64, DatagramKey)>,
    bytes_held: usize,
}

/// The largest IP payload a datagram can have.
const MAX_DATAGRAM: u32 = 65_535;

impl Reassembler {
    /// A reassembler with the given limits.
    #[must_use]
    pub fn new(limits: ReassemblyLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Datagrams in progress.
    #[must_use]
    pub fn in_progress(&self) -> usize {
        self.pending.len()
    }

    /// Adds the fragment `pkt` (whose payload is the fragment's IP payload).
    pub fn push(&mut self, pkt: &Packet<'_>, frag: FragmentInfo) -> FragmentOutcome {
        let dropped_by_timeout = self.expire(pkt.ts_ns);
        let key = DatagramKey {
            src: pkt.ip.src,
            dst: pkt.ip.dst,
            ident: frag.ident,
            protocol: pkt.ip.protocol,
        };
        let len = u32::try_from(pkt.payload.len()).unwrap_or(u32::MAX);
        let end = frag.offset.saturating_add(len);
        if end > MAX_DATAGRAM || (frag.more && len % 8 != 0) {
            return FragmentOutcome::Dropped(1 + dropped_by_timeout);
        }
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= self.limits.max_datagrams {
                return FragmentOutcome::Dropped(1 + dropped_by_timeout);
            }
            self.pending.insert(
                key,
                Datagram {
                    header: detach(pkt),
                    have_first: false,
                    data: Vec::new(),
                    covered: Vec::new(),
                    total: None,
                    first_ts: pkt.ts_ns,
                    fragments: 0,
                },
            );
            self.arrival.push_back((pkt.ts_ns, key));
        }
        let grow =
            (end as usize).saturating_sub(self.pending.get(&key).map_or(0, |d| d.data.len()));
        if self.bytes_held + grow > self.limits.max_bytes {
            let held = self.pending.remove(&key).map_or(0, |d| {
                self.bytes_held -= d.data.len();
                d.fragments
            });
            return FragmentOutcome::Dropped(held + 1 + dropped_by_timeout);
        }
        let Some(dg) = self.pending.get_mut(&key) else {
            return FragmentOutcome::Dropped(1 + dropped_by_timeout);
        };
        dg.fragments += 1;
        if frag.offset == 0 && !dg.have_first {
            dg.header = detach(pkt);
            dg.have_first = true;
        }
        if !frag.more {
            dg.total = Some(end);
        }
        if dg.data.len() < end as usize {
            self.bytes_held += end as usize - dg.data.len();
            dg.data.resize(end as usize, 0);
        }
        dg.data[frag.offset as usize..end as usize].copy_from_slice(pkt.payload);
        insert_range(&mut dg.covered, (frag.offset, end));
        let complete = dg.have_first
            && dg
                .total
                .is_some_and(|t| dg.covered.first() == Some(&(0, t)));
        if !complete {
            return if dropped_by_timeout > 0 {
                FragmentOutcome::Dropped(dropped_by_timeout)
            } else {
                FragmentOutcome::Pending
            };
        }
        let Some(mut dg) = self.pending.remove(&key) else {
            return FragmentOutcome::Pending;
        };
        self.bytes_held -= dg.data.len();
        dg.data.truncate(dg.total.unwrap_or(0) as usize);
        let mut header = dg.header;
        header.ts_ns = pkt.ts_ns;
        header.wire_len = pkt.wire_len;
        FragmentOutcome::Complete(Box::new(header), dg.data, dg.fragments)
    }

    /// Drops datagrams older than the timeout; returns how many fragments were dropped.
    pub fn expire(&mut self, now_ns: i64) -> u32 {
        let mut dropped = 0;
        while let Some(&(ts, key)) = self.arrival.front() {
            if now_ns.saturating_sub(ts) <= self.limits.timeout_ns
                && self.pending.contains_key(&key)
            {
                break;
            }
            self.arrival.pop_front();
            if let Some(dg) = self.pending.get(&key) {
                if dg.first_ts == ts {
                    dropped += dg.fragments;
                    self.bytes_held -= dg.data.len();
                    self.pending.remove(&key);
                }
            }
        }
        dropped
    }

    /// Drops everything still pending (end of input); returns how many fragments were dropped.
    pub fn clear(&mut self) -> u32 {
        let n = self.pending.values().map(|d| d.fragments).sum();
        self.pending.clear();
        self.arrival.clear();
        self.bytes_held = 0;
        n
    }
}

fn insert_range(ranges: &mut Vec<(u32, u32)>, (mut lo, mut hi): (u32, u32)) {
    let mut merged = Vec::with_capacity(ranges.len() + 1);
    for &(a, b) in ranges.iter() {
        if b < lo || a > hi {
            merged.push((a, b));
        } else {
            lo = lo.min(a);
            hi = hi.max(b);
        }
    }
    merged.push((lo, hi));
    merged.sort_unstable();
    *ranges = merged;
}

/// A copy of the header facts with no borrowed payload.
fn detach(p: &Packet<'_>) -> Packet<'static> {
    Packet {
        ts_ns: p.ts_ns,
        wire_len: p.wire_len,
        link: p.link,
        tunnel: p.tunnel,
        layers: p.layers,
        ip: p.ip,
        fragment: p.fragment,
        src_port: p.src_port,
        dst_port: p.dst_port,
        tcp: p.tcp,
        icmp: p.icmp,
        payload: &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(ts: i64, offset: u32, more: bool, payload: &[u8]) -> (Packet<'_>, FragmentInfo) {
        let info = FragmentInfo {
            ident: 7,
            offset,
            more,
        };
        let mut p = Packet {
            ts_ns: ts,
            payload,
            fragment: Some(info),
            ..Packet::default()
        };
        p.ip.protocol = 17;
        (p, info)
    }

    #[test]
    fn reassembles_out_of_order_and_overlapping() {
        let mut r = Reassembler::default();
        let a = [1u8; 16];
        let b = [2u8; 16];
        let c = [3u8; 5];
        let (p, i) = frag(3, 32, false, &c);
        assert!(matches!(r.push(&p, i), FragmentOutcome::Pending));
        let (p, i) = frag(1, 0, true, &a);
        assert!(matches!(r.push(&p, i), FragmentOutcome::Pending));
        // A duplicate of the first fragment changes nothing.
        let (p, i) = frag(2, 0, true, &a);
        assert!(matches!(r.push(&p, i), FragmentOutcome::Pending));
        let (p, i) = frag(4, 16, true, &b);
        match r.push(&p, i) {
            FragmentOutcome::Complete(h, data, fragments) => {
                assert_eq!(fragments, 4);
                assert_eq!(h.ts_ns, 4);
                assert_eq!(data.len(), 37);
                assert_eq!(&data[..16], &a);
                assert_eq!(&data[16..32], &b);
                assert_eq!(&data[32..], &c);
            }
            other => panic!("expected completion, got {other:?}"),
        }
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn times_out_and_bounds_memory() {
        let mut r = Reassembler::new(ReassemblyLimits {
            timeout_ns: 10,
            max_datagrams: 1,
            max_bytes: 1024,
        });
        let a = [0u8; 8];
        let (p, i) = frag(0, 0, true, &a);
        assert!(matches!(r.push(&p, i), FragmentOutcome::Pending));
        // Different datagram while the table is full: dropped.
        let (mut p2, mut i2) = frag(1, 0, true, &a);
        i2.ident = 8;
        p2.fragment = Some(i2);
        assert!(matches!(r.push(&p2, i2), FragmentOutcome::Dropped(1)));
        // After the timeout the first one is dropped and the slot is free again.
        assert_eq!(r.expire(100), 1);
        assert_eq!(r.in_progress(), 0);
        let big = vec![0u8; 2048];
        let (p, i) = frag(200, 0, true, &big);
        assert!(matches!(r.push(&p, i), FragmentOutcome::Dropped(_)));
    }
}
