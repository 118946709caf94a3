//! Per-protocol decoder tests on packets built byte by byte.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use capture_common::TunnelKind;

use super::*;

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xa];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xb];

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MAC_B);
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], options: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let hl = 20 + options.len();
    let total = u16::try_from(hl + payload.len()).unwrap();
    let mut p = vec![0x40 | u8::try_from(hl / 4).unwrap(), 0xb8];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(options);
    p.extend_from_slice(payload);
    p
}

fn ipv6(next: u8, ext_and_payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x6a, 0xb1, 0x23, 0x45];
    p.extend_from_slice(&u16::try_from(ext_and_payload.len()).unwrap().to_be_bytes());
    p.extend_from_slice(&[next, 55]);
    p.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
    p.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
    p.extend_from_slice(ext_and_payload);
    p
}

fn tcp(sport: u16, dport: u16, flags: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&1000u32.to_be_bytes());
    t.extend_from_slice(&2000u32.to_be_bytes());
    t.push(u8::try_from((20 + options.len()) / 4).unwrap() << 4);
    t.push(flags);
    t.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(options);
    t.extend_from_slice(payload);
    t
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&u16::try_from(8 + payload.len()).unwrap().to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn decode(link: LinkType, frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let mut p = Packet::default();
    decode_frame(link, frame, &mut p).map(|()| p)
}

fn names(p: &Packet<'_>) -> String {
    p.layers
        .as_slice()
        .iter()
        .map(|l| l.name())
        .collect::<Vec<_>>()
        .join("-")
}

fn inner_tcp() -> Vec<u8> {
    ipv4(
        ipproto::TCP,
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        &[],
        &tcp(1234, 443, 0x18, &[], b"hello"),
    )
}

/// 10.0.0.1:1234 -> 10.0.0.2:443 in VXLAN (VNI 12345) between 172.16.0.1 and 172.16.0.2.
fn vxlan_frame() -> Vec<u8> {
    let mut vx = vec![0x08, 0, 0, 0, 0x00, 0x30, 0x39, 0x00];
    vx.extend_from_slice(&eth(0x0800, &inner_tcp()));
    eth(
        0x0800,
        &ipv4(
            17,
            [172, 16, 0, 1],
            [172, 16, 0, 2],
            &[],
            &udp(50000, 4789, &vx),
        ),
    )
}

#[test]
fn ethernet_ipv4_tcp_with_options() {
    // MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
    let opts = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7,
    ];
    let frame = eth(
        0x0800,
        &ipv4(
            6,
            [192, 0, 2, 1],
            [198, 51, 100, 2],
            &[1, 1, 1, 0],
            &tcp(40000, 80, 0x02, &opts, b""),
        ),
    );
    let p = decode(LinkType::Ethernet, &frame).unwrap();
    assert_eq!(names(&p), "ETH-IP-TCP");
    assert_eq!(p.link.src_mac, Some(MAC_A));
    assert_eq!(p.link.dst_mac, Some(MAC_B));
    assert_eq!(p.ip.src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(p.ip.header_len, 24);
    assert_eq!(p.ip.total_len, 24 + 40);
    assert_eq!(p.ip.ttl, 64);
    assert_eq!(p.ip.tos, 0xb8);
    assert_eq!(p.ip.flags, 2);
    assert_eq!((p.src_port, p.dst_port), (40000, 80));
    let t = p.tcp.unwrap();
    assert_eq!(t.flags, tcp::SYN);
    assert_eq!(t.seq, 1000);
    assert_eq!(t.options.mss, Some(1460));
    assert_eq!(t.options.window_scale, Some(7));
    assert!(t.options.sack_permitted);
    assert_eq!(t.options.timestamp, Some((1, 2)));
    assert!(!t.options.malformed);
    assert_eq!(p.payload_len(), 0);
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut frame = eth(
        0x0800,
        &ipv4(
            6,
            [1, 1, 1, 1],
            [2, 2, 2, 2],
            &[],
            &tcp(1, 2, 0x10, &[], b""),
        ),
    );
    frame.extend_from_slice(&[0; 6]);
    let p = decode(LinkType::Ethernet, &frame).unwrap();
    assert_eq!(p.payload_len(), 0);
    assert_eq!(p.ip.total_len, 40);
}

