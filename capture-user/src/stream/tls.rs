//! Streaming TLS handshake parser: records and handshake messages reassembled across TCP
//! segments and TLS records, with bounded memory. Reads the ClientHello, ServerHello,
//! Certificate and ServerKeyExchange; stops at the first encrypted record.

use md5::{Digest, Md5};

/// Handshake message bytes kept per message (hellos are a few KiB even with post-quantum shares).
const MAX_MESSAGE: usize = 64 * 1024;

const RECORD_CHANGE_CIPHER_SPEC: u8 = 20;
const RECORD_ALERT: u8 = 21;
const RECORD_HANDSHAKE: u8 = 22;
const RECORD_APPLICATION_DATA: u8 = 23;
const RECORD_HEARTBEAT: u8 = 24;

const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_KEY_EXCHANGE: u8 = 12;

const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_ALPN: u16 = 16;
const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
/// session_ticket extension.
pub const EXT_SESSION_TICKET_ID: u16 = 35;
/// pre_shared_key extension.
pub const EXT_PRE_SHARED_KEY_ID: u16 = 41;
/// early_data extension.
pub const EXT_EARLY_DATA_ID: u16 = 42;
const EXT_KEY_SHARE: u16 = 51;

/// Appends the low `digits` hex digits of `value`, lowercase.
fn push_hex(out: &mut String, value: u16, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..digits).rev() {
        out.push(char::from(HEX[usize::from((value >> (shift * 4)) & 0xf)]));
    }
}

/// GREASE values (RFC 8701) have the form 0x?a?a.
#[must_use]
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// What a ClientHello says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// Legacy version field.
    pub version: u16,
    /// Session id length.
    pub session_id_len: u8,
    /// Cipher suites, GREASE included.
    pub cipher_suites: Vec<u16>,
    /// Extension types in order, GREASE included.
    pub extensions: Vec<u16>,
    /// supported_groups, GREASE included.
    pub groups: Vec<u16>,
    /// ec_point_formats.
    pub point_formats: Vec<u8>,
    /// server_name host name.
    pub sni: String,
    /// First ALPN protocol.
    pub alpn: String,
    /// First key share: (group, key length in bytes).
    pub key_share: Option<(u16, u16)>,
    /// supported_versions, GREASE included.
    pub supported_versions: Vec<u16>,
    /// signature_algorithms, in order.
    pub signature_algorithms: Vec<u16>,
    /// The first ALPN value's raw bytes.
    pub alpn_raw: Vec<u8>,
}

/// The encrypted_client_hello extension (draft-ietf-tls-esni).
const ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;

impl ClientHello {
    /// Whether the hello offers Encrypted Client Hello (a real or a GREASE offer).
    #[must_use]
    pub fn offers_ech(&self) -> bool {
        self.extensions.contains(&ENCRYPTED_CLIENT_HELLO)
    }

    /// The JA3 string: version, ciphers, extensions, groups, point formats; GREASE removed.
    #[must_use]
    pub fn ja3_string(&self) -> String {
        format!(
            "{},{},{},{},{}",
            self.version,
            join_u16(&self.cipher_suites),
            join_u16(&self.extensions),
            join_u16(&self.groups),
            self.point_formats
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join("-")
        )
    }

    /// The JA3 fingerprint: the MD5 of [`Self::ja3_string`], as lowercase hex.
    #[must_use]
    pub fn ja3_hash(&self) -> String {
        let mut key = FingerprintKey::default();
        key.u16s(&[self.version]);
        key.u16s(&self.cipher_suites);
        key.u16s(&self.extensions);
        key.u16s(&self.groups);
        key.bytes(&self.point_formats);
        remember(&JA3, &key.0, || md5_hex(&self.ja3_string()))
    }

