//! Packet decoding: from a captured frame to the innermost IP conversation.
//!
//! Each protocol has its own module with a zero-copy header view whose constructor checks the
//! length once; after that no accessor can panic. [`decode_frame`] walks the layers, follows the
//! mirror encapsulations (VXLAN, GENEVE, GRE, ERSPAN, IP-in-IP, MPLS, PPPoE, VLAN) down to the
//! innermost IP header, and fills a [`Packet`]. It never panics, whatever the bytes.

pub mod error;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod mpls;
pub mod tcp;
pub mod tunnel;
pub mod udp;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use capture_common::TunnelKind;

use error::ensure;
pub use error::{DecodeError, DecodeErrorKind, Layer};
use ethernet::{
    EthernetHeader, LoopbackHeader, Sll2Header, SllHeader, VlanTag, ETHERTYPE_IPV4, ETHERTYPE_IPV6,
    ETHERTYPE_MPLS, ETHERTYPE_MPLS_MC, ETHERTYPE_PPPOE_SESSION, ETHERTYPE_QINQ, ETHERTYPE_QINQ_OLD,
    ETHERTYPE_TEB, ETHERTYPE_VLAN,
};
use icmp::IcmpHeader;
use ipv4::Ipv4Header;
use ipv6::{ExtensionHeader, Ipv6Header};
use mpls::{MplsEntry, PppoeSession, PPP_IPV4, PPP_IPV6};
use tcp::{TcpHeader, TcpOptions};
use tunnel::{ErspanHeader, GeneveHeader, GreHeader, VxlanHeader, GENEVE_PORT, VXLAN_PORT};
use udp::UdpHeader;

/// IP protocol numbers the decoder acts on.
pub mod ipproto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IPv4 in IP.
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 in IP.
    pub const IPV6: u8 = 41;
    /// GRE.
    pub const GRE: u8 = 47;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// No next header (IPv6).
    pub const NONE: u8 = 59;
}

/// Link types (pcap `LINKTYPE_*` values) the decoder reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// BSD loopback, host byte order family (0).
    Null,
    /// Ethernet (1).
    Ethernet,
    /// Raw IPv4 or IPv6 (101, and the historical 12 and 14).
    Raw,
    /// Raw IPv4 (228).
    Ipv4,
    /// Raw IPv6 (229).
    Ipv6,
    /// Linux cooked v1 (113).
    LinuxSll,
    /// Linux cooked v2 (276).
    LinuxSll2,
    /// OpenBSD loopback, network byte order family (108).
    Loop,
    /// Anything else: decoded as nothing, counted as unsupported.
    Other(u32),
}

impl LinkType {
    /// Maps a `LINKTYPE_*` number.
    #[must_use]
    pub const fn from_u32(v: u32) -> Self {
        match v {
            0 => Self::Null,
            1 => Self::Ethernet,
            12 | 14 | 101 => Self::Raw,
            108 => Self::Loop,
            113 => Self::LinuxSll,
            228 => Self::Ipv4,
            229 => Self::Ipv6,
            276 => Self::LinuxSll2,
            other => Self::Other(other),
        }
    }
}

/// Encapsulations nested deeper than this are rejected (guards against crafted loops).
const MAX_DEPTH: u8 = 8;
/// Layers remembered for `hdr_desc`.
const MAX_LAYERS: usize = 16;

/// The protocol stack of a packet, outermost first, as used for `hdr_desc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerStack {
    layers: [Layer; MAX_LAYERS],
    len: u8,
}

impl Default for LayerStack {
    fn default() -> Self {
        Self {
            layers: [Layer::Ethernet; MAX_LAYERS],
            len: 0,
        }
    }
}

impl LayerStack {
    pub(crate) fn push(&mut self, layer: Layer) {
        if usize::from(self.len) < MAX_LAYERS {
            self.layers[usize::from(self.len)] = layer;
            self.len += 1;
        }
    }

    /// The layers, outermost first.
    #[inline]
    #[must_use]
    pub fn as_slice(&self) -> &[Layer] {
        &self.layers[..usize::from(self.len)]
    }
}

