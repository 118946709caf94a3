//! Flow features: one extractor per group, each with bounded per-flow state.
//!
//! Every extractor sees each packet of its flow once, in capture order, with the packet's
//! direction ([`Dir`]), and at the end writes its columns, in registry order, into a [`Row`].

mod dns;
mod entropy;
mod fingerprint;
mod flow_meta;
mod http2;
mod icmp;
mod ip_extended;
mod ipv6_options;
mod mac;
mod padding;
mod quic;
pub mod registry;
mod size;
mod ssh;
pub mod stats;
mod tcp;
mod tcp_fingerprint;
mod tcp_mptcp;
mod tcp_options;
mod tcp_rtt;
mod tcp_sequence;
mod tcp_window;
mod timing;
mod tls;

use std::borrow::Cow;
use std::net::IpAddr;

use capture_common::FlowEndReason;

use crate::decode::Packet;
pub use registry::{FeatureDef, Group, Kind, Tier, FEATURES};

/// Direction of a packet within its flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Initiator to responder.
    Fwd = 0,
    /// Responder to initiator.
    Bwd = 1,
}

/// One feature value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// String.
    Str(Cow<'static, str>),
}

impl Value {
    /// The column type this value belongs to.
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Self::Int(_) => Kind::Int,
            Self::Float(_) => Kind::Float,
            Self::Bool(_) => Kind::Bool,
            Self::Str(_) => Kind::Str,
        }
    }
}

/// One flow record: a value per registry feature, in registry order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// The values.
    pub values: Vec<Value>,
}

impl Row {
    fn int(&mut self, v: impl TryInto<i64>) {
        self.values
            .push(Value::Int(v.try_into().unwrap_or(i64::MAX)));
    }

    fn float(&mut self, v: f64) {
        self.values.push(Value::Float(v));
    }

    fn bool(&mut self, v: bool) {
        self.values.push(Value::Bool(v));
    }

    fn str(&mut self, v: impl Into<Cow<'static, str>>) {
        self.values.push(Value::Str(v.into()));
    }

    /// The value of the feature called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        registry::index_of(name).and_then(|i| self.values.get(i))
    }
}

/// Who the flow is between, and how it ended: what extractors need besides their own state.
#[derive(Clone, Copy, Debug)]
pub struct FlowIdentity {
    /// Initiator address and port.
    pub initiator: (IpAddr, u16),
    /// Responder address and port.
    pub responder: (IpAddr, u16),
    /// Transport protocol.
    pub protocol: u8,
    /// Why the flow ended.
    pub end_reason: FlowEndReason,
}

/// A feature group's per-flow state.
pub trait Extractor: Default {
    /// The group whose columns this extractor writes.
    const GROUP: Group;

    /// Sees one packet of the flow.
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir);

    /// Writes this group's columns, in registry order. The flow has ended: the state may be
    /// rearranged (sorted in place) while reading it out.
    fn finish(&mut self, flow: &FlowIdentity, out: &mut Row);

    /// Heap bytes this state holds (for memory accounting).
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// Which groups a run computes; columns of other groups are not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupSet(u32);

impl GroupSet {
    /// Every group.
    pub const ALL: Self = Self(u32::MAX);

    /// These groups and the groups they need.
    #[must_use]
    pub fn of(groups: &[Group]) -> Self {
        Self(
            groups
                .iter()
                .flat_map(|g| std::iter::once(g).chain(g.needs()))
                .fold(0, |m, g| m | 1 << *g as u32),
        )
    }

    /// Whether `group` is in the set.
    #[must_use]
    pub fn contains(self, group: Group) -> bool {
        self.0 & (1 << group as u32) != 0
    }
}

