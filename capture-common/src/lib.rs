//! Types shared by the XDP program (`capture-ebpf`) and user space (`capture-user`).
//!
//! Everything here is `no_std`, `#[repr(C)]` or `#[repr(u8)]`, and `Copy`, so that the same
//! definitions describe map keys, map values and the values user space reports.
#![no_std]

/// Why a flow record was emitted.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowEndReason {
    /// No packet for longer than the idle timeout.
    Idle = 0,
    /// The flow lived longer than the active timeout; later packets start a new record.
    Active = 1,
    /// TCP closed with FIN in both directions (after a short grace period for trailing ACKs).
    Fin = 2,
    /// TCP reset (after a short grace period for trailing packets).
    Rst = 3,
    /// Removed to make room under the concurrent-flow bound (least recently used first).
    Evicted = 4,
    /// Input ended (end of file, or capture stopped) while the flow was still open.
    EndOfInput = 5,
}

impl FlowEndReason {
    /// Every reason, in discriminant order.
    pub const ALL: [Self; 6] = [
        Self::Idle,
        Self::Active,
        Self::Fin,
        Self::Rst,
        Self::Evicted,
        Self::EndOfInput,
    ];

    /// The stable name written in records (`flow_end_reason`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Active => "active",
            Self::Fin => "fin",
            Self::Rst => "rst",
            Self::Evicted => "evicted",
            Self::EndOfInput => "eof",
        }
    }
}

/// The outer encapsulation a packet arrived in, innermost tunnel first.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TunnelKind {
    /// Not encapsulated.
    #[default]
    None = 0,
    /// VXLAN (UDP 4789); the id is the 24-bit VNI.
    Vxlan = 1,
    /// GENEVE (UDP 6081); the id is the 24-bit VNI.
    Geneve = 2,
    /// GRE; the id is the key when present, else 0.
    Gre = 3,
    /// ERSPAN type II or III; the id is the 10-bit session id.
    Erspan = 4,
    /// IPv4 or IPv6 carried directly in IP (protocol 4 or 41).
    IpInIp = 5,
}

impl TunnelKind {
    /// The stable name written in records (`tunnel_type`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Vxlan => "vxlan",
            Self::Geneve => "geneve",
            Self::Gre => "gre",
            Self::Erspan => "erspan",
            Self::IpInIp => "ipip",
        }
    }
}

/// Why a frame produced no flow update. Counted per reason so no packet goes unaccounted.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// A layer-2 protocol other than IP (ARP, LLDP, STP, ...).
    NotIp = 0,
    /// A header was cut short (snap length or corruption).
    Truncated = 1,
    /// A header had an impossible value (bad IP version, header length below minimum, ...).
    Malformed = 2,
    /// The capture's link type is not one the decoder knows.
    UnsupportedLinkType = 3,
    /// An IP fragment merged into a reassembled datagram; the datagram itself counts once, as a
    /// packet, carried by the fragment that completed it.
    FragmentMerged = 4,
    /// Fragments dropped: reassembly timed out, overlapped inconsistently, or hit its memory bound.
    FragmentDropped = 5,
}

impl SkipReason {
    /// Every reason, in discriminant order.
    pub const ALL: [Self; 6] = [
        Self::NotIp,
        Self::Truncated,
        Self::Malformed,
        Self::UnsupportedLinkType,
        Self::FragmentMerged,
        Self::FragmentDropped,
    ];

    /// A short human-readable name used in summaries and metrics.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotIp => "not_ip",
            Self::Truncated => "truncated",
            Self::Malformed => "malformed",
            Self::UnsupportedLinkType => "unsupported_link_type",
            Self::FragmentMerged => "fragment_merged",
            Self::FragmentDropped => "fragment_dropped",
        }
    }
}

/// Most receive queues (AF_XDP sockets) one capture serves.
pub const MAX_QUEUES: u32 = 64;

/// Per-CPU counters kept by the XDP program, indexed by [`XdpCounter`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpCounters {
    /// Indexed by `XdpCounter as usize`.
    pub values: [u64; XdpCounter::COUNT],
}

