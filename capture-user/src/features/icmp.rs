//! `icmp` (JJ-EXPERIMENTAL): ICMP message types, echo exchanges, identifiers and sequences.
//!
//! As in JoyfulJay, this group reads ICMPv4; an ICMPv6 flow reports no ICMP messages.

use rustc_hash::FxHashSet;

use super::{share, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{ipproto, Packet};

const ECHO_REPLY: u8 = 0;
const DEST_UNREACHABLE: u8 = 3;
const REDIRECT: u8 = 5;
const ECHO_REQUEST: u8 = 8;
const TIME_EXCEEDED: u8 = 11;

/// Distinct type/code pairs and identifiers kept per flow.
const MAX_PAIRS: usize = 256;
const MAX_IDS: usize = 4096;

/// Message types whose header carries an identifier and a sequence number.
fn has_id_and_seq(icmp_type: u8) -> bool {
    matches!(icmp_type, 0 | 8 | 13..=18)
}

/// Every 16-bit sequence number seen, as a bitmap (8 KiB, allocated for ICMP flows only).
#[derive(Debug)]
struct SeqSet(Box<[u64; 1024]>);

impl SeqSet {
    fn insert(&mut self, v: u16) {
        self.0[usize::from(v >> 6)] |= 1 << (v & 63);
    }

    fn min(&self) -> Option<u32> {
        let (i, w) = self.0.iter().enumerate().find(|(_, w)| **w != 0)?;
        Some(u32::try_from(i * 64).unwrap_or(0) + w.trailing_zeros())
    }

    fn max(&self) -> Option<u32> {
        let (i, w) = self.0.iter().enumerate().rev().find(|(_, w)| **w != 0)?;
        Some(u32::try_from(i * 64).unwrap_or(0) + 63 - w.leading_zeros())
    }

    /// Breaks between runs of consecutive values: the runs, less one.
    fn gaps(&self) -> u64 {
        let mut runs = 0;
        let mut previous_set = false;
        for w in self.0.iter() {
            // A run starts at each set bit whose lower neighbour is clear.
            let starts = w & !((w << 1) | u64::from(previous_set));
            runs += u64::from(starts.count_ones());
            previous_set = w >> 63 == 1;
        }
        runs.saturating_sub(1)
    }
}

#[derive(Debug, Default)]
pub(super) struct Icmp {
    packets: u64,
    messages: u64,
    echo_requests: u64,
    echo_replies: u64,
    unreachable: u64,
    time_exceeded: u64,
    redirects: u64,
    other_types: u64,
    /// Message types in order of first appearance, with their counts.
    types: Vec<(u8, u64)>,
    pairs: Vec<(u8, u8)>,
    ids: FxHashSet<u16>,
    seqs: Option<SeqSet>,
}

impl Extractor for Icmp {
    const GROUP: Group = Group::Icmp;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, _dir: Dir) {
        self.packets += 1;
        let Some(icmp) = pkt.icmp.filter(|_| pkt.ip.protocol == ipproto::ICMP) else {
            return;
        };
        self.messages += 1;
        let t = icmp.icmp_type;
        match t {
            ECHO_REQUEST => self.echo_requests += 1,
            ECHO_REPLY => self.echo_replies += 1,
            DEST_UNREACHABLE => self.unreachable += 1,
            TIME_EXCEEDED => self.time_exceeded += 1,
            REDIRECT => self.redirects += 1,
            _ => self.other_types += 1,
        }
        match self.types.iter_mut().find(|(ty, _)| *ty == t) {
            Some((_, n)) => *n += 1,
            None => self.types.push((t, 1)),
        }
        if self.pairs.len() < MAX_PAIRS && !self.pairs.contains(&(t, icmp.code)) {
            self.pairs.push((t, icmp.code));
        }
        if has_id_and_seq(t) {
            if self.ids.len() < MAX_IDS {
                self.ids.insert(icmp.ident);
            }
            self.seqs
                .get_or_insert_with(|| SeqSet(Box::new([0; 1024])))
                .insert(icmp.seq);
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        out.int(self.messages);
        out.int(self.echo_requests);
        out.int(self.echo_replies);
        out.int(self.unreachable);
        out.int(self.time_exceeded);
        out.int(self.pairs.len());
        // The most frequent type; on a tie, the one seen first.
        let dominant = self
            .types
            .iter()
            .fold(None::<(u8, u64)>, |best, &(t, n)| match best {
                Some((_, m)) if m >= n => best,
                _ => Some((t, n)),
            });
        out.int(dominant.map_or(-1, |(t, _)| i64::from(t)));
        out.int(dominant.map_or(0, |(_, n)| n));
        out.float(share(self.echo_replies as f64, self.echo_requests as f64));
        out.int(self.ids.len());
        let seqs = self.seqs.as_ref();
        out.int(seqs.and_then(SeqSet::min).unwrap_or(0));
        out.int(seqs.and_then(SeqSet::max).unwrap_or(0));
        out.int(seqs.map_or(0, SeqSet::gaps));
        let mut stat = 0u8;
        for (count, bit) in [
            (self.echo_requests, 0x01),
            (self.echo_replies, 0x02),
            (self.unreachable, 0x04),
            (self.time_exceeded, 0x08),
            (self.redirects, 0x10),
            (self.other_types, 0x20),
        ] {
            if count > 0 {
                stat |= bit;
            }
        }
        out.int(stat);
        let ratio = share(self.messages as f64, self.packets as f64);
        out.float(ratio);
        out.int(u8::from(self.messages > 0 && self.messages == self.packets));
    }

    fn heap_bytes(&self) -> usize {
        self.types.capacity() * 16
            + self.pairs.capacity() * 2
            + self.ids.capacity() * 4
            + self.seqs.as_ref().map_or(0, |_| 8192)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_gaps_min_and_max() {
        let mut s = SeqSet(Box::new([0; 1024]));
        for v in [5, 6, 7, 9, 63, 64, 65, 200, 65535] {
            s.insert(v);
        }
        assert_eq!((s.min(), s.max()), (Some(5), Some(65535)));
        // Runs: 5-7, 9, 63-65, 200, 65535.
        assert_eq!(s.gaps(), 4);
        let mut one = SeqSet(Box::new([0; 1024]));
        one.insert(0);
        assert_eq!((one.gaps(), one.min(), one.max()), (0, Some(0), Some(0)));
    }
}