/// Layer-2 facts of the outermost frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkInfo {
    /// Source MAC, when the link type has one.
    pub src_mac: Option<[u8; 6]>,
    /// Destination MAC, when the link type has one.
    pub dst_mac: Option<[u8; 6]>,
    /// The outermost EtherType (before any VLAN tag is stripped).
    pub ethertype: u16,
    /// VLAN ids, outermost first (the first two).
    pub vlan_ids: [u16; 2],
    /// How many VLAN tags were seen.
    pub vlan_count: u8,
    /// How many MPLS labels were seen.
    pub mpls_count: u8,
}

/// The outermost tunnel the packet arrived in (the mirror encapsulation, when there is one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TunnelInfo {
    /// The kind of encapsulation.
    pub kind: TunnelKind,
    /// VNI, GRE key or ERSPAN session id; 0 when the encapsulation has none.
    pub id: u32,
}

/// Facts of the innermost IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo {
    /// 4 or 6.
    pub version: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The transport protocol after every IPv6 extension header.
    pub protocol: u8,
    /// IPv4 total length, or IPv6 payload length + 40: the packet length every size feature uses.
    pub total_len: u32,
    /// IPv4 header length with options, or 40 plus every IPv6 extension header.
    pub header_len: u32,
    /// TTL or hop limit.
    pub ttl: u8,
    /// IPv4 type of service, or IPv6 traffic class.
    pub tos: u8,
    /// IPv4 identification (0 for IPv6).
    pub ident: u16,
    /// IPv4 flags (DF = 2, MF = 1).
    pub flags: u8,
    /// IPv6 flow label (0 for IPv4).
    pub flow_label: u32,
    /// IPv6 extension headers present, one bit per kind (see [`ipv6::extension_bit`]).
    pub ext_headers: u8,
}

impl Default for IpInfo {
    fn default() -> Self {
        Self {
            version: 0,
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            protocol: 0,
            total_len: 0,
            header_len: 0,
            ttl: 0,
            tos: 0,
            ident: 0,
            flags: 0,
            flow_label: 0,
            ext_headers: 0,
        }
    }
}

/// Where a fragment belongs in its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentInfo {
    /// IPv4 identification or IPv6 fragment identification.
    pub ident: u32,
    /// Offset of this fragment's payload in the datagram, in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

/// TCP header facts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// The nine flag bits.
    pub flags: u16,
    /// Advertised window (unscaled).
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Header length with options.
    pub header_len: u8,
    /// Parsed options.
    pub options: TcpOptions,
}

/// ICMP or ICMPv6 header facts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IcmpInfo {
    /// Message type.
    pub icmp_type: u8,
    /// Message code.
    pub code: u8,
    /// Identifier (echo).
    pub ident: u16,
    /// Sequence number (echo).
    pub seq: u16,
}

/// One decoded packet: what the flow engine and every extractor read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Packet<'a> {
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Length of the frame on the wire.
    pub wire_len: u32,
    /// Layer-2 facts of the outermost frame.
    pub link: LinkInfo,
    /// The outermost tunnel.
    pub tunnel: TunnelInfo,
    /// The protocol stack, outermost first.
    pub layers: LayerStack,
    /// The innermost IP header.
    pub ip: IpInfo,
    /// Set when the innermost IP packet is a fragment still to be reassembled.
    pub fragment: Option<FragmentInfo>,
    /// Source port (0 when the protocol has none).
    pub src_port: u16,
    /// Destination port (0 when the protocol has none).
    pub dst_port: u16,
    /// TCP facts, for TCP.
    pub tcp: Option<TcpInfo>,
    /// ICMP facts, for ICMP and ICMPv6.
    pub icmp: Option<IcmpInfo>,
    /// The captured transport payload, cut at the IP length (or the IP payload for a fragment).
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Transport payload length: the captured bytes after the transport header, up to the IP length.
    #[inline]
    #[must_use]
    pub fn payload_len(&self) -> u32 {
        u32::try_from(self.payload.len()).unwrap_or(u32::MAX)
    }

    /// Whether this is TCP with the given flag bits all set.
    #[must_use]
    pub fn has_tcp_flags(&self, bits: u16) -> bool {
        self.tcp.is_some_and(|t| t.flags & bits == bits)
    }
}