/// The decisions the XDP program counts.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpCounter {
    /// Every frame the program ran on.
    Seen = 0,
    /// Frames handed to an AF_XDP socket.
    Redirected = 1,
    /// Frames passed to the kernel stack.
    Passed = 2,
    /// Frames dropped.
    Dropped = 3,
    /// Frames whose receive queue had no socket (then passed or dropped as configured).
    NoSocket = 4,
    /// Frames the filter did not select (then passed or dropped as configured).
    Filtered = 5,
    /// Frames of flows left out by sampling (then passed or dropped as configured).
    SampledOut = 6,
}

impl XdpCounter {
    /// Number of counters.
    pub const COUNT: usize = 7;

    /// Every counter, in index order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Seen,
        Self::Redirected,
        Self::Passed,
        Self::Dropped,
        Self::NoSocket,
        Self::Filtered,
        Self::SampledOut,
    ];

    /// A short name for summaries and metrics.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Seen => "seen",
            Self::Redirected => "redirected",
            Self::Passed => "passed",
            Self::Dropped => "dropped",
            Self::NoSocket => "no_socket",
            Self::Filtered => "filtered",
            Self::SampledOut => "sampled_out",
        }
    }
}

/// Most distinct tests (atoms) one filter expression may use: each is a bit of a `u16`.
pub const MAX_FILTER_ATOMS: usize = 16;

/// Address prefixes each of the filter's LPM tries holds (IPv4 and IPv6).
pub const FILTER_PREFIXES: u32 = 1024;

/// Words of the filter's truth table: one bit per combination of atoms.
pub const FILTER_TRUTH_WORDS: u32 = (1 << MAX_FILTER_ATOMS) / 64;

/// Settings of the XDP program, written by user space before it is attached.
///
/// A filter is compiled into atoms, each a bit of a `u16`: address atoms live in LPM tries
/// (the value of a prefix is the set of atoms it satisfies), port, protocol and VLAN atoms in
/// arrays indexed by the value; the masks below say which atoms look at which field, and a truth
/// table indexed by the set of true atoms gives the verdict.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpConfig {
    /// Non-zero: frames that are not captured go on to the kernel; zero: they are dropped.
    pub pass_unmatched: u32,
    /// Non-zero: the filter decides which frames are captured.
    pub filter_enabled: u32,
    /// Keep one flow in this many (by a hash that is the same in both directions); 0 or 1: all.
    pub sample_every: u32,
    /// Atoms that test the source address.
    pub src_addr_atoms: u16,
    /// Atoms that test the destination address.
    pub dst_addr_atoms: u16,
    /// Atoms that test the source port.
    pub src_port_atoms: u16,
    /// Atoms that test the destination port.
    pub dst_port_atoms: u16,
    /// Atoms true for every IPv4 packet (`ip`).
    pub ipv4_atoms: u16,
    /// Atoms true for every IPv6 packet (`ip6`).
    pub ipv6_atoms: u16,
    /// Atoms true for every VLAN-tagged frame (`vlan` without an id).
    pub vlan_atoms: u16,
    /// Explicit padding (keeps the layout the same on both sides).
    pub padding: u16,
}

#[cfg(feature = "user")]
// SAFETY: plain old data: `#[repr(C)]`, integers only, no padding, every bit pattern valid.
unsafe impl aya::Pod for XdpCounters {}

#[cfg(feature = "user")]
// SAFETY: as above (three u32 then eight u16: 28 bytes, 4-byte aligned, no implicit padding).
unsafe impl aya::Pod for XdpConfig {}

/// An IPv4 or IPv6 address as the filter's LPM tries key it: the address bytes in network order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipv4Bytes(pub [u8; 4]);

/// See [`Ipv4Bytes`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipv6Bytes(pub [u8; 16]);

#[cfg(feature = "user")]
// SAFETY: byte arrays: no padding, every bit pattern valid.
unsafe impl aya::Pod for Ipv4Bytes {}

#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for Ipv6Bytes {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct() {
        for (i, a) in FlowEndReason::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
            for b in &FlowEndReason::ALL[i + 1..] {
                assert_ne!(a.as_str(), b.as_str());
            }
        }
        for (i, a) in SkipReason::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
        }
    }
}
