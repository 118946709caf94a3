//! The feature registry: one entry per output column, in output order.
//!
//! Names, types and meanings follow JoyfulJay's JJ-CORE tier so that models trained on its output
//! read ours unchanged; the `capture` group holds what we add. `docs/features.md` is generated from
//! this table (`capture features --markdown`) and a test fails when the two drift.

/// Feature group (JoyfulJay's extractor groups, plus ours).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    /// Identity, counts, volumes and rates of the flow.
    FlowMeta,
    /// Inter-arrival times, bursts and idle periods.
    Timing,
    /// Packet and payload sizes.
    Size,
    /// TCP flags and connection life cycle.
    Tcp,
    /// TLS handshake.
    Tls,
    /// TTL, type of service, IPv4 flags and IDs (JJ-EXTENDED).
    IpExtended,
    /// IP versions, IPv6 flow labels and traffic classes (JJ-EXPERIMENTAL).
    Ipv6Options,
    /// TCP sequence numbers, retransmissions, reordering, duplicate ACKs (JJ-EXTENDED).
    TcpSequence,
    /// TCP advertised windows and window scaling (JJ-EXTENDED).
    TcpWindow,
    /// TCP options: MSS, window scale, SACK, timestamps (JJ-EXTENDED).
    TcpOptions,
    /// QUIC headers and the decrypted Initial's server name and ALPN (JJ-EXTENDED).
    Quic,
    /// SSH banners, HASSH and key exchange (JJ-EXTENDED).
    Ssh,
    /// HTTP/2 frames, HTTP/2 over TLS and HTTP/3 (JJ-EXTENDED).
    Http2,
    /// DNS over UDP or TCP on port 53 (JJ-EXTENDED).
    Dns,
    /// Size and timing uniformity, Tor-sized cells, burst overhead (JJ-EXPERIMENTAL).
    Padding,
    /// Tor, VPN and DNS-over-HTTPS heuristics, traffic type (JJ-EXPERIMENTAL).
    Fingerprint,
    /// Byte statistics of a payload sample (JJ-EXTENDED).
    Entropy,
    /// The outermost Ethernet header: addresses, EtherType, VLANs (JJ-EXPERIMENTAL).
    Mac,
    /// ICMP message types and echo exchanges (JJ-EXPERIMENTAL).
    Icmp,
    /// Where the flow sits among the flows around it: fan-out, fan-in, graph metrics (JJ-EXPERIMENTAL).
    Connection,
    /// Multipath TCP options (JJ-EXPERIMENTAL).
    TcpMptcp,
    /// TCP round-trip times (JJ-EXTENDED).
    TcpRtt,
    /// SYN parameters, fingerprint, OS hint, uptime (JJ-EXPERIMENTAL).
    TcpFingerprint,
    /// Capture metadata we add: why the flow ended, its encapsulation.
    Capture,
}

impl Group {
    /// Every group, in output order.
    pub const ALL: [Self; 24] = [
        Self::FlowMeta,
        Self::Timing,
        Self::Size,
        Self::Tcp,
        Self::Tls,
        Self::Quic,
        Self::Ssh,
        Self::Http2,
        Self::Dns,
        Self::Padding,
        Self::Fingerprint,
        Self::Entropy,
        Self::IpExtended,
        Self::Ipv6Options,
        Self::TcpSequence,
        Self::TcpWindow,
        Self::TcpOptions,
        Self::TcpMptcp,
        Self::TcpRtt,
        Self::TcpFingerprint,
        Self::Mac,
        Self::Icmp,
        Self::Connection,
        Self::Capture,
    ];

    /// The name used on the command line (`--features`) and in docs.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::FlowMeta => "flow_meta",
            Self::Timing => "timing",
            Self::Size => "size",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::IpExtended => "ip_extended",
            Self::Ipv6Options => "ipv6_options",
            Self::TcpSequence => "tcp_sequence",
            Self::TcpWindow => "tcp_window",
            Self::TcpOptions => "tcp_options",
            Self::Mac => "mac",
            Self::Dns => "dns",
            Self::Ssh => "ssh",
            Self::Quic => "quic",
            Self::Http2 => "http2",
            Self::Entropy => "entropy",
            Self::Padding => "padding",
            Self::Fingerprint => "fingerprint",
            Self::Icmp => "icmp",
            Self::Connection => "connection",
            Self::TcpMptcp => "tcp_mptcp",
            Self::TcpRtt => "tcp_rtt",
            Self::TcpFingerprint => "tcp_fingerprint",
            Self::Capture => "capture",
        }
    }

    /// Groups whose state this group reads when a flow ends, computed whenever it is.
    #[must_use]
    pub const fn needs(self) -> &'static [Self] {
        match self {
            Self::Fingerprint => &[Self::Size, Self::Tls, Self::Ssh, Self::Dns, Self::Entropy],
            Self::Http2 => &[Self::Tls, Self::Quic],
            Self::Padding => &[Self::Size, Self::Timing],
            _ => &[],
        }
    }

    /// Parses a group name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.name() == name)
    }
}

/// Stability tier (JoyfulJay's profiles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// JJ-CORE: stable and commonly used.
    Core,
    /// JJ-EXTENDED.
    Extended,
    /// JJ-EXPERIMENTAL.
    Experimental,
}

impl Tier {
    /// JoyfulJay's profile name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Core => "JJ-CORE",
            Self::Extended => "JJ-EXTENDED",
            Self::Experimental => "JJ-EXPERIMENTAL",
        }
    }
}

/// Column type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Float,
    /// Boolean.
    Bool,
    /// UTF-8 string.
    Str,
}

impl Kind {
    /// Name in docs (JoyfulJay's dtype names).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Int => "int64",
            Self::Float => "float64",
            Self::Bool => "bool",
            Self::Str => "string",
        }
    }
}

/// Which direction of the flow a feature describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Both directions together.
    Bidir,
    /// Initiator to responder.
    Fwd,
    /// Responder to initiator.
    Bwd,
}

impl Direction {
    /// Name in docs.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bidir => "both",
            Self::Fwd => "forward",
            Self::Bwd => "backward",
        }
    }
}

/// One feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureDef {
    /// Column name (JoyfulJay's, for its features).
    pub name: &'static str,
    /// Group.
    pub group: Group,
    /// Tier.
    pub tier: Tier,
    /// Column type.
    pub kind: Kind,
    /// Unit ("" when dimensionless).
    pub unit: &'static str,
    /// Direction.
    pub direction: Direction,
    /// What the value means.
    pub description: &'static str,
    /// What the value is when the thing measured is absent.
    pub absent: &'static str,
}

macro_rules! features {
    ($( $name:literal, $group:ident, $tier:ident, $kind:ident, $unit:literal, $dir:ident, $absent:literal, $desc:literal; )*) => {
        /// Every feature, in output order.
        pub const FEATURES: &[FeatureDef] = &[
            $( FeatureDef {
                name: $name,
                group: Group::$group,
                tier: Tier::$tier,
                kind: Kind::$kind,
                unit: $unit,
                direction: Direction::$dir,
                description: $desc,
                absent: $absent,
            }, )*
        ];
    };
}

