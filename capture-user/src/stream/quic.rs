//! QUIC long headers and the client's Initial packets, decrypted with the keys every observer
//! can derive from the Destination Connection ID (RFC 9001 §5.2 for v1 and drafts, RFC 9369 for
//! v2), so that the ClientHello inside can be read. Crypto is RustCrypto's; nothing is
//! hand-written but the packet layout.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

/// QUIC version 1 (RFC 9000).
pub const V1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const V2: u32 = 0x6b33_43cf;

const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
/// Drafts 21 and 22, and Facebook's mvfst on draft 22 (0xfaceb001).
const SALT_DRAFT22: [u8; 20] = [
    0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e, 0xbd,
    0x7a, 0x02, 0x64, 0x4a,
];
/// Drafts 23 to 32, and mvfst on later drafts (0xfaceb002).
const SALT_DRAFT: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0,
    0x43, 0x90, 0xa8, 0x99,
];

/// Whether `version` is one whose Initial packets can be decrypted here.
#[must_use]
pub fn decryptable(version: u32) -> bool {
    version == V1
        || version == V2
        || matches!(
            version,
            0xff00_0015..=0xff00_0020 | 0xface_b001 | 0xface_b002
        )
}

/// The long-header packet type, normalised to v1's numbering (0 Initial, 1 0-RTT, 2 Handshake,
/// 3 Retry); version 2 numbers them differently.
#[must_use]
pub fn packet_type(first: u8, version: u32) -> u8 {
    let raw = (first & 0x30) >> 4;
    if version == V2 {
        (raw + 3) % 4
    } else {
        raw
    }
}

/// A variable-length integer at `at`: its value and the offset after it.
fn varint(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = *b.get(at)?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(at..at + len)?;
    let mut v = u64::from(first & 0x3f);
    for &x in &bytes[1..] {
        v = (v << 8) | u64::from(x);
    }
    Some((v, at + len))
}

fn expand_label(secret: &[u8], label: &str, len: usize) -> Option<Vec<u8>> {
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
    info.push(u8::try_from(full.len()).ok()?);
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    let mut out = vec![0; len];
    Hkdf::<Sha256>::from_prk(secret)
        .ok()?
        .expand(&info, &mut out)
        .ok()?;
    Some(out)
}

/// The client's Initial keys of one version: AEAD key, IV and header-protection key. Every
/// client Initial of a connection uses the same keys (RFC 9001 §5.2), so a flow derives them
/// once rather than for each packet.
pub struct InitialKeys {
    version: u32,
    aead: Aes128Gcm,
    iv: [u8; 12],
    hp: aes::Aes128,
}

impl std::fmt::Debug for InitialKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitialKeys")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl InitialKeys {
    /// The client's Initial keys for `version`, from `dcid` (the Destination Connection ID of
    /// the client's first Initial); `None` for a version without known Initial salts.
    #[must_use]
    pub fn client(version: u32, dcid: &[u8]) -> Option<Self> {
        let (salt, prefix) = match version {
            V2 => (&SALT_V2, "quicv2 "),
            V1 => (&SALT_V1, "quic "),
            0xff00_0015 | 0xff00_0016 | 0xface_b001 => (&SALT_DRAFT22, "quic "),
            _ => (&SALT_DRAFT, "quic "),
        };
        let (initial, _) = Hkdf::<Sha256>::extract(Some(salt), dcid);
        let client = expand_label(&initial, "client in", 32)?;
        let key = expand_label(&client, &format!("{prefix}key"), 16)?;
        let iv = expand_label(&client, &format!("{prefix}iv"), 12)?;
        let hp = expand_label(&client, &format!("{prefix}hp"), 16)?;
        Some(Self {
            version,
            aead: Aes128Gcm::new_from_slice(&key).ok()?,
            iv: iv.try_into().ok()?,
            hp: aes::Aes128::new_from_slice(&hp).ok()?,
        })
    }

    /// The version these keys are for.
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }
}

/// What one client Initial packet holds, once decrypted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Initial {
    /// The packet-number length from the unprotected first byte.
    pub pn_length: u8,
    /// CRYPTO frame data: (offset in the crypto stream, bytes).
    pub crypto: Vec<(u64, Vec<u8>)>,
}

