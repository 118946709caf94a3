//! `tcp_fingerprint` (JJ-EXPERIMENTAL): the SYN and SYN/ACK parameters, JoyfulJay's fingerprint
//! of them, a coarse operating-system hint and an uptime estimate from TCP timestamps.
//!
//! The fingerprint is JoyfulJay's own scheme (MD5 of window, TTL, MSS, window scale and option
//! flags), not JA4T.

use super::{Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{tcp, Packet};
use crate::stream::tls::md5_hex;

#[derive(Clone, Copy, Debug)]
struct SynParams {
    window: u16,
    ttl: u8,
    mss: u16,
    window_scale: u8,
    sack: bool,
    timestamps: bool,
}

/// Distinct SYN parameter sets remembered per thread; the cache starts over beyond this.
const FINGERPRINT_CACHE: usize = 4096;

impl SynParams {
    /// The fingerprint as a string of its own.
    #[cfg(test)]
    fn fingerprint(self) -> String {
        let mut text = String::new();
        self.write_fingerprint(&mut text);
        text
    }

    /// Appends the fingerprint to `text`. Fingerprints are remembered per thread: a few
    /// parameter sets cover most flows, and each costs an MD5 and two formatted strings.
    fn write_fingerprint(self, text: &mut String) {
        thread_local! {
            static CACHE: std::cell::RefCell<rustc_hash::FxHashMap<u64, String>> =
                std::cell::RefCell::default();
        }
        let key = u64::from(self.window)
            | u64::from(self.ttl) << 16
            | u64::from(self.mss) << 24
            | u64::from(self.window_scale) << 40
            | u64::from(self.sack) << 48
            | u64::from(self.timestamps) << 49;
        CACHE.with_borrow_mut(|cache| {
            if cache.len() >= FINGERPRINT_CACHE && !cache.contains_key(&key) {
                cache.clear();
            }
            text.push_str(
                cache
                    .entry(key)
                    .or_insert_with(|| self.compute_fingerprint()),
            );
        });
    }

    fn compute_fingerprint(self) -> String {
        let options = u8::from(self.sack) | u8::from(self.timestamps) << 1;
        let text = format!(
            "{}_{}_{}_{}_{options}",
            self.window, self.ttl, self.mss, self.window_scale
        );
        let digest = md5_hex(&text);
        format!(
            "t{}_{}_{}_{}",
            self.window,
            self.mss,
            self.window_scale,
            &digest[..12]
        )
    }

    /// A guess from the initial TTL and the window, as JoyfulJay makes it.
    fn os_hint(self) -> &'static str {
        let initial_ttl = match self.ttl {
            0..=64 => 64,
            65..=128 => 128,
            _ => 255,
        };
        match (initial_ttl, self.window) {
            (64, 29200 | 65535) => "linux",
            (64, 5840) => "linux-old",
            (128, 65535 | 8192) => "windows",
            (128, 65520) => "windows-10",
            (255, _) => "bsd",
            _ => "unknown",
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct TcpFingerprint {
    syn: [Option<SynParams>; 2],
    first_tsval: [Option<u32>; 2],
}

impl Extractor for TcpFingerprint {
    const GROUP: Group = Group::TcpFingerprint;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let Some(t) = &pkt.tcp else { return };
        let d = dir as usize;
        let wanted = match dir {
            Dir::Fwd => tcp::SYN,
            Dir::Bwd => tcp::SYN | tcp::ACK,
        };
        if self.syn[d].is_none() && t.flags & (tcp::SYN | tcp::ACK) == wanted {
            self.syn[d] = Some(SynParams {
                window: t.window,
                ttl: pkt.ip.ttl,
                mss: t.options.mss.unwrap_or(0),
                window_scale: t.options.window_scale.unwrap_or(0),
                sack: t.options.sack_permitted,
                timestamps: t.options.timestamp.is_some(),
            });
        }
        if self.first_tsval[d].is_none() {
            self.first_tsval[d] = t.options.timestamp.map(|(value, _)| value);
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let [f, b] = self.syn;
        for s in [f, b] {
            out.str_with(|text| {
                if let Some(s) = s {
                    s.write_fingerprint(text);
                }
            });
        }
        out.str(f.map_or("unknown", SynParams::os_hint));
        out.str(b.map_or("unknown", SynParams::os_hint));
        // Hours since boot if the timestamp clock ticks at 100 Hz, the slowest common rate.
        for first in self.first_tsval {
            out.float(first.map_or(0.0, |v| f64::from(v) / 100.0 / 3600.0));
        }
        for s in [f, b] {
            out.int(s.map_or(0, |s| s.window));
            out.int(s.map_or(0, |s| s.ttl));
            out.int(s.map_or(0, |s| s.mss));
            out.int(s.map_or(0, |s| s.window_scale));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_fingerprints_equal_computed_ones() {
        let linux = SynParams {
            window: 64240,
            ttl: 64,
            mss: 1460,
            window_scale: 7,
            sack: true,
            timestamps: true,
        };
        let other = SynParams {
            timestamps: false,
            ..linux
        };
        for _ in 0..2 {
            assert_eq!(linux.fingerprint(), linux.compute_fingerprint());
            assert_eq!(other.fingerprint(), other.compute_fingerprint());
        }
        assert_ne!(linux.fingerprint(), other.fingerprint());
        assert!(linux.fingerprint().starts_with("t64240_1460_7_"));
    }
}
