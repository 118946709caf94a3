//! Streaming SSH handshake parser: the version banner and the unencrypted binary packets up to
//! NEWKEYS, reassembled across TCP segments with bounded buffers.

/// Longest banner line kept (RFC 4253 allows 255 bytes).
const MAX_LINE: usize = 255;
/// Lines a server may send before its banner that are skipped.
const MAX_PRE_BANNER_LINES: u32 = 16;
/// Largest binary packet accepted before encryption (RFC 4253 requires 35,000).
const MAX_PACKET: u32 = 35_000;

const MSG_KEXINIT: u8 = 20;
const MSG_NEWKEYS: u8 = 21;

#[derive(Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Banner,
    Packets,
    Done,
}

/// One direction of an SSH connection.
#[derive(Debug, Default)]
pub struct SshParser {
    state: State,
    buffer: Vec<u8>,
    skipped_lines: u32,
    /// The version line, without its line ending.
    pub banner: Option<Vec<u8>>,
    /// The ten name-lists of the KEXINIT message.
    pub kexinit: Option<Vec<String>>,
    /// Key-exchange messages (types 20 to 49) seen before encryption.
    pub kex_messages: u64,
    /// NEWKEYS was seen: everything after it is encrypted.
    pub newkeys: bool,
}

impl SshParser {
    /// Whether the parser needs no more bytes.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Heap bytes held.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.buffer.capacity()
    }

    fn stop(&mut self) {
        self.state = State::Done;
        self.buffer = Vec::new();
    }

    /// Feeds in-order stream bytes.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::Done => return,
                State::Banner => {
                    let newline = data.iter().position(|&b| b == b'\n');
                    let take = newline.map_or(data.len(), |i| i + 1);
                    let room = MAX_LINE.saturating_sub(self.buffer.len());
                    self.buffer.extend_from_slice(&data[..take.min(room)]);
                    data = &data[take..];
                    if newline.is_none() {
                        if self.buffer.len() >= MAX_LINE {
                            self.stop();
                        }
                        continue;
                    }
                    let line = std::mem::take(&mut self.buffer);
                    if line.starts_with(b"SSH-") {
                        let end = line
                            .iter()
                            .position(|&b| b == b'\r' || b == b'\n')
                            .unwrap_or(line.len());
                        self.banner = Some(line[..end].to_vec());
                        self.state = State::Packets;
                    } else {
                        self.skipped_lines += 1;
                        if self.skipped_lines > MAX_PRE_BANNER_LINES {
                            self.stop();
                        }
                    }
                }
                State::Packets => {
                    let need_header = 5usize.saturating_sub(self.buffer.len());
                    if need_header > 0 {
                        let n = need_header.min(data.len());
                        self.buffer.extend_from_slice(&data[..n]);
                        data = &data[n..];
                        continue;
                    }
                    let length = u32::from_be_bytes([
                        self.buffer[0],
                        self.buffer[1],
                        self.buffer[2],
                        self.buffer[3],
                    ]);
                    if !(5..=MAX_PACKET).contains(&length) {
                        // Not a plausible cleartext packet: encrypted or not SSH.
                        self.stop();
                        return;
                    }
                    let total = 4 + length as usize;
                    // Room for the whole packet at once, not a regrowth per segment.
                    self.buffer.reserve_exact(total - self.buffer.len());
                    let n = (total - self.buffer.len()).min(data.len());
                    self.buffer.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if self.buffer.len() == total {
                        let mut packet = std::mem::take(&mut self.buffer);
                        self.packet(&packet);
                        if self.state != State::Done {
                            // The next packet reuses the room.
                            packet.clear();
                            self.buffer = packet;
                        }
                    }
                }
            }
        }
    }

    fn packet(&mut self, packet: &[u8]) {
        let padding = usize::from(packet[4]);
        let end = packet.len().saturating_sub(padding).max(5);
        let payload = &packet[5..end];
        let Some(&kind) = payload.first() else { return };
        if (20..=49).contains(&kind) {
            self.kex_messages += 1;
        }
        match kind {
            MSG_KEXINIT if self.kexinit.is_none() => self.kexinit = parse_kexinit(payload),
            MSG_NEWKEYS => {
                self.newkeys = true;
                self.stop();
            }
            _ => {}
        }
    }
}

/// The name-lists of a KEXINIT payload (type byte first), as far as they could be read.
fn parse_kexinit(payload: &[u8]) -> Option<Vec<String>> {
    let mut at = 17; // type and 16-byte cookie
    let mut lists = Vec::with_capacity(10);
    for _ in 0..10 {
        let len_bytes = payload.get(at..at + 4)?;
        let len =
            u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        at += 4;
        let bytes = payload.get(at..at + len)?;
        lists.push(super::ascii(bytes));
        at += len;
    }
    Some(lists)
}

