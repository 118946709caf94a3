//! Cleartext HTTP/2 (h2c), by prior knowledge or after an `Upgrade: h2c` exchange: the client
//! preface and the frame headers of one direction's in-order stream. Frame payloads are skipped,
//! never buffered.

use rustc_hash::FxHashSet;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// HTTP/1.1 headers kept while looking for an upgrade.
const MAX_HTTP1_HEAD: usize = 8192;
/// Distinct stream ids counted.
const MAX_STREAMS: usize = 4096;

/// Frame types counted.
pub mod frame {
    /// DATA.
    pub const DATA: u8 = 0;
    /// HEADERS.
    pub const HEADERS: u8 = 1;
    /// SETTINGS.
    pub const SETTINGS: u8 = 4;
    /// PUSH_PROMISE.
    pub const PUSH_PROMISE: u8 = 5;
    /// GOAWAY.
    pub const GOAWAY: u8 = 7;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = 8;
}

#[derive(Debug, Default, PartialEq, Eq)]
enum State {
    /// Nothing read yet: the preface, an HTTP/1.1 message, or (server side) a frame.
    #[default]
    Start,
    /// Reading an HTTP/1.1 head up to its blank line.
    Http1,
    /// Matching the preface.
    Preface,
    /// Reading frames.
    Frames,
    /// Not HTTP/2, or finished.
    Done,
}

/// One direction of an HTTP/2 connection.
#[derive(Debug, Default)]
pub struct Http2Parser {
    state: State,
    buffer: Vec<u8>,
    skip: u64,
    /// The first line of the HTTP/1.1 message being read has been read (and was one that can
    /// lead to HTTP/2).
    first_line_read: bool,
    upgrade: bool,
    max_stream: u32,
    /// The client preface was seen.
    pub preface: bool,
    /// Frames by type (types above 9 are counted in `other`).
    pub frames: [u64; 10],
    /// Frames of other types.
    pub other: u64,
    /// Distinct non-zero stream ids.
    pub streams: FxHashSet<u32>,
    /// A DATA or HEADERS frame of a stream arrived after a frame of a later stream.
    pub interleaved: bool,
}

impl Http2Parser {
    /// All frames counted.
    #[must_use]
    pub fn frame_count(&self) -> u64 {
        self.frames.iter().sum::<u64>() + self.other
    }

    /// Whether frames were seen.
    #[must_use]
    pub fn speaks_http2(&self) -> bool {
        self.preface || self.frame_count() > 0
    }