/// Decodes one captured frame of link type `link` into `pkt` (whose `ts_ns` and `wire_len` the
/// caller sets). On success `pkt` describes the innermost IP packet; when that packet is an IP
/// fragment, `pkt.fragment` is set and `pkt.payload` holds the fragment's IP payload, to be handed
/// to the reassembler and finished with [`decode_reassembled`].
pub fn decode_frame<'a>(
    link: LinkType,
    frame: &'a [u8],
    pkt: &mut Packet<'a>,
) -> Result<(), DecodeError> {
    let mut d = Decoder {
        frame,
        pkt,
        depth: 0,
    };
    match link {
        LinkType::Ethernet => d.ethernet(0),
        LinkType::Raw => d.ip_by_version(0, frame.len()),
        LinkType::Ipv4 => d.ipv4(0, frame.len()),
        LinkType::Ipv6 => d.ipv6(0, frame.len()),
        LinkType::LinuxSll => {
            let h = SllHeader::new_checked(frame, 0)?;
            d.pkt.layers.push(Layer::LinuxSll);
            if h.hatype() == 1 && h.halen() == 6 {
                d.pkt.link.src_mac = Some(h.src());
            }
            d.pkt.link.ethertype = h.protocol();
            d.ethertype(h.protocol(), SllHeader::LEN, Layer::LinuxSll, 0)
        }
        LinkType::LinuxSll2 => {
            let h = Sll2Header::new_checked(frame, 0)?;
            d.pkt.layers.push(Layer::LinuxSll2);
            if h.hatype() == 1 && h.halen() == 6 {
                d.pkt.link.src_mac = Some(h.src());
            }
            d.pkt.link.ethertype = h.protocol();
            d.ethertype(h.protocol(), Sll2Header::LEN, Layer::LinuxSll2, 0)
        }
        LinkType::Null | LinkType::Loop => {
            let h = LoopbackHeader::new_checked(frame, 0)?;
            d.pkt.layers.push(Layer::Loopback);
            match h.ethertype() {
                Some(et) => {
                    d.pkt.link.ethertype = et;
                    d.ethertype(et, LoopbackHeader::LEN, Layer::Loopback, 0)
                }
                None => Err(DecodeError {
                    layer: Layer::Loopback,
                    offset: 0,
                    kind: DecodeErrorKind::NotIp(0),
                }),
            }
        }
        LinkType::Other(v) => Err(DecodeError {
            layer: Layer::Ethernet,
            offset: 0,
            kind: DecodeErrorKind::UnsupportedLinkType(v),
        }),
    }
}

/// Finishes a packet whose IP datagram was reassembled from fragments: decodes the transport
/// header from `datagram_payload` (the datagram's whole IP payload) and updates lengths.
pub fn decode_reassembled<'a>(
    pkt: &mut Packet<'a>,
    datagram_payload: &'a [u8],
) -> Result<(), DecodeError> {
    pkt.fragment = None;
    let len = u32::try_from(datagram_payload.len()).unwrap_or(u32::MAX);
    pkt.ip.total_len = pkt.ip.header_len.saturating_add(len);
    let mut d = Decoder {
        frame: datagram_payload,
        pkt,
        depth: 0,
    };
    let proto = d.pkt.ip.protocol;
    d.transport(proto, 0, datagram_payload.len())
}

struct Decoder<'a, 'p> {
    frame: &'a [u8],
    pkt: &'p mut Packet<'a>,
    depth: u8,
}