features! {
    // flow_meta
    "src_ip", FlowMeta, Core, Str, "", Fwd, "never absent", "Address of the initiator (the first packet's sender; for TCP the SYN sender).";
    "dst_ip", FlowMeta, Core, Str, "", Bwd, "never absent", "Address of the responder.";
    "src_port", FlowMeta, Core, Int, "", Fwd, "0 for protocols without ports", "Initiator's transport port.";
    "dst_port", FlowMeta, Core, Int, "", Bwd, "0 for protocols without ports", "Responder's transport port.";
    "dst_port_class", FlowMeta, Core, Str, "", Bwd, "never absent", "Service name of a well-known responder port, else system, registered or dynamic by range.";
    "dst_port_class_num", FlowMeta, Core, Int, "", Bwd, "never absent", "Port range of the responder port: 1 system (<1024), 2 registered (<49152), 3 dynamic.";
    "protocol", FlowMeta, Core, Int, "", Bidir, "never absent", "Transport protocol number of the innermost IP packet, after any IPv6 extension headers.";
    "start_time", FlowMeta, Core, Float, "s", Bidir, "never absent", "Unix time of the first packet.";
    "end_time", FlowMeta, Core, Float, "s", Bidir, "never absent", "Unix time of the last packet.";
    "duration", FlowMeta, Core, Float, "s", Bidir, "0 for one packet", "Time from first to last packet.";
    "total_packets", FlowMeta, Core, Int, "count", Bidir, "never absent", "Packets in both directions (a reassembled IP datagram counts once).";
    "packets_fwd", FlowMeta, Core, Int, "count", Fwd, "0", "Packets from initiator to responder.";
    "packets_bwd", FlowMeta, Core, Int, "count", Bwd, "0", "Packets from responder to initiator.";
    "total_bytes", FlowMeta, Core, Int, "bytes", Bidir, "never absent", "Sum of IP lengths (IPv4 total length, IPv6 payload length + 40) in both directions.";
    "bytes_fwd", FlowMeta, Core, Int, "bytes", Fwd, "0", "Sum of IP lengths from initiator to responder.";
    "bytes_bwd", FlowMeta, Core, Int, "bytes", Bwd, "0", "Sum of IP lengths from responder to initiator.";
    "payload_bytes_fwd", FlowMeta, Core, Int, "bytes", Fwd, "0", "Transport payload bytes from initiator to responder.";
    "payload_bytes_bwd", FlowMeta, Core, Int, "bytes", Bwd, "0", "Transport payload bytes from responder to initiator.";
    "payload_bytes_total", FlowMeta, Core, Int, "bytes", Bidir, "0", "Transport payload bytes in both directions.";
    "packets_ratio", FlowMeta, Core, Float, "", Bidir, "packets_fwd when no backward packet", "Forward packets divided by backward packets.";
    "bytes_ratio", FlowMeta, Core, Float, "", Bidir, "bytes_fwd when no backward byte", "Forward bytes divided by backward bytes.";
    "packets_per_second", FlowMeta, Core, Float, "pps", Bidir, "total_packets when duration is 0", "Packets divided by duration.";
    "bytes_per_second", FlowMeta, Core, Float, "Bps", Bidir, "total_bytes when duration is 0", "Bytes divided by duration.";
    "avg_packet_size", FlowMeta, Core, Float, "bytes", Bidir, "never absent", "Mean IP length.";
    "time_first", FlowMeta, Core, Float, "s", Bidir, "never absent", "Same as start_time (Tranalyzer's name).";
    "time_last", FlowMeta, Core, Float, "s", Bidir, "never absent", "Same as end_time (Tranalyzer's name).";
    "flow_stat", FlowMeta, Core, Int, "", Bidir, "0 for non-TCP", "Bitmap: 0x01 SYN seen, 0x02 SYN/ACK seen, 0x04 FIN from initiator, 0x08 FIN from responder, 0x10 RST, 0x40 handshake seen and closed by FINs both ways or RST.";
    "num_hdrs", FlowMeta, Core, Int, "count", Bidir, "never absent", "Number of layers in hdr_desc.";
    "hdr_desc", FlowMeta, Core, Str, "", Bidir, "never absent", "Protocol stack of the first packet, outermost first, joined by '-' (for example ETH-VLAN-IP-UDP-VXLAN-ETH-IP-TCP).";
    // timing
    "iat_min", Timing, Core, Float, "s", Bidir, "0 with fewer than 2 packets", "Smallest gap between consecutive packets of the flow.";
    "iat_max", Timing, Core, Float, "s", Bidir, "0 with fewer than 2 packets", "Largest gap between consecutive packets.";
    "iat_mean", Timing, Core, Float, "s", Bidir, "0 with fewer than 2 packets", "Mean gap between consecutive packets.";
    "iat_std", Timing, Core, Float, "s", Bidir, "0 with fewer than 2 packets", "Population standard deviation of the gaps.";
    "iat_median", Timing, Core, Float, "s", Bidir, "0 with fewer than 2 packets", "Median gap.";
    "iat_sum", Timing, Core, Float, "s", Bidir, "0 with fewer than 2 packets", "Sum of the gaps (equals duration).";
    "iat_p25", Timing, Core, Float, "s", Bidir, "0 with fewer than 2 packets", "25th percentile of the gaps (linear interpolation).";
    "iat_p75", Timing, Core, Float, "s", Bidir, "0 with fewer than 2 packets", "75th percentile of the gaps.";
    "iat_p90", Timing, Core, Float, "s", Bidir, "0 with fewer than 2 packets", "90th percentile of the gaps.";
    "iat_p99", Timing, Core, Float, "s", Bidir, "0 with fewer than 2 packets", "99th percentile of the gaps.";
    "iat_fwd_min", Timing, Core, Float, "s", Fwd, "0 with fewer than 2 forward packets", "Smallest gap between consecutive forward packets.";
    "iat_fwd_max", Timing, Core, Float, "s", Fwd, "0 with fewer than 2 forward packets", "Largest gap between consecutive forward packets.";
    "iat_fwd_mean", Timing, Core, Float, "s", Fwd, "0 with fewer than 2 forward packets", "Mean gap between consecutive forward packets.";
    "iat_fwd_std", Timing, Core, Float, "s", Fwd, "0 with fewer than 2 forward packets", "Population standard deviation of forward gaps.";
    "iat_fwd_median", Timing, Core, Float, "s", Fwd, "0 with fewer than 2 forward packets", "Median forward gap.";
    "iat_bwd_min", Timing, Core, Float, "s", Bwd, "0 with fewer than 2 backward packets", "Smallest gap between consecutive backward packets.";
    "iat_bwd_max", Timing, Core, Float, "s", Bwd, "0 with fewer than 2 backward packets", "Largest gap between consecutive backward packets.";
    "iat_bwd_mean", Timing, Core, Float, "s", Bwd, "0 with fewer than 2 backward packets", "Mean gap between consecutive backward packets.";
    "iat_bwd_std", Timing, Core, Float, "s", Bwd, "0 with fewer than 2 backward packets", "Population standard deviation of backward gaps.";
    "iat_bwd_median", Timing, Core, Float, "s", Bwd, "0 with fewer than 2 backward packets", "Median backward gap.";
    "burstiness_index", Timing, Core, Float, "", Bidir, "0 with fewer than 2 packets or a zero mean gap", "Coefficient of variation (std / mean) of the gaps.";
    "burstiness_index_fwd", Timing, Core, Float, "", Fwd, "0 with fewer than 2 forward packets", "Coefficient of variation of forward gaps.";
    "burstiness_index_bwd", Timing, Core, Float, "", Bwd, "0 with fewer than 2 backward packets", "Coefficient of variation of backward gaps.";
    "burst_count", Timing, Core, Int, "count", Bidir, "0 with fewer than 2 packets", "Runs of packets whose gaps are all under 50 ms.";
    "avg_burst_packets", Timing, Core, Float, "count", Bidir, "0 with fewer than 2 packets", "Mean packets per burst.";
    "avg_burst_duration", Timing, Core, Float, "s", Bidir, "0 with fewer than 2 packets", "Mean time from a burst's first to last packet.";
    "max_burst_packets", Timing, Core, Int, "count", Bidir, "0 with fewer than 2 packets", "Packets in the longest burst.";
    "idle_count", Timing, Core, Int, "count", Bidir, "0", "Gaps of 50 ms or more (the pauses between bursts).";
    "avg_idle_duration", Timing, Core, Float, "s", Bidir, "0 without idle gaps", "Mean idle gap.";
    "max_idle_duration", Timing, Core, Float, "s", Bidir, "0 without idle gaps", "Longest idle gap.";
    "first_response_time", Timing, Core, Float, "s", Bwd, "0 when the responder never sent", "Time from the first packet to the responder's first packet.";
    // size
    "pkt_len_min", Size, Core, Float, "bytes", Bidir, "never absent", "Smallest IP length.";
    "pkt_len_max", Size, Core, Float, "bytes", Bidir, "never absent", "Largest IP length.";
    "pkt_len_mean", Size, Core, Float, "bytes", Bidir, "never absent", "Mean IP length.";
    "pkt_len_std", Size, Core, Float, "bytes", Bidir, "never absent", "Population standard deviation of IP lengths.";
    "pkt_len_median", Size, Core, Float, "bytes", Bidir, "never absent", "Median IP length.";
    "pkt_len_p25", Size, Core, Float, "bytes", Bidir, "never absent", "25th percentile of IP lengths.";
    "pkt_len_p75", Size, Core, Float, "bytes", Bidir, "never absent", "75th percentile of IP lengths.";
    "pkt_len_p90", Size, Core, Float, "bytes", Bidir, "never absent", "90th percentile of IP lengths.";
    "pkt_len_fwd_min", Size, Core, Float, "bytes", Fwd, "0 without forward packets", "Smallest forward IP length.";
    "pkt_len_fwd_max", Size, Core, Float, "bytes", Fwd, "0 without forward packets", "Largest forward IP length.";
    "pkt_len_fwd_mean", Size, Core, Float, "bytes", Fwd, "0 without forward packets", "Mean forward IP length.";
    "pkt_len_fwd_std", Size, Core, Float, "bytes", Fwd, "0 without forward packets", "Population standard deviation of forward IP lengths.";
    "pkt_len_fwd_median", Size, Core, Float, "bytes", Fwd, "0 without forward packets", "Median forward IP length.";
    "pkt_len_bwd_min", Size, Core, Float, "bytes", Bwd, "0 without backward packets", "Smallest backward IP length.";
    "pkt_len_bwd_max", Size, Core, Float, "bytes", Bwd, "0 without backward packets", "Largest backward IP length.";
    "pkt_len_bwd_mean", Size, Core, Float, "bytes", Bwd, "0 without backward packets", "Mean backward IP length.";
    "pkt_len_bwd_std", Size, Core, Float, "bytes", Bwd, "0 without backward packets", "Population standard deviation of backward IP lengths.";
    "pkt_len_bwd_median", Size, Core, Float, "bytes", Bwd, "0 without backward packets", "Median backward IP length.";
    "payload_len_min", Size, Core, Float, "bytes", Bidir, "never absent", "Smallest transport payload (0 counts).";
    "payload_len_max", Size, Core, Float, "bytes", Bidir, "never absent", "Largest transport payload.";
    "payload_len_mean", Size, Core, Float, "bytes", Bidir, "never absent", "Mean transport payload.";
    "payload_len_std", Size, Core, Float, "bytes", Bidir, "never absent", "Population standard deviation of transport payloads.";
    "payload_len_fwd_mean", Size, Core, Float, "bytes", Fwd, "0 without forward packets", "Mean forward transport payload.";
    "payload_len_fwd_std", Size, Core, Float, "bytes", Fwd, "0 without forward packets", "Population standard deviation of forward payloads.";
    "payload_len_bwd_mean", Size, Core, Float, "bytes", Bwd, "0 without backward packets", "Mean backward transport payload.";
    "payload_len_bwd_std", Size, Core, Float, "bytes", Bwd, "0 without backward packets", "Population standard deviation of backward payloads.";
    "packets_with_payload", Size, Core, Int, "count", Bidir, "0", "Packets carrying transport payload.";
    "packets_with_payload_fwd", Size, Core, Int, "count", Fwd, "0", "Forward packets carrying payload.";
    "packets_with_payload_bwd", Size, Core, Int, "count", Bwd, "0", "Backward packets carrying payload.";
    "header_only_ratio", Size, Core, Float, "", Bidir, "never absent", "Share of packets without payload.";
    "pkt_len_variance", Size, Core, Float, "bytes^2", Bidir, "0 for one packet", "Population variance of IP lengths.";
    "dominant_pkt_size", Size, Core, Int, "bytes", Bidir, "never absent", "Most frequent IP length (the earliest seen wins a tie).";
    "dominant_pkt_ratio", Size, Core, Float, "", Bidir, "never absent", "Share of packets with the dominant length.";
    "l7_bytes_fwd", Size, Core, Int, "bytes", Fwd, "0", "Forward transport payload bytes.";
    "l7_bytes_bwd", Size, Core, Int, "bytes", Bwd, "0", "Backward transport payload bytes.";
    "l7_bytes_total", Size, Core, Int, "bytes", Bidir, "0", "Transport payload bytes in both directions.";
    "l7_pkt_min_fwd", Size, Core, Int, "bytes", Fwd, "0 without forward payload", "Smallest non-empty forward payload.";
    "l7_pkt_max_fwd", Size, Core, Int, "bytes", Fwd, "0 without forward payload", "Largest forward payload.";
    "l7_pkt_min_bwd", Size, Core, Int, "bytes", Bwd, "0 without backward payload", "Smallest non-empty backward payload.";
    "l7_pkt_max_bwd", Size, Core, Int, "bytes", Bwd, "0 without backward payload", "Largest backward payload.";
    "pkt_asymmetry", Size, Core, Float, "", Bidir, "never absent", "(forward - backward) / total packets.";
    "byte_asymmetry", Size, Core, Float, "", Bidir, "never absent", "(forward - backward) / total IP bytes.";
    // tcp
    "tcp_is_tcp", Tcp, Core, Bool, "", Bidir, "false for non-TCP", "The flow is TCP.";
    "tcp_syn_count", Tcp, Core, Int, "count", Bidir, "0 for non-TCP", "Segments with SYN and without ACK.";
    "tcp_synack_count", Tcp, Core, Int, "count", Bidir, "0 for non-TCP", "Segments with SYN and ACK.";
    "tcp_fin_count", Tcp, Core, Int, "count", Bidir, "0 for non-TCP", "Segments with FIN.";
    "tcp_rst_count", Tcp, Core, Int, "count", Bidir, "0 for non-TCP", "Segments with RST.";
    "tcp_ack_count", Tcp, Core, Int, "count", Bidir, "0 for non-TCP", "Segments with ACK.";
    "tcp_psh_count", Tcp, Core, Int, "count", Bidir, "0 for non-TCP", "Segments with PSH.";
    "tcp_urg_count", Tcp, Core, Int, "count", Bidir, "0 for non-TCP", "Segments with URG.";
    "tcp_ece_count", Tcp, Core, Int, "count", Bidir, "0 for non-TCP", "Segments with ECE.";
    "tcp_cwr_count", Tcp, Core, Int, "count", Bidir, "0 for non-TCP", "Segments with CWR.";
    "tcp_complete_handshake", Tcp, Core, Bool, "", Bidir, "false for non-TCP", "The initiator sent a SYN and the responder a SYN/ACK.";
    "tcp_graceful_close", Tcp, Core, Bool, "", Bidir, "false for non-TCP", "Both sides sent FIN.";
    "tcp_reset_close", Tcp, Core, Bool, "", Bidir, "false for non-TCP", "A RST was seen.";
    "tcp_syn_ratio", Tcp, Core, Float, "", Bidir, "0 for non-TCP", "(SYN + SYN/ACK segments) / packets.";
    "tcp_fin_ratio", Tcp, Core, Float, "", Bidir, "0 for non-TCP", "FIN segments / packets.";
    "tcp_rst_ratio", Tcp, Core, Float, "", Bidir, "0 for non-TCP", "RST segments / packets.";
    "tcp_psh_ratio", Tcp, Core, Float, "", Bidir, "0 for non-TCP", "PSH segments / packets.";
    "tcp_data_packets", Tcp, Core, Int, "count", Bidir, "0 for non-TCP", "Segments carrying payload.";
    "tcp_ack_only_packets", Tcp, Core, Int, "count", Bidir, "0 for non-TCP", "Segments with ACK, no payload and none of SYN, FIN, RST.";
    "tcp_flags_anomaly", Tcp, Core, Bool, "", Bidir, "false for non-TCP", "A segment had no flags, FIN+PSH+URG, FIN without ACK, SYN+FIN or SYN+RST.";
    "tcp_initiator_syn", Tcp, Core, Bool, "", Fwd, "false for non-TCP", "The initiator sent a SYN.";
    "tcp_responder_synack", Tcp, Core, Bool, "", Bwd, "false for non-TCP", "The responder sent a SYN/ACK.";
    "tcp_fstat", Tcp, Core, Int, "", Bidir, "0 for non-TCP", "Bitmap: 0x01 initiator SYN, 0x02 responder SYN/ACK, 0x04 more ACKs than SYN/ACKs, 0x08 initiator FIN, 0x10 responder FIN, 0x20 RST, 0x40 payload seen, 0x80 flag anomaly.";
    "tcp_flags_agg", Tcp, Core, Int, "", Bidir, "0 for non-TCP", "OR of the nine flag bits over all segments (NS = 0x100).";
    "tcp_flags_fwd", Tcp, Core, Int, "", Fwd, "0 for non-TCP", "OR of flag bits over forward segments.";
    "tcp_flags_bwd", Tcp, Core, Int, "", Bwd, "0 for non-TCP", "OR of flag bits over backward segments.";
    // tls
    "tls_detected", Tls, Core, Bool, "", Bidir, "false without a ClientHello", "A TLS ClientHello was seen from the initiator.";
    "tls_version", Tls, Core, Int, "", Bidir, "0", "Version field of the ClientHello (0x0303 also for TLS 1.3, which negotiates by extension).";
    "tls_version_str", Tls, Core, Str, "", Bidir, "empty", "tls_version as text, for example 'TLS 1.2'.";
    "tls_cipher_suite", Tls, Core, Int, "", Bidir, "0 without a ServerHello", "Cipher suite chosen in the ServerHello.";
    "tls_cipher_count", Tls, Core, Int, "count", Fwd, "0", "Cipher suites offered in the ClientHello, GREASE included.";
    "tls_extension_count", Tls, Core, Int, "count", Fwd, "0", "Extensions in the ClientHello, GREASE included.";
    "tls_sni", Tls, Core, Str, "", Fwd, "empty", "Server name from the ClientHello's server_name extension.";
    "tls_alpn", Tls, Core, Str, "", Bidir, "empty", "First protocol the ClientHello offers by ALPN.";
    "ja3_hash", Tls, Core, Str, "", Fwd, "empty", "JA3 fingerprint (MD5) of the ClientHello, GREASE removed.";
    "ja3s_hash", Tls, Core, Str, "", Bwd, "empty", "JA3S fingerprint (MD5) of the ServerHello.";
    "tls_handshake_packets", Tls, Core, Int, "count", Bidir, "0", "TCP or UDP packets whose payload begins with a TLS handshake record byte (22).";
    "tls_cert_count", Tls, Core, Int, "count", Bwd, "0, also for TLS 1.3 where certificates are encrypted", "Certificates in the server's Certificate message.";
    "tls_cert_total_length", Tls, Core, Int, "bytes", Bwd, "0", "Sum of the certificates' lengths.";
    "tls_cert_first_length", Tls, Core, Int, "bytes", Bwd, "0", "Length of the first (leaf) certificate.";
    "tls_cert_chain_length", Tls, Core, Int, "count", Bwd, "0", "Same as tls_cert_count.";
    "tls_session_id_len", Tls, Core, Int, "bytes", Fwd, "0", "Session id length in the ClientHello.";
    "tls_session_ticket_ext", Tls, Core, Bool, "", Fwd, "false", "The ClientHello carries a session_ticket extension.";
    "tls_session_resumed", Tls, Core, Bool, "", Bidir, "false", "The server resumed a session: in TLS 1.3 its ServerHello selects a pre-shared key; before 1.3 it answers an offer of resumption with an abbreviated handshake (no Certificate).";
    "tls_psk_ext", Tls, Core, Bool, "", Fwd, "false", "The ClientHello carries a pre_shared_key extension.";
    "tls_early_data_ext", Tls, Core, Bool, "", Fwd, "false", "The ClientHello carries an early_data extension.";
    "tls_key_exchange_group", Tls, Core, Int, "", Bidir, "0", "Named group of the key exchange: the ServerKeyExchange curve when present, else the ClientHello's first key share.";
    "tls_key_exchange_group_name", Tls, Core, Str, "", Bidir, "empty", "tls_key_exchange_group as a name, for example x25519.";
    "tls_key_exchange_length", Tls, Core, Int, "bits", Bidir, "0", "Length of that public key (or DH prime) in bits.";
    // quic
    "quic_detected", Quic, Extended, Bool, "", Bidir, "false", "A QUIC long header with a QUIC version (v1, v2, an IETF draft, mvfst or Google QUIC) was seen over UDP.";
    "quic_version", Quic, Extended, Int, "", Bidir, "0", "Version field of the first long header.";
    "quic_version_str", Quic, Extended, Str, "", Bidir, "empty", "quic_version as text: QUIC v1, QUIC v2, QUIC draft-N, or Unknown (0x...).";
    "quic_dcid_len", Quic, Extended, Int, "bytes", Bidir, "0", "Destination Connection ID length of the first long header.";
    "quic_scid_len", Quic, Extended, Int, "bytes", Bidir, "0", "Source Connection ID length of the first long header.";
    "quic_pn_length", Quic, Extended, Int, "bytes", Fwd, "0 when no Initial could be decrypted", "Packet-number length of the client's first Initial, read after removing header protection.";
    "quic_initial_packets", Quic, Extended, Int, "count", Bidir, "0", "Datagrams beginning with an Initial packet (both directions; version 2's type numbering understood).";
    "quic_0rtt_detected", Quic, Extended, Bool, "", Fwd, "false", "A 0-RTT packet was seen.";
    "quic_retry_detected", Quic, Extended, Bool, "", Bwd, "false", "A Retry packet was seen.";
    "quic_spin_bit", Quic, Extended, Bool, "", Bidir, "false", "The spin bit of short-header packets was set or flipped.";
    "quic_alpn", Quic, Extended, Str, "", Fwd, "empty", "First ALPN protocol of the ClientHello in the client's Initials (decrypted with the keys derived from its Destination Connection ID).";
    "quic_sni", Quic, Extended, Str, "", Fwd, "empty", "Server name of that ClientHello, also when it spans several Initials.";
    // ssh
    "ssh_detected", Ssh, Extended, Bool, "", Bidir, "false", "An SSH version banner was seen in either direction.";
    "ssh_version", Ssh, Extended, Str, "", Bidir, "empty", "Protocol version of the client's banner, else the server's (for example 2.0).";
    "ssh_client_software", Ssh, Extended, Str, "", Fwd, "empty", "Software field of the initiator's banner, up to the first space.";
    "ssh_server_software", Ssh, Extended, Str, "", Bwd, "empty", "Software field of the responder's banner, up to the first space.";
    "ssh_client_version", Ssh, Extended, Str, "", Fwd, "empty", "Protocol version of the initiator's banner.";
    "ssh_server_version", Ssh, Extended, Str, "", Bwd, "empty", "Protocol version of the responder's banner.";
    "ssh_hassh", Ssh, Extended, Str, "", Fwd, "empty", "HASSH of the initiator's KEXINIT: MD5 of its key-exchange, client-to-server cipher, MAC and compression lists.";
    "ssh_hassh_server", Ssh, Extended, Str, "", Bwd, "empty", "HASSH-server of the responder's KEXINIT: MD5 of its key-exchange and server-to-client cipher, MAC and compression lists.";
    "ssh_kex_packets", Ssh, Extended, Int, "count", Bidir, "0", "Key-exchange messages (types 20 to 49) in both directions before encryption.";
    "ssh_encrypted_packets", Ssh, Extended, Int, "count", Bidir, "0", "Segments with payload sent after their direction's NEWKEYS.";
    // http2
    "http2_detected", Http2, Extended, Bool, "", Bidir, "false", "HTTP/2 frames were seen in cleartext, or TLS negotiated h2 as far as visible (a TLS 1.2 ServerHello selecting h2, or h2 offered first in a TLS 1.3 handshake, whose answer is encrypted).";
    "http3_detected", Http2, Extended, Bool, "", Bidir, "false", "The QUIC ClientHello offers an h3 protocol first.";
    "http2_preface_seen", Http2, Extended, Bool, "", Fwd, "false", "The client sent the HTTP/2 connection preface in cleartext.";
    "http2_frame_count", Http2, Extended, Int, "count", Bidir, "0, also for HTTP/2 inside TLS (frames are encrypted)", "Cleartext HTTP/2 frames in both directions.";
    "http2_data_frames", Http2, Extended, Int, "count", Bidir, "0", "DATA frames.";
    "http2_headers_frames", Http2, Extended, Int, "count", Bidir, "0", "HEADERS frames.";
    "http2_settings_frames", Http2, Extended, Int, "count", Bidir, "0", "SETTINGS frames.";
    "http2_push_promise_frames", Http2, Extended, Int, "count", Bwd, "0", "PUSH_PROMISE frames (server push).";
    "http2_goaway_frames", Http2, Extended, Int, "count", Bidir, "0", "GOAWAY frames.";
    "http2_window_update_frames", Http2, Extended, Int, "count", Bidir, "0", "WINDOW_UPDATE frames.";
    "http2_streams_estimate", Http2, Extended, Int, "count", Bidir, "0", "Distinct non-zero stream ids with frames.";
    "http2_server_push", Http2, Extended, Bool, "", Bwd, "false", "The server sent PUSH_PROMISE.";
    "http2_multiplexed", Http2, Extended, Bool, "", Bidir, "false", "A DATA or HEADERS frame of a stream came after a frame of a later stream: streams overlapped.";
    "http_version", Http2, Extended, Str, "", Bidir, "empty", "h2c (cleartext HTTP/2), h2 (HTTP/2 in TLS), h3 (HTTP/3 over QUIC), or empty.";
    // dns
    "dns_detected", Dns, Extended, Bool, "", Bidir, "false", "A DNS message was read (UDP or TCP, port 53).";
    "dns_query_name", Dns, Extended, Str, "", Fwd, "empty", "Name in the question of the flow's first DNS message; non-ASCII labels in hex.";
    "dns_query_type", Dns, Extended, Int, "", Fwd, "0", "Type of that question.";
    "dns_query_type_str", Dns, Extended, Str, "", Fwd, "empty", "dns_query_type as a name (A, AAAA, ..., TYPEn).";
    "dns_response_code", Dns, Extended, Int, "", Bwd, "-1 without a response", "Response code of the first response.";
    "dns_response_code_str", Dns, Extended, Str, "", Bwd, "empty without a response", "dns_response_code as a name (NOERROR, NXDOMAIN, ..., RCODEn).";
    "dns_answer_count", Dns, Extended, Int, "count", Bwd, "0", "Answer records announced by the first response (by the query when no response was seen).";
    "dns_authority_count", Dns, Extended, Int, "count", Bwd, "0", "Authority records announced by the first response (or query).";
    "dns_additional_count", Dns, Extended, Int, "count", Bwd, "0", "Additional records announced by the first response (or query).";
    "dns_min_ttl", Dns, Extended, Int, "s", Bwd, "0 without answers", "Smallest TTL among the first response's answer records.";
    "dns_max_ttl", Dns, Extended, Int, "s", Bwd, "0 without answers", "Largest TTL among the first response's answer records.";
    "dns_is_query", Dns, Extended, Bool, "", Fwd, "false", "A query was seen.";
    "dns_is_response", Dns, Extended, Bool, "", Bwd, "false", "A response was seen.";
    "dns_truncated", Dns, Extended, Bool, "", Bwd, "false", "TC bit of the first response (or query).";
    "dns_recursion_desired", Dns, Extended, Bool, "", Fwd, "false", "RD bit of the first query (or response).";
    "dns_recursion_available", Dns, Extended, Bool, "", Bwd, "false", "RA bit of the first response (or query).";
    // padding
    "pkt_size_variance", Padding, Experimental, Float, "bytes^2", Bidir, "0", "Population variance of IP lengths.";
    "pkt_size_cv", Padding, Experimental, Float, "", Bidir, "0", "Coefficient of variation of IP lengths.";
    "is_constant_size", Padding, Experimental, Bool, "", Bidir, "false", "At least 95 % of packets share one IP length.";
    "dominant_size_mode", Padding, Experimental, Int, "bytes", Bidir, "0", "Most common IP length (the first seen on a tie).";
    "dominant_size_ratio", Padding, Experimental, Float, "", Bidir, "0", "Share of packets with that length.";
    "unique_size_count", Padding, Experimental, Int, "count", Bidir, "0", "Distinct IP lengths.";
    "size_entropy", Padding, Experimental, Float, "", Bidir, "0", "Entropy of the IP-length distribution divided by its maximum for that many lengths (0 to 1).";
    "iat_variance", Padding, Experimental, Float, "s^2", Bidir, "0 with fewer than 2 packets", "Population variance of gaps between packets.";
    "iat_cv", Padding, Experimental, Float, "", Bidir, "0 with fewer than 2 packets", "Coefficient of variation of those gaps.";
    "is_constant_rate", Padding, Experimental, Bool, "", Bidir, "false", "The gaps' coefficient of variation is at most 0.1.";
    "tor_cell_count", Padding, Experimental, Int, "count", Bidir, "0", "Packets with an IP length of 580 to 600 bytes (a 512-byte Tor cell in TLS).";
    "tor_cell_ratio", Padding, Experimental, Float, "", Bidir, "0", "Share of such packets.";
    "is_tor_like", Padding, Experimental, Bool, "", Bidir, "false", "At least 70 % Tor-cell-sized packets and near-constant sizes (coefficient of variation below 0.1).";
    "burst_padding_ratio", Padding, Experimental, Float, "", Bidir, "0 with fewer than 2 packets", "Header bytes (IP length minus payload) divided by all IP bytes.";
    "burst_overhead_bytes", Padding, Experimental, Int, "bytes", Bidir, "0 with fewer than 2 packets", "Header bytes of all packets.";
    "avg_burst_payload_efficiency", Padding, Experimental, Float, "", Bidir, "1 with fewer than 2 packets", "Mean over bursts (gaps under 50 ms) of payload bytes divided by IP bytes.";
    "padding_score", Padding, Experimental, Float, "", Bidir, "0", "0.3 constant size + 0.2 dominant share above 0.8 + 0.2 constant rate + 0.3 Tor-like, at most 1.";
    // fingerprint
    "likely_tor", Fingerprint, Experimental, Bool, "", Bidir, "false", "tor_confidence is at least 0.5.";
    "tor_confidence", Fingerprint, Experimental, Float, "", Bidir, "0", "0.4 when over 70 % of packets are Tor-cell sized (580 to 600 bytes) + 0.3 when sizes vary under 10 % + 0.1 for a Tor or HTTPS port.";
    "likely_vpn", Fingerprint, Experimental, Bool, "", Bidir, "false", "vpn_confidence is at least 0.4.";
    "vpn_confidence", Fingerprint, Experimental, Float, "", Bidir, "0", "From the protocol and port (OpenVPN, WireGuard, IPsec ESP/AH/IKE, L2TP) plus 0.2 when most packets are 1,400 to 1,500 bytes.";
    "vpn_type", Fingerprint, Experimental, Str, "", Bidir, "empty", "The VPN that protocol and port suggest: openvpn, wireguard, ipsec-esp, ipsec-ah, ipsec-ike or l2tp.";
    "likely_doh", Fingerprint, Experimental, Bool, "", Bidir, "false", "The server name is a public DNS-over-HTTPS resolver's, or doh_confidence is at least 0.35.";
    "doh_confidence", Fingerprint, Experimental, Float, "", Bidir, "0", "For TCP to port 443: 0.6 for a known resolver's name, else points for a small, short, balanced exchange.";
    "traffic_type", Fingerprint, Experimental, Str, "", Bidir, "unknown without payload", "tor, vpn[:type] or doh as above; else encrypted (TLS, SSH, or a payload sample of 128+ bytes at 7+ bits of entropy per byte), plain (DNS, or a payload sample at least 75 % printable), or unknown.";
    // entropy
    "entropy_payload", Entropy, Extended, Float, "bits", Bidir, "0 without payload", "Shannon entropy per byte of the payload sample: the first 256 bytes of TCP/UDP payload in each direction.";
    "entropy_initiator", Entropy, Extended, Float, "bits", Fwd, "0 without forward payload", "Entropy of the initiator's sample.";
    "entropy_responder", Entropy, Extended, Float, "bits", Bwd, "0 without backward payload", "Entropy of the responder's sample.";
    "entropy_ratio", Entropy, Extended, Float, "", Bidir, "0 without payload; infinite when only the responder's entropy is 0", "entropy_initiator divided by entropy_responder.";
    "byte_distribution_uniformity", Entropy, Extended, Float, "", Bidir, "0 with fewer than 256 sampled bytes", "1 minus the squared distance of the byte histogram from uniform, over the sample size squared.";
    "printable_ratio", Entropy, Extended, Float, "", Bidir, "0 without payload", "Share of sampled bytes that are printable ASCII, tab, newline or carriage return.";
    "null_ratio", Entropy, Extended, Float, "", Bidir, "0 without payload", "Share of sampled bytes that are 0.";
    "high_byte_ratio", Entropy, Extended, Float, "", Bidir, "0 without payload", "Share of sampled bytes at or above 0x80.";
    "payload_bytes_sampled", Entropy, Extended, Int, "bytes", Bidir, "0", "Size of the payload sample.";
    // mac
    "mac_src", Mac, Experimental, Str, "", Fwd, "empty without an Ethernet header", "Source MAC of the first packet's outermost Ethernet header (lowercase, colon-separated).";
    "mac_dst", Mac, Experimental, Str, "", Bwd, "empty without an Ethernet header", "Destination MAC of the first packet's outermost Ethernet header.";
    "mac_eth_type", Mac, Experimental, Int, "", Bidir, "0 without an Ethernet header", "EtherType of the first packet's outermost Ethernet header (0x8100 when tagged).";
    "mac_vlan_id", Mac, Experimental, Int, "", Bidir, "0 when untagged", "Smallest outermost VLAN id among the flow's packets.";
    "mac_vlan_count", Mac, Experimental, Int, "count", Bidir, "0 when untagged", "Distinct outermost VLAN ids among the flow's packets.";
    "mac_unique_src_count", Mac, Experimental, Int, "count", Bidir, "0 without Ethernet", "Distinct source MACs over both directions.";
    "mac_unique_dst_count", Mac, Experimental, Int, "count", Bidir, "0 without Ethernet", "Distinct destination MACs over both directions.";
    "mac_stat", Mac, Experimental, Int, "", Bidir, "0", "Bitmap: 0x01 first packet has a source MAC, 0x02 a destination MAC, 0x04 several source MACs, 0x08 several destination MACs, 0x10 VLAN-tagged.";
    "mac_broadcast_count", Mac, Experimental, Int, "count", Bidir, "0", "Packets sent to ff:ff:ff:ff:ff:ff.";
    "mac_multicast_count", Mac, Experimental, Int, "count", Bidir, "0", "Packets sent to a multicast (group bit set) MAC other than broadcast.";
    // ip_extended
    "ip_ttl_fwd_min", IpExtended, Extended, Int, "hops", Fwd, "0 without forward packets", "Smallest TTL (IPv6: hop limit) from the initiator.";
    "ip_ttl_fwd_max", IpExtended, Extended, Int, "hops", Fwd, "0 without forward packets", "Largest TTL from the initiator.";
    "ip_ttl_fwd_mean", IpExtended, Extended, Float, "hops", Fwd, "0 without forward packets", "Mean TTL from the initiator.";
    "ip_ttl_fwd_changes", IpExtended, Extended, Int, "count", Fwd, "0", "Distinct TTL values from the initiator, minus one.";
    "ip_ttl_bwd_min", IpExtended, Extended, Int, "hops", Bwd, "0 without backward packets", "Smallest TTL from the responder.";
    "ip_ttl_bwd_max", IpExtended, Extended, Int, "hops", Bwd, "0 without backward packets", "Largest TTL from the responder.";
    "ip_ttl_bwd_mean", IpExtended, Extended, Float, "hops", Bwd, "0 without backward packets", "Mean TTL from the responder.";
    "ip_ttl_bwd_changes", IpExtended, Extended, Int, "count", Bwd, "0", "Distinct TTL values from the responder, minus one.";
    "ip_ttl_fwd_initial_est", IpExtended, Extended, Int, "hops", Fwd, "0 without forward packets", "Likely initial TTL of the initiator: the first forward TTL rounded up to 64, 128 or 255.";
    "ip_ttl_fwd_hops_est", IpExtended, Extended, Int, "hops", Fwd, "0 without forward packets", "ip_ttl_fwd_initial_est minus the first forward TTL: routers between the initiator and the capture point.";
    "ip_tos_value", IpExtended, Extended, Int, "", Bidir, "0 for IPv6 flows", "Smallest IPv4 type-of-service byte seen.";
    "ip_tos_unique_count", IpExtended, Extended, Int, "count", Bidir, "0 for IPv6 flows", "Distinct IPv4 type-of-service bytes.";
    "ip_dscp", IpExtended, Extended, Int, "", Bidir, "0 for IPv6 flows", "DSCP (upper six bits) of ip_tos_value.";
    "ip_ecn", IpExtended, Extended, Int, "", Bidir, "0 for IPv6 flows", "ECN (lower two bits) of ip_tos_value.";
    "ip_flags", IpExtended, Extended, Int, "", Bidir, "0 for IPv6 flows", "OR of the IPv4 flag bits over all packets (DF = 2, MF = 1).";
    "ip_df_count", IpExtended, Extended, Int, "count", Bidir, "0", "IPv4 packets with Don't Fragment set.";
    "ip_df_ratio", IpExtended, Extended, Float, "", Bidir, "0", "ip_df_count divided by all packets.";
    "ip_version", IpExtended, Extended, Int, "", Bidir, "never absent", "IP version of the flow's packets (4 or 6).";
    "ip_id_gaps", IpExtended, Extended, Int, "count", Bidir, "0 for IPv6 flows", "Steps between consecutive IPv4 identification values (both directions, in arrival order, modulo 2^16) larger than one.";
    // ipv6_options
    "ipv6_packet_count", Ipv6Options, Experimental, Int, "count", Bidir, "0", "IPv6 packets in the flow.";
    "ipv4_packet_count", Ipv6Options, Experimental, Int, "count", Bidir, "0", "IPv4 packets in the flow.";
    "ipv6_flow_label", Ipv6Options, Experimental, Int, "", Bidir, "0 for IPv4 flows", "Smallest IPv6 flow label seen.";
    "ipv6_flow_label_unique_count", Ipv6Options, Experimental, Int, "count", Bidir, "0 for IPv4 flows", "Distinct flow labels (both directions).";
    "ipv6_flow_label_changes", Ipv6Options, Experimental, Int, "count", Bidir, "0", "Distinct flow labels minus one.";
    "ipv6_traffic_class", Ipv6Options, Experimental, Int, "", Bidir, "0 for IPv4 flows", "Smallest IPv6 traffic class seen.";
    "ipv6_traffic_class_unique_count", Ipv6Options, Experimental, Int, "count", Bidir, "0 for IPv4 flows", "Distinct traffic classes.";
    "ipv6_dscp", Ipv6Options, Experimental, Int, "", Bidir, "0 for IPv4 flows", "DSCP (upper six bits) of ipv6_traffic_class.";
    "ipv6_ecn", Ipv6Options, Experimental, Int, "", Bidir, "0 for IPv4 flows", "ECN (lower two bits) of ipv6_traffic_class.";
    "ipv6_ratio", Ipv6Options, Experimental, Float, "", Bidir, "0", "IPv6 packets divided by all packets.";
    "is_ipv6_only", Ipv6Options, Experimental, Int, "", Bidir, "0", "1 when every packet of the flow is IPv6.";
    // tcp_sequence
    "tcp_isn_fwd", TcpSequence, Extended, Int, "", Fwd, "0 without forward segments", "Sequence number of the initiator's first segment.";
    "tcp_isn_bwd", TcpSequence, Extended, Int, "", Bwd, "0 without backward segments", "Sequence number of the responder's first segment.";
    "tcp_seq_fwd_bytes_sent", TcpSequence, Extended, Int, "bytes", Fwd, "0", "Payload bytes the initiator sent, retransmissions excluded.";
    "tcp_seq_fwd_retrans", TcpSequence, Extended, Int, "count", Fwd, "0", "Initiator data segments repeating the sequence number of one of its last 1,024 data segments.";
    "tcp_seq_fwd_gaps", TcpSequence, Extended, Int, "count", Fwd, "0", "Initiator segments starting beyond the next expected sequence number (bytes missing before them).";
    "tcp_seq_fwd_ooo", TcpSequence, Extended, Int, "count", Fwd, "0", "Initiator segments starting before the next expected sequence number.";
    "tcp_seq_bwd_bytes_sent", TcpSequence, Extended, Int, "bytes", Bwd, "0", "Payload bytes the responder sent, retransmissions excluded.";
    "tcp_seq_bwd_retrans", TcpSequence, Extended, Int, "count", Bwd, "0", "Responder data segments repeating the sequence number of one of its last 1,024 data segments.";
    "tcp_seq_bwd_gaps", TcpSequence, Extended, Int, "count", Bwd, "0", "Responder segments starting beyond the next expected sequence number.";
    "tcp_seq_bwd_ooo", TcpSequence, Extended, Int, "count", Bwd, "0", "Responder segments starting before the next expected sequence number.";
    "tcp_ack_fwd_count", TcpSequence, Extended, Int, "count", Fwd, "0", "Initiator segments (each carries an acknowledgment field).";
    "tcp_ack_fwd_dup", TcpSequence, Extended, Int, "count", Fwd, "0", "Initiator segments repeating the previous segment's acknowledgment number.";
    "tcp_ack_bwd_count", TcpSequence, Extended, Int, "count", Bwd, "0", "Responder segments.";
    "tcp_ack_bwd_dup", TcpSequence, Extended, Int, "count", Bwd, "0", "Responder segments repeating the previous segment's acknowledgment number.";
    "tcp_total_retrans", TcpSequence, Extended, Int, "count", Bidir, "0", "Retransmissions in both directions.";
    "tcp_total_ooo", TcpSequence, Extended, Int, "count", Bidir, "0", "Out-of-order segments in both directions.";
    "tcp_total_dup_acks", TcpSequence, Extended, Int, "count", Bidir, "0", "Duplicate acknowledgments in both directions.";
    "tcp_retrans_ratio", TcpSequence, Extended, Float, "", Bidir, "0", "tcp_total_retrans divided by all TCP segments.";
    // tcp_window
    "tcp_init_win_fwd", TcpWindow, Extended, Int, "bytes", Fwd, "0 without forward TCP segments", "Window advertised by the initiator's first segment (unscaled).";
    "tcp_init_win_bwd", TcpWindow, Extended, Int, "bytes", Bwd, "0 without backward TCP segments", "Window advertised by the responder's first segment (unscaled).";
    "tcp_win_scale_fwd", TcpWindow, Extended, Int, "", Fwd, "0 without the option", "Window-scale shift the initiator announced.";
    "tcp_win_scale_bwd", TcpWindow, Extended, Int, "", Bwd, "0 without the option", "Window-scale shift the responder announced.";
    "tcp_win_fwd_min", TcpWindow, Extended, Int, "bytes", Fwd, "0 without forward TCP segments", "Smallest window the initiator advertised (unscaled).";
    "tcp_win_fwd_max", TcpWindow, Extended, Int, "bytes", Fwd, "0 without forward TCP segments", "Largest window the initiator advertised (unscaled).";
    "tcp_win_fwd_mean", TcpWindow, Extended, Float, "bytes", Fwd, "0 without forward TCP segments", "Mean window the initiator advertised (unscaled).";
    "tcp_win_fwd_zero_count", TcpWindow, Extended, Int, "count", Fwd, "0", "Initiator segments advertising a zero window.";
    "tcp_win_bwd_min", TcpWindow, Extended, Int, "bytes", Bwd, "0 without backward TCP segments", "Smallest window the responder advertised (unscaled).";
    "tcp_win_bwd_max", TcpWindow, Extended, Int, "bytes", Bwd, "0 without backward TCP segments", "Largest window the responder advertised (unscaled).";
    "tcp_win_bwd_mean", TcpWindow, Extended, Float, "bytes", Bwd, "0 without backward TCP segments", "Mean window the responder advertised (unscaled).";
    "tcp_win_bwd_zero_count", TcpWindow, Extended, Int, "count", Bwd, "0", "Responder segments advertising a zero window.";
    "tcp_win_fwd_up_count", TcpWindow, Extended, Int, "count", Fwd, "0", "Initiator segments whose window is larger than the previous one's.";
    "tcp_win_fwd_down_count", TcpWindow, Extended, Int, "count", Fwd, "0", "Initiator segments whose window is smaller than the previous one's.";
    "tcp_win_fwd_change_count", TcpWindow, Extended, Int, "count", Fwd, "0", "tcp_win_fwd_up_count plus tcp_win_fwd_down_count.";
    "tcp_win_bwd_up_count", TcpWindow, Extended, Int, "count", Bwd, "0", "Responder segments whose window is larger than the previous one's.";
    "tcp_win_bwd_down_count", TcpWindow, Extended, Int, "count", Bwd, "0", "Responder segments whose window is smaller than the previous one's.";
    "tcp_win_bwd_change_count", TcpWindow, Extended, Int, "count", Bwd, "0", "tcp_win_bwd_up_count plus tcp_win_bwd_down_count.";
    "tcp_scaled_win_fwd_max", TcpWindow, Extended, Int, "bytes", Fwd, "tcp_win_fwd_max without scaling", "Largest initiator window shifted by its announced scale.";
    "tcp_scaled_win_bwd_max", TcpWindow, Extended, Int, "bytes", Bwd, "tcp_win_bwd_max without scaling", "Largest responder window shifted by its announced scale.";
    "tcp_zero_win_ratio", TcpWindow, Extended, Float, "", Bidir, "0 for non-TCP", "Zero-window segments divided by all TCP segments.";
    // tcp_options
    "tcp_mss_fwd", TcpOptions, Extended, Int, "bytes", Fwd, "0 without the option", "First MSS option the initiator sent.";
    "tcp_mss_bwd", TcpOptions, Extended, Int, "bytes", Bwd, "0 without the option", "First MSS option the responder sent.";
    "tcp_ws_fwd", TcpOptions, Extended, Int, "", Fwd, "0 without the option", "First window-scale shift the initiator sent.";
    "tcp_ws_bwd", TcpOptions, Extended, Int, "", Bwd, "0 without the option", "First window-scale shift the responder sent.";
    "tcp_sack_permitted_fwd", TcpOptions, Extended, Int, "", Fwd, "0", "1 when the initiator sent SACK-permitted.";
    "tcp_sack_permitted_bwd", TcpOptions, Extended, Int, "", Bwd, "0", "1 when the responder sent SACK-permitted.";
    "tcp_sack_blocks_total", TcpOptions, Extended, Int, "count", Bidir, "0", "SACK blocks carried by all segments.";
    "tcp_ts_fwd_present", TcpOptions, Extended, Int, "", Fwd, "0", "1 when the initiator sent timestamps.";
    "tcp_ts_fwd_first", TcpOptions, Extended, Int, "ticks", Fwd, "0", "First TSval from the initiator.";
    "tcp_ts_fwd_last", TcpOptions, Extended, Int, "ticks", Fwd, "0", "Last TSval from the initiator.";
    "tcp_ts_fwd_diff", TcpOptions, Extended, Int, "ticks", Fwd, "0 with fewer than 2 timestamps", "Last minus first TSval from the initiator, modulo 2^32.";
    "tcp_ts_ecr_fwd_first", TcpOptions, Extended, Int, "ticks", Fwd, "0", "TSecr of the initiator's first timestamped segment.";
    "tcp_ts_bwd_present", TcpOptions, Extended, Int, "", Bwd, "0", "1 when the responder sent timestamps.";
    "tcp_ts_bwd_first", TcpOptions, Extended, Int, "ticks", Bwd, "0", "First TSval from the responder.";
    "tcp_ts_bwd_last", TcpOptions, Extended, Int, "ticks", Bwd, "0", "Last TSval from the responder.";
    "tcp_ts_bwd_diff", TcpOptions, Extended, Int, "ticks", Bwd, "0 with fewer than 2 timestamps", "Last minus first TSval from the responder, modulo 2^32.";
    "tcp_ts_ecr_bwd_first", TcpOptions, Extended, Int, "ticks", Bwd, "0", "TSecr of the responder's first timestamped segment.";
    "tcp_options_bitmap", TcpOptions, Extended, Int, "", Bidir, "0", "Bitmap of options seen in either direction: 0x01 MSS, 0x02 window scale, 0x04 SACK-permitted, 0x08 timestamps.";
    "tcp_options_pkt_count", TcpOptions, Extended, Int, "count", Bidir, "0", "Segments bringing a direction's first MSS or window scale, or any SACK-permitted, timestamp or SACK block.";
    // tcp_mptcp
    "mptcp_detected", TcpMptcp, Experimental, Int, "", Bidir, "0", "1 when a segment carried an MPTCP option (kind 30).";
    "mptcp_capable_fwd", TcpMptcp, Experimental, Int, "", Fwd, "0", "1 when the initiator's SYN carried MP_CAPABLE.";
    "mptcp_capable_bwd", TcpMptcp, Experimental, Int, "", Bwd, "0", "1 when the responder's SYN/ACK carried MP_CAPABLE.";
    "mptcp_option_count", TcpMptcp, Experimental, Int, "count", Bidir, "0", "Segments carrying an MPTCP option.";
    "mptcp_stat", TcpMptcp, Experimental, Int, "", Bidir, "0", "Bitmap: 0x01 MPTCP seen, 0x02 initiator capable, 0x04 responder capable, 0x08 both.";
    "is_mptcp", TcpMptcp, Experimental, Int, "", Bidir, "0", "1 when both sides announced MP_CAPABLE: the connection runs MPTCP.";
    // tcp_rtt
    "tcp_rtt_handshake", TcpRtt, Extended, Float, "s", Bidir, "0 without SYN and SYN/ACK", "Time from the initiator's SYN to its ACK of the SYN/ACK (twice SYN to SYN/ACK when that ACK is missing).";
    "tcp_rtt_min", TcpRtt, Extended, Float, "s", Bidir, "0 without timestamp echoes", "Smallest time between a segment and one echoing its TSval from the other side.";
    "tcp_rtt_max", TcpRtt, Extended, Float, "s", Bidir, "0 without timestamp echoes", "Largest such time.";
    "tcp_rtt_mean", TcpRtt, Extended, Float, "s", Bidir, "0 without timestamp echoes", "Mean of those times.";
    "tcp_rtt_samples", TcpRtt, Extended, Int, "count", Bidir, "0", "Timestamp echoes measured (each echoing segment counts; times of a minute or more are ignored).";
    "tcp_rtt_std", TcpRtt, Extended, Float, "s", Bidir, "0 with fewer than 2 samples", "Population standard deviation of those times.";
    "tcp_rtt_jitter_avg", TcpRtt, Extended, Float, "s", Bidir, "0 with fewer than 2 samples", "Mean absolute change between consecutive timestamp samples.";
    "tcp_rtt_ack_min", TcpRtt, Extended, Float, "s", Bidir, "0 without acknowledged data", "Smallest time between a data segment and the acknowledgment of exactly its end.";
    "tcp_rtt_ack_max", TcpRtt, Extended, Float, "s", Bidir, "0 without acknowledged data", "Largest such time.";
    "tcp_rtt_ack_mean", TcpRtt, Extended, Float, "s", Bidir, "0 without acknowledged data", "Mean of those times.";
    // tcp_fingerprint
    "tcp_fp_fwd", TcpFingerprint, Experimental, Str, "", Fwd, "empty without the initiator's SYN", "JoyfulJay's fingerprint of the initiator's SYN: t<window>_<mss>_<scale>_ and 12 hex digits of an MD5 over window, TTL, MSS, scale and SACK/timestamp flags (not JA4T).";
    "tcp_fp_bwd", TcpFingerprint, Experimental, Str, "", Bwd, "empty without the responder's SYN/ACK", "The same fingerprint of the responder's SYN/ACK.";
    "tcp_os_hint_fwd", TcpFingerprint, Experimental, Str, "", Fwd, "unknown", "Coarse guess of the initiator's OS from its SYN's initial TTL and window.";
    "tcp_os_hint_bwd", TcpFingerprint, Experimental, Str, "", Bwd, "unknown", "The same guess for the responder.";
    "tcp_uptime_fwd", TcpFingerprint, Experimental, Float, "h", Fwd, "0 without timestamps", "The initiator's first TSval read as hundredths of a second since boot, in hours.";
    "tcp_uptime_bwd", TcpFingerprint, Experimental, Float, "h", Bwd, "0 without timestamps", "The responder's first TSval read the same way.";
    "tcp_fp_fwd_window", TcpFingerprint, Experimental, Int, "bytes", Fwd, "0 without the SYN", "Window of the initiator's SYN.";
    "tcp_fp_fwd_ttl", TcpFingerprint, Experimental, Int, "hops", Fwd, "0 without the SYN", "TTL of the initiator's SYN.";
    "tcp_fp_fwd_mss", TcpFingerprint, Experimental, Int, "bytes", Fwd, "0 without the option", "MSS of the initiator's SYN.";
    "tcp_fp_fwd_ws", TcpFingerprint, Experimental, Int, "", Fwd, "0 without the option", "Window scale of the initiator's SYN.";
    "tcp_fp_bwd_window", TcpFingerprint, Experimental, Int, "bytes", Bwd, "0 without the SYN/ACK", "Window of the responder's SYN/ACK.";
    "tcp_fp_bwd_ttl", TcpFingerprint, Experimental, Int, "hops", Bwd, "0 without the SYN/ACK", "TTL of the responder's SYN/ACK.";
    "tcp_fp_bwd_mss", TcpFingerprint, Experimental, Int, "bytes", Bwd, "0 without the option", "MSS of the responder's SYN/ACK.";
    "tcp_fp_bwd_ws", TcpFingerprint, Experimental, Int, "", Bwd, "0 without the option", "Window scale of the responder's SYN/ACK.";
    // icmp
    "icmp_packet_count", Icmp, Experimental, Int, "count", Bidir, "0 for non-ICMP", "ICMPv4 messages in the flow.";
    "icmp_echo_request_count", Icmp, Experimental, Int, "count", Bidir, "0", "Echo requests (type 8).";
    "icmp_echo_reply_count", Icmp, Experimental, Int, "count", Bidir, "0", "Echo replies (type 0).";
    "icmp_dest_unreachable_count", Icmp, Experimental, Int, "count", Bidir, "0", "Destination-unreachable messages (type 3).";
    "icmp_time_exceeded_count", Icmp, Experimental, Int, "count", Bidir, "0", "Time-exceeded messages (type 11).";
    "icmp_unique_type_codes", Icmp, Experimental, Int, "count", Bidir, "0", "Distinct (type, code) pairs.";
    "icmp_dominant_type", Icmp, Experimental, Int, "", Bidir, "-1 for non-ICMP", "Most frequent message type (the first seen on a tie).";
    "icmp_dominant_type_count", Icmp, Experimental, Int, "count", Bidir, "0", "Messages of the dominant type.";
    "icmp_echo_success_ratio", Icmp, Experimental, Float, "", Bidir, "0 without echo requests", "Echo replies divided by echo requests.";
    "icmp_unique_ids", Icmp, Experimental, Int, "count", Bidir, "0", "Distinct identifiers of messages that carry one (echo, timestamp, information, address mask).";
    "icmp_seq_min", Icmp, Experimental, Int, "", Bidir, "0", "Smallest sequence number of those messages.";
    "icmp_seq_max", Icmp, Experimental, Int, "", Bidir, "0", "Largest sequence number of those messages.";
    "icmp_seq_gaps", Icmp, Experimental, Int, "count", Bidir, "0", "Holes in the sorted distinct sequence numbers.";
    "icmp_stat", Icmp, Experimental, Int, "", Bidir, "0", "Bitmap: 0x01 echo request, 0x02 echo reply, 0x04 unreachable, 0x08 time exceeded, 0x10 redirect, 0x20 any other type.";
    "icmp_ratio", Icmp, Experimental, Float, "", Bidir, "0", "ICMPv4 messages divided by the flow's packets.";
    "is_icmp_only", Icmp, Experimental, Int, "", Bidir, "0", "1 when every packet of the flow is an ICMPv4 message.";
    // connection (computed over a sliding window of finished flows: docs/features.md#the-connection-window)
    "conn_src_unique_dsts", Connection, Experimental, Int, "count", Fwd, "never absent", "Distinct addresses the initiator opened flows to in the window.";
    "conn_dst_unique_srcs", Connection, Experimental, Int, "count", Bwd, "never absent", "Distinct addresses that opened flows to the responder in the window.";
    "conn_src_dst_flows", Connection, Experimental, Int, "count", Bidir, "never absent", "Flows from this initiator to this responder in the window, this one included.";
    "conn_src_port_flows", Connection, Experimental, Int, "count", Fwd, "never absent", "Of those, flows to this responder port.";
    "conn_src_total_flows", Connection, Experimental, Int, "count", Fwd, "never absent", "Flows the initiator opened in the window.";
    "conn_dst_total_flows", Connection, Experimental, Int, "count", Bwd, "never absent", "Flows opened to the responder in the window.";
    "conn_src_total_packets", Connection, Experimental, Int, "count", Fwd, "never absent", "Packets (both directions) of the flows the initiator opened in the window.";
    "conn_src_total_bytes", Connection, Experimental, Int, "bytes", Fwd, "never absent", "Bytes (both directions) of the flows the initiator opened in the window.";
    "conn_dst_total_packets", Connection, Experimental, Int, "count", Bwd, "never absent", "Packets (both directions) of the flows opened to the responder in the window.";
    "conn_dst_total_bytes", Connection, Experimental, Int, "bytes", Bwd, "never absent", "Bytes (both directions) of the flows opened to the responder in the window.";
    "conn_src_unique_ports", Connection, Experimental, Int, "count", Fwd, "never absent", "Distinct responder ports of the flows the initiator opened in the window.";
    "conn_src_out_degree", Connection, Experimental, Int, "count", Fwd, "never absent", "Out-degree of the initiator in the window's directed address graph (equals conn_src_unique_dsts).";
    "conn_dst_in_degree", Connection, Experimental, Int, "count", Bwd, "never absent", "In-degree of the responder in that graph (equals conn_dst_unique_srcs).";
    "conn_src_betweenness", Connection, Experimental, Float, "", Fwd, "0", "Normalised betweenness centrality of the initiator in that graph (shortest directed paths, unweighted; sampled in windows of over 4,096 addresses).";
    "conn_dst_betweenness", Connection, Experimental, Float, "", Bwd, "0", "Normalised betweenness centrality of the responder.";
    "conn_src_community", Connection, Experimental, Int, "", Fwd, "never absent", "Louvain community of the initiator in the window's undirected graph weighted by flow counts; numbers are only comparable within one window.";
    "conn_dst_community", Connection, Experimental, Int, "", Bwd, "never absent", "Louvain community of the responder.";
    "conn_same_community", Connection, Experimental, Int, "", Bidir, "never absent", "1 when initiator and responder are in the same community.";
    "conn_src_clustering", Connection, Experimental, Float, "", Fwd, "0 with fewer than two neighbours", "Clustering coefficient of the initiator in the undirected graph: share of its neighbour pairs that are linked.";
    "conn_dst_clustering", Connection, Experimental, Float, "", Bwd, "0 with fewer than two neighbours", "Clustering coefficient of the responder.";
    "conn_src_flow_rate", Connection, Experimental, Float, "flows/s", Fwd, "0 when the initiator's flows span no time", "Flows the initiator opened, divided by the time from the first start to the last end of the flows it took part in, in the window.";
    "conn_temporal_spread", Connection, Experimental, Float, "s", Fwd, "0 with one flow", "Standard deviation of the start times of the flows the initiator took part in (either side), in the window.";
    "conn_burst_connections", Connection, Experimental, Int, "count", Fwd, "never absent", "Longest run of the initiator's flow starts (either side, sorted) each within 1 s of the previous one.";
    // capture (ours)
    "flow_end_reason", Capture, Core, Str, "", Bidir, "never absent", "Why the record was emitted: idle, active, fin, rst, evicted or eof.";
    "tunnel_type", Capture, Core, Str, "", Bidir, "empty when not encapsulated", "Outermost encapsulation of the first packet: vxlan, geneve, gre, erspan or ipip.";
    "tunnel_id", Capture, Core, Int, "", Bidir, "0", "VXLAN/GENEVE VNI, GRE key or ERSPAN session id of that encapsulation.";
    "vlan_id", Capture, Core, Int, "", Bidir, "0 when untagged", "Outermost 802.1Q VLAN id of the first packet.";
    "ipv6_ext_header_types", Capture, Core, Int, "", Bidir, "0 without IPv6 extension headers", "Bitmap of the IPv6 extension headers seen in the flow: 1 hop-by-hop, 2 routing, 4 fragment, 8 destination options, 16 authentication, 32 mobility, 64 HIP, 128 shim6.";
    "ipv6_ext_header_packets", Capture, Core, Int, "count", Bidir, "0", "Packets carrying at least one IPv6 extension header.";
    "ja4", Capture, Core, Str, "", Fwd, "empty without a ClientHello, or when neither the tls nor the quic group is computed", "JA4 fingerprint of the client's TLS ClientHello (t prefix, needs the tls group, which every profile has), or of the one in its QUIC Initials (q prefix, needs the quic group).";
    "tls_ech_offered", Capture, Core, Int, "", Fwd, "0 without a ClientHello, or when neither the tls nor the quic group is computed", "1 when the client's ClientHello (over TCP, or in its QUIC Initials) carries the encrypted_client_hello extension (0xfe0d): the server name it shows is then the outer, public one. A GREASE ECH offer looks the same on the wire, by design.";
}