    /// The JA4 fingerprint (FoxIO's TLS client fingerprint, BSD-3-Clause), for TLS over TCP or
    /// (`quic`) inside QUIC.
    #[must_use]
    pub fn ja4(&self, quic: bool) -> String {
        let mut key = FingerprintKey::default();
        key.u16s(&[self.version, u16::from(quic)]);
        key.u16s(&self.supported_versions);
        key.u16s(&self.cipher_suites);
        key.u16s(&self.extensions);
        key.u16s(&self.signature_algorithms);
        key.bytes(&self.alpn_raw);
        remember(&JA4, &key.0, || self.compute_ja4(quic))
    }

    fn compute_ja4(&self, quic: bool) -> String {
        use sha2::{Digest as _, Sha256};
        let truncated_sha256 = |s: &str| -> String {
            if s.is_empty() {
                return "000000000000".into();
            }
            let mut out = String::with_capacity(12);
            for b in &Sha256::digest(s.as_bytes())[..6] {
                push_hex(&mut out, u16::from(*b), 2);
            }
            out
        };
        // Every ClientHello of a run passes here: hex by table, not through `format!`.
        let hex_list = |v: &[u16]| {
            let mut out = String::with_capacity(v.len() * 5);
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_hex(&mut out, *x, 4);
            }
            out
        };
        let version = self
            .supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.version);
        let version = match version {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            0xfeff => "d1",
            0xfefd => "d2",
            0xfefc => "d3",
            _ => "00",
        };
        let mut ciphers: Vec<u16> = self
            .cipher_suites
            .iter()
            .copied()
            .filter(|c| !is_grease(*c))
            .collect();
        let extensions: Vec<u16> = self
            .extensions
            .iter()
            .copied()
            .filter(|e| !is_grease(*e))
            .collect();
        let sni = if self.extensions.contains(&EXT_SERVER_NAME) {
            'd'
        } else {
            'i'
        };
        let alpn = match (self.alpn_raw.first(), self.alpn_raw.last()) {
            (Some(&a), Some(&b)) if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => {
                format!("{}{}", char::from(a), char::from(b))
            }
            (Some(&a), Some(&b)) => {
                let (hi, lo) = (format!("{a:02x}"), format!("{b:02x}"));
                format!("{}{}", &hi[..1], &lo[1..])
            }
            _ => "00".into(),
        };
        let a = format!(
            "{}{version}{sni}{:02}{:02}{alpn}",
            if quic { 'q' } else { 't' },
            ciphers.len().min(99),
            extensions.len().min(99)
        );
        ciphers.sort_unstable();
        let mut sorted_ext: Vec<u16> = extensions
            .into_iter()
            .filter(|e| *e != EXT_SERVER_NAME && *e != EXT_ALPN)
            .collect();
        sorted_ext.sort_unstable();
        let signature_algorithms: Vec<u16> = self
            .signature_algorithms
            .iter()
            .copied()
            .filter(|s| !is_grease(*s))
            .collect();
        let mut c = hex_list(&sorted_ext);
        if !signature_algorithms.is_empty() {
            c = format!("{c}_{}", hex_list(&signature_algorithms));
        }
        format!(
            "{a}_{}_{}",
            truncated_sha256(&hex_list(&ciphers)),
            truncated_sha256(&c)
        )
    }

    /// Whether the extension `ext` was offered.
    #[must_use]
    pub fn has_extension(&self, ext: u16) -> bool {
        self.extensions.contains(&ext)
    }
}

/// What a ServerHello says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// Legacy version field.
    pub version: u16,
    /// Chosen cipher suite.
    pub cipher_suite: u16,
    /// Extension types in order.
    pub extensions: Vec<u16>,
    /// The protocol the server selected by ALPN (visible up to TLS 1.2).
    pub alpn: String,
}

impl ServerHello {
    /// The JA3S fingerprint: the MD5 of [`Self::ja3s_string`], as lowercase hex.
    #[must_use]
    pub fn ja3s_hash(&self) -> String {
        let mut key = FingerprintKey::default();
        key.u16s(&[self.version, self.cipher_suite]);
        key.u16s(&self.extensions);
        remember(&JA3S, &key.0, || md5_hex(&self.ja3s_string()))
    }

