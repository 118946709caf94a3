//! `tcp_rtt` (JJ-EXTENDED): round-trip times from the handshake, from echoed TCP timestamps,
//! and from acknowledgments of data.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::stats::Moments;
use super::{secs, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{tcp, Packet};

/// Entries each lookup table keeps; the oldest is forgotten beyond this.
const MAX_PENDING: usize = 4096;
/// Entries a flow's pending map is first given room for.
const FIRST_RESERVE: usize = 16;
/// Samples of a minute or more are not round trips.
const MAX_RTT_NS: i64 = 60_000_000_000;

/// A bounded map from (direction, number) to the time it was last sent.
#[derive(Debug, Default)]
struct Pending {
    times: FxHashMap<(bool, u32), i64>,
    order: VecDeque<(bool, u32)>,
    /// Entries held per direction (backward, forward): a lookup for a direction holding none
    /// needs no hashing.
    held: [usize; 2],
}

impl Pending {
    fn insert(&mut self, key: (bool, u32), ts: i64) {
        if self.order.capacity() == 0 {
            // One allocation each for a short flow instead of one per doubling.
            self.times.reserve(FIRST_RESERVE);
            self.order.reserve_exact(FIRST_RESERVE);
        }
        if self.times.insert(key, ts).is_none() {
            self.held[usize::from(key.0)] += 1;
            if self.order.len() == MAX_PENDING {
                if let Some(old) = self.order.pop_front() {
                    if self.times.remove(&old).is_some() {
                        self.held[usize::from(old.0)] -= 1;
                    }
                }
            }
            self.order.push_back(key);
        }
    }

    fn get(&self, key: (bool, u32)) -> Option<i64> {
        if self.held[usize::from(key.0)] == 0 {
            return None;
        }
        self.times.get(&key).copied()
    }

    fn remove(&mut self, key: (bool, u32)) -> Option<i64> {
        if self.held[usize::from(key.0)] == 0 {
            return None;
        }
        // The stale entry in `order` is skipped when it reaches the front.
        let found = self.times.remove(&key);
        if found.is_some() {
            self.held[usize::from(key.0)] -= 1;
        }
        found
    }

    fn heap_bytes(&self) -> usize {
        self.times.capacity() * 24 + self.order.capacity() * 8
    }
}

/// A round-trip sample in seconds, or none where it cannot be one (not after its send, or a
/// minute or more).
fn sample(rtt_ns: i64) -> Option<f64> {
    (rtt_ns > 0 && rtt_ns < MAX_RTT_NS).then(|| secs(rtt_ns))
}

/// Round trips from echoed timestamps, with the changes from one to the next (the group's
/// jitter).
#[derive(Debug, Default)]
struct EchoSamples {
    moments: Moments,
    last: Option<f64>,
    jitter: Moments,
}

impl EchoSamples {
    fn push(&mut self, rtt_ns: i64) {
        let Some(rtt) = sample(rtt_ns) else { return };
        if let Some(last) = self.last {
            self.jitter.push((rtt - last).abs());
        }
        self.last = Some(rtt);
        self.moments.push(rtt);
    }
}

/// When each TSval was last sent, per direction. A TSval repeats over many segments (the clock
/// ticks slower than packets), so each direction's current value and its latest time are kept
/// apart and enter the table only when the value changes.
#[derive(Debug, Default)]
struct SentTsval {
    table: Pending,
    current: [Option<(u32, i64)>; 2],
}

impl SentTsval {
    fn sent(&mut self, forward: bool, value: u32, ts: i64) {
        let current = &mut self.current[usize::from(forward)];
        match current {
            Some((v, t)) if *v == value => *t = ts,
            _ => {
                if let Some((v, t)) = current.replace((value, ts)) {
                    self.table.insert((forward, v), t);
                }
            }
        }
    }

    fn last_sent(&self, forward: bool, value: u32) -> Option<i64> {
        match self.current[usize::from(forward)] {
            Some((v, t)) if v == value => Some(t),
            _ => self.table.get((forward, value)),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct TcpRtt {
    syn: Option<i64>,
    synack: Option<i64>,
    ack: Option<i64>,
    sent_tsval: SentTsval,
    echo: EchoSamples,
    unacked: Pending,
    /// Round trips from acknowledgments of data (no jitter is reported for these).
    acked: Moments,
}

impl Extractor for TcpRtt {
    const GROUP: Group = Group::TcpRtt;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let Some(t) = &pkt.tcp else { return };
        let now = pkt.ts_ns;
        let forward = dir == Dir::Fwd;
        let (syn, ack) = (t.flags & tcp::SYN != 0, t.flags & tcp::ACK != 0);
        if syn && !ack && forward && self.syn.is_none() {
            self.syn = Some(now);
        }
        if syn && ack && !forward && self.synack.is_none() {
            self.synack = Some(now);
        }
        if !syn && ack && forward && self.ack.is_none() && self.synack.is_some() {
            self.ack = Some(now);
        }
        if let Some((value, echo)) = t.options.timestamp {
            self.sent_tsval.sent(forward, value, now);
            if echo != 0 {
                if let Some(sent) = self.sent_tsval.last_sent(!forward, echo) {
                    self.echo.push(now - sent);
                }
            }
        }
        let payload = pkt.payload_len();
        if payload > 0 {
            self.unacked
                .insert((forward, t.seq.wrapping_add(payload)), now);
        }
        if let Some(rtt) = self
            .unacked
            .remove((!forward, t.ack))
            .and_then(|sent| sample(now - sent))
        {
            self.acked.push(rtt);
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let handshake = match (self.syn, self.synack, self.ack) {
            (Some(syn), Some(_), Some(ack)) => secs(ack - syn),
            // Without the final ACK, twice the SYN to SYN/ACK time estimates the round trip.
            (Some(syn), Some(synack), None) => secs(synack - syn) * 2.0,
            _ => 0.0,
        };
        out.float(handshake);
        let e = &self.echo.moments;
        out.float(e.min());
        out.float(e.max());
        out.float(e.mean());
        out.int(e.count());
        out.float(if e.count() >= 2 { e.std() } else { 0.0 });
        out.float(self.echo.jitter.mean());
        let a = &self.acked;
        out.float(a.min());
        out.float(a.max());
        out.float(a.mean());
    }

    fn heap_bytes(&self) -> usize {
        self.sent_tsval.table.heap_bytes() + self.unacked.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// The per-direction counts that spare lookups always equal what the table holds,
        /// through inserts, repeats, removals and evictions.
        #[test]
        fn held_counts_follow_the_table(ops in prop::collection::vec((any::<bool>(), any::<bool>(), 0u32..6000), 0..14_000)) {
            let mut p = Pending::default();
            for (i, (insert, forward, n)) in ops.into_iter().enumerate() {
                if insert {
                    p.insert((forward, n), 1);
                } else {
                    let had = p.times.contains_key(&(forward, n));
                    prop_assert_eq!(p.remove((forward, n)).is_some(), had);
                }
                if i % 500 == 0 {
                    for d in [false, true] {
                        let held = p.times.keys().filter(|k| k.0 == d).count();
                        prop_assert_eq!(p.held[usize::from(d)], held);
                    }
                }
            }
        }
    }

    #[test]
    fn a_tsval_remembers_its_latest_send_in_each_direction() {
        let mut sent = SentTsval::default();
        sent.sent(true, 100, 1);
        sent.sent(true, 100, 2);
        assert_eq!(sent.last_sent(true, 100), Some(2));
        assert_eq!(sent.last_sent(false, 100), None);
        sent.sent(true, 101, 3);
        assert_eq!(sent.last_sent(true, 100), Some(2));
        assert_eq!(sent.last_sent(true, 101), Some(3));
        // A value seen again (reordering) is sent later: the later time wins.
        sent.sent(true, 100, 4);
        assert_eq!(sent.last_sent(true, 100), Some(4));
        sent.sent(true, 102, 5);
        assert_eq!(sent.last_sent(true, 100), Some(4));
        assert_eq!(sent.last_sent(true, 101), Some(3));
    }
}
