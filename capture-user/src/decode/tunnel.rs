//! Mirror and tunnel encapsulations: GRE, ERSPAN II/III, VXLAN and GENEVE.

use super::error::{be16, be32, ensure, DecodeError, Layer};

/// UDP port of VXLAN.
pub const VXLAN_PORT: u16 = 4789;
/// UDP port of GENEVE.
pub const GENEVE_PORT: u16 = 6081;
/// GRE protocol type of ERSPAN type II (and type I, which has no header).
pub const GRE_PROTO_ERSPAN_II: u16 = 0x88be;
/// GRE protocol type of ERSPAN type III.
pub const GRE_PROTO_ERSPAN_III: u16 = 0x22eb;
/// GRE protocol type of PPP (PPTP's enhanced GRE).
pub const GRE_PROTO_PPP: u16 = 0x880b;

/// A checked view of a GRE header (RFC 2784/2890, and version 1 of RFC 2637).
#[derive(Clone, Copy, Debug)]
pub struct GreHeader<'a>(&'a [u8]);

impl<'a> GreHeader<'a> {
    /// Checks that every optional field the flags announce was captured.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, 4, Layer::Gre, offset)?;
        let view = Self(buf);
        if view.version() > 1 {
            return Err(DecodeError::malformed(
                Layer::Gre,
                offset,
                "version above 1",
            ));
        }
        ensure(buf, view.header_len(), Layer::Gre, offset)?;
        Ok(view)
    }

    fn flag_bits(&self) -> u16 {
        be16(self.0, 0)
    }

    /// GRE version (0, or 1 for PPTP).
    #[inline]
    #[must_use]
    pub fn version(&self) -> u16 {
        self.flag_bits() & 0x7
    }

    /// Whether the checksum field is present.
    #[inline]
    #[must_use]
    pub fn has_checksum(&self) -> bool {
        self.flag_bits() & 0x8000 != 0
    }

    /// Whether the key field is present.
    #[inline]
    #[must_use]
    pub fn has_key(&self) -> bool {
        self.flag_bits() & 0x2000 != 0
    }

    /// Whether the sequence-number field is present.
    #[inline]
    #[must_use]
    pub fn has_sequence(&self) -> bool {
        self.flag_bits() & 0x1000 != 0
    }

    fn has_ack(&self) -> bool {
        self.version() == 1 && self.flag_bits() & 0x0080 != 0
    }

    /// Protocol type of the payload (an EtherType).
    #[inline]
    #[must_use]
    pub fn protocol(&self) -> u16 {
        be16(self.0, 2)
    }

    /// Header length with every optional field.
    #[must_use]
    pub fn header_len(&self) -> usize {
        4 + 4
            * (usize::from(self.has_checksum())
                + usize::from(self.has_key())
                + usize::from(self.has_sequence())
                + usize::from(self.has_ack()))
    }

    /// The key, when present.
    #[inline]
    #[must_use]
    pub fn key(&self) -> Option<u32> {
        self.has_key()
            .then(|| be32(self.0, 4 + 4 * usize::from(self.has_checksum())))
    }

    /// The sequence number, when present.
    #[must_use]
    pub fn sequence(&self) -> Option<u32> {
        self.has_sequence().then(|| {
            be32(
                self.0,
                4 + 4 * (usize::from(self.has_checksum()) + usize::from(self.has_key())),
            )
        })
    }
}

/// A checked view of an ERSPAN type II (8 bytes) or type III (12 bytes, plus 8 with the O flag) header.
#[derive(Clone, Copy, Debug)]
pub struct ErspanHeader<'a> {
    buf: &'a [u8],
    type3: bool,
}

impl<'a> ErspanHeader<'a> {
    /// Checks the version field against the GRE protocol type and that the whole header was captured.
    pub fn new_checked(buf: &'a [u8], type3: bool, offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, if type3 { 12 } else { 8 }, Layer::Erspan, offset)?;
        let view = Self { buf, type3 };
        let expected = if type3 { 2 } else { 1 };
        if buf[0] >> 4 != expected {
            return Err(DecodeError::malformed(
                Layer::Erspan,
                offset,
                "version does not match GRE protocol type",
            ));
        }
        ensure(buf, view.header_len(), Layer::Erspan, offset)?;
        Ok(view)
    }

    /// The 10-bit session id.
    #[inline]
    #[must_use]
    pub fn session_id(&self) -> u16 {
        be16(self.buf, 2) & 0x03ff
    }

    /// The original VLAN of the mirrored frame.
    #[inline]
    #[must_use]
    pub fn vlan(&self) -> u16 {
        be16(self.buf, 0) & 0x0fff
    }

    /// Header length, including the type III platform-specific sub-header when flagged.
    #[must_use]
    pub fn header_len(&self) -> usize {
        if self.type3 {
            12 + if self.buf[11] & 0x01 != 0 { 8 } else { 0 }
        } else {
            8
        }
    }
}

/// A checked view of a VXLAN header (8 bytes).
#[derive(Clone, Copy, Debug)]
pub struct VxlanHeader<'a>(&'a [u8]);

impl<'a> VxlanHeader<'a> {
    /// Header length.
    pub const LEN: usize = 8;

    /// Checks the length and the valid-VNI flag once.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::LEN, Layer::Vxlan, offset)?;
        if buf[0] & 0x08 == 0 {
            return Err(DecodeError::malformed(
                Layer::Vxlan,
                offset,
                "I flag (valid VNI) not set",
            ));
        }
        Ok(Self(buf))
    }

    /// The 24-bit VXLAN network identifier.
    #[inline]
    #[must_use]
    pub fn vni(&self) -> u32 {
        be32(self.0, 4) >> 8
    }
}

/// A checked view of a GENEVE header with its options (8 + 4 × optlen bytes).
#[derive(Clone, Copy, Debug)]
pub struct GeneveHeader<'a>(&'a [u8]);

impl<'a> GeneveHeader<'a> {
    /// Checks the version and that the options were captured.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, 8, Layer::Geneve, offset)?;
        if buf[0] >> 6 != 0 {
            return Err(DecodeError::malformed(
                Layer::Geneve,
                offset,
                "version is not 0",
            ));
        }
        let view = Self(buf);
        ensure(buf, view.header_len(), Layer::Geneve, offset)?;
        Ok(view)
    }

    /// Header length with options.
    #[inline]
    #[must_use]
    pub fn header_len(&self) -> usize {
        8 + usize::from(self.0[0] & 0x3f) * 4
    }

    /// Protocol type of the payload (an EtherType; 0x6558 for Ethernet).
    #[inline]
    #[must_use]
    pub fn protocol(&self) -> u16 {
        be16(self.0, 2)
    }

    /// The 24-bit virtual network identifier.
    #[inline]
    #[must_use]
    pub fn vni(&self) -> u32 {
        be32(self.0, 4) >> 8
    }
}