    /// Whether the parser needs no more bytes.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Heap bytes held.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.buffer.capacity() + self.streams.capacity() * 4
    }

    /// Feeds in-order stream bytes of the client (`server` false) or server side.
    pub fn feed(&mut self, mut data: &[u8], server: bool) {
        while !data.is_empty() {
            match self.state {
                State::Done => return,
                State::Start => {
                    self.state = match data[0] {
                        b'P' if !server => State::Preface,
                        b'A'..=b'Z' => State::Http1,
                        // A server speaking HTTP/2 by prior knowledge starts with a SETTINGS frame.
                        _ if server => State::Frames,
                        _ => State::Done,
                    };
                }
                State::Preface => {
                    let need = PREFACE.len() - self.buffer.len();
                    let n = need.min(data.len());
                    self.buffer.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if !PREFACE.starts_with(&self.buffer) {
                        self.stop();
                    } else if self.buffer.len() == PREFACE.len() {
                        self.preface = true;
                        self.buffer.clear();
                        self.state = State::Frames;
                    }
                }
                State::Http1 => {
                    let n = data
                        .len()
                        .min(MAX_HTTP1_HEAD.saturating_sub(self.buffer.len()));
                    if n == 0 {
                        self.stop();
                        return;
                    }
                    let before = self.buffer.len();
                    self.buffer.extend_from_slice(&data[..n]);
                    if !self.first_line_read {
                        match self.first_line(before, server) {
                            Some(true) => self.first_line_read = true,
                            Some(false) => {
                                self.stop();
                                return;
                            }
                            None => {
                                data = &data[n..];
                                continue;
                            }
                        }
                    }
                    // Only the new bytes (and the three before them) can complete the head.
                    let from = before.saturating_sub(3);
                    let Some(end) = head_end(&self.buffer[from..]).map(|i| i + from) else {
                        data = &data[n..];
                        continue;
                    };
                    // Headers are matched without regard to ASCII case, on the bytes as they
                    // came: what is looked for is ASCII.
                    let head = &self.buffer[..end];
                    let switching = head
                        .get(..12)
                        .is_some_and(|s| s.eq_ignore_ascii_case(b"http/1.1 101"));
                    let upgrades = memchr::memchr2_iter(b'u', b'U', head).any(|at| {
                        head.get(at..at + 12)
                            .is_some_and(|w| w.eq_ignore_ascii_case(b"upgrade: h2c"))
                    });
                    let consumed = end + 4 - before;
                    data = &data[consumed..];
                    self.buffer.clear();
                    self.first_line_read = false;
                    self.state = if server && switching && self.upgrade {
                        State::Frames
                    } else if upgrades && !server {
                        // The request goes on in HTTP/1.1; the preface follows the server's 101.
                        self.upgrade = true;
                        State::Start
                    } else if server && switching && upgrades {
                        State::Frames
                    } else {
                        State::Done
                    };
                }
                State::Frames => {
                    if self.skip > 0 {
                        let n = usize::try_from(self.skip)
                            .unwrap_or(usize::MAX)
                            .min(data.len());
                        self.skip -= n as u64;
                        data = &data[n..];
                        continue;
                    }
                    let need = 9 - self.buffer.len();
                    let n = need.min(data.len());
                    self.buffer.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if let Ok(h) = <[u8; 9]>::try_from(self.buffer.as_slice()) {
                        self.buffer.clear();
                        self.frame(&h, server);
                    }
                }
            }
        }
    }

    /// Whether the HTTP/1.1 message in the buffer can lead to HTTP/2, from its first line, once
    /// that is known (`None` before; `before` bytes of the buffer were looked at already). Only
    /// a server's `101` response switches to HTTP/2, and only an HTTP/1.1 request asks for the
    /// switch; anything else (an SSH banner, an SMTP command, a `200` response) is given up on
    /// there instead of buffered up to its blank line.
    fn first_line(&self, before: usize, server: bool) -> Option<bool> {
        const SWITCHING: &[u8] = b"http/1.1 101";
        const VERSION: &[u8] = b" HTTP/1.1";
        let line = &self.buffer;
        if server {
            let seen = line.len().min(SWITCHING.len());
            if !line[..seen].eq_ignore_ascii_case(&SWITCHING[..seen]) {
                return Some(false);
            }
            return (seen == SWITCHING.len()).then_some(true);
        }
        let from = before.saturating_sub(1);
        let end = line_end(&line[from..])? + from;
        Some(
            line[..end]
                .get(end.saturating_sub(VERSION.len())..)
                .is_some_and(|v| v.eq_ignore_ascii_case(VERSION)),
        )
    }

    fn stop(&mut self) {
        self.state = State::Done;
        self.buffer = Vec::new();
        self.first_line_read = false;
    }

    fn frame(&mut self, h: &[u8], server: bool) {
        let length = u64::from(h[0]) << 16 | u64::from(h[1]) << 8 | u64::from(h[2]);
        let kind = h[3];
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        // The first server frame must be SETTINGS on stream 0, or this is not HTTP/2.
        if server && self.frame_count() == 0 && (kind != frame::SETTINGS || stream != 0) {
            self.stop();
            return;
        }
        match self.frames.get_mut(usize::from(kind)) {
            Some(n) => *n += 1,
            None => self.other += 1,
        }
        if stream != 0 {
            if self.streams.len() < MAX_STREAMS {
                self.streams.insert(stream);
            }
            if matches!(kind, frame::DATA | frame::HEADERS) && stream < self.max_stream {
                self.interleaved = true;
            }
            self.max_stream = self.max_stream.max(stream);
        }
        self.skip = length;
    }
}

/// Where a search's finder is kept once built.
type FinderCell = std::sync::OnceLock<memchr::memmem::Finder<'static>>;

/// Where `needle` first occurs in `haystack`, its finder built once in `cell`: building one for
/// each search cost as much as the search on a segment.
fn find_with(cell: &'static FinderCell, needle: &'static [u8], haystack: &[u8]) -> Option<usize> {
    cell.get_or_init(|| memchr::memmem::Finder::new(needle))
        .find(haystack)
}

/// Where the first line of `haystack` ends (its CR LF).
fn line_end(haystack: &[u8]) -> Option<usize> {
    static CRLF: FinderCell = FinderCell::new();
    find_with(&CRLF, b"\r\n", haystack)
}

