//! `fingerprint` (JJ-EXPERIMENTAL): JoyfulJay's Tor, VPN and DNS-over-HTTPS heuristics, and a
//! traffic type that tells encrypted from plain traffic.

use std::borrow::Cow;

use super::stats::Moments;
use super::{share, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{ipproto, Packet};

/// Server names of public DNS-over-HTTPS resolvers.
const DOH_PROVIDERS: &[&str] = &[
    "cloudflare-dns.com",
    "dns.google",
    "dns.google.com",
    "doh.opendns.com",
    "dns.quad9.net",
    "doh.cleanbrowsing.org",
    "dns.adguard.com",
    "doh.dns.sb",
    "dns.nextdns.io",
];

/// A payload sample at least this large, with at least this entropy per byte, is ciphertext.
const MIN_SAMPLE: usize = 128;
const CIPHER_ENTROPY: f64 = 7.0;
/// A payload sample at least this printable is plain text.
const PLAIN_PRINTABLE: f64 = 0.75;

/// What the group reads of the other groups when the flow ends.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reads<'a> {
    pub flow: &'a FlowIdentity,
    /// Packets and IP bytes from each direction (forward, backward).
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// Seconds from the first packet to the last.
    pub duration: f64,
    /// Moments of every packet's IP length.
    pub sizes: Moments,
    /// The largest IP length the initiator sent.
    pub largest_forward: f64,
    /// The ClientHello's server name.
    pub sni: Option<&'a str>,
    /// An SSH session was seen.
    pub ssh: bool,
    /// A DNS message was read.
    pub dns: bool,
    /// Payload sample: size, entropy per byte, printable share.
    pub sample: (usize, f64, f64),
}

/// Packets counted per packet; the rest of what the group needs the flow_meta, size, TLS, SSH,
/// DNS and entropy groups keep anyway.
#[derive(Debug, Default)]
pub(super) struct Fingerprint {
    tor_sized: u64,
    vpn_sized: u64,
}

impl Extractor for Fingerprint {
    const GROUP: Group = Group::Fingerprint;
    type Reads<'a> = Reads<'a>;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, _dir: Dir) {
        let len = pkt.ip.total_len;
        self.tor_sized += u64::from(super::padding::tor_cell_sized(len));
        self.vpn_sized += u64::from((1400..=1500).contains(&len));
    }

    fn finish(&mut self, reads: Reads<'_>, out: &mut Row) {
        let packets = reads.packets[0] + reads.packets[1];
        let share = |n: u64| share(n as f64, packets as f64);
        let flow = reads.flow;
        let (proto, dport, sport) = (flow.protocol, flow.responder.1, flow.initiator.1);

        let mut tor = 0.0;
        if share(self.tor_sized) > 0.7 {
            tor += 0.4;
        }
        let cv = if reads.sizes.mean() > 0.0 {
            reads.sizes.cv()
        } else {
            1.0
        };
        if packets > 0 && cv < 0.1 {
            tor += 0.3;
        }
        if matches!(dport, 443 | 9001 | 9030 | 9050 | 9051) {
            tor += 0.1;
        }
        let tor = f64::min(tor, 1.0);

        let mut vpn = 0.0;
        let mut vpn_type = "";
        if proto == ipproto::UDP && (dport == 1194 || sport == 1194) {
            vpn += 0.5;
            vpn_type = "openvpn";
        }
        if proto == ipproto::UDP && dport == 51820 {
            vpn += 0.5;
            vpn_type = "wireguard";
        }
        match proto {
            50 => {
                vpn += 0.7;
                vpn_type = "ipsec-esp";
            }
            51 => {
                vpn += 0.7;
                vpn_type = "ipsec-ah";
            }
            _ => {}
        }
        if proto == ipproto::UDP && matches!(dport, 500 | 4500) {
            vpn += 0.4;
            vpn_type = "ipsec-ike";
        }
        if proto == ipproto::UDP && dport == 1701 {
            vpn += 0.4;
            vpn_type = "l2tp";
        }
        if share(self.vpn_sized) > 0.5 {
            vpn += 0.2;
        }
        let vpn = f64::min(vpn, 1.0);

        let (doh, sni_matched) = doh(&reads, proto, dport);
        let likely_tor = tor >= 0.5;
        let likely_vpn = vpn >= 0.4;
        let likely_doh = sni_matched || doh >= 0.35;
        out.bool(likely_tor);
        out.float(tor);
        out.bool(likely_vpn);
        out.float(vpn);
        out.str(vpn_type);
        out.bool(likely_doh);
        out.float(doh);
        let (sample, sample_entropy, printable) = reads.sample;
        let traffic = if likely_tor {
            Cow::Borrowed("tor")
        } else if likely_vpn {
            if vpn_type.is_empty() {
                Cow::Borrowed("vpn")
            } else {
                Cow::Owned(format!("vpn:{vpn_type}"))
            }
        } else if likely_doh {
            Cow::Borrowed("doh")
        } else if reads.sni.is_some()
            || reads.ssh
            || (sample >= MIN_SAMPLE && sample_entropy >= CIPHER_ENTROPY)
        {
            Cow::Borrowed("encrypted")
        } else if reads.dns || (sample > 0 && printable >= PLAIN_PRINTABLE) {
            Cow::Borrowed("plain")
        } else {
            Cow::Borrowed("unknown")
        };
        out.str(traffic);
    }
}