#[test]
fn vlan_qinq_and_mpls() {
    let inner = inner_tcp();
    let mut tagged = vec![0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00];
    tagged.extend_from_slice(&inner);
    let bytes = eth(0x88a8, &tagged);
    let p = decode(LinkType::Ethernet, &bytes).unwrap();
    assert_eq!(names(&p), "ETH-VLAN-VLAN-IP-TCP");
    assert_eq!(p.link.vlan_ids, [100, 200]);
    assert_eq!(p.link.vlan_count, 2);

    let mut mpls = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
    mpls.extend_from_slice(&inner);
    let bytes = eth(0x8847, &mpls);
    let p = decode(LinkType::Ethernet, &bytes).unwrap();
    assert_eq!(names(&p), "ETH-MPLS-MPLS-IP-TCP");
    assert_eq!(p.link.mpls_count, 2);
    assert_eq!(p.dst_port, 443);
}

#[test]
fn pppoe_session() {
    let inner = inner_tcp();
    let mut pppoe = vec![0x11, 0x00, 0x00, 0x2a];
    pppoe.extend_from_slice(&u16::try_from(inner.len() + 2).unwrap().to_be_bytes());
    pppoe.extend_from_slice(&[0x00, 0x21]);
    pppoe.extend_from_slice(&inner);
    let bytes = eth(0x8864, &pppoe);
    let p = decode(LinkType::Ethernet, &bytes).unwrap();
    assert_eq!(names(&p), "ETH-PPPOE-IP-TCP");
    assert_eq!(p.payload, b"hello");
}

#[test]
fn ipv6_extension_chain_gives_the_real_transport() {
    let t = tcp(5000, 80, 0x02, &[], b"");
    // Hop-by-hop (8 bytes) -> destination options (8 bytes) -> TCP.
    let mut ext = vec![60, 0, 1, 4, 0, 0, 0, 0];
    ext.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    ext.extend_from_slice(&t);
    let bytes = eth(0x86dd, &ipv6(0, &ext));
    let p = decode(LinkType::Ethernet, &bytes).unwrap();
    assert_eq!(names(&p), "ETH-IP6-TCP");
    assert_eq!(p.ip.protocol, 6);
    assert_eq!(p.ip.header_len, 56);
    assert_eq!(p.ip.total_len, 40 + 16 + 20);
    assert_eq!(p.ip.flow_label, 0x12345);
    assert_eq!(
        p.ip.ext_headers,
        1 | 8,
        "hop-by-hop and destination options"
    );
    assert_eq!(p.ip.tos, 0xab);
    assert_eq!(p.ip.ttl, 55);
    assert_eq!(p.dst_port, 80);
}

#[test]
fn ipv6_fragments_and_atomic_fragments() {
    let t = tcp(5000, 80, 0x02, &[], b"");
    let mut atomic = vec![6, 0, 0, 0, 0, 0, 0, 9];
    atomic.extend_from_slice(&t);
    let bytes = ipv6(44, &atomic);
    let p = decode(LinkType::Raw, &bytes).unwrap();
    assert!(
        p.fragment.is_none(),
        "an atomic fragment is a whole datagram"
    );
    assert_eq!(p.dst_port, 80);

    let mut first = vec![17, 0, 0, 1, 0, 0, 0, 9];
    first.extend_from_slice(&[0; 16]);
    let bytes = ipv6(44, &first);
    let p = decode(LinkType::Raw, &bytes).unwrap();
    assert_eq!(
        p.fragment,
        Some(FragmentInfo {
            ident: 9,
            offset: 0,
            more: true
        })
    );
    assert_eq!(p.ip.protocol, 17);
    assert_eq!(p.payload.len(), 16);
}