/// The version and the software of a banner `SSH-<version>-<software> <comments>`.
#[must_use]
pub fn banner_parts(banner: &[u8]) -> (String, String) {
    let text = super::ascii(banner);
    let Some(rest) = text.strip_prefix("SSH-") else {
        return (String::new(), String::new());
    };
    let Some((version, software)) = rest.split_once('-') else {
        return (String::new(), String::new());
    };
    let numeric = version.split_once('.').is_some_and(|(major, minor)| {
        !major.is_empty()
            && !minor.is_empty()
            && major
                .chars()
                .chain(minor.chars())
                .all(|c| c.is_ascii_digit())
    });
    if !numeric || software.is_empty() {
        return (String::new(), String::new());
    }
    (
        version.to_string(),
        software.split_whitespace().next().unwrap_or("").to_string(),
    )
}

/// HASSH (client: kex;enc c2s;mac c2s;comp c2s) or HASSH-server (the s2c lists), as MD5 hex.
#[must_use]
pub fn hassh(lists: &[String], server: bool) -> String {
    let pick = if server { [0, 3, 5, 7] } else { [0, 2, 4, 6] };
    if lists.len() < 8 {
        return String::new();
    }
    let text = pick.map(|i| lists[i].as_str()).join(";");
    super::tls::md5_hex(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(payload: &[u8]) -> Vec<u8> {
        let padding = 4usize;
        let length = u32::try_from(1 + payload.len() + padding).unwrap();
        let mut p = length.to_be_bytes().to_vec();
        p.push(u8::try_from(padding).unwrap());
        p.extend_from_slice(payload);
        p.extend_from_slice(&[0; 4]);
        p
    }

    fn kexinit(lists: [&str; 10]) -> Vec<u8> {
        let mut k = vec![MSG_KEXINIT];
        k.extend_from_slice(&[7; 16]);
        for l in lists {
            k.extend_from_slice(&u32::try_from(l.len()).unwrap().to_be_bytes());
            k.extend_from_slice(l.as_bytes());
        }
        k.extend_from_slice(&[0, 0, 0, 0, 0]);
        k
    }

    fn client_stream() -> Vec<u8> {
        let mut s = b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n".to_vec();
        s.extend(packet(&kexinit([
            "kex1,kex2",
            "hostkey",
            "aes128-ctr",
            "aes256-ctr",
            "hmac-sha2-256",
            "hmac-sha1",
            "none",
            "zlib",
            "",
            "",
        ])));
        s.extend(packet(&[30, 1, 2, 3]));
        s.extend(packet(&[MSG_NEWKEYS]));
        s.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x99, 0x98]);
        s
    }

    #[test]
    fn banner_kexinit_and_newkeys_at_every_split() {
        let stream = client_stream();
        for cut in 0..stream.len() {
            let mut p = SshParser::default();
            p.feed(&stream[..cut]);
            p.feed(&stream[cut..]);
            assert_eq!(
                p.banner.as_deref(),
                Some(&b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3"[..]),
                "cut {cut}"
            );
            let lists = p.kexinit.as_ref().unwrap();
            assert_eq!(lists[0], "kex1,kex2");
            assert_eq!(p.kex_messages, 3);
            assert!(p.newkeys && p.is_done());
            assert_eq!(
                hassh(lists, false),
                super::super::tls::md5_hex("kex1,kex2;aes128-ctr;hmac-sha2-256;none")
            );
            assert_eq!(
                hassh(lists, true),
                super::super::tls::md5_hex("kex1,kex2;aes256-ctr;hmac-sha1;zlib")
            );
        }
    }

    #[test]
    fn banner_parts_and_pre_banner_lines() {
        assert_eq!(
            banner_parts(b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3"),
            ("2.0".into(), "OpenSSH_8.9p1".into())
        );
        assert_eq!(
            banner_parts(b"SSH-1.99-Cisco-1.25"),
            ("1.99".into(), "Cisco-1.25".into())
        );
        assert_eq!(
            banner_parts(b"HTTP/1.1 200"),
            (String::new(), String::new())
        );
        let mut p = SshParser::default();
        p.feed(b"Welcome\r\nSSH-2.0-srv\r\n");
        assert_eq!(p.banner.as_deref(), Some(&b"SSH-2.0-srv"[..]));
        let mut q = SshParser::default();
        q.feed(&[b'x'; 300]);
        assert!(q.is_done() && q.banner.is_none());
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn on_mutated_streams(flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..8), cut in 0usize..400) {
                let mut s = client_stream();
                for (at, v) in flips {
                    let n = s.len();
                    s[at % n] = v;
                }
                let cut = cut % s.len();
                let mut p = SshParser::default();
                p.feed(&s[..cut]);
                p.feed(&s[cut..]);
                if let Some(lists) = &p.kexinit {
                    let _ = hassh(lists, true);
                }
            }
        }
    }
}