/// The state of every feature group for one flow.
#[derive(Debug, Default)]
pub struct FlowFeatures {
    meta: flow_meta::FlowMeta,
    timing: timing::Timing,
    size: size::Size,
    tcp: tcp::TcpFlags,
    tls: tls::Tls,
    ip_extended: ip_extended::IpExtended,
    tcp_window: tcp_window::TcpWindow,
    tcp_options: tcp_options::TcpOptionsGroup,
    mac: mac::Mac,
    icmp: icmp::Icmp,
    dns: dns::Dns,
    tcp_mptcp: tcp_mptcp::TcpMptcp,
    tcp_sequence: tcp_sequence::TcpSequence,
    ssh: ssh::Ssh,
    tcp_rtt: tcp_rtt::TcpRtt,
    entropy: entropy::Entropy,
    ipv6_options: ipv6_options::Ipv6Options,
    tcp_fingerprint: tcp_fingerprint::TcpFingerprint,
    padding: padding::Padding,
    fingerprint: fingerprint::Fingerprint,
    quic: quic::Quic,
    http2: http2::Http2,
}

impl FlowFeatures {
    /// Feeds one packet to every enabled group. `flow_meta` always runs: it holds the flow's identity.
    #[inline]
    pub fn update(&mut self, groups: GroupSet, pkt: &Packet<'_>, dir: Dir) {
        self.meta.update(pkt, dir);
        if groups.contains(Group::Timing) {
            self.timing.update(pkt, dir);
        }
        if groups.contains(Group::Size) {
            self.size.update(pkt, dir);
        }
        if groups.contains(Group::Tcp) {
            self.tcp.update(pkt, dir);
        }
        if groups.contains(Group::Tls) {
            self.tls.update(pkt, dir);
        }
        if groups.contains(Group::IpExtended) {
            self.ip_extended.update(pkt, dir);
        }
        if groups.contains(Group::Ipv6Options) {
            self.ipv6_options.update(pkt, dir);
        }
        if groups.contains(Group::TcpSequence) {
            self.tcp_sequence.update(pkt, dir);
        }
        if groups.contains(Group::TcpWindow) {
            self.tcp_window.update(pkt, dir);
        }
        if groups.contains(Group::TcpOptions) {
            self.tcp_options.update(pkt, dir);
        }
        if groups.contains(Group::Quic) {
            self.quic.update(pkt, dir);
        }
        if groups.contains(Group::Ssh) {
            self.ssh.update(pkt, dir);
        }
        if groups.contains(Group::Http2) {
            self.http2.update(pkt, dir);
        }
        if groups.contains(Group::Dns) {
            self.dns.update(pkt, dir);
        }
        if groups.contains(Group::TcpMptcp) {
            self.tcp_mptcp.update(pkt, dir);
        }
        if groups.contains(Group::TcpRtt) {
            self.tcp_rtt.update(pkt, dir);
        }
        if groups.contains(Group::Padding) {
            self.padding.update(pkt, dir);
        }
        if groups.contains(Group::Fingerprint) {
            self.fingerprint.update(pkt, dir);
        }
        if groups.contains(Group::Entropy) {
            self.entropy.update(pkt, dir);
        }
        if groups.contains(Group::TcpFingerprint) {
            self.tcp_fingerprint.update(pkt, dir);
        }
        if groups.contains(Group::Mac) {
            self.mac.update(pkt, dir);
        }
        if groups.contains(Group::Icmp) {
            self.icmp.update(pkt, dir);
        }
    }

    /// Packets seen so far.
    #[must_use]
    pub fn packets(&self) -> u64 {
        self.meta.packets()
    }

    /// Writes the whole record (every registry column, in order).
    #[must_use]
    pub fn finish(&mut self, flow: &FlowIdentity) -> Row {
        let mut row = Row::default();
        self.finish_into(flow, &mut row);
        row
    }

