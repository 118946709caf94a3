//! DNS messages: header, first question, and the TTLs of the answer records. Bounded and
//! panic-free on any input: names follow at most 50 compression pointers and 255 bytes.

/// What the features need from one DNS message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsMessage {
    /// The flags word (QR, opcode, AA, TC, RD, RA, rcode).
    pub flags: u16,
    /// Answer records announced.
    pub answers: u16,
    /// Authority records announced.
    pub authorities: u16,
    /// Additional records announced.
    pub additionals: u16,
    /// First question's name and type.
    pub question: Option<(String, u16)>,
    /// Smallest and largest TTL among the answer records that could be read.
    pub ttl_range: Option<(u32, u32)>,
}

impl DnsMessage {
    /// QR: a response.
    #[must_use]
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// TC: truncated.
    #[must_use]
    pub fn truncated(&self) -> bool {
        self.flags & 0x0200 != 0
    }

    /// RD: recursion desired.
    #[must_use]
    pub fn recursion_desired(&self) -> bool {
        self.flags & 0x0100 != 0
    }

    /// RA: recursion available.
    #[must_use]
    pub fn recursion_available(&self) -> bool {
        self.flags & 0x0080 != 0
    }

    /// The response code.
    #[must_use]
    pub fn rcode(&self) -> u8 {
        u8::try_from(self.flags & 0x000f).unwrap_or(0)
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// Reads the name at `at`; returns it and the offset just past it in the message (not past
/// the target of a compression pointer). Labels that are not ASCII are written as hex, as
/// JoyfulJay does. A name cut short returns what was read.
fn read_name(msg: &[u8], mut at: usize) -> (String, usize) {
    let mut name = String::new();
    let mut resume = None;
    for _ in 0..50 {
        let Some(&len) = msg.get(at) else { break };
        if len == 0 {
            at += 1;
            break;
        }
        if len & 0xc0 == 0xc0 {
            let Some(pointer) = be16(msg, at) else { break };
            resume.get_or_insert(at + 2);
            at = usize::from(pointer & 0x3fff);
            continue;
        }
        let start = at + 1;
        let end = start + usize::from(len);
        let Some(label) = msg.get(start..end) else {
            at = msg.len();
            break;
        };
        if name.len() + label.len() < 255 {
            if !name.is_empty() {
                name.push('.');
            }
            if label.is_ascii() {
                name.extend(label.iter().map(|&b| char::from(b)));
            } else {
                for b in label {
                    name.push_str(&format!("{b:02x}"));
                }
            }
        }
        at = end;
    }
    (name, resume.unwrap_or(at))
}

/// The offset just past the name at `at`, as [`read_name`] gives it, without building the name.
fn skip_name(msg: &[u8], mut at: usize) -> usize {
    for _ in 0..50 {
        let Some(&len) = msg.get(at) else {
            return at;
        };
        if len == 0 {
            return at + 1;
        }
        if len & 0xc0 == 0xc0 {
            // A pointer ends the name in the message, wherever it points; a pointer cut short
            // ends it where it starts, as in `read_name`.
            return if at + 2 <= msg.len() { at + 2 } else { at };
        }
        at += 1 + usize::from(len);
    }
    at
}

/// Parses a DNS message (the UDP payload, or a TCP message without its length prefix).
/// Returns `None` when it is shorter than the 12-byte header.
#[must_use]
pub fn parse(msg: &[u8]) -> Option<DnsMessage> {
    let mut m = DnsMessage {
        flags: be16(msg, 2)?,
        answers: be16(msg, 6)?,
        authorities: be16(msg, 8)?,
        additionals: be16(msg, 10)?,
        ..DnsMessage::default()
    };
    let questions = be16(msg, 4)?;
    let mut at = 12;
    if questions > 0 {
        let (name, next) = read_name(msg, at);
        if let Some(qtype) = be16(msg, next).filter(|_| !name.is_empty() && next + 4 <= msg.len()) {
            m.question = Some((name, qtype));
            at = next + 4;
        } else {
            at = next;
        }
        // Further questions are skipped, so that the answers are found where they start. The
        // counts are the sender's word: the loops stop at the end of the message, not after
        // 65,535 empty turns.
        for _ in 1..questions {
            if at >= msg.len() {
                break;
            }
            at = skip_name(msg, at) + 4;
        }
    }
    if m.is_response() {
        for _ in 0..m.answers {
            if at >= msg.len() {
                break;
            }
            let next = skip_name(msg, at);
            let (Some(ttl), Some(rdlength)) = (be32(msg, next + 4), be16(msg, next + 8)) else {
                break;
            };
            m.ttl_range = Some(
                m.ttl_range
                    .map_or((ttl, ttl), |(lo, hi)| (lo.min(ttl), hi.max(ttl))),
            );
            at = next + 10 + usize::from(rdlength);
        }
    }
    Some(m)
}

/// The name of a query type, as JoyfulJay writes it.
#[must_use]
pub fn type_name(qtype: u16) -> String {
    match qtype {
        1 => "A".into(),
        2 => "NS".into(),
        5 => "CNAME".into(),
        6 => "SOA".into(),
        12 => "PTR".into(),
        15 => "MX".into(),
        16 => "TXT".into(),
        28 => "AAAA".into(),
        33 => "SRV".into(),
        65 => "HTTPS".into(),
        255 => "ANY".into(),
        other => format!("TYPE{other}"),
    }
}

/// The name of a response code, as JoyfulJay writes it.
#[must_use]
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        other => format!("RCODE{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to "www.example.org A" with two answers (the second name compressed).
    fn response() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 1];
        m.extend_from_slice(b"\x03www\x07example\x03org\x00");
        m.extend_from_slice(&[0, 1, 0, 1]);
        for ttl in [300u32, 60] {
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&[0, 4, 93, 184, 216, 34]);
        }
        m
    }

    #[test]
    fn parses_header_question_and_ttls() {
        let m = parse(&response()).unwrap();
        assert!(
            m.is_response() && m.recursion_desired() && m.recursion_available() && !m.truncated()
        );
        assert_eq!(m.rcode(), 0);
        assert_eq!((m.answers, m.authorities, m.additionals), (2, 0, 1));
        assert_eq!(m.question, Some(("www.example.org".to_string(), 1)));
        assert_eq!(m.ttl_range, Some((60, 300)));
        assert_eq!(
            (
                type_name(28).as_str(),
                rcode_name(3).as_str(),
                type_name(99).as_str()
            ),
            ("AAAA", "NXDOMAIN", "TYPE99")
        );
    }

    #[test]
    fn pointer_loops_and_truncation_are_bounded() {
        let mut looped = vec![0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        looped.extend_from_slice(&[0xc0, 12]);
        assert!(parse(&looped).is_some());
        let full = response();
        for cut in 0..full.len() {
            let m = parse(&full[..cut]);
            assert_eq!(m.is_some(), cut >= 12);
        }
        assert_eq!(
            parse(&full[..full.len() - 6]).unwrap().ttl_range,
            Some((300, 300))
        );
    }

    #[test]
    fn counts_beyond_the_message_read_what_is_there() {
        let truth = parse(&response()).unwrap();
        let mut claimed = response();
        claimed[6..12].fill(0xff);
        let m = parse(&claimed).unwrap();
        assert_eq!(m.question, truth.question);
        assert_eq!(m.ttl_range, truth.ttl_range);
        assert_eq!(m.answers, 0xffff);
        // 65,535 questions: the answers are read as further questions, and the message ends.
        claimed[4..6].fill(0xff);
        let m = parse(&claimed).unwrap();
        assert_eq!(m.question, truth.question);
        assert_eq!(m.ttl_range, None);
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                let _ = parse(&bytes);
            }

            #[test]
            fn skipping_a_name_ends_where_reading_it_does(
                bytes in proptest::collection::vec(any::<u8>(), 0..300),
                at in 0usize..300,
            ) {
                let end = bytes.len();
                prop_assert_eq!(skip_name(&bytes, at).min(end), read_name(&bytes, at).1.min(end));
            }
        }
    }
}