/// JoyfulJay's groups in the tiers above JJ-CORE, with their feature counts, so that users can
/// be told which of them a build does not compute yet.
pub const JJ_TIER_GROUPS: &[(Tier, &str, usize)] = &[
    (Tier::Extended, "quic", 12),
    (Tier::Extended, "ssh", 10),
    (Tier::Extended, "dns", 16),
    (Tier::Extended, "entropy", 9),
    (Tier::Extended, "ip_extended", 19),
    (Tier::Extended, "tcp_sequence", 18),
    (Tier::Extended, "tcp_window", 21),
    (Tier::Extended, "tcp_options", 19),
    (Tier::Extended, "tcp_rtt", 10),
    (Tier::Extended, "http2", 14),
    (Tier::Experimental, "padding", 17),
    (Tier::Experimental, "fingerprint", 8),
    (Tier::Experimental, "connection", 20),
    (Tier::Experimental, "mac", 10),
    (Tier::Experimental, "ipv6_options", 11),
    (Tier::Experimental, "icmp", 16),
    (Tier::Experimental, "tcp_mptcp", 6),
    (Tier::Experimental, "tcp_fingerprint", 14),
];

/// Features JoyfulJay's code computes on request (its connection graph's `include_temporal`)
/// but does not register: we emit them in their group, beyond JoyfulJay's 401.
pub const JJ_UNREGISTERED: &[&str] = &[
    "conn_src_flow_rate",
    "conn_temporal_spread",
    "conn_burst_connections",
];