/// Where the head in `haystack` ends (the blank line's CR LF CR LF).
fn head_end(haystack: &[u8]) -> Option<usize> {
    static BLANK_LINE: FinderCell = FinderCell::new();
    find_with(&BLANK_LINE, b"\r\n\r\n", haystack)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The line and head ends are the first CR LF and CR LF CR LF a plain search finds.
        #[test]
        fn ends_are_the_first_occurrences(bytes in proptest::collection::vec(proptest::prop_oneof![
            proptest::strategy::Just(b'\r'),
            proptest::strategy::Just(b'\n'),
            proptest::num::u8::ANY,
        ], 0..80)) {
            proptest::prop_assert_eq!(line_end(&bytes), memchr::memmem::find(&bytes, b"\r\n"));
            proptest::prop_assert_eq!(head_end(&bytes), memchr::memmem::find(&bytes, b"\r\n\r\n"));
        }
    }

    fn frame(kind: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, 0];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn prior_knowledge_client_at_every_split() {
        let mut stream = PREFACE.to_vec();
        stream.extend(frame(frame::SETTINGS, 0, &[0; 6]));
        stream.extend(frame(frame::HEADERS, 1, &[1; 20]));
        stream.extend(frame(frame::HEADERS, 3, &[1; 20]));
        stream.extend(frame(frame::DATA, 1, &[2; 100]));
        for cut in 0..stream.len() {
            let mut p = Http2Parser::default();
            p.feed(&stream[..cut], false);
            p.feed(&stream[cut..], false);
            assert!(p.preface, "cut {cut}");
            assert_eq!(p.frame_count(), 4);
            assert_eq!((p.frames[0], p.frames[1], p.frames[4]), (1, 2, 1));
            assert_eq!(p.streams.len(), 2);
            assert!(p.interleaved);
        }
    }

    #[test]
    fn upgrade_and_non_http2() {
        let mut client = Http2Parser::default();
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n".to_vec();
        req.extend_from_slice(PREFACE);
        req.extend(frame(frame::SETTINGS, 0, &[]));
        client.feed(&req, false);
        assert!(client.preface);
        let mut server = Http2Parser::default();
        let mut resp =
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
                .to_vec();
        resp.extend(frame(frame::SETTINGS, 0, &[]));
        resp.extend(frame(frame::HEADERS, 1, &[0; 4]));
        server.feed(&resp, true);
        assert_eq!(server.frame_count(), 2);
        let mut plain = Http2Parser::default();
        plain.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", true);
        assert!(plain.is_done() && !plain.speaks_http2());
        let mut tls = Http2Parser::default();
        tls.feed(&[0x16, 3, 3, 0, 5, 2, 0, 0, 1], true);
        assert!(tls.is_done() && !tls.speaks_http2());
    }

    #[test]
    fn upgrade_at_every_split() {
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n".to_vec();
        req.extend_from_slice(PREFACE);
        req.extend(frame(frame::SETTINGS, 0, &[]));
        let mut resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n".to_vec();
        resp.extend(frame(frame::SETTINGS, 0, &[]));
        for (stream, server, frames) in [(&req, false, 1), (&resp, true, 1)] {
            for cut in 0..stream.len() {
                let mut p = Http2Parser::default();
                p.feed(&stream[..cut], server);
                p.feed(&stream[cut..], server);
                assert_eq!(p.frame_count(), frames, "server {server} cut {cut}");
                assert_eq!(p.preface, !server);
            }
        }
    }

    #[test]
    fn other_protocols_are_given_up_at_their_first_line() {
        for (start, server) in [
            (&b"SSH-2.0-OpenSSH_9.6 Ubuntu-3\r\n"[..], false),
            (b"SSH-2.0-OpenSSH_9.6", true),
            (b"EHLO mail.example.com\r\n", false),
            (b"HTTP/1.1 200", true),
            (b"GET / HTTP/1.0\r\n", false),
        ] {
            let mut p = Http2Parser::default();
            p.feed(start, server);
            assert!(p.is_done() && p.buffer.capacity() == 0, "{start:?}");
        }
        // An HTTP/1.0 request naming h2c is not an upgrade.
        let mut old = Http2Parser::default();
        old.feed(b"GET / HTTP/1.0\r\nUpgrade: h2c\r\n\r\n", false);
        old.feed(PREFACE, false);
        assert!(!old.speaks_http2());
        // A request line still arriving is kept.
        let mut partial = Http2Parser::default();
        partial.feed(b"GET /index.html HTT", false);
        assert!(!partial.is_done());
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn on_any_stream(bytes in proptest::collection::vec(any::<u8>(), 0..600), server: bool, cut in 0usize..600) {
                let cut = cut.min(bytes.len());
                let mut p = Http2Parser::default();
                p.feed(&bytes[..cut], server);
                p.feed(&bytes[cut..], server);
            }
        }
    }
}