    /// The JA3S string: version, cipher, extensions; GREASE removed.
    #[must_use]
    pub fn ja3s_string(&self) -> String {
        format!(
            "{},{},{}",
            self.version,
            self.cipher_suite,
            join_u16(&self.extensions)
        )
    }
}

/// Certificate message summary (lengths only; the certificates are not kept).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Certificates {
    /// Non-empty certificates.
    pub count: u32,
    /// Sum of their lengths.
    pub total_len: u64,
    /// Length of the first.
    pub first_len: u32,
}

/// ServerKeyExchange summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyExchange {
    /// ECDHE with a named curve: (group, public key length in bytes).
    NamedCurve(u16, u8),
    /// Finite-field DHE: prime length in bytes.
    FiniteField(u16),
}

/// Distinct handshakes remembered per thread for each fingerprint; a cache starts over beyond
/// this.
const REMEMBERED_FINGERPRINTS: usize = 4096;

type FingerprintCache = std::cell::RefCell<rustc_hash::FxHashMap<Box<[u8]>, String>>;

thread_local! {
    static JA3: FingerprintCache = FingerprintCache::default();
    static JA3S: FingerprintCache = FingerprintCache::default();
    static JA4: FingerprintCache = FingerprintCache::default();
}

/// Every field a fingerprint reads, each with its length, as bytes: equal keys give equal
/// fingerprints.
struct FingerprintKey(Vec<u8>);

impl Default for FingerprintKey {
    /// Room for the fields of a large ClientHello without growing.
    fn default() -> Self {
        Self(Vec::with_capacity(512))
    }
}

impl FingerprintKey {
    fn u16s(&mut self, v: &[u16]) {
        self.0.extend_from_slice(&(v.len() as u32).to_le_bytes());
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }

    fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(&(v.len() as u32).to_le_bytes());
        self.0.extend_from_slice(v);
    }
}

/// The fingerprint of `key` from `cache`, computed on first sight: most of a capture's
/// handshakes come from a few clients and servers, and each fingerprint otherwise costs
/// formatted strings and a digest.
fn remember(
    cache: &'static std::thread::LocalKey<FingerprintCache>,
    key: &[u8],
    compute: impl FnOnce() -> String,
) -> String {
    cache.with_borrow_mut(|known| {
        if let Some(v) = known.get(key) {
            return v.clone();
        }
        if known.len() >= REMEMBERED_FINGERPRINTS {
            known.clear();
        }
        let v = compute();
        known.insert(key.into(), v.clone());
        v
    })
}