/// JoyfulJay groups up to `tier` that this build does not compute.
#[must_use]
pub fn missing_jj_groups(tier: Tier) -> Vec<&'static str> {
    JJ_TIER_GROUPS
        .iter()
        .filter(|(t, name, _)| *t <= tier && Group::from_name(name).is_none())
        .map(|(_, name, _)| *name)
        .collect()
}

/// Index of a feature by name.
#[must_use]
pub fn index_of(name: &str) -> Option<usize> {
    FEATURES.iter().position(|f| f.name == name)
}

/// How the connection group's window works, for `docs/features.md`.
const CONNECTION_WINDOW_DOC: &str = "### The connection window\n\n\
These features describe the graph of flows around a flow, which JoyfulJay builds from every flow \
of its input. To keep memory bounded on a sensor that never stops, records wait in a sliding \
window instead (`--connection-window SECS`, default 300). Time is cut into steps of half the \
window, by the latest flow end seen; when a step is over, the records of the flows that ended in \
it are completed from the graph of the flows of that step and of the step before, then written. \
A record therefore sees between half a window and a whole window of traffic, including flows \
that ended shortly after it, and waits at most half a window (plus the idle timeout that ends \
its flow). A step closes early once it holds 16,384 records, so a burst of flows cannot exhaust \
memory; a note at exit says when that happened. An input shorter than half the window is one \
step: its graph is the whole input's, as JoyfulJay's is. Nodes are addresses (tunnel inner \
addresses for encapsulated traffic); betweenness is exact up to 4,096 addresses in a window and \
estimated from 512 evenly spaced sources above that. Louvain runs without networkx's random \
shuffle, so community numbers are reproducible; they only mean something within one window.";

