//! `mac` (JJ-EXPERIMENTAL): the outermost Ethernet header: addresses, EtherType, VLANs.

use super::stats::Distinct;
use super::{Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{Layer, Packet};

/// Appends `m` as lowercase hex pairs separated by colons.
fn write_mac(text: &mut String, m: [u8; 6]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Built on the stack and appended once: a character at a time, each push checks room and
    // encodes UTF-8.
    let mut bytes = *b"00:00:00:00:00:00";
    for (i, b) in m.iter().enumerate() {
        bytes[3 * i] = HEX[usize::from(b >> 4)];
        bytes[3 * i + 1] = HEX[usize::from(b & 0xf)];
    }
    text.push_str(std::str::from_utf8(&bytes).unwrap_or_default());
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
    srcs: Distinct<[u8; 6]>,
    dsts: Distinct<[u8; 6]>,
    vlans: Distinct<u16>,
    broadcast: u64,
    multicast: u64,
    /// Per direction, the last source and destination seen (see [`mac_key`]): a flow's packets
    /// mostly repeat them, and the sets need not look again.
    recent: [[u64; 2]; 2],
}

/// An address as one word, bit 48 marking one present (0 stands for none).
fn mac_key(m: Option<[u8; 6]>) -> u64 {
    m.map_or(0, |[a, b, c, d, e, f]| {
        u64::from_le_bytes([a, b, c, d, e, f, 1, 0])
    })
}

impl Extractor for Mac {
    const GROUP: Group = Group::Mac;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
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
            self.vlans.insert(pkt.link.vlan_ids[0]);
        }
        // The same pair as this direction's last packet is in the sets already.
        let pair = [mac_key(src), mac_key(dst)];
        if self.recent[dir as usize] != pair {
            self.recent[dir as usize] = pair;
            if let Some(src) = src {
                self.srcs.insert(src);
            }
            if let Some(dst) = dst {
                self.dsts.insert(dst);
            }
        }
        if let Some(dst) = dst {
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
        out.int(self.vlans.values().min().unwrap_or(0));
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
        self.srcs.heap_bytes() + self.dsts.heap_bytes() + self.vlans.heap_bytes()
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