#[test]
fn ipv4_fragment_is_reported_not_decoded() {
    let mut pkt = ipv4(17, [1, 1, 1, 1], [2, 2, 2, 2], &[], &[0; 24]);
    pkt[6] = 0x20; // MF
    let bytes = pkt;
    let p = decode(LinkType::Raw, &bytes).unwrap();
    assert_eq!(
        p.fragment,
        Some(FragmentInfo {
            ident: 0x1234,
            offset: 0,
            more: true
        })
    );
    assert_eq!(p.payload.len(), 24);
    assert_eq!(p.src_port, 0);
}

#[test]
fn icmp_and_icmpv6() {
    let echo = [8, 0, 0, 0, 0x00, 0x07, 0x00, 0x03, b'p', b'i', b'n', b'g'];
    let bytes = ipv4(1, [1, 1, 1, 1], [2, 2, 2, 2], &[], &echo);
    let p = decode(LinkType::Raw, &bytes).unwrap();
    assert_eq!(names(&p), "IP-ICMP");
    assert_eq!(
        p.icmp,
        Some(IcmpInfo {
            icmp_type: 8,
            code: 0,
            ident: 7,
            seq: 3
        })
    );
    assert_eq!(p.payload, b"ping");
    let ns = [135, 0, 0, 0, 0, 0, 0, 0];
    let bytes = ipv6(58, &ns);
    let p = decode(LinkType::Raw, &bytes).unwrap();
    assert_eq!(names(&p), "IP6-ICMP6");
    assert_eq!(p.icmp.unwrap().icmp_type, 135);
}

