//! UDP header.

use super::error::{be16, ensure, DecodeError, Layer};

/// A checked view of a UDP header (8 bytes).
#[derive(Clone, Copy, Debug)]
pub struct UdpHeader<'a>(&'a [u8]);

impl<'a> UdpHeader<'a> {
    /// Header length.
    pub const LEN: usize = 8;

    /// Checks the length once.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::LEN, Layer::Udp, offset)?;
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

    /// The length field (header included).
    #[inline]
    #[must_use]
    pub fn length(&self) -> u16 {
        be16(self.0, 4)
    }
}