    /// Writes the whole record into `row`, replacing what it held (its buffer is reused).
    pub fn finish_into(&mut self, flow: &FlowIdentity, row: &mut Row) {
        row.values.clear();
        row.values.reserve(FEATURES.len());
        self.meta.finish(flow, row);
        written_through(row, Group::FlowMeta);
        self.timing.finish(flow, row);
        written_through(row, Group::Timing);
        self.size.finish(flow, row);
        written_through(row, Group::Size);
        self.tcp.finish(flow, row);
        written_through(row, Group::Tcp);
        self.tls.finish(flow, row);
        written_through(row, Group::Tls);
        self.quic.finish(flow, row);
        written_through(row, Group::Quic);
        self.ssh.finish(flow, row);
        written_through(row, Group::Ssh);
        let (tls_server_alpn, tls_client_alpn, tls13) = self.tls.alpn_signals();
        self.http2.signals = http2::Signals {
            tls_server_alpn,
            tls_client_alpn,
            tls13,
            quic_alpn: self.quic.alpn(),
        };
        self.http2.finish(flow, row);
        written_through(row, Group::Http2);
        self.dns.finish(flow, row);
        written_through(row, Group::Dns);
        self.padding.finish(flow, row);
        written_through(row, Group::Padding);
        self.fingerprint.signals = fingerprint::Signals {
            sni: self.tls.client_hello_sni(),
            ssh: self.ssh.seen(),
            dns: self.dns.seen(),
            sample: self.entropy.sample(),
        };
        self.fingerprint.finish(flow, row);
        written_through(row, Group::Fingerprint);
        self.entropy.finish(flow, row);
        written_through(row, Group::Entropy);
        self.mac.finish(flow, row);
        written_through(row, Group::Mac);
        self.ip_extended.finish(flow, row);
        written_through(row, Group::IpExtended);
        self.ipv6_options.finish(flow, row);
        written_through(row, Group::Ipv6Options);
        self.tcp_sequence.finish(flow, row);
        written_through(row, Group::TcpSequence);
        self.tcp_window.finish(flow, row);
        written_through(row, Group::TcpWindow);
        self.tcp_options.finish(flow, row);
        written_through(row, Group::TcpOptions);
        self.tcp_mptcp.finish(flow, row);
        written_through(row, Group::TcpMptcp);
        self.tcp_rtt.finish(flow, row);
        written_through(row, Group::TcpRtt);
        self.tcp_fingerprint.finish(flow, row);
        written_through(row, Group::TcpFingerprint);
        self.icmp.finish(flow, row);
        written_through(row, Group::Icmp);
        self.meta.finish_capture(flow, row);
        let ja4 = self
            .tls
            .client_hello_ja4()
            .or_else(|| self.quic.client_hello().map(|h| h.ja4(true)));
        row.str(ja4.unwrap_or_default());
        debug_assert_eq!(row.values.len(), FEATURES.len());
    }

    /// Heap bytes held by this flow's feature state.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.meta.heap_bytes()
            + self.timing.heap_bytes()
            + self.size.heap_bytes()
            + self.tcp.heap_bytes()
            + self.tls.heap_bytes()
            + self.mac.heap_bytes()
            + self.icmp.heap_bytes()
            + self.dns.heap_bytes()
            + self.tcp_sequence.heap_bytes()
            + self.ssh.heap_bytes()
            + self.tcp_rtt.heap_bytes()
            + self.entropy.heap_bytes()
            + self.ipv6_options.heap_bytes()
            + self.padding.heap_bytes()
            + self.quic.heap_bytes()
            + self.http2.heap_bytes()
    }
}

/// Checks, in debug builds, that the row now ends exactly where `group`'s block of the registry
/// ends: each group writes its own columns, in registry order.
#[inline]
fn written_through(row: &Row, group: Group) {
    debug_assert_eq!(
        Some(row.values.len()),
        FEATURES
            .iter()
            .rposition(|f| f.group == group)
            .map(|i| i + 1),
        "{} wrote a different number of columns than the registry lists",
        group.name()
    );
}

/// `part / whole`, or 0 when `whole` is 0: the shares and means the groups report.
#[inline]
fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole
    } else {
        0.0
    }
}

/// Seconds as a float from nanoseconds.
#[inline]
fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests;
