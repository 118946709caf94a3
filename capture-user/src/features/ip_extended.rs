//! `ip_extended` (JJ-EXTENDED): TTL per direction, type of service, IPv4 flags and IDs.

use super::stats::ByteSet;
use super::{share, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::Packet;

#[derive(Clone, Copy, Debug, Default)]
struct Ttls {
    count: u64,
    sum: u64,
    min: u8,
    max: u8,
    first: u8,
    distinct: ByteSet,
}

impl Ttls {
    fn push(&mut self, ttl: u8) {
        if self.count == 0 {
            self.min = ttl;
            self.max = ttl;
            self.first = ttl;
        }
        self.count += 1;
        self.sum += u64::from(ttl);
        self.min = self.min.min(ttl);
        self.max = self.max.max(ttl);
        self.distinct.insert(ttl);
    }
}

#[derive(Debug, Default)]
pub(super) struct IpExtended {
    packets: u64,
    ttl: [Ttls; 2],
    tos: ByteSet,
    flags: u8,
    df: u64,
    versions: u8,
    last_ipv4_id: Option<u16>,
    id_gaps: u64,
}

impl Extractor for IpExtended {
    const GROUP: Group = Group::IpExtended;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let ip = &pkt.ip;
        self.packets += 1;
        self.ttl[dir as usize].push(ip.ttl);
        // Bit v set for version v (4 or 6); the smallest is taken when the flow ends.
        self.versions |= 1 << (ip.version & 7);
        // Type of service, flags and identification exist only in IPv4 headers.
        if ip.version == 4 {
            self.tos.insert(ip.tos);
            self.flags |= ip.flags;
            self.df += u64::from(ip.flags & 0x02 != 0);
            // The ID wraps at 2^16; a step of more than one means unseen datagrams between.
            let last = self.last_ipv4_id.unwrap_or(ip.ident);
            self.id_gaps += u64::from(ip.ident.wrapping_sub(last) > 1);
            self.last_ipv4_id = Some(ip.ident);
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        for t in &self.ttl {
            out.int(t.min);
            out.int(t.max);
            out.float(share(t.sum as f64, t.count as f64));
            out.int(t.distinct.len().saturating_sub(1));
        }
        let fwd = &self.ttl[0];
        let initial: u16 = match fwd.first {
            _ if fwd.count == 0 => 0,
            0..=64 => 64,
            65..=128 => 128,
            _ => 255,
        };
        out.int(initial);
        out.int(if fwd.count > 0 {
            initial - u16::from(fwd.first)
        } else {
            0
        });
        let tos = self.tos.min().unwrap_or(0);
        out.int(tos);
        out.int(self.tos.len());
        out.int(tos >> 2);
        out.int(tos & 0x03);
        out.int(self.flags);
        out.int(self.df);
        out.float(share(self.df as f64, self.packets as f64));
        // The smallest version seen (no packet, or only version 0: 4).
        let min_version = self.versions & !1;
        out.int(if min_version == 0 {
            4
        } else {
            min_version.trailing_zeros()
        });
        out.int(self.id_gaps);
    }
}
