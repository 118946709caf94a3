//! `tcp_mptcp` (JJ-EXPERIMENTAL): Multipath TCP options (RFC 6824 v0 and RFC 8684 v1).

use super::{Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{tcp, Packet};

/// MPTCP option subtype announcing MPTCP support on the SYN and SYN/ACK (both versions).
const MP_CAPABLE: u8 = 0;

#[derive(Debug, Default)]
pub(super) struct TcpMptcp {
    packets_with_option: u64,
    capable: [bool; 2],
}

impl Extractor for TcpMptcp {
    const GROUP: Group = Group::TcpMptcp;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let Some(t) = &pkt.tcp else { return };
        let Some(subtype) = t.options.mptcp_subtype else {
            return;
        };
        self.packets_with_option += 1;
        if subtype == MP_CAPABLE && t.flags & tcp::SYN != 0 {
            self.capable[dir as usize] = true;
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let detected = self.packets_with_option > 0;
        let [fwd, bwd] = self.capable;
        out.int(u8::from(detected));
        out.int(u8::from(fwd));
        out.int(u8::from(bwd));
        out.int(self.packets_with_option);
        let mut stat = 0u8;
        for (set, bit) in [
            (detected, 0x01),
            (fwd, 0x02),
            (bwd, 0x04),
            (fwd && bwd, 0x08),
        ] {
            if set {
                stat |= bit;
            }
        }
        out.int(stat);
        out.int(u8::from(fwd && bwd));
    }
}
