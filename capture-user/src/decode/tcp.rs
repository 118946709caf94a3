//! TCP header and options.

use super::error::{be16, be32, ensure, DecodeError, Layer};

/// FIN flag.
pub const FIN: u16 = 0x001;
/// SYN flag.
pub const SYN: u16 = 0x002;
/// RST flag.
pub const RST: u16 = 0x004;
/// PSH flag.
pub const PSH: u16 = 0x008;
/// ACK flag.
pub const ACK: u16 = 0x010;
/// URG flag.
pub const URG: u16 = 0x020;
/// ECE flag.
pub const ECE: u16 = 0x040;
/// CWR flag.
pub const CWR: u16 = 0x080;
/// The nonce-sum bit (RFC 3540), the ninth flag bit.
pub const NS: u16 = 0x100;

/// A checked view of a TCP header; `header_len()` bytes (options included) are guaranteed present.
#[derive(Clone, Copy, Debug)]
pub struct TcpHeader<'a>(&'a [u8]);

impl<'a> TcpHeader<'a> {
    /// Minimum header length.
    pub const MIN_LEN: usize = 20;

    /// Checks data offset and that the whole header was captured.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::MIN_LEN, Layer::Tcp, offset)?;
        let hl = usize::from(buf[12] >> 4) * 4;
        if hl < Self::MIN_LEN {
            return Err(DecodeError::malformed(
                Layer::Tcp,
                offset,
                "data offset below 5",
            ));
        }
        ensure(buf, hl, Layer::Tcp, offset)?;
        Ok(Self(buf))
    }

    /// Source port.
    #[inline]
    #[must_use]
    pub fn src_port(&self) -> u16 {
        be16(self.0, 0)
    }

    /// Destination port.
    #[inline]
    #[must_use]
    pub fn dst_port(&self) -> u16 {
        be16(self.0, 2)
    }

    /// Sequence number.
    #[inline]
    #[must_use]
    pub fn seq(&self) -> u32 {
        be32(self.0, 4)
    }

    /// Acknowledgment number.
    #[inline]
    #[must_use]
    pub fn ack(&self) -> u32 {
        be32(self.0, 8)
    }

    /// Header length in bytes.
    #[inline]
    #[must_use]
    pub fn header_len(&self) -> usize {
        usize::from(self.0[12] >> 4) * 4
    }

    /// The nine flag bits (NS, CWR, ECE, URG, ACK, PSH, RST, SYN, FIN).
    #[inline]
    #[must_use]
    pub fn flags(&self) -> u16 {
        be16(self.0, 12) & 0x01ff
    }

    /// Advertised window (unscaled).
    #[inline]
    #[must_use]
    pub fn window(&self) -> u16 {
        be16(self.0, 14)
    }

    /// Urgent pointer.
    #[inline]
    #[must_use]
    pub fn urgent_ptr(&self) -> u16 {
        be16(self.0, 18)
    }

    /// The raw options bytes.
    #[inline]
    #[must_use]
    pub fn options(&self) -> &'a [u8] {
        &self.0[Self::MIN_LEN..self.header_len()]
    }
}

/// The TCP options a flow's features use, parsed from one segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// Maximum segment size.
    pub mss: Option<u16>,
    /// Window scale shift count.
    pub window_scale: Option<u8>,
    /// SACK permitted.
    pub sack_permitted: bool,
    /// Number of SACK blocks.
    pub sack_blocks: u8,
    /// Timestamp value and echo reply.
    pub timestamp: Option<(u32, u32)>,
    /// An MPTCP option (kind 30) was present; holds its subtype.
    pub mptcp_subtype: Option<u8>,
    /// Bitmap of option kinds seen (bit k for kinds below 32; kinds 32 and above set bit 31).
    pub kinds_bitmap: u32,
    /// The options area ended early (a length ran past the header, or was below 2).
    pub malformed: bool,
}

impl TcpOptions {
    /// Walks the options area. Never panics; a bad length stops the walk and sets `malformed`.
    #[must_use]
    #[inline]
    pub fn parse(opts: &[u8]) -> Self {
        // Nearly every segment after the handshake carries exactly this: two NOPs, then
        // timestamps. Read at once, it gives what the walk gives.
        if let &[1, 1, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3] = opts {
            return Self {
                timestamp: Some((
                    u32::from_be_bytes([v0, v1, v2, v3]),
                    u32::from_be_bytes([e0, e1, e2, e3]),
                )),
                kinds_bitmap: 1 << 1 | 1 << 8,
                ..Self::default()
            };
        }
        Self::walk(opts)
    }

    /// The walk itself, option by option.
    pub(super) fn walk(mut opts: &[u8]) -> Self {
        let mut out = Self::default();
        while let Some(&kind) = opts.first() {
            out.kinds_bitmap |= 1 << kind.min(31);
            match kind {
                0 => break,
                1 => {
                    opts = &opts[1..];
                    continue;
                }
                _ => {}
            }
            let Some(&len) = opts.get(1) else {
                out.malformed = true;
                break;
            };
            let len = usize::from(len);
            if len < 2 || len > opts.len() {
                out.malformed = true;
                break;
            }
            let body = &opts[2..len];
            match (kind, body.len()) {
                (2, 2) => out.mss = Some(be16(body, 0)),
                (3, 1) => out.window_scale = Some(body[0]),
                (4, 0) => out.sack_permitted = true,
                (5, n) => out.sack_blocks = u8::try_from(n / 8).unwrap_or(u8::MAX),
                (8, 8) => out.timestamp = Some((be32(body, 0), be32(body, 4))),
                (30, n) if n >= 1 => out.mptcp_subtype = Some(body[0] >> 4),
                _ => {}
            }
            opts = &opts[len..];
        }
        out
    }
}