#[test]
fn vxlan_inner_conversation_with_vni() {
    let outer = vxlan_frame();
    let bytes = outer;
    let p = decode(LinkType::Ethernet, &bytes).unwrap();
    assert_eq!(names(&p), "ETH-IP-UDP-VXLAN-ETH-IP-TCP");
    assert_eq!(
        p.tunnel,
        TunnelInfo {
            kind: TunnelKind::Vxlan,
            id: 12345
        }
    );
    assert_eq!(p.ip.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!((p.src_port, p.dst_port), (1234, 443));
    assert_eq!(
        p.link.src_mac,
        Some(MAC_A),
        "the outer frame's addresses describe the capture point"
    );
}

#[test]
fn udp_4789_that_is_not_vxlan_stays_udp() {
    let bytes = ipv4(
        17,
        [1, 1, 1, 1],
        [2, 2, 2, 2],
        &[],
        &udp(4789, 53, &[0; 12]),
    );
    let p = decode(LinkType::Raw, &bytes).unwrap();
    assert_eq!(names(&p), "IP-UDP");
    assert_eq!(p.tunnel.kind, TunnelKind::None);
    assert_eq!(p.payload.len(), 12);
}

#[test]
fn geneve_with_options() {
    let mut g = vec![
        0x01, 0x00, 0x65, 0x58, 0x00, 0x00, 0x07, 0x00, 0x01, 0x02, 0x03, 0x04,
    ];
    g.extend_from_slice(&eth(0x0800, &inner_tcp()));
    let bytes = ipv4(17, [1, 1, 1, 1], [2, 2, 2, 2], &[], &udp(1, 6081, &g));
    let p = decode(LinkType::Raw, &bytes).unwrap();
    assert_eq!(names(&p), "IP-UDP-GENEVE-ETH-IP-TCP");
    assert_eq!(
        p.tunnel,
        TunnelInfo {
            kind: TunnelKind::Geneve,
            id: 7
        }
    );
    assert_eq!(p.dst_port, 443);
}

#[test]
fn gre_with_checksum_key_and_sequence() {
    let mut gre = vec![
        0xb0, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0, 0, 0, 5,
    ];
    gre.extend_from_slice(&inner_tcp());
    let bytes = ipv4(47, [1, 1, 1, 1], [2, 2, 2, 2], &[], &gre);
    let p = decode(LinkType::Raw, &bytes).unwrap();
    assert_eq!(names(&p), "IP-GRE-IP-TCP");
    assert_eq!(
        p.tunnel,
        TunnelInfo {
            kind: TunnelKind::Gre,
            id: 256
        }
    );
    let view = tunnel::GreHeader::new_checked(&gre, 0).unwrap();
    assert_eq!(view.sequence(), Some(5));
}

#[test]
fn erspan_type_ii_and_iii() {
    let mirrored = eth(0x0800, &inner_tcp());
    let mut ii = vec![0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1];
    ii.extend_from_slice(&[0x10, 0x05, 0x00, 0x2a, 0, 0, 0, 0]);
    ii.extend_from_slice(&mirrored);
    let bytes = ipv4(47, [1, 1, 1, 1], [2, 2, 2, 2], &[], &ii);
    let p = decode(LinkType::Raw, &bytes).unwrap();
    assert_eq!(names(&p), "IP-GRE-ERSPAN-ETH-IP-TCP");
    assert_eq!(
        p.tunnel,
        TunnelInfo {
            kind: TunnelKind::Erspan,
            id: 42
        }
    );

    // Type III with the optional 8-byte platform sub-header.
    let mut iii = vec![0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 1];
    iii.extend_from_slice(&[0x20, 0x05, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0, 0x01]);
    iii.extend_from_slice(&[0; 8]);
    iii.extend_from_slice(&mirrored);
    let bytes = ipv4(47, [1, 1, 1, 1], [2, 2, 2, 2], &[], &iii);
    let p = decode(LinkType::Raw, &bytes).unwrap();
    assert_eq!(
        p.tunnel,
        TunnelInfo {
            kind: TunnelKind::Erspan,
            id: 7
        }
    );
    assert_eq!(p.dst_port, 443);
}

#[test]
fn ip_in_ip() {
    let bytes = ipv4(4, [1, 1, 1, 1], [2, 2, 2, 2], &[], &inner_tcp());
    let p = decode(LinkType::Raw, &bytes).unwrap();
    assert_eq!(names(&p), "IP-IP-TCP");
    assert_eq!(p.tunnel.kind, TunnelKind::IpInIp);
    assert_eq!(p.ip.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
}

#[test]
fn cooked_and_loopback_link_types() {
    let inner = inner_tcp();
    let mut sll = vec![0, 0, 0, 1, 0, 6];
    sll.extend_from_slice(&MAC_A);
    sll.extend_from_slice(&[0, 0, 0x08, 0x00]);
    sll.extend_from_slice(&inner);
    let p = decode(LinkType::LinuxSll, &sll).unwrap();
    assert_eq!(names(&p), "SLL-IP-TCP");
    assert_eq!(p.link.src_mac, Some(MAC_A));

    let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6];
    sll2.extend_from_slice(&MAC_A);
    sll2.extend_from_slice(&[0, 0]);
    sll2.extend_from_slice(&inner);
    assert_eq!(
        names(&decode(LinkType::LinuxSll2, &sll2).unwrap()),
        "SLL2-IP-TCP"
    );

    for family in [2u32.to_le_bytes(), 2u32.to_be_bytes()] {
        let mut lo = family.to_vec();
        lo.extend_from_slice(&inner);
        assert_eq!(names(&decode(LinkType::Null, &lo).unwrap()), "LOOP-IP-TCP");
    }
    let mut lo6 = 30u32.to_le_bytes().to_vec();
    lo6.extend_from_slice(&ipv6(59, &[]));
    assert_eq!(decode(LinkType::Null, &lo6).unwrap().ip.version, 6);
}

#[test]
fn not_ip_and_unsupported_link_types_are_classified() {
    let arp = eth(0x0806, &[0; 28]);
    let e = decode(LinkType::Ethernet, &arp).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::NotIp(0x0806));
    assert_eq!(e.skip_reason(), capture_common::SkipReason::NotIp);
    let e = decode(LinkType::from_u32(147), &arp).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::UnsupportedLinkType(147));
}

