//! `ssh` (JJ-EXTENDED): banners, HASSH fingerprints and the key exchange, read from the
//! reassembled TCP stream of each direction.

use super::{Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::{tcp, Packet};
use crate::stream::ssh::{self, SshParser};
use crate::stream::tcp_stream::TcpStream;

#[derive(Debug, Default)]
struct Side {
    stream: TcpStream,
    parser: SshParser,
}

#[derive(Debug, Default)]
pub(super) struct Ssh {
    /// Allocated when the flow's first payload is an SSH banner.
    sides: Option<Box<[Side; 2]>>,
    not_ssh: bool,
    encrypted_packets: u64,
}

impl Ssh {
    /// Whether an SSH banner was seen: the session that follows is encrypted.
    pub(super) fn seen(&self) -> bool {
        self.sides
            .as_deref()
            .is_some_and(|s| s.iter().any(|d| d.parser.banner.is_some()))
    }
}

impl Extractor for Ssh {
    const GROUP: Group = Group::Ssh;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let Some(t) = &pkt.tcp else { return };
        if self.not_ssh || pkt.payload.is_empty() {
            return;
        }
        if self.sides.is_none() {
            if !pkt.payload.starts_with(b"SSH-") {
                self.not_ssh = true;
                return;
            }
            self.sides = Some(Box::default());
        }
        let Some(sides) = self.sides.as_deref_mut() else {
            return;
        };
        let Side { stream, parser } = &mut sides[dir as usize];
        if parser.newkeys {
            self.encrypted_packets += 1;
            return;
        }
        if parser.is_done() {
            return;
        }
        stream.push(t.seq, t.flags & tcp::SYN != 0, pkt.payload, &mut |bytes| {
            parser.feed(bytes);
        });
        if parser.is_done() {
            stream.close();
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let sides = self.sides.as_deref();
        let banner = |d: usize| {
            sides
                .and_then(|s| s[d].parser.banner.as_deref())
                .map(ssh::banner_parts)
        };
        let (client, server) = (banner(0), banner(1));
        out.bool(client.is_some() || server.is_some());
        let version = client
            .as_ref()
            .map(|(v, _)| v.clone())
            .filter(|v| !v.is_empty());
        out.str(
            version
                .or_else(|| server.as_ref().map(|(v, _)| v.clone()))
                .unwrap_or_default(),
        );
        out.str(client.as_ref().map(|(_, s)| s.clone()).unwrap_or_default());
        out.str(server.as_ref().map(|(_, s)| s.clone()).unwrap_or_default());
        out.str(client.map(|(v, _)| v).unwrap_or_default());
        out.str(server.map(|(v, _)| v).unwrap_or_default());
        let fingerprint = |d: usize, server: bool| {
            sides
                .and_then(|s| s[d].parser.kexinit.as_deref())
                .map(|l| ssh::hassh(l, server))
                .unwrap_or_default()
        };
        out.str(fingerprint(0, false));
        out.str(fingerprint(1, true));
        out.int(sides.map_or(0, |s| s[0].parser.kex_messages + s[1].parser.kex_messages));
        out.int(self.encrypted_packets);
    }

    fn heap_bytes(&self) -> usize {
        self.sides.as_deref().map_or(0, |s| {
            std::mem::size_of::<[Side; 2]>()
                + s.iter()
                    .map(|d| d.stream.heap_bytes() + d.parser.heap_bytes())
                    .sum::<usize>()
        })
    }
}