impl<'a> Decoder<'a, '_> {
    fn at(&self, off: usize, end: usize) -> &'a [u8] {
        let end = end.min(self.frame.len());
        self.frame.get(off..end).unwrap_or(&[])
    }

    fn enter_tunnel(
        &mut self,
        kind: TunnelKind,
        id: u32,
        layer: Layer,
        off: usize,
    ) -> Result<(), DecodeError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(DecodeError {
                layer,
                offset: off,
                kind: DecodeErrorKind::TooDeep,
            });
        }
        if self.pkt.tunnel.kind == TunnelKind::None {
            self.pkt.tunnel = TunnelInfo { kind, id };
        }
        Ok(())
    }

    fn ethernet(&mut self, off: usize) -> Result<(), DecodeError> {
        let h = EthernetHeader::new_checked(self.at(off, usize::MAX), off)?;
        self.pkt.layers.push(Layer::Ethernet);
        // Only the outermost frame's addresses describe the capture point.
        if self.pkt.link.src_mac.is_none() {
            self.pkt.link.src_mac = Some(h.src());
            self.pkt.link.dst_mac = Some(h.dst());
            self.pkt.link.ethertype = h.ethertype();
        }
        self.ethertype(
            h.ethertype(),
            off + EthernetHeader::LEN,
            Layer::Ethernet,
            off,
        )
    }

    fn ethertype(
        &mut self,
        mut ethertype: u16,
        mut off: usize,
        mut carrier: Layer,
        mut carrier_off: usize,
    ) -> Result<(), DecodeError> {
        loop {
            match ethertype {
                ETHERTYPE_IPV4 => return self.ipv4(off, usize::MAX),
                ETHERTYPE_IPV6 => return self.ipv6(off, usize::MAX),
                ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
                    let tag = VlanTag::new_checked(self.at(off, usize::MAX), off)?;
                    self.pkt.layers.push(Layer::Vlan);
                    let link = &mut self.pkt.link;
                    if usize::from(link.vlan_count) < link.vlan_ids.len() {
                        link.vlan_ids[usize::from(link.vlan_count)] = tag.vid();
                    }
                    link.vlan_count = link.vlan_count.saturating_add(1);
                    ethertype = tag.ethertype();
                    (carrier, carrier_off) = (Layer::Vlan, off);
                    off += VlanTag::LEN;
                }
                ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => return self.mpls(off),
                ETHERTYPE_PPPOE_SESSION => {
                    let h = PppoeSession::new_checked(self.at(off, usize::MAX), off)?;
                    self.pkt.layers.push(Layer::Pppoe);
                    let next = off + PppoeSession::LEN;
                    return match h.ppp_protocol() {
                        PPP_IPV4 => self.ipv4(next, usize::MAX),
                        PPP_IPV6 => self.ipv6(next, usize::MAX),
                        other => Err(DecodeError {
                            layer: Layer::Pppoe,
                            offset: off,
                            kind: DecodeErrorKind::NotIp(other),
                        }),
                    };
                }
                ETHERTYPE_TEB => return self.ethernet(off),
                other => {
                    return Err(DecodeError {
                        layer: carrier,
                        offset: carrier_off,
                        kind: DecodeErrorKind::NotIp(other),
                    })
                }
            }
        }
    }

    fn mpls(&mut self, mut off: usize) -> Result<(), DecodeError> {
        loop {
            let entry = MplsEntry::new_checked(self.at(off, usize::MAX), off)?;
            self.pkt.layers.push(Layer::Mpls);
            self.pkt.link.mpls_count = self.pkt.link.mpls_count.saturating_add(1);
            off += MplsEntry::LEN;
            if entry.bottom_of_stack() {
                break;
            }
            if self.pkt.link.mpls_count > 16 {
                return Err(DecodeError::malformed(
                    Layer::Mpls,
                    off,
                    "label stack deeper than 16",
                ));
            }
        }
        // MPLS does not name its payload; the first nibble tells IP apart from a pseudowire.
        let first = self.at(off, usize::MAX).first().copied();
        match first.map(|b| b >> 4) {
            Some(4) => self.ipv4(off, usize::MAX),
            Some(6) => self.ipv6(off, usize::MAX),
            // Ethernet pseudowire with the 4-byte control word (RFC 4385).
            Some(0) => self.ethernet(off + 4),
            _ => Err(DecodeError {
                layer: Layer::Mpls,
                offset: off,
                kind: DecodeErrorKind::NotIp(0),
            }),
        }
    }

    fn ip_by_version(&mut self, off: usize, end: usize) -> Result<(), DecodeError> {
        let buf = self.at(off, end);
        ensure(buf, 1, Layer::Ipv4, off)?;
        match buf[0] >> 4 {
            4 => self.ipv4(off, end),
            6 => self.ipv6(off, end),
            _ => Err(DecodeError::malformed(
                Layer::Ipv4,
                off,
                "IP version is neither 4 nor 6",
            )),
        }
    }

    fn ipv4(&mut self, off: usize, end: usize) -> Result<(), DecodeError> {
        let h = Ipv4Header::new_checked(self.at(off, end), off)?;
        self.pkt.layers.push(Layer::Ipv4);
        let hl = h.header_len();
        let total = usize::from(h.total_len());
        if total < hl {
            return Err(DecodeError::malformed(
                Layer::Ipv4,
                off,
                "total length below header length",
            ));
        }
        self.pkt.ip = IpInfo {
            version: 4,
            src: IpAddr::V4(Ipv4Addr::from(h.src())),
            dst: IpAddr::V4(Ipv4Addr::from(h.dst())),
            protocol: h.protocol(),
            total_len: u32::from(h.total_len()),
            header_len: u32::try_from(hl).unwrap_or(u32::MAX),
            ttl: h.ttl(),
            tos: h.tos(),
            ident: h.ident(),
            flags: h.flags(),
            flow_label: 0,
            ext_headers: 0,
        };
        let payload_end = off.saturating_add(total).min(end);
        if h.more_fragments() || h.fragment_offset() != 0 {
            self.pkt.fragment = Some(FragmentInfo {
                ident: u32::from(h.ident()),
                offset: h.fragment_offset(),
                more: h.more_fragments(),
            });
            self.pkt.payload = self.at(off + hl, payload_end);
            return Ok(());
        }
        self.pkt.fragment = None;
        self.transport(h.protocol(), off + hl, payload_end)
    }

    fn ipv6(&mut self, off: usize, end: usize) -> Result<(), DecodeError> {
        let h = Ipv6Header::new_checked(self.at(off, end), off)?;
        self.pkt.layers.push(Layer::Ipv6);
        let payload_end = off
            .saturating_add(Ipv6Header::LEN + usize::from(h.payload_len()))
            .min(end);
        let mut next = h.next_header();
        let mut cursor = off + Ipv6Header::LEN;
        let mut fragment = None;
        let mut ext_headers = 0;
        let mut hops = 0;
        while ipv6::is_extension_header(next) {
            hops += 1;
            if hops > 16 {
                return Err(DecodeError::malformed(
                    Layer::Ipv6Extension,
                    cursor,
                    "more than 16 extension headers",
                ));
            }
            let ext = ExtensionHeader::new_checked(self.at(cursor, payload_end), next, cursor)?;
            ext_headers |= ipv6::extension_bit(next);
            if let Some((frag_off, more, ident)) = ext.fragment() {
                // An atomic fragment (offset 0, no more) is a whole datagram (RFC 6946).
                if frag_off != 0 || more {
                    fragment = Some(FragmentInfo {
                        ident,
                        offset: frag_off,
                        more,
                    });
                }
            }
            next = ext.next_header();
            cursor += ext.len();
        }
        self.pkt.ip = IpInfo {
            version: 6,
            src: IpAddr::V6(Ipv6Addr::from(h.src())),
            dst: IpAddr::V6(Ipv6Addr::from(h.dst())),
            protocol: next,
            total_len: u32::from(h.payload_len()) + 40,
            header_len: u32::try_from(cursor - off).unwrap_or(u32::MAX),
            ttl: h.hop_limit(),
            tos: h.traffic_class(),
            ident: 0,
            flags: 0,
            flow_label: h.flow_label(),
            ext_headers,
        };
        self.pkt.fragment = fragment;
        if fragment.is_some() {
            self.pkt.payload = self.at(cursor, payload_end);
            return Ok(());
        }
        self.transport(next, cursor, payload_end)
    }

    /// Decodes the transport layer of protocol `proto` found at `off`, bounded by the IP length at `end`.
    fn transport(&mut self, proto: u8, off: usize, end: usize) -> Result<(), DecodeError> {
        self.pkt.src_port = 0;
        self.pkt.dst_port = 0;
        self.pkt.tcp = None;
        self.pkt.icmp = None;
        let buf = self.at(off, end);
        match proto {
            ipproto::TCP => {
                let h = TcpHeader::new_checked(buf, off)?;
                self.pkt.layers.push(Layer::Tcp);
                self.pkt.src_port = h.src_port();
                self.pkt.dst_port = h.dst_port();
                self.pkt.tcp = Some(TcpInfo {
                    seq: h.seq(),
                    ack: h.ack(),
                    flags: h.flags(),
                    window: h.window(),
                    urgent: h.urgent_ptr(),
                    header_len: u8::try_from(h.header_len()).unwrap_or(u8::MAX),
                    options: TcpOptions::parse(h.options()),
                });
                self.pkt.payload = self.at(off + h.header_len(), end);
                Ok(())
            }
            ipproto::UDP => {
                let h = UdpHeader::new_checked(buf, off)?;
                self.pkt.layers.push(Layer::Udp);
                let inner = off + UdpHeader::LEN;
                let (sport, dport) = (h.src_port(), h.dst_port());
                if dport == VXLAN_PORT || sport == VXLAN_PORT {
                    if let Ok(v) = VxlanHeader::new_checked(self.at(inner, end), inner) {
                        self.pkt.layers.push(Layer::Vxlan);
                        self.enter_tunnel(TunnelKind::Vxlan, v.vni(), Layer::Vxlan, inner)?;
                        return self.ethernet(inner + VxlanHeader::LEN);
                    }
                }
                if dport == GENEVE_PORT || sport == GENEVE_PORT {
                    if let Ok(g) = GeneveHeader::new_checked(self.at(inner, end), inner) {
                        self.pkt.layers.push(Layer::Geneve);
                        self.enter_tunnel(TunnelKind::Geneve, g.vni(), Layer::Geneve, inner)?;
                        let next = inner + g.header_len();
                        return self.ethertype(g.protocol(), next, Layer::Geneve, inner);
                    }
                }
                self.pkt.src_port = sport;
                self.pkt.dst_port = dport;
                self.pkt.payload = self.at(inner, end);
                Ok(())
            }
            ipproto::ICMP | ipproto::ICMPV6 => {
                let layer = if proto == ipproto::ICMP {
                    Layer::Icmp
                } else {
                    Layer::Icmpv6
                };
                let h = IcmpHeader::new_checked(buf, layer, off)?;
                self.pkt.layers.push(layer);
                self.pkt.icmp = Some(IcmpInfo {
                    icmp_type: h.icmp_type(),
                    code: h.code(),
                    ident: h.ident(),
                    seq: h.seq(),
                });
                self.pkt.payload = self.at(off + IcmpHeader::LEN, end);
                Ok(())
            }
            ipproto::GRE => self.gre(off, end),
            ipproto::IPIP => {
                self.enter_tunnel(TunnelKind::IpInIp, 0, Layer::Ipv4, off)?;
                self.ipv4(off, end)
            }
            ipproto::IPV6 => {
                self.enter_tunnel(TunnelKind::IpInIp, 0, Layer::Ipv6, off)?;
                self.ipv6(off, end)
            }
            _ => {
                self.pkt.payload = buf;
                Ok(())
            }
        }
    }

    fn gre(&mut self, off: usize, end: usize) -> Result<(), DecodeError> {
        let h = GreHeader::new_checked(self.at(off, end), off)?;
        self.pkt.layers.push(Layer::Gre);
        let inner = off + h.header_len();
        match h.protocol() {
            tunnel::GRE_PROTO_ERSPAN_II if !h.has_sequence() => {
                // ERSPAN type I: no ERSPAN header, the mirrored frame follows GRE directly.
                self.enter_tunnel(TunnelKind::Erspan, 0, Layer::Erspan, inner)?;
                self.ethernet(inner)
            }
            proto @ (tunnel::GRE_PROTO_ERSPAN_II | tunnel::GRE_PROTO_ERSPAN_III) => {
                let e = ErspanHeader::new_checked(
                    self.at(inner, end),
                    proto == tunnel::GRE_PROTO_ERSPAN_III,
                    inner,
                )?;
                self.pkt.layers.push(Layer::Erspan);
                self.enter_tunnel(
                    TunnelKind::Erspan,
                    u32::from(e.session_id()),
                    Layer::Erspan,
                    inner,
                )?;
                self.ethernet(inner + e.header_len())
            }
            tunnel::GRE_PROTO_PPP => {
                // PPTP: PPP in enhanced GRE, with optional address/control bytes.
                let buf = self.at(inner, end);
                let skip = if buf.starts_with(&[0xff, 0x03]) { 2 } else { 0 };
                let pbuf = self.at(inner + skip, end);
                ensure(pbuf, 2, Layer::Gre, inner)?;
                let ppp = u16::from_be_bytes([pbuf[0], pbuf[1]]);
                self.enter_tunnel(TunnelKind::Gre, h.key().unwrap_or(0), Layer::Gre, off)?;
                match ppp {
                    PPP_IPV4 => self.ipv4(inner + skip + 2, end),
                    PPP_IPV6 => self.ipv6(inner + skip + 2, end),
                    other => Err(DecodeError {
                        layer: Layer::Gre,
                        offset: off,
                        kind: DecodeErrorKind::NotIp(other),
                    }),
                }
            }
            proto => {
                self.enter_tunnel(TunnelKind::Gre, h.key().unwrap_or(0), Layer::Gre, off)?;
                self.ethertype(proto, inner, Layer::Gre, off)
            }
        }
    }
}

#[cfg(test)]
mod tests;
