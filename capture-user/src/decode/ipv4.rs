//! IPv4 header, options included.

use super::error::{be16, ensure, DecodeError, Layer};

/// A checked view of an IPv4 header; `header_len()` bytes are guaranteed present.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Header<'a>(&'a [u8]);

impl<'a> Ipv4Header<'a> {
    /// Minimum header length.
    pub const MIN_LEN: usize = 20;

    /// Checks version, header length and that the whole header (options too) was captured.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::MIN_LEN, Layer::Ipv4, offset)?;
        if buf[0] >> 4 != 4 {
            return Err(DecodeError::malformed(
                Layer::Ipv4,
                offset,
                "version is not 4",
            ));
        }
        let ihl = usize::from(buf[0] & 0x0f) * 4;
        if ihl < Self::MIN_LEN {
            return Err(DecodeError::malformed(
                Layer::Ipv4,
                offset,
                "header length below 20",
            ));
        }
        ensure(buf, ihl, Layer::Ipv4, offset)?;
        Ok(Self(buf))
    }

    /// Header length in bytes, options included.
    #[inline]
    #[must_use]
    pub fn header_len(&self) -> usize {
        usize::from(self.0[0] & 0x0f) * 4
    }

    /// The type-of-service byte (DSCP and ECN).
    #[inline]
    #[must_use]
    pub fn tos(&self) -> u8 {
        self.0[1]
    }

    /// The total length field.
    #[inline]
    #[must_use]
    pub fn total_len(&self) -> u16 {
        be16(self.0, 2)
    }

    /// The identification field.
    #[inline]
    #[must_use]
    pub fn ident(&self) -> u16 {
        be16(self.0, 4)
    }

    /// The three flag bits (reserved, DF, MF) as scapy reports them: DF = 2, MF = 1.
    #[inline]
    #[must_use]
    pub fn flags(&self) -> u8 {
        self.0[6] >> 5
    }

    /// More-fragments flag.
    #[inline]
    #[must_use]
    pub fn more_fragments(&self) -> bool {
        self.0[6] & 0x20 != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    #[must_use]
    pub fn fragment_offset(&self) -> u32 {
        u32::from(be16(self.0, 6) & 0x1fff) * 8
    }

    /// Time to live.
    #[inline]
    #[must_use]
    pub fn ttl(&self) -> u8 {
        self.0[8]
    }

    /// The protocol of the payload.
    #[inline]
    #[must_use]
    pub fn protocol(&self) -> u8 {
        self.0[9]
    }

    /// Source address.
    #[inline]
    #[must_use]
    pub fn src(&self) -> [u8; 4] {
        [self.0[12], self.0[13], self.0[14], self.0[15]]
    }

    /// Destination address.
    #[inline]
    #[must_use]
    pub fn dst(&self) -> [u8; 4] {
        [self.0[16], self.0[17], self.0[18], self.0[19]]
    }
}
