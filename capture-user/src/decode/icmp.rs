//! ICMP and ICMPv6 headers.

use super::error::{be16, ensure, DecodeError, Layer};

/// A checked view of an ICMP or ICMPv6 header (the first 8 bytes).
#[derive(Clone, Copy, Debug)]
pub struct IcmpHeader<'a>(&'a [u8]);

impl<'a> IcmpHeader<'a> {
    /// Header length: type, code, checksum and the 4-byte rest-of-header.
    pub const LEN: usize = 8;

    /// Checks the length once. `layer` says whether this is ICMP or ICMPv6.
    pub fn new_checked(buf: &'a [u8], layer: Layer, offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::LEN, layer, offset)?;
        Ok(Self(buf))
    }

    /// Message type.
    #[inline]
    #[must_use]
    pub fn icmp_type(&self) -> u8 {
        self.0[0]
    }

    /// Message code.
    #[inline]
    #[must_use]
    pub fn code(&self) -> u8 {
        self.0[1]
    }

    /// Identifier (meaningful for echo messages).
    #[inline]
    #[must_use]
    pub fn ident(&self) -> u16 {
        be16(self.0, 4)
    }

    /// Sequence number (meaningful for echo messages).
    #[inline]
    #[must_use]
    pub fn seq(&self) -> u16 {
        be16(self.0, 6)
    }
}
