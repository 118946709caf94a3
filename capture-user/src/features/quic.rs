//! `quic` (JJ-EXTENDED): QUIC long and short headers, and the server name and ALPN of the
//! ClientHello carried in the client's Initial packets, decrypted as any observer can.

use super::{Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{ipproto, Packet};
use crate::stream::quic;
use crate::stream::tls;

/// CRYPTO bytes kept from the client's Initials (a ClientHello rarely exceeds a few KiB).
const MAX_CRYPTO: usize = 64 * 1024;

/// Whether a long header's version is QUIC's: v1, v2, an IETF draft, mvfst, or Google QUIC.
fn known_version(v: u32) -> bool {
    let [tag, a, b, c] = v.to_be_bytes();
    let google = matches!(tag, b'Q' | b'T') && [a, b, c].iter().all(u8::is_ascii_digit);
    v == quic::V1 || v == quic::V2 || v >> 8 == 0x00ff_0000 || v >> 8 == 0x00fa_ceb0 || google
}

fn version_name(v: u32) -> String {
    match v {
        quic::V1 => "QUIC v1".into(),
        quic::V2 => "QUIC v2".into(),
        0xff00_0000 => "QUIC draft (negotiation)".into(),
        v if v >> 8 == 0x00ff_0000 => format!("QUIC draft-{}", v & 0xff),
        v => format!("Unknown (0x{v:08x})"),
    }
}

#[derive(Debug, Default)]
pub(super) struct Quic {
    detected: bool,
    version: u32,
    dcid_len: u8,
    scid_len: u8,
    pn_length: u8,
    initials: u64,
    zero_rtt: bool,
    retry: bool,
    last_spin: Option<bool>,
    spin: bool,
    /// Destination Connection ID of the client's first Initial: the key for all its Initials.
    key_dcid: Option<Vec<u8>>,
    /// The Initial keys derived from it, for the version of the Initial they were derived for.
    initial_keys: Option<Box<quic::InitialKeys>>,
    crypto: Vec<(u64, Vec<u8>)>,
    crypto_bytes: usize,
    /// The ClientHello `finish` read out, kept for the capture group's JA4.
    finished_hello: Option<Box<tls::ClientHello>>,
}

impl Extractor for Quic {
    const GROUP: Group = Group::Quic;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        if pkt.ip.protocol != ipproto::UDP {
            return;
        }
        let d = pkt.payload;
        let Some(&first) = d.first() else { return };
        if first & 0xc0 == 0xc0 && d.len() >= 7 {
            let version = u32::from_be_bytes([d[1], d[2], d[3], d[4]]);
            if !known_version(version) {
                return;
            }
            let kind = quic::packet_type(first, version);
            if !self.detected {
                self.detected = true;
                self.version = version;
                self.dcid_len = d[5];
                self.scid_len = d.get(6 + usize::from(d[5])).copied().unwrap_or(0);
            }
            match kind {
                0 => self.initials += 1,
                1 => self.zero_rtt = true,
                3 => self.retry = true,
                _ => {}
            }
            if kind == 0 && dir == Dir::Fwd && quic::decryptable(version) {
                let dcid = d.get(6..6 + usize::from(d[5])).unwrap_or(&[]);
                let key_dcid = self.key_dcid.get_or_insert_with(|| dcid.to_vec());
                if self
                    .initial_keys
                    .as_ref()
                    .is_none_or(|keys| keys.version() != version)
                {
                    self.initial_keys = quic::InitialKeys::client(version, key_dcid).map(Box::new);
                }
                if let Some(initial) = self
                    .initial_keys
                    .as_deref()
                    .and_then(|keys| quic::decrypt_initial(d, keys))
                {
                    if self.pn_length == 0 {
                        self.pn_length = initial.pn_length;
                    }
                    for (offset, data) in initial.crypto {
                        if self.crypto_bytes + data.len() <= MAX_CRYPTO && self.crypto.len() < 256 {
                            self.crypto_bytes += data.len();
                            self.crypto.push((offset, data));
                        }
                    }
                }
            }
        } else if first & 0xc0 == 0x40 && self.detected {
            // Short header: the spin bit, which a client flips once per round trip.
            let spin = first & 0x20 != 0;
            if self.last_spin.is_some_and(|last| last != spin) || (self.last_spin.is_none() && spin)
            {
                self.spin = true;
            }
            self.last_spin = Some(spin);
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let hello = self.client_hello();
        out.bool(self.detected);
        out.int(self.version);
        out.str(if self.detected {
            version_name(self.version)
        } else {
            String::new()
        });
        out.int(self.dcid_len);
        out.int(self.scid_len);
        out.int(self.pn_length);
        out.int(self.initials);
        out.bool(self.zero_rtt);
        out.bool(self.retry);
        out.bool(self.spin);
        out.str(hello.as_ref().map(|h| h.alpn.clone()).unwrap_or_default());
        out.str(hello.as_ref().map(|h| h.sni.clone()).unwrap_or_default());
        self.finished_hello = hello.map(Box::new);
    }

    fn heap_bytes(&self) -> usize {
        self.crypto_bytes
            + self.key_dcid.as_ref().map_or(0, Vec::capacity)
            + self
                .initial_keys
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<quic::InitialKeys>())
    }
}

impl Quic {
    /// The ClientHello of the client's Initials, once `finish` has read it out.
    pub(super) fn finished_client_hello(&self) -> Option<&tls::ClientHello> {
        self.finished_hello.as_deref()
    }

    /// The ClientHello from the CRYPTO stream's contiguous start.
    fn client_hello(&mut self) -> Option<tls::ClientHello> {
        self.crypto.sort_by_key(|(offset, _)| *offset);
        let mut stream: Vec<u8> = Vec::new();
        for (offset, data) in &self.crypto {
            let start = usize::try_from(*offset).ok()?;
            if start > stream.len() {
                break;
            }
            let skip = stream.len() - start;
            if skip < data.len() {
                stream.extend_from_slice(&data[skip..]);
            }
        }
        let (&kind, rest) = stream.split_first()?;
        if kind != 1 || rest.len() < 3 {
            return None;
        }
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        tls::parse_client_hello(rest.get(3..3 + len)?)
    }
}
