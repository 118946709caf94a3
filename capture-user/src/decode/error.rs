//! Structured, `Copy` decode errors: which layer, what went wrong, and where.

use capture_common::SkipReason;

/// The protocol layer a header view or error refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Ethernet II.
    Ethernet,
    /// Linux cooked capture v1 (SLL).
    LinuxSll,
    /// Linux cooked capture v2 (SLL2).
    LinuxSll2,
    /// BSD loopback (DLT_NULL / DLT_LOOP).
    Loopback,
    /// 802.1Q / 802.1ad tag.
    Vlan,
    /// MPLS label stack entry.
    Mpls,
    /// PPPoE session header and PPP protocol field.
    Pppoe,
    /// IPv4 header.
    Ipv4,
    /// IPv6 header.
    Ipv6,
    /// An IPv6 extension header.
    Ipv6Extension,
    /// TCP header.
    Tcp,
    /// UDP header.
    Udp,
    /// ICMP header.
    Icmp,
    /// ICMPv6 header.
    Icmpv6,
    /// GRE header.
    Gre,
    /// ERSPAN header.
    Erspan,
    /// VXLAN header.
    Vxlan,
    /// GENEVE header.
    Geneve,
}

impl Layer {
    /// The short name used in `hdr_desc` and error messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ethernet => "ETH",
            Self::LinuxSll => "SLL",
            Self::LinuxSll2 => "SLL2",
            Self::Loopback => "LOOP",
            Self::Vlan => "VLAN",
            Self::Mpls => "MPLS",
            Self::Pppoe => "PPPOE",
            Self::Ipv4 => "IP",
            Self::Ipv6 => "IP6",
            Self::Ipv6Extension => "IP6EXT",
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Icmp => "ICMP",
            Self::Icmpv6 => "ICMP6",
            Self::Gre => "GRE",
            Self::Erspan => "ERSPAN",
            Self::Vxlan => "VXLAN",
            Self::Geneve => "GENEVE",
        }
    }
}

/// What went wrong while decoding a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The header needs `needed` bytes but only `available` were captured.
    Truncated {
        /// Bytes the header requires.
        needed: usize,
        /// Bytes left in the frame.
        available: usize,
    },
    /// A field holds a value the protocol does not allow.
    Malformed(&'static str),
    /// The frame carries a layer-3 protocol other than IP (the EtherType or equivalent).
    NotIp(u16),
    /// The capture's link type is not supported.
    UnsupportedLinkType(u32),
    /// Encapsulations nested deeper than the decoder follows.
    TooDeep,
}

/// A decode failure: the layer, the byte offset of that layer's header in the frame, and the cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The layer that failed.
    pub layer: Layer,
    /// Offset of the failing header from the start of the frame (or reassembled datagram).
    pub offset: usize,
    /// The cause.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    pub(crate) const fn truncated(
        layer: Layer,
        offset: usize,
        needed: usize,
        available: usize,
    ) -> Self {
        Self {
            layer,
            offset,
            kind: DecodeErrorKind::Truncated { needed, available },
        }
    }

    pub(crate) const fn malformed(layer: Layer, offset: usize, what: &'static str) -> Self {
        Self {
            layer,
            offset,
            kind: DecodeErrorKind::Malformed(what),
        }
    }

    /// The summary bucket this error is counted in.
    #[must_use]
    pub const fn skip_reason(&self) -> SkipReason {
        match self.kind {
            DecodeErrorKind::Truncated { .. } => SkipReason::Truncated,
            DecodeErrorKind::Malformed(_) | DecodeErrorKind::TooDeep => SkipReason::Malformed,
            DecodeErrorKind::NotIp(_) => SkipReason::NotIp,
            DecodeErrorKind::UnsupportedLinkType(_) => SkipReason::UnsupportedLinkType,
        }
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let layer = self.layer.name();
        match self.kind {
            DecodeErrorKind::Truncated { needed, available } => write!(
                f,
                "{layer} header at offset {} truncated: needs {needed} bytes, {available} captured",
                self.offset
            ),
            DecodeErrorKind::Malformed(what) => {
                write!(
                    f,
                    "{layer} header at offset {} malformed: {what}",
                    self.offset
                )
            }
            DecodeErrorKind::NotIp(ethertype) => {
                write!(
                    f,
                    "not IP: {layer} at offset {} carries type 0x{ethertype:04x}",
                    self.offset
                )
            }
            DecodeErrorKind::UnsupportedLinkType(lt) => write!(f, "unsupported link type {lt}"),
            DecodeErrorKind::TooDeep => {
                write!(
                    f,
                    "{layer} at offset {}: encapsulation nested too deep",
                    self.offset
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Checks that `buf` holds at least `needed` bytes for `layer` at `offset`.
#[inline]
pub(crate) fn ensure(
    buf: &[u8],
    needed: usize,
    layer: Layer,
    offset: usize,
) -> Result<(), DecodeError> {
    if buf.len() < needed {
        Err(DecodeError::truncated(layer, offset, needed, buf.len()))
    } else {
        Ok(())
    }
}

/// Reads a big-endian `u16` at `at`. Callers have checked the length.
#[inline]
pub(crate) fn be16(buf: &[u8], at: usize) -> u16 {
    // One bounds check for the slice; the conversion of a two-byte slice cannot fail.
    u16::from_be_bytes(buf[at..at + 2].try_into().unwrap_or_default())
}

/// Reads a big-endian `u32` at `at`. Callers have checked the length.
#[inline]
pub(crate) fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(buf[at..at + 4].try_into().unwrap_or_default())
}
