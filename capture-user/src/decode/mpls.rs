//! MPLS label stack entries and PPPoE session headers.

use super::error::{be16, be32, ensure, DecodeError, Layer};

/// A checked view of one MPLS label stack entry (4 bytes).
#[derive(Clone, Copy, Debug)]
pub struct MplsEntry<'a>(&'a [u8]);

impl<'a> MplsEntry<'a> {
    /// Entry length.
    pub const LEN: usize = 4;

    /// Checks the length once.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::LEN, Layer::Mpls, offset)?;
        Ok(Self(buf))
    }

    /// The 20-bit label.
    #[inline]
    #[must_use]
    pub fn label(&self) -> u32 {
        be32(self.0, 0) >> 12
    }

    /// Whether this is the bottom of the stack.
    #[inline]
    #[must_use]
    pub fn bottom_of_stack(&self) -> bool {
        self.0[2] & 0x01 != 0
    }
}

/// A checked view of a PPPoE session header plus the PPP protocol field (8 bytes).
#[derive(Clone, Copy, Debug)]
pub struct PppoeSession<'a>(&'a [u8]);

/// PPP protocol number of IPv4.
pub const PPP_IPV4: u16 = 0x0021;
/// PPP protocol number of IPv6.
pub const PPP_IPV6: u16 = 0x0057;

impl<'a> PppoeSession<'a> {
    /// Header length including the PPP protocol field.
    pub const LEN: usize = 8;

    /// Checks the length and the version/type nibbles once.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::LEN, Layer::Pppoe, offset)?;
        if buf[0] != 0x11 {
            return Err(DecodeError::malformed(
                Layer::Pppoe,
                offset,
                "version/type is not 1/1",
            ));
        }
        Ok(Self(buf))
    }

    /// The PPPoE session id.
    #[inline]
    #[must_use]
    pub fn session_id(&self) -> u16 {
        be16(self.0, 2)
    }

    /// The PPP protocol carried.
    #[inline]
    #[must_use]
    pub fn ppp_protocol(&self) -> u16 {
        be16(self.0, 6)
    }
}
