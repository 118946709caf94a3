//! `http2` (JJ-EXTENDED; JoyfulJay registers these but never computes them): HTTP/2 frames of
//! cleartext connections, HTTP/2 negotiated inside TLS as far as it is visible, and HTTP/3.

use super::{Dir, Extractor, Group, Row};
use crate::decode::{tcp, Packet};
use crate::stream::http2::{frame, Http2Parser};
use crate::stream::tcp_stream::TcpStream;

/// What the group reads of the TLS and QUIC groups when the flow ends.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reads<'a> {
    /// ALPN the TLS server selected (visible up to TLS 1.2).
    pub tls_server_alpn: &'a str,
    /// First ALPN the TLS client offered.
    pub tls_client_alpn: &'a str,
    /// The TLS handshake negotiated 1.3 (its server choice is encrypted).
    pub tls13: bool,
    /// First ALPN of the QUIC ClientHello.
    pub quic_alpn: &'a str,
}

#[derive(Debug, Default)]
struct Side {
    stream: TcpStream,
    parser: Http2Parser,
}

#[derive(Debug, Default)]
pub(super) struct Http2 {
    sides: Option<Box<[Side; 2]>>,
    not_http2: bool,
}

impl Extractor for Http2 {
    const GROUP: Group = Group::Http2;
    type Reads<'a> = Reads<'a>;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let Some(t) = &pkt.tcp else { return };
        if self.not_http2 || pkt.payload.is_empty() {
            return;
        }
        if self.sides.is_none() {
            // Cleartext HTTP/2 opens with the preface, an HTTP/1.1 request, or a SETTINGS frame;
            // a TLS record means the frames will be encrypted.
            if pkt.payload[0] == 0x16 {
                self.not_http2 = true;
                return;
            }
            self.sides = Some(Box::default());
        }
        let Some(sides) = self.sides.as_deref_mut() else {
            return;
        };
        let Side { stream, parser } = &mut sides[dir as usize];
        if parser.is_done() {
            return;
        }
        let server = dir == Dir::Bwd;
        stream.push(t.seq, t.flags & tcp::SYN != 0, pkt.payload, &mut |bytes| {
            parser.feed(bytes, server);
        });
        if parser.is_done() {
            stream.close();
            if sides
                .iter()
                .all(|s| s.parser.is_done() && !s.parser.speaks_http2())
            {
                self.sides = None;
                self.not_http2 = true;
            }
        }
    }

    fn finish(&mut self, sig: Reads<'_>, out: &mut Row) {
        let sides = self.sides.as_deref();
        let count = |kind: u8| {
            sides.map_or(0, |s| {
                s[0].parser.frames[usize::from(kind)] + s[1].parser.frames[usize::from(kind)]
            })
        };
        let cleartext = sides.is_some_and(|s| s.iter().any(|d| d.parser.speaks_http2()));
        let over_tls = sig.tls_server_alpn == "h2"
            || (sig.tls13 && sig.tls_server_alpn.is_empty() && sig.tls_client_alpn == "h2");
        let http3 = sig.quic_alpn.starts_with("h3");
        out.bool(cleartext || over_tls);
        out.bool(http3);
        out.bool(sides.is_some_and(|s| s[0].parser.preface));
        out.int(sides.map_or(0, |s| s[0].parser.frame_count() + s[1].parser.frame_count()));
        out.int(count(frame::DATA));
        out.int(count(frame::HEADERS));
        out.int(count(frame::SETTINGS));
        let pushes = count(frame::PUSH_PROMISE);
        out.int(pushes);
        out.int(count(frame::GOAWAY));
        out.int(count(frame::WINDOW_UPDATE));
        let streams = sides.map_or(0, |s| {
            s[0].parser.streams.union(&s[1].parser.streams).count()
        });
        out.int(streams);
        out.bool(pushes > 0);
        out.bool(sides.is_some_and(|s| s.iter().any(|d| d.parser.interleaved)));
        out.str(if http3 {
            "h3"
        } else if cleartext {
            "h2c"
        } else if over_tls {
            "h2"
        } else {
            ""
        });
    }

    fn heap_bytes(&self) -> usize {
        self.sides.as_deref().map_or(0, |s| {
            s.iter()
                .map(|d| d.stream.heap_bytes() + d.parser.heap_bytes())
                .sum()
        })
    }
}
