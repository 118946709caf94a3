//! `flow_meta`: identity, counts, volumes, rates and the protocol stack; plus our `capture` columns.

use capture_common::TunnelKind;

use super::{secs, share, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{tcp, Layer, LayerStack, Packet, TunnelInfo};

#[derive(Debug, Default)]
pub(super) struct FlowMeta {
    first_ts: i64,
    last_ts: i64,
    packets: [u64; 2],
    bytes: [u64; 2],
    payload: [u64; 2],
    syn: bool,
    synack: bool,
    fin: [bool; 2],
    rst: bool,
    layers: LayerStack,
    tunnel: TunnelInfo,
    vlan_id: u16,
    ext_header_types: u8,
    ext_header_packets: u64,
}

impl FlowMeta {
    pub(super) fn packets(&self) -> u64 {
        self.packets[0] + self.packets[1]
    }

    /// Bytes in both directions (the `total_bytes` column).
    pub(super) fn bytes(&self) -> u64 {
        self.bytes[0] + self.bytes[1]
    }

    /// Packets from each direction (forward, backward).
    pub(super) fn directed_packets(&self) -> [u64; 2] {
        self.packets
    }

    /// IP bytes from each direction (forward, backward).
    pub(super) fn directed_bytes(&self) -> [u64; 2] {
        self.bytes
    }

    /// Seconds from the first packet to the last.
    pub(super) fn duration_secs(&self) -> f64 {
        secs(self.last_ts - self.first_ts)
    }

    /// First and last packet times, in seconds (the `start_time` and `end_time` columns).
    pub(super) fn span_secs(&self) -> (f64, f64) {
        (secs(self.first_ts), secs(self.last_ts))
    }

    /// Our own columns, written after every JoyfulJay group.
    pub(super) fn finish_capture(&self, flow: &FlowIdentity, out: &mut Row) {
        out.str(flow.end_reason.as_str());
        out.str(self.tunnel.kind.as_str());
        out.int(if self.tunnel.kind == TunnelKind::None {
            0
        } else {
            self.tunnel.id
        });
        out.int(self.vlan_id);
        out.int(self.ext_header_types);
        out.int(self.ext_header_packets);
    }
}

impl Extractor for FlowMeta {
    const GROUP: Group = Group::FlowMeta;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let d = dir as usize;
        if self.packets() == 0 {
            self.first_ts = pkt.ts_ns;
            self.layers = pkt.layers;
            self.tunnel = pkt.tunnel;
            self.vlan_id = if pkt.link.vlan_count > 0 {
                pkt.link.vlan_ids[0]
            } else {
                0
            };
        }
        self.last_ts = pkt.ts_ns;
        self.ext_header_types |= pkt.ip.ext_headers;
        self.ext_header_packets += u64::from(pkt.ip.ext_headers != 0);
        self.packets[d] += 1;
        self.bytes[d] += u64::from(pkt.ip.total_len);
        self.payload[d] += u64::from(pkt.payload_len());
        if let Some(t) = pkt.tcp {
            let syn = t.flags & tcp::SYN != 0;
            let ack = t.flags & tcp::ACK != 0;
            self.syn |= syn && !ack;
            self.synack |= syn && ack;
            self.fin[d] |= t.flags & tcp::FIN != 0;
            self.rst |= t.flags & tcp::RST != 0;
        }
    }

    fn finish(&mut self, flow: &FlowIdentity, out: &mut Row) {
        let [pf, pb] = self.packets;
        let [bf, bb] = self.bytes;
        let (packets, bytes) = (pf + pb, bf + bb);
        let duration = self.duration_secs();
        let (class, class_num) = port_class(flow.responder.1);
        out.str_ip(flow.initiator.0);
        out.str_ip(flow.responder.0);
        out.int(flow.initiator.1);
        out.int(flow.responder.1);
        out.str(class);
        out.int(class_num);
        out.int(flow.protocol);
        out.float(secs(self.first_ts));
        out.float(secs(self.last_ts));
        out.float(duration);
        out.int(packets);
        out.int(pf);
        out.int(pb);
        out.int(bytes);
        out.int(bf);
        out.int(bb);
        out.int(self.payload[0]);
        out.int(self.payload[1]);
        out.int(self.payload[0] + self.payload[1]);
        out.float(ratio(pf, pb));
        out.float(ratio(bf, bb));
        if duration > 0.0 {
            out.float(packets as f64 / duration);
            out.float(bytes as f64 / duration);
        } else {
            out.float(packets as f64);
            out.float(bytes as f64);
        }
        out.float(share(bytes as f64, packets as f64));
        out.float(secs(self.first_ts));
        out.float(secs(self.last_ts));
        let mut stat = 0;
        for (set, bit) in [
            (self.syn, 0x01),
            (self.synack, 0x02),
            (self.fin[0], 0x04),
            (self.fin[1], 0x08),
            (self.rst, 0x10),
        ] {
            if set {
                stat |= bit;
            }
        }
        if self.syn && self.synack && ((self.fin[0] && self.fin[1]) || self.rst) {
            stat |= 0x40;
        }
        out.int(stat);
        let layers = self.layers.as_slice();
        let mut desc = String::with_capacity(8 * layers.len() + 8);
        for (i, layer) in layers.iter().enumerate() {
            if i > 0 {
                desc.push('-');
            }
            desc.push_str(layer.name());
        }
        let mut count = layers.len();
        // A transport the decoder does not parse is named by number, as JoyfulJay does.
        if matches!(layers.last(), Some(Layer::Ipv4 | Layer::Ipv6)) {
            use std::fmt::Write;
            let _ = write!(desc, "-PROTO{}", flow.protocol);
            count += 1;
        }
        out.int(count);
        out.str(desc);
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b > 0 {
        a as f64 / b as f64
    } else {
        a as f64
    }
}

/// JoyfulJay's (Tranalyzer-style) port classes.
fn port_class(port: u16) -> (&'static str, u8) {
    let named = match port {
        20 => "ftp-data",
        21 => "ftp",
        22 => "ssh",
        23 => "telnet",
        25 => "smtp",
        53 => "dns",
        67 | 68 => "dhcp",
        69 => "tftp",
        80 => "http",
        110 => "pop3",
        119 => "nntp",
        123 => "ntp",
        143 => "imap",
        161 => "snmp",
        162 => "snmp-trap",
        443 => "https",
        445 => "smb",
        465 => "smtps",
        514 => "syslog",
        587 => "smtp-submission",
        636 => "ldaps",
        853 => "dns-over-tls",
        993 => "imaps",
        995 => "pop3s",
        1080 => "socks",
        1194 => "openvpn",
        1433 => "mssql",
        1521 => "oracle",
        1723 => "pptp",
        3306 => "mysql",
        3389 => "rdp",
        5060 => "sip",
        5061 => "sips",
        5222 => "xmpp",
        5432 => "postgresql",
        5900 => "vnc",
        6379 => "redis",
        6667 => "irc",
        8080 | 8888 => "http-alt",
        8443 => "https-alt",
        9000 => "php-fpm",
        9200 => "elasticsearch",
        27017 => "mongodb",
        _ => "",
    };
    let class = match port {
        0..=1023 => 1,
        1024..=49151 => 2,
        _ => 3,
    };
    if !named.is_empty() {
        return (named, class);
    }
    (
        ["", "system", "registered", "dynamic"][usize::from(class)],
        class,
    )
}
