//! `ipv6_options` (JJ-EXPERIMENTAL): the IP versions of a flow's packets, IPv6 flow labels and
//! traffic classes.

use super::stats::{ByteSet, Distinct};
use super::{share, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::Packet;

#[derive(Debug, Default)]
pub(super) struct Ipv6Options {
    ipv6: u64,
    ipv4: u64,
    labels: Distinct<u32>,
    traffic_classes: ByteSet,
}

impl Extractor for Ipv6Options {
    const GROUP: Group = Group::Ipv6Options;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, _dir: Dir) {
        match pkt.ip.version {
            6 => {
                self.ipv6 += 1;
                self.labels.insert(pkt.ip.flow_label);
                self.traffic_classes.insert(pkt.ip.tos);
            }
            4 => self.ipv4 += 1,
            _ => {}
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        out.int(self.ipv6);
        out.int(self.ipv4);
        out.int(self.labels.values().min().unwrap_or(0));
        out.int(self.labels.len());
        out.int(self.labels.len().saturating_sub(1));
        let tc = self.traffic_classes.min().unwrap_or(0);
        out.int(tc);
        out.int(self.traffic_classes.len());
        out.int(tc >> 2);
        out.int(tc & 0x03);
        let total = self.ipv6 + self.ipv4;
        out.float(share(self.ipv6 as f64, total as f64));
        out.int(u8::from(self.ipv4 == 0 && self.ipv6 > 0));
    }

    fn heap_bytes(&self) -> usize {
        self.labels.heap_bytes()
    }
}