/// Renders the registry as the Markdown of `docs/features.md`.
#[must_use]
pub fn markdown() -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let ours = |f: &FeatureDef| f.group == Group::Capture || JJ_UNREGISTERED.contains(&f.name);
    let jj = FEATURES.iter().filter(|f| !ours(f)).count();
    let _ = writeln!(s, "# Features\n");
    let _ = writeln!(
        s,
        "Generated by `capture features --markdown` from the registry in `capture-user/src/features/registry.rs`; do not edit by hand.\n"
    );
    let _ = writeln!(
        s,
        "{} features: {jj} with JoyfulJay's names and meaning, and {} of our own (group `capture`, and the three timing features of `connection` that JoyfulJay computes only on request and does not register). Absent values follow JoyfulJay: 0, empty string or false, never null. Deviations from JoyfulJay are listed in `docs/deviations.md`.\n",
        FEATURES.len(),
        FEATURES.len() - jj
    );
    for group in Group::ALL {
        let _ = writeln!(s, "## {}\n", group.name());
        if group == Group::Connection {
            let _ = writeln!(s, "{CONNECTION_WINDOW_DOC}\n");
        }
        let _ = writeln!(
            s,
            "| name | tier | type | unit | direction | meaning | when absent |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for f in FEATURES.iter().filter(|f| f.group == group) {
            let tier = if ours(f) { "ours" } else { f.tier.name() };
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} | {} | {} |",
                f.name,
                tier,
                f.kind.name(),
                f.unit,
                f.direction.name(),
                f.description.replace('|', "\\|"),
                f.absent
            );
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_jj_core_count_is_151() {
        let mut names: Vec<_> = FEATURES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FEATURES.len());
        let jj_core = FEATURES
            .iter()
            .filter(|f| f.group != Group::Capture && f.tier == Tier::Core)
            .count();
        assert_eq!(jj_core, 151);
    }

    #[test]
    fn implemented_tier_groups_have_joyfuljays_counts() {
        for (tier, name, count) in JJ_TIER_GROUPS {
            if let Some(group) = Group::from_name(name) {
                let ours: Vec<_> = FEATURES
                    .iter()
                    .filter(|f| f.group == group && !JJ_UNREGISTERED.contains(&f.name))
                    .collect();
                assert_eq!(ours.len(), *count, "{name}");
                assert!(ours.iter().all(|f| f.tier == *tier), "{name}");
            }
        }
        assert!(!missing_jj_groups(Tier::Experimental).contains(&"ip_extended"));
        assert!(missing_jj_groups(Tier::Core).is_empty());
    }

    #[test]
    fn docs_are_generated_from_the_registry() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/features.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == markdown(),
            "docs/features.md is out of date: run `cargo run -p capture-user -- features --markdown > docs/features.md`"
        );
    }
}
