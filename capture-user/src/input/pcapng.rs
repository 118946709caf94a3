//! pcapng files: several sections and interfaces, per-interface time resolution and offset.

use super::{Frame, InputErrorKind};
use crate::decode::LinkType;

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 0x0000_0001;
const OBSOLETE_PB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;
/// Blocks larger than this are treated as corruption.
const MAX_BLOCK: u32 = 64 * 1024 * 1024;

#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    /// Timestamp units per second are 10^exp (when `!binary`) or 2^exp.
    resolution_exp: u8,
    binary: bool,
    offset_secs: i64,
}

impl Interface {
    fn to_nanos(self, ticks: u64) -> i64 {
        let ns: u128 = if self.binary {
            (u128::from(ticks) * 1_000_000_000) >> self.resolution_exp.min(127)
        } else if self.resolution_exp <= 9 {
            u128::from(ticks) * 10u128.pow(9 - u32::from(self.resolution_exp))
        } else {
            u128::from(ticks) / 10u128.pow(u32::from(self.resolution_exp.min(38)) - 9)
        };
        i64::try_from(ns)
            .unwrap_or(i64::MAX)
            .saturating_add(self.offset_secs.saturating_mul(1_000_000_000))
    }
}

#[derive(Debug)]
pub(super) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    big_endian: bool,
    interfaces: Vec<Interface>,
}

type Failure = (u64, InputErrorKind);

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            big_endian: false,
            interfaces: Vec::new(),
        }
    }

    pub(super) fn position(&self) -> u64 {
        self.pos as u64
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = [self.data[at], self.data[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b = [
            self.data[at],
            self.data[at + 1],
            self.data[at + 2],
            self.data[at + 3],
        ];
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    pub(super) fn next_frame(&mut self) -> Result<Option<Frame<'a>>, Failure> {
        loop {
            let start = self.pos;
            if start == self.data.len() {
                return Ok(None);
            }
            if self.data.len() - start < 12 {
                return Err((start as u64, InputErrorKind::Truncated));
            }
            let raw_type = u32::from_le_bytes([
                self.data[start],
                self.data[start + 1],
                self.data[start + 2],
                self.data[start + 3],
            ]);
            if raw_type == SHB {
                // The section header fixes the byte order of everything up to the next one.
                self.big_endian = match &self.data[start + 8..start + 12] {
                    [0x1a, 0x2b, 0x3c, 0x4d] => true,
                    [0x4d, 0x3c, 0x2b, 0x1a] => false,
                    _ => return Err((start as u64, InputErrorKind::BadByteOrder)),
                };
                self.interfaces.clear();
            }
            let block_type = self.u32_at(start);
            let total = self.u32_at(start + 4);
            if total < 12 || !total.is_multiple_of(4) || total > MAX_BLOCK {
                return Err((start as u64, InputErrorKind::BadLength(total)));
            }
            let end = start + total as usize;
            if end > self.data.len() {
                return Err((start as u64, InputErrorKind::Truncated));
            }
            self.pos = end;
            let body = start + 8..end - 4;
            match block_type {
                IDB => self.interface(body.start, body.end, start)?,
                EPB | OBSOLETE_PB => {
                    if body.len() < 20 {
                        return Err((start as u64, InputErrorKind::BadLength(total)));
                    }
                    let b = body.start;
                    let (iface_id, ts_at) = if block_type == EPB {
                        (self.u32_at(b), b + 4)
                    } else {
                        (u32::from(self.u16_at(b)), b + 4)
                    };
                    let ticks =
                        (u64::from(self.u32_at(ts_at)) << 32) | u64::from(self.u32_at(ts_at + 4));
                    let caplen = self.u32_at(ts_at + 8);
                    let wire_len = self.u32_at(ts_at + 12);
                    let data_at = ts_at + 16;
                    if caplen as usize > body.end - data_at {
                        return Err((start as u64, InputErrorKind::BadLength(caplen)));
                    }
                    let iface = *self
                        .interfaces
                        .get(iface_id as usize)
                        .ok_or((start as u64, InputErrorKind::UnknownInterface(iface_id)))?;
                    return Ok(Some(Frame {
                        ts_ns: iface.to_nanos(ticks),
                        data: &self.data[data_at..data_at + caplen as usize],
                        wire_len: wire_len.max(caplen),
                        link: iface.link,
                    }));
                }
                SPB => {
                    if body.len() < 4 {
                        return Err((start as u64, InputErrorKind::BadLength(total)));
                    }
                    let iface = *self
                        .interfaces
                        .first()
                        .ok_or((start as u64, InputErrorKind::UnknownInterface(0)))?;
                    let wire_len = self.u32_at(body.start);
                    let room = body.len() - 4;
                    let snap = if iface.snaplen == 0 {
                        u32::MAX
                    } else {
                        iface.snaplen
                    };
                    let caplen = (wire_len.min(snap) as usize).min(room);
                    let data_at = body.start + 4;
                    // Simple packet blocks carry no timestamp.
                    return Ok(Some(Frame {
                        ts_ns: 0,
                        data: &self.data[data_at..data_at + caplen],
                        wire_len,
                        link: iface.link,
                    }));
                }
                _ => {}
            }
        }
    }

    fn interface(&mut self, from: usize, to: usize, block_start: usize) -> Result<(), Failure> {
        if to - from < 8 {
            return Err((block_start as u64, InputErrorKind::Truncated));
        }
        let mut iface = Interface {
            link: LinkType::from_u32(u32::from(self.u16_at(from))),
            snaplen: self.u32_at(from + 4),
            resolution_exp: 6,
            binary: false,
            offset_secs: 0,
        };
        let mut at = from + 8;
        while at + 4 <= to {
            let code = self.u16_at(at);
            let len = usize::from(self.u16_at(at + 2));
            let value = at + 4;
            if value + len > to {
                break;
            }
            match (code, len) {
                (0, _) => break,
                (9, 1) => {
                    let v = self.data[value];
                    iface.binary = v & 0x80 != 0;
                    iface.resolution_exp = v & 0x7f;
                }
                (14, 8) => {
                    let hi = u64::from(self.u32_at(value));
                    let lo = u64::from(self.u32_at(value + 4));
                    let raw = if self.big_endian {
                        (hi << 32) | lo
                    } else {
                        (lo << 32) | hi
                    };
                    iface.offset_secs = i64::from_ne_bytes(raw.to_ne_bytes());
                }
                _ => {}
            }
            at = value + len.div_ceil(4) * 4;
        }
        self.interfaces.push(iface);
        Ok(())
    }
}
