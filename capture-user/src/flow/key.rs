//! The direction-independent flow key.

use std::net::IpAddr;

use capture_common::TunnelKind;

use crate::decode::Packet;

/// Identifies a bidirectional conversation: both endpoints in a fixed order (the smaller
/// address/port pair first), the transport protocol, and optionally the tunnel it arrived in.
/// Addresses are kept as 128-bit integers (IPv4 as IPv4-mapped IPv6), so that comparing and
/// hashing a key is a handful of integer operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// The smaller endpoint.
    pub lo: (u128, u16),
    /// The larger endpoint.
    pub hi: (u128, u16),
    /// Transport protocol.
    pub protocol: u8,
    /// Tunnel kind, when tunnels are part of the key (else `None`).
    pub tunnel_kind: TunnelKind,
    /// Tunnel id, when tunnels are part of the key (else 0).
    pub tunnel_id: u32,
}

impl FlowKey {
    /// The key of `pkt`'s conversation and whether `pkt` was sent by the `lo` endpoint.
    /// With `by_tunnel`, the same conversation in two different tunnels (two VNIs, GRE keys or
    /// ERSPAN sessions) is two flows.
    #[must_use]
    pub fn of(pkt: &Packet<'_>, by_tunnel: bool) -> (Self, bool) {
        let a = (addr_bits(pkt.ip.src), pkt.src_port);
        let b = (addr_bits(pkt.ip.dst), pkt.dst_port);
        let from_lo = a <= b;
        let (lo, hi) = if from_lo { (a, b) } else { (b, a) };
        let (tunnel_kind, tunnel_id) = if by_tunnel {
            (pkt.tunnel.kind, pkt.tunnel.id)
        } else {
            (TunnelKind::None, 0)
        };
        (
            Self {
                lo,
                hi,
                protocol: pkt.ip.protocol,
                tunnel_kind,
                tunnel_id,
            },
            from_lo,
        )
    }
}

#[inline]
fn addr_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        ]
    }

    fn packet(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8) -> Packet<'static> {
        let mut p = Packet::default();
        p.ip.src = src;
        p.ip.dst = dst;
        p.ip.protocol = proto;
        p.src_port = sport;
        p.dst_port = dport;
        p
    }

    proptest! {
        #[test]
        fn both_directions_share_a_key(a in addr(), b in addr(), pa: u16, pb: u16, proto: u8) {
            let (k1, lo1) = FlowKey::of(&packet(a, pa, b, pb, proto), false);
            let (k2, lo2) = FlowKey::of(&packet(b, pb, a, pa, proto), false);
            prop_assert_eq!(k1, k2);
            if (a, pa) != (b, pb) {
                prop_assert_ne!(lo1, lo2);
            }
        }

        #[test]
        fn different_conversations_differ(a in addr(), b in addr(), c in addr(), pa: u16, pb: u16, pc: u16) {
            prop_assume!((c, pc) != (a, pa) && (c, pc) != (b, pb));
            let (k1, _) = FlowKey::of(&packet(a, pa, b, pb, 6), false);
            let (k2, _) = FlowKey::of(&packet(a, pa, c, pc, 6), false);
            prop_assert_ne!(k1, k2);
            let (k3, _) = FlowKey::of(&packet(a, pa, b, pb, 17), false);
            prop_assert_ne!(k1, k3);
        }

        #[test]
        fn tunnel_is_in_the_key_only_when_asked(a in addr(), b in addr(), vni1: u32, vni2: u32) {
            prop_assume!(vni1 != vni2);
            let mut p1 = packet(a, 1, b, 2, 17);
            p1.tunnel = crate::decode::TunnelInfo { kind: TunnelKind::Vxlan, id: vni1 };
            let mut p2 = p1;
            p2.tunnel.id = vni2;
            prop_assert_eq!(FlowKey::of(&p1, false).0, FlowKey::of(&p2, false).0);
            prop_assert_ne!(FlowKey::of(&p1, true).0, FlowKey::of(&p2, true).0);
        }
    }
}
