//! `mac` (JJ-EXPERIMENTAL): the outermost Ethernet header: addresses, EtherType, VLANs.

use super::{Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{Layer, Packet};

/// Distinct values kept per set; a flow with more keeps counting only these.
const MAX_DISTINCT: usize = 256;

fn insert<T: PartialEq>(set: &mut Vec<T>, v: T) {
    // A flow's packets mostly repeat the value the set last took in.
    if set.last() == Some(&v) {
        return;
    }
    if set.len() < MAX_DISTINCT && !set.contains(&v) {
        set.push(v);
    }
}

/// Appends `m` as lowercase hex pairs separated by colons.
fn write_mac(text: &mut String, m: [u8; 6]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in m.iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        text.push(char::from(HEX[usize::from(b >> 4)]));
        text.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

#[cfg(test)]
fn mac_text(m: [u8; 6]) -> String {
    let mut s = String::with_capacity(17);
    write_mac(&mut s, m);
    s
}

#[derive(Debug, Default)]
pub(super) struct Mac {
    seen: bool,
    first_src: Option<[u8; 6]>,
    first_dst: Option<[u8; 6]>,
    first_ethertype: u16,
    srcs: Vec<[u8; 6]>,
    dsts: Vec<[u8; 6]>,
    vlans: Vec<u16>,
    broadcast: u64,
    multicast: u64,
}

impl Extractor for Mac {
    const GROUP: Group = Group::Mac;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, _dir: Dir) {
        // Only an Ethernet header has these fields (a cooked capture's SLL header does not).
        let ethernet = pkt.layers.as_slice().first() == Some(&Layer::Ethernet);
        let (src, dst) = if ethernet {
            (pkt.link.src_mac, pkt.link.dst_mac)
        } else {
            (None, None)
        };
        if !self.seen {
            self.seen = true;
            self.first_src = src;
            self.first_dst = dst;
            self.first_ethertype = if ethernet { pkt.link.ethertype } else { 0 };
        }
        if pkt.link.vlan_count > 0 {
            insert(&mut self.vlans, pkt.link.vlan_ids[0]);
        }
        if let Some(src) = src {
            insert(&mut self.srcs, src);
        }
        if let Some(dst) = dst {
            insert(&mut self.dsts, dst);
            if dst == [0xff; 6] {
                self.broadcast += 1;
            } else if dst[0] & 0x01 != 0 {
                self.multicast += 1;
            }
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        // Written straight into the record's text: two strings of their own per flow were two
        // allocations.
        for first in [self.first_src, self.first_dst] {
            out.str_with(|text| {
                if let Some(m) = first {
                    write_mac(text, m);
                }
            });
        }
        out.int(self.first_ethertype);
        out.int(self.vlans.iter().copied().min().unwrap_or(0));
        out.int(self.vlans.len());
        out.int(self.srcs.len());
        out.int(self.dsts.len());
        let mut stat = 0u8;
        for (set, bit) in [
            (self.first_src.is_some(), 0x01),
            (self.first_dst.is_some(), 0x02),
            (self.srcs.len() > 1, 0x04),
            (self.dsts.len() > 1, 0x08),
            (!self.vlans.is_empty(), 0x10),
        ] {
            if set {
                stat |= bit;
            }
        }
        out.int(stat);
        out.int(self.broadcast);
        out.int(self.multicast);
    }

    fn heap_bytes(&self) -> usize {
        self.srcs.capacity() * 6 + self.dsts.capacity() * 6 + self.vlans.capacity() * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_text_is_lowercase_colon_separated() {
        assert_eq!(
            mac_text([0x00, 0x1b, 0x21, 0xAB, 0xcd, 0xEF]),
            "00:1b:21:ab:cd:ef"
        );
    }
}
