//! Ethernet II, 802.1Q/802.1ad tags, and the Linux cooked and BSD loopback pseudo-headers.

use super::error::{be16, be32, ensure, DecodeError, Layer};

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q customer tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service tag (QinQ outer tag).
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Pre-standard QinQ outer tag still seen on older switches.
pub const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// MPLS unicast.
pub const ETHERTYPE_MPLS: u16 = 0x8847;
/// MPLS multicast.
pub const ETHERTYPE_MPLS_MC: u16 = 0x8848;
/// PPPoE session stage.
pub const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// Transparent Ethernet bridging (GRE, GENEVE payload type for Ethernet).
pub const ETHERTYPE_TEB: u16 = 0x6558;

/// A checked view of an Ethernet II header (14 bytes).
#[derive(Clone, Copy, Debug)]
pub struct EthernetHeader<'a>(&'a [u8]);

impl<'a> EthernetHeader<'a> {
    /// Header length.
    pub const LEN: usize = 14;

    /// Checks the length once; no accessor panics afterwards.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::LEN, Layer::Ethernet, offset)?;
        Ok(Self(buf))
    }

    /// Destination MAC address.
    #[inline]
    #[must_use]
    pub fn dst(&self) -> [u8; 6] {
        [
            self.0[0], self.0[1], self.0[2], self.0[3], self.0[4], self.0[5],
        ]
    }

    /// Source MAC address.
    #[inline]
    #[must_use]
    pub fn src(&self) -> [u8; 6] {
        [
            self.0[6], self.0[7], self.0[8], self.0[9], self.0[10], self.0[11],
        ]
    }

    /// The EtherType (or 802.3 length, when below 0x0600).
    #[inline]
    #[must_use]
    pub fn ethertype(&self) -> u16 {
        be16(self.0, 12)
    }
}

/// A checked view of an 802.1Q/802.1ad tag (4 bytes following the TPID).
#[derive(Clone, Copy, Debug)]
pub struct VlanTag<'a>(&'a [u8]);

impl<'a> VlanTag<'a> {
    /// Tag length (TCI and inner EtherType).
    pub const LEN: usize = 4;

    /// Checks the length once.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::LEN, Layer::Vlan, offset)?;
        Ok(Self(buf))
    }

    /// The 12-bit VLAN identifier.
    #[inline]
    #[must_use]
    pub fn vid(&self) -> u16 {
        be16(self.0, 0) & 0x0fff
    }

    /// The EtherType that follows the tag.
    #[inline]
    #[must_use]
    pub fn ethertype(&self) -> u16 {
        be16(self.0, 2)
    }
}

/// A checked view of a Linux cooked capture v1 header (16 bytes).
#[derive(Clone, Copy, Debug)]
pub struct SllHeader<'a>(&'a [u8]);

impl<'a> SllHeader<'a> {
    /// Header length.
    pub const LEN: usize = 16;

    /// Checks the length once.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::LEN, Layer::LinuxSll, offset)?;
        Ok(Self(buf))
    }

    /// ARPHRD type of the device.
    #[inline]
    #[must_use]
    pub fn hatype(&self) -> u16 {
        be16(self.0, 2)
    }

    /// Link-layer address length (6 for Ethernet).
    #[inline]
    #[must_use]
    pub fn halen(&self) -> u16 {
        be16(self.0, 4)
    }

    /// The first 6 bytes of the link-layer source address.
    #[inline]
    #[must_use]
    pub fn src(&self) -> [u8; 6] {
        [
            self.0[6], self.0[7], self.0[8], self.0[9], self.0[10], self.0[11],
        ]
    }

    /// Protocol type (an EtherType for the cases we decode).
    #[inline]
    #[must_use]
    pub fn protocol(&self) -> u16 {
        be16(self.0, 14)
    }
}

/// A checked view of a Linux cooked capture v2 header (20 bytes).
#[derive(Clone, Copy, Debug)]
pub struct Sll2Header<'a>(&'a [u8]);

impl<'a> Sll2Header<'a> {
    /// Header length.
    pub const LEN: usize = 20;

    /// Checks the length once.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::LEN, Layer::LinuxSll2, offset)?;
        Ok(Self(buf))
    }

    /// Protocol type (an EtherType).
    #[inline]
    #[must_use]
    pub fn protocol(&self) -> u16 {
        be16(self.0, 0)
    }

    /// ARPHRD type of the device.
    #[inline]
    #[must_use]
    pub fn hatype(&self) -> u16 {
        be16(self.0, 8)
    }

    /// Link-layer address length.
    #[inline]
    #[must_use]
    pub fn halen(&self) -> u8 {
        self.0[11]
    }

    /// The first 6 bytes of the link-layer source address.
    #[inline]
    #[must_use]
    pub fn src(&self) -> [u8; 6] {
        [
            self.0[12], self.0[13], self.0[14], self.0[15], self.0[16], self.0[17],
        ]
    }
}

/// A checked view of the BSD loopback header: a 4-byte address family in the
/// capturing host's byte order (DLT_NULL) or in network order (DLT_LOOP).
#[derive(Clone, Copy, Debug)]
pub struct LoopbackHeader<'a>(&'a [u8]);

impl<'a> LoopbackHeader<'a> {
    /// Header length.
    pub const LEN: usize = 4;

    /// Checks the length once.
    pub fn new_checked(buf: &'a [u8], offset: usize) -> Result<Self, DecodeError> {
        ensure(buf, Self::LEN, Layer::Loopback, offset)?;
        Ok(Self(buf))
    }

    /// The EtherType implied by the address family, whichever byte order the writer used.
    /// AF_INET is 2 everywhere; AF_INET6 is 24, 28 or 30 depending on the BSD.
    #[must_use]
    pub fn ethertype(&self) -> Option<u16> {
        let be = be32(self.0, 0);
        let le = u32::from_le_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]);
        let family = if be < 256 { be } else { le };
        match family {
            2 => Some(ETHERTYPE_IPV4),
            24 | 28 | 30 => Some(ETHERTYPE_IPV6),
            _ => None,
        }
    }
}
