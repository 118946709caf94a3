//! `dns` (JJ-EXTENDED): the flow's DNS exchange over UDP or TCP on port 53.
//!
//! The question comes from the first DNS message, response fields from the first response, and
//! query flags from the first query (JoyfulJay
//! describes only the first message, so its response fields are empty whenever the query was
//! captured; see docs/deviations.md).

use super::{Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{ipproto, tcp, Packet};
use crate::stream::dns::{self, DnsMessage};
use crate::stream::tcp_stream::TcpStream;

const DNS_PORT: u16 = 53;
/// The largest DNS message over TCP, with its 2-byte length prefix.
const MAX_TCP_MESSAGE: usize = 2 + 65_535;

/// One direction of DNS over TCP: the first length-prefixed message, reassembled.
#[derive(Debug, Default)]
struct TcpSide {
    stream: TcpStream,
    buffer: Vec<u8>,
    done: bool,
}

#[derive(Debug, Default)]
pub(super) struct Dns {
    /// The question of the first message that has one (JoyfulJay's choice too).
    question: Option<(String, u16)>,
    query: Option<DnsMessage>,
    response: Option<DnsMessage>,
    tcp: Option<Box<[TcpSide; 2]>>,
}

impl Dns {
    /// Whether a DNS message was read.
    pub(super) fn seen(&self) -> bool {
        self.query.is_some() || self.response.is_some()
    }

    /// Whether `message` could change the record: only the first query, the first response
    /// and the first question are kept, so a busy resolver flow is not parsed past them.
    fn wants(&self, message: &[u8]) -> bool {
        let Some(&flags) = message.get(2) else {
            return false;
        };
        let slot = if flags & 0x80 != 0 {
            &self.response
        } else {
            &self.query
        };
        self.question.is_none() || slot.is_none()
    }

    fn record(&mut self, message: DnsMessage) {
        if self.question.is_none() {
            self.question.clone_from(&message.question);
        }
        if message.is_response() {
            self.response.get_or_insert(message);
        } else {
            self.query.get_or_insert(message);
        }
    }
}

impl Extractor for Dns {
    const GROUP: Group = Group::Dns;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        if pkt.src_port != DNS_PORT && pkt.dst_port != DNS_PORT {
            return;
        }
        match (pkt.ip.protocol, pkt.tcp) {
            (ipproto::UDP, _) if self.wants(pkt.payload) => {
                if let Some(m) = dns::parse(pkt.payload) {
                    self.record(m);
                }
            }
            (ipproto::TCP, Some(t)) => {
                if pkt.payload.is_empty() && t.flags & tcp::SYN == 0 {
                    return;
                }
                let side = &mut self.tcp.get_or_insert_with(Box::default)[dir as usize];
                if side.done {
                    return;
                }
                let TcpSide { stream, buffer, .. } = side;
                stream.push(t.seq, t.flags & tcp::SYN != 0, pkt.payload, &mut |bytes| {
                    let room = MAX_TCP_MESSAGE.saturating_sub(buffer.len());
                    buffer.extend_from_slice(&bytes[..bytes.len().min(room)]);
                });
                let need = match buffer.get(..2) {
                    Some(&[hi, lo]) => 2 + usize::from(u16::from_be_bytes([hi, lo])),
                    _ => return,
                };
                if buffer.len() >= need {
                    let message = dns::parse(&buffer[2..need]);
                    side.done = true;
                    side.buffer = Vec::new();
                    side.stream.close();
                    if let Some(m) = message {
                        self.record(m);
                    }
                } else if side.stream.is_broken() {
                    side.done = true;
                    side.buffer = Vec::new();
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let (q, r) = (self.query.as_ref(), self.response.as_ref());
        // Counts and flags come from the response when there is one, as a resolver sees them.
        let main = r.or(q);
        out.bool(main.is_some());
        match self.question.take() {
            Some((name, qtype)) => {
                out.str(name);
                out.int(qtype);
                out.str(dns::type_name(qtype));
            }
            None => {
                out.str("");
                out.int(0);
                out.str("");
            }
        }
        out.int(r.map_or(-1, |m| i64::from(m.rcode())));
        out.str(r.map(|m| dns::rcode_name(m.rcode())).unwrap_or_default());
        out.int(main.map_or(0, |m| m.answers));
        out.int(main.map_or(0, |m| m.authorities));
        out.int(main.map_or(0, |m| m.additionals));
        let (min_ttl, max_ttl) = r.and_then(|m| m.ttl_range).unwrap_or((0, 0));
        out.int(min_ttl);
        out.int(max_ttl);
        out.bool(q.is_some());
        out.bool(r.is_some());
        out.bool(main.is_some_and(DnsMessage::truncated));
        out.bool(q.or(r).is_some_and(DnsMessage::recursion_desired));
        out.bool(main.is_some_and(DnsMessage::recursion_available));
    }

    fn heap_bytes(&self) -> usize {
        self.tcp.as_ref().map_or(0, |s| {
            s.iter()
                .map(|d| d.buffer.capacity() + d.stream.heap_bytes())
                .sum()
        })
    }
}
