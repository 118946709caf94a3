//! `tcp`: flag counts, ratios and the connection's life cycle.

use super::{Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::tcp::{ACK, CWR, ECE, FIN, PSH, RST, SYN, URG};
use crate::decode::{ipproto, Packet};

#[derive(Debug, Default)]
pub(super) struct TcpFlags {
    packets: u64,
    syn: u64,
    synack: u64,
    fin: u64,
    rst: u64,
    ack: u64,
    psh: u64,
    urg: u64,
    ece: u64,
    cwr: u64,
    data: u64,
    ack_only: u64,
    initiator_syn: bool,
    responder_synack: bool,
    fin_by: [bool; 2],
    anomaly: bool,
    flags_by: [u16; 2],
}

/// Flag combinations no healthy stack sends.
fn is_anomalous(flags: u16) -> bool {
    flags == 0
        || flags & (FIN | PSH | URG) == (FIN | PSH | URG)
        || (flags & FIN != 0 && flags & (ACK | SYN) == 0)
        || flags & (SYN | FIN) == (SYN | FIN)
        || flags & (SYN | RST) == (SYN | RST)
}

impl Extractor for TcpFlags {
    const GROUP: Group = Group::Tcp;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        self.packets += 1;
        let Some(t) = pkt.tcp else { return };
        let f = t.flags;
        let d = dir as usize;
        if f & SYN != 0 {
            if f & ACK != 0 {
                self.synack += 1;
                self.responder_synack |= dir == Dir::Bwd;
            } else {
                self.syn += 1;
                self.initiator_syn |= dir == Dir::Fwd;
            }
        }
        if f & FIN != 0 {
            self.fin += 1;
            self.fin_by[d] = true;
        }
        if f & RST != 0 {
            self.rst += 1;
        }
        if f & ACK != 0 {
            self.ack += 1;
            if pkt.payload_len() == 0 && f & (SYN | FIN | RST) == 0 {
                self.ack_only += 1;
            }
        }
        self.psh += u64::from(f & PSH != 0);
        self.urg += u64::from(f & URG != 0);
        self.ece += u64::from(f & ECE != 0);
        self.cwr += u64::from(f & CWR != 0);
        self.data += u64::from(pkt.payload_len() > 0);
        self.anomaly |= is_anomalous(f);
        self.flags_by[d] |= f;
    }

    fn finish(&mut self, flow: &FlowIdentity, out: &mut Row) {
        let is_tcp = flow.protocol == ipproto::TCP;
        if !is_tcp {
            out.bool(false);
            for _ in 0..9 {
                out.int(0);
            }
            for _ in 0..3 {
                out.bool(false);
            }
            for _ in 0..4 {
                out.float(0.0);
            }
            out.int(0);
            out.int(0);
            for _ in 0..3 {
                out.bool(false);
            }
            for _ in 0..4 {
                out.int(0);
            }
            return;
        }
        out.bool(true);
        for n in [
            self.syn,
            self.synack,
            self.fin,
            self.rst,
            self.ack,
            self.psh,
            self.urg,
            self.ece,
            self.cwr,
        ] {
            out.int(n);
        }
        out.bool(self.initiator_syn && self.responder_synack);
        out.bool(self.fin_by[0] && self.fin_by[1]);
        out.bool(self.rst > 0);
        let total = self.packets.max(1) as f64;
        out.float((self.syn + self.synack) as f64 / total);
        out.float(self.fin as f64 / total);
        out.float(self.rst as f64 / total);
        out.float(self.psh as f64 / total);
        out.int(self.data);
        out.int(self.ack_only);
        out.bool(self.anomaly);
        out.bool(self.initiator_syn);
        out.bool(self.responder_synack);
        let mut fstat = 0u8;
        for (set, bit) in [
            (self.initiator_syn, 0x01),
            (self.responder_synack, 0x02),
            (self.ack > self.synack, 0x04),
            (self.fin_by[0], 0x08),
            (self.fin_by[1], 0x10),
            (self.rst > 0, 0x20),
            (self.data > 0, 0x40),
            (self.anomaly, 0x80),
        ] {
            if set {
                fstat |= bit;
            }
        }
        out.int(fstat);
        out.int(self.flags_by[0] | self.flags_by[1]);
        out.int(self.flags_by[0]);
        out.int(self.flags_by[1]);
    }
}