/// JoyfulJay's DNS-over-HTTPS score for TCP to port 443, and whether the server name is a
/// known resolver's.
fn doh(reads: &Reads<'_>, proto: u8, dport: u16) -> (f64, bool) {
    if proto != ipproto::TCP || dport != 443 {
        return (0.0, false);
    }
    // The names are lowercase: a case-blind search is a search in the lowercased name.
    // Lowered once (on the stack: a DNS name is at most 253 bytes), then searched for each
    // lowercase name, instead of a case-blind compare at every offset for every name.
    let sni = reads.sni.unwrap_or("").as_bytes();
    let mut on_stack = [0u8; 256];
    let long;
    let lowered: &[u8] = if let Some(buf) = on_stack.get_mut(..sni.len()) {
        for (l, b) in buf.iter_mut().zip(sni) {
            *l = b.to_ascii_lowercase();
        }
        buf
    } else {
        long = sni.to_ascii_lowercase();
        &long
    };
    static FINDERS: std::sync::OnceLock<Vec<memchr::memmem::Finder<'static>>> =
        std::sync::OnceLock::new();
    // Every resolver name holds "dns" or "doh": a name with neither is none of them.
    let maybe = memchr::memchr_iter(b'd', lowered)
        .any(|i| matches!(lowered.get(i + 1..i + 3), Some(b"ns" | b"oh")));
    let matched = maybe
        && FINDERS
            .get_or_init(|| {
                DOH_PROVIDERS
                    .iter()
                    .map(|p| memchr::memmem::Finder::new(p.as_bytes()))
                    .collect()
            })
            .iter()
            .any(|f| f.find(lowered).is_some());
    let [fwd, bwd] = reads.packets;
    let duration = reads.duration;
    let total = fwd + bwd;
    let mut score = 0.0;
    if matched {
        if duration < 1.0 {
            score += 0.1;
        }
        if total < 20 {
            score += 0.1;
        }
        return (f64::min(score + 0.6, 1.0), true);
    }
    // Small, short, balanced exchanges look like DNS queries.
    if total > 15 || fwd < 2 || bwd < 2 || fwd.abs_diff(bwd) > 3 {
        return (0.0, false);
    }
    let [req, resp] = reads.bytes;
    if reads.largest_forward > 600.0 || req > 2000 || resp > 5000 {
        return (0.0, false);
    }
    if req > 0 {
        let ratio = resp as f64 / req as f64;
        if ratio > 0.5 && ratio < 10.0 {
            score += 0.15;
        }
    }
    if duration < 0.5 {
        score += 0.15;
    }
    if fwd <= 6 && bwd <= 6 {
        score += 0.1;
    }
    (f64::min(score, 1.0), false)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use capture_common::FlowEndReason;

    use super::*;

    fn reads<'a>(flow: &'a FlowIdentity, sni: Option<&'a str>) -> Reads<'a> {
        Reads {
            flow,
            packets: [40, 40],
            bytes: [30_000, 90_000],
            duration: 12.0,
            sizes: Moments::default(),
            largest_forward: 1200.0,
            sni,
            ssh: false,
            dns: false,
            sample: (0, 0.0, 0.0),
        }
    }

    #[test]
    fn every_resolver_name_holds_dns_or_doh() {
        for name in DOH_PROVIDERS {
            assert!(name.contains("dns") || name.contains("doh"), "{name}");
            assert_eq!(
                name.to_ascii_lowercase(),
                *name,
                "{name} is searched lowercase"
            );
        }
    }

    #[test]
    fn resolver_names_match_in_any_case_and_only_whole() {
        let flow = FlowIdentity {
            initiator: (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 50_000),
            responder: (IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)), 443),
            protocol: ipproto::TCP,
            end_reason: FlowEndReason::Fin,
        };
        for sni in [
            "cloudflare-dns.com",
            "Mozilla.Cloudflare-DNS.com",
            "DNS.GOOGLE",
        ] {
            assert_eq!(
                doh(&reads(&flow, Some(sni)), ipproto::TCP, 443),
                (0.6, true),
                "{sni}"
            );
        }
        for sni in [
            None,
            Some(""),
            Some("cloudflare-dns.co"),
            Some("example.com"),
        ] {
            assert!(!doh(&reads(&flow, sni), ipproto::TCP, 443).1, "{sni:?}");
        }
        // A name longer than DNS allows is still searched whole.
        let long = format!("{}.Dns.Google", "a".repeat(300));
        assert_eq!(
            doh(&reads(&flow, Some(&long)), ipproto::TCP, 443),
            (0.6, true)
        );
        // Only TCP to port 443 is scored.
        let named = reads(&flow, Some("dns.google"));
        assert_eq!(doh(&named, ipproto::UDP, 443), (0.0, false));
        assert_eq!(doh(&named, ipproto::TCP, 853), (0.0, false));
    }
}