#[test]
fn every_truncation_is_an_error_naming_layer_and_offset() {
    let full = vxlan_frame();
    assert!(decode(LinkType::Ethernet, &full).is_ok());
    // The 5 payload bytes of the inner TCP segment may be cut without an error.
    let complete_headers = full.len() - 5;
    for cut in 0..complete_headers {
        match decode(LinkType::Ethernet, &full[..cut]) {
            Err(e) => {
                assert!(e.offset <= cut, "offset {} beyond cut {cut}", e.offset);
                assert!(!e.to_string().is_empty());
            }
            // Cutting inside the VXLAN header makes the UDP payload too short to be VXLAN:
            // then it is plain UDP, which is a correct reading of those bytes.
            Ok(p) => assert_eq!(
                p.tunnel.kind,
                TunnelKind::None,
                "cut {cut} decoded as {}",
                names(&p)
            ),
        }
    }
}

#[test]
fn malformed_headers_are_rejected() {
    let mut bad_ihl = ipv4(6, [1, 1, 1, 1], [2, 2, 2, 2], &[], &tcp(1, 2, 0, &[], b""));
    bad_ihl[0] = 0x44;
    assert!(matches!(
        decode(LinkType::Raw, &bad_ihl).unwrap_err().kind,
        DecodeErrorKind::Malformed(_)
    ));
    let mut bad_doff = ipv4(6, [1, 1, 1, 1], [2, 2, 2, 2], &[], &tcp(1, 2, 0, &[], b""));
    bad_doff[20 + 12] = 0x30;
    let e = decode(LinkType::Raw, &bad_doff).unwrap_err();
    assert_eq!((e.layer, e.offset), (Layer::Tcp, 20));
}

#[test]
fn nested_tunnels_are_bounded() {
    // GRE inside GRE, nine deep: refused instead of followed.
    let mut pkt = inner_tcp();
    for _ in 0..9 {
        let mut gre = vec![0x00, 0x00, 0x08, 0x00];
        gre.extend_from_slice(&pkt);
        pkt = ipv4(47, [1, 1, 1, 1], [2, 2, 2, 2], &[], &gre);
    }
    assert_eq!(
        decode(LinkType::Raw, &pkt).unwrap_err().kind,
        DecodeErrorKind::TooDeep
    );
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300), link in prop_oneof![Just(0u32), Just(1), Just(101), Just(113), Just(276), Just(228), Just(229)]) {
            let mut p = Packet::default();
            let _ = decode_frame(LinkType::from_u32(link), &bytes, &mut p);
        }

        /// The shortcut for NOP, NOP, timestamps reads what the walk reads, and so do the
        /// areas that only look like it.
        #[test]
        fn tcp_options_shortcut_reads_as_the_walk(tail in proptest::collection::vec(any::<u8>(), 0..12), lead in prop_oneof![Just(vec![1u8, 1, 8, 10]), proptest::collection::vec(any::<u8>(), 0..5)]) {
            let mut area = lead;
            area.extend(tail);
            prop_assert_eq!(crate::decode::tcp::TcpOptions::parse(&area), crate::decode::tcp::TcpOptions::walk(&area));
        }

        #[test]
        fn on_mutated_tunnel_frames(flips in proptest::collection::vec((0usize..200, any::<u8>()), 1..8)) {
            let mut frame = vxlan_frame();
            for (at, v) in flips {
                let n = frame.len();
                frame[at % n] = v;
            }
            let mut p = Packet::default();
            let _ = decode_frame(LinkType::Ethernet, &frame, &mut p);
        }
    }
}