/// MD5 as lowercase hex, as JA3 prints it.
#[must_use]
pub fn md5_hex(s: &str) -> String {
    let digest = Md5::digest(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in digest {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    out
}

fn join_u16(v: &[u16]) -> String {
    v.iter()
        .filter(|x| !is_grease(**x))
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join("-")
}

/// A bounds-checked cursor; every read returns `None` past the end instead of panicking.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    /// Takes up to `n` bytes (fewer when the message was cut at the buffer bound).
    fn take_upto(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

/// Parses a ClientHello body (after the 4-byte handshake header). Returns what could be read:
/// a hello cut short still yields the fields before the cut.
#[must_use]
pub fn parse_client_hello(body: &[u8]) -> Option<ClientHello> {
    let mut c = Cursor(body);
    let mut h = ClientHello {
        version: c.u16()?,
        ..ClientHello::default()
    };
    c.take(32)?;
    let sid = c.u8()?;
    h.session_id_len = sid;
    c.take(usize::from(sid))?;
    let cs_len = usize::from(c.u16()?);
    let suites = c.take_upto(cs_len);
    // Each list gets its room at once: an entry is two bytes.
    h.cipher_suites.reserve_exact(suites.len() / 2);
    let mut cs = Cursor(suites);
    while let Some(v) = cs.u16() {
        h.cipher_suites.push(v);
    }
    let Some(comp) = c.u8() else { return Some(h) };
    c.take_upto(usize::from(comp));
    let Some(ext_len) = c.u16() else {
        return Some(h);
    };
    let all_extensions = c.take_upto(usize::from(ext_len));
    // An extension takes four bytes at least, and a hello carries a few dozen at most.
    h.extensions
        .reserve_exact((all_extensions.len() / 4).min(64));
    let mut exts = Cursor(all_extensions);
    while let (Some(ty), Some(len)) = (exts.u16(), exts.u16()) {
        h.extensions.push(ty);
        let data = exts.take_upto(usize::from(len));
        let mut d = Cursor(data);
        match ty {
            EXT_SERVER_NAME => {
                let _list_len = d.u16();
                if d.u8() == Some(0) {
                    if let Some(n) = d.u16() {
                        h.sni = super::ascii(d.take_upto(usize::from(n)));
                    }
                }
            }
            EXT_SUPPORTED_GROUPS => {
                let n = d.u16().map_or(0, usize::from);
                let list = d.take_upto(n);
                h.groups.reserve_exact(list.len() / 2);
                let mut g = Cursor(list);
                while let Some(v) = g.u16() {
                    h.groups.push(v);
                }
            }
            EXT_EC_POINT_FORMATS => {
                let n = d.u8().map_or(0, usize::from);
                h.point_formats.extend_from_slice(d.take_upto(n));
            }
            EXT_ALPN => {
                let _list_len = d.u16();
                if let Some(n) = d.u8() {
                    let raw = d.take_upto(usize::from(n));
                    h.alpn = super::ascii(raw);
                    h.alpn_raw = raw.to_vec();
                }
            }
            EXT_SUPPORTED_VERSIONS => {
                let n = d.u8().map_or(0, usize::from);
                let list = d.take_upto(n);
                h.supported_versions.reserve_exact(list.len() / 2);
                let mut v = Cursor(list);
                while let Some(x) = v.u16() {
                    h.supported_versions.push(x);
                }
            }
            EXT_SIGNATURE_ALGORITHMS => {
                let n = d.u16().map_or(0, usize::from);
                let list = d.take_upto(n);
                h.signature_algorithms.reserve_exact(list.len() / 2);
                let mut v = Cursor(list);
                while let Some(x) = v.u16() {
                    h.signature_algorithms.push(x);
                }
            }
            EXT_KEY_SHARE => {
                let _shares_len = d.u16();
                if let (Some(group), Some(len)) = (d.u16(), d.u16()) {
                    h.key_share = Some((group, len));
                }
            }
            _ => {}
        }
    }
    Some(h)
}

/// Parses a ServerHello body (after the 4-byte handshake header).
#[must_use]
pub fn parse_server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut c = Cursor(body);
    let version = c.u16()?;
    c.take(32)?;
    let sid = c.u8()?;
    c.take(usize::from(sid))?;
    let mut h = ServerHello {
        version,
        cipher_suite: c.u16()?,
        extensions: Vec::new(),
        alpn: String::new(),
    };
    let _compression = c.u8()?;
    // A ServerHello may end here: no extensions block at all.
    let Some(ext_len) = c.u16() else {
        return Some(h);
    };
    let mut exts = Cursor(c.take_upto(usize::from(ext_len)));
    while let (Some(ty), Some(len)) = (exts.u16(), exts.u16()) {
        h.extensions.push(ty);
        let data = exts.take_upto(usize::from(len));
        if ty == EXT_ALPN {
            let mut d = Cursor(data);
            let _list_len = d.u16();
            if let Some(n) = d.u8() {
                h.alpn = super::ascii(d.take_upto(usize::from(n)));
            }
        }
    }
    Some(h)
}

/// Parses a ServerKeyExchange body the way JoyfulJay reads it: a named curve, or a DH prime.
#[must_use]
pub fn parse_server_key_exchange(body: &[u8]) -> Option<KeyExchange> {
    let mut c = Cursor(body);
    if body.len() < 4 {
        return None;
    }
    if body.first() == Some(&3) {
        c.u8()?;
        let group = c.u16()?;
        let len = c.u8()?;
        Some(KeyExchange::NamedCurve(group, len))
    } else {
        Some(KeyExchange::FiniteField(c.u16()?))
    }
}

/// Walks a TLS 1.2 Certificate message as it streams in, counting certificate lengths
/// without keeping the certificates.
#[derive(Debug, Default)]
struct CertificateWalker {
    len_bytes: [u8; 3],
    len_have: u8,
    list_remaining: Option<u32>,
    skip: u32,
    certs: Certificates,
}

impl CertificateWalker {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.list_remaining == Some(0) {
                return;
            }
            if self.skip > 0 {
                let n = self.skip.min(u32::try_from(data.len()).unwrap_or(u32::MAX));
                self.skip -= n;
                self.list_remaining = self.list_remaining.map(|r| r.saturating_sub(n));
                data = &data[n as usize..];
                continue;
            }
            self.len_bytes[usize::from(self.len_have)] = data[0];
            self.len_have += 1;
            data = &data[1..];
            if self.len_have < 3 {
                continue;
            }
            self.len_have = 0;
            let v =
                u32::from_be_bytes([0, self.len_bytes[0], self.len_bytes[1], self.len_bytes[2]]);
            match self.list_remaining {
                None => self.list_remaining = Some(v),
                Some(r) => {
                    self.list_remaining = Some(r.saturating_sub(3));
                    if v > 0 {
                        self.certs.count += 1;
                        self.certs.total_len += u64::from(v);
                        if self.certs.count == 1 {
                            self.certs.first_len = v;
                        }
                    }
                    self.skip = v;
                }
            }
        }
    }
}

