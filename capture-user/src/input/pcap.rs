//! Classic libpcap files: micro- or nanosecond timestamps, either byte order.

use super::{Frame, InputErrorKind};
use crate::decode::LinkType;

/// Larger records than this are treated as corruption, whatever the header's snap length says
/// (libpcap itself refuses records above 256 KiB for most link types).
const MAX_RECORD: u32 = 16 * 1024 * 1024;

#[derive(Debug)]
pub(super) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    big_endian: bool,
    nanos: bool,
    link: LinkType,
}

type Failure = (u64, InputErrorKind);

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Result<Self, Failure> {
        if data.len() < 24 {
            return Err((0, InputErrorKind::Truncated));
        }
        let (big_endian, nanos) = match [data[0], data[1], data[2], data[3]] {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return Err((0, InputErrorKind::UnknownFormat)),
        };
        let mut r = Self {
            data,
            pos: 24,
            big_endian,
            nanos,
            link: LinkType::Ethernet,
        };
        // The upper bits of the link-type field carry FCS information, not the type.
        r.link = LinkType::from_u32(r.u32_at(20) & 0x0fff_ffff);
        Ok(r)
    }

    fn u32_at(&self, at: usize) -> u32 {
        self.u32_of([
            self.data[at],
            self.data[at + 1],
            self.data[at + 2],
            self.data[at + 3],
        ])
    }

    /// `b` as a number in the file's byte order.
    #[inline]
    fn u32_of(&self, b: [u8; 4]) -> u32 {
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    pub(super) fn position(&self) -> u64 {
        self.pos as u64
    }

    #[inline]
    pub(super) fn next_frame(&mut self) -> Result<Option<Frame<'a>>, Failure> {
        let start = self.pos;
        if start == self.data.len() {
            return Ok(None);
        }
        let Some(header) = self.data[start..].first_chunk::<16>() else {
            return Err((start as u64, InputErrorKind::Truncated));
        };
        let field =
            |i: usize| self.u32_of([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let (secs, frac, caplen, wire_len) = (field(0), field(4), field(8), field(12));
        if caplen > MAX_RECORD {
            return Err((start as u64, InputErrorKind::BadLength(caplen)));
        }
        let body = start + 16;
        let end = body + caplen as usize;
        if end > self.data.len() {
            return Err((start as u64, InputErrorKind::Truncated));
        }
        self.pos = end;
        let frac_ns = if self.nanos {
            i64::from(frac)
        } else {
            i64::from(frac) * 1000
        };
        Ok(Some(Frame {
            ts_ns: i64::from(secs) * 1_000_000_000 + frac_ns,
            data: &self.data[body..end],
            wire_len: wire_len.max(caplen),
            link: self.link,
        }))
    }
}