/// Decrypts the client Initial at the start of `datagram` with `keys` (see
/// [`InitialKeys::client`]). `None` when it is not a decryptable Initial, when the keys are
/// for another version than the packet's, or when authentication fails.
#[must_use]
pub fn decrypt_initial(datagram: &[u8], keys: &InitialKeys) -> Option<Initial> {
    let first = *datagram.first()?;
    if first & 0xc0 != 0xc0 {
        return None;
    }
    let version = u32::from_be_bytes(datagram.get(1..5)?.try_into().ok()?);
    if !decryptable(version) || packet_type(first, version) != 0 || keys.version != version {
        return None;
    }
    let dcid_len = usize::from(*datagram.get(5)?);
    let scid_at = 6 + dcid_len;
    let scid_len = usize::from(*datagram.get(scid_at)?);
    let (token_len, after_token) = varint(datagram, scid_at + 1 + scid_len)?;
    let (length, pn_at) = varint(datagram, after_token + usize::try_from(token_len).ok()?)?;
    let end = pn_at.checked_add(usize::try_from(length).ok()?)?;
    let packet = datagram.get(..end)?;
    // Header protection: a mask from AES over a 16-byte sample 4 bytes after the packet number.
    let mut block = aes::Block::clone_from_slice(packet.get(pn_at + 4..pn_at + 20)?);
    keys.hp.encrypt_block(&mut block);
    let first = first ^ (block[0] & 0x0f);
    let pn_len = usize::from(first & 0x03) + 1;
    let mut header = packet.get(..pn_at + pn_len)?.to_vec();
    header[0] = first;
    let mut pn = 0u64;
    for i in 0..pn_len {
        header[pn_at + i] ^= block[1 + i];
        pn = (pn << 8) | u64::from(header[pn_at + i]);
    }
    let mut nonce = keys.iv;
    for (n, p) in nonce.iter_mut().rev().zip(pn.to_be_bytes().iter().rev()) {
        *n ^= p;
    }
    let plain = keys
        .aead
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: packet.get(pn_at + pn_len..)?,
                aad: &header,
            },
        )
        .ok()?;
    Some(Initial {
        pn_length: u8::try_from(pn_len).unwrap_or(0),
        crypto: crypto_frames(&plain),
    })
}

/// The CRYPTO frames of a decrypted Initial payload (PADDING, PING and ACK are stepped over).
fn crypto_frames(mut plain: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(&kind) = plain.first() {
        let parsed = match kind {
            0x00 | 0x01 => Some(1),
            0x02 | 0x03 => skip_ack(plain, kind == 0x03),
            0x06 => varint(plain, 1).and_then(|(offset, at)| {
                let (len, at) = varint(plain, at)?;
                let end = at.checked_add(usize::try_from(len).ok()?)?;
                out.push((offset, plain.get(at..end)?.to_vec()));
                Some(end)
            }),
            _ => None,
        };
        let Some(next) = parsed else { break };
        plain = &plain[next..];
    }
    out
}

fn skip_ack(b: &[u8], ecn: bool) -> Option<usize> {
    let (_, at) = varint(b, 1)?;
    let (_, at) = varint(b, at)?;
    let (ranges, mut at) = varint(b, at)?;
    let (_, next) = varint(b, at)?;
    at = next;
    for _ in 0..ranges.min(256) {
        let (_, next) = varint(b, at)?;
        let (_, next) = varint(b, next)?;
        at = next;
    }
    if ecn {
        for _ in 0..3 {
            at = varint(b, at)?.1;
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9001 Appendix A: the client Initial keys for DCID 0x8394c8f03e515708.
    #[test]
    fn rfc9001_initial_keys() {
        let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
        let (initial, _) = Hkdf::<Sha256>::extract(Some(&SALT_V1), &dcid);
        let client = expand_label(&initial, "client in", 32).unwrap();
        assert_eq!(
            expand_label(&client, "quic key", 16).unwrap(),
            [
                0x1f, 0x36, 0x96, 0x13, 0xdd, 0x76, 0xd5, 0x46, 0x77, 0x30, 0xef, 0xcb, 0xe3, 0xb1,
                0xa2, 0x2d
            ]
        );
        assert_eq!(
            expand_label(&client, "quic iv", 12).unwrap(),
            [0xfa, 0x04, 0x4b, 0x2f, 0x42, 0xa3, 0xfd, 0x3b, 0x46, 0xfb, 0x25, 0x5c]
        );
        assert_eq!(
            expand_label(&client, "quic hp", 16).unwrap(),
            [
                0x9f, 0x50, 0x44, 0x9e, 0x04, 0xa0, 0xe8, 0x10, 0x28, 0x3a, 0x1e, 0x99, 0x33, 0xad,
                0xed, 0xd2
            ]
        );
    }

    #[test]
    fn varints_and_types() {
        assert_eq!(varint(&[0x25], 0), Some((37, 1)));
        assert_eq!(varint(&[0x7b, 0xbd], 0), Some((15_293, 2)));
        assert_eq!(varint(&[0x9d, 0x7f, 0x3e, 0x7d], 0), Some((494_878_333, 4)));
        assert_eq!(varint(&[0x40], 0), None);
        assert_eq!(packet_type(0xc0, V1), 0);
        assert_eq!(packet_type(0xd0, V2), 0);
        assert_eq!(packet_type(0xc0, V2), 3);
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn on_any_datagram(mut bytes in proptest::collection::vec(any::<u8>(), 0..1300), dcid in proptest::collection::vec(any::<u8>(), 0..20)) {
                if let Some(b) = bytes.first_mut() { *b |= 0xc0; }
                if bytes.len() > 5 { bytes[1..5].copy_from_slice(&V1.to_be_bytes()); }
                let keys = InitialKeys::client(V1, &dcid).expect("v1 has Initial salts");
                let _ = decrypt_initial(&bytes, &keys);
                let _ = crypto_frames(&bytes);
            }
        }
    }
}