/// Everything the parser found in one direction.
#[derive(Debug, Default)]
pub struct TlsFindings {
    /// The first ClientHello.
    pub client_hello: Option<ClientHello>,
    /// The first ServerHello.
    pub server_hello: Option<ServerHello>,
    /// The first Certificate message.
    pub certificates: Option<Certificates>,
    /// The first ServerKeyExchange.
    pub key_exchange: Option<KeyExchange>,
}

impl TlsFindings {
    /// Whether nothing was found.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.client_hello.is_none()
            && self.server_hello.is_none()
            && self.certificates.is_none()
            && self.key_exchange.is_none()
    }
}

#[derive(Debug, Default)]
enum MessageState {
    /// Reading the 4-byte handshake header.
    #[default]
    Header,
    /// Keeping the body of a message we parse.
    Keep { ty: u8, remaining: u32 },
    /// Walking a Certificate message.
    Certificate { remaining: u32 },
    /// Skipping a message we do not need.
    Skip { remaining: u32 },
}

/// Parses one direction of a TLS connection from its in-order byte stream.
#[derive(Debug, Default)]
pub struct TlsParser {
    record_header: [u8; 5],
    record_have: u8,
    record_type: u8,
    record_remaining: u16,
    msg_header: [u8; 4],
    msg_have: u8,
    msg_state: MessageState,
    msg_body: Vec<u8>,
    walker: CertificateWalker,
    done: bool,
    /// What was found so far.
    pub findings: TlsFindings,
}

