//! `tls`: the handshake, read from the reassembled TCP stream in both directions.

use super::{Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{ipproto, tcp, Packet};
use crate::stream::tcp_stream::TcpStream;
use crate::stream::tls::{
    self, ClientHello, KeyExchange, TlsParser, EXT_EARLY_DATA_ID, EXT_PRE_SHARED_KEY_ID,
    EXT_SESSION_TICKET_ID,
};

#[derive(Debug, Default)]
pub(super) struct Tls {
    /// Packets whose TCP or UDP payload starts with a handshake record byte.
    handshake_packets: u64,
    /// Allocated at a TCP flow's first SYN or payload; freed once both directions prove not TLS.
    streams: Option<Box<[Direction; 2]>>,
    /// Set once both directions' first in-order bytes showed this flow is not TLS.
    not_tls: bool,
}

#[derive(Debug, Default)]
struct Direction {
    stream: TcpStream,
    parser: TlsParser,
}

impl Tls {
    /// The ALPN the server selected (visible up to TLS 1.2), the client's first offer, and
    /// whether the handshake is TLS 1.3.
    pub(super) fn alpn_signals(&self) -> (&str, &str, bool) {
        let Some(streams) = self.streams.as_deref() else {
            return ("", "", false);
        };
        let client = self.client_hello();
        let server = streams
            .iter()
            .find_map(|d| d.parser.findings.server_hello.as_ref());
        const SUPPORTED_VERSIONS: u16 = 43;
        (
            server.map_or("", |s| s.alpn.as_str()),
            client.map_or("", |c| c.alpn.as_str()),
            server.is_some_and(|s| s.extensions.contains(&SUPPORTED_VERSIONS)),
        )
    }

    /// The client's ClientHello, when one was seen.
    pub(super) fn client_hello(&self) -> Option<&ClientHello> {
        self.streams
            .as_deref()?
            .iter()
            .find_map(|d| d.parser.findings.client_hello.as_ref())
    }
}

impl Extractor for Tls {
    const GROUP: Group = Group::Tls;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let payload = pkt.payload;
        if matches!(pkt.ip.protocol, ipproto::TCP | ipproto::UDP) && payload.first() == Some(&22) {
            self.handshake_packets += 1;
        }
        let Some(t) = pkt.tcp else { return };
        if self.not_tls || (payload.is_empty() && t.flags & tcp::SYN == 0) {
            return;
        }
        // Whether the bytes are TLS is decided by the parser on the first in-order bytes of each
        // direction, not on the first segment seen, which may have arrived out of order.
        let streams = self.streams.get_or_insert_with(Box::default);
        let Direction { stream, parser } = &mut streams[dir as usize];
        if parser.is_done() || stream.is_broken() {
            return;
        }
        stream.push(t.seq, t.flags & tcp::SYN != 0, payload, &mut |bytes| {
            parser.feed(bytes);
        });
        if parser.is_done() {
            stream.close();
            if parser.findings.is_empty()
                && streams
                    .iter()
                    .all(|d| d.parser.is_done() && d.parser.findings.is_empty())
            {
                // Neither direction is TLS: free the state and stop looking.
                self.streams = None;
                self.not_tls = true;
            }
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let found = |pick: &dyn Fn(&tls::TlsFindings) -> bool| -> Option<&tls::TlsFindings> {
            self.streams.as_deref().and_then(|s| {
                [&s[0], &s[1]]
                    .into_iter()
                    .map(|d| &d.parser.findings)
                    .find(|f| pick(f))
            })
        };
        let client = found(&|f| f.client_hello.is_some()).and_then(|f| f.client_hello.as_ref());
        let server = found(&|f| f.server_hello.is_some()).and_then(|f| f.server_hello.as_ref());
        let certs = found(&|f| f.certificates.is_some()).and_then(|f| f.certificates);
        let kex = found(&|f| f.key_exchange.is_some()).and_then(|f| f.key_exchange);

        let detected = client.is_some();
        let version = client.map_or(0, |c| c.version);
        out.bool(detected);
        out.int(version);
        out.str(if detected {
            version_name(version)
        } else {
            String::new()
        });
        out.int(server.map_or(0, |s| s.cipher_suite));
        out.int(client.map_or(0, |c| c.cipher_suites.len()));
        out.int(client.map_or(0, |c| c.extensions.len()));
        out.str(client.map_or("", |c| c.sni.as_str()));
        out.str(client.map_or("", |c| c.alpn.as_str()));
        out.str(client.map_or_else(String::new, tls::ClientHello::ja3_hash));
        out.str(server.map_or_else(String::new, tls::ServerHello::ja3s_hash));
        out.int(self.handshake_packets);
        let certs = certs.unwrap_or_default();
        out.int(certs.count);
        out.int(certs.total_len);
        out.int(certs.first_len);
        out.int(certs.count);
        let sid = client.map_or(0, |c| c.session_id_len);
        let ticket = client.is_some_and(|c| c.has_extension(EXT_SESSION_TICKET_ID));
        let psk = client.is_some_and(|c| c.has_extension(EXT_PRE_SHARED_KEY_ID));
        let early = client.is_some_and(|c| c.has_extension(EXT_EARLY_DATA_ID));
        out.int(sid);
        out.bool(ticket);
        out.bool(resumed(
            server,
            found(&|f| f.certificates.is_some()).is_some(),
            sid > 0 || ticket || psk,
        ));
        out.bool(psk);
        out.bool(early);
        // The server's key exchange, when visible, overrides the client's first key share.
        let (group, name, bits) = match (kex, client.and_then(|c| c.key_share)) {
            (Some(KeyExchange::NamedCurve(g, len)), _) => (g, group_name(g), u64::from(len) * 8),
            (Some(KeyExchange::FiniteField(p_len)), _) => (
                0x0100,
                format!("ffdhe{}", u64::from(p_len) * 8),
                u64::from(p_len) * 8,
            ),
            (None, Some((g, len))) => (g, group_name(g), u64::from(len) * 8),
            (None, None) => (0, String::new(), 0),
        };
        out.int(group);
        out.str(name);
        out.int(bits);
    }

    fn heap_bytes(&self) -> usize {
        self.streams.as_deref().map_or(0, |s| {
            std::mem::size_of::<[Direction; 2]>()
                + s.iter()
                    .map(|d| d.stream.heap_bytes() + d.parser.heap_bytes())
                    .sum::<usize>()
        })
    }
}

/// Whether the server resumed a session. TLS 1.3 (a ServerHello with supported_versions) resumes
/// when the ServerHello selects a pre-shared key; earlier versions resume with an abbreviated
/// handshake: a ServerHello answering an offer of resumption with no Certificate message before
/// the switch to encryption. Without a ServerHello nothing is known, and the answer is false.
fn resumed(server: Option<&tls::ServerHello>, saw_certificate: bool, client_offered: bool) -> bool {
    const SUPPORTED_VERSIONS: u16 = 43;
    let Some(server) = server else { return false };
    if server.extensions.contains(&SUPPORTED_VERSIONS) {
        return server.extensions.contains(&EXT_PRE_SHARED_KEY_ID);
    }
    client_offered && !saw_certificate
}

fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        other => format!("Unknown (0x{other:04x})"),
    }
}

fn group_name(g: u16) -> String {
    match g {
        0x0017 => "secp256r1".into(),
        0x0018 => "secp384r1".into(),
        0x0019 => "secp521r1".into(),
        0x001d => "x25519".into(),
        0x001e => "x448".into(),
        0x0100 => "ffdhe2048".into(),
        0x0101 => "ffdhe3072".into(),
        0x0102 => "ffdhe4096".into(),
        0x0103 => "ffdhe6144".into(),
        0x0104 => "ffdhe8192".into(),
        0x6399 => "X25519Kyber768Draft00".into(),
        0x0200 => "secp256r1_kyber768".into(),
        other => format!("unknown(0x{other:04x})"),
    }
}
