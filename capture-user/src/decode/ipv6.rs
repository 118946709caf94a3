//! IPv6 fixed header and the extension-header chain.

use super::error::{be16, be32, ensure, DecodeError, Layer};

/// A checked view of the IPv6 fixed header (40 bytes).
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Header<'a>(&'a [u8]);

impl<'a> Ipv6Header<'a> {
    /// Fixed header length.
    pub const LEN: usize = 40;

    /// Checks length and version once.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::LEN, Layer::Ipv6, offset)?;
        if buf[0] >> 4 != 6 {
            return Err(DecodeError::malformed(
                Layer::Ipv6,
                offset,
                "version is not 6",
            ));
        }
        Ok(Self(buf))
    }

    /// Traffic class.
    #[inline]
    #[must_use]
    pub fn traffic_class(&self) -> u8 {
        ((be16(self.0, 0) >> 4) & 0xff) as u8
    }

    /// The 20-bit flow label.
    #[inline]
    #[must_use]
    pub fn flow_label(&self) -> u32 {
        be32(self.0, 0) & 0x000f_ffff
    }

    /// Payload length (everything after the fixed header, extension headers included).
    #[inline]
    #[must_use]
    pub fn payload_len(&self) -> u16 {
        be16(self.0, 4)
    }

    /// The first Next Header value.
    #[inline]
    #[must_use]
    pub fn next_header(&self) -> u8 {
        self.0[6]
    }

    /// Hop limit.
    #[inline]
    #[must_use]
    pub fn hop_limit(&self) -> u8 {
        self.0[7]
    }

    /// Source address.
    #[inline]
    #[must_use]
    pub fn src(&self) -> [u8; 16] {
        let mut a = [0; 16];
        a.copy_from_slice(&self.0[8..24]);
        a
    }

    /// Destination address.
    #[inline]
    #[must_use]
    pub fn dst(&self) -> [u8; 16] {
        let mut a = [0; 16];
        a.copy_from_slice(&self.0[24..40]);
        a
    }
}

/// Hop-by-hop options.
pub const NH_HOP_BY_HOP: u8 = 0;
/// Routing header.
pub const NH_ROUTING: u8 = 43;
/// Fragment header.
pub const NH_FRAGMENT: u8 = 44;
/// Authentication header.
pub const NH_AH: u8 = 51;
/// Destination options.
pub const NH_DEST_OPTS: u8 = 60;
/// Mobility header.
pub const NH_MOBILITY: u8 = 135;
/// Host identity protocol.
pub const NH_HIP: u8 = 139;
/// Shim6.
pub const NH_SHIM6: u8 = 140;

/// Whether `nh` names an extension header that the chain walk steps over.
#[must_use]
pub const fn is_extension_header(nh: u8) -> bool {
    matches!(
        nh,
        NH_HOP_BY_HOP
            | NH_ROUTING
            | NH_FRAGMENT
            | NH_AH
            | NH_DEST_OPTS
            | NH_MOBILITY
            | NH_HIP
            | NH_SHIM6
    )
}

/// The bit an extension header kind sets in `IpInfo::ext_headers`: 1 hop-by-hop, 2 routing,
/// 4 fragment, 8 destination options, 16 authentication, 32 mobility, 64 HIP, 128 shim6.
#[must_use]
pub const fn extension_bit(nh: u8) -> u8 {
    match nh {
        NH_HOP_BY_HOP => 1,
        NH_ROUTING => 2,
        NH_FRAGMENT => 4,
        NH_DEST_OPTS => 8,
        NH_AH => 16,
        NH_MOBILITY => 32,
        NH_HIP => 64,
        NH_SHIM6 => 128,
        _ => 0,
    }
}

/// A checked view of one extension header; `len()` bytes are guaranteed present.
#[derive(Clone, Copy, Debug)]
pub struct ExtensionHeader<'a> {
    buf: &'a [u8],
    kind: u8,
}

impl<'a> ExtensionHeader<'a> {
    /// Checks that the whole extension header of type `kind` was captured.
    pub fn new_checked(buf: &'a [u8], kind: u8, offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, 8, Layer::Ipv6Extension, offset)?;
        let len = Self::declared_len(buf, kind);
        ensure(buf, len, Layer::Ipv6Extension, offset)?;
        Ok(Self { buf, kind })
    }

    fn declared_len(buf: &[u8], kind: u8) -> usize {
        match kind {
            NH_FRAGMENT => 8,
            // AH counts 4-byte units, minus 2.
            NH_AH => (usize::from(buf[1]) + 2) * 4,
            _ => (usize::from(buf[1]) + 1) * 8,
        }
    }

    /// The Next Header field.
    #[inline]
    #[must_use]
    pub fn next_header(&self) -> u8 {
        self.buf[0]
    }

    /// Length of this extension header in bytes.
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        Self::declared_len(self.buf, self.kind)
    }

    /// Never true: every extension header is at least 8 bytes.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// For a fragment header: (offset in bytes, more fragments, identification).
    #[must_use]
    pub fn fragment(&self) -> Option<(u32, bool, u32)> {
        (self.kind == NH_FRAGMENT).then(|| {
            let off_flags = be16(self.buf, 2);
            (
                u32::from(off_flags & 0xfff8),
                off_flags & 1 != 0,
                be32(self.buf, 4),
            )
        })
    }
}