impl TlsParser {
    /// Whether the parser needs no more bytes (encrypted records began, or the stream is not TLS).
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Heap bytes held.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.msg_body.capacity()
    }

    /// Feeds in-order stream bytes.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.done {
            if self.record_remaining == 0 {
                let need = 5 - usize::from(self.record_have);
                let n = need.min(data.len());
                let have = usize::from(self.record_have);
                self.record_header[have..have + n].copy_from_slice(&data[..n]);
                self.record_have += u8::try_from(n).unwrap_or(0);
                data = &data[n..];
                if self.record_have < 5 {
                    return;
                }
                self.record_have = 0;
                let [ty, major, _minor, len_hi, len_lo] = self.record_header;
                let len = u16::from_be_bytes([len_hi, len_lo]);
                let known = matches!(ty, RECORD_CHANGE_CIPHER_SPEC..=RECORD_HEARTBEAT);
                if !known || major != 3 || len == 0 || len > 18 * 1024 {
                    self.finish();
                    return;
                }
                if matches!(ty, RECORD_CHANGE_CIPHER_SPEC | RECORD_APPLICATION_DATA) {
                    // Everything after this is encrypted.
                    self.finish();
                    return;
                }
                self.record_type = ty;
                self.record_remaining = len;
                continue;
            }
            let n = usize::from(self.record_remaining).min(data.len());
            let (body, rest) = data.split_at(n);
            self.record_remaining -= u16::try_from(n).unwrap_or(0);
            data = rest;
            if self.record_type == RECORD_HANDSHAKE {
                self.handshake_bytes(body);
            } else {
                debug_assert!(matches!(self.record_type, RECORD_ALERT | RECORD_HEARTBEAT));
            }
        }
    }

    /// Stops parsing: the stream turned out not to be TLS.
    pub fn abandon(&mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.done = true;
        self.msg_body = Vec::new();
    }

    fn handshake_bytes(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.done {
            match &mut self.msg_state {
                MessageState::Header => {
                    let have = usize::from(self.msg_have);
                    let n = (4 - have).min(data.len());
                    self.msg_header[have..have + n].copy_from_slice(&data[..n]);
                    self.msg_have += u8::try_from(n).unwrap_or(0);
                    data = &data[n..];
                    if self.msg_have < 4 {
                        return;
                    }
                    self.msg_have = 0;
                    let [ty, a, b, c] = self.msg_header;
                    let len = u32::from_be_bytes([0, a, b, c]);
                    self.msg_state = match ty {
                        HS_CLIENT_HELLO | HS_SERVER_HELLO | HS_SERVER_KEY_EXCHANGE => {
                            self.msg_body.clear();
                            MessageState::Keep { ty, remaining: len }
                        }
                        HS_CERTIFICATE if self.findings.certificates.is_none() => {
                            self.walker = CertificateWalker::default();
                            MessageState::Certificate { remaining: len }
                        }
                        _ => MessageState::Skip { remaining: len },
                    };
                    if len == 0 {
                        self.complete_message();
                    }
                }
                MessageState::Keep { remaining, .. } => {
                    let n = (*remaining as usize).min(data.len());
                    *remaining -= u32::try_from(n).unwrap_or(0);
                    let room = MAX_MESSAGE.saturating_sub(self.msg_body.len());
                    self.msg_body.extend_from_slice(&data[..n.min(room)]);
                    data = &data[n..];
                    if matches!(self.msg_state, MessageState::Keep { remaining: 0, .. }) {
                        self.complete_message();
                    }
                }
                MessageState::Certificate { remaining } => {
                    let n = (*remaining as usize).min(data.len());
                    *remaining -= u32::try_from(n).unwrap_or(0);
                    let done = *remaining == 0;
                    self.walker.feed(&data[..n]);
                    data = &data[n..];
                    if done {
                        self.complete_message();
                    }
                }
                MessageState::Skip { remaining } => {
                    let n = (*remaining as usize).min(data.len());
                    *remaining -= u32::try_from(n).unwrap_or(0);
                    data = &data[n..];
                    if *remaining == 0 {
                        self.msg_state = MessageState::Header;
                    }
                }
            }
        }
    }

    fn complete_message(&mut self) {
        let state = std::mem::take(&mut self.msg_state);
        let f = &mut self.findings;
        match state {
            MessageState::Keep {
                ty: HS_CLIENT_HELLO,
                ..
            } if f.client_hello.is_none() => {
                f.client_hello = parse_client_hello(&self.msg_body);
            }
            MessageState::Keep {
                ty: HS_SERVER_HELLO,
                ..
            } if f.server_hello.is_none() => {
                f.server_hello = parse_server_hello(&self.msg_body);
            }
            MessageState::Keep {
                ty: HS_SERVER_KEY_EXCHANGE,
                ..
            } if f.key_exchange.is_none() => {
                f.key_exchange = parse_server_key_exchange(&self.msg_body);
            }
            MessageState::Certificate { .. } => f.certificates = Some(self.walker.certs),
            _ => {}
        }
        self.msg_body.clear();
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
