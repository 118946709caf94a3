//! `fingerprint` (JJ-EXPERIMENTAL): JoyfulJay's Tor, VPN and DNS-over-HTTPS heuristics, and a
//! traffic type that tells encrypted from plain traffic.

use std::borrow::Cow;

use super::stats::Moments;
use super::{secs, share, Dir, Extractor, FlowIdentity, Group, Row};
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

/// What other groups learned about the flow, handed over when it ends.
#[derive(Clone, Debug, Default)]
pub(super) struct Signals {
    /// The ClientHello's server name.
    pub sni: Option<String>,
    /// An SSH session was seen.
    pub ssh: bool,
    /// A DNS message was read.
    pub dns: bool,
    /// Payload sample: size, entropy per byte, printable share.
    pub sample: (usize, f64, f64),
}

#[derive(Debug, Default)]
pub(super) struct Fingerprint {
    first_ts: Option<i64>,
    last_ts: i64,
    sizes: Moments,
    tor_sized: u64,
    vpn_sized: u64,
    packets: [u64; 2],
    bytes: [u64; 2],
    max_fwd: u32,
    /// Set by `FlowFeatures` before `finish`.
    pub signals: Signals,
}

impl Extractor for Fingerprint {
    const GROUP: Group = Group::Fingerprint;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let len = pkt.ip.total_len;
        self.first_ts.get_or_insert(pkt.ts_ns);
        self.last_ts = pkt.ts_ns;
        self.sizes.push(f64::from(len));
        self.tor_sized += u64::from((580..=600).contains(&len));
        self.vpn_sized += u64::from((1400..=1500).contains(&len));
        let d = dir as usize;
        self.packets[d] += 1;
        self.bytes[d] += u64::from(len);
        if dir == Dir::Fwd {
            self.max_fwd = self.max_fwd.max(len);
        }
    }

    fn finish(&mut self, flow: &FlowIdentity, out: &mut Row) {
        let packets = self.sizes.count();
        let share = |n: u64| share(n as f64, packets as f64);
        let duration = secs(self.last_ts - self.first_ts.unwrap_or(self.last_ts));
        let (proto, dport, sport) = (flow.protocol, flow.responder.1, flow.initiator.1);

        let mut tor = 0.0;
        if share(self.tor_sized) > 0.7 {
            tor += 0.4;
        }
        let cv = if self.sizes.mean() > 0.0 {
            self.sizes.cv()
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

        let (doh, sni_matched) = self.doh(proto, dport, duration);
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
        let (sample, sample_entropy, printable) = self.signals.sample;
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
        } else if self.signals.sni.is_some()
            || self.signals.ssh
            || (sample >= MIN_SAMPLE && sample_entropy >= CIPHER_ENTROPY)
        {
            Cow::Borrowed("encrypted")
        } else if self.signals.dns || (sample > 0 && printable >= PLAIN_PRINTABLE) {
            Cow::Borrowed("plain")
        } else {
            Cow::Borrowed("unknown")
        };
        out.str(traffic);
    }
}

impl Fingerprint {
    /// JoyfulJay's DNS-over-HTTPS score for TCP to port 443, and whether the server name is a
    /// known resolver's.
    fn doh(&self, proto: u8, dport: u16, duration: f64) -> (f64, bool) {
        if proto != ipproto::TCP || dport != 443 {
            return (0.0, false);
        }
        let sni = self
            .signals
            .sni
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        let matched = !sni.is_empty() && DOH_PROVIDERS.iter().any(|p| sni.contains(p));
        let [fwd, bwd] = self.packets;
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
        let [req, resp] = self.bytes;
        if self.max_fwd > 600 || req > 2000 || resp > 5000 {
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
}
